// A JSON parser for the API server's hot path: the same nlohmann::json values nlohmann::json::parse
// gives, built straight from the text (no per-character lexer, token buffer or SAX layer), at a
// fraction of the cost.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace skiff::apiserver {

// How deeply arrays and objects may nest. nlohmann has no limit; this parser recurses, and so do
// the walks over its result (dump, ==, copies, the API server's validation and merges), so hostile
// input must not reach a depth that exhausts a thread's stack. A Kubernetes object nests about 10
// levels, a CRD's OpenAPI schema a few dozen; 1000 levels cost this parser well under 1 MiB of
// stack (8 MiB thread stacks) and still reject "[[[[..." bombs.
inline constexpr int max_json_depth = 1000;

struct JsonSyntaxError {
    size_t byte = 0;  // 0-based offset of the offending byte; the text's size when the text ends too early
    std::string message;
};

// Parses text as exactly one JSON value (RFC 8259) and gives the value nlohmann::json::parse(text)
// gives: the same accept/reject decision and, for accepted text, equal values of equal types
// (non-negative integers that fit uint64 are number_unsigned, negative ones that fit int64
// number_integer, all others number_float; duplicate keys: the last one wins). One difference:
// arrays and objects nested deeper than max_json_depth are an error. nlohmann quirks kept on
// purpose: a UTF-8 BOM at the very start is skipped, and a NUL byte where the next token would
// start ends the input ("1\0junk" is 1). On failure out is a discarded value and *error (when
// given) says where and what.
[[nodiscard]] bool parse_json(std::string_view text, nlohmann::json& out,
                              JsonSyntaxError* error = nullptr);

// parse_json's value, or a discarded value on any error (as nlohmann::json::parse(text, nullptr,
// false) gives).
nlohmann::json parse_json_or_discarded(std::string_view text);

}  // namespace skiff::apiserver
