// Unit tests for capability name resolution and the masks applied in the container.
#include "skiff/isolation/capabilities.hpp"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

using namespace skiff::isolation;

TEST(Capabilities, DockerDefaultsResolveToTheKnownMask) {
    CapabilitySets sets;
    sets.bounding = default_capabilities();
    auto masks = resolve_capabilities(sets);
    ASSERT_TRUE(masks.ok()) << masks.error().what();
    EXPECT_EQ(default_capabilities().size(), 14u);
    // The CapBnd value Docker containers show in /proc/self/status.
    EXPECT_EQ(masks->bounding, 0xa80425fbULL);
    EXPECT_EQ(masks->effective, 0u);
}

TEST(Capabilities, UnknownNameIsAnErrorNamingItAndTheSet) {
    CapabilitySets sets;
    sets.permitted = {"CAP_CHOWN", "CAP_FOO"};
    auto masks = resolve_capabilities(sets);
    ASSERT_FALSE(masks.ok());
    EXPECT_NE(masks.error().message().find("CAP_FOO"), std::string::npos);
    EXPECT_NE(masks.error().message().find("permitted"), std::string::npos);
}

TEST(Capabilities, KnownCapabilitiesCoverTheKernel) {
    auto known = known_capabilities();
    EXPECT_EQ(static_cast<int>(known.size()), last_capability() + 1);
    EXPECT_EQ(known.front(), "CAP_CHOWN");
}

static std::string status_field(pid_t pid, const std::string& key) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(key + ":", 0) == 0) return line.substr(key.size() + 2);
    return {};
}

TEST(Capabilities, ApplySetsEveryMaskInAChild) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to hold the capabilities it narrows";
    CapabilityMasks m;
    m.bounding = (1ULL << CAP_CHOWN) | (1ULL << CAP_KILL) | (1ULL << CAP_NET_RAW);
    m.permitted = m.bounding;
    m.effective = 1ULL << CAP_KILL;
    m.inheritable = 1ULL << CAP_NET_RAW;
    m.ambient = 1ULL << CAP_NET_RAW;
    int pipefd[2];
    ASSERT_EQ(pipe(pipefd), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        close(pipefd[0]);
        int rc = drop_bounding_capabilities(m);
        if (rc == 0) rc = apply_capabilities(m);
        char c = rc == 0 ? 'y' : 'n';
        (void)!write(pipefd[1], &c, 1);
        pause();
        _exit(0);
    }
    close(pipefd[1]);
    char c = 0;
    ASSERT_EQ(read(pipefd[0], &c, 1), 1);
    close(pipefd[0]);
    EXPECT_EQ(c, 'y');
    EXPECT_EQ(status_field(pid, "CapBnd"), "0000000000002021");
    EXPECT_EQ(status_field(pid, "CapPrm"), "0000000000002021");
    EXPECT_EQ(status_field(pid, "CapEff"), "0000000000000020");
    EXPECT_EQ(status_field(pid, "CapInh"), "0000000000002000");
    EXPECT_EQ(status_field(pid, "CapAmb"), "0000000000002000");
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
}
