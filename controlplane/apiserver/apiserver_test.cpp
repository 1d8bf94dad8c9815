// Unit tests of the API server's HTTP layer (on a real loopback socket) and discovery documents.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "skiff/apiserver/api_handler.hpp"
#include "skiff/apiserver/discovery.hpp"
#include "skiff/apiserver/http_server.hpp"
#include "skiff/apiserver/resources.hpp"
#include "skiff/apiserver/tables.hpp"
#include "registry_internal.hpp"
#include "skiff/base/unique_fd.hpp"

namespace skiff::apiserver {
namespace {

using json = nlohmann::json;

TEST(PercentDecode, DecodesAndRejectsBadEscapes) {
    std::string out;
    EXPECT_TRUE(percent_decode("a%2Fb%20c+d", out, false));
    EXPECT_EQ(out, "a/b c+d");
    EXPECT_TRUE(percent_decode("app%3Dweb+x", out, true));
    EXPECT_EQ(out, "app=web x");
    for (const char* bad : {"%", "%2", "%zz", "a%g1"}) EXPECT_FALSE(percent_decode(bad, out, false)) << bad;
}

TEST(Discovery, CoreResourcesHaveWhatKubectlNeeds) {
    auto core = resource_list_document("", "v1");
    ASSERT_TRUE(core);
    EXPECT_EQ((*core)["groupVersion"], "v1");
    bool pods = false, pod_status = false;
    for (const auto& r : (*core)["resources"]) {
        if (r["name"] == "pods") {
            pods = true;
            EXPECT_EQ(r["shortNames"], json::array({"po"}));
            EXPECT_EQ(r["categories"], json::array({"all"}));
            EXPECT_EQ(r["kind"], "Pod");
            EXPECT_TRUE(r["namespaced"].get<bool>());
        }
        if (r["name"] == "pods/status") pod_status = true;
        if (r["name"] == "nodes") {
            EXPECT_FALSE(r["namespaced"].get<bool>());
        }
    }
    EXPECT_TRUE(pods);
    EXPECT_TRUE(pod_status);
    auto apps = resource_list_document("apps", "v1");
    ASSERT_TRUE(apps);
    EXPECT_EQ((*apps)["groupVersion"], "apps/v1");
    EXPECT_FALSE(resource_list_document("apps", "v2"));
    EXPECT_FALSE(resource_list_document("batch", "v1"));
    auto groups = api_groups_document()["groups"];
    std::vector<std::string> names;
    for (const auto& g : groups) names.push_back(g["name"]);
    EXPECT_EQ(names, (std::vector<std::string>{"apps", "coordination.k8s.io", "discovery.k8s.io"}));
    EXPECT_EQ(version_document()["major"], "1");
    EXPECT_NE(find_resource("apps", "v1", "deployments"), nullptr);
    EXPECT_EQ(find_resource("", "v1", "deployments"), nullptr);
}

UniqueFd connect_loopback(uint16_t port) {
    UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
}

// Reads until the peer closes or `until` appears; the text received.
std::string receive(int fd, const std::string& until = "") {
    std::string got;
    char buf[4096];
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (until.empty() || got.find(until) == std::string::npos) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
    }
    return got;
}

// A server on a free loopback port, run on a thread of its own for the test's life.
class ServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        HttpServerOptions o;
        o.port = 0;
        o.body_limit = 1024;
        o.request_timeout = std::chrono::seconds(1);
        auto s = HttpServer::listen(o, [api = make_api_handler()](const Request& r) {
            if (r.path == "/echo") {
                json j = {{"method", r.method}, {"path", r.path}, {"q", r.param("labelSelector")}, {"body", r.body}};
                return Response{200, "application/json", j.dump(), {}};
            }
            return api(r);
        });
        ASSERT_TRUE(s) << s.error().what();
        server_ = std::move(*s);
        thread_ = std::thread([this] { server_->run(); });
    }
    void TearDown() override {
        server_->stop();
        thread_.join();
    }

    UniqueFd connect_to() { return connect_loopback(server_->port()); }
    static void send_all(int fd, const std::string& data) {
        ASSERT_EQ(write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    }
    std::string request(const std::string& raw) {
        auto fd = connect_to();
        send_all(fd.get(), raw);
        return receive(fd.get());
    }

    std::unique_ptr<HttpServer> server_;
    std::thread thread_;
};

TEST_F(ServerTest, ServesDiscoveryAndStatusErrors) {
    auto r = request("GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_NE(r.find("HTTP/1.1 200"), std::string::npos) << r;
    EXPECT_NE(r.find("\"major\":\"1\""), std::string::npos) << r;
    r = request("GET /api/v1/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_NE(r.find("HTTP/1.1 404"), std::string::npos) << r;
    EXPECT_NE(r.find("\"kind\":\"Status\""), std::string::npos) << r;
    EXPECT_NE(r.find("\"reason\":\"NotFound\""), std::string::npos) << r;
    r = request("POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    EXPECT_NE(r.find("HTTP/1.1 405"), std::string::npos) << r;
    r = request("GET /openapi/v2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_NE(r.find("application/com.github.proto-openapi.spec.v2.v1.0+protobuf"), std::string::npos) << r;
}

TEST_F(ServerTest, DecodesTargetsAndKeepsConnectionsAlive) {
    auto fd = connect_to();
    send_all(fd.get(), "GET /echo?labelSelector=app%3Dweb%2Ctier+in+%28a%29 HTTP/1.1\r\nHost: x\r\n\r\n");
    auto first = receive(fd.get(), "}");
    EXPECT_NE(first.find("\"q\":\"app=web,tier in (a)\""), std::string::npos) << first;
    send_all(fd.get(), "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
    auto second = receive(fd.get());
    EXPECT_NE(second.find("\"body\":\"hello\""), std::string::npos) << second;
}

TEST_F(ServerTest, RefusesBadRequests) {
    auto r = request("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n" + std::string(2000, 'x'));
    EXPECT_NE(r.find("HTTP/1.1 413"), std::string::npos) << r;
    EXPECT_NE(r.find("RequestEntityTooLarge"), std::string::npos) << r;
    r = request("NOT HTTP AT ALL\r\n\r\n");
    EXPECT_NE(r.find("400"), std::string::npos) << r;
    r = request("GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_NE(r.find("HTTP/1.1 400"), std::string::npos) << r;
    EXPECT_NE(r.find("malformed request path"), std::string::npos) << r;
}

TEST_F(ServerTest, AStalledClientHoldsUpNobodyAndTimesOut) {
    auto stalled = connect_to();
    send_all(stalled.get(), "GET /version HTTP/1.1\r\nHost: x\r\n");  // and then nothing
    auto t0 = std::chrono::steady_clock::now();
    auto r = request("GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_NE(r.find("HTTP/1.1 200"), std::string::npos);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(900));
    // The stalled connection is closed after request_timeout (1 s) with no response.
    auto rest = receive(stalled.get());
    EXPECT_EQ(rest, "");
    EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(900));
}

// Lists run on threads of their own, list_nice steps nicer than the others: with every list thread held by
// a slow list, other requests (on one worker here) are still answered, and the lists are answered once they
// may finish.
TEST(ServerPools, ListsDoNotTakeTheOtherRequestsThreads) {
    std::mutex mu;
    std::condition_variable cv;
    bool release = false;
    int lists_running = 0;
    std::vector<int> list_nice, other_nice;  // each handler's thread's nice value
    HttpServerOptions o;
    o.workers = 1;
    o.list_workers = 2;
    o.list_nice = 3;
    o.is_list = [](const Request& r) { return r.path == "/list"; };
    auto s = HttpServer::listen(o, [&](const Request& r) {
        int thread_nice = getpriority(PRIO_PROCESS, 0);  // Linux: the calling thread's
        std::unique_lock lock(mu);
        (r.path == "/list" ? list_nice : other_nice).push_back(thread_nice);
        if (r.path == "/list") {
            ++lists_running;
            cv.notify_all();
            cv.wait(lock, [&] { return release; });
        }
        return Response{200, "text/plain", r.path, {}};
    });
    ASSERT_TRUE(s) << s.error().what();
    std::unique_ptr<HttpServer> server = std::move(*s);
    std::thread runner([&] { server->run(); });
    auto get = [&](const std::string& path) {
        auto fd = connect_loopback(server->port());
        std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        EXPECT_EQ(write(fd.get(), req.data(), req.size()), static_cast<ssize_t>(req.size()));
        return receive(fd.get());
    };
    std::vector<std::thread> lists;
    std::vector<std::string> list_answers(3);
    for (int i = 0; i < 3; ++i) lists.emplace_back([&, i] { list_answers[i] = get("/list"); });
    {
        std::unique_lock lock(mu);
        ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return lists_running == 2; }));
    }
    // Both list threads are held (the third list waits for one); the worker still answers.
    auto other = get("/other");
    EXPECT_NE(other.find("HTTP/1.1 200"), std::string::npos) << other;
    EXPECT_NE(other.find("/other"), std::string::npos) << other;
    {
        std::lock_guard lock(mu);
        EXPECT_EQ(lists_running, 2) << "lists beyond the list threads wait for one";
        release = true;
    }
    cv.notify_all();
    for (auto& t : lists) t.join();
    for (const auto& answer : list_answers) EXPECT_NE(answer.find("HTTP/1.1 200"), std::string::npos) << answer;
    EXPECT_EQ(lists_running, 3);
    int server_nice = getpriority(PRIO_PROCESS, 0);
    EXPECT_EQ(other_nice, std::vector<int>{server_nice});
    EXPECT_EQ(list_nice, std::vector<int>(3, std::min(server_nice + 3, 19)));
    server->stop();
    runner.join();
}

TEST(ServerPools, ListRequestsAreCollectionGetsThatAreNotWatches) {
    auto req = [](const std::string& method, const std::string& path, const std::string& watch = "") {
        Request r;
        r.method = method;
        r.path = path;
        if (!watch.empty()) r.query.emplace("watch", watch);
        return r;
    };
    EXPECT_TRUE(is_list_request(req("GET", "/api/v1/pods")));
    EXPECT_TRUE(is_list_request(req("GET", "/api/v1/namespaces/default/pods")));
    EXPECT_TRUE(is_list_request(req("GET", "/apis/apps/v1/namespaces/default/deployments")));
    EXPECT_FALSE(is_list_request(req("GET", "/api/v1/namespaces/default/pods/web")));
    EXPECT_FALSE(is_list_request(req("GET", "/api/v1/namespaces/default/pods", "true")));
    EXPECT_FALSE(is_list_request(req("GET", "/api/v1/pods", "1")));
    EXPECT_FALSE(is_list_request(req("POST", "/api/v1/namespaces/default/pods")));
    EXPECT_FALSE(is_list_request(req("DELETE", "/api/v1/namespaces/default/pods")));
    EXPECT_FALSE(is_list_request(req("GET", "/version")));
    EXPECT_FALSE(is_list_request(req("GET", "/api/v1")));
}

}  // namespace
}  // namespace skiff::apiserver

namespace skiff::apiserver {
namespace {

TEST(ResourcePaths, ParsesCoreAndGroupPaths) {
    auto p = parse_resource_path({"api", "v1", "namespaces", "default", "pods", "web", "status"});
    ASSERT_TRUE(p);
    EXPECT_EQ(p->info->resource, "pods");
    EXPECT_EQ(p->ns, "default");
    EXPECT_EQ(p->name, "web");
    EXPECT_EQ(p->subresource, "status");
    p = parse_resource_path({"api", "v1", "namespaces", "demo"});
    ASSERT_TRUE(p);
    EXPECT_EQ(p->info->resource, "namespaces");
    EXPECT_EQ(p->name, "demo");
    p = parse_resource_path({"api", "v1", "namespaces", "demo", "status"});
    ASSERT_TRUE(p);
    EXPECT_EQ(p->info->resource, "namespaces");
    EXPECT_EQ(p->subresource, "status");
    p = parse_resource_path({"apis", "apps", "v1", "deployments"});
    ASSERT_TRUE(p);
    EXPECT_EQ(p->info->kind, "Deployment");
    EXPECT_EQ(p->ns, "");
    EXPECT_FALSE(parse_resource_path({"api", "v1", "pods", "web"}));  // a namespaced object needs its namespace
    EXPECT_FALSE(parse_resource_path({"apis", "apps", "v1", "pods"}));
    EXPECT_FALSE(parse_resource_path({"api", "v1", "namespaces", "default", "nodes"}));
    EXPECT_EQ(Registry::key_of(*find_resource("", "v1", "pods"), "default", "web"), "/registry/core/pods/default/web");
    EXPECT_EQ(Registry::key_of(*find_resource("", "v1", "nodes"), "", "n1"), "/registry/core/nodes/n1");
}

TEST(LabelSelectors, EqualityAndSetBasedRequirements) {
    std::vector<LabelRequirement> sel;
    std::string error;
    ASSERT_TRUE(parse_label_selector("app=web, tier!=db,env,!canary,x==y", sel, error)) << error;
    ASSERT_EQ(sel.size(), 5u);
    nlohmann::json labels = {{"app", "web"}, {"tier", "front"}, {"env", "prod"}, {"x", "y"}};
    EXPECT_TRUE(labels_match(labels, sel));
    labels["canary"] = "1";
    EXPECT_FALSE(labels_match(labels, sel));
    EXPECT_FALSE(labels_match(nlohmann::json(), sel));
    EXPECT_TRUE(parse_label_selector("", sel, error));
    EXPECT_TRUE(labels_match(nlohmann::json(), sel));
    ASSERT_TRUE(parse_label_selector("env in (a, b),tier notin (db),!canary,n>3", sel, error)) << error;
    EXPECT_TRUE(labels_match(nlohmann::json{{"env", "b"}, {"n", "4"}}, sel));
    EXPECT_TRUE(labels_match(nlohmann::json{{"env", "a"}, {"tier", "web"}, {"n", "10"}}, sel));
    EXPECT_FALSE(labels_match(nlohmann::json{{"env", "c"}, {"n", "4"}}, sel));  // not in the set
    EXPECT_FALSE(labels_match(nlohmann::json{{"env", "a"}, {"tier", "db"}, {"n", "4"}}, sel));
    EXPECT_FALSE(labels_match(nlohmann::json{{"env", "a"}, {"n", "3"}}, sel));  // not greater
    EXPECT_FALSE(labels_match(nlohmann::json{{"env", "a"}, {"n", "4"}, {"canary", ""}}, sel));
    EXPECT_FALSE(labels_match(nlohmann::json{{"n", "4"}}, sel));  // in needs the key
    ASSERT_TRUE(parse_label_selector("example.com/tier notin (a)", sel, error)) << error;
    EXPECT_TRUE(labels_match(nlohmann::json::object(), sel));  // notin: absent matches
    EXPECT_FALSE(parse_label_selector("env in (a,b", sel, error));
    EXPECT_FALSE(parse_label_selector("env in ()", sel, error));
    EXPECT_FALSE(parse_label_selector("env in a", sel, error));
    EXPECT_FALSE(parse_label_selector("n>x", sel, error));
    EXPECT_FALSE(parse_label_selector("a b", sel, error));
    EXPECT_FALSE(parse_label_selector("-bad=1", sel, error));
    EXPECT_FALSE(parse_label_selector("a=b,", sel, error));
    EXPECT_FALSE(parse_label_selector("=x", sel, error));
}

TEST(Names, Dns1123) {
    EXPECT_EQ(dns1123_subdomain_error("web-1.example"), "");
    EXPECT_EQ(dns1123_label_error("kube-system"), "");
    for (const char* bad : {"", "Web", "-a", "a-", "a..b", "a_b"}) EXPECT_NE(dns1123_subdomain_error(bad), "") << bad;
    EXPECT_NE(dns1123_label_error("a.b"), "");
    EXPECT_NE(dns1123_label_error(std::string(64, 'a')), "");
    EXPECT_EQ(dns1123_subdomain_error(std::string(63, 'a') + "." + std::string(63, 'b')), "");
}

}  // namespace
}  // namespace skiff::apiserver

namespace skiff::apiserver {
namespace {

TEST(Tables, AgesAsKubectlPrintsThem) {
    EXPECT_EQ(human_duration(0), "0s");
    EXPECT_EQ(human_duration(119), "119s");
    EXPECT_EQ(human_duration(312), "5m12s");
    EXPECT_EQ(human_duration(600), "10m");
    EXPECT_EQ(human_duration(3 * 3600 + 120), "3h2m");
    EXPECT_EQ(human_duration(30 * 3600), "30h");
    EXPECT_EQ(human_duration(3 * 86400 + 3600), "3d1h");
    EXPECT_EQ(human_duration(400 * 86400), "400d");
    EXPECT_EQ(human_duration(-5), "<invalid>");
}

TEST(Tables, PodRowsAndPartialMetadata) {
    nlohmann::json pod = {{"metadata", {{"name", "web-1"}, {"creationTimestamp", "2026-11-26T10:00:00Z"}}},
                          {"spec", {{"containers", {{{"name", "a"}}, {{"name", "b"}}}}}},
                          {"status", {{"phase", "Running"}, {"containerStatuses", {{{"ready", true}, {"restartCount", 1}}}}}}};
    std::tm tm{};
    strptime("2026-11-26T10:05:12Z", "%Y-%m-%dT%H:%M:%SZ", &tm);
    auto t = make_table(*find_resource("", "v1", "pods"), nlohmann::json::array({pod}), "42", false, timegm(&tm));
    EXPECT_EQ(t["kind"], "Table");
    EXPECT_EQ(t["metadata"]["resourceVersion"], "42");
    EXPECT_EQ(t["rows"][0]["cells"], nlohmann::json({"web-1", "1/2", "Running", "1", "5m12s", "<none>", "<none>", "<none>", "<none>"}));
    EXPECT_EQ(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    EXPECT_EQ(t["columnDefinitions"][5]["priority"], 1);
    EXPECT_TRUE(wants_table("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"));
    EXPECT_FALSE(wants_table("application/json"));
}

}  // namespace
}  // namespace skiff::apiserver

namespace skiff::apiserver {
namespace {

TEST(FieldSelectors, KubernetesFieldsPerKind) {
    const ResourceInfo& pods = *find_resource("", "v1", "pods");
    std::vector<FieldRequirement> sel;
    std::string error;
    ASSERT_TRUE(parse_field_selector("spec.nodeName=n1,status.phase!=Failed,metadata.namespace==default", pods, sel, error))
        << error;
    nlohmann::json pod = {{"metadata", {{"name", "p"}, {"namespace", "default"}}},
                          {"spec", {{"nodeName", "n1"}}},
                          {"status", {{"phase", "Running"}}}};
    EXPECT_TRUE(fields_match(pod, sel));
    pod["status"]["phase"] = "Failed";
    EXPECT_FALSE(fields_match(pod, sel));
    ASSERT_TRUE(parse_field_selector("spec.nodeName=", pods, sel, error));
    EXPECT_FALSE(fields_match(nlohmann::json{{"spec", {{"nodeName", "n1"}}}}, sel));
    EXPECT_TRUE(fields_match(nlohmann::json::object(), sel));  // unscheduled pods: nodeName is ""
    EXPECT_FALSE(parse_field_selector("spec.nodeName=n1", *find_resource("", "v1", "configmaps"), sel, error));
    EXPECT_EQ(error, "field label not supported: spec.nodeName");
    EXPECT_FALSE(parse_field_selector("metadata.name", pods, sel, error));
    EXPECT_TRUE(parse_field_selector("involvedObject.name=web,involvedObject.uid=u", *find_resource("", "v1", "events"),
                                     sel, error));
}

}  // namespace
}  // namespace skiff::apiserver

namespace skiff::apiserver {
namespace {

TEST(StoredText, ResourceVersionGoesIntoTheTopLevelMetadata) {
    auto rv = [](const std::string& text) {
        return nlohmann::json::parse(with_version_text(text, 42));
    };
    EXPECT_EQ(rv(R"({"kind":"Pod","metadata":{"name":"a"}})")["metadata"],
              (nlohmann::json{{"name", "a"}, {"resourceVersion", "42"}}));
    EXPECT_EQ(rv(R"({"metadata":{}})")["metadata"], (nlohmann::json{{"resourceVersion", "42"}}));
    // A nested "metadata" before the top-level one, and one inside a string with escaped quotes.
    auto j = rv(R"({"a":{"metadata":{"x":1}},"b":"\"metadata\":{","c":["{",{"metadata":{}}],"metadata":{"name":"n"}})");
    EXPECT_EQ(j["metadata"]["resourceVersion"], "42");
    EXPECT_FALSE(j["a"]["metadata"].contains("resourceVersion"));
    EXPECT_FALSE(j["c"][1]["metadata"].contains("resourceVersion"));
    EXPECT_EQ(j["b"], "\"metadata\":{");
    // No metadata object at all: added.
    EXPECT_EQ(rv(R"({"kind":"X"})")["metadata"]["resourceVersion"], "42");
}

}  // namespace
}  // namespace skiff::apiserver
