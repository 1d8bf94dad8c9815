// Tests for skiff-oci update's input: sizes, runc's flags, --resources JSON, and the merge rules.
#include "skiff/runtime/update.hpp"

#include <gtest/gtest.h>

#include "skiff/runtime/spec.hpp"

namespace skiff::runtime {
namespace {

int64_t size_or_minus(const std::string& text) {
    auto r = parse_ram_size(text);
    return r ? *r : -2;
}

TEST(ParseRamSize, NumbersAndSuffixesAsRuncTakesThem) {
    EXPECT_EQ(size_or_minus("0"), 0);
    EXPECT_EQ(size_or_minus("67108864"), 67108864);
    EXPECT_EQ(size_or_minus("64m"), 64 << 20);
    EXPECT_EQ(size_or_minus("64M"), 64 << 20);
    EXPECT_EQ(size_or_minus("64MB"), 64 << 20);
    EXPECT_EQ(size_or_minus("64mib"), 64 << 20);
    EXPECT_EQ(size_or_minus("64 m"), 64 << 20);
    EXPECT_EQ(size_or_minus("1k"), 1024);
    EXPECT_EQ(size_or_minus("1.5g"), 1610612736);
    EXPECT_EQ(size_or_minus("2t"), 2LL << 40);
    EXPECT_EQ(size_or_minus("1p"), 1LL << 50);
    EXPECT_EQ(size_or_minus("10b"), 10);
    for (const char* bad :
         {"", "m", "-1", "1x", "1.5.5g", "1.", ".5", "64  m", "64mm", " 64", "64m ", "0x10", "1e3"})
        EXPECT_EQ(size_or_minus(bad), -2) << bad;
    auto big = parse_ram_size("8192p");
    ASSERT_FALSE(big);
    EXPECT_NE(big.error().message().find("too large"), std::string::npos);
    auto r = parse_ram_size("1x");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(), "invalid size \"1x\"");
}

TEST(ApplyUpdateFlag, EachRuncFlagSetsItsField) {
    isolation::Resources c;
    for (auto [flag, value] :
         std::vector<std::pair<std::string, std::string>>{{"memory", "64m"},
                                                          {"memory-swap", "-1"},
                                                          {"memory-reservation", "32m"},
                                                          {"kernel-memory", "1m"},
                                                          {"kernel-memory-tcp", "2m"},
                                                          {"cpu-share", "512"},
                                                          {"cpu-period", "100000"},
                                                          {"cpu-quota", "-1"},
                                                          {"cpu-rt-period", "1000000"},
                                                          {"cpu-rt-runtime", "950000"},
                                                          {"cpuset-cpus", "0-1"},
                                                          {"cpuset-mems", "0"},
                                                          {"pids-limit", "20"},
                                                          {"blkio-weight", "300"}}) {
        auto st = apply_update_flag(c, flag, value);
        ASSERT_TRUE(st) << flag << ": " << st.error().what();
    }
    ASSERT_TRUE(c.memory && c.cpu && c.pids && c.block_io);
    EXPECT_EQ(*c.memory->limit, 64 << 20);
    EXPECT_EQ(*c.memory->swap, -1);
    EXPECT_EQ(*c.memory->reservation, 32 << 20);
    EXPECT_EQ(*c.memory->kernel, 1 << 20);
    EXPECT_EQ(*c.memory->kernel_tcp, 2 << 20);
    EXPECT_EQ(*c.cpu->shares, 512u);
    EXPECT_EQ(*c.cpu->period, 100000u);
    EXPECT_EQ(*c.cpu->quota, -1);
    EXPECT_EQ(*c.cpu->realtime_period, 1000000u);
    EXPECT_EQ(*c.cpu->realtime_runtime, 950000);
    EXPECT_EQ(c.cpu->cpus, "0-1");
    EXPECT_EQ(c.cpu->mems, "0");
    EXPECT_EQ(c.pids->limit, 20);
    EXPECT_EQ(*c.block_io->weight, 300);
    ASSERT_TRUE(apply_update_flag(c, "cpu-shares", "1024"));  // the brief's spelling, too
    EXPECT_EQ(*c.cpu->shares, 1024u);
}

TEST(ApplyUpdateFlag, BadValuesNameTheFlag) {
    isolation::Resources c;
    struct Case {
        const char* flag;
        const char* value;
        const char* message;
    };
    for (const auto& k : std::vector<Case>{
             {"memory", "1x", "--memory: invalid value \"1x\": invalid size \"1x\""},
             {"memory-swap", "lots", "--memory-swap: invalid value \"lots\""},
             {"cpu-share", "abc", "--cpu-share: invalid value \"abc\": not a non-negative integer"},
             {"cpu-share", "-5", "--cpu-share: invalid value \"-5\""},
             {"cpu-quota", "1.5", "--cpu-quota: invalid value \"1.5\": not an integer"},
             {"pids-limit", "x", "--pids-limit: invalid value \"x\""},
             {"blkio-weight", "70000", "--blkio-weight: invalid value \"70000\": out of range"},
             {"l3-cache-schema", "L3:0=f", "--l3-cache-schema: Intel RDT is not supported"},
             {"nope", "1", "unknown update flag --nope"}}) {
        auto st = apply_update_flag(c, k.flag, k.value);
        ASSERT_FALSE(st) << k.flag << " " << k.value;
        EXPECT_NE(st.error().message().find(k.message), std::string::npos) << st.error().message();
    }
}

isolation::Resources with_memory(int64_t limit, int64_t swap) {
    isolation::Resources r;
    r.memory = isolation::MemoryResources{.limit = limit, .swap = swap};
    return r;
}

TEST(PlanResourceUpdate, MergesAndWritesOnlyTouchedSections) {
    isolation::Resources current;
    current.memory = isolation::MemoryResources{.limit = 64 << 20, .reservation = 16 << 20};
    current.cpu = isolation::CpuResources{
        .shares = 512, .quota = 50000, .period = 100000, .cpus = "0", .mems = "0"};
    current.pids = isolation::PidsResources{.limit = 20};
    current.devices = {{.allow = false, .type = "a"}};

    isolation::Resources change;
    change.memory = isolation::MemoryResources{.limit = 128 << 20, .reservation = 0};
    change.cpu = isolation::CpuResources{.quota = 25000};
    auto u = plan_resource_update(current, change);
    ASSERT_TRUE(u) << u.error().what();
    // merged: the change over what was there; 0 keeps the old value
    EXPECT_EQ(*u->merged.memory->limit, 128 << 20);
    EXPECT_EQ(*u->merged.memory->reservation, 16 << 20);
    EXPECT_EQ(*u->merged.cpu->quota, 25000);
    EXPECT_EQ(*u->merged.cpu->period, 100000u);
    EXPECT_EQ(*u->merged.cpu->shares, 512u);
    EXPECT_EQ(u->merged.cpu->cpus, "0");
    EXPECT_EQ(u->merged.pids->limit, 20);
    EXPECT_EQ(u->merged.devices.size(), 1u);
    // writes: whole sections the change touches; quota goes with the period in force
    ASSERT_TRUE(u->writes.memory);
    EXPECT_EQ(*u->writes.memory->limit, 128 << 20);
    ASSERT_TRUE(u->writes.cpu);
    EXPECT_EQ(*u->writes.cpu->quota, 25000);
    EXPECT_EQ(*u->writes.cpu->period, 100000u);
    EXPECT_TRUE(u->writes.cpu->cpus.empty());  // cpuset untouched: not rewritten
    EXPECT_FALSE(u->writes.pids);
    EXPECT_TRUE(u->writes.devices.empty());
    EXPECT_FALSE(u->writes.block_io);

    isolation::Resources cpus;
    cpus.cpu = isolation::CpuResources{.cpus = "1"};
    u = plan_resource_update(current, cpus);
    ASSERT_TRUE(u) << u.error().what();
    ASSERT_TRUE(u->writes.cpu);
    EXPECT_EQ(u->writes.cpu->cpus, "1");
    EXPECT_EQ(u->writes.cpu->mems, "0");
    EXPECT_FALSE(u->writes.cpu->shares);  // cpu untouched: not rewritten

    isolation::Resources pids;
    pids.pids = isolation::PidsResources{.limit = -5};
    u = plan_resource_update(std::nullopt, pids);
    ASSERT_TRUE(u) << u.error().what();
    EXPECT_EQ(u->merged.pids->limit, -1);
    pids.pids->limit = 0;  // 0: unchanged, as runc's flag default
    u = plan_resource_update(current, pids);
    ASSERT_TRUE(u);
    EXPECT_FALSE(u->writes.pids);
    EXPECT_EQ(u->merged.pids->limit, 20);

    // Device lists and unified files replace only the entries they name.
    current.block_io = isolation::BlockIoResources{
        .throttle_read_bps_device = {{.major = 8, .minor = 0, .rate = 100},
                                     {.major = 8, .minor = 16, .rate = 200}}};
    current.unified = {{"memory.high", "max"}};
    isolation::Resources io;
    io.block_io = isolation::BlockIoResources{
        .throttle_read_bps_device = {{.major = 8, .minor = 16, .rate = 300}}};
    io.unified = {{"pids.max", "9"}};
    u = plan_resource_update(current, io);
    ASSERT_TRUE(u) << u.error().what();
    ASSERT_EQ(u->merged.block_io->throttle_read_bps_device.size(), 2u);
    EXPECT_EQ(u->merged.block_io->throttle_read_bps_device[1].rate, 300u);
    ASSERT_EQ(u->writes.block_io->throttle_read_bps_device.size(), 1u);
    EXPECT_EQ(u->merged.unified.size(), 2u);
    EXPECT_EQ(u->writes.unified.size(), 1u);
}

TEST(PlanResourceUpdate, BadCombinationsAreRefusedNamingTheField) {
    struct Case {
        isolation::Resources current, change;
        const char* message;
    };
    isolation::Resources weight;
    weight.block_io = isolation::BlockIoResources{.weight = 5};
    isolation::Resources period;
    period.cpu = isolation::CpuResources{.period = 500};
    isolation::Resources quota;
    quota.cpu = isolation::CpuResources{.quota = 10};
    isolation::Resources cpus;
    cpus.cpu = isolation::CpuResources{.cpus = "2-1"};
    isolation::Resources negative = with_memory(-7, 0);
    for (const auto& k : std::vector<Case>{
             {with_memory(64 << 20, 64 << 20), with_memory(128 << 20, 0),
              "memory.swap (--memory-swap) 67108864 is below memory.limit (--memory) 134217728"},
             {{}, with_memory(0, 32 << 20), ""},  // swap alone, no limit: fine
             {{}, weight, "blockIO.weight (--blkio-weight): 5 is out of range 10..1000"},
             {{}, period, "cpu.period (--cpu-period): 500 is out of range"},
             {{}, quota, "cpu.quota (--cpu-quota): 10 is below 1000"},
             {{}, cpus, "cpu.cpus (--cpuset-cpus): bad cpu list entry \"2-1\""},
             {{}, negative, "memory.limit (--memory): -7 is not a size"}}) {
        auto u = plan_resource_update(k.current, k.change);
        if (std::string(k.message).empty()) {
            EXPECT_TRUE(u) << u.error().what();
            continue;
        }
        ASSERT_FALSE(u) << k.message;
        EXPECT_NE(u.error().message().find(k.message), std::string::npos) << u.error().message();
    }
}

TEST(ParseResources, TheShapeOfLinuxResources) {
    auto r = parse_resources(
        R"({"memory": {"limit": 67108864, "swap": -1}, "cpu": {"shares": 512, "cpus": "0"},
            "pids": {"limit": 10}, "blockIO": {"weight": 300},
            "unified": {"memory.high": "max"}, "futureField": true})");
    ASSERT_TRUE(r) << r.error().what();
    EXPECT_EQ(*r->memory->limit, 67108864);
    EXPECT_EQ(*r->memory->swap, -1);
    EXPECT_EQ(*r->cpu->shares, 512u);
    EXPECT_EQ(r->cpu->cpus, "0");
    EXPECT_EQ(r->pids->limit, 10);
    EXPECT_EQ(*r->block_io->weight, 300);
    EXPECT_EQ(r->unified.at("memory.high"), "max");
    // Round trip through resources_to_json.
    auto again = parse_resources(resources_to_json(*r));
    ASSERT_TRUE(again) << again.error().what();
    EXPECT_EQ(*again->memory->limit, 67108864);
    EXPECT_EQ(again->unified.at("memory.high"), "max");

    auto empty = parse_resources("{}");
    ASSERT_TRUE(empty);
    EXPECT_FALSE(empty->memory);

    struct Bad {
        const char* json;
        const char* message;
    };
    for (const auto& b : std::vector<Bad>{
             {R"({"memory": {"limit": "x"}})", "memory.limit: expected an integer"},
             {R"({"pids": {"limit": 1.5}})", "pids.limit: expected an integer"},
             {R"({"blockIO": {"weight": 70000}})", "blockIO.weight: 70000 is out of range"},
             {R"({"cpu": []})", "cpu: expected an object"},
             {R"([1])", "expected an object"},
             {R"({"memory": )", "syntax error at byte"}}) {
        auto bad = parse_resources(b.json);
        ASSERT_FALSE(bad) << b.json;
        EXPECT_NE(bad.error().message().find(b.message), std::string::npos)
            << bad.error().message();
    }
}

}  // namespace
}  // namespace skiff::runtime
