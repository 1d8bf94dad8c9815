// A JSON writer for the API server's hot path: the exact text nlohmann::json::dump() gives, in one
// pass that copies runs of plain bytes whole, at a fraction of the cost.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace skiff::apiserver {

// Appends to out the text j.dump() gives (compact, no indent, ensure_ascii false, strict UTF-8),
// byte for byte: object members in the map's order, strings escaped as nlohmann escapes them,
// floats in nlohmann's shortest round-trip form (non-finite ones as null), binary values as
// {"bytes":[...],"subtype":...} and discarded values as <discarded>. A string or key that is not
// valid UTF-8 throws nlohmann::json::type_error 316 (with nlohmann's message) as dump() does; out
// is then as it was before the call.
void write_json(const nlohmann::json& j, std::string& out);

// write_json(j, out) into a new string: the same as j.dump().
std::string write_json(const nlohmann::json& j);

}  // namespace skiff::apiserver
