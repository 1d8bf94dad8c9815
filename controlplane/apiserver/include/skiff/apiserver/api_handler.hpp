// Routing of the Kubernetes API paths: discovery, OpenAPI and health today; resources come next.
#pragma once

#include "skiff/apiserver/http_server.hpp"

namespace skiff::apiserver {

Handler make_api_handler();

}  // namespace skiff::apiserver
