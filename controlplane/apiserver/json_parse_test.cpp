// Unit tests of parse_json: for every rule of nlohmann 3.11's parser (numbers, strings, UTF-8,
// escapes, structure, the BOM and NUL quirks), the same accept/reject decision as
// nlohmann::json::parse and, when accepted, the same tree with the same type at every node; error
// offsets; the depth limit; real objects.
#include "skiff/apiserver/json_parse.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "json_test_pod.hpp"

namespace skiff::apiserver {
namespace {

using json = nlohmann::json;
using namespace std::string_literals;
using testing::pod_body;

// type_name() says "number" for all three number types.
std::string type_of(const json& j) {
    switch (j.type()) {
        case json::value_t::number_unsigned:
            return "number_unsigned";
        case json::value_t::number_integer:
            return "number_integer";
        case json::value_t::number_float:
            return "number_float";
        default:
            return j.type_name();
    }
}

// json(1u) == json(1) and json(1.0) == json(1) in nlohmann, so == cannot tell number types apart:
// this walks both trees and compares the type at every node, and doubles bit for bit (-0.0 vs 0.0).
::testing::AssertionResult same_tree(const json& got, const json& want,
                                     const std::string& path = "$") {
    if (got.type() != want.type())
        return ::testing::AssertionFailure() << path << ": " << type_of(got) << " " << got.dump()
                                             << ", want " << type_of(want) << " " << want.dump();
    switch (want.type()) {
        case json::value_t::object: {
            if (got.size() != want.size())
                return ::testing::AssertionFailure()
                       << path << ": " << got.size() << " members, want " << want.size();
            for (auto g = got.begin(), w = want.begin(); w != want.end(); ++g, ++w) {
                if (g.key() != w.key())
                    return ::testing::AssertionFailure()
                           << path << ": key " << g.key() << ", want " << w.key();
                auto r = same_tree(*g, *w, path + "." + w.key());
                if (!r) return r;
            }
            return ::testing::AssertionSuccess();
        }
        case json::value_t::array: {
            if (got.size() != want.size())
                return ::testing::AssertionFailure()
                       << path << ": " << got.size() << " elements, want " << want.size();
            for (size_t i = 0; i < want.size(); ++i) {
                auto r = same_tree(got[i], want[i], path + "[" + std::to_string(i) + "]");
                if (!r) return r;
            }
            return ::testing::AssertionSuccess();
        }
        case json::value_t::number_float: {
            double g = got.get<double>(), w = want.get<double>();
            if (std::memcmp(&g, &w, sizeof g) != 0)
                return ::testing::AssertionFailure()
                       << path << ": " << got.dump() << ", want " << want.dump();
            return ::testing::AssertionSuccess();
        }
        default:
            if (got != want)
                return ::testing::AssertionFailure()
                       << path << ": " << got.dump() << ", want " << want.dump();
            return ::testing::AssertionSuccess();
    }
}

json nlohmann_parse(const std::string& text) {
    return json::parse(text.begin(), text.end(), nullptr, false);
}

// Printable form of a test input for failure messages.
std::string shown(const std::string& text) {
    std::string s;
    for (unsigned char c : text) {
        if (c >= 0x20 && c < 0x7F) {
            s += static_cast<char>(c);
        } else {
            char b[8];
            snprintf(b, sizeof b, "\\x%02X", c);
            s += b;
        }
    }
    return s;
}

struct Case {
    std::string text;
    bool accepted;  // what nlohmann (and so parse_json) decides
};

// Each case runs through both parsers: nlohmann must decide as the table says (so the table
// documents nlohmann's behaviour), parse_json must decide the same and, when accepting, build the
// same tree.
void check_cases(const std::vector<Case>& cases) {
    for (const auto& c : cases) {
        SCOPED_TRACE("input: " + shown(c.text));
        json want = nlohmann_parse(c.text);
        EXPECT_EQ(!want.is_discarded(), c.accepted) << "nlohmann decides otherwise";
        json got;
        JsonSyntaxError error;
        bool ok = parse_json(c.text, got, &error);
        EXPECT_EQ(ok, c.accepted) << "parse_json: " << error.message << " at byte " << error.byte;
        if (ok && !want.is_discarded()) {
            EXPECT_TRUE(same_tree(got, want));
        }
        if (!ok) {
            EXPECT_TRUE(got.is_discarded());
            EXPECT_FALSE(error.message.empty());
            EXPECT_LE(error.byte, c.text.size());
        }
        EXPECT_TRUE(same_tree(parse_json_or_discarded(c.text), want));
    }
}

TEST(ParseJson, Literals) {
    check_cases({
        {"true", true},
        {"false", true},
        {"null", true},
        {" \t\r\nnull \t\r\n", true},
        {"tru", false},
        {"True", false},
        {"nul", false},
        {"nulll", false},
        {"truex", false},
        {"f", false},
        {"NaN", false},
        {"Infinity", false},
        {"'a'", false},
        {"x", false},
        {"[null]", true},
        {"[true,false]", true},
    });
}

TEST(ParseJson, IntegerTypes) {
    check_cases({
        {"0", true},
        {"-0", true},  // number_integer 0
        {"7", true},
        {"-7", true},
        {"18446744073709551615", true},   // UINT64_MAX: number_unsigned
        {"18446744073709551616", true},   // one more: number_float
        {"99999999999999999999", true},   // 20 digits, too big: float
        {"100000000000000000000", true},  // 21 digits: float
        {"9223372036854775807", true},
        {"9223372036854775808", true},    // unsigned (non-negative)
        {"-9223372036854775808", true},   // INT64_MIN: number_integer
        {"-9223372036854775809", true},   // float
        {"-18446744073709551615", true},  // float
        {"1234567890123456789012345678901234567890", true},
        {"[1,-1,0,-0]", true},
    });
    json v;
    ASSERT_TRUE(parse_json("18446744073709551615", v));
    EXPECT_TRUE(v.is_number_unsigned());
    ASSERT_TRUE(parse_json("-9223372036854775808", v));
    EXPECT_TRUE(v.is_number_integer() && !v.is_number_unsigned());
    EXPECT_EQ(v.get<int64_t>(), INT64_MIN);
    ASSERT_TRUE(parse_json("-0", v));
    EXPECT_EQ(v.type(), json::value_t::number_integer);
    ASSERT_TRUE(parse_json("18446744073709551616", v));
    EXPECT_TRUE(v.is_number_float());
}

TEST(ParseJson, FloatsAreCorrectlyRounded) {
    check_cases({
        {"-0.0", true},  // float -0.0
        {"0.0", true},
        {"1.5", true},
        {"0.1", true},
        {"1e5", true},
        {"1E5", true},
        {"1e+5", true},
        {"1e-5", true},
        {"-1.25e-3", true},
        {"0e0", true},
        {"-0e0", true},
        {"3.141592653589793238462643383279502884197", true},
        {"2.2250738585072011e-308", true},  // strtod's famous hard case
        {"2.2250738585072012e-308", true},
        {"1.7976931348623157e308", true},  // DBL_MAX
        {"4.9e-324", true},                // smallest denormal
        {"2.5e-324", true},                // rounds up to it
        {"2e-324", true},                  // rounds to 0 (strtod underflow; nlohmann keeps the 0)
        {"1e-400", true},
        {"-1e-400", true},  // -0.0
        {"0.000000000000000000000000000000001e-300", true},
        {"1e-99999999999999999999999", true},
        {"0e99999999999999999999", true},
        {"1000000000000000000000000000000000000000000e-330", true},
        {"1e400", false},  // non-finite: "number overflow" in nlohmann
        {"-1e400", false},
        {"1.7976931348623159e308", false},
        {"0.00001e308000", false},
        {"1e99999999999999999999999", false},
        {"123456789e301", false},
    });
    json v;
    ASSERT_TRUE(parse_json("-0.0", v));
    ASSERT_TRUE(v.is_number_float());
    EXPECT_TRUE(std::signbit(v.get<double>()));
    ASSERT_TRUE(parse_json("-1e-400", v));
    EXPECT_TRUE(std::signbit(v.get<double>()) && v.get<double>() == 0);
}

TEST(ParseJson, NumberGrammar) {
    check_cases({
        {"01", false},   {"-01", false},   {"00", false},
        {"-", false},    {"--1", false},   {"+1", false},
        {".5", false},   {"1.", false},    {"1.e5", false},
        {"1e", false},   {"1e+", false},   {"1e-", false},
        {"1ee5", false}, {"0x10", false},  {"1.5.3", false},
        {"- 1", false},  {"1 2", false},   {"[01]", false},
        {"[-]", false},  {"[1.]", false},  {"1e5.5", false},
        {"-a", false},   {"0.e1", false},  {"[0,1e]", false},
        {"[0.5]", true}, {"[1E-0]", true}, {"{\"a\":-0.5e+10}", true},
    });
}

TEST(ParseJson, StringsAndEscapes) {
    check_cases({
        {R"("")", true},
        {R"("abc")", true},
        {R"("a long plain ASCII string that spans several 8-byte chunks of the fast path")", true},
        {R"("\"\\\/\b\f\n\r\t")", true},
        {R"("x\u0041y")", true},
        {R"("\u0000")", true},  // NUL inside a string, escaped: allowed
        {R"("\u00e9\u20AC\uFFFF")", true},
        {R"("\uD83D\uDE00")", true},  // surrogate pair: U+1F600
        {R"("\udbff\udfff")", true},  // U+10FFFF
        {R"("pre\uD834\uDD1Epost")", true},
        {"\"\x7F\"", true},  // DEL needs no escape
        {R"("\x")", false},
        {R"("\a")", false},
        {R"("\U0041")", false},
        {R"("\u12")", false},
        {R"("\u12G4")", false},
        {R"("\u")", false},
        {R"("\uD800")", false},        // lone high surrogate
        {R"("\uDC00")", false},        // lone low surrogate
        {R"("\uDE00\uD83D")", false},  // reversed pair
        {R"("\uD800\u0041")", false},  // high surrogate, then not a low one
        {R"("\uD800\uD800")", false},
        {R"("\uD800x")", false},
        {R"("\uD800\n")", false},
        {R"("\uD800\")", false},
        {R"("\")", false},
        {R"("abc)", false},
        {"\"", false},
        {"\"abc\\", false},
        {"\"\x01\"", false},
        {"\"\x1F\"", false},
        {"\"a\nb\"", false},
        {"\"a\tb\"", false},
        {"\"\0\""s, false},  // a raw NUL inside a string is a control character
        {"'single'", false},
    });
}

TEST(ParseJson, Utf8) {
    check_cases({
        {"\"\xC3\xA9\"", true},                // é
        {"\"\xC2\x80\"", true},                // U+0080
        {"\"\xDF\xBF\"", true},                // U+07FF
        {"\"\xE0\xA0\x80\"", true},            // U+0800
        {"\"\xE2\x82\xAC\"", true},            // €
        {"\"\xED\x9F\xBF\"", true},            // U+D7FF
        {"\"\xEE\x80\x80\"", true},            // U+E000
        {"\"\xEF\xBF\xBF\"", true},            // U+FFFF
        {"\"\xF0\x90\x80\x80\"", true},        // U+10000
        {"\"\xF0\x9F\x98\x80 smile\"", true},  // U+1F600
        {"\"\xF3\xBF\xBF\xBF\"", true},
        {"\"\xF4\x8F\xBF\xBF\"", true},  // U+10FFFF
        {"\"caf\xC3\xA9 cr\xC3\xA8me br\xC3\xBBl\xC3\xA9\"", true},
        {"\"\xC0\x80\"", false},          // overlong NUL
        {"\"\xC1\xBF\"", false},          // overlong
        {"\"\xE0\x9F\xBF\"", false},      // overlong 3-byte
        {"\"\xF0\x8F\xBF\xBF\"", false},  // overlong 4-byte
        {"\"\xED\xA0\x80\"", false},      // U+D800 encoded in UTF-8
        {"\"\xED\xBF\xBF\"", false},      // U+DFFF
        {"\"\xF4\x90\x80\x80\"", false},  // U+110000
        {"\"\xF5\x80\x80\x80\"", false},
        {"\"\xF8\x88\x80\x80\x80\"", false},
        {"\"\xFF\"", false},
        {"\"\xFE\"", false},
        {"\"\x80\"", false},  // lone continuation byte
        {"\"\xBF\"", false},
        {"\"\xC3\"", false},  // truncated before the quote
        {"\"\xE2\x82\"", false},
        {"\"\xF0\x9F\x98\"", false},
        {"\"\xC3", false},  // truncated by the end of input
        {"\"\xE2\x82", false},
        {"\"\xC3\x28\"", false},
        {"\"\xE2\x28\xA1\"", false},
        {"\"\xE2\x82\x28\"", false},
        {"\"\xF0\x28\x8C\xBC\"", false},
        {"\xC3\xA9", false},  // non-ASCII outside a string
        {"[\"ok\",\"\xC3\xA9\",\"\xC3\"]", false},
    });
}

TEST(ParseJson, Structure) {
    check_cases({
        {"[]", true},
        {"{}", true},
        {" [ ] ", true},
        {"{ }", true},
        {"[1,[2,[3,{}]],{\"a\":[]}]", true},
        {"{\"a\":{\"b\":{\"c\":[1,2,{\"d\":null}]}}}", true},
        {"{ \"a\" : 1 , \"b\" : [ 1 , 2 ] }", true},
        {"{\"b\":1,\"a\":2,\"c\":3}", true},            // keys out of order
        {"{\"a\":1,\"a\":2}", true},                    // duplicate: the last one wins
        {"{\"a\":{\"x\":1},\"b\":0,\"a\":[2]}", true},  // duplicate after others, replaced whole
        {"{\"z\":1,\"a\":2,\"z\":{\"y\":3}}", true},
        {"{\"\\u0061\":1,\"a\":2}", true},  // escaped key equals a plain one
        {"{\"a\\nb\":1,\"\":2}", true},
        {"[", false},
        {"]", false},
        {"{", false},
        {"}", false},
        {"[1", false},
        {"[1,", false},
        {"[1,]", false},
        {"[,1]", false},
        {"[1 2]", false},
        {"[1;2]", false},
        {"[]]", false},
        {"{}}", false},
        {"[}", false},
        {"{]", false},
        {"{\"a\"}", false},
        {"{\"a\" 1}", false},
        {"{\"a\":}", false},
        {"{\"a\":1,}", false},
        {"{\"a\":1 \"b\":2}", false},
        {"{,}", false},
        {"{1:2}", false},
        {"{a:1}", false},
        {"{'a':1}", false},
        {"{\"a\"::1}", false},
        {"{\"a\":1", false},
        {"{\"a\"", false},
        {"[]{}", false},
        {"{}[]", false},
        {"\"a\"\"b\"", false},
        {"1 2", false},
    });
}

TEST(ParseJson, WhitespaceBomAndEnd) {
    check_cases({
        {"", false},
        {" ", false},
        {"\t\r\n ", false},
        {" 1 ", true},
        {"\n\n{\n\t\"a\" :\r\n[ 1 ,\t2 ]\n}\n", true},
        {"\f1", false},  // form feed is not JSON whitespace
        {"\v1", false},
        {"1\f", false},
        {"\xC2\xA0"
         "1",
         false},  // NO-BREAK SPACE
        {"\xEF\xBB\xBF"
         "1",
         true},  // UTF-8 BOM: nlohmann skips it
        {"\xEF\xBB\xBF {\"a\":1}", true},
        {"\xEF\xBB\xBF", false},
        {"\xEF\xBB\xBF\xEF\xBB\xBF"
         "1",
         false},  // only one
        {" \xEF\xBB\xBF"
         "1",
         false},  // only at the very start
        {"\xEF\xBB"
         "1",
         false},
        {"\xEF"
         "1",
         false},
        {"\xFE\xFF"
         "1",
         false},               // UTF-16 BOM
        {"/* c */ 1", false},  // no comments
        {"1 // c", false},
        // nlohmann's lexer takes a NUL byte where a token would start for the end of the input.
        {"1\0junk"s, true},
        {"{\"a\":1} \0 ]]] \xFF"s, true},
        {"\"s\"\0"s, true},
        {"\0"s, false},
        {"\0 1"s, false},
        {"[1\0]"s, false},
        {"{\"a\"\0:1}"s, false},
        {"tr\0ue"s, false},
    });
}

TEST(ParseJson, ErrorsSayWhereAndWhat) {
    struct Bad {
        std::string text;
        size_t byte;
        std::string says;
    };
    const std::vector<Bad> bad = {
        {"", 0, "end of input"},
        {"{\"a\" 1}", 5, "expected ':' after an object key"},
        {"{\"a\":1,}", 7, "expected a string key"},
        {"[1,2 3]", 5, "expected ',' or ']'"},
        {"{\"a\":1 \"b\":2}", 7, "expected ',' or '}'"},
        {"\"abc", 4, "unterminated string"},
        {"[\"ab\xC3\x28\"]", 5, "invalid UTF-8"},
        {"\"\xFF\"", 1, "invalid UTF-8 byte"},
        {"\"a\tb\"", 2, "control character"},
        {"\"\\q\"", 2, "invalid escape"},
        {"\"\\u12x4\"", 5, "4 hex digits"},
        {"\"\\uDC00\"", 1, "low surrogate"},
        {"\"ab\\uD800\"", 9, "high surrogate"},
        {"[01]", 2, "expected ',' or ']'"},
        {"-x", 1, "digit after '-'"},
        {"1.e3", 2, "digit after the decimal point"},
        {"1e+", 3, "digit in the exponent"},
        {"[1e400]", 1, "number overflow"},
        {"nulL", 3, "invalid literal"},
        {"{} x", 3, "unexpected data after the JSON value"},
        {"[1,", 3, "end of input"},
    };
    for (const auto& b : bad) {
        SCOPED_TRACE("input: " + shown(b.text));
        EXPECT_TRUE(nlohmann_parse(b.text).is_discarded());
        json out;
        JsonSyntaxError error;
        ASSERT_FALSE(parse_json(b.text, out, &error));
        EXPECT_EQ(error.byte, b.byte) << error.message;
        EXPECT_NE(error.message.find(b.says), std::string::npos) << error.message;
    }
}

std::string nested(const std::string& open, const std::string& inner, const std::string& close,
                   int depth) {
    std::string s;
    for (int i = 0; i < depth; ++i) s += open;
    s += inner;
    for (int i = 0; i < depth; ++i) s += close;
    return s;
}

TEST(ParseJson, DepthLimit) {
    json out;
    JsonSyntaxError error;
    // Exactly the limit: accepted, and the same as nlohmann's tree.
    std::string arrays = nested("[", "1", "]", max_json_depth);
    ASSERT_TRUE(parse_json(arrays, out, &error)) << error.message;
    EXPECT_TRUE(same_tree(out, json::parse(arrays)));
    std::string objects = nested("{\"k\":", "{}", "}", max_json_depth - 1);
    ASSERT_TRUE(parse_json(objects, out, &error)) << error.message;
    EXPECT_TRUE(same_tree(out, json::parse(objects)));

    // One more: refused at the opening bracket that goes too deep (nlohmann, with no limit, accepts
    // it).
    std::string too_deep = nested("[", "", "]", max_json_depth + 1);
    EXPECT_FALSE(nlohmann_parse(too_deep).is_discarded());
    ASSERT_FALSE(parse_json(too_deep, out, &error));
    EXPECT_EQ(error.byte, static_cast<size_t>(max_json_depth));
    EXPECT_NE(error.message.find("nested too deeply"), std::string::npos) << error.message;
    too_deep = nested("{\"k\":", "{}", "}", max_json_depth);
    ASSERT_FALSE(parse_json(too_deep, out, &error));
    EXPECT_EQ(error.byte, static_cast<size_t>(5 * max_json_depth));

    // Depth is nesting, not a count of containers: many siblings at depth 2 are fine.
    std::string wide = "[" + nested("[", "", "]", 1);
    for (int i = 0; i < 5000; ++i) wide += ",[[]]";
    wide += "]";
    EXPECT_TRUE(parse_json(wide, out));

    // A bomb far beyond the limit fails cleanly (a parser without a limit would recurse a million
    // frames).
    EXPECT_FALSE(parse_json(std::string(1'000'000, '['), out, &error));
    EXPECT_EQ(error.byte, static_cast<size_t>(max_json_depth));
}


// A Deployment as kubectl apply sends it (pretty-printed, with the last-applied annotation full of
// escapes), and as the store keeps it (nlohmann's dump: sorted keys, no spaces).
const char* const kubectl_deployment = R"({
  "apiVersion": "apps/v1",
  "kind": "Deployment",
  "metadata": {
    "annotations": {
      "deployment.kubernetes.io/revision": "3",
      "kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"annotations\":{},\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"replicas\":3,\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"image\":\"nginx:1.25\",\"name\":\"web\"}]}}}}\n",
      "description": "caf\u00e9 \u2014 \ud83d\ude80 r\u00e9sum\u00e9 \u00fcber"
    },
    "creationTimestamp": "2025-01-02T03:04:05Z",
    "generation": 3,
    "labels": {"app": "web", "tier": "frontend"},
    "name": "web",
    "namespace": "default",
    "resourceVersion": "918273",
    "uid": "5f0c3a8e-4b7d-4c2a-9e1f-2a3b4c5d6e7f"
  },
  "spec": {
    "progressDeadlineSeconds": 600,
    "replicas": 3,
    "revisionHistoryLimit": 10,
    "selector": {"matchLabels": {"app": "web"}},
    "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
    "template": {
      "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
      "spec": {
        "containers": [{
          "image": "nginx:1.25",
          "imagePullPolicy": "IfNotPresent",
          "name": "web",
          "resources": {"limits": {"cpu": "1.5", "memory": "1Gi"}},
          "env": [{"name": "RATIO", "value": "0.75"}, {"name": "EMPTY", "value": ""}],
          "terminationMessagePath": "/dev/termination-log",
          "terminationMessagePolicy": "File"
        }],
        "dnsPolicy": "ClusterFirst",
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {"fsGroup": 2000, "runAsUser": -1, "seLinuxOptions": {}},
        "terminationGracePeriodSeconds": 30
      }
    }
  },
  "status": {
    "availableReplicas": 3,
    "conditions": [
      {"lastTransitionTime": "2025-01-02T03:04:05Z", "message": "Deployment has minimum availability.",
       "reason": "MinimumReplicasAvailable", "status": "True", "type": "Available"}
    ],
    "observedGeneration": 3,
    "readyReplicas": 3,
    "replicas": 3,
    "updatedReplicas": 3,
    "scale": 1.0e0,
    "weight": -0.0
  }
})";

TEST(ParseJson, RealObjects) {
    for (const std::string& text : {pod_body(), std::string(kubectl_deployment)}) {
        json want = json::parse(text);
        json got;
        JsonSyntaxError error;
        ASSERT_TRUE(parse_json(text, got, &error)) << error.message << " at byte " << error.byte;
        EXPECT_TRUE(same_tree(got, want));
        // As stored: nlohmann's dump, keys sorted, the order the emplace_hint fast path takes.
        std::string stored = want.dump();
        ASSERT_TRUE(parse_json(stored, got, &error)) << error.message;
        EXPECT_TRUE(same_tree(got, want));
        EXPECT_EQ(got.dump(), stored);
        // Pretty-printed with UTF-8 left as is.
        std::string pretty = want.dump(2);
        ASSERT_TRUE(parse_json(pretty, got, &error)) << error.message;
        EXPECT_TRUE(same_tree(got, want));
    }
    json d;
    ASSERT_TRUE(parse_json(kubectl_deployment, d));
    EXPECT_EQ(d["metadata"]["annotations"]["description"],
              "caf\xC3\xA9 \xE2\x80\x94 \xF0\x9F\x9A\x80 r\xC3\xA9sum\xC3\xA9 \xC3\xBC"
              "ber");
    EXPECT_TRUE(d["spec"]["replicas"].is_number_unsigned());
    EXPECT_TRUE(d["spec"]["template"]["spec"]["securityContext"]["runAsUser"].is_number_integer());
    EXPECT_FALSE(
        d["spec"]["template"]["spec"]["securityContext"]["runAsUser"].is_number_unsigned());
    EXPECT_TRUE(d["status"]["scale"].is_number_float());
    // The annotation holds JSON itself, with escaped quotes and a \n: decoded exactly.
    json applied =
        json::parse(d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
                        .get<std::string>());
    EXPECT_EQ(applied["spec"]["replicas"], 3);
}

// One parse of the Pod body by each parser, for the callgrind instruction counts in the report:
//   valgrind --tool=callgrind --toggle-collect='skiff::apiserver::parse_json(*' apiserver_test
//       --gtest_filter=ParseJson.PodBodyOnceEach
// and --toggle-collect='nlohmann::*::basic_json<*>::parse<*' for nlohmann's.
TEST(ParseJson, PodBodyOnceEach) {
    const std::string text = pod_body();
    json want = json::parse(text);
    json got;
    ASSERT_TRUE(parse_json(text, got));
    EXPECT_TRUE(same_tree(got, want));
}

}  // namespace
}  // namespace skiff::apiserver
