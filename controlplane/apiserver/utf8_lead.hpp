// The UTF-8 sequences nlohmann accepts (RFC 3629: no overlong forms, no UTF-16 surrogates, nothing above
// U+10FFFF), by their first byte: shared by parse_json and write_json, which must agree with it.
#pragma once

#include <cstdint>

namespace skiff::apiserver {

struct Utf8Lead {
    int more = 0;                  // continuation bytes after the lead; 0: not a lead byte UTF-8 allows
    uint8_t lo = 0x80, hi = 0xBF;  // the range of the second byte (the others are 80..BF)
};

constexpr Utf8Lead utf8_lead(uint8_t lead) {
    if (lead >= 0xC2 && lead <= 0xDF) return {1, 0x80, 0xBF};
    if (lead >= 0xE0 && lead <= 0xEF)  // E0: overlong below U+0800; ED: U+D800..U+DFFF
        return {2, static_cast<uint8_t>(lead == 0xE0 ? 0xA0 : 0x80), static_cast<uint8_t>(lead == 0xED ? 0x9F : 0xBF)};
    if (lead >= 0xF0 && lead <= 0xF4)  // F0: overlong below U+10000; F4: above U+10FFFF
        return {3, static_cast<uint8_t>(lead == 0xF0 ? 0x90 : 0x80), static_cast<uint8_t>(lead == 0xF4 ? 0x8F : 0xBF)};
    return {};
}

}  // namespace skiff::apiserver
