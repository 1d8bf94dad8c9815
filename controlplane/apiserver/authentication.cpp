// Request authentication: client certificates verified by the TLS layer, node bearer tokens from DATA/tokens.
#include "skiff/apiserver/authentication.hpp"

#include <algorithm>
#include <cctype>

namespace skiff::apiserver {

namespace {

const char kNodePrefix[] = "system:node:";

UserInfo with_authenticated(UserInfo user) {
    if (!user.in_group("system:authenticated")) user.groups.push_back("system:authenticated");
    if (user.name.rfind(kNodePrefix, 0) == 0 && user.in_group("system:nodes"))
        user.node = user.name.substr(sizeof kNodePrefix - 1);
    return user;
}

// The token of "Bearer TOKEN" (the scheme is case-insensitive), or "".
std::string bearer_token(const std::string& authorization) {
    if (authorization.size() < 7) return "";
    std::string scheme = authorization.substr(0, 7);
    for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (scheme != "bearer ") return "";
    std::string token = authorization.substr(7);
    while (!token.empty() && token.front() == ' ') token.erase(0, 1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.pop_back();
    return token;
}

}  // namespace

bool UserInfo::in_group(const std::string& group) const {
    return std::find(groups.begin(), groups.end(), group) != groups.end();
}

UserInfo insecure_admin() { return with_authenticated({"skiff-admin", {"system:masters"}, ""}); }

bool is_public_path(const std::string& path) {
    for (const char* open : {"/healthz", "/livez", "/readyz"}) {
        std::string base = open;
        if (path == base || path.rfind(base + "/", 0) == 0) return true;
    }
    return path == "/version" || path == "/version/";
}

std::optional<UserInfo> Authenticator::authenticate(const Request& req) const {
    if (req.client_certificate && !req.client_certificate->common_name.empty())
        return with_authenticated({req.client_certificate->common_name, req.client_certificate->organizations, ""});
    std::string token = bearer_token(req.header("authorization"));
    if (!token.empty() && tokens_) {
        if (auto node = tokens_->node_for(token))
            return with_authenticated({kNodePrefix + *node, {"system:nodes"}, ""});
    }
    return std::nullopt;
}

}  // namespace skiff::apiserver
