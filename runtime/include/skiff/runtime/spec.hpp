// The OCI runtime-spec v1.2 configuration (config.json) for Linux, parsed and validated.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "skiff/base/result.hpp"
#include "skiff/isolation/capabilities.hpp"
#include "skiff/isolation/cgroup.hpp"
#include "skiff/isolation/seccomp.hpp"

namespace skiff::runtime {

struct IdMapping {
    uint32_t container_id = 0, host_id = 0, size = 0;
};

struct Mount {
    std::string destination;  // absolute, inside the container
    std::string type;         // "bind", "proc", "tmpfs", ... ("" for bind mounts by option)
    std::string source;
    std::vector<std::string> options;
    std::vector<IdMapping> uid_mappings, gid_mappings;
};

struct Rlimit {
    std::string type;  // "RLIMIT_NOFILE"
    uint64_t soft = 0, hard = 0;
};

struct User {
    uint32_t uid = 0, gid = 0;
    std::optional<uint32_t> umask;
    std::vector<uint32_t> additional_gids;
    std::string username;
};

struct ConsoleSize {
    unsigned height = 0, width = 0;
};

struct Process {
    bool terminal = false;
    std::optional<ConsoleSize> console_size;
    std::string cwd = "/";
    std::vector<std::string> env;
    std::vector<std::string> args;
    User user;
    std::optional<isolation::CapabilitySets> capabilities;
    std::vector<Rlimit> rlimits;
    bool no_new_privileges = false;
    std::string apparmor_profile, selinux_label;
    std::optional<int> oom_score_adj;
};

struct Hook {
    std::string path;
    std::vector<std::string> args, env;
    std::optional<int> timeout;  // seconds, > 0
};

struct Hooks {
    std::vector<Hook> prestart, create_runtime, create_container, start_container, poststart,
        poststop;
};

struct Namespace {
    std::string type;  // pid, network, mount, ipc, uts, user, cgroup, time
    std::string path;  // join this namespace instead of making a new one
};

struct Device {
    std::string type;  // c, b, u, p
    std::string path;
    int64_t major = 0, minor = 0;
    std::optional<uint32_t> file_mode;
    std::optional<uint32_t> uid, gid;
};

struct TimeOffset {
    int64_t secs = 0;
    uint32_t nanosecs = 0;
};

struct Linux {
    std::vector<Namespace> namespaces;
    std::vector<IdMapping> uid_mappings, gid_mappings;
    std::map<std::string, TimeOffset> time_offsets;  // "monotonic", "boottime"
    std::vector<Device> devices;
    std::string cgroups_path;
    std::optional<isolation::Resources> resources;
    std::map<std::string, std::string> sysctl;
    std::optional<isolation::SeccompConfig> seccomp;
    std::string rootfs_propagation;  // "", private, rprivate, slave, rslave, shared, rshared, unbindable, runbindable
    std::vector<std::string> masked_paths, readonly_paths;
    std::string mount_label;

    const Namespace* find_namespace(const std::string& type) const {
        for (const auto& ns : namespaces)
            if (ns.type == type) return &ns;
        return nullptr;
    }
};

struct Spec {
    std::string oci_version;
    std::string root_path;  // as written: relative to the bundle or absolute
    bool root_readonly = false;
    std::vector<Mount> mounts;
    std::optional<Process> process;
    std::string hostname, domainname;
    std::optional<Hooks> hooks;
    std::map<std::string, std::string> annotations;
    std::optional<Linux> linux;
};

// Parses config.json text. Syntax errors give the byte offset; wrong types and missing required
// fields name the field path ("process.args: must be an array of strings"). Unknown fields are
// ignored (forward compatible, as the spec asks).
[[nodiscard]] Result<Spec> parse_spec(const std::string& json_text);
// Reads and parses BUNDLE/config.json.
[[nodiscard]] Result<Spec> load_spec(const std::string& bundle);

// Checks what parsing cannot: the namespace types, unique namespaces, absolute mount
// destinations, known rlimit and capability names, seccomp actions, id mappings with a user
// namespace, hostname only with a UTS namespace, sysctl allowed for the namespaces. Errors name
// the field.
[[nodiscard]] Status validate_spec(const Spec& spec);

// An OCI LinuxResources object on its own (the shape of config.json's linux.resources), as
// `skiff-oci update --resources` takes it. Errors name the field ("memory.limit: expected an
// integer").
[[nodiscard]] Result<isolation::Resources> parse_resources(const std::string& json_text);
// linux.resources as JSON text (compact), the inverse of parse_resources.
std::string resources_to_json(const isolation::Resources& resources);

// Serialises back to config.json text (for `skiff-oci spec` and for the state of a container).
std::string spec_to_json(const Spec& spec);

// The secure default config `skiff-oci spec` writes: sh as the process, Docker's 14
// capabilities, the default seccomp profile, noNewPrivileges, Docker's masked and read-only
// paths, the standard mounts (/proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys,
// /sys/fs/cgroup), new pid, network, ipc, uts and mount namespaces (and cgroup namespace).
// rootless: adds a user namespace mapped to the calling user, no cgroup resources, /sys as a
// bind mount, as `runc spec --rootless` does.
Spec default_spec(bool rootless = false, uint32_t uid = 0, uint32_t gid = 0);

// Rlimit names ("RLIMIT_NOFILE") to resource numbers; -1 when unknown.
int rlimit_resource(const std::string& name);

}  // namespace skiff::runtime
