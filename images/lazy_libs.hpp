// libcurl, libarchive and libcrypto, loaded on first use. `skiff run` of an image already in the
// store loads none of them: with their dependencies they cost ~13 ms of dynamic loading per
// process, more than the container start itself.
//
// Call through the tables: libcurl().curl_easy_init(), libarchive().archive_read_new(). Each
// pointer has the type of the function in the library's header, so calls are type-checked.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <openssl/evp.h>

#include "skiff/base/result.hpp"

namespace skiff::images {

#define SKIFF_LIBCURL_FUNCTIONS(X)                                                              \
    X(curl_global_init) X(curl_easy_init) X(curl_easy_cleanup) X(curl_easy_reset)              \
    X(curl_easy_setopt) X(curl_easy_perform) X(curl_easy_getinfo) X(curl_easy_strerror)        \
    X(curl_easy_escape) X(curl_free) X(curl_slist_append) X(curl_slist_free_all)

#define SKIFF_LIBARCHIVE_FUNCTIONS(X)                                                           \
    X(archive_errno) X(archive_error_string) X(archive_set_error)                              \
    X(archive_read_new) X(archive_read_free) X(archive_read_open) X(archive_read_open_fd)      \
    X(archive_read_open_filename) X(archive_read_next_header) X(archive_read_data)             \
    X(archive_read_data_block) X(archive_read_data_skip) X(archive_read_support_format_tar)    \
    X(archive_read_support_format_raw) X(archive_read_support_filter_gzip)                     \
    X(archive_read_support_filter_zstd) X(archive_read_support_filter_none)                    \
    X(archive_write_new) X(archive_write_free) X(archive_write_open) X(archive_write_open_fd)   \
    X(archive_write_open_filename) X(archive_write_header) X(archive_write_data)               \
    X(archive_write_finish_entry) X(archive_write_close) X(archive_write_set_format_pax)       \
    X(archive_write_set_format_pax_restricted) X(archive_write_set_format_ustar)               \
    X(archive_write_set_format_raw) X(archive_write_add_filter_gzip)                           \
    X(archive_write_add_filter_zstd) X(archive_write_add_filter_none)                          \
    X(archive_write_set_bytes_in_last_block) X(archive_write_set_bytes_per_block)             \
    X(archive_entry_new) X(archive_entry_free) X(archive_entry_clear)                          \
    X(archive_entry_pathname) X(archive_entry_pathname_utf8) X(archive_entry_filetype)         \
    X(archive_entry_perm) X(archive_entry_mode) X(archive_entry_uid) X(archive_entry_gid)      \
    X(archive_entry_size) X(archive_entry_size_is_set) X(archive_entry_rdev)                   \
    X(archive_entry_hardlink) X(archive_entry_symlink) X(archive_entry_sparse_count)           \
    X(archive_entry_atime) X(archive_entry_atime_nsec) X(archive_entry_atime_is_set)           \
    X(archive_entry_mtime) X(archive_entry_mtime_nsec) X(archive_entry_mtime_is_set)           \
    X(archive_entry_xattr_reset) X(archive_entry_xattr_next) X(archive_entry_xattr_add_entry)  \
    X(archive_entry_set_pathname) X(archive_entry_set_filetype) X(archive_entry_set_perm)      \
    X(archive_entry_set_mode) X(archive_entry_set_size) X(archive_entry_set_uid)               \
    X(archive_entry_set_gid) X(archive_entry_set_mtime) X(archive_entry_set_symlink)           \
    X(archive_entry_set_hardlink) X(archive_entry_set_rdev)

#define SKIFF_LIBCRYPTO_FUNCTIONS(X)                                                            \
    X(EVP_MD_CTX_new) X(EVP_MD_CTX_free) X(EVP_DigestInit_ex) X(EVP_DigestUpdate)               \
    X(EVP_DigestFinal_ex) X(EVP_MD_fetch) X(EVP_MD_free)

#define SKIFF_LAZY_POINTER(fn) decltype(&::fn) fn = nullptr;

struct LibCurl {
    SKIFF_LIBCURL_FUNCTIONS(SKIFF_LAZY_POINTER)
};

struct LibArchive {
    SKIFF_LIBARCHIVE_FUNCTIONS(SKIFF_LAZY_POINTER)
};

struct LibCrypto {
    SKIFF_LIBCRYPTO_FUNCTIONS(SKIFF_LAZY_POINTER)
};

#undef SKIFF_LAZY_POINTER

// Load the library (once per process; thread-safe). A failure is remembered and returned again.
// load_libcurl also runs curl_global_init.
[[nodiscard]] Status load_libcurl();
[[nodiscard]] Status load_libarchive();
[[nodiscard]] Status load_libcrypto();

// The tables; only after the matching load_*() succeeded.
const LibCurl& libcurl();
const LibArchive& libarchive();
const LibCrypto& libcrypto();

}  // namespace skiff::images
