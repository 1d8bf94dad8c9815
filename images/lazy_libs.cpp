#include "lazy_libs.hpp"

#include <cassert>
#include <optional>

#include "skiff/base/shared_library.hpp"

namespace skiff::images {
namespace {

LibCurl curl_table;
LibArchive archive_table;
LibCrypto crypto_table;
bool curl_loaded = false;
bool archive_loaded = false;
bool crypto_loaded = false;

#define SKIFF_BIND(fn) SKIFF_TRY(lib->bind(#fn, table.fn));

Status bind_curl(LibCurl& table) {
    auto lib = SharedLibrary::open("libcurl.so.4");
    if (!lib) return std::move(lib).error();
    SKIFF_LIBCURL_FUNCTIONS(SKIFF_BIND)
    if (table.curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return Error(EIO, "curl_global_init failed");
    return {};
}

Status bind_archive(LibArchive& table) {
    auto lib = SharedLibrary::open("libarchive.so.13");
    if (!lib) return std::move(lib).error();
    SKIFF_LIBARCHIVE_FUNCTIONS(SKIFF_BIND)
    return {};
}

Status bind_crypto(LibCrypto& table) {
    auto lib = SharedLibrary::open("libcrypto.so.3");
    if (!lib) return std::move(lib).error();
    SKIFF_LIBCRYPTO_FUNCTIONS(SKIFF_BIND)
    return {};
}

#undef SKIFF_BIND

}  // namespace

// C++ guarantees a function-local static is initialised once, even with threads racing here.
Status load_libcurl() {
    static const Status loaded = [] {
        Status s = bind_curl(curl_table);
        curl_loaded = s.ok();
        return s;
    }();
    return loaded;
}

Status load_libarchive() {
    static const Status loaded = [] {
        Status s = bind_archive(archive_table);
        archive_loaded = s.ok();
        return s;
    }();
    return loaded;
}

Status load_libcrypto() {
    static const Status loaded = [] {
        Status s = bind_crypto(crypto_table);
        crypto_loaded = s.ok();
        return s;
    }();
    return loaded;
}

const LibCurl& libcurl() {
    assert(curl_loaded);
    return curl_table;
}

const LibArchive& libarchive() {
    assert(archive_loaded);
    return archive_table;
}

const LibCrypto& libcrypto() {
    assert(crypto_loaded);
    return crypto_table;
}

}  // namespace skiff::images
