// Manifest, index and image config JSON to structs and back, and platform selection from an index.
#include "skiff/images/manifest.hpp"

#include <algorithm>
#include <cerrno>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

namespace skiff::images {
namespace {

using nlohmann::json;
using ojson = nlohmann::ordered_json;  // keys in insertion order: the Go structs' field order

enum Presence { kOptional, kRequired };

std::string join(const std::string& path, const char* key) {
    return path.empty() ? std::string(key) : path + "." + key;
}
std::string element(const std::string& path, size_t i) {
    return path + "[" + std::to_string(i) + "]";
}

Error expected(const std::string& path, const char* what) {
    return Error(EINVAL, path + ": expected " + what);
}

// The member, or nullptr when absent or null: Go's encoders write null for unset slices and maps.
const json* member(const json& obj, const char* key) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
}

// Declared before field() below so that its dependent call finds them by ordinary lookup:
// argument-dependent lookup does not look into this unnamed namespace.
Status read_value(const json& v, const std::string& p, Platform& out);
Status read_value(const json& v, const std::string& p, Descriptor& out);
Status read_value(const json& v, const std::string& p, std::vector<Descriptor>& out);
Status read_value(const json& v, const std::string& p, std::optional<Descriptor>& out);
Status read_value(const json& v, const std::string& p, ContainerConfig& out);
Status read_value(const json& v, const std::string& p, std::vector<HistoryEntry>& out);

Status read_value(const json& v, const std::string& p, std::string& out) {
    if (!v.is_string()) return expected(p, "a string");
    out = v.get<std::string>();
    return {};
}

Status read_value(const json& v, const std::string& p, bool& out) {
    if (!v.is_boolean()) return expected(p, "a boolean");
    out = v.get<bool>();
    return {};
}

// Sizes and schema versions: JSON integers only (no 1.0, no 1e3), as Go's encoding/json reads
// them into int64.
Status read_value(const json& v, const std::string& p, int64_t& out) {
    if (v.is_number_unsigned()) {
        auto u = v.get<uint64_t>();
        if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            return Error(EINVAL, p + ": " + std::to_string(u) + " is out of range");
        out = static_cast<int64_t>(u);
        return {};
    }
    if (v.is_number_integer()) {
        out = v.get<int64_t>();
        return {};
    }
    return expected(p, "an integer");
}

Status read_value(const json& v, const std::string& p, Digest& out) {
    if (!v.is_string()) return expected(p, "a digest string");
    auto d = Digest::parse(v.get<std::string>());
    if (!d) return std::move(d).error().context(p);
    out = std::move(*d);
    return {};
}

Status read_value(const json& v, const std::string& p, std::vector<std::string>& out) {
    if (!v.is_array()) return expected(p, "an array of strings");
    out.clear();
    out.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
        if (!v[i].is_string()) return expected(element(p, i), "a string");
        out.push_back(v[i].get<std::string>());
    }
    return {};
}

Status read_value(const json& v, const std::string& p, std::map<std::string, std::string>& out) {
    if (!v.is_object()) return expected(p, "an object of strings");
    out.clear();
    for (const auto& [key, value] : v.items()) {
        if (!value.is_string()) return expected(p + "[\"" + key + "\"]", "a string");
        out.emplace(key, value.get<std::string>());
    }
    return {};
}

// ExposedPorts and Volumes are Go map[string]struct{}: only the keys carry meaning.
Status read_value(const json& v, const std::string& p, std::set<std::string>& out) {
    if (!v.is_object()) return expected(p, "an object");
    out.clear();
    for (const auto& [key, value] : v.items()) {
        if (!value.is_object() && !value.is_null())
            return expected(p + "[\"" + key + "\"]", "an object");
        out.insert(key);
    }
    return {};
}

Status read_value(const json& v, const std::string& p, std::vector<Digest>& out) {
    if (!v.is_array()) return expected(p, "an array of digests");
    out.clear();
    out.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
        Digest d;
        SKIFF_TRY(read_value(v[i], element(p, i), d));
        out.push_back(std::move(d));
    }
    return {};
}

// Reads obj[key] into out; an absent optional field leaves out as it was.
template <class T>
Status field(const json& obj, const std::string& path, const char* key, T& out,
             Presence presence = kOptional) {
    const json* v = member(obj, key);
    if (v == nullptr) {
        if (presence == kRequired)
            return Error(EINVAL, join(path, key) + ": missing required field");
        return {};
    }
    return read_value(*v, join(path, key), out);
}

Status read_value(const json& v, const std::string& p, Platform& out) {
    if (!v.is_object()) return expected(p, "an object");
    SKIFF_TRY(field(v, p, "architecture", out.architecture, kRequired));
    SKIFF_TRY(field(v, p, "os", out.os, kRequired));
    SKIFF_TRY(field(v, p, "os.version", out.os_version));
    SKIFF_TRY(field(v, p, "os.features", out.os_features));
    SKIFF_TRY(field(v, p, "variant", out.variant));
    return {};
}

Status read_value(const json& v, const std::string& p, Descriptor& out) {
    if (!v.is_object()) return expected(p, "an object");
    SKIFF_TRY(field(v, p, "mediaType", out.media_type, kRequired));
    if (out.media_type.empty()) return Error(EINVAL, join(p, "mediaType") + ": empty media type");
    SKIFF_TRY(field(v, p, "digest", out.digest, kRequired));
    SKIFF_TRY(field(v, p, "size", out.size, kRequired));
    if (out.size < 0)
        return Error(EINVAL, join(p, "size") + ": expected a non-negative integer, got " +
                                 std::to_string(out.size));
    SKIFF_TRY(field(v, p, "urls", out.urls));
    SKIFF_TRY(field(v, p, "annotations", out.annotations));
    if (const json* platform = member(v, "platform")) {
        Platform pl;
        SKIFF_TRY(read_value(*platform, join(p, "platform"), pl));
        out.platform = std::move(pl);
    }
    SKIFF_TRY(field(v, p, "artifactType", out.artifact_type));
    return {};
}

Status read_value(const json& v, const std::string& p, std::vector<Descriptor>& out) {
    if (!v.is_array()) return expected(p, "an array");
    out.clear();
    out.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
        Descriptor d;
        SKIFF_TRY(read_value(v[i], element(p, i), d));
        out.push_back(std::move(d));
    }
    return {};
}

Status read_value(const json& v, const std::string& p, std::optional<Descriptor>& out) {
    Descriptor d;
    SKIFF_TRY(read_value(v, p, d));
    out = std::move(d);
    return {};
}

// nlohmann's message is "[json.exception.parse_error.101] parse error at line 1, column 2:
// syntax error while parsing ..."; the byte offset goes in front, so keep the explanation only.
std::string parse_error_detail(const std::string& what) {
    auto at = what.find("parse error");
    if (at == std::string::npos) return what;
    auto colon = what.find(": ", at);
    if (colon == std::string::npos) return what;
    return what.substr(colon + 2);
}

Result<json> parse_document(std::string_view bytes) {
    try {
        json doc = json::parse(bytes.begin(), bytes.end());
        if (!doc.is_object()) return Error(EINVAL, "expected a JSON object");
        return doc;
    } catch (const json::parse_error& e) {
        // e.byte is the offset of the offending byte, like Go's json.SyntaxError.Offset.
        return Error(EINVAL, "syntax error at byte " + std::to_string(e.byte) + ": " +
                                 parse_error_detail(e.what()));
    }
}

std::string lowercase(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// The media type a Content-Type header names, or "" when it names none worth believing: servers
// and files often say application/json or octet-stream for any manifest.
std::string content_media_type(std::string_view content_type) {
    std::string_view t = content_type.substr(0, content_type.find(';'));
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    std::string mt = lowercase(t);
    if (mt == "application/json" || mt == "text/plain" || mt == "application/octet-stream" ||
        mt == "binary/octet-stream")
        return {};
    return mt;
}

bool is_schema1(std::string_view mt) {
    return mt == media_type::kDockerManifestV1 || mt == media_type::kDockerManifestV1Signed;
}

// What the document says it is. An unreadable mediaType field is an error; an absent one defers
// to the content type; "" means neither says.
Result<std::string> declared_media_type(const json& doc, std::string_view content_type) {
    if (auto it = doc.find("mediaType"); it != doc.end() && !it->is_null()) {
        if (!it->is_string()) return expected("mediaType", "a string");
        std::string mt = it->get<std::string>();
        if (!mt.empty()) return mt;
    }
    return content_media_type(content_type);
}

Error unsupported_media_type(const std::string& mt) {
    std::string msg = "unsupported manifest media type \"" + mt + "\"";
    if (is_schema1(mt)) msg += " (Docker schema 1; push the image again with a current client)";
    return Error(EINVAL, msg);
}

Result<ManifestKind> classify(const json& doc, std::string_view content_type) {
    auto mt = declared_media_type(doc, content_type);
    if (!mt) return std::move(mt).error();
    if (!mt->empty() && !is_manifest_media_type(*mt) && !is_index_media_type(*mt))
        return unsupported_media_type(*mt);
    if (const json* sv = member(doc, "schemaVersion"); sv && *sv == 1)
        return Error(EINVAL,
                     "unsupported manifest schema version 1 (Docker schema 1); push the image "
                     "again with a current client");
    if (is_manifest_media_type(*mt)) return ManifestKind::kManifest;
    if (is_index_media_type(*mt)) return ManifestKind::kIndex;
    if (doc.contains("manifests")) return ManifestKind::kIndex;
    if (doc.contains("layers") || doc.contains("config")) return ManifestKind::kManifest;
    return Error(EINVAL,
                 "neither mediaType nor content type given, and the document has none of "
                 "\"manifests\", \"layers\" or \"config\"");
}

Status check_schema_version(const json& doc) {
    int64_t version = 0;
    SKIFF_TRY(field(doc, "", "schemaVersion", version, kRequired));
    if (version != 2)
        return Error(EINVAL,
                     "schemaVersion: unsupported schema version " + std::to_string(version));
    return {};
}

Status read_manifest(const json& doc, std::string_view content_type, LayerCheck check,
                     Manifest& out) {
    auto mt = declared_media_type(doc, content_type);
    if (!mt) return std::move(mt).error();
    auto kind = classify(doc, content_type);
    if (!kind) return std::move(kind).error();
    if (*kind == ManifestKind::kIndex)
        return Error(EINVAL, "expected an image manifest, got an image index" +
                                 (mt->empty() ? std::string() : " (" + *mt + ")"));
    SKIFF_TRY(check_schema_version(doc));
    out.media_type = mt->empty() ? std::string(media_type::kOciManifest) : *mt;
    // A document that is both would let an index pass for a manifest to one reader and not to
    // another; the OCI spec asks readers to refuse it.
    if (doc.contains("manifests"))
        return Error(EINVAL,
                     "manifests: not allowed in an image manifest (" + out.media_type + ")");
    SKIFF_TRY(field(doc, "", "artifactType", out.artifact_type));
    SKIFF_TRY(field(doc, "", "config", out.config, kRequired));
    SKIFF_TRY(field(doc, "", "layers", out.layers, kRequired));
    SKIFF_TRY(field(doc, "", "subject", out.subject));
    SKIFF_TRY(field(doc, "", "annotations", out.annotations));
    if (check == LayerCheck::kUnpackable) {
        if (out.config.media_type != media_type::kOciConfig &&
            out.config.media_type != media_type::kDockerConfig)
            return Error(EINVAL,
                         "config.mediaType: \"" + out.config.media_type +
                             "\" is not an image config (an artifact, not a runnable image)");
        for (size_t i = 0; i < out.layers.size(); ++i) {
            const std::string& lt = out.layers[i].media_type;
            if (is_unpackable_layer_media_type(lt)) continue;
            std::string msg =
                element("layers", i) + ": unsupported layer media type \"" + lt + "\"";
            if (lt.find("+encrypted") != std::string::npos)
                msg += " (encrypted layers are not supported)";
            return Error(EINVAL, msg);
        }
    }
    return {};
}

Status read_index(const json& doc, std::string_view content_type, Index& out) {
    auto mt = declared_media_type(doc, content_type);
    if (!mt) return std::move(mt).error();
    auto kind = classify(doc, content_type);
    if (!kind) return std::move(kind).error();
    if (*kind == ManifestKind::kManifest)
        return Error(EINVAL, "expected an image index, got an image manifest" +
                                 (mt->empty() ? std::string() : " (" + *mt + ")"));
    SKIFF_TRY(check_schema_version(doc));
    out.media_type = mt->empty() ? std::string(media_type::kOciIndex) : *mt;
    for (const char* key : {"config", "layers"})
        if (doc.contains(key))
            return Error(EINVAL, std::string(key) + ": not allowed in an image index (" +
                                     out.media_type + ")");
    SKIFF_TRY(field(doc, "", "artifactType", out.artifact_type));
    SKIFF_TRY(field(doc, "", "manifests", out.manifests, kRequired));
    SKIFF_TRY(field(doc, "", "subject", out.subject));
    SKIFF_TRY(field(doc, "", "annotations", out.annotations));
    return {};
}

// Runs a reader with every exception (bad_alloc, nlohmann's) turned into an Error, so nothing
// is thrown past the API.
template <class F>
Status guarded(F&& f) {
    try {
        return f();
    } catch (const std::exception& e) {
        return Error(e.what());
    }
}

// Errors get the document's name in front, except those that already say "manifest".
Error named(Error e, const char* what) {
    if (e.message().rfind("unsupported manifest", 0) == 0) return e;
    return std::move(e).context(what);
}

}  // namespace

std::string manifest_accept_header() {
    return std::string(media_type::kOciManifest) + ", " + std::string(media_type::kOciIndex) +
           ", " + std::string(media_type::kDockerManifest) + ", " +
           std::string(media_type::kDockerManifestList);
}

bool is_manifest_media_type(std::string_view mt) {
    return mt == media_type::kOciManifest || mt == media_type::kDockerManifest;
}

bool is_index_media_type(std::string_view mt) {
    return mt == media_type::kOciIndex || mt == media_type::kDockerManifestList;
}

bool is_unpackable_layer_media_type(std::string_view mt) {
    using namespace media_type;
    return mt == kOciLayerTar || mt == kOciLayerGzip || mt == kOciLayerZstd ||
           mt == kOciLayerNondistributableTar || mt == kOciLayerNondistributableGzip ||
           mt == kOciLayerNondistributableZstd || mt == kDockerLayerGzip ||
           mt == kDockerLayerForeignGzip ||
           // Docker never pushes it, but its own code knows the uncompressed variant.
           mt == "application/vnd.docker.image.rootfs.diff.tar";
}

ManifestKind kind_of(std::string_view bytes, std::string_view content_type) {
    try {
        auto doc = parse_document(bytes);
        if (!doc) return ManifestKind::kUnsupported;
        auto kind = classify(*doc, content_type);
        return kind ? *kind : ManifestKind::kUnsupported;
    } catch (const std::exception&) {
        return ManifestKind::kUnsupported;
    }
}

Result<Manifest> parse_manifest(std::string_view bytes, std::string_view content_type,
                                LayerCheck check) {
    Manifest m;
    Status s = guarded([&]() -> Status {
        auto doc = parse_document(bytes);
        if (!doc) return std::move(doc).error();
        return read_manifest(*doc, content_type, check, m);
    });
    if (!s) return named(std::move(s).error(), "manifest");
    return m;
}

Result<Index> parse_index(std::string_view bytes, std::string_view content_type) {
    Index index;
    Status s = guarded([&]() -> Status {
        auto doc = parse_document(bytes);
        if (!doc) return std::move(doc).error();
        return read_index(*doc, content_type, index);
    });
    if (!s) return named(std::move(s).error(), "manifest");
    return index;
}

Result<std::variant<Manifest, Index>> parse_manifest_or_index(std::string_view bytes,
                                                              std::string_view content_type,
                                                              LayerCheck check) {
    std::variant<Manifest, Index> out;
    Status s = guarded([&]() -> Status {
        auto doc = parse_document(bytes);
        if (!doc) return std::move(doc).error();
        auto kind = classify(*doc, content_type);
        if (!kind) return std::move(kind).error();
        if (*kind == ManifestKind::kIndex) {
            Index index;
            SKIFF_TRY(read_index(*doc, content_type, index));
            out = std::move(index);
            return {};
        }
        Manifest m;
        SKIFF_TRY(read_manifest(*doc, content_type, check, m));
        out = std::move(m);
        return {};
    });
    if (!s) return named(std::move(s).error(), "manifest");
    return out;
}

// ---- Platforms ----

namespace {

// Docker, Debian and uname names to the GOARCH names that indexes use, as containerd's
// platforms.Normalize does; amd64's microarchitecture levels don't select images, so its variant
// is dropped, and arm64 without a variant is v8.
Platform normalized(Platform p) {
    p.os = lowercase(p.os);
    p.architecture = lowercase(p.architecture);
    p.variant = lowercase(p.variant);
    const std::string& a = p.architecture;
    if (a == "x86_64" || a == "x86-64" || a == "amd64") {
        p.architecture = "amd64";
        p.variant.clear();
    } else if (a == "aarch64" || a == "arm64") {
        p.architecture = "arm64";
        if (p.variant.empty() || p.variant == "8") p.variant = "v8";
    } else if (a == "armhf") {
        p.architecture = "arm";
        p.variant = "v7";
    } else if (a == "armel") {
        p.architecture = "arm";
        p.variant = "v6";
    } else if (a == "arm") {
        if (p.variant.size() == 1 && p.variant[0] >= '5' && p.variant[0] <= '8')
            p.variant = "v" + p.variant;
    } else if (a == "i386" || a == "i486" || a == "i586" || a == "i686" || a == "x86") {
        p.architecture = "386";
    }
    return p;
}

bool matches(const Platform& candidate, const Platform& wanted) {
    Platform c = normalized(candidate);
    Platform w = normalized(wanted);
    return c.os == w.os && c.architecture == w.architecture &&
           (w.variant.empty() || c.variant == w.variant);
}

bool valid_platform_part(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    return true;
}

}  // namespace

std::string Platform::str() const {
    std::string s = os + "/" + architecture;
    if (!variant.empty()) s += "/" + variant;
    return s;
}

Result<Platform> parse_platform(std::string_view text) {
    auto bad = [&](const std::string& why) {
        return Error(EINVAL, "invalid platform \"" + std::string(text) + "\": " + why);
    };
    std::vector<std::string_view> parts;
    size_t start = 0;
    for (;;) {
        size_t slash = text.find('/', start);
        parts.push_back(text.substr(start, slash - start));
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    if (parts.size() < 2 || parts.size() > 3) return bad("expected OS/ARCH[/VARIANT]");
    for (std::string_view part : parts)
        if (!valid_platform_part(part))
            return bad("\"" + std::string(part) + "\" is not a valid OS, architecture or variant");
    Platform p;
    p.os = std::string(parts[0]);
    p.architecture = std::string(parts[1]);
    if (parts.size() == 3) p.variant = std::string(parts[2]);
    p = normalized(std::move(p));
    // arm64 always comes back as v8 from normalisation; keep it out of the user's value unless
    // they asked for it, so str() shows what they wrote.
    if (parts.size() == 2 && p.architecture == "arm64") p.variant.clear();
    return p;
}

Platform host_platform() {
    Platform p;
    p.os = "linux";
#if defined(__x86_64__)
    p.architecture = "amd64";
#elif defined(__aarch64__)
    p.architecture = "arm64";
    p.variant = "v8";
#elif defined(__arm__)
    p.architecture = "arm";
#if defined(__ARM_ARCH) && __ARM_ARCH >= 7
    p.variant = "v7";
#elif defined(__ARM_ARCH) && __ARM_ARCH == 6
    p.variant = "v6";
#endif
#elif defined(__i386__)
    p.architecture = "386";
#elif defined(__s390x__)
    p.architecture = "s390x";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    p.architecture = "ppc64le";
#elif defined(__riscv) && __riscv_xlen == 64
    p.architecture = "riscv64";
#else
#error "host_platform: unknown architecture"
#endif
    return p;
}

Result<Descriptor> select_platform(const Index& index, const Platform& wanted) {
    std::vector<std::string> available;
    for (const Descriptor& d : index.manifests) {
        if (!d.platform) continue;
        if (!is_manifest_media_type(d.media_type) && !is_index_media_type(d.media_type)) continue;
        // buildkit's attestation manifests: not an image for any platform.
        if (d.platform->os == "unknown" || d.platform->architecture == "unknown") continue;
        if (matches(*d.platform, wanted)) return d;
        std::string name = d.platform->str();
        if (std::find(available.begin(), available.end(), name) == available.end())
            available.push_back(std::move(name));
    }
    std::string list;
    for (const std::string& name : available) list += (list.empty() ? "" : ", ") + name;
    return Error(ENOENT, "no image for platform " + wanted.str() + " in the index (available: " +
                             (list.empty() ? std::string("none") : list) + ")");
}

// ---- Image config ----

namespace {

Status read_value(const json& v, const std::string& p, ContainerConfig& out) {
    if (!v.is_object()) return expected(p, "an object");
    SKIFF_TRY(field(v, p, "User", out.user));
    SKIFF_TRY(field(v, p, "ExposedPorts", out.exposed_ports));
    SKIFF_TRY(field(v, p, "Env", out.env));
    SKIFF_TRY(field(v, p, "Entrypoint", out.entrypoint));
    SKIFF_TRY(field(v, p, "Cmd", out.cmd));
    SKIFF_TRY(field(v, p, "Volumes", out.volumes));
    SKIFF_TRY(field(v, p, "WorkingDir", out.working_dir));
    SKIFF_TRY(field(v, p, "Labels", out.labels));
    SKIFF_TRY(field(v, p, "StopSignal", out.stop_signal));
    return {};
}

Status read_value(const json& v, const std::string& p, HistoryEntry& out) {
    if (!v.is_object()) return expected(p, "an object");
    SKIFF_TRY(field(v, p, "created", out.created));
    SKIFF_TRY(field(v, p, "created_by", out.created_by));
    SKIFF_TRY(field(v, p, "author", out.author));
    SKIFF_TRY(field(v, p, "comment", out.comment));
    SKIFF_TRY(field(v, p, "empty_layer", out.empty_layer));
    return {};
}

Status read_value(const json& v, const std::string& p, std::vector<HistoryEntry>& out) {
    if (!v.is_array()) return expected(p, "an array");
    out.clear();
    out.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
        HistoryEntry h;
        SKIFF_TRY(read_value(v[i], element(p, i), h));
        out.push_back(std::move(h));
    }
    return {};
}

Status read_image_config(const json& doc, ImageConfig& out) {
    SKIFF_TRY(field(doc, "", "created", out.created));
    SKIFF_TRY(field(doc, "", "author", out.author));
    SKIFF_TRY(field(doc, "", "architecture", out.architecture, kRequired));
    SKIFF_TRY(field(doc, "", "os", out.os, kRequired));
    SKIFF_TRY(field(doc, "", "os.version", out.os_version));
    SKIFF_TRY(field(doc, "", "os.features", out.os_features));
    SKIFF_TRY(field(doc, "", "variant", out.variant));
    SKIFF_TRY(field(doc, "", "config", out.config));
    const json* rootfs = member(doc, "rootfs");
    if (rootfs == nullptr) return Error(EINVAL, "rootfs: missing required field");
    if (!rootfs->is_object()) return expected("rootfs", "an object");
    SKIFF_TRY(field(*rootfs, "rootfs", "type", out.rootfs_type, kRequired));
    if (out.rootfs_type != "layers")
        return Error(EINVAL, "rootfs.type: expected \"layers\", got \"" + out.rootfs_type + "\"");
    SKIFF_TRY(field(*rootfs, "rootfs", "diff_ids", out.diff_ids, kRequired));
    SKIFF_TRY(field(doc, "", "history", out.history));
    return {};
}

}  // namespace

Result<ImageConfig> parse_image_config(std::string_view bytes) {
    ImageConfig config;
    Status s = guarded([&]() -> Status {
        auto doc = parse_document(bytes);
        if (!doc) return std::move(doc).error();
        return read_image_config(*doc, config);
    });
    if (!s) return std::move(s).error().context("image config");
    return config;
}

Status check_config_layers(const Manifest& manifest, const ImageConfig& config) {
    if (manifest.layers.size() != config.diff_ids.size())
        return Error(EINVAL, "the manifest has " + std::to_string(manifest.layers.size()) +
                                 " layers but the image config has " +
                                 std::to_string(config.diff_ids.size()) + " diff_ids");
    if (config.history.empty()) return {};
    size_t non_empty =
        static_cast<size_t>(std::count_if(config.history.begin(), config.history.end(),
                                          [](const HistoryEntry& h) { return !h.empty_layer; }));
    if (non_empty != config.diff_ids.size())
        return Error(EINVAL, "the image config's history has " + std::to_string(non_empty) +
                                 " non-empty layers but rootfs.diff_ids has " +
                                 std::to_string(config.diff_ids.size()));
    return {};
}

// ---- Serialisation ----

namespace {

void put_string(ojson& o, const char* key, const std::string& v) {
    if (!v.empty()) o[key] = v;
}
void put_strings(ojson& o, const char* key, const std::vector<std::string>& v) {
    if (!v.empty()) o[key] = v;
}
void put_string_map(ojson& o, const char* key, const std::map<std::string, std::string>& v) {
    if (v.empty()) return;
    ojson m = ojson::object();
    for (const auto& [k, val] : v) m[k] = val;
    o[key] = std::move(m);
}
void put_key_set(ojson& o, const char* key, const std::set<std::string>& v) {
    if (v.empty()) return;
    ojson m = ojson::object();
    for (const auto& k : v) m[k] = ojson::object();
    o[key] = std::move(m);
}

ojson platform_json(const Platform& p) {
    ojson o = ojson::object();
    o["architecture"] = p.architecture;
    o["os"] = p.os;
    put_string(o, "os.version", p.os_version);
    put_strings(o, "os.features", p.os_features);
    put_string(o, "variant", p.variant);
    return o;
}

ojson descriptor_json(const Descriptor& d) {
    ojson o = ojson::object();
    o["mediaType"] = d.media_type;
    o["digest"] = d.digest.str();
    o["size"] = d.size;
    put_strings(o, "urls", d.urls);
    put_string_map(o, "annotations", d.annotations);
    if (d.platform) o["platform"] = platform_json(*d.platform);
    put_string(o, "artifactType", d.artifact_type);
    return o;
}

ojson descriptors_json(const std::vector<Descriptor>& v) {
    ojson a = ojson::array();
    for (const Descriptor& d : v) a.push_back(descriptor_json(d));
    return a;
}

// Strings a caller built (not parsed JSON) may hold invalid UTF-8; replace it rather than throw.
std::string dump(const ojson& o) {
    return o.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

}  // namespace

std::string manifest_to_json(const Manifest& m) {
    ojson o = ojson::object();
    o["schemaVersion"] = m.schema_version;
    put_string(o, "mediaType", m.media_type);
    put_string(o, "artifactType", m.artifact_type);
    o["config"] = descriptor_json(m.config);
    o["layers"] = descriptors_json(m.layers);
    if (m.subject) o["subject"] = descriptor_json(*m.subject);
    put_string_map(o, "annotations", m.annotations);
    return dump(o);
}

std::string index_to_json(const Index& index) {
    ojson o = ojson::object();
    o["schemaVersion"] = index.schema_version;
    put_string(o, "mediaType", index.media_type);
    put_string(o, "artifactType", index.artifact_type);
    o["manifests"] = descriptors_json(index.manifests);
    if (index.subject) o["subject"] = descriptor_json(*index.subject);
    put_string_map(o, "annotations", index.annotations);
    return dump(o);
}

std::string image_config_to_json(const ImageConfig& c) {
    ojson o = ojson::object();
    put_string(o, "created", c.created);
    put_string(o, "author", c.author);
    o["architecture"] = c.architecture;
    o["os"] = c.os;
    put_string(o, "os.version", c.os_version);
    put_strings(o, "os.features", c.os_features);
    put_string(o, "variant", c.variant);
    ojson config = ojson::object();
    put_string(config, "User", c.config.user);
    put_key_set(config, "ExposedPorts", c.config.exposed_ports);
    put_strings(config, "Env", c.config.env);
    put_strings(config, "Entrypoint", c.config.entrypoint);
    put_strings(config, "Cmd", c.config.cmd);
    put_key_set(config, "Volumes", c.config.volumes);
    put_string(config, "WorkingDir", c.config.working_dir);
    put_string_map(config, "Labels", c.config.labels);
    put_string(config, "StopSignal", c.config.stop_signal);
    o["config"] = std::move(config);
    ojson diff_ids = ojson::array();
    for (const Digest& d : c.diff_ids) diff_ids.push_back(d.str());
    o["rootfs"] = ojson{{"type", c.rootfs_type}, {"diff_ids", std::move(diff_ids)}};
    if (!c.history.empty()) {
        ojson history = ojson::array();
        for (const HistoryEntry& h : c.history) {
            ojson e = ojson::object();
            put_string(e, "created", h.created);
            put_string(e, "created_by", h.created_by);
            put_string(e, "author", h.author);
            put_string(e, "comment", h.comment);
            if (h.empty_layer) e["empty_layer"] = true;
            history.push_back(std::move(e));
        }
        o["history"] = std::move(history);
    }
    return dump(o);
}

}  // namespace skiff::images
