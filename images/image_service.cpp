// Pull: manifest (or index) -> config -> layers downloaded and unpacked in parallel -> ref.
#include "skiff/images/image_service.hpp"

#include <sys/socket.h>

#include <atomic>
#include <thread>

#include "skiff/base/parallel.hpp"
#include "skiff/base/unique_fd.hpp"

#include "skiff/images/reference.hpp"
#include "skiff/images/unpack.hpp"

namespace skiff::images {
namespace {

Error diff_id_mismatch(size_t index, const Descriptor& layer, const Digest& actual,
                       const Digest& promised) {
    return Error(EBADMSG, "layer " + std::to_string(index) + " (" + layer.digest.str() +
                              "): its content is " + actual.str() + ", the image config says " +
                              promised.str());
}

// Fetches a blob into the store through its verifying writer.
Status fetch_blob(RegistryClient& client, Store& store, const std::string& repo,
                  const Descriptor& d) {
    if (store.has_blob(d.digest)) return {};
    auto writer = store.begin_blob(d.digest, static_cast<uint64_t>(d.size));
    if (!writer) return std::move(writer).error();
    SKIFF_TRY(client.get_blob_into(repo, d.digest, static_cast<uint64_t>(d.size),
                                   [&](const char* p, size_t n) { return writer->write(p, n); }));
    auto committed = writer->commit();
    if (!committed) return std::move(committed).error();
    return {};
}

// Unpacks layer blob into its snapshot (once per diff id across images and processes) and checks
// that what came out is the diff id the image config promised.
Result<std::string> unpack_to_snapshot(Store& store, const Descriptor& layer, const Digest& diff_id,
                                       size_t index) {
    std::string blob = store.blob_path(layer.digest);
    auto path = store.ensure_snapshot(diff_id, [&](const std::string& dir) -> Status {
        UnpackOptions o;
        o.media_type = layer.media_type;
        auto stats = unpack_layer_file(blob, dir, o);
        if (!stats) return std::move(stats).error();
        if (stats->diff_id != diff_id)
            return diff_id_mismatch(index, layer, stats->diff_id, diff_id);
        return {};
    });
    if (!path) return std::move(path).error().context("unpack layer " + std::to_string(index));
    return path;
}

// Downloads a layer and unpacks it as it arrives, so the network and the disk work at once: each
// chunk goes to the store's verifying blob writer and, through a socket, to the unpacker on a
// thread of its own. The blob's digest is checked first (a tampered layer is reported as such,
// not as whatever the unpacker made of it), then the unpacked content against the diff id;
// ensure_snapshot publishes the snapshot only when this returns ok.
Status stream_layer(RegistryClient& client, Store& store, const std::string& repo,
                    const Descriptor& layer, const Digest& diff_id, size_t index,
                    const std::string& dir) {
    auto writer = store.begin_blob(layer.digest, static_cast<uint64_t>(layer.size));
    if (!writer) return std::move(writer).error();
    int pair[2];
    // A socket, not a pipe: a send to an unpacker that gave up fails with EPIPE, not SIGPIPE.
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
        return Error::from_errno("socketpair");
    UniqueFd to_unpacker(pair[0]);
    Result<UnpackStats> unpacked = Error("not unpacked");
    std::thread unpacker([&, from_download = UniqueFd(pair[1])] {
        UnpackOptions o;
        o.media_type = layer.media_type;
        o.hash_blob = false;  // the blob writer hashes it
        unpacked = unpack_layer(from_download.get(), dir, o);
    });
    // Once the unpacker has given up, the rest of the blob still goes to the writer, so that
    // its digest can be checked.
    auto send_to_unpacker = [&](const char* p, size_t n) {
        while (n > 0 && to_unpacker) {
            ssize_t sent = ::send(to_unpacker.get(), p, n, MSG_NOSIGNAL);
            if (sent < 0 && errno == EINTR) continue;
            if (sent < 0) {
                to_unpacker.reset();
                return;
            }
            p += sent;
            n -= static_cast<size_t>(sent);
        }
    };
    Status downloaded = client.get_blob_into(
        repo, layer.digest, static_cast<uint64_t>(layer.size), [&](const char* p, size_t n) -> Status {
            SKIFF_TRY(writer->write(p, n));
            send_to_unpacker(p, n);
            return {};
        });
    to_unpacker.reset();  // end of stream for the unpacker
    unpacker.join();
    if (!downloaded) return downloaded;
    auto committed = writer->commit();
    if (!committed) return std::move(committed).error();
    if (!unpacked) return std::move(unpacked).error();
    if (unpacked->diff_id != diff_id) return diff_id_mismatch(index, layer, unpacked->diff_id, diff_id);
    return {};
}

// How to talk to the registry of ref: the caller's TLS choices, and credentials given or saved
// for that host by `skiff login`.
RegistryClient::Options client_options(const Reference& ref, const PullOptions& options) {
    RegistryClient::Options co;
    co.registry_host = ref.registry_host();
    co.tls_verify = options.tls_verify;
    co.plain_http = options.plain_http;
    co.ca_file = options.ca_file;
    co.credentials = options.credentials;
    if (!co.credentials) {
        auto found = find_credentials(co.registry_host);
        if (found && *found) co.credentials = **found;
    }
    co.parallel = options.parallel;
    co.progress = options.progress;
    return co;
}

}  // namespace

Result<ImageService> ImageService::open(const std::string& root, StoreOptions options) {
    auto store = Store::open(root, options);
    if (!store) return std::move(store).error().context("image store " + root);
    return ImageService(std::move(*store));
}

Result<std::string> ImageService::key_of(const std::string& ref) {
    auto r = Reference::parse(ref);
    if (!r) return std::move(r).error();
    return r->str();
}

Result<LocalImage> ImageService::resolve(const std::string& name, const Digest& top,
                                         const Platform& platform) const {
    auto bytes = store_.read_blob(top);
    if (!bytes) return std::move(bytes).error().context(name);
    auto parsed = parse_manifest_or_index(*bytes);
    if (!parsed) return std::move(parsed).error().context(name);
    LocalImage img;
    img.name = name;
    img.digest = top;
    img.manifest_digest = top;
    if (auto* index = std::get_if<Index>(&*parsed)) {
        auto chosen = select_platform(*index, platform);
        if (!chosen) return std::move(chosen).error().context(name);
        img.manifest_digest = chosen->digest;
        auto child = store_.read_blob(chosen->digest);
        if (!child) return std::move(child).error().context(name + " for " + platform.str());
        auto m = parse_manifest(*child, chosen->media_type);
        if (!m) return std::move(m).error().context(name);
        img.manifest = std::move(*m);
    } else {
        img.manifest = std::get<Manifest>(std::move(*parsed));
    }
    auto config = store_.read_blob(img.manifest.config.digest);
    if (!config) return std::move(config).error().context(name + ": config");
    auto cfg = parse_image_config(*config);
    if (!cfg) return std::move(cfg).error().context(name);
    img.config = std::move(*cfg);
    SKIFF_TRY_CTX(check_config_layers(img.manifest, img.config), name);
    img.size = static_cast<uint64_t>(img.manifest.config.size);
    for (size_t i = 0; i < img.config.diff_ids.size(); ++i) {
        const Digest& diff = img.config.diff_ids[i];
        if (!store_.has_snapshot(diff))
            return Error(ENOENT, name + ": layer " + std::to_string(i) + " is not unpacked");
        img.layers.push_back(store_.snapshot_path(diff));
        img.size += static_cast<uint64_t>(img.manifest.layers[i].size);
    }
    return img;
}

Result<LocalImage> ImageService::get(const std::string& ref, const Platform& platform) const {
    auto key = key_of(ref);
    if (!key) return std::move(key).error();
    auto top = store_.get_ref(*key);
    if (!top) {
        if (top.error().code() == ENOENT) return Error(ENOENT, "image " + ref + " is not in the store");
        return std::move(top).error();
    }
    return resolve(*key, *top, platform);
}

Result<PullResult> ImageService::pull(const std::string& text, const PullOptions& options) {
    auto ref = Reference::parse(text);
    if (!ref) return std::move(ref).error();
    std::string name = ref->str();
    auto failed = [&](Error e) { return std::move(e).context("pull " + name); };

    RegistryClient::Options co = client_options(*ref, options);
    RegistryClient client(co);
    const std::string& repo = ref->repository;

    auto lease = store_.lease();
    if (!lease) return failed(std::move(lease).error());

    PullResult out;
    // Already here? One HEAD request tells which manifest the tag names now.
    std::optional<Digest> top_digest = ref->digest;
    if (!top_digest) {
        auto head = client.head_manifest(repo, ref->manifest_ref());
        if (!head) return failed(std::move(head).error());
        if (!*head) return failed(Error(ENOENT, name + " not found in " + co.registry_host));
        top_digest = (*head)->digest;
    }
    if (store_.has_blob(*top_digest)) {
        if (auto local = resolve(name, *top_digest, options.platform); local) {
            SKIFF_TRY(store_.set_ref(name, *top_digest));
            out.image = std::move(*local);
            out.already_present = true;
            return out;
        }
    }

    auto fetched = client.get_manifest(repo, top_digest->str());
    if (!fetched) return failed(std::move(fetched).error());
    auto stored = store_.put_blob(fetched->bytes);
    if (!stored) return failed(std::move(stored).error());
    auto parsed = parse_manifest_or_index(fetched->bytes, fetched->media_type);
    if (!parsed) return failed(std::move(parsed).error());
    Manifest manifest;
    if (auto* index = std::get_if<Index>(&*parsed)) {
        auto chosen = select_platform(*index, options.platform);
        if (!chosen) return failed(std::move(chosen).error());
        auto child = client.get_manifest(repo, chosen->digest.str());
        if (!child) return failed(std::move(child).error());
        auto put = store_.put_blob(child->bytes);
        if (!put) return failed(std::move(put).error());
        auto m = parse_manifest(child->bytes, child->media_type);
        if (!m) return failed(std::move(m).error());
        manifest = std::move(*m);
    } else {
        manifest = std::get<Manifest>(std::move(*parsed));
    }

    if (auto r = fetch_blob(client, store_, repo, manifest.config); !r)
        return failed(std::move(r).error().context("config"));
    auto config_bytes = store_.read_blob(manifest.config.digest);
    if (!config_bytes) return failed(std::move(config_bytes).error());
    auto config = parse_image_config(*config_bytes);
    if (!config) return failed(std::move(config).error());
    if (auto r = check_config_layers(manifest, *config); !r) return failed(std::move(r).error());

    // Each layer: download (unless its blob or snapshot is here already), then unpack, several
    // layers at a time so the network and the disk work together.
    std::atomic<unsigned> downloaded{0};
    auto layer_work = [&](size_t i) -> Status {
        const Descriptor& layer = manifest.layers[i];
        const Digest& diff = config->diff_ids[i];
        if (store_.has_snapshot(diff)) return {};
        if (!store_.has_blob(layer.digest)) {
            // Another process may be filling the same snapshot: ensure_snapshot waits for it
            // and then calls nothing.
            auto path = store_.ensure_snapshot(diff, [&](const std::string& dir) {
                ++downloaded;
                return stream_layer(client, store_, repo, layer, diff, i, dir);
            });
            if (!path) return std::move(path).error().context("layer " + std::to_string(i));
            return {};
        }
        auto path = unpack_to_snapshot(store_, layer, diff, i);
        if (!path) return std::move(path).error();
        return {};
    };
    if (auto r = run_parallel(manifest.layers.size(), options.parallel, layer_work); !r)
        return failed(std::move(r).error());

    SKIFF_TRY(store_.set_ref(name, *top_digest));
    auto local = resolve(name, *top_digest, options.platform);
    if (!local) return failed(std::move(local).error());
    out.image = std::move(*local);
    out.layers_downloaded = downloaded;
    return out;
}

Result<Digest> ImageService::push(const std::string& source, const std::string& target,
                                  const PullOptions& options) {
    auto image = get(source, options.platform);
    if (!image) return std::move(image).error();
    auto ref = Reference::parse(target);
    if (!ref) return std::move(ref).error();
    std::string name = ref->str();
    auto failed = [&](Error e) { return std::move(e).context("push " + name); };
    RegistryClient::Options co = client_options(*ref, options);
    RegistryClient client(co);
    const std::string& repo = ref->repository;
    // Where the blobs may already be: the repository the image was pulled from, if it is on
    // the same registry (a cross-repository mount then copies nothing).
    std::string from_repo;
    if (auto src = Reference::parse(image->name);
        src && src->registry_host() == co.registry_host && src->repository != repo)
        from_repo = src->repository;
    std::vector<Descriptor> blobs = image->manifest.layers;
    blobs.push_back(image->manifest.config);
    for (const auto& b : blobs) {
        auto exists = client.blob_exists(repo, b.digest);
        if (!exists) return failed(std::move(exists).error());
        if (*exists) continue;
        if (!from_repo.empty()) {
            auto mounted = client.mount_blob(repo, b.digest, from_repo);
            if (mounted && *mounted) continue;
        }
        if (!store_.has_blob(b.digest))
            return failed(Error(ENOENT, "blob " + b.digest.str() + " is not in the store"));
        SKIFF_TRY(client.push_blob(repo, b.digest, store_.blob_path(b.digest)));
    }
    auto manifest = store_.read_blob(image->manifest_digest);
    if (!manifest) return failed(std::move(manifest).error());
    auto pushed = client.put_manifest(repo, ref->manifest_ref(), *manifest, image->manifest.media_type);
    if (!pushed) return failed(std::move(pushed).error());
    return *pushed;
}

Result<std::vector<LocalImage>> ImageService::list(const Platform& platform) const {
    auto refs = store_.list_refs();
    if (!refs) return std::move(refs).error();
    std::vector<LocalImage> out;
    for (const auto& [name, digest] : *refs) {
        auto img = resolve(name, digest, platform);
        if (img) out.push_back(std::move(*img));
    }
    return out;
}

Status ImageService::tag(const std::string& source, const std::string& target) {
    auto from = key_of(source);
    if (!from) return std::move(from).error();
    auto to = key_of(target);
    if (!to) return std::move(to).error();
    auto digest = store_.get_ref(*from);
    if (!digest) return Error(ENOENT, "image " + source + " is not in the store");
    return store_.set_ref(*to, *digest);
}

Status ImageService::remove(const std::string& ref) {
    auto key = key_of(ref);
    if (!key) return std::move(key).error();
    auto r = store_.remove_ref(*key);
    if (!r && r.error().code() == ENOENT) return Error(ENOENT, "image " + ref + " is not in the store");
    return r;
}

Result<References> ImageService::references_of(const Digest& manifest) const {
    auto bytes = store_.read_blob(manifest);
    if (!bytes) return std::move(bytes).error();
    auto parsed = parse_manifest_or_index(*bytes, {}, LayerCheck::kAny);
    if (!parsed) return std::move(parsed).error();
    References refs;
    if (auto* index = std::get_if<Index>(&*parsed)) {
        for (const auto& m : index->manifests) refs.manifests.push_back(m.digest);
        return refs;
    }
    const auto& m = std::get<Manifest>(*parsed);
    refs.blobs.push_back(m.config.digest);
    for (const auto& l : m.layers) refs.blobs.push_back(l.digest);
    if (store_.has_blob(m.config.digest)) {
        auto config = store_.read_blob(m.config.digest);
        if (!config) return std::move(config).error();
        auto cfg = parse_image_config(*config);
        if (!cfg) return std::move(cfg).error();
        refs.snapshots = cfg->diff_ids;
    }
    return refs;
}

Result<PruneReport> ImageService::prune() {
    return store_.prune([this](const Digest& d) { return references_of(d); });
}

Result<StoreUsage> ImageService::usage() const {
    return store_.usage([this](const Digest& d) { return references_of(d); });
}

}  // namespace skiff::images
