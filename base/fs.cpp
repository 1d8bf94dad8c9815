// Whole-file I/O and directory helpers with O_CLOEXEC everywhere.
#include "skiff/base/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "skiff/base/unique_fd.hpp"

namespace skiff::fs {

Result<std::string> read_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return Error::from_errno("open " + path);
    std::string out;
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return Error::from_errno("read " + path);
        }
        if (n == 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

static Status write_all(int fd, std::string_view data, const std::string& path) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return Error::from_errno("write " + path);
        }
        data.remove_prefix(static_cast<size_t>(n));
    }
    return {};
}

Status write_file(const std::string& path, std::string_view data, int mode) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    if (!fd) return Error::from_errno("open " + path);
    return write_all(fd.get(), data, path);
}

Status write_file_atomic(const std::string& path, std::string_view data, int mode) {
    std::string tmp = path + ".tmp";
    {
        UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
        if (!fd) return Error::from_errno("open " + tmp);
        if (auto r = write_all(fd.get(), data, tmp); !r) {
            ::unlink(tmp.c_str());
            return r;
        }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        Error e = Error::from_errno("rename " + tmp);
        ::unlink(tmp.c_str());
        return e;
    }
    return {};
}

Status make_dirs(const std::string& path, int mode) {
    if (path.empty()) return {};
    std::string cur;
    size_t pos = 0;
    while (pos != std::string::npos) {
        pos = path.find('/', pos + 1);
        cur = path.substr(0, pos);
        if (cur.empty()) continue;
        if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST)
            return Error::from_errno("mkdir " + cur);
    }
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) return Error::from_errno("stat " + path);
    if (!S_ISDIR(st.st_mode)) return Error(ENOTDIR, "mkdir " + path);
    return {};
}

static Status remove_at(int dirfd, const char* name, dev_t dev, const std::string& shown) {
    struct stat st{};
    if (::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return {};
        return Error::from_errno("stat " + shown);
    }
    if (!S_ISDIR(st.st_mode)) {
        if (::unlinkat(dirfd, name, 0) != 0 && errno != ENOENT)
            return Error::from_errno("unlink " + shown);
        return {};
    }
    if (st.st_dev != dev) return Error(EXDEV, "refusing to cross a mount point at " + shown);
    int fd = ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return Error::from_errno("open " + shown);
    DIR* dir = ::fdopendir(fd);
    if (!dir) {
        ::close(fd);
        return Error::from_errno("opendir " + shown);
    }
    Status result;
    while (dirent* ent = ::readdir(dir)) {
        std::string_view n = ent->d_name;
        if (n == "." || n == "..") continue;
        result = remove_at(::dirfd(dir), ent->d_name, dev, shown + "/" + std::string(n));
        if (!result) break;
    }
    ::closedir(dir);
    if (!result) return result;
    if (::unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        return Error::from_errno("rmdir " + shown);
    return {};
}

Status remove_all(const std::string& path) {
    struct stat st{};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return {};
        return Error::from_errno("stat " + path);
    }
    return remove_at(AT_FDCWD, path.c_str(), st.st_dev, path);
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

}  // namespace skiff::fs
