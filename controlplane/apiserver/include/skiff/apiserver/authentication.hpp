// Who sent a request: a verified client certificate (CN = user, O = groups) or a node's bearer token.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "skiff/apiserver/http_server.hpp"
#include "skiff/apiserver/node_tokens.hpp"

namespace skiff::apiserver {

struct UserInfo {
    std::string name;                 // "skiff-admin", "system:node:n1"
    std::vector<std::string> groups;  // "system:masters", "system:nodes"; always "system:authenticated"
    std::string node;                 // the node's name for a node identity, else ""

    bool in_group(const std::string& group) const;
};

// The identity of the loopback --insecure-listen listener: every request there is the admin.
UserInfo insecure_admin();

// What a request may reach without credentials, as kube-apiserver's default policy allows anonymous users
// (ClusterRole system:public-info-viewer): /healthz, /livez, /readyz (and their sub-checks) and /version.
bool is_public_path(const std::string& path);

class Authenticator {
public:
    // tokens: the node tokens to accept (nullptr: none).
    explicit Authenticator(std::shared_ptr<NodeTokens> tokens) : tokens_(std::move(tokens)) {}

    // The identity behind req, or nullopt when it carries no valid credential (a 401). A client certificate
    // (already verified by the TLS layer) comes first, then `Authorization: Bearer TOKEN`. A certificate
    // with CN system:node:NAME and O system:nodes is node NAME, as in Kubernetes.
    std::optional<UserInfo> authenticate(const Request& req) const;

private:
    std::shared_ptr<NodeTokens> tokens_;
};

}  // namespace skiff::apiserver
