// Images as users handle them: pull from a registry into the store, look up, tag, remove, prune.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "skiff/base/result.hpp"
#include "skiff/images/credentials.hpp"
#include "skiff/images/digest.hpp"
#include "skiff/images/manifest.hpp"
#include "skiff/images/registry_client.hpp"
#include "skiff/images/store.hpp"

namespace skiff::images {

struct PullOptions {
    Platform platform = host_platform();
    bool tls_verify = true;
    bool plain_http = false;  // http:// from the start (tls_verify=false finds it out by itself)
    std::string ca_file;
    std::optional<Credentials> credentials;  // else ~/.docker/config.json, if it has the host
    int parallel = 4;                         // layers downloaded and unpacked at once
    RegistryClient::ProgressFn progress;
};

// An image in the store, resolved for one platform.
struct LocalImage {
    std::string name;         // the ref: "127.0.0.1:5000/app:v1"
    Digest digest;            // what the ref points at (an index or a manifest)
    Digest manifest_digest;   // the platform's image manifest
    Manifest manifest;
    ImageConfig config;
    std::vector<std::string> layers;  // snapshot directories, base layer first
    uint64_t size = 0;                // compressed bytes of config and layers
};

struct PullResult {
    LocalImage image;
    bool already_present = false;  // nothing was downloaded
    unsigned layers_downloaded = 0;
};

class ImageService {
public:
    [[nodiscard]] static Result<ImageService> open(const std::string& root,
                                                   StoreOptions options = {});

    // Pulls ref (docker's reference syntax) for options.platform. An image already complete in
    // the store costs one manifest request (HEAD) and downloads nothing.
    [[nodiscard]] Result<PullResult> pull(const std::string& ref, const PullOptions& options);
    // Pushes the image `source` names (its manifest for options.platform, with config and
    // layers) to the registry and name of `target`: blobs the registry has are skipped, blobs of
    // the same registry's other repositories are mounted. Returns the pushed manifest's digest.
    [[nodiscard]] Result<Digest> push(const std::string& source, const std::string& target,
                                      const PullOptions& options);
    // The image ref names, from the store alone.
    [[nodiscard]] Result<LocalImage> get(const std::string& ref,
                                         const Platform& platform = host_platform()) const;
    [[nodiscard]] Result<std::vector<LocalImage>> list(const Platform& platform = host_platform()) const;
    // Another name for the same image.
    [[nodiscard]] Status tag(const std::string& source, const std::string& target);
    // Removes the name; its content goes at the next prune unless another name still uses it.
    [[nodiscard]] Status remove(const std::string& ref);
    [[nodiscard]] Result<PruneReport> prune();
    [[nodiscard]] Result<StoreUsage> usage() const;

    // What a manifest (or index) keeps alive, for the store's garbage collector.
    [[nodiscard]] Result<References> references_of(const Digest& manifest) const;
    // The key a reference is stored under ("docker.io/library/busybox:latest").
    [[nodiscard]] static Result<std::string> key_of(const std::string& ref);

    Store& store() { return store_; }

private:
    explicit ImageService(Store store) : store_(std::move(store)) {}
    [[nodiscard]] Result<LocalImage> resolve(const std::string& name, const Digest& top,
                                             const Platform& platform) const;
    Store store_;
};

}  // namespace skiff::images
