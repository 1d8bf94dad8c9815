// Validation of pods and of the workloads that carry pod templates (deployments, replica sets), with
// the field paths and messages of Kubernetes' core and apps validation.
#include <algorithm>
#include <map>
#include <set>

#include "strategy_internal.hpp"

namespace skiff::apiserver::strategy_detail {

namespace {

const std::vector<std::string> port_protocols = {"SCTP", "TCP", "UDP"};

// Checks a string enum member: Required when empty or absent, NotSupported when not one of `supported`.
void validate_enum(const json& object, std::string_view key, const Path& p, const std::vector<std::string>& supported,
                   Errors& e) {
    const json* v = string_at(object, key, p, e);
    if (!v && member(object, key)) return;  // wrong type, reported
    std::string s = v ? v->get<std::string>() : "";
    if (s.empty())
        e.required(p);
    else if (std::find(supported.begin(), supported.end(), s) == supported.end())
        e.not_supported(p, s, supported);
}

void validate_string_list(const json& object, std::string_view key, const Path& p, Errors& e) {
    if (const json* list = array_at(object, key, p, e))
        for (size_t i = 0; i < list->size(); ++i)
            if (!(*list)[i].is_string()) e.type_invalid(p.index(i), (*list)[i], "string");
}

std::set<std::string> validate_volumes(const json& spec, const Path& p, Errors& e) {
    std::set<std::string> names;
    const json* volumes = array_at(spec, "volumes", p, e);
    if (!volumes) return names;
    for (size_t i = 0; i < volumes->size(); ++i) {
        Path ip = p.index(i);
        const json& v = (*volumes)[i];
        if (!v.is_object()) {
            e.type_invalid(ip, v, "object");
            continue;
        }
        const json* name = string_at(v, "name", ip.child("name"), e);
        std::string n = name ? name->get<std::string>() : "";
        if (n.empty()) {
            e.required(ip.child("name"));
        } else {
            for (const auto& msg : dns1123_label(n)) e.invalid(ip.child("name"), n, msg);
        }
        if (!n.empty() && !names.insert(n).second) e.duplicate(ip.child("name"), n);
        std::vector<std::string> sources;
        for (const auto& [key, value] : v.items())
            if (key != "name" && !value.is_null()) sources.push_back(key);
        if (sources.empty()) e.required(ip, "must specify a volume type");
        for (size_t s = 1; s < sources.size(); ++s)
            e.forbidden(ip.child(sources[s]), "may not specify more than 1 volume type");
    }
    return names;
}

bool is_standard_container_resource(const std::string& name) {
    return name == "cpu" || name == "memory" || name == "ephemeral-storage" || name.rfind("hugepages-", 0) == 0;
}

// Requests may exceed nothing; native resources other than huge pages may be overcommitted (request below
// limit), the rest must request exactly their limit.
bool overcommit_allowed(const std::string& name) {
    bool native = name.find('/') == std::string::npos || name.find("kubernetes.io/") != std::string::npos;
    return native && name.rfind("hugepages-", 0) != 0;
}

std::string quantity_text(const json& q) {
    return q.is_string() ? q.get<std::string>() : q.dump();
}

void validate_resources(const json& container, const Path& p, Errors& e) {
    const json* resources = object_at(container, "resources", p, e);
    if (!resources) return;
    std::map<std::string, long double> limit_values;
    std::map<std::string, std::string> limit_texts;
    auto check = [&](const char* which, bool requests) {
        Path lp = p.child(which);
        const json* list = object_at(*resources, which, lp, e);
        if (!list) return;
        for (const auto& [name, q] : list->items()) {
            Path qp = lp.key(name);
            for (const auto& msg : qualified_name(name)) e.invalid(qp, name, msg);
            if (name.find('/') == std::string::npos && !is_standard_container_resource(name))
                e.invalid(qp, name, "must be a standard resource for containers");
            auto value = parse_quantity(q);
            if (!value) {
                e.invalid(qp, q, quantity_syntax_error);
                continue;
            }
            if (*value < 0) e.invalid(qp, quantity_text(q), negative_error);
            if (!requests) {
                limit_values[name] = *value;
                limit_texts[name] = quantity_text(q);
            } else if (limit_values.count(name)) {
                long double limit = limit_values[name];
                if (*value != limit && !overcommit_allowed(name))
                    e.invalid(lp, quantity_text(q), "must be equal to " + name + " limit of " + limit_texts[name]);
                else if (*value > limit)
                    e.invalid(lp, quantity_text(q),
                              "must be less than or equal to " + name + " limit of " + limit_texts[name]);
            }
        }
    };
    check("limits", false);
    check("requests", true);
}

void validate_container_ports(const json& c, const Path& p, Errors& e) {
    const json* ports = array_at(c, "ports", p, e);
    if (!ports) return;
    std::set<std::string> names;
    for (size_t i = 0; i < ports->size(); ++i) {
        Path ip = p.index(i);
        const json& port = (*ports)[i];
        if (!port.is_object()) {
            e.type_invalid(ip, port, "object");
            continue;
        }
        if (const json* name = string_at(port, "name", ip.child("name"), e);
            name && !name->get<std::string>().empty()) {
            auto msgs = port_name(name->get<std::string>());
            for (const auto& msg : msgs) e.invalid(ip.child("name"), *name, msg);
            if (msgs.empty() && !names.insert(name->get<std::string>()).second) e.duplicate(ip.child("name"), *name);
        }
        const json* container_port = integer_at(port, "containerPort", ip.child("containerPort"), e);
        if (!container_port && !member(port, "containerPort")) {
            e.required(ip.child("containerPort"));
        } else if (container_port) {
            if (integer_value(*container_port) == 0)
                e.required(ip.child("containerPort"));
            else
                for (const auto& msg : port_number(integer_value(*container_port)))
                    e.invalid(ip.child("containerPort"), *container_port, msg);
        }
        if (const json* host_port = integer_at(port, "hostPort", ip.child("hostPort"), e);
            host_port && integer_value(*host_port) != 0)
            for (const auto& msg : port_number(integer_value(*host_port)))
                e.invalid(ip.child("hostPort"), *host_port, msg);
        string_at(port, "hostIP", ip.child("hostIP"), e);
        validate_enum(port, "protocol", ip.child("protocol"), port_protocols, e);
    }
}

void validate_env(const json& c, const Path& p, Errors& e) {
    const json* env = array_at(c, "env", p, e);
    if (!env) return;
    for (size_t i = 0; i < env->size(); ++i) {
        Path ip = p.index(i);
        const json& var = (*env)[i];
        if (!var.is_object()) {
            e.type_invalid(ip, var, "object");
            continue;
        }
        const json* name = string_at(var, "name", ip.child("name"), e);
        std::string n = name ? name->get<std::string>() : "";
        if (n.empty()) e.required(ip.child("name"));
        // RelaxedEnvironmentVariableValidation (on by default since 1.32): printable ASCII but '='.
        if (n.empty()) {
            e.invalid(ip.child("name"), n, "environment variable name must be non-empty");
        } else if (std::any_of(n.begin(), n.end(), [](char ch) { return ch < 0x20 || ch > 0x7e || ch == '='; })) {
            e.invalid(
                ip.child("name"), n,
                "a valid environment variable name must consist only of printable ASCII characters other than '='");
        }
        string_at(var, "value", ip.child("value"), e);
        object_at(var, "valueFrom", ip.child("valueFrom"), e);
    }
}

void validate_volume_mounts(const json& c, const Path& p, const std::set<std::string>& volumes, Errors& e) {
    const json* mounts = array_at(c, "volumeMounts", p, e);
    if (!mounts) return;
    std::set<std::string> mount_points;
    for (size_t i = 0; i < mounts->size(); ++i) {
        Path ip = p.index(i);
        const json& m = (*mounts)[i];
        if (!m.is_object()) {
            e.type_invalid(ip, m, "object");
            continue;
        }
        const json* name = string_at(m, "name", ip.child("name"), e);
        std::string n = name ? name->get<std::string>() : "";
        if (n.empty()) e.required(ip.child("name"));
        if (!volumes.count(n)) e.not_found(ip.child("name"), n);
        const json* path = string_at(m, "mountPath", ip.child("mountPath"), e);
        std::string mp = path ? path->get<std::string>() : "";
        if (mp.empty()) e.required(ip.child("mountPath"));
        if (!mount_points.insert(mp).second) e.invalid(ip.child("mountPath"), mp, "must be unique");
        bool_at(m, "readOnly", ip.child("readOnly"), e);
        if (const json* sub = string_at(m, "subPath", ip.child("subPath"), e)) {
            std::string s = sub->get<std::string>();
            if (!s.empty() && s.front() == '/') e.invalid(p.child("subPath"), s, "must be a relative path");
            if (s == ".." || s.rfind("../", 0) == 0 || s.find("/../") != std::string::npos ||
                (s.size() >= 3 && s.compare(s.size() - 3, 3, "/..") == 0))
                e.invalid(p.child("subPath"), s, "must not contain '..'");
        }
    }
}

void validate_container(const json& c, const Path& p, const std::set<std::string>& volumes, Errors& e) {
    const json* name = string_at(c, "name", p.child("name"), e);
    std::string n = name ? name->get<std::string>() : "";
    if (n.empty()) {
        e.required(p.child("name"));
    } else {
        for (const auto& msg : dns1123_label(n)) e.invalid(p.child("name"), n, msg);
    }
    const json* image = string_at(c, "image", p.child("image"), e);
    if (!image && !member(c, "image"))
        e.required(p.child("image"));
    else if (image && image->get<std::string>().empty())
        e.required(p.child("image"));
    validate_enum(c, "terminationMessagePolicy", p.child("terminationMessagePolicy"), {"File", "FallbackToLogsOnError"},
                  e);
    string_at(c, "terminationMessagePath", p.child("terminationMessagePath"), e);
    validate_string_list(c, "command", p.child("command"), e);
    validate_string_list(c, "args", p.child("args"), e);
    string_at(c, "workingDir", p.child("workingDir"), e);
    for (const char* flag : {"stdin", "stdinOnce", "tty"}) bool_at(c, flag, p.child(flag), e);
    validate_container_ports(c, p.child("ports"), e);
    validate_env(c, p.child("env"), e);
    array_at(c, "envFrom", p.child("envFrom"), e);
    validate_volume_mounts(c, p.child("volumeMounts"), volumes, e);
    validate_enum(c, "imagePullPolicy", p.child("imagePullPolicy"), {"Always", "IfNotPresent", "Never"}, e);
    validate_resources(c, p.child("resources"), e);
    for (const char* probe : {"livenessProbe", "readinessProbe", "startupProbe", "lifecycle", "securityContext"})
        object_at(c, probe, p.child(probe), e);
}

void validate_containers(const json& spec, const char* key, const Path& p, const std::set<std::string>& volumes,
                         std::set<std::string>& names, bool required, Errors& e) {
    const json* list = array_at(spec, key, p, e);
    if (!list || list->empty()) {
        if (required && !(member(spec, key) && !list)) e.required(p);
        return;
    }
    for (size_t i = 0; i < list->size(); ++i) {
        Path ip = p.index(i);
        const json& c = (*list)[i];
        if (!c.is_object()) {
            e.type_invalid(ip, c, "object");
            continue;
        }
        validate_container(c, ip, volumes, e);
        std::string n = string_or(c, "name");
        if (!n.empty() && !names.insert(n).second) e.duplicate(ip.child("name"), n);
    }
}

void validate_tolerations(const json& spec, const Path& p, Errors& e) {
    const json* list = array_at(spec, "tolerations", p, e);
    if (!list) return;
    for (size_t i = 0; i < list->size(); ++i) {
        Path ip = p.index(i);
        const json& t = (*list)[i];
        if (!t.is_object()) {
            e.type_invalid(ip, t, "object");
            continue;
        }
        const json* key = string_at(t, "key", ip.child("key"), e);
        if (key && !key->get<std::string>().empty())
            for (const auto& msg : qualified_name(key->get<std::string>())) e.invalid(ip.child("key"), *key, msg);
        const json* op = string_at(t, "operator", ip.child("operator"), e);
        std::string o = op ? op->get<std::string>() : "";
        if (o == "Exists") {
            if (!string_or(t, "value").empty())
                e.invalid(ip.child("operator"), string_or(t, "value"),
                          "value must be empty when `operator` is 'Exists'");
        } else if (o != "" && o != "Equal") {
            e.not_supported(ip.child("operator"), o, {"Equal", "Exists"});
        }
        if (key && key->get<std::string>().empty() && o != "Exists")
            e.invalid(ip.child("operator"), o,
                      "operator must be Exists when `key` is empty, which means \"match all values and all keys\"");
        string_at(t, "value", ip.child("value"), e);
        integer_at(t, "tolerationSeconds", ip.child("tolerationSeconds"), e);
        const json* effect = string_at(t, "effect", ip.child("effect"), e);
        if (effect && !effect->get<std::string>().empty() && *effect != "NoSchedule" && *effect != "PreferNoSchedule" &&
            *effect != "NoExecute")
            e.not_supported(ip.child("effect"), *effect, {"NoExecute", "NoSchedule", "PreferNoSchedule"});
    }
}

// ValidatePodTemplateSpecForReplicaSet: the template's labels must match the selector, and a workload's
// pods always restart.
void validate_template(const json& spec, const json* selector, const Path& p, Errors& e) {
    const json* tmpl = object_at(spec, "template", p, e);
    if (!tmpl) {
        if (!member(spec, "template")) e.required(p);
        return;
    }
    static const json empty = json::object();
    const json* meta = object_at(*tmpl, "metadata", p.child("metadata"), e);
    if (!meta) meta = &empty;
    const json* labels = member(*meta, "labels");
    // A missing selector selects nothing, so it matches no template either (Kubernetes reports both).
    bool matches =
        selector ? (selector_is_empty(*selector) || selector_matches(*selector, labels ? *labels : empty)) : false;
    if (!matches)
        e.invalid(p.child("metadata").child("labels"), labels ? *labels : json(),
                  "`selector` does not match template `labels`");
    validate_labels(*meta, "labels", p.child("metadata").child("labels"), e);
    string_map_at(*meta, "annotations", p.child("metadata").child("annotations"), e);
    const json* pod_spec = object_at(*tmpl, "spec", p.child("spec"), e);
    if (!pod_spec) {
        if (!member(*tmpl, "spec")) e.required(p.child("spec").child("containers"));
        return;
    }
    validate_pod_spec(*pod_spec, p.child("spec"), e);
    if (const json* rp = member(*pod_spec, "restartPolicy"); rp && rp->is_string() && *rp != "Always")
        e.not_supported(p.child("spec").child("restartPolicy"), *rp, {"Always"});
    if (member(*pod_spec, "activeDeadlineSeconds"))
        e.forbidden(p.child("spec").child("activeDeadlineSeconds"),
                    "activeDeadlineSeconds in ReplicaSet is not Supported");
}

const json* validate_workload_selector(const json& spec, const Path& p, Errors& e) {
    const json* selector = object_at(spec, "selector", p, e);
    if (!selector) {
        if (!member(spec, "selector")) e.required(p);
        return nullptr;
    }
    validate_label_selector(*selector, p, e);
    if (selector_is_empty(*selector)) e.invalid(p, *selector, "empty selector is invalid for deployment");
    return selector;
}

// intstr.IntOrString for maxSurge / maxUnavailable: a non-negative integer or "N%".
void validate_int_or_percent(const json& value, const Path& p, Errors& e) {
    if (value.is_string()) {
        const std::string s = value.get<std::string>();
        bool ok = s.size() >= 2 && s.back() == '%' &&
                  std::all_of(s.begin(), s.end() - 1, [](char c) { return c >= '0' && c <= '9'; });
        if (!ok)
            e.invalid(
                p, value,
                "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', "
                "regex used for validation is '[0-9]+%')");
    } else if (is_integer(value)) {
        if (integer_value(value) < 0) e.invalid(p, value, negative_error);
    } else {
        e.invalid(p, value, "must be an integer or percentage (e.g '5%')");
    }
}

int64_t int_or_percent_value(const json* value) {
    if (!value) return 0;
    if (is_integer(*value)) return integer_value(*value);
    if (!value->is_string()) return 0;
    std::string s = value->get<std::string>();
    if (!s.empty() && s.back() == '%') s.pop_back();
    if (s.empty() || s.size() > 9 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return 0;
    return std::stoll(s);
}

void validate_strategy(const json& spec, const Path& p, Errors& e) {
    const json* strategy = object_at(spec, "strategy", p, e);
    if (!strategy) return;
    const json* type = string_at(*strategy, "type", p.child("type"), e);
    std::string t = type ? type->get<std::string>() : "";
    const json* rolling = member(*strategy, "rollingUpdate");
    if (t == "Recreate") {
        if (rolling) e.forbidden(p.child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'");
    } else if (t == "RollingUpdate") {
        Path rp = p.child("rollingUpdate");
        const json* ru = object_at(*strategy, "rollingUpdate", rp, e);
        if (!ru) {
            if (!rolling) e.required(rp, "this should be defaulted and never be nil");
            return;
        }
        const json* max_unavailable = member(*ru, "maxUnavailable");
        const json* max_surge = member(*ru, "maxSurge");
        if (max_unavailable) validate_int_or_percent(*max_unavailable, rp.child("maxUnavailable"), e);
        if (max_surge) validate_int_or_percent(*max_surge, rp.child("maxSurge"), e);
        if (int_or_percent_value(max_unavailable) == 0 && int_or_percent_value(max_surge) == 0)
            e.invalid(rp.child("maxUnavailable"), max_unavailable ? *max_unavailable : json(),
                      "may not be 0 when `maxSurge` is 0");
        if (max_unavailable && max_unavailable->is_string() && int_or_percent_value(max_unavailable) > 100)
            e.invalid(rp.child("maxUnavailable"), *max_unavailable, "must not be greater than 100%");
    } else {
        e.not_supported(p, *strategy, {"Recreate", "RollingUpdate"});
    }
}

// "- containers[0].image: \"a\"" / "+ ..." lines for the leaves that differ (Kubernetes prints a
// go-cmp diff of the specs here; this is skiff's shorter rendering of the same information).
void spec_diff(const json& before, const json& after, const std::string& at, std::vector<std::string>& out) {
    if (out.size() >= 40 || before == after) return;
    auto name = [&](const std::string& k, bool index) {
        return index ? at + "[" + k + "]" : (at.empty() ? k : at + "." + k);
    };
    if (before.is_object() && after.is_object()) {
        std::set<std::string> keys;
        for (const auto& [k, v] : before.items()) keys.insert(k);
        for (const auto& [k, v] : after.items()) keys.insert(k);
        for (const auto& k : keys)
            spec_diff(before.contains(k) ? before[k] : json(), after.contains(k) ? after[k] : json(), name(k, false),
                      out);
        return;
    }
    if (before.is_array() && after.is_array() && before.size() == after.size()) {
        for (size_t i = 0; i < before.size(); ++i) spec_diff(before[i], after[i], name(std::to_string(i), true), out);
        return;
    }
    if (!before.is_null()) out.push_back("- \t" + at + ": " + bad_value(before));
    if (!after.is_null()) out.push_back("+ \t" + at + ": " + bad_value(after));
}

bool same_toleration_but_seconds(json a, json b) {
    if (a.is_object()) a.erase("tolerationSeconds");
    if (b.is_object()) b.erase("tolerationSeconds");
    return a == b;
}

}  // namespace

void validate_pod_spec(const json& spec, const Path& p, Errors& e) {
    std::set<std::string> volumes = validate_volumes(spec, p.child("volumes"), e);
    std::set<std::string> names;
    validate_containers(spec, "containers", p.child("containers"), volumes, names, true, e);
    validate_containers(spec, "initContainers", p.child("initContainers"), volumes, names, false, e);
    validate_enum(spec, "restartPolicy", p.child("restartPolicy"), {"Always", "OnFailure", "Never"}, e);
    validate_enum(spec, "dnsPolicy", p.child("dnsPolicy"),
                  {"ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"}, e);
    if (string_or(spec, "dnsPolicy") == "None" && !member(spec, "dnsConfig"))
        e.required(p.child("dnsConfig"), "must provide `dnsConfig` when `dnsPolicy` is None");
    validate_labels(spec, "nodeSelector", p.child("nodeSelector"), e);
    for (const char* flag : {"hostNetwork", "hostPID", "hostIPC", "enableServiceLinks", "automountServiceAccountToken"})
        bool_at(spec, flag, p.child(flag), e);
    object_at(spec, "securityContext", p.child("securityContext"), e);
    object_at(spec, "affinity", p.child("affinity"), e);
    if (const json* sa = string_at(spec, "serviceAccountName", p.child("serviceAccountName"), e);
        sa && !sa->get<std::string>().empty())
        for (const auto& msg : dns1123_subdomain(sa->get<std::string>()))
            e.invalid(p.child("serviceAccountName"), *sa, msg);
    if (const json* node = string_at(spec, "nodeName", p.child("nodeName"), e);
        node && !node->get<std::string>().empty())
        for (const auto& msg : dns1123_subdomain(node->get<std::string>())) e.invalid(p.child("nodeName"), *node, msg);
    if (const json* ads = integer_at(spec, "activeDeadlineSeconds", p.child("activeDeadlineSeconds"), e)) {
        int64_t v = integer_value(*ads);
        if (v < 1 || v > 2147483647)
            e.invalid(p.child("activeDeadlineSeconds"), *ads, "must be between 1 and 2147483647, inclusive");
    }
    for (const char* dns_label : {"hostname", "subdomain"})
        if (const json* v = string_at(spec, dns_label, p.child(dns_label), e); v && !v->get<std::string>().empty())
            for (const auto& msg : dns1123_label(v->get<std::string>())) e.invalid(p.child(dns_label), *v, msg);
    validate_tolerations(spec, p.child("tolerations"), e);
    if (const json* pc = string_at(spec, "priorityClassName", p.child("priorityClassName"), e);
        pc && !pc->get<std::string>().empty())
        for (const auto& msg : dns1123_subdomain(pc->get<std::string>()))
            e.invalid(p.child("priorityClassName"), *pc, msg);
    integer_at(spec, "terminationGracePeriodSeconds", p.child("terminationGracePeriodSeconds"), e);
    integer_at(spec, "priority", p.child("priority"), e);
    string_at(spec, "schedulerName", p.child("schedulerName"), e);
}

void validate_pod(const json& pod, Errors& e, bool check_spec) {
    static const json empty = json::object();
    if (check_spec) {
        const json* spec = object_at(pod, "spec", Path("spec"), e);
        validate_pod_spec(spec ? *spec : empty, Path("spec"), e);
    }
    if (const json* status = object_at(pod, "status", Path("status"), e))
        string_at(*status, "phase", Path("status.phase"), e);
}

void validate_pod_update(const json& pod, const json& old, Errors& e) {
    Path sp("spec");
    static const json empty = json::object();
    const json* new_spec = member(pod, "spec");
    const json* old_spec = member(old, "spec");
    if (!new_spec || !new_spec->is_object()) new_spec = &empty;
    if (!old_spec || !old_spec->is_object()) old_spec = &empty;
    // Containers may not come or go; their images may change.
    for (const char* list : {"containers", "initContainers"}) {
        const json* now = member(*new_spec, list);
        const json* before = member(*old_spec, list);
        size_t n = now && now->is_array() ? now->size() : 0, m = before && before->is_array() ? before->size() : 0;
        if (n != m) {
            e.forbidden(sp.child(list), "pod updates may not add or remove containers");
            return;
        }
        for (size_t i = 0; i < n; ++i) {
            std::string image = string_or((*now)[i], "image");
            size_t first = image.find_first_not_of(" \t\n\r\f\v");
            if (!image.empty() && (first != 0 || image.find_last_not_of(" \t\n\r\f\v") != image.size() - 1))
                e.invalid(sp.child(list).index(i).child("image"), image,
                          "must not have leading or trailing whitespace");
        }
    }
    // activeDeadlineSeconds: may be set, or lowered, never raised or removed.
    auto new_ads = integer_member(*new_spec, "activeDeadlineSeconds");
    auto old_ads = integer_member(*old_spec, "activeDeadlineSeconds");
    if (new_ads) {
        if (*new_ads < 0 || *new_ads > 2147483647) {
            e.invalid(sp.child("activeDeadlineSeconds"), *new_ads, "must be between 0 and 2147483647, inclusive");
            return;
        }
        if (old_ads && *old_ads < *new_ads) {
            e.invalid(sp.child("activeDeadlineSeconds"), *new_ads, "must be less than or equal to previous value");
            return;
        }
    } else if (old_ads) {
        e.invalid(sp.child("activeDeadlineSeconds"), json(), "must not update from a positive integer to nil value");
    }
    // Tolerations may only be added (an existing one may change its tolerationSeconds).
    const json* new_tols = member(*new_spec, "tolerations");
    if (const json* old_tols = member(*old_spec, "tolerations"); old_tols && old_tols->is_array())
        for (size_t i = 0; i < old_tols->size(); ++i) {
            bool kept = new_tols && new_tols->is_array() &&
                        std::any_of(new_tols->begin(), new_tols->end(),
                                    [&](const json& t) { return same_toleration_but_seconds(t, (*old_tols)[i]); });
            if (!kept)
                e.forbidden(sp.child("tolerations").index(i),
                            "existing toleration can not be modified except its tolerationSeconds");
        }
    if (*new_spec == *old_spec) return;
    // Everything else must be as before: blank out what may change and compare.
    json munged = *new_spec;
    for (const char* list : {"containers", "initContainers"})
        if (munged.contains(list) && munged[list].is_array())
            for (size_t i = 0; i < munged[list].size(); ++i)
                if (munged[list][i].is_object()) {
                    const json& before = (*old_spec)[list][i];
                    if (before.is_object() && before.contains("image"))
                        munged[list][i]["image"] = before["image"];
                    else
                        munged[list][i].erase("image");
                }
    for (const char* kept : {"activeDeadlineSeconds", "tolerations", "schedulingGates"}) {
        munged.erase(kept);
        if (old_spec->contains(kept)) munged[kept] = (*old_spec)[kept];
    }
    auto old_grace = integer_member(*old_spec, "terminationGracePeriodSeconds");
    if (old_grace && *old_grace < 0 && integer_member(munged, "terminationGracePeriodSeconds") == 1)
        munged["terminationGracePeriodSeconds"] = (*old_spec)["terminationGracePeriodSeconds"];
    // skiff serves no pods/binding yet: assigning a node to an unscheduled pod goes through update.
    if (string_or(*old_spec, "nodeName").empty()) {
        munged.erase("nodeName");
        if (old_spec->contains("nodeName")) munged["nodeName"] = (*old_spec)["nodeName"];
    }
    if (munged == *old_spec) return;
    std::vector<std::string> diff;
    spec_diff(*old_spec, munged, "", diff);
    std::string text = "  core.PodSpec{\n";
    for (const auto& line : diff) text += line + "\n";
    text += "  }\n";
    e.forbidden(
        sp,
        "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
        "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"
        "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n" +
            text);
}

void validate_deployment(const json& d, Errors& e) {
    Path p("spec");
    const json* spec = object_at(d, "spec", p, e);
    static const json empty = json::object();
    if (!spec) spec = &empty;
    validate_nonnegative(*spec, "replicas", p.child("replicas"), e);
    const json* selector = validate_workload_selector(*spec, p.child("selector"), e);
    validate_template(*spec, selector, p.child("template"), e);
    validate_strategy(*spec, p.child("strategy"), e);
    validate_nonnegative(*spec, "minReadySeconds", p.child("minReadySeconds"), e);
    validate_nonnegative(*spec, "revisionHistoryLimit", p.child("revisionHistoryLimit"), e);
    bool_at(*spec, "paused", p.child("paused"), e);
    if (const json* pds = integer_at(*spec, "progressDeadlineSeconds", p.child("progressDeadlineSeconds"), e)) {
        int64_t v = integer_value(*pds);
        if (v < 0) e.invalid(p.child("progressDeadlineSeconds"), *pds, negative_error);
        if (v <= integer_member(*spec, "minReadySeconds").value_or(0))
            e.invalid(p.child("progressDeadlineSeconds"), *pds, "must be greater than minReadySeconds");
    }
}

void validate_replica_set(const json& rs, Errors& e) {
    Path p("spec");
    const json* spec = object_at(rs, "spec", p, e);
    static const json empty = json::object();
    if (!spec) spec = &empty;
    validate_nonnegative(*spec, "replicas", p.child("replicas"), e);
    validate_nonnegative(*spec, "minReadySeconds", p.child("minReadySeconds"), e);
    const json* selector = validate_workload_selector(*spec, p.child("selector"), e);
    validate_template(*spec, selector, p.child("template"), e);
}

void validate_selector_unchanged(const json& object, const json& old, Errors& e) {
    static const json empty = json::object();
    const json* spec = member(object, "spec");
    const json* old_spec = member(old, "spec");
    const json* now = spec ? member(*spec, "selector") : nullptr;
    const json* before = old_spec ? member(*old_spec, "selector") : nullptr;
    if ((now ? *now : json()) != (before ? *before : json()))
        e.invalid(Path("spec.selector"), now ? *now : json(), immutable_error);
}

}  // namespace skiff::apiserver::strategy_detail
