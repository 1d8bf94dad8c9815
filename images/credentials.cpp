// Credentials from --creds and docker's config.json, and `skiff login` writing it back.
#include "skiff/images/credentials.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "skiff/base/fs.hpp"

namespace skiff::images {

using nlohmann::json;

Result<Credentials> Credentials::parse(std::string_view text) {
    size_t colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0)
        return Error(EINVAL, "credentials must be USER:PASS");
    return Credentials{std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
}

std::string default_docker_config_path() {
    if (const char* dir = std::getenv("DOCKER_CONFIG"); dir && *dir)
        return std::string(dir) + "/config.json";
    const char* home = std::getenv("HOME");
    return std::string(home && *home ? home : "/root") + "/.docker/config.json";
}

namespace {
constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}
}  // namespace

// RFC 4648 base64 with padding, as docker's config.json "auth" and HTTP basic auth use it.
std::string base64_encode(std::string_view data) {
    std::string out;
    out.reserve(4 * ((data.size() + 2) / 3));
    for (size_t i = 0; i < data.size(); i += 3) {
        size_t n = std::min<size_t>(3, data.size() - i);
        uint32_t group = 0;
        for (size_t k = 0; k < 3; ++k)
            group = group << 8 | (k < n ? static_cast<unsigned char>(data[i + k]) : 0u);
        for (size_t k = 0; k < 4; ++k)
            out += k <= n ? kBase64[(group >> (18 - 6 * k)) & 63] : '=';
    }
    return out;
}

Result<std::string> base64_decode(std::string_view text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
    if (text.size() % 4 != 0) return Error(EINVAL, "invalid base64: length not a multiple of 4");
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (size_t i = 0; i < text.size(); i += 4) {
        bool last = i + 4 == text.size();
        size_t padding = 0;
        uint32_t group = 0;
        for (size_t k = 0; k < 4; ++k) {
            char c = text[i + k];
            int v = base64_value(c);
            if (c == '=' && last && k >= 2 && (k == 3 || text[i + 3] == '=')) {
                ++padding;
                v = 0;
            } else if (v < 0 || padding > 0) {
                return Error(EINVAL, "invalid base64");
            }
            group = group << 6 | static_cast<uint32_t>(v);
        }
        for (size_t k = 0; k < 3 - padding; ++k)
            out += static_cast<char>((group >> (16 - 8 * k)) & 0xff);
    }
    return out;
}

// "https://127.0.0.1:5000/v1/" -> "127.0.0.1:5000": docker writes keys in either form.
static std::string host_of_key(std::string key) {
    if (size_t p = key.find("://"); p != std::string::npos) key.erase(0, p + 3);
    if (size_t p = key.find('/'); p != std::string::npos) key.erase(p);
    return key;
}

Result<std::map<std::string, Credentials>> load_docker_config(const std::string& path) {
    std::map<std::string, Credentials> out;
    if (!fs::exists(path)) return out;
    auto text = fs::read_file(path);
    if (!text) return std::move(text).error();
    json doc = json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object()) return Error(EINVAL, path + ": not a JSON object");
    auto auths = doc.find("auths");
    if (auths == doc.end()) return out;
    if (!auths->is_object()) return Error(EINVAL, path + ": \"auths\" is not an object");
    for (auto& [key, entry] : auths->items()) {
        if (!entry.is_object()) continue;
        Credentials creds;
        auto auth = entry.find("auth");
        if (auth != entry.end() && auth->is_string() && !auth->get<std::string>().empty()) {
            auto decoded = base64_decode(auth->get<std::string>());
            if (!decoded) return std::move(decoded).error().context(path + ": auths." + key);
            auto parsed = Credentials::parse(*decoded);
            if (!parsed) return std::move(parsed).error().context(path + ": auths." + key);
            creds = std::move(*parsed);
        } else {
            auto user = entry.find("username");
            auto pass = entry.find("password");
            if (user == entry.end() || !user->is_string()) continue;
            creds.username = user->get<std::string>();
            if (pass != entry.end() && pass->is_string()) creds.password = pass->get<std::string>();
        }
        out[host_of_key(key)] = std::move(creds);
    }
    return out;
}

Result<std::optional<Credentials>> find_credentials(const std::string& host,
                                                    const std::string& path) {
    auto all = load_docker_config(path);
    if (!all) return std::move(all).error();
    auto it = all->find(host);
    if (it == all->end()) return std::optional<Credentials>();
    return std::optional<Credentials>(it->second);
}

Status save_login(const std::string& host, const Credentials& creds, const std::string& path) {
    json doc = json::object();
    if (fs::exists(path)) {
        auto text = fs::read_file(path);
        if (!text) return std::move(text).error();
        doc = json::parse(*text, nullptr, false);
        if (doc.is_discarded() || !doc.is_object())
            return Error(EINVAL, path + ": not a JSON object; not overwriting it");
    }
    if (!doc.contains("auths") || !doc["auths"].is_object()) doc["auths"] = json::object();
    doc["auths"][host] = json{{"auth", base64_encode(creds.username + ":" + creds.password)}};
    if (size_t slash = path.rfind('/'); slash != std::string::npos && slash > 0)
        SKIFF_TRY(fs::make_dirs(path.substr(0, slash), 0700));
    // The temp file is created 0600 too, so the password is never readable by others.
    return fs::write_file_atomic(path, doc.dump(4) + "\n", 0600);
}

}  // namespace skiff::images
