// Tests for cgroups: layout parsing, the v1/v2 mappings, routing, and the real kernel on this host.
#include "skiff/isolation/cgroup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "skiff/base/fs.hpp"

namespace skiff::isolation {
namespace {

// This hybrid host, as /proc/self/mountinfo shows it (plus a bind mount of memory, to check that
// the first mount of a controller wins, and a co-mounted cpu,cpuacct on a second test).
const char* kHybridMountinfo =
    "23 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
    "90 1 0:32 / /mnt/other\\040memory rw,relatime - cgroup cgroup rw,memory\n";

const char* kPureV2Mountinfo =
    "22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
    "26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n"
    "60 1 0:23 / /mnt/again rw shared:9 - cgroup2 cgroup2 rw,nsdelegate\n";

// An older distribution: v1 only, cpu,cpuacct and net_cls,net_prio co-mounted, options mixed in.
const char* kPureV1Mountinfo =
    "25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755\n"
    "26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup "
    "rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd\n"
    "29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup "
    "cgroup rw,cpu,cpuacct\n"
    "30 25 0:27 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:11 - "
    "cgroup cgroup rw,net_cls,net_prio\n"
    "31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup "
    "rw,memory\n"
    "32 25 0:29 / /sys/fs/cgroup/hugetlb rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup "
    "rw,hugetlb\n"
    "33 25 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup "
    "rw,cpuset,clone_children\n";

TEST(CgroupLayoutTest, ParsesThisHybridHost) {
    auto l = parse_cgroup_layout(kHybridMountinfo, "hugetlb\n");
    ASSERT_TRUE(l) << l.error().what();
    EXPECT_TRUE(l->hybrid());
    EXPECT_FALSE(l->pure_v2());
    EXPECT_EQ(l->unified, "/sys/fs/cgroup/unified");
    EXPECT_EQ(l->v2_controllers, std::vector<std::string>{"hugetlb"});
    EXPECT_EQ(l->v1.size(), 9u);
    EXPECT_EQ(l->v1.at("memory"), "/sys/fs/cgroup/memory");  // not the later bind mount
    EXPECT_EQ(l->v1.at("cpu"), "/sys/fs/cgroup/cpu");
    EXPECT_EQ(l->v1.at("cpuacct"), "/sys/fs/cgroup/cpuacct");
    EXPECT_EQ(l->v1.at("name=systemd"), "/sys/fs/cgroup/systemd");
    EXPECT_EQ(l->v1.count("hugetlb"), 0u);
    EXPECT_EQ(l->v1.count("rw"), 0u);
}

TEST(CgroupLayoutTest, ParsesPureV2Host) {
    auto l = parse_cgroup_layout(kPureV2Mountinfo, "cpuset cpu io memory hugetlb pids rdma misc\n");
    ASSERT_TRUE(l) << l.error().what();
    EXPECT_TRUE(l->pure_v2());
    EXPECT_FALSE(l->hybrid());
    EXPECT_EQ(l->unified, "/sys/fs/cgroup");  // the first of the two mounts
    EXPECT_EQ(l->v2_controllers, (std::vector<std::string>{"cpuset", "cpu", "io", "memory",
                                                           "hugetlb", "pids", "rdma", "misc"}));
}

TEST(CgroupLayoutTest, ParsesPureV1HostWithCoMountedControllers) {
    auto l = parse_cgroup_layout(kPureV1Mountinfo, "");
    ASSERT_TRUE(l) << l.error().what();
    EXPECT_FALSE(l->pure_v2());
    EXPECT_FALSE(l->hybrid());
    EXPECT_TRUE(l->unified.empty());
    EXPECT_TRUE(l->v2_controllers.empty());
    EXPECT_EQ(l->v1.at("cpu"), "/sys/fs/cgroup/cpu,cpuacct");
    EXPECT_EQ(l->v1.at("cpuacct"), "/sys/fs/cgroup/cpu,cpuacct");
    EXPECT_EQ(l->v1.at("net_cls"), "/sys/fs/cgroup/net_cls,net_prio");
    EXPECT_EQ(l->v1.at("net_prio"), "/sys/fs/cgroup/net_cls,net_prio");
    EXPECT_EQ(l->v1.at("name=systemd"), "/sys/fs/cgroup/systemd");
    EXPECT_EQ(l->v1.at("cpuset"), "/sys/fs/cgroup/cpuset");
    EXPECT_EQ(l->v1.count("xattr"), 0u);
    EXPECT_EQ(l->v1.count("clone_children"), 0u);
    EXPECT_EQ(l->v1.count("release_agent=/lib/systemd/systemd-cgroups-agent"), 0u);
    EXPECT_EQ(l->v1.size(), 8u);
}

TEST(CgroupLayoutTest, NoCgroupMountIsAnError) {
    EXPECT_FALSE(parse_cgroup_layout("22 1 0:21 / /sys rw - sysfs sysfs rw\n", ""));
}

TEST(CgroupLayoutTest, DetectMatchesThisHost) {
    auto l = detect_cgroup_layout();
    ASSERT_TRUE(l) << l.error().what();
    if (!l->hybrid()) GTEST_SKIP() << "not the hybrid host these tests were written for";
    EXPECT_EQ(l->v1.count("memory"), 1u);
    EXPECT_NE(std::find(l->v2_controllers.begin(), l->v2_controllers.end(), "hugetlb"),
              l->v2_controllers.end());
}

TEST(CgroupMappingTest, SharesToWeightEdges) {
    EXPECT_EQ(cpu_shares_to_weight(0), 0u);  // unset stays unset
    EXPECT_EQ(cpu_shares_to_weight(1), 1u);
    EXPECT_EQ(cpu_shares_to_weight(2), 1u);
    EXPECT_EQ(cpu_shares_to_weight(3), 1u);
    EXPECT_EQ(cpu_shares_to_weight(1024), 39u);  // runc: 1 + (1022 * 9999) / 262142
    EXPECT_EQ(cpu_shares_to_weight(262144), 10000u);
    EXPECT_EQ(cpu_shares_to_weight(1000000), 10000u);
    EXPECT_EQ(blkio_weight_to_io_weight(0), 0u);
    EXPECT_EQ(blkio_weight_to_io_weight(10), 1u);
    EXPECT_EQ(blkio_weight_to_io_weight(1), 1u);
    EXPECT_EQ(blkio_weight_to_io_weight(500), 4950u);  // 1 + 490 * 9999 / 990
    EXPECT_EQ(blkio_weight_to_io_weight(1000), 10000u);
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

TEST(CgroupMappingTest, V2MemoryCpuPids) {
    Resources r;
    r.memory = MemoryResources{.limit = 1 << 20,
                               .reservation = 1 << 19,
                               .swap = 3 << 20,
                               .kernel = 1 << 20,
                               .swappiness = 10,
                               .disable_oom_killer = true};
    r.cpu =
        CpuResources{.shares = 512, .quota = 50000, .period = 100000, .cpus = "0-1", .mems = "0"};
    r.pids = PidsResources{.limit = 10};
    auto w = v2_files(r);
    ASSERT_TRUE(w) << w.error().what();
    EXPECT_EQ(*w, (Pairs{{"memory.swap.max", std::to_string(2 << 20)},
                         {"memory.max", std::to_string(1 << 20)},
                         {"memory.low", std::to_string(1 << 19)},
                         {"cpu.weight", "20"},
                         {"cpu.max", "50000 100000"},
                         {"cpuset.cpus", "0-1"},
                         {"cpuset.mems", "0"},
                         {"pids.max", "10"}}));
}

TEST(CgroupMappingTest, V2UnlimitedValues) {
    Resources r;
    r.memory = MemoryResources{.limit = -1};
    r.cpu = CpuResources{.quota = -1, .period = 250000};
    r.pids = PidsResources{.limit = 0};
    auto w = v2_files(r);
    ASSERT_TRUE(w) << w.error().what();
    EXPECT_EQ(*w, (Pairs{{"memory.swap.max", "max"},
                         {"memory.max", "max"},
                         {"cpu.max", "max 250000"},
                         {"pids.max", "max"}}));

    Resources q;
    q.cpu = CpuResources{.quota = 20000};  // no period: the kernel keeps its own
    q.memory = MemoryResources{.limit = 100, .swap = -1};
    w = v2_files(q);
    ASSERT_TRUE(w) << w.error().what();
    EXPECT_EQ(*w, (Pairs{{"memory.swap.max", "max"}, {"memory.max", "100"}, {"cpu.max", "20000"}}));
}

TEST(CgroupMappingTest, V2SwapNeedsLimitAndMustCoverIt) {
    Resources r;
    r.memory = MemoryResources{.swap = 1000};
    auto w = v2_files(r);
    ASSERT_FALSE(w);
    EXPECT_NE(w.error().message().find("memory.swap"), std::string::npos);
    r.memory = MemoryResources{.limit = 2000, .swap = 1000};
    EXPECT_FALSE(v2_files(r));
    r.memory = MemoryResources{.limit = 2000, .swap = 2000};
    w = v2_files(r);
    ASSERT_TRUE(w);
    EXPECT_EQ(w->front(), (std::pair<std::string, std::string>{"memory.swap.max", "0"}));
}

TEST(CgroupMappingTest, V2IoHugetlbUnifiedAndNoDevices) {
    Resources r;
    BlockIoResources b;
    b.weight = 500;
    b.leaf_weight = 300;  // no v2 equivalent
    b.weight_device.push_back({.major = 8, .minor = 0, .weight = 1000});
    b.throttle_read_bps_device.push_back({.major = 8, .minor = 0, .rate = 1048576});
    b.throttle_write_iops_device.push_back({.major = 8, .minor = 16, .rate = 100});
    b.throttle_write_bps_device.push_back({.major = 8, .minor = 0, .rate = 0});
    r.block_io = b;
    r.hugepage_limits = {{"2MB", 4194304}, {"1GB", 0}};
    r.devices = {{.allow = false, .type = "a"}};
    r.unified = {{"memory.high", "500000"}, {"io.latency", "8:0 target=10"}};
    auto w = v2_files(r);
    ASSERT_TRUE(w) << w.error().what();
    EXPECT_EQ(*w, (Pairs{{"io.weight", "4950"},
                         {"io.weight", "8:0 10000"},
                         {"io.max", "8:0 rbps=1048576"},
                         {"io.max", "8:0 wbps=max"},
                         {"io.max", "8:16 wiops=100"},
                         {"hugetlb.2MB.max", "4194304"},
                         {"hugetlb.1GB.max", "0"},
                         {"io.latency", "8:0 target=10"},
                         {"memory.high", "500000"}}));
}

TEST(CgroupMappingTest, V2RefusesBadUnifiedKeysAndPageSizes) {
    for (const char* key : {"../../cgroup.procs", "a/b", "..", ""}) {
        Resources r;
        r.unified[key] = "1";
        auto w = v2_files(r);
        ASSERT_FALSE(w) << key;
        EXPECT_NE(w.error().message().find("unified"), std::string::npos);
    }
    Resources r;
    r.hugepage_limits = {{"../2MB", 1}};
    EXPECT_FALSE(v2_files(r));
    r.hugepage_limits = {{"2XB", 1}};
    EXPECT_FALSE(v2_files(r));
    Resources rt;
    rt.cpu = CpuResources{.realtime_runtime = 1000};
    EXPECT_FALSE(v2_files(rt));
}

std::vector<std::string> flat(const std::vector<V1Write>& w) {
    std::vector<std::string> out;
    for (const auto& x : w) out.push_back(x.controller + " " + x.file + "=" + x.value);
    return out;
}

TEST(CgroupMappingTest, V1MemoryCpuPids) {
    Resources r;
    r.memory = MemoryResources{.limit = 1 << 20,
                               .reservation = 1 << 19,
                               .swap = 3 << 20,
                               .kernel = 1 << 20,
                               .swappiness = 10,
                               .disable_oom_killer = true};
    r.cpu = CpuResources{.shares = 512,
                         .quota = 50000,
                         .period = 100000,
                         .realtime_runtime = 5000,
                         .realtime_period = 10000,
                         .cpus = "0",
                         .mems = "0"};
    r.pids = PidsResources{.limit = -1};
    auto w = v1_files(r);
    ASSERT_TRUE(w) << w.error().what();
    EXPECT_EQ(flat(*w), (std::vector<std::string>{
                            "memory memory.limit_in_bytes=1048576",
                            "memory memory.memsw.limit_in_bytes=3145728",
                            "memory memory.soft_limit_in_bytes=524288",
                            "memory memory.swappiness=10",
                            "memory memory.oom_control=1",
                            "cpu cpu.shares=512",
                            "cpu cpu.cfs_period_us=100000",
                            "cpu cpu.cfs_quota_us=50000",
                            "cpu cpu.rt_period_us=10000",
                            "cpu cpu.rt_runtime_us=5000",
                            "cpuset cpuset.cpus=0",
                            "cpuset cpuset.mems=0",
                            "pids pids.max=max",
                        }));
    // Unlimited swap goes before the limit, so lowering memsw never blocks the limit.
    Resources u;
    u.memory = MemoryResources{.limit = 100, .swap = -1};
    w = v1_files(u);
    ASSERT_TRUE(w);
    EXPECT_EQ(flat(*w), (std::vector<std::string>{"memory memory.memsw.limit_in_bytes=-1",
                                                  "memory memory.limit_in_bytes=100"}));
}

TEST(CgroupMappingTest, V1BlkioHugetlbDevices) {
    Resources r;
    BlockIoResources b;
    b.weight = 500;
    b.leaf_weight = 300;
    b.weight_device.push_back({.major = 8, .minor = 0, .weight = 600, .leaf_weight = 200});
    b.throttle_read_bps_device.push_back({.major = 8, .minor = 0, .rate = 1048576});
    b.throttle_write_iops_device.push_back({.major = 8, .minor = 16, .rate = 100});
    r.block_io = b;
    r.hugepage_limits = {{"2MB", 4194304}};
    r.devices = {{.allow = false, .type = "a"},
                 {.allow = true, .type = "c", .major = 1, .minor = 3, .access = "rwm"},
                 {.allow = true, .type = "c", .major = 136, .access = "rw"},
                 {.allow = false, .type = "b", .major = 8, .minor = 0, .access = "m"}};
    auto w = v1_files(r);
    ASSERT_TRUE(w) << w.error().what();
    EXPECT_EQ(flat(*w), (std::vector<std::string>{
                            "blkio blkio.weight=500",
                            "blkio blkio.leaf_weight=300",
                            "blkio blkio.weight_device=8:0 600",
                            "blkio blkio.leaf_weight_device=8:0 200",
                            "blkio blkio.throttle.read_bps_device=8:0 1048576",
                            "blkio blkio.throttle.write_iops_device=8:16 100",
                            "hugetlb hugetlb.2MB.limit_in_bytes=4194304",
                            "devices devices.deny=a",
                            "devices devices.allow=c 1:3 rwm",
                            "devices devices.allow=c 136:* rw",
                            "devices devices.deny=b 8:0 m",
                        }));
}

TEST(CgroupMappingTest, V1RefusesBadInput) {
    Resources r;
    r.devices = {{.allow = true, .type = "x"}};
    EXPECT_FALSE(v1_files(r));
    r.devices = {{.allow = true, .type = "c", .major = 1, .minor = 3, .access = "rwx"}};
    EXPECT_FALSE(v1_files(r));
    Resources u;
    u.unified["memory.high"] = "1";
    EXPECT_FALSE(v1_files(u));
}

// A directory tree under /tmp standing in for cgroup hierarchies: proves which hierarchy each
// resource goes to without touching the host's cgroups.
class CgroupFakeTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/skiff-cgroup-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        root_ = tmpl;
    }
    void TearDown() override { (void)fs::remove_all(root_); }
    void touch(const std::string& rel, const std::string& content = "") {
        ASSERT_TRUE(fs::make_dirs(root_ + "/" + rel.substr(0, rel.rfind('/'))));
        ASSERT_TRUE(fs::write_file(root_ + "/" + rel, content));
    }
    std::string read(const std::string& rel) {
        auto r = fs::read_file(root_ + "/" + rel);
        return r ? *r : "<missing>";
    }
    std::string root_;
};

TEST_F(CgroupFakeTest, HybridRoutesHugetlbToUnifiedAndMemoryToV1) {
    CgroupLayout l;
    l.v1 = {{"memory", root_ + "/memory"}};
    l.unified = root_ + "/unified";
    l.v2_controllers = {"hugetlb"};
    touch("memory/c1/memory.limit_in_bytes");
    touch("unified/cgroup.controllers", "hugetlb\n");
    touch("unified/cgroup.subtree_control", "");
    touch("unified/c1/hugetlb.2MB.max");
    auto cg = Cgroup::open(l, "/c1");
    EXPECT_EQ(cg.dir_for("memory"), root_ + "/memory/c1");
    EXPECT_EQ(cg.dir_for("hugetlb"), root_ + "/unified/c1");
    EXPECT_EQ(cg.dir_for(""), root_ + "/unified/c1");
    EXPECT_EQ(cg.dir_for("pids"), "");
    EXPECT_EQ(cg.dirs(), (std::vector<std::string>{root_ + "/memory/c1", root_ + "/unified/c1"}));

    Resources r;
    r.memory = MemoryResources{.limit = 4096};
    r.hugepage_limits = {{"2MB", 2097152}};
    auto st = cg.apply(r);
    ASSERT_TRUE(st) << st.error().what();
    EXPECT_EQ(read("memory/c1/memory.limit_in_bytes"), "4096");
    EXPECT_EQ(read("unified/c1/hugetlb.2MB.max"), "2097152");
    EXPECT_EQ(read("unified/cgroup.subtree_control"), "+hugetlb");

    // No pids controller anywhere: an error naming the field.
    Resources p;
    p.pids = PidsResources{.limit = 5};
    st = cg.apply(p);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().message(), "linux.resources.pids: no pids controller on this host");
}

TEST_F(CgroupFakeTest, MissingHugetlbIsAnErrorNamingIt) {
    CgroupLayout l;
    l.v1 = {{"memory", root_ + "/memory"}};
    l.unified = root_ + "/unified";
    Resources r;
    r.hugepage_limits = {{"2MB", 2097152}};
    auto cg = Cgroup::open(l, "/c1");
    auto st = cg.apply(r);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().message(),
              "linux.resources.hugepageLimits: no hugetlb controller on this host");
}

TEST_F(CgroupFakeTest, V1SwapWithoutSwapAccounting) {
    CgroupLayout l;
    l.v1 = {{"memory", root_ + "/memory"}};
    touch("memory/c1/memory.limit_in_bytes");
    auto cg = Cgroup::open(l, "/c1");
    Resources r;
    r.memory = MemoryResources{.limit = 4096, .swap = 4096};  // no swap beyond the limit: fine
    auto st = cg.apply(r);
    EXPECT_TRUE(st) << st.error().what();
    r.memory = MemoryResources{.limit = 4096, .swap = 8192};
    st = cg.apply(r);
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().message().find("memory.swap"), std::string::npos);
}

TEST_F(CgroupFakeTest, PureV2CreateEnablesAvailableControllers) {
    CgroupLayout l;
    l.unified = root_ + "/unified";
    l.v2_controllers = {"cpu", "memory", "pids"};
    touch("unified/cgroup.controllers", "cpu memory pids\n");
    touch("unified/cgroup.subtree_control", "memory\n");  // already on: not written again
    // The kernel makes these files in a new directory; the fake has them beforehand.
    touch("unified/skiff/cgroup.controllers", "cpu memory\n");
    touch("unified/skiff/cgroup.subtree_control", "");
    auto cg = Cgroup::create(l, "/skiff/c1");
    ASSERT_TRUE(cg) << cg.error().what();
    EXPECT_EQ(cg->dirs(), std::vector<std::string>{root_ + "/unified/skiff/c1"});
    // One write per controller into a regular file leaves the last one.
    EXPECT_EQ(read("unified/cgroup.subtree_control"), "+pids");
    EXPECT_EQ(read("unified/skiff/cgroup.subtree_control"), "+memory");
}

TEST_F(CgroupFakeTest, FailedCreateRemovesOnlyWhatItMade) {
    ASSERT_TRUE(fs::make_dirs(root_ + "/a/pre"));
    CgroupLayout l;
    // "cpu" sorts first and succeeds; "memory" points at a hierarchy that does not exist.
    l.v1 = {{"cpu", root_ + "/a"}, {"memory", root_ + "/missing"}};
    auto cg = Cgroup::create(l, "/pre/x/c1");
    ASSERT_FALSE(cg);
    EXPECT_NE(cg.error().message().find("mkdir " + root_ + "/missing/pre"), std::string::npos)
        << cg.error().message();
    EXPECT_TRUE(fs::exists(root_ + "/a/pre"));
    EXPECT_FALSE(fs::exists(root_ + "/a/pre/x"));
}

TEST_F(CgroupFakeTest, UpdateRestoresWhatItWroteWhenALaterWriteFails) {
    CgroupLayout l;
    l.v1 = {{"memory", root_ + "/memory"}, {"pids", root_ + "/pids"}};
    touch("memory/c1/memory.limit_in_bytes", "1048576\n");
    // A directory where the kernel has a file: the write of the reservation fails.
    ASSERT_TRUE(fs::make_dirs(root_ + "/memory/c1/memory.soft_limit_in_bytes"));
    touch("pids/c1/pids.max", "max\n");
    auto cg = Cgroup::open(l, "/c1");
    Resources r;
    r.memory = MemoryResources{.limit = 4096, .reservation = 2048};
    r.pids = PidsResources{.limit = 7};
    auto st = cg.update(r);
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().what().find("memory.soft_limit_in_bytes"), std::string::npos)
        << st.error().what();
    EXPECT_EQ(read("memory/c1/memory.limit_in_bytes"), "1048576");
    EXPECT_EQ(read("pids/c1/pids.max"), "max");

    // A bad value is refused before any file is written.
    r.memory = MemoryResources{.limit = 4096};
    r.hugepage_limits = {{"3XB", 1}};
    st = cg.update(r);
    ASSERT_FALSE(st);
    EXPECT_EQ(read("memory/c1/memory.limit_in_bytes"), "1048576");

    r = Resources{};
    r.memory = MemoryResources{.limit = 4096};
    r.pids = PidsResources{.limit = 7};
    st = cg.update(r);
    ASSERT_TRUE(st) << st.error().what();
    EXPECT_EQ(read("memory/c1/memory.limit_in_bytes"), "4096");
    EXPECT_EQ(read("pids/c1/pids.max"), "7");
}

TEST_F(CgroupFakeTest, FreezerPicksV1FreezerElseCgroupFreeze) {
    CgroupLayout l;
    l.v1 = {{"freezer", root_ + "/freezer"}};
    l.unified = root_ + "/unified";
    touch("freezer/c1/freezer.state", "THAWED\n");
    touch("unified/c1/cgroup.freeze", "0\n");
    auto cg = Cgroup::open(l, "/c1");
    auto state = cg.freezer_state();
    ASSERT_TRUE(state) << state.error().what();
    EXPECT_EQ(*state, Cgroup::FreezerState::thawed);
    // A regular file reads back what was written, as a freezer that froze at once.
    auto st = cg.freeze();
    ASSERT_TRUE(st) << st.error().what();
    EXPECT_EQ(read("freezer/c1/freezer.state"), "FROZEN");
    EXPECT_EQ(read("unified/c1/cgroup.freeze"), "0\n");  // v2 untouched with a v1 freezer
    EXPECT_EQ(*cg.freezer_state(), Cgroup::FreezerState::frozen);
    st = cg.thaw();
    ASSERT_TRUE(st) << st.error().what();
    EXPECT_EQ(read("freezer/c1/freezer.state"), "THAWED");

    // Without a v1 freezer: cgroup.freeze, and cgroup.events tells frozen from freezing.
    CgroupLayout v2;
    v2.unified = root_ + "/unified";
    auto cg2 = Cgroup::open(v2, "/c1");
    touch("unified/c1/cgroup.freeze", "1\n");
    touch("unified/c1/cgroup.events", "populated 1\nfrozen 0\n");
    EXPECT_EQ(*cg2.freezer_state(), Cgroup::FreezerState::freezing);
    touch("unified/c1/cgroup.events", "populated 1\nfrozen 1\n");
    EXPECT_EQ(*cg2.freezer_state(), Cgroup::FreezerState::frozen);
    st = cg2.thaw();
    ASSERT_TRUE(st) << st.error().what();
    EXPECT_EQ(read("unified/c1/cgroup.freeze"), "0");
    EXPECT_EQ(*cg2.freezer_state(), Cgroup::FreezerState::thawed);

    CgroupLayout none;
    none.v1 = {{"memory", root_ + "/memory"}};
    auto st3 = Cgroup::open(none, "/c1").freeze();
    ASSERT_FALSE(st3);
    EXPECT_EQ(st3.error().code(), ENOTSUP);
}

TEST(CgroupPathTest, RefusesBadPaths) {
    CgroupLayout l;
    l.unified = "/nonexistent-skiff-test";
    for (const char* p : {"relative/c1", "/a/../b", "/", ""})
        EXPECT_FALSE(Cgroup::create(l, p)) << p;
}

// ---- Real kernel: this host's hierarchies, under a cgroup made for the test. ----

bool is_dir(const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void rmdir_tree(const std::string& dir) {
    if (DIR* d = ::opendir(dir.c_str())) {
        std::vector<std::string> subs;
        while (dirent* e = ::readdir(d)) {
            std::string n = e->d_name;
            if (n != "." && n != ".." && e->d_type == DT_DIR) subs.push_back(dir + "/" + n);
        }
        ::closedir(d);
        for (auto& s : subs) rmdir_tree(s);
    }
    ::rmdir(dir.c_str());
}

std::string trimmed(const std::string& path) {
    auto r = fs::read_file(path);
    if (!r) return "<" + r.error().what() + ">";
    std::string s = *r;
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

class CgroupKernelTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
        auto l = detect_cgroup_layout();
        ASSERT_TRUE(l) << l.error().what();
        layout_ = *l;
        if (!layout_.hybrid() || !layout_.v1.count("memory") || !layout_.v1.count("devices"))
            GTEST_SKIP() << "written for the hybrid host (v1 controllers + cgroup2 unified)";
        top_ = "/skiff-test-" + std::to_string(::getpid());
        path_ = top_ + "/c1";
    }
    // The RAII part: whatever failed, the child is killed and reaped (by its pid) and every test
    // directory is removed, children first.
    void TearDown() override {
        if (top_.empty()) return;
        // Kills whatever is still inside (also grandchildren) before the directories go.
        (void)Cgroup::open(layout_, path_).destroy();
        for (pid_t c : children_) {
            ::kill(c, SIGKILL);
            ::waitpid(c, nullptr, 0);
        }
        for (const auto& root : roots()) rmdir_tree(root + top_);
    }
    std::vector<std::string> roots() const {
        std::vector<std::string> out;
        for (const auto& [n, m] : layout_.v1)
            if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
        if (!layout_.unified.empty()) out.push_back(layout_.unified);
        return out;
    }
    pid_t spawn_sleeper() {
        pid_t pid = ::fork();
        if (pid == 0) {
            for (;;) ::pause();
        }
        if (pid > 0) children_.push_back(pid);
        return pid;
    }

    CgroupLayout layout_;
    std::string top_, path_;
    std::vector<pid_t> children_;  // reaped by TearDown unless a test reaped them
};

TEST_F(CgroupKernelTest, CreateApplyJoinDestroy) {
    auto cg = Cgroup::create(layout_, path_);
    ASSERT_TRUE(cg) << cg.error().what();
    for (const char* c : {"memory", "cpu", "pids", "cpuset", "devices", "name=systemd"})
        EXPECT_TRUE(is_dir(layout_.v1.at(c) + path_)) << c;
    EXPECT_TRUE(is_dir(layout_.unified + path_));
    EXPECT_EQ(cg->dir_for("memory"), "/sys/fs/cgroup/memory" + path_);
    EXPECT_EQ(cg->dir_for(""), layout_.unified + path_);
    // cpuset was seeded from the parent, or no task could join.
    EXPECT_EQ(trimmed(cg->dir_for("cpuset") + "/cpuset.mems"),
              trimmed(layout_.v1.at("cpuset") + "/cpuset.mems"));

    Resources r;
    r.memory = MemoryResources{.limit = 64 << 20};
    r.pids = PidsResources{.limit = 10};
    r.cpu = CpuResources{.shares = 512, .quota = 50000, .period = 100000, .cpus = "0"};
    r.devices = {{.allow = false, .type = "a"},
                 {.allow = true, .type = "c", .major = 1, .minor = 3, .access = "rwm"}};
    auto st = cg->apply(r);
    ASSERT_TRUE(st) << st.error().what();
    EXPECT_EQ(trimmed(cg->dir_for("memory") + "/memory.limit_in_bytes"), "67108864");
    EXPECT_EQ(trimmed(cg->dir_for("pids") + "/pids.max"), "10");
    EXPECT_EQ(trimmed(cg->dir_for("cpu") + "/cpu.shares"), "512");
    EXPECT_EQ(trimmed(cg->dir_for("cpu") + "/cpu.cfs_quota_us"), "50000");
    EXPECT_EQ(trimmed(cg->dir_for("cpu") + "/cpu.cfs_period_us"), "100000");
    EXPECT_EQ(trimmed(cg->dir_for("cpuset") + "/cpuset.cpus"), "0");
    EXPECT_EQ(trimmed(cg->dir_for("devices") + "/devices.list"), "c 1:3 rwm");

    pid_t pid = spawn_sleeper();
    ASSERT_GT(pid, 0);
    st = cg->add_process(pid);
    ASSERT_TRUE(st) << st.error().what();
    std::string self = trimmed("/proc/" + std::to_string(pid) + "/cgroup");
    EXPECT_NE(self.find(":memory:" + path_ + "\n"), std::string::npos) << self;
    EXPECT_NE(self.find(":pids:" + path_ + "\n"), std::string::npos) << self;
    EXPECT_NE(self.find(":name=systemd:" + path_ + "\n"), std::string::npos) << self;
    EXPECT_NE(self.find("0::" + path_), std::string::npos) << self;
    auto pids = cg->pids();
    ASSERT_TRUE(pids) << pids.error().what();
    EXPECT_EQ(*pids, std::vector<pid_t>{pid});

    // A cgroup made inside the container's one goes too.
    ASSERT_EQ(::mkdir((cg->dir_for("memory") + "/nested").c_str(), 0755), 0);

    st = cg->destroy();
    ASSERT_TRUE(st) << st.error().what();
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    children_.clear();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    for (const auto& d : cg->dirs()) EXPECT_FALSE(fs::exists(d)) << d;
    // Idempotent: a second destroy of the removed cgroup succeeds.
    st = cg->destroy();
    EXPECT_TRUE(st) << st.error().what();
    // Parents are left for the caller; the test's guard removes them, and nothing remains.
    for (const auto& root : roots()) rmdir_tree(root + top_);
    for (const auto& root : roots()) EXPECT_FALSE(fs::exists(root + top_)) << root;
}

TEST_F(CgroupKernelTest, InvalidValueNamesTheFile) {
    auto cg = Cgroup::create(layout_, path_);
    ASSERT_TRUE(cg) << cg.error().what();
    Resources r;
    r.cpu = CpuResources{.cpus = "999"};
    auto st = cg->apply(r);
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().what().find("write cpuset.cpus=999"), std::string::npos)
        << st.error().what();
    EXPECT_NE(st.error().code(), 0);
    st = cg->destroy();
    EXPECT_TRUE(st) << st.error().what();
}

TEST_F(CgroupKernelTest, OpenFindsAnExistingCgroupAndCreateReusesIt) {
    auto made = Cgroup::create(layout_, path_);
    ASSERT_TRUE(made) << made.error().what();
    auto again = Cgroup::create(layout_, path_);  // runc reuses an existing cgroup
    ASSERT_TRUE(again) << again.error().what();
    pid_t pid = spawn_sleeper();
    ASSERT_GT(pid, 0);
    ASSERT_TRUE(made->add_process(pid));
    // Processes forked inside inherit the cgroup; destroy must kill them too.
    int ready[2];
    ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
    pid_t forker = ::fork();
    if (forker > 0) children_.push_back(forker);
    if (forker == 0) {
        (void)made->add_process(::getpid());
        for (int i = 0; i < 2; ++i)
            if (::fork() == 0)
                for (;;) ::pause();
        (void)::write(ready[1], "x", 1);
        for (;;) ::pause();
    }
    ::close(ready[1]);
    char c;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    ::close(ready[0]);
    auto opened = Cgroup::open(layout_, path_);
    auto pids = opened.pids();
    ASSERT_TRUE(pids) << pids.error().what();
    EXPECT_EQ(pids->size(), 4u);
    EXPECT_NE(std::find(pids->begin(), pids->end(), pid), pids->end());
    EXPECT_NE(std::find(pids->begin(), pids->end(), forker), pids->end());
    auto st = opened.destroy();
    ASSERT_TRUE(st) << st.error().what();
    for (const auto& d : made->dirs()) EXPECT_FALSE(fs::exists(d)) << d;
    int status = 0;
    EXPECT_EQ(::waitpid(forker, &status, 0), forker);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    children_ = {pid};  // the sleeper is reaped by TearDown
}

// The state letter of /proc/PID/stat's third field, or 0.
char proc_state(pid_t pid) {
    auto stat = fs::read_file("/proc/" + std::to_string(pid) + "/stat");
    if (!stat) return 0;
    size_t paren = stat->rfind(')');
    return paren == std::string::npos || paren + 2 >= stat->size() ? 0 : (*stat)[paren + 2];
}

// A child that counts in shared memory, so the test sees whether it runs.
struct Counter {
    volatile uint64_t* value = nullptr;
    Counter() {
        void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p != MAP_FAILED) value = static_cast<volatile uint64_t*>(p);
    }
    ~Counter() {
        if (value) ::munmap(const_cast<uint64_t*>(value), 4096);
    }
    bool advances() const {
        uint64_t before = *value;
        ::usleep(50000);
        return *value != before;
    }
};

TEST_F(CgroupKernelTest, FreezeStopsTheTasksAndThawLetsThemRun) {
    auto cg = Cgroup::create(layout_, path_);
    ASSERT_TRUE(cg) << cg.error().what();
    Counter counter;
    ASSERT_NE(counter.value, nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
        for (;;) *counter.value = *counter.value + 1;
    }
    ASSERT_GT(pid, 0);
    children_.push_back(pid);
    ASSERT_TRUE(cg->add_process(pid));
    EXPECT_TRUE(counter.advances());

    auto st = cg->freeze();
    ASSERT_TRUE(st) << st.error().what();
    EXPECT_EQ(*cg->freezer_state(), Cgroup::FreezerState::frozen);
    EXPECT_EQ(trimmed(cg->dir_for("freezer") + "/freezer.state"), "FROZEN");
    EXPECT_FALSE(counter.advances());
    st = cg->freeze();  // freezing a frozen cgroup is fine at this level
    EXPECT_TRUE(st) << st.error().what();

    st = cg->thaw();
    ASSERT_TRUE(st) << st.error().what();
    EXPECT_EQ(*cg->freezer_state(), Cgroup::FreezerState::thawed);
    EXPECT_TRUE(counter.advances());

    // destroy() kills a frozen cgroup's tasks too.
    ASSERT_TRUE(cg->freeze());
    st = cg->destroy();
    ASSERT_TRUE(st) << st.error().what();
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    children_.clear();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

// The cgroup2 freezer (cgroup.freeze), exercised on this hybrid host by a layout that holds only
// the unified hierarchy: the path a pure v2 host takes.
TEST_F(CgroupKernelTest, V2FreezeThroughCgroupFreeze) {
    CgroupLayout v2;
    v2.unified = layout_.unified;
    v2.v2_controllers = layout_.v2_controllers;
    auto cg = Cgroup::create(v2, path_);
    ASSERT_TRUE(cg) << cg.error().what();
    if (!fs::exists(cg->dir_for("") + "/cgroup.freeze")) GTEST_SKIP() << "kernel before 5.2";
    Counter counter;
    ASSERT_NE(counter.value, nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
        for (;;) *counter.value = *counter.value + 1;
    }
    ASSERT_GT(pid, 0);
    children_.push_back(pid);
    ASSERT_TRUE(cg->add_process(pid));
    EXPECT_TRUE(counter.advances());
    auto st = cg->freeze();
    ASSERT_TRUE(st) << st.error().what();
    EXPECT_EQ(*cg->freezer_state(), Cgroup::FreezerState::frozen);
    EXPECT_NE(fs::read_file(cg->dir_for("") + "/cgroup.events")->find("frozen 1"),
              std::string::npos);
    EXPECT_FALSE(counter.advances());
    st = cg->thaw();
    ASSERT_TRUE(st) << st.error().what();
    EXPECT_TRUE(counter.advances());
    EXPECT_NE(proc_state(pid), 0);
    st = cg->destroy();
    ASSERT_TRUE(st) << st.error().what();
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    children_.clear();
}

TEST_F(CgroupKernelTest, OomWatchFiresWhenATaskIsKilledForMemory) {
    auto cg = Cgroup::create(layout_, path_);
    ASSERT_TRUE(cg) << cg.error().what();
    Resources r;
    // No swap beyond the limit, so the allocation can't escape to swap.
    r.memory = MemoryResources{.limit = 8 << 20, .swap = 8 << 20};
    ASSERT_TRUE(cg->apply(r));
    auto watch = cg->watch_oom();
    ASSERT_TRUE(watch) << watch.error().what();
    ASSERT_GE(watch->fd(), 0);
    int go[2];
    ASSERT_EQ(::pipe2(go, O_CLOEXEC), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
        char c;
        (void)::read(go[0], &c, 1);
        // Touch 64 MiB, page by page, in an 8 MiB cgroup.
        size_t size = 64 << 20;
        auto* p = static_cast<char*>(
            ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        for (size_t i = 0; p != MAP_FAILED && i < size; i += 4096) p[i] = 1;
        ::_exit(0);
    }
    ASSERT_GT(pid, 0);
    children_.push_back(pid);
    ::close(go[0]);
    ASSERT_TRUE(cg->add_process(pid));
    pollfd quiet{watch->fd(), POLLIN, 0};
    EXPECT_EQ(::poll(&quiet, 1, 0), 0);  // nothing yet
    EXPECT_EQ(::write(go[1], "x", 1), 1);
    ::close(go[1]);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    children_.clear();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    pollfd p{watch->fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 2000), 1);
    EXPECT_EQ(watch->consume(), 1);
    EXPECT_EQ(::poll(&p, 1, 0), 0);  // consumed
    ASSERT_TRUE(cg->destroy());
}

}  // namespace
}  // namespace skiff::isolation
