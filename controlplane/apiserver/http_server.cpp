// The HTTP/1.1 server under the API: Beast sessions, plain or over TLS, on Asio I/O threads, one strand per
// connection, handlers on a pool of worker threads.
#include "skiff/apiserver/http_server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>
#include <array>
#include <atomic>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include "skiff/base/memory.hpp"
#include "skiff/base/process.hpp"

namespace skiff::apiserver {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

std::string Request::header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
}

std::string Request::param(const std::string& name) const {
    auto it = query.find(name);
    return it == query.end() ? std::string() : it->second;
}

Response status_response(int code, const std::string& reason, const std::string& message) {
    nlohmann::json j = {{"kind", "Status"},     {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()},
                        {"status", "Failure"},  {"message", message}, {"reason", reason},
                        {"code", code}};
    // The message may quote a client's path or name: bytes that are not UTF-8 become U+FFFD, not an exception.
    return Response{code, "application/json", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), {}};
}

StreamBody::~StreamBody() = default;

bool percent_decode(const std::string& in, std::string& out, bool plus_is_space) {
    out.clear();
    out.reserve(in.size());
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size()) return false;
            int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
            if (hi < 0 || lo < 0) return false;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return true;
}

namespace {

// Splits "path?a=1&b=2" into a decoded path and decoded parameters; false on a bad escape.
bool parse_target(const std::string& target, Request& req) {
    auto q = target.find('?');
    if (!percent_decode(target.substr(0, q), req.path, false)) return false;
    if (req.path.empty() || req.path[0] != '/') return false;
    if (q == std::string::npos) return true;
    std::string query = target.substr(q + 1);
    size_t start = 0;
    while (start <= query.size()) {
        size_t amp = query.find('&', start);
        std::string pair = query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
        if (!pair.empty()) {
            auto eq = pair.find('=');
            std::string k, v;
            if (!percent_decode(pair.substr(0, eq), k, true)) return false;
            if (eq != std::string::npos && !percent_decode(pair.substr(eq + 1), v, true)) return false;
            req.query.emplace(std::move(k), std::move(v));
        }
        if (amp == std::string::npos) break;
        start = amp + 1;
    }
    return true;
}

// The subject's CN and O entries of a client certificate.
ClientCertificate subject_of(X509* cert) {
    ClientCertificate out;
    X509_NAME* name = X509_get_subject_name(cert);
    auto text_of = [](X509_NAME_ENTRY* entry) {
        unsigned char* utf8 = nullptr;
        int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
        std::string s = n > 0 ? std::string(reinterpret_cast<char*>(utf8), static_cast<size_t>(n)) : std::string();
        OPENSSL_free(utf8);
        return s;
    };
    for (int i = -1; (i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) >= 0;)
        out.common_name = text_of(X509_NAME_get_entry(name, i));  // the last CN, as Go's x509 takes it
    for (int i = -1; (i = X509_NAME_get_index_by_NID(name, NID_organizationName, i)) >= 0;)
        out.organizations.push_back(text_of(X509_NAME_get_entry(name, i)));
    return out;
}

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// Runs ctx's handlers on this thread until ctx stops; after each second without any, the thread hands its
// allocator cache back (each thread keeps one: 64 idle request threads held 16 MB of an idle server).
void run_releasing_caches(asio::io_context& ctx) {
    while (!ctx.stopped())
        if (ctx.run_for(std::chrono::seconds(1)) == 0) release_thread_cache();
}

// The request handlers' threads (handlers block on the store, so there are more than cores), `nicer` steps
// below the server's CPU priority.
class WorkerPool {
public:
    WorkerPool(int threads, const char* name, int nicer = 0) {
        for (int i = 0; i < threads; ++i) {
            threads_.emplace_back([this, nicer] {
                if (nicer > 0) (void)nice(nicer);  // Linux: this thread only
                run_releasing_caches(ctx_);
            });
            name_thread(threads_.back(), name);
        }
    }
    ~WorkerPool() {
        guard_.reset();
        ctx_.stop();
        for (auto& t : threads_) t.join();
    }
    asio::io_context& context() { return ctx_; }

private:
    asio::io_context ctx_;
    asio::executor_work_guard<asio::io_context::executor_type> guard_ = asio::make_work_guard(ctx_);
    std::vector<std::thread> threads_;
};

// One connection. Stream is PlainStream or TlsStream; the two differ only in the handshake (and what it
// tells about the client), everything else goes through the same Beast calls.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
    static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;
    static constexpr size_t kReadBuffer = 16 * 1024;

public:
    // stream_args: the TLS stream's ssl::context, nothing for plain HTTP.
    template <class... StreamArgs>
    Session(tcp::socket socket, const Handler& handler, const HttpServerOptions& options, WorkerPool& workers,
            WorkerPool& list_workers, StreamArgs&... stream_args)
        : stream_(std::move(socket), stream_args...), timer_(stream_.get_executor()), handler_(handler),
          options_(options), workers_(workers), list_workers_(list_workers) {}

    void start() {
        asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
            if constexpr (kTls)
                self->handshake();
            else
                self->read();
        });
    }

private:
    using std::enable_shared_from_this<Session<Stream>>::shared_from_this;

    // The TCP layer under the stream: its deadlines and the socket.
    beast::tcp_stream& tcp() { return beast::get_lowest_layer(stream_); }

    // A client that connects and then stalls (no ClientHello, or half a handshake) is dropped at the same
    // deadline as a request; meanwhile it holds nothing but its socket.
    void handshake() {
        tcp().expires_after(options_.request_timeout);
        stream_.async_handshake(ssl::stream_base::server, [self = shared_from_this()](beast::error_code ec) {
            if (ec) return self->close();
            SSL* ssl = self->stream_.native_handle();
            if (X509* peer = SSL_get0_peer_certificate(ssl); peer && SSL_get_verify_result(ssl) == X509_V_OK)
                self->client_certificate_ = subject_of(peer);
            self->read();
        });
    }

    void read() {
        // Beast reads as much as the buffer has room for, at least 512 bytes; the body moves out as it comes,
        // so the room never grew and a 2 KB pod took five recvmsg calls.
        if (buffer_.capacity() < kReadBuffer) buffer_.reserve(kReadBuffer);
        parser_.emplace();
        parser_->body_limit(options_.body_limit);
        parser_->header_limit(64 * 1024);
        tcp().expires_after(options_.request_timeout);
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof ||
            ec == asio::error::connection_reset || ec == asio::error::operation_aborted)
            return close();
        if constexpr (kTls) {
            if (ec == ssl::error::stream_truncated) return close();  // gone without close_notify
        }
        if (ec == http::error::body_limit) {
            return reply(status_response(413, "RequestEntityTooLarge",
                                         "the request body is larger than " +
                                             std::to_string(options_.body_limit) + " bytes"),
                         false, 11);
        }
        if (ec) return reply(status_response(400, "BadRequest", "malformed HTTP request: " + ec.message()), false, 11);
        tcp().expires_never();  // the handler may wait for the store; the write sets its own deadline

        auto& msg = parser_->get();
        Request req;
        req.method = std::string(msg.method_string());
        req.target = std::string(msg.target());
        for (const auto& field : msg) {
            std::string name(field.name_string());
            for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            req.headers[name] = std::string(field.value());
        }
        req.body = std::move(msg.body());
        req.client_certificate = client_certificate_;
        bool keep_alive = msg.keep_alive();
        unsigned version = msg.version();
        if (!parse_target(req.target, req))
            return reply(status_response(400, "BadRequest", "malformed request path \"" + req.target + "\""), false,
                         version);
        // The handler runs on a worker; its response comes back to this connection's strand.
        bool list = options_.is_list && options_.is_list(req);
        WorkerPool& pool = list ? list_workers_ : workers_;
        asio::post(pool.context(), [self = shared_from_this(), req = std::move(req), keep_alive, version]() mutable {
            Response res;
            try {
                res = self->handler_(req);
            } catch (const std::exception& e) {  // a bug in a handler: the client gets a 500, the server goes on
                res = status_response(500, "InternalError", std::string("internal error: ") + e.what());
            }
            asio::post(self->stream_.get_executor(), [self, res = std::move(res), keep_alive, version]() mutable {
                if (res.stream) return self->start_stream(std::move(res), version);
                self->reply(std::move(res), keep_alive, version);
            });
        });
    }

    void reply(Response res, bool keep_alive, unsigned version) {
        res_ = {};
        res_.version(version);
        res_.result(static_cast<http::status>(res.status));
        res_.set(http::field::content_type, res.content_type);
        for (const auto& [k, v] : res.headers) res_.set(k, v);
        res_.body() = std::move(res.body);
        res_.keep_alive(keep_alive);
        res_.prepare_payload();
        tcp().expires_after(options_.request_timeout);
        http::async_write(stream_, res_, [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
            if (ec || !keep_alive) return self->close();
            self->read();
        });
    }

    // A streamed response: the header, then a chunk whenever the body has something, then the last chunk
    // and the end of the connection (a client starts its next watch on a new one, as with Kubernetes).
    void start_stream(Response res, unsigned version) {
        buffer_.clear();  // a stream reads nothing more into it (notice_hangup has its own)
        buffer_.shrink_to_fit();
        body_ = std::move(res.stream);
        head_ = {};
        head_.version(version);
        head_.result(static_cast<http::status>(res.status));
        head_.set(http::field::content_type, res.content_type);
        for (const auto& [k, v] : res.headers) head_.set(k, v);
        head_.keep_alive(false);
        head_.chunked(true);
        head_serializer_.emplace(head_);
        tcp().expires_after(options_.request_timeout);
        http::async_write_header(stream_, *head_serializer_, [self = shared_from_this()](beast::error_code ec, size_t) {
            if (ec) return self->close();
            std::weak_ptr<Session> weak = self;
            self->body_->start([weak] {
                auto s = weak.lock();
                if (!s || s->wake_posted_.exchange(true)) return;
                asio::post(s->stream_.get_executor(), [s] {
                    s->wake_posted_ = false;
                    s->pump();
                });
            });
            self->notice_hangup();
            self->pump();
        });
    }

    // A client that goes away while nothing is being written must still end its stream: keep a read open.
    // It goes through the stream (TLS needs its record layer) with no deadline: a read op keeps the
    // deadline it started with, and an idle watch may be silent for long.
    void notice_hangup() {
        tcp().expires_never();  // the read's timer only: a pending write keeps its own deadline
        stream_.async_read_some(asio::buffer(hangup_buffer_), [self = shared_from_this()](beast::error_code ec, size_t) {
            if (ec) return self->close();
            self->notice_hangup();  // bytes after the request: ignored
        });
    }

    void pump() {
        if (!body_ || writing_) return;
        std::string out;
        auto state = body_->read(out);
        while (state == StreamBody::State::more && out.size() < 256 * 1024) state = body_->read(out);
        bool last = state == StreamBody::State::end;
        if (!out.empty()) {
            writing_ = true;
            chunk_ = std::move(out);
            tcp().expires_after(options_.request_timeout);  // a client that stops reading is dropped
            asio::async_write(stream_, http::make_chunk(asio::buffer(chunk_)),
                              [self = shared_from_this(), last](beast::error_code ec, size_t) {
                                  self->writing_ = false;
                                  if (ec) return self->close();
                                  if (last) return self->finish_stream();
                                  self->pump();
                              });
            return;
        }
        if (last) return finish_stream();
        tcp().expires_never();
        timer_.expires_at(body_->deadline());
        timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
            if (!ec) self->pump();
        });
    }

    void finish_stream() {
        body_.reset();
        writing_ = true;
        asio::async_write(stream_, http::make_chunk_last(), [self = shared_from_this()](beast::error_code, size_t) {
            self->close();
        });
    }

    // Without a TLS close_notify: every response is delimited (Content-Length or the last chunk), so the
    // client needs none, and a shutdown exchange would be one more thing a client could stall.
    void close() {
        body_.reset();  // ends the watch behind it at once
        timer_.cancel();
        beast::error_code ignored;
        tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
        tcp().close();
    }

    Stream stream_;
    asio::steady_timer timer_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    http::response<http::string_body> res_;
    const Handler& handler_;
    const HttpServerOptions& options_;
    WorkerPool& workers_;
    WorkerPool& list_workers_;
    std::optional<ClientCertificate> client_certificate_;  // from the handshake
    // Streaming state (strand only, except wake_posted_).
    std::shared_ptr<StreamBody> body_;
    http::response<http::empty_body> head_;
    std::optional<http::response_serializer<http::empty_body>> head_serializer_;
    std::string chunk_;
    bool writing_ = false;
    std::atomic<bool> wake_posted_{false};
    std::array<char, 512> hangup_buffer_{};
};

class BeastServer : public HttpServer {
public:
    BeastServer(const HttpServerOptions& options, Handler handler)
        : options_(options), handler_(std::move(handler)), workers_(std::max(1, options.workers), "api-request"),
          list_workers_(options.is_list ? std::max(1, options.list_workers) : 0, "api-list", options.list_nice),
          acceptor_(asio::make_strand(ioc_)) {}

    Status bind() {
        if (options_.tls) SKIFF_TRY(make_tls_context(*options_.tls));
        beast::error_code ec;
        auto address = asio::ip::make_address(options_.address, ec);
        if (ec) return Error(EINVAL, "bad listen address \"" + options_.address + "\"");
        tcp::endpoint endpoint(address, options_.port);
        acceptor_.open(endpoint.protocol(), ec);
        if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
        if (!ec) acceptor_.bind(endpoint, ec);
        if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
        if (ec)
            return Error(ec.value(), "listen on " + options_.address + ":" + std::to_string(options_.port) + ": " +
                                         ec.message());
        port_ = acceptor_.local_endpoint().port();
        return {};
    }

    uint16_t port() const override { return port_; }

    void run() override {
        accept();
        std::vector<std::thread> threads;
        for (int i = 1; i < options_.threads; ++i) {
            threads.emplace_back([this] { run_releasing_caches(ioc_); });
            name_thread(threads.back(), "api-io");
        }
        run_releasing_caches(ioc_);
        for (auto& t : threads) t.join();
    }

    void stop() override { ioc_.stop(); }

private:
    void accept() {
        acceptor_.async_accept(asio::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
            if (!acceptor_.is_open()) return;
            if (!ec) {
                if (tls_) std::make_shared<Session<TlsStream>>(std::move(socket), handler_, options_, workers_, list_workers_, *tls_)->start();
                else std::make_shared<Session<PlainStream>>(std::move(socket), handler_, options_, workers_, list_workers_)->start();
                return accept();
            }
            // Out of descriptors (EMFILE, ENFILE) or memory: the pending connection stays queued, so an
            // immediate retry fails again and spins a core. Wait a little, as Go's net/http does.
            accept_retry_.expires_after(std::chrono::milliseconds(50));
            accept_retry_.async_wait([this](beast::error_code wait_ec) {
                if (!wait_ec && acceptor_.is_open()) accept();
            });
        });
    }

    // TLS 1.2 and 1.3 only, forward-secret AEAD suites for 1.2; client certificates asked for, verified
    // against the client CA when given, and optional.
    Status make_tls_context(const TlsOptions& tls) {
        tls_.emplace(ssl::context::tls_server);
        SSL_CTX* ctx = tls_->native_handle();
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
        SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                                     "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:"
                                     "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305");
        beast::error_code ec;
        tls_->use_certificate_chain_file(tls.certificate_file, ec);
        if (ec) return Error(EINVAL, "TLS certificate " + tls.certificate_file + ": " + ec.message());
        tls_->use_private_key_file(tls.private_key_file, ssl::context::pem, ec);
        if (ec) return Error(EINVAL, "TLS key " + tls.private_key_file + ": " + ec.message());
        if (SSL_CTX_check_private_key(ctx) != 1)
            return Error(EINVAL, "TLS key " + tls.private_key_file + " does not match " + tls.certificate_file);
        tls_->load_verify_file(tls.client_ca_file, ec);
        if (ec) return Error(EINVAL, "client CA " + tls.client_ca_file + ": " + ec.message());
        STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str());
        if (!names) return Error(EINVAL, "client CA " + tls.client_ca_file + ": no certificate in it");
        SSL_CTX_set_client_CA_list(ctx, names);
        tls_->set_verify_mode(ssl::verify_peer);  // without fail_if_no_peer_cert: tokens are the other way in
        // Session resumption with client certificates needs a context id, else OpenSSL refuses to resume.
        static const unsigned char kSessionContext[] = "skiff-apiserver";
        SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
        return {};
    }

    HttpServerOptions options_;
    Handler handler_;
    std::optional<ssl::context> tls_;
    WorkerPool workers_;
    WorkerPool list_workers_;
    asio::io_context ioc_;
    tcp::acceptor acceptor_;
    asio::steady_timer accept_retry_{acceptor_.get_executor()};
    uint16_t port_ = 0;
};

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::listen(const HttpServerOptions& options, Handler handler) {
    auto server = std::make_unique<BeastServer>(options, std::move(handler));
    SKIFF_TRY(server->bind());
    return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace skiff::apiserver
