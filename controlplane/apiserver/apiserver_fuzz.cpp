// libFuzzer target: any request (method, target, content type and body from the input) through the API
// handler and a real SQLite store must get a well-formed HTTP status and never crash; every non-2xx
// answer is a metav1.Status.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "skiff/apiserver/api_handler.hpp"
#include "skiff/base/fs.hpp"
#include "skiff/store/store.hpp"

namespace {

using namespace skiff;

// The store's directory, removed at exit. The removal is registered before the store is made, so it runs
// after the store has closed.
char store_dir[] = "/tmp/skiff-apiserver-fuzz.XXXXXX";

apiserver::Handler& handler() {
    static std::unique_ptr<store::Store> db = [] {
        if (!mkdtemp(store_dir)) abort();
        std::atexit([] { (void)fs::remove_all(store_dir); });
        store::SqliteOptions o;
        o.sync = store::SqliteOptions::Sync::normal;
        auto s = store::open_sqlite(std::string(store_dir) + "/state.db", o);
        if (!s) abort();
        return std::move(*s);
    }();
    static apiserver::Registry registry(*db);
    static bool namespaces = registry.ensure_default_objects().ok();
    static apiserver::Handler h = apiserver::make_api_handler(&registry);
    (void)namespaces;
    return h;
}

}  // namespace

// Input: "METHOD TARGET\nCONTENT-TYPE\nBODY".
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string in(reinterpret_cast<const char*>(data), size);
    auto nl1 = in.find('\n');
    if (nl1 == std::string::npos) return 0;
    auto nl2 = in.find('\n', nl1 + 1);
    if (nl2 == std::string::npos) return 0;
    std::string line = in.substr(0, nl1);
    auto sp = line.find(' ');
    if (sp == std::string::npos) return 0;
    apiserver::Request req;
    req.method = line.substr(0, sp);
    req.target = line.substr(sp + 1);
    auto q = req.target.find('?');
    if (!apiserver::percent_decode(req.target.substr(0, q), req.path, false) || req.path.empty() || req.path[0] != '/')
        return 0;
    if (q != std::string::npos) req.query.emplace("labelSelector", req.target.substr(q + 1));
    req.headers["content-type"] = in.substr(nl1 + 1, nl2 - nl1 - 1);
    req.body = in.substr(nl2 + 1);
    auto res = handler()(req);
    if (res.status < 200 || res.status > 599) abort();
    if (res.status >= 300) {
        auto j = nlohmann::json::parse(res.body, nullptr, false);
        if (res.content_type == "application/json" && (j.is_discarded() || j.value("kind", "") != "Status")) abort();
    }
    return 0;
}
