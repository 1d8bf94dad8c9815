// Registry HTTP API v2 over libcurl: auth challenges, verified streaming blob downloads, uploads.
#include "skiff/images/registry_client.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "skiff/base/parallel.hpp"
#include "skiff/base/unique_fd.hpp"

#include "lazy_libs.hpp"

namespace skiff::images {

namespace {

using nlohmann::json;

constexpr size_t kMaxSmallBody = 8 << 20;  // manifests, tokens, error bodies

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return std::string(s);
}

// Percent-encodes everything but RFC 3986's unreserved characters.
std::string escape(const std::string& s) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

struct SlistDeleter {
    void operator()(curl_slist* l) const { libcurl().curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

// The destination of a blob download: a temp file beside dest that is hashed as it fills and
// only renamed into place once size and digest match. Unlinked unless committed.
class DownloadWriter {
  public:
    DownloadWriter(const Digest& digest, uint64_t size, std::string dest)
        : digest_(digest), expected_(size), dest_(std::move(dest)) {}
    // Streams into sink instead of a file; the sink's owner verifies the digest.
    DownloadWriter(const Digest& digest, uint64_t size, RegistryClient::BlobSink sink)
        : digest_(digest), expected_(size), sink_(std::move(sink)) {}
    ~DownloadWriter() {
        if (!tmp_.empty() && !committed_) ::unlink(tmp_.c_str());
    }

    Status open() {
        if (sink_) return {};
        std::string tmpl = dest_ + ".partial-XXXXXX";
        int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
        if (fd < 0) return Error::from_errno("create temp file for " + dest_);
        fd_.reset(fd);
        tmp_ = std::move(tmpl);
        return {};
    }

    // Returns false (and records why) to make curl abort the transfer.
    bool write(const char* data, size_t n) {
        if (expected_ != 0 && written_ + n > expected_) {
            error_ = Error(EBADMSG, "size mismatch (expected " + std::to_string(expected_) +
                                        " bytes, registry sent more)");
            return false;
        }
        if (sink_) {
            if (auto r = sink_(data, n); !r) {
                error_ = std::move(r).error();
                return false;
            }
            written_ += n;
            return true;
        }
        hash_.update(data, n);
        size_t off = 0;
        while (off < n) {
            ssize_t w = ::write(fd_.get(), data + off, n - off);
            if (w < 0) {
                if (errno == EINTR) continue;
                error_ = Error::from_errno("write " + tmp_);
                return false;
            }
            off += static_cast<size_t>(w);
        }
        written_ += n;
        return true;
    }

    // Checks what arrived and renames it to dest. No fsync: a killed process leaves only the
    // temp file (never a complete-looking dest); durability across power loss is the store's call.
    Status commit() {
        if (expected_ != 0 && written_ != expected_)
            return Error(EBADMSG, "size mismatch (expected " + std::to_string(expected_) +
                                      " bytes, got " + std::to_string(written_) + ")");
        if (sink_) return {};
        Digest got = hash_.finish();
        if (got != digest_) return Error(EBADMSG, "digest mismatch (got " + got.str() + ")");
        if (::fchmod(fd_.get(), 0644) != 0) return Error::from_errno("chmod " + tmp_);
        fd_.reset();
        if (::rename(tmp_.c_str(), dest_.c_str()) != 0)
            return Error::from_errno("rename " + tmp_ + " to " + dest_);
        committed_ = true;
        return {};
    }

    uint64_t written() const { return written_; }
    const std::optional<Error>& error() const { return error_; }

  private:
    Digest digest_;
    uint64_t expected_;
    std::string dest_;
    std::string tmp_;
    UniqueFd fd_;
    Sha256 hash_;
    uint64_t written_ = 0;
    bool committed_ = false;
    std::optional<Error> error_;
    RegistryClient::BlobSink sink_;
};

struct Request {
    std::string method = "GET";
    std::string url;
    std::vector<std::string> headers;
    // Request body: in memory, or a byte range of a file (for blob uploads).
    std::string_view body;
    int body_fd = -1;
    uint64_t body_offset = 0;
    uint64_t body_size = 0;
    bool has_body = false;
    DownloadWriter* blob = nullptr;  // 2xx response bodies go here instead of Response::body
    bool follow_redirects = false;
    const Digest* progress_digest = nullptr;
    uint64_t progress_total = 0;
    uint64_t progress_base = 0;  // bytes of this blob moved by earlier requests (chunks)
};

struct Response {
    long status = 0;
    std::string body;
    bool body_truncated = false;
    std::vector<std::pair<std::string, std::string>> headers;  // names lowercased

    std::string header(std::string_view name) const {
        for (auto& [k, v] : headers)
            if (k == name) return v;
        return {};
    }
    bool ok() const { return status >= 200 && status < 300; }
};

// What the curl callbacks of one transfer share.
struct Transfer {
    CURL* curl;
    Request* req;
    Response* resp;
    uint64_t sent = 0;
    const RegistryClient::ProgressFn* progress;
    std::mutex* progress_mu;

    void report(uint64_t done) {
        if (!progress || !*progress || !req->progress_digest) return;
        std::lock_guard lock(*progress_mu);
        try {
            (*progress)(*req->progress_digest, req->progress_base + done, req->progress_total);
        } catch (...) {
            // A callback's exception must not unwind through C code.
        }
    }
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    std::string_view line(data, size * n);
    // A new status line (redirects, 100-continue) starts a new header set.
    if (line.starts_with("HTTP/")) {
        t->resp->headers.clear();
        return size * n;
    }
    size_t colon = line.find(':');
    if (colon != std::string_view::npos)
        t->resp->headers.emplace_back(lower(std::string(line.substr(0, colon))),
                                      trim(line.substr(colon + 1)));
    return size * n;
}

size_t on_write(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    size_t len = size * n;
    long status = 0;
    libcurl().curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    if (t->req->blob && status >= 200 && status < 300) {
        if (!t->req->blob->write(data, len)) return 0;  // aborts with CURLE_WRITE_ERROR
        t->report(t->req->blob->written());
        return len;
    }
    if (t->resp->body.size() + len > kMaxSmallBody) {
        t->resp->body_truncated = true;
        return 0;
    }
    t->resp->body.append(data, len);
    return len;
}

size_t on_read(char* buf, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    Request& r = *t->req;
    uint64_t total = r.body_fd >= 0 ? r.body_size : r.body.size();
    size_t want = static_cast<size_t>(std::min<uint64_t>(size * n, total - t->sent));
    if (want == 0) return 0;
    if (r.body_fd >= 0) {
        ssize_t got;
        do {
            got = ::pread(r.body_fd, buf, want, static_cast<off_t>(r.body_offset + t->sent));
        } while (got < 0 && errno == EINTR);
        if (got <= 0) return CURL_READFUNC_ABORT;  // the file shrank or broke under us
        want = static_cast<size_t>(got);
    } else {
        std::copy_n(r.body.data() + t->sent, want, buf);
    }
    t->sent += want;
    t->report(t->sent);
    return want;
}

// curl rewinds the body when it must resend it (auth retries, redirects).
int on_seek(void* user, curl_off_t offset, int origin) {
    auto* t = static_cast<Transfer*>(user);
    if (origin != SEEK_SET || offset < 0) return CURL_SEEKFUNC_CANTSEEK;
    t->sent = static_cast<uint64_t>(offset);
    return CURL_SEEKFUNC_OK;
}

// "CODE: message; CODE: message" from a registry's {"errors":[...]} body, else the body's start.
std::string registry_error_text(const Response& resp) {
    json doc = json::parse(resp.body, nullptr, false);
    std::string out;
    if (!doc.is_discarded() && doc.is_object() && doc.contains("errors") &&
        doc["errors"].is_array()) {
        for (auto& e : doc["errors"]) {
            if (!e.is_object()) continue;
            if (!out.empty()) out += "; ";
            out += e.value("code", std::string("UNKNOWN"));
            std::string msg = e.value("message", std::string());
            if (!msg.empty()) out += ": \"" + msg + "\"";
        }
    }
    if (out.empty()) {
        out = trim(resp.body.substr(0, 200));
        for (char& c : out)
            if (c == '\n' || c == '\r') c = ' ';
    }
    return out;
}

std::string http_status_text(const Response& resp) {
    std::string s = "HTTP " + std::to_string(resp.status);
    std::string detail = registry_error_text(resp);
    if (!detail.empty()) s += ": " + detail;
    return s;
}

bool is_digest(const std::string& reference) {
    return reference.find(':') != std::string::npos;
}

std::string image_name(const std::string& repo, const std::string& reference) {
    return repo + (is_digest(reference) ? "@" : ":") + reference;
}

// Content-Type without parameters ("; charset=utf-8").
std::string media_type_of(const std::string& content_type) {
    return trim(content_type.substr(0, content_type.find(';')));
}

// Reachability, TLS and auth errors already name the registry and what failed; wrapping them in
// "get manifest X: ..." would bury the point.
Error with_context(Error e, const std::string& what) {
    const std::string& m = e.message();
    if (m.starts_with("registry ") || m.starts_with("TLS connection to ") ||
        m.starts_with("authentication to "))
        return e;
    return std::move(e).context(what);
}

}  // namespace

Result<AuthChallenge> parse_www_authenticate(std::string_view header) {
    std::string_view h = header;
    while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
    size_t sp = h.find(' ');
    AuthChallenge c;
    c.scheme = lower(std::string(h.substr(0, sp)));
    if (c.scheme.empty()) return Error(EPROTO, "empty WWW-Authenticate header");
    if (sp == std::string_view::npos) return c;
    h.remove_prefix(sp + 1);
    // key=value or key="quoted, value" pairs separated by commas.
    while (!h.empty()) {
        while (!h.empty() && (h.front() == ' ' || h.front() == ',')) h.remove_prefix(1);
        size_t eq = h.find('=');
        if (eq == std::string_view::npos) break;
        std::string key = lower(trim(h.substr(0, eq)));
        h.remove_prefix(eq + 1);
        std::string value;
        if (!h.empty() && h.front() == '"') {
            h.remove_prefix(1);
            while (!h.empty() && h.front() != '"') {
                if (h.front() == '\\' && h.size() > 1) h.remove_prefix(1);
                value += h.front();
                h.remove_prefix(1);
            }
            if (h.empty())
                return Error(EPROTO,
                             "unterminated quote in WWW-Authenticate: " + std::string(header));
            h.remove_prefix(1);
        } else {
            size_t end = h.find(',');
            value = trim(h.substr(0, end));
            h.remove_prefix(end == std::string_view::npos ? h.size() : end);
        }
        if (key == "realm")
            c.realm = value;
        else if (key == "service")
            c.service = value;
        else if (key == "scope")
            c.scope = value;
    }
    return c;
}

struct RegistryClient::Impl {
    Options opt;
    // http:// instead of https://: asked for, or found out (an insecure registry without TLS).
    std::atomic<bool> plain;

    std::mutex mu;
    std::vector<CURL*> idle;  // easy handles kept for their connection caches
    // Authorization header values by token scope; "" holds basic auth, which covers every scope.
    std::map<std::string, std::string> auth;
    std::mutex progress_mu;

    explicit Impl(Options o) : opt(std::move(o)), plain(opt.plain_http) {
        if (opt.parallel < 1) opt.parallel = 1;
    }
    ~Impl() {
        for (CURL* c : idle) libcurl().curl_easy_cleanup(c);
    }

    CURL* acquire() {
        {
            std::lock_guard lock(mu);
            if (!idle.empty()) {
                CURL* c = idle.back();
                idle.pop_back();
                return c;
            }
        }
        return libcurl().curl_easy_init();
    }
    void release(CURL* c) {
        std::lock_guard lock(mu);
        idle.push_back(c);
    }

    std::string base() const { return (plain ? "http://" : "https://") + opt.registry_host; }
    std::string url(const std::string& path) const { return base() + path; }
    // Upload Locations may be absolute or relative to the registry.
    std::string resolve(const std::string& location) const {
        if (location.starts_with("http://") || location.starts_with("https://")) return location;
        return base() + location;
    }

    Error curl_error(CURLcode rc, const char* errbuf, const Request& req) const {
        std::string detail = errbuf[0] ? std::string(errbuf) : libcurl().curl_easy_strerror(rc);
        switch (rc) {
            case CURLE_COULDNT_CONNECT:
            case CURLE_COULDNT_RESOLVE_HOST:
            case CURLE_COULDNT_RESOLVE_PROXY:
                return Error(ECONNREFUSED,
                             "registry " + opt.registry_host + " is not reachable: " + detail);
            case CURLE_PEER_FAILED_VERIFICATION:
            case CURLE_SSL_CACERT_BADFILE:
            case CURLE_SSL_CONNECT_ERROR:
            case CURLE_SSL_CERTPROBLEM:
            case CURLE_SSL_CIPHER:
            case CURLE_SSL_ISSUER_ERROR:
            case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
                return Error(
                    "TLS connection to registry " + opt.registry_host + " failed: " + detail +
                    (opt.tls_verify ? " (give its CA file, or disable TLS verification)" : ""));
            case CURLE_OPERATION_TIMEDOUT:
                return Error(ETIMEDOUT, "registry " + opt.registry_host + " timed out (" +
                                            req.method + " " + req.url + "): " + detail);
            default:
                return Error(EIO, req.method + " " + req.url + ": " + detail);
        }
    }

    // One HTTP exchange, no auth handling.
    Result<Response> perform(Request& req, const std::string& authorization) {
        SKIFF_TRY(load_libcurl());
        const LibCurl& curl = libcurl();
        CURL* c = acquire();
        if (!c) return Error(ENOMEM, "curl_easy_init failed");
        struct Releaser {
            Impl* self;
            CURL* c;
            ~Releaser() { self->release(c); }
        } releaser{this, c};
        curl.curl_easy_reset(c);

        Response resp;
        Transfer t{c, &req, &resp, 0, &opt.progress, &progress_mu};
        char errbuf[CURL_ERROR_SIZE] = {0};

        Slist headers;
        auto add_header = [&](const std::string& h) {
            curl_slist* n = curl.curl_slist_append(headers.get(), h.c_str());
            if (n) {
                (void)headers.release();
                headers.reset(n);
            }
        };
        for (auto& h : req.headers) add_header(h);
        if (!authorization.empty()) add_header("Authorization: " + authorization);
        add_header("Expect:");  // no 100-continue round trip before uploads

        curl.curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
        curl.curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl.curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        // 512 KiB (curl's maximum) instead of 16 KiB: a 50 MB layer in ~100 callbacks, not 3,000.
        curl.curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 512L * 1024);
        curl.curl_easy_setopt(c, CURLOPT_USERAGENT, "skiff/0.1");
        curl.curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, opt.connect_timeout_ms);
        curl.curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl.curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, opt.low_speed_timeout_s);
        curl.curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl.curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl.curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl.curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
        curl.curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
        curl.curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
        if (req.follow_redirects) {
            // Storage redirects (S3 and such): curl drops our Authorization header on other hosts.
            curl.curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
            curl.curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
        }
        if (req.url.starts_with("https://")) {
            if (!opt.tls_verify) {
                curl.curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
                curl.curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
            } else if (!opt.ca_file.empty()) {
                curl.curl_easy_setopt(c, CURLOPT_CAINFO, opt.ca_file.c_str());
            }
        }

        uint64_t body_size = req.body_fd >= 0 ? req.body_size : req.body.size();
        if (req.method == "HEAD") {
            curl.curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        } else if (req.method == "POST") {
            curl.curl_easy_setopt(c, CURLOPT_POST, 1L);
            curl.curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body_size));
        } else if (req.method == "PUT" || req.method == "PATCH") {
            curl.curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
            curl.curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body_size));
            if (req.method == "PATCH") curl.curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PATCH");
        } else if (req.method != "GET") {
            curl.curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
        }
        if (req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
            curl.curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
            curl.curl_easy_setopt(c, CURLOPT_READDATA, &t);
            curl.curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
            curl.curl_easy_setopt(c, CURLOPT_SEEKDATA, &t);
        }
        curl.curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

        CURLcode rc = curl.curl_easy_perform(c);
        curl.curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);  // errbuf dies with this frame
        if (rc == CURLE_WRITE_ERROR && req.blob && req.blob->error()) return *req.blob->error();
        if (rc == CURLE_WRITE_ERROR && resp.body_truncated)
            return Error(EFBIG, req.method + " " + req.url + ": response larger than " +
                                    std::to_string(kMaxSmallBody) + " bytes");
        if (rc != CURLE_OK && fall_back_to_http(rc, req)) return perform(req, authorization);
        if (rc != CURLE_OK) return curl_error(rc, errbuf, req);
        curl.curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
        return resp;
    }

    // Without TLS verification the registry may not speak TLS at all. Like docker with an
    // insecure registry: try https, and when the handshake fails use http for this request and
    // every later one, so no separate probe request is needed.
    bool fall_back_to_http(CURLcode rc, Request& req) {
        if (opt.tls_verify || rc != CURLE_SSL_CONNECT_ERROR) return false;
        std::string https = "https://" + opt.registry_host;
        if (!req.url.starts_with(https)) return false;
        plain = true;
        req.url = "http://" + opt.registry_host + req.url.substr(https.size());
        return true;
    }

    std::string cached_auth(const std::string& scope) {
        std::lock_guard lock(mu);
        if (auto it = auth.find(scope); it != auth.end()) return it->second;
        if (auto it = auth.find(""); it != auth.end()) return it->second;
        return {};
    }

    Error auth_failed(const std::string& repo, const std::string& why) const {
        std::string target = repo.empty() ? "" : " for " + repo;
        return Error(EACCES,
                     "authentication to " + opt.registry_host + " failed" + target + ": " + why);
    }

    // Answers a 401: fetches a bearer token from the challenge's realm, or switches to basic auth.
    Status authenticate(const Response& denied, const std::string& scope, const std::string& repo) {
        std::string header = denied.header("www-authenticate");
        if (header.empty()) return auth_failed(repo, http_status_text(denied));
        auto challenge = parse_www_authenticate(header);
        if (!challenge) return auth_failed(repo, challenge.error().message());
        std::string basic;
        if (opt.credentials)
            basic = "Basic " +
                    base64_encode(opt.credentials->username + ":" + opt.credentials->password);
        if (challenge->scheme == "basic") {
            if (!opt.credentials) return auth_failed(repo, "the registry requires credentials");
            std::lock_guard lock(mu);
            auth[""] = basic;
            return {};
        }
        if (challenge->scheme != "bearer")
            return auth_failed(repo, "unsupported auth scheme \"" + challenge->scheme + "\"");
        if (challenge->realm.empty()) return auth_failed(repo, "bearer challenge without realm");

        std::string token_url = challenge->realm;
        char sep = token_url.find('?') == std::string::npos ? '?' : '&';
        if (!challenge->service.empty()) {
            token_url += sep + std::string("service=") + escape(challenge->service);
            sep = '&';
        }
        // The registry names the scope it wants; ours covers registries that don't.
        std::string scopes = challenge->scope.empty() ? scope : challenge->scope;
        size_t pos = 0;
        while (pos < scopes.size()) {
            size_t end = scopes.find(' ', pos);
            if (end == std::string::npos) end = scopes.size();
            if (end > pos) {
                token_url += sep + std::string("scope=") + escape(scopes.substr(pos, end - pos));
                sep = '&';
            }
            pos = end + 1;
        }
        Request req;
        req.url = token_url;
        req.follow_redirects = true;
        auto resp = perform(req, basic);
        if (!resp) return std::move(resp).error().context("get token from " + challenge->realm);
        if (resp->status == 401 || resp->status == 403)
            return auth_failed(
                repo, "token server " + challenge->realm + " refused: " + http_status_text(*resp));
        if (!resp->ok())
            return auth_failed(repo,
                               "token server " + challenge->realm + ": " + http_status_text(*resp));
        json doc = json::parse(resp->body, nullptr, false);
        std::string token;
        if (!doc.is_discarded() && doc.is_object()) {
            token = doc.value("token", std::string());
            if (token.empty()) token = doc.value("access_token", std::string());
        }
        if (token.empty())
            return auth_failed(repo, "token server " + challenge->realm + " sent no token");
        std::lock_guard lock(mu);
        auth[scope] = "Bearer " + token;
        return {};
    }

    // perform() with authentication: a 401 is answered once, then the request is repeated.
    // GET or HEAD of a manifest by tag or digest, accepting every kind skiff reads.
    Result<Response> manifest_request(const char* method, const std::string& repo,
                                      const std::string& reference) {
        Request req;
        req.method = method;
        req.url = url("/v2/" + repo + "/manifests/" + reference);
        req.headers.push_back("Accept: " + std::string(kMediaTypeOciManifest) + ", " +
                              std::string(kMediaTypeOciIndex) + ", " +
                              std::string(kMediaTypeDockerManifest) + ", " +
                              std::string(kMediaTypeDockerManifestList));
        req.follow_redirects = true;
        return send(req, "repository:" + repo + ":pull", repo);
    }

    Result<Response> send(Request& req, const std::string& scope, const std::string& repo) {
        auto resp = perform(req, cached_auth(scope));
        if (!resp || resp->status != 401) return resp;
        SKIFF_TRY(authenticate(*resp, scope, repo));
        resp = perform(req, cached_auth(scope));
        if (resp && resp->status == 401) return auth_failed(repo, http_status_text(*resp));
        return resp;
    }

    Status download(const std::string& repo, const Digest& digest, uint64_t size,
                    const std::string& dest) {
        DownloadWriter writer(digest, size, dest);
        return download(repo, digest, size, writer);
    }

    Status download(const std::string& repo, const Digest& digest, uint64_t size,
                    DownloadWriter& writer) {
        std::string what = "blob " + digest.str() + " of " + repo;
        SKIFF_TRY_CTX(writer.open(), what);
        Request req;
        req.url = url("/v2/" + repo + "/blobs/" + digest.str());
        req.follow_redirects = true;
        req.blob = &writer;
        req.progress_digest = &digest;
        req.progress_total = size;
        auto resp = send(req, "repository:" + repo + ":pull", repo);
        if (!resp) return with_context(std::move(resp).error(), what);
        if (resp->status == 404) return Error(ENOENT, what + ": not found in " + opt.registry_host);
        if (!resp->ok()) return Error(what + ": " + http_status_text(*resp));
        SKIFF_TRY_CTX(writer.commit(), what);
        return {};
    }

    // Opens an upload session; returns its Location.
    Result<std::string> start_upload(const std::string& repo, const std::string& what) {
        Request req;
        req.method = "POST";
        req.url = url("/v2/" + repo + "/blobs/uploads/");
        req.has_body = true;
        auto resp = send(req, "repository:" + repo + ":pull,push", repo);
        if (!resp) return with_context(std::move(resp).error(), what);
        if (resp->status != 202) return Error(what + ": start upload: " + http_status_text(*resp));
        std::string loc = resp->header("location");
        if (loc.empty()) return Error(what + ": start upload: no Location in the answer");
        return resolve(loc);
    }
};

RegistryClient::RegistryClient(Options options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
RegistryClient::~RegistryClient() = default;

const RegistryClient::Options& RegistryClient::options() const {
    return impl_->opt;
}

Status RegistryClient::ping() {
    Request req;
    req.url = impl_->url("/v2/");
    auto resp = impl_->send(req, "", "");
    if (!resp) return std::move(resp).error();
    if (!resp->ok())
        return Error("registry " + impl_->opt.registry_host +
                     " does not speak the v2 API: " + http_status_text(*resp));
    return {};
}

Result<FetchedManifest> RegistryClient::get_manifest(const std::string& repo,
                                                     const std::string& reference) {
    std::string name = image_name(repo, reference);
    std::optional<Digest> wanted;
    if (is_digest(reference)) {
        auto d = Digest::parse(reference);
        if (!d) return std::move(d).error().context(name);
        wanted = *d;
    }
    auto resp = impl_->manifest_request("GET", repo, reference);
    if (!resp) return with_context(std::move(resp).error(), "get manifest " + name);
    if (resp->status == 404)
        return Error(ENOENT, name + " not found in " + impl_->opt.registry_host);
    if (!resp->ok()) return Error("get manifest " + name + ": " + http_status_text(*resp));

    FetchedManifest m{std::move(resp->body), media_type_of(resp->header("content-type")), {}};
    m.digest = sha256_of(m.bytes);
    if (wanted && wanted->algorithm == "sha256" && *wanted != m.digest)
        return Error(EBADMSG,
                     "manifest " + name + ": digest mismatch (got " + m.digest.str() + ")");
    if (std::string sent = resp->header("docker-content-digest");
        !sent.empty() && sent.starts_with("sha256:") && sent != m.digest.str())
        return Error(EBADMSG, "manifest " + name + ": registry says digest " + sent +
                                  " but the content is " + m.digest.str());
    return m;
}

Result<std::optional<ManifestInfo>> RegistryClient::head_manifest(const std::string& repo,
                                                                  const std::string& reference) {
    std::string name = image_name(repo, reference);
    auto resp = impl_->manifest_request("HEAD", repo, reference);
    if (!resp) return with_context(std::move(resp).error(), "check manifest " + name);
    if (resp->status == 404) return std::optional<ManifestInfo>();
    if (!resp->ok())
        return Error("check manifest " + name + ": HTTP " + std::to_string(resp->status));
    ManifestInfo info;
    info.media_type = media_type_of(resp->header("content-type"));
    info.size = std::strtoull(resp->header("content-length").c_str(), nullptr, 10);
    std::string sent = resp->header("docker-content-digest");
    if (!sent.empty()) {
        auto d = Digest::parse(sent);
        if (!d) return std::move(d).error().context("check manifest " + name);
        info.digest = *d;
    } else if (is_digest(reference)) {
        auto d = Digest::parse(reference);
        if (!d) return std::move(d).error().context(name);
        info.digest = *d;
    } else {
        // The registry doesn't say: only the bytes can tell.
        auto m = get_manifest(repo, reference);
        if (!m) return std::move(m).error();
        info.digest = m->digest;
        info.size = m->bytes.size();
    }
    return std::optional<ManifestInfo>(std::move(info));
}

Result<Digest> RegistryClient::put_manifest(const std::string& repo, const std::string& reference,
                                            std::string_view bytes, const std::string& media_type) {
    std::string name = image_name(repo, reference);
    Digest digest = sha256_of(bytes);
    Request req;
    req.method = "PUT";
    req.url = impl_->url("/v2/" + repo + "/manifests/" + reference);
    req.headers.push_back("Content-Type: " + media_type);
    req.body = bytes;
    req.has_body = true;
    auto resp = impl_->send(req, "repository:" + repo + ":pull,push", repo);
    if (!resp) return with_context(std::move(resp).error(), "put manifest " + name);
    if (!resp->ok()) return Error("put manifest " + name + ": " + http_status_text(*resp));
    if (std::string sent = resp->header("docker-content-digest");
        !sent.empty() && sent.starts_with("sha256:") && sent != digest.str())
        return Error(EBADMSG, "put manifest " + name + ": registry stored digest " + sent +
                                  ", expected " + digest.str());
    return digest;
}

Status RegistryClient::get_blob(const std::string& repo, const Digest& digest, uint64_t size,
                                const std::string& dest_path) {
    return impl_->download(repo, digest, size, dest_path);
}

Status RegistryClient::get_blob_into(const std::string& repo, const Digest& digest, uint64_t size,
                                     BlobSink sink) {
    DownloadWriter writer(digest, size, std::move(sink));
    return impl_->download(repo, digest, size, writer);
}

Status RegistryClient::get_blobs(const std::string& repo, const std::vector<BlobDownload>& blobs) {
    return run_parallel(blobs.size(), impl_->opt.parallel, [&](size_t i) {
        return impl_->download(repo, blobs[i].digest, blobs[i].size, blobs[i].dest_path);
    });
}

Status RegistryClient::get_blobs(const std::string& repo, const std::vector<BlobRef>& blobs,
                                 const std::string& dir) {
    std::vector<BlobDownload> downloads;
    downloads.reserve(blobs.size());
    for (auto& b : blobs) downloads.push_back({b.digest, b.size, dir + "/" + b.digest.hex});
    return get_blobs(repo, downloads);
}

Result<bool> RegistryClient::blob_exists(const std::string& repo, const Digest& digest) {
    std::string what = "blob " + digest.str() + " of " + repo;
    Request req;
    req.method = "HEAD";
    req.url = impl_->url("/v2/" + repo + "/blobs/" + digest.str());
    req.follow_redirects = true;
    auto resp = impl_->send(req, "repository:" + repo + ":pull", repo);
    if (!resp) return with_context(std::move(resp).error(), what);
    if (resp->status == 404) return false;
    if (resp->ok()) return true;
    return Error(what + ": HTTP " + std::to_string(resp->status));
}

Status RegistryClient::push_blob(const std::string& repo, const Digest& digest,
                                 const std::string& path) {
    std::string what = "push blob " + digest.str() + " to " + repo;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return Error::from_errno("open " + path).context(what);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return Error::from_errno("stat " + path).context(what);
    uint64_t size = static_cast<uint64_t>(st.st_size);

    auto location = impl_->start_upload(repo, what);
    if (!location) return std::move(location).error();
    std::string loc = *location;
    std::string scope = "repository:" + repo + ":pull,push";
    uint64_t chunk = impl_->opt.chunk_size;
    uint64_t done = 0;

    if (chunk != 0 && size > chunk) {
        // Chunked: PATCH ranges in order; each answer names where the next one goes.
        while (done < size) {
            uint64_t n = std::min(chunk, size - done);
            Request req;
            req.method = "PATCH";
            req.url = loc;
            req.headers.push_back("Content-Type: application/octet-stream");
            req.headers.push_back("Content-Range: " + std::to_string(done) + "-" +
                                  std::to_string(done + n - 1));
            req.body_fd = fd.get();
            req.body_offset = done;
            req.body_size = n;
            req.has_body = true;
            req.progress_digest = &digest;
            req.progress_total = size;
            req.progress_base = done;
            auto resp = impl_->send(req, scope, repo);
            if (!resp) return with_context(std::move(resp).error(), what);
            if (resp->status != 202)
                return Error(what + ": upload chunk at " + std::to_string(done) + ": " +
                             http_status_text(*resp));
            if (std::string next = resp->header("location"); !next.empty())
                loc = impl_->resolve(next);
            done += n;
        }
    }

    Request put;
    put.method = "PUT";
    put.url =
        loc + (loc.find('?') == std::string::npos ? "?" : "&") + "digest=" + escape(digest.str());
    put.headers.push_back("Content-Type: application/octet-stream");
    put.body_fd = fd.get();
    put.body_offset = done;
    put.body_size = size - done;
    put.has_body = true;
    put.progress_digest = &digest;
    put.progress_total = size;
    put.progress_base = done;
    auto resp = impl_->send(put, scope, repo);
    if (!resp) return with_context(std::move(resp).error(), what);
    if (resp->status != 201 && !resp->ok()) return Error(what + ": " + http_status_text(*resp));
    return {};
}

Result<bool> RegistryClient::mount_blob(const std::string& repo, const Digest& digest,
                                        const std::string& from_repo) {
    std::string what = "mount blob " + digest.str() + " from " + from_repo + " into " + repo;
    Request req;
    req.method = "POST";
    req.url = impl_->url("/v2/" + repo + "/blobs/uploads/?mount=" + escape(digest.str()) +
                         "&from=" + escape(from_repo));
    req.has_body = true;
    auto resp = impl_->send(
        req, "repository:" + repo + ":pull,push repository:" + from_repo + ":pull", repo);
    if (!resp) return with_context(std::move(resp).error(), what);
    if (resp->status == 201) return true;
    if (resp->status == 202) {
        // The registry opened an upload instead; close it, the caller pushes the blob.
        if (std::string loc = resp->header("location"); !loc.empty()) {
            Request del;
            del.method = "DELETE";
            del.url = impl_->resolve(loc);
            (void)impl_->send(del, "repository:" + repo + ":pull,push", repo);
        }
        return false;
    }
    return Error(what + ": " + http_status_text(*resp));
}

}  // namespace skiff::images
