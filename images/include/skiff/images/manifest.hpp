// Image manifests, indexes and configs (OCI image spec v1.1, Docker image manifest schema 2):
// media types, parsers that report the JSON path of what is wrong, serializers, platform choice.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "skiff/base/result.hpp"
#include "skiff/images/digest.hpp"

namespace skiff::images {

namespace media_type {
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciEmpty = "application/vnd.oci.empty.v1+json";
inline constexpr std::string_view kOciLayerTar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kOciLayerNondistributableTar =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
inline constexpr std::string_view kOciLayerNondistributableGzip =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
inline constexpr std::string_view kOciLayerNondistributableZstd =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayerGzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view kDockerLayerForeignGzip =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
// Schema 1 (signed, pre-2016); recognised only to refuse it by name.
inline constexpr std::string_view kDockerManifestV1 =
    "application/vnd.docker.distribution.manifest.v1+json";
inline constexpr std::string_view kDockerManifestV1Signed =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";
}  // namespace media_type

// The Accept header for a manifest GET: the four kinds this module parses.
std::string manifest_accept_header();

bool is_manifest_media_type(std::string_view media_type);  // OCI manifest or Docker v2
bool is_index_media_type(std::string_view media_type);     // OCI index or Docker manifest list

// Whether the runtime can unpack layers of this media type (tar, tar+gzip, tar+zstd, OCI or
// Docker, distributable or not); encrypted and artifact layers can't be. unpack.hpp's
// compression_for_media_type says how to decompress one.
bool is_unpackable_layer_media_type(std::string_view media_type);

struct Platform {
    std::string architecture;  // GOARCH names: "amd64", "arm64", "arm", "s390x", ...
    std::string os;            // "linux"
    std::string variant;       // "v7", "v8"; empty when not given
    std::string os_version;
    std::vector<std::string> os_features;

    // "linux/arm64/v8", "linux/amd64".
    std::string str() const;
    bool operator==(const Platform&) const = default;
};

// "os/arch[/variant]" as `--platform` takes it; architecture aliases (x86_64, aarch64) are
// normalised to the GOARCH names that indexes use. Errors name the input.
[[nodiscard]] Result<Platform> parse_platform(std::string_view text);
// The platform this binary was built for ("linux/amd64", "linux/arm64/v8", ...).
Platform host_platform();

struct Descriptor {
    std::string media_type;
    Digest digest;
    int64_t size = 0;  // bytes, never negative
    std::vector<std::string> urls;
    std::map<std::string, std::string> annotations;
    std::optional<Platform> platform;  // index entries only
    std::string artifact_type;         // OCI v1.1; empty when absent

    bool operator==(const Descriptor&) const = default;
};

struct Manifest {
    int schema_version = 2;
    // From the document's mediaType, else the HTTP content type, else the OCI manifest type.
    std::string media_type;
    std::string artifact_type;
    Descriptor config;
    std::vector<Descriptor> layers;
    std::optional<Descriptor> subject;
    std::map<std::string, std::string> annotations;

    bool operator==(const Manifest&) const = default;
};

struct Index {
    int schema_version = 2;
    std::string media_type;  // decided as for Manifest; the OCI index type when unknown
    std::string artifact_type;
    std::vector<Descriptor> manifests;
    std::optional<Descriptor> subject;
    std::map<std::string, std::string> annotations;

    bool operator==(const Index&) const = default;
};

enum class ManifestKind { kManifest, kIndex, kUnsupported };

// What a document from a registry's manifests endpoint (or an OCI layout) is: by its mediaType
// field, else by content_type (the HTTP Content-Type, parameters allowed; "" when unknown), else
// by its structure ("manifests" for an index, "layers"/"config" for a manifest). Malformed JSON,
// schema 1 and unknown media types are kUnsupported; parse_manifest says why.
ManifestKind kind_of(std::string_view bytes, std::string_view content_type);

enum class LayerCheck {
    kUnpackable,  // every layer and the config must be something the runtime can use (pull/run)
    kAny,         // any media types (copying artifacts such as attestations without running them)
};

// An image manifest (OCI or Docker schema 2). Errors start with "manifest: " and name the JSON
// path ("manifest: layers[2].digest: invalid digest ...") or the unsupported media type.
[[nodiscard]] Result<Manifest> parse_manifest(std::string_view bytes,
                                              std::string_view content_type = {},
                                              LayerCheck check = LayerCheck::kUnpackable);
// An image index or Docker manifest list; errors as for parse_manifest.
[[nodiscard]] Result<Index> parse_index(std::string_view bytes, std::string_view content_type = {});
// Either of the two, as kind_of decides; an unsupported document gives parse_manifest's error.
[[nodiscard]] Result<std::variant<Manifest, Index>> parse_manifest_or_index(
    std::string_view bytes, std::string_view content_type = {},
    LayerCheck check = LayerCheck::kUnpackable);

// The entry of an index for the wanted platform: os and architecture equal, and the variant
// equal when wanted has one (arm64 without a variant means v8; amd64's variants are ignored).
// The first match wins, as the OCI spec says. Entries that are not image manifests or indexes
// (and buildkit's unknown/unknown attestations) never match. The error lists what is available.
[[nodiscard]] Result<Descriptor> select_platform(const Index& index, const Platform& wanted);

// The "config" object of an image config: how to run the image.
struct ContainerConfig {
    std::string user;
    std::vector<std::string> env;  // "KEY=value"
    std::vector<std::string> entrypoint;
    std::vector<std::string> cmd;
    std::string working_dir;
    std::map<std::string, std::string> labels;
    std::string stop_signal;
    std::set<std::string> exposed_ports;  // "80/tcp"
    std::set<std::string> volumes;        // "/data"

    bool operator==(const ContainerConfig&) const = default;
};

struct HistoryEntry {
    std::string created;
    std::string created_by;
    std::string author;
    std::string comment;
    bool empty_layer = false;  // true for steps (ENV, CMD, ...) that made no layer

    bool operator==(const HistoryEntry&) const = default;
};

// application/vnd.oci.image.config.v1+json and its Docker twin.
struct ImageConfig {
    std::string architecture;
    std::string os;
    std::string variant;
    std::string os_version;
    std::vector<std::string> os_features;
    std::string created;  // RFC 3339, kept as written
    std::string author;
    ContainerConfig config;
    std::string rootfs_type = "layers";
    std::vector<Digest> diff_ids;  // digests of the uncompressed layers, base first
    std::vector<HistoryEntry> history;

    Platform platform() const { return {architecture, os, variant, os_version, os_features}; }
    bool operator==(const ImageConfig&) const = default;
};

// Errors start with "image config: " and name the JSON path ("image config: config.Env: ...").
[[nodiscard]] Result<ImageConfig> parse_image_config(std::string_view bytes);

// The config and the manifest agree on the layers: one diff_id per manifest layer, and, when the
// config has a history, one non-empty history entry per diff_id. parse_image_config doesn't check
// this, because the config alone can't know the manifest; a puller calls it once it has both.
[[nodiscard]] Status check_config_layers(const Manifest& manifest, const ImageConfig& config);

// Compact JSON with the keys in the Go structs' order (as containerd and docker write them), so
// the same value always gives the same bytes and so the same digest. Empty optional fields are
// left out. Parsing the result gives back an equal value.
std::string manifest_to_json(const Manifest& manifest);
std::string index_to_json(const Index& index);
std::string image_config_to_json(const ImageConfig& config);

}  // namespace skiff::images
