// libFuzzer target, differential: parse_json must accept exactly what nlohmann::json::parse accepts
// (except arrays and objects nested deeper than max_json_depth, which it refuses) and build the
// same tree, with the same type at every node and the same bits in every double. Seeds:
// tests/fuzz/json_parse/.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string_view>

#include "skiff/apiserver/json_parse.hpp"

namespace {

using json = nlohmann::json;

// json(1u) == json(1) in nlohmann, so == is not enough.
bool same_tree(const json& a, const json& b) {
    if (a.type() != b.type()) return false;
    switch (b.type()) {
        case json::value_t::object: {
            if (a.size() != b.size()) return false;
            for (auto i = a.begin(), j = b.begin(); j != b.end(); ++i, ++j)
                if (i.key() != j.key() || !same_tree(*i, *j)) return false;
            return true;
        }
        case json::value_t::array: {
            if (a.size() != b.size()) return false;
            for (size_t i = 0; i < b.size(); ++i)
                if (!same_tree(a[i], b[i])) return false;
            return true;
        }
        case json::value_t::number_float: {
            double x = a.get<double>(), y = b.get<double>();
            return std::memcmp(&x, &y, sizeof x) == 0;
        }
        default:
            return a == b;
    }
}

int depth(const json& j) {
    int deepest = 0;
    if (j.is_structured())
        for (const auto& e : j) deepest = std::max(deepest, depth(e));
    return j.is_structured() ? deepest + 1 : 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    json want = json::parse(text.begin(), text.end(), nullptr, false);
    json got;
    skiff::apiserver::JsonSyntaxError error;
    bool ok = skiff::apiserver::parse_json(text, got, &error);
    if (!ok) {
        if (error.message.empty() || error.byte > size || !got.is_discarded()) abort();
        // nlohmann accepts what nests too deeply for parse_json, and only that.
        if (!want.is_discarded() && depth(want) <= skiff::apiserver::max_json_depth) abort();
        return 0;
    }
    if (want.is_discarded() || !same_tree(got, want)) abort();
    return 0;
}
