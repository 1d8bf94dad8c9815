// parse_json: a recursive-descent JSON parser that builds nlohmann::json directly from the text,
// with nlohmann 3.11's accept/reject rules and number types (see json_parse.hpp).
#include "skiff/apiserver/json_parse.hpp"

#include <array>
#include <bit>
#include <cassert>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "utf8_lead.hpp"

namespace skiff::apiserver {
namespace {

using json = nlohmann::json;

// What a byte inside a string asks of the scanner.
enum : uint8_t { plain = 0, quote, backslash, control, non_ascii };

constexpr std::array<uint8_t, 256> string_byte_classes = [] {
    std::array<uint8_t, 256> t{};
    for (int c = 0; c < 0x20; ++c) t[c] = control;
    for (int c = 0x80; c < 0x100; ++c) t[c] = non_ascii;
    t['"'] = quote;
    t['\\'] = backslash;
    return t;
}();

inline uint8_t byte_at(const char* p) {
    return static_cast<unsigned char>(*p);
}

// A mask with the high bit set in (at least) the first of the 8 bytes at p that needs a look: a
// quote, a backslash, a control character or a non-ASCII byte; 0 when none does. (x - 0x01..) & ~x
// & 0x80.. marks every zero byte of x, and may also mark bytes after a real one through the borrow,
// never before: so the lowest marked byte (the first in memory, little-endian) is always a real
// hit. The same trick with 0x20 finds bytes below 0x20.
inline uint64_t special_bytes(const char* p) {
    constexpr uint64_t ones = 0x0101010101010101ULL;
    constexpr uint64_t high = 0x8080808080808080ULL;
    uint64_t v;
    std::memcpy(&v, p, 8);
    const uint64_t q = v ^ (ones * '"');
    const uint64_t b = v ^ (ones * '\\');
    return (v & high) | ((v - ones * 0x20) & ~v & high) | ((q - ones) & ~q & high) |
           ((b - ones) & ~b & high);
}

inline bool is_whitespace(uint8_t c) {
    return c <= ' ' && (c == ' ' || c == '\n' || c == '\r' || c == '\t');
}

inline bool is_digit(uint8_t c) {
    return static_cast<unsigned>(c - '0') < 10u;
}

inline int hex_value(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The code unit of the 4 hex digits at p, or -1.
inline int hex4(const char* p) {
    int v = 0;
    for (int i = 0; i < 4; ++i) {
        int d = hex_value(byte_at(p + i));
        if (d < 0) return -1;
        v = v << 4 | d;
    }
    return v;
}

void append_utf8(std::string& out, uint32_t cp) {
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = static_cast<char>(cp);
        n = 1;
    } else if (cp < 0x800) {
        b[0] = static_cast<char>(0xC0 | cp >> 6);
        b[1] = static_cast<char>(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = static_cast<char>(0xE0 | cp >> 12);
        b[1] = static_cast<char>(0x80 | (cp >> 6 & 0x3F));
        b[2] = static_cast<char>(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = static_cast<char>(0xF0 | cp >> 18);
        b[1] = static_cast<char>(0x80 | (cp >> 12 & 0x3F));
        b[2] = static_cast<char>(0x80 | (cp >> 6 & 0x3F));
        b[3] = static_cast<char>(0x80 | (cp & 0x3F));
        n = 4;
    }
    out.append(b, n);
}

// Appends the string contents [s, e), whose escapes scan_string already checked, with the escapes
// decoded.
void unescape(const char* s, const char* e, std::string& out) {
    out.reserve(out.size() + static_cast<size_t>(e - s));
    while (s < e) {
        const void* found = std::memchr(s, '\\', static_cast<size_t>(e - s));
        if (!found) {
            out.append(s, e);
            return;
        }
        const char* bs = static_cast<const char*>(found);
        out.append(s, bs);
        s = bs + 2;
        switch (bs[1]) {
            case 'b':
                out.push_back('\b');
                break;
            case 'f':
                out.push_back('\f');
                break;
            case 'n':
                out.push_back('\n');
                break;
            case 'r':
                out.push_back('\r');
                break;
            case 't':
                out.push_back('\t');
                break;
            case 'u': {
                uint32_t cp = static_cast<uint32_t>(hex4(s));
                s += 4;
                if (cp >= 0xD800 &&
                    cp <= 0xDBFF) {  // a high surrogate; its low half follows as \uXXXX
                    uint32_t low = static_cast<uint32_t>(hex4(s + 2));
                    s += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                }
                append_utf8(out, cp);
                break;
            }
            default:  // \" \\ \/
                out.push_back(bs[1]);
                break;
        }
    }
}

class Parser {
  public:
    Parser(std::string_view text, JsonSyntaxError* error)
        : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()), error_(error) {}

    bool parse_document(json& out) {
        // nlohmann skips a UTF-8 byte order mark, but only as the very first bytes.
        if (end_ - p_ >= 3 && std::memcmp(p_, "\xEF\xBB\xBF", 3) == 0) p_ += 3;
        if (!parse_value(out)) return false;
        skip_whitespace();
        // nlohmann's lexer takes a NUL byte for the end of the input (for C strings), so whatever
        // follows one is never looked at.
        if (p_ != end_ && *p_ != '\0') return fail(p_, "unexpected data after the JSON value");
        return true;
    }

  private:
    bool fail(const char* at, const char* message) {
        if (error_) {
            error_->byte = static_cast<size_t>(at - begin_);
            error_->message = message;
        }
        return false;
    }

    void skip_whitespace() {
        while (p_ != end_ && is_whitespace(byte_at(p_))) ++p_;
    }

    bool parse_value(json& out) {
        skip_whitespace();
        if (p_ == end_) return fail(p_, "unexpected end of input; expected a JSON value");
        switch (*p_) {
            case '{':
                return parse_object(out);
            case '[':
                return parse_array(out);
            case '"': {
                const char* s;
                const char* e;
                bool escaped;
                if (!scan_string(s, e, escaped)) return false;
                out = json(json::value_t::string);
                auto& str = *out.get_ptr<json::string_t*>();
                if (escaped)
                    unescape(s, e, str);
                else
                    str.assign(s, e);
                return true;
            }
            case 't':
                return parse_literal(out, "true", true);
            case 'f':
                return parse_literal(out, "false", false);
            case 'n':
                return parse_literal(out, "null", nullptr);
            case '-':
            case '0':
            case '1':
            case '2':
            case '3':
            case '4':
            case '5':
            case '6':
            case '7':
            case '8':
            case '9':
                return parse_number(out);
            case '\0':
                return fail(p_, "unexpected NUL byte; expected a JSON value");
            default:
                return fail(
                    p_,
                    "expected a JSON value (object, array, string, number, true, false or null)");
        }
    }

    template <class T>
    bool parse_literal(json& out, std::string_view word, T value) {
        for (size_t i = 0; i < word.size(); ++i) {
            if (p_ + i == end_ || p_[i] != word[i]) {
                const char* at = p_ + i;
                return fail(
                    at, at == end_ ? "unexpected end of input in a literal" : "invalid literal");
            }
        }
        p_ += word.size();
        out = value;
        return true;
    }

    bool enter(const char* at) {
        static_assert(max_json_depth == 1000, "the message below names the limit");
        if (++depth_ > max_json_depth)
            return fail(at, "arrays and objects nested too deeply (more than 1000 levels)");
        return true;
    }

    bool parse_object(json& out) {
        const char* open = p_;
        if (!enter(open)) return false;
        ++p_;
        out = json(json::value_t::object);
        auto& object = *out.get_ptr<json::object_t*>();
        skip_whitespace();
        if (p_ != end_ && *p_ == '}') {
            ++p_;
            --depth_;
            return true;
        }
        for (;;) {
            if (p_ == end_) return fail(p_, "unexpected end of input in an object");
            if (*p_ != '"') return fail(p_, "expected a string key in an object");
            const char* s;
            const char* e;
            bool escaped;
            if (!scan_string(s, e, escaped)) return false;
            // Objects nlohmann dumped (everything the store holds) come with their keys in order,
            // so the new member goes after the last one; emplace_hint checks that and otherwise
            // searches as insert does. A duplicate key finds the existing member, whose value the
            // new one replaces (the last one wins).
            json::object_t::iterator member;
            if (!escaped) {
                member = object.emplace_hint(object.end(), std::piecewise_construct,
                                             std::forward_as_tuple(s, static_cast<size_t>(e - s)),
                                             std::forward_as_tuple());
            } else {
                std::string key;
                unescape(s, e, key);
                member = object.emplace_hint(object.end(), std::move(key), nullptr);
            }
            skip_whitespace();
            if (p_ == end_)
                return fail(p_, "unexpected end of input; expected ':' after an object key");
            if (*p_ != ':') return fail(p_, "expected ':' after an object key");
            ++p_;
            if (!parse_value(member->second)) return false;
            skip_whitespace();
            if (p_ == end_)
                return fail(p_, "unexpected end of input; expected ',' or '}' in an object");
            if (*p_ == ',') {
                ++p_;
                skip_whitespace();
                continue;
            }
            if (*p_ == '}') {
                ++p_;
                --depth_;
                return true;
            }
            return fail(p_, "expected ',' or '}' after an object member");
        }
    }

    bool parse_array(json& out) {
        if (!enter(p_)) return false;
        ++p_;
        out = json(json::value_t::array);
        auto& array = *out.get_ptr<json::array_t*>();
        skip_whitespace();
        if (p_ != end_ && *p_ == ']') {
            ++p_;
            --depth_;
            return true;
        }
        for (;;) {
            // The element is parsed in place; nothing below touches this vector while it does.
            if (!parse_value(array.emplace_back())) return false;
            skip_whitespace();
            if (p_ == end_)
                return fail(p_, "unexpected end of input; expected ',' or ']' in an array");
            if (*p_ == ',') {
                ++p_;
                continue;
            }
            if (*p_ == ']') {
                ++p_;
                --depth_;
                return true;
            }
            return fail(p_, "expected ',' or ']' after an array element");
        }
    }

    // Checks the string that starts at the quote at p_ and moves p_ past its closing quote. [s, e)
    // is the text between the quotes; escaped says whether it holds escapes (and so needs unescape)
    // or is the value as is.
    bool scan_string(const char*& s, const char*& e, bool& escaped) {
        const char* p = p_ + 1;
        s = p;
        escaped = false;
        for (;;) {
            // Plain ASCII goes 8 bytes at a time up to the first byte that needs a look; the last
            // few bytes of the input one at a time.
            for (;;) {
                if (end_ - p < 8) {
                    while (p != end_ && string_byte_classes[byte_at(p)] == plain) ++p;
                    if (p == end_) return fail(p, "unterminated string");
                    break;
                }
                if (uint64_t special = special_bytes(p)) {
                    static_assert(std::endian::native == std::endian::little);
                    p += std::countr_zero(special) / 8;
                    break;
                }
                p += 8;
            }
            switch (string_byte_classes[byte_at(p)]) {
                case quote:
                    e = p;
                    p_ = p + 1;
                    return true;
                case backslash:
                    escaped = true;
                    if (!check_escape(p)) return false;
                    break;
                case control:
                    return fail(p,
                                "control character (below U+0020) in a string; it must be escaped");
                default:
                    if (!check_utf8(p)) return false;
                    break;
            }
        }
    }

    // p is at a backslash; moves it past the escape.
    bool check_escape(const char*& p) {
        const char* bs = p;
        if (end_ - p < 2) return fail(end_, "unterminated string");
        switch (p[1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                p += 2;
                return true;
            case 'u':
                break;
            default:
                return fail(p + 1,
                            "invalid escape in a string (\\\", \\\\, \\/, \\b, \\f, \\n, \\r, \\t, "
                            "\\uXXXX)");
        }
        int unit = unicode_escape(p + 2);
        if (unit < 0) return false;
        p += 6;
        if (unit >= 0xDC00 && unit <= 0xDFFF)
            return fail(bs,
                        "\\u escape of a low surrogate (U+DC00..U+DFFF) without a high surrogate "
                        "before it");
        if (unit >= 0xD800 && unit <= 0xDBFF) {
            if (end_ - p < 2 || p[0] != '\\' || p[1] != 'u')
                return fail(p,
                            "\\u escape of a high surrogate (U+D800..U+DBFF) not followed by a low "
                            "surrogate escape");
            int low = unicode_escape(p + 2);
            if (low < 0) return false;
            if (low < 0xDC00 || low > 0xDFFF)
                return fail(p,
                            "\\u escape of a high surrogate (U+D800..U+DBFF) not followed by a low "
                            "surrogate escape");
            p += 6;
        }
        return true;
    }

    // The code unit of the 4 hex digits at p, or -1 after reporting the first bad one.
    int unicode_escape(const char* p) {
        for (int i = 0; i < 4; ++i) {
            if (p + i == end_) return fail(end_, "unterminated string"), -1;
            if (hex_value(byte_at(p + i)) < 0)
                return fail(p + i, "\\u must be followed by 4 hex digits"), -1;
        }
        return hex4(p);
    }

    // p is at a byte >= 0x80; checks the UTF-8 sequence it starts (nlohmann's table: no overlong
    // forms, no UTF-16 surrogates, nothing above U+10FFFF) and moves p past it.
    bool check_utf8(const char*& p) {
        auto [more, lo, hi] = utf8_lead(byte_at(p));
        if (more == 0) return fail(p, "invalid UTF-8 byte in a string");
        for (int i = 1; i <= more; ++i) {
            if (p + i == end_)
                return fail(end_, "unterminated string (input ends inside a UTF-8 sequence)");
            const uint8_t c = byte_at(p + i);
            if (c < lo || c > hi) return fail(p + i, "invalid UTF-8 sequence in a string");
            lo = 0x80;
            hi = 0xBF;
        }
        p += more + 1;
        return true;
    }

    bool parse_number(json& out) {
        const char* start = p_;
        const char* p = p_;
        const bool negative = *p == '-';
        if (negative) ++p;
        if (p == end_ || !is_digit(byte_at(p))) return fail(p, "expected a digit after '-'");
        const char* int_begin = p;
        if (*p == '0')
            ++p;  // no leading zeros: "01" is 0 and then an unexpected 1
        else
            while (p != end_ && is_digit(byte_at(p))) ++p;
        const char* int_end = p;
        const char* frac_end = p;
        int64_t exponent = 0;
        bool is_float = false;
        if (p != end_ && *p == '.') {
            ++p;
            if (p == end_ || !is_digit(byte_at(p)))
                return fail(p, "expected a digit after the decimal point");
            while (p != end_ && is_digit(byte_at(p))) ++p;
            frac_end = p;
            is_float = true;
        }
        if (p != end_ && (*p == 'e' || *p == 'E')) {
            ++p;
            bool negative_exponent = false;
            if (p != end_ && (*p == '+' || *p == '-')) negative_exponent = *p++ == '-';
            if (p == end_ || !is_digit(byte_at(p)))
                return fail(p, "expected a digit in the exponent");
            // Saturates: only its sign matters past any double's range (see float_out_of_range).
            while (p != end_ && is_digit(byte_at(p))) {
                if (exponent < 1'000'000'000) exponent = exponent * 10 + (*p - '0');
                ++p;
            }
            if (negative_exponent) exponent = -exponent;
            is_float = true;
        }
        p_ = p;

        if (!is_float) {
            // nlohmann: strtoull for a non-negative integer, strtoll for a negative one, a double
            // when it overflows. 19 digits always fit uint64; the 20th needs a check.
            const size_t digits = static_cast<size_t>(int_end - int_begin);
            if (digits <= 20) {
                uint64_t v = 0;
                bool fits = true;
                const char* d = int_begin;
                for (size_t i = 0; i < digits && i < 19; ++i)
                    v = v * 10 + static_cast<uint64_t>(*d++ - '0');
                if (digits == 20)
                    fits = !__builtin_mul_overflow(v, 10u, &v) &&
                           !__builtin_add_overflow(v, static_cast<uint64_t>(*d - '0'), &v);
                if (fits && !negative) {
                    out = static_cast<json::number_unsigned_t>(v);
                    return true;
                }
                if (fits && v <= uint64_t{1} << 63) {
                    // -v in two's complement: v == 2^63 gives INT64_MIN.
                    out = static_cast<json::number_integer_t>(uint64_t{0} - v);
                    return true;
                }
            }
        }

        double value = 0;
        auto [end, ec] = std::from_chars(start, p, value);
        assert(end == p);
        (void)end;
        if (ec == std::errc::result_out_of_range) {
            // from_chars leaves the value alone when the result is out of range; strtod
            // (nlohmann's) gives
            // +-0 below the smallest denormal and +-inf (an error in nlohmann) above the largest
            // double.
            if (decimal_exponent(int_begin, int_end, frac_end, exponent) > 0)
                return fail(start, "number overflow: the value is beyond the range of a double");
            value = negative ? -0.0 : 0.0;
        } else if (ec != std::errc()) {
            return fail(start,
                        "invalid number");  // not reached: the grammar above is from_chars' too
        }
        out = value;
        return true;
    }

    // The power of ten of the number's first significant digit, for a non-zero number whose digits
    // are [int_begin, int_end) '.' [int_end + 1, frac_end) times 10^exponent.
    static int64_t decimal_exponent(const char* int_begin, const char* int_end,
                                    const char* frac_end, int64_t exponent) {
        for (const char* d = int_begin; d != int_end; ++d)
            if (*d != '0') return exponent + (int_end - d) - 1;
        for (const char* d = int_end + 1; d < frac_end; ++d)
            if (*d != '0') return exponent - (d - int_end);
        return 0;  // zero is never out of range
    }

    const char* const begin_;
    const char* p_;
    const char* const end_;
    JsonSyntaxError* const error_;
    int depth_ = 0;
};

}  // namespace

bool parse_json(std::string_view text, nlohmann::json& out, JsonSyntaxError* error) {
    Parser parser(text, error);
    if (parser.parse_document(out)) return true;
    out = json(json::value_t::discarded);
    return false;
}

nlohmann::json parse_json_or_discarded(std::string_view text) {
    nlohmann::json out;
    (void)parse_json(text, out);
    return out;
}

}  // namespace skiff::apiserver
