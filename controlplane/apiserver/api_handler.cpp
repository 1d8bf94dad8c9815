// The API's routes: discovery documents, the OpenAPI v2 answer kubectl needs for create/apply, health
// endpoints; every error a metav1.Status.
#include "skiff/apiserver/api_handler.hpp"

#include "skiff/apiserver/discovery.hpp"

namespace skiff::apiserver {

namespace {

Response json_response(const nlohmann::json& j) { return Response{200, "application/json", j.dump(), {}}; }

std::vector<std::string> split_path(const std::string& path) {
    std::vector<std::string> parts;
    size_t start = 1;
    while (start <= path.size()) {
        size_t slash = path.find('/', start);
        std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
        if (!part.empty()) parts.push_back(part);
        if (slash == std::string::npos) break;
        start = slash + 1;
    }
    return parts;
}

Response not_found(const Request& req) {
    return status_response(404, "NotFound", "the server could not find the requested resource (" + req.path + ")");
}

Response discovery(const Request& req, const std::vector<std::string>& p) {
    if (p.size() == 1 && p[0] == "version") return json_response(version_document());
    if (p.size() == 1 && p[0] == "api") return json_response(api_versions_document());
    if (p.size() == 1 && p[0] == "apis") return json_response(api_groups_document());
    if (p.size() == 2 && p[0] == "api") {
        if (auto doc = resource_list_document("", p[1])) return json_response(*doc);
    }
    if (p.size() == 3 && p[0] == "apis") {
        if (auto doc = resource_list_document(p[1], p[2])) return json_response(*doc);
    }
    return not_found(req);
}

}  // namespace

Handler make_api_handler() {
    return [](const Request& req) -> Response {
        auto p = split_path(req.path);
        if (p.size() == 1 && (p[0] == "healthz" || p[0] == "livez" || p[0] == "readyz"))
            return Response{200, "text/plain; charset=utf-8", "ok", {}};
        if (req.method != "GET" && req.method != "HEAD" && !p.empty() &&
            (p[0] == "version" || p[0] == "openapi" || ((p[0] == "api" || p[0] == "apis") && p.size() <= 3)))
            return status_response(405, "MethodNotAllowed", req.method + " is not allowed on " + req.path);
        if (p.size() == 2 && p[0] == "openapi" && p[1] == "v2") {
            // No schemas yet: an empty protobuf document makes every kubectl from 1.27 to 1.33 create and
            // apply, with validation left to the server (fieldValidation=Strict), as observed in
            // ../shared/design/KUBECTL-WIRE.md. JSON here would fail kubectl's protobuf parser.
            return Response{200, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", "", {}};
        }
        if (!p.empty() && (p[0] == "version" || p[0] == "api" || p[0] == "apis")) return discovery(req, p);
        return not_found(req);
    };
}

}  // namespace skiff::apiserver
