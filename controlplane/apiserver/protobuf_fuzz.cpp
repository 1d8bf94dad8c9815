// libFuzzer target: any bytes as a Kubernetes protobuf request body must decode to a JSON object (that
// dumps as valid UTF-8 and passes through the type table's walks) or fail with an error, never crash.
// Seeds: tests/fuzz/protobuf/ (bodies captured from kubectl 1.33).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "skiff/apiserver/k8s_types.hpp"
#include "skiff/apiserver/protobuf.hpp"
#include "skiff/apiserver/resources.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace skiff::apiserver;
    auto r = decode_protobuf_object(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!r) {
        if (r.error().message().empty()) abort();
        return 0;
    }
    if (!r->is_object() || !(*r)["kind"].is_string() || !(*r)["apiVersion"].is_string()) abort();
    (void)r->dump();  // throws (and so aborts) on invalid UTF-8
    for (const auto& info : resources())
        if (info.kind == (*r)["kind"].get<std::string>()) (void)unknown_fields(info, *r);
    return 0;
}
