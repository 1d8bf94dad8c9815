// Tests for rootfs.hpp: mount option and propagation parsing, default devices, path resolution in a root.
#include "skiff/isolation/rootfs.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace skiff::isolation {
namespace {

namespace fs = std::filesystem;

MountFlags parse_ok(const std::vector<std::string>& options) {
    auto r = parse_mount_options(options);
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
    return r ? *r : MountFlags{};
}

TEST(ParseMountOptions, Empty) {
    MountFlags f = parse_ok({});
    EXPECT_EQ(f.flags, 0UL);
    EXPECT_EQ(f.clear, 0UL);
    EXPECT_EQ(f.propagation, 0UL);
    EXPECT_FALSE(f.bind);
    EXPECT_EQ(f.data, "");
}

TEST(ParseMountOptions, ReadOnlyAndReadWriteLastWins) {
    MountFlags ro = parse_ok({"rw", "ro"});
    EXPECT_EQ(ro.flags & MS_RDONLY, static_cast<unsigned long>(MS_RDONLY));
    EXPECT_EQ(ro.clear & MS_RDONLY, 0UL);

    MountFlags rw = parse_ok({"ro", "rw"});
    EXPECT_EQ(rw.flags & MS_RDONLY, 0UL);
    EXPECT_EQ(rw.clear & MS_RDONLY, static_cast<unsigned long>(MS_RDONLY));
    EXPECT_EQ(rw.data, "");
}

TEST(ParseMountOptions, SecurityFlags) {
    MountFlags f = parse_ok({"nosuid", "nodev", "noexec"});
    EXPECT_EQ(f.flags, static_cast<unsigned long>(MS_NOSUID | MS_NODEV | MS_NOEXEC));
    EXPECT_EQ(f.clear, 0UL);
    EXPECT_EQ(f.data, "");

    MountFlags g = parse_ok({"nosuid", "nodev", "noexec", "suid", "dev", "exec"});
    EXPECT_EQ(g.flags, 0UL);
    EXPECT_EQ(g.clear, static_cast<unsigned long>(MS_NOSUID | MS_NODEV | MS_NOEXEC));
}

TEST(ParseMountOptions, BindAndRbind) {
    MountFlags b = parse_ok({"bind"});
    EXPECT_TRUE(b.bind);
    EXPECT_EQ(b.flags & MS_REC, 0UL);
    EXPECT_EQ(b.data, "");

    MountFlags rb = parse_ok({"rbind", "ro"});
    EXPECT_TRUE(rb.bind);
    EXPECT_EQ(rb.flags, static_cast<unsigned long>(MS_REC | MS_RDONLY));
    EXPECT_EQ(rb.data, "");
}

TEST(ParseMountOptions, PropagationOptions) {
    EXPECT_EQ(parse_ok({"rbind", "rprivate"}).propagation,
              static_cast<unsigned long>(MS_PRIVATE | MS_REC));
    EXPECT_EQ(parse_ok({"shared"}).propagation, static_cast<unsigned long>(MS_SHARED));
    EXPECT_EQ(parse_ok({"rslave"}).propagation, static_cast<unsigned long>(MS_SLAVE | MS_REC));
    EXPECT_EQ(parse_ok({"unbindable"}).propagation, static_cast<unsigned long>(MS_UNBINDABLE));
    MountFlags f = parse_ok({"private"});
    EXPECT_EQ(f.flags, 0UL) << "propagation must not leak into the mount flags";
    EXPECT_EQ(f.data, "");
}

TEST(ParseMountOptions, DataOptionsJoinedWithCommas) {
    MountFlags f = parse_ok({"nosuid", "size=64k", "strictatime", "mode=755"});
    EXPECT_EQ(f.data, "size=64k,mode=755");
    EXPECT_EQ(f.flags, static_cast<unsigned long>(MS_NOSUID | MS_STRICTATIME));

    EXPECT_EQ(parse_ok({"newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}).data,
              "newinstance,ptmxmode=0666,mode=0620,gid=5");
    EXPECT_EQ(parse_ok({"mode=1777"}).data, "mode=1777");
}

TEST(ParseMountOptions, UnsupportedOptionsRefused) {
    for (const char* opt : {"tmpcopyup", "idmap"}) {
        auto r = parse_mount_options({"nosuid", opt});
        ASSERT_FALSE(r) << opt << " accepted";
        EXPECT_EQ(r.error().code(), EINVAL);
        EXPECT_NE(r.error().message().find(opt), std::string::npos) << r.error().message();
    }
}

TEST(ParsePropagation, AllNames) {
    struct Case {
        const char* name;
        unsigned long flags;
    };
    for (Case c : {Case{"private", MS_PRIVATE}, Case{"rprivate", MS_PRIVATE | MS_REC},
                   Case{"shared", MS_SHARED}, Case{"rshared", MS_SHARED | MS_REC},
                   Case{"slave", MS_SLAVE}, Case{"rslave", MS_SLAVE | MS_REC},
                   Case{"unbindable", MS_UNBINDABLE},
                   Case{"runbindable", MS_UNBINDABLE | MS_REC}}) {
        auto r = parse_propagation(c.name);
        ASSERT_TRUE(r) << c.name;
        EXPECT_EQ(*r, c.flags) << c.name;
    }
}

TEST(ParsePropagation, EmptyIsZero) {
    auto r = parse_propagation("");
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, 0UL);
}

TEST(ParsePropagation, UnknownNamed) {
    for (const char* bad : {"rsharedx", "PRIVATE", "recursive", " private"}) {
        auto r = parse_propagation(bad);
        ASSERT_FALSE(r) << bad << " accepted";
        EXPECT_EQ(r.error().code(), EINVAL);
        EXPECT_NE(r.error().message().find(bad), std::string::npos) << r.error().message();
    }
}

TEST(DefaultDevices, TheSixStandardNodes) {
    struct Want {
        const char* path;
        uint32_t major, minor;
    };
    const Want want[] = {{"/dev/null", 1, 3},   {"/dev/zero", 1, 5},    {"/dev/full", 1, 7},
                         {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0}};
    auto devices = default_devices();
    ASSERT_EQ(devices.size(), 6U);
    for (const auto& w : want) {
        bool found = false;
        for (const auto& d : devices) {
            if (d.path != w.path) continue;
            found = true;
            EXPECT_EQ(d.type, 'c') << w.path;
            EXPECT_EQ(d.major, w.major) << w.path;
            EXPECT_EQ(d.minor, w.minor) << w.path;
            EXPECT_EQ(d.mode, 0666U) << w.path;
            EXPECT_EQ(d.uid, 0U) << w.path;
            EXPECT_EQ(d.gid, 0U) << w.path;
        }
        EXPECT_TRUE(found) << w.path << " missing";
    }
}

// A scratch tree: OUTER/root is the root; OUTER itself is where an escape would land. Every test
// runs twice: with openat2(RESOLVE_IN_ROOT) and with the component walk used where openat2 is
// missing (kernels before 5.6, valgrind).
class InRoot : public ::testing::TestWithParam<bool> {
protected:
    void SetUp() override {
        set_open_in_root_walk(GetParam());
        char tmpl[] = "/tmp/skiff-rootfs-test.XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        outer_ = tmpl;
        root_ = outer_ / "root";
        fs::create_directory(root_);
        rootfd_ = open(root_.c_str(), O_DIRECTORY | O_CLOEXEC);
        ASSERT_GE(rootfd_, 0);
    }
    void TearDown() override {
        set_open_in_root_walk(false);
        if (rootfd_ >= 0) close(rootfd_);
        std::error_code ec;
        fs::remove_all(outer_, ec);
    }
    static bool is_dir(const fs::path& p) { return fs::is_directory(fs::symlink_status(p)); }
    static bool is_file(const fs::path& p) { return fs::is_regular_file(fs::symlink_status(p)); }
    // A name no host path has, so its absence outside the root proves nothing escaped.
    std::string unique(const char* base) const {
        return std::string(base) + "-" + outer_.filename().string();
    }

    fs::path outer_, root_;
    int rootfd_ = -1;
};

TEST_P(InRoot, CreatesNestedDirectories) {
    ASSERT_EQ(make_path_in_root(rootfd_, "/a/b/c", false), 0) << strerror(errno);
    EXPECT_TRUE(is_dir(root_ / "a/b/c"));
    // Again: existing paths are fine.
    ASSERT_EQ(make_path_in_root(rootfd_, "/a/b/c/", false), 0) << strerror(errno);
    EXPECT_TRUE(is_dir(root_ / "a/b/c"));
}

TEST_P(InRoot, CreatesAFile) {
    ASSERT_EQ(make_path_in_root(rootfd_, "/dev/console", true), 0) << strerror(errno);
    EXPECT_TRUE(is_dir(root_ / "dev"));
    EXPECT_TRUE(is_file(root_ / "dev/console"));
    EXPECT_EQ(fs::file_size(root_ / "dev/console"), 0U);
}

TEST_P(InRoot, OpensExistingPath) {
    ASSERT_EQ(make_path_in_root(rootfd_, "/x/y", true), 0) << strerror(errno);
    int fd = open_in_root(rootfd_, "/x/y", O_RDONLY);
    ASSERT_GE(fd, 0) << strerror(errno);
    struct stat st{};
    ASSERT_EQ(fstat(fd, &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_NE(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0) << "fd must be close-on-exec";
    close(fd);
    // "/" is the root itself.
    fd = open_in_root(rootfd_, "/", O_PATH | O_DIRECTORY);
    ASSERT_GE(fd, 0) << strerror(errno);
    struct stat a{}, b{};
    ASSERT_EQ(fstat(fd, &a), 0);
    ASSERT_EQ(fstat(rootfd_, &b), 0);
    EXPECT_EQ(a.st_ino, b.st_ino);
    close(fd);
}

TEST_P(InRoot, AbsoluteSymlinkResolvesInsideTheRoot) {
    // etc -> /etc inside the root must mean ROOT/etc, never the host's /etc.
    const std::string name = unique("skiff-made");
    fs::create_directory(root_ / "etc");
    fs::create_symlink("/etc", root_ / "evil");
    ASSERT_EQ(make_path_in_root(rootfd_, ("/evil/" + name + "/sub").c_str(), false), 0)
        << strerror(errno);
    EXPECT_TRUE(is_dir(root_ / "etc" / name / "sub"));
    EXPECT_FALSE(fs::exists(fs::path("/etc") / name)) << "created in the host's /etc";

    ASSERT_EQ(make_path_in_root(rootfd_, ("/evil/" + name + "/file").c_str(), true), 0)
        << strerror(errno);
    EXPECT_TRUE(is_file(root_ / "etc" / name / "file"));

    // open_in_root follows the link inside too: ROOT/etc/passwd-like file, not the host's.
    std::FILE* f = std::fopen((root_ / "etc/hostname").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("inside\n", f);
    std::fclose(f);
    int fd = open_in_root(rootfd_, "/evil/hostname", O_RDONLY);
    ASSERT_GE(fd, 0) << strerror(errno);
    char buf[32] = {};
    EXPECT_EQ(read(fd, buf, sizeof buf - 1), 7);
    EXPECT_STREQ(buf, "inside\n");
    close(fd);
}

TEST_P(InRoot, DanglingAbsoluteSymlinkNeverReachesTheHost) {
    // link -> /NAME (missing everywhere): whatever happens, nothing appears at the host's /NAME.
    const std::string name = unique("/skiff-dangling");
    fs::create_symlink(name, root_ / "dir-link");
    fs::create_symlink(name + "-file", root_ / "file-link");
    (void)make_path_in_root(rootfd_, "/dir-link/sub", false);
    (void)make_path_in_root(rootfd_, "/file-link", true);
    EXPECT_FALSE(fs::exists(fs::symlink_status(name)));
    EXPECT_FALSE(fs::exists(fs::symlink_status(name + "-file")));
    EXPECT_FALSE(fs::exists(fs::symlink_status(name + "/sub")));
}

TEST_P(InRoot, DanglingSymlinkTargetIsMadeInsideTheRoot) {
    // A mount point behind a link to a missing path: what the link names is made inside the
    // root (as runc's securejoin does), whether the link is absolute or climbs with "..".
    const std::string name = unique("skiff-target");
    fs::create_symlink("/" + name + "/sub", root_ / "abs-link");
    fs::create_symlink("../../../../" + name + "-rel", root_ / "rel-link");
    fs::create_symlink("/" + name + "-file", root_ / "file-link");
    ASSERT_EQ(make_path_in_root(rootfd_, "/abs-link", false), 0) << strerror(errno);
    ASSERT_EQ(make_path_in_root(rootfd_, "/rel-link/deeper", false), 0) << strerror(errno);
    ASSERT_EQ(make_path_in_root(rootfd_, "/file-link", true), 0) << strerror(errno);
    EXPECT_TRUE(is_dir(root_ / name / "sub"));
    EXPECT_TRUE(is_dir(root_ / (name + "-rel") / "deeper"));
    EXPECT_TRUE(is_file(root_ / (name + "-file")));
    EXPECT_TRUE(fs::is_symlink(root_ / "abs-link")) << "the link itself stays";
    EXPECT_FALSE(fs::exists(fs::symlink_status("/" + name)));
    EXPECT_FALSE(fs::exists(fs::symlink_status(outer_ / (name + "-rel"))));
    EXPECT_FALSE(fs::exists(fs::symlink_status("/" + name + "-file")));
    // And the link now resolves to what was made.
    int fd = open_in_root(rootfd_, "/abs-link", O_PATH | O_DIRECTORY);
    EXPECT_GE(fd, 0) << strerror(errno);
    if (fd >= 0) close(fd);
}

TEST_P(InRoot, SymlinkLoopIsELOOP) {
    fs::create_symlink("/b", root_ / "a");
    fs::create_symlink("/a", root_ / "b");
    errno = 0;
    EXPECT_NE(make_path_in_root(rootfd_, "/a/x", false), 0);
    EXPECT_EQ(errno, ELOOP);
}

TEST_P(InRoot, DotDotSymlinkCannotEscape) {
    fs::create_symlink("../../..", root_ / "up");
    ASSERT_EQ(make_path_in_root(rootfd_, "/up/escaped/deeper", false), 0) << strerror(errno);
    EXPECT_TRUE(is_dir(root_ / "escaped/deeper")) << "'..' at the root must stay at the root";
    EXPECT_FALSE(fs::exists(outer_ / "escaped"));
    EXPECT_FALSE(fs::exists(fs::path("/escaped/deeper")));

    ASSERT_EQ(make_path_in_root(rootfd_, "/../../outside", false), 0) << strerror(errno);
    EXPECT_TRUE(is_dir(root_ / "outside"));
    EXPECT_FALSE(fs::exists(outer_ / "outside"));

    // A file in OUTER must not be reachable through the link.
    std::FILE* f = std::fopen((outer_ / "secret").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
    errno = 0;
    EXPECT_LT(open_in_root(rootfd_, "/up/secret", O_RDONLY), 0);
    EXPECT_EQ(errno, ENOENT);
    EXPECT_LT(open_in_root(rootfd_, "/../secret", O_RDONLY), 0);
    EXPECT_EQ(errno, ENOENT);
}

TEST_P(InRoot, MissingPathIsENOENT) {
    errno = 0;
    EXPECT_EQ(open_in_root(rootfd_, "/no/such/path", O_RDONLY), -1);
    EXPECT_EQ(errno, ENOENT);
    errno = 0;
    EXPECT_EQ(open_in_root(rootfd_, "/missing", O_PATH), -1);
    EXPECT_EQ(errno, ENOENT);
}

TEST_P(InRoot, FileInPlaceOfDirectoryFails) {
    ASSERT_EQ(make_path_in_root(rootfd_, "/f", true), 0) << strerror(errno);
    errno = 0;
    EXPECT_NE(make_path_in_root(rootfd_, "/f/sub", false), 0);
    EXPECT_EQ(errno, ENOTDIR);
}

INSTANTIATE_TEST_SUITE_P(Resolvers, InRoot, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "walk" : "openat2"; });

}  // namespace
}  // namespace skiff::isolation
