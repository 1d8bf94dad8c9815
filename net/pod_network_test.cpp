// PodNetwork: configuration checks, veth naming, and (as root) setup and teardown on the real
// kernel inside network namespaces private to the test's threads.
#include "skiff/net/pod_network.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <thread>

#include "netlink.hpp"
#include "skiff/base/fs.hpp"
#include "skiff/base/unique_fd.hpp"

namespace skiff::net {
namespace {

TEST(PodNetworkTest, HostVethNameIsStableAndFitsIfnamsiz) {
    // FNV-1a of "p1": a changed hash would orphan the veths of running pods on upgrade.
    EXPECT_EQ(PodNetwork::host_veth_name("p1"), "vska04ed67a");
    EXPECT_EQ(PodNetwork::host_veth_name("p1"), PodNetwork::host_veth_name("p1"));
    EXPECT_NE(PodNetwork::host_veth_name("p1"), PodNetwork::host_veth_name("p2"));
    EXPECT_EQ(PodNetwork::host_veth_name(std::string(253, 'x')).size(), 11u);
}

TEST(PodNetworkTest, OpenRejectsBadConfiguration) {
    auto expect_invalid = [](PodNetworkConfig c, const std::string& needle) {
        c.state_dir = "/nonexistent/skiff-test";  // never reached: the check fails first
        auto r = PodNetwork::open(c);
        ASSERT_FALSE(r) << needle;
        EXPECT_EQ(r.error().code(), EINVAL) << r.error().what();
        EXPECT_NE(r.error().message().find(needle), std::string::npos) << r.error().message();
    };
    PodNetworkConfig c;
    c.bridge = "a-bridge-name-too-long";
    expect_invalid(c, "a-bridge-name-too-long");
    c = {};
    c.mtu = 10;
    expect_invalid(c, "MTU 10");
    c = {};
    c.pod_cidr = "10.88.1.7/24";
    expect_invalid(c, "10.88.1.7/24");
    c = {};
    c.pod_cidr = "10.88.1.0/24";
    c.cluster_cidr = "10.99.0.0/16";
    expect_invalid(c, "does not contain the pod CIDR 10.88.1.0/24");
    c = {};
    c.pod_cidr = "10.88.1.0/24";
    c.cluster_cidr = "10.88.1.0/25";
    expect_invalid(c, "does not contain");
}

int count_fds() {
    int n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (::readdir(d)) ++n;
        ::closedir(d);
    }
    return n;
}

// The output of a command run in the calling thread's network namespace (popen forks from it).
std::string run(const std::string& command) {
    std::string out;
    if (FILE* f = ::popen(command.c_str(), "r")) {
        char buf[512];
        while (size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
        ::pclose(f);
    }
    return out;
}

// Runs fn in a thread of its own inside a new network namespace (unshare moves only that thread),
// which the kernel removes, with everything in it, when the thread ends.
void in_new_netns(const std::function<void()>& fn) {
    std::thread t([&] {
        if (::unshare(CLONE_NEWNET) != 0) {
            ADD_FAILURE() << "unshare(CLONE_NEWNET): " << std::strerror(errno);
            return;
        }
        fn();
    });
    t.join();
}

class PodNetworkRootTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
        char tmpl[] = "/tmp/skiff-podnet-test.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        state_ = tmpl;
        // The "pod": a namespace held by an fd (its thread is gone), named by /proc/self/fd/N.
        in_new_netns(
            [&] { pod_ns_.reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)); });
        ASSERT_TRUE(pod_ns_.valid());
        pod_path_ = "/proc/self/fd/" + std::to_string(pod_ns_.get());
    }
    void TearDown() override {
        if (!state_.empty()) {
            EXPECT_TRUE(fs::remove_all(state_));
        }
    }

    PodNetworkConfig config() const {
        PodNetworkConfig c;
        c.bridge = "sktest0";
        c.pod_cidr = "10.77.0.0/24";
        c.mtu = 1450;
        c.state_dir = state_;
        c.masquerade = false;
        return c;
    }

    std::string state_;
    UniqueFd pod_ns_;
    std::string pod_path_;
};

TEST_F(PodNetworkRootTest, SetupAndTeardownWirePodToBridge) {
    in_new_netns([&] {
        auto pn = PodNetwork::open(config());
        ASSERT_TRUE(pn) << pn.error().what();
        int fds_before = count_fds();
        auto addr = pn->setup_pod_network(pod_path_, "pod-a");
        ASSERT_TRUE(addr) << addr.error().what();
        EXPECT_EQ(addr->ip, "10.77.0.2");
        EXPECT_EQ(addr->prefix, 24);
        EXPECT_EQ(addr->gateway, "10.77.0.1");
        EXPECT_EQ(addr->host_veth, PodNetwork::host_veth_name("pod-a"));

        auto host_socket = nl::Socket::open();
        ASSERT_TRUE(host_socket);
        int test_fds = 1;  // that socket
        nl::Socket* host = &*host_socket;
        auto bridge = nl::find_link(*host, "sktest0");
        ASSERT_TRUE(bridge && *bridge);
        EXPECT_EQ((*bridge)->kind, "bridge");
        EXPECT_EQ((*bridge)->mtu, 1450u);
        EXPECT_TRUE((*bridge)->flags & IFF_UP);
        auto veth = nl::find_link(*host, addr->host_veth);
        ASSERT_TRUE(veth && *veth);
        EXPECT_EQ((*veth)->master, (*bridge)->index);
        EXPECT_EQ((*veth)->mtu, 1450u);
        EXPECT_EQ((*veth)->alias, "pod-a");
        EXPECT_TRUE((*veth)->flags & IFF_UP);

        {
            auto pod = nl::Socket::open_in(pod_ns_.get());
            ASSERT_TRUE(pod) << pod.error().what();
            auto eth0 = nl::find_link(*pod, "eth0");
            ASSERT_TRUE(eth0 && *eth0);
            EXPECT_EQ((*eth0)->mtu, 1450u);
            EXPECT_TRUE((*eth0)->flags & IFF_UP);
            EXPECT_EQ((*eth0)->peer_index, (*veth)->index);
            auto lo = nl::find_link(*pod, "lo");
            ASSERT_TRUE(lo && *lo);
            EXPECT_TRUE((*lo)->flags & IFF_UP);
        }

        auto again = pn->setup_pod_network(pod_path_, "pod-a");
        ASSERT_TRUE(again) << again.error().what();
        EXPECT_EQ(again->ip, "10.77.0.2");
        auto same = nl::find_link(*host, addr->host_veth);
        ASSERT_TRUE(same && *same);
        EXPECT_EQ((*same)->index, (*veth)->index) << "a repeated setup keeps a working pair";

        ASSERT_TRUE(pn->teardown(pod_path_, "pod-a"));
        auto gone = nl::find_link(*host, addr->host_veth);
        ASSERT_TRUE(gone);
        EXPECT_FALSE(*gone);
        auto ip = pn->pod_ip("pod-a");
        ASSERT_TRUE(ip);
        EXPECT_FALSE(ip->has_value());
        ASSERT_TRUE(pn->teardown(pod_path_, "pod-a"));
        ASSERT_TRUE(pn->teardown("/run/netns/skiff-no-such-netns", "pod-a"));
        EXPECT_EQ(count_fds(), fds_before + test_fds) << "setup or teardown leaked an fd";
    });
}

TEST_F(PodNetworkRootTest, FailedSetupUndoesItself) {
    in_new_netns([&] {
        auto pn = PodNetwork::open(config());
        ASSERT_TRUE(pn) << pn.error().what();
        int fds_before = count_fds();
        // "lo" exists in every namespace: the veth can't take that name.
        auto r = pn->setup_pod_network(pod_path_, "pod-b", "lo");
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code(), EEXIST) << r.error().what();
        EXPECT_NE(r.error().message().find("setup pod pod-b: lo already exists in " + pod_path_),
                  std::string::npos)
            << r.error().message();
        auto ip = pn->pod_ip("pod-b");
        ASSERT_TRUE(ip);
        EXPECT_FALSE(ip->has_value()) << "the address allocated for it was released";
        {
            auto host = nl::Socket::open();
            ASSERT_TRUE(host);
            auto veth = nl::find_link(*host, PodNetwork::host_veth_name("pod-b"));
            ASSERT_TRUE(veth);
            EXPECT_FALSE(*veth);
        }

        auto own = pn->setup_pod_network("/proc/thread-self/ns/net", "pod-c");
        ASSERT_FALSE(own);
        EXPECT_NE(own.error().message().find("the node's own network namespace"), std::string::npos)
            << own.error().message();
        auto missing = pn->setup_pod_network("/run/netns/skiff-no-such-netns", "pod-c");
        ASSERT_FALSE(missing);
        EXPECT_EQ(missing.error().code(), ENOENT);
        auto not_ns = pn->setup_pod_network("/proc/self/status", "pod-c");
        ASSERT_FALSE(not_ns);
        EXPECT_NE(not_ns.error().message().find("not a network namespace"), std::string::npos);
        EXPECT_FALSE(pn->pod_ip("pod-c")->has_value());
        EXPECT_EQ(count_fds(), fds_before) << "a failed setup leaked an fd";
    });
}

TEST_F(PodNetworkRootTest, NodeRoutesAreReplacedAndRemoved) {
    in_new_netns([&] {
        auto pn = PodNetwork::open(config());
        ASSERT_TRUE(pn) << pn.error().what();
        ASSERT_TRUE(pn->ensure_node());
        // The gateway must be on a connected network: the bridge's 10.77.0.0/24 is one.
        auto added = pn->add_node_route("10.78.0.0/24", "10.77.0.9");
        ASSERT_TRUE(added) << added.error().what();
        auto replaced = pn->add_node_route("10.78.0.0/24", "10.77.0.10");
        ASSERT_TRUE(replaced) << replaced.error().what();
        EXPECT_EQ(run("ip route show 10.78.0.0/24"),
                  "10.78.0.0/24 via 10.77.0.10 dev sktest0 proto static \n");
        auto unreachable = pn->add_node_route("10.79.0.0/24", "192.0.2.1");
        ASSERT_FALSE(unreachable);
        EXPECT_NE(unreachable.error().what().find("192.0.2.1"), std::string::npos);
        EXPECT_EQ(unreachable.error().code(), ENETUNREACH) << unreachable.error().what();
        auto own = pn->add_node_route("10.77.0.0/16", "10.77.0.9");
        ASSERT_FALSE(own);
        EXPECT_EQ(own.error().code(), EINVAL);
        ASSERT_TRUE(pn->remove_node_route("10.78.0.0/24"));
        EXPECT_EQ(run("ip route show 10.78.0.0/24"), "");
        ASSERT_TRUE(pn->remove_node_route("10.78.0.0/24"));
    });
}

}  // namespace
}  // namespace skiff::net
