// Content digests ("sha256:<hex>") as the OCI image spec defines them, and streaming SHA-256.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "skiff/base/result.hpp"

namespace skiff::images {

struct Digest {
    std::string algorithm;  // "sha256" or "sha512"
    std::string hex;        // lowercase, 64 (sha256) or 128 (sha512) characters

    // Parses "sha256:<64 hex>"; anything else is an error that quotes the input.
    [[nodiscard]] static Result<Digest> parse(std::string_view text);
    std::string str() const { return algorithm + ":" + hex; }
    bool operator==(const Digest&) const = default;
};

// Incremental SHA-256 (OpenSSL's EVP), for verifying blobs while they download or unpack.
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    void update(const void* data, size_t size);
    void update(std::string_view data) { update(data.data(), data.size()); }
    // Ends the hash; the object can't be updated afterwards.
    Digest finish();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

Digest sha256_of(std::string_view data);
[[nodiscard]] Result<Digest> sha256_of_file(const std::string& path);

}  // namespace skiff::images
