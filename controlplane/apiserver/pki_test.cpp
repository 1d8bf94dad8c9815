// Unit tests of the PKI: first start, reuse, a missing SAN, permissions, and the errors for a broken CA.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>

#include "skiff/apiserver/pki.hpp"
#include "skiff/base/fs.hpp"

namespace skiff::apiserver {
namespace {

class Pki : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/skiff-pki-test.XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        files_ = PkiFiles::in(dir_);
    }
    void TearDown() override { (void)fs::remove_all(dir_); }

    std::string read(const std::string& path) {
        auto text = fs::read_file(path);
        return text ? *text : "";
    }
    static unsigned mode(const std::string& path) {
        struct stat st{};
        return stat(path.c_str(), &st) == 0 ? st.st_mode & 0777 : 0;
    }
    // Whether OpenSSL verifies cert_path against ca_path for purpose (X509_PURPOSE_SSL_SERVER / _CLIENT).
    static bool verifies(const std::string& ca_path, const std::string& cert_path, int purpose) {
        FILE* f = fopen(cert_path.c_str(), "r");
        X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
        fclose(f);
        X509_STORE* store = X509_STORE_new();
        X509_STORE_load_file(store, ca_path.c_str());
        X509_STORE_CTX* ctx = X509_STORE_CTX_new();
        X509_STORE_CTX_init(ctx, store, cert, nullptr);
        X509_STORE_CTX_set_purpose(ctx, purpose);
        bool ok = X509_verify_cert(ctx) == 1;
        X509_STORE_CTX_free(ctx);
        X509_STORE_free(store);
        X509_free(cert);
        return ok;
    }

    std::string dir_;
    PkiFiles files_;
};

TEST_F(Pki, FirstStartMakesEverythingThenReusesIt) {
    auto first = ensure_pki({dir_, {"api.example.test", "10.0.0.5"}});
    ASSERT_TRUE(first) << first.error().what();
    EXPECT_TRUE(first->created);
    for (const auto& key : {files_.ca_key, files_.server_key, files_.admin_key}) EXPECT_EQ(mode(key), 0600u) << key;
    EXPECT_EQ(mode(files_.dir), 0700u);
    EXPECT_TRUE(verifies(files_.ca_cert, files_.server_cert, X509_PURPOSE_SSL_SERVER));
    EXPECT_TRUE(verifies(files_.ca_cert, files_.admin_cert, X509_PURPOSE_SSL_CLIENT));
    EXPECT_FALSE(verifies(files_.ca_cert, files_.admin_cert, X509_PURPOSE_SSL_SERVER)) << "client-only";
    auto sans = certificate_sans(files_.server_cert);
    ASSERT_TRUE(sans);
    for (const char* name : {"localhost", "127.0.0.1", "::1", "api.example.test", "10.0.0.5"})
        EXPECT_NE(std::find(sans->begin(), sans->end(), name), sans->end()) << name;

    std::string ca = read(files_.ca_cert), server = read(files_.server_cert), admin = read(files_.admin_cert);
    auto second = ensure_pki({dir_, {"api.example.test"}});
    ASSERT_TRUE(second) << second.error().what();
    EXPECT_FALSE(second->created);
    EXPECT_FALSE(second->renewed_server_cert) << "no name missing (10.0.0.5 may stay)";
    EXPECT_EQ(read(files_.ca_cert), ca);
    EXPECT_EQ(read(files_.server_cert), server);
    EXPECT_EQ(read(files_.admin_cert), admin);

    auto third = ensure_pki({dir_, {"::ffff:10.1.1.1", "new.example.test"}});
    ASSERT_TRUE(third) << third.error().what();
    EXPECT_TRUE(third->renewed_server_cert);
    EXPECT_EQ(read(files_.ca_cert), ca) << "the CA stays";
    EXPECT_EQ(read(files_.admin_cert), admin);
    sans = certificate_sans(files_.server_cert);
    ASSERT_TRUE(sans);
    for (const char* name : {"new.example.test", "api.example.test", "10.0.0.5", "localhost"})
        EXPECT_NE(std::find(sans->begin(), sans->end(), name), sans->end()) << name;
    EXPECT_TRUE(verifies(files_.ca_cert, files_.server_cert, X509_PURPOSE_SSL_SERVER));
}

TEST_F(Pki, KubeconfigEmbedsTheCredentials) {
    ASSERT_TRUE(ensure_pki({dir_, {}}));
    ASSERT_TRUE(write_admin_kubeconfig(files_, "https://127.0.0.1:6443"));
    EXPECT_EQ(mode(files_.kubeconfig), 0600u);
    std::string text = read(files_.kubeconfig);
    EXPECT_NE(text.find("server: https://127.0.0.1:6443\n"), std::string::npos);
    for (const char* field : {"certificate-authority-data: LS0t", "client-certificate-data: LS0t", "client-key-data: LS0t"})
        EXPECT_NE(text.find(field), std::string::npos) << field;  // base64 of "-----BEGIN"
    EXPECT_EQ(text.find("-----BEGIN"), std::string::npos);
}

TEST_F(Pki, BadNamesAreRefused) {
    EXPECT_FALSE(ensure_pki({dir_, {"bad name"}}));
    EXPECT_FALSE(ensure_pki({dir_, {"a,DNS:evil.test"}}));
    EXPECT_EQ(san_error("10.0.0.1"), "");
    EXPECT_EQ(san_error("fd00::1"), "");
    EXPECT_EQ(san_error("node-1.example"), "");
    EXPECT_NE(san_error("UNDER_SCORE"), "");
}

TEST_F(Pki, ABrokenCaIsAnErrorNamingTheFileNeverANewCa) {
    ASSERT_TRUE(ensure_pki({dir_, {}}));
    std::string ca = read(files_.ca_cert), key = read(files_.ca_key);

    ASSERT_TRUE(fs::write_file(files_.ca_key, key.substr(0, key.size() / 2), 0600));  // truncated
    auto r = ensure_pki({dir_, {}});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find(files_.ca_key), std::string::npos) << r.error().what();
    EXPECT_EQ(read(files_.ca_cert), ca);

    ASSERT_TRUE(fs::write_file(files_.ca_key, "garbage\n", 0600));
    r = ensure_pki({dir_, {}});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find(files_.ca_key), std::string::npos) << r.error().what();

    ASSERT_TRUE(fs::remove_all(files_.ca_key));
    r = ensure_pki({dir_, {}});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find(files_.ca_key + " is missing"), std::string::npos) << r.error().what();
    EXPECT_EQ(read(files_.ca_cert), ca);
    EXPECT_FALSE(fs::exists(files_.ca_key)) << "no new key made";

    // Another valid key that is not the CA's.
    ASSERT_TRUE(fs::write_file(files_.ca_key, read(files_.admin_key), 0600));
    r = ensure_pki({dir_, {}});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("is not the key of " + files_.ca_cert), std::string::npos) << r.error().what();

    // No CA at all but leaf files: not a first start.
    ASSERT_TRUE(fs::remove_all(files_.ca_key));
    ASSERT_TRUE(fs::remove_all(files_.ca_cert));
    r = ensure_pki({dir_, {}});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("are missing but"), std::string::npos) << r.error().what();
    EXPECT_FALSE(fs::exists(files_.ca_cert));
}

TEST_F(Pki, ALeafFromAnotherCaIsRefused) {
    ASSERT_TRUE(ensure_pki({dir_, {}}));
    char other_tmpl[] = "/tmp/skiff-pki-other.XXXXXX";
    ASSERT_NE(mkdtemp(other_tmpl), nullptr);
    std::string other = other_tmpl;
    ASSERT_TRUE(ensure_pki({other, {}}));
    auto other_files = PkiFiles::in(other);
    ASSERT_TRUE(fs::write_file(files_.server_cert, read(other_files.server_cert), 0600));
    ASSERT_TRUE(fs::write_file(files_.server_key, read(other_files.server_key), 0600));
    auto r = ensure_pki({dir_, {}});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find(files_.server_cert + " is not signed by"), std::string::npos) << r.error().what();
    (void)fs::remove_all(other);

    // Both halves of a leaf gone: made again from the CA.
    ASSERT_TRUE(fs::remove_all(files_.server_cert));
    ASSERT_TRUE(fs::remove_all(files_.server_key));
    auto again = ensure_pki({dir_, {}});
    ASSERT_TRUE(again) << again.error().what();
    EXPECT_TRUE(verifies(files_.ca_cert, files_.server_cert, X509_PURPOSE_SSL_SERVER));
}

}  // namespace
}  // namespace skiff::apiserver
