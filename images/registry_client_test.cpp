// Registry client tests against a real docker-registry on 127.0.0.1, a token stub, and skopeo.
#include "skiff/images/registry_client.hpp"

#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "skiff/base/fs.hpp"
#include "skiff/base/unique_fd.hpp"
#include "skiff/images/credentials.hpp"

#include "test_registry.hpp"

namespace skiff::images {
namespace {

using namespace test_support;
// Leftover temp files ("*.partial-*") in dir.
int partial_files(const std::string& dir) {
    int n = 0;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return -1;
    while (dirent* e = ::readdir(d))
        if (std::string(e->d_name).find(".partial-") != std::string::npos) ++n;
    ::closedir(d);
    return n;
}

// One plain-HTTP registry shared by the tests of this suite (starting one costs ~0.1 s).
class RegistryPlain : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { server_ = new Registry(); }
    static void TearDownTestSuite() {
        delete server_;
        server_ = nullptr;
    }
    void SetUp() override { ASSERT_TRUE(server_->ok()) << "the registry fixture did not start"; }
    const std::string& addr() const { return server_->address(); }

    static Registry* server_;
    TempDir tmp_;
};
Registry* RegistryPlain::server_ = nullptr;

TEST_F(RegistryPlain, PushThenPullByTagAndDigest) {
    RegistryClient c(plain(addr()));
    ASSERT_TRUE(c.ping());
    TestImage img = make_image(tmp_.path(), "hello");
    auto before = c.blob_exists("test/hello", img.layer.digest);
    ASSERT_TRUE(before);
    EXPECT_FALSE(*before);
    push_image(c, "test/hello", "v1", img);
    auto after = c.blob_exists("test/hello", img.layer.digest);
    ASSERT_TRUE(after);
    EXPECT_TRUE(*after);

    auto by_tag = c.get_manifest("test/hello", "v1");
    ASSERT_TRUE(by_tag) << by_tag.error().what();
    EXPECT_EQ(by_tag->bytes, img.manifest);
    EXPECT_EQ(by_tag->media_type, kMediaTypeOciManifest);
    EXPECT_EQ(by_tag->digest, sha256_of(img.manifest));

    auto by_digest = c.get_manifest("test/hello", by_tag->digest.str());
    ASSERT_TRUE(by_digest) << by_digest.error().what();
    EXPECT_EQ(by_digest->bytes, img.manifest);

    std::string dest = tmp_.path() + "/pulled-layer";
    auto got = c.get_blob("test/hello", img.layer.digest, img.layer.size, dest);
    ASSERT_TRUE(got) << got.error().what();
    EXPECT_EQ(read(dest), read(img.layer.path));
    // The layer is a real tar.gz: tar can list what went in.
    auto [rc, listing] = run("tar -tzf " + quote(dest));
    EXPECT_EQ(rc, 0);
    EXPECT_NE(listing.find("etc/message"), std::string::npos);
}

TEST_F(RegistryPlain, HeadManifestIsOneCheck) {
    RegistryClient c(plain(addr()));
    TestImage img = make_image(tmp_.path(), "head");
    push_image(c, "test/head", "v1", img);
    auto head = c.head_manifest("test/head", "v1");
    ASSERT_TRUE(head) << head.error().what();
    ASSERT_TRUE(head->has_value());
    EXPECT_EQ((*head)->digest, sha256_of(img.manifest));
    EXPECT_EQ((*head)->media_type, kMediaTypeOciManifest);
    EXPECT_EQ((*head)->size, img.manifest.size());
    auto missing = c.head_manifest("test/head", "nope");
    ASSERT_TRUE(missing) << missing.error().what();
    EXPECT_FALSE(missing->has_value());
}

// tls_verify=false against a registry without TLS: https fails its handshake, and the client goes
// on over http, for that request and the next ones, with no separate probe.
TEST_F(RegistryPlain, UnverifiedTlsFallsBackToPlainHttp) {
    RegistryClient::Options o;
    o.registry_host = addr();
    o.tls_verify = false;
    RegistryClient c(o);
    TestImage img = make_image(tmp_.path(), "fallback");
    ASSERT_TRUE(c.ping());
    push_image(c, "test/fallback", "v1", img);
    auto m = c.get_manifest("test/fallback", "v1");
    ASSERT_TRUE(m) << m.error().what();
    EXPECT_EQ(m->bytes, img.manifest);

    RegistryClient::Options strict = o;
    strict.tls_verify = true;
    RegistryClient verified(strict);
    auto refused = verified.ping();
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message().find("TLS"), std::string::npos) << refused.error().what();
}

TEST_F(RegistryPlain, ParallelDownloadOfSeveralBlobs) {
    RegistryClient::Options o = plain(addr());
    o.parallel = 3;
    std::mutex mu;
    std::map<std::string, uint64_t> last;
    o.progress = [&](const Digest& d, uint64_t done, uint64_t) {
        std::lock_guard lock(mu);
        last[d.str()] = done;
    };
    RegistryClient c(o);
    std::vector<BlobRef> refs;
    std::vector<std::string> contents;
    for (uint32_t i = 0; i < 6; ++i) {
        contents.push_back(random_bytes(200'000 + i * 1000, 100 + i));
        Blob b = make_blob(tmp_.path() + "/in" + std::to_string(i), contents.back());
        auto pushed = c.push_blob("test/many", b.digest, b.path);
        ASSERT_TRUE(pushed) << pushed.error().what();
        refs.push_back({b.digest, b.size});
    }
    std::string out = tmp_.path() + "/out";
    ASSERT_TRUE(fs::make_dirs(out));
    last.clear();
    auto got = c.get_blobs("test/many", refs, out);
    ASSERT_TRUE(got) << got.error().what();
    for (size_t i = 0; i < refs.size(); ++i) {
        EXPECT_EQ(read(out + "/" + refs[i].digest.hex), contents[i]) << i;
        EXPECT_EQ(last[refs[i].digest.str()], refs[i].size) << "progress of blob " << i;
    }
    EXPECT_EQ(partial_files(out), 0);
}

TEST_F(RegistryPlain, ChunkedPush) {
    RegistryClient::Options o = plain(addr());
    o.chunk_size = 64 * 1024;
    uint64_t max_done = 0;
    o.progress = [&](const Digest&, uint64_t done, uint64_t) {
        max_done = std::max(max_done, done);
    };
    RegistryClient c(o);
    std::string data = random_bytes(300'000, 7);
    Blob b = make_blob(tmp_.path() + "/big", data);
    auto pushed = c.push_blob("test/chunked", b.digest, b.path);
    ASSERT_TRUE(pushed) << pushed.error().what();
    EXPECT_EQ(max_done, data.size());
    // The registry assembled the chunks into exactly the file: its own copy is byte-identical.
    EXPECT_EQ(read(server_->blob_data(b.digest)), data);
    auto got = c.get_blob("test/chunked", b.digest, b.size, tmp_.path() + "/back");
    ASSERT_TRUE(got) << got.error().what();
    EXPECT_EQ(read(tmp_.path() + "/back"), data);
}

TEST_F(RegistryPlain, CrossRepositoryMount) {
    RegistryClient c(plain(addr()));
    Blob b = make_blob(tmp_.path() + "/shared", random_bytes(5000, 11));
    ASSERT_TRUE(c.push_blob("test/mount-src", b.digest, b.path));
    auto mounted = c.mount_blob("test/mount-dst", b.digest, "test/mount-src");
    ASSERT_TRUE(mounted) << mounted.error().what();
    EXPECT_TRUE(*mounted);
    auto exists = c.blob_exists("test/mount-dst", b.digest);
    ASSERT_TRUE(exists);
    EXPECT_TRUE(*exists);
    // A blob the source repository doesn't have: the registry offers an upload instead.
    Digest unknown = sha256_of("never pushed");
    auto fallback = c.mount_blob("test/mount-dst", unknown, "test/mount-src");
    ASSERT_TRUE(fallback) << fallback.error().what();
    EXPECT_FALSE(*fallback);
}

TEST_F(RegistryPlain, TamperedBlobIsRejectedAndLeavesNoFile) {
    RegistryClient c(plain(addr()));
    std::string data = random_bytes(100'000, 21);
    Blob b = make_blob(tmp_.path() + "/orig", data);
    ASSERT_TRUE(c.push_blob("test/tamper", b.digest, b.path));
    std::string evil = data;
    evil[500] ^= 0x5a;
    write(server_->blob_data(b.digest), evil);

    std::string out = tmp_.path() + "/out";
    ASSERT_TRUE(fs::make_dirs(out));
    auto got = c.get_blob("test/tamper", b.digest, b.size, out + "/blob");
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().message(), "blob " + b.digest.str() +
                                         " of test/tamper: digest mismatch (got " +
                                         sha256_of(evil).str() + ")");
    EXPECT_FALSE(fs::exists(out + "/blob"));
    EXPECT_EQ(partial_files(out), 0);

    // A size that doesn't match is caught as well.
    auto wrong_size = c.get_blob("test/tamper", b.digest, b.size - 1, out + "/blob");
    ASSERT_FALSE(wrong_size);
    EXPECT_NE(wrong_size.error().message().find("size mismatch"), std::string::npos);
    EXPECT_EQ(partial_files(out), 0);
}

TEST_F(RegistryPlain, UnknownTagAndBlob) {
    RegistryClient c(plain(addr()));
    auto m = c.get_manifest("test/absent", "nope");
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().message(), "test/absent:nope not found in " + addr());
    EXPECT_EQ(m.error().code(), ENOENT);
    Digest d = sha256_of("absent");
    auto b = c.get_blob("test/absent", d, 0, tmp_.path() + "/x");
    ASSERT_FALSE(b);
    EXPECT_NE(b.error().message().find("not found in " + addr()), std::string::npos);
    EXPECT_FALSE(fs::exists(tmp_.path() + "/x"));
}

TEST_F(RegistryPlain, RegistryErrorBodyIsQuoted) {
    RegistryClient c(plain(addr()));
    // A manifest naming blobs the repository lacks: distribution refuses it with an error body.
    TestImage img = make_image(tmp_.path(), "orphan");
    auto put =
        c.put_manifest("test/orphan", "v1", img.manifest, std::string(kMediaTypeOciManifest));
    ASSERT_FALSE(put);
    EXPECT_NE(
        put.error().message().find("put manifest test/orphan:v1: HTTP 400: MANIFEST_BLOB_UNKNOWN"),
        std::string::npos)
        << put.error().message();
}

TEST_F(RegistryPlain, SkopeoReadsWhatSkiffPushed) {
    RegistryClient c(plain(addr()));
    TestImage img = make_image(tmp_.path(), "for skopeo");
    push_image(c, "test/interop", "v1", img);
    auto [rc, out] =
        run("skopeo inspect --tls-verify=false docker://" + addr() + "/test/interop:v1");
    ASSERT_EQ(rc, 0) << out;
    json doc = json::parse(out, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << out;
    EXPECT_EQ(doc.value("Digest", ""), sha256_of(img.manifest).str());
    EXPECT_EQ(doc.value("Architecture", ""), "amd64");
    ASSERT_TRUE(doc["Layers"].is_array());
    EXPECT_EQ(doc["Layers"][0], img.layer.digest.str());
}

TEST_F(RegistryPlain, SkiffPullsWhatSkopeoPushed) {
    // An image in skopeo's dir: transport, pushed by skopeo, pulled back by the client.
    TestImage img = make_image(tmp_.path(), "from skopeo");
    std::string src = tmp_.path() + "/dirimage";
    ASSERT_TRUE(fs::make_dirs(src));
    write(src + "/version", "Directory Transport Version: 1.1\n");
    write(src + "/manifest.json", img.manifest);
    write(src + "/" + img.config.digest.hex, read(img.config.path));
    write(src + "/" + img.layer.digest.hex, read(img.layer.path));
    std::string digest_file = tmp_.path() + "/digest";
    auto [rc, out] = run("skopeo --insecure-policy copy -q --dest-tls-verify=false --digestfile " +
                         quote(digest_file) + " dir:" + quote(src) + " docker://" + addr() +
                         "/test/by-skopeo:v2 2>&1");
    ASSERT_EQ(rc, 0) << out;

    RegistryClient c(plain(addr()));
    auto m = c.get_manifest("test/by-skopeo", "v2");
    ASSERT_TRUE(m) << m.error().what();
    EXPECT_EQ(m->digest.str(), read(digest_file));
    json doc = json::parse(m->bytes, nullptr, false);
    ASSERT_FALSE(doc.is_discarded());
    std::vector<BlobDownload> blobs;
    auto add = [&](const json& desc) {
        auto d = Digest::parse(desc.value("digest", ""));
        ASSERT_TRUE(d);
        blobs.push_back({*d, desc.value("size", uint64_t{0}), tmp_.path() + "/got-" + d->hex});
    };
    add(doc["config"]);
    for (auto& l : doc["layers"]) add(l);
    ASSERT_EQ(blobs.size(), 2u);
    auto got = c.get_blobs("test/by-skopeo", blobs);
    ASSERT_TRUE(got) << got.error().what();
    EXPECT_EQ(read(blobs[1].dest_path), read(img.layer.path));
}

TEST(RegistryErrors, RegistryDown) {
    std::string addr;
    {
        Registry r;
        ASSERT_TRUE(r.ok());
        addr = r.address();
        r.stop();
        RegistryClient c(plain(addr));
        auto ping = c.ping();
        ASSERT_FALSE(ping);
        EXPECT_EQ(ping.error().message().rfind("registry " + addr + " is not reachable: ", 0), 0u)
            << ping.error().message();
        EXPECT_EQ(ping.error().code(), ECONNREFUSED);
        auto m = c.get_manifest("test/x", "v1");
        ASSERT_FALSE(m);
        EXPECT_NE(m.error().message().find("is not reachable"), std::string::npos);
    }
}

class RegistryTls : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { server_ = new Registry("--tls"); }
    static void TearDownTestSuite() {
        delete server_;
        server_ = nullptr;
    }
    void SetUp() override {
        ASSERT_TRUE(server_->ok()) << "the TLS registry fixture did not start";
    }
    RegistryClient::Options tls() const {
        RegistryClient::Options o;
        o.registry_host = server_->address();
        return o;
    }
    static Registry* server_;
    TempDir tmp_;
};
Registry* RegistryTls::server_ = nullptr;

TEST_F(RegistryTls, WithGeneratedCaFile) {
    RegistryClient::Options o = tls();
    o.ca_file = server_->ca_file();
    RegistryClient c(o);
    ASSERT_TRUE(c.ping());
    TestImage img = make_image(tmp_.path(), "tls");
    push_image(c, "test/tls", "v1", img);
    auto m = c.get_manifest("test/tls", "v1");
    ASSERT_TRUE(m) << m.error().what();
    EXPECT_EQ(m->bytes, img.manifest);
    auto b = c.get_blob("test/tls", img.layer.digest, img.layer.size, tmp_.path() + "/l");
    ASSERT_TRUE(b) << b.error().what();
}

TEST_F(RegistryTls, WithoutVerification) {
    RegistryClient::Options o = tls();
    o.tls_verify = false;
    RegistryClient c(o);
    auto ping = c.ping();
    ASSERT_TRUE(ping) << ping.error().what();
}

TEST_F(RegistryTls, VerificationWithoutCaFails) {
    RegistryClient c(tls());
    auto ping = c.ping();
    ASSERT_FALSE(ping);
    EXPECT_EQ(ping.error().message().rfind(
                  "TLS connection to registry " + server_->address() + " failed: ", 0),
              0u)
        << ping.error().message();
    // Plain HTTP against a TLS port is refused too, not mistaken for success.
    RegistryClient::Options o = tls();
    o.plain_http = true;
    RegistryClient http(o);
    EXPECT_FALSE(http.ping());
}

class RegistryAuth : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { server_ = new Registry("--htpasswd alice:s3cret:x"); }
    static void TearDownTestSuite() {
        delete server_;
        server_ = nullptr;
    }
    void SetUp() override { ASSERT_TRUE(server_->ok()) << "the htpasswd registry did not start"; }
    RegistryClient::Options opts(std::optional<Credentials> creds) const {
        RegistryClient::Options o = plain(server_->address());
        o.credentials = std::move(creds);
        return o;
    }
    static Registry* server_;
    TempDir tmp_;
};
Registry* RegistryAuth::server_ = nullptr;

TEST_F(RegistryAuth, BasicAuthSucceeds) {
    RegistryClient c(opts(Credentials{"alice", "s3cret:x"}));
    ASSERT_TRUE(c.ping());
    TestImage img = make_image(tmp_.path(), "auth");
    push_image(c, "test/auth", "v1", img);
    auto m = c.get_manifest("test/auth", "v1");
    ASSERT_TRUE(m) << m.error().what();
    EXPECT_EQ(m->bytes, img.manifest);
}

TEST_F(RegistryAuth, WrongPasswordIsAnAuthError) {
    RegistryClient c(opts(Credentials{"alice", "wrong"}));
    auto m = c.get_manifest("test/auth", "v1");
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().message().rfind(
                  "authentication to " + server_->address() + " failed for test/auth: ", 0),
              0u)
        << m.error().message();
    EXPECT_EQ(m.error().code(), EACCES);
}

TEST_F(RegistryAuth, NoCredentials) {
    RegistryClient c(opts(std::nullopt));
    auto ping = c.ping();
    ASSERT_FALSE(ping);
    EXPECT_NE(ping.error().message().find("requires credentials"), std::string::npos)
        << ping.error().message();
}

TEST_F(RegistryAuth, CredentialsFromSavedLogin) {
    std::string config = tmp_.path() + "/docker/config.json";
    ASSERT_TRUE(save_login(server_->address(), {"alice", "s3cret:x"}, config));
    struct stat st {};
    ASSERT_EQ(::stat(config.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto creds = find_credentials(server_->address(), config);
    ASSERT_TRUE(creds) << creds.error().what();
    ASSERT_TRUE(creds->has_value());
    RegistryClient c(opts(**creds));
    auto ping = c.ping();
    EXPECT_TRUE(ping) << ping.error().what();
}

// A stand-in registry with bearer-token auth (docker-registry's token mode needs a JWT issuer):
// answers /v2/ requests with a Bearer challenge until they carry the token its /token realm gives
// to bob:pw. One request per connection, served on a thread.
class FakeTokenRegistry {
  public:
    FakeTokenRegistry() {
        fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
            ::listen(fd_.get(), 16) != 0 ||
            ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
            return;
        address_ = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
        thread_ = std::thread([this] { serve(); });
    }
    ~FakeTokenRegistry() {
        stop_ = true;
        ::shutdown(fd_.get(), SHUT_RDWR);
        if (thread_.joinable()) thread_.join();
    }
    const std::string& address() const { return address_; }
    int token_requests() const { return tokens_.load(); }
    std::string manifest = R"({"schemaVersion":2})";

  private:
    void serve() {
        while (!stop_) {
            UniqueFd c(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
            if (!c) return;
            std::string req;
            char buf[4096];
            while (req.find("\r\n\r\n") == std::string::npos) {
                ssize_t n = ::read(c.get(), buf, sizeof buf);
                if (n <= 0) break;
                req.append(buf, static_cast<size_t>(n));
            }
            std::string reply = answer(req);
            (void)!::write(c.get(), reply.data(), reply.size());
        }
    }
    static std::string header(const std::string& req, const std::string& name) {
        size_t p = req.find("\r\n" + name + ": ");
        if (p == std::string::npos) return {};
        p += name.size() + 4;
        return req.substr(p, req.find("\r\n", p) - p);
    }
    static std::string response(int status, const std::string& extra, const std::string& body) {
        return "HTTP/1.1 " + std::to_string(status) +
               " X\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n" + extra + "\r\n" + body;
    }
    std::string answer(const std::string& req) {
        std::string method = req.substr(0, req.find(' '));
        std::string path =
            req.substr(method.size() + 1, req.find(' ', method.size() + 1) - method.size() - 1);
        std::string auth = header(req, "Authorization");
        if (path.starts_with("/token?")) {
            ++tokens_;
            if (auth != "Basic " + base64_encode("bob:pw"))
                return response(401, "", R"({"errors":[{"code":"UNAUTHORIZED","message":"bad"}]})");
            return response(200, "Content-Type: application/json\r\n",
                            R"({"access_token":"tok123"})");
        }
        if (auth != "Bearer tok123")
            return response(401,
                            "WWW-Authenticate: Bearer realm=\"http://" + address_ +
                                "/token\",service=\"fake\",scope=\"repository:test/bear:pull\"\r\n",
                            R"({"errors":[{"code":"UNAUTHORIZED","message":"token needed"}]})");
        if (path == "/v2/") return response(200, "", "{}");
        std::string type = "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n";
        if (path == "/v2/test/bear/manifests/v1")
            return response(200,
                            type + "Docker-Content-Digest: " + sha256_of(manifest).str() + "\r\n",
                            manifest);
        if (path == "/v2/test/bear/manifests/lying")
            return response(200,
                            type + "Docker-Content-Digest: " + sha256_of("other").str() + "\r\n",
                            manifest);
        return response(404, "", R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"no"}]})");
    }

    UniqueFd fd_;
    std::string address_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<int> tokens_{0};
};

TEST(RegistryBearer, TokenFromChallengeIsFetchedOnceAndUsed) {
    FakeTokenRegistry fake;
    ASSERT_FALSE(fake.address().empty());
    RegistryClient::Options o = plain(fake.address());
    o.credentials = Credentials{"bob", "pw"};
    RegistryClient c(o);
    for (int i = 0; i < 3; ++i) {
        auto m = c.get_manifest("test/bear", "v1");
        ASSERT_TRUE(m) << m.error().what();
        EXPECT_EQ(m->bytes, fake.manifest);
        EXPECT_EQ(m->media_type, kMediaTypeOciManifest);
    }
    EXPECT_EQ(fake.token_requests(), 1);  // cached for the scope

    // The body's digest must match what the registry claims, and the error names both.
    auto lying = c.get_manifest("test/bear", "lying");
    ASSERT_FALSE(lying);
    EXPECT_NE(lying.error().message().find(sha256_of("other").str()), std::string::npos);
    EXPECT_NE(lying.error().message().find(sha256_of(fake.manifest).str()), std::string::npos);
    // A digest reference must match the body too.
    auto wrong = c.get_manifest("test/bear", sha256_of("other").str());
    ASSERT_FALSE(wrong);
}

TEST(RegistryBearer, TokenServerRefusingCredentials) {
    FakeTokenRegistry fake;
    RegistryClient::Options o = plain(fake.address());
    o.credentials = Credentials{"bob", "nope"};
    RegistryClient c(o);
    auto m = c.get_manifest("test/bear", "v1");
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().message().rfind(
                  "authentication to " + fake.address() + " failed for test/bear: token server", 0),
              0u)
        << m.error().message();
}

TEST(RegistryCredentials, ParseAndDockerConfig) {
    auto ok = Credentials::parse("bob:pa:ss");
    ASSERT_TRUE(ok);
    EXPECT_EQ(*ok, (Credentials{"bob", "pa:ss"}));
    EXPECT_FALSE(Credentials::parse("nocolon"));
    EXPECT_FALSE(Credentials::parse(":pass"));

    EXPECT_EQ(base64_encode("user:pass"), "dXNlcjpwYXNz");
    for (std::string s : {"", "a", "ab", "abc", "abcd"}) {
        auto d = base64_decode(base64_encode(s));
        ASSERT_TRUE(d);
        EXPECT_EQ(*d, s);
    }
    // RFC 4648's test vectors, and malformed input refused.
    EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
    EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
    EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
    EXPECT_EQ(base64_encode("\xff\xfe"), "//4=");
    EXPECT_EQ(*base64_decode("Zm9vYg=="), "foob");
    EXPECT_EQ(*base64_decode("Zm9vYmE=\n"), "fooba");
    for (const char* bad : {"Zm9", "Zm9v!A==", "Zg=a", "=Zm9", "Zm==Zm9v", "Z===", "Zm9vYg=A"})
        EXPECT_FALSE(base64_decode(bad)) << bad;

    TempDir tmp;
    std::string path = tmp.path() + "/config.json";
    write(path, R"({"auths": {"https://reg.example:5000/v1/": {"auth": "dXNlcjpwYXNz"},
                              "other:1": {"username": "u2", "password": "p2"}},
                    "credsStore": "keep-me"})");
    auto all = load_docker_config(path);
    ASSERT_TRUE(all) << all.error().what();
    EXPECT_EQ(all->at("reg.example:5000"), (Credentials{"user", "pass"}));
    EXPECT_EQ(all->at("other:1"), (Credentials{"u2", "p2"}));
    auto none = find_credentials("absent:1", path);
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->has_value());

    ASSERT_TRUE(save_login("new:2", {"n", "m"}, path));
    json doc = json::parse(read(path));
    EXPECT_EQ(doc["credsStore"], "keep-me");
    EXPECT_EQ(doc["auths"]["new:2"]["auth"], base64_encode("n:m"));
    EXPECT_TRUE(load_docker_config(tmp.path() + "/missing.json"));

    write(path, "not json");
    EXPECT_FALSE(load_docker_config(path));
}

TEST(RegistryCredentials, ParsesAuthChallenges) {
    auto c = parse_www_authenticate(
        R"(Bearer realm="https://auth.example/token",service="registry.example",)"
        R"(scope="repository:a/b:pull,push")");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->scheme, "bearer");
    EXPECT_EQ(c->realm, "https://auth.example/token");
    EXPECT_EQ(c->service, "registry.example");
    EXPECT_EQ(c->scope, "repository:a/b:pull,push");
    auto b = parse_www_authenticate(R"(Basic realm="skiff-test")");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->scheme, "basic");
    EXPECT_EQ(b->realm, "skiff-test");
    EXPECT_FALSE(parse_www_authenticate(R"(Bearer realm="unterminated)"));
}

}  // namespace
}  // namespace skiff::images
