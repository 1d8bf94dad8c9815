// Routing of the Kubernetes API paths: discovery, OpenAPI and health today; resources come next.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "skiff/apiserver/http_server.hpp"
#include "skiff/apiserver/registry.hpp"

namespace skiff::apiserver {

// registry serves the resources; without one (nullptr) only discovery, OpenAPI and health answer.
Handler make_api_handler(Registry* registry = nullptr);

// Where a resource URL points (/api/v1/namespaces/default/pods/web, /apis/apps/v1/deployments, ...);
// nullopt when it is not a served resource.
std::optional<ResourcePath> parse_resource_path(const std::vector<std::string>& parts);

}  // namespace skiff::apiserver
