// write_json: nlohmann::json to the exact text of dump(), written straight into the caller's string
// through a raw cursor, strings copied in runs (see json_write.hpp).
#include "skiff/apiserver/json_write.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "utf8_lead.hpp"

namespace skiff::apiserver {
namespace {

using json = nlohmann::json;

// The rules matched here are those of nlohmann 3.11's serializer.hpp; a newer version may change
// them, and json_write_test.cpp compares every one with dump().
static_assert(NLOHMANN_JSON_VERSION_MAJOR == 3 && NLOHMANN_JSON_VERSION_MINOR == 11,
              "write_json follows nlohmann 3.11's dump(); check serializer.hpp's rules again");

// The escape nlohmann writes for a byte below 0x20, '"' or '\\': the two-character forms JSON has
// names for, otherwise \u00xx with lowercase hex. Padded to 8 bytes so one fixed-size copy writes
// it.
struct Escape {
    char text[7];
    uint8_t size;
};

constexpr std::array<Escape, 0x60> escapes = [] {
    std::array<Escape, 0x60> t{};
    constexpr char hex[] = "0123456789abcdef";
    for (int c = 0; c < 0x20; ++c)
        t[c] = Escape{{'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF], 0}, 6};
    t['\b'] = Escape{{'\\', 'b'}, 2};
    t['\t'] = Escape{{'\\', 't'}, 2};
    t['\n'] = Escape{{'\\', 'n'}, 2};
    t['\f'] = Escape{{'\\', 'f'}, 2};
    t['\r'] = Escape{{'\\', 'r'}, 2};
    t['"'] = Escape{{'\\', '"'}, 2};
    t['\\'] = Escape{{'\\', '\\'}, 2};
    return t;
}();
static_assert(sizeof(Escape) == 8);

// A mask with the high bit set in (at least) the first of the 8 bytes of v, in memory order, that
// is not plain: a quote, a backslash, a control character or a non-ASCII byte; 0 when all are.
// (x - 0x01..) & ~x & 0x80.. marks every zero byte of x, and may also mark bytes after a real one
// through the borrow, never before, so the lowest marked byte is always a real hit (json_parse.cpp
// scans with the same trick). Byte 0x7F is plain: nlohmann passes it through.
inline uint64_t special_bytes(uint64_t v) {
    constexpr uint64_t ones = 0x0101010101010101ULL;
    constexpr uint64_t high = 0x8080808080808080ULL;
    const uint64_t q = v ^ (ones * '"');
    const uint64_t b = v ^ (ones * '\\');
    return (v & high) | ((v - ones * 0x20) & ~v & high) | ((q - ones) & ~q & high) |
           ((b - ones) & ~b & high);
}

std::string hex_byte(uint8_t byte) {
    constexpr char hex[] = "0123456789ABCDEF";
    return {hex[byte >> 4], hex[byte & 0xF]};
}

// nlohmann's strict error handler throws type_error 316 with these messages: at the first byte its
// UTF-8 automaton rejects, or at the end when the string stops inside a sequence.
[[noreturn, gnu::cold]] void throw_invalid_utf8(const std::string& s, size_t index) {
    throw json::type_error::create(316,
                                   "invalid UTF-8 byte at index " + std::to_string(index) + ": 0x" +
                                       hex_byte(static_cast<uint8_t>(s[index])),
                                   nullptr);
}

[[noreturn, gnu::cold]] void throw_incomplete_utf8(const std::string& s) {
    throw json::type_error::create(
        316, "incomplete UTF-8 string; last byte: 0x" + hex_byte(static_cast<uint8_t>(s.back())),
        nullptr);
}

// The length of the UTF-8 sequence at p (a byte >= 0x80 of s, which ends at e) when it is valid by
// nlohmann's automaton (RFC 3629: no overlong forms, no UTF-16 surrogates, nothing above
// U+10FFFF); throws as nlohmann does otherwise.
size_t utf8_sequence(const std::string& s, const char* p, const char* e) {
    auto [more, lo, hi] = utf8_lead(static_cast<uint8_t>(*p));
    if (more == 0) throw_invalid_utf8(s, static_cast<size_t>(p - s.data()));
    for (int i = 1; i <= more; ++i) {
        if (p + i == e) throw_incomplete_utf8(s);
        const auto c = static_cast<uint8_t>(p[i]);
        if (c < lo || c > hi) throw_invalid_utf8(s, static_cast<size_t>(p + i - s.data()));
        lo = 0x80;
        hi = 0xBF;
    }
    return static_cast<size_t>(more) + 1;
}

// Writes into out_ past its old end through a raw cursor: out_ is grown (resize) ahead of the
// cursor, every piece reserves what it may write, and finish() cuts out_ to what was written. The
// zero-filling of resize is a memset per growth, far cheaper than a capacity check and size update
// per append.
class Writer {
  public:
    explicit Writer(std::string& out)
        : out_(out), start_(out.size()), cur_(out.data() + start_), end_(cur_) {}

    void finish() { out_.resize(static_cast<size_t>(cur_ - out_.data())); }

    // Recursion: parse_json refuses text nested deeper than max_json_depth (1000) levels, and a
    // level here takes a small frame, so only values our own code builds can go deeper.
    void value(const json& j) {
        switch (j.type()) {
            case json::value_t::object: {
                const auto& object = *j.get_ptr<const json::object_t*>();
                if (object.empty()) return literal("{}");
                put('{');
                for (const auto& [key, member] : object) {
                    string(key);
                    put(':');
                    value(member);
                    put(',');
                }
                cur_[-1] = '}';  // over the last ','
                return;
            }
            case json::value_t::array: {
                const auto& array = *j.get_ptr<const json::array_t*>();
                if (array.empty()) return literal("[]");
                put('[');
                for (const json& element : array) {
                    value(element);
                    put(',');
                }
                cur_[-1] = ']';
                return;
            }
            case json::value_t::string:
                return string(*j.get_ptr<const json::string_t*>());
            case json::value_t::boolean:
                if (*j.get_ptr<const json::boolean_t*>()) return literal("true");
                return literal("false");
            case json::value_t::number_integer:
                return integer(*j.get_ptr<const json::number_integer_t*>());
            case json::value_t::number_unsigned:
                return integer(*j.get_ptr<const json::number_unsigned_t*>());
            case json::value_t::number_float:
                return floating(*j.get_ptr<const json::number_float_t*>());
            case json::value_t::binary:
                return binary(j.get_binary());
            case json::value_t::discarded:
                return literal("<discarded>");
            case json::value_t::null:
                return literal("null");
        }
        __builtin_unreachable();
    }

  private:
    void reserve(size_t n) {
        if (static_cast<size_t>(end_ - cur_) < n) grow(n);
    }

    // At least doubles what is available past the start, so the memsets add up to O(output).
    [[gnu::noinline]] void grow(size_t n) {
        const size_t used = static_cast<size_t>(cur_ - out_.data());
        const size_t written = used - start_;
        out_.resize(used + std::max(n, written + 512));
        cur_ = out_.data() + used;
        end_ = out_.data() + out_.size();
    }

    void put(char c) {
        reserve(1);
        *cur_++ = c;
    }

    template <size_t N>
    void literal(const char (&text)[N]) {
        reserve(N - 1);
        std::memcpy(cur_, text, N - 1);
        cur_ += N - 1;
    }

    template <class Int>
    void integer(Int v) {
        reserve(20);  // "-9223372036854775808", "18446744073709551615"
        cur_ = std::to_chars(cur_, cur_ + 20, v).ptr;
    }

    void floating(double v) {
        // nlohmann's dump prints non-finite numbers as null and everything else with its own
        // grisu2-based to_chars (shortest round-trip digits, its exponent and ".0" rules). That
        // routine is called here directly: it is the very code dump() runs, without a serializer
        // around it. std::to_chars would not do: grisu2 does not always find the shortest digits.
        if (!std::isfinite(v)) return literal("null");
        reserve(32);  // sign, 17 digits, point, "e-308": 25 at most
        cur_ = nlohmann::detail::to_chars(cur_, cur_ + 32, v);
    }

    void binary(const json::binary_t& bytes) {
        literal("{\"bytes\":[");
        for (uint8_t byte : bytes) {
            integer(byte);
            put(',');
        }
        if (!bytes.empty()) --cur_;  // the last ','
        literal("],\"subtype\":");
        if (bytes.has_subtype())
            integer(bytes.subtype());
        else
            literal("null");
        put('}');
    }

    // Room a string needs past its bytes: the two quotes and the 8-byte stores below, which may
    // write up to 7 bytes past the string's end before the closing quote overwrites them.
    static constexpr size_t string_slack = 2 + 8;

    // The string in quotes, escaped. 8 bytes at a time (fewer at the end): each group is stored
    // before it is checked, and the cursor advances over its plain bytes only; valid UTF-8
    // sequences are copied as they are, the rest escaped.
    void string(const std::string& s) {
        const char* p = s.data();
        const char* const e = p + s.size();
        reserve(s.size() + string_slack);
        // A local cursor: stores through a char* may alias the members, which would otherwise be
        // reloaded after every one.
        char* cur = cur_;
        *cur++ = '"';
        for (;;) {
            size_t n = static_cast<size_t>(e - p);
            uint64_t v;
            uint64_t special;
            if (n >= 8) {
                n = 8;
                std::memcpy(&v, p, 8);
                special = special_bytes(v);
            } else {
                if (n == 0) break;
                v = load_short(p, n);
                // The zero bytes above the string's last one would count as control characters.
                special = special_bytes(v) & ((uint64_t{1} << (8 * n)) - 1);
            }
            std::memcpy(cur, &v, 8);
            if (special == 0) {
                p += n;
                cur += n;
                continue;
            }
            static_assert(std::endian::native == std::endian::little);
            const size_t plain_bytes = static_cast<size_t>(std::countr_zero(special)) / 8;
            p += plain_bytes;
            cur += plain_bytes;
            const auto c = static_cast<uint8_t>(*p);
            if (c >= 0x80) {
                const size_t length = utf8_sequence(s, p, e);
                std::memcpy(cur, p, length);
                p += length;
                cur += length;
            } else {
                // Up to 6 bytes for this one, and the room the rest of the string needs.
                cur_ = cur;
                reserve(6 + static_cast<size_t>(e - p - 1) + string_slack - 1);
                cur = cur_;
                const Escape& escape = escapes[c];
                std::memcpy(cur, &escape, 8);
                cur += escape.size;
                ++p;
            }
        }
        *cur++ = '"';
        cur_ = cur;
    }

    // The n (1..7) bytes at p as the low bytes of a word, the others zero, without reading past
    // p + n: two overlapping 4-byte loads, or the first, middle and last byte.
    static uint64_t load_short(const char* p, size_t n) {
        if (n >= 4) {
            uint32_t low, high;
            std::memcpy(&low, p, 4);
            std::memcpy(&high, p + n - 4, 4);
            return low | uint64_t{high} << (8 * (n - 4));
        }
        const auto byte = [p](size_t i) { return uint64_t{static_cast<uint8_t>(p[i])}; };
        return byte(0) | byte(n / 2) << (8 * (n / 2)) | byte(n - 1) << (8 * (n - 1));
    }

    std::string& out_;
    const size_t start_;
    char* cur_;
    char* end_;
};

}  // namespace

void write_json(const nlohmann::json& j, std::string& out) {
    const size_t size = out.size();
    Writer writer(out);
    try {
        writer.value(j);
    } catch (...) {
        out.resize(size);
        throw;
    }
    writer.finish();
}

std::string write_json(const nlohmann::json& j) {
    std::string out;
    write_json(j, out);
    return out;
}

}  // namespace skiff::apiserver
