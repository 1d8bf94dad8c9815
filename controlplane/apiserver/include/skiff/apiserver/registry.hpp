// The generic REST storage of API objects over the store: create, get, list, update, patch and delete of
// any resource in the resource table, with Kubernetes' object metadata rules (uid, resourceVersion =
// store revision, generation, creationTimestamp, generateName) and its status codes.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>

#include "skiff/apiserver/http_server.hpp"
#include "skiff/apiserver/resources.hpp"
#include "skiff/store/store.hpp"

namespace skiff::apiserver {

// Where a request points: a resource, optionally a namespace, a name and a subresource.
struct ResourcePath {
    const ResourceInfo* info = nullptr;
    std::string ns;    // "" for cluster-scoped resources or lists across namespaces
    std::string name;  // "" for collections
    std::string subresource;
};

class WatchCache;

class Registry {
public:
    // watches: where `?watch=true` streams come from; without one, watches are refused.
    explicit Registry(store::Store& store, std::shared_ptr<WatchCache> watches = nullptr,
                      std::chrono::seconds bookmark_interval = std::chrono::seconds(60))
        : store_(store), watches_(std::move(watches)), bookmark_interval_(bookmark_interval) {}

    // The namespaces every cluster has (default, kube-system, kube-public, kube-node-lease).
    [[nodiscard]] Status ensure_default_namespaces();

    Response handle(const Request& req, const ResourcePath& path);

    // The node a stored pod is bound to (its spec.nodeName, "" when unbound); the authorizer asks it before a
    // node may read or write the pod. An Error with store::errc::not_found when there is no such pod.
    [[nodiscard]] Result<std::string> bound_node(const std::string& ns, const std::string& pod);

    // "/registry/<group or core>/<resource>/<namespace>/<name>" (no namespace part when cluster-scoped).
    static std::string key_of(const ResourceInfo& info, const std::string& ns, const std::string& name);
    // The key prefix of a collection: every object of the resource, or those of one namespace.
    static std::string collection_prefix(const ResourceInfo& info, const std::string& ns);

private:
    Response create(const Request& req, const ResourcePath& path);
    Response get(const Request& req, const ResourcePath& path);
    Response list(const Request& req, const ResourcePath& path);
    Response update(const Request& req, const ResourcePath& path);
    Response patch(const Request& req, const ResourcePath& path);
    Response remove(const ResourcePath& path);
    Response watch(const Request& req, const ResourcePath& path);  // watch.cpp

    store::Store& store_;
    std::shared_ptr<WatchCache> watches_;
    std::chrono::seconds bookmark_interval_;
};

// Parses an equality-based label selector ("app=web,tier!=db,env,!canary"); false with a reason.
struct LabelRequirement {
    std::string key;
    enum class Op { equals, not_equals, exists, not_exists } op = Op::exists;
    std::string value;
};
bool parse_label_selector(const std::string& text, std::vector<LabelRequirement>& out, std::string& error);
bool labels_match(const nlohmann::json& labels, const std::vector<LabelRequirement>& selector);

// A field selector ("spec.nodeName=n1,status.phase!=Failed") over the fields Kubernetes allows for the
// resource (metadata.name and metadata.namespace everywhere, spec.nodeName and status.phase for pods,
// involvedObject.* for events); false with a reason (Kubernetes' "field label not supported: F").
struct FieldRequirement {
    std::string field;
    bool equals = true;
    std::string value;
};
bool parse_field_selector(const std::string& text, const ResourceInfo& info, std::vector<FieldRequirement>& out,
                          std::string& error);
bool fields_match(const nlohmann::json& object, const std::vector<FieldRequirement>& selector);

// DNS-1123: a subdomain (object names, up to 253) or a label (namespaces, up to 63). "" if valid, else why.
std::string dns1123_subdomain_error(const std::string& name);
std::string dns1123_label_error(const std::string& name);

}  // namespace skiff::apiserver
