// The container's root file system: mounts, devices, pivot_root, masked and read-only paths.
// The plan is built before clone; the steps run in the child and allocate nothing.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "skiff/base/result.hpp"
#include "skiff/isolation/child_error.hpp"

namespace skiff::isolation {

// mount(2) arguments decoded from an OCI options list ("ro", "nosuid", "rbind", "size=64k").
struct MountFlags {
    unsigned long flags = 0;        // MS_* flags set
    unsigned long clear = 0;        // MS_* flags explicitly cleared ("rw", "suid", "dev", "exec")
    unsigned long propagation = 0;  // MS_SHARED / MS_SLAVE / MS_PRIVATE / MS_UNBINDABLE (| MS_REC)
    bool bind = false;
    std::string data;  // the options mount(2) passes to the file system ("size=65536k,mode=755")
};
// Unknown flag-like options are passed to the file system as data, as runc does.
[[nodiscard]] Result<MountFlags> parse_mount_options(const std::vector<std::string>& options);
// "rprivate" etc. to MS_* flags; 0 for "".
[[nodiscard]] Result<unsigned long> parse_propagation(const std::string& name);

struct MountStep {
    enum class Kind { filesystem, bind, cgroup };
    Kind kind = Kind::filesystem;
    std::string source;       // host path for binds, the device/name for file systems
    std::string destination;  // absolute path inside the container
    std::string fstype;
    MountFlags flags;
    bool source_is_dir = true;  // binds: make a directory or an empty file as the mount point
    // cgroup mounts: one entry per hierarchy, mounted below destination after a tmpfs
    struct Hierarchy {
        std::string name;    // subdirectory: "memory", "cpu", "unified"
        std::string fstype;  // "cgroup" or "cgroup2"
        std::string data;    // "memory" / "name=systemd" / ""
        std::string bind_source;  // host dir to bind instead (no cgroup namespace)
    };
    std::vector<Hierarchy> hierarchies;
};

struct DeviceNode {
    std::string path;  // absolute inside the container
    char type = 'c';   // c, b, u, p
    uint32_t major = 0, minor = 0;
    uint32_t mode = 0666;
    uint32_t uid = 0, gid = 0;
};

struct RootfsPlan {
    std::string rootfs;  // absolute host path
    bool no_pivot = false;
    bool readonly_root = false;
    bool user_namespace = false;  // devices are bind-mounted from the host, flags kept
    bool make_default_devices = false;  // /dev is a fresh mount: add null, zero, ... and links
    bool console = false;               // make /dev/console for a terminal
    unsigned long root_propagation = 0;  // applied to "/" first (default MS_SLAVE|MS_REC)
    unsigned long final_propagation = 0;  // rootfsPropagation, applied to the new root at the end
    std::vector<MountStep> mounts;
    std::vector<DeviceNode> devices;
    std::vector<std::string> masked_paths, readonly_paths;
};

// The default devices every container gets (null, zero, full, random, urandom, tty).
std::vector<DeviceNode> default_devices();

// Step 1, in the new mount namespace: propagation, the rootfs bind, every mount, the devices.
int prepare_rootfs(const RootfsPlan& plan, ChildError& err) noexcept;
// The same in two calls: with stop_before_cgroup, it stops at the first cgroup mount (which needs
// the container's cgroups and cgroup namespace); a second call continues where it stopped.
struct RootfsProgress {
    bool bound = false;
    size_t next_mount = 0;
};
int prepare_rootfs(const RootfsPlan& plan, RootfsProgress& progress, bool stop_before_cgroup,
                   ChildError& err) noexcept;
// Step 2: pivot_root into the rootfs (or MS_MOVE + chroot with no_pivot).
int enter_rootfs(const RootfsPlan& plan, ChildError& err) noexcept;
// Step 3, inside: masked paths, read-only paths, read-only root, final propagation.
int finish_rootfs(const RootfsPlan& plan, ChildError& err) noexcept;
// Inside the new root: binds the terminal pty_path onto /dev/console (made a plain file by
// prepare_rootfs), through an fd of /dev/console opened without following a symlink.
int mount_console(const char* pty_path, ChildError& err) noexcept;

// Opens path (absolute inside the root that rootfd is) with every symlink resolved inside that
// root (openat2 RESOLVE_IN_ROOT). Returns an fd or -1 with errno.
int open_in_root(int rootfd, const char* path, int flags) noexcept;
// Makes open_in_root walk the path itself, as it does where openat2 is missing (for tests).
void set_open_in_root_walk(bool walk) noexcept;
// Creates the missing directories of path inside the root, and the last component as a
// directory or (file=true) an empty file. Returns 0 or -1 with errno.
int make_path_in_root(int rootfd, const char* path, bool file) noexcept;

}  // namespace skiff::isolation
