// Image references ("busybox", "127.0.0.1:5000/team/app:v1@sha256:...") in the docker/distribution
// grammar, with Docker Hub's defaults applied.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "skiff/base/result.hpp"
#include "skiff/images/digest.hpp"

namespace skiff::images {

inline constexpr std::string_view kDockerHubDomain = "docker.io";
// Docker Hub's registry API lives on another host than the name people write.
inline constexpr std::string_view kDockerHubRegistryHost = "registry-1.docker.io";

struct Reference {
    std::string domain;      // "docker.io", "quay.io", "127.0.0.1:5000", "[::1]:5000", "localhost"
    std::string repository;  // the path: "library/busybox", "team/app"
    std::string tag;         // "latest" unless a tag or digest was given; empty with only a digest
    std::optional<Digest> digest;

    // Parses a reference as `docker pull` accepts it. The domain is the first path component when
    // there are several and it contains '.' or ':' or is "localhost"; otherwise "docker.io", where
    // a one-component name gets "library/" in front. Errors quote the input and say what is wrong.
    [[nodiscard]] static Result<Reference> parse(std::string_view text);

    // "docker.io/library/busybox:latest", "127.0.0.1:5000/app@sha256:...": what parse() reads back
    // to the same Reference.
    std::string str() const;
    // The short form people type: "busybox:latest", "team/app:v1", "quay.io/x/y:v2".
    std::string familiar() const;
    // domain/repository without tag or digest: "docker.io/library/busybox".
    std::string name() const { return domain + "/" + repository; }
    // The host (and port) to send registry API requests to.
    std::string registry_host() const;
    // What the registry's manifests endpoint is asked for: the digest if any, else the tag.
    std::string manifest_ref() const { return digest ? digest->str() : tag; }

    bool operator==(const Reference&) const = default;
};

}  // namespace skiff::images
