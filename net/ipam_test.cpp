// IPAM: CIDR parsing, allocation and release, persistence, exhaustion, concurrent allocators.
#include "skiff/net/ipam.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "skiff/base/fs.hpp"

namespace skiff::net {
namespace {

class IpamTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/skiff-ipam-test.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { ASSERT_TRUE(fs::remove_all(dir_)); }

    Ipam open(const std::string& cidr) {
        auto pool = Ipv4Net::parse(cidr);
        EXPECT_TRUE(pool) << pool.error().what();
        auto ipam = Ipam::open(dir_, *pool);
        EXPECT_TRUE(ipam) << ipam.error().what();
        return std::move(*ipam);
    }
    std::string allocate(Ipam& ipam, const std::string& owner) {
        auto a = ipam.allocate(owner);
        EXPECT_TRUE(a) << a.error().what();
        return a ? a->ip : "";
    }

    std::string dir_;
};

TEST(Ipv4Test, ParsesAndFormatsAddresses) {
    auto ip = parse_ipv4("10.88.1.2");
    ASSERT_TRUE(ip);
    EXPECT_EQ(*ip, 0x0a580102u);
    EXPECT_EQ(format_ipv4(*ip), "10.88.1.2");
    for (const char* bad : {"", "10.88.1", "10.88.1.256", "10.88.01.2", "a.b.c.d", "10.88.1.2 "})
        EXPECT_FALSE(parse_ipv4(bad)) << bad;
}

TEST(Ipv4Test, ParsesCidrsStrictly) {
    auto n = Ipv4Net::parse("10.88.0.0/16");
    ASSERT_TRUE(n);
    EXPECT_EQ(n->str(), "10.88.0.0/16");
    EXPECT_EQ(format_ipv4(n->broadcast()), "10.88.255.255");
    EXPECT_TRUE(n->contains(*parse_ipv4("10.88.7.9")));
    EXPECT_FALSE(n->contains(*parse_ipv4("10.89.0.1")));
    EXPECT_TRUE(n->overlaps(*Ipv4Net::parse("10.88.2.0/24")));
    EXPECT_FALSE(n->overlaps(*Ipv4Net::parse("10.89.0.0/24")));

    auto host_bits = Ipv4Net::parse("10.88.1.5/24");
    ASSERT_FALSE(host_bits);
    EXPECT_EQ(host_bits.error().code(), EINVAL);
    EXPECT_NE(host_bits.error().message().find("10.88.1.0/24"), std::string::npos)
        << host_bits.error().message();
    for (const char* bad : {"10.88.1.0", "10.88.1.0/33", "10.88.1.0/", "10.88.1.0/-1",
                            "10.88.1.0/2x", "300.1.1.0/24", "/24"}) {
        auto r = Ipv4Net::parse(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_NE(r.error().message().find(bad), std::string::npos) << r.error().message();
    }
}

TEST(Ipv4Test, ValidatesOwners) {
    EXPECT_TRUE(validate_owner("default/web-1"));
    EXPECT_TRUE(validate_owner("3f1c-uid"));
    EXPECT_FALSE(validate_owner(""));
    EXPECT_FALSE(validate_owner("two words"));
    EXPECT_FALSE(validate_owner("line\nbreak"));
    EXPECT_FALSE(validate_owner(std::string(254, 'a')));
}

TEST_F(IpamTest, SkipsNetworkGatewayAndBroadcast) {
    Ipam ipam = open("10.88.1.0/29");  // .0 network, .1 gateway, .7 broadcast
    EXPECT_EQ(format_ipv4(ipam.gateway()), "10.88.1.1");
    std::set<std::string> got;
    for (int i = 0; i < 5; ++i) got.insert(allocate(ipam, "pod" + std::to_string(i)));
    EXPECT_EQ(got, (std::set<std::string>{"10.88.1.2", "10.88.1.3", "10.88.1.4", "10.88.1.5",
                                          "10.88.1.6"}));
    auto full = ipam.allocate("pod5");
    ASSERT_FALSE(full);
    EXPECT_EQ(full.error().code(), ENOSPC);
}

TEST_F(IpamTest, SamePodGetsTheSameAddress) {
    Ipam ipam = open("10.88.1.0/24");
    auto first = ipam.allocate("p1");
    ASSERT_TRUE(first);
    EXPECT_TRUE(first->newly_allocated);
    EXPECT_EQ(first->ip, "10.88.1.2");
    auto again = ipam.allocate("p1");
    ASSERT_TRUE(again);
    EXPECT_FALSE(again->newly_allocated);
    EXPECT_EQ(again->ip, first->ip);
    EXPECT_EQ(allocate(ipam, "p2"), "10.88.1.3");
}

TEST_F(IpamTest, PersistsAcrossReopenAsOneFilePerAddress) {
    {
        Ipam ipam = open("10.88.1.0/24");
        EXPECT_EQ(allocate(ipam, "p1"), "10.88.1.2");
        EXPECT_EQ(allocate(ipam, "p2"), "10.88.1.3");
    }
    std::string pool = dir_ + "/ipam/10.88.1.0_24";
    auto content = fs::read_file(pool + "/10.88.1.2");
    ASSERT_TRUE(content) << content.error().what();
    EXPECT_EQ(*content, "p1\n");
    Ipam reopened = open("10.88.1.0/24");  // as after a restart
    auto found = reopened.find("p2");
    ASSERT_TRUE(found);
    EXPECT_EQ(found->value_or(""), "10.88.1.3");
    EXPECT_EQ(allocate(reopened, "p1"), "10.88.1.2");
    EXPECT_EQ(allocate(reopened, "p3"), "10.88.1.4");
    auto all = reopened.list();
    ASSERT_TRUE(all);
    EXPECT_EQ(all->size(), 3u);
}

TEST_F(IpamTest, ReleaseFreesTheAddressAndIsIdempotent) {
    Ipam ipam = open("10.88.1.0/24");
    EXPECT_EQ(allocate(ipam, "p1"), "10.88.1.2");
    ASSERT_TRUE(ipam.release("p1"));
    EXPECT_FALSE(fs::exists(dir_ + "/ipam/10.88.1.0_24/10.88.1.2"));
    auto found = ipam.find("p1");
    ASSERT_TRUE(found);
    EXPECT_FALSE(found->has_value());
    ASSERT_TRUE(ipam.release("p1"));
    ASSERT_TRUE(ipam.release("never-allocated"));
    // A released address is handed out again only after the others (round robin).
    EXPECT_EQ(allocate(ipam, "p2"), "10.88.1.3");
}

TEST_F(IpamTest, ReleasedAddressIsReusedWhenThePoolWrapsAround) {
    Ipam ipam = open("10.88.1.0/30");  // exactly one pod address: .2
    EXPECT_EQ(allocate(ipam, "p1"), "10.88.1.2");
    auto full = ipam.allocate("p2");
    ASSERT_FALSE(full);
    EXPECT_EQ(full.error().code(), ENOSPC);
    EXPECT_NE(full.error().message().find("10.88.1.0/30"), std::string::npos)
        << full.error().message();
    EXPECT_NE(full.error().message().find("exhausted"), std::string::npos);
    ASSERT_TRUE(ipam.release("p1"));
    EXPECT_EQ(allocate(ipam, "p2"), "10.88.1.2");
}

TEST_F(IpamTest, RejectsPoolsSmallerThanASlash30) {
    auto pool = Ipv4Net::parse("10.88.1.0/31");
    ASSERT_TRUE(pool);
    auto ipam = Ipam::open(dir_, *pool);
    ASSERT_FALSE(ipam);
    EXPECT_EQ(ipam.error().code(), EINVAL);
    EXPECT_NE(ipam.error().message().find("10.88.1.0/31"), std::string::npos);
}

TEST_F(IpamTest, NeverHandsOutAnAddressWhoseFileExists) {
    Ipam ipam = open("10.88.1.0/24");
    ASSERT_TRUE(fs::write_file(dir_ + "/ipam/10.88.1.0_24/10.88.1.2", "someone-else\n"));
    EXPECT_EQ(allocate(ipam, "p1"), "10.88.1.3");
    // A file its writer never filled (it died between create and write) is nobody's.
    ASSERT_TRUE(fs::write_file(dir_ + "/ipam/10.88.1.0_24/10.88.1.4", ""));
    ASSERT_TRUE(ipam.release("p1"));
    EXPECT_FALSE(fs::exists(dir_ + "/ipam/10.88.1.0_24/10.88.1.4"));
}

TEST_F(IpamTest, ReleaseInAllPools) {
    Ipam a = open("10.88.1.0/24"), b = open("10.99.0.0/30");
    EXPECT_EQ(allocate(a, "p1"), "10.88.1.2");
    EXPECT_EQ(allocate(b, "p1"), "10.99.0.2");
    EXPECT_EQ(allocate(a, "p2"), "10.88.1.3");
    ASSERT_TRUE(release_in_all_pools(dir_, "p1"));
    EXPECT_FALSE(a.find("p1")->has_value());
    EXPECT_FALSE(b.find("p1")->has_value());
    EXPECT_TRUE(a.find("p2")->has_value());
    ASSERT_TRUE(release_in_all_pools(dir_ + "/nothing-here", "p1"));
}

TEST_F(IpamTest, ConcurrentThreadsGetDistinctAddresses) {
    constexpr int kThreads = 8, kEach = 20;
    std::vector<std::vector<std::string>> got(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            // Each thread has its own allocator, as separate processes would.
            auto ipam = Ipam::open(dir_, *Ipv4Net::parse("10.88.1.0/24"));
            if (!ipam) return;
            for (int i = 0; i < kEach; ++i) {
                auto a = ipam->allocate("t" + std::to_string(t) + "-" + std::to_string(i));
                if (a) got[t].push_back(a->ip);
            }
        });
    for (auto& th : threads) th.join();
    std::set<std::string> all;
    for (const auto& v : got) {
        EXPECT_EQ(v.size(), size_t{kEach});
        all.insert(v.begin(), v.end());
    }
    EXPECT_EQ(all.size(), size_t{kThreads * kEach});
    EXPECT_FALSE(all.count("10.88.1.0") || all.count("10.88.1.1") || all.count("10.88.1.255"));
}

TEST_F(IpamTest, ConcurrentProcessesGetDistinctAddresses) {
    constexpr int kProcs = 4, kEach = 25;
    std::vector<pid_t> pids;
    for (int p = 0; p < kProcs; ++p) {
        pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            auto ipam = Ipam::open(dir_, *Ipv4Net::parse("10.88.1.0/24"));
            if (!ipam) ::_exit(2);
            for (int i = 0; i < kEach; ++i)
                if (!ipam->allocate("proc" + std::to_string(p) + "-" + std::to_string(i)))
                    ::_exit(3);
            ::_exit(0);
        }
        pids.push_back(pid);
    }
    for (pid_t pid : pids) {
        int status = 0;
        ASSERT_EQ(::waitpid(pid, &status, 0), pid);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    }
    Ipam ipam = open("10.88.1.0/24");
    auto all = ipam.list();
    ASSERT_TRUE(all);
    EXPECT_EQ(all->size(), size_t{kProcs * kEach});  // one file per owner, none shared
    std::set<std::string> owners;
    for (const auto& [ip, owner] : *all) owners.insert(owner);
    EXPECT_EQ(owners.size(), size_t{kProcs * kEach});
}

}  // namespace
}  // namespace skiff::net
