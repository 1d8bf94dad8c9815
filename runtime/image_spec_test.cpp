// Unit tests for turning an image config and run options into a runtime spec.
#include "skiff/runtime/image_spec.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace fsys = std::filesystem;
using namespace skiff::runtime;

namespace {

class ImageSpec : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/skiff-image-spec.XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        rootfs_ = tmpl;
        fsys::create_directories(rootfs_ + "/etc");
        std::ofstream(rootfs_ + "/etc/passwd") << "root:x:0:0:root:/root:/bin/sh\n"
                                                  "app:x:1000:1000:app:/home/app:/bin/sh\n";
        std::ofstream(rootfs_ + "/etc/group") << "root:x:0:\napp:x:1000:\nwheel:x:10:app,root\n"
                                                 "audio:x:29:app\n";
    }
    void TearDown() override { fsys::remove_all(rootfs_); }

    Spec make(const ImageProcess& image, const RunOptions& o) {
        auto s = spec_for_image(image, o, rootfs_);
        EXPECT_TRUE(s.ok()) << s.error().what();
        return s.ok() ? *s : Spec{};
    }
    static bool has(const std::vector<std::string>& v, const std::string& x) {
        return std::find(v.begin(), v.end(), x) != v.end();
    }
    static const skiff::isolation::SeccompRule* rule_allowing(const Spec& s, const std::string& name) {
        for (const auto& r : s.linux->seccomp->syscalls)
            if (r.action == "SCMP_ACT_ALLOW" && r.args.empty() && has(r.names, name)) return &r;
        return nullptr;
    }

    std::string rootfs_;
};

TEST_F(ImageSpec, CommandFollowsDockersEntrypointAndCmdRules) {
    ImageProcess image;
    image.entrypoint = {"/entry"};
    image.cmd = {"--serve"};
    EXPECT_EQ(make(image, {}).process->args, (std::vector<std::string>{"/entry", "--serve"}));
    RunOptions o;
    o.command = {"--once"};
    EXPECT_EQ(make(image, o).process->args, (std::vector<std::string>{"/entry", "--once"}));
    RunOptions e;
    e.entrypoint = "/bin/sh";
    EXPECT_EQ(make(image, e).process->args, (std::vector<std::string>{"/bin/sh"}));
    e.command = {"-c", "true"};
    EXPECT_EQ(make(image, e).process->args, (std::vector<std::string>{"/bin/sh", "-c", "true"}));
    auto none = spec_for_image(ImageProcess{}, RunOptions{}, rootfs_);
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.error().message().find("no command"), std::string::npos);
}

TEST_F(ImageSpec, EnvironmentLayersImageThenCallerAndKeepsAPath) {
    ImageProcess image;
    image.cmd = {"sh"};
    image.env = {"A=image", "B=image"};
    RunOptions o;
    o.env = {"B=caller", "C=caller"};
    o.hostname = "web";
    auto env = make(image, o).process->env;
    EXPECT_TRUE(has(env, "A=image"));
    EXPECT_TRUE(has(env, "B=caller"));
    EXPECT_FALSE(has(env, "B=image"));
    EXPECT_TRUE(has(env, "C=caller"));
    EXPECT_TRUE(has(env, "HOSTNAME=web"));
    EXPECT_TRUE(has(env, "HOME=/root"));
    EXPECT_TRUE(std::any_of(env.begin(), env.end(), [](auto& e) { return e.rfind("PATH=", 0) == 0; }));
    o.env = {"NOEQUALS"};
    auto bad = spec_for_image(image, o, rootfs_);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message().find("NOEQUALS"), std::string::npos);
}

TEST_F(ImageSpec, UsersResolveInsideTheImage) {
    ImageProcess image;
    image.cmd = {"id"};
    image.user = "app";
    Spec s = make(image, {});
    EXPECT_EQ(s.process->user.uid, 1000u);
    EXPECT_EQ(s.process->user.gid, 1000u);
    EXPECT_EQ(s.process->user.additional_gids, (std::vector<uint32_t>{10, 29}));
    EXPECT_TRUE(has(s.process->env, "HOME=/home/app"));
    RunOptions o;
    o.user = "app:wheel";
    EXPECT_EQ(make(image, o).process->user.gid, 10u);
    o.user = "4242:4343";
    s = make(image, o);
    EXPECT_EQ(s.process->user.uid, 4242u);
    EXPECT_EQ(s.process->user.gid, 4343u);
    o.user = "nobody-here";
    auto missing = spec_for_image(image, o, rootfs_);
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().message().find("nobody-here"), std::string::npos);
}

TEST_F(ImageSpec, PasswdBehindASymlinkIsReadInsideTheRootfs) {
    // The image's /etc/passwd points at /real/passwd: that must be the image's file, not a host one.
    fsys::remove(rootfs_ + "/etc/passwd");
    fsys::create_directories(rootfs_ + "/real");
    std::ofstream(rootfs_ + "/real/passwd") << "inside:x:777:777::/:/bin/sh\n";
    fsys::create_symlink("/real/passwd", rootfs_ + "/etc/passwd");
    ImageProcess image;
    image.cmd = {"id"};
    image.user = "inside";
    EXPECT_EQ(make(image, {}).process->user.uid, 777u);
}

TEST_F(ImageSpec, CapabilitiesAndSeccompFollowAddAndDrop) {
    ImageProcess image;
    image.cmd = {"sh"};
    Spec s = make(image, {});
    EXPECT_EQ(s.process->capabilities->bounding.size(), 14u);
    EXPECT_EQ(rule_allowing(s, "mount"), nullptr);
    RunOptions o;
    o.cap_add = {"sys_admin"};
    o.cap_drop = {"NET_RAW", "CAP_CHOWN"};
    s = make(image, o);
    EXPECT_TRUE(has(s.process->capabilities->bounding, "CAP_SYS_ADMIN"));
    EXPECT_FALSE(has(s.process->capabilities->bounding, "CAP_NET_RAW"));
    EXPECT_FALSE(has(s.process->capabilities->effective, "CAP_CHOWN"));
    EXPECT_NE(rule_allowing(s, "mount"), nullptr);
    o = {};
    o.cap_drop = {"ALL"};
    o.cap_add = {"NET_BIND_SERVICE"};
    EXPECT_EQ(make(image, o).process->capabilities->bounding,
              (std::vector<std::string>{"CAP_NET_BIND_SERVICE"}));
    o.cap_add = {"CAP_NOPE"};
    auto bad = spec_for_image(image, o, rootfs_);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message().find("CAP_NOPE"), std::string::npos);
}

TEST_F(ImageSpec, ResourcesNetworkVolumesAndLabels) {
    ImageProcess image;
    image.cmd = {"sh"};
    image.labels = {{"org.example", "yes"}};
    image.stop_signal = "SIGQUIT";
    RunOptions o;
    o.memory_bytes = *parse_memory_size("64m");
    o.cpus = 0.5;
    o.pids_limit = 50;
    o.read_only = true;
    o.network = "host";
    o.volumes = {*parse_volume("/tmp:/data:ro")};
    Spec s = make(image, o);
    EXPECT_EQ(*s.linux->resources->memory->limit, 64 * 1024 * 1024);
    EXPECT_EQ(*s.linux->resources->cpu->quota, 50000);
    EXPECT_EQ(*s.linux->resources->cpu->period, 100000u);
    EXPECT_EQ(s.linux->resources->pids->limit, 50);
    EXPECT_TRUE(s.root_readonly);
    EXPECT_EQ(s.linux->find_namespace("network"), nullptr);
    EXPECT_NE(s.linux->find_namespace("pid"), nullptr);
    const Mount& v = s.mounts.back();
    EXPECT_EQ(v.destination, "/data");
    EXPECT_TRUE(has(v.options, "ro"));
    EXPECT_EQ(s.annotations.at("org.example"), "yes");
    EXPECT_EQ(s.annotations.at("org.opencontainers.image.stopSignal"), "SIGQUIT");
    o.network = "bridge";
    EXPECT_FALSE(spec_for_image(image, o, rootfs_).ok());
}

TEST(ImageSpecParse, MemorySizesAndVolumes) {
    EXPECT_EQ(*parse_memory_size("1024"), 1024);
    EXPECT_EQ(*parse_memory_size("512k"), 512 * 1024);
    EXPECT_EQ(*parse_memory_size("64M"), 64 * 1024 * 1024);
    EXPECT_EQ(*parse_memory_size("2g"), int64_t{2} << 30);
    for (const char* bad : {"", "m", "12x", "-5m", "99999999999999999g"}) {
        auto r = parse_memory_size(bad);
        EXPECT_FALSE(r.ok()) << bad;
    }
    auto v = parse_volume("/src:/dst");
    ASSERT_TRUE(v.ok());
    EXPECT_FALSE(v->read_only);
    for (const char* bad : {"/src", "rel:/dst", "/src:rel", "/a:/b:rx", "/a:/b:ro:x"}) {
        auto r = parse_volume(bad);
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_NE(r.error().message().find(bad), std::string::npos);
    }
}

}  // namespace
