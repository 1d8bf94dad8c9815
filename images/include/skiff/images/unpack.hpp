// Unpacking one OCI layer blob (tar, tar+gzip, tar+zstd) into a directory, safely, with libarchive.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "skiff/base/result.hpp"
#include "skiff/images/digest.hpp"

namespace skiff::images {

enum class Compression { none, gzip, zstd };

std::string_view compression_name(Compression c);

// The compression an OCI or Docker layer media type promises ("application/vnd.oci.image.layer.
// v1.tar+gzip" -> gzip). Unknown media types are an error that quotes them.
[[nodiscard]] Result<Compression> compression_for_media_type(std::string_view media_type);

struct UnpackOptions {
    // Empty: the compression is detected from the blob's first bytes. Otherwise the blob must
    // match what the media type promises, or unpacking fails before anything is written.
    std::string media_type;
    // false: overlayfs layer format, for a snapshot used as a lowerdir: ".wh.NAME" becomes a 0/0
    // character device NAME and ".wh..wh..opq" sets trusted.overlay.opaque="y" on its directory.
    // true: the copy fallback, where layers are unpacked one after another onto one flat
    // directory: ".wh.NAME" deletes what lower layers left at NAME, and an opaque marker deletes
    // the lower layers' content of its directory. Entries of this same layer are never deleted.
    bool apply_whiteouts_in_place = false;
    // Set owners from the tar headers (needs CAP_CHOWN). false keeps the caller's ids.
    bool set_owners = true;
    // false: leave UnpackStats::blob_digest empty, for a caller that hashes the blob itself (a
    // pull streaming the download into the store's verifying writer and into the unpacker).
    bool hash_blob = true;
};

struct UnpackStats {
    Digest diff_id;      // SHA-256 of the uncompressed tar stream (the image config's diff_ids)
    Digest blob_digest;  // SHA-256 of the blob as read (the manifest's layer digest)
    Compression compression = Compression::none;
    uint64_t blob_bytes = 0;      // bytes read from the blob
    uint64_t tar_bytes = 0;       // bytes of uncompressed tar stream
    uint64_t entries = 0;         // tar entries processed, whiteouts included
    uint64_t bytes = 0;           // regular-file content written
    uint64_t whiteouts = 0;       // whiteouts and opaque markers
    uint64_t skipped_xattrs = 0;  // refused by the file system (EOPNOTSUPP) or overlay-internal
};

// Unpacks the layer blob read from blob_fd (from its current offset to EOF) into dest_dir, which
// should be an empty directory (overlay mode) or the flat root being built (in-place mode).
//
// Every entry is resolved beneath dest_dir without following any symlink; an entry that would
// land outside it (".." above the root, through a symlink, a hard link to something outside or
// not from this layer, a whiteout of "..") is refused with an error naming the entry. Leading
// "/" is stripped, as tar does. Owners, modes (setuid/setgid/sticky too), mtimes, xattrs and file
// capabilities are kept; directories get their metadata after their contents are written.
//
// On error dest_dir holds a partial layer: the caller removes it (skiff::fs::remove_all) and must
// not use it. No fsync is done; the caller syncs the snapshot before recording it complete.
[[nodiscard]] Result<UnpackStats> unpack_layer(int blob_fd, const std::string& dest_dir,
                                               const UnpackOptions& options = {});
[[nodiscard]] Result<UnpackStats> unpack_layer_file(const std::string& blob_path,
                                                    const std::string& dest_dir,
                                                    const UnpackOptions& options = {});

}  // namespace skiff::images
