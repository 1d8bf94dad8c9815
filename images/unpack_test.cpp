// Tests for layer unpacking: every entry kind, whiteouts, digests, and malicious layers.
#include "skiff/images/unpack.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "skiff/base/fs.hpp"
#include "skiff/base/unique_fd.hpp"
#include "test_files.hpp"

namespace skiff::images {
namespace {

using namespace test_files;

constexpr time_t kMtime = 1700000000;

struct Entry {
    std::string path;
    mode_t type = AE_IFREG;
    mode_t perm = 0644;
    std::string data;
    std::string symlink;
    std::string hardlink;
    dev_t rdev = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    time_t mtime = kMtime;
    long mtime_nsec = 0;
    std::vector<std::pair<std::string, std::string>> xattrs;
};

// Builds tar streams in memory with libarchive's writer, as image builders produce them.
class TarBuilder {
  public:
    explicit TarBuilder(bool ustar = false) : a_(archive_write_new()) {
        if (ustar)
            archive_write_set_format_ustar(a_);
        else
            archive_write_set_format_pax(a_);
        archive_write_open(a_, &out_, nullptr, append_to_string, nullptr);
    }
    ~TarBuilder() { archive_write_free(a_); }

    TarBuilder& add(const Entry& e) {
        archive_entry* ae = archive_entry_new();
        archive_entry_set_pathname(ae, e.path.c_str());
        archive_entry_set_filetype(ae, e.type);
        archive_entry_set_perm(ae, e.perm);
        archive_entry_set_uid(ae, e.uid);
        archive_entry_set_gid(ae, e.gid);
        archive_entry_set_mtime(ae, e.mtime, e.mtime_nsec);
        if (!e.symlink.empty()) archive_entry_set_symlink(ae, e.symlink.c_str());
        if (!e.hardlink.empty()) archive_entry_set_hardlink(ae, e.hardlink.c_str());
        if (e.type == AE_IFCHR || e.type == AE_IFBLK) archive_entry_set_rdev(ae, e.rdev);
        for (const auto& [k, v] : e.xattrs)
            archive_entry_xattr_add_entry(ae, k.c_str(), v.data(), v.size());
        archive_entry_set_size(ae, e.type == AE_IFREG && e.hardlink.empty()
                                       ? static_cast<la_int64_t>(e.data.size())
                                       : 0);
        EXPECT_EQ(archive_write_header(a_, ae), ARCHIVE_OK)
            << e.path << ": " << archive_error_string(a_);
        if (!e.data.empty()) archive_write_data(a_, e.data.data(), e.data.size());
        archive_entry_free(ae);
        return *this;
    }
    TarBuilder& file(const std::string& path, const std::string& data, mode_t perm = 0644) {
        return add({.path = path, .perm = perm, .data = data});
    }
    TarBuilder& dir(const std::string& path, mode_t perm = 0755) {
        return add({.path = path, .type = AE_IFDIR, .perm = perm});
    }
    TarBuilder& symlink(const std::string& path, const std::string& target) {
        return add({.path = path, .type = AE_IFLNK, .perm = 0777, .symlink = target});
    }
    TarBuilder& hardlink(const std::string& path, const std::string& target) {
        return add({.path = path, .hardlink = target});
    }
    std::string finish() {
        archive_write_close(a_);
        return out_;
    }

  private:
    archive* a_;
    std::string out_;
};


struct stat lstat_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path << ": " << strerror(errno);
    return st;
}

std::string xattr_of(const std::string& path, const char* name) {
    char buf[256];
    ssize_t n = ::lgetxattr(path.c_str(), name, buf, sizeof buf);
    return n < 0 ? std::string("<") + strerror(errno) + ">" : std::string(buf, n);
}

bool lexists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

std::set<std::string> list_dir(const std::string& path) {
    std::set<std::string> names;
    if (DIR* d = ::opendir(path.c_str())) {
        while (dirent* e = ::readdir(d))
            if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, ".."))
                names.insert(e->d_name);
        ::closedir(d);
    }
    return names;
}

bool is_root() {
    return ::geteuid() == 0;
}

#define SKIP_UNLESS_ROOT() \
    if (!is_root()) GTEST_SKIP() << "needs root (owners, devices, trusted.* xattrs)"

class UnpackTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/skiff-unpack-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        base_ = tmpl;
        dest_ = base_ + "/dest";
        sentinel_ = base_ + "/sentinel";
        secret_ = sentinel_ + "/secret";
        ASSERT_EQ(::mkdir(dest_.c_str(), 0755), 0);
        ASSERT_EQ(::mkdir(sentinel_.c_str(), 0755), 0);
        ASSERT_TRUE(fs::write_file(secret_, "secret").ok());
    }
    void TearDown() override {
        if (!mounted_.empty()) ::umount2(mounted_.c_str(), MNT_DETACH);
        EXPECT_TRUE(fs::remove_all(base_).ok());
    }

    Result<UnpackStats> unpack(const std::string& blob, const UnpackOptions& options = {},
                               const std::string& dest = "") {
        UniqueFd fd(::memfd_create("layer", MFD_CLOEXEC));
        EXPECT_TRUE(fd.valid());
        EXPECT_EQ(::write(fd.get(), blob.data(), blob.size()), static_cast<ssize_t>(blob.size()));
        ::lseek(fd.get(), 0, SEEK_SET);
        return unpack_layer(fd.get(), dest.empty() ? dest_ : dest, options);
    }
    UnpackOptions in_place() {
        UnpackOptions o;
        o.apply_whiteouts_in_place = true;
        return o;
    }
    std::string in_dest(const std::string& rel) const { return dest_ + "/" + rel; }

    // Nothing next to dest changed: the sentinel holds exactly its one file, unchanged and
    // unlinked-to, and dest's parent holds only dest and the sentinel.
    void expect_nothing_outside() {
        EXPECT_EQ(list_dir(base_), (std::set<std::string>{"dest", "sentinel"}));
        EXPECT_EQ(list_dir(sentinel_), (std::set<std::string>{"secret"}));
        auto content = fs::read_file(secret_);
        ASSERT_TRUE(content.ok());
        EXPECT_EQ(*content, "secret");
        EXPECT_EQ(lstat_of(secret_).st_nlink, 1u);
        EXPECT_EQ(lstat_of(sentinel_).st_mode & 07777, 0755u);
    }
    void expect_refused(const std::string& blob, const std::string& what,
                        const UnpackOptions& options = {}) {
        auto r = unpack(blob, options);
        ASSERT_FALSE(r.ok()) << "unpacked a malicious layer; expected: " << what;
        EXPECT_NE(r.error().what().find(what), std::string::npos) << r.error().what();
        expect_nothing_outside();
    }

    std::string base_, dest_, sentinel_, secret_, mounted_;
};

TEST_F(UnpackTest, RegularFilesKeepContentModesOwnersAndTimes) {
    SKIP_UNLESS_ROOT();
    std::string blob = TarBuilder()
                           .dir("./")
                           .add({.path = "bin/",
                                 .type = AE_IFDIR,
                                 .perm = 0750,
                                 .uid = 5,
                                 .gid = 6,
                                 .mtime = 1600000000})
                           .add({.path = "bin/su",
                                 .perm = 04755,
                                 .data = "#!setuid",
                                 .uid = 1000,
                                 .gid = 1001,
                                 .mtime = 1500000000,
                                 .mtime_nsec = 123456789})
                           .add({.path = "bin/wall", .perm = 02711, .data = "x", .gid = 5})
                           .add({.path = "tmp/", .type = AE_IFDIR, .perm = 01777})
                           .file("deep/missing/parents/f", "content")
                           .add({.path = "ro/", .type = AE_IFDIR, .perm = 0555})
                           .file("ro/inside", "written before ro's mode")
                           .finish();
    auto r = unpack(compress(blob, Compression::gzip));
    ASSERT_TRUE(r.ok()) << r.error().what();
    EXPECT_EQ(r->entries, 8u);
    EXPECT_EQ(r->compression, Compression::gzip);

    auto su = lstat_of(in_dest("bin/su"));
    EXPECT_TRUE(S_ISREG(su.st_mode));
    EXPECT_EQ(su.st_mode & 07777, 04755u);
    EXPECT_EQ(su.st_uid, 1000u);
    EXPECT_EQ(su.st_gid, 1001u);
    EXPECT_EQ(su.st_mtim.tv_sec, 1500000000);
    EXPECT_EQ(su.st_mtim.tv_nsec, 123456789);
    EXPECT_EQ(*fs::read_file(in_dest("bin/su")), "#!setuid");
    EXPECT_EQ(lstat_of(in_dest("bin/wall")).st_mode & 07777, 02711u);
    EXPECT_EQ(lstat_of(in_dest("bin/wall")).st_gid, 5u);

    // Directory metadata lands after the directory's contents, so mtime and mode survive.
    auto bin = lstat_of(in_dest("bin"));
    EXPECT_EQ(bin.st_mode & 07777, 0750u);
    EXPECT_EQ(bin.st_uid, 5u);
    EXPECT_EQ(bin.st_gid, 6u);
    EXPECT_EQ(bin.st_mtim.tv_sec, 1600000000);
    EXPECT_EQ(lstat_of(in_dest("tmp")).st_mode & 07777, 01777u);
    EXPECT_EQ(lstat_of(in_dest("ro")).st_mode & 07777, 0555u);
    EXPECT_EQ(*fs::read_file(in_dest("ro/inside")), "written before ro's mode");
    // Missing parents are made 0755; the root entry "./" sets the layer root's metadata.
    EXPECT_EQ(lstat_of(in_dest("deep/missing")).st_mode & 07777, 0755u);
    EXPECT_EQ(*fs::read_file(in_dest("deep/missing/parents/f")), "content");
    EXPECT_EQ(lstat_of(dest_).st_mtim.tv_sec, kMtime);
    expect_nothing_outside();
}

TEST_F(UnpackTest, SymlinksAreStoredVerbatimAndHardLinksShareTheInode) {
    std::string blob = TarBuilder()
                           .symlink("abs", sentinel_ + "/secret")
                           .symlink("rel", "../../x/y")
                           .file("f", "data", 0600)
                           .hardlink("g", "f")
                           .hardlink("dir/h", "./f")
                           .symlink("s", "f")
                           .hardlink("s2", "s")
                           .finish();
    UnpackOptions o;
    o.set_owners = is_root();
    auto r = unpack(blob, o);
    ASSERT_TRUE(r.ok()) << r.error().what();
    char buf[PATH_MAX];
    ssize_t n = ::readlink(in_dest("abs").c_str(), buf, sizeof buf);
    EXPECT_EQ(std::string(buf, n > 0 ? n : 0), sentinel_ + "/secret");
    n = ::readlink(in_dest("rel").c_str(), buf, sizeof buf);
    EXPECT_EQ(std::string(buf, n > 0 ? n : 0), "../../x/y");
    EXPECT_EQ(lstat_of(in_dest("abs")).st_mtim.tv_sec, kMtime);
    auto f = lstat_of(in_dest("f"));
    EXPECT_EQ(f.st_nlink, 3u);
    EXPECT_EQ(lstat_of(in_dest("g")).st_ino, f.st_ino);
    EXPECT_EQ(lstat_of(in_dest("dir/h")).st_ino, f.st_ino);
    // A hard link to an in-layer symlink links the symlink itself.
    EXPECT_TRUE(S_ISLNK(lstat_of(in_dest("s2")).st_mode));
    EXPECT_EQ(lstat_of(in_dest("s2")).st_ino, lstat_of(in_dest("s")).st_ino);
    expect_nothing_outside();
}

TEST_F(UnpackTest, DevicesAndFifos) {
    SKIP_UNLESS_ROOT();
    std::string blob =
        TarBuilder()
            .add({.path = "dev/null", .type = AE_IFCHR, .perm = 0666, .rdev = makedev(1, 3)})
            .add({.path = "dev/loop9",
                  .type = AE_IFBLK,
                  .perm = 0660,
                  .rdev = makedev(7, 9),
                  .gid = 6})
            .add({.path = "run/fifo", .type = AE_IFIFO, .perm = 0620, .uid = 3})
            .finish();
    auto r = unpack(compress(blob, Compression::zstd));
    ASSERT_TRUE(r.ok()) << r.error().what();
    auto null = lstat_of(in_dest("dev/null"));
    EXPECT_TRUE(S_ISCHR(null.st_mode));
    EXPECT_EQ(null.st_rdev, makedev(1, 3));
    EXPECT_EQ(null.st_mode & 07777, 0666u);  // not narrowed by the umask
    auto loop = lstat_of(in_dest("dev/loop9"));
    EXPECT_TRUE(S_ISBLK(loop.st_mode));
    EXPECT_EQ(loop.st_rdev, makedev(7, 9));
    EXPECT_EQ(loop.st_gid, 6u);
    auto fifo = lstat_of(in_dest("run/fifo"));
    EXPECT_TRUE(S_ISFIFO(fifo.st_mode));
    EXPECT_EQ(fifo.st_mode & 07777, 0620u);
    EXPECT_EQ(fifo.st_uid, 3u);
    EXPECT_EQ(fifo.st_mtim.tv_sec, kMtime);
}

TEST_F(UnpackTest, XattrsAndFileCapabilities) {
    SKIP_UNLESS_ROOT();
    vfs_cap_data cap{};
    cap.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE;
    cap.data[0].permitted = 1u << CAP_NET_BIND_SERVICE;
    std::string capbytes(reinterpret_cast<const char*>(&cap), XATTR_CAPS_SZ_2);
    std::string blob =
        TarBuilder()
            .add({.path = "ping",
                  .perm = 0755,
                  .data = "elf",
                  .uid = 1,
                  .gid = 1,
                  .xattrs = {{"security.capability", capbytes}, {"user.note", "hi"}}})
            .add({.path = "d/", .type = AE_IFDIR, .xattrs = {{"trusted.x", "dir"}}})
            .add({.path = "d/l",
                  .type = AE_IFLNK,
                  .symlink = "nowhere",
                  .xattrs = {{"trusted.onlink", "1"}}})
            .add({.path = "evil",
                  .data = "x",
                  .xattrs = {{"trusted.overlay.redirect", "/elsewhere"}}})
            .finish();
    auto r = unpack(blob);
    ASSERT_TRUE(r.ok()) << r.error().what();
    // Set after chown and the data write, both of which would drop it.
    EXPECT_EQ(xattr_of(in_dest("ping"), "security.capability"), capbytes);
    EXPECT_EQ(xattr_of(in_dest("ping"), "user.note"), "hi");
    EXPECT_EQ(lstat_of(in_dest("ping")).st_uid, 1u);
    EXPECT_EQ(xattr_of(in_dest("d"), "trusted.x"), "dir");
    EXPECT_EQ(xattr_of(in_dest("d/l"), "trusted.onlink"), "1");
    // overlayfs's own attributes never come from layer content.
    EXPECT_EQ(xattr_of(in_dest("evil"), "trusted.overlay.redirect"), "<No data available>");
    EXPECT_EQ(r->skipped_xattrs, 1u);
}

TEST_F(UnpackTest, WhiteoutsBecomeOverlayWhiteouts) {
    SKIP_UNLESS_ROOT();
    std::string blob = TarBuilder()
                           .file(".wh.gone", "")
                           .dir("etc/")
                           .file("etc/.wh.passwd", "")
                           .file("opaque/.wh..wh..opq", "")
                           .file("opaque/kept", "k")
                           .file(".wh..wh.plnk", "")
                           .finish();
    auto r = unpack(blob);
    ASSERT_TRUE(r.ok()) << r.error().what();
    for (const char* p : {"gone", "etc/passwd"}) {
        auto st = lstat_of(in_dest(p));
        EXPECT_TRUE(S_ISCHR(st.st_mode)) << p;
        EXPECT_EQ(st.st_rdev, makedev(0, 0)) << p;
    }
    EXPECT_FALSE(lexists(in_dest(".wh.gone")));
    EXPECT_EQ(xattr_of(in_dest("opaque"), "trusted.overlay.opaque"), "y");
    EXPECT_EQ(*fs::read_file(in_dest("opaque/kept")), "k");
    EXPECT_FALSE(lexists(in_dest(".wh..wh.plnk")));
    EXPECT_EQ(list_dir(dest_), (std::set<std::string>{"gone", "etc", "opaque"}));
    EXPECT_EQ(r->whiteouts, 4u);
}

TEST_F(UnpackTest, InPlaceWhiteoutsDeleteLowerContentOnly) {
    std::string lower = TarBuilder()
                            .file("a/x", "1")
                            .file("a/sub/y", "2")
                            .file("keep", "3")
                            .file("d/old", "4")
                            .file("d/sub/older", "5")
                            .file("d/sub/kept-by-upper", "lower")
                            .symlink("out", sentinel_)
                            .finish();
    UnpackOptions o = in_place();
    o.set_owners = is_root();
    ASSERT_TRUE(unpack(lower, o).ok());
    std::string upper = TarBuilder()
                            .file(".wh.a", "")
                            .file("d/new", "6")
                            .file("d/.wh..wh..opq", "")
                            .file("d/sub/kept-by-upper", "upper")
                            .file("d/sub/newer", "7")
                            .file(".wh.out", "")
                            .file(".wh.never-existed", "")
                            .file("again", "8")
                            .file(".wh.again", "")  // same layer: not deleted
                            .finish();
    auto r = unpack(compress(upper, Compression::gzip), o);
    ASSERT_TRUE(r.ok()) << r.error().what();
    EXPECT_FALSE(lexists(in_dest("a")));
    EXPECT_FALSE(lexists(in_dest("out")));
    EXPECT_EQ(*fs::read_file(in_dest("keep")), "3");
    EXPECT_EQ(list_dir(in_dest("d")), (std::set<std::string>{"new", "sub"}));
    EXPECT_EQ(list_dir(in_dest("d/sub")), (std::set<std::string>{"kept-by-upper", "newer"}));
    EXPECT_EQ(*fs::read_file(in_dest("d/sub/kept-by-upper")), "upper");
    EXPECT_EQ(*fs::read_file(in_dest("again")), "8");
    EXPECT_EQ(r->whiteouts, 5u);
    // No whiteout devices or markers in a flat root.
    EXPECT_EQ(list_dir(dest_), (std::set<std::string>{"keep", "d", "again"}));
    expect_nothing_outside();
}

TEST_F(UnpackTest, DiffIdIsSha256OfTheUncompressedTar) {
    std::string tar = TarBuilder().file("a", std::string(100000, 'a')).file("b", "b").finish();
    // libarchive pads to 10240-byte blocks: the padding after the end marker counts too.
    ASSERT_EQ(tar.size() % 10240, 0u);
    Digest want = sha256_of(tar);
    for (Compression c : {Compression::none, Compression::gzip, Compression::zstd}) {
        SCOPED_TRACE(std::string(compression_name(c)));
        ASSERT_TRUE(fs::remove_all(dest_).ok());
        ASSERT_EQ(::mkdir(dest_.c_str(), 0755), 0);
        std::string blob = compress(tar, c);
        UnpackOptions o;
        o.set_owners = is_root();
        auto r = unpack(blob, o);
        ASSERT_TRUE(r.ok()) << r.error().what();
        EXPECT_EQ(r->compression, c);
        EXPECT_EQ(r->diff_id, want);
        EXPECT_EQ(r->tar_bytes, tar.size());
        EXPECT_EQ(r->blob_digest, sha256_of(blob));
        EXPECT_EQ(r->blob_bytes, blob.size());
        EXPECT_EQ(r->bytes, 100001u);
        EXPECT_EQ(*fs::read_file(in_dest("a")), std::string(100000, 'a'));
    }
}

TEST_F(UnpackTest, MediaTypeMustMatchTheBlob) {
    std::string tar = TarBuilder().file("a", "a").finish();
    UnpackOptions o;
    o.set_owners = is_root();
    o.media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
    ASSERT_TRUE(unpack(compress(tar, Compression::gzip), o).ok());
    o.media_type = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    ASSERT_TRUE(fs::remove_all(in_dest("a")).ok());
    ASSERT_TRUE(unpack(compress(tar, Compression::gzip), o).ok());

    o.media_type = "application/vnd.oci.image.layer.v1.tar+zstd";
    auto r = unpack(compress(tar, Compression::gzip), o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message(),
              "layer blob is gzip but its media type "
              "\"application/vnd.oci.image.layer.v1.tar+zstd\" says zstd");
    o.media_type = "application/vnd.oci.image.layer.v1.tar";
    EXPECT_FALSE(unpack(compress(tar, Compression::zstd), o).ok());
    o.media_type = "application/vnd.oci.image.layer.v1.tar+lz4";
    r = unpack(tar, o);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("unsupported layer media type"), std::string::npos);

    r =
        unpack(std::string("\xfd"
                           "7zXZ\0\0garbage",
                           13));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("xz-compressed"), std::string::npos);
    r = unpack("");
    ASSERT_FALSE(r.ok());
    r = unpack(compress(tar, Compression::gzip).substr(0, 20));  // truncated gzip
    ASSERT_FALSE(r.ok());
    r = unpack(std::string(700, 'x'));  // not a tar
    ASSERT_FALSE(r.ok());
}

TEST_F(UnpackTest, DuplicateEntriesReplaceEarlierOnes) {
    UnpackOptions o;
    o.set_owners = is_root();
    std::string blob = TarBuilder()
                           .file("f", "first")
                           .file("f", "second")
                           .dir("d/")
                           .file("d/x", "x")
                           .dir("d/")  // dir on dir keeps the content
                           .symlink("s", sentinel_ + "/secret")
                           .file("s", "replaces the symlink, not its target")
                           .dir("e/")
                           .symlink("e", "f")  // an empty dir can be replaced
                           .finish();
    auto r = unpack(blob, o);
    ASSERT_TRUE(r.ok()) << r.error().what();
    EXPECT_EQ(*fs::read_file(in_dest("f")), "second");
    EXPECT_EQ(*fs::read_file(in_dest("d/x")), "x");
    EXPECT_TRUE(S_ISREG(lstat_of(in_dest("s")).st_mode));
    EXPECT_TRUE(S_ISLNK(lstat_of(in_dest("e")).st_mode));
    expect_nothing_outside();

    ASSERT_TRUE(fs::remove_all(dest_).ok());
    ASSERT_EQ(::mkdir(dest_.c_str(), 0755), 0);
    blob = TarBuilder().file("d/x", "x").file("d", "not across a directory with content").finish();
    r = unpack(blob, o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message(),
              "layer entry \"d\": replaces a non-empty directory of the same layer");
}

TEST_F(UnpackTest, AbsolutePathsAreStrippedIntoTheLayer) {
    UnpackOptions o;
    o.set_owners = is_root();
    std::string blob = TarBuilder().file(sentinel_ + "/abs", "inside").finish();
    auto r = unpack(blob, o);
    ASSERT_TRUE(r.ok()) << r.error().what();
    EXPECT_FALSE(lexists(sentinel_ + "/abs"));
    EXPECT_EQ(*fs::read_file(dest_ + sentinel_ + "/abs"), "inside");
    expect_nothing_outside();
}

TEST_F(UnpackTest, MaliciousDotDotTraversalIsRefused) {
    expect_refused(TarBuilder().file("../sentinel/pwned", "x").finish(),
                   "layer entry \"../sentinel/pwned\": escapes the layer");
    expect_refused(TarBuilder().file("a/../../sentinel/secret", "x").finish(), "escapes the layer");
    expect_refused(TarBuilder().dir("../../").finish(), "escapes the layer");
    expect_refused(TarBuilder().file("/../sentinel/pwned", "x").finish(), "escapes the layer");
}

TEST_F(UnpackTest, MaliciousWriteThroughSymlinkIsRefused) {
    expect_refused(TarBuilder().symlink("link", sentinel_).file("link/pwned", "x").finish(),
                   "layer entry \"link/pwned\": path goes through a symlink");
    ASSERT_TRUE(fs::remove_all(in_dest("link")).ok());
    expect_refused(TarBuilder().symlink("link", "../sentinel").file("link/secret", "x").finish(),
                   "path goes through a symlink");
    ASSERT_TRUE(fs::remove_all(in_dest("link")).ok());
    expect_refused(
        TarBuilder().symlink("a", "b").symlink("b", "../sentinel").dir("a/sub/").finish(),
        "path goes through a symlink");
}

TEST_F(UnpackTest, MaliciousHardLinksAreRefused) {
    // Absolute: stripped to a path that no entry of this layer made.
    expect_refused(TarBuilder().hardlink("h", secret_).finish(),
                   "is not a file extracted earlier in this layer");
    expect_refused(TarBuilder().hardlink("h", "../sentinel/secret").finish(), "escapes the layer");
    ASSERT_TRUE(fs::remove_all(dest_).ok());
    ASSERT_EQ(::mkdir(dest_.c_str(), 0755), 0);
    expect_refused(TarBuilder()
                       .symlink("s", secret_)
                       .hardlink("h", "s")
                       .file("h", "overwrite the target")
                       .finish(),
                   "is a symlink pointing out of the layer");
    ASSERT_TRUE(fs::remove_all(dest_).ok());
    ASSERT_EQ(::mkdir(dest_.c_str(), 0755), 0);
    expect_refused(TarBuilder().symlink("up", "../sentinel").hardlink("h", "up/secret").finish(),
                   "is not a file extracted earlier");
    ASSERT_TRUE(fs::remove_all(dest_).ok());
    ASSERT_EQ(::mkdir(dest_.c_str(), 0755), 0);
    expect_refused(TarBuilder().symlink("s", "x/../../..").hardlink("h", "s").finish(),
                   "pointing out of the layer");
}

TEST_F(UnpackTest, MaliciousWhiteoutsAreRefused) {
    expect_refused(TarBuilder().file("a/.wh...", "").finish(),
                   "layer entry \"a/.wh...\": whiteout of \"..\" escapes its directory");
    expect_refused(TarBuilder().file(".wh...", "").finish(), "whiteout of \"..\"", in_place());
    expect_refused(TarBuilder().file("a/.wh...", "").finish(), "whiteout of \"..\"", in_place());
    expect_refused(TarBuilder().file("a/.wh..", "").finish(), "whiteout of \".\"", in_place());
    expect_refused(TarBuilder().file("a/.wh.", "").finish(), "whiteout of \"\"");
    expect_refused(TarBuilder().file("../.wh.sentinel", "").finish(), "escapes the layer",
                   in_place());

    // In place, through a symlink a lower layer left.
    UnpackOptions o = in_place();
    o.set_owners = is_root();
    ASSERT_TRUE(unpack(TarBuilder().symlink("link", "../sentinel").finish(), o).ok());
    expect_refused(TarBuilder().file("link/.wh.secret", "").finish(), "path goes through a symlink",
                   o);
    expect_refused(TarBuilder().file("link/.wh..wh..opq", "").finish(),
                   "path goes through a symlink", o);
}

TEST_F(UnpackTest, MaliciousLongNamesAreRefused) {
    UnpackOptions o;
    o.set_owners = is_root();
    expect_refused(TarBuilder().file(std::string(300, 'n'), "x").finish(), "File name too long", o);
    std::string deep;
    while (deep.size() < 5000) deep += "../a/";
    expect_refused(TarBuilder().file(deep + "f", "x").finish(), "name too long", o);
    std::string climbing;
    for (int i = 0; i < 500; ++i) climbing += "d/";
    for (int i = 0; i < 501; ++i) climbing += "../";
    expect_refused(TarBuilder().file(climbing + "sentinel/x", "x").finish(), "escapes", o);
}

TEST_F(UnpackTest, MaliciousDeviceWhereADirectoryIsExpectedIsRefused) {
    SKIP_UNLESS_ROOT();
    expect_refused(TarBuilder()
                       .add({.path = "d", .type = AE_IFCHR, .perm = 0600, .rdev = makedev(1, 3)})
                       .file("d/x", "x")
                       .finish(),
                   "layer entry \"d/x\": a parent is not a directory");
    expect_refused(TarBuilder().file("f", "x").file("f/x", "x").finish(),
                   "a parent is not a directory");
    // Not a directory at the root either.
    expect_refused(TarBuilder().symlink(".", "elsewhere").finish(), "names the layer root");
}

// Fixes the ustar header checksum after a test changed a field.
void fix_checksum(std::string& tar) {
    std::memset(&tar[148], ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; ++i) sum += static_cast<unsigned char>(tar[i]);
    std::snprintf(&tar[148], 8, "%06o", sum);
    tar[155] = ' ';
}

TEST_F(UnpackTest, NoSpaceLeftIsAnErrorNamingTheEntry) {
    SKIP_UNLESS_ROOT();
    std::string small = base_ + "/dest";
    ASSERT_EQ(::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=1m"), 0) << strerror(errno);
    mounted_ = small;
    auto r = unpack(TarBuilder().file("big", std::string(4 << 20, 'b')).finish());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), ENOSPC);
    EXPECT_NE(r.error().what().find("layer entry \"big\": write: no space left"), std::string::npos)
        << r.error().what();

    // An absurd size in the header is refused before any byte is written.
    ASSERT_TRUE(fs::remove_all(in_dest("big")).ok());
    std::string tar = TarBuilder(/*ustar=*/true).file("huge", "tiny").finish();
    std::memcpy(&tar[124], "77777777777", 11);  // 8 GiB
    fix_checksum(tar);
    r = unpack(tar);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), ENOSPC);
    EXPECT_NE(r.error().what().find("layer entry \"huge\": needs 8589934591 bytes"),
              std::string::npos)
        << r.error().what();
    EXPECT_EQ(lstat_of(in_dest("huge")).st_size, 0);
}

// Not a correctness test: prints unpack throughput for a 50 MB gzip layer. Run with
// --gtest_also_run_disabled_tests --gtest_filter='*Throughput*'.
TEST_F(UnpackTest, DISABLED_Throughput50MBGzipLayer) {
    std::mt19937_64 rng(42);
    std::string text;
    while (text.size() < 64 << 10) text += "lorem ipsum dolor sit amet " + std::to_string(rng());
    TarBuilder builder;
    size_t files = 0;
    std::string tar;
    for (int d = 0; d < 40; ++d) {
        builder.dir("usr/lib/d" + std::to_string(d) + "/");
        for (int f = 0; f < 40; ++f, ++files) {
            std::string data(32 << 10, '\0');
            for (size_t i = 0; i + 8 <= data.size(); i += 8) {
                uint64_t v = rng();
                std::memcpy(&data[i], &v, 8);
            }
            data += text.substr(0, 24 << 10);
            builder.file("usr/lib/d" + std::to_string(d) + "/f" + std::to_string(f), data, 0755);
        }
    }
    tar = builder.finish();
    std::string blob = compress(tar, Compression::gzip);
    UnpackOptions o;
    o.set_owners = is_root();
    auto start = std::chrono::steady_clock::now();
    auto r = unpack(blob, o);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(r.ok()) << r.error().what();
    std::printf(
        "unpack: %zu files, blob %.1f MB, tar %.1f MB in %.3f s: %.0f MB/s compressed, "
        "%.0f MB/s uncompressed\n",
        files, blob.size() / 1e6, tar.size() / 1e6, secs, blob.size() / 1e6 / secs,
        tar.size() / 1e6 / secs);
}

}  // namespace
}  // namespace skiff::images
