// Image archives as Sources: directories through openat2 beneath them, tars listed once with
// libarchive and then read in one pass for whatever blobs the import asks for.
#include "archive_source.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <set>

#include "skiff/base/unique_fd.hpp"

namespace skiff::images {
namespace {

// Tar entries up to this size are kept from the listing pass, up to kCacheTotalBytes in all, so
// the documents need no second pass (which, for a compressed tar, decompresses it all again).
constexpr uint64_t kCacheFileBytes = 1 << 20;
constexpr uint64_t kCacheTotalBytes = 16 << 20;
// An image archive has a few files per layer; a tar with more is not one (or is a root fs).
constexpr size_t kMaxEntries = 1 << 16;

std::string kind_of_mode(mode_t mode) {
    if (S_ISLNK(mode)) return "symlink";
    if (S_ISDIR(mode)) return "directory";
    if (S_ISCHR(mode)) return "character device";
    if (S_ISBLK(mode)) return "block device";
    if (S_ISFIFO(mode)) return "fifo";
    if (S_ISSOCK(mode)) return "socket";
    return "regular file";
}

// openat2 beneath dirfd, following no symlink anywhere: a layout can't point outside itself.
int open_beneath(int dirfd, const std::string& path, uint64_t flags) {
    open_how how{};
    how.flags = flags | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    for (int tries = 0; tries < 16; ++tries) {
        int fd = static_cast<int>(syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how));
        if (fd >= 0 || errno != EAGAIN) return fd;  // EAGAIN: a concurrent rename; retry
    }
    return -1;
}

// An extracted layout or docker-archive.
class DirSource : public Source {
  public:
    explicit DirSource(UniqueFd dir) : dir_(std::move(dir)) {}

    Result<std::optional<EntryInfo>> stat(const std::string& name) override {
        UniqueFd fd(open_beneath(dir_.get(), name, O_PATH | O_NOFOLLOW));
        if (!fd) {
            if (errno == ENOENT) return std::optional<EntryInfo>();
            return open_error(name);
        }
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) return Error::from_errno(name + ": fstat");
        return std::optional<EntryInfo>(EntryInfo{S_ISREG(st.st_mode), kind_of_mode(st.st_mode),
                                                  static_cast<uint64_t>(st.st_size)});
    }

    Result<std::string> read(const std::string& name, uint64_t limit) override {
        auto fd = open_regular(name);
        if (!fd) return std::move(fd).error();
        struct stat st {};
        if (::fstat(fd->get(), &st) != 0) return Error::from_errno(name + ": fstat");
        auto size = static_cast<uint64_t>(st.st_size);
        if (size > limit) return too_big(name, size, limit);
        std::string out(static_cast<size_t>(st.st_size), '\0');
        size_t got = 0;
        SKIFF_TRY_CTX(read_exactly(fd->get(), out.data(), out.size(), got), name);
        out.resize(got);
        return out;
    }

    Result<std::string> head(const std::string& name) override {
        auto fd = open_regular(name);
        if (!fd) return std::move(fd).error();
        std::string out(kHeadBytes, '\0');
        size_t got = 0;
        SKIFF_TRY_CTX(read_exactly(fd->get(), out.data(), out.size(), got), name);
        out.resize(got);
        return out;
    }

    Status stream(const std::map<std::string, ChunkFn>& sinks) override {
        auto buf = std::make_unique<char[]>(kArchiveChunk);
        for (const auto& [name, sink] : sinks) {
            auto fd = open_regular(name);
            if (!fd) return std::move(fd).error();
            for (;;) {
                size_t got = 0;
                SKIFF_TRY_CTX(read_exactly(fd->get(), buf.get(), kArchiveChunk, got), name);
                if (got == 0) break;
                SKIFF_TRY_CTX(sink(buf.get(), got), name);
            }
        }
        return {};
    }

  private:
    static Error open_error(const std::string& name) {
        if (errno == ELOOP) return Error(ELOOP, name + ": reached through a symlink (refused)");
        if (errno == EXDEV) return Error(EXDEV, name + ": outside the directory (refused)");
        return Error::from_errno(name);
    }

    // O_NONBLOCK: opening a fifo planted in the layout must not hang the import.
    Result<UniqueFd> open_regular(const std::string& name) {
        SKIFF_TRY(require_regular(*this, name));  // says what is there instead
        UniqueFd fd(open_beneath(dir_.get(), name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK));
        if (!fd) return open_error(name);
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) return Error::from_errno(name + ": fstat");
        if (!S_ISREG(st.st_mode))
            return Error(EINVAL, name + ": a " + kind_of_mode(st.st_mode) + ", not a regular file");
        return fd;
    }

    UniqueFd dir_;
};

// A tar file (plain, gzip or zstd), listed once when opened.
class TarSource : public Source {
  public:
    static Result<std::unique_ptr<TarSource>> open(const std::string& path) {
        UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) return Error::from_errno("open");
        std::unique_ptr<TarSource> src(new TarSource(std::move(fd)));
        SKIFF_TRY(src->list());
        return src;
    }

    std::string refusal() const override { return refusal_; }

    Result<std::optional<EntryInfo>> stat(const std::string& name) override {
        auto it = entries_.find(name);
        if (it == entries_.end()) return std::optional<EntryInfo>();
        return std::optional<EntryInfo>(it->second.info);
    }

    Result<std::string> read(const std::string& name, uint64_t limit) override {
        auto info = require_regular(*this, name);
        if (!info) return std::move(info).error();
        if (info->size > limit) return too_big(name, info->size, limit);
        if (auto it = cache_.find(name); it != cache_.end()) return it->second;
        std::string out;
        bool found = false;
        SKIFF_TRY(pass([&](archive* a, const std::string& n) -> Status {
            if (n != name || found) return {};
            found = true;
            auto data = read_entry(a, n, limit);
            if (!data) return std::move(data).error();
            out = std::move(*data);
            return {};
        }));
        if (!found) return Error(EIO, name + ": gone from the archive on a second read");
        return out;
    }

    Result<std::string> head(const std::string& name) override {
        auto info = require_regular(*this, name);
        if (!info) return std::move(info).error();
        return entries_.at(name).head;
    }

    Status stream(const std::map<std::string, ChunkFn>& sinks) override {
        std::set<std::string> left;
        for (const auto& [name, sink] : sinks) {
            SKIFF_TRY(require_regular(*this, name));
            if (auto it = cache_.find(name); it != cache_.end())
                SKIFF_TRY_CTX(sink(it->second.data(), it->second.size()), name);
            else
                left.insert(name);
        }
        if (left.empty()) return {};
        auto buf = std::make_unique<char[]>(kArchiveChunk);
        SKIFF_TRY(pass([&](archive* a, const std::string& n) -> Status {
            if (!left.erase(n)) return {};
            const ChunkFn& sink = sinks.at(n);
            for (;;) {
                la_ssize_t got = libarchive().archive_read_data(a, buf.get(), kArchiveChunk);
                if (got < 0) return Error(EIO, n + ": read: " + archive_message(a));
                if (got == 0) return {};
                SKIFF_TRY_CTX(sink(buf.get(), static_cast<size_t>(got)), n);
            }
        }));
        if (!left.empty())
            return Error(EIO, *left.begin() + ": gone from the archive on a second read");
        return {};
    }

  private:
    struct Listed {
        EntryInfo info;
        std::string head;
    };
    using VisitFn = std::function<Status(archive* a, const std::string& name)>;

    explicit TarSource(UniqueFd fd) : fd_(std::move(fd)) {}

    void refuse(std::string why) {
        if (refusal_.empty()) refusal_ = std::move(why);
    }

    // One read of the whole tar; visit sees every regular file (by cleaned name) and may read it.
    Status pass(const VisitFn& visit) {
        return each_entry([&](archive* a, archive_entry* e) {
            const char* raw = libarchive().archive_entry_pathname(e);
            if (!raw || libarchive().archive_entry_filetype(e) != AE_IFREG ||
                libarchive().archive_entry_hardlink(e))
                return Status();
            auto name = clean_archive_path(raw);
            if (!name) return Status();
            return visit(a, *name);
        });
    }

    Status each_entry(const std::function<Status(archive*, archive_entry*)>& visit) {
        if (::lseek(fd_.get(), 0, SEEK_SET) != 0) return Error::from_errno("seek");
        ReadArchive a(libarchive().archive_read_new());
        if (!a) return Error(ENOMEM, "archive_read_new");
        // Only the decoders image archives use: filter_all would run external programs too.
        libarchive().archive_read_support_filter_gzip(a.get());
        libarchive().archive_read_support_filter_zstd(a.get());
        libarchive().archive_read_support_format_tar(a.get());
        if (libarchive().archive_read_open_fd(a.get(), fd_.get(), kArchiveChunk) != ARCHIVE_OK)
            return Error(EINVAL, "not a tar archive: " + archive_message(a.get()));
        for (size_t n = 0;; ++n) {
            archive_entry* e = nullptr;
            int r = libarchive().archive_read_next_header(a.get(), &e);
            if (r == ARCHIVE_EOF) return {};
            if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
                if (n == 0)
                    return Error(EINVAL, "not a tar archive (plain, gzip or zstd): " +
                                             archive_message(a.get()));
                return Error(EINVAL, "damaged tar after " + std::to_string(n) +
                                         " entries: " + archive_message(a.get()));
            }
            SKIFF_TRY(visit(a.get(), e));
        }
    }

    static Result<std::string> read_entry(archive* a, const std::string& name, uint64_t size) {
        std::string out(static_cast<size_t>(size), '\0');
        size_t got = 0;
        while (got < out.size()) {
            la_ssize_t n = libarchive().archive_read_data(a, out.data() + got, out.size() - got);
            if (n < 0) return Error(EIO, name + ": read: " + archive_message(a));
            if (n == 0) break;
            got += static_cast<size_t>(n);
        }
        out.resize(got);
        return out;
    }

    Status list() {
        return each_entry([this](archive* a, archive_entry* e) -> Status {
            const char* raw = libarchive().archive_entry_pathname(e);
            if (!raw) {
                refuse("an entry whose name can't be read");
                return {};
            }
            auto name = clean_archive_path(raw);
            if (!name) {
                refuse(name.error().message());
                return {};
            }
            auto type = libarchive().archive_entry_filetype(e);
            if (name->empty() || type == AE_IFDIR) return {};
            if (entries_.size() >= kMaxEntries) {
                refuse("more than " + std::to_string(kMaxEntries) + " entries");
                return {};
            }
            return add_entry(a, e, *name, quote_name(raw));
        });
    }

    Status add_entry(archive* a, archive_entry* e, const std::string& name,
                     const std::string& raw) {
        Listed l;
        bool hardlink = libarchive().archive_entry_hardlink(e) != nullptr;
        auto type = libarchive().archive_entry_filetype(e);
        l.info.regular = type == AE_IFREG && !hardlink;
        l.info.kind = hardlink ? "hard link" : kind_of_mode(type);
        if (l.info.regular && libarchive().archive_entry_size_is_set(e))
            l.info.size = static_cast<uint64_t>(libarchive().archive_entry_size(e));
        if (l.info.regular) {
            bool cache =
                l.info.size <= kCacheFileBytes && cached_bytes_ + l.info.size <= kCacheTotalBytes;
            auto data = read_entry(a, name, cache ? l.info.size : kHeadBytes);
            if (!data) return std::move(data).error();
            l.head = data->substr(0, kHeadBytes);
            if (cache) {
                cached_bytes_ += data->size();
                cache_[name] = std::move(*data);
            }
        }
        if (!entries_.emplace(name, std::move(l)).second) refuse(raw + ": in the archive twice");
        return {};
    }

    UniqueFd fd_;
    std::map<std::string, Listed> entries_;
    std::map<std::string, std::string> cache_;
    uint64_t cached_bytes_ = 0;
    std::string refusal_;
};

}  // namespace

// A name from an archive, quoted for an error message: control bytes escaped, long ones cut.
std::string quote_name(std::string_view s) {
    std::string out = "\"";
    for (size_t i = 0; i < s.size() && i < 200; ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    if (s.size() > 200) out += "...";
    return out + "\"";
}

// "./a//b/" -> "a/b", "" for the root. Absolute paths and ".." are refused, not cleaned: an
// image archive never needs them, so one that has them is crafted.
Result<std::string> clean_archive_path(std::string_view raw) {
    if (raw.size() >= PATH_MAX) return Error(ENAMETOOLONG, quote_name(raw) + ": name too long");
    if (!raw.empty() && raw[0] == '/') return Error(EINVAL, quote_name(raw) + ": absolute path");
    std::string out;
    std::string_view rest = raw;
    while (!rest.empty()) {
        size_t slash = rest.find('/');
        std::string_view part = rest.substr(0, slash);
        rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
        if (part.empty() || part == ".") continue;
        if (part == "..") return Error(EINVAL, quote_name(raw) + ": \"..\" in the path");
        if (!out.empty()) out += '/';
        out += part;
    }
    return out;
}

Status read_exactly(int fd, char* buf, size_t size, size_t& got) {
    got = 0;
    while (got < size) {
        ssize_t n = ::read(fd, buf + got, size - got);
        if (n < 0) {
            if (errno == EINTR) continue;
            return Error::from_errno("read");
        }
        if (n == 0) break;
        got += static_cast<size_t>(n);
    }
    return {};
}

Status write_all(int fd, const char* data, size_t size) {
    while (size > 0) {
        ssize_t n = ::write(fd, data, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return Error::from_errno("write");
        }
        data += n;
        size -= static_cast<size_t>(n);
    }
    return {};
}

std::string archive_message(archive* a) {
    const char* s = libarchive().archive_error_string(a);
    return s ? s : "unknown libarchive error";
}

Error too_big(const std::string& name, uint64_t size, uint64_t limit) {
    return Error(EFBIG, name + ": " + std::to_string(size) + " bytes, more than the " +
                            std::to_string(limit) + " allowed");
}

// The regular file at name, or an error that says what is there instead.
Result<EntryInfo> require_regular(Source& src, const std::string& name) {
    auto info = src.stat(name);
    if (!info) return std::move(info).error();
    if (!*info) return Error(ENOENT, name + ": not in the archive");
    if (!(*info)->regular)
        return Error(EINVAL, name + ": a " + (*info)->kind + ", not a regular file");
    return **info;
}

Result<std::unique_ptr<Source>> open_directory_source(const std::string& path) {
    UniqueFd dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) return Error::from_errno("open");
    return std::unique_ptr<Source>(new DirSource(std::move(dir)));
}

Result<std::unique_ptr<Source>> open_tar_source(const std::string& path) {
    auto tar = TarSource::open(path);
    if (!tar) return std::move(tar).error();
    return std::unique_ptr<Source>(std::move(*tar));
}

}  // namespace skiff::images
