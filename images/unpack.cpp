// Layer unpacking: libarchive decodes the blob; every entry lands beneath the layer root through
// openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) and O_NOFOLLOW, so no entry can reach outside it.
#include "skiff/images/unpack.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <unordered_set>
#include <vector>

#include "lazy_libs.hpp"

#include "skiff/base/unique_fd.hpp"

namespace skiff::images {

std::string_view compression_name(Compression c) {
    switch (c) {
        case Compression::none:
            return "uncompressed";
        case Compression::gzip:
            return "gzip";
        case Compression::zstd:
            return "zstd";
    }
    return "?";
}

Result<Compression> compression_for_media_type(std::string_view media_type) {
    static constexpr struct {
        std::string_view type;
        Compression compression;
    } kTypes[] = {
        {"application/vnd.oci.image.layer.v1.tar", Compression::none},
        {"application/vnd.oci.image.layer.v1.tar+gzip", Compression::gzip},
        {"application/vnd.oci.image.layer.v1.tar+zstd", Compression::zstd},
        {"application/vnd.oci.image.layer.nondistributable.v1.tar", Compression::none},
        {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", Compression::gzip},
        {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", Compression::zstd},
        {"application/vnd.docker.image.rootfs.diff.tar", Compression::none},
        {"application/vnd.docker.image.rootfs.diff.tar.gzip", Compression::gzip},
        {"application/vnd.docker.image.rootfs.diff.tar.zstd", Compression::zstd},
        {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", Compression::gzip},
    };
    for (const auto& t : kTypes)
        if (t.type == media_type) return t.compression;
    return Error(EINVAL, "unsupported layer media type \"" + std::string(media_type) + "\"");
}

namespace {

// Large reads: the blob usually comes from a local file, and fewer syscalls is most of the win.
constexpr size_t kReadChunk = 1 << 20;
// Entries this big get a free-space check first, so an absurd size fails at once and clearly.
constexpr int64_t kCheckSpaceAbove = 64 << 20;

struct ArchiveFree {
    void operator()(archive* a) const { libarchive().archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveFree>;

std::string archive_message(archive* a) {
    const char* s = libarchive().archive_error_string(a);
    return s ? s : "unknown libarchive error";
}

Error entry_error(const std::string& name, int code, const std::string& what) {
    return Error(code, "layer entry \"" + name + "\": " + what);
}
Error entry_error(const std::string& name, const std::string& what) {
    return entry_error(name, 0, what);
}

std::string join(const std::string& dir, std::string_view name) {
    return dir.empty() ? std::string(name) : dir + "/" + std::string(name);
}

// Lexically cleans a tar name: "/./a//b/" -> "a/b", "" for the root. ".." that would climb above
// the root is refused rather than clamped, because only a malicious layer contains one.
Result<std::string> clean_path(const std::string& raw) {
    if (raw.size() >= PATH_MAX) return entry_error(raw, ENAMETOOLONG, "name too long");
    std::vector<std::string_view> parts;
    std::string_view rest = raw;
    while (!rest.empty()) {
        size_t slash = rest.find('/');
        std::string_view part = rest.substr(0, slash);
        rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
        if (part.empty() || part == ".") continue;
        if (part == "..") {
            if (parts.empty()) return entry_error(raw, "escapes the layer");
            parts.pop_back();
            continue;
        }
        parts.push_back(part);
    }
    std::string out;
    out.reserve(raw.size());
    for (auto p : parts) {
        if (!out.empty()) out += '/';
        out += p;
    }
    return out;
}

// openat2 beneath dirfd that follows no symlink at all, so an earlier entry can't redirect us.
int open_beneath(int dirfd, const char* path, uint64_t flags) {
    open_how how{};
    how.flags = flags | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    for (int tries = 0; tries < 16; ++tries) {
        int fd = static_cast<int>(syscall(SYS_openat2, dirfd, path, &how, sizeof how));
        // EAGAIN: a rename raced with the lookup; try again.
        if (fd >= 0 || errno != EAGAIN) return fd;
    }
    return -1;
}

// Reads the blob for libarchive and hashes every byte handed over (the blob digest).
struct BlobSource {
    int fd = -1;
    std::optional<Sha256> hash;  // absent when the caller hashes the blob itself
    uint64_t bytes = 0;
    std::unique_ptr<char[]> buf{new char[kReadChunk]};  // not zeroed: it's overwritten
    size_t head = 0;  // sniffed bytes at the start of buf not yet handed to libarchive

    ssize_t read_into(size_t offset) {
        for (;;) {
            ssize_t n = ::read(fd, buf.get() + offset, kReadChunk - offset);
            if (n >= 0 || errno != EINTR) return n;
        }
    }
};

la_ssize_t blob_read(archive* a, void* ctx, const void** out) {
    auto* s = static_cast<BlobSource*>(ctx);
    size_t n = s->head;
    s->head = 0;
    if (n == 0) {
        ssize_t r = s->read_into(0);
        if (r < 0) {
            libarchive().archive_set_error(a, errno, "read layer blob: %s", strerror(errno));
            return -1;
        }
        n = static_cast<size_t>(r);
    }
    if (s->hash) s->hash->update(s->buf.get(), n);
    s->bytes += n;
    *out = s->buf.get();
    return static_cast<la_ssize_t>(n);
}

// Feeds the decompressed stream (the "raw" format's one entry) to the tar reader, hashing it on
// the way: libarchive's tar reader can't expose the stream it parses, so we sit in front of it.
struct TarSource {
    archive* decompressed = nullptr;
    Sha256 hash;
    uint64_t bytes = 0;
    bool eof = false;
};

// One block of decompressed data; 0 at the end, -1 on error (with the message in `a`).
la_ssize_t next_tar_block(TarSource* t, archive* a, const void** out) {
    while (!t->eof) {
        size_t size = 0;
        la_int64_t offset = 0;
        int r = libarchive().archive_read_data_block(t->decompressed, out, &size, &offset);
        if (r == ARCHIVE_EOF) {
            t->eof = true;
            break;
        }
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            libarchive().archive_set_error(a, libarchive().archive_errno(t->decompressed), "%s",
                              archive_message(t->decompressed).c_str());
            return -1;
        }
        if (size == 0) continue;  // 0 would read as end of stream
        t->hash.update(*out, size);
        t->bytes += size;
        return static_cast<la_ssize_t>(size);
    }
    return 0;
}

la_ssize_t tar_read(archive* a, void* ctx, const void** out) {
    return next_tar_block(static_cast<TarSource*>(ctx), a, out);
}

Result<Compression> sniff_compression(const unsigned char* p, size_t n) {
    auto starts = [&](std::initializer_list<unsigned char> magic) {
        if (n < magic.size()) return false;
        return std::memcmp(p, magic.begin(), magic.size()) == 0;
    };
    auto unsupported = [](const char* what) {
        return Error(ENOTSUP, std::string("layer blob is ") + what +
                                  "-compressed; only plain, gzip and zstd tar layers "
                                  "are supported");
    };
    if (starts({0x1f, 0x8b})) return Compression::gzip;
    if (starts({0x28, 0xb5, 0x2f, 0xfd})) return Compression::zstd;
    if (starts({0xfd, '7', 'z', 'X', 'Z', 0})) return unsupported("xz");
    if (starts({'B', 'Z', 'h'})) return unsupported("bzip2");
    if (starts({0x04, 0x22, 0x4d, 0x18})) return unsupported("lz4");
    if (starts({0x1f, 0x9d})) return unsupported("compress(1)");
    if (starts({'L', 'Z', 'I', 'P'})) return unsupported("lzip");
    return Compression::none;
}

struct Timestamps {
    timespec ts[2]{};
    bool any = false;
};

Timestamps entry_times(archive_entry* e) {
    Timestamps t;
    t.ts[0].tv_nsec = t.ts[1].tv_nsec = UTIME_OMIT;
    if (libarchive().archive_entry_mtime_is_set(e)) {
        t.ts[1] = {libarchive().archive_entry_mtime(e), libarchive().archive_entry_mtime_nsec(e)};
        t.ts[0] = t.ts[1];
        t.any = true;
    }
    if (libarchive().archive_entry_atime_is_set(e)) {
        t.ts[0] = {libarchive().archive_entry_atime(e), libarchive().archive_entry_atime_nsec(e)};
        t.any = true;
    }
    return t;
}

struct Xattr {
    std::string name;
    std::string value;
};

// What a directory gets once its contents are written (writing into it would change its mtime,
// and a read-only mode would stop a non-root unpacker).
struct DirMeta {
    std::string raw;
    mode_t mode = 0755;
    uid_t uid = 0;
    gid_t gid = 0;
    Timestamps times;
    std::vector<Xattr> xattrs;
};

class Unpacker {
  public:
    Unpacker(int root, const UnpackOptions& options, UnpackStats& stats)
        : root_(root), options_(options), stats_(stats) {}

    Status entry(archive* a, archive_entry* e);
    Status finish();

  private:
    Status whiteout(const std::string& raw, const std::string& parent, const std::string& base);
    Status opaque(const std::string& raw, const std::string& parent);
    Status empty_lower(const std::string& raw, int dirfd, const std::string& path);
    Status regular(const std::string& raw, archive* a, archive_entry* e, int dirfd,
                   const std::string& base);
    Status hard_link(const std::string& raw, const std::string& target_raw, const std::string& path,
                     int dirfd, const std::string& base);
    Status node(const std::string& raw, archive_entry* e, int dirfd, const std::string& base);
    Status set_xattrs(const std::string& raw, archive_entry* e, int fd, int dirfd,
                      const std::string& base);
    Status set_xattrs(const std::string& raw, const std::vector<Xattr>& xattrs, int fd, int dirfd,
                      const std::string& base);
    // Makes room at dirfd/base for a new entry: keeps a directory for a directory, else removes.
    Status clear_slot(const std::string& raw, int dirfd, const std::string& base,
                      const std::string& path, bool new_is_dir, bool* kept_dir = nullptr);
    Status remove_at(const std::string& raw, int dirfd, const std::string& base,
                     const std::string& path);
    // The directory `dir` beneath the root as an O_PATH fd; borrowed, valid until the next call.
    Result<int> open_dir(const std::string& raw, const std::string& dir, bool create);
    Result<UniqueFd> resolve_dir(const std::string& raw, const std::string& dir, bool create);
    Result<UniqueFd> walk_dir(const std::string& raw, const std::string& dir, bool create);
    Error resolve_error(const std::string& raw, int err);
    void touch(const std::string& path);
    bool touched(const std::string& path) const { return touched_.count(path) != 0; }
    void forget_dir(const std::string& path);

    int root_;
    const UnpackOptions& options_;
    UnpackStats& stats_;
    // Paths this layer wrote, with their ancestors: in-place whiteouts delete only what is not.
    std::unordered_set<std::string> touched_;
    // Non-directories this layer extracted: the only allowed hard-link targets.
    std::unordered_set<std::string> files_;
    std::map<std::string, DirMeta> dirs_;
    // Layers list a directory's entries together, so the last parent is usually the next one.
    std::string cached_path_;
    UniqueFd cached_fd_;
    bool have_openat2_ = true;
};

void Unpacker::touch(const std::string& path) {
    std::string p = path;
    while (!p.empty() && touched_.insert(p).second) {
        size_t slash = p.rfind('/');
        if (slash == std::string::npos) break;
        p.resize(slash);
    }
}

void Unpacker::forget_dir(const std::string& path) {
    if (!cached_fd_) return;
    if (cached_path_ == path ||
        (cached_path_.size() > path.size() && cached_path_.compare(0, path.size(), path) == 0 &&
         cached_path_[path.size()] == '/')) {
        cached_fd_.reset();
        cached_path_.clear();
    }
}

Error Unpacker::resolve_error(const std::string& raw, int err) {
    switch (err) {
        case ELOOP:
            return entry_error(raw, "path goes through a symlink");
        case EXDEV:
            return entry_error(raw, "escapes the layer");
        case ENOTDIR:
            return entry_error(raw, "a parent is not a directory");
        default:
            return entry_error(raw, err, "open parent directory");
    }
}

Result<UniqueFd> Unpacker::walk_dir(const std::string& raw, const std::string& dir, bool create) {
    // Component by component with O_NOFOLLOW: for creating missing parents, and for kernels
    // without openat2. Components are already free of "." and "..".
    UniqueFd cur;
    std::string sofar;
    std::string_view rest = dir;
    while (!rest.empty()) {
        size_t slash = rest.find('/');
        std::string part(rest.substr(0, slash));
        rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
        sofar = join(sofar, part);
        int at = cur ? cur.get() : root_;
        int fd = ::openat(at, part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && create) {
            if (::mkdirat(at, part.c_str(), 0755) != 0 && errno != EEXIST)
                return entry_error(raw, errno, "create directory \"" + sofar + "\"");
            touch(sofar);
            fd = ::openat(at, part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (fd < 0) {
            int err = errno;
            struct stat st {};
            // O_PATH|O_NOFOLLOW|O_DIRECTORY on a symlink says ENOTDIR; say what it really is.
            if (err == ENOTDIR && ::fstatat(at, part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(st.st_mode))
                err = ELOOP;
            return resolve_error(raw, err);
        }
        cur.reset(fd);
    }
    if (!cur) cur.reset(::fcntl(root_, F_DUPFD_CLOEXEC, 0));
    if (!cur) return entry_error(raw, errno, "dup layer root");
    return cur;
}

Result<UniqueFd> Unpacker::resolve_dir(const std::string& raw, const std::string& dir,
                                       bool create) {
    if (have_openat2_) {
        int fd = open_beneath(root_, dir.empty() ? "." : dir.c_str(), O_PATH | O_DIRECTORY);
        if (fd >= 0) return UniqueFd(fd);
        if (errno == ENOSYS) {
            have_openat2_ = false;
        } else if (errno != ENOENT || !create) {
            return resolve_error(raw, errno);
        }
    }
    return walk_dir(raw, dir, create);
}

Result<int> Unpacker::open_dir(const std::string& raw, const std::string& dir, bool create) {
    if (dir.empty()) return root_;
    if (cached_fd_ && cached_path_ == dir) return cached_fd_.get();
    auto fd = resolve_dir(raw, dir, create);
    if (!fd) return std::move(fd).error();
    cached_fd_ = std::move(*fd);
    cached_path_ = dir;
    return cached_fd_.get();
}

// rm -rf of dirfd/name without following symlinks; used only on what lower layers left.
Status remove_tree_at(const std::string& raw, int dirfd, const char* name) {
    if (::unlinkat(dirfd, name, 0) == 0) return {};
    if (errno != EISDIR && errno != EPERM) return entry_error(raw, errno, "remove");
    UniqueFd dir(::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir) return entry_error(raw, errno, "open for removal");
    std::vector<std::string> names;
    {
        DIR* ds = ::fdopendir(::fcntl(dir.get(), F_DUPFD_CLOEXEC, 0));
        if (!ds) return entry_error(raw, errno, "read directory for removal");
        while (dirent* d = ::readdir(ds))
            if (std::strcmp(d->d_name, ".") != 0 && std::strcmp(d->d_name, "..") != 0)
                names.emplace_back(d->d_name);
        ::closedir(ds);
    }
    for (const auto& n : names) SKIFF_TRY(remove_tree_at(raw, dir.get(), n.c_str()));
    if (::unlinkat(dirfd, name, AT_REMOVEDIR) != 0) return entry_error(raw, errno, "remove");
    return {};
}

Status Unpacker::remove_at(const std::string& raw, int dirfd, const std::string& base,
                           const std::string& path) {
    struct stat st {};
    if (::fstatat(dirfd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return {};
        return entry_error(raw, errno, "stat \"" + path + "\"");
    }
    if (S_ISDIR(st.st_mode)) {
        forget_dir(path);
        SKIFF_TRY(remove_tree_at(raw, dirfd, base.c_str()));
    } else if (::unlinkat(dirfd, base.c_str(), 0) != 0) {
        return entry_error(raw, errno, "remove \"" + path + "\"");
    }
    files_.erase(path);
    return {};
}

Status Unpacker::clear_slot(const std::string& raw, int dirfd, const std::string& base,
                            const std::string& path, bool new_is_dir, bool* kept_dir) {
    struct stat st {};
    if (::fstatat(dirfd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return {};
        return entry_error(raw, errno, "stat");
    }
    if (S_ISDIR(st.st_mode)) {
        if (new_is_dir) {
            if (kept_dir) *kept_dir = true;
            return {};
        }
        forget_dir(path);
        // A lower layer's directory (in-place mode) goes with its content; one of this layer is
        // replaced only when empty, as tar does.
        if (!touched(path)) return remove_tree_at(raw, dirfd, base.c_str());
        if (::unlinkat(dirfd, base.c_str(), AT_REMOVEDIR) != 0) {
            if (errno == ENOTEMPTY || errno == EEXIST)
                return entry_error(raw, "replaces a non-empty directory of the same layer");
            return entry_error(raw, errno, "remove directory");
        }
        return {};
    }
    if (::unlinkat(dirfd, base.c_str(), 0) != 0) return entry_error(raw, errno, "remove");
    files_.erase(path);
    return {};
}

Status Unpacker::set_xattrs(const std::string& raw, archive_entry* e, int fd, int dirfd,
                            const std::string& base) {
    if (libarchive().archive_entry_xattr_reset(e) == 0) return {};
    std::vector<Xattr> xattrs;
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    while (libarchive().archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK)
        xattrs.push_back({name, std::string(static_cast<const char*>(value), size)});
    return set_xattrs(raw, xattrs, fd, dirfd, base);
}

Status Unpacker::set_xattrs(const std::string& raw, const std::vector<Xattr>& xattrs, int fd,
                            int dirfd, const std::string& base) {
    std::unordered_set<std::string_view> seen;
    for (const auto& x : xattrs) {
        // pax headers may carry an attribute twice (SCHILY.xattr and LIBARCHIVE.xattr).
        if (!seen.insert(x.name).second) continue;
        // overlayfs's own attributes (redirect, metacopy, origin...) would let a layer steer
        // lookups into other layers; only whiteout entries may produce overlay attributes.
        if (x.name.rfind("trusted.overlay.", 0) == 0) {
            ++stats_.skipped_xattrs;
            continue;
        }
        int r;
        if (fd >= 0) {
            r = ::fsetxattr(fd, x.name.c_str(), x.value.data(), x.value.size(), 0);
        } else {
            // Symlinks and device nodes can't be opened for fsetxattr; name the node through
            // its parent's fd, with l* so the last component isn't followed.
            std::string p = "/proc/self/fd/" + std::to_string(dirfd) + "/" + base;
            r = ::lsetxattr(p.c_str(), x.name.c_str(), x.value.data(), x.value.size(), 0);
        }
        if (r != 0) {
            if (errno == EOPNOTSUPP) {
                ++stats_.skipped_xattrs;
                continue;
            }
            return entry_error(raw, errno, "set xattr " + x.name);
        }
    }
    return {};
}

Status Unpacker::regular(const std::string& raw, archive* a, archive_entry* e, int dirfd,
                         const std::string& base) {
    UniqueFd fd(
        ::openat(dirfd, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return entry_error(raw, errno, "create file");
    int64_t size = libarchive().archive_entry_size(e);
    if (size > kCheckSpaceAbove && libarchive().archive_entry_sparse_count(e) == 0) {
        struct statvfs vfs {};
        if (::fstatvfs(fd.get(), &vfs) == 0 &&
            static_cast<uint64_t>(size) / vfs.f_frsize > vfs.f_bavail)
            return entry_error(raw, ENOSPC,
                               "needs " + std::to_string(size) + " bytes; no space left");
    }
    int64_t end = 0;
    for (;;) {
        const void* buf = nullptr;
        size_t n = 0;
        la_int64_t offset = 0;
        int r = libarchive().archive_read_data_block(a, &buf, &n, &offset);
        if (r == ARCHIVE_EOF) break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            return entry_error(raw, "read: " + archive_message(a));
        const char* p = static_cast<const char*>(buf);
        while (n > 0) {
            // pwrite at libarchive's offset: sparse entries skip their holes.
            ssize_t w = ::pwrite(fd.get(), p, n, offset);
            if (w < 0) {
                if (errno == EINTR) continue;
                if (errno == ENOSPC) return entry_error(raw, ENOSPC, "write: no space left");
                return entry_error(raw, errno, "write");
            }
            p += w;
            n -= static_cast<size_t>(w);
            offset += w;
            stats_.bytes += static_cast<uint64_t>(w);
        }
        end = std::max<int64_t>(end, offset);
    }
    if (end < size && ::ftruncate(fd.get(), size) != 0)
        return entry_error(raw, errno, "extend sparse file");
    // Owner before mode (chown clears setuid/setgid), xattrs after both (chown and writes drop
    // security.capability), times last.
    if (options_.set_owners && ::fchown(fd.get(), libarchive().archive_entry_uid(e), libarchive().archive_entry_gid(e)) != 0)
        return entry_error(raw, errno, "chown");
    if (::fchmod(fd.get(), libarchive().archive_entry_perm(e) & 07777) != 0)
        return entry_error(raw, errno, "chmod");
    SKIFF_TRY(set_xattrs(raw, e, fd.get(), -1, base));
    Timestamps t = entry_times(e);
    if (t.any && ::futimens(fd.get(), t.ts) != 0) return entry_error(raw, errno, "set times");
    return {};
}

Status Unpacker::node(const std::string& raw, archive_entry* e, int dirfd,
                      const std::string& base) {
    mode_t type = libarchive().archive_entry_filetype(e);
    mode_t perm = libarchive().archive_entry_perm(e) & 07777;
    const char* name = base.c_str();
    if (type == AE_IFLNK) {
        const char* target = libarchive().archive_entry_symlink(e);
        if (!target || !*target) return entry_error(raw, "symlink without a target");
        // Stored verbatim: it is only ever read inside the container, never followed here.
        if (::symlinkat(target, dirfd, name) != 0) return entry_error(raw, errno, "symlink");
    } else {
        dev_t dev = type == AE_IFIFO ? 0 : libarchive().archive_entry_rdev(e);
        if (::mknodat(dirfd, name, type | perm, dev) != 0)
            return entry_error(raw, errno, type == AE_IFIFO ? "mkfifo" : "mknod");
    }
    if (options_.set_owners &&
        ::fchownat(dirfd, name, libarchive().archive_entry_uid(e), libarchive().archive_entry_gid(e), AT_SYMLINK_NOFOLLOW))
        return entry_error(raw, errno, "chown");
    // We just created this non-symlink ourselves in a directory only we write to.
    if (type != AE_IFLNK && ::fchmodat(dirfd, name, perm, 0) != 0)
        return entry_error(raw, errno, "chmod");
    SKIFF_TRY(set_xattrs(raw, e, -1, dirfd, base));
    Timestamps t = entry_times(e);
    if (t.any && ::utimensat(dirfd, name, t.ts, AT_SYMLINK_NOFOLLOW) != 0)
        return entry_error(raw, errno, "set times");
    return {};
}

// True when a symlink's text, read from directory `dir`, resolves outside the layer.
bool symlink_points_out(const std::string& dir, const std::string& target) {
    if (target.empty() || target[0] == '/') return true;
    auto cleaned = clean_path(join(dir, target));
    return !cleaned.ok();
}

Status Unpacker::hard_link(const std::string& raw, const std::string& target_raw,
                           const std::string& path, int dirfd, const std::string& base) {
    auto target = clean_path(target_raw);
    if (!target)
        return entry_error(raw, "hard link target \"" + target_raw + "\" escapes the layer");
    if (target->empty()) return entry_error(raw, "hard link to the layer root");
    if (*target == path) return entry_error(raw, "hard link to itself");
    if (!files_.count(*target))
        return entry_error(raw, "hard link target \"" + target_raw +
                                    "\" is not a file extracted earlier in this layer");
    size_t slash = target->rfind('/');
    std::string tdir = slash == std::string::npos ? "" : target->substr(0, slash);
    std::string tbase = slash == std::string::npos ? *target : target->substr(slash + 1);
    // Owned, not the cached fd: dirfd may be the cached one.
    auto tdirfd = resolve_dir(raw, tdir, false);
    if (!tdirfd) return std::move(tdirfd).error();
    struct stat st {};
    if (::fstatat(tdirfd->get(), tbase.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return entry_error(raw, errno, "hard link target \"" + target_raw + "\"");
    if (S_ISDIR(st.st_mode)) return entry_error(raw, "hard link to a directory");
    if (S_ISLNK(st.st_mode)) {
        // linkat never follows it, but a second name for a symlink that points out of the
        // layer is what an attack on a follow-happy extractor looks like: refuse it.
        std::string text(PATH_MAX, '\0');
        ssize_t n = ::readlinkat(tdirfd->get(), tbase.c_str(), text.data(), text.size());
        if (n < 0) return entry_error(raw, errno, "read hard link target");
        text.resize(static_cast<size_t>(n));
        if (symlink_points_out(tdir, text))
            return entry_error(raw, "hard link target \"" + target_raw +
                                        "\" is a symlink pointing out of the layer");
    }
    SKIFF_TRY(clear_slot(raw, dirfd, base, path, false));
    if (::linkat(tdirfd->get(), tbase.c_str(), dirfd, base.c_str(), 0) != 0)
        return entry_error(raw, errno, "hard link");
    files_.insert(path);
    return {};
}

Status Unpacker::empty_lower(const std::string& raw, int dirfd, const std::string& path) {
    std::vector<std::pair<std::string, unsigned char>> children;
    {
        int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return entry_error(raw, errno, "open opaque directory");
        DIR* ds = ::fdopendir(fd);
        if (!ds) {
            ::close(fd);
            return entry_error(raw, errno, "read opaque directory");
        }
        while (dirent* d = ::readdir(ds))
            if (std::strcmp(d->d_name, ".") != 0 && std::strcmp(d->d_name, "..") != 0)
                children.emplace_back(d->d_name, d->d_type);
        ::closedir(ds);
    }
    for (const auto& [name, type] : children) {
        std::string child = join(path, name);
        if (!touched(child)) {
            SKIFF_TRY(remove_at(raw, dirfd, name, child));
        } else if (type == DT_DIR) {
            // This layer wrote into a directory that may also hold lower content.
            UniqueFd sub(
                ::openat(dirfd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!sub) return entry_error(raw, errno, "open \"" + child + "\"");
            SKIFF_TRY(empty_lower(raw, sub.get(), child));
        }
    }
    return {};
}

Status Unpacker::opaque(const std::string& raw, const std::string& parent) {
    if (options_.apply_whiteouts_in_place) {
        auto dir = resolve_dir(raw, parent, false);
        if (!dir) {
            if (dir.error().code() == ENOENT) return {};  // nothing below to hide
            return std::move(dir).error();
        }
        return empty_lower(raw, dir->get(), parent);
    }
    auto dir = open_dir(raw, parent, true);
    if (!dir) return std::move(dir).error();
    touch(parent);
    UniqueFd fd(::openat(*dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return entry_error(raw, errno, "open directory");
    if (::fsetxattr(fd.get(), "trusted.overlay.opaque", "y", 1, 0) != 0)
        return entry_error(raw, errno, "set trusted.overlay.opaque");
    return {};
}

Status Unpacker::whiteout(const std::string& raw, const std::string& parent,
                          const std::string& base) {
    ++stats_.whiteouts;
    if (base == ".wh..wh..opq") return opaque(raw, parent);
    // Other ".wh..wh." names are aufs bookkeeping (hard-link dirs); they mean nothing here.
    if (base.rfind(".wh..wh.", 0) == 0) return {};
    std::string name = base.substr(4);
    if (name.empty() || name == "." || name == "..")
        return entry_error(raw, "whiteout of \"" + name + "\" escapes its directory");
    std::string path = join(parent, name);
    if (options_.apply_whiteouts_in_place) {
        // A whiteout hides lower layers only, never an entry of its own layer.
        if (touched(path)) return {};
        auto dir = open_dir(raw, parent, false);
        if (!dir) {
            if (dir.error().code() == ENOENT) return {};
            return std::move(dir).error();
        }
        return remove_at(raw, *dir, name, path);
    }
    auto dir = open_dir(raw, parent, true);
    if (!dir) return std::move(dir).error();
    SKIFF_TRY(clear_slot(raw, *dir, name, path, false));
    if (::mknodat(*dir, name.c_str(), S_IFCHR, makedev(0, 0)) != 0)
        return entry_error(raw, errno, "mknod whiteout");
    touch(path);
    return {};
}

Status Unpacker::entry(archive* a, archive_entry* e) {
    ++stats_.entries;
    const char* name = libarchive().archive_entry_pathname(e);
    if (!name) name = libarchive().archive_entry_pathname_utf8(e);
    if (!name) return Error("layer entry " + std::to_string(stats_.entries) + ": no name");
    std::string raw = name;
    auto cleaned = clean_path(raw);
    if (!cleaned) return std::move(cleaned).error();
    const std::string& path = *cleaned;
    size_t slash = path.rfind('/');
    std::string parent = slash == std::string::npos ? "" : path.substr(0, slash);
    std::string base = slash == std::string::npos ? path : path.substr(slash + 1);

    if (base.rfind(".wh.", 0) == 0) return whiteout(raw, parent, base);

    const char* link = libarchive().archive_entry_hardlink(e);
    mode_t type = libarchive().archive_entry_filetype(e);
    if (path.empty()) {
        if (link || type != AE_IFDIR)
            return entry_error(raw, "names the layer root but is not a directory");
    }
    if (!link && type == AE_IFDIR) {
        if (!path.empty()) {
            auto dir = open_dir(raw, parent, true);
            if (!dir) return std::move(dir).error();
            bool kept = false;
            SKIFF_TRY(clear_slot(raw, *dir, base, path, true, &kept));
            if (!kept && ::mkdirat(*dir, base.c_str(), 0755) != 0)
                return entry_error(raw, errno, "mkdir");
            touch(path);
        }
        DirMeta& m = dirs_[path];
        m.raw = raw;
        m.mode = libarchive().archive_entry_perm(e) & 07777;
        m.uid = libarchive().archive_entry_uid(e);
        m.gid = libarchive().archive_entry_gid(e);
        m.times = entry_times(e);
        m.xattrs.clear();
        if (libarchive().archive_entry_xattr_reset(e) > 0) {
            const char* xname = nullptr;
            const void* value = nullptr;
            size_t size = 0;
            while (libarchive().archive_entry_xattr_next(e, &xname, &value, &size) == ARCHIVE_OK)
                m.xattrs.push_back({xname, std::string(static_cast<const char*>(value), size)});
        }
        return {};
    }

    auto dir = open_dir(raw, parent, true);
    if (!dir) return std::move(dir).error();
    if (link) {
        SKIFF_TRY(hard_link(raw, link, path, *dir, base));
        touch(path);
        return {};
    }
    switch (type) {
        case AE_IFREG:
            SKIFF_TRY(clear_slot(raw, *dir, base, path, false));
            SKIFF_TRY(regular(raw, a, e, *dir, base));
            break;
        case AE_IFLNK:
        case AE_IFCHR:
        case AE_IFBLK:
        case AE_IFIFO:
            SKIFF_TRY(clear_slot(raw, *dir, base, path, false));
            SKIFF_TRY(node(raw, e, *dir, base));
            break;
        default:
            return entry_error(raw, "unsupported entry type " + std::to_string(type));
    }
    files_.insert(path);
    touch(path);
    return {};
}

Status Unpacker::finish() {
    for (const auto& [path, m] : dirs_) {
        UniqueFd fd;
        if (path.empty()) {
            fd.reset(::openat(root_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        } else if (have_openat2_) {
            fd.reset(open_beneath(root_, path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
        } else {
            auto p = walk_dir(m.raw, path, false);
            if (p)
                fd.reset(::openat(p->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            else
                errno = ENOENT;
        }
        if (!fd) {
            // A later entry replaced or a whiteout removed it: nothing to set.
            if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) continue;
            return entry_error(m.raw, errno, "open directory");
        }
        if (options_.set_owners && ::fchown(fd.get(), m.uid, m.gid) != 0)
            return entry_error(m.raw, errno, "chown");
        if (::fchmod(fd.get(), m.mode) != 0) return entry_error(m.raw, errno, "chmod");
        SKIFF_TRY(set_xattrs(m.raw, m.xattrs, fd.get(), -1, ""));
        if (m.times.any && ::futimens(fd.get(), m.times.ts) != 0)
            return entry_error(m.raw, errno, "set times");
    }
    return {};
}

}  // namespace

Result<UnpackStats> unpack_layer(int blob_fd, const std::string& dest_dir,
                                 const UnpackOptions& options) {
    SKIFF_TRY(load_libarchive());
    std::optional<Compression> promised;
    if (!options.media_type.empty()) {
        auto c = compression_for_media_type(options.media_type);
        if (!c) return std::move(c).error();
        promised = *c;
    }
    UniqueFd root(::open(dest_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root) return Error::from_errno("open layer directory " + dest_dir);

    auto source = std::make_unique<BlobSource>();
    source->fd = blob_fd;
    if (options.hash_blob) source->hash.emplace();
    // Sniff the compression from the first bytes; they stay in the buffer for libarchive.
    while (source->head < 6) {
        ssize_t n = source->read_into(source->head);
        if (n < 0) return Error::from_errno("read layer blob");
        if (n == 0) break;
        source->head += static_cast<size_t>(n);
    }
    if (source->head == 0) return Error(EINVAL, "layer blob is empty");
    auto sniffed =
        sniff_compression(reinterpret_cast<const unsigned char*>(source->buf.get()), source->head);
    if (!sniffed) return std::move(sniffed).error();
    if (promised && *promised != *sniffed)
        return Error(EINVAL, "layer blob is " + std::string(compression_name(*sniffed)) +
                                 " but its media type \"" + options.media_type + "\" says " +
                                 std::string(compression_name(*promised)));

    UnpackStats stats;
    stats.compression = *sniffed;

    // Only the filter we detected: filter_all would also bid external programs (lzop, grzip...).
    ArchivePtr decompressed(libarchive().archive_read_new());
    if (!decompressed) return Error(ENOMEM, "archive_read_new");
    int r = ARCHIVE_OK;
    if (*sniffed == Compression::gzip) r = libarchive().archive_read_support_filter_gzip(decompressed.get());
    if (*sniffed == Compression::zstd) r = libarchive().archive_read_support_filter_zstd(decompressed.get());
    // ARCHIVE_WARN here means "through an external program": not in a runtime's hot path.
    if (r != ARCHIVE_OK)
        return Error("libarchive has no built-in " + std::string(compression_name(*sniffed)) +
                     " decoder");
    libarchive().archive_read_support_format_raw(decompressed.get());
    if (libarchive().archive_read_open(decompressed.get(), source.get(), nullptr, blob_read, nullptr) !=
        ARCHIVE_OK)
        return Error(libarchive().archive_errno(decompressed.get()),
                     "open layer blob: " + archive_message(decompressed.get()));
    archive_entry* raw_entry = nullptr;
    r = libarchive().archive_read_next_header(decompressed.get(), &raw_entry);
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
        return Error("decompress layer blob: " + archive_message(decompressed.get()));

    TarSource tar;
    tar.decompressed = decompressed.get();
    ArchivePtr reader(libarchive().archive_read_new());
    if (!reader) return Error(ENOMEM, "archive_read_new");
    libarchive().archive_read_support_format_tar(reader.get());
    if (libarchive().archive_read_open(reader.get(), &tar, nullptr, tar_read, nullptr) != ARCHIVE_OK)
        return Error("read layer tar: " + archive_message(reader.get()));

    Unpacker unpacker(root.get(), options, stats);
    for (;;) {
        archive_entry* e = nullptr;
        r = libarchive().archive_read_next_header(reader.get(), &e);
        if (r == ARCHIVE_EOF) break;
        // ARCHIVE_RETRY is a damaged header that tar(1) would skip; a layer is all or nothing.
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            return Error("read layer tar after " + std::to_string(stats.entries) +
                         " entries: " + archive_message(reader.get()));
        SKIFF_TRY(unpacker.entry(reader.get(), e));
    }
    SKIFF_TRY(unpacker.finish());

    // The digests cover the whole stream, also what follows the tar's end marker (block padding).
    const void* block = nullptr;
    for (;;) {
        la_ssize_t n = next_tar_block(&tar, reader.get(), &block);
        if (n == 0) break;
        if (n < 0) return Error("read layer tar: " + archive_message(reader.get()));
    }
    for (;;) {
        ssize_t n = source->read_into(0);
        if (n < 0) return Error::from_errno("read layer blob");
        if (n == 0) break;
        if (source->hash) source->hash->update(source->buf.get(), static_cast<size_t>(n));
        source->bytes += static_cast<uint64_t>(n);
    }
    stats.diff_id = tar.hash.finish();
    stats.tar_bytes = tar.bytes;
    if (source->hash) stats.blob_digest = source->hash->finish();
    stats.blob_bytes = source->bytes;
    return stats;
}

Result<UnpackStats> unpack_layer_file(const std::string& blob_path, const std::string& dest_dir,
                                      const UnpackOptions& options) {
    UniqueFd fd(::open(blob_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return Error::from_errno("open layer blob " + blob_path);
    return unpack_layer(fd.get(), dest_dir, options);
}

}  // namespace skiff::images
