// Images in files: import from OCI image layouts (directory or tar), docker-archive tars and plain
// root filesystem tars; export to OCI layouts and docker-archive tars.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "skiff/base/result.hpp"
#include "skiff/images/image_service.hpp"
#include "skiff/images/manifest.hpp"

namespace skiff::images {

enum class ImportFormat {
    kAuto,           // a directory or tar with index.json is an OCI layout, with manifest.json a
                     // docker-archive; any other tar is a root filesystem when a name is given
    kOciLayout,      // oci-layout + index.json + blobs/<alg>/<hex> (skopeo's oci:, oci-archive:)
    kDockerArchive,  // manifest.json listing Config, RepoTags, Layers (`docker save`)
    kRootfs,         // a plain (optionally gzip or zstd compressed) tar of a root filesystem
};

enum class ExportFormat {
    kOciArchive,     // an OCI layout in one tar (skopeo's oci-archive:)
    kOciDir,         // an OCI layout directory (skopeo's oci:, umoci)
    kDockerArchive,  // `docker load`'s input (skopeo's docker-archive:)
};

// "auto", "oci" (also "oci-dir", "oci-archive"), "docker-archive", "rootfs".
[[nodiscard]] Result<ImportFormat> parse_import_format(std::string_view text);
// "oci" or "oci-archive", "oci-dir", "docker-archive".
[[nodiscard]] Result<ExportFormat> parse_export_format(std::string_view text);
// Without --format: a DEST ending in ".tar" gets an OCI archive, anything else a layout directory.
ExportFormat default_export_format(std::string_view dest);
std::string_view format_name(ImportFormat format);

struct ImportOptions {
    ImportFormat format = ImportFormat::kAuto;
    // The image's name; empty: the names the archive carries (ref.name / RepoTags). Required for
    // a root filesystem, and when the archive's names are only tags.
    std::string name;
    // Which image of an archive holding several: an OCI layout's ref.name ("v1", or a full name)
    // or a docker-archive RepoTag. Empty: the archive must hold exactly one image.
    std::string selector;
    Platform platform = host_platform();  // for indexes, as pull chooses
    int parallel = 4;                     // layers unpacked at once
};

struct ImportResult {
    ImportFormat format = ImportFormat::kAuto;  // what the source turned out to be
    std::vector<LocalImage> images;             // one per name given to an image
};

// "layout.tar:v1" -> {"layout.tar", "v1"}: the longest prefix that names an existing file or
// directory is the path, the rest the selector. A path that exists as a whole has no selector.
std::pair<std::string, std::string> split_import_source(const std::string& arg);

// Imports everything the archive at source holds (or the image options.selector picks), with
// the rules of a pull: every blob is verified against its digest, layers are unpacked into
// snapshots and checked against the config's diff ids, and the names are set last, under a lease.
//
// Archives are untrusted. Only regular files are read, found by their names in the archive; a
// tar entry named with ".." or an absolute path, or listed twice, refuses the whole archive, and
// a symlink or hard link where a blob should be is an error naming it. JSON documents are capped
// at 4 MiB. A failure found before layers are unpacked (bad JSON, missing or wrong blobs) commits
// nothing; one found while unpacking (a layer's content) leaves verified but unnamed blobs and
// snapshots, which `prune` removes. Errors read "import SOURCE: blobs/sha256/...: ...".
[[nodiscard]] Result<ImportResult> import_image(ImageService& service, const std::string& source,
                                                const ImportOptions& options = {});

struct ExportOptions {
    ExportFormat format = ExportFormat::kOciArchive;
    Platform platform = host_platform();  // for an index whose other platforms aren't in the store
};

// Writes the images refs name to dest, blobs byte for byte as stored (so digests don't change).
// An index is exported whole when the store has all of it, else as options.platform's manifest.
// The result appears at dest only when complete: it is written to a temp file or directory
// beside dest and renamed. A tar dest is replaced; a directory dest must not exist or be empty.
[[nodiscard]] Status export_images(ImageService& service, const std::vector<std::string>& refs,
                                   const std::string& dest, const ExportOptions& options = {});

}  // namespace skiff::images
