// The defaults Kubernetes gives an object when it is written (pkg/apis/*/v1/defaults.go, plus the few
// that its strategies and default admission plugins add and `kubectl get -o yaml` shows), applied only
// where the client left a field out and only inside members of the expected JSON type.
#include <map>

#include "strategy_internal.hpp"

namespace skiff::apiserver {

using json = nlohmann::json;
using namespace strategy_detail;

namespace {

bool absent(const json& object, const char* key) {
    auto it = object.find(key);
    return it == object.end() || it->is_null();
}

// The value is made only when it is needed (most objects written come back with their defaults).
template <typename V>
void set_default(json& object, const char* key, V&& value) {
    if (object.is_object() && absent(object, key)) object[key] = json(std::forward<V>(value));
}

// The member as an object to default inside: created when absent, nullptr when it has another type.
json* object_member(json& parent, const char* key) {
    if (!parent.is_object()) return nullptr;
    if (absent(parent, key)) parent[key] = json::object();
    json& v = parent[key];
    return v.is_object() ? &v : nullptr;
}

// Each object element of an array member, if the member is an array.
template <typename F>
void for_each_object(json& parent, const char* key, F f) {
    if (!parent.is_object()) return;
    auto it = parent.find(key);
    if (it == parent.end() || !it->is_array()) return;
    for (auto& element : *it)
        if (element.is_object()) f(element);
}

// SetDefaults_Container: IfNotPresent for a tagged image, Always for :latest or no tag (a digest
// alone counts as a tag that is not latest).
std::string pull_policy_for(const std::string& image) {
    std::string ref = image;
    bool digest = false;
    if (auto at = ref.find('@'); at != std::string::npos) {
        ref = ref.substr(0, at);
        digest = true;
    }
    std::string last = ref.substr(ref.rfind('/') == std::string::npos ? 0 : ref.rfind('/') + 1);
    auto colon = last.rfind(':');
    std::string tag = colon == std::string::npos ? (digest ? "" : "latest") : last.substr(colon + 1);
    return tag == "latest" ? "Always" : "IfNotPresent";
}

void default_probe(json& container, const char* key) {
    auto it = container.find(key);
    if (it == container.end() || !it->is_object()) return;
    json& probe = *it;
    set_default(probe, "timeoutSeconds", 1);
    set_default(probe, "periodSeconds", 10);
    set_default(probe, "successThreshold", 1);
    set_default(probe, "failureThreshold", 3);
    if (auto h = probe.find("httpGet"); h != probe.end() && h->is_object()) {
        set_default(*h, "path", "/");
        set_default(*h, "scheme", "HTTP");
    }
}

void default_container(json& c, bool host_network) {
    set_default(c, "terminationMessagePath", "/dev/termination-log");
    set_default(c, "terminationMessagePolicy", "File");
    if (absent(c, "imagePullPolicy"))
        c["imagePullPolicy"] = c.contains("image") && c["image"].is_string()
                                   ? pull_policy_for(c["image"].get<std::string>())
                                   : "IfNotPresent";
    for_each_object(c, "ports", [&](json& port) {
        set_default(port, "protocol", "TCP");
        if (host_network && absent(port, "hostPort") && port.contains("containerPort"))
            port["hostPort"] = port["containerPort"];
    });
    for_each_object(c, "env", [](json& env) {
        if (auto vf = env.find("valueFrom"); vf != env.end() && vf->is_object())
            if (auto fr = vf->find("fieldRef"); fr != vf->end() && fr->is_object())
                set_default(*fr, "apiVersion", "v1");
    });
    object_member(c, "resources");
    for (const char* probe : {"livenessProbe", "readinessProbe", "startupProbe"}) default_probe(c, probe);
}

// SetDefaults_Pod: requests default to limits, on pods only (not on templates).
void default_requests_from_limits(json& c) {
    json* resources = object_member(c, "resources");
    if (!resources) return;
    auto limits = resources->find("limits");
    if (limits == resources->end() || !limits->is_object() || limits->empty()) return;
    json* requests = object_member(*resources, "requests");
    if (!requests) return;
    for (const auto& [name, quantity] : limits->items()) set_default(*requests, name.c_str(), quantity);
}

void default_volume(json& volume) {
    bool has_source = false;
    for (auto& [key, value] : volume.items())
        if (key != "name" && !value.is_null()) has_source = true;
    if (!has_source) volume["emptyDir"] = json::object();
    for (const char* source : {"configMap", "secret", "downwardAPI", "projected"})
        if (auto s = volume.find(source); s != volume.end() && s->is_object()) set_default(*s, "defaultMode", 420);
}

void default_pod_spec(json& spec) {
    if (!spec.is_object()) return;
    set_default(spec, "dnsPolicy", "ClusterFirst");
    set_default(spec, "restartPolicy", "Always");
    set_default(spec, "terminationGracePeriodSeconds", 30);
    set_default(spec, "schedulerName", "default-scheduler");
    set_default(spec, "securityContext", json::object());
    bool host_network = spec.value("hostNetwork", json(false)) == json(true);
    for_each_object(spec, "containers", [&](json& c) { default_container(c, host_network); });
    for_each_object(spec, "initContainers", [&](json& c) { default_container(c, host_network); });
    for_each_object(spec, "volumes", default_volume);
}

void default_template(json& owner) {
    json* spec = object_member(owner, "spec");
    if (!spec) return;
    if (auto t = spec->find("template"); t != spec->end() && t->is_object())
        if (auto s = t->find("spec"); s != t->end()) default_pod_spec(*s);
}

// GetPodQOS: BestEffort without cpu/memory requests or limits, Guaranteed when every container limits
// both and requests equal limits, else Burstable.
std::string qos_class(const json& spec) {
    std::map<std::string, long double> requests, limits;
    bool guaranteed = true;
    auto visit = [&](const json& c) {
        const json* resources = member(c, "resources");
        const json* req = resources ? member(*resources, "requests") : nullptr;
        const json* lim = resources ? member(*resources, "limits") : nullptr;
        for (const char* name : {"cpu", "memory"}) {
            if (const json* q = req ? member(*req, name) : nullptr)
                if (auto v = parse_quantity(*q); v && *v > 0) requests[name] += *v;
        }
        int found = 0;
        for (const char* name : {"cpu", "memory"}) {
            if (const json* q = lim ? member(*lim, name) : nullptr)
                if (auto v = parse_quantity(*q); v && *v > 0) {
                    limits[name] += *v;
                    ++found;
                }
        }
        if (found < 2) guaranteed = false;
    };
    for (const char* list : {"containers", "initContainers"})
        if (const json* cs = member(spec, list); cs && cs->is_array())
            for (const auto& c : *cs)
                if (c.is_object()) visit(c);
    if (requests.empty() && limits.empty()) return "BestEffort";
    if (guaranteed)
        for (const auto& [name, value] : requests)
            if (!limits.count(name) || limits[name] != value) guaranteed = false;
    return guaranteed && requests.size() == limits.size() ? "Guaranteed" : "Burstable";
}

void default_pod(json& pod) {
    json* spec = object_member(pod, "spec");
    if (!spec) return;
    for_each_object(*spec, "containers", default_requests_from_limits);
    for_each_object(*spec, "initContainers", default_requests_from_limits);
    set_default(*spec, "enableServiceLinks", true);
    default_pod_spec(*spec);
    // The Priority admission plugin: no priorityClassName, priority 0.
    if (absent(*spec, "priorityClassName")) set_default(*spec, "priority", 0);
    if (json* status = object_member(pod, "status")) {
        set_default(*status, "phase", "Pending");
        if (absent(*status, "qosClass")) (*status)["qosClass"] = qos_class(*spec);
    }
}

void default_deployment(json& d) {
    json* spec = object_member(d, "spec");
    if (!spec) return;
    set_default(*spec, "replicas", 1);
    if (json* strategy = object_member(*spec, "strategy")) {
        set_default(*strategy, "type", "RollingUpdate");
        if ((*strategy)["type"] == "RollingUpdate")
            if (json* rolling = object_member(*strategy, "rollingUpdate")) {
                set_default(*rolling, "maxUnavailable", "25%");
                set_default(*rolling, "maxSurge", "25%");
            }
    }
    set_default(*spec, "revisionHistoryLimit", 10);
    set_default(*spec, "progressDeadlineSeconds", 600);
    default_template(d);
}

void default_replica_set(json& rs) {
    if (json* spec = object_member(rs, "spec")) set_default(*spec, "replicas", 1);
    default_template(rs);
}

void default_service(json& svc) {
    json* spec = object_member(svc, "spec");
    if (!spec) return;
    set_default(*spec, "sessionAffinity", "None");
    if ((*spec)["sessionAffinity"] == "None") spec->erase("sessionAffinityConfig");
    if ((*spec)["sessionAffinity"] == "ClientIP")
        if (json* config = object_member(*spec, "sessionAffinityConfig"))
            if (json* client_ip = object_member(*config, "clientIP")) set_default(*client_ip, "timeoutSeconds", 10800);
    set_default(*spec, "type", "ClusterIP");
    for_each_object(*spec, "ports", [](json& port) {
        set_default(port, "protocol", "TCP");
        auto tp = port.find("targetPort");
        if ((tp == port.end() || tp->is_null() || *tp == json(0) || *tp == json("")) && port.contains("port"))
            port["targetPort"] = port["port"];
    });
    const json type = (*spec)["type"];
    bool external_ips =
        spec->contains("externalIPs") && (*spec)["externalIPs"].is_array() && !(*spec)["externalIPs"].empty();
    if (type == "NodePort" || type == "LoadBalancer" || (type == "ClusterIP" && external_ips))
        set_default(*spec, "externalTrafficPolicy", "Cluster");
    if (type == "NodePort" || type == "LoadBalancer" || type == "ClusterIP") {
        set_default(*spec, "internalTrafficPolicy", "Cluster");
        // What the service REST storage fills in on a single-stack IPv4 cluster; the clusterIP the
        // client chose is the first of clusterIPs (normalizeClusterIPs).
        set_default(*spec, "ipFamilies", json::array({"IPv4"}));
        set_default(*spec, "ipFamilyPolicy", "SingleStack");
        if (auto ip = spec->find("clusterIP"); ip != spec->end() && ip->is_string() && !ip->get<std::string>().empty())
            set_default(*spec, "clusterIPs", json::array({*ip}));
    }
    if (type == "LoadBalancer") set_default(*spec, "allocateLoadBalancerNodePorts", true);
}

void default_namespace(json& ns) {
    // The namespace strategy keeps the kubernetes finalizer, and SetDefaults_Namespace labels every
    // namespace with its own name.
    if (json* spec = object_member(ns, "spec")) set_default(*spec, "finalizers", json::array({"kubernetes"}));
    if (json* status = object_member(ns, "status")) set_default(*status, "phase", "Active");
    json* meta = object_member(ns, "metadata");
    if (meta && meta->contains("name") && (*meta)["name"].is_string())
        if (json* labels = object_member(*meta, "labels"))
            set_default(*labels, "kubernetes.io/metadata.name", (*meta)["name"]);
}

std::string base64(const std::string& in) {
    static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
        for (int s : {18, 12, 6, 0}) out.push_back(alphabet[(n >> s) & 63]);
    }
    if (size_t rest = in.size() - i) {
        uint32_t n = uint8_t(in[i]) << 16;
        if (rest == 2) n |= uint8_t(in[i + 1]) << 8;
        out.push_back(alphabet[(n >> 18) & 63]);
        out.push_back(alphabet[(n >> 12) & 63]);
        out.push_back(rest == 2 ? alphabet[(n >> 6) & 63] : '=');
        out.push_back('=');
    }
    return out;
}

void default_secret(json& secret) {
    set_default(secret, "type", "Opaque");
    // stringData is write-only: Kubernetes folds it into data (over data's keys) when it decodes.
    auto sd = secret.find("stringData");
    if (sd == secret.end() || !sd->is_object()) return;
    json* data = object_member(secret, "data");
    if (!data) return;
    for (const auto& [key, value] : sd->items())
        if (value.is_string()) (*data)[key] = base64(value.get<std::string>());
    secret.erase("stringData");
}

void default_endpoint_slice(json& slice) {
    for_each_object(slice, "ports", [](json& port) {
        set_default(port, "name", "");
        set_default(port, "protocol", "TCP");
    });
}

void default_endpoints(json& endpoints) {
    for_each_object(endpoints, "subsets", [](json& subset) {
        for_each_object(subset, "ports", [](json& port) { set_default(port, "protocol", "TCP"); });
    });
}

void default_node(json& node) {
    auto status = node.find("status");
    if (status == node.end() || !status->is_object()) return;
    if (auto capacity = status->find("capacity"); capacity != status->end() && capacity->is_object())
        set_default(*status, "allocatable", *capacity);
}

}  // namespace

void apply_defaults(const ResourceInfo& info, json& object) {
    if (!object.is_object()) return;
    const std::string& r = info.resource;
    if (r == "pods")
        default_pod(object);
    else if (r == "deployments")
        default_deployment(object);
    else if (r == "replicasets")
        default_replica_set(object);
    else if (r == "services")
        default_service(object);
    else if (r == "namespaces")
        default_namespace(object);
    else if (r == "secrets")
        default_secret(object);
    else if (r == "endpointslices")
        default_endpoint_slice(object);
    else if (r == "endpoints")
        default_endpoints(object);
    else if (r == "nodes")
        default_node(object);
}

}  // namespace skiff::apiserver
