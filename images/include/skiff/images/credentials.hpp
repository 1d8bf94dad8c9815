// Registry credentials: `--creds USER:PASS`, ~/.docker/config.json lookups, and `skiff login`
// saves.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "skiff/base/result.hpp"

namespace skiff::images {

struct Credentials {
    std::string username;
    std::string password;

    // Parses "USER:PASS" (the password may contain ':'); an empty user is an error.
    [[nodiscard]] static Result<Credentials> parse(std::string_view user_colon_pass);
    bool operator==(const Credentials&) const = default;
};

// $DOCKER_CONFIG/config.json, else $HOME/.docker/config.json.
std::string default_docker_config_path();

// The "auths" of a docker config.json, keyed by host ("127.0.0.1:5000"; scheme and path of keys
// such as "https://host/v1/" are dropped). Each entry has "auth" (base64 of USER:PASS) or
// "username"/"password". A missing file is an empty map; a malformed one is an error.
[[nodiscard]] Result<std::map<std::string, Credentials>> load_docker_config(
    const std::string& path = default_docker_config_path());

// The credentials config.json holds for host, if any.
[[nodiscard]] Result<std::optional<Credentials>> find_credentials(
    const std::string& host, const std::string& path = default_docker_config_path());

// Records creds for host in config.json, keeping everything else in the file; the file is written
// atomically with mode 0600 (its directory is created 0700).
[[nodiscard]] Status save_login(const std::string& host, const Credentials& creds,
                                const std::string& path = default_docker_config_path());

// Base64 (RFC 4648, padded), as HTTP basic auth and config.json use it.
std::string base64_encode(std::string_view data);
[[nodiscard]] Result<std::string> base64_decode(std::string_view text);

}  // namespace skiff::images
