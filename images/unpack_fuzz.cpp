// libFuzzer target: any bytes as a layer blob must never crash the unpacker or write beside its
// destination directory.
#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "skiff/base/fs.hpp"
#include "skiff/base/unique_fd.hpp"
#include "skiff/images/unpack.hpp"

namespace {

size_t count_entries(const std::string& path) {
    size_t n = 0;
    DIR* d = ::opendir(path.c_str());
    if (!d) abort();
    while (dirent* e = ::readdir(d))
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) ++n;
    ::closedir(d);
    return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // A fresh scratch dir per input ("dest" and a "sentinel" that must stay empty): libFuzzer
    // ends with _Exit, so nothing may be left to clean up at exit.
    char tmpl[] = "/tmp/skiff-unpack-fuzz-XXXXXX";
    if (!::mkdtemp(tmpl)) abort();
    const std::string base = tmpl;
    const std::string dest = base + "/dest";
    if (::mkdir(dest.c_str(), 0755) != 0 || ::mkdir((base + "/sentinel").c_str(), 0755) != 0)
        abort();
    skiff::UniqueFd blob(::memfd_create("layer", MFD_CLOEXEC));
    if (!blob || ::write(blob.get(), data, size) != static_cast<ssize_t>(size)) abort();
    ::lseek(blob.get(), 0, SEEK_SET);
    skiff::images::UnpackOptions options;
    // Both whiteout modes; the choice must not change the bytes the tar reader sees.
    options.apply_whiteouts_in_place = size % 2 == 1;
    (void)skiff::images::unpack_layer(blob.get(), dest, options);
    if (!skiff::fs::remove_all(dest).ok()) abort();
    // Anything beside dest, or in the sentinel, was written outside the layer.
    if (count_entries(base) != 1 || count_entries(base + "/sentinel") != 0) abort();
    struct stat st {};
    if (::lstat((base + "/sentinel").c_str(), &st) != 0 || (st.st_mode & 07777) != 0755) abort();
    if (!skiff::fs::remove_all(base).ok()) abort();
    return 0;
}
