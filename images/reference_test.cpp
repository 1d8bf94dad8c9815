// Image reference parsing: Docker's defaults, the canonical and familiar forms, and each kind of
// malformed reference.
#include "skiff/images/reference.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace skiff::images {
namespace {

using ::testing::HasSubstr;

const std::string kHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

Reference must_parse(const std::string& text) {
    auto r = Reference::parse(text);
    EXPECT_TRUE(r.ok()) << text << ": " << r.error().message();
    return r.ok() ? *r : Reference{};
}

std::string parse_error(const std::string& text) {
    auto r = Reference::parse(text);
    EXPECT_FALSE(r.ok()) << text << " parsed as " << r->str();
    return r.ok() ? "" : r.error().message();
}

struct Case {
    const char* input;
    const char* domain;
    const char* repository;
    const char* tag;
    const char* canonical;
    const char* familiar;
};

TEST(ReferenceTest, ParsesTheUsualForms) {
    const Case cases[] = {
        {"busybox", "docker.io", "library/busybox", "latest", "docker.io/library/busybox:latest",
         "busybox:latest"},
        {"busybox:1.36", "docker.io", "library/busybox", "1.36", "docker.io/library/busybox:1.36",
         "busybox:1.36"},
        {"library/busybox", "docker.io", "library/busybox", "latest",
         "docker.io/library/busybox:latest", "busybox:latest"},
        {"docker.io/library/busybox:latest", "docker.io", "library/busybox", "latest",
         "docker.io/library/busybox:latest", "busybox:latest"},
        {"docker.io/busybox", "docker.io", "library/busybox", "latest",
         "docker.io/library/busybox:latest", "busybox:latest"},
        {"index.docker.io/library/busybox", "docker.io", "library/busybox", "latest",
         "docker.io/library/busybox:latest", "busybox:latest"},
        {"team/app", "docker.io", "team/app", "latest", "docker.io/team/app:latest",
         "team/app:latest"},
        {"127.0.0.1:5000/team/app:v1", "127.0.0.1:5000", "team/app", "v1",
         "127.0.0.1:5000/team/app:v1", "127.0.0.1:5000/team/app:v1"},
        {"localhost/app", "localhost", "app", "latest", "localhost/app:latest",
         "localhost/app:latest"},
        {"localhost:5000/a/b/c:V_1.0-rc", "localhost:5000", "a/b/c", "V_1.0-rc",
         "localhost:5000/a/b/c:V_1.0-rc", "localhost:5000/a/b/c:V_1.0-rc"},
        {"quay.io/coreos/etcd", "quay.io", "coreos/etcd", "latest", "quay.io/coreos/etcd:latest",
         "quay.io/coreos/etcd:latest"},
        {"[::1]:5000/app:x", "[::1]:5000", "app", "x", "[::1]:5000/app:x", "[::1]:5000/app:x"},
        {"my-registry.example.com/a_b/c__d/e-f/g---h/i.j", "my-registry.example.com",
         "a_b/c__d/e-f/g---h/i.j", "latest",
         "my-registry.example.com/a_b/c__d/e-f/g---h/i.j:latest",
         "my-registry.example.com/a_b/c__d/e-f/g---h/i.j:latest"},
        // No slash: "localhost:5000" is the Hub image "localhost" with tag "5000".
        {"localhost:5000", "docker.io", "library/localhost", "5000",
         "docker.io/library/localhost:5000", "localhost:5000"},
        // Several components under library/ are not shortened.
        {"library/a/b", "docker.io", "library/a/b", "latest", "docker.io/library/a/b:latest",
         "library/a/b:latest"},
    };
    for (const Case& c : cases) {
        Reference ref = must_parse(c.input);
        EXPECT_EQ(ref.domain, c.domain) << c.input;
        EXPECT_EQ(ref.repository, c.repository) << c.input;
        EXPECT_EQ(ref.tag, c.tag) << c.input;
        EXPECT_FALSE(ref.digest) << c.input;
        EXPECT_EQ(ref.str(), c.canonical) << c.input;
        EXPECT_EQ(ref.familiar(), c.familiar) << c.input;
        // Both forms read back to the same reference.
        EXPECT_EQ(must_parse(ref.str()), ref) << c.input;
        EXPECT_EQ(must_parse(ref.familiar()), ref) << c.input;
    }
}

TEST(ReferenceTest, DigestWithoutTagHasNoDefaultTag) {
    Reference ref = must_parse("app@sha256:" + kHex);
    EXPECT_EQ(ref.repository, "library/app");
    EXPECT_EQ(ref.tag, "");
    ASSERT_TRUE(ref.digest);
    EXPECT_EQ(ref.digest->str(), "sha256:" + kHex);
    EXPECT_EQ(ref.str(), "docker.io/library/app@sha256:" + kHex);
    EXPECT_EQ(ref.familiar(), "app@sha256:" + kHex);
    EXPECT_EQ(ref.manifest_ref(), "sha256:" + kHex);
}

TEST(ReferenceTest, TagAndDigestTogether) {
    Reference ref = must_parse("127.0.0.1:5000/app:v1@sha256:" + kHex);
    EXPECT_EQ(ref.domain, "127.0.0.1:5000");
    EXPECT_EQ(ref.tag, "v1");
    ASSERT_TRUE(ref.digest);
    EXPECT_EQ(ref.str(), "127.0.0.1:5000/app:v1@sha256:" + kHex);
    // The digest is what pins the content, so it is what the registry is asked for.
    EXPECT_EQ(ref.manifest_ref(), "sha256:" + kHex);
    EXPECT_EQ(must_parse(ref.str()), ref);
}

TEST(ReferenceTest, RegistryHost) {
    EXPECT_EQ(must_parse("busybox").registry_host(), "registry-1.docker.io");
    EXPECT_EQ(must_parse("docker.io/team/app").registry_host(), "registry-1.docker.io");
    EXPECT_EQ(must_parse("127.0.0.1:5000/app").registry_host(), "127.0.0.1:5000");
    EXPECT_EQ(must_parse("quay.io/x/y").registry_host(), "quay.io");
    EXPECT_EQ(must_parse("busybox").manifest_ref(), "latest");
    EXPECT_EQ(must_parse("busybox").name(), "docker.io/library/busybox");
}

TEST(ReferenceTest, FamiliarKeepsTheHubDomainWhenThePathWouldLookLikeOne) {
    Reference ref = must_parse("docker.io/foo.bar/app");
    EXPECT_EQ(ref.repository, "foo.bar/app");
    EXPECT_EQ(ref.familiar(), "docker.io/foo.bar/app:latest");
    EXPECT_EQ(must_parse(ref.familiar()), ref);
    Reference local = must_parse("docker.io/localhost/app");
    EXPECT_EQ(local.familiar(), "docker.io/localhost/app:latest");
}

TEST(ReferenceTest, ErrorsQuoteTheInputAndSayWhatIsWrong) {
    struct Bad {
        std::string input;
        const char* why;
    };
    const Bad cases[] = {
        {"", "empty reference"},
        {"BusyBox", "must be lowercase"},
        {"team/App:v1", "must be lowercase"},
        {"busybox:", "empty tag"},
        {"busybox:-x", "tag must start with"},
        {"busybox:a b", "invalid character ' ' in tag"},
        {"busybox:" + std::string(129, 'a'), "longer than 128"},
        {"busybox@sha256:abc", "invalid digest"},
        {"busybox@md5:" + kHex, "unsupported algorithm"},
        {"busybox@", "invalid digest"},
        {":v1", "empty repository name"},
        {"@sha256:" + kHex, "empty repository name"},
        {"team//app", "empty path component"},
        {"team/app/", "empty path component"},
        {"/app", "empty path component"},
        {"-app", "must start and end with [a-z0-9]"},
        {"app-", "must start and end with [a-z0-9]"},
        {"a..b", "invalid separator \"..\""},
        {"a___b", "invalid separator \"___\""},
        {"a.-b", "invalid separator"},
        {"a$b", "invalid character '$'"},
        {"ex ample.com/app", "invalid domain"},
        {"-bad.com/app", "invalid domain"},
        {"host.com:abc/app", "port must be a number"},
        {"host.com:/app", "empty port"},
        {"[::1/app", "unterminated IPv6"},
        {"[zz]:5000/app", "invalid IPv6"},
        {kHex, "image ID"},
        {"a/" + std::string(260, 'b'), "longer than 255"},
    };
    for (const Bad& c : cases) {
        std::string msg = parse_error(c.input);
        EXPECT_THAT(msg, HasSubstr("invalid image reference \"" + c.input + "\"")) << c.input;
        EXPECT_THAT(msg, HasSubstr(c.why)) << c.input;
    }
}

TEST(ReferenceTest, NameLengthLimitCountsTheCanonicalName) {
    // "docker.io/library/" is 18 characters: 237 more make the 255 limit.
    EXPECT_TRUE(Reference::parse(std::string(237, 'a')).ok());
    EXPECT_FALSE(Reference::parse(std::string(238, 'a')).ok());
}

TEST(ReferenceTest, UppercaseDomainIsAllowed) {
    Reference ref = must_parse("Registry.Example.com/app");
    EXPECT_EQ(ref.domain, "Registry.Example.com");
}

}  // namespace
}  // namespace skiff::images
