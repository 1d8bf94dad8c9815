// libFuzzer target: config.json parsing, validation, seccomp compilation and serialisation must
// never crash or leak.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "skiff/runtime/spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    auto spec = skiff::runtime::parse_spec(text);
    if (!spec.ok()) return 0;
    // A valid config's seccomp profile goes on to the BPF compiler, as create does.
    if (skiff::runtime::validate_spec(*spec).ok() && spec->linux && spec->linux->seccomp)
        (void)skiff::isolation::compile_seccomp(*spec->linux->seccomp);
    // What we write must read back, and serialise to the same text: a difference is a field
    // that one direction drops or changes.
    std::string once = skiff::runtime::spec_to_json(*spec);
    auto again = skiff::runtime::parse_spec(once);
    if (!again.ok()) abort();
    if (skiff::runtime::spec_to_json(*again) != once) abort();
    return 0;
}
