// Root file system setup in the container's mount namespace: mounts, devices, pivot_root, masks.
#include "skiff/isolation/rootfs.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <climits>
#include <cstring>

namespace skiff::isolation {
namespace {

struct FlagName {
    const char* name;
    bool clear;
    unsigned long flag;
};

constexpr FlagName kFlags[] = {
    {"ro", false, MS_RDONLY},          {"rw", true, MS_RDONLY},
    {"nosuid", false, MS_NOSUID},      {"suid", true, MS_NOSUID},
    {"nodev", false, MS_NODEV},        {"dev", true, MS_NODEV},
    {"noexec", false, MS_NOEXEC},      {"exec", true, MS_NOEXEC},
    {"sync", false, MS_SYNCHRONOUS},   {"async", true, MS_SYNCHRONOUS},
    {"dirsync", false, MS_DIRSYNC},    {"remount", false, MS_REMOUNT},
    {"mand", false, MS_MANDLOCK},      {"nomand", true, MS_MANDLOCK},
    {"atime", true, MS_NOATIME},       {"noatime", false, MS_NOATIME},
    {"diratime", true, MS_NODIRATIME}, {"nodiratime", false, MS_NODIRATIME},
    {"relatime", false, MS_RELATIME},  {"norelatime", true, MS_RELATIME},
    {"strictatime", false, MS_STRICTATIME}, {"nostrictatime", true, MS_STRICTATIME},
    {"silent", false, MS_SILENT},      {"loud", true, MS_SILENT},
};

struct PropagationName {
    const char* name;
    unsigned long flags;
};

constexpr PropagationName kPropagation[] = {
    {"private", MS_PRIVATE},         {"rprivate", MS_PRIVATE | MS_REC},
    {"shared", MS_SHARED},           {"rshared", MS_SHARED | MS_REC},
    {"slave", MS_SLAVE},             {"rslave", MS_SLAVE | MS_REC},
    {"unbindable", MS_UNBINDABLE},   {"runbindable", MS_UNBINDABLE | MS_REC},
};

// Flags a bind remount must keep: in a user namespace the kernel refuses to clear locked ones.
unsigned long locked_flags(const char* path) {
    struct statvfs st{};
    if (statvfs(path, &st) != 0) return 0;
    unsigned long out = 0;
    if (st.f_flag & ST_NOSUID) out |= MS_NOSUID;
    if (st.f_flag & ST_NODEV) out |= MS_NODEV;
    if (st.f_flag & ST_NOEXEC) out |= MS_NOEXEC;
    if (st.f_flag & ST_RDONLY) out |= MS_RDONLY;
    return out;
}

// "/proc/self/fd/N": how a mount is pointed at an fd resolved safely inside the rootfs.
struct FdPath {
    char text[32];
    explicit FdPath(int fd) { snprintf(text, sizeof text, "/proc/self/fd/%d", fd); }
};

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    void reset(int fd) {
        if (fd_ >= 0) close(fd_);
        fd_ = fd;
    }

private:
    int fd_;
};

// After pivot_root, "/proc/self/fd/N" is looked up in the container's /proc, which the image
// could fake (a directory of symlinks) when the config mounts no procfs there: use those paths only
// once /proc is known to be the root of a procfs.
int check_proc_for_fd_paths(ChildError& err) {
    Fd proc(open("/proc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct statfs sfs{};
    struct stat st{};
    if (proc.get() < 0 || fstatfs(proc.get(), &sfs) != 0 || fstat(proc.get(), &st) != 0)
        return err.fail(errno, "open the container's /proc");
    constexpr ino_t kProcRootIno = 1;
    if (sfs.f_type != PROC_SUPER_MAGIC || st.st_ino != kProcRootIno)
        return err.fail(EINVAL, "the container's /proc is not a procfs mount: masked and read-only "
                                "paths are mounted through /proc/self/fd and can't be applied");
    return 0;
}

// Binds the file or directory (src_dirfd, src_path) onto the inode target_fd holds, without any
// path lookup on the target's side: open_tree + move_mount (Linux 5.2). Before that, through
// /proc/self/fd/N, once /proc is checked. src_path "" names src_dirfd itself.
int bind_onto_fd(int src_dirfd, const char* src_path, int target_fd, ChildError& err,
                 const char* what) {
    unsigned open_flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (*src_path ? 0U : AT_EMPTY_PATH);
    Fd tree(static_cast<int>(syscall(SYS_open_tree, src_dirfd, src_path, open_flags)));
    if (tree.get() >= 0) {
        if (syscall(SYS_move_mount, tree.get(), "", target_fd, "",
                    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
            return err.fail(errno, "%s", what);
        return 0;
    }
    if (errno != ENOSYS) return err.fail(errno, "%s", what);
    if (check_proc_for_fd_paths(err) != 0) return -1;
    FdPath where(target_fd);
    FdPath src_fd_path(src_dirfd);
    const char* src = *src_path ? src_path : src_fd_path.text;
    if (mount(src, where.text, nullptr, MS_BIND, nullptr) != 0) return err.fail(errno, "%s", what);
    return 0;
}

int remount_bind(const char* target, unsigned long flags, bool keep_locked) {
    unsigned long f = MS_BIND | MS_REMOUNT | flags;
    if (keep_locked) f |= locked_flags(target);
    return mount(nullptr, target, nullptr, f, nullptr);
}

// True when some component of path (inside the root) is a symlink; -1 with errno on errors other
// than a missing component (what is missing will be made as a directory, not a link).
int path_has_symlink(int rootfd, const char* path) {
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= static_cast<int>(sizeof buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
    if (cur < 0) return -1;
    int result = 0;
    for (char* p = buf; *p;) {
        while (*p == '/') ++p;
        if (!*p) break;
        char* end = p;
        while (*end && *end != '/') ++end;
        char saved = *end;
        *end = '\0';
        struct stat st{};
        if (fstatat(cur, p, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            result = errno == ENOENT ? 0 : -1;
            break;
        }
        if (S_ISLNK(st.st_mode)) {
            result = 1;
            break;
        }
        int next = openat(cur, p, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            result = -1;
            break;
        }
        close(cur);
        cur = next;
        *end = saved;
        p = end;
    }
    int e = errno;
    close(cur);
    errno = e;
    return result;
}

int mount_one(const RootfsPlan& plan, int rootfd, const MountStep& m, ChildError& err) {
    const char* dest = m.destination.c_str();
    bool file = m.kind == MountStep::Kind::bind && !m.source_is_dir;
    // procfs and sysfs only where the image has plain directories: one mounted through a symlink
    // would leave the masked and read-only paths (and the expected /proc) elsewhere, as runc's
    // fix of CVE-2019-19921 refuses too.
    if (m.kind == MountStep::Kind::filesystem && (m.fstype == "proc" || m.fstype == "sysfs")) {
        int linked = path_has_symlink(rootfd, dest);
        if (linked < 0) return err.fail(errno, "check mount point %s", dest);
        if (linked)
            return err.fail(ELOOP, "mount point %s of %s is a symlink in the rootfs (not allowed)",
                            dest, m.fstype.c_str());
    }
    if (make_path_in_root(rootfd, dest, file) != 0)
        return err.fail(errno, "create mount point %s", dest);
    Fd target(open_in_root(rootfd, dest, O_PATH | O_CLOEXEC));
    if (target.get() < 0) return err.fail(errno, "open mount point %s", dest);
    FdPath where(target.get());
    const MountFlags& f = m.flags;
    const char* data = f.data.empty() ? nullptr : f.data.c_str();

    if (m.kind == MountStep::Kind::bind) {
        unsigned long bind_flags = MS_BIND | (f.flags & MS_REC);
        if (mount(m.source.c_str(), where.text, nullptr, bind_flags, nullptr) != 0)
            return err.fail(errno, "bind mount %s on %s", m.source.c_str(), dest);
        unsigned long extra = f.flags & ~(MS_REC | MS_BIND | MS_REMOUNT);
        if (extra != 0) {
            // Re-resolve: the fd still names the directory under the new mount.
            target.reset(open_in_root(rootfd, dest, O_PATH | O_CLOEXEC));
            FdPath top(target.get());
            if (target.get() < 0 || remount_bind(top.text, extra, plan.user_namespace) != 0)
                return err.fail(errno, "remount %s with its options", dest);
        }
    } else if (m.kind == MountStep::Kind::cgroup) {
        // A tmpfs holding one mount per hierarchy, as runc lays out /sys/fs/cgroup on v1 hosts.
        if (m.hierarchies.size() == 1 && m.hierarchies[0].name.empty()) {
            const auto& h = m.hierarchies[0];
            int rc = h.bind_source.empty()
                         ? mount("cgroup2", where.text, "cgroup2", f.flags & ~MS_RDONLY, nullptr)
                         : mount(h.bind_source.c_str(), where.text, nullptr, MS_BIND | MS_REC,
                                 nullptr);
            if (rc != 0) return err.fail(errno, "mount cgroup2 on %s", dest);
            if (f.flags & MS_RDONLY) {
                target.reset(open_in_root(rootfd, dest, O_PATH | O_CLOEXEC));
                FdPath top(target.get());
                if (target.get() < 0 ||
                    remount_bind(top.text, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                                 plan.user_namespace) != 0)
                    return err.fail(errno, "make %s read-only", dest);
            }
        } else {
            if (mount("tmpfs", where.text, "tmpfs", (f.flags & ~MS_RDONLY), "mode=755") != 0)
                return err.fail(errno, "mount tmpfs for cgroups on %s", dest);
            target.reset(open_in_root(rootfd, dest, O_PATH | O_DIRECTORY | O_CLOEXEC));
            if (target.get() < 0) return err.fail(errno, "open %s", dest);
            for (const auto& h : m.hierarchies) {
                if (mkdirat(target.get(), h.name.c_str(), 0755) != 0 && errno != EEXIST)
                    return err.fail(errno, "mkdir %s/%s", dest, h.name.c_str());
                Fd sub(openat(target.get(), h.name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW |
                                                                O_CLOEXEC));
                if (sub.get() < 0) return err.fail(errno, "open %s/%s", dest, h.name.c_str());
                FdPath subpath(sub.get());
                int rc;
                if (!h.bind_source.empty())
                    rc = mount(h.bind_source.c_str(), subpath.text, nullptr, MS_BIND | MS_REC,
                               nullptr);
                else
                    rc = mount("cgroup", subpath.text, h.fstype.c_str(),
                               (f.flags & ~MS_RDONLY) | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                               h.data.empty() ? nullptr : h.data.c_str());
                if (rc != 0)
                    return err.fail(errno, "mount %s cgroup on %s/%s", h.fstype.c_str(), dest,
                                    h.name.c_str());
                if (f.flags & MS_RDONLY) {
                    // Reopen: the old fd names the directory under the new mount.
                    sub.reset(openat(target.get(), h.name.c_str(),
                                     O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
                    FdPath top(sub.get());
                    if (sub.get() < 0 ||
                        remount_bind(top.text, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                                     plan.user_namespace) != 0)
                        return err.fail(errno, "make %s/%s read-only", dest, h.name.c_str());
                }
            }
            if (f.flags & MS_RDONLY) {
                target.reset(open_in_root(rootfd, dest, O_PATH | O_CLOEXEC));
                FdPath top(target.get());
                if (target.get() < 0 ||
                    remount_bind(top.text, MS_RDONLY | (f.flags & ~MS_REC), plan.user_namespace) != 0)
                    return err.fail(errno, "make %s read-only", dest);
            }
        }
    } else {
        int rc = mount(m.source.empty() ? m.fstype.c_str() : m.source.c_str(), where.text,
                       m.fstype.c_str(), f.flags & ~MS_REMOUNT, data);
        if (rc != 0 && errno == EPERM && plan.user_namespace && m.fstype == "sysfs") {
            // sysfs mounts only for the owner of the network namespace: a user namespace that
            // shares the host's gets the host's /sys bound (recursively) instead, as runc does.
            rc = mount("/sys", where.text, nullptr, MS_BIND | MS_REC, nullptr);
            unsigned long keep = f.flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
            if (rc == 0 && keep != 0) {
                target.reset(open_in_root(rootfd, dest, O_PATH | O_CLOEXEC));
                FdPath top(target.get());
                if (target.get() < 0 || remount_bind(top.text, keep, true) != 0)
                    return err.fail(errno, "remount the bound /sys on %s with its options", dest);
            }
            if (rc != 0) return err.fail(errno, "bind /sys on %s (sysfs was refused)", dest);
        }
        if (rc != 0)
            return err.fail(errno, "mount %s (%s) on %s", m.source.c_str(), m.fstype.c_str(),
                            dest);
    }
    if (f.propagation != 0) {
        target.reset(open_in_root(rootfd, dest, O_PATH | O_CLOEXEC));
        FdPath top(target.get());
        if (target.get() < 0 || mount(nullptr, top.text, nullptr, f.propagation, nullptr) != 0)
            return err.fail(errno, "set propagation of %s", dest);
    }
    return 0;
}

// The default nodes as plain data, so the init can make them without building strings.
struct StaticDevice {
    const char* path;
    char type;
    uint32_t major, minor, mode, uid, gid;
};
constexpr StaticDevice kDefaultDevices[] = {
    {"/dev/null", 'c', 1, 3, 0666, 0, 0},    {"/dev/zero", 'c', 1, 5, 0666, 0, 0},
    {"/dev/full", 'c', 1, 7, 0666, 0, 0},    {"/dev/random", 'c', 1, 8, 0666, 0, 0},
    {"/dev/urandom", 'c', 1, 9, 0666, 0, 0}, {"/dev/tty", 'c', 5, 0, 0666, 0, 0}};

const char* path_of(const DeviceNode& d) { return d.path.c_str(); }
const char* path_of(const StaticDevice& d) { return d.path; }

template <class Node>
int make_device(const RootfsPlan& plan, int rootfd, const Node& d, ChildError& err) {
    const char* path = path_of(d);
    if (plan.user_namespace) {
        // mknod is refused in a user namespace: bind the host's node instead.
        if (make_path_in_root(rootfd, path, true) != 0)
            return err.fail(errno, "create %s", path);
        Fd target(open_in_root(rootfd, path, O_PATH | O_CLOEXEC));
        FdPath where(target.get());
        if (target.get() < 0 || mount(path, where.text, nullptr, MS_BIND, nullptr) != 0)
            return err.fail(errno, "bind device %s", path);
        return 0;
    }
    const char* slash = strrchr(path, '/');
    char parent[PATH_MAX];
    size_t plen = static_cast<size_t>(slash - path);
    if (plen == 0) plen = 1;
    if (plen >= sizeof parent) return err.fail(ENAMETOOLONG, "device path %s", path);
    memcpy(parent, path, plen);
    parent[plen] = '\0';
    if (make_path_in_root(rootfd, parent, false) != 0)
        return err.fail(errno, "create directory for %s", path);
    Fd dir(open_in_root(rootfd, parent, O_DIRECTORY | O_CLOEXEC));
    if (dir.get() < 0) return err.fail(errno, "open %s", parent);
    const char* name = slash + 1;
    mode_t type = d.type == 'b' ? S_IFBLK : d.type == 'p' ? S_IFIFO : S_IFCHR;
    unlinkat(dir.get(), name, 0);  // replace whatever the image had there
    if (mknodat(dir.get(), name, type | (d.mode & 07777), makedev(d.major, d.minor)) != 0)
        return err.fail(errno, "mknod %s", path);
    if (fchownat(dir.get(), name, d.uid, d.gid, AT_SYMLINK_NOFOLLOW) != 0)
        return err.fail(errno, "chown %s", path);
    // mknod's mode is masked by the umask; set it exactly.
    if (fchmodat(dir.get(), name, d.mode & 07777, 0) != 0) return err.fail(errno, "chmod %s", path);
    return 0;
}

int make_dev_links(int rootfd, ChildError& err) {
    Fd dev(open_in_root(rootfd, "/dev", O_DIRECTORY | O_CLOEXEC));
    if (dev.get() < 0) return err.fail(errno, "open /dev");
    struct Link {
        const char* name;
        const char* target;
    };
    constexpr Link links[] = {{"fd", "/proc/self/fd"},        {"stdin", "/proc/self/fd/0"},
                              {"stdout", "/proc/self/fd/1"},   {"stderr", "/proc/self/fd/2"},
                              {"core", "/proc/kcore"},         {"ptmx", "pts/ptmx"}};
    for (const auto& l : links) {
        if (strcmp(l.name, "ptmx") == 0) unlinkat(dev.get(), l.name, 0);
        if (symlinkat(l.target, dev.get(), l.name) != 0 && errno != EEXIST)
            return err.fail(errno, "symlink /dev/%s", l.name);
    }
    for (const char* dir : {"pts", "shm"})
        if (mkdirat(dev.get(), dir, 0755) != 0 && errno != EEXIST)
            return err.fail(errno, "mkdir /dev/%s", dir);
    return 0;
}

}  // namespace

Result<unsigned long> parse_propagation(const std::string& name) {
    if (name.empty()) return 0UL;
    for (const auto& p : kPropagation)
        if (name == p.name) return p.flags;
    return Error(EINVAL, "unknown propagation \"" + name + "\"");
}

Result<MountFlags> parse_mount_options(const std::vector<std::string>& options) {
    MountFlags out;
    for (const auto& opt : options) {
        if (opt == "bind") {
            out.bind = true;
            continue;
        }
        if (opt == "rbind") {
            out.bind = true;
            out.flags |= MS_REC;
            continue;
        }
        bool matched = false;
        for (const auto& f : kFlags) {
            if (opt != f.name) continue;
            if (f.clear) {
                out.flags &= ~f.flag;
                out.clear |= f.flag;
            } else {
                out.flags |= f.flag;
                out.clear &= ~f.flag;
            }
            matched = true;
        }
        for (const auto& p : kPropagation) {
            if (opt != p.name) continue;
            out.propagation = p.flags;
            matched = true;
        }
        if (matched) continue;
        if (opt == "tmpcopyup" || opt == "idmap" || opt == "ridmap")
            return Error(EINVAL, "mount option \"" + opt + "\" is not supported");
        if (!out.data.empty()) out.data += ',';
        out.data += opt;
    }
    return out;
}

std::vector<DeviceNode> default_devices() {
    std::vector<DeviceNode> out;
    for (const auto& d : kDefaultDevices)
        out.push_back({d.path, d.type, d.major, d.minor, d.mode, d.uid, d.gid});
    return out;
}

namespace {

// What walk_in_root makes of a missing component.
enum class Create { nothing, directories, directories_and_file };

// RESOLVE_IN_ROOT by hand: walk one component at a time with O_NOFOLLOW, restart absolute symlinks
// at the root, and never let ".." climb above it. It serves kernels before 5.6 and valgrind (which
// lack openat2), and make_path_in_root, which must create what a dangling symlink points to inside
// the root (as runc's securejoin does) rather than stop there. Fixed buffers only: this runs
// between clone and execve.
int walk_in_root(int rootfd, const char* path, int flags, Create create) noexcept {
    char pending[PATH_MAX];  // what is left to resolve
    if (snprintf(pending, sizeof pending, "%s", path) >= static_cast<int>(sizeof pending)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
    if (cur < 0) return -1;
    int depth = 0;  // how far below the root cur is, so ".." can stop there
    int links = 0;
    char* p = pending;
    auto fail = [&](int e) {
        close(cur);
        errno = e;
        return -1;
    };
    for (;;) {
        while (*p == '/') ++p;
        if (*p == '\0') {
            // The path named a directory we hold: reopen it with the caller's flags.
            int fd = openat(cur, ".", flags | O_CLOEXEC);
            int e = errno;
            close(cur);
            errno = e;
            return fd;
        }
        char* end = p;
        while (*end && *end != '/') ++end;
        bool last = true;
        for (char* q = end; *q; ++q)
            if (*q != '/') {
                last = false;
                break;
            }
        char saved = *end;
        *end = '\0';
        if (strcmp(p, ".") == 0) {
            *end = saved;
            p = end;
            continue;
        }
        if (strcmp(p, "..") == 0) {
            *end = saved;
            p = end;
            if (depth == 0) continue;  // ".." of the root is the root
            int up = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (up < 0) return fail(errno);
            close(cur);
            cur = up;
            --depth;
            continue;
        }
        struct stat st{};
        if (fstatat(cur, p, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT || create == Create::nothing) return fail(errno);
            // Made in the directory we hold (never through a path), then looked at again.
            int rc;
            if (last && create == Create::directories_and_file) {
                int fd = openat(cur, p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                rc = fd < 0 ? -1 : 0;
                if (fd >= 0) close(fd);
            } else {
                rc = mkdirat(cur, p, 0755);
            }
            if (rc != 0 && errno != EEXIST) return fail(errno);
            *end = saved;
            continue;
        }
        if (S_ISLNK(st.st_mode)) {
            if (++links > 40) return fail(ELOOP);
            char target[PATH_MAX];
            ssize_t n = readlinkat(cur, p, target, sizeof target - 1);
            if (n < 0) return fail(errno);
            target[n] = '\0';
            // New pending path: the link's target followed by what came after the link.
            char rest[PATH_MAX];
            *end = saved;
            if (snprintf(rest, sizeof rest, "%s%s", target, end) >= static_cast<int>(sizeof rest))
                return fail(ENAMETOOLONG);
            memcpy(pending, rest, strlen(rest) + 1);
            p = pending;
            if (target[0] == '/') {
                close(cur);
                cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
                if (cur < 0) return -1;
                depth = 0;
            }
            continue;
        }
        if (last) {
            int fd = openat(cur, p, flags | O_NOFOLLOW | O_CLOEXEC);
            int e = errno;
            close(cur);
            errno = e;
            return fd;
        }
        int next = openat(cur, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) return fail(errno);
        close(cur);
        cur = next;
        ++depth;
        *end = saved;
        p = end;
    }
}

}  // namespace

namespace {
bool have_openat2 = true;
}  // namespace

void set_open_in_root_walk(bool walk) noexcept { have_openat2 = !walk; }

int open_in_root(int rootfd, const char* path, int flags) noexcept {
    if (have_openat2) {
        open_how how{};
        how.flags = static_cast<uint64_t>(flags) | O_CLOEXEC;
        how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
        const char* rel = path;
        while (*rel == '/') ++rel;
        if (*rel == '\0') rel = ".";
        int fd = static_cast<int>(syscall(SYS_openat2, rootfd, rel, &how, sizeof how));
        if (fd >= 0 || errno != ENOSYS) return fd;
        have_openat2 = false;
    }
    return walk_in_root(rootfd, path, flags, Create::nothing);
}

int make_path_in_root(int rootfd, const char* path, bool file) noexcept {
    int fd = open_in_root(rootfd, path, O_PATH);
    if (fd < 0 && errno == ENOENT)
        fd = walk_in_root(rootfd, path, O_PATH,
                          file ? Create::directories_and_file : Create::directories);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

namespace {

// /dev/console as a plain file for the terminal to be bound on: whatever else the image has there
// (a symlink above all, which would carry the bind mount to its target) is replaced.
int prepare_console(int rootfd, ChildError& err) {
    if (make_path_in_root(rootfd, "/dev", false) != 0) return err.fail(errno, "create /dev");
    Fd dev(open_in_root(rootfd, "/dev", O_DIRECTORY | O_CLOEXEC));
    if (dev.get() < 0) return err.fail(errno, "open /dev");
    struct stat st{};
    if (fstatat(dev.get(), "console", &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISREG(st.st_mode) || S_ISCHR(st.st_mode)) return 0;
        if (unlinkat(dev.get(), "console", S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0)
            return err.fail(errno, "replace /dev/console (not a file or a character device)");
    } else if (errno != ENOENT) {
        return err.fail(errno, "stat /dev/console");
    }
    int fd = openat(dev.get(), "console", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return err.fail(errno, "create /dev/console");
    close(fd);
    return 0;
}

}  // namespace

int mount_console(const char* pty_path, ChildError& err) noexcept {
    Fd root(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (root.get() < 0) return err.fail(errno, "open /");
    Fd dev(open_in_root(root.get(), "/dev", O_PATH | O_DIRECTORY));
    if (dev.get() < 0) return err.fail(errno, "open /dev");
    Fd console(openat(dev.get(), "console", O_PATH | O_NOFOLLOW | O_CLOEXEC));
    struct stat st{};
    if (console.get() < 0 || fstat(console.get(), &st) != 0)
        return err.fail(errno, "open /dev/console");
    if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode))
        return err.fail(EINVAL, "/dev/console is not a file or a character device");
    char what[96];
    snprintf(what, sizeof what, "bind %s to /dev/console", pty_path);
    return bind_onto_fd(AT_FDCWD, pty_path, console.get(), err, what);
}

int prepare_rootfs(const RootfsPlan& plan, ChildError& err) noexcept {
    RootfsProgress progress;
    return prepare_rootfs(plan, progress, false, err);
}

int prepare_rootfs(const RootfsPlan& plan, RootfsProgress& progress, bool stop_before_cgroup,
                   ChildError& err) noexcept {
    const char* rootfs = plan.rootfs.c_str();
    if (!progress.bound) {
        unsigned long prop = plan.root_propagation ? plan.root_propagation : (MS_SLAVE | MS_REC);
        if (mount(nullptr, "/", nullptr, prop, nullptr) != 0)
            return err.fail(errno, "set propagation of /");
        if (mount(rootfs, rootfs, nullptr, MS_BIND | MS_REC, nullptr) != 0) {
            // In a user namespace the container's root is an ordinary host user.
            if (errno == EACCES && plan.user_namespace)
                return err.fail(errno,
                                "bind mount rootfs %s: the container's root (its mapped host "
                                "uid) cannot reach it; make the rootfs and its parent "
                                "directories accessible to that uid (chown the rootfs to it)",
                                rootfs);
            return err.fail(errno, "bind mount rootfs %s", rootfs);
        }
        progress.bound = true;
    }
    Fd root(open(rootfs, O_DIRECTORY | O_CLOEXEC));
    if (root.get() < 0) return err.fail(errno, "open rootfs %s", rootfs);
    for (; progress.next_mount < plan.mounts.size(); ++progress.next_mount) {
        const auto& m = plan.mounts[progress.next_mount];
        if (stop_before_cgroup && m.kind == MountStep::Kind::cgroup) return 0;
        if (mount_one(plan, root.get(), m, err) != 0) return -1;
    }
    if (stop_before_cgroup) return 0;
    if (plan.make_default_devices) {
        for (const auto& d : kDefaultDevices)
            if (make_device(plan, root.get(), d, err) != 0) return -1;
        if (make_dev_links(root.get(), err) != 0) return -1;
    }
    for (const auto& d : plan.devices)
        if (make_device(plan, root.get(), d, err) != 0) return -1;
    if (plan.console && prepare_console(root.get(), err) != 0) return -1;
    return 0;
}

int enter_rootfs(const RootfsPlan& plan, ChildError& err) noexcept {
    const char* rootfs = plan.rootfs.c_str();
    if (chdir(rootfs) != 0) return err.fail(errno, "chdir %s", rootfs);
    if (plan.no_pivot) {
        if (mount(rootfs, "/", nullptr, MS_MOVE, nullptr) != 0)
            return err.fail(errno, "move rootfs to /");
        if (chroot(".") != 0) return err.fail(errno, "chroot");
    } else {
        // pivot_root(".", ".") stacks the old root on the new one; detaching it leaves the new.
        if (syscall(SYS_pivot_root, ".", ".") != 0) return err.fail(errno, "pivot_root");
        // The old root may be shared with the host: make it slave before detaching.
        if (mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) != 0)
            return err.fail(errno, "make old root slave");
        if (umount2(".", MNT_DETACH) != 0) return err.fail(errno, "detach old root");
    }
    if (chdir("/") != 0) return err.fail(errno, "chdir /");
    return 0;
}

int finish_rootfs(const RootfsPlan& plan, ChildError& err) noexcept {
    Fd root(open("/", O_DIRECTORY | O_CLOEXEC));
    if (root.get() < 0) return err.fail(errno, "open /");
    bool proc_checked = false;
    auto fd_paths_safe = [&]() {
        if (proc_checked) return 0;
        if (check_proc_for_fd_paths(err) != 0) return -1;
        proc_checked = true;
        return 0;
    };
    for (const auto& p : plan.masked_paths) {
        Fd target(open_in_root(root.get(), p.c_str(), O_PATH | O_CLOEXEC));
        if (target.get() < 0) {
            if (errno == ENOENT) continue;
            return err.fail(errno, "open masked path %s", p.c_str());
        }
        struct stat st{};
        if (fstat(target.get(), &st) != 0) return err.fail(errno, "stat %s", p.c_str());
        FdPath where(target.get());
        if (S_ISDIR(st.st_mode)) {
            if (fd_paths_safe() != 0) return -1;
            if (mount("tmpfs", where.text, "tmpfs", MS_RDONLY, "size=0") != 0)
                return err.fail(errno, "mask %s", p.c_str());
        } else {
            // The container's own /dev/null, resolved inside the root and checked to be the
            // null device: a symlink or a file there would unmask, or leak, something else.
            Fd null(open_in_root(root.get(), "/dev/null", O_PATH | O_CLOEXEC));
            struct stat nst{};
            if (null.get() < 0 || fstat(null.get(), &nst) != 0 || !S_ISCHR(nst.st_mode) ||
                nst.st_rdev != makedev(1, 3))
                return err.fail(EINVAL, "mask %s: the container's /dev/null is not the null device",
                                p.c_str());
            char what[PATH_MAX + 16];
            snprintf(what, sizeof what, "mask %s", p.c_str());
            if (bind_onto_fd(null.get(), "", target.get(), err, what) != 0) return -1;
        }
    }
    for (const auto& p : plan.readonly_paths) {
        Fd target(open_in_root(root.get(), p.c_str(), O_PATH | O_CLOEXEC));
        if (target.get() < 0) {
            if (errno == ENOENT) continue;
            return err.fail(errno, "open read-only path %s", p.c_str());
        }
        if (fd_paths_safe() != 0) return -1;
        FdPath where(target.get());
        if (mount(where.text, where.text, nullptr, MS_BIND | MS_REC, nullptr) != 0)
            return err.fail(errno, "bind read-only path %s", p.c_str());
        target.reset(open_in_root(root.get(), p.c_str(), O_PATH | O_CLOEXEC));
        FdPath top(target.get());
        if (target.get() < 0 ||
            remount_bind(top.text, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, true) != 0)
            return err.fail(errno, "remount %s read-only", p.c_str());
    }
    if (plan.readonly_root && remount_bind("/", MS_RDONLY, true) != 0)
        return err.fail(errno, "remount / read-only");
    if (plan.final_propagation != 0 &&
        mount(nullptr, "/", nullptr, plan.final_propagation, nullptr) != 0)
        return err.fail(errno, "set rootfsPropagation");
    return 0;
}

}  // namespace skiff::isolation
