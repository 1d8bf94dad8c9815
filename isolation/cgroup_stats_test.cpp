// Tests for cgroup statistics: the file parsers, and Cgroup::stats() over fake v1 and v2 trees.
#include "skiff/isolation/cgroup_stats.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "skiff/base/fs.hpp"
#include "skiff/isolation/cgroup.hpp"

namespace skiff::isolation {
namespace {

TEST(CgroupStatsParse, FlatKeyedSkipsWhatIsNotKeyValue) {
    auto m = parse_flat_keyed("cache 4096\nrss 8192\nbad line here\nnum x\n\nhierarchical 1\n");
    EXPECT_EQ(m.size(), 3u);
    EXPECT_EQ(m["cache"], 4096u);
    EXPECT_EQ(m["rss"], 8192u);
    EXPECT_EQ(m["hierarchical"], 1u);
    EXPECT_EQ(m.count("bad"), 0u);
    EXPECT_EQ(m.count("num"), 0u);
}

TEST(CgroupStatsParse, BlkioV1WithAndWithoutOpAndTotal) {
    auto e = parse_blkio_v1("8:0 Read 4096\n8:0 Write 512\n8:16 Total 4608\nTotal 4608\n");
    ASSERT_EQ(e.size(), 3u);
    EXPECT_EQ(e[0].major, 8u);
    EXPECT_EQ(e[0].minor, 0u);
    EXPECT_EQ(e[0].op, "Read");
    EXPECT_EQ(e[0].value, 4096u);
    EXPECT_EQ(e[1].op, "Write");
    EXPECT_EQ(e[2].minor, 16u);
    EXPECT_EQ(e[2].op, "Total");
    // io_time_recursive / sectors_recursive have no op column.
    auto t = parse_blkio_v1("253:1 77\n");
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0].major, 253u);
    EXPECT_EQ(t[0].op, "");
    EXPECT_EQ(t[0].value, 77u);
    EXPECT_TRUE(parse_blkio_v1("").empty());
}

TEST(CgroupStatsParse, IoStatV2AsRuncMapsIt) {
    auto b = parse_io_stat_v2(
        "8:0 rbytes=1000 wbytes=2000 rios=3 wios=4 dbytes=0 dios=0\n259:0 rbytes=5 wbytes=0 "
        "rios=1 wios=0\n");
    ASSERT_EQ(b.io_service_bytes_recursive.size(), 4u);
    EXPECT_EQ(b.io_service_bytes_recursive[0].op, "Read");
    EXPECT_EQ(b.io_service_bytes_recursive[0].value, 1000u);
    EXPECT_EQ(b.io_service_bytes_recursive[1].op, "Write");
    EXPECT_EQ(b.io_service_bytes_recursive[1].value, 2000u);
    EXPECT_EQ(b.io_service_bytes_recursive[2].major, 259u);
    ASSERT_EQ(b.io_serviced_recursive.size(), 4u);
    EXPECT_EQ(b.io_serviced_recursive[1].value, 4u);
    EXPECT_TRUE(b.io_queue_recursive.empty());
}

TEST(CgroupStatsParse, CpuLists) {
    auto r = parse_cpu_list("0-3,8,10-11");
    ASSERT_TRUE(r) << r.error().what();
    EXPECT_EQ(*r, (std::vector<uint16_t>{0, 1, 2, 3, 8, 10, 11}));
    r = parse_cpu_list("");
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->empty());
    EXPECT_FALSE(parse_cpu_list("3-1"));
    EXPECT_FALSE(parse_cpu_list("a"));
    EXPECT_FALSE(parse_cpu_list("1-"));
    EXPECT_FALSE(parse_cpu_list("70000"));
}

TEST(CgroupStatsParse, HugepageSizeNames) {
    EXPECT_EQ(hugepage_size_name("hugepages-2048kB"), "2MB");
    EXPECT_EQ(hugepage_size_name("hugepages-1048576kB"), "1GB");
    EXPECT_EQ(hugepage_size_name("hugepages-64kB"), "64KB");
    EXPECT_EQ(hugepage_size_name("hugepages-3000kB"), "3000KB");
    EXPECT_EQ(hugepage_size_name("hugepages-"), "");
    EXPECT_EQ(hugepage_size_name("something"), "");
    EXPECT_EQ(hugepage_size_name("."), "");
}

// Fake hierarchies under /tmp, written with the files the kernel would have.
class CgroupStatsFakeTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/skiff-cgstats-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        root_ = tmpl;
    }
    void TearDown() override { (void)fs::remove_all(root_); }
    void put(const std::string& rel, const std::string& content) {
        ASSERT_TRUE(fs::make_dirs(root_ + "/" + rel.substr(0, rel.rfind('/'))));
        ASSERT_TRUE(fs::write_file(root_ + "/" + rel, content));
    }
    std::string root_;
};

TEST_F(CgroupStatsFakeTest, V1FilesPerController) {
    CgroupLayout l;
    for (const char* c : {"cpu", "cpuacct", "cpuset", "memory", "pids", "blkio"})
        l.v1[c] = root_ + "/" + c;
    put("cpuacct/c1/cpuacct.usage", "3000\n");
    put("cpuacct/c1/cpuacct.usage_percpu", "1000 2000 \n");
    put("cpuacct/c1/cpuacct.usage_all", "cpu user system\n0 600 400\n1 1500 500\n");
    put("cpuacct/c1/cpuacct.stat", "user 2\nsystem 3\n");
    put("cpu/c1/cpu.stat", "nr_periods 10\nnr_throttled 4\nthrottled_time 999\n");
    put("cpuset/c1/cpuset.cpus", "0-1\n");
    put("cpuset/c1/cpuset.mems", "0\n");
    put("cpuset/c1/cpuset.sched_load_balance", "1\n");
    put("cpuset/c1/cpuset.sched_relax_domain_level", "-1\n");
    put("memory/c1/memory.stat", "cache 4096\nrss 8192\ntotal_cache 4096\n");
    put("memory/c1/memory.usage_in_bytes", "12288\n");
    put("memory/c1/memory.max_usage_in_bytes", "20000\n");
    put("memory/c1/memory.limit_in_bytes", "67108864\n");
    put("memory/c1/memory.failcnt", "2\n");
    put("memory/c1/memory.memsw.usage_in_bytes", "12288\n");
    put("memory/c1/memory.memsw.limit_in_bytes", "9223372036854771712\n");
    // no memory.kmem.* files: a kernel without them reports zeros
    put("pids/c1/pids.current", "3\n");
    put("pids/c1/pids.max", "max\n");
    put("blkio/c1/blkio.throttle.io_service_bytes_recursive", "8:0 Read 100\nTotal 100\n");
    put("blkio/c1/blkio.throttle.io_serviced_recursive", "8:0 Read 1\nTotal 1\n");
    auto s = Cgroup::open(l, "/c1").stats();
    ASSERT_TRUE(s) << s.error().what();
    EXPECT_EQ(s->cpu.total, 3000u);
    EXPECT_EQ(s->cpu.percpu, (std::vector<uint64_t>{1000, 2000}));
    EXPECT_EQ(s->cpu.percpu_user, (std::vector<uint64_t>{600, 1500}));
    EXPECT_EQ(s->cpu.percpu_kernel, (std::vector<uint64_t>{400, 500}));
    long hz = ::sysconf(_SC_CLK_TCK);
    EXPECT_EQ(s->cpu.user, 2 * (1000000000ULL / static_cast<uint64_t>(hz)));
    EXPECT_EQ(s->cpu.kernel, 3 * (1000000000ULL / static_cast<uint64_t>(hz)));
    EXPECT_EQ(s->cpu.periods, 10u);
    EXPECT_EQ(s->cpu.throttled_periods, 4u);
    EXPECT_EQ(s->cpu.throttled_time, 999u);
    EXPECT_EQ(s->cpuset.cpus, (std::vector<uint16_t>{0, 1}));
    EXPECT_EQ(s->cpuset.mems, (std::vector<uint16_t>{0}));
    EXPECT_EQ(s->cpuset.sched_load_balance, 1u);
    EXPECT_EQ(s->cpuset.sched_relax_domain_level, -1);
    EXPECT_EQ(s->memory.cache, 4096u);
    EXPECT_EQ(s->memory.raw.at("rss"), 8192u);
    EXPECT_EQ(s->memory.usage.usage, 12288u);
    EXPECT_EQ(s->memory.usage.max, 20000u);
    EXPECT_EQ(s->memory.usage.limit, 67108864u);
    EXPECT_EQ(s->memory.usage.failcnt, 2u);
    EXPECT_EQ(s->memory.swap.limit, 9223372036854771712u);
    EXPECT_EQ(s->memory.kernel.usage, 0u);
    EXPECT_EQ(s->pids.current, 3u);
    EXPECT_EQ(s->pids.limit, 0u);  // max: unlimited
    // No CFQ/BFQ files: the throttle counters stand in, as with runc.
    ASSERT_EQ(s->blkio.io_service_bytes_recursive.size(), 1u);
    EXPECT_EQ(s->blkio.io_service_bytes_recursive[0].value, 100u);
    ASSERT_EQ(s->blkio.io_serviced_recursive.size(), 1u);
}

TEST_F(CgroupStatsFakeTest, V2FilesConvertedToV1Meanings) {
    CgroupLayout l;
    l.unified = root_ + "/unified";
    l.v2_controllers = {"cpu", "memory", "pids", "io"};
    put("unified/c1/cpu.stat",
        "usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 7\nnr_throttled 1\n"
        "throttled_usec 4\n");
    put("unified/c1/memory.stat", "file 100\nanon 200\n");
    put("unified/c1/memory.current", "300\n");
    put("unified/c1/memory.max", "1000\n");
    put("unified/c1/memory.events", "low 0\nhigh 0\nmax 6\noom 1\noom_kill 1\n");
    put("unified/c1/memory.swap.current", "50\n");
    put("unified/c1/memory.swap.max", "500\n");
    put("unified/c1/pids.current", "2\n");
    put("unified/c1/pids.max", "20\n");
    put("unified/c1/io.stat", "8:0 rbytes=10 wbytes=20 rios=1 wios=2\n");
    auto s = Cgroup::open(l, "/c1").stats();
    ASSERT_TRUE(s) << s.error().what();
    EXPECT_EQ(s->cpu.total, 5000u);
    EXPECT_EQ(s->cpu.user, 3000u);
    EXPECT_EQ(s->cpu.kernel, 2000u);
    EXPECT_EQ(s->cpu.periods, 7u);
    EXPECT_EQ(s->cpu.throttled_time, 4000u);
    EXPECT_EQ(s->memory.cache, 100u);
    EXPECT_EQ(s->memory.usage.usage, 300u);
    EXPECT_EQ(s->memory.usage.limit, 1000u);
    EXPECT_EQ(s->memory.usage.failcnt, 6u);
    EXPECT_EQ(s->memory.swap.usage, 350u);   // memory + swap, as v1 counts it
    EXPECT_EQ(s->memory.swap.limit, 1500u);  // likewise
    EXPECT_EQ(s->pids.current, 2u);
    EXPECT_EQ(s->pids.limit, 20u);
    ASSERT_EQ(s->blkio.io_service_bytes_recursive.size(), 2u);
    EXPECT_EQ(s->blkio.io_service_bytes_recursive[1].value, 20u);
}

TEST_F(CgroupStatsFakeTest, MissingCgroupIsAnError) {
    CgroupLayout l;
    l.v1["memory"] = root_ + "/memory";
    auto s = Cgroup::open(l, "/gone").stats();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ENOENT);
}

}  // namespace
}  // namespace skiff::isolation
