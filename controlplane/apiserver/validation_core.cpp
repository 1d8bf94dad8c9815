// Validation of services, namespaces, config maps, secrets, nodes, leases, endpoints, endpoint slices
// and events, with the field paths and messages of Kubernetes' core, coordination and discovery
// validation.
#include <algorithm>
#include <set>

#include "strategy_internal.hpp"

namespace skiff::apiserver::strategy_detail {

namespace {

const std::vector<std::string> port_protocols = {"SCTP", "TCP", "UDP"};
constexpr size_t max_secret_size = 1024 * 1024;

const json& empty_object() {
    static const json empty = json::object();
    return empty;
}

const json& spec_of(const json& object, Errors& e) {
    const json* spec = object_at(object, "spec", Path("spec"), e);
    return spec ? *spec : empty_object();
}

void validate_protocol(const json& port, const Path& p, Errors& e) {
    const json* protocol = string_at(port, "protocol", p, e);
    if (!protocol && member(port, "protocol")) return;
    std::string v = protocol ? protocol->get<std::string>() : "";
    if (v.empty())
        e.required(p);
    else if (std::find(port_protocols.begin(), port_protocols.end(), v) == port_protocols.end())
        e.not_supported(p, v, port_protocols);
}

void validate_service_port(const json& port, bool require_name, std::set<std::string>& names, const Path& p,
                           Errors& e) {
    const json* name = string_at(port, "name", p.child("name"), e);
    std::string n = name ? name->get<std::string>() : "";
    if (require_name && n.empty()) {
        e.required(p.child("name"));
    } else if (!n.empty()) {
        for (const auto& msg : dns1123_label(n)) e.invalid(p.child("name"), n, msg);
        if (!names.insert(n).second) e.duplicate(p.child("name"), n);
    }
    const json* number = integer_at(port, "port", p.child("port"), e);
    if (number || !member(port, "port"))
        for (const auto& msg : port_number(number ? integer_value(*number) : 0))
            e.invalid(p.child("port"), number ? *number : json(0), msg);
    validate_protocol(port, p.child("protocol"), e);
    if (const json* target = member(port, "targetPort")) {
        if (target->is_string()) {
            for (const auto& msg : port_name(target->get<std::string>()))
                e.invalid(p.child("targetPort"), *target, msg);
        } else if (is_integer(*target)) {
            for (const auto& msg : port_number(integer_value(*target))) e.invalid(p.child("targetPort"), *target, msg);
        } else {
            e.type_invalid(p.child("targetPort"), *target, "integer or string");
        }
    }
    if (const json* node_port = integer_at(port, "nodePort", p.child("nodePort"), e);
        node_port && integer_value(*node_port) != 0) {
        int64_t v = integer_value(*node_port);
        // The node port allocator's answer for a port outside --service-node-port-range.
        if (v < 30000 || v > 32767)
            e.invalid(p.child("nodePort"), *node_port,
                      "provided port is not in the valid range. The range of valid ports is 30000-32767");
    }
    string_at(port, "appProtocol", p.child("appProtocol"), e);
}

std::vector<std::string> cluster_ips(const json& spec) {
    std::vector<std::string> ips;
    if (const json* list = member(spec, "clusterIPs"); list && list->is_array()) {
        for (const auto& ip : *list)
            if (ip.is_string()) ips.push_back(ip.get<std::string>());
    } else if (std::string ip = string_or(spec, "clusterIP"); !ip.empty()) {
        ips.push_back(ip);
    }
    return ips;
}

bool is_headless(const json& spec) {
    auto ips = cluster_ips(spec);
    return !ips.empty() && ips[0] == "None";
}

void validate_secret_like_keys(const json& object, const char* key, size_t& total, bool base64_values, Errors& e) {
    Path p(key);
    const json* data = string_map_at(object, key, p, e);
    if (!data) return;
    for (const auto& [k, v] : data->items()) {
        for (const auto& msg : config_map_key(k)) e.invalid(p.key(k), k, msg);
        if (!v.is_string()) continue;
        const std::string& s = v.get_ref<const std::string&>();
        if (!base64_values) {
            total += s.size();
            continue;
        }
        // []byte fields travel as base64; Kubernetes refuses the body when one does not decode.
        bool ok = s.size() % 4 == 0;
        size_t pad = 0;
        for (size_t i = 0; ok && i < s.size(); ++i) {
            char c = s[i];
            if (c == '=') {
                ++pad;
                ok = i >= s.size() - 2;
            } else {
                ok = pad == 0 && (std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/');
            }
        }
        if (!ok) e.invalid(p.key(k), "<secret contents redacted>", "illegal base64 data");
        total += s.size() / 4 * 3 - pad;
    }
}

void validate_immutable_data(const json& object, const json& old, Errors& e) {
    const json* was_immutable = member(old, "immutable");
    if (!was_immutable || *was_immutable != true) return;
    if (member(object, "immutable") == nullptr || *member(object, "immutable") != true)
        e.forbidden(Path("immutable"), "field is immutable when `immutable` is set");
    for (const char* key : {"data", "binaryData"}) {
        const json* now = member(object, key);
        const json* before = member(old, key);
        if ((now ? *now : json()) != (before ? *before : json()))
            e.forbidden(Path(key), "field is immutable when `immutable` is set");
    }
}

void validate_endpoint_port(const json& port, bool require_name, const Path& p, Errors& e) {
    const json* name = string_at(port, "name", p.child("name"), e);
    std::string n = name ? name->get<std::string>() : "";
    if (require_name && n.empty())
        e.required(p.child("name"));
    else if (!n.empty())
        for (const auto& msg : dns1123_label(n)) e.invalid(p.child("name"), n, msg);
    const json* number = integer_at(port, "port", p.child("port"), e);
    if (number || !member(port, "port"))
        for (const auto& msg : port_number(number ? integer_value(*number) : 0))
            e.invalid(p.child("port"), number ? *number : json(0), msg);
    validate_protocol(port, p.child("protocol"), e);
}

}  // namespace

void validate_service(const json& service, Errors& e) {
    Path sp("spec");
    const json& spec = spec_of(service, e);
    const json* type_value = string_at(spec, "type", sp.child("type"), e);
    std::string type = type_value ? type_value->get<std::string>() : "";
    const json* ports = array_at(spec, "ports", sp.child("ports"), e);
    bool headless = is_headless(spec);
    if ((!ports || ports->empty()) && !headless && type != "ExternalName" && !(member(spec, "ports") && !ports))
        e.required(sp.child("ports"));
    auto ips = cluster_ips(spec);
    if (type == "LoadBalancer" || type == "NodePort") {
        if (headless)
            e.invalid(sp.child("clusterIPs").index(0), ips[0], "may not be set to 'None' for " + type + " services");
        if (type == "LoadBalancer" && ports)
            for (size_t i = 0; i < ports->size(); ++i)
                if (integer_member((*ports)[i], "port") == 10250)
                    e.invalid(sp.child("ports").index(i), 10250,
                              "may not expose port 10250 externally since it is used by kubelet");
    } else if (type == "ExternalName") {
        if (!ips.empty()) e.forbidden(sp.child("clusterIPs"), "may not be set for ExternalName services");
        if (member(spec, "ipFamilies")) e.forbidden(sp.child("ipFamilies"), "may not be set for ExternalName services");
        if (member(spec, "ipFamilyPolicy"))
            e.forbidden(sp.child("ipFamilyPolicy"), "may not be set for ExternalName services");
        const json* external_name = string_at(spec, "externalName", sp.child("externalName"), e);
        std::string cname = external_name ? external_name->get<std::string>() : "";
        if (!cname.empty() && cname.back() == '.') cname.pop_back();
        if (cname.empty())
            e.required(sp.child("externalName"));
        else
            for (const auto& msg : dns1123_subdomain(cname)) e.invalid(sp.child("externalName"), cname, msg);
    }
    std::set<std::string> names;
    if (ports)
        for (size_t i = 0; i < ports->size(); ++i) {
            const json& port = (*ports)[i];
            if (!port.is_object()) {
                e.type_invalid(sp.child("ports").index(i), port, "object");
                continue;
            }
            validate_service_port(port, ports->size() > 1, names, sp.child("ports").index(i), e);
        }
    validate_labels(spec, "selector", sp.child("selector"), e);
    const json* affinity = string_at(spec, "sessionAffinity", sp.child("sessionAffinity"), e);
    std::string a = affinity ? affinity->get<std::string>() : "";
    if (a.empty())
        e.required(sp.child("sessionAffinity"));
    else if (a != "ClientIP" && a != "None")
        e.not_supported(sp.child("sessionAffinity"), a, {"ClientIP", "None"});
    if (type.empty())
        e.required(sp.child("type"));
    else if (type != "ClusterIP" && type != "ExternalName" && type != "LoadBalancer" && type != "NodePort")
        e.not_supported(sp.child("type"), type, {"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"});
    if (ports) {
        std::set<std::pair<std::string, int64_t>> node_ports, service_ports;
        for (size_t i = 0; i < ports->size(); ++i) {
            const json& port = (*ports)[i];
            std::string protocol = string_or(port, "protocol");
            int64_t node_port = integer_member(port, "nodePort").value_or(0);
            if (node_port != 0 && type == "ClusterIP")
                e.forbidden(sp.child("ports").index(i).child("nodePort"), "may not be used when `type` is 'ClusterIP'");
            if (node_port != 0 && !node_ports.insert({protocol, node_port}).second)
                e.duplicate(sp.child("ports").index(i).child("nodePort"), node_port);
            int64_t number = integer_member(port, "port").value_or(0);
            if (!service_ports.insert({protocol, number}).second)
                e.duplicate(sp.child("ports").index(i), json{{"port", number}, {"protocol", protocol}});
        }
    }
    const json* etp = string_at(spec, "externalTrafficPolicy", sp.child("externalTrafficPolicy"), e);
    bool external = type == "NodePort" || type == "LoadBalancer" ||
                    (type == "ClusterIP" && member(spec, "externalIPs") && !member(spec, "externalIPs")->empty());
    if (external) {
        std::string v = etp ? etp->get<std::string>() : "";
        if (v.empty())
            e.required(sp.child("externalTrafficPolicy"));
        else if (v != "Cluster" && v != "Local")
            e.not_supported(sp.child("externalTrafficPolicy"), v, {"Cluster", "Local"});
    } else if (etp && !etp->get<std::string>().empty()) {
        e.invalid(sp.child("externalTrafficPolicy"), *etp, "may only be set for externally-accessible services");
    }
    const json* itp = string_at(spec, "internalTrafficPolicy", sp.child("internalTrafficPolicy"), e);
    if (type != "ExternalName") {
        if (!itp && !member(spec, "internalTrafficPolicy"))
            e.required(sp.child("internalTrafficPolicy"));
        else if (itp && *itp != "Cluster" && *itp != "Local")
            e.not_supported(sp.child("internalTrafficPolicy"), *itp, {"Cluster", "Local"});
    }
    // clusterIPs: "None" (headless, first only), or IPs; clusterIP must be the first of them.
    if (const json* list = array_at(spec, "clusterIPs", sp.child("clusterIPs"), e))
        for (size_t i = 0; i < list->size(); ++i) {
            const json& ip = (*list)[i];
            if (!ip.is_string()) {
                e.type_invalid(sp.child("clusterIPs").index(i), ip, "string");
                continue;
            }
            std::string s = ip.get<std::string>();
            if (s == "None" && i == 0) continue;
            if (s == "None")
                e.invalid(sp.child("clusterIPs").index(i), s, "may not be set to 'None' for a secondary clusterIP");
            else
                for (const auto& msg : ip_address(s)) e.invalid(sp.child("clusterIPs").index(i), s, msg);
        }
    if (const json* ip = string_at(spec, "clusterIP", sp.child("clusterIP"), e);
        ip && !ip->get<std::string>().empty()) {
        const json* list = member(spec, "clusterIPs");
        if (list && list->is_array() && !list->empty() && (*list)[0] != *ip)
            e.invalid(sp.child("clusterIPs"), *list, "element [0] must match clusterIP");
    }
    if (const json* policy = string_at(spec, "ipFamilyPolicy", sp.child("ipFamilyPolicy"), e);
        policy && *policy != "SingleStack" && *policy != "PreferDualStack" && *policy != "RequireDualStack")
        e.not_supported(sp.child("ipFamilyPolicy"), *policy, {"PreferDualStack", "RequireDualStack", "SingleStack"});
    if (const json* families = array_at(spec, "ipFamilies", sp.child("ipFamilies"), e))
        for (size_t i = 0; i < families->size(); ++i)
            if ((*families)[i] != "IPv4" && (*families)[i] != "IPv6")
                e.not_supported(sp.child("ipFamilies").index(i), (*families)[i], {"IPv4", "IPv6"});
    if (const json* external_ips = array_at(spec, "externalIPs", sp.child("externalIPs"), e))
        for (size_t i = 0; i < external_ips->size(); ++i) {
            const json& ip = (*external_ips)[i];
            if (!ip.is_string())
                e.type_invalid(sp.child("externalIPs").index(i), ip, "string");
            else
                for (const auto& msg : ip_address(ip.get<std::string>()))
                    e.invalid(sp.child("externalIPs").index(i), ip, msg);
        }
}

void validate_service_update(const json& service, const json& old, Errors& e) {
    const json& spec = member(service, "spec") ? *member(service, "spec") : empty_object();
    const json& old_spec = member(old, "spec") ? *member(old, "spec") : empty_object();
    // The first clusterIP may not change once allocated, except to or from an ExternalName service.
    if (string_or(spec, "type") != "ExternalName" && string_or(old_spec, "type") != "ExternalName") {
        auto now = cluster_ips(spec), before = cluster_ips(old_spec);
        json shown = member(spec, "clusterIPs") ? *member(spec, "clusterIPs") : json(now);
        if (!before.empty() && !now.empty() && before[0] != now[0])
            e.invalid(Path("spec.clusterIPs[0]"), shown, "may not change once set");
        if (!before.empty() && now.empty())
            e.invalid(Path("spec.clusterIPs[0]"), shown, "primary clusterIP can not be unset");
    }
}

void validate_namespace(const json& ns, Errors& e) {
    const json& spec = spec_of(ns, e);
    Path p("spec.finalizers");
    if (const json* finalizers = array_at(spec, "finalizers", p, e))
        for (size_t i = 0; i < finalizers->size(); ++i) {
            const json& f = (*finalizers)[i];
            if (!f.is_string()) {
                e.type_invalid(p.index(i), f, "string");
                continue;
            }
            std::string s = f.get<std::string>();
            for (const auto& msg : qualified_name(s)) e.invalid(p, s, msg);
            if (s.find('/') == std::string::npos && s != "kubernetes" && s != "orphan" && s != "foregroundDeletion")
                e.invalid(p, s, "name is neither a standard finalizer name nor is it fully qualified");
        }
    if (const json* status = object_at(ns, "status", Path("status"), e))
        if (const json* phase = string_at(*status, "phase", Path("status.phase"), e);
            phase && *phase != "Active" && *phase != "Terminating")
            e.not_supported(Path("status.phase"), *phase, {"Active", "Terminating"});
}

void validate_config_map(const json& cm, Errors& e) {
    size_t total = 0;
    validate_secret_like_keys(cm, "data", total, false, e);
    Path bp("binaryData");
    if (const json* binary = string_map_at(cm, "binaryData", bp, e)) {
        const json* data = member(cm, "data");
        for (const auto& [k, v] : binary->items()) {
            for (const auto& msg : config_map_key(k)) e.invalid(bp.key(k), k, msg);
            if (data && data->is_object() && data->contains(k))
                e.invalid(bp.key(k), k, "duplicate of key present in data");
            if (v.is_string()) total += v.get_ref<const std::string&>().size() / 4 * 3;
        }
    }
    bool_at(cm, "immutable", Path("immutable"), e);
    if (total > max_secret_size) e.too_long(Path("[]"), max_secret_size);
}

void validate_config_map_update(const json& cm, const json& old, Errors& e) {
    validate_immutable_data(cm, old, e);
}

void validate_secret(const json& secret, Errors& e) {
    size_t total = 0;
    validate_secret_like_keys(secret, "data", total, true, e);
    if (total > max_secret_size) e.too_long(Path("data"), max_secret_size);
    bool_at(secret, "immutable", Path("immutable"), e);
    const json* type = string_at(secret, "type", Path("type"), e);
    std::string t = type ? type->get<std::string>() : "";
    const json* data = member(secret, "data");
    auto has = [&](const char* key) { return data && data->is_object() && data->contains(key); };
    Path dp("data");
    if (t == "kubernetes.io/service-account-token") {
        const json* meta = member(secret, "metadata");
        const json* annotations = meta ? member(*meta, "annotations") : nullptr;
        if (string_or(annotations ? *annotations : empty_object(), "kubernetes.io/service-account.name").empty())
            e.required(Path("metadata.annotations").key("kubernetes.io/service-account.name"));
    } else if (t == "kubernetes.io/dockercfg" || t == "kubernetes.io/dockerconfigjson") {
        const char* key = t == "kubernetes.io/dockercfg" ? ".dockercfg" : ".dockerconfigjson";
        if (!has(key)) e.required(dp.key(key));
    } else if (t == "kubernetes.io/basic-auth") {
        if (!has("username") && !has("password")) {
            e.required(dp.key("username"));
            e.required(dp.key("password"));
        }
    } else if (t == "kubernetes.io/ssh-auth") {
        if (!has("ssh-privatekey") || (*data)["ssh-privatekey"] == "") e.required(dp.key("ssh-privatekey"));
    } else if (t == "kubernetes.io/tls") {
        if (!has("tls.crt")) e.required(dp.key("tls.crt"));
        if (!has("tls.key")) e.required(dp.key("tls.key"));
    }
}

void validate_secret_update(const json& secret, const json& old, Errors& e) {
    std::string now = string_or(secret, "type"), before = string_or(old, "type");
    if (now != before) e.invalid(Path("type"), now, immutable_error);
    validate_immutable_data(secret, old, e);
}

void validate_node(const json& node, Errors& e) {
    Path sp("spec");
    const json& spec = spec_of(node, e);
    if (const json* cidrs = array_at(spec, "podCIDRs", sp.child("podCIDRs"), e)) {
        for (size_t i = 0; i < cidrs->size(); ++i) {
            const json& c = (*cidrs)[i];
            if (!c.is_string())
                e.type_invalid(sp.child("podCIDRs").index(i), c, "string");
            else
                for (const auto& msg : cidr(c.get<std::string>())) e.invalid(sp.child("podCIDRs").index(i), c, msg);
        }
        if (cidrs->size() > 2)
            e.invalid(sp.child("podCIDRs"), *cidrs, "may specify no more than one CIDR for each IP family");
    }
    if (const json* c = string_at(spec, "podCIDR", sp.child("podCIDR"), e); c && !c->get<std::string>().empty())
        for (const auto& msg : cidr(c->get<std::string>())) e.invalid(sp.child("podCIDR"), *c, msg);
    bool_at(spec, "unschedulable", sp.child("unschedulable"), e);
    string_at(spec, "providerID", sp.child("providerID"), e);
    if (const json* taints = array_at(spec, "taints", sp.child("taints"), e)) {
        std::set<std::pair<std::string, std::string>> seen;
        for (size_t i = 0; i < taints->size(); ++i) {
            Path ip = sp.child("taints").index(i);
            const json& t = (*taints)[i];
            if (!t.is_object()) {
                e.type_invalid(ip, t, "object");
                continue;
            }
            const json* key = string_at(t, "key", ip.child("key"), e);
            std::string k = key ? key->get<std::string>() : "";
            for (const auto& msg : qualified_name(k)) e.invalid(ip.child("key"), k, msg);
            if (const json* value = string_at(t, "value", ip.child("value"), e))
                for (const auto& msg : label_value(value->get<std::string>()))
                    e.invalid(ip.child("value"), *value, msg);
            const json* effect = string_at(t, "effect", ip.child("effect"), e);
            std::string ef = effect ? effect->get<std::string>() : "";
            if (ef.empty())
                e.required(ip.child("effect"));
            else if (ef != "NoSchedule" && ef != "PreferNoSchedule" && ef != "NoExecute")
                e.not_supported(ip.child("effect"), ef, {"NoExecute", "NoSchedule", "PreferNoSchedule"});
            if (!ef.empty() && !seen.insert({k, ef}).second) e.duplicate(ip, t);
        }
    }
    if (const json* status = object_at(node, "status", Path("status"), e)) {
        for (const char* list : {"capacity", "allocatable"})
            if (const json* resources = object_at(*status, list, Path("status").child(list), e))
                for (const auto& [name, q] : resources->items()) {
                    Path qp = Path("status").child(list).key(name);
                    auto v = parse_quantity(q);
                    if (!v)
                        e.invalid(qp, q, quantity_syntax_error);
                    else if (*v < 0)
                        e.invalid(qp, q.is_string() ? q : json(q.dump()), negative_error);
                }
        array_at(*status, "conditions", Path("status.conditions"), e);
        array_at(*status, "addresses", Path("status.addresses"), e);
    }
}

void validate_node_update(const json& node, const json& old, Errors& e) {
    const json& spec = member(node, "spec") ? *member(node, "spec") : empty_object();
    const json& old_spec = member(old, "spec") ? *member(old, "spec") : empty_object();
    const json* before = member(old_spec, "podCIDRs");
    if (before && before->is_array() && !before->empty() &&
        (member(spec, "podCIDRs") ? *member(spec, "podCIDRs") : json()) != *before)
        e.forbidden(Path("spec.podCIDRs"), "node updates may not change podCIDR except from \"\" to valid");
    std::string provider = string_or(old_spec, "providerID");
    if (!provider.empty() && string_or(spec, "providerID") != provider)
        e.forbidden(Path("spec.providerID"), "node updates may not change providerID except from \"\" to valid");
}

void validate_lease(const json& lease, Errors& e) {
    Path sp("spec");
    const json& spec = spec_of(lease, e);
    string_at(spec, "holderIdentity", sp.child("holderIdentity"), e);
    if (const json* d = integer_at(spec, "leaseDurationSeconds", sp.child("leaseDurationSeconds"), e);
        d && integer_value(*d) <= 0)
        e.invalid(sp.child("leaseDurationSeconds"), *d, "must be greater than 0");
    if (const json* t = integer_at(spec, "leaseTransitions", sp.child("leaseTransitions"), e);
        t && integer_value(*t) < 0)
        e.invalid(sp.child("leaseTransitions"), *t, negative_error);
    for (const char* time : {"acquireTime", "renewTime"})
        if (const json* v = string_at(spec, time, sp.child(time), e)) {
            // metav1.MicroTime: RFC 3339 with an optional fraction.
            const std::string& s = v->get_ref<const std::string&>();
            bool ok = s.size() >= 20 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' && s[16] == ':';
            if (!ok) e.invalid(sp.child(time), *v, "must be an RFC 3339 time (e.g. 2006-01-02T15:04:05.000000Z)");
        }
    const json* strategy = string_at(spec, "strategy", sp.child("strategy"), e);
    if (strategy && *strategy != "OldestEmulationVersion")
        e.not_supported(sp.child("strategy"), *strategy, {"OldestEmulationVersion"});
    if (const json* preferred = string_at(spec, "preferredHolder", sp.child("preferredHolder"), e);
        preferred && !preferred->get<std::string>().empty() && (!strategy || strategy->get<std::string>().empty()))
        e.forbidden(sp.child("preferredHolder"), "may only be specified if `strategy` is defined");
}

void validate_endpoint_slice(const json& slice, bool creating, Errors& e) {
    const json* type = string_at(slice, "addressType", Path("addressType"), e);
    std::string address_type = type ? type->get<std::string>() : "";
    if (const json* endpoints = array_at(slice, "endpoints", Path("endpoints"), e)) {
        if (endpoints->size() > 1000)
            e.list.push_back({"FieldValueTooMany", "endpoints",
                              "Too many: " + std::to_string(endpoints->size()) + ": must have at most 1000 items"});
        for (size_t i = 0; i < endpoints->size(); ++i) {
            Path ip = Path("endpoints").index(i);
            const json& ep = (*endpoints)[i];
            if (!ep.is_object()) {
                e.type_invalid(ip, ep, "object");
                continue;
            }
            Path ap = ip.child("addresses");
            const json* addresses = array_at(ep, "addresses", ap, e);
            if (!addresses || addresses->empty()) {
                if (!(member(ep, "addresses") && !addresses)) e.required(ap, "must contain at least 1 address");
            } else {
                if (addresses->size() > 100)
                    e.list.push_back(
                        {"FieldValueTooMany", ap.str(),
                         "Too many: " + std::to_string(addresses->size()) + ": must have at most 100 items"});
                for (size_t j = 0; j < addresses->size(); ++j) {
                    const json& a = (*addresses)[j];
                    if (!a.is_string()) {
                        e.type_invalid(ap.index(j), a, "string");
                        continue;
                    }
                    std::string s = a.get<std::string>();
                    std::vector<std::string> msgs;
                    if (address_type == "IPv4")
                        msgs = ipv4_address(s);
                    else if (address_type == "IPv6")
                        msgs = ipv6_address(s);
                    else if (address_type == "FQDN")
                        msgs = dns1123_subdomain(s);
                    for (const auto& msg : msgs) e.invalid(ap.index(j), s, msg);
                }
            }
            if (const json* conditions = object_at(ep, "conditions", ip.child("conditions"), e))
                for (const char* c : {"ready", "serving", "terminating"})
                    bool_at(*conditions, c, ip.child("conditions").child(c), e);
            if (const json* host = string_at(ep, "hostname", ip.child("hostname"), e);
                host && !host->get<std::string>().empty())
                for (const auto& msg : dns1123_label(host->get<std::string>()))
                    e.invalid(ip.child("hostname"), *host, msg);
            if (const json* node = string_at(ep, "nodeName", ip.child("nodeName"), e);
                node && !node->get<std::string>().empty())
                for (const auto& msg : dns1123_subdomain(node->get<std::string>()))
                    e.invalid(ip.child("nodeName"), *node, msg);
            object_at(ep, "targetRef", ip.child("targetRef"), e);
        }
    }
    if (const json* ports = array_at(slice, "ports", Path("ports"), e)) {
        std::set<std::string> names;
        for (size_t i = 0; i < ports->size(); ++i) {
            Path ip = Path("ports").index(i);
            const json& port = (*ports)[i];
            if (!port.is_object()) {
                e.type_invalid(ip, port, "object");
                continue;
            }
            const json* name = string_at(port, "name", ip.child("name"), e);
            std::string n = name ? name->get<std::string>() : "";
            if (!n.empty())
                for (const auto& msg : dns1123_label(n)) e.invalid(ip.child("name"), n, msg);
            if (!names.insert(n).second) e.duplicate(ip.child("name"), n);
            validate_protocol(port, ip.child("protocol"), e);
            if (const json* number = integer_at(port, "port", ip.child("port"), e))
                for (const auto& msg : port_number(integer_value(*number))) e.invalid(ip.child("port"), *number, msg);
        }
    }
    if (creating) {
        if (address_type.empty() && !(member(slice, "addressType") && !type))
            e.required(Path("addressType"));
        else if (type && address_type != "IPv4" && address_type != "IPv6" && address_type != "FQDN")
            e.not_supported(Path("addressType"), address_type, {"FQDN", "IPv4", "IPv6"});
    }
}

void validate_endpoint_slice_update(const json& slice, const json& old, Errors& e) {
    std::string now = string_or(slice, "addressType"), before = string_or(old, "addressType");
    if (now != before) e.invalid(Path("addressType"), now, immutable_error);
}

void validate_endpoints(const json& endpoints, Errors& e) {
    Path p("subsets");
    const json* subsets = array_at(endpoints, "subsets", p, e);
    if (!subsets) return;
    for (size_t i = 0; i < subsets->size(); ++i) {
        Path ip = p.index(i);
        const json& ss = (*subsets)[i];
        if (!ss.is_object()) {
            e.type_invalid(ip, ss, "object");
            continue;
        }
        const json* ready = array_at(ss, "addresses", ip.child("addresses"), e);
        const json* not_ready = array_at(ss, "notReadyAddresses", ip.child("notReadyAddresses"), e);
        if ((!ready || ready->empty()) && (!not_ready || not_ready->empty()))
            e.required(ip, "must specify `addresses` or `notReadyAddresses`");
        for (auto [list, name] : {std::pair{ready, "addresses"}, std::pair{not_ready, "notReadyAddresses"}}) {
            if (!list) continue;
            for (size_t j = 0; j < list->size(); ++j) {
                Path ap = ip.child(name).index(j);
                const json& a = (*list)[j];
                if (!a.is_object()) {
                    e.type_invalid(ap, a, "object");
                    continue;
                }
                const json* ip_value = string_at(a, "ip", ap.child("ip"), e);
                std::string s = ip_value ? ip_value->get<std::string>() : "";
                for (const auto& msg : ip_address(s)) e.invalid(ap.child("ip"), s, msg);
                if (const json* host = string_at(a, "hostname", ap.child("hostname"), e);
                    host && !host->get<std::string>().empty())
                    for (const auto& msg : dns1123_label(host->get<std::string>()))
                        e.invalid(ap.child("hostname"), *host, msg);
                if (const json* node = string_at(a, "nodeName", ap.child("nodeName"), e);
                    node && !node->get<std::string>().empty())
                    for (const auto& msg : dns1123_subdomain(node->get<std::string>()))
                        e.invalid(ap.child("nodeName"), *node, msg);
            }
        }
        if (const json* ports = array_at(ss, "ports", ip.child("ports"), e))
            for (size_t j = 0; j < ports->size(); ++j) {
                const json& port = (*ports)[j];
                if (!port.is_object())
                    e.type_invalid(ip.child("ports").index(j), port, "object");
                else
                    validate_endpoint_port(port, ports->size() > 1, ip.child("ports").index(j), e);
            }
    }
}

void validate_event(const json& event, Errors& e) {
    Path p("involvedObject");
    const json* involved = object_at(event, "involvedObject", p, e);
    static const std::set<std::string> cluster_scoped = {
        "Node",        "Namespace",          "PersistentVolume",        "StorageClass",
        "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"};
    std::string ns = string_or(member(event, "metadata") ? *member(event, "metadata") : empty_object(), "namespace");
    std::string involved_ns;
    if (involved) {
        for (const char* key : {"kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"})
            string_at(*involved, key, p.child(key), e);
        std::string kind = string_or(*involved, "kind");
        involved_ns = string_or(*involved, "namespace");
        // Only core/v1 kinds are known to be namespaced or not.
        if (string_or(*involved, "apiVersion") == "v1" && !kind.empty()) {
            bool namespaced = !cluster_scoped.count(kind);
            if (namespaced && involved_ns.empty()) e.required(p.child("namespace"), "required for kind " + kind);
            if (!namespaced && !involved_ns.empty())
                e.invalid(p.child("namespace"), involved_ns, "not allowed for kind " + kind);
        }
    }
    // An event without eventTime lives in its object's namespace ("default" for cluster-scoped objects).
    if (!member(event, "eventTime") && (involved_ns.empty() ? (!ns.empty() && ns != "default") : involved_ns != ns))
        e.invalid(p.child("namespace"), involved_ns, "does not match event.namespace");
    for (const char* key : {"reason", "message", "type", "firstTimestamp", "lastTimestamp", "reportingComponent"})
        string_at(event, key, Path(key), e);
    if (const json* count = integer_at(event, "count", Path("count"), e); count && integer_value(*count) < 0)
        e.invalid(Path("count"), *count, negative_error);
}

}  // namespace skiff::apiserver::strategy_detail
