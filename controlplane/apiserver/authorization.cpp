// The authorization policy: system:masters may do everything, every authenticated user may read discovery,
// and a node (system:node:NAME in system:nodes) may do what running its pods takes, on its own objects only.
#include "skiff/apiserver/authorization.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <initializer_list>

namespace skiff::apiserver {

using json = nlohmann::json;

namespace {

bool one_of(const std::string& s, std::initializer_list<const char*> set) {
    return std::any_of(set.begin(), set.end(), [&](const char* x) { return s == x; });
}

Decision allow() { return {true, ""}; }
Decision deny(std::string reason = "") { return {false, std::move(reason)}; }

// Whether a field selector has the term field=value (other terms only narrow the result further).
bool selects(const std::string& selector, const std::string& field, const std::string& value) {
    size_t start = 0;
    while (start <= selector.size()) {
        size_t comma = selector.find(',', start);
        std::string term = selector.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        while (!term.empty() && term.front() == ' ') term.erase(0, 1);
        while (!term.empty() && term.back() == ' ') term.pop_back();
        if (term == field + "=" + value || term == field + "==" + value) return true;
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return false;
}

// Discovery, OpenAPI and health: what clients read before anything else.
bool is_discovery_path(const std::string& path) {
    if (is_public_path(path)) return true;
    for (const char* prefix : {"/api", "/apis", "/openapi"})
        if (path == prefix || path.rfind(std::string(prefix) + "/", 0) == 0) return true;
    return false;
}

// The node rules. What a node's agent needs: its Node and its Lease (heartbeats), the pods bound to it and
// their status, events about them, and what the service load balancer is programmed from (services,
// endpoints, endpointslices, namespaces). Nothing else: no secrets, no other node's objects.
Decision node_rules(const Attributes& a, const std::string& node, const PodNodeLookup& pod_node) {
    const std::string& verb = a.verb;
    bool core = a.api_group.empty();

    if (core && a.resource == "nodes") {
        if (verb == "create" && a.subresource.empty()) {
            if (a.body_name == node) return allow();
            return deny("node '" + node + "' can only create its own Node object");
        }
        if (one_of(verb, {"get", "update", "patch"}) && one_of(a.subresource, {"", "status"}) && a.name == node)
            return allow();
        // An informer on its own Node: list and watch narrowed to its name.
        if (one_of(verb, {"list", "watch"}) && a.subresource.empty() && a.name.empty() &&
            selects(a.field_selector, "metadata.name", node))
            return allow();
        return deny("node '" + node + "' can only access its own Node object");
    }

    if (a.api_group == "coordination.k8s.io" && a.resource == "leases") {
        std::string name = verb == "create" ? a.body_name : a.name;
        if (a.ns == "kube-node-lease" && a.subresource.empty() && one_of(verb, {"get", "create", "update"}) &&
            name == node)
            return allow();
        return deny("node '" + node + "' can only access its own Lease in kube-node-lease");
    }

    if (core && a.resource == "pods") {
        if (one_of(verb, {"list", "watch"}) && a.subresource.empty()) {
            if (selects(a.field_selector, "spec.nodeName", node)) return allow();
            return deny("can only list/watch pods with spec.nodeName field selector");
        }
        if (one_of(verb, {"get", "update", "patch"}) && one_of(a.subresource, {"", "status"}) && !a.name.empty()) {
            // Which node a pod is bound to is in the stored object, not in the request.
            auto bound = pod_node(a.ns, a.name);
            if (!bound || *bound != node)
                return deny("no relationship found between node '" + node + "' and this object");
            if (a.body_node_name && *a.body_node_name != node)
                return deny("node '" + node + "' cannot move a pod to another node");
            return allow();
        }
        return deny();
    }

    if (core && a.resource == "events" && verb == "create") return allow();

    bool lb_source = (core && one_of(a.resource, {"services", "endpoints", "namespaces"})) ||
                     (a.api_group == "discovery.k8s.io" && a.resource == "endpointslices");
    if (lb_source && a.subresource.empty() && one_of(verb, {"get", "list", "watch"})) return allow();
    return deny();
}

// The spec.nodeName a pod update or patch would leave, when the body says anything about it.
std::optional<std::string> node_name_set_by(const Request& req, const std::string& verb) {
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded()) return std::nullopt;  // the registry answers 400 to it anyway
    auto string_or_empty = [](const json& j) { return j.is_string() ? j.get<std::string>() : std::string(); };
    if (verb == "update") {
        const json* spec = body.is_object() && body.contains("spec") ? &body["spec"] : nullptr;
        return spec && spec->is_object() && spec->contains("nodeName") ? string_or_empty((*spec)["nodeName"]) : "";
    }
    std::string type = req.header("content-type");
    type = type.substr(0, type.find(';'));
    if (type == "application/json-patch+json") {
        // Only "set /spec/nodeName to a name" is read; any other operation near it counts as unbinding.
        if (!body.is_array()) return std::nullopt;
        std::optional<std::string> out;
        for (const auto& op : body) {
            if (!op.is_object()) continue;
            for (const char* field : {"path", "from"}) {
                std::string p = op.contains(field) ? string_or_empty(op[field]) : "-";
                if (p != "" && p != "/spec" && p.rfind("/spec/nodeName", 0) != 0) continue;
                bool sets = std::string(field) == "path" && p == "/spec/nodeName" &&
                            one_of(string_or_empty(op.value("op", json())), {"add", "replace"}) &&
                            op.contains("value") && op["value"].is_string();
                out = sets ? op["value"].get<std::string>() : "";
            }
        }
        return out;
    }
    // Merge patches: {"spec":{"nodeName":...}} or {"spec":null}.
    if (!body.is_object() || !body.contains("spec")) return std::nullopt;
    const json& spec = body["spec"];
    if (!spec.is_object()) return "";
    if (!spec.contains("nodeName")) return std::nullopt;
    return string_or_empty(spec["nodeName"]);
}

}  // namespace

Attributes attributes_of(const Request& req, const ResourcePath* path, const UserInfo& user) {
    Attributes a;
    a.user = user;
    std::string method = req.method;
    if (!path) {
        a.path = req.path;
        for (auto& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        a.verb = method;
        return a;
    }
    a.resource_request = true;
    a.api_group = path->info->group;
    a.resource = path->info->resource;
    a.subresource = path->subresource;
    a.ns = path->ns;
    a.name = path->name;
    bool watch = req.param("watch") == "true" || req.param("watch") == "1";
    if (method == "GET" || method == "HEAD")
        a.verb = watch ? "watch" : path->name.empty() ? "list" : "get";
    else if (method == "POST")
        a.verb = "create";
    else if (method == "PUT")
        a.verb = "update";
    else if (method == "PATCH")
        a.verb = "patch";
    else if (method == "DELETE")
        a.verb = path->name.empty() ? "deletecollection" : "delete";
    else
        a.verb = method;
    if (a.verb == "list" || a.verb == "watch") a.field_selector = req.param("fieldSelector");
    // Only a node's requests are decided by the body, so only theirs are parsed here.
    if (!user.node.empty()) {
        if (a.verb == "create") {
            json body = json::parse(req.body, nullptr, false);
            if (body.is_object() && body.contains("metadata") && body["metadata"].is_object() &&
                body["metadata"].contains("name") && body["metadata"]["name"].is_string())
                a.body_name = body["metadata"]["name"].get<std::string>();
        }
        if (a.resource == "pods" && a.api_group.empty() && (a.verb == "update" || a.verb == "patch"))
            a.body_node_name = node_name_set_by(req, a.verb);
    }
    return a;
}

Decision authorize(const Attributes& a, const PodNodeLookup& pod_node) {
    if (a.user.in_group("system:masters")) return allow();
    if (!a.resource_request) {
        if (one_of(a.verb, {"get", "head"}) && is_discovery_path(a.path)) return allow();
        return deny();
    }
    if (!a.user.node.empty() && a.user.in_group("system:nodes")) return node_rules(a, a.user.node, pod_node);
    return deny();
}

Response forbidden(const Attributes& a, const std::string& reason) {
    std::string message;
    json details = json::object();
    if (!a.resource_request) {
        message = "forbidden: User \"" + a.user.name + "\" cannot " + a.verb + " path \"" + a.path + "\"";
    } else {
        // Kubernetes names the resource group-qualified in front, and with its subresource after "resource".
        std::string group_resource = a.api_group.empty() ? a.resource : a.resource + "." + a.api_group;
        std::string resource = a.subresource.empty() ? a.resource : a.resource + "/" + a.subresource;
        message = group_resource + (a.name.empty() ? "" : " \"" + a.name + "\"") + " is forbidden: User \"" +
                  a.user.name + "\" cannot " + a.verb + " resource \"" + resource + "\" in API group \"" +
                  a.api_group + "\"" + (a.ns.empty() ? " at the cluster scope" : " in the namespace \"" + a.ns + "\"");
        if (!a.name.empty()) details["name"] = a.name;
        if (!a.api_group.empty()) details["group"] = a.api_group;
        details["kind"] = a.resource;
    }
    if (!reason.empty()) message += ": " + reason;
    Response r = status_response(403, "Forbidden", message);
    json body = json::parse(r.body);
    body["details"] = details;
    r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
    return r;
}

}  // namespace skiff::apiserver
