// The API's routes: discovery documents, the OpenAPI v2 answer kubectl needs for create/apply, health
// endpoints; every error a metav1.Status.
#include "skiff/apiserver/api_handler.hpp"

#include <algorithm>

#include "skiff/apiserver/authentication.hpp"
#include "skiff/apiserver/authorization.hpp"
#include "skiff/apiserver/discovery.hpp"
#include "skiff/apiserver/openapi.hpp"

namespace skiff::apiserver {

namespace {

Response json_response(const nlohmann::json& j) { return Response{200, "application/json", j.dump(), {}}; }

std::vector<std::string> split_path_parts(const std::string& path) {
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

std::optional<ResourcePath> parse_resource_path(const std::vector<std::string>& p) {
    std::string group, version;
    size_t rest = 0;
    if (p.size() >= 3 && p[0] == "api") {
        version = p[1];
        rest = 2;
    } else if (p.size() >= 4 && p[0] == "apis") {
        group = p[1];
        version = p[2];
        rest = 3;
    } else {
        return std::nullopt;
    }
    std::vector<std::string> r(p.begin() + static_cast<long>(rest), p.end());
    ResourcePath out;
    // namespaces/NS/RESOURCE[/NAME[/SUB]]: a namespaced resource (not a subresource of the namespace).
    if (r.size() >= 3 && r[0] == "namespaces") {
        if (const ResourceInfo* info = find_resource(group, version, r[2]); info && info->namespaced) {
            if (r.size() > 5) return std::nullopt;
            out.info = info;
            out.ns = r[1];
            if (r.size() >= 4) out.name = r[3];
            if (r.size() == 5) out.subresource = r[4];
            const auto& subs = info->subresources;
            if (!out.subresource.empty() && std::find(subs.begin(), subs.end(), out.subresource) == subs.end())
                return std::nullopt;
            return out;
        }
    }
    // RESOURCE[/NAME[/SUB]]: cluster-scoped, or a namespaced collection across all namespaces.
    if (r.empty() || r.size() > 3) return std::nullopt;
    out.info = find_resource(group, version, r[0]);
    if (!out.info) return std::nullopt;
    if (out.info->namespaced && r.size() > 1) return std::nullopt;
    if (r.size() >= 2) out.name = r[1];
    if (r.size() == 3) out.subresource = r[2];
    const auto& subs = out.info->subresources;
    if (!out.subresource.empty() && std::find(subs.begin(), subs.end(), out.subresource) == subs.end())
        return std::nullopt;
    return out;
}

bool is_list_request(const Request& req) {
    if (req.method != "GET" || req.param("watch") == "true" || req.param("watch") == "1") return false;
    auto path = parse_resource_path(split_path_parts(req.path));
    return path && path->name.empty();
}

Handler make_api_handler(Registry* registry, const Authenticator* authenticator) {
    return [registry, authenticator](const Request& req) -> Response {
        auto p = split_path_parts(req.path);
        std::optional<ResourcePath> path;
        if (registry) path = parse_resource_path(p);
        if (authenticator) {
            auto user = authenticator->authenticate(req);
            bool reading = req.method == "GET" || req.method == "HEAD";
            if (!user && !(reading && is_public_path(req.path)))
                return status_response(401, "Unauthorized", "Unauthorized");
            if (user) {
                Attributes attributes = attributes_of(req, path ? &*path : nullptr, *user);
                auto pod_node = [registry](const std::string& ns, const std::string& name) -> Result<std::string> {
                    if (!registry) return Error(store::errc::not_found, "no registry");
                    return registry->bound_node(ns, name);
                };
                if (auto decision = authorize(attributes, pod_node); !decision.allowed)
                    return forbidden(attributes, decision.reason);
            }
        }
        if (p.size() == 1 && (p[0] == "healthz" || p[0] == "livez" || p[0] == "readyz"))
            return Response{200, "text/plain; charset=utf-8", "ok", {}};
        if (registry) {
            if (path) {
                if (path->info->namespaced && path->ns.empty() && req.method != "GET")
                    return status_response(405, "MethodNotAllowed",
                                           req.method + " of " + path->info->resource + " needs a namespace in the path");
                return registry->handle(req, *path);
            }
        }
        if (req.method != "GET" && req.method != "HEAD" && !p.empty() &&
            (p[0] == "version" || p[0] == "openapi" || ((p[0] == "api" || p[0] == "apis") && p.size() <= 3)))
            return status_response(405, "MethodNotAllowed", req.method + " is not allowed on " + req.path);
        if (p.size() == 2 && p[0] == "openapi" && p[1] == "v2") {
            // No schemas yet: an empty protobuf document makes every kubectl from 1.27 to 1.33 create and
            // apply, with validation left to the server (fieldValidation=Strict), as observed in
            // ../shared/design/KUBECTL-WIRE.md. JSON here would fail kubectl's protobuf parser.
            return Response{200, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", "", {}};
        }
        if (p.size() == 2 && p[0] == "openapi" && p[1] == "v3")
            return Response{200, "application/json", openapi_v3_index(), {}};
        if (p.size() >= 3 && p[0] == "openapi" && p[1] == "v3") {
            std::string gv = p[2];
            for (size_t i = 3; i < p.size(); ++i) gv += "/" + p[i];
            const OpenApiDocument* doc = openapi_v3_document(gv);
            if (!doc) return not_found(req);
            // The index links each document by its hash, so a client may keep what it fetched by that URL.
            std::string cache = req.param("hash") == doc->hash ? "public, immutable" : "no-cache, private";
            return Response{200, "application/json", doc->json,
                            {{"Cache-Control", cache}, {"Etag", "\"" + doc->hash + "\""}}};
        }
        if (!p.empty() && (p[0] == "version" || p[0] == "api" || p[0] == "apis")) return discovery(req, p);
        return not_found(req);
    };
}

}  // namespace skiff::apiserver
