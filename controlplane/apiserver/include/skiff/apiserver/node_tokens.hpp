// Bearer tokens for nodes: `skiff server token create NODE` makes one, DATA/tokens keeps only its SHA-256,
// and the server maps a presented token to its node, picking up new tokens without a restart.
#pragma once

#include <sys/types.h>

#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "skiff/base/result.hpp"

namespace skiff::apiserver {

// DATA/tokens
std::string node_tokens_path(const std::string& data_dir);

// Makes a new random token for node (a DNS-1123 subdomain), appends "<sha256 hex> <node> <created>" to the
// file (0600, rewritten atomically, under a lock so two creates don't lose one) and returns the token, the
// one time it exists in clear.
[[nodiscard]] Result<std::string> create_node_token(const std::string& tokens_path, const std::string& node);

// Removes every token of node; returns how many there were.
[[nodiscard]] Result<size_t> revoke_node_tokens(const std::string& tokens_path, const std::string& node);

// Lowercase hex SHA-256 of data.
std::string sha256_hex(std::string_view data);

// The server's view of the token file: re-read when it changed (another inode, size or mtime), so a new
// token works at once. A missing or unreadable file means no tokens (fail closed). Thread-safe.
class NodeTokens {
public:
    explicit NodeTokens(std::string path) : path_(std::move(path)) {}
    // The node the token was made for, or nullopt.
    std::optional<std::string> node_for(std::string_view token);

private:
    void reload_if_changed();  // with mu_ held

    struct Stamp {
        dev_t dev = 0;
        ino_t ino = 0;
        off_t size = -1;
        timespec mtime{};
        bool operator==(const Stamp& o) const {
            return dev == o.dev && ino == o.ino && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
                   mtime.tv_nsec == o.mtime.tv_nsec;
        }
    };

    std::string path_;
    std::mutex mu_;
    std::optional<Stamp> loaded_;               // what the map was read from; nullopt: nothing yet
    std::map<std::string, std::string> nodes_;  // sha256 hex -> node
};

}  // namespace skiff::apiserver
