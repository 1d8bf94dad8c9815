// Digest parsing and SHA-256 hashing through OpenSSL's EVP interface (libcrypto, loaded on first use).
#include "skiff/images/digest.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "skiff/base/unique_fd.hpp"

#include "lazy_libs.hpp"

namespace skiff::images {

Result<Digest> Digest::parse(std::string_view text) {
    auto bad = [&](const std::string& why) {
        return Error(EINVAL, "invalid digest \"" + std::string(text) + "\": " + why);
    };
    size_t colon = text.find(':');
    if (colon == std::string_view::npos) return bad("expected ALGORITHM:HEX");
    Digest d{std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
    size_t want = 0;
    if (d.algorithm == "sha256") want = 64;
    else if (d.algorithm == "sha512") want = 128;
    else return bad("unsupported algorithm \"" + d.algorithm + "\"");
    if (d.hex.size() != want)
        return bad("expected " + std::to_string(want) + " hex digits, got " +
                   std::to_string(d.hex.size()));
    for (char c : d.hex)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return bad("not lowercase hex");
    return d;
}

struct Sha256::Impl {
    EVP_MD_CTX* ctx = nullptr;
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
    // libcrypto is part of every system that has libcurl; without it, or without memory for a
    // 200-byte context, nothing can be hashed and nothing can be trusted, so stop.
    if (auto loaded = load_libcrypto(); !loaded) {
        std::fprintf(stderr, "skiff: %s\n", loaded.error().what().c_str());
        abort();
    }
    const LibCrypto& c = libcrypto();
    // OpenSSL 3 looks the algorithm up in its providers on every init unless it is fetched once.
    static EVP_MD* const sha256 = c.EVP_MD_fetch(nullptr, "SHA256", nullptr);
    impl_->ctx = c.EVP_MD_CTX_new();
    if (!sha256 || !impl_->ctx || c.EVP_DigestInit_ex(impl_->ctx, sha256, nullptr) != 1) abort();
}

Sha256::~Sha256() { libcrypto().EVP_MD_CTX_free(impl_->ctx); }

void Sha256::update(const void* data, size_t size) {
    libcrypto().EVP_DigestUpdate(impl_->ctx, data, size);
}

Digest Sha256::finish() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    libcrypto().EVP_DigestFinal_ex(impl_->ctx, md, &len);
    static const char* hexdigits = "0123456789abcdef";
    std::string hex;
    hex.reserve(len * 2);
    for (unsigned i = 0; i < len; ++i) {
        hex += hexdigits[md[i] >> 4];
        hex += hexdigits[md[i] & 15];
    }
    return Digest{"sha256", hex};
}

Digest sha256_of(std::string_view data) {
    Sha256 h;
    h.update(data);
    return h.finish();
}

Result<Digest> sha256_of_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return Error::from_errno("open " + path);
    Sha256 h;
    char buf[1 << 16];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return Error::from_errno("read " + path);
        }
        if (n == 0) break;
        h.update(buf, static_cast<size_t>(n));
    }
    return h.finish();
}

}  // namespace skiff::images
