// Reading untrusted image archives (an extracted directory or a tar) as regular files by name,
// and the small fd and libarchive helpers that import and export share. Private to images/.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "lazy_libs.hpp"
#include "skiff/base/result.hpp"

namespace skiff::images {

inline constexpr size_t kArchiveChunk = 1 << 20;
inline constexpr size_t kHeadBytes = 8;  // enough for every compression magic we look at

struct EntryInfo {
    bool regular = false;
    std::string kind;  // for errors: "symlink", "hard link", "directory", ...
    uint64_t size = 0;
};

using ChunkFn = std::function<Status(const char* data, size_t size)>;

// An archive's files, by names as clean_archive_path makes them ("blobs/sha256/<hex>").
class Source {
  public:
    virtual ~Source() = default;
    // What the archive has at name; nullopt when nothing.
    [[nodiscard]] virtual Result<std::optional<EntryInfo>> stat(const std::string& name) = 0;
    // A whole regular file of at most limit bytes.
    [[nodiscard]] virtual Result<std::string> read(const std::string& name, uint64_t limit) = 0;
    // Up to kHeadBytes from the start of a regular file.
    [[nodiscard]] virtual Result<std::string> head(const std::string& name) = 0;
    // Streams every named regular file to its function; a tar is read once for all of them.
    [[nodiscard]] virtual Status stream(const std::map<std::string, ChunkFn>& sinks) = 0;
    // Why the archive can't be trusted as an image archive, "" when it can: a tar entry named
    // with ".." or an absolute path, or listed twice, or too many entries. A root filesystem tar
    // may have all of these (unpacking handles them), so the caller decides.
    virtual std::string refusal() const { return {}; }
};

// An extracted layout or docker-archive: every file is opened beneath the directory with
// openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so nothing in it can point outside.
[[nodiscard]] Result<std::unique_ptr<Source>> open_directory_source(const std::string& path);
// A tar (plain, gzip or zstd), listed once here: names, types, sizes, and the contents of its
// small files (where the JSON is), so that documents need no second read.
[[nodiscard]] Result<std::unique_ptr<Source>> open_tar_source(const std::string& path);

// The regular file at name, or an error that says what is there instead.
[[nodiscard]] Result<EntryInfo> require_regular(Source& src, const std::string& name);

// "./a//b/" -> "a/b", "" for the root. Absolute paths and ".." are refused, not cleaned: an
// image archive never needs them, so one that has them is crafted.
[[nodiscard]] Result<std::string> clean_archive_path(std::string_view raw);
// A name from an archive, quoted for an error message: control bytes escaped, long ones cut.
std::string quote_name(std::string_view s);
Error too_big(const std::string& name, uint64_t size, uint64_t limit);

// Reads until size bytes or EOF; got says how many.
[[nodiscard]] Status read_exactly(int fd, char* buf, size_t size, size_t& got);
[[nodiscard]] Status write_all(int fd, const char* data, size_t size);

std::string archive_message(archive* a);
struct ReadArchiveFree {
    void operator()(archive* a) const { libarchive().archive_read_free(a); }
};
using ReadArchive = std::unique_ptr<archive, ReadArchiveFree>;

}  // namespace skiff::images
