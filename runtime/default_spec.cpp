// default_spec: the hardened config.json `skiff-oci spec` writes, modelled on `runc spec`.
#include "skiff/runtime/spec.hpp"

namespace skiff::runtime {

Spec default_spec(bool rootless, uint32_t uid, uint32_t gid) {
    Spec spec;
    spec.oci_version = "1.2.0";
    spec.root_path = "rootfs";
    spec.root_readonly = true;
    spec.hostname = "skiff";

    Process process;
    // runc writes terminal: true; false lets `skiff-oci run` work from scripts and CI, where
    // there is no controlling terminal to hand over.
    process.terminal = false;
    process.args = {"sh"};
    process.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                   "TERM=xterm"};
    process.cwd = "/";
    const auto caps = isolation::default_capabilities();
    process.capabilities = isolation::CapabilitySets{
        .bounding = caps, .effective = caps, .inheritable = {}, .permitted = caps, .ambient = {}};
    process.rlimits = {{.type = "RLIMIT_NOFILE", .soft = 1024, .hard = 1024}};
    process.no_new_privileges = true;
    spec.process = std::move(process);

    std::vector<std::string> devpts = {"nosuid", "noexec", "newinstance", "ptmxmode=0666",
                                       "mode=0620"};
    // A rootless container maps only the caller's gid, so gid 5 (tty) does not exist in it.
    if (!rootless) devpts.push_back("gid=5");
    spec.mounts = {
        {.destination = "/proc", .type = "proc", .source = "proc"},
        {.destination = "/dev",
         .type = "tmpfs",
         .source = "tmpfs",
         .options = {"nosuid", "strictatime", "mode=755", "size=65536k"}},
        {.destination = "/dev/pts", .type = "devpts", .source = "devpts", .options = devpts},
        {.destination = "/dev/shm",
         .type = "tmpfs",
         .source = "shm",
         .options = {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
        {.destination = "/dev/mqueue",
         .type = "mqueue",
         .source = "mqueue",
         .options = {"nosuid", "noexec", "nodev"}},
    };
    // sysfs mounts for the owner of the network namespace, which a rootless container's new one
    // is; where it is refused (a shared host netns), the runtime binds the host's /sys instead.
    spec.mounts.push_back({.destination = "/sys",
                           .type = "sysfs",
                           .source = "sysfs",
                           .options = {"nosuid", "noexec", "nodev", "ro"}});
    // cgroup v1 file systems cannot be mounted in a user namespace at all.
    if (!rootless)
        spec.mounts.push_back({.destination = "/sys/fs/cgroup",
                               .type = "cgroup",
                               .source = "cgroup",
                               .options = {"nosuid", "noexec", "nodev", "relatime", "ro"}});

    Linux linux;
    // runc --rootless drops the network namespace to share the host's; keeping it isolates
    // the container (it gets only lo), which is the safer default, and a user namespace's
    // owner may make one.
    linux.namespaces = {{.type = "pid"}, {.type = "network"}, {.type = "ipc"},
                        {.type = "uts"}, {.type = "mount"},   {.type = "cgroup"}};
    if (rootless) {
        linux.namespaces.push_back({.type = "user"});
        linux.uid_mappings = {{.container_id = 0, .host_id = uid, .size = 1}};
        linux.gid_mappings = {{.container_id = 0, .host_id = gid, .size = 1}};
    } else {
        // Deny every device; the runtime then allows the default ones (null, zero, tty, ...)
        // itself, so a config cannot forget them.
        isolation::Resources resources;
        resources.devices = {{.allow = false, .access = "rwm"}};
        linux.resources = std::move(resources);
    }
    // Docker's lists: files that leak host information or allow host changes from inside.
    linux.masked_paths = {"/proc/asound",
                          "/proc/acpi",
                          "/proc/kcore",
                          "/proc/keys",
                          "/proc/latency_stats",
                          "/proc/timer_list",
                          "/proc/timer_stats",
                          "/proc/sched_debug",
                          "/proc/scsi",
                          "/sys/firmware",
                          "/sys/devices/virtual/powercap"};
    linux.readonly_paths = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                            "/proc/sysrq-trigger"};
    linux.seccomp = isolation::default_seccomp_profile(caps);
    spec.linux = std::move(linux);
    return spec;
}

}  // namespace skiff::runtime
