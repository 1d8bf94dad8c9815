// Table columns per kind, as Kubernetes' printers compute them.
#include "skiff/apiserver/tables.hpp"

#include <ctime>

namespace skiff::apiserver {

using json = nlohmann::json;

namespace {

struct Column {
    const char* name;
    const char* type;
    int priority;  // 0: always shown; 1: with -o wide
    const char* format = "";
};

std::string str(const json& j, const char* key, const std::string& otherwise = "") {
    return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : otherwise;
}

long long num(const json& j, const char* key) {
    return j.is_object() && j.contains(key) && j[key].is_number_integer() ? j[key].get<long long>() : 0;
}

const json& field(const json& j, const char* key) {
    static const json none;
    return j.is_object() && j.contains(key) ? j[key] : none;
}

std::time_t parse_rfc3339(const std::string& t) {
    std::tm tm{};
    if (!strptime(t.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return 0;
    return timegm(&tm);
}

std::string age(const json& obj, std::time_t now) {
    std::string created = str(field(obj, "metadata"), "creationTimestamp");
    if (created.empty()) return "<unknown>";
    return human_duration(static_cast<long long>(now - parse_rfc3339(created)));
}

std::string join(const std::vector<std::string>& parts, const char* sep) {
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
    return out;
}

std::vector<Column> columns_of(const ResourceInfo& info) {
    const std::string& r = info.resource;
    if (r == "pods")
        return {{"Name", "string", 0, "name"}, {"Ready", "string", 0},     {"Status", "string", 0},
                {"Restarts", "string", 0},     {"Age", "string", 0},       {"IP", "string", 1},
                {"Node", "string", 1},         {"Nominated Node", "string", 1}, {"Readiness Gates", "string", 1}};
    if (r == "deployments")
        return {{"Name", "string", 0, "name"}, {"Ready", "string", 0},      {"Up-to-date", "integer", 0},
                {"Available", "integer", 0},   {"Age", "string", 0},        {"Containers", "string", 1},
                {"Images", "string", 1},       {"Selector", "string", 1}};
    if (r == "replicasets")
        return {{"Name", "string", 0, "name"}, {"Desired", "integer", 0}, {"Current", "integer", 0},
                {"Ready", "integer", 0},       {"Age", "string", 0},      {"Containers", "string", 1},
                {"Images", "string", 1},       {"Selector", "string", 1}};
    if (r == "services")
        return {{"Name", "string", 0, "name"}, {"Type", "string", 0},    {"Cluster-IP", "string", 0},
                {"External-IP", "string", 0},  {"Port(s)", "string", 0}, {"Age", "string", 0},
                {"Selector", "string", 1}};
    if (r == "nodes")
        return {{"Name", "string", 0, "name"}, {"Status", "string", 0},         {"Roles", "string", 0},
                {"Age", "string", 0},          {"Version", "string", 0},        {"Internal-IP", "string", 1},
                {"External-IP", "string", 1},  {"OS-Image", "string", 1},       {"Kernel-Version", "string", 1},
                {"Container-Runtime", "string", 1}};
    if (r == "namespaces") return {{"Name", "string", 0, "name"}, {"Status", "string", 0}, {"Age", "string", 0}};
    if (r == "configmaps") return {{"Name", "string", 0, "name"}, {"Data", "integer", 0}, {"Age", "string", 0}};
    if (r == "secrets")
        return {{"Name", "string", 0, "name"}, {"Type", "string", 0}, {"Data", "integer", 0}, {"Age", "string", 0}};
    return {{"Name", "string", 0, "name"}, {"Age", "string", 0}};
}

std::string selector_text(const json& selector) {
    std::vector<std::string> parts;
    for (const auto& [k, v] : field(selector, "matchLabels").items())
        if (v.is_string()) parts.push_back(k + "=" + v.get<std::string>());
    return parts.empty() ? "<none>" : join(parts, ",");
}

void containers_and_images(const json& pod_spec, json& cells) {
    std::vector<std::string> names, images;
    for (const auto& c : field(pod_spec, "containers")) {
        names.push_back(str(c, "name"));
        images.push_back(str(c, "image"));
    }
    cells.push_back(join(names, ","));
    cells.push_back(join(images, ","));
}

json cells_of(const ResourceInfo& info, const json& obj, std::time_t now) {
    const std::string& r = info.resource;
    const json& meta = field(obj, "metadata");
    const json& spec = field(obj, "spec");
    const json& status = field(obj, "status");
    json cells = json::array({str(meta, "name")});
    if (r == "pods") {
        long long ready = 0, restarts = 0, total = static_cast<long long>(field(spec, "containers").size());
        for (const auto& cs : field(status, "containerStatuses")) {
            if (cs.is_object() && cs.value("ready", false)) ++ready;
            restarts += num(cs, "restartCount");
        }
        std::string phase = str(status, "phase", "Pending");
        if (meta.contains("deletionTimestamp")) phase = "Terminating";
        cells.push_back(std::to_string(ready) + "/" + std::to_string(total));
        cells.push_back(phase);
        cells.push_back(std::to_string(restarts));
        cells.push_back(age(obj, now));
        cells.push_back(str(status, "podIP", "<none>"));
        cells.push_back(str(spec, "nodeName", "<none>"));
        cells.push_back("<none>");
        cells.push_back("<none>");
    } else if (r == "deployments" || r == "replicasets") {
        long long replicas = spec.contains("replicas") ? num(spec, "replicas") : 1;
        if (r == "deployments") {
            cells.push_back(std::to_string(num(status, "readyReplicas")) + "/" + std::to_string(replicas));
            cells.push_back(num(status, "updatedReplicas"));
            cells.push_back(num(status, "availableReplicas"));
        } else {
            cells.push_back(replicas);
            cells.push_back(num(status, "replicas"));
            cells.push_back(num(status, "readyReplicas"));
        }
        cells.push_back(age(obj, now));
        containers_and_images(field(field(spec, "template"), "spec"), cells);
        cells.push_back(selector_text(field(spec, "selector")));
    } else if (r == "services") {
        std::vector<std::string> ports;
        for (const auto& p : field(spec, "ports")) {
            std::string port = std::to_string(num(p, "port"));
            if (num(p, "nodePort")) port += ":" + std::to_string(num(p, "nodePort"));
            ports.push_back(port + "/" + str(p, "protocol", "TCP"));
        }
        std::vector<std::string> selector;
        for (const auto& [k, v] : field(spec, "selector").items())
            if (v.is_string()) selector.push_back(k + "=" + v.get<std::string>());
        cells.push_back(str(spec, "type", "ClusterIP"));
        cells.push_back(str(spec, "clusterIP", "<none>"));
        cells.push_back("<none>");
        cells.push_back(ports.empty() ? "<none>" : join(ports, ","));
        cells.push_back(age(obj, now));
        cells.push_back(selector.empty() ? "<none>" : join(selector, ","));
    } else if (r == "nodes") {
        std::string ready = "Unknown";
        for (const auto& c : field(status, "conditions"))
            if (str(c, "type") == "Ready") ready = str(c, "status") == "True" ? "Ready" : "NotReady";
        std::vector<std::string> roles;
        const std::string prefix = "node-role.kubernetes.io/";
        for (const auto& [k, v] : field(meta, "labels").items())
            if (k.rfind(prefix, 0) == 0 && k.size() > prefix.size()) roles.push_back(k.substr(prefix.size()));
        std::string internal = "<none>", external = "<none>";
        for (const auto& a : field(status, "addresses")) {
            if (str(a, "type") == "InternalIP") internal = str(a, "address");
            if (str(a, "type") == "ExternalIP") external = str(a, "address");
        }
        const json& info_json = field(status, "nodeInfo");
        cells.push_back(ready);
        cells.push_back(roles.empty() ? "<none>" : join(roles, ","));
        cells.push_back(age(obj, now));
        cells.push_back(str(info_json, "kubeletVersion"));
        cells.push_back(internal);
        cells.push_back(external);
        cells.push_back(str(info_json, "osImage", "<unknown>"));
        cells.push_back(str(info_json, "kernelVersion", "<unknown>"));
        cells.push_back(str(info_json, "containerRuntimeVersion", "<unknown>"));
    } else if (r == "namespaces") {
        cells.push_back(str(status, "phase", "Active"));
        cells.push_back(age(obj, now));
    } else if (r == "configmaps") {
        cells.push_back(static_cast<long long>(field(obj, "data").size() + field(obj, "binaryData").size()));
        cells.push_back(age(obj, now));
    } else if (r == "secrets") {
        cells.push_back(str(obj, "type", "Opaque"));
        cells.push_back(static_cast<long long>(field(obj, "data").size()));
        cells.push_back(age(obj, now));
    } else {
        cells.push_back(age(obj, now));
    }
    return cells;
}

}  // namespace

bool wants_table(const std::string& accept) { return accept.find("as=Table") != std::string::npos; }

std::string human_duration(long long s) {
    if (s < -1) return "<invalid>";
    if (s < 0) s = 0;
    if (s < 120) return std::to_string(s) + "s";
    long long m = s / 60, h = s / 3600, d = s / 86400;
    if (m < 10) return std::to_string(m) + "m" + (s % 60 ? std::to_string(s % 60) + "s" : "");
    if (m < 180) return std::to_string(m) + "m";
    if (h < 8) return std::to_string(h) + "h" + (m % 60 ? std::to_string(m % 60) + "m" : "");
    if (h < 48) return std::to_string(h) + "h";
    if (h < 192) return std::to_string(d) + "d" + (h % 24 ? std::to_string(h % 24) + "h" : "");
    if (d < 365 * 2) return std::to_string(d) + "d";
    if (d < 365 * 8) return std::to_string(d / 365) + "y" + (d % 365 ? std::to_string(d % 365) + "d" : "");
    return std::to_string(d / 365) + "y";
}

json make_table(const ResourceInfo& info, const json& objects, const std::string& resource_version,
                bool include_object, std::time_t now) {
    json columns = json::array();
    for (const auto& c : columns_of(info))
        columns.push_back({{"name", c.name}, {"type", c.type}, {"format", c.format}, {"description", ""},
                           {"priority", c.priority}});
    json rows = json::array();
    for (const auto& obj : objects) {
        json object = include_object ? obj
                                     : json{{"kind", "PartialObjectMetadata"},
                                            {"apiVersion", "meta.k8s.io/v1"},
                                            {"metadata", field(obj, "metadata")}};
        rows.push_back({{"cells", cells_of(info, obj, now)}, {"object", object}});
    }
    return {{"kind", "Table"},
            {"apiVersion", "meta.k8s.io/v1"},
            {"metadata", {{"resourceVersion", resource_version}}},
            {"columnDefinitions", columns},
            {"rows", rows}};
}

}  // namespace skiff::apiserver
