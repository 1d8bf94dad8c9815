// validate_spec: the semantic checks of config.json that parsing cannot make, each naming its
// field.
#include <algorithm>
#include <set>

#include "skiff/runtime/spec.hpp"

namespace skiff::runtime {
namespace {

std::string quoted(const std::string& s) {
    return "\"" + s + "\"";
}
std::string element(const std::string& path, size_t i) {
    return path + "[" + std::to_string(i) + "]";
}
bool contains(const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}
bool starts_with(const std::string& s, const char* prefix) {
    return s.rfind(prefix, 0) == 0;
}

Status expect_absolute(const std::string& path, const std::string& field) {
    if (path.empty() || path[0] != '/')
        return Error(field + ": " + quoted(path) + " is not an absolute path");
    return {};
}

Status validate_mappings(const std::vector<IdMapping>& mappings, const std::string& field) {
    for (size_t i = 0; i < mappings.size(); ++i) {
        if (mappings[i].size == 0) return Error(element(field, i) + ".size: must be at least 1");
        // The kernel refuses ranges that wrap past 2^32 (container or host side).
        if (uint64_t{mappings[i].container_id} + mappings[i].size > (uint64_t{1} << 32) ||
            uint64_t{mappings[i].host_id} + mappings[i].size > (uint64_t{1} << 32))
            return Error(element(field, i) + ": range exceeds 2^32");
    }
    // The kernel takes at most 340 lines (since 4.15) and refuses overlaps on either side with a
    // bare EINVAL; say which ranges collide instead.
    constexpr size_t kMaxLines = 340;
    if (mappings.size() > kMaxLines)
        return Error(field + ": " + std::to_string(mappings.size()) +
                     " ranges; the kernel takes at most " + std::to_string(kMaxLines));
    auto overlap = [](uint64_t a, uint64_t a_size, uint64_t b, uint64_t b_size) {
        return a < b + b_size && b < a + a_size;
    };
    for (size_t i = 0; i < mappings.size(); ++i)
        for (size_t j = 0; j < i; ++j) {
            const auto& a = mappings[i];
            const auto& b = mappings[j];
            if (overlap(a.container_id, a.size, b.container_id, b.size))
                return Error(element(field, i) + ": container ids overlap " + element(field, j));
            if (overlap(a.host_id, a.size, b.host_id, b.size))
                return Error(element(field, i) + ": host ids overlap " + element(field, j));
        }
    return {};
}

Status validate_mounts(const std::vector<Mount>& mounts) {
    for (size_t i = 0; i < mounts.size(); ++i) {
        std::string p = element("mounts", i);
        SKIFF_TRY(expect_absolute(mounts[i].destination, p + ".destination"));
        // An idmapped mount needs both maps (mount_setattr takes a user namespace, which
        // has both).
        if (mounts[i].uid_mappings.empty() != mounts[i].gid_mappings.empty())
            return Error(p + ": uidMappings and gidMappings must be given together");
        SKIFF_TRY(validate_mappings(mounts[i].uid_mappings, p + ".uidMappings"));
        SKIFF_TRY(validate_mappings(mounts[i].gid_mappings, p + ".gidMappings"));
    }
    return {};
}

Status validate_capabilities(const isolation::CapabilitySets& caps) {
    const auto known = isolation::known_capabilities();
    const std::pair<const char*, const std::vector<std::string>*> sets[] = {
        {"bounding", &caps.bounding},       {"effective", &caps.effective},
        {"inheritable", &caps.inheritable}, {"permitted", &caps.permitted},
        {"ambient", &caps.ambient},
    };
    for (const auto& [set, names] : sets)
        for (const auto& name : *names)
            if (!contains(known, name))
                return Error(std::string("process.capabilities.") + set + ": unknown capability " +
                             quoted(name));
    return {};
}

Status validate_process(const Process& process) {
    if (process.args.empty()) return Error("process.args: must not be empty");
    SKIFF_TRY(expect_absolute(process.cwd, "process.cwd"));
    if (process.capabilities) SKIFF_TRY(validate_capabilities(*process.capabilities));
    std::set<std::string> seen;
    for (size_t i = 0; i < process.rlimits.size(); ++i) {
        const auto& r = process.rlimits[i];
        std::string p = element("process.rlimits", i);
        if (rlimit_resource(r.type) < 0)
            return Error(p + ".type: unknown rlimit " + quoted(r.type));
        if (!seen.insert(r.type).second)
            return Error(p + ".type: duplicate rlimit " + quoted(r.type));
        if (r.soft > r.hard)
            return Error(p + ": soft limit " + std::to_string(r.soft) + " exceeds hard limit " +
                         std::to_string(r.hard));
    }
    if (process.oom_score_adj && (*process.oom_score_adj < -1000 || *process.oom_score_adj > 1000))
        return Error("process.oomScoreAdj: " + std::to_string(*process.oom_score_adj) +
                     " is outside -1000..1000");
    return {};
}

Status validate_hooks(const Hooks& hooks) {
    const std::pair<const char*, const std::vector<Hook>*> stages[] = {
        {"prestart", &hooks.prestart},
        {"createRuntime", &hooks.create_runtime},
        {"createContainer", &hooks.create_container},
        {"startContainer", &hooks.start_container},
        {"poststart", &hooks.poststart},
        {"poststop", &hooks.poststop},
    };
    for (const auto& [stage, list] : stages) {
        for (size_t i = 0; i < list->size(); ++i) {
            std::string p = element(std::string("hooks.") + stage, i);
            SKIFF_TRY(expect_absolute((*list)[i].path, p + ".path"));
            if ((*list)[i].timeout && *(*list)[i].timeout <= 0)
                return Error(p + ".timeout: must be greater than zero");
        }
    }
    return {};
}

const char* const kNamespaceTypes[] = {"pid", "network", "mount",  "ipc",
                                       "uts", "user",    "cgroup", "time"};

Status validate_namespaces(const Linux& linux) {
    std::set<std::string> seen;
    for (size_t i = 0; i < linux.namespaces.size(); ++i) {
        const auto& ns = linux.namespaces[i];
        std::string p = element("linux.namespaces", i);
        if (std::find_if(std::begin(kNamespaceTypes), std::end(kNamespaceTypes),
                         [&](const char* t) { return ns.type == t; }) == std::end(kNamespaceTypes))
            return Error(p + ".type: unknown namespace type " + quoted(ns.type));
        if (!seen.insert(ns.type).second)
            return Error(p + ".type: duplicate namespace " + quoted(ns.type));
        if (!ns.path.empty()) SKIFF_TRY(expect_absolute(ns.path, p + ".path"));
    }
    return {};
}

Status validate_user_mappings(const Linux& linux) {
    const Namespace* user = linux.find_namespace("user");
    bool mapped = !linux.uid_mappings.empty() || !linux.gid_mappings.empty();
    if (mapped && user == nullptr)
        return Error(
            std::string(linux.uid_mappings.empty() ? "linux.gidMappings" : "linux.uidMappings") +
            ": requires a user namespace");
    // A new user namespace without maps leaves every id unmapped (nobody), so nothing inside
    // could work; a joined one already has its maps.
    if (user != nullptr && user->path.empty()) {
        if (linux.uid_mappings.empty())
            return Error("linux.uidMappings: a new user namespace requires uid mappings");
        if (linux.gid_mappings.empty())
            return Error("linux.gidMappings: a new user namespace requires gid mappings");
    }
    SKIFF_TRY(validate_mappings(linux.uid_mappings, "linux.uidMappings"));
    SKIFF_TRY(validate_mappings(linux.gid_mappings, "linux.gidMappings"));
    return {};
}

// The namespace a sysctl key belongs to, or nullptr when it is global to the host.
const char* sysctl_namespace(std::string key) {
    // "net/ipv4/ip_forward" is the /proc/sys path form of "net.ipv4.ip_forward".
    std::replace(key.begin(), key.end(), '/', '.');
    if (starts_with(key, "net.")) return "network";
    if (starts_with(key, "kernel.msg") || starts_with(key, "kernel.shm") || key == "kernel.sem" ||
        starts_with(key, "fs.mqueue."))
        return "ipc";
    if (key == "kernel.hostname" || key == "kernel.domainname") return "uts";
    return nullptr;
}

// Setting a sysctl in a namespace the container shares with the host would change the host.
// A namespace joined by path counts as the container's own, as in runc: CRI runtimes create
// the pod's network namespace themselves and pass it by path.
Status validate_sysctl(const Linux& linux) {
    for (const auto& [key, value] : linux.sysctl) {
        const char* ns = sysctl_namespace(key);
        if (ns == nullptr) return Error("linux.sysctl: " + quoted(key) + " is not namespaced");
        if (linux.find_namespace(ns) == nullptr)
            return Error("linux.sysctl: " + quoted(key) + " requires a new " + ns + " namespace");
    }
    return {};
}

Status validate_time_offsets(const Linux& linux) {
    if (linux.time_offsets.empty()) return {};
    for (const auto& [clock, offset] : linux.time_offsets) {
        if (clock != "monotonic" && clock != "boottime")
            return Error("linux.timeOffsets: unknown clock " + quoted(clock));
        if (offset.nanosecs >= 1000000000)
            return Error("linux.timeOffsets[" + quoted(clock) +
                         "].nanosecs: must be below 1000000000");
    }
    // Offsets can only be written into a time namespace before its first process runs.
    const Namespace* time = linux.find_namespace("time");
    if (time == nullptr || !time->path.empty())
        return Error("linux.timeOffsets: requires a new time namespace");
    return {};
}

Status validate_devices(const Linux& linux) {
    for (size_t i = 0; i < linux.devices.size(); ++i) {
        const auto& d = linux.devices[i];
        std::string p = element("linux.devices", i);
        if (d.type != "c" && d.type != "b" && d.type != "u" && d.type != "p")
            return Error(p + ".type: unknown device type " + quoted(d.type) +
                         " (want c, b, u or p)");
        SKIFF_TRY(expect_absolute(d.path, p + ".path"));
        if (d.major < 0 || d.minor < 0) return Error(p + ": negative major or minor number");
    }
    if (linux.resources) {
        const auto& rules = linux.resources->devices;
        for (size_t i = 0; i < rules.size(); ++i) {
            std::string p = element("linux.resources.devices", i);
            if (rules[i].type != "a" && rules[i].type != "c" && rules[i].type != "b")
                return Error(p + ".type: unknown device type " + quoted(rules[i].type) +
                             " (want a, c or b)");
            if (rules[i].access.find_first_not_of("rwm") != std::string::npos)
                return Error(p + ".access: " + quoted(rules[i].access) +
                             " is not a combination of r, w and m");
        }
    }
    return {};
}

Status validate_seccomp(const isolation::SeccompConfig& seccomp) {
    const auto actions = isolation::seccomp_known_actions();
    const auto arches = isolation::seccomp_known_architectures();
    const auto flags = isolation::seccomp_known_flags();
    const auto operators = isolation::seccomp_known_operators();
    const std::string p = "linux.seccomp";
    if (!contains(actions, seccomp.default_action))
        return Error(p + ".defaultAction: unknown action " + quoted(seccomp.default_action));
    for (size_t i = 0; i < seccomp.architectures.size(); ++i)
        if (!contains(arches, seccomp.architectures[i]))
            return Error(element(p + ".architectures", i) + ": unknown architecture " +
                         quoted(seccomp.architectures[i]));
    for (size_t i = 0; i < seccomp.flags.size(); ++i)
        if (!contains(flags, seccomp.flags[i]))
            return Error(element(p + ".flags", i) + ": unknown flag " + quoted(seccomp.flags[i]));
    if (!seccomp.listener_path.empty())
        SKIFF_TRY(expect_absolute(seccomp.listener_path, p + ".listenerPath"));
    for (size_t i = 0; i < seccomp.syscalls.size(); ++i) {
        const auto& rule = seccomp.syscalls[i];
        std::string rp = element(p + ".syscalls", i);
        if (rule.names.empty()) return Error(rp + ".names: must not be empty");
        if (!contains(actions, rule.action))
            return Error(rp + ".action: unknown action " + quoted(rule.action));
        for (size_t j = 0; j < rule.args.size(); ++j) {
            std::string ap = element(rp + ".args", j);
            if (!contains(operators, rule.args[j].op))
                return Error(ap + ".op: unknown operator " + quoted(rule.args[j].op));
            // System calls take at most six arguments.
            if (rule.args[j].index > 5) return Error(ap + ".index: must be 0..5");
        }
    }
    return {};
}

Status validate_linux(const Linux& linux) {
    SKIFF_TRY(validate_namespaces(linux));
    SKIFF_TRY(validate_user_mappings(linux));
    SKIFF_TRY(validate_sysctl(linux));
    SKIFF_TRY(validate_time_offsets(linux));
    SKIFF_TRY(validate_devices(linux));
    if (linux.seccomp) SKIFF_TRY(validate_seccomp(*linux.seccomp));
    static const char* const kPropagation[] = {"",        "private",    "rprivate",
                                               "slave",   "rslave",     "shared",
                                               "rshared", "unbindable", "runbindable"};
    if (std::find_if(std::begin(kPropagation), std::end(kPropagation), [&](const char* v) {
            return linux.rootfs_propagation == v;
        }) == std::end(kPropagation))
        return Error("linux.rootfsPropagation: unknown value " + quoted(linux.rootfs_propagation));
    for (size_t i = 0; i < linux.masked_paths.size(); ++i)
        SKIFF_TRY(expect_absolute(linux.masked_paths[i], element("linux.maskedPaths", i)));
    for (size_t i = 0; i < linux.readonly_paths.size(); ++i)
        SKIFF_TRY(expect_absolute(linux.readonly_paths[i], element("linux.readonlyPaths", i)));
    return {};
}

}  // namespace

Status validate_spec(const Spec& spec) {
    if (!starts_with(spec.oci_version, "1."))
        return Error("ociVersion: unsupported version " + quoted(spec.oci_version) + " (want 1.x)");
    if (spec.root_path.empty()) return Error("root.path: must not be empty");
    SKIFF_TRY(validate_mounts(spec.mounts));
    if (spec.process) SKIFF_TRY(validate_process(*spec.process));
    if (spec.hooks) SKIFF_TRY(validate_hooks(*spec.hooks));

    // Without a linux section every namespace is the host's.
    static const Linux kNoLinux;
    const Linux& linux = spec.linux ? *spec.linux : kNoLinux;
    // Setting the name of a UTS namespace shared with the host would rename the host.
    if (!spec.hostname.empty() && linux.find_namespace("uts") == nullptr)
        return Error("hostname requires a new uts namespace");
    if (!spec.domainname.empty() && linux.find_namespace("uts") == nullptr)
        return Error("domainname requires a new uts namespace");
    if (spec.linux) SKIFF_TRY(validate_linux(*spec.linux));
    return {};
}

}  // namespace skiff::runtime
