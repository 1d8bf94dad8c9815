// Routing of the Kubernetes API paths (discovery, OpenAPI, health, resources), behind authentication and
// authorization when the listener asks for them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "skiff/apiserver/http_server.hpp"
#include "skiff/apiserver/registry.hpp"

namespace skiff::apiserver {

class Authenticator;

// registry serves the resources; without one (nullptr) only discovery, OpenAPI and health answer.
// authenticator: every request must carry valid credentials (401 otherwise, except on the public health and
// version paths) and is then authorized by the policy (authorization.hpp; 403). nullptr: no checks at all,
// every request acts as the admin: only for the loopback --insecure-listen listener.
Handler make_api_handler(Registry* registry = nullptr, const Authenticator* authenticator = nullptr);

// Where a resource URL points (/api/v1/namespaces/default/pods/web, /apis/apps/v1/deployments, ...);
// nullopt when it is not a served resource.
std::optional<ResourcePath> parse_resource_path(const std::vector<std::string>& parts);

// A list: a GET of a resource collection that is not a watch (HttpServerOptions::is_list).
bool is_list_request(const Request& req);

}  // namespace skiff::apiserver
