// A client for OCI distribution / Docker Registry HTTP API v2 registries: pull and push of
// manifests (as bytes plus media type) and blobs, with bearer-token and basic auth, over libcurl.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "skiff/base/result.hpp"
#include "skiff/images/credentials.hpp"
#include "skiff/images/digest.hpp"

namespace skiff::images {

inline constexpr std::string_view kMediaTypeOciManifest =
    "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kMediaTypeOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kMediaTypeDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kMediaTypeDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";

struct FetchedManifest {
    std::string bytes;
    std::string media_type;  // the response's Content-Type
    Digest digest;           // sha256 of bytes, checked against what the registry and caller named
};

// What a HEAD of a manifest tells: enough to decide whether a pull is needed.
struct ManifestInfo {
    Digest digest;
    std::string media_type;
    uint64_t size = 0;
};

struct BlobRef {
    Digest digest;
    uint64_t size = 0;  // 0: unknown, not checked
};

struct BlobDownload {
    Digest digest;
    uint64_t size = 0;
    std::string dest_path;
};

class RegistryClient {
  public:
    // Called with the bytes moved so far for one blob (download or upload). Calls are serialized
    // by the client but may come from its worker threads.
    using ProgressFn = std::function<void(const Digest& blob, uint64_t done, uint64_t total)>;

    struct Options {
        std::string registry_host;  // "127.0.0.1:5000"
        bool tls_verify = true;     // false: any certificate, or plain HTTP if there is no TLS
        bool plain_http = false;    // http:// instead of https://
        std::string ca_file;        // PEM CA bundle to verify the registry with (CURLOPT_CAINFO)
        std::optional<Credentials> credentials;
        int parallel = 4;         // blobs downloaded at once by get_blobs
        uint64_t chunk_size = 0;  // push blobs larger than this in PATCH chunks; 0: never
        ProgressFn progress;      // optional
        long connect_timeout_ms = 10'000;
        long low_speed_timeout_s = 60;  // abort a transfer stalled this long
    };

    explicit RegistryClient(Options options);
    ~RegistryClient();
    RegistryClient(const RegistryClient&) = delete;
    RegistryClient& operator=(const RegistryClient&) = delete;

    const Options& options() const;

    // GET /v2/, authenticating if the registry asks: checks reachability and credentials.
    [[nodiscard]] Status ping();

    // reference is a tag or a digest. The body's sha256 must equal a digest reference and the
    // Docker-Content-Digest the registry sends.
    [[nodiscard]] Result<FetchedManifest> get_manifest(const std::string& repo,
                                                       const std::string& reference);
    // One HEAD request; nullopt when the registry has no such manifest.
    [[nodiscard]] Result<std::optional<ManifestInfo>> head_manifest(const std::string& repo,
                                                                    const std::string& reference);
    // PUT /v2/REPO/manifests/REFERENCE; returns the manifest's digest.
    [[nodiscard]] Result<Digest> put_manifest(const std::string& repo, const std::string& reference,
                                              std::string_view bytes,
                                              const std::string& media_type);

    // Streams the blob into a temp file beside dest_path, checking size and digest as it arrives,
    // then renames it into place. On any failure no file is left. size 0 means "unknown".
    // Streams a blob's bytes into sink as they arrive (the caller hashes and verifies, e.g. the
    // store's BlobWriter); only the size is checked here. An error from sink aborts the download.
    using BlobSink = std::function<Status(const char* data, size_t size)>;
    [[nodiscard]] Status get_blob_into(const std::string& repo, const Digest& digest, uint64_t size,
                                       BlobSink sink);
    [[nodiscard]] Status get_blob(const std::string& repo, const Digest& digest, uint64_t size,
                                  const std::string& dest_path);
    // Downloads up to options().parallel blobs at once; stops starting new ones after a failure
    // and reports the first. Blobs already complete stay.
    [[nodiscard]] Status get_blobs(const std::string& repo, const std::vector<BlobDownload>& blobs);
    // Same, into dir/<hex> for each digest.
    [[nodiscard]] Status get_blobs(const std::string& repo, const std::vector<BlobRef>& blobs,
                                   const std::string& dir);

    [[nodiscard]] Result<bool> blob_exists(const std::string& repo, const Digest& digest);
    // Monolithic upload (POST then PUT ?digest=), or PATCH chunks when the file is larger than
    // options().chunk_size. The registry verifies the digest.
    [[nodiscard]] Status push_blob(const std::string& repo, const Digest& digest,
                                   const std::string& path);
    // Cross-repository mount: true if mounted (201); false if the registry wants an upload (202).
    [[nodiscard]] Result<bool> mount_blob(const std::string& repo, const Digest& digest,
                                          const std::string& from_repo);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// A parsed WWW-Authenticate challenge ("Bearer realm=\"...\",service=\"...\",scope=\"...\"").
struct AuthChallenge {
    std::string scheme;  // lowercase: "bearer", "basic"
    std::string realm;
    std::string service;
    std::string scope;
};
[[nodiscard]] Result<AuthChallenge> parse_www_authenticate(std::string_view header);

}  // namespace skiff::images
