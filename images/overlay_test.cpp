// Tests of root file systems from layers: overlay mounts (also with many layers) and the copy fallback.
#include "skiff/images/overlay.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "skiff/base/fs.hpp"

namespace fsys = std::filesystem;
using namespace skiff;
using namespace skiff::images;

namespace {

void write(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
}

std::string read(const std::string& path) {
    auto r = fs::read_file(path);
    return r ? *r : "<missing>";
}

class Layers : public ::testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root for whiteout devices and mounts";
        char tmpl[] = "/tmp/skiff-overlay-test.XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        // Layer 1, the base.
        std::string l1 = dir_ + "/snapshots/l1";
        fsys::create_directories(l1 + "/etc");
        fsys::create_directories(l1 + "/keep");
        fsys::create_directories(l1 + "/opaque");
        write(l1 + "/etc/a", "1");
        write(l1 + "/etc/b", "b");
        write(l1 + "/keep/x", "x");
        write(l1 + "/opaque/old", "old");
        write(l1 + "/hard1", "same");
        ASSERT_EQ(link((l1 + "/hard1").c_str(), (l1 + "/hard2").c_str()), 0);
        ASSERT_EQ(symlink("/etc/hostname", (l1 + "/link").c_str()), 0);
        ASSERT_EQ(chown((l1 + "/keep/x").c_str(), 1000, 1000), 0);
        ASSERT_EQ(chmod((l1 + "/keep/x").c_str(), 04750), 0);
        // Layer 2: replaces a, deletes b, makes opaque/ opaque with new content.
        std::string l2 = dir_ + "/snapshots/l2";
        fsys::create_directories(l2 + "/etc");
        fsys::create_directories(l2 + "/opaque");
        write(l2 + "/etc/a", "2");
        ASSERT_EQ(mknod((l2 + "/etc/b").c_str(), S_IFCHR | 0, makedev(0, 0)), 0);
        ASSERT_EQ(setxattr((l2 + "/opaque").c_str(), "trusted.overlay.opaque", "y", 1, 0), 0);
        write(l2 + "/opaque/new", "new");
        layers_.layers = {l1, l2};
        layers_.upper = dir_ + "/c/upper";
        layers_.work = dir_ + "/c/work";
        target_ = dir_ + "/c/rootfs";
        fsys::create_directories(target_);
    }
    void TearDown() override {
        if (dir_.empty()) return;
        (void)unmount_rootfs(target_);
        std::error_code ec;
        fsys::remove_all(dir_, ec);
    }

    // What a container would see, checked the same way for the mount and the copy.
    void expect_merged_view() {
        EXPECT_EQ(read(target_ + "/etc/a"), "2");
        EXPECT_FALSE(fs::exists(target_ + "/etc/b"));
        EXPECT_EQ(read(target_ + "/keep/x"), "x");
        EXPECT_EQ(read(target_ + "/opaque/new"), "new");
        EXPECT_FALSE(fs::exists(target_ + "/opaque/old"));
        char buf[64] = {};
        ASSERT_GT(readlink((target_ + "/link").c_str(), buf, sizeof buf - 1), 0);
        EXPECT_STREQ(buf, "/etc/hostname");
        struct stat x{}, h1{}, h2{};
        ASSERT_EQ(lstat((target_ + "/keep/x").c_str(), &x), 0);
        EXPECT_EQ(x.st_uid, 1000u);
        EXPECT_EQ(x.st_mode & 07777, 04750u);
        ASSERT_EQ(lstat((target_ + "/hard1").c_str(), &h1), 0);
        ASSERT_EQ(lstat((target_ + "/hard2").c_str(), &h2), 0);
        EXPECT_EQ(h1.st_ino, h2.st_ino);
    }

    std::string dir_, target_;
    RootfsLayers layers_;
};

TEST_F(Layers, OverlayMountMergesLayersWithWhiteoutsAndOpaqueDirs) {
    if (!overlay_supported()) GTEST_SKIP() << "no overlayfs in this kernel";
    auto r = mount_overlay(layers_, target_);
    ASSERT_TRUE(r.ok()) << r.error().what();
    expect_merged_view();
    // Writes land in the container's upper dir, never in a shared layer.
    write(target_ + "/etc/a", "changed");
    EXPECT_EQ(read(layers_.upper + "/etc/a"), "changed");
    EXPECT_EQ(read(layers_.layers[1] + "/etc/a"), "2");
    ASSERT_TRUE(unmount_rootfs(target_).ok());
    EXPECT_FALSE(fs::exists(target_ + "/etc"));
}

// A volatile upper: same view and writes, the option reaches the kernel (5.10+; this kernel has
// it), and overlayfs marks the work dir so the upper can't be mounted again by mistake.
TEST_F(Layers, VolatileUpperMountsTheSameView) {
    if (!overlay_supported()) GTEST_SKIP() << "no overlayfs in this kernel";
    layers_.volatile_upper = true;
    auto r = mount_overlay(layers_, target_);
    ASSERT_TRUE(r.ok()) << r.error().what();
    expect_merged_view();
    write(target_ + "/etc/a", "changed");
    EXPECT_EQ(read(layers_.upper + "/etc/a"), "changed");
    auto mountinfo = fs::read_file("/proc/self/mountinfo");
    ASSERT_TRUE(mountinfo.ok());
    bool found = false;
    for (size_t at = 0; (at = mountinfo->find(" " + target_ + " ", at)) != std::string::npos; ++at) {
        std::string line = mountinfo->substr(at, mountinfo->find('\n', at) - at);
        found = found || line.find("volatile") != std::string::npos;
    }
    EXPECT_TRUE(found) << "no volatile option on " << target_;
    ASSERT_TRUE(unmount_rootfs(target_).ok());
    EXPECT_TRUE(fs::exists(layers_.work + "/work/incompat/volatile"));
}

TEST_F(Layers, CopyFallbackGivesTheSameView) {
    auto r = copy_layers(layers_, target_);
    ASSERT_TRUE(r.ok()) << r.error().what();
    expect_merged_view();
}

TEST_F(Layers, CopyNeverFollowsALowerLayersSymlink) {
    // Layer 3 puts a directory where layer 1 had a symlink to /etc: the copy must replace the
    // link, not write through it into the host's /etc.
    std::string l3 = dir_ + "/snapshots/l3";
    std::string marker = "skiff-overlay-escape-" + std::to_string(getpid());
    fsys::create_directories(l3 + "/link");
    write(l3 + "/link/" + marker, "x");
    layers_.layers.push_back(l3);
    ASSERT_TRUE(copy_layers(layers_, target_).ok());
    EXPECT_FALSE(fs::exists("/etc/hostname/" + marker));
    EXPECT_FALSE(fs::exists("/etc/" + marker));
    EXPECT_EQ(read(target_ + "/link/" + marker), "x");
}

TEST_F(Layers, ManyLayersDoNotFitOneMountPageAndStillMount) {
    if (!overlay_supported()) GTEST_SKIP() << "no overlayfs in this kernel";
    std::vector<std::string> many;
    for (int i = 0; i < 80; ++i) {
        // 64 characters, like the snapshot directories named after diff ids.
        char name[80];
        snprintf(name, sizeof name, "%064d", i);
        std::string l = dir_ + "/snapshots/" + name;
        fsys::create_directories(l);
        write(l + "/layer", std::to_string(i));
        many.push_back(l);
    }
    layers_.layers = many;
    auto r = mount_overlay(layers_, target_);
    ASSERT_TRUE(r.ok()) << r.error().what();
    EXPECT_EQ(read(target_ + "/layer"), "79");
}

TEST_F(Layers, MountErrorsNameTheTarget) {
    auto r = mount_overlay(RootfsLayers{{}, layers_.upper, layers_.work}, target_);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find(target_), std::string::npos);
    layers_.layers = {dir_ + "/no-such-layer"};
    r = mount_overlay(layers_, target_);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find(target_), std::string::npos);
}

}  // namespace
