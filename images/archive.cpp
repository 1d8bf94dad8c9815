// Import of images from files: OCI layouts (directory or tar), docker-archive tars, root
// filesystem tars.
//
// An import plans first: every JSON document is read and checked, every blob located in the
// archive (archive_source.hpp). Then, under a lease, it streams the blobs the store lacks into
// the store's writers and commits them only once all of them verified, unpacks the layers,
// stores the documents and sets the names last: the order of a pull.
#include "skiff/images/archive.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>

#include "archive_source.hpp"
#include "skiff/base/fs.hpp"
#include "skiff/base/parallel.hpp"
#include "skiff/base/unique_fd.hpp"
#include "skiff/images/reference.hpp"
#include "skiff/images/unpack.hpp"

namespace skiff::images {
namespace {

using json = nlohmann::json;

// index.json, manifest.json, manifests and configs: real ones are a few KiB, big ones ~1 MiB.
constexpr uint64_t kMaxDocumentBytes = 4 << 20;

constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";
// containerd, nerdctl and docker >= 25 put the full name here and only the tag in ref.name.
constexpr std::string_view kImageNameAnnotation = "io.containerd.image.name";

// ----- compression

Result<Compression> sniff_compression(std::string_view head, const std::string& what) {
    auto starts = [&](std::string_view magic) { return head.substr(0, magic.size()) == magic; };
    if (starts("\x1f\x8b")) return Compression::gzip;
    if (starts("\x28\xb5\x2f\xfd")) return Compression::zstd;
    for (auto [magic, name] : {std::pair{std::string_view("\xfd"
                                                          "7zXZ\0",
                                                          6),
                                         "xz"},
                               std::pair{std::string_view("BZh"), "bzip2"},
                               std::pair{std::string_view("\x04\x22\x4d\x18"), "lz4"}})
        if (starts(magic))
            return Error(ENOTSUP, what + ": " + name +
                                      "-compressed; only plain, gzip and zstd tars are supported");
    return Compression::none;
}

std::string_view oci_layer_media_type(Compression c) {
    switch (c) {
        case Compression::gzip:
            return media_type::kOciLayerGzip;
        case Compression::zstd:
            return media_type::kOciLayerZstd;
        case Compression::none:
            break;
    }
    return media_type::kOciLayerTar;
}

// ---------------------------------------------------------------------------------------------
// Import plans: what to write, found and checked before anything is

struct ArchivedBlob {
    std::string path;  // in the archive
    uint64_t size = 0;
};

struct LayerToUnpack {
    Descriptor layer;
    Digest diff_id;
    std::string path;  // in the archive, for errors
};

struct ImageToName {
    std::vector<std::string> names;  // store keys
    Digest top;
};

struct ImportPlan {
    std::map<std::string, std::string> documents;  // digest -> verified bytes (manifests, configs)
    std::map<std::string, ArchivedBlob> blobs;     // digest -> where the archive has it (layers)
    std::vector<LayerToUnpack> layers;             // one per diff id
    std::vector<ImageToName> images;

    void add_layer(const Descriptor& d, const Digest& diff_id, const std::string& path) {
        blobs.emplace(d.digest.str(), ArchivedBlob{path, static_cast<uint64_t>(d.size)});
        for (const auto& l : layers)
            if (l.diff_id == diff_id) return;
        layers.push_back({d, diff_id, path});
    }
};

Result<std::string> store_key(const std::string& name) {
    auto key = ImageService::key_of(name);
    if (!key) return std::move(key).error().context("image name");
    return key;
}

// A name that is a whole reference ("example.com/app:v1", "busybox:1.36"), not just a tag.
std::optional<std::string> full_name(std::string_view text) {
    if (text.find_first_of("/:@") == std::string_view::npos) return std::nullopt;
    auto key = ImageService::key_of(std::string(text));
    if (!key) return std::nullopt;
    return *key;
}

std::string annotation(const Descriptor& d, std::string_view key) {
    auto it = d.annotations.find(std::string(key));
    return it == d.annotations.end() ? std::string() : it->second;
}

// ----- OCI layout

std::string layout_path(const Digest& d) {
    return "blobs/" + d.algorithm + "/" + d.hex;
}

Status check_sha256(const Digest& d) {
    if (d.algorithm != "sha256")
        return Error(ENOTSUP, layout_path(d) + ": only sha256 digests are supported");
    return {};
}

// A JSON blob of the layout, checked against its descriptor.
Result<std::string> read_document(Source& src, const Descriptor& d) {
    std::string path = layout_path(d.digest);
    SKIFF_TRY(check_sha256(d.digest));
    if (d.size > static_cast<int64_t>(kMaxDocumentBytes))
        return too_big(path, static_cast<uint64_t>(d.size), kMaxDocumentBytes);
    auto bytes = src.read(path, kMaxDocumentBytes);
    if (!bytes) return std::move(bytes).error();
    if (bytes->size() != static_cast<uint64_t>(d.size))
        return Error(EINVAL, path + ": " + std::to_string(bytes->size()) +
                                 " bytes, its descriptor says " + std::to_string(d.size));
    if (Digest actual = sha256_of(*bytes); actual != d.digest)
        return Error(EINVAL, path + ": digest mismatch: the content is " + actual.str());
    return bytes;
}

Status check_layout_marker(Source& src) {
    auto text = src.read("oci-layout", 4096);
    if (!text) return std::move(text).error().context("not an OCI image layout");
    auto j = json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("imageLayoutVersion") ||
        !j["imageLayoutVersion"].is_string())
        return Error(EINVAL, "oci-layout: not {\"imageLayoutVersion\": \"1.0.0\"}");
    return {};
}

// Whether a layout entry is the one the user asked for: by its ref.name, or by full name.
bool entry_matches(const Descriptor& d, const std::string& selector) {
    std::string ref_name = annotation(d, kRefNameAnnotation);
    if (ref_name == selector) return true;
    auto wanted = full_name(selector);
    if (!wanted) return false;
    for (const auto& given : {ref_name, annotation(d, kImageNameAnnotation)})
        if (auto have = full_name(given); have && *have == *wanted) return true;
    return false;
}

std::string entry_names(const Index& index) {
    std::string out;
    for (const auto& m : index.manifests) {
        std::string n = annotation(m, kRefNameAnnotation);
        if (!out.empty()) out += ", ";
        out += n.empty() ? m.digest.str() : quote_name(n);
    }
    return out;
}

Result<Descriptor> choose_layout_entry(const Index& index, const ImportOptions& o) {
    if (index.manifests.empty()) return Error(EINVAL, "index.json lists no images");
    Index candidates = index;
    if (!o.selector.empty()) {
        candidates.manifests.clear();
        for (const auto& m : index.manifests)
            if (entry_matches(m, o.selector)) candidates.manifests.push_back(m);
        if (candidates.manifests.empty())
            return Error(ENOENT, "no image named " + quote_name(o.selector) +
                                     " in the layout (it has " + entry_names(index) + ")");
    }
    if (candidates.manifests.size() == 1) return candidates.manifests[0];
    // Several: one image's platforms (as buildx writes them), or several images.
    std::string first_name = annotation(candidates.manifests[0], kRefNameAnnotation);
    bool different_names = false;
    for (const auto& m : candidates.manifests)
        different_names = different_names || annotation(m, kRefNameAnnotation) != first_name;
    if (different_names)
        return Error(EINVAL, "the layout holds " + std::to_string(candidates.manifests.size()) +
                                 " images (" + entry_names(candidates) +
                                 "); pick one with SOURCE:NAME");
    auto chosen = select_platform(candidates, o.platform);
    if (!chosen) return std::move(chosen).error().context("index.json");
    return chosen;
}

Result<std::vector<std::string>> layout_names(const Descriptor& entry, const ImportOptions& o) {
    if (!o.name.empty()) {
        auto key = store_key(o.name);
        if (!key) return std::move(key).error();
        return std::vector<std::string>{*key};
    }
    std::string ref_name = annotation(entry, kRefNameAnnotation);
    for (const auto& candidate : {ref_name, annotation(entry, kImageNameAnnotation), o.selector})
        if (auto key = full_name(candidate)) return std::vector<std::string>{*key};
    return Error(EINVAL, "the layout names the image only " +
                             (ref_name.empty() ? std::string("by digest") : quote_name(ref_name)) +
                             "; give a NAME for it");
}

// The config and layers of one image manifest.
Status plan_manifest_content(Source& src, const Manifest& m, ImportPlan& plan) {
    auto config_bytes = read_document(src, m.config);
    if (!config_bytes) return std::move(config_bytes).error().context("config");
    auto config = parse_image_config(*config_bytes);
    if (!config) return std::move(config).error().context(layout_path(m.config.digest));
    SKIFF_TRY(check_config_layers(m, *config));
    plan.documents[m.config.digest.str()] = std::move(*config_bytes);
    for (size_t i = 0; i < m.layers.size(); ++i) {
        const Descriptor& layer = m.layers[i];
        std::string path = layout_path(layer.digest);
        std::string what = "layer " + std::to_string(i);
        SKIFF_TRY_CTX(check_sha256(layer.digest), what);
        auto info = require_regular(src, path);
        if (!info) return std::move(info).error().context(what);
        if (info->size != static_cast<uint64_t>(layer.size))
            return Error(EINVAL, what + ": " + path + ": " + std::to_string(info->size) +
                                     " bytes, the manifest says " + std::to_string(layer.size));
        plan.add_layer(layer, config->diff_ids[i], path);
    }
    return {};
}

// The entry's manifest (or index and the platform's manifest) and what it needs.
Status plan_layout_image(Source& src, const Descriptor& top, const Platform& platform,
                         ImportPlan& plan) {
    auto bytes = read_document(src, top);
    if (!bytes) return std::move(bytes).error();
    auto parsed = parse_manifest_or_index(*bytes, top.media_type);
    if (!parsed) return std::move(parsed).error().context(layout_path(top.digest));
    plan.documents[top.digest.str()] = std::move(*bytes);
    if (auto* manifest = std::get_if<Manifest>(&*parsed))
        return plan_manifest_content(src, *manifest, plan);
    auto chosen = select_platform(std::get<Index>(*parsed), platform);
    if (!chosen) return std::move(chosen).error().context(layout_path(top.digest));
    auto child = read_document(src, *chosen);
    if (!child) return std::move(child).error();
    auto manifest = parse_manifest(*child, chosen->media_type);
    if (!manifest) return std::move(manifest).error().context(layout_path(chosen->digest));
    plan.documents[chosen->digest.str()] = std::move(*child);
    return plan_manifest_content(src, *manifest, plan);
}

Result<ImportPlan> plan_oci_layout(Source& src, const ImportOptions& o) {
    SKIFF_TRY(check_layout_marker(src));
    auto index_bytes = src.read("index.json", kMaxDocumentBytes);
    if (!index_bytes) return std::move(index_bytes).error();
    auto index = parse_index(*index_bytes, media_type::kOciIndex);
    if (!index) return std::move(index).error().context("index.json");
    auto entry = choose_layout_entry(*index, o);
    if (!entry) return std::move(entry).error();
    auto names = layout_names(*entry, o);
    if (!names) return std::move(names).error();
    ImportPlan plan;
    SKIFF_TRY(plan_layout_image(src, *entry, o.platform, plan));
    plan.images.push_back({std::move(*names), entry->digest});
    return plan;
}

// ----- docker-archive

struct DockerEntry {
    std::string config;
    std::vector<std::string> repo_tags;
    std::vector<std::string> layers;
};

Result<std::vector<std::string>> string_array(const json& j, const std::string& where) {
    std::vector<std::string> out;
    if (j.is_null()) return out;
    if (!j.is_array()) return Error(EINVAL, where + ": not an array");
    for (size_t i = 0; i < j.size(); ++i) {
        if (!j[i].is_string())
            return Error(EINVAL, where + "[" + std::to_string(i) + "]: not a string");
        out.push_back(j[i].get<std::string>());
    }
    return out;
}

Result<std::vector<DockerEntry>> parse_docker_manifest(std::string_view bytes) {
    auto j = json::parse(bytes, nullptr, false);
    if (j.is_discarded()) return Error(EINVAL, "manifest.json: not JSON");
    if (!j.is_array()) return Error(EINVAL, "manifest.json: not an array");
    std::vector<DockerEntry> out;
    for (size_t i = 0; i < j.size(); ++i) {
        std::string where = "manifest.json[" + std::to_string(i) + "]";
        const json& e = j[i];
        if (!e.is_object() || !e.contains("Config") || !e["Config"].is_string() ||
            !e.contains("Layers"))
            return Error(EINVAL, where + ": not an object with Config and Layers");
        DockerEntry d;
        d.config = e["Config"].get<std::string>();
        auto layers = string_array(e["Layers"], where + ".Layers");
        if (!layers) return std::move(layers).error();
        d.layers = std::move(*layers);
        auto tags = string_array(e.value("RepoTags", json()), where + ".RepoTags");
        if (!tags) return std::move(tags).error();
        d.repo_tags = std::move(*tags);
        out.push_back(std::move(d));
    }
    if (out.empty()) return Error(EINVAL, "manifest.json lists no images");
    return out;
}

struct DockerImage {
    std::vector<std::string> names;
    std::string config_path;
    std::string config_bytes;
    ImageConfig config;
    std::vector<std::string> layer_paths;
    std::vector<uint64_t> layer_sizes;
    std::vector<Compression> compressions;
};

// The entries to import and their names: the selector's, the user's NAME, else RepoTags.
Result<std::vector<DockerImage>> docker_images(std::vector<DockerEntry> entries,
                                               const ImportOptions& o) {
    std::vector<DockerImage> out;
    std::optional<std::string> wanted;
    if (!o.selector.empty()) {
        auto key = store_key(o.selector);
        if (!key) return std::move(key).error();
        wanted = *key;
    }
    for (auto& e : entries) {
        DockerImage img;
        for (const auto& tag : e.repo_tags) {
            auto key = store_key(tag);
            if (!key) return std::move(key).error().context("manifest.json: RepoTags");
            if (!wanted || *key == *wanted) img.names.push_back(*key);
        }
        if (wanted && img.names.empty()) continue;
        img.layer_paths = std::move(e.layers);
        img.config_path = std::move(e.config);
        out.push_back(std::move(img));
    }
    if (out.empty())
        return Error(ENOENT, "no image tagged " + quote_name(o.selector) + " in manifest.json");
    if (!o.name.empty()) {
        if (out.size() > 1)
            return Error(EINVAL, "the archive holds " + std::to_string(out.size()) +
                                     " images; pick the one to name with SOURCE:TAG");
        auto key = store_key(o.name);
        if (!key) return std::move(key).error();
        out[0].names = {*key};
    }
    for (size_t i = 0; i < out.size(); ++i)
        if (out[i].names.empty())
            return Error(EINVAL, "manifest.json[" + std::to_string(i) +
                                     "] has no RepoTags; give a NAME for the image");
    return out;
}

// Reads the image's config and looks at its layers (where they are, their compression).
Status load_docker_image(Source& src, DockerImage& img) {
    auto config_path = clean_archive_path(img.config_path);
    if (!config_path) return std::move(config_path).error().context("manifest.json: Config");
    img.config_path = *config_path;
    auto bytes = src.read(img.config_path, kMaxDocumentBytes);
    if (!bytes) return std::move(bytes).error();
    auto config = parse_image_config(*bytes);
    if (!config) return std::move(config).error().context(img.config_path);
    if (config->diff_ids.size() != img.layer_paths.size())
        return Error(EINVAL, img.config_path + ": " + std::to_string(config->diff_ids.size()) +
                                 " diff_ids for " + std::to_string(img.layer_paths.size()) +
                                 " layers in manifest.json");
    img.config_bytes = std::move(*bytes);
    img.config = std::move(*config);
    for (auto& raw : img.layer_paths) {
        auto path = clean_archive_path(raw);
        if (!path) return std::move(path).error().context("manifest.json: Layers");
        raw = *path;
        auto info = require_regular(src, raw);
        if (!info) return std::move(info).error();
        auto head = src.head(raw);
        if (!head) return std::move(head).error();
        auto c = sniff_compression(*head, raw);
        if (!c) return std::move(c).error();
        img.layer_sizes.push_back(info->size);
        img.compressions.push_back(*c);
    }
    return {};
}

// SHA-256 of each named file, in one read of the archive.
Result<std::map<std::string, Digest>> hash_files(Source& src, const std::set<std::string>& paths) {
    std::map<std::string, std::unique_ptr<Sha256>> hashes;
    std::map<std::string, ChunkFn> sinks;
    for (const auto& p : paths) {
        Sha256* h = hashes.emplace(p, std::make_unique<Sha256>()).first->second.get();
        sinks[p] = [h](const char* data, size_t n) -> Status {
            h->update(data, n);
            return {};
        };
    }
    SKIFF_TRY(src.stream(sinks));
    std::map<std::string, Digest> out;
    for (auto& [p, h] : hashes) out[p] = h->finish();
    return out;
}

// An uncompressed layer's blob digest is its diff id (checked as it is written); compressed
// ones (docker load accepts them) are hashed first.
Result<std::map<std::string, Digest>> docker_layer_digests(Source& src,
                                                           const std::vector<DockerImage>& images) {
    std::set<std::string> to_hash;
    for (const auto& img : images)
        for (size_t i = 0; i < img.layer_paths.size(); ++i)
            if (img.compressions[i] != Compression::none) to_hash.insert(img.layer_paths[i]);
    std::map<std::string, Digest> out;
    if (!to_hash.empty()) {
        auto hashed = hash_files(src, to_hash);
        if (!hashed) return std::move(hashed).error();
        out = std::move(*hashed);
    }
    return out;
}

// skiff stores an OCI manifest for each docker-archive image: the config as it is (a docker
// config is an OCI config with extra fields), the layers as they are in the archive.
void plan_docker_image(const DockerImage& img, const std::map<std::string, Digest>& hashed,
                       ImportPlan& plan) {
    Manifest m;
    m.media_type = media_type::kOciManifest;
    m.config.media_type = media_type::kOciConfig;
    m.config.digest = sha256_of(img.config_bytes);
    m.config.size = static_cast<int64_t>(img.config_bytes.size());
    for (size_t i = 0; i < img.layer_paths.size(); ++i) {
        Descriptor d;
        d.media_type = oci_layer_media_type(img.compressions[i]);
        auto it = hashed.find(img.layer_paths[i]);
        d.digest = it != hashed.end() ? it->second : img.config.diff_ids[i];
        d.size = static_cast<int64_t>(img.layer_sizes[i]);
        plan.add_layer(d, img.config.diff_ids[i], img.layer_paths[i]);
        m.layers.push_back(std::move(d));
    }
    plan.documents[m.config.digest.str()] = img.config_bytes;
    std::string manifest = manifest_to_json(m);
    Digest top = sha256_of(manifest);
    plan.documents[top.str()] = std::move(manifest);
    plan.images.push_back({img.names, top});
}

Result<ImportPlan> plan_docker_archive(Source& src, const ImportOptions& o) {
    auto bytes = src.read("manifest.json", kMaxDocumentBytes);
    if (!bytes) return std::move(bytes).error();
    auto entries = parse_docker_manifest(*bytes);
    if (!entries) return std::move(entries).error();
    auto images = docker_images(std::move(*entries), o);
    if (!images) return std::move(images).error();
    for (auto& img : *images) SKIFF_TRY(load_docker_image(src, img));
    auto hashed = docker_layer_digests(src, *images);
    if (!hashed) return std::move(hashed).error();
    ImportPlan plan;
    for (const auto& img : *images) plan_docker_image(img, *hashed, plan);
    return plan;
}

// ---------------------------------------------------------------------------------------------
// Carrying out a plan

struct PendingBlob {
    Digest digest;
    ArchivedBlob where;
    std::optional<BlobWriter> writer;
    Sha256 hash;
    uint64_t received = 0;
};

// Streams the blobs the store lacks into its writers; commits none unless all are whole.
Status ingest_blobs(Store& store, Source& src, const std::map<std::string, ArchivedBlob>& blobs) {
    std::vector<std::unique_ptr<PendingBlob>> pending;
    std::map<std::string, ChunkFn> sinks;
    for (const auto& [key, where] : blobs) {
        auto p = std::make_unique<PendingBlob>();
        p->digest = *Digest::parse(key);
        p->where = where;
        if (store.has_blob(p->digest)) continue;
        if (sinks.count(where.path))
            return Error(EINVAL, where.path + ": stands for two different layers");
        auto writer = store.begin_blob(p->digest, where.size);
        if (!writer) return std::move(writer).error().context(where.path);
        p->writer.emplace(std::move(*writer));
        PendingBlob* b = p.get();
        sinks[where.path] = [b](const char* data, size_t n) -> Status {
            b->hash.update(data, n);
            b->received += n;
            return b->writer->write(data, n);
        };
        pending.push_back(std::move(p));
    }
    if (pending.empty()) return {};
    SKIFF_TRY(src.stream(sinks));
    for (auto& p : pending) {
        if (p->received != p->where.size)
            return Error(EINVAL, p->where.path + ": " + std::to_string(p->received) +
                                     " bytes, expected " + std::to_string(p->where.size));
        if (Digest actual = p->hash.finish(); actual != p->digest)
            return Error(EINVAL, p->where.path + ": digest mismatch: expected " + p->digest.str() +
                                     ", the content is " + actual.str());
    }
    for (auto& p : pending) {
        auto committed = p->writer->commit();
        if (!committed) return std::move(committed).error().context(p->where.path);
    }
    return {};
}

// Fills a snapshot from a layer and checks it is the diff id the config promised.
Result<std::string> unpack_to_snapshot(Store& store, const std::string& blob,
                                       const std::string& media_type, const Digest& diff_id,
                                       const std::optional<Digest>& blob_digest = std::nullopt) {
    return store.ensure_snapshot(diff_id, [&](const std::string& dir) -> Status {
        UnpackOptions uo;
        uo.media_type = media_type;
        auto stats = unpack_layer_file(blob, dir, uo);
        if (!stats) return std::move(stats).error();
        if (stats->diff_id != diff_id)
            return Error(EBADMSG, "its content is " + stats->diff_id.str() +
                                      ", the image config says " + diff_id.str());
        if (blob_digest && stats->blob_digest != *blob_digest)
            return Error(EBADMSG, "the file changed while it was imported");
        return {};
    });
}

Status unpack_layers(Store& store, const std::vector<LayerToUnpack>& layers, int parallel) {
    return run_parallel(layers.size(), parallel, [&](size_t i) -> Status {
        const LayerToUnpack& l = layers[i];
        if (store.has_snapshot(l.diff_id)) return {};
        auto path = unpack_to_snapshot(store, store.blob_path(l.layer.digest), l.layer.media_type,
                                       l.diff_id);
        if (!path) return std::move(path).error().context("layer " + l.path);
        return {};
    });
}

Result<std::vector<LocalImage>> name_images(ImageService& service,
                                            const std::vector<ImageToName>& images,
                                            const Platform& platform) {
    for (const auto& img : images)
        for (const auto& name : img.names) SKIFF_TRY(service.store().set_ref(name, img.top));
    std::vector<LocalImage> out;
    for (const auto& img : images)
        for (const auto& name : img.names) {
            auto local = service.get(name, platform);
            if (!local) return std::move(local).error();
            out.push_back(std::move(*local));
        }
    return out;
}

Result<std::vector<LocalImage>> carry_out(ImageService& service, Source& src,
                                          const ImportPlan& plan, const ImportOptions& o) {
    Store& store = service.store();
    auto lease = store.lease();
    if (!lease) return std::move(lease).error();
    SKIFF_TRY(ingest_blobs(store, src, plan.blobs));
    SKIFF_TRY(unpack_layers(store, plan.layers, o.parallel));
    for (const auto& [digest, bytes] : plan.documents) {
        auto put = store.put_blob(bytes);
        if (!put) return std::move(put).error();
    }
    return name_images(service, plan.images, o.platform);
}

// ---------------------------------------------------------------------------------------------
// Root filesystem tars

struct RootfsDigests {
    Digest blob;
    Digest diff_id;
    Compression compression = Compression::none;
    uint64_t size = 0;
};

Result<Digest> hash_decompressed(int fd, Compression c) {
    if (::lseek(fd, 0, SEEK_SET) != 0) return Error::from_errno("seek");
    ReadArchive a(libarchive().archive_read_new());
    if (!a) return Error(ENOMEM, "archive_read_new");
    if (c == Compression::gzip) libarchive().archive_read_support_filter_gzip(a.get());
    if (c == Compression::zstd) libarchive().archive_read_support_filter_zstd(a.get());
    libarchive().archive_read_support_format_raw(a.get());
    archive_entry* e = nullptr;
    if (libarchive().archive_read_open_fd(a.get(), fd, kArchiveChunk) != ARCHIVE_OK ||
        libarchive().archive_read_next_header(a.get(), &e) != ARCHIVE_OK)
        return Error(EINVAL, "decompress: " + archive_message(a.get()));
    Sha256 hash;
    auto buf = std::make_unique<char[]>(kArchiveChunk);
    for (;;) {
        la_ssize_t n = libarchive().archive_read_data(a.get(), buf.get(), kArchiveChunk);
        if (n < 0) return Error(EINVAL, "decompress: " + archive_message(a.get()));
        if (n == 0) break;
        hash.update(buf.get(), static_cast<size_t>(n));
    }
    return hash.finish();
}

Result<RootfsDigests> hash_rootfs(int fd) {
    RootfsDigests out;
    Sha256 hash;
    std::string head;
    auto buf = std::make_unique<char[]>(kArchiveChunk);
    for (;;) {
        size_t got = 0;
        SKIFF_TRY(read_exactly(fd, buf.get(), kArchiveChunk, got));
        if (got == 0) break;
        if (head.size() < kHeadBytes) head.append(buf.get(), std::min(got, kHeadBytes));
        hash.update(buf.get(), got);
        out.size += got;
    }
    out.blob = hash.finish();
    auto c = sniff_compression(head, "the file");
    if (!c) return std::move(c).error();
    out.compression = *c;
    if (out.compression == Compression::none) {
        out.diff_id = out.blob;
        return out;
    }
    auto diff_id = hash_decompressed(fd, out.compression);
    if (!diff_id) return std::move(diff_id).error();
    out.diff_id = *diff_id;
    return out;
}

Status copy_into_store(Store& store, int fd, const RootfsDigests& d) {
    if (store.has_blob(d.blob)) return {};
    if (::lseek(fd, 0, SEEK_SET) != 0) return Error::from_errno("seek");
    auto writer = store.begin_blob(d.blob, d.size);
    if (!writer) return std::move(writer).error();
    auto buf = std::make_unique<char[]>(kArchiveChunk);
    for (;;) {
        size_t got = 0;
        SKIFF_TRY(read_exactly(fd, buf.get(), kArchiveChunk, got));
        if (got == 0) break;
        SKIFF_TRY(writer->write(buf.get(), got));
    }
    auto committed = writer->commit();
    if (!committed) return std::move(committed).error();
    return {};
}

std::string now_rfc3339() {
    time_t t = ::time(nullptr);
    tm utc{};
    ::gmtime_r(&t, &utc);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return buf;
}

// The config of a one-layer image: platform, creation time, the layer; no Cmd (as podman import).
std::string rootfs_config(const Digest& diff_id, const Platform& platform,
                          const std::string& source) {
    ImageConfig c;
    c.architecture = platform.architecture;
    c.os = platform.os;
    c.variant = platform.variant;
    c.created = now_rfc3339();
    c.diff_ids = {diff_id};
    std::string base = source.substr(source.rfind('/') + 1);
    c.history = {HistoryEntry{c.created, "skiff image import " + base, "", "", false}};
    return image_config_to_json(c);
}

// The layer is stored as the user gave it (plain, gzip or zstd): no CPU spent recompressing, and
// the same file always gives the same layer digest. It is unpacked from the file itself before
// anything is committed, so a file that isn't a (safe) tar leaves the store as it was.
Result<ImportResult> import_rootfs(ImageService& service, const std::string& path,
                                   const ImportOptions& o) {
    if (o.name.empty()) return Error(EINVAL, "a root filesystem tar needs a NAME for the image");
    auto key = store_key(o.name);
    if (!key) return std::move(key).error();
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (!fd) return Error::from_errno("open");
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
        return Error(EINVAL, "a root filesystem must be a tar file");
    auto digests = hash_rootfs(fd.get());
    if (!digests) return std::move(digests).error();

    Descriptor layer;
    layer.media_type = oci_layer_media_type(digests->compression);
    layer.digest = digests->blob;
    layer.size = static_cast<int64_t>(digests->size);
    Store& store = service.store();
    auto lease = store.lease();
    if (!lease) return std::move(lease).error();
    auto snapshot =
        unpack_to_snapshot(store, path, layer.media_type, digests->diff_id, digests->blob);
    if (!snapshot) return std::move(snapshot).error();
    SKIFF_TRY(copy_into_store(store, fd.get(), *digests));

    std::string config = rootfs_config(digests->diff_id, o.platform, path);
    Manifest m;
    m.media_type = media_type::kOciManifest;
    m.config.media_type = media_type::kOciConfig;
    m.config.digest = sha256_of(config);
    m.config.size = static_cast<int64_t>(config.size());
    m.layers = {layer};
    std::string manifest = manifest_to_json(m);
    for (const std::string* doc : {&config, &manifest}) {
        auto put = store.put_blob(*doc);
        if (!put) return std::move(put).error();
    }
    auto images = name_images(service, {{{*key}, sha256_of(manifest)}}, o.platform);
    if (!images) return std::move(images).error();
    return ImportResult{ImportFormat::kRootfs, std::move(*images)};
}

// ---------------------------------------------------------------------------------------------
// Import entry point

Result<ImportFormat> detect_format(Source& src, bool is_dir, const ImportOptions& o) {
    for (auto [file, format] : {std::pair{"index.json", ImportFormat::kOciLayout},
                                std::pair{"manifest.json", ImportFormat::kDockerArchive}}) {
        auto info = src.stat(file);
        if (!info) return std::move(info).error();
        if (*info) return format;
    }
    if (!is_dir && !o.name.empty()) return ImportFormat::kRootfs;
    std::string msg = "not an OCI layout or docker-archive (no index.json or manifest.json)";
    if (!is_dir) msg += "; to import a root filesystem tar, give a NAME for the image";
    return Error(EINVAL, msg);
}

Result<ImportResult> import_archive(ImageService& service, const std::string& source,
                                    const ImportOptions& o) {
    struct stat st {};
    if (::stat(source.c_str(), &st) != 0) return Error::from_errno("stat");
    bool is_dir = S_ISDIR(st.st_mode);
    if (!is_dir && !S_ISREG(st.st_mode)) return Error(EINVAL, "not a file or directory");
    if (o.format == ImportFormat::kRootfs) return import_rootfs(service, source, o);

    auto opened = is_dir ? open_directory_source(source) : open_tar_source(source);
    if (!opened) return std::move(opened).error();
    std::unique_ptr<Source> src = std::move(*opened);
    ImportFormat format = o.format;
    if (format == ImportFormat::kAuto) {
        auto detected = detect_format(*src, is_dir, o);
        if (!detected) return std::move(detected).error();
        format = *detected;
    }
    if (format == ImportFormat::kRootfs) {
        if (is_dir) return Error(EINVAL, "a root filesystem must be a tar file");
        src.reset();
        return import_rootfs(service, source, o);
    }
    if (std::string why = src->refusal(); !why.empty()) return Error(EINVAL, why + " (refused)");
    auto plan = format == ImportFormat::kOciLayout ? plan_oci_layout(*src, o)
                                                   : plan_docker_archive(*src, o);
    if (!plan) return std::move(plan).error();
    auto images = carry_out(service, *src, *plan, o);
    if (!images) return std::move(images).error();
    return ImportResult{format, std::move(*images)};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public API

Result<ImportFormat> parse_import_format(std::string_view text) {
    if (text == "auto") return ImportFormat::kAuto;
    if (text == "oci" || text == "oci-dir" || text == "oci-archive")
        return ImportFormat::kOciLayout;
    if (text == "docker-archive") return ImportFormat::kDockerArchive;
    if (text == "rootfs") return ImportFormat::kRootfs;
    return Error(EINVAL, "unknown import format " + quote_name(text) +
                             " (auto, oci, docker-archive or rootfs)");
}

std::string_view format_name(ImportFormat format) {
    switch (format) {
        case ImportFormat::kAuto:
            return "auto";
        case ImportFormat::kOciLayout:
            return "oci";
        case ImportFormat::kDockerArchive:
            return "docker-archive";
        case ImportFormat::kRootfs:
            return "rootfs";
    }
    return "?";
}

std::pair<std::string, std::string> split_import_source(const std::string& arg) {
    if (fs::exists(arg)) return {arg, ""};
    for (size_t colon = arg.find(':'); colon != std::string::npos; colon = arg.find(':', colon + 1))
        if (colon > 0 && fs::exists(arg.substr(0, colon)))
            return {arg.substr(0, colon), arg.substr(colon + 1)};
    return {arg, ""};
}

Result<ImportResult> import_image(ImageService& service, const std::string& source,
                                  const ImportOptions& options) {
    auto loaded = load_libarchive();
    if (!loaded) return std::move(loaded).error().context("import " + source);
    auto r = import_archive(service, source, options);
    if (!r) return std::move(r).error().context("import " + source);
    return r;
}

}  // namespace skiff::images