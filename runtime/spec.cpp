// config.json (OCI runtime-spec v1.2, Linux) to Spec and back; every error names its JSON path.
#include <sys/resource.h>

#include <concepts>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>
#include <utility>

#include "skiff/base/fs.hpp"
#include "skiff/runtime/spec.hpp"

namespace skiff::runtime {
namespace {

using nlohmann::json;
using ojson = nlohmann::ordered_json;  // keeps the output in spec order, as runc writes it

enum Presence { kOptional, kRequired };

std::string join(const std::string& path, const char* key) {
    return path.empty() ? std::string(key) : path + "." + key;
}
std::string element(const std::string& path, size_t i) {
    return path + "[" + std::to_string(i) + "]";
}
std::string map_entry(const std::string& path, const std::string& key) {
    return path + "[\"" + key + "\"]";
}

Error expected(const std::string& path, const char* what) {
    return Error(path + ": expected " + what);
}
Error missing(const std::string& path) {
    return Error(path + ": missing required field");
}

// The member, or nullptr when it is absent or null: null stands for "not set" in config.json.
const json* member(const json& obj, const char* key) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
}

Status expect_object(const json& v, const std::string& path) {
    if (!v.is_object()) return expected(path, "an object");
    return {};
}

// Every overload is declared before the templates below so that their (dependent) calls find
// the struct readers by ordinary lookup: argument-dependent lookup would not see this
// unnamed namespace.
Status read_value(const json& v, const std::string& p, std::string& out);
Status read_value(const json& v, const std::string& p, bool& out);
Status read_value(const json& v, const std::string& p, std::vector<std::string>& out);
Status read_value(const json& v, const std::string& p, IdMapping& out);
Status read_value(const json& v, const std::string& p, Mount& out);
Status read_value(const json& v, const std::string& p, Rlimit& out);
Status read_value(const json& v, const std::string& p, User& out);
Status read_value(const json& v, const std::string& p, ConsoleSize& out);
Status read_value(const json& v, const std::string& p, isolation::CapabilitySets& out);
Status read_value(const json& v, const std::string& p, Process& out);
Status read_value(const json& v, const std::string& p, Hook& out);
Status read_value(const json& v, const std::string& p, Hooks& out);
Status read_value(const json& v, const std::string& p, Namespace& out);
Status read_value(const json& v, const std::string& p, Device& out);
Status read_value(const json& v, const std::string& p, TimeOffset& out);
Status read_value(const json& v, const std::string& p, isolation::DeviceRule& out);
Status read_value(const json& v, const std::string& p, isolation::MemoryResources& out);
Status read_value(const json& v, const std::string& p, isolation::CpuResources& out);
Status read_value(const json& v, const std::string& p, isolation::PidsResources& out);
Status read_value(const json& v, const std::string& p, isolation::WeightDevice& out);
Status read_value(const json& v, const std::string& p, isolation::ThrottleDevice& out);
Status read_value(const json& v, const std::string& p, isolation::BlockIoResources& out);
Status read_value(const json& v, const std::string& p, isolation::HugepageLimit& out);
Status read_value(const json& v, const std::string& p, isolation::Resources& out);
Status read_value(const json& v, const std::string& p, isolation::SeccompArg& out);
Status read_value(const json& v, const std::string& p, isolation::SeccompRule& out);
Status read_value(const json& v, const std::string& p, isolation::SeccompConfig& out);
Status read_value(const json& v, const std::string& p, Linux& out);

// Integers must be JSON integers that fit the target type: a uid of -1 or 2^32 is an error
// rather than a silent wrap. Floats are refused, as Go's encoding/json (runc) refuses them.
template <class T>
requires(std::integral<T> && !std::same_as<T, bool>) Status
    read_value(const json& v, const std::string& p, T& out) {
    auto out_of_range = [&] {
        return Error(p + ": " + v.dump() + " is out of range (" +
                     std::to_string(std::numeric_limits<T>::min()) + ".." +
                     std::to_string(std::numeric_limits<T>::max()) + ")");
    };
    if (v.is_number_unsigned()) {
        auto u = v.get<uint64_t>();
        if (!std::in_range<T>(u)) return out_of_range();
        out = static_cast<T>(u);
    } else if (v.is_number_integer()) {
        auto s = v.get<int64_t>();
        if (!std::in_range<T>(s)) return out_of_range();
        out = static_cast<T>(s);
    } else {
        return expected(p, "an integer");
    }
    return {};
}

template <class T>
Status read_value(const json& v, const std::string& p, std::optional<T>& out) {
    T value{};
    SKIFF_TRY(read_value(v, p, value));
    out = std::move(value);
    return {};
}

template <class T>
Status read_value(const json& v, const std::string& p, std::vector<T>& out) {
    if (!v.is_array()) return expected(p, "an array");
    out.clear();
    out.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
        T item{};
        SKIFF_TRY(read_value(v[i], element(p, i), item));
        out.push_back(std::move(item));
    }
    return {};
}

template <class T>
Status read_value(const json& v, const std::string& p, std::map<std::string, T>& out) {
    if (!v.is_object()) return expected(p, "an object");
    out.clear();
    for (const auto& [key, value] : v.items()) {
        T item{};
        SKIFF_TRY(read_value(value, map_entry(p, key), item));
        out.emplace(key, std::move(item));
    }
    return {};
}

// Reads obj[key] into out; an absent optional field leaves out at its default.
template <class T>
Status field(const json& obj, const std::string& path, const char* key, T& out,
             Presence presence = kOptional) {
    const json* v = member(obj, key);
    if (v == nullptr) return presence == kRequired ? missing(join(path, key)) : Status{};
    return read_value(*v, join(path, key), out);
}

Status read_value(const json& v, const std::string& p, std::string& out) {
    if (!v.is_string()) return expected(p, "a string");
    out = v.get<std::string>();
    return {};
}

Status read_value(const json& v, const std::string& p, bool& out) {
    if (!v.is_boolean()) return expected(p, "a boolean");
    out = v.get<bool>();
    return {};
}

// String lists get one message for the whole field ("process.args: expected an array of
// strings"): an element index would not help the user more than the field name.
Status read_value(const json& v, const std::string& p, std::vector<std::string>& out) {
    if (!v.is_array()) return expected(p, "an array of strings");
    out.clear();
    out.reserve(v.size());
    for (const auto& item : v) {
        if (!item.is_string()) return expected(p, "an array of strings");
        out.push_back(item.get<std::string>());
    }
    return {};
}

Status read_value(const json& v, const std::string& p, IdMapping& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "containerID", out.container_id, kRequired));
    SKIFF_TRY(field(v, p, "hostID", out.host_id, kRequired));
    SKIFF_TRY(field(v, p, "size", out.size, kRequired));
    return {};
}

Status read_value(const json& v, const std::string& p, Mount& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "destination", out.destination, kRequired));
    SKIFF_TRY(field(v, p, "type", out.type));
    SKIFF_TRY(field(v, p, "source", out.source));
    SKIFF_TRY(field(v, p, "options", out.options));
    SKIFF_TRY(field(v, p, "uidMappings", out.uid_mappings));
    SKIFF_TRY(field(v, p, "gidMappings", out.gid_mappings));
    return {};
}

Status read_value(const json& v, const std::string& p, Rlimit& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "type", out.type, kRequired));
    SKIFF_TRY(field(v, p, "soft", out.soft, kRequired));
    SKIFF_TRY(field(v, p, "hard", out.hard, kRequired));
    return {};
}

Status read_value(const json& v, const std::string& p, User& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "uid", out.uid));
    SKIFF_TRY(field(v, p, "gid", out.gid));
    SKIFF_TRY(field(v, p, "umask", out.umask));
    SKIFF_TRY(field(v, p, "additionalGids", out.additional_gids));
    SKIFF_TRY(field(v, p, "username", out.username));
    return {};
}

Status read_value(const json& v, const std::string& p, ConsoleSize& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "height", out.height, kRequired));
    SKIFF_TRY(field(v, p, "width", out.width, kRequired));
    return {};
}

Status read_value(const json& v, const std::string& p, isolation::CapabilitySets& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "bounding", out.bounding));
    SKIFF_TRY(field(v, p, "effective", out.effective));
    SKIFF_TRY(field(v, p, "inheritable", out.inheritable));
    SKIFF_TRY(field(v, p, "permitted", out.permitted));
    SKIFF_TRY(field(v, p, "ambient", out.ambient));
    return {};
}

Status read_value(const json& v, const std::string& p, Process& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "terminal", out.terminal));
    SKIFF_TRY(field(v, p, "consoleSize", out.console_size));
    SKIFF_TRY(field(v, p, "cwd", out.cwd, kRequired));
    SKIFF_TRY(field(v, p, "env", out.env));
    SKIFF_TRY(field(v, p, "args", out.args));
    SKIFF_TRY(field(v, p, "user", out.user));
    SKIFF_TRY(field(v, p, "capabilities", out.capabilities));
    SKIFF_TRY(field(v, p, "rlimits", out.rlimits));
    SKIFF_TRY(field(v, p, "noNewPrivileges", out.no_new_privileges));
    SKIFF_TRY(field(v, p, "apparmorProfile", out.apparmor_profile));
    SKIFF_TRY(field(v, p, "selinuxLabel", out.selinux_label));
    SKIFF_TRY(field(v, p, "oomScoreAdj", out.oom_score_adj));
    return {};
}

Status read_value(const json& v, const std::string& p, Hook& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "path", out.path, kRequired));
    SKIFF_TRY(field(v, p, "args", out.args));
    SKIFF_TRY(field(v, p, "env", out.env));
    SKIFF_TRY(field(v, p, "timeout", out.timeout));
    return {};
}

Status read_value(const json& v, const std::string& p, Hooks& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "prestart", out.prestart));
    SKIFF_TRY(field(v, p, "createRuntime", out.create_runtime));
    SKIFF_TRY(field(v, p, "createContainer", out.create_container));
    SKIFF_TRY(field(v, p, "startContainer", out.start_container));
    SKIFF_TRY(field(v, p, "poststart", out.poststart));
    SKIFF_TRY(field(v, p, "poststop", out.poststop));
    return {};
}

Status read_value(const json& v, const std::string& p, Namespace& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "type", out.type, kRequired));
    SKIFF_TRY(field(v, p, "path", out.path));
    return {};
}

Status read_value(const json& v, const std::string& p, Device& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "type", out.type, kRequired));
    SKIFF_TRY(field(v, p, "path", out.path, kRequired));
    // Device stores major/minor as plain numbers, so "absent" can only be caught here:
    // a character, block or unbuffered device without them would silently become 0:0.
    Presence numbers =
        (out.type == "c" || out.type == "b" || out.type == "u") ? kRequired : kOptional;
    SKIFF_TRY(field(v, p, "major", out.major, numbers));
    SKIFF_TRY(field(v, p, "minor", out.minor, numbers));
    SKIFF_TRY(field(v, p, "fileMode", out.file_mode));
    SKIFF_TRY(field(v, p, "uid", out.uid));
    SKIFF_TRY(field(v, p, "gid", out.gid));
    return {};
}

Status read_value(const json& v, const std::string& p, TimeOffset& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "secs", out.secs));
    SKIFF_TRY(field(v, p, "nanosecs", out.nanosecs));
    return {};
}

Status read_value(const json& v, const std::string& p, isolation::DeviceRule& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "allow", out.allow, kRequired));
    SKIFF_TRY(field(v, p, "type", out.type));
    SKIFF_TRY(field(v, p, "major", out.major));
    SKIFF_TRY(field(v, p, "minor", out.minor));
    SKIFF_TRY(field(v, p, "access", out.access));
    return {};
}

Status read_value(const json& v, const std::string& p, isolation::MemoryResources& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "limit", out.limit));
    SKIFF_TRY(field(v, p, "reservation", out.reservation));
    SKIFF_TRY(field(v, p, "swap", out.swap));
    SKIFF_TRY(field(v, p, "kernel", out.kernel));
    SKIFF_TRY(field(v, p, "kernelTCP", out.kernel_tcp));
    SKIFF_TRY(field(v, p, "swappiness", out.swappiness));
    SKIFF_TRY(field(v, p, "disableOOMKiller", out.disable_oom_killer));
    SKIFF_TRY(field(v, p, "useHierarchy", out.use_hierarchy));
    SKIFF_TRY(field(v, p, "checkBeforeUpdate", out.check_before_update));
    return {};
}

Status read_value(const json& v, const std::string& p, isolation::CpuResources& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "shares", out.shares));
    SKIFF_TRY(field(v, p, "quota", out.quota));
    SKIFF_TRY(field(v, p, "burst", out.burst));
    SKIFF_TRY(field(v, p, "period", out.period));
    SKIFF_TRY(field(v, p, "realtimeRuntime", out.realtime_runtime));
    SKIFF_TRY(field(v, p, "realtimePeriod", out.realtime_period));
    SKIFF_TRY(field(v, p, "cpus", out.cpus));
    SKIFF_TRY(field(v, p, "mems", out.mems));
    SKIFF_TRY(field(v, p, "idle", out.idle));
    return {};
}

Status read_value(const json& v, const std::string& p, isolation::PidsResources& out) {
    SKIFF_TRY(expect_object(v, p));
    // Required in v1.2.0 but optional since v1.2.1 (absent = unlimited); accept both.
    SKIFF_TRY(field(v, p, "limit", out.limit));
    return {};
}

Status read_value(const json& v, const std::string& p, isolation::WeightDevice& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "major", out.major, kRequired));
    SKIFF_TRY(field(v, p, "minor", out.minor, kRequired));
    SKIFF_TRY(field(v, p, "weight", out.weight));
    SKIFF_TRY(field(v, p, "leafWeight", out.leaf_weight));
    return {};
}

Status read_value(const json& v, const std::string& p, isolation::ThrottleDevice& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "major", out.major, kRequired));
    SKIFF_TRY(field(v, p, "minor", out.minor, kRequired));
    SKIFF_TRY(field(v, p, "rate", out.rate, kRequired));
    return {};
}

Status read_value(const json& v, const std::string& p, isolation::BlockIoResources& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "weight", out.weight));
    SKIFF_TRY(field(v, p, "leafWeight", out.leaf_weight));
    SKIFF_TRY(field(v, p, "weightDevice", out.weight_device));
    SKIFF_TRY(field(v, p, "throttleReadBpsDevice", out.throttle_read_bps_device));
    SKIFF_TRY(field(v, p, "throttleWriteBpsDevice", out.throttle_write_bps_device));
    SKIFF_TRY(field(v, p, "throttleReadIOPSDevice", out.throttle_read_iops_device));
    SKIFF_TRY(field(v, p, "throttleWriteIOPSDevice", out.throttle_write_iops_device));
    return {};
}

Status read_value(const json& v, const std::string& p, isolation::HugepageLimit& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "pageSize", out.page_size, kRequired));
    SKIFF_TRY(field(v, p, "limit", out.limit, kRequired));
    return {};
}

Status read_value(const json& v, const std::string& p, isolation::Resources& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "devices", out.devices));
    SKIFF_TRY(field(v, p, "memory", out.memory));
    SKIFF_TRY(field(v, p, "cpu", out.cpu));
    SKIFF_TRY(field(v, p, "pids", out.pids));
    SKIFF_TRY(field(v, p, "blockIO", out.block_io));
    SKIFF_TRY(field(v, p, "hugepageLimits", out.hugepage_limits));
    SKIFF_TRY(field(v, p, "unified", out.unified));
    return {};
}

Status read_value(const json& v, const std::string& p, isolation::SeccompArg& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "index", out.index, kRequired));
    SKIFF_TRY(field(v, p, "value", out.value, kRequired));
    SKIFF_TRY(field(v, p, "valueTwo", out.value_two));
    SKIFF_TRY(field(v, p, "op", out.op, kRequired));
    return {};
}

Status read_value(const json& v, const std::string& p, isolation::SeccompRule& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "names", out.names, kRequired));
    SKIFF_TRY(field(v, p, "action", out.action, kRequired));
    SKIFF_TRY(field(v, p, "errnoRet", out.errno_ret));
    SKIFF_TRY(field(v, p, "args", out.args));
    return {};
}

Status read_value(const json& v, const std::string& p, isolation::SeccompConfig& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "defaultAction", out.default_action, kRequired));
    SKIFF_TRY(field(v, p, "defaultErrnoRet", out.default_errno_ret));
    SKIFF_TRY(field(v, p, "architectures", out.architectures));
    SKIFF_TRY(field(v, p, "flags", out.flags));
    SKIFF_TRY(field(v, p, "listenerPath", out.listener_path));
    SKIFF_TRY(field(v, p, "syscalls", out.syscalls));
    return {};
}

Status read_value(const json& v, const std::string& p, Linux& out) {
    SKIFF_TRY(expect_object(v, p));
    SKIFF_TRY(field(v, p, "namespaces", out.namespaces));
    SKIFF_TRY(field(v, p, "uidMappings", out.uid_mappings));
    SKIFF_TRY(field(v, p, "gidMappings", out.gid_mappings));
    SKIFF_TRY(field(v, p, "timeOffsets", out.time_offsets));
    SKIFF_TRY(field(v, p, "devices", out.devices));
    SKIFF_TRY(field(v, p, "cgroupsPath", out.cgroups_path));
    SKIFF_TRY(field(v, p, "resources", out.resources));
    SKIFF_TRY(field(v, p, "sysctl", out.sysctl));
    SKIFF_TRY(field(v, p, "seccomp", out.seccomp));
    SKIFF_TRY(field(v, p, "rootfsPropagation", out.rootfs_propagation));
    SKIFF_TRY(field(v, p, "maskedPaths", out.masked_paths));
    SKIFF_TRY(field(v, p, "readonlyPaths", out.readonly_paths));
    SKIFF_TRY(field(v, p, "mountLabel", out.mount_label));
    return {};
}

Status read_spec(const json& v, Spec& out) {
    SKIFF_TRY(expect_object(v, "config.json"));
    SKIFF_TRY(field(v, "", "ociVersion", out.oci_version, kRequired));
    const json* root = member(v, "root");
    if (root == nullptr) return missing("root");
    SKIFF_TRY(expect_object(*root, "root"));
    SKIFF_TRY(field(*root, "root", "path", out.root_path, kRequired));
    SKIFF_TRY(field(*root, "root", "readonly", out.root_readonly));
    SKIFF_TRY(field(v, "", "mounts", out.mounts));
    SKIFF_TRY(field(v, "", "process", out.process));
    SKIFF_TRY(field(v, "", "hostname", out.hostname));
    SKIFF_TRY(field(v, "", "domainname", out.domainname));
    SKIFF_TRY(field(v, "", "hooks", out.hooks));
    SKIFF_TRY(field(v, "", "annotations", out.annotations));
    SKIFF_TRY(field(v, "", "linux", out.linux));
    return {};
}

// nlohmann's messages read "[json.exception.parse_error.101] parse error at line 1, column 2:
// syntax error while parsing ..."; the byte offset is reported separately, so keep only the
// explanation after the position.
std::string parse_error_detail(const std::string& what) {
    auto at = what.find("parse error");
    if (at == std::string::npos) return what;
    auto colon = what.find(": ", at);
    if (colon == std::string::npos) return what;
    return what.substr(colon + 2);
}

// name prefixes syntax errors; field errors get it only when field_context is set (load_spec),
// because parse_spec's field errors start with the JSON path itself.
Result<Spec> parse_named(const std::string& text, const std::string& name, bool field_context) {
    json doc;
    try {
        doc = json::parse(text);
    } catch (const json::parse_error& e) {
        // e.byte counts the bytes read up to and including the offending one, like the
        // Offset of Go's json.SyntaxError that runc users see.
        return Error(name + ": syntax error at byte " + std::to_string(e.byte) + ": " +
                     parse_error_detail(e.what()));
    } catch (const std::exception& e) {
        return Error(name + ": " + e.what());
    }
    Spec spec;
    // The readers only call non-throwing accessors after checking types, but a std::bad_alloc
    // must still not escape the API.
    try {
        if (auto s = read_spec(doc, spec); !s) {
            if (field_context) return std::move(s).error().context(name);
            return std::move(s).error();
        }
    } catch (const std::exception& e) {
        return Error(name + ": " + e.what());
    }
    return spec;
}

// Serialisation: fields at their default are left out (omitempty, like the Go structs runc
// uses), except the fields the spec requires.

template <class T>
void put_optional(ojson& o, const char* key, const std::optional<T>& v) {
    if (v) o[key] = *v;
}
void put_string(ojson& o, const char* key, const std::string& v) {
    if (!v.empty()) o[key] = v;
}
void put_strings(ojson& o, const char* key, const std::vector<std::string>& v) {
    if (!v.empty()) o[key] = v;
}
void put_string_map(ojson& o, const char* key, const std::map<std::string, std::string>& v) {
    if (v.empty()) return;
    ojson m = ojson::object();
    for (const auto& [k, val] : v) m[k] = val;
    o[key] = std::move(m);
}
template <class T, class F>
void put_list(ojson& o, const char* key, const std::vector<T>& v, F to_json) {
    if (v.empty()) return;
    ojson a = ojson::array();
    for (const auto& item : v) a.push_back(to_json(item));
    o[key] = std::move(a);
}

ojson id_mapping_json(const IdMapping& m) {
    return {{"containerID", m.container_id}, {"hostID", m.host_id}, {"size", m.size}};
}

ojson mount_json(const Mount& m) {
    ojson o;
    o["destination"] = m.destination;
    put_string(o, "type", m.type);
    put_string(o, "source", m.source);
    put_strings(o, "options", m.options);
    put_list(o, "uidMappings", m.uid_mappings, id_mapping_json);
    put_list(o, "gidMappings", m.gid_mappings, id_mapping_json);
    return o;
}

ojson process_json(const Process& p) {
    ojson o;
    o["terminal"] = p.terminal;
    if (p.console_size)
        o["consoleSize"] = {{"height", p.console_size->height}, {"width", p.console_size->width}};
    ojson user;
    user["uid"] = p.user.uid;
    user["gid"] = p.user.gid;
    put_optional(user, "umask", p.user.umask);
    if (!p.user.additional_gids.empty()) user["additionalGids"] = p.user.additional_gids;
    put_string(user, "username", p.user.username);
    o["user"] = std::move(user);
    put_strings(o, "args", p.args);
    put_strings(o, "env", p.env);
    o["cwd"] = p.cwd;
    if (p.capabilities) {
        ojson caps = ojson::object();
        put_strings(caps, "bounding", p.capabilities->bounding);
        put_strings(caps, "effective", p.capabilities->effective);
        put_strings(caps, "inheritable", p.capabilities->inheritable);
        put_strings(caps, "permitted", p.capabilities->permitted);
        put_strings(caps, "ambient", p.capabilities->ambient);
        o["capabilities"] = std::move(caps);
    }
    put_list(o, "rlimits", p.rlimits, [](const Rlimit& r) {
        return ojson{{"type", r.type}, {"hard", r.hard}, {"soft", r.soft}};
    });
    if (p.no_new_privileges) o["noNewPrivileges"] = true;
    put_string(o, "apparmorProfile", p.apparmor_profile);
    put_string(o, "selinuxLabel", p.selinux_label);
    put_optional(o, "oomScoreAdj", p.oom_score_adj);
    return o;
}

ojson hook_json(const Hook& h) {
    ojson o;
    o["path"] = h.path;
    put_strings(o, "args", h.args);
    put_strings(o, "env", h.env);
    put_optional(o, "timeout", h.timeout);
    return o;
}

ojson hooks_json(const Hooks& h) {
    ojson o = ojson::object();
    put_list(o, "prestart", h.prestart, hook_json);
    put_list(o, "createRuntime", h.create_runtime, hook_json);
    put_list(o, "createContainer", h.create_container, hook_json);
    put_list(o, "startContainer", h.start_container, hook_json);
    put_list(o, "poststart", h.poststart, hook_json);
    put_list(o, "poststop", h.poststop, hook_json);
    return o;
}

ojson throttle_json(const isolation::ThrottleDevice& d) {
    return {{"major", d.major}, {"minor", d.minor}, {"rate", d.rate}};
}

ojson resources_json(const isolation::Resources& r) {
    ojson o = ojson::object();
    put_list(o, "devices", r.devices, [](const isolation::DeviceRule& d) {
        ojson rule;
        rule["allow"] = d.allow;
        rule["type"] = d.type;
        put_optional(rule, "major", d.major);
        put_optional(rule, "minor", d.minor);
        rule["access"] = d.access;
        return rule;
    });
    if (r.memory) {
        const auto& m = *r.memory;
        ojson mem = ojson::object();
        put_optional(mem, "limit", m.limit);
        put_optional(mem, "reservation", m.reservation);
        put_optional(mem, "swap", m.swap);
        put_optional(mem, "kernel", m.kernel);
        put_optional(mem, "kernelTCP", m.kernel_tcp);
        put_optional(mem, "swappiness", m.swappiness);
        put_optional(mem, "disableOOMKiller", m.disable_oom_killer);
        put_optional(mem, "useHierarchy", m.use_hierarchy);
        put_optional(mem, "checkBeforeUpdate", m.check_before_update);
        o["memory"] = std::move(mem);
    }
    if (r.cpu) {
        const auto& c = *r.cpu;
        ojson cpu = ojson::object();
        put_optional(cpu, "shares", c.shares);
        put_optional(cpu, "quota", c.quota);
        put_optional(cpu, "burst", c.burst);
        put_optional(cpu, "period", c.period);
        put_optional(cpu, "realtimeRuntime", c.realtime_runtime);
        put_optional(cpu, "realtimePeriod", c.realtime_period);
        put_string(cpu, "cpus", c.cpus);
        put_string(cpu, "mems", c.mems);
        put_optional(cpu, "idle", c.idle);
        o["cpu"] = std::move(cpu);
    }
    if (r.pids) o["pids"] = {{"limit", r.pids->limit}};
    if (r.block_io) {
        const auto& b = *r.block_io;
        ojson bio = ojson::object();
        put_optional(bio, "weight", b.weight);
        put_optional(bio, "leafWeight", b.leaf_weight);
        put_list(bio, "weightDevice", b.weight_device, [](const isolation::WeightDevice& d) {
            ojson w{{"major", d.major}, {"minor", d.minor}};
            put_optional(w, "weight", d.weight);
            put_optional(w, "leafWeight", d.leaf_weight);
            return w;
        });
        put_list(bio, "throttleReadBpsDevice", b.throttle_read_bps_device, throttle_json);
        put_list(bio, "throttleWriteBpsDevice", b.throttle_write_bps_device, throttle_json);
        put_list(bio, "throttleReadIOPSDevice", b.throttle_read_iops_device, throttle_json);
        put_list(bio, "throttleWriteIOPSDevice", b.throttle_write_iops_device, throttle_json);
        o["blockIO"] = std::move(bio);
    }
    put_list(o, "hugepageLimits", r.hugepage_limits, [](const isolation::HugepageLimit& h) {
        return ojson{{"pageSize", h.page_size}, {"limit", h.limit}};
    });
    put_string_map(o, "unified", r.unified);
    return o;
}

ojson seccomp_json(const isolation::SeccompConfig& s) {
    ojson o;
    o["defaultAction"] = s.default_action;
    put_optional(o, "defaultErrnoRet", s.default_errno_ret);
    put_strings(o, "architectures", s.architectures);
    put_strings(o, "flags", s.flags);
    put_string(o, "listenerPath", s.listener_path);
    put_list(o, "syscalls", s.syscalls, [](const isolation::SeccompRule& r) {
        ojson rule;
        rule["names"] = r.names;
        rule["action"] = r.action;
        put_optional(rule, "errnoRet", r.errno_ret);
        put_list(rule, "args", r.args, [](const isolation::SeccompArg& a) {
            ojson arg{{"index", a.index}, {"value", a.value}};
            if (a.value_two != 0) arg["valueTwo"] = a.value_two;
            arg["op"] = a.op;
            return arg;
        });
        return rule;
    });
    return o;
}

ojson linux_json(const Linux& l) {
    ojson o = ojson::object();
    put_list(o, "uidMappings", l.uid_mappings, id_mapping_json);
    put_list(o, "gidMappings", l.gid_mappings, id_mapping_json);
    put_string_map(o, "sysctl", l.sysctl);
    if (l.resources) o["resources"] = resources_json(*l.resources);
    put_string(o, "cgroupsPath", l.cgroups_path);
    put_list(o, "namespaces", l.namespaces, [](const Namespace& ns) {
        ojson n{{"type", ns.type}};
        put_string(n, "path", ns.path);
        return n;
    });
    if (!l.time_offsets.empty()) {
        ojson offsets = ojson::object();
        for (const auto& [clock, off] : l.time_offsets)
            offsets[clock] = {{"secs", off.secs}, {"nanosecs", off.nanosecs}};
        o["timeOffsets"] = std::move(offsets);
    }
    put_list(o, "devices", l.devices, [](const Device& d) {
        ojson dev{{"path", d.path}, {"type", d.type}, {"major", d.major}, {"minor", d.minor}};
        put_optional(dev, "fileMode", d.file_mode);
        put_optional(dev, "uid", d.uid);
        put_optional(dev, "gid", d.gid);
        return dev;
    });
    if (l.seccomp) o["seccomp"] = seccomp_json(*l.seccomp);
    put_string(o, "rootfsPropagation", l.rootfs_propagation);
    put_strings(o, "maskedPaths", l.masked_paths);
    put_strings(o, "readonlyPaths", l.readonly_paths);
    put_string(o, "mountLabel", l.mount_label);
    return o;
}

ojson spec_json(const Spec& spec) {
    ojson o;
    o["ociVersion"] = spec.oci_version;
    if (spec.process) o["process"] = process_json(*spec.process);
    o["root"] = {{"path", spec.root_path}, {"readonly", spec.root_readonly}};
    put_string(o, "hostname", spec.hostname);
    put_string(o, "domainname", spec.domainname);
    put_list(o, "mounts", spec.mounts, mount_json);
    if (spec.hooks) o["hooks"] = hooks_json(*spec.hooks);
    put_string_map(o, "annotations", spec.annotations);
    if (spec.linux) o["linux"] = linux_json(*spec.linux);
    return o;
}

}  // namespace

Result<Spec> parse_spec(const std::string& json_text) {
    return parse_named(json_text, "config.json", false);
}

Result<Spec> load_spec(const std::string& bundle) {
    std::string path = bundle + "/config.json";
    auto text = fs::read_file(path);
    if (!text) return std::move(text).error().context("load spec");
    return parse_named(*text, path, true);
}

Result<isolation::Resources> parse_resources(const std::string& json_text) {
    json doc;
    try {
        doc = json::parse(json_text);
    } catch (const json::parse_error& e) {
        return Error(EINVAL, "syntax error at byte " + std::to_string(e.byte) + ": " +
                                 parse_error_detail(e.what()));
    } catch (const std::exception& e) {
        return Error(EINVAL, e.what());
    }
    isolation::Resources out;
    try {
        if (!doc.is_object()) return Error(EINVAL, "expected an object (linux.resources)");
        // The root is the resources object, so field paths read "memory.limit".
        if (auto s = read_value(doc, "", out); !s) return Error(EINVAL, s.error().message());
    } catch (const std::exception& e) {
        return Error(EINVAL, e.what());
    }
    return out;
}

std::string resources_to_json(const isolation::Resources& resources) {
    return resources_json(resources).dump(-1, ' ', false, ojson::error_handler_t::replace);
}

std::string spec_to_json(const Spec& spec) {
    // Strings set by callers may hold invalid UTF-8; replacing it (instead of nlohmann's
    // default, throwing) keeps this function total.
    return spec_json(spec).dump(1, '\t', false, ojson::error_handler_t::replace) + "\n";
}

int rlimit_resource(const std::string& name) {
    static const std::pair<const char*, int> kRlimits[] = {
        {"RLIMIT_AS", RLIMIT_AS},
        {"RLIMIT_CORE", RLIMIT_CORE},
        {"RLIMIT_CPU", RLIMIT_CPU},
        {"RLIMIT_DATA", RLIMIT_DATA},
        {"RLIMIT_FSIZE", RLIMIT_FSIZE},
        {"RLIMIT_LOCKS", RLIMIT_LOCKS},
        {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
        {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
        {"RLIMIT_NICE", RLIMIT_NICE},
        {"RLIMIT_NOFILE", RLIMIT_NOFILE},
        {"RLIMIT_NPROC", RLIMIT_NPROC},
        {"RLIMIT_RSS", RLIMIT_RSS},
        {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
        {"RLIMIT_RTTIME", RLIMIT_RTTIME},
        {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
        {"RLIMIT_STACK", RLIMIT_STACK},
    };
    for (const auto& [n, resource] : kRlimits)
        if (name == n) return resource;
    return -1;
}

}  // namespace skiff::runtime
