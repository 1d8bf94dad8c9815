// Test support shared by the images tests that build archives and look at directories.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>

#include <algorithm>
#include <string>
#include <vector>

#include "skiff/images/unpack.hpp"

namespace skiff::images::test_files {

// libarchive writer callback: appends to the std::string passed as the client data.
inline la_ssize_t append_to_string(archive*, void* out, const void* buf, size_t size) {
    static_cast<std::string*>(out)->append(static_cast<const char*>(buf), size);
    return static_cast<la_ssize_t>(size);
}

// Compresses with libarchive's writer ("raw" format: the filter alone), independent of the
// reader under test. A gzip header holds the time it was made: compress once, compare that.
inline std::string compress(const std::string& data, Compression c) {
    if (c == Compression::none) return data;
    std::string out;
    archive* a = archive_write_new();
    archive_write_set_format_raw(a);
    if (c == Compression::gzip)
        archive_write_add_filter_gzip(a);
    else
        archive_write_add_filter_zstd(a);
    archive_write_set_bytes_in_last_block(a, 1);
    archive_write_open(a, &out, nullptr, append_to_string, nullptr);
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, "data");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    archive_write_header(a, e);
    archive_write_data(a, data.data(), data.size());
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
    return out;
}

// The names in dir (without . and ..), sorted; empty if dir can't be read.
inline std::vector<std::string> entries(const std::string& dir) {
    std::vector<std::string> out;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (dirent* e = ::readdir(d)) {
            std::string n = e->d_name;
            if (n != "." && n != "..") out.push_back(n);
        }
        ::closedir(d);
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace skiff::images::test_files
