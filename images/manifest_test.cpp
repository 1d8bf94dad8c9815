// Manifests, indexes and image configs shaped like what Docker Hub, buildkit and
// docker/distribution serve; platform selection; each class of bad input; round trips.
#include "skiff/images/manifest.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace skiff::images {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// Distinct, well-formed digests for the documents below.
std::string digest(char c) {
    return "sha256:" + std::string(64, c);
}

// An OCI index as buildkit pushes a multi-platform image: three platforms plus an attestation
// manifest per image (only one here) with platform unknown/unknown.
std::string oci_index() {
    return R"({
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.index.v1+json",
  "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": ")" +
           digest('1') + R"(", "size": 1234,
     "platform": {"architecture": "amd64", "os": "linux"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": ")" +
           digest('2') + R"(", "size": 1235,
     "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": ")" +
           digest('3') + R"(", "size": 1236,
     "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": ")" +
           digest('4') + R"(", "size": 840,
     "annotations": {"vnd.docker.reference.digest": ")" +
           digest('1') + R"(", "vnd.docker.reference.type": "attestation-manifest"},
     "platform": {"architecture": "unknown", "os": "unknown"}}
  ],
  "annotations": {"org.opencontainers.image.created": "2024-01-02T03:04:05Z"}
})";
}

// A Docker manifest list as Docker Hub serves for library images.
std::string docker_list() {
    return R"({
   "manifests": [
      {"digest": ")" +
           digest('5') + R"(", "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "platform": {"architecture": "amd64", "os": "linux"}, "size": 528},
      {"digest": ")" +
           digest('6') + R"(", "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "platform": {"architecture": "arm", "os": "linux", "variant": "v6"}, "size": 528},
      {"digest": ")" +
           digest('7') + R"(", "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "platform": {"architecture": "arm64", "os": "linux"}, "size": 528},
      {"digest": ")" +
           digest('8') + R"(", "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "platform": {"architecture": "s390x", "os": "linux"}, "size": 528}
   ],
   "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
   "schemaVersion": 2
})";
}

// An OCI manifest with a gzip layer and a zstd layer, as `buildah push --compression-format
// zstd` mixes them.
std::string oci_manifest() {
    return R"({
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": ")" +
           digest('a') + R"(", "size": 1471},
  "layers": [
    {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ")" +
           digest('b') + R"(", "size": 2152262},
    {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": ")" +
           digest('c') + R"(", "size": 93,
     "annotations": {"org.opencontainers.image.title": "app"}}
  ],
  "annotations": {"org.opencontainers.image.base.name": "docker.io/library/busybox:1.36"}
})";
}

// A Docker schema 2 manifest, as `docker push` writes it (three-space indent, no top-level
// annotations).
std::string docker_manifest() {
    return R"({
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {
      "mediaType": "application/vnd.docker.container.image.v1+json",
      "size": 1457,
      "digest": ")" +
           digest('d') + R"("
   },
   "layers": [
      {
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": 2152262,
         "digest": ")" +
           digest('e') + R"("
      },
      {
         "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
         "size": 5000,
         "digest": ")" +
           digest('f') + R"(",
         "urls": ["https://mcr.microsoft.com/v2/x/blobs/)" +
           digest('f') + R"("]
      }
   ]
})";
}

// A Docker image config: Go's encoder writes null for unset lists and maps.
std::string docker_config() {
    return R"({
  "architecture": "amd64",
  "config": {
    "Hostname": "",
    "User": "app:app",
    "ExposedPorts": {"8080/tcp": {}, "53/udp": {}},
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"],
    "Entrypoint": ["/docker-entrypoint.sh"],
    "Cmd": ["nginx", "-g", "daemon off;"],
    "Volumes": {"/data": {}},
    "WorkingDir": "/srv",
    "Labels": {"maintainer": "someone@example.com"},
    "StopSignal": "SIGQUIT",
    "OnBuild": null,
    "Image": "sha256:)" +
           std::string(64, '0') + R"("
  },
  "container": "0123",
  "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) CMD [\"nginx\"]"]},
  "created": "2024-01-02T03:04:05.123456789Z",
  "docker_version": "24.0.7",
  "history": [
    {"created": "2024-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
    {"created": "2024-01-01T00:00:01Z", "created_by": "/bin/sh -c #(nop)  CMD [\"sh\"]",
     "empty_layer": true},
    {"created": "2024-01-02T03:04:05Z", "created_by": "RUN /bin/sh -c apk add nginx",
     "comment": "buildkit.dockerfile.v0"}
  ],
  "os": "linux",
  "rootfs": {"type": "layers", "diff_ids": [")" +
           digest('9') + R"(", ")" + digest('8') + R"("]}
})";
}

template <class T>
T must(Result<T> r) {
    EXPECT_TRUE(r.ok()) << r.error().message();
    if (!r.ok()) return T{};
    return std::move(r).value();
}

template <class T>
std::string error_of(const Result<T>& r) {
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::string() : r.error().message();
}

// ---- kind_of ----

TEST(ManifestTest, KindByMediaTypeField) {
    EXPECT_EQ(kind_of(oci_index(), ""), ManifestKind::kIndex);
    EXPECT_EQ(kind_of(docker_list(), ""), ManifestKind::kIndex);
    EXPECT_EQ(kind_of(oci_manifest(), ""), ManifestKind::kManifest);
    EXPECT_EQ(kind_of(docker_manifest(), ""), ManifestKind::kManifest);
    // The field wins over a content type that disagrees.
    EXPECT_EQ(kind_of(oci_manifest(), media_type::kOciIndex), ManifestKind::kManifest);
}

TEST(ManifestTest, KindFallsBackToContentTypeThenStructure) {
    std::string layers = R"({"schemaVersion": 2, "config": {}, "layers": []})";
    std::string manifests = R"({"schemaVersion": 2, "manifests": []})";
    EXPECT_EQ(kind_of(manifests, "application/vnd.oci.image.index.v1+json; charset=utf-8"),
              ManifestKind::kIndex);
    EXPECT_EQ(kind_of(layers, " Application/VND.Docker.Distribution.Manifest.V2+JSON"),
              ManifestKind::kManifest);
    EXPECT_EQ(kind_of(layers, ""), ManifestKind::kManifest);
    EXPECT_EQ(kind_of(manifests, "application/json"), ManifestKind::kIndex);
    EXPECT_EQ(kind_of(manifests, "application/octet-stream"), ManifestKind::kIndex);
}

TEST(ManifestTest, KindUnsupported) {
    EXPECT_EQ(kind_of("{", ""), ManifestKind::kUnsupported);
    EXPECT_EQ(kind_of("[]", ""), ManifestKind::kUnsupported);
    EXPECT_EQ(kind_of(R"({"schemaVersion": 2})", ""), ManifestKind::kUnsupported);
    EXPECT_EQ(kind_of(R"({"schemaVersion": 1, "fsLayers": []})", ""), ManifestKind::kUnsupported);
    EXPECT_EQ(kind_of(R"({"schemaVersion": 2, "layers": []})", media_type::kDockerManifestV1Signed),
              ManifestKind::kUnsupported);
    EXPECT_EQ(kind_of(R"({"schemaVersion": 2, "mediaType": "text/html", "layers": []})", ""),
              ManifestKind::kUnsupported);
    EXPECT_EQ(kind_of(R"({"mediaType": 7, "layers": []})", ""), ManifestKind::kUnsupported);
}

// ---- parse_manifest ----

TEST(ManifestTest, ParsesOciManifestWithGzipAndZstdLayers) {
    Manifest m = must(parse_manifest(oci_manifest(), ""));
    EXPECT_EQ(m.schema_version, 2);
    EXPECT_EQ(m.media_type, media_type::kOciManifest);
    EXPECT_EQ(m.config.media_type, media_type::kOciConfig);
    EXPECT_EQ(m.config.digest.str(), digest('a'));
    EXPECT_EQ(m.config.size, 1471);
    ASSERT_EQ(m.layers.size(), 2u);
    EXPECT_EQ(m.layers[0].size, 2152262);
    EXPECT_EQ(m.layers[1].digest.str(), digest('c'));
    EXPECT_EQ(m.layers[1].annotations.at("org.opencontainers.image.title"), "app");
    EXPECT_EQ(m.layers[0].media_type, media_type::kOciLayerGzip);
    EXPECT_EQ(m.layers[1].media_type, media_type::kOciLayerZstd);
    EXPECT_EQ(m.annotations.at("org.opencontainers.image.base.name"),
              "docker.io/library/busybox:1.36");
    EXPECT_FALSE(m.subject);
}

TEST(ManifestTest, ParsesDockerSchema2Manifest) {
    Manifest m = must(parse_manifest(docker_manifest(), media_type::kDockerManifest));
    EXPECT_EQ(m.media_type, media_type::kDockerManifest);
    EXPECT_EQ(m.config.media_type, media_type::kDockerConfig);
    ASSERT_EQ(m.layers.size(), 2u);
    EXPECT_EQ(m.layers[0].media_type, media_type::kDockerLayerGzip);
    EXPECT_EQ(m.layers[1].media_type, media_type::kDockerLayerForeignGzip);
    ASSERT_EQ(m.layers[1].urls.size(), 1u);
    EXPECT_THAT(m.layers[1].urls[0], StartsWith("https://mcr.microsoft.com/"));
}

TEST(ManifestTest, MediaTypeComesFromContentTypeWhenTheDocumentHasNone) {
    std::string doc = R"({"schemaVersion": 2, "config": {"mediaType": ")" +
                      std::string(media_type::kDockerConfig) + R"(", "digest": ")" + digest('a') +
                      R"(", "size": 1}, "layers": []})";
    EXPECT_EQ(must(parse_manifest(doc, media_type::kDockerManifest)).media_type,
              media_type::kDockerManifest);
    // Neither says: the OCI type, which is what the OCI spec's mediaType-less manifests were.
    EXPECT_EQ(must(parse_manifest(doc, "")).media_type, media_type::kOciManifest);
}

TEST(ManifestTest, SubjectAndArtifactType) {
    std::string doc = R"({"schemaVersion": 2, "mediaType": ")" +
                      std::string(media_type::kOciManifest) +
                      R"(", "artifactType": "application/vnd.example.sbom",
      "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": ")" +
                      digest('4') + R"(", "size": 2},
      "layers": [{"mediaType": "application/spdx+json", "digest": ")" +
                      digest('5') +
                      R"(", "size": 10}],
      "subject": {"mediaType": ")" +
                      std::string(media_type::kOciManifest) + R"(", "digest": ")" + digest('1') +
                      R"(", "size": 1234}})";
    // Not runnable: the strict check refuses it and says why.
    EXPECT_THAT(error_of(parse_manifest(doc)), HasSubstr("config.mediaType"));
    Manifest m = must(parse_manifest(doc, "", LayerCheck::kAny));
    EXPECT_EQ(m.artifact_type, "application/vnd.example.sbom");
    ASSERT_TRUE(m.subject);
    EXPECT_EQ(m.subject->digest.str(), digest('1'));
    EXPECT_EQ(m.layers[0].media_type, "application/spdx+json");
}

TEST(ManifestTest, SyntaxErrorGivesTheByteOffset) {
    std::string msg = error_of(parse_manifest(R"({"schemaVersion": 2,, })"));
    EXPECT_THAT(msg, StartsWith("manifest: syntax error at byte 21"));
    EXPECT_THAT(error_of(parse_manifest("")), StartsWith("manifest: syntax error at byte"));
    EXPECT_THAT(error_of(parse_index("[1")), StartsWith("manifest: syntax error at byte"));
    EXPECT_EQ(error_of(parse_manifest("[]")), "manifest: expected a JSON object");
}

TEST(ManifestTest, SchemaOneIsRefusedByName) {
    std::string v1 = R"({"schemaVersion": 1, "name": "library/busybox", "tag": "latest",
                         "architecture": "amd64", "fsLayers": [], "history": []})";
    EXPECT_EQ(error_of(parse_manifest(v1, media_type::kDockerManifestV1Signed)),
              "unsupported manifest media type "
              "\"application/vnd.docker.distribution.manifest.v1+prettyjws\" (Docker schema 1; "
              "push the image again with a current client)");
    EXPECT_THAT(error_of(parse_manifest(v1, "")),
                HasSubstr("unsupported manifest schema version 1"));
    EXPECT_THAT(error_of(parse_index(v1, "")), HasSubstr("unsupported manifest schema version 1"));
}

TEST(ManifestTest, UnknownMediaTypeIsRefusedByName) {
    std::string doc = R"({"schemaVersion": 2, "mediaType": "application/vnd.example+json",
                          "layers": []})";
    EXPECT_EQ(error_of(parse_manifest(doc)),
              "unsupported manifest media type \"application/vnd.example+json\"");
    EXPECT_EQ(error_of(parse_index(doc)),
              "unsupported manifest media type \"application/vnd.example+json\"");
    EXPECT_EQ(error_of(parse_manifest(R"({"schemaVersion": 2, "layers": []})", "text/html")),
              "unsupported manifest media type \"text/html\"");
}

TEST(ManifestTest, IndexIsNotAManifestAndBackwards) {
    EXPECT_THAT(error_of(parse_manifest(oci_index())),
                HasSubstr("expected an image manifest, got an image index"));
    EXPECT_THAT(error_of(parse_index(docker_manifest())),
                HasSubstr("expected an image index, got an image manifest"));
}

TEST(ManifestTest, StructureMustMatchTheMediaType) {
    std::string both = R"({"schemaVersion": 2, "mediaType": ")" +
                       std::string(media_type::kOciManifest) +
                       R"(", "manifests": [], "config": {}, "layers": []})";
    EXPECT_THAT(error_of(parse_manifest(both)),
                HasSubstr("manifest: manifests: not allowed in an image manifest"));
    std::string index = R"({"schemaVersion": 2, "mediaType": ")" +
                        std::string(media_type::kOciIndex) + R"(", "manifests": [], "layers": []})";
    EXPECT_THAT(error_of(parse_index(index)),
                HasSubstr("manifest: layers: not allowed in an image index"));
}

// Builds the OCI manifest with one layer field replaced by `layer`.
std::string manifest_with_layer(const std::string& layer) {
    return R"({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": ")" +
           digest('a') + R"(", "size": 1},
      "layers": [
        {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ")" +
           digest('b') + R"(", "size": 1},
        {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ")" +
           digest('b') + R"(", "size": 1},
        )" +
           layer + "]}";
}

TEST(ManifestTest, FieldErrorsNameTheJsonPath) {
    struct Bad {
        std::string layer;
        const char* message;
    };
    const std::string ok_digest = "\"digest\": \"" + digest('c') + "\"";
    const std::string tar = "\"mediaType\": \"application/vnd.oci.image.layer.v1.tar\"";
    const Bad cases[] = {
        {"{" + tar + ", \"digest\": \"sha256:zz\", \"size\": 1}",
         "manifest: layers[2].digest: invalid digest \"sha256:zz\""},
        {"{" + tar + ", \"digest\": 5, \"size\": 1}",
         "manifest: layers[2].digest: expected a digest string"},
        {"{" + tar + ", \"size\": 1}", "manifest: layers[2].digest: missing required field"},
        {"{" + tar + ", " + ok_digest + "}", "manifest: layers[2].size: missing required field"},
        {"{" + tar + ", " + ok_digest + ", \"size\": -1}",
         "manifest: layers[2].size: expected a non-negative integer, got -1"},
        {"{" + tar + ", " + ok_digest + ", \"size\": 1.5}",
         "manifest: layers[2].size: expected an integer"},
        {"{" + tar + ", " + ok_digest + ", \"size\": \"12\"}",
         "manifest: layers[2].size: expected an integer"},
        {"{" + tar + ", " + ok_digest + ", \"size\": 18446744073709551615}",
         "manifest: layers[2].size: 18446744073709551615 is out of range"},
        {"{\"digest\": \"" + digest('c') + "\", \"size\": 1}",
         "manifest: layers[2].mediaType: missing required field"},
        {"{\"mediaType\": \"\", " + ok_digest + ", \"size\": 1}",
         "manifest: layers[2].mediaType: empty media type"},
        {"{" + tar + ", " + ok_digest + ", \"size\": 1, \"urls\": [\"a\", 2]}",
         "manifest: layers[2].urls[1]: expected a string"},
        {"{" + tar + ", " + ok_digest + ", \"size\": 1, \"annotations\": {\"k\": 1}}",
         "manifest: layers[2].annotations[\"k\"]: expected a string"},
        {"\"x\"", "manifest: layers[2]: expected an object"},
    };
    for (const Bad& c : cases)
        EXPECT_THAT(error_of(parse_manifest(manifest_with_layer(c.layer))), StartsWith(c.message))
            << c.layer;
}

TEST(ManifestTest, TopLevelFieldErrors) {
    auto doc = [](const std::string& fields) {
        return "{\"mediaType\": \"application/vnd.oci.image.manifest.v1+json\"" + fields + "}";
    };
    const std::string config = ", \"config\": {\"mediaType\": \"" +
                               std::string(media_type::kOciConfig) + "\", \"digest\": \"" +
                               digest('a') + "\", \"size\": 1}";
    EXPECT_EQ(error_of(parse_manifest(doc(config + ", \"layers\": []"))),
              "manifest: schemaVersion: missing required field");
    EXPECT_EQ(error_of(parse_manifest(doc(", \"schemaVersion\": 3" + config + ", \"layers\": []"))),
              "manifest: schemaVersion: unsupported schema version 3");
    EXPECT_EQ(error_of(parse_manifest(doc(", \"schemaVersion\": \"2\"" + config))),
              "manifest: schemaVersion: expected an integer");
    EXPECT_EQ(error_of(parse_manifest(doc(", \"schemaVersion\": 2" + config))),
              "manifest: layers: missing required field");
    EXPECT_EQ(error_of(parse_manifest(doc(", \"schemaVersion\": 2, \"layers\": []"))),
              "manifest: config: missing required field");
    EXPECT_EQ(error_of(parse_manifest(doc(", \"schemaVersion\": 2" + config + ", \"layers\": {}"))),
              "manifest: layers: expected an array");
    EXPECT_EQ(error_of(parse_manifest(doc(", \"schemaVersion\": 2" + config +
                                          ", \"layers\": [], \"annotations\": []"))),
              "manifest: annotations: expected an object of strings");
    EXPECT_EQ(error_of(parse_manifest(R"({"mediaType": ["x"], "layers": []})")),
              "manifest: mediaType: expected a string");
}

TEST(ManifestTest, UnpackableLayersOnlyWhenAsked) {
    std::string encrypted =
        R"({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
                               "digest": ")" +
        digest('c') + R"(", "size": 1})";
    EXPECT_EQ(error_of(parse_manifest(manifest_with_layer(encrypted))),
              "manifest: layers[2]: unsupported layer media type "
              "\"application/vnd.oci.image.layer.v1.tar+gzip+encrypted\" (encrypted layers are "
              "not supported)");
    std::string helm = R"({"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                          "digest": ")" +
                       digest('c') + R"(", "size": 1})";
    EXPECT_THAT(error_of(parse_manifest(manifest_with_layer(helm))),
                HasSubstr("layers[2]: unsupported layer media type"));
    EXPECT_TRUE(parse_manifest(manifest_with_layer(helm), "", LayerCheck::kAny).ok());
}

TEST(ManifestTest, EveryUnpackableLayerTypeIsAccepted) {
    using namespace media_type;
    for (auto mt : {kOciLayerTar, kOciLayerGzip, kOciLayerZstd, kOciLayerNondistributableTar,
                    kOciLayerNondistributableGzip, kOciLayerNondistributableZstd, kDockerLayerGzip,
                    kDockerLayerForeignGzip}) {
        EXPECT_TRUE(is_unpackable_layer_media_type(mt)) << mt;
        std::string layer = "{\"mediaType\": \"" + std::string(mt) + "\", \"digest\": \"" +
                            digest('c') + "\", \"size\": 1}";
        EXPECT_TRUE(parse_manifest(manifest_with_layer(layer)).ok()) << mt;
    }
    EXPECT_FALSE(is_unpackable_layer_media_type(kOciConfig));
    EXPECT_FALSE(is_unpackable_layer_media_type("application/vnd.oci.image.layer.v1.tar+bzip2"));
}

TEST(ManifestTest, AcceptHeaderNamesAllFourKinds) {
    std::string accept = manifest_accept_header();
    for (auto mt : {media_type::kOciManifest, media_type::kOciIndex, media_type::kDockerManifest,
                    media_type::kDockerManifestList})
        EXPECT_THAT(accept, HasSubstr(std::string(mt)));
}

// ---- parse_index ----

TEST(ManifestTest, ParsesOciIndexWithAttestation) {
    Index index = must(parse_index(oci_index(), media_type::kOciIndex));
    EXPECT_EQ(index.media_type, media_type::kOciIndex);
    ASSERT_EQ(index.manifests.size(), 4u);
    ASSERT_TRUE(index.manifests[1].platform);
    EXPECT_EQ(index.manifests[1].platform->str(), "linux/arm64/v8");
    EXPECT_EQ(index.manifests[3].annotations.at("vnd.docker.reference.type"),
              "attestation-manifest");
    EXPECT_EQ(index.annotations.size(), 1u);
}

TEST(ManifestTest, ParsesDockerManifestList) {
    Index index = must(parse_index(docker_list()));
    EXPECT_EQ(index.media_type, media_type::kDockerManifestList);
    ASSERT_EQ(index.manifests.size(), 4u);
    EXPECT_EQ(index.manifests[3].platform->architecture, "s390x");
    EXPECT_EQ(index.manifests[0].size, 528);
}

TEST(ManifestTest, IndexFieldErrors) {
    EXPECT_EQ(error_of(parse_index(R"({"schemaVersion": 2, "manifests": [{"mediaType": "x",
        "digest": ")" + digest('1') +
                                   R"(", "size": 1, "platform": {"os": "linux"}}]})")),
              "manifest: manifests[0].platform.architecture: missing required field");
    EXPECT_EQ(error_of(parse_index(R"({"schemaVersion": 2, "manifests": [{"mediaType": "x",
        "digest": ")" + digest('1') +
                                   R"(", "size": 1, "platform": {"os": "linux",
        "architecture": "amd64", "os.features": "sse4"}}]})")),
              "manifest: manifests[0].platform.os.features: expected an array of strings");
    EXPECT_EQ(error_of(parse_index(R"({"schemaVersion": 2, "mediaType": ")" +
                                   std::string(media_type::kOciIndex) + R"("})")),
              "manifest: manifests: missing required field");
}

TEST(ManifestTest, ParseManifestOrIndex) {
    auto m = must(parse_manifest_or_index(docker_manifest()));
    EXPECT_TRUE(std::holds_alternative<Manifest>(m));
    auto i = must(parse_manifest_or_index(docker_list()));
    EXPECT_TRUE(std::holds_alternative<Index>(i));
    EXPECT_THAT(error_of(parse_manifest_or_index("{\"schemaVersion\": 1}")),
                HasSubstr("unsupported manifest schema version 1"));
    EXPECT_THAT(error_of(parse_manifest_or_index("nope")), StartsWith("manifest: syntax error"));
}

// ---- round trips ----

TEST(ManifestTest, ManifestRoundTrip) {
    for (const std::string& doc : {oci_manifest(), docker_manifest()}) {
        Manifest m = must(parse_manifest(doc));
        std::string once = manifest_to_json(m);
        Manifest again = must(parse_manifest(once));
        EXPECT_EQ(again, m);
        EXPECT_EQ(manifest_to_json(again), once);
    }
    // Key order is the Go struct's, whatever order the input had.
    std::string json = manifest_to_json(must(parse_manifest(docker_manifest())));
    EXPECT_THAT(json, StartsWith("{\"schemaVersion\":2,\"mediaType\":\"" +
                                 std::string(media_type::kDockerManifest) +
                                 "\",\"config\":{\"mediaType\":\"" +
                                 std::string(media_type::kDockerConfig) + "\",\"digest\":\"" +
                                 digest('d') + "\",\"size\":1457}"));
}

TEST(ManifestTest, ManifestBuiltInCodeSerializes) {
    Manifest m;
    m.media_type = media_type::kOciManifest;
    m.config = {std::string(media_type::kOciConfig), sha256_of("{}"), 2};
    m.layers.push_back({std::string(media_type::kOciLayerGzip), sha256_of("layer"), 5});
    m.annotations["b"] = "2";
    m.annotations["a"] = "1";
    std::string json = manifest_to_json(m);
    EXPECT_THAT(json, HasSubstr("\"annotations\":{\"a\":\"1\",\"b\":\"2\"}"));
    EXPECT_EQ(must(parse_manifest(json)), m);
}

TEST(ManifestTest, IndexRoundTrip) {
    for (const std::string& doc : {oci_index(), docker_list()}) {
        Index index = must(parse_index(doc));
        std::string once = index_to_json(index);
        Index again = must(parse_index(once));
        EXPECT_EQ(again, index);
        EXPECT_EQ(index_to_json(again), once);
    }
}

// ---- select_platform and parse_platform ----

TEST(PlatformTest, SelectsFromOciIndex) {
    Index index = must(parse_index(oci_index()));
    EXPECT_EQ(must(select_platform(index, {"amd64", "linux"})).digest.str(), digest('1'));
    EXPECT_EQ(must(select_platform(index, {"arm64", "linux"})).digest.str(), digest('2'));
    EXPECT_EQ(must(select_platform(index, {"arm64", "linux", "v8"})).digest.str(), digest('2'));
    EXPECT_EQ(must(select_platform(index, {"arm", "linux", "v7"})).digest.str(), digest('3'));
    EXPECT_EQ(must(select_platform(index, {"arm", "linux"})).digest.str(), digest('3'));
    // amd64 variants (v2, v3) don't select images.
    EXPECT_EQ(must(select_platform(index, {"amd64", "linux", "v3"})).digest.str(), digest('1'));
    // uname names work too.
    EXPECT_EQ(must(select_platform(index, {"x86_64", "linux"})).digest.str(), digest('1'));
    EXPECT_EQ(must(select_platform(index, {"aarch64", "linux"})).digest.str(), digest('2'));
}

TEST(PlatformTest, SelectsFromDockerManifestList) {
    Index index = must(parse_index(docker_list()));
    // The list's arm64 entry has no variant: that is v8.
    EXPECT_EQ(must(select_platform(index, {"arm64", "linux", "v8"})).digest.str(), digest('7'));
    EXPECT_EQ(must(select_platform(index, {"arm", "linux", "v6"})).digest.str(), digest('6'));
    EXPECT_EQ(must(select_platform(index, {"s390x", "linux"})).digest.str(), digest('8'));
}

TEST(PlatformTest, NoMatchListsWhatIsAvailable) {
    Index index = must(parse_index(oci_index()));
    EXPECT_EQ(error_of(select_platform(index, {"s390x", "linux"})),
              "no image for platform linux/s390x in the index (available: linux/amd64, "
              "linux/arm64/v8, linux/arm/v7)");
    EXPECT_THAT(error_of(select_platform(index, {"arm", "linux", "v6"})),
                HasSubstr("no image for platform linux/arm/v6"));
    EXPECT_THAT(error_of(select_platform(index, {"amd64", "windows"})), HasSubstr("windows/amd64"));
    // The attestation's unknown/unknown is never an answer.
    EXPECT_FALSE(select_platform(index, {"unknown", "unknown"}).ok());
    EXPECT_THAT(error_of(select_platform(Index{}, {"amd64", "linux"})),
                HasSubstr("(available: none)"));
}

TEST(PlatformTest, FirstMatchWins) {
    Index index;
    Descriptor a{std::string(media_type::kOciManifest), sha256_of("a"), 1};
    a.platform = Platform{"amd64", "linux"};
    Descriptor b = a;
    b.digest = sha256_of("b");
    // An entry without a platform, or that is a blob, is skipped.
    Descriptor no_platform{std::string(media_type::kOciManifest), sha256_of("c"), 1};
    Descriptor blob{std::string(media_type::kOciLayerGzip), sha256_of("d"), 1};
    blob.platform = a.platform;
    index.manifests = {no_platform, blob, a, b};
    EXPECT_EQ(must(select_platform(index, {"amd64", "linux"})).digest, sha256_of("a"));
}

TEST(PlatformTest, ParsePlatform) {
    Platform p = must(parse_platform("linux/amd64"));
    EXPECT_EQ(p.os, "linux");
    EXPECT_EQ(p.architecture, "amd64");
    EXPECT_EQ(p.variant, "");
    p = must(parse_platform("linux/arm64/v8"));
    EXPECT_EQ(p.architecture, "arm64");
    EXPECT_EQ(p.variant, "v8");
    EXPECT_EQ(p.str(), "linux/arm64/v8");
    EXPECT_EQ(must(parse_platform("linux/arm64")).str(), "linux/arm64");
    EXPECT_EQ(must(parse_platform("linux/x86_64")).str(), "linux/amd64");
    EXPECT_EQ(must(parse_platform("linux/arm/7")).str(), "linux/arm/v7");
    EXPECT_EQ(must(parse_platform("Linux/ARM64")).str(), "linux/arm64");
}

TEST(PlatformTest, ParsePlatformErrorsNameTheInput) {
    EXPECT_EQ(error_of(parse_platform("linux")),
              "invalid platform \"linux\": expected OS/ARCH[/VARIANT]");
    EXPECT_EQ(error_of(parse_platform("linux/arm/v7/x")),
              "invalid platform \"linux/arm/v7/x\": expected OS/ARCH[/VARIANT]");
    EXPECT_THAT(error_of(parse_platform("linux//v7")),
                HasSubstr("invalid platform \"linux//v7\": \"\" is not a valid"));
    EXPECT_THAT(error_of(parse_platform("linux/am d64")), HasSubstr("\"am d64\" is not a valid"));
    EXPECT_FALSE(parse_platform("").ok());
}

TEST(PlatformTest, HostPlatformIsSelectable) {
    Platform host = host_platform();
    EXPECT_EQ(host.os, "linux");
    EXPECT_FALSE(host.architecture.empty());
    Index index;
    Descriptor d{std::string(media_type::kOciManifest), sha256_of("h"), 1};
    d.platform = host;
    index.manifests = {d};
    EXPECT_TRUE(select_platform(index, host).ok());
}

// ---- image config ----

TEST(ImageConfigTest, ParsesDockerConfig) {
    ImageConfig c = must(parse_image_config(docker_config()));
    EXPECT_EQ(c.architecture, "amd64");
    EXPECT_EQ(c.os, "linux");
    EXPECT_EQ(c.created, "2024-01-02T03:04:05.123456789Z");
    EXPECT_EQ(c.config.user, "app:app");
    EXPECT_EQ(c.config.env.size(), 2u);
    EXPECT_EQ(c.config.entrypoint, std::vector<std::string>{"/docker-entrypoint.sh"});
    EXPECT_EQ(c.config.cmd, (std::vector<std::string>{"nginx", "-g", "daemon off;"}));
    EXPECT_EQ(c.config.working_dir, "/srv");
    EXPECT_EQ(c.config.labels.at("maintainer"), "someone@example.com");
    EXPECT_EQ(c.config.stop_signal, "SIGQUIT");
    EXPECT_EQ(c.config.exposed_ports, (std::set<std::string>{"53/udp", "8080/tcp"}));
    EXPECT_EQ(c.config.volumes, std::set<std::string>{"/data"});
    EXPECT_EQ(c.rootfs_type, "layers");
    ASSERT_EQ(c.diff_ids.size(), 2u);
    EXPECT_EQ(c.diff_ids[0].str(), digest('9'));
    ASSERT_EQ(c.history.size(), 3u);
    EXPECT_TRUE(c.history[1].empty_layer);
    EXPECT_EQ(c.history[2].comment, "buildkit.dockerfile.v0");
    EXPECT_EQ(c.platform().str(), "linux/amd64");
}

TEST(ImageConfigTest, NullsAreUnset) {
    ImageConfig c = must(parse_image_config(R"({"architecture": "arm64", "variant": "v8",
        "os": "linux", "config": {"Env": null, "Cmd": null, "Entrypoint": null, "Labels": null,
        "ExposedPorts": null, "Volumes": null}, "rootfs": {"type": "layers", "diff_ids": []},
        "history": null})"));
    EXPECT_TRUE(c.config.env.empty());
    EXPECT_TRUE(c.config.cmd.empty());
    EXPECT_EQ(c.platform().str(), "linux/arm64/v8");
    // A config without "config" at all (scratch images from some tools).
    EXPECT_TRUE(parse_image_config(
                    R"({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers",
                        "diff_ids": []}})")
                    .ok());
}

TEST(ImageConfigTest, ErrorsNameTheJsonPath) {
    auto with = [](const std::string& config, const std::string& rootfs) {
        return R"({"architecture": "amd64", "os": "linux", "config": )" + config +
               R"(, "rootfs": )" + rootfs + "}";
    };
    const std::string rootfs = R"({"type": "layers", "diff_ids": []})";
    EXPECT_EQ(error_of(parse_image_config(with(R"({"Env": "A=1"})", rootfs))),
              "image config: config.Env: expected an array of strings");
    EXPECT_EQ(error_of(parse_image_config(with(R"({"Cmd": ["a", 1]})", rootfs))),
              "image config: config.Cmd[1]: expected a string");
    EXPECT_EQ(error_of(parse_image_config(with(R"({"ExposedPorts": ["80/tcp"]})", rootfs))),
              "image config: config.ExposedPorts: expected an object");
    EXPECT_EQ(error_of(parse_image_config(with(R"({"Labels": {"a": true}})", rootfs))),
              "image config: config.Labels[\"a\"]: expected a string");
    EXPECT_EQ(error_of(parse_image_config(with("[]", rootfs))),
              "image config: config: expected an object");
    EXPECT_EQ(error_of(parse_image_config(with("{}", R"({"type": "layers",
        "diff_ids": ["sha256:abc"]})"))),
              "image config: rootfs.diff_ids[0]: invalid digest \"sha256:abc\": expected 64 hex "
              "digits, got 3");
    EXPECT_EQ(error_of(parse_image_config(with("{}", R"({"type": "squashfs", "diff_ids": []})"))),
              "image config: rootfs.type: expected \"layers\", got \"squashfs\"");
    EXPECT_EQ(error_of(parse_image_config(with("{}", R"({"type": "layers"})"))),
              "image config: rootfs.diff_ids: missing required field");
    EXPECT_EQ(error_of(parse_image_config(R"({"os": "linux", "rootfs": {}})")),
              "image config: architecture: missing required field");
    EXPECT_EQ(error_of(parse_image_config(R"({"architecture": "amd64", "os": "linux"})")),
              "image config: rootfs: missing required field");
    EXPECT_EQ(error_of(parse_image_config(R"({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []}, "history": [{"empty_layer": "yes"}]})")),
              "image config: history[0].empty_layer: expected a boolean");
    EXPECT_THAT(error_of(parse_image_config("{\"architecture\": ")),
                StartsWith("image config: syntax error at byte"));
}

TEST(ImageConfigTest, CheckLayersAgainstManifest) {
    ImageConfig c = must(parse_image_config(docker_config()));
    Manifest m = must(parse_manifest(docker_manifest()));
    EXPECT_TRUE(check_config_layers(m, c).ok());
    m.layers.pop_back();
    Status s = check_config_layers(m, c);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().message(), "the manifest has 1 layers but the image config has 2 diff_ids");
    m = must(parse_manifest(docker_manifest()));
    c.history[1].empty_layer = false;
    s = check_config_layers(m, c);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().message(),
              "the image config's history has 3 non-empty layers but rootfs.diff_ids has 2");
    // No history at all is fine: only the diff_ids count.
    c.history.clear();
    EXPECT_TRUE(check_config_layers(m, c).ok());
}

TEST(ImageConfigTest, RoundTrip) {
    ImageConfig c = must(parse_image_config(docker_config()));
    std::string once = image_config_to_json(c);
    ImageConfig again = must(parse_image_config(once));
    EXPECT_EQ(again, c);
    EXPECT_EQ(image_config_to_json(again), once);
    // Docker-only fields that skiff doesn't use are dropped, not carried.
    EXPECT_THAT(once, Not(HasSubstr("container_config")));
    EXPECT_THAT(once, StartsWith("{\"created\":\"2024-01-02T03:04:05.123456789Z\","
                                 "\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{"
                                 "\"User\":\"app:app\",\"ExposedPorts\":{\"53/udp\":{},"
                                 "\"8080/tcp\":{}}"));
}

TEST(ImageConfigTest, MinimalConfigSerializesRequiredFields) {
    ImageConfig c;
    c.architecture = "amd64";
    c.os = "linux";
    EXPECT_EQ(image_config_to_json(c),
              "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},"
              "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}");
    EXPECT_EQ(must(parse_image_config(image_config_to_json(c))), c);
}

}  // namespace
}  // namespace skiff::images
