// The subresources beside an object's own path: scale (autoscaling/v1 Scale over spec.replicas), binding
// (the scheduler's way to set a pod's node), log (served by the node agent) and the rules of status.
#include <algorithm>

#include "registry_internal.hpp"

namespace skiff::apiserver {

using json = nlohmann::json;

bool has_status_subresource(const ResourceInfo& info) {
    return std::find(info.subresources.begin(), info.subresources.end(), "status") != info.subresources.end();
}

bool dry_run(const Request& req) { return req.param("dryRun") == "All"; }

namespace {

// A LabelSelector as the query string form Scale.status.selector carries ("app=web,tier in (a,b)").
std::string selector_string(const json& selector) {
    std::string out;
    auto add = [&](const std::string& term) { out += (out.empty() ? "" : ",") + term; };
    if (!selector.is_object()) return out;
    if (selector.contains("matchLabels") && selector["matchLabels"].is_object())
        for (const auto& [k, v] : selector["matchLabels"].items()) add(k + "=" + (v.is_string() ? v.get<std::string>() : ""));
    if (selector.contains("matchExpressions") && selector["matchExpressions"].is_array()) {
        for (const auto& e : selector["matchExpressions"]) {
            if (!e.is_object()) continue;
            std::string key = e.value("key", ""), op = e.value("operator", "");
            std::string values;
            for (const auto& v : e.value("values", json::array())) values += (values.empty() ? "" : ",") + v.get<std::string>();
            if (op == "In") add(key + " in (" + values + ")");
            else if (op == "NotIn") add(key + " notin (" + values + ")");
            else if (op == "Exists") add(key);
            else if (op == "DoesNotExist") add("!" + key);
        }
    }
    return out;
}

}  // namespace

json scale_of(const ResourceInfo& info, const json& obj) {
    const json& meta = obj["metadata"];
    json scale_meta = json::object();
    for (const char* field : {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"})
        if (meta.contains(field)) scale_meta[field] = meta[field];
    const json spec = obj.value("spec", json::object());
    const json status = obj.value("status", json::object());
    (void)info;
    return {{"kind", "Scale"},
            {"apiVersion", "autoscaling/v1"},
            {"metadata", scale_meta},
            {"spec", {{"replicas", spec.value("replicas", 1)}}},
            {"status", {{"replicas", status.value("replicas", 0)}, {"selector", selector_string(spec.value("selector", json()))}}}};
}

json with_scale(const json& obj, const json& scale) {
    json updated = obj;
    const json& spec = scale.contains("spec") && scale["spec"].is_object() ? scale["spec"] : json::object();
    updated["spec"]["replicas"] = spec.value("replicas", 0);
    if (scale.contains("metadata") && scale["metadata"].is_object() && scale["metadata"].contains("resourceVersion"))
        updated["metadata"]["resourceVersion"] = scale["metadata"]["resourceVersion"];
    return updated;
}

Response Registry::bind(const Request& req, const ResourcePath& path) {
    json binding;
    Response error;
    if (!parse_body(req, binding, error)) return error;
    if (binding.value("kind", "Binding") != "Binding")
        return status_response(400, "BadRequest", "pods/binding takes a Binding, not " + binding["kind"].dump());
    const json target = binding.value("target", json::object());
    std::string node = target.is_object() ? target.value("name", "") : "";
    if (node.empty())
        return failure(422, "Invalid", "Binding \"" + path.name + "\" is invalid: target.name: Required value", path,
                       path.name, json::array({{{"reason", "FieldValueRequired"}, {"message", "Required value"}, {"field", "target.name"}}}));
    std::string key = key_of(*path.info, path.ns, path.name);
    for (int attempt = 0; attempt < 5; ++attempt) {
        auto current = store_.get(key);
        if (!current) return store_failure(current.error(), path, path.name);
        json pod = json::parse(current->value, nullptr, false);
        if (pod["metadata"].contains("deletionTimestamp"))
            return failure(409, "Conflict", "pod " + path.name + " is being deleted, cannot be assigned to a host", path, path.name);
        std::string bound = pod.value("spec", json::object()).value("nodeName", "");
        if (!bound.empty())
            return failure(409, "Conflict",
                           "Operation cannot be fulfilled on pods/binding \"" + path.name + "\": pod " + path.name +
                               " is already assigned to node \"" + bound + "\"",
                           path, path.name);
        pod["spec"]["nodeName"] = node;
        if (dry_run(req)) break;
        auto kv = store_.update(key, write_json(pod), current->mod_revision);
        if (kv) break;
        if (kv.error().code() != store::errc::conflict) return store_failure(kv.error(), path, path.name);
    }
    json ok = {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", json::object()}, {"status", "Success"}, {"code", 201}};
    return object_response(201, ok);
}

Response Registry::pod_log(const ResourcePath& path) {
    auto kv = store_.get(key_of(*path.info, path.ns, path.name));
    if (!kv) return store_failure(kv.error(), path, path.name);
    json pod = json::parse(kv->value, nullptr, false);
    std::string node = pod.value("spec", json::object()).value("nodeName", "");
    if (node.empty())
        return failure(400, "BadRequest", "pod " + path.name + " does not have a host assigned", path, path.name);
    // Logs live on the node: skiff agent serves them, and no agent is connected to this server yet.
    return failure(503, "ServiceUnavailable",
                   "the logs of pod " + path.name + " are on node \"" + node +
                       "\", and no skiff agent serves that node's logs to this server",
                   path, path.name);
}

}  // namespace skiff::apiserver
