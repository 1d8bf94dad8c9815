// Unit tests for digest parsing and SHA-256 against known vectors.
#include "skiff/images/digest.hpp"

#include <gtest/gtest.h>

using namespace skiff::images;

TEST(Digest, KnownVectors) {
    EXPECT_EQ(sha256_of("").str(),
              "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_of("abc").str(),
              "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    Sha256 h;
    h.update("a");
    h.update("bc");
    EXPECT_EQ(h.finish(), sha256_of("abc"));
}

TEST(Digest, ParseAcceptsWellFormedAndNamesTheInputOtherwise) {
    auto d = Digest::parse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->algorithm, "sha256");
    for (const char* bad : {"", "sha256", "sha256:abc", "md5:d41d8cd98f00b204e9800998ecf8427e",
                            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
                            "sha256:../../../../etc/passwd0000000000000000000000000000000000000000"}) {
        auto r = Digest::parse(bad);
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_NE(r.error().message().find(bad), std::string::npos) << r.error().message();
    }
}
