// Tests for container.hpp: signals, container ids, state JSON, and Runtime paths needing no root.
#include "skiff/runtime/container.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "skiff/base/fs.hpp"

namespace skiff::runtime {
namespace {

int signal_or_minus_one(const std::string& text) {
    auto r = parse_signal(text);
    return r ? *r : -1;
}

TEST(ParseSignal, NamesWithAndWithoutPrefix) {
    EXPECT_EQ(signal_or_minus_one("KILL"), SIGKILL);
    EXPECT_EQ(signal_or_minus_one("SIGKILL"), SIGKILL);
    EXPECT_EQ(signal_or_minus_one("sigkill"), SIGKILL);
    EXPECT_EQ(signal_or_minus_one("kill"), SIGKILL);
    EXPECT_EQ(signal_or_minus_one("TERM"), SIGTERM);
    EXPECT_EQ(signal_or_minus_one("SIGHUP"), SIGHUP);
    EXPECT_EQ(signal_or_minus_one("USR1"), SIGUSR1);
    EXPECT_EQ(signal_or_minus_one("SIGWINCH"), SIGWINCH);
}

TEST(ParseSignal, Numbers) {
    EXPECT_EQ(signal_or_minus_one("9"), 9);
    EXPECT_EQ(signal_or_minus_one("15"), 15);
    EXPECT_EQ(signal_or_minus_one("1"), 1);
    EXPECT_EQ(signal_or_minus_one("64"), 64);
}

TEST(ParseSignal, RealTimeSignals) {
    EXPECT_EQ(signal_or_minus_one("RTMIN"), SIGRTMIN);
    EXPECT_EQ(signal_or_minus_one("RTMIN+1"), SIGRTMIN + 1);
    EXPECT_EQ(signal_or_minus_one("SIGRTMIN+3"), SIGRTMIN + 3);
    EXPECT_EQ(signal_or_minus_one("RTMAX"), SIGRTMAX);
    EXPECT_EQ(signal_or_minus_one("RTMAX-2"), SIGRTMAX - 2);
}

TEST(ParseSignal, RefusesBadInput) {
    for (const char* bad : {"", "0", "65", "-9", "9x", "NOSUCH", "SIGNOSUCH", "SIG", "KILLX",
                            "RTMIN+100", "RTMAX+1", " 9"}) {
        auto r = parse_signal(bad);
        EXPECT_FALSE(r) << "\"" << bad << "\" parsed as " << (r ? *r : 0);
        if (!r) {
            EXPECT_EQ(r.error().code(), EINVAL) << bad;
        }
    }
}

TEST(ParseSignal, ErrorNamesTheInput) {
    auto r = parse_signal("NOSUCH");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("NOSUCH"), std::string::npos) << r.error().message();
}

TEST(ValidateContainerId, AcceptsGoodIds) {
    for (const char* good : {"a", "c1", "my-container", "my_container", "a.b", "A-Z_0.9",
                             "0123456789abcdef", "x..y"}) {
        auto r = validate_container_id(good);
        EXPECT_TRUE(r) << good << ": " << (r ? "" : r.error().message());
    }
    EXPECT_TRUE(validate_container_id(std::string(255, 'x')));
}

TEST(ValidateContainerId, RefusesBadIds) {
    for (const char* bad : {"", ".", "..", ".hidden", "a/b", "/abs", "../x", "a b", " a", "a\tb",
                            "a\nb", "a:b", "a*", "\xc3\xa9t\xc3\xa9"}) {
        auto r = validate_container_id(bad);
        EXPECT_FALSE(r) << "\"" << bad << "\" accepted";
        if (!r) {
            EXPECT_EQ(r.error().code(), EINVAL) << bad;
        }
    }
    EXPECT_FALSE(validate_container_id(std::string("a\0b", 3)));
}

TEST(ContainerStateJson, HasTheSpecFields) {
    ContainerState s;
    s.oci_version = "1.0.2";
    s.id = "c1";
    s.bundle = "/run/bundles/c1";
    s.status = ContainerStatus::running;
    s.pid = 4242;
    s.annotations = {{"org.example.key", "value"}, {"other", "x y"}};
    auto j = nlohmann::json::parse(s.to_json());
    EXPECT_EQ(j.at("ociVersion"), "1.0.2");
    EXPECT_EQ(j.at("id"), "c1");
    EXPECT_EQ(j.at("status"), "running");
    EXPECT_EQ(j.at("pid"), 4242);
    EXPECT_EQ(j.at("bundle"), "/run/bundles/c1");
    ASSERT_TRUE(j.contains("annotations"));
    EXPECT_EQ(j.at("annotations"),
              (nlohmann::json{{"org.example.key", "value"}, {"other", "x y"}}));
}

TEST(ContainerStateJson, StatusNamesAndStoppedPid) {
    ContainerState s;
    s.oci_version = "1.0.2";
    s.id = "c2";
    s.bundle = "/b";
    for (auto [status, name] : {std::pair{ContainerStatus::creating, "creating"},
                                {ContainerStatus::created, "created"},
                                {ContainerStatus::running, "running"},
                                {ContainerStatus::stopped, "stopped"},
                                {ContainerStatus::paused, "paused"}}) {
        s.status = status;
        EXPECT_EQ(nlohmann::json::parse(s.to_json()).at("status"), name);
        EXPECT_STREQ(status_name(status), name);
    }
    s.status = ContainerStatus::stopped;
    s.pid = 0;
    auto j = nlohmann::json::parse(s.to_json());
    EXPECT_EQ(j.at("pid"), 0);
    // annotations is optional in the spec; if present it must be an object.
    if (j.contains("annotations")) {
        EXPECT_TRUE(j.at("annotations").is_object());
    }
}

TEST(ContainerStateJson, EscapesStrings) {
    ContainerState s;
    s.oci_version = "1.0.2";
    s.id = "c3";
    s.bundle = "/path/with \"quotes\"\\and\nnewline";
    s.annotations = {{"k", "v\"1"}};
    auto j = nlohmann::json::parse(s.to_json());
    EXPECT_EQ(j.at("bundle"), "/path/with \"quotes\"\\and\nnewline");
    EXPECT_EQ(j.at("annotations").at("k"), "v\"1");
}

// A state root of its own, removed again.
class RuntimeRemove : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/skiff-container-test.XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        root_ = tmpl;
    }
    void TearDown() override { (void)fs::remove_all(root_); }
    std::string root_;
};

// runc's delete --force of a container that is gone exits 0; containerd's shim and podman's cleanup
// rely on that after a delete or a failed create.
TEST_F(RuntimeRemove, ForceOnAMissingContainerSucceeds) {
    Runtime rt(root_, false);
    EXPECT_TRUE(rt.remove("gone", true).ok());
    auto plain = rt.remove("gone", false);
    ASSERT_FALSE(plain.ok());
    EXPECT_EQ(plain.error().code(), ENOENT);
    EXPECT_NE(plain.error().message().find("gone"), std::string::npos);
}

TEST_F(RuntimeRemove, ForceStillRefusesABadId) {
    Runtime rt(root_, false);
    auto r = rt.remove("../escape", true);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), EINVAL);
}

}  // namespace
}  // namespace skiff::runtime
