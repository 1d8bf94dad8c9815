// Tests for image import and export: OCI layouts (directory and tar), docker-archive, root
// filesystem tars, round trips, and crafted archives that must leave the store as it was.
#include "skiff/images/archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "skiff/base/fs.hpp"
#include "skiff/images/unpack.hpp"
#include "test_files.hpp"

namespace skiff::images {
namespace {

using namespace test_files;

using json = nlohmann::json;

// One file of an archive being made: a regular file, or a symlink / hard link to `link`.
struct File {
    std::string name;
    std::string data;
    mode_t type = AE_IFREG;
    std::string link;
    bool hardlink = false;
};
using Files = std::vector<File>;

std::string make_tar(const Files& files) {
    std::string out;
    archive* a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_open(a, &out, nullptr, test_files::append_to_string, nullptr);
    for (const auto& f : files) {
        archive_entry* e = archive_entry_new();
        archive_entry_set_pathname(e, f.name.c_str());
        archive_entry_set_filetype(e, f.hardlink ? AE_IFREG : f.type);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_mtime(e, 1700000000, 0);
        if (f.hardlink) archive_entry_set_hardlink(e, f.link.c_str());
        if (f.type == AE_IFLNK) archive_entry_set_symlink(e, f.link.c_str());
        bool has_data = f.type == AE_IFREG && !f.hardlink;
        archive_entry_set_size(e, has_data ? static_cast<la_int64_t>(f.data.size()) : 0);
        EXPECT_EQ(archive_write_header(a, e), ARCHIVE_OK)
            << f.name << ": " << archive_error_string(a);
        if (has_data) archive_write_data(a, f.data.data(), f.data.size());
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    return out;
}

// An image in memory, built the way image tools build them.
struct Image {
    std::vector<std::string> layers;  // as in the manifest, base first
    std::string config;
    std::string manifest;
    Digest digest() const { return sha256_of(manifest); }
    Digest config_digest() const { return sha256_of(config); }
    Digest layer_digest(size_t i = 0) const { return sha256_of(layers.at(i)); }
};

std::string media_type_of(Compression c) {
    switch (c) {
        case Compression::gzip:
            return std::string(media_type::kOciLayerGzip);
        case Compression::zstd:
            return std::string(media_type::kOciLayerZstd);
        case Compression::none:
            break;
    }
    return std::string(media_type::kOciLayerTar);
}

Image make_image(const std::vector<Files>& layers, Compression c = Compression::gzip,
                 const std::string& architecture = host_platform().architecture) {
    Image img;
    json diff_ids = json::array(), descriptors = json::array();
    for (const auto& files : layers) {
        std::string tar = make_tar(files);
        diff_ids.push_back(sha256_of(tar).str());
        img.layers.push_back(compress(tar, c));
        descriptors.push_back({{"mediaType", media_type_of(c)},
                               {"digest", sha256_of(img.layers.back()).str()},
                               {"size", img.layers.back().size()}});
    }
    img.config = json{{"architecture", architecture},
                      {"os", "linux"},
                      {"config", {{"Cmd", {"/bin/sh"}}}},
                      {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}}
                     .dump();
    json manifest = {{"schemaVersion", 2},
                     {"mediaType", media_type::kOciManifest},
                     {"config",
                      {{"mediaType", media_type::kOciConfig},
                       {"digest", img.config_digest().str()},
                       {"size", img.config.size()}}},
                     {"layers", descriptors}};
    img.manifest = manifest.dump();
    return img;
}

Image message_image(const std::string& text, Compression c = Compression::gzip) {
    return make_image({{{"etc/", "", AE_IFDIR}, {"etc/message", text}}}, c);
}

std::string blob_name(const Digest& d) {
    return "blobs/sha256/" + d.hex;
}

// An OCI layout holding the images, listed in index.json with these ref.names.
Files layout_files(const std::vector<std::pair<std::string, const Image*>>& images) {
    Files files{{"oci-layout", R"({"imageLayoutVersion":"1.0.0"})"}};
    json index = {
        {"schemaVersion", 2}, {"mediaType", media_type::kOciIndex}, {"manifests", json::array()}};
    for (const auto& [ref_name, img] : images) {
        json entry = {{"mediaType", media_type::kOciManifest},
                      {"digest", img->digest().str()},
                      {"size", img->manifest.size()}};
        if (!ref_name.empty())
            entry["annotations"] = {{"org.opencontainers.image.ref.name", ref_name}};
        index["manifests"].push_back(entry);
        for (const auto& layer : img->layers) files.push_back({blob_name(sha256_of(layer)), layer});
        files.push_back({blob_name(img->config_digest()), img->config});
        files.push_back({blob_name(img->digest()), img->manifest});
    }
    files.push_back({"index.json", index.dump()});
    return files;
}

// `docker save` output: manifest.json, <hex>.json config, <id>/layer.tar and legacy files.
Files docker_files(const Image& img, const std::vector<std::string>& repo_tags) {
    json manifest = json::array({{{"Config", img.config_digest().hex + ".json"},
                                  {"RepoTags", repo_tags},
                                  {"Layers", {"0123abcd/layer.tar"}}}});
    return {{"0123abcd/VERSION", "1.0"},
            {"0123abcd/json", "{}"},
            {"0123abcd/layer.tar", img.layers.at(0)},
            {img.config_digest().hex + ".json", img.config},
            {"manifest.json", manifest.dump()}};
}

Files replace(Files files, const std::string& name, File with) {
    for (auto& f : files)
        if (f.name == name) f = with;
    return files;
}

Files without(Files files, const std::string& name) {
    files.erase(
        std::remove_if(files.begin(), files.end(), [&](const File& f) { return f.name == name; }),
        files.end());
    return files;
}

std::string read(const std::string& path) {
    auto r = fs::read_file(path);
    return r ? *r : "<unreadable " + path + ">";
}

// What a failed import must not change.
struct StoreState {
    std::map<std::string, Digest> refs;
    std::vector<std::string> blobs, snapshots, ingest;
    bool operator==(const StoreState&) const = default;
};

class ArchiveTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/skiff-archive-test-XXXXXX";
        ASSERT_TRUE(::mkdtemp(tmpl));
        dir_ = tmpl;
        auto svc = ImageService::open(dir_ + "/store", StoreOptions{false});
        ASSERT_TRUE(svc.ok()) << svc.error().what();
        service_.emplace(std::move(*svc));
    }
    void TearDown() override {
        service_.reset();
        ASSERT_TRUE(fs::remove_all(dir_).ok());
    }

    std::string path(const std::string& name) const { return dir_ + "/" + name; }

    std::string write_tar(const std::string& name, const Files& files) {
        std::string p = path(name);
        EXPECT_TRUE(fs::write_file(p, make_tar(files)).ok());
        return p;
    }
    std::string write_dir(const std::string& name, const Files& files) {
        std::string root = path(name);
        EXPECT_TRUE(fs::make_dirs(root).ok());
        for (const auto& f : files) {
            std::string p = root + "/" + f.name;
            EXPECT_TRUE(fs::make_dirs(p.substr(0, p.rfind('/'))).ok());
            if (f.type == AE_IFLNK) {
                EXPECT_EQ(::symlink(f.link.c_str(), p.c_str()), 0) << p;
            } else if (f.type == AE_IFREG) {
                EXPECT_TRUE(fs::write_file(p, f.data).ok()) << p;
            }
        }
        return root;
    }

    StoreState state() {
        std::string root = dir_ + "/store";
        StoreState s;
        auto refs = service_->store().list_refs();
        EXPECT_TRUE(refs.ok());
        if (refs) s.refs = *refs;
        s.blobs = entries(root + "/blobs/sha256");
        for (auto& n : entries(root + "/snapshots"))
            if (n[0] != '.') s.snapshots.push_back(n);
        s.ingest = entries(root + "/ingest");
        return s;
    }

    Result<ImportResult> import(const std::string& source, const std::string& name = "",
                                const std::string& selector = "") {
        ImportOptions o;
        o.name = name;
        o.selector = selector;
        return import_image(*service_, source, o);
    }

    // The import fails with a message containing `needle`, and the store is as it was.
    void expect_refused(const std::string& source, const std::string& needle,
                        const std::string& name = "local/x:1") {
        StoreState before = state();
        auto r = import(source, name);
        ASSERT_FALSE(r.ok()) << source << " was imported";
        EXPECT_NE(r.error().message().find("import " + source + ": "), std::string::npos)
            << r.error().what();
        EXPECT_NE(r.error().message().find(needle), std::string::npos) << r.error().what();
        EXPECT_EQ(state(), before) << "the failed import of " << source << " changed the store";
    }

    std::string message_of(const LocalImage& img) const {
        return read(img.layers.back() + "/etc/message");
    }

    std::string dir_;
    std::optional<ImageService> service_;
};

TEST_F(ArchiveTest, OciLayoutDirectoryAndTar) {
    Image img = message_image("from a layout");
    Files files = layout_files({{"v1", &img}});
    for (const auto& source : {write_dir("layout", files), write_tar("layout.tar", files)}) {
        auto r = import(source, "local/app:1");
        ASSERT_TRUE(r.ok()) << r.error().what();
        EXPECT_EQ(r->format, ImportFormat::kOciLayout);
        ASSERT_EQ(r->images.size(), 1u);
        const LocalImage& got = r->images[0];
        EXPECT_EQ(got.name, "docker.io/local/app:1");
        EXPECT_EQ(got.digest, img.digest());
        EXPECT_EQ(message_of(got), "from a layout");
        EXPECT_EQ(got.config.config.cmd, std::vector<std::string>{"/bin/sh"});
    }
    // tar's own "./" prefixes are fine.
    Files dotted = files;
    for (auto& f : dotted) f.name = "./" + f.name;
    auto r = import(write_tar("dotted.tar", dotted), "local/app:2");
    ASSERT_TRUE(r.ok()) << r.error().what();
    EXPECT_EQ(r->images[0].digest, img.digest());
}

TEST_F(ArchiveTest, OciLayoutNamesComeFromTheUserOrAFullRefName) {
    Image img = message_image("named");
    auto full = import(write_dir("full", layout_files({{"example.com/team/app:v2", &img}})));
    ASSERT_TRUE(full.ok()) << full.error().what();
    EXPECT_EQ(full->images[0].name, "example.com/team/app:v2");

    std::string tag_only = write_tar("tag.tar", layout_files({{"v1", &img}}));
    auto unnamed = import(tag_only);
    ASSERT_FALSE(unnamed.ok());
    EXPECT_NE(unnamed.error().message().find("\"v1\"; give a NAME"), std::string::npos)
        << unnamed.error().what();
    auto by_option = import(tag_only, "x/y:z");
    ASSERT_TRUE(by_option.ok()) << by_option.error().what();
    EXPECT_EQ(by_option->images[0].name, "docker.io/x/y:z");
}

TEST_F(ArchiveTest, ALayoutWithTwoTaggedImagesNeedsASelector) {
    Image one = message_image("one"), two = message_image("two");
    std::string layout = write_tar("two.tar", layout_files({{"v1", &one}, {"v2", &two}}));
    auto ambiguous = import(layout, "local/app:1");
    ASSERT_FALSE(ambiguous.ok());
    EXPECT_NE(ambiguous.error().message().find("holds 2 images (\"v1\", \"v2\")"),
              std::string::npos)
        << ambiguous.error().what();

    auto second = import(layout, "local/app:2", "v2");
    ASSERT_TRUE(second.ok()) << second.error().what();
    EXPECT_EQ(second->images[0].digest, two.digest());
    EXPECT_EQ(message_of(second->images[0]), "two");

    auto missing = import(layout, "local/app:3", "v3");
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().message().find("no image named \"v3\""), std::string::npos)
        << missing.error().what();

    // The CLI's "layout.tar:v1" form.
    EXPECT_EQ(split_import_source(layout + ":v1"), std::make_pair(layout, std::string("v1")));
    EXPECT_EQ(split_import_source(layout), std::make_pair(layout, std::string()));
    EXPECT_EQ(split_import_source(layout + ":busybox:1.36"),
              std::make_pair(layout, std::string("busybox:1.36")));
}

TEST_F(ArchiveTest, AnIndexInTheLayoutIsResolvedForThePlatform) {
    std::string host = host_platform().architecture;
    std::string other = host == "arm64" ? "amd64" : "arm64";
    Image mine = make_image({{{"etc/message", "mine"}}}, Compression::gzip, host);
    Image theirs = make_image({{{"etc/message", "theirs"}}}, Compression::gzip, other);
    auto child = [](const Image& img, const std::string& arch) {
        return json{{"mediaType", media_type::kOciManifest},
                    {"digest", img.digest().str()},
                    {"size", img.manifest.size()},
                    {"platform", {{"architecture", arch}, {"os", "linux"}}}};
    };
    std::string index = json{{"schemaVersion", 2},
                             {"mediaType", media_type::kOciIndex},
                             {"manifests", {child(mine, host), child(theirs, other)}}}
                            .dump();
    Files files = layout_files({{"v1", &mine}, {"v1", &theirs}});
    files.back() = {"index.json", json{{"schemaVersion", 2},
                                       {"manifests",
                                        {{{"mediaType", media_type::kOciIndex},
                                          {"digest", sha256_of(index).str()},
                                          {"size", index.size()},
                                          {"annotations",
                                           {{"org.opencontainers.image.ref.name", "v1"}}}}}}}
                                      .dump()};
    files.push_back({blob_name(sha256_of(index)), index});
    std::string layout = write_tar("multi.tar", files);

    auto r = import(layout, "multi:1");
    ASSERT_TRUE(r.ok()) << r.error().what();
    EXPECT_EQ(r->images[0].digest, sha256_of(index));  // the name points at the index, as a pull's
    EXPECT_EQ(r->images[0].manifest_digest, mine.digest());
    EXPECT_EQ(message_of(r->images[0]), "mine");
    EXPECT_FALSE(service_->store().has_blob(theirs.layer_digest()));  // one platform only

    // Exported as the platform's manifest while the store lacks the other platform...
    ExportOptions eo;
    eo.format = ExportFormat::kOciDir;
    ASSERT_TRUE(export_images(*service_, {"multi:1"}, path("one"), eo).ok());
    auto one = json::parse(read(path("one/index.json")));
    EXPECT_EQ(one["manifests"][0]["digest"], mine.digest().str());
    EXPECT_EQ(one["manifests"][0]["mediaType"], media_type::kOciManifest);

    ImportOptions o;
    o.name = "multi:other";
    o.platform = Platform{other, "linux", "", "", {}};
    auto r2 = import_image(*service_, layout, o);
    ASSERT_TRUE(r2.ok()) << r2.error().what();
    EXPECT_EQ(read(r2->images[0].layers[0] + "/etc/message"), "theirs");

    // ... and whole once it has all of the index.
    ASSERT_TRUE(export_images(*service_, {"multi:1"}, path("whole"), eo).ok());
    auto whole = json::parse(read(path("whole/index.json")));
    EXPECT_EQ(whole["manifests"][0]["digest"], sha256_of(index).str());
    EXPECT_EQ(whole["manifests"][0]["mediaType"], media_type::kOciIndex);
    EXPECT_EQ(read(path("whole/" + blob_name(theirs.layer_digest()))), theirs.layers[0]);
}

TEST_F(ArchiveTest, LargeFilesAreReadInASecondPassOverTheTar) {
    // Beyond what the listing read keeps in memory (1 MiB a file): the config is read by name in
    // a second read, the layer streamed in a third.
    std::string big(3 << 20, '\0');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
    Image img = make_image({{{"big", big}}}, Compression::none);
    auto config = json::parse(img.config);
    config["config"]["Labels"] = {{"padding", std::string(1536 << 10, 'p')}};
    img.config = config.dump();
    auto manifest = json::parse(img.manifest);
    manifest["config"]["digest"] = img.config_digest().str();
    manifest["config"]["size"] = img.config.size();
    img.manifest = manifest.dump();
    Files files = layout_files({{"v1", &img}});
    std::string layer = blob_name(img.layer_digest());
    std::string tampered = img.layers[0];
    tampered[2 << 20] ^= 1;
    expect_refused(write_tar("big-tampered.tar", replace(files, layer, {layer, tampered})),
                   layer + ": digest mismatch", "big:2");

    auto r = import(write_tar("big.tar", files), "big:1");
    ASSERT_TRUE(r.ok()) << r.error().what();
    EXPECT_EQ(read(r->images[0].layers[0] + "/big"), big);
    EXPECT_EQ(r->images[0].config.config.labels.at("padding").size(), 1536u << 10);
}

TEST_F(ArchiveTest, DockerArchiveWithPlainAndCompressedLayers) {
    Image plain = message_image("plain layer", Compression::none);
    auto r = import(write_tar("docker.tar", docker_files(plain, {"example.com/d:1", "d:latest"})));
    ASSERT_TRUE(r.ok()) << r.error().what();
    EXPECT_EQ(r->format, ImportFormat::kDockerArchive);
    ASSERT_EQ(r->images.size(), 2u);
    EXPECT_EQ(r->images[0].name, "example.com/d:1");
    EXPECT_EQ(r->images[1].name, "docker.io/library/d:latest");
    EXPECT_EQ(message_of(r->images[0]), "plain layer");
    // The stored manifest names the config and the layer as they were in the archive.
    EXPECT_EQ(r->images[0].manifest.config.digest, plain.config_digest());
    ASSERT_EQ(r->images[0].manifest.layers.size(), 1u);
    EXPECT_EQ(r->images[0].manifest.layers[0].digest, plain.layer_digest());
    EXPECT_EQ(r->images[0].manifest.layers[0].media_type, media_type::kOciLayerTar);

    Image zipped = message_image("gzip layer", Compression::gzip);
    auto z = import(write_dir("docker-dir", docker_files(zipped, {"z:1"})));
    ASSERT_TRUE(z.ok()) << z.error().what();
    EXPECT_EQ(z->images[0].manifest.layers[0].media_type, media_type::kOciLayerGzip);
    EXPECT_EQ(z->images[0].manifest.layers[0].digest, zipped.layer_digest());
    EXPECT_EQ(message_of(z->images[0]), "gzip layer");

    // No RepoTags: the user names it.
    std::string untagged = write_tar("untagged.tar", docker_files(plain, {}));
    auto unnamed = import(untagged);
    ASSERT_FALSE(unnamed.ok());
    EXPECT_NE(unnamed.error().message().find("no RepoTags; give a NAME"), std::string::npos)
        << unnamed.error().what();
    auto named = import(untagged, "mine:1");
    ASSERT_TRUE(named.ok()) << named.error().what();
    EXPECT_EQ(named->images[0].name, "docker.io/library/mine:1");
}

TEST_F(ArchiveTest, RootfsTarsPlainGzipAndZstd) {
    std::string tar =
        make_tar({{"./", "", AE_IFDIR}, {"./etc/", "", AE_IFDIR}, {"./etc/message", "rootfs"}});
    for (auto c : {Compression::none, Compression::gzip, Compression::zstd}) {
        std::string name = "root/fs:" + std::string(compression_name(c));
        std::string file = path("rootfs-" + std::string(compression_name(c)));
        // Once: a gzip header holds the time it was made.
        std::string compressed = compress(tar, c);
        ASSERT_TRUE(fs::write_file(file, compressed).ok());
        auto r = import(file, name);
        ASSERT_TRUE(r.ok()) << r.error().what();
        EXPECT_EQ(r->format, ImportFormat::kRootfs);
        const LocalImage& img = r->images[0];
        EXPECT_EQ(message_of(img), "rootfs");
        EXPECT_EQ(img.config.diff_ids, std::vector<Digest>{sha256_of(tar)});
        EXPECT_EQ(img.config.os, "linux");
        EXPECT_EQ(img.config.architecture, host_platform().architecture);
        EXPECT_FALSE(img.config.created.empty());
        EXPECT_TRUE(img.config.config.cmd.empty());
        // Stored as given: the layer blob is the file.
        EXPECT_EQ(img.manifest.layers[0].digest, sha256_of(compressed));
        EXPECT_EQ(img.manifest.layers[0].media_type, media_type_of(c));
    }
    std::string file = path("rootfs-uncompressed");
    auto unnamed = import(file);
    ASSERT_FALSE(unnamed.ok());
    EXPECT_NE(unnamed.error().message().find("give a NAME"), std::string::npos)
        << unnamed.error().what();
    ImportOptions forced;
    forced.format = ImportFormat::kRootfs;
    forced.name = "forced:1";
    auto r = import_image(*service_, file, forced);
    ASSERT_TRUE(r.ok()) << r.error().what();
}

TEST_F(ArchiveTest, ExportThenImportGivesTheSameImage) {
    Image img = message_image("round trip");
    ASSERT_TRUE(
        import(write_dir("layout", layout_files({{"v1", &img}})), "example.com/rt:v1").ok());
    ASSERT_TRUE(service_->tag("example.com/rt:v1", "example.com/rt:other").ok());

    struct Case {
        ExportFormat format;
        std::string dest;
    };
    for (const auto& [format, dest] :
         {Case{ExportFormat::kOciArchive, path("out-oci.tar")},
          Case{ExportFormat::kOciDir, path("out-oci")},
          Case{ExportFormat::kDockerArchive, path("out-docker.tar")}}) {
        ExportOptions o;
        o.format = format;
        auto s = export_images(*service_, {"example.com/rt:v1", "example.com/rt:other"}, dest, o);
        ASSERT_TRUE(s.ok()) << s.error().what();

        char tmpl[] = "/tmp/skiff-archive-rt-XXXXXX";
        ASSERT_TRUE(::mkdtemp(tmpl));
        std::string other_root = tmpl;
        {
            auto other = ImageService::open(other_root, StoreOptions{false});
            ASSERT_TRUE(other.ok());
            ImportOptions io;
            io.selector = "example.com/rt:v1";
            auto r = import_image(*other, dest, io);
            ASSERT_TRUE(r.ok()) << r.error().what();
            ASSERT_EQ(r->images.size(), 1u) << dest;
            EXPECT_EQ(r->images[0].name, "example.com/rt:v1");
            EXPECT_EQ(read(r->images[0].layers[0] + "/etc/message"), "round trip");
            if (format == ExportFormat::kDockerArchive) {
                // docker-archive carries no manifest: skiff makes one around the same blobs.
                EXPECT_EQ(r->images[0].manifest.config.digest, img.config_digest());
                EXPECT_EQ(r->images[0].manifest.layers[0].digest, img.layer_digest());
            } else {
                EXPECT_EQ(r->images[0].digest, img.digest()) << dest;
            }
        }
        ASSERT_TRUE(fs::remove_all(other_root).ok());
    }
    // What the layout's index.json says, for skopeo's and umoci's DIR:TAG.
    auto index = json::parse(read(path("out-oci/index.json")));
    ASSERT_EQ(index["manifests"].size(), 2u);
    EXPECT_EQ(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "v1");
    EXPECT_EQ(index["manifests"][0]["annotations"]["io.containerd.image.name"],
              "example.com/rt:v1");
    EXPECT_EQ(read(path("out-oci/" + blob_name(img.digest()))), img.manifest);
    // Nothing but the results beside them: the temp files were renamed.
    EXPECT_EQ(entries(dir_), (std::vector<std::string>{"layout", "out-docker.tar", "out-oci",
                                                       "out-oci.tar", "store"}));
}

TEST_F(ArchiveTest, AFailedExportLeavesNoDestination) {
    Image img = message_image("x");
    ASSERT_TRUE(import(write_dir("layout", layout_files({{"v1", &img}})), "x:1").ok());
    auto unknown = export_images(*service_, {"never:pulled"}, path("out.tar"));
    ASSERT_FALSE(unknown.ok());
    EXPECT_NE(unknown.error().message().find("export " + path("out.tar")), std::string::npos);
    // A layer blob gone bad in the store is found while copying: the partial tar goes.
    std::string blob = service_->store().blob_path(img.layer_digest());
    ASSERT_EQ(::chmod(blob.c_str(), 0644), 0);
    std::string bad = img.layers[0];
    bad[bad.size() / 2] ^= 1;
    ASSERT_TRUE(fs::write_file(blob, bad).ok());
    auto corrupt = export_images(*service_, {"x:1"}, path("out.tar"));
    ASSERT_FALSE(corrupt.ok());
    EXPECT_NE(corrupt.error().message().find("corrupt"), std::string::npos)
        << corrupt.error().what();
    ExportOptions dir_format;
    dir_format.format = ExportFormat::kOciDir;
    EXPECT_FALSE(export_images(*service_, {"x:1"}, path("out-dir"), dir_format).ok());
    EXPECT_EQ(entries(dir_), (std::vector<std::string>{"layout", "store"}));
    // A directory DEST must be empty.
    ASSERT_TRUE(fs::write_file(blob, img.layers[0]).ok());
    ASSERT_TRUE(fs::make_dirs(path("full")).ok());
    ASSERT_TRUE(fs::write_file(path("full/keep"), "mine").ok());
    auto full = export_images(*service_, {"x:1"}, path("full"), dir_format);
    ASSERT_FALSE(full.ok());
    EXPECT_EQ(entries(path("full")), std::vector<std::string>{"keep"});
    ASSERT_TRUE(fs::make_dirs(path("empty")).ok());
    EXPECT_TRUE(export_images(*service_, {"x:1"}, path("empty"), dir_format).ok());
    EXPECT_EQ(read(path("empty/oci-layout")), R"({"imageLayoutVersion":"1.0.0"})");
}

// ----- crafted archives: each refused with a message naming what is wrong; the store unchanged

class MaliciousArchiveTest : public ArchiveTest {
  protected:
    void SetUp() override {
        ArchiveTest::SetUp();
        // Something in the store already, so "unchanged" is not trivially "empty".
        Image existing = message_image("existing");
        ASSERT_TRUE(
            import(write_dir("existing", layout_files({{"v1", &existing}})), "existing:1").ok());
        files_ = layout_files({{"v1", &img_}});
    }
    Image img_ = message_image("payload");
    Files files_;
};

TEST_F(MaliciousArchiveTest, DotDotAndAbsoluteEntryNames) {
    Files dotdot = files_;
    dotdot.push_back({"../x", "outside"});
    expect_refused(write_tar("dotdot.tar", dotdot), "\"../x\": \"..\" in the path");
    Files inner = files_;
    inner.push_back({"blobs/../../x", "outside"});
    expect_refused(write_tar("inner.tar", inner), "\"blobs/../../x\"");
    Files absolute = files_;
    absolute.push_back({"/etc/x", "outside"});
    expect_refused(write_tar("absolute.tar", absolute), "\"/etc/x\": absolute path");
    Files twice = files_;
    twice.push_back({blob_name(img_.layer_digest()), "second copy"});
    expect_refused(write_tar("twice.tar", twice), "in the archive twice");
}

TEST_F(MaliciousArchiveTest, LinksWhereABlobShouldBe) {
    std::string layer = blob_name(img_.layer_digest());
    Files symlinked = replace(files_, layer, {layer, "", AE_IFLNK, "/etc/passwd"});
    expect_refused(write_tar("symlink.tar", symlinked), layer + ": a symlink, not a regular file");
    expect_refused(write_dir("symlink-dir", symlinked), layer + ": a symlink, not a regular file");
    Files hardlinked = replace(files_, layer, {layer, "", AE_IFREG, "oci-layout", true});
    expect_refused(write_tar("hardlink.tar", hardlinked),
                   layer + ": a hard link, not a regular file");
    // A symlinked directory on the way to the blobs is not followed either.
    Files redirected = without(files_, layer);
    std::string dir = write_dir("redirected", redirected);
    ASSERT_TRUE(fs::make_dirs(dir + "/blobs2").ok());
    ASSERT_EQ(::rename((dir + "/blobs").c_str(), (dir + "/blobs2/real").c_str()), 0);
    ASSERT_EQ(::symlink((dir + "/blobs2/real").c_str(), (dir + "/blobs").c_str()), 0);
    expect_refused(dir, "reached through a symlink");
    Files index_link = replace(files_, "index.json", {"index.json", "", AE_IFLNK, "/etc/passwd"});
    expect_refused(write_tar("index-link.tar", index_link), "index.json: a symlink");
}

TEST_F(MaliciousArchiveTest, WrongOrMissingBlobs) {
    std::string layer = blob_name(img_.layer_digest());
    std::string tampered = img_.layers[0];
    tampered[tampered.size() / 2] ^= 0x55;
    expect_refused(write_tar("tampered.tar", replace(files_, layer, {layer, tampered})),
                   layer + ": digest mismatch: expected " + img_.layer_digest().str());
    expect_refused(write_dir("tampered-dir", replace(files_, layer, {layer, tampered})),
                   layer + ": digest mismatch");
    expect_refused(write_tar("short.tar", replace(files_, layer, {layer, "short"})),
                   layer + ": 5 bytes, the manifest says");
    expect_refused(write_tar("missing.tar", without(files_, layer)),
                   layer + ": not in the archive");
    std::string config = blob_name(img_.config_digest());
    expect_refused(write_tar("config.tar", replace(files_, config, {config, img_.config + " "})),
                   config + ": " + std::to_string(img_.config.size() + 1) + " bytes");
    expect_refused(write_tar("no-marker.tar", without(files_, "oci-layout")),
                   "not an OCI image layout: oci-layout: not in the archive");
}

TEST_F(MaliciousArchiveTest, ABadSecondLayerCommitsNotEvenTheFirst) {
    Image two = make_image({{{"a", "first layer"}}, {{"b", "second layer"}}});
    Files files = layout_files({{"v1", &two}});
    ASSERT_EQ(files[1].name, blob_name(two.layer_digest(0)));  // streamed first
    std::string second = blob_name(two.layer_digest(1));
    std::string tampered = two.layers[1];
    tampered[tampered.size() / 2] ^= 0x55;
    expect_refused(write_tar("second.tar", replace(files, second, {second, tampered})),
                   second + ": digest mismatch");
    EXPECT_FALSE(service_->store().has_blob(two.layer_digest(0)));
    auto good = import(write_tar("good.tar", files), "two:1");
    ASSERT_TRUE(good.ok()) << good.error().what();
    EXPECT_EQ(read(good->images[0].layers[0] + "/a"), "first layer");
    EXPECT_EQ(read(good->images[0].layers[1] + "/b"), "second layer");
}

TEST_F(MaliciousArchiveTest, OversizedAndMalformedDocuments) {
    std::string huge = "{\"schemaVersion\":2,\"manifests\":[]" + std::string(5 << 20, ' ') + "}";
    expect_refused(
        write_tar("huge.tar", replace(files_, "index.json", {"index.json", huge})),
        "index.json: " + std::to_string(huge.size()) + " bytes, more than the 4194304 allowed");
    expect_refused(write_tar("notjson.tar", replace(files_, "index.json", {"index.json", "{nope"})),
                   "index.json: ");
    expect_refused(write_tar("docker-bad.tar", {{"manifest.json", "[{\"Config\": 1}]"}}),
                   "manifest.json[0]: not an object with Config and Layers");
    Files escaping = docker_files(img_, {"d:1"});
    escaping = replace(
        escaping, "manifest.json",
        {"manifest.json",
         json::array(
             {{{"Config", "../../etc/passwd"}, {"RepoTags", {"d:1"}}, {"Layers", json::array()}}})
             .dump()});
    expect_refused(write_tar("docker-escape.tar", escaping),
                   "\"../../etc/passwd\": \"..\" in the path");
    Image plain = message_image("plain", Compression::none);
    Files lying = docker_files(plain, {"d:1"});
    lying =
        replace(lying, "0123abcd/layer.tar", {"0123abcd/layer.tar", make_tar({{"other", "x"}})});
    expect_refused(write_tar("docker-lying.tar", lying), "0123abcd/layer.tar: ");
}

TEST_F(MaliciousArchiveTest, GarbageAndEmptyInput) {
    std::string garbage = path("garbage.tar");
    std::string bytes(10000, '\0');
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7919 % 251);
    ASSERT_TRUE(fs::write_file(garbage, bytes).ok());
    expect_refused(garbage, "not a tar archive");
    expect_refused(garbage, "not a tar archive", "");
    std::string plain_tar = write_tar("plain.tar", {{"hello", "world"}});
    expect_refused(plain_tar,
                   "not an OCI layout or docker-archive (no index.json or manifest.json); "
                   "to import a root filesystem tar, give a NAME",
                   "");
    expect_refused(path("no-such-file"), "stat");
}

TEST_F(MaliciousArchiveTest, AnUnsafeLayerIsRefusedAndPruneRemovesWhatWasVerified) {
    StoreState before = state();
    Image evil = make_image({{{"../evil", "outside"}}}, Compression::gzip);
    auto r = import(write_tar("evil.tar", layout_files({{"v1", &evil}})), "evil:1");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("layer " + blob_name(evil.layer_digest())),
              std::string::npos)
        << r.error().what();
    EXPECT_NE(r.error().message().find("escapes the layer"), std::string::npos) << r.error().what();
    EXPECT_EQ(state().refs, before.refs);
    EXPECT_FALSE(fs::exists(dir_ + "/evil"));
    // The layer blob verified and stays until prune: nothing names it.
    auto pruned = service_->prune();
    ASSERT_TRUE(pruned.ok()) << pruned.error().what();
    EXPECT_EQ(state(), before);

    // A root filesystem is unpacked before anything is stored: nothing to prune afterwards.
    std::string rootfs = path("evil-rootfs.tar");
    ASSERT_TRUE(fs::write_file(rootfs, make_tar({{"../evil", "outside"}})).ok());
    expect_refused(rootfs, "escapes the layer", "evil:2");
    std::string not_tar = path("not-a-tar.gz");
    ASSERT_TRUE(fs::write_file(not_tar, compress(std::string(3000, 'x'), Compression::gzip)).ok());
    ImportOptions o;
    o.format = ImportFormat::kRootfs;
    o.name = "evil:3";
    auto bad = import_image(*service_, not_tar, o);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(state(), before);
}

TEST(ArchiveFormats, NamesAndDefaults) {
    EXPECT_EQ(*parse_export_format("oci"), ExportFormat::kOciArchive);
    EXPECT_EQ(*parse_export_format("oci-archive"), ExportFormat::kOciArchive);
    EXPECT_EQ(*parse_export_format("oci-dir"), ExportFormat::kOciDir);
    EXPECT_EQ(*parse_export_format("docker-archive"), ExportFormat::kDockerArchive);
    EXPECT_FALSE(parse_export_format("zip").ok());
    EXPECT_EQ(*parse_import_format("rootfs"), ImportFormat::kRootfs);
    EXPECT_FALSE(parse_import_format("zip").ok());
    EXPECT_EQ(default_export_format("/x/image.tar"), ExportFormat::kOciArchive);
    EXPECT_EQ(default_export_format("/x/layout"), ExportFormat::kOciDir);
}

}  // namespace
}  // namespace skiff::images
