// Unit tests of write_json: for every rule of nlohmann 3.11's dump() (structure, string escapes,
// UTF-8 checks, integers, floats, binary and discarded values), the same text byte for byte or the
// same type_error 316; appending to a string that holds something; real objects.
#include "skiff/apiserver/json_write.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "skiff/apiserver/json_parse.hpp"
#include "skiff/apiserver/resources.hpp"
#include "skiff/apiserver/strategy.hpp"

#include "json_test_pod.hpp"

namespace skiff::apiserver {
namespace {

using json = nlohmann::json;
using namespace std::string_literals;
using testing::pod_body;

std::string shown(const std::string& s) {
    std::string r;
    for (unsigned char c : s) {
        if (c >= 0x20 && c < 0x7f) {
            r += static_cast<char>(c);
        } else {
            char b[8];
            std::snprintf(b, sizeof b, "\\x%02X", c);
            r += b;
        }
    }
    return r;
}

// What dump() gives for j: its text, or the type_error it throws.
struct Outcome {
    bool threw = false;
    int id = 0;
    std::string text;  // the JSON, or the exception's what()
};

Outcome dump_of(const json& j) {
    try {
        return {false, 0, j.dump()};
    } catch (const json::type_error& e) {
        return {true, e.id, e.what()};
    }
}

// write_json appends to what out already holds; on an exception out must be left as it was.
Outcome write_of(const json& j, const std::string& prefix = "") {
    std::string out = prefix;
    try {
        write_json(j, out);
    } catch (const json::type_error& e) {
        if (out != prefix) return {false, 0, "out changed on an exception: " + shown(out)};
        return {true, e.id, e.what()};
    }
    if (out.compare(0, prefix.size(), prefix) != 0) return {false, 0, "prefix lost: " + shown(out)};
    return {false, 0, out.substr(prefix.size())};
}

::testing::AssertionResult same_as_dump(const json& j, const std::string& prefix = "") {
    const Outcome want = dump_of(j);
    const Outcome got = write_of(j, prefix);
    if (got.threw != want.threw || got.id != want.id || got.text != want.text)
        return ::testing::AssertionFailure()
               << "write_json: " << (got.threw ? "threw " : "") << shown(got.text)
               << "\n     dump(): " << (want.threw ? "threw " : "") << shown(want.text);
    return ::testing::AssertionSuccess() << (want.threw ? "threw " : "") << shown(want.text);
}

// A string value as nlohmann dumps it: checked against dump() alone, as a key, inside an array,
// and where the writer's 8-byte scan reaches it (after 8 and 13 plain bytes), with something after
// it.
void check_string(const std::string& s) {
    SCOPED_TRACE("string: " + shown(s));
    EXPECT_TRUE(same_as_dump(json(s)));
    EXPECT_TRUE(same_as_dump(json{{s, 1}, {"k", s}}));
    EXPECT_TRUE(same_as_dump(json::array({s, s + s})));
    EXPECT_TRUE(same_as_dump(json("abcdefgh" + s)));
    EXPECT_TRUE(same_as_dump(json("abcdefghijklm" + s + "nopqrstuvwxyz")));
    EXPECT_TRUE(same_as_dump(json(s + "0123456789abcdef")));
}

TEST(WriteJson, Literals) {
    for (const json& j : {json(nullptr), json(true), json(false), json::object(), json::array(),
                          json(""), json()}) {
        EXPECT_TRUE(same_as_dump(j));
    }
    EXPECT_EQ(write_json(json::object()), "{}");
    EXPECT_EQ(write_json(json::array()), "[]");
    EXPECT_EQ(write_json(json("")), "\"\"");
}

TEST(WriteJson, EveryAsciiByte) {
    // The escape rules: \b \t \n \f \r \" \\ by name, other bytes below 0x20 as \u00xx (lowercase),
    // everything else from 0x20 to 0x7F (with '/' and DEL) as it is.
    for (int c = 0; c < 0x80; ++c) check_string(std::string(1, static_cast<char>(c)));
    EXPECT_EQ(write_json(json("\x1f\x7f/\"\\\b\t\n\f\r\x01")),
              "\"\\u001f\x7f/\\\"\\\\\\b\\t\\n\\f\\r\\u0001\"");
    std::string all;
    for (int c = 0; c < 0x80; ++c) all += static_cast<char>(c);
    check_string(all);
    check_string(all + all);
    check_string(std::string(1000, '"'));
    check_string(std::string(1000, '\x01'));  // 6 bytes out for each byte in
    check_string("\0"s);
    check_string("a\0b\0"s);
}

TEST(WriteJson, ValidUtf8) {
    for (
        const std::string& s : {
            "\xC2\x80"s,          // U+0080
            "\xC3\xA9"s,          // é
            "\xDF\xBF"s,          // U+07FF
            "\xE0\xA0\x80"s,      // U+0800
            "\xE2\x82\xAC"s,      // €
            "\xED\x9F\xBF"s,      // U+D7FF, below the surrogates
            "\xEE\x80\x80"s,      // U+E000, above them
            "\xEF\xBB\xBF"s,      // BOM
            "\xEF\xBF\xBF"s,      // U+FFFF
            "\xF0\x90\x80\x80"s,  // U+10000
            "\xF0\x9F\x98\x80"s,  // 😀
            "\xF3\xBF\xBF\xBF"s,  // U+FFFFF
            "\xF4\x8F\xBF\xBF"s,  // U+10FFFF
            "caf\xC3\xA9 \xE2\x80\x94 \xF0\x9F\x9A\x80 r\xC3\xA9sum\xC3\xA9"s,
            "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE6\x96\x87\xE5\xAD\x97\xE5\x88\x97"s,
            "\xC3\xA9\n\xC3\xA9\"\xF0\x9F\x98\x80\\"s,  // UTF-8 next to escapes
        }) {
        check_string(s);
    }
}

TEST(WriteJson, InvalidUtf8Throws) {
    for (const std::string& s : {
             "\xC0\x80"s,          // overlong NUL
             "\xC1\xBF"s,          // overlong
             "\xE0\x9F\xBF"s,      // overlong 3-byte
             "\xF0\x8F\xBF\xBF"s,  // overlong 4-byte
             "\xED\xA0\x80"s,      // U+D800 (a surrogate) encoded in UTF-8
             "\xED\xBF\xBF"s,      // U+DFFF
             "\xF4\x90\x80\x80"s,  // U+110000
             "\xF5\x80\x80\x80"s,
             "\xF8\x88\x80\x80\x80"s,
             "\xFF"s,
             "\xFE"s,
             "\x80"s,  // lone continuation byte
             "\xBF"s,
             "\xC3"s,  // truncated by the end of the string
             "\xE2\x82"s,
             "\xF0\x9F\x98"s,
             "\xC3\x28"s,  // truncated by an ASCII byte
             "\xE2\x28\xA1"s,
             "\xE2\x82\x28"s,
             "\xF0\x28\x8C\xBC"s,
             "\xC3\""s,  // ... by a byte that needs an escape
             "\xE2\x82\n"s,
             "\xC3\xA9\xA9"s,  // one continuation byte too many
         }) {
        SCOPED_TRACE("string: " + shown(s));
        // nlohmann throws, and so does write_json, with the same id and message (the index of the
        // rejected byte, or "incomplete"), for values and keys alike.
        ASSERT_TRUE(dump_of(json(s)).threw);
        ASSERT_EQ(dump_of(json(s)).id, 316);
        check_string(s);
        EXPECT_TRUE(same_as_dump(json{{"ok", 1}, {"z" + s, 2}}, "prefix"));
        EXPECT_THROW(write_json(json::array({"fine", json{{"a", s}}})), json::type_error);
    }
}

// Every string of a non-ASCII byte and any second byte, and of a 3- or 4-byte lead, a second byte
// at each edge of the continuation ranges and a few third and fourth bytes: each one valid or not
// (and the same message) exactly when nlohmann says, at the end of a string and inside one.
TEST(WriteJson, Utf8Exhaustive) {
    int mismatches = 0;
    auto check = [&](const std::string& t) {
        if (!same_as_dump(json(t)) && ++mismatches < 10)
            ADD_FAILURE() << same_as_dump(json(t)).message();
    };
    // Two bytes go through the writer's byte-at-a-time tail, the longer ones through both paths.
    for (int a = 0x80; a < 256; ++a)
        for (int b = 0; b < 256; ++b) check({static_cast<char>(a), static_cast<char>(b)});
    const char seconds[] = {'A',    '\x7F', '\x80', '\x81', '\x8E', '\x8F', '\x90', '\x91',
                            '\x9E', '\x9F', '\xA0', '\xA1', '\xBE', '\xBF', '\xC0', '\xC1'};
    const char tails[] = {'A', '\x7F', '\x80', '\x8F', '\x90', '\xBF', '\xC0'};
    for (int a = 0xE0; a < 0xF8; ++a)
        for (char b : seconds)
            for (char c : tails)
                for (char d : tails) {
                    const std::string s = {static_cast<char>(a), b, c, d};
                    check(s);
                    check("abcdefghijk" + s + "lmnopqrstu");
                }
    EXPECT_EQ(mismatches, 0);
}

TEST(WriteJson, Integers) {
    for (const json& j : {
             json(0),
             json(1),
             json(-1),
             json(9),
             json(10),
             json(-10),
             json(99),
             json(100),
             json(123456789),
             json(-987654321),
             json(std::numeric_limits<int64_t>::max()),
             json(std::numeric_limits<int64_t>::min()),
             json(std::numeric_limits<int64_t>::min() + 1),
             json(std::numeric_limits<uint64_t>::max()),
             json(uint64_t{1} << 63),
             json(uint64_t{0}),
             json(uint64_t{10000000000000000000u}),
         }) {
        EXPECT_TRUE(same_as_dump(j));
    }
    EXPECT_EQ(write_json(json(std::numeric_limits<int64_t>::min())), "-9223372036854775808");
    EXPECT_EQ(write_json(json(std::numeric_limits<uint64_t>::max())), "18446744073709551615");
    // Every power of ten and its neighbours, signed and unsigned.
    uint64_t p = 1;
    for (int i = 0; i < 20; ++i, p *= 10) {
        for (uint64_t v : {p - 1, p, p + 1}) {
            EXPECT_TRUE(same_as_dump(json(v)));
            if (v <= uint64_t{1} << 62) {
                EXPECT_TRUE(same_as_dump(json(-static_cast<int64_t>(v))));
            }
        }
    }
}

TEST(WriteJson, Floats) {
    const double inf = std::numeric_limits<double>::infinity();
    for (double d : {
             0.0,
             -0.0,
             1.0,
             -1.0,
             0.1,
             0.5,
             1.5,
             -1.5e-7,
             1e300,
             -1e300,
             123456789.0,
             1234567890123456789.0,
             1e15,
             1e16,
             1e17,
             1e20,
             1e21,
             1e22,
             1e-5,
             1e-6,
             1e-7,
             0.3,
             2.0 / 3.0,
             3.141592653589793,
             5e-324,  // the smallest subnormal
             2.2250738585072014e-308,
             std::numeric_limits<double>::max(),
             std::numeric_limits<double>::lowest(),
             9007199254740993.0,
             inf,  // non-finite: null
             -inf,
             std::nan(""),
         }) {
        SCOPED_TRACE(d);
        EXPECT_TRUE(same_as_dump(json(d)));
        EXPECT_TRUE(same_as_dump(json::array({d, 1, d})));
    }
    EXPECT_EQ(write_json(json(1.0)), "1.0");
    EXPECT_EQ(write_json(json(-0.0)), "-0.0");
    EXPECT_EQ(write_json(json(1e300)), "1e+300");
    EXPECT_EQ(write_json(json(-1.5e-7)), "-1.5e-07");
    EXPECT_EQ(write_json(json(123456789.0)), "123456789.0");
    EXPECT_EQ(write_json(json(inf)), "null");
    // A spread of doubles by bit pattern, all exponents.
    uint64_t bits = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < 20000; ++i) {
        bits = bits * 6364136223846793005ULL + 1442695040888963407ULL;
        double d;
        std::memcpy(&d, &bits, sizeof d);
        ASSERT_TRUE(same_as_dump(json(d))) << bits;
    }
}

TEST(WriteJson, BinaryAndDiscarded) {
    EXPECT_TRUE(same_as_dump(json::binary({})));
    EXPECT_TRUE(same_as_dump(json::binary({0, 1, 9, 10, 99, 100, 255})));
    EXPECT_TRUE(same_as_dump(json::binary({1, 2}, 0)));
    EXPECT_TRUE(same_as_dump(json::binary({1, 2}, 42)));
    EXPECT_TRUE(same_as_dump(json::binary({}, std::numeric_limits<std::uint64_t>::max())));
    EXPECT_TRUE(
        same_as_dump(json{{"b", json::binary({7}, 3)}, {"c", json::array({json::binary({})})}}));
    EXPECT_EQ(write_json(json::binary({1, 2}, 42)), R"({"bytes":[1,2],"subtype":42})");
    EXPECT_EQ(write_json(json::binary({})), R"({"bytes":[],"subtype":null})");
    const json discarded(json::value_t::discarded);
    EXPECT_TRUE(same_as_dump(discarded));
    EXPECT_TRUE(same_as_dump(json::array({1, discarded, 2})));
    EXPECT_EQ(write_json(discarded), "<discarded>");
}

TEST(WriteJson, Structure) {
    for (const char* text : {
             R"([1,[2,[3,{}]],{"a":[]}])",
             R"({"a":{"b":{"c":[1,2,{"d":null}]}}})",
             R"({"b":1,"a":2,"c":3})",
             R"({"":"","\n":"\"","a/b":[true,false,null,-1,1.5,"x"]})",
             R"([[],[[]],{},{"":{}},[{}]])",
         }) {
        EXPECT_TRUE(same_as_dump(json::parse(text)));
    }
    // Nested as deep as parse_json accepts (deeper values come only from our own code; at 5,000 levels
    // nlohmann's own dump, the reference, overflows the stack under AddressSanitizer).
    json deep = 1;
    for (int i = 0; i < max_json_depth; ++i) {
        json outer = i % 2 ? json::array() : json::object();
        if (i % 2)
            outer.push_back(std::move(deep));
        else
            outer["k"] = std::move(deep);
        deep = std::move(outer);
    }
    EXPECT_TRUE(same_as_dump(deep));
    // Wide: many members and elements, so the output grows many times.
    json wide = json::object();
    for (int i = 0; i < 20000; ++i) wide["member-" + std::to_string(i)] = json::array({i, "v"});
    EXPECT_TRUE(same_as_dump(wide));
}

TEST(WriteJson, AppendsToWhatOutHolds) {
    const json j = json::parse(R"({"a":[1,"two",3.5],"b":"\u00e9\n"})");
    EXPECT_TRUE(same_as_dump(j, "x"));
    EXPECT_TRUE(same_as_dump(j, std::string(100000, 'y')));
    // Room already reserved, and twice into one string.
    std::string out;
    out.reserve(1 << 20);
    write_json(j, out);
    out += '\n';
    write_json(j, out);
    EXPECT_EQ(out, j.dump() + "\n" + j.dump());
    EXPECT_EQ(write_json(j), j.dump());
    // A throw halfway through a large value leaves out as it was.
    json bad = json::array();
    for (int i = 0; i < 10000; ++i) bad.push_back("string number " + std::to_string(i));
    bad.push_back("\xFF");
    out = "keep";
    EXPECT_THROW(write_json(bad, out), json::type_error);
    EXPECT_EQ(out, "keep");
}


// The Pod as the server stores it after a create (registry.cpp): the server's metadata, no
// resourceVersion, and the Pod defaults (status, qosClass, ...) filled in by apply_defaults.
json stored_pod() {
    json pod = json::parse(pod_body());
    auto& meta = pod["metadata"];
    meta.erase("resourceVersion");
    meta["uid"] = "5f0c3a8e-4b7d-4c2a-9e1f-2a3b4c5d6e7f";
    meta["creationTimestamp"] = "2026-11-26T10:00:01Z";
    meta["generation"] = 1;
    const ResourceInfo* pods = find_resource("", "v1", "pods");
    if (pods == nullptr) throw std::logic_error("no pods resource");
    apply_defaults(*pods, pod);
    return pod;
}

// A Deployment as kubectl apply leaves it: the last-applied annotation full of escapes, non-ASCII
// text, negative and float numbers.
const char* const kubectl_deployment = R"({
  "apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {
    "annotations": {
      "deployment.kubernetes.io/revision": "3",
      "kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"annotations\":{},\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"replicas\":3,\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"image\":\"nginx:1.25\",\"name\":\"web\"}]}}}}\n",
      "description": "caf\u00e9 \u2014 \ud83d\ude80 r\u00e9sum\u00e9 \u00fcber\t\u0001"
    },
    "creationTimestamp": "2025-01-02T03:04:05Z", "generation": 3,
    "labels": {"app": "web", "tier": "frontend"},
    "name": "web", "namespace": "default", "resourceVersion": "918273",
    "uid": "5f0c3a8e-4b7d-4c2a-9e1f-2a3b4c5d6e7f"
  },
  "spec": {
    "progressDeadlineSeconds": 600, "replicas": 3, "revisionHistoryLimit": 10,
    "selector": {"matchLabels": {"app": "web"}},
    "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
    "template": {
      "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
      "spec": {
        "containers": [{"image": "nginx:1.25", "imagePullPolicy": "IfNotPresent", "name": "web",
                        "resources": {"limits": {"cpu": "1.5", "memory": "1Gi"}},
                        "env": [{"name": "RATIO", "value": "0.75"}, {"name": "EMPTY", "value": ""}]}],
        "securityContext": {"fsGroup": 2000, "runAsUser": -1, "seLinuxOptions": {}},
        "terminationGracePeriodSeconds": 30
      }
    }
  },
  "status": {"availableReplicas": 3, "observedGeneration": 3, "scale": 1.0e0, "weight": -0.0,
             "ratio": 0.333333333333, "conditions": [{"type": "Available", "status": "True"}]}
})";

TEST(WriteJson, RealObjects) {
    const json pod = json::parse(pod_body());
    EXPECT_TRUE(same_as_dump(pod));
    EXPECT_EQ(write_json(pod), pod.dump());
    const json stored = stored_pod();
    ASSERT_TRUE(stored.contains("status"));  // apply_defaults really ran
    EXPECT_TRUE(same_as_dump(stored));
    const json deployment = json::parse(kubectl_deployment);
    EXPECT_TRUE(same_as_dump(deployment));
    EXPECT_TRUE(same_as_dump(deployment, "prefix"));
    // What parse_json builds from the stored text writes back to that very text.
    json reparsed;
    ASSERT_TRUE(parse_json(deployment.dump(), reparsed));
    EXPECT_EQ(write_json(reparsed), deployment.dump());
    // A list response's shape: many objects in one array.
    json list = {{"apiVersion", "v1"}, {"kind", "PodList"}, {"items", json::array()}};
    for (int i = 0; i < 500; ++i) list["items"].push_back(stored);
    EXPECT_TRUE(same_as_dump(list));
}

// One dump of each Pod by each writer, for the callgrind instruction counts in the report:
//   valgrind --tool=callgrind --toggle-collect='skiff::apiserver::write_json(*' apiserver_test
//       --gtest_filter=WriteJson.PodBodyOnceEach (StoredPodOnceEach)
// and --toggle-collect='nlohmann::*::basic_json<*>::dump(int*' for nlohmann's (only the
// two-argument write_json is called, and the pattern leaves out nlohmann's serializer::dump:
// callgrind toggles collection at each matching function, so a match inside a match would switch it
// off).
void write_once_each(const json& j) {
    const std::string want = j.dump();
    std::string got;
    write_json(j, got);
    EXPECT_EQ(got, want);
}

TEST(WriteJson, PodBodyOnceEach) {
    write_once_each(json::parse(pod_body()));
}

TEST(WriteJson, StoredPodOnceEach) {
    write_once_each(stored_pod());
}

}  // namespace
}  // namespace skiff::apiserver
