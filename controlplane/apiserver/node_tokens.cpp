// Node bearer tokens: creation and revocation in DATA/tokens (hashes only), and the lookup the server does per request.
#include "skiff/apiserver/node_tokens.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <sstream>
#include <vector>

#include "registry_internal.hpp"
#include "skiff/apiserver/pki.hpp"
#include "skiff/apiserver/registry.hpp"
#include "skiff/base/fs.hpp"
#include "skiff/base/unique_fd.hpp"

namespace skiff::apiserver {

namespace {

std::string hex(const unsigned char* data, size_t n) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    out.reserve(2 * n);
    for (size_t i = 0; i < n; ++i) {
        out.push_back(digits[data[i] >> 4]);
        out.push_back(digits[data[i] & 15]);
    }
    return out;
}

struct Line {
    std::string hash, node, rest;
};

// "<64 hex> <node> [anything]"; false for a line that is not one (it is ignored, and kept on rewrite).
bool parse_line(const std::string& text, Line& out) {
    std::istringstream in(text);
    if (!(in >> out.hash >> out.node)) return false;
    std::getline(in, out.rest);
    if (out.hash.size() != 64 || out.hash.find_first_not_of("0123456789abcdef") != std::string::npos) return false;
    return dns1123_subdomain_error(out.node).empty();
}

// Runs edit over the file's lines and writes the result back atomically, holding DATA/tokens.lock so that
// concurrent edits (two `token create`) follow one another.
template <class Edit>
Status edit_tokens(const std::string& path, Edit edit) {
    UniqueFd lock(::open((path + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!lock) return Error::from_errno("open " + path + ".lock");
    if (::flock(lock.get(), LOCK_EX) != 0) return Error::from_errno("lock " + path + ".lock");
    std::string text;
    if (auto old = fs::read_file(path)) {
        text = std::move(*old);
    } else if (old.error().code() != ENOENT) {
        return old.error();
    }
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    edit(lines);
    std::string out;
    for (const auto& line : lines) out += line + "\n";
    return write_private_file(path, out);
}

}  // namespace

std::string node_tokens_path(const std::string& data_dir) { return data_dir + "/tokens"; }

std::string sha256_hex(std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
    return hex(md, n);
}

Result<std::string> create_node_token(const std::string& tokens_path, const std::string& node) {
    if (auto why = dns1123_subdomain_error(node); !why.empty())
        return Error(EINVAL, "node name \"" + node + "\": " + why);
    unsigned char raw[32];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0 && errno != EINTR) return Error::from_errno("getrandom");
        if (n > 0) got += static_cast<size_t>(n);
    }
    std::string token = hex(raw, sizeof raw);
    std::string line = sha256_hex(token) + " " + node + " " + now_rfc3339();
    SKIFF_TRY_CTX(edit_tokens(tokens_path, [&](std::vector<std::string>& lines) { lines.push_back(line); }),
                  "store the token in " + tokens_path);
    return token;
}

Result<size_t> revoke_node_tokens(const std::string& tokens_path, const std::string& node) {
    size_t removed = 0;
    SKIFF_TRY_CTX(edit_tokens(tokens_path,
                              [&](std::vector<std::string>& lines) {
                                  std::erase_if(lines, [&](const std::string& text) {
                                      Line l;
                                      bool match = parse_line(text, l) && l.node == node;
                                      removed += match;
                                      return match;
                                  });
                              }),
                  "revoke tokens in " + tokens_path);
    return removed;
}

void NodeTokens::reload_if_changed() {
    struct stat st{};
    if (::stat(path_.c_str(), &st) != 0) {
        nodes_.clear();  // no file: no tokens
        loaded_ = Stamp{};
        return;
    }
    Stamp now{st.st_dev, st.st_ino, st.st_size, st.st_mtim};
    if (loaded_ && *loaded_ == now) return;
    nodes_.clear();
    loaded_ = now;
    auto text = fs::read_file(path_);
    if (!text) return;  // unreadable: no tokens until it changes again
    std::istringstream in(*text);
    for (std::string line; std::getline(in, line);) {
        Line l;
        if (parse_line(line, l)) nodes_[l.hash] = l.node;
    }
}

std::optional<std::string> NodeTokens::node_for(std::string_view token) {
    if (token.empty()) return std::nullopt;
    // The map is keyed by the hash, so looking up does not compare secrets byte by byte.
    std::string hash = sha256_hex(token);
    std::lock_guard lock(mu_);
    reload_if_changed();
    auto it = nodes_.find(hash);
    if (it == nodes_.end()) return std::nullopt;
    return it->second;
}

}  // namespace skiff::apiserver
