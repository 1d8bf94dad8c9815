// The HTTP/1.1 server under the API: Beast sessions on an Asio thread pool, one strand per connection.
#include "skiff/apiserver/http_server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <vector>

namespace skiff::apiserver {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
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

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, const Handler& handler, const HttpServerOptions& options)
        : stream_(std::move(socket)), handler_(handler), options_(options) {}

    void start() {
        asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
    }

private:
    void read() {
        parser_.emplace();
        parser_->body_limit(options_.body_limit);
        parser_->header_limit(64 * 1024);
        stream_.expires_after(options_.request_timeout);
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof ||
            ec == asio::error::connection_reset || ec == asio::error::operation_aborted)
            return close();
        if (ec == http::error::body_limit) {
            return reply(status_response(413, "RequestEntityTooLarge",
                                         "the request body is larger than " +
                                             std::to_string(options_.body_limit) + " bytes"),
                         false, 11);
        }
        if (ec) return reply(status_response(400, "BadRequest", "malformed HTTP request: " + ec.message()), false, 11);

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
        bool keep_alive = msg.keep_alive();
        unsigned version = msg.version();
        if (!parse_target(req.target, req))
            return reply(status_response(400, "BadRequest", "malformed request path \"" + req.target + "\""), false,
                         version);
        Response res;
        try {
            res = handler_(req);
        } catch (const std::exception& e) {  // a bug in a handler: the client gets a 500, the server goes on
            res = status_response(500, "InternalError", std::string("internal error: ") + e.what());
        }
        reply(std::move(res), keep_alive, version);
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
        http::async_write(stream_, res_, [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
            if (ec || !keep_alive) return self->close();
            self->read();
        });
    }

    void close() {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream_.close();
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    http::response<http::string_body> res_;
    const Handler& handler_;
    const HttpServerOptions& options_;
};

class BeastServer : public HttpServer {
public:
    BeastServer(const HttpServerOptions& options, Handler handler)
        : options_(options), handler_(std::move(handler)), acceptor_(asio::make_strand(ioc_)) {}

    Status bind() {
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
        for (int i = 1; i < options_.threads; ++i) threads.emplace_back([this] { ioc_.run(); });
        ioc_.run();
        for (auto& t : threads) t.join();
    }

    void stop() override { ioc_.stop(); }

private:
    void accept() {
        acceptor_.async_accept(asio::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
            if (!ec) std::make_shared<Session>(std::move(socket), handler_, options_)->start();
            if (acceptor_.is_open()) accept();
        });
    }

    HttpServerOptions options_;
    Handler handler_;
    asio::io_context ioc_;
    tcp::acceptor acceptor_;
    uint16_t port_ = 0;
};

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::listen(const HttpServerOptions& options, Handler handler) {
    auto server = std::make_unique<BeastServer>(options, std::move(handler));
    SKIFF_TRY(server->bind());
    return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace skiff::apiserver
