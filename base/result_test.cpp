// Unit tests for Result/Error context chains and the file helpers.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "skiff/base/fs.hpp"
#include "skiff/base/result.hpp"

using namespace skiff;

static Result<int> parse_positive(int v) {
    if (v <= 0) return Error(EINVAL, "value " + std::to_string(v));
    return v;
}

static Status outer(int v) {
    SKIFF_TRY_CTX(parse_positive(v), "outer");
    return {};
}

TEST(Result, CarriesValueOrErrorWithContext) {
    auto ok = parse_positive(3);
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(*ok, 3);
    auto bad = outer(-1);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().message(), "outer: value -1");
    EXPECT_EQ(bad.error().code(), EINVAL);
    EXPECT_EQ(bad.error().what(), "outer: value -1: Invalid argument");
}

TEST(Fs, WriteReadAtomicAndRemoveAll) {
    char tmpl[] = "/tmp/skiff-fs-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    std::string dir = tmpl;
    ASSERT_TRUE(fs::make_dirs(dir + "/a/b/c").ok());
    ASSERT_TRUE(fs::write_file_atomic(dir + "/a/b/c/f", "hello").ok());
    auto text = fs::read_file(dir + "/a/b/c/f");
    ASSERT_TRUE(text.ok());
    EXPECT_EQ(*text, "hello");
    EXPECT_FALSE(fs::exists(dir + "/a/b/c/f.tmp"));
    ASSERT_EQ(symlink("/etc", (dir + "/a/link").c_str()), 0);
    ASSERT_TRUE(fs::remove_all(dir).ok());
    EXPECT_FALSE(fs::exists(dir));
    EXPECT_TRUE(fs::exists("/etc/passwd"));  // the symlink was removed, not followed
    auto missing = fs::read_file(dir + "/nope");
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().message().find("/nope"), std::string::npos);
}
