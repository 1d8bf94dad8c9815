// libFuzzer target: any bytes as an image archive (OCI layout tar, docker-archive, root
// filesystem tar) must never crash the importer; a failed import names nothing, and what an
// import accepted from a layout exports and imports again to the same manifest.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "skiff/base/fs.hpp"
#include "skiff/images/archive.hpp"

namespace {

using namespace skiff;
using namespace skiff::images;

void check_round_trip(ImageService& service, const LocalImage& image, const std::string& base) {
    std::string out = base + "/export.tar";
    if (!export_images(service, {image.name}, out)) abort();
    auto other = ImageService::open(base + "/other", StoreOptions{false});
    if (!other) abort();
    ImportOptions o;
    o.selector = image.name;
    auto again = import_image(*other, out, o);
    // The same manifest (an index whose other platforms aren't in the store goes out as the
    // platform's manifest, so the top digest may differ).
    if (!again || again->images.size() != 1 ||
        again->images[0].manifest_digest != image.manifest_digest)
        abort();
}

void fuzz_one(const std::string& base, const uint8_t* data, size_t size) {
    std::string input = base + "/input";
    if (!fs::write_file(input, std::string_view(reinterpret_cast<const char*>(data), size)))
        abort();
    auto service = ImageService::open(base + "/store", StoreOptions{false});
    if (!service) abort();
    ImportOptions o;
    // Odd sizes get a name, so plain tars reach the root filesystem import too; even sizes must
    // name their images themselves (RepoTags, ref.name).
    if (size % 2 == 1) o.name = "fuzz/image:1";
    auto imported = import_image(*service, input, o);
    auto refs = service->store().list_refs();
    if (!refs) abort();
    if (!imported) {
        if (!refs->empty()) abort();
        return;
    }
    if (imported->images.empty() || refs->empty()) abort();
    for (const auto& image : imported->images) {
        auto got = service->get(image.name);
        if (!got || got->digest != image.digest) abort();
    }
    if (imported->format == ImportFormat::kOciLayout)
        check_round_trip(*service, imported->images[0], base);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // A fresh directory per input: libFuzzer ends with _Exit, so nothing may be left to clean.
    char tmpl[] = "/tmp/skiff-archive-fuzz-XXXXXX";
    if (!::mkdtemp(tmpl)) abort();
    fuzz_one(tmpl, data, size);
    if (!fs::remove_all(tmpl)) abort();
    return 0;
}
