// The API server's HTTP layer: an asynchronous HTTP/1.1 server (Boost.Beast on Asio), plain or over TLS, so
// that long-lived requests (watches) never hold a thread, with limits that keep a slow or hostile client
// from holding up others (handshake, header and body deadlines, a body size cap).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "skiff/base/result.hpp"

namespace skiff::apiserver {

// The certificate a TLS client presented, when it verified against the server's client CA.
struct ClientCertificate {
    std::string common_name;                 // subject CN: the user name
    std::vector<std::string> organizations;  // subject O entries: the groups
};

struct Request {
    std::string method;  // "GET", "POST", ...
    std::string target;  // as sent: "/api/v1/namespaces/default/pods?limit=500"
    std::string path;    // percent-decoded path without the query
    std::multimap<std::string, std::string> query;  // decoded query parameters
    std::map<std::string, std::string> headers;     // names lower-cased
    std::string body;
    std::optional<ClientCertificate> client_certificate;  // TLS connections only

    std::string header(const std::string& lower_name) const;
    std::string param(const std::string& name) const;  // first value or ""
};

// A response body that is produced over time (a watch). The HTTP layer sends it with chunked transfer
// encoding and never holds a thread while it waits: it reads what is ready, then waits for wake() or the
// deadline on the connection's own strand.
class StreamBody {
public:
    virtual ~StreamBody();
    // Called once before the first read(). wake may be called from any thread, any number of times, also
    // after the stream ended; it must only be cheap (it posts to the connection's strand).
    virtual void start(std::function<void()> wake) = 0;
    enum class State { more, idle, end };
    // Appends what is ready to out. more: call again now; idle: call again after wake() or at deadline();
    // end: the body is complete (out may hold its last piece).
    virtual State read(std::string& out) = 0;
    // When read() must be called even without a wake() (bookmarks, the watch's timeout).
    virtual std::chrono::steady_clock::time_point deadline() const = 0;
};

struct Response {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::map<std::string, std::string> headers;
    std::shared_ptr<StreamBody> stream;  // set: body is ignored and the stream is sent instead
};

using Handler = std::function<Response(const Request&)>;

// A metav1.Status failure as Kubernetes sends it: {"kind":"Status","apiVersion":"v1","status":"Failure",
// "message":...,"reason":...,"code":...}.
Response status_response(int code, const std::string& reason, const std::string& message);

// HTTPS: the serving certificate (PEM chain) and its key, and the CA that client certificates must chain
// to. Clients are asked for a certificate but may go without (they authenticate with a bearer token).
struct TlsOptions {
    std::string certificate_file;
    std::string private_key_file;
    std::string client_ca_file;
};

struct HttpServerOptions {
    std::string address = "127.0.0.1";
    uint16_t port = 0;  // 0: any free port (see HttpServer::port)
    int threads = 2;  // threads doing network I/O
    // Threads that run the handler: a request that waits for the store (a write waits for its fsync)
    // holds one of them, never an I/O thread. Enough for the writes of many clients to share a commit.
    int workers = 64;
    // Requests for which this says true (lists) run on list_workers threads of their own instead: a list
    // page of 500 objects takes a core for tens of milliseconds, and thirty of them time-sharing the cores
    // with the single-object requests made those wait (kube-apiserver's priority and fairness gives lists
    // more seats for the same reason). Unset: every request runs on the workers.
    std::function<bool(const Request&)> is_list;
    int list_workers = 2;
    // The list threads run this much nicer (lower CPU priority) than the others: with the CPUs busy, a list
    // waits rather than the single-object requests behind it. With lists of 500 pods beside writes on two
    // cores, nice 5 cut the writes' p50 by about a third (docs/benchmarks.md).
    int list_nice = 5;
    size_t body_limit = 3 * 1024 * 1024;  // larger bodies get 413
    // A request (from its first byte, or from the previous response on a kept-alive connection, to the
    // end of its body) must arrive within this, else the connection is closed. The TLS handshake of a new
    // connection gets the same deadline.
    std::chrono::seconds request_timeout{30};
    std::optional<TlsOptions> tls;  // set: TLS 1.2 or newer only; unset: plain HTTP
};

class HttpServer {
public:
    // Binds and listens; serving starts with run().
    [[nodiscard]] static Result<std::unique_ptr<HttpServer>> listen(const HttpServerOptions& options, Handler handler);
    virtual ~HttpServer() = default;
    virtual uint16_t port() const = 0;
    // Serves on options.threads threads until stop() (from any thread or a signal handler thread).
    virtual void run() = 0;
    virtual void stop() = 0;
};

// "a%2Fb" -> "a/b"; "+" stays "+" in paths, becomes " " in query values. false on a bad escape.
bool percent_decode(const std::string& in, std::string& out, bool plus_is_space);

}  // namespace skiff::apiserver
