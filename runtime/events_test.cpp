// Tests for skiff-oci events' output (runc's stats JSON) and its --interval parsing.
#include "skiff/runtime/events.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace skiff::runtime {
namespace {

using nlohmann::json;

TEST(ParseDuration, GoDurations) {
    using namespace std::chrono;
    auto ns = [](const std::string& s) {
        auto r = parse_duration(s);
        return r ? r->count() : -1;
    };
    EXPECT_EQ(ns("5s"), 5'000'000'000);
    EXPECT_EQ(ns("250ms"), 250'000'000);
    EXPECT_EQ(ns("1m30s"), 90'000'000'000);
    EXPECT_EQ(ns("1.5h"), 5'400'000'000'000);
    EXPECT_EQ(ns("100us"), 100'000);
    EXPECT_EQ(ns("100\u00b5s"), 100'000);
    EXPECT_EQ(ns("7ns"), 7);
    for (const char* bad : {"", "5", "0", "0s", "-1s", "5x", "s", "1.2.3s", "5 s"})
        EXPECT_EQ(ns(bad), -1) << bad;
    auto r = parse_duration("5x");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(), "invalid duration \"5x\": unknown unit \"x\"");
}

TEST(StatsEventJson, RuncFieldNamesAndOmissions) {
    isolation::CgroupStats s;
    s.cpu.total = 100;
    s.cpu.percpu = {60, 40};
    s.cpu.kernel = 0;
    s.cpu.user = 70;
    s.cpu.throttled_periods = 2;
    s.cpuset.cpus = {0, 1};
    s.memory.usage = {.limit = 67108864, .usage = 4096, .max = 8192, .failcnt = 0};
    s.memory.swap = {.limit = 1, .usage = 0, .max = 0, .failcnt = 3};
    s.memory.raw = {{"rss", 4096}, {"cache", 0}};
    s.pids = {.current = 2, .limit = 0};
    s.blkio.io_service_bytes_recursive = {{8, 0, "Read", 10}, {8, 0, "Write", 0}};
    s.hugetlb["2MB"] = {.usage = 0, .max = 0, .failcnt = 0};
    json j = json::parse(stats_event_json("c1", s));
    EXPECT_EQ(j["type"], "stats");
    EXPECT_EQ(j["id"], "c1");
    const json& d = j["data"];
    EXPECT_EQ(d["cpu"]["usage"]["total"], 100);
    EXPECT_EQ(d["cpu"]["usage"]["percpu"], json({60, 40}));
    EXPECT_FALSE(d["cpu"]["usage"].contains("percpu_kernel"));  // empty: omitted
    EXPECT_EQ(d["cpu"]["usage"]["kernel"], 0);                  // kept even when 0
    EXPECT_EQ(d["cpu"]["usage"]["user"], 70);
    EXPECT_EQ(d["cpu"]["throttling"], json({{"throttledPeriods", 2}}));
    EXPECT_EQ(d["cpuset"]["cpus"], json({0, 1}));
    EXPECT_FALSE(d["cpuset"].contains("mems"));
    EXPECT_EQ(d["cpuset"]["sched_relax_domain_level"], 0);
    EXPECT_EQ(d["memory"]["usage"],
              json({{"limit", 67108864}, {"usage", 4096}, {"max", 8192}, {"failcnt", 0}}));
    EXPECT_EQ(d["memory"]["swap"], json({{"limit", 1}, {"failcnt", 3}}));
    EXPECT_EQ(d["memory"]["kernelTCP"], json({{"limit", 0}, {"failcnt", 0}}));
    EXPECT_FALSE(d["memory"].contains("cache"));
    EXPECT_EQ(d["memory"]["raw"]["rss"], 4096);
    EXPECT_EQ(d["pids"], json({{"current", 2}}));
    EXPECT_EQ(d["blkio"]["ioServiceBytesRecursive"][0],
              json({{"major", 8}, {"op", "Read"}, {"value", 10}}));  // minor 0 omitted, as Go does
    EXPECT_EQ(d["blkio"]["ioServiceBytesRecursive"][1], json({{"major", 8}, {"op", "Write"}}));
    EXPECT_FALSE(d["blkio"].contains("ioServicedRecursive"));
    EXPECT_EQ(d["hugetlb"]["2MB"], json({{"failcnt", 0}}));
    EXPECT_EQ(d["intel_rdt"], json::object());
    EXPECT_TRUE(d["network_interfaces"].is_null());
    // runc's order of the data sections.
    std::string text = stats_event_json("c1", s);
    EXPECT_LT(text.find("\"cpu\""), text.find("\"cpuset\""));
    EXPECT_LT(text.find("\"cpuset\""), text.find("\"memory\""));
    EXPECT_LT(text.find("\"memory\""), text.find("\"pids\""));
    EXPECT_LT(text.find("\"pids\""), text.find("\"blkio\""));
    EXPECT_LT(text.find("\"blkio\""), text.find("\"hugetlb\""));
    EXPECT_EQ(text.find('\n'), std::string::npos);  // one line
}

TEST(OomEventJson, TypeAndIdOnly) {
    EXPECT_EQ(oom_event_json("c1"), R"({"type":"oom","id":"c1"})");
}

}  // namespace
}  // namespace skiff::runtime
