// Unit tests of the node token file: creation, what is stored, lookups, reload on change, revocation.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <thread>

#include "skiff/apiserver/authentication.hpp"
#include "skiff/apiserver/node_tokens.hpp"
#include "skiff/base/fs.hpp"

namespace skiff::apiserver {
namespace {

class TokenFile : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/skiff-tokens-test.XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        path_ = node_tokens_path(dir_);
    }
    void TearDown() override { (void)fs::remove_all(dir_); }
    std::string dir_, path_;
};

TEST_F(TokenFile, CreateStoresOnlyTheHashPrivately) {
    auto token = create_node_token(path_, "n1");
    ASSERT_TRUE(token) << token.error().what();
    EXPECT_EQ(token->size(), 64u);
    auto text = fs::read_file(path_);
    ASSERT_TRUE(text);
    EXPECT_EQ(text->find(*token), std::string::npos) << "the token itself must not be stored";
    EXPECT_EQ(text->rfind(sha256_hex(*token) + " n1 ", 0), 0u) << *text;
    struct stat st{};
    ASSERT_EQ(stat(path_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_FALSE(fs::exists(path_ + ".tmp"));
    auto second = create_node_token(path_, "n1");
    ASSERT_TRUE(second);
    EXPECT_NE(*second, *token);
}

TEST_F(TokenFile, RejectsBadNodeNames) {
    for (const char* bad : {"", "N1", "n_1", "-n1", "a b", "n1\nffff"}) EXPECT_FALSE(create_node_token(path_, bad)) << bad;
    EXPECT_FALSE(fs::exists(path_));
}

TEST_F(TokenFile, LookupFollowsTheFileWithoutRestart) {
    NodeTokens tokens(path_);
    EXPECT_FALSE(tokens.node_for("anything")) << "no file: no tokens";
    auto t1 = create_node_token(path_, "n1");
    ASSERT_TRUE(t1);
    EXPECT_EQ(tokens.node_for(*t1), "n1") << "a new token works at once";
    auto t2 = create_node_token(path_, "n2.example");
    ASSERT_TRUE(t2);
    EXPECT_EQ(tokens.node_for(*t2), "n2.example");
    EXPECT_EQ(tokens.node_for(*t1), "n1");
    EXPECT_FALSE(tokens.node_for(""));
    EXPECT_FALSE(tokens.node_for(t1->substr(1)));
    EXPECT_FALSE(tokens.node_for(sha256_hex(*t1))) << "the stored hash is not a token";

    auto removed = revoke_node_tokens(path_, "n1");
    ASSERT_TRUE(removed);
    EXPECT_EQ(*removed, 1u);
    EXPECT_FALSE(tokens.node_for(*t1)) << "revoked";
    EXPECT_EQ(tokens.node_for(*t2), "n2.example");
    ASSERT_TRUE(fs::remove_all(path_));
    EXPECT_FALSE(tokens.node_for(*t2)) << "file gone: no tokens";
}

TEST_F(TokenFile, MalformedLinesAreIgnored) {
    auto t1 = create_node_token(path_, "n1");
    ASSERT_TRUE(t1);
    auto text = fs::read_file(path_);
    ASSERT_TRUE(text);
    std::string extra = "# a comment\nnot-a-hash n2\n" + sha256_hex("short") + " BAD_NAME\n\n";
    ASSERT_TRUE(fs::write_file(path_ + ".new", extra + *text, 0600));
    ASSERT_EQ(rename((path_ + ".new").c_str(), path_.c_str()), 0);
    NodeTokens tokens(path_);
    EXPECT_EQ(tokens.node_for(*t1), "n1");
    EXPECT_FALSE(tokens.node_for("short"));
    auto t2 = create_node_token(path_, "n2");  // a rewrite keeps the lines it does not understand
    ASSERT_TRUE(t2);
    auto after = fs::read_file(path_);
    ASSERT_TRUE(after);
    EXPECT_NE(after->find("# a comment"), std::string::npos);
    EXPECT_EQ(tokens.node_for(*t2), "n2");
}

TEST_F(TokenFile, ConcurrentCreatesKeepEveryToken) {
    std::vector<std::string> made(8);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < made.size(); ++i)
        threads.emplace_back([&, i] {
            auto t = create_node_token(path_, "n" + std::to_string(i));
            if (t) made[i] = *t;
        });
    for (auto& t : threads) t.join();
    NodeTokens tokens(path_);
    for (size_t i = 0; i < made.size(); ++i) EXPECT_EQ(tokens.node_for(made[i]), "n" + std::to_string(i));
}

TEST(Authenticator, CertificateThenBearerToken) {
    char tmpl[] = "/tmp/skiff-authn-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    std::string dir = tmpl;
    auto tokens = std::make_shared<NodeTokens>(node_tokens_path(dir));
    auto token = create_node_token(node_tokens_path(dir), "n1");
    ASSERT_TRUE(token);
    Authenticator authn(tokens);

    Request req;
    EXPECT_FALSE(authn.authenticate(req));
    req.headers["authorization"] = "Bearer " + *token;
    auto node = authn.authenticate(req);
    ASSERT_TRUE(node);
    EXPECT_EQ(node->name, "system:node:n1");
    EXPECT_EQ(node->node, "n1");
    EXPECT_TRUE(node->in_group("system:nodes"));
    EXPECT_TRUE(node->in_group("system:authenticated"));
    req.headers["authorization"] = "bearer  " + *token + " ";
    EXPECT_TRUE(authn.authenticate(req)) << "scheme is case-insensitive, spaces around the token ignored";
    req.headers["authorization"] = "Bearer x" + *token;
    EXPECT_FALSE(authn.authenticate(req));
    req.headers["authorization"] = "Basic " + *token;
    EXPECT_FALSE(authn.authenticate(req));

    req.client_certificate = ClientCertificate{"skiff-admin", {"system:masters"}};
    auto admin = authn.authenticate(req);
    ASSERT_TRUE(admin);
    EXPECT_EQ(admin->name, "skiff-admin");
    EXPECT_TRUE(admin->in_group("system:masters"));
    EXPECT_EQ(admin->node, "");
    req.client_certificate = ClientCertificate{"system:node:n7", {"system:nodes"}};
    EXPECT_EQ(authn.authenticate(req)->node, "n7");
    req.client_certificate = ClientCertificate{"system:node:n7", {}};
    EXPECT_EQ(authn.authenticate(req)->node, "") << "a node name without the group is no node";

    EXPECT_TRUE(is_public_path("/healthz"));
    EXPECT_TRUE(is_public_path("/readyz/ping"));
    EXPECT_TRUE(is_public_path("/version"));
    EXPECT_FALSE(is_public_path("/healthzz"));
    EXPECT_FALSE(is_public_path("/api"));
    EXPECT_FALSE(is_public_path("/version/x"));
    (void)fs::remove_all(dir);
}

}  // namespace
}  // namespace skiff::apiserver
