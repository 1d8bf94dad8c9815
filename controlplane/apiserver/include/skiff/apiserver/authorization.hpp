// What an authenticated user may do: system:masters everything, any user the discovery documents, and a node
// only what its own work needs (the rules of Kubernetes' Node authorizer, cut to what skiff serves).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "skiff/apiserver/authentication.hpp"
#include "skiff/apiserver/http_server.hpp"
#include "skiff/apiserver/registry.hpp"

namespace skiff::apiserver {

// A request as the policy sees it (Kubernetes' authorizer.Attributes, plus what the node rules read from the
// query and the body).
struct Attributes {
    UserInfo user;
    std::string verb;  // resources: get list watch create update patch delete deletecollection;
                       // other paths: the lower-case HTTP method
    bool resource_request = false;
    std::string path;  // other paths
    std::string api_group, resource, subresource, ns, name;
    std::string field_selector;                 // list/watch: as given
    std::string body_name;                      // create: the body's metadata.name
    std::optional<std::string> body_node_name;  // pod update/patch: the spec.nodeName the body would set
};

// Builds the attributes of req; path is the resource it names (nullptr for other paths).
Attributes attributes_of(const Request& req, const ResourcePath* path, const UserInfo& user);

struct Decision {
    bool allowed = false;
    std::string reason;  // why not, when Kubernetes would say (appended to the 403 message)
};

// The stored pod's spec.nodeName ("" when unbound); an Error with store::errc::not_found when there is no
// such pod. Only called for a node's requests on single pods.
using PodNodeLookup = std::function<Result<std::string>(const std::string& ns, const std::string& name)>;

Decision authorize(const Attributes& a, const PodNodeLookup& pod_node);

// 403 Forbidden in Kubernetes' words: `pods "x" is forbidden: User "system:node:n1" cannot get resource
// "pods" in API group "" in the namespace "default"[: reason]`.
Response forbidden(const Attributes& a, const std::string& reason);

}  // namespace skiff::apiserver
