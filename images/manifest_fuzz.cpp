// libFuzzer target: manifest, index and image config parsing, serialisation and reference
// parsing must never crash, and what they write must read back the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "skiff/images/manifest.hpp"
#include "skiff/images/reference.hpp"

namespace {

using namespace skiff::images;

// A serialised value must parse back to an equal value that serialises to the same bytes: a
// difference is a field one direction drops or changes.
template <class T, class Parse, class Write>
void check_round_trip(const T& value, Parse parse, Write write) {
    std::string once = write(value);
    auto again = parse(once);
    if (!again.ok() || !(*again == value) || write(*again) != once) abort();
}

void fuzz_reference(std::string_view line) {
    auto ref = Reference::parse(line);
    if (!ref.ok()) return;
    // Both printed forms name the same image.
    for (const std::string& form : {ref->str(), ref->familiar()}) {
        auto again = Reference::parse(form);
        if (!again.ok() || !(*again == *ref)) abort();
    }
    (void)ref->registry_host();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    fuzz_reference(bytes.substr(0, bytes.find('\n')));

    // The content types a registry may send, chosen by the input so the fuzzer explores each.
    static constexpr std::string_view kContentTypes[] = {
        "", media_type::kOciManifest, media_type::kOciIndex, media_type::kDockerManifestList,
        media_type::kDockerManifestV1Signed};
    std::string_view content_type = kContentTypes[size % std::size(kContentTypes)];

    ManifestKind kind = kind_of(bytes, content_type);
    auto either = parse_manifest_or_index(bytes, content_type, LayerCheck::kAny);
    // kind_of and the combined parser agree on what the document is.
    if (either.ok() && kind != (std::holds_alternative<Manifest>(*either) ? ManifestKind::kManifest
                                                                          : ManifestKind::kIndex))
        abort();

    auto manifest = parse_manifest(bytes, content_type, LayerCheck::kAny);
    if (manifest.ok()) {
        (void)parse_manifest(bytes, content_type, LayerCheck::kUnpackable);
        check_round_trip(
            *manifest, [](const std::string& s) { return parse_manifest(s, "", LayerCheck::kAny); },
            manifest_to_json);
    }
    auto index = parse_index(bytes, content_type);
    if (index.ok()) {
        check_round_trip(
            *index, [](const std::string& s) { return parse_index(s, ""); }, index_to_json);
        (void)select_platform(*index, host_platform());
        (void)select_platform(*index, Platform{"arm64", "linux"});
    }
    auto config = parse_image_config(bytes);
    if (config.ok()) {
        check_round_trip(
            *config, [](const std::string& s) { return parse_image_config(s); },
            image_config_to_json);
        if (manifest.ok()) (void)check_config_layers(*manifest, *config);
    }
    return 0;
}
