// Root file systems from layers: overlayfs mounts with long lowerdir lists, and a copy fallback.
#include "skiff/images/overlay.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <map>

#include "skiff/base/fs.hpp"
#include "skiff/base/unique_fd.hpp"

namespace skiff::images {
namespace {

constexpr const char* kOpaqueXattr = "trusted.overlay.opaque";
// mount(2) copies at most one page of options.
constexpr size_t kMaxMountData = 4000;

std::string parent_of(const std::string& p) {
    size_t slash = p.rfind('/');
    return slash == std::string::npos || slash == 0 ? "/" : p.substr(0, slash);
}

std::string base_of(const std::string& p) {
    size_t slash = p.rfind('/');
    return slash == std::string::npos ? p : p.substr(slash + 1);
}

bool is_whiteout(const struct stat& st) {
    return S_ISCHR(st.st_mode) && major(st.st_rdev) == 0 && minor(st.st_rdev) == 0;
}

bool is_opaque(int dirfd) {
    char value[2] = {};
    return fgetxattr(dirfd, kOpaqueXattr, value, sizeof value) == 1 && value[0] == 'y';
}

Status remove_entry(int dirfd, const char* name, const std::string& shown) {
    struct stat st{};
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? Status{} : Error::from_errno("stat " + shown);
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(dirfd, name, 0) != 0) return Error::from_errno("remove " + shown);
        return {};
    }
    UniqueFd sub(openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub) return Error::from_errno("open " + shown);
    DIR* d = fdopendir(dup(sub.get()));
    if (!d) return Error::from_errno("opendir " + shown);
    Status result;
    while (dirent* e = readdir(d)) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        result = remove_entry(sub.get(), e->d_name, shown + "/" + e->d_name);
        if (!result) break;
    }
    closedir(d);
    if (!result) return result;
    if (unlinkat(dirfd, name, AT_REMOVEDIR) != 0) return Error::from_errno("remove " + shown);
    return {};
}

Status copy_xattrs(int src, int dst, const std::string& shown) {
    char names[4096];
    ssize_t len = flistxattr(src, names, sizeof names);
    if (len < 0) return errno == ENOTSUP ? Status{} : Error::from_errno("list xattrs of " + shown);
    for (ssize_t off = 0; off < len; off += static_cast<ssize_t>(strlen(names + off)) + 1) {
        const char* name = names + off;
        if (!strcmp(name, kOpaqueXattr)) continue;  // consumed by the copy itself
        char value[4096];
        ssize_t n = fgetxattr(src, name, value, sizeof value);
        if (n < 0) continue;
        if (fsetxattr(dst, name, value, static_cast<size_t>(n), 0) != 0 && errno != ENOTSUP)
            return Error::from_errno("set xattr " + std::string(name) + " on " + shown);
    }
    return {};
}

Status copy_metadata(int fd, const struct stat& st, const std::string& shown) {
    if (fchown(fd, st.st_uid, st.st_gid) != 0) return Error::from_errno("chown " + shown);
    // chown clears setuid/setgid, so the mode comes after it.
    if (fchmod(fd, st.st_mode & 07777) != 0) return Error::from_errno("chmod " + shown);
    timespec times[2] = {st.st_atim, st.st_mtim};
    if (futimens(fd, times) != 0) return Error::from_errno("set times of " + shown);
    return {};
}

// Copies one layer directory onto the target directory, applying its whiteouts.
class LayerCopier {
public:
    explicit LayerCopier(std::string layer) : layer_(std::move(layer)) {}

    Status copy_dir(int src, int dst, const std::string& rel) {
        UniqueFd dup_fd(dup(src));
        DIR* d = fdopendir(dup_fd.release());
        if (!d) return Error::from_errno("opendir " + layer_ + rel);
        Status result;
        while (dirent* e = readdir(d)) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            result = copy_entry(src, dst, e->d_name, rel + "/" + e->d_name);
            if (!result) break;
        }
        closedir(d);
        return result;
    }

private:
    Status copy_entry(int src, int dst, const char* name, const std::string& rel) {
        struct stat st{};
        if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            return Error::from_errno("stat " + layer_ + rel);
        if (is_whiteout(st)) return remove_entry(dst, name, rel);
        if (S_ISDIR(st.st_mode)) return copy_directory(src, dst, name, rel, st);
        // Anything else replaces what the lower layers had under this name.
        SKIFF_TRY(remove_entry(dst, name, rel));
        auto link = links_.find({st.st_dev, st.st_ino});
        if (st.st_nlink > 1 && link != links_.end()) {
            // Linking by fd (AT_EMPTY_PATH) never resolves a path that a symlink could redirect.
            if (linkat(link->second.get(), "", dst, name, AT_EMPTY_PATH) != 0)
                return Error::from_errno("hard link " + rel);
            return {};
        }
        if (S_ISREG(st.st_mode)) {
            SKIFF_TRY(copy_file(src, dst, name, rel, st));
        } else if (S_ISLNK(st.st_mode)) {
            char target[4096];
            ssize_t n = readlinkat(src, name, target, sizeof target - 1);
            if (n < 0) return Error::from_errno("readlink " + layer_ + rel);
            target[n] = '\0';
            if (symlinkat(target, dst, name) != 0) return Error::from_errno("symlink " + rel);
            if (fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0)
                return Error::from_errno("chown " + rel);
            timespec times[2] = {st.st_atim, st.st_mtim};
            utimensat(dst, name, times, AT_SYMLINK_NOFOLLOW);
        } else {
            if (mknodat(dst, name, st.st_mode, st.st_rdev) != 0)
                return Error::from_errno("mknod " + rel);
            UniqueFd fd(openat(dst, name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
            if (!fd || fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0 ||
                fchmodat(dst, name, st.st_mode & 07777, 0) != 0)
                return Error::from_errno("set owner and mode of " + rel);
        }
        if (st.st_nlink > 1) {
            UniqueFd first(openat(dst, name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
            if (!first) return Error::from_errno("open " + rel);
            links_[{st.st_dev, st.st_ino}] = std::move(first);
        }
        return {};
    }

    Status copy_directory(int src, int dst, const char* name, const std::string& rel,
                          const struct stat& st) {
        UniqueFd from(openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!from) return Error::from_errno("open " + layer_ + rel);
        struct stat existing{};
        bool have = fstatat(dst, name, &existing, AT_SYMLINK_NOFOLLOW) == 0;
        if (have && (!S_ISDIR(existing.st_mode) || is_opaque(from.get()))) {
            // A directory replaces a file, and an opaque one hides the lower layers' content.
            SKIFF_TRY(remove_entry(dst, name, rel));
            have = false;
        }
        if (!have && mkdirat(dst, name, 0700) != 0) return Error::from_errno("mkdir " + rel);
        UniqueFd to(openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!to) return Error::from_errno("open " + rel);
        SKIFF_TRY(copy_dir(from.get(), to.get(), rel));
        SKIFF_TRY(copy_xattrs(from.get(), to.get(), rel));
        return copy_metadata(to.get(), st, rel);
    }

    Status copy_file(int src, int dst, const char* name, const std::string& rel,
                     const struct stat& st) {
        UniqueFd in(openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (!in) return Error::from_errno("open " + layer_ + rel);
        UniqueFd out(openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!out) return Error::from_errno("create " + rel);
        off_t left = st.st_size;
        while (left > 0) {
            ssize_t n = copy_file_range(in.get(), nullptr, out.get(), nullptr,
                                        static_cast<size_t>(left), 0);
            if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL)) {
                char buf[1 << 16];
                n = read(in.get(), buf, sizeof buf);
                if (n > 0 && write(out.get(), buf, static_cast<size_t>(n)) != n) n = -1;
            }
            if (n < 0) return Error::from_errno("copy " + rel);
            if (n == 0) break;
            left -= n;
        }
        SKIFF_TRY(copy_xattrs(in.get(), out.get(), rel));
        return copy_metadata(out.get(), st, rel);
    }

    std::string layer_;
    // Hard links inside one layer: the first copy of each inode, to link the others to.
    std::map<std::pair<dev_t, ino_t>, UniqueFd> links_;
};

// fsopen/fsconfig/fsmount/move_mount: no length limit on the list of lower layers.
Status mount_overlay_incrementally(const RootfsLayers& layers, const std::string& target) {
    UniqueFd ctx(static_cast<int>(syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC)));
    if (!ctx) return Error::from_errno("fsopen overlay");
    auto set = [&](const char* key, const std::string& value) -> Status {
        if (syscall(SYS_fsconfig, ctx.get(), FSCONFIG_SET_STRING, key, value.c_str(), 0) != 0)
            return Error::from_errno(std::string("overlay option ") + key + "=" + value);
        return {};
    };
    for (auto it = layers.layers.rbegin(); it != layers.layers.rend(); ++it)
        SKIFF_TRY(set("lowerdir+", *it));
    SKIFF_TRY(set("upperdir", layers.upper));
    SKIFF_TRY(set("workdir", layers.work));
    if (layers.volatile_upper)
        (void)syscall(SYS_fsconfig, ctx.get(), FSCONFIG_SET_FLAG, "volatile", nullptr, 0);
    if (syscall(SYS_fsconfig, ctx.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0)
        return Error::from_errno("create overlay for " + target);
    UniqueFd mnt(static_cast<int>(syscall(SYS_fsmount, ctx.get(), FSMOUNT_CLOEXEC, 0)));
    if (!mnt) return Error::from_errno("fsmount overlay for " + target);
    if (syscall(SYS_move_mount, mnt.get(), "", AT_FDCWD, target.c_str(),
                MOVE_MOUNT_F_EMPTY_PATH) != 0)
        return Error::from_errno("mount overlay on " + target);
    return {};
}

}  // namespace

bool overlay_supported() {
    auto text = fs::read_file("/proc/filesystems");
    return text && text->find("\toverlay\n") != std::string::npos;
}

Status mount_overlay(const RootfsLayers& layers, const std::string& target) {
    if (layers.layers.empty()) return Error(EINVAL, "mount overlay on " + target + ": no layers");
    SKIFF_TRY(fs::make_dirs(layers.upper, 0755));
    SKIFF_TRY(fs::make_dirs(layers.work, 0700));
    // overlayfs lists the top layer first.
    std::string lower;
    for (auto it = layers.layers.rbegin(); it != layers.layers.rend(); ++it)
        lower += (lower.empty() ? "" : ":") + *it;
    std::string data = "lowerdir=" + lower + ",upperdir=" + layers.upper + ",workdir=" + layers.work;
    if (data.size() + strlen(",volatile") <= kMaxMountData) {
        if (layers.volatile_upper &&
            ::mount("overlay", target.c_str(), "overlay", 0, (data + ",volatile").c_str()) == 0)
            return {};
        // Without "volatile" (a kernel before 5.10 refuses it with EINVAL).
        if (::mount("overlay", target.c_str(), "overlay", 0, data.c_str()) != 0)
            return Error::from_errno("mount overlay on " + target);
        return {};
    }
    // Too long for one page. Kernels from 6.8 take the layers one by one ("lowerdir+" through
    // the new mount API); older ones get them relative to their common directory.
    if (auto r = mount_overlay_incrementally(layers, target); r.ok() || r.error().code() != EINVAL)
        return r;
    // Relative names, from a process whose working directory is the directory that holds the
    // snapshots side by side.
    std::string common = parent_of(layers.layers.front());
    std::string relative;
    for (auto it = layers.layers.rbegin(); it != layers.layers.rend(); ++it) {
        if (parent_of(*it) != common)
            return Error(E2BIG, "mount overlay on " + target + ": too many layers for one mount");
        relative += (relative.empty() ? "" : ":") + base_of(*it);
    }
    data = "lowerdir=" + relative + ",upperdir=" + layers.upper + ",workdir=" + layers.work;
    if (data.size() > kMaxMountData)
        return Error(E2BIG, "mount overlay on " + target + ": " +
                                std::to_string(layers.layers.size()) + " layers are too many");
    UniqueFd here(::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!here || ::chdir(common.c_str()) != 0) return Error::from_errno("chdir " + common);
    int rc = ::mount("overlay", target.c_str(), "overlay", 0, data.c_str());
    int saved = errno;
    if (fchdir(here.get()) != 0) return Error::from_errno("return to the working directory");
    if (rc != 0) return Error::from_errno(saved, "mount overlay on " + target);
    return {};
}

Status unmount_rootfs(const std::string& target) {
    if (::umount2(target.c_str(), MNT_DETACH) == 0 || errno == EINVAL || errno == ENOENT) return {};
    return Error::from_errno("unmount " + target);
}

Status copy_layers(const RootfsLayers& layers, const std::string& target) {
    UniqueFd dst(::open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dst) return Error::from_errno("open " + target);
    for (const auto& layer : layers.layers) {
        UniqueFd src(::open(layer.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!src) return Error::from_errno("open layer " + layer);
        LayerCopier copier(layer);
        SKIFF_TRY_CTX(copier.copy_dir(src.get(), dst.get(), ""), "copy layer " + layer);
        struct stat st{};
        if (fstat(src.get(), &st) == 0) SKIFF_TRY(copy_metadata(dst.get(), st, target));
    }
    return {};
}

}  // namespace skiff::images
