// The API server's PKI under its data dir: a cluster CA, the serving certificate, the admin client
// certificate and the admin kubeconfig; made on the first start, reused (and checked) on every later one.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "skiff/base/result.hpp"

namespace skiff::apiserver {

// Where everything lives: DATA/pki/{ca,server,admin}.{crt,key} and DATA/admin.kubeconfig.
struct PkiFiles {
    std::string dir;
    std::string ca_cert, ca_key;
    std::string server_cert, server_key;
    std::string admin_cert, admin_key;
    std::string kubeconfig;

    static PkiFiles in(const std::string& data_dir);
};

struct PkiOptions {
    std::string data_dir;
    // Names the serving certificate must carry besides default_sans(): DNS names or IP addresses.
    std::vector<std::string> sans;
};

struct PkiState {
    PkiFiles files;
    bool created = false;              // this start made the CA (and everything else)
    bool renewed_server_cert = false;  // a name was missing, or it was about to expire
    bool renewed_admin_cert = false;   // it was about to expire
};

// Makes what is missing and checks what is there: a CA (ECDSA P-256, 10 years, CN skiff-ca), a serving
// certificate (1 year) for default_sans() and options.sans, an admin client certificate (1 year, CN
// skiff-admin, O system:masters); keys 0600. The serving certificate is made again (with the names it had
// plus the missing ones) when a name is missing, and both leaf certificates within 30 days of expiry. An
// unreadable, truncated or mismatched file, or a CA half there, is an error naming the file: the CA is
// never overwritten.
[[nodiscard]] Result<PkiState> ensure_pki(const PkiOptions& options);

// localhost, 127.0.0.1, ::1 and this host's name.
std::vector<std::string> default_sans();

// "" if name is a DNS name (an RFC 1123 subdomain) or an IP address a certificate can carry; else why not.
std::string san_error(const std::string& name);

// The DNS names and IP addresses (in their usual text form) a certificate file carries.
[[nodiscard]] Result<std::vector<std::string>> certificate_sans(const std::string& cert_path);

// The admin kubeconfig for server_url (https://127.0.0.1:6443): the CA, the admin certificate and key
// embedded as *-data fields, one cluster/user/context named skiff.
[[nodiscard]] Result<std::string> admin_kubeconfig(const PkiFiles& files, const std::string& server_url);
// Writes admin_kubeconfig() to files.kubeconfig (0600) unless it already says exactly that.
[[nodiscard]] Status write_admin_kubeconfig(const PkiFiles& files, const std::string& server_url);

// Writes data to path through a fresh 0600 temp file beside it, fsynced, then renamed over path: readers
// see the old or the new content, never a part, and the secret is never readable by others on the way.
[[nodiscard]] Status write_private_file(const std::string& path, std::string_view data);

}  // namespace skiff::apiserver
