// The generic REST storage of API objects over the store: create, get, list, update, patch and delete of
// any resource in the resource table, with Kubernetes' object metadata rules (uid, resourceVersion =
// store revision, generation, creationTimestamp, generateName) and its status codes.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <optional>

#include "skiff/apiserver/decoded_objects.hpp"
#include "skiff/apiserver/http_server.hpp"
#include "skiff/apiserver/resources.hpp"
#include "skiff/apiserver/selectors.hpp"
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

// metav1.DeleteOptions, from the body and the query.
struct DeleteOptions {
    std::optional<long long> grace_period;
    std::string propagation;  // "", "Orphan", "Background", "Foreground"
    std::string uid_precondition;
    std::string rv_precondition;
    bool dry_run = false;
};
bool parse_delete_options(const Request& req, DeleteOptions& out, Response& error);

class Registry {
public:
    // watches: where `?watch=true` streams come from; without one, watches are refused.
    explicit Registry(store::Store& store, std::shared_ptr<WatchCache> watches = nullptr,
                      std::chrono::seconds bookmark_interval = std::chrono::seconds(60))
        : store_(store), watches_(std::move(watches)), bookmark_interval_(bookmark_interval) {}

    // What every cluster has: the namespaces default, kube-system, kube-public, kube-node-lease, and the
    // `kubernetes` service on the first address of the service range.
    [[nodiscard]] Status ensure_default_objects();

    Response handle(const Request& req, const ResourcePath& path);

    // The node a stored pod is bound to (its spec.nodeName, "" when unbound); the authorizer asks it before a
    // node may read or write the pod. An Error with store::errc::not_found when there is no such pod.
    [[nodiscard]] Result<std::string> bound_node(const std::string& ns, const std::string& pod);

    // "/registry/<group or core>/<resource>/<namespace>/<name>" (no namespace part when cluster-scoped).
    static std::string key_of(const ResourceInfo& info, const std::string& ns, const std::string& name);
    // The key prefix of a collection: every object of the resource, or those of one namespace.
    static std::string collection_prefix(const ResourceInfo& info, const std::string& ns);

    // Frees the decoded objects of the last writes unless they were used since the last call (the server
    // calls it every few seconds, so an idle server gives that memory back).
    void release_idle_memory() { decoded_.release_if_idle(); }

private:
    Response route(const Request& req, const ResourcePath& path);
    Response create(const Request& req, const ResourcePath& path);
    Response get(const Request& req, const ResourcePath& path);
    Response list(const Request& req, const ResourcePath& path);
    Response update(const Request& req, const ResourcePath& path);
    Response patch(const Request& req, const ResourcePath& path);
    // create with the body already parsed and checked (create, and server-side apply of a new object).
    Response create_object(const Request& req, const ResourcePath& path, nlohmann::json obj);
    Response apply(const Request& req, const ResourcePath& path, const nlohmann::json& applied);
    bool check_fields(const Request& req, const ResourceInfo& info, const nlohmann::json& obj, Response& error);
    // The common end of update and patch: the subresource's rules (status, scale, finalize), metadata carried
    // over, finalizer rules, service addresses, the compare-and-swap write. stale: the store no longer holds
    // `expected` (the CAS failed, or the object is gone); the caller may read it again and retry.
    Response commit_update(const Request& req, const ResourcePath& path, const nlohmann::json& old,
                           nlohmann::json updated, int64_t expected, bool& stale);
    Response watch(const Request& req, const ResourcePath& path);  // watch.cpp
    // subresources.cpp
    Response bind(const Request& req, const ResourcePath& path);
    Response pod_log(const ResourcePath& path);
    // deletion.cpp
    Response remove(const Request& req, const ResourcePath& path);
    Response remove_collection(const Request& req, const ResourcePath& path);
    Response delete_object(const ResourcePath& path, const std::string& name, const DeleteOptions& options);
    Response delete_namespace(const ResourcePath& path, const std::string& name, nlohmann::json ns, int64_t revision,
                              const DeleteOptions& options);
    // After an object left the store: its service addresses go, and a terminating namespace that is now
    // empty goes too.
    void after_removal(const ResourceInfo& info, const std::string& ns, const nlohmann::json& obj);
    void finish_namespace(const std::string& name);
    // The stored object as writes start from it: metadata.resourceVersion set, defaults applied (an object
    // stored before a default existed is read as if it had it); parsed once per revision (decoded_). keep:
    // remember it for the next write (an update; not a delete).
    std::shared_ptr<const nlohmann::json> decode(const ResourceInfo& info, const store::KeyValue& kv, bool keep = true);
    // Keeps object (what was just written as kv) for the next write of its key.
    void remember(const store::KeyValue& kv, nlohmann::json object);

    store::Store& store_;
    std::shared_ptr<WatchCache> watches_;
    std::chrono::seconds bookmark_interval_;
    DecodedObjects decoded_;
};

// DNS-1123: a subdomain (object names, up to 253) or a label (namespaces, up to 63). "" if valid, else why.
std::string dns1123_subdomain_error(const std::string& name);
std::string dns1123_label_error(const std::string& name);

}  // namespace skiff::apiserver
