// `?watch=true`: a chunked stream of newline-delimited watch events ({"type":"ADDED","object":{...}}) from
// the watch cache, filtered by namespace, label and field selectors, as plain objects or one-row Tables.
#include <charconv>
#include <random>

#include "registry_internal.hpp"
#include "skiff/apiserver/registry.hpp"
#include "skiff/apiserver/tables.hpp"
#include "skiff/apiserver/watch_cache.hpp"

namespace skiff::apiserver {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct WatchFilter {
    std::vector<LabelRequirement> labels;
    std::vector<FieldRequirement> fields;
    bool empty() const { return labels.empty() && fields.empty(); }
    bool matches(const json& obj) const {
        if (!obj.is_object()) return false;
        if (!fields_match(obj, fields)) return false;
        if (labels.empty()) return true;
        return labels_match(member_or_null(member_or_null(obj, "metadata"), "labels"), labels);
    }
};

struct WatchFormat {
    const ResourceInfo* info = nullptr;
    bool table = false;
    bool include_object = false;

    // The event line from the serialized object: no parse, no dump (every unfiltered JSON watcher).
    std::string event(const char* type, const CachedEvent& e) const {
        if (table) return event(type, e.object());
        return std::string(R"({"type":")") + type + R"(","object":)" + e.object_json + "}\n";
    }
    std::string event(const char* type, const json& object) const {
        json e = {{"type", type}};
        if (table) {
            const json& rv = object["metadata"]["resourceVersion"];
            e["object"] = make_table(*info, json::array({object}), rv.is_string() ? rv.get<std::string>() : "",
                                     include_object, std::time(nullptr));
        } else {
            e["object"] = object;
        }
        return e.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    }
    std::string bookmark(int64_t revision, bool initial_events_end) const {
        json meta = {{"resourceVersion", std::to_string(revision)}};
        if (initial_events_end) meta["annotations"] = {{"k8s.io/initial-events-end", "true"}};
        json e = {{"type", "BOOKMARK"},
                  {"object", {{"kind", info->kind}, {"apiVersion", info->group_version()}, {"metadata", meta}}}};
        return e.dump() + "\n";
    }
    std::string error(int code, const std::string& reason, const std::string& message) const {
        json e = {{"type", "ERROR"},
                  {"object", json::parse(status_response(code, reason, message).body)}};
        return e.dump() + "\n";
    }
};

class WatchStream final : public StreamBody {
public:
    WatchStream(std::shared_ptr<WatchCache> cache, std::string prefix, int64_t from, WatchFilter filter,
                WatchFormat format, std::string initial, Clock::time_point end, bool bookmarks,
                std::chrono::seconds bookmark_interval)
        : cache_(std::move(cache)), prefix_(std::move(prefix)), from_(from), filter_(std::move(filter)),
          format_(format), pending_(std::move(initial)), end_(end), bookmarks_(bookmarks),
          bookmark_interval_(bookmark_interval), next_bookmark_(Clock::now() + bookmark_interval) {}

    void start(std::function<void()> wake) override {
        auto sub = cache_->subscribe(prefix_, from_, std::move(wake));
        if (!sub) {
            pending_ += format_.error(410, "Expired", sub.error().message());
            done_ = true;
            return;
        }
        sub_ = std::move(*sub);
    }

    State read(std::string& out) override {
        out += std::move(pending_);
        pending_.clear();
        if (done_) return State::end;
        // The revision first: everything up to it is in the subscription's queue by then, so a bookmark
        // at it never runs ahead of an event still to be sent.
        int64_t seen = cache_->revision();
        for (const auto& e : sub_->take()) encode(*e, out);
        if (sub_->expired()) {
            out += format_.error(410, "Expired", "the watch fell behind and events were lost; list again");
            return State::end;
        }
        auto now = Clock::now();
        if (now >= end_) {
            if (bookmarks_) out += format_.bookmark(seen, false);
            return State::end;
        }
        if (bookmarks_ && now >= next_bookmark_) {
            out += format_.bookmark(seen, false);
            next_bookmark_ = now + bookmark_interval_;
        }
        return State::idle;
    }

    Clock::time_point deadline() const override { return bookmarks_ ? std::min(end_, next_bookmark_) : end_; }

private:
    // Kubernetes' filtered watch: an object that starts matching is ADDED, one that stops is DELETED.
    void encode(const CachedEvent& e, std::string& out) {
        static const char* names[] = {"ADDED", "MODIFIED", "DELETED"};
        if (filter_.empty()) {
            out += format_.event(names[static_cast<int>(e.type)], e);
            return;
        }
        bool now_matches = filter_.matches(e.object());
        if (e.type == CachedEvent::Type::deleted) {
            if (now_matches) out += format_.event("DELETED", e);
            return;
        }
        bool was = e.type == CachedEvent::Type::modified && filter_.matches(e.prev());
        if (now_matches) out += format_.event(was ? "MODIFIED" : "ADDED", e);
        else if (was) out += format_.event("DELETED", e);
    }

    std::shared_ptr<WatchCache> cache_;
    std::string prefix_;
    int64_t from_;
    WatchFilter filter_;
    WatchFormat format_;
    std::unique_ptr<Subscription> sub_;
    std::string pending_;  // the initial events, or the error that ends the stream
    bool done_ = false;
    Clock::time_point end_;
    bool bookmarks_;
    std::chrono::seconds bookmark_interval_;
    Clock::time_point next_bookmark_;
};

bool is_true(const std::string& v) { return v == "true" || v == "1"; }

}  // namespace

Response Registry::watch(const Request& req, const ResourcePath& path) {
    if (!watches_) return status_response(405, "MethodNotAllowed", "this server does not serve watches");
    const auto& info = *path.info;
    std::string prefix = collection_prefix(info, path.ns);
    WatchFilter filter;
    std::string error;
    if (!parse_label_selector(req.param("labelSelector"), filter.labels, error))
        return status_response(400, "BadRequest", "labelSelector: " + error);
    if (!parse_field_selector(req.param("fieldSelector"), info, filter.fields, error))
        return status_response(400, "BadRequest", "fieldSelector: " + error);
    if (!path.name.empty()) filter.fields.push_back({"metadata.name", true, path.name});  // .../pods/web?watch=1

    std::chrono::seconds timeout;
    if (auto t = req.param("timeoutSeconds"); !t.empty()) {
        long long secs = 0;
        if (std::from_chars(t.data(), t.data() + t.size(), secs).ec != std::errc() || secs < 0)
            return status_response(400, "BadRequest", "timeoutSeconds: \"" + t + "\" is not a whole number");
        timeout = std::chrono::seconds(std::min<long long>(secs, 24 * 3600));
    } else {
        // kube-apiserver's default: a random time between the minimal request timeout and twice it, so
        // watchers don't all come back at once.
        static thread_local std::minstd_rand rng(std::random_device{}());
        timeout = std::chrono::seconds(1800 + rng() % 1800);
    }

    WatchFormat format{&info, wants_table(req.header("accept")), req.param("includeObject") == "Object"};
    std::string rv = req.param("resourceVersion");
    bool send_initial = req.param("sendInitialEvents").empty() ? (rv.empty() || rv == "0")
                                                               : is_true(req.param("sendInitialEvents"));
    int64_t from = 0;
    if (!rv.empty() && rv != "0") {
        if (std::from_chars(rv.data(), rv.data() + rv.size(), from).ec != std::errc() || from <= 0)
            return status_response(400, "BadRequest", "resourceVersion: \"" + rv + "\" is not a revision");
    }
    std::string initial;
    if (send_initial) {
        // The current state as ADDED events, then the changes after the list's revision.
        store::ListOptions opts;
        opts.limit = 500;
        for (;;) {
            auto page = store_.list(prefix, opts);
            if (!page) return status_response(500, "InternalError", page.error().what());
            opts.revision = page->revision;
            for (const auto& kv : page->items) {
                json obj = json::parse(kv.value, nullptr, false);
                if (!obj.is_object()) continue;
                obj["metadata"]["resourceVersion"] = std::to_string(kv.mod_revision);
                if (filter.matches(obj)) initial += format.event("ADDED", obj);
            }
            if (!page->more) break;
            opts.start_after = page->items.back().key;
        }
        from = opts.revision;
        if (is_true(req.param("sendInitialEvents"))) initial += format.bookmark(from, true);
    }
    Response res;
    res.stream = std::make_shared<WatchStream>(watches_, prefix, from, std::move(filter), format, std::move(initial),
                                               Clock::now() + timeout, is_true(req.param("allowWatchBookmarks")),
                                               bookmark_interval_);
    return res;
}

}  // namespace skiff::apiserver
