// libFuzzer target: any bytes as the JSON list of `skiff svc apply` (or as a "VIP:PORT/PROTO" key) must
// never crash the parser; what it accepts prints back to JSON that parses to the same services.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "skiff/net/service_lb.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace skiff::net;
    std::string text(reinterpret_cast<const char*>(data), size);
    if (auto key = parse_service_key(text); key && !parse_service_key(format_service_key(*key))) abort();
    auto services = parse_services_json(text);
    if (!services) return 0;
    auto again = parse_services_json(services_to_json(*services));
    if (!again || *again != *services) abort();
    for (const auto& s : *services)
        if (!validate_service(s)) abort();
    return 0;
}
