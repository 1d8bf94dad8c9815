// Unit tests of the authorization policy: the admin, discovery, and every node rule, allowed and denied.
#include <gtest/gtest.h>

#include "skiff/apiserver/api_handler.hpp"
#include "skiff/apiserver/authorization.hpp"
#include "skiff/apiserver/resources.hpp"
#include "skiff/store/store.hpp"

namespace skiff::apiserver {
namespace {

UserInfo node_user(const std::string& node) { return {"system:node:" + node, {"system:nodes", "system:authenticated"}, node}; }

// Pods in namespace default: "mine" on n1, "theirs" on n2, "pending" on no node.
Result<std::string> pods(const std::string& ns, const std::string& name) {
    if (ns == "default" && name == "mine") return std::string("n1");
    if (ns == "default" && name == "theirs") return std::string("n2");
    if (ns == "default" && name == "pending") return std::string();
    return Error(store::errc::not_found, "pods \"" + name + "\" not found");
}

struct Call {
    std::string method, target, body, content_type;
};

// The decision for a request as the HTTP layer would hand it over.
Decision decide(const UserInfo& user, const Call& call) {
    Request req;
    req.method = call.method;
    req.target = call.target;
    auto q = call.target.find('?');
    req.path = call.target.substr(0, q);
    if (q != std::string::npos) {
        std::string query = call.target.substr(q + 1);
        size_t start = 0;
        while (start < query.size()) {
            size_t amp = query.find('&', start);
            std::string pair = query.substr(start, amp - start);
            auto eq = pair.find('=');
            req.query.emplace(pair.substr(0, eq), eq == std::string::npos ? "" : pair.substr(eq + 1));
            if (amp == std::string::npos) break;
            start = amp + 1;
        }
    }
    req.body = call.body;
    if (!call.content_type.empty()) req.headers["content-type"] = call.content_type;
    std::vector<std::string> parts;
    for (size_t s = 1; s <= req.path.size();) {
        size_t slash = req.path.find('/', s);
        std::string part = req.path.substr(s, slash == std::string::npos ? std::string::npos : slash - s);
        if (!part.empty()) parts.push_back(part);
        if (slash == std::string::npos) break;
        s = slash + 1;
    }
    std::optional<ResourcePath> path;
    // The same parse the handler does: a resource path, or any other path.
    path = parse_resource_path(parts);
    return authorize(attributes_of(req, path ? &*path : nullptr, user), pods);
}

bool allowed(const UserInfo& user, const Call& call) { return decide(user, call).allowed; }

TEST(Authorization, MastersMayDoEverything) {
    UserInfo admin{"skiff-admin", {"system:masters", "system:authenticated"}, ""};
    EXPECT_TRUE(allowed(admin, {"GET", "/api/v1/namespaces/default/secrets/s"}));
    EXPECT_TRUE(allowed(admin, {"DELETE", "/api/v1/nodes/n2"}));
    EXPECT_TRUE(allowed(admin, {"POST", "/api/v1/namespaces/default/pods", "{}"}));
    EXPECT_TRUE(allowed(admin, {"GET", "/anything"}));
}

TEST(Authorization, AnyAuthenticatedUserReadsDiscoveryOnly) {
    UserInfo bob{"bob", {"system:authenticated"}, ""};
    for (const char* path : {"/api", "/api/v1", "/apis", "/apis/apps/v1", "/version", "/openapi/v2", "/healthz", "/livez"})
        EXPECT_TRUE(allowed(bob, {"GET", path})) << path;
    EXPECT_FALSE(allowed(bob, {"POST", "/api"}));
    EXPECT_FALSE(allowed(bob, {"GET", "/metrics"}));
    EXPECT_FALSE(allowed(bob, {"GET", "/api/v1/namespaces"}));
    EXPECT_FALSE(allowed(bob, {"GET", "/api/v1/nodes/n1"}));
    // A user named like a node is not one without the group.
    UserInfo fake{"system:node:n1", {"system:authenticated"}, ""};
    EXPECT_FALSE(allowed(fake, {"GET", "/api/v1/nodes/n1"}));
}

TEST(Authorization, NodeOwnNodeOnly) {
    auto n1 = node_user("n1");
    EXPECT_TRUE(allowed(n1, {"GET", "/api/v1/nodes/n1"}));
    EXPECT_TRUE(allowed(n1, {"PUT", "/api/v1/nodes/n1", R"({"metadata":{"name":"n1"}})"}));
    EXPECT_TRUE(allowed(n1, {"PATCH", "/api/v1/nodes/n1/status", R"({"status":{}})", "application/merge-patch+json"}));
    EXPECT_TRUE(allowed(n1, {"POST", "/api/v1/nodes", R"({"kind":"Node","metadata":{"name":"n1"}})"}));
    EXPECT_TRUE(allowed(n1, {"GET", "/api/v1/nodes?fieldSelector=metadata.name=n1&watch=true"}));
    EXPECT_FALSE(allowed(n1, {"POST", "/api/v1/nodes", R"({"metadata":{"name":"n2"}})"}));
    EXPECT_FALSE(allowed(n1, {"POST", "/api/v1/nodes", R"({"metadata":{"generateName":"n"}})"}));
    EXPECT_FALSE(allowed(n1, {"GET", "/api/v1/nodes/n2"}));
    EXPECT_FALSE(allowed(n1, {"PATCH", "/api/v1/nodes/n2/status", "{}", "application/merge-patch+json"}));
    EXPECT_FALSE(allowed(n1, {"DELETE", "/api/v1/nodes/n1"}));
    EXPECT_FALSE(allowed(n1, {"GET", "/api/v1/nodes"}));
    EXPECT_FALSE(allowed(n1, {"GET", "/api/v1/nodes?fieldSelector=metadata.name=n2"}));
}

TEST(Authorization, NodeOwnLeaseInKubeNodeLease) {
    auto n1 = node_user("n1");
    const std::string leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
    EXPECT_TRUE(allowed(n1, {"GET", leases + "/n1"}));
    EXPECT_TRUE(allowed(n1, {"PUT", leases + "/n1", R"({"metadata":{"name":"n1"}})"}));
    EXPECT_TRUE(allowed(n1, {"POST", leases, R"({"metadata":{"name":"n1"}})"}));
    EXPECT_FALSE(allowed(n1, {"POST", leases, R"({"metadata":{"name":"n2"}})"}));
    EXPECT_FALSE(allowed(n1, {"GET", leases + "/n2"}));
    EXPECT_FALSE(allowed(n1, {"DELETE", leases + "/n1"}));
    EXPECT_FALSE(allowed(n1, {"GET", leases}));
    EXPECT_FALSE(allowed(n1, {"GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/n1"}));
}

TEST(Authorization, NodePodsBoundToItAndListsNarrowedToIt) {
    auto n1 = node_user("n1");
    EXPECT_TRUE(allowed(n1, {"GET", "/api/v1/pods?fieldSelector=spec.nodeName=n1"}));
    EXPECT_TRUE(allowed(n1, {"GET", "/api/v1/pods?fieldSelector=spec.nodeName=n1&watch=true"}));
    EXPECT_TRUE(allowed(n1, {"GET", "/api/v1/namespaces/default/pods?fieldSelector=status.phase!=Failed,spec.nodeName==n1"}));
    auto list_all = decide(n1, {"GET", "/api/v1/pods"});
    EXPECT_FALSE(list_all.allowed);
    EXPECT_EQ(list_all.reason, "can only list/watch pods with spec.nodeName field selector");
    EXPECT_FALSE(allowed(n1, {"GET", "/api/v1/pods?fieldSelector=spec.nodeName=n2"}));
    EXPECT_FALSE(allowed(n1, {"GET", "/api/v1/pods?fieldSelector=spec.nodeName!=n1"}));

    EXPECT_TRUE(allowed(n1, {"GET", "/api/v1/namespaces/default/pods/mine"}));
    EXPECT_TRUE(allowed(n1, {"PATCH", "/api/v1/namespaces/default/pods/mine/status", R"({"status":{"phase":"Running"}})",
                             "application/merge-patch+json"}));
    EXPECT_TRUE(allowed(n1, {"PUT", "/api/v1/namespaces/default/pods/mine", R"({"spec":{"nodeName":"n1"}})"}));
    EXPECT_FALSE(allowed(n1, {"GET", "/api/v1/namespaces/default/pods/theirs"}));
    EXPECT_FALSE(allowed(n1, {"GET", "/api/v1/namespaces/default/pods/pending"}));
    EXPECT_FALSE(allowed(n1, {"GET", "/api/v1/namespaces/default/pods/missing"}));
    EXPECT_FALSE(allowed(n1, {"DELETE", "/api/v1/namespaces/default/pods/mine"}));
    EXPECT_FALSE(allowed(n1, {"POST", "/api/v1/namespaces/default/pods", R"({"metadata":{"name":"x"}})"}));
    // Its own pod, but moved elsewhere or unbound by the body: no.
    EXPECT_FALSE(allowed(n1, {"PUT", "/api/v1/namespaces/default/pods/mine", R"({"spec":{"nodeName":"n2"}})"}));
    EXPECT_FALSE(allowed(n1, {"PUT", "/api/v1/namespaces/default/pods/mine", R"({"spec":{}})"}));
    EXPECT_FALSE(allowed(n1, {"PATCH", "/api/v1/namespaces/default/pods/mine", R"({"spec":{"nodeName":"n2"}})",
                              "application/strategic-merge-patch+json"}));
    EXPECT_FALSE(allowed(n1, {"PATCH", "/api/v1/namespaces/default/pods/mine", R"({"spec":null})",
                              "application/merge-patch+json"}));
    EXPECT_FALSE(allowed(n1, {"PATCH", "/api/v1/namespaces/default/pods/mine",
                              R"([{"op":"replace","path":"/spec/nodeName","value":"n2"}])", "application/json-patch+json"}));
    EXPECT_FALSE(allowed(n1, {"PATCH", "/api/v1/namespaces/default/pods/mine", R"([{"op":"remove","path":"/spec"}])",
                              "application/json-patch+json"}));
    EXPECT_TRUE(allowed(n1, {"PATCH", "/api/v1/namespaces/default/pods/mine",
                             R"([{"op":"replace","path":"/status/phase","value":"Running"}])", "application/json-patch+json"}));
}

TEST(Authorization, NodeEventsAndLoadBalancerSources) {
    auto n1 = node_user("n1");
    EXPECT_TRUE(allowed(n1, {"POST", "/api/v1/namespaces/default/events", R"({"metadata":{"name":"e"}})"}));
    EXPECT_FALSE(allowed(n1, {"DELETE", "/api/v1/namespaces/default/events/e"}));
    for (const char* path : {"/api/v1/services", "/api/v1/namespaces/default/services/web", "/api/v1/endpoints",
                             "/apis/discovery.k8s.io/v1/endpointslices", "/api/v1/namespaces", "/api/v1/namespaces/default"})
        EXPECT_TRUE(allowed(n1, {"GET", path})) << path;
    EXPECT_TRUE(allowed(n1, {"GET", "/api/v1/services?watch=true"}));
    EXPECT_FALSE(allowed(n1, {"POST", "/api/v1/namespaces/default/services", "{}"}));
    EXPECT_FALSE(allowed(n1, {"DELETE", "/api/v1/namespaces/default"}));
    for (const char* path : {"/api/v1/namespaces/default/secrets", "/api/v1/namespaces/default/secrets/s",
                             "/api/v1/namespaces/default/configmaps", "/apis/apps/v1/deployments", "/api/v1/serviceaccounts"})
        EXPECT_FALSE(allowed(n1, {"GET", path})) << path;
}

Response forbidden_for(const UserInfo& user, const std::string& method, const std::string& target) {
    Request req;
    req.method = method;
    req.path = target;
    std::vector<std::string> parts;
    for (size_t s = 1; s <= target.size();) {
        size_t slash = target.find('/', s);
        parts.push_back(target.substr(s, slash == std::string::npos ? std::string::npos : slash - s));
        if (slash == std::string::npos) break;
        s = slash + 1;
    }
    auto path = parse_resource_path(parts);
    auto a = attributes_of(req, path ? &*path : nullptr, user);
    return forbidden(a, authorize(a, pods).reason);
}

TEST(Authorization, ForbiddenInKubernetesWords) {
    auto n1 = node_user("n1");
    auto r = forbidden_for(n1, "GET", "/api/v1/namespaces/default/secrets/x");
    EXPECT_EQ(r.status, 403);
    auto j = nlohmann::json::parse(r.body);
    EXPECT_EQ(j["reason"], "Forbidden");
    EXPECT_EQ(j["message"], "secrets \"x\" is forbidden: User \"system:node:n1\" cannot get resource \"secrets\" in API "
                            "group \"\" in the namespace \"default\"");
    EXPECT_EQ(j["details"]["name"], "x");
    EXPECT_EQ(j["details"]["kind"], "secrets");
    j = nlohmann::json::parse(forbidden_for(n1, "GET", "/api/v1/nodes/n2").body);
    EXPECT_EQ(j["message"], "nodes \"n2\" is forbidden: User \"system:node:n1\" cannot get resource \"nodes\" in API group "
                            "\"\" at the cluster scope: node 'n1' can only access its own Node object");
    j = nlohmann::json::parse(forbidden_for(n1, "GET", "/api/v1/pods").body);
    EXPECT_EQ(j["message"], "pods is forbidden: User \"system:node:n1\" cannot list resource \"pods\" in API group \"\" at "
                            "the cluster scope: can only list/watch pods with spec.nodeName field selector");
    j = nlohmann::json::parse(forbidden_for(n1, "PATCH", "/api/v1/nodes/n2/status").body);
    EXPECT_NE(j["message"].get<std::string>().find("cannot patch resource \"nodes/status\""), std::string::npos);
    j = nlohmann::json::parse(
        forbidden_for(n1, "GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n2").body);
    EXPECT_EQ(j["details"]["group"], "coordination.k8s.io");
    EXPECT_EQ(j["message"].get<std::string>().rfind("leases.coordination.k8s.io \"n2\" is forbidden", 0), 0u);
    j = nlohmann::json::parse(forbidden_for(n1, "GET", "/metrics").body);
    EXPECT_EQ(j["message"], "forbidden: User \"system:node:n1\" cannot get path \"/metrics\"");
}

}  // namespace
}  // namespace skiff::apiserver
