// The per-kind strategy's entry points: which validation runs for which kind on create and update, what
// an update carries over from the stored object, and the 422 Invalid status kube-apiserver sends.
#include "skiff/apiserver/strategy.hpp"

#include <map>
#include <set>

#include "strategy_internal.hpp"

namespace skiff::apiserver {

using json = nlohmann::json;
using namespace strategy_detail;

namespace {

void validate_service_account(const json& sa, Errors& e) {
    for (const char* list : {"secrets", "imagePullSecrets"}) array_at(sa, list, Path(list), e);
    bool_at(sa, "automountServiceAccountToken", Path("automountServiceAccountToken"), e);
}

// The kind's own rules, the same on create and update (updates add theirs in validate_update). pod_spec:
// false when an update leaves a pod's spec as it is stored.
void validate_kind(const ResourceInfo& info, const json& object, bool creating, Errors& e, bool pod_spec = true) {
    const std::string& r = info.resource;
    if (r == "pods")
        validate_pod(object, e, pod_spec);
    else if (r == "deployments")
        validate_deployment(object, e);
    else if (r == "replicasets")
        validate_replica_set(object, e);
    else if (r == "services")
        validate_service(object, e);
    else if (r == "namespaces")
        validate_namespace(object, e);
    else if (r == "configmaps")
        validate_config_map(object, e);
    else if (r == "secrets")
        validate_secret(object, e);
    else if (r == "nodes")
        validate_node(object, e);
    else if (r == "leases")
        validate_lease(object, e);
    else if (r == "endpointslices")
        validate_endpoint_slice(object, creating, e);
    else if (r == "endpoints")
        validate_endpoints(object, e);
    else if (r == "events")
        validate_event(object, e);
    else if (r == "serviceaccounts")
        validate_service_account(object, e);
}

// Objects come from untrusted clients: a JSON access the checks did not foresee is reported as an
// error of the request rather than taking the server down.
template <typename F>
std::vector<FieldError> guarded(F run) {
    Errors e;
    try {
        run(e);
    } catch (const json::exception& ex) {
        e.list.push_back({"InternalError", "", std::string("Internal error: ") + ex.what()});
    }
    return e.list;
}

std::vector<std::string> ip_list(const json& spec) {
    std::vector<std::string> out;
    if (const json* ips = member(spec, "clusterIPs"); ips && ips->is_array())
        for (const auto& ip : *ips) out.push_back(ip.is_string() ? ip.get<std::string>() : ip.dump());
    return out;
}

// patchAllocatedValues and normalizeClusterIPs of the service REST storage.
void prepare_service_update(json& spec, const json& old_spec) {
    std::string type = string_or(spec, "type", "ClusterIP"), old_type = string_or(old_spec, "type", "ClusterIP");
    if (type != "ExternalName" && old_type != "ExternalName") {
        if (string_or(spec, "clusterIP").empty() && member(old_spec, "clusterIP"))
            spec["clusterIP"] = old_spec["clusterIP"];
        if (ip_list(spec).empty() && !ip_list(old_spec).empty() &&
            string_or(spec, "clusterIP") == string_or(old_spec, "clusterIP"))
            spec["clusterIPs"] = old_spec["clusterIPs"];
    }
    auto node_ports = [](const std::string& t) { return t == "NodePort" || t == "LoadBalancer"; };
    const json* ports = member(spec, "ports");
    const json* old_ports = member(old_spec, "ports");
    if (node_ports(type) && node_ports(old_type) && ports && ports->is_array() && old_ports && old_ports->is_array()) {
        std::map<std::string, int64_t> by_name;
        std::set<int64_t> old_used, new_used;
        for (const auto& p : *old_ports)
            if (auto np = integer_member(p, "nodePort"); np && *np) {
                by_name[string_or(p, "name")] = *np;
                old_used.insert(*np);
            }
        for (const auto& p : *ports)
            if (auto np = integer_member(p, "nodePort"); np && *np) new_used.insert(*np);
        for (auto& p : spec["ports"]) {
            if (!p.is_object() || integer_member(p, "nodePort").value_or(0) != 0) continue;
            auto it = by_name.find(string_or(p, "name"));
            // A port still in use by another entry of the new spec is not handed out twice.
            if (it != by_name.end() && !(old_used.count(it->second) && new_used.count(it->second)))
                p["nodePort"] = it->second;
        }
    }
    if (type == "LoadBalancer" && old_type == "LoadBalancer" && string_or(spec, "externalTrafficPolicy") == "Local" &&
        !member(spec, "healthCheckNodePort") && member(old_spec, "healthCheckNodePort"))
        spec["healthCheckNodePort"] = old_spec["healthCheckNodePort"];
    // Keep clusterIP and clusterIPs in step when the client changed only one of them.
    std::string ip = string_or(spec, "clusterIP"), old_ip = string_or(old_spec, "clusterIP");
    if (ip != old_ip && ip_list(spec) == ip_list(old_spec)) {
        if (ip.empty())
            spec.erase("clusterIPs");
        else
            spec["clusterIPs"] = json::array({ip});
    }
}

}  // namespace

std::string to_string(const FieldError& error) {
    return error.field + ": " + error.message;
}

void prepare_for_update(const ResourceInfo& info, json& object, const json& old) {
    if (info.resource != "services" || !object.is_object()) return;
    auto spec = object.find("spec");
    const json* old_spec = member(old, "spec");
    if (spec == object.end() || !spec->is_object() || !old_spec || !old_spec->is_object()) return;
    prepare_service_update(*spec, *old_spec);
}

std::vector<FieldError> validate_create(const ResourceInfo& info, const json& object) {
    return guarded([&](Errors& e) {
        validate_object_meta(info, object, true, e);
        validate_kind(info, object, true, e);
    });
}

bool spec_kept(const json& object, const json& old) {
    const json* x = member(object, "spec");  // null for a missing or null spec
    const json* y = member(old, "spec");
    return x && y ? *x == *y : x == y;
}

std::vector<FieldError> validate_update(const ResourceInfo& info, const json& object, const json& before) {
    return validate_update(info, object, before, spec_kept(object, before));
}

std::vector<FieldError> validate_update(const ResourceInfo& info, const json& object, const json& before,
                                        bool spec_kept) {
    return guarded([&](Errors& e) {
        validate_object_meta(info, object, false, e);
        const std::string& r = info.resource;
        if (r == "services") validate_service_update(object, before, e);
        // Ratcheting, as Kubernetes does for unchanged fields of custom resources: a pod spec an update leaves
        // as stored passed these rules when it was written (most pod updates are labels, annotations and
        // status), and checking it again was most of an update's validation time.
        bool pod_spec_kept = r == "pods" && spec_kept;
        validate_kind(info, object, false, e, !pod_spec_kept);
        if (r == "pods") {
            if (!pod_spec_kept) validate_pod_update(object, before, e);
        } else if (r == "deployments" || r == "replicasets")
            validate_selector_unchanged(object, before, e);
        else if (r == "configmaps")
            validate_config_map_update(object, before, e);
        else if (r == "secrets")
            validate_secret_update(object, before, e);
        else if (r == "nodes")
            validate_node_update(object, before, e);
        else if (r == "endpointslices")
            validate_endpoint_slice_update(object, before, e);
    });
}

Response invalid_response(const ResourceInfo& info, const std::string& name, const std::vector<FieldError>& errors) {
    json causes = json::array();
    std::vector<std::string> lines;
    std::set<std::string> seen;
    for (const auto& e : errors) {
        json cause = {{"reason", e.type}, {"message", e.message}};
        if (!e.field.empty()) cause["field"] = e.field;
        causes.push_back(std::move(cause));
        // The message's aggregate lists each distinct error once.
        if (std::string line = to_string(e); seen.insert(line).second) lines.push_back(std::move(line));
    }
    std::string message =
        (info.group.empty() ? info.kind : info.kind + "." + info.group) + " \"" + name + "\" is invalid";
    if (lines.size() == 1) {
        message += ": " + lines[0];
    } else if (lines.size() > 1) {
        message += ": [";
        for (size_t i = 0; i < lines.size(); ++i) message += (i ? ", " : "") + lines[i];
        message += "]";
    }
    json details = {{"kind", info.kind}, {"causes", causes}};
    if (!name.empty()) details["name"] = name;
    if (!info.group.empty()) details["group"] = info.group;
    json status = {{"kind", "Status"},   {"apiVersion", "v1"},  {"metadata", json::object()}, {"status", "Failure"},
                   {"message", message}, {"reason", "Invalid"}, {"details", details},         {"code", 422}};
    return Response{422, "application/json", status.dump(-1, ' ', false, json::error_handler_t::replace), {}};
}

}  // namespace skiff::apiserver
