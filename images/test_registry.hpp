// Test support shared by the images tests: a real docker-registry per suite, a small OCI image.
#pragma once

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

#ifndef SKIFF_SOURCE_DIR
// This file is images/registry_client_test.cpp: two components up is the repository root.
#define SKIFF_SOURCE_DIR __FILE__
#define SKIFF_SOURCE_DIR_IS_FILE 1
#endif

namespace skiff::images::test_support {

using nlohmann::json;

inline std::string source_dir() {
    if (const char* s = std::getenv("SKIFF_SOURCE"); s && *s) return s;
    std::string dir = SKIFF_SOURCE_DIR;
#ifdef SKIFF_SOURCE_DIR_IS_FILE
    for (int i = 0; i < 2; ++i) dir = dir.substr(0, dir.rfind('/'));
#endif
    return dir;
}

inline std::string fixture() {
    return source_dir() + "/tests/fixtures/registry";
}

inline std::string quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'')
            out += "'\\''";
        else
            out += c;
    }
    return out + "'";
}

// Runs a shell command; returns its exit status and stdout (stderr goes to the test log).
inline std::pair<int, std::string> run(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "re");
    if (!p) return {-1, ""};
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int status = ::pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

inline std::string read(const std::string& path) {
    auto r = fs::read_file(path);
    return r ? *r : std::string("<unreadable " + path + ">");
}

inline void write(const std::string& path, std::string_view data) {
    ASSERT_TRUE(fs::write_file(path, data)) << path;
}

inline std::string random_bytes(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
}

class TempDir {
  public:
    TempDir() {
        char tmpl[] = "/tmp/skiff-registry-test-XXXXXX";
        path_ = ::mkdtemp(tmpl) ? tmpl : "";
    }
    ~TempDir() { (void)fs::remove_all(path_); }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

// One docker-registry process run by tests/fixtures/registry; stopped when it goes.
class Registry {
  public:
    explicit Registry(const std::string& flags = "") {
        auto [rc, out] =
            run(quote(fixture()) + " start " + quote(dir_.path() + "/reg") + " " + flags);
        if (rc == 0) {
            while (!out.empty() && out.back() == '\n') out.pop_back();
            address_ = out;
        }
    }
    ~Registry() { stop(); }
    void stop() { (void)run(quote(fixture()) + " stop " + quote(dir_.path() + "/reg")); }
    bool ok() const { return !address_.empty(); }
    const std::string& address() const { return address_; }
    std::string dir() const { return dir_.path() + "/reg"; }
    std::string ca_file() const { return dir() + "/tls/ca.crt"; }
    std::string blob_data(const Digest& d) const {
        return dir() + "/data/docker/registry/v2/blobs/sha256/" + d.hex.substr(0, 2) + "/" + d.hex +
               "/data";
    }

  private:
    TempDir dir_;
    std::string address_;
};

struct Blob {
    std::string path;
    Digest digest;
    uint64_t size = 0;
};

// A minimal valid OCI image: one gzip layer made with tar, its config and manifest.
struct TestImage {
    Blob config;
    Blob layer;
    std::string manifest;
};

inline Blob make_blob(const std::string& path, std::string_view data) {
    EXPECT_TRUE(fs::write_file(path, data));
    return {path, sha256_of(data), data.size()};
}

inline TestImage make_image(const std::string& dir, const std::string& text) {
    TestImage img;
    std::string root = dir + "/rootfs";
    EXPECT_TRUE(fs::make_dirs(root + "/etc"));
    EXPECT_TRUE(fs::write_file(root + "/etc/message", text));
    EXPECT_EQ(run("tar -C " + quote(root) + " -cf " + quote(dir + "/layer.tar") +
                  " . && gzip -nf " + quote(dir + "/layer.tar"))
                  .first,
              0);
    std::string layer_gz = read(dir + "/layer.tar.gz");
    EXPECT_EQ(run("gzip -dkf " + quote(dir + "/layer.tar.gz")).first, 0);
    Digest diff_id = sha256_of(read(dir + "/layer.tar"));
    img.layer = make_blob(dir + "/layer.blob", layer_gz);
    json config = {{"architecture", "amd64"},
                   {"os", "linux"},
                   {"config", {{"Cmd", {"/bin/sh"}}}},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", {diff_id.str()}}}}};
    img.config = make_blob(dir + "/config.blob", config.dump());
    json manifest = {{"schemaVersion", 2},
                     {"mediaType", kMediaTypeOciManifest},
                     {"config",
                      {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                       {"digest", img.config.digest.str()},
                       {"size", img.config.size}}},
                     {"layers",
                      {{{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
                        {"digest", img.layer.digest.str()},
                        {"size", img.layer.size}}}}};
    img.manifest = manifest.dump();
    return img;
}

inline RegistryClient::Options plain(const std::string& address) {
    RegistryClient::Options o;
    o.registry_host = address;
    o.plain_http = true;
    return o;
}

inline void push_image(RegistryClient& c, const std::string& repo, const std::string& tag,
                const TestImage& img) {
    for (const Blob* b : {&img.config, &img.layer}) {
        auto exists = c.blob_exists(repo, b->digest);
        ASSERT_TRUE(exists) << exists.error().what();
        if (*exists) continue;
        auto pushed = c.push_blob(repo, b->digest, b->path);
        ASSERT_TRUE(pushed) << pushed.error().what();
    }
    auto put = c.put_manifest(repo, tag, img.manifest, std::string(kMediaTypeOciManifest));
    ASSERT_TRUE(put) << put.error().what();
    EXPECT_EQ(*put, sha256_of(img.manifest));
}

}  // namespace skiff::images::test_support
