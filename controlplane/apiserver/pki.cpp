// The server's CA, serving and admin certificates (OpenSSL 3), their checks on every start, and the admin kubeconfig.
#include "skiff/apiserver/pki.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <memory>

#include "skiff/apiserver/registry.hpp"
#include "skiff/base/fs.hpp"
#include "skiff/base/unique_fd.hpp"

namespace skiff::apiserver {

namespace {

template <auto Free>
struct Deleter {
    template <class T>
    void operator()(T* p) const {
        Free(p);
    }
};
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO_free>>;
using Names = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;
using Bignum = std::unique_ptr<BIGNUM, Deleter<BN_free>>;

constexpr long kDay = 24 * 3600;
constexpr long kCaDays = 3650;
constexpr long kLeafDays = 365;
constexpr long kRenewBeforeDays = 30;

// The first queued OpenSSL error as text (and the queue emptied, so the next failure starts clean).
std::string openssl_error() {
    unsigned long code = ERR_get_error();
    char buf[256] = "unknown OpenSSL error";
    if (code) ERR_error_string_n(code, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

// Never prompts for a passphrase: our keys have none, and a key that wants one is not ours.
int no_passphrase(char*, int, int, void*) { return -1; }

std::string pem_of(X509* cert) {
    Bio bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_X509(bio.get(), cert);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(n));
}

std::string pem_of(EVP_PKEY* key) {
    Bio bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);  // PKCS#8, unencrypted
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(n));
}

Result<Cert> load_cert(const std::string& path) {
    auto text = fs::read_file(path);
    if (!text) return std::move(text).error();
    Bio bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
    Cert cert(PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr));
    if (!cert)
        return Error(EINVAL, path + ": not a readable PEM certificate (truncated or corrupt?): " + openssl_error());
    return cert;
}

Result<Key> load_key(const std::string& path) {
    auto text = fs::read_file(path);
    if (!text) return std::move(text).error();
    Bio bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
    Key key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
    if (!key)
        return Error(EINVAL, path + ": not a readable PEM private key (truncated or corrupt?): " + openssl_error());
    return key;
}

Result<Key> new_key() {
    Key key(EVP_EC_gen("P-256"));
    if (!key) return Error("generate an ECDSA P-256 key: " + openssl_error());
    return key;
}

// "::1" and "0:0::1" are the same address: SANs are compared in one text form.
std::string normalized(const std::string& name) {
    unsigned char addr[16];
    char text[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET, name.c_str(), addr) == 1 && inet_ntop(AF_INET, addr, text, sizeof text)) return text;
    if (inet_pton(AF_INET6, name.c_str(), addr) == 1 && inet_ntop(AF_INET6, addr, text, sizeof text)) return text;
    std::string lower = name;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower;
}

bool is_ip(const std::string& name) {
    unsigned char addr[16];
    return inet_pton(AF_INET, name.c_str(), addr) == 1 || inet_pton(AF_INET6, name.c_str(), addr) == 1;
}

std::vector<std::string> sans_of(X509* cert) {
    std::vector<std::string> out;
    Names names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
    if (!names) return out;
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
        if (name->type == GEN_DNS) {
            const ASN1_IA5STRING* s = name->d.dNSName;
            out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<size_t>(ASN1_STRING_length(s)));
        } else if (name->type == GEN_IPADD) {
            const ASN1_OCTET_STRING* s = name->d.iPAddress;
            int len = ASN1_STRING_length(s);
            char text[INET6_ADDRSTRLEN];
            if ((len == 4 || len == 16) &&
                inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), text, sizeof text))
                out.emplace_back(text);
        }
    }
    return out;
}

enum class Usage { ca, server, client };

struct Subject {
    std::string common_name;
    std::vector<std::string> organizations;
};

Status add_extension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
    if (!ext) return Error(std::string("certificate extension ") + OBJ_nid2sn(nid) + ": " + openssl_error());
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    if (ok != 1) return Error(std::string("certificate extension ") + OBJ_nid2sn(nid) + ": " + openssl_error());
    return {};
}

// A certificate for key, signed by issuer/issuer_key (self-signed when issuer is null).
Result<Cert> issue(const Subject& subject, Usage usage, const std::vector<std::string>& sans, long days, EVP_PKEY* key,
                   X509* issuer, EVP_PKEY* issuer_key) {
    Cert cert(X509_new());
    if (!cert) return Error("X509_new: " + openssl_error());
    X509_set_version(cert.get(), X509_VERSION_3);
    // A random positive 127-bit serial: unique without keeping a counter.
    Bignum serial(BN_new());
    if (!serial || BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
        !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())))
        return Error("certificate serial: " + openssl_error());
    // Valid from an hour ago: a client whose clock is a little behind still accepts it.
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), days * kDay);
    X509_NAME* name = X509_get_subject_name(cert.get());
    for (const auto& o : subject.organizations)
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(o.c_str()), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(subject.common_name.c_str()), -1, -1, 0);
    X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
    if (X509_set_pubkey(cert.get(), key) != 1) return Error("certificate key: " + openssl_error());

    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
    switch (usage) {
        case Usage::ca:
            SKIFF_TRY(add_extension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE"));
            SKIFF_TRY(add_extension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign"));
            SKIFF_TRY(add_extension(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
            break;
        case Usage::server:
        case Usage::client:
            SKIFF_TRY(add_extension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE"));
            SKIFF_TRY(add_extension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature"));
            SKIFF_TRY(add_extension(cert.get(), &ctx, NID_ext_key_usage, usage == Usage::server ? "serverAuth" : "clientAuth"));
            SKIFF_TRY(add_extension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"));
            break;
    }
    if (!sans.empty()) {
        // Built as GENERAL_NAMEs, not as a config string: a name can't smuggle in another entry.
        Names names(sk_GENERAL_NAME_new_null());
        for (const auto& san : sans) {
            GENERAL_NAME* gn = a2i_GENERAL_NAME(nullptr, nullptr, nullptr, is_ip(san) ? GEN_IPADD : GEN_DNS, san.c_str(), 0);
            if (!gn) return Error(EINVAL, "subject alternative name \"" + san + "\": " + openssl_error());
            sk_GENERAL_NAME_push(names.get(), gn);
        }
        if (X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1)
            return Error("subject alternative names: " + openssl_error());
    }
    if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0) return Error("sign the certificate: " + openssl_error());
    return cert;
}

bool expires_within(X509* cert, long days) {
    time_t when = std::time(nullptr) + days * kDay;
    return X509_cmp_time(X509_get0_notAfter(cert), &when) < 0;
}

struct Pair {
    Cert cert;
    Key key;
};

// A certificate and its key, both there or both absent (nullopt); anything else is an error naming the file.
Result<std::optional<Pair>> load_pair(const std::string& cert_path, const std::string& key_path) {
    bool has_cert = fs::exists(cert_path), has_key = fs::exists(key_path);
    if (!has_cert && !has_key) return std::optional<Pair>();
    if (!has_cert || !has_key) {
        const std::string& missing = has_cert ? key_path : cert_path;
        const std::string& present = has_cert ? cert_path : key_path;
        return Error(ENOENT, missing + " is missing but " + present + " is there: the PKI is incomplete");
    }
    auto cert = load_cert(cert_path);
    if (!cert) return std::move(cert).error();
    auto key = load_key(key_path);
    if (!key) return std::move(key).error();
    if (X509_check_private_key(cert->get(), key->get()) != 1) {
        ERR_clear_error();
        return Error(EINVAL, key_path + " is not the key of " + cert_path);
    }
    return std::optional<Pair>(Pair{std::move(*cert), std::move(*key)});
}

Status write_pair(const Pair& pair, const std::string& cert_path, const std::string& key_path) {
    // The key first: a crash between the two leaves a mismatch that the next start reports, never a
    // certificate whose key is lost.
    SKIFF_TRY(write_private_file(key_path, pem_of(pair.key.get())));
    return write_private_file(cert_path, pem_of(pair.cert.get()));
}

Result<Pair> new_leaf(const Subject& subject, Usage usage, const std::vector<std::string>& sans, const Pair& ca) {
    auto key = new_key();
    if (!key) return std::move(key).error();
    auto cert = issue(subject, usage, sans, kLeafDays, key->get(), ca.cert.get(), ca.key.get());
    if (!cert) return std::move(cert).error();
    return Pair{std::move(*cert), std::move(*key)};
}

std::string base64(const std::string& data) {
    std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(data.data()),
                            static_cast<int>(data.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

const Subject kCaSubject{"skiff-ca", {}};
const Subject kServerSubject{"skiff-apiserver", {}};
const Subject kAdminSubject{"skiff-admin", {"system:masters"}};

}  // namespace

PkiFiles PkiFiles::in(const std::string& data_dir) {
    PkiFiles f;
    f.dir = data_dir + "/pki";
    f.ca_cert = f.dir + "/ca.crt";
    f.ca_key = f.dir + "/ca.key";
    f.server_cert = f.dir + "/server.crt";
    f.server_key = f.dir + "/server.key";
    f.admin_cert = f.dir + "/admin.crt";
    f.admin_key = f.dir + "/admin.key";
    f.kubeconfig = data_dir + "/admin.kubeconfig";
    return f;
}

std::vector<std::string> default_sans() {
    std::vector<std::string> out = {"localhost", "127.0.0.1", "::1"};
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0 && host[0] && san_error(host).empty()) out.push_back(normalized(host));
    return out;
}

std::string san_error(const std::string& name) {
    if (is_ip(name)) return "";
    std::string why = dns1123_subdomain_error(normalized(name));
    return why.empty() ? "" : "not an IP address, and not a DNS name: " + why;
}

Result<std::vector<std::string>> certificate_sans(const std::string& cert_path) {
    auto cert = load_cert(cert_path);
    if (!cert) return std::move(cert).error();
    return sans_of(cert->get());
}

Result<PkiState> ensure_pki(const PkiOptions& options) {
    PkiState state;
    state.files = PkiFiles::in(options.data_dir);
    const PkiFiles& f = state.files;
    SKIFF_TRY_CTX(fs::make_dirs(f.dir, 0700), "pki");
    ::chmod(f.dir.c_str(), 0700);

    std::vector<std::string> wanted;
    for (const auto& san : default_sans()) wanted.push_back(normalized(san));
    for (const auto& san : options.sans) {
        if (auto why = san_error(san); !why.empty()) return Error(EINVAL, "--tls-san \"" + san + "\": " + why);
        if (std::find(wanted.begin(), wanted.end(), normalized(san)) == wanted.end()) wanted.push_back(normalized(san));
    }

    auto ca_pair = load_pair(f.ca_cert, f.ca_key);
    if (!ca_pair) return std::move(ca_pair).error().context("pki");
    std::optional<Pair> ca = std::move(*ca_pair);
    if (!ca) {
        // No CA: a first start, unless leaf files are there (they would be from a CA that is gone).
        for (const auto& leaf : {f.server_cert, f.server_key, f.admin_cert, f.admin_key})
            if (fs::exists(leaf))
                return Error(ENOENT, "pki: " + f.ca_cert + " and " + f.ca_key + " are missing but " + leaf +
                                         " is there: restore the CA, or remove " + f.dir +
                                         " to make a new cluster CA (every kubeconfig and node must then be redone)");
        auto key = new_key();
        if (!key) return std::move(key).error().context("pki");
        auto cert = issue(kCaSubject, Usage::ca, {}, kCaDays, key->get(), nullptr, key->get());
        if (!cert) return std::move(cert).error().context("pki: the CA");
        ca = Pair{std::move(*cert), std::move(*key)};
        SKIFF_TRY_CTX(write_pair(*ca, f.ca_cert, f.ca_key), "pki");
        state.created = true;
    }

    // Leaf pairs: made when absent, checked against the CA when present, renewed when they need to be.
    auto signed_by_ca = [&](X509* cert, const std::string& path) -> Status {
        if (X509_verify(cert, ca->key.get()) != 1) {
            ERR_clear_error();
            return Error(EINVAL, "pki: " + path + " is not signed by " + f.ca_cert);
        }
        return {};
    };

    auto server = load_pair(f.server_cert, f.server_key);
    if (!server) return std::move(server).error().context("pki");
    std::vector<std::string> sans = wanted;
    bool renew_server = !*server;
    if (*server) {
        SKIFF_TRY(signed_by_ca((*server)->cert.get(), f.server_cert));
        auto have = sans_of((*server)->cert.get());
        for (const auto& name : wanted)
            if (std::find(have.begin(), have.end(), name) == have.end()) renew_server = true;
        if (expires_within((*server)->cert.get(), kRenewBeforeDays)) renew_server = true;
        // Names given on an earlier start stay: clients may still use them.
        for (const auto& name : have)
            if (std::find(sans.begin(), sans.end(), name) == sans.end()) sans.push_back(name);
        state.renewed_server_cert = renew_server;
    }
    if (renew_server) {
        auto pair = new_leaf(kServerSubject, Usage::server, sans, *ca);
        if (!pair) return std::move(pair).error().context("pki: the serving certificate");
        SKIFF_TRY_CTX(write_pair(*pair, f.server_cert, f.server_key), "pki");
    }

    auto admin = load_pair(f.admin_cert, f.admin_key);
    if (!admin) return std::move(admin).error().context("pki");
    bool renew_admin = !*admin;
    if (*admin) {
        SKIFF_TRY(signed_by_ca((*admin)->cert.get(), f.admin_cert));
        renew_admin = state.renewed_admin_cert = expires_within((*admin)->cert.get(), kRenewBeforeDays);
    }
    if (renew_admin) {
        auto pair = new_leaf(kAdminSubject, Usage::client, {}, *ca);
        if (!pair) return std::move(pair).error().context("pki: the admin certificate");
        SKIFF_TRY_CTX(write_pair(*pair, f.admin_cert, f.admin_key), "pki");
    }
    return state;
}

Result<std::string> admin_kubeconfig(const PkiFiles& files, const std::string& server_url) {
    auto ca = fs::read_file(files.ca_cert);
    if (!ca) return std::move(ca).error();
    auto cert = fs::read_file(files.admin_cert);
    if (!cert) return std::move(cert).error();
    auto key = fs::read_file(files.admin_key);
    if (!key) return std::move(key).error();
    return "apiVersion: v1\n"
           "kind: Config\n"
           "clusters:\n"
           "- name: skiff\n"
           "  cluster:\n"
           "    server: " + server_url + "\n"
           "    certificate-authority-data: " + base64(*ca) + "\n"
           "users:\n"
           "- name: skiff-admin\n"
           "  user:\n"
           "    client-certificate-data: " + base64(*cert) + "\n"
           "    client-key-data: " + base64(*key) + "\n"
           "contexts:\n"
           "- name: skiff\n"
           "  context:\n"
           "    cluster: skiff\n"
           "    user: skiff-admin\n"
           "current-context: skiff\n";
}

Status write_admin_kubeconfig(const PkiFiles& files, const std::string& server_url) {
    auto text = admin_kubeconfig(files, server_url);
    if (!text) return std::move(text).error().context("admin kubeconfig");
    if (auto old = fs::read_file(files.kubeconfig); old && *old == *text) return {};
    return write_private_file(files.kubeconfig, *text);
}

Status write_private_file(const std::string& path, std::string_view data) {
    std::string tmp = path + ".tmp";
    ::unlink(tmp.c_str());  // a stale one from a crash may have another mode: O_EXCL makes a fresh one
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) return Error::from_errno("create " + tmp);
    auto fail = [&](const std::string& what) {
        Error e = Error::from_errno(what + " " + tmp);
        ::unlink(tmp.c_str());
        return e;
    };
    while (!data.empty()) {
        ssize_t n = ::write(fd.get(), data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail("write");
        data.remove_prefix(static_cast<size_t>(n));
    }
    if (::fsync(fd.get()) != 0) return fail("fsync");
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename to " + path + ":");
    // The rename itself must survive a crash too.
    std::string dir = path.substr(0, path.rfind('/') == std::string::npos ? 0 : path.rfind('/'));
    UniqueFd dfd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dfd) ::fsync(dfd.get());
    return {};
}

}  // namespace skiff::apiserver
