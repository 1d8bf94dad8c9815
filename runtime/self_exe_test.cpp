// Tests for self_exe.hpp: the sealed copy and the read-only view of a binary refuse every write.
#include "skiff/runtime/self_exe.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace skiff::runtime {
namespace {

// A scratch file standing in for the binary: the tests never touch the real one.
class SelfExe : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/skiff-self-exe-test.XXXXXX";
        int fd = mkstemp(tmpl);
        ASSERT_GE(fd, 0);
        path_ = tmpl;
        ASSERT_EQ(write(fd, "binary-bytes", 12), 12);
        close(fd);
        file_ = UniqueFd(open(path_.c_str(), O_RDONLY | O_CLOEXEC));
        ASSERT_TRUE(file_.valid());
    }
    void TearDown() override { unlink(path_.c_str()); }

    std::string path_;
    UniqueFd file_;
};

TEST_F(SelfExe, PlainFileIsUnprotected) {
    auto guard = exe_guard_of(file_.get());
    ASSERT_TRUE(guard) << guard.error().what();
    EXPECT_EQ(*guard, ExeGuard::none);
}

TEST_F(SelfExe, SealedCopyRefusesWritesAndKeepsTheBytes) {
    auto copy = sealed_copy(file_.get());
    ASSERT_TRUE(copy) << copy.error().what();
    auto guard = exe_guard_of(copy->get());
    ASSERT_TRUE(guard);
    EXPECT_EQ(*guard, ExeGuard::sealed);
    // Through a fresh open of the memfd, as /proc/PID/exe would give it.
    std::string again = "/proc/self/fd/" + std::to_string(copy->get());
    UniqueFd w(open(again.c_str(), O_WRONLY | O_CLOEXEC));
    if (w) {
        errno = 0;
        EXPECT_EQ(pwrite(w.get(), "X", 1, 0), -1);
        EXPECT_EQ(errno, EPERM);
        EXPECT_EQ(ftruncate(w.get(), 0), -1);
    }
    char buf[32] = {};
    EXPECT_EQ(pread(copy->get(), buf, sizeof buf, 0), 12);
    EXPECT_STREQ(buf, "binary-bytes");
}

TEST_F(SelfExe, ReadOnlyViewRefusesWrites) {
    auto view = read_only_view(file_.get());
    if (!view && (view.error().code() == EPERM || view.error().code() == ENOSYS))
        GTEST_SKIP() << "open_tree/mount_setattr need CAP_SYS_ADMIN and Linux 5.12: "
                     << view.error().what();
    ASSERT_TRUE(view) << view.error().what();
    std::string again = "/proc/self/fd/" + std::to_string(view->get());
    UniqueFd r(open(again.c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(r.valid()) << strerror(errno);
    auto guard = exe_guard_of(r.get());
    ASSERT_TRUE(guard);
    EXPECT_EQ(*guard, ExeGuard::read_only);
    errno = 0;
    EXPECT_FALSE(UniqueFd(open(again.c_str(), O_WRONLY | O_CLOEXEC)).valid());
    EXPECT_EQ(errno, EROFS);
    // The original stays writable: only the view is read-only.
    UniqueFd w(open(path_.c_str(), O_WRONLY | O_CLOEXEC));
    EXPECT_TRUE(w.valid()) << strerror(errno);
}

}  // namespace
}  // namespace skiff::runtime
