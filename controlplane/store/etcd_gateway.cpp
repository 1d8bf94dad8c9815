// etcd's v3 JSON gateway over synchronous, non-blocking Beast sockets: pooled keep-alive
// connections per member, poll() deadlines, failover to the next member, the retry policy.
#include "etcd_gateway.hpp"
#include "key_range.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <charconv>
#include <limits>
#include <optional>
#include <thread>

namespace skiff::store::etcd {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;

namespace {

// Watch streams and big lists: no body limit (etcd's --max-request-bytes bounds what is stored).
constexpr uint64_t kNoBodyLimit = std::numeric_limits<uint64_t>::max();

// Waits until fd is ready for events (or cancel_fd is readable, or the deadline passes).
bool wait_fd(int fd, short events, Clock::time_point deadline, int cancel_fd, error_code& ec) {
    for (;;) {
        int timeout = -1;
        if (deadline != Clock::time_point::max()) {
            auto left =
                std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
            if (left <= 0) {
                ec = asio::error::timed_out;
                return false;
            }
            timeout = static_cast<int>(std::min<int64_t>(left, 60'000));
        }
        pollfd fds[2] = {{fd, events, 0}, {cancel_fd, POLLIN, 0}};
        int n = ::poll(fds, cancel_fd >= 0 ? 2 : 1, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            ec = error_code(errno, boost::system::system_category());
            return false;
        }
        if (cancel_fd >= 0 && fds[1].revents != 0) {
            ec = asio::error::operation_aborted;
            return false;
        }
        if (n > 0) return true;
    }
}

// A socket in non-blocking mode seen as a blocking stream with a deadline: Beast's synchronous
// read/write run on it; each would-block waits in poll() for what is left of the deadline.
class PollStream {
  public:
    PollStream(tcp::socket& socket, Clock::time_point deadline, int cancel_fd = -1)
        : socket_(socket), deadline_(deadline), cancel_fd_(cancel_fd) {}

    template <class Buffers>
    size_t read_some(const Buffers& buffers, error_code& ec) {
        for (;;) {
            size_t n = socket_.read_some(buffers, ec);
            if (ec != asio::error::would_block) return n;
            if (!wait_fd(socket_.native_handle(), POLLIN, deadline_, cancel_fd_, ec)) return 0;
        }
    }
    template <class Buffers>
    size_t write_some(const Buffers& buffers, error_code& ec) {
        for (;;) {
            size_t n = socket_.write_some(buffers, ec);
            if (ec != asio::error::would_block) return n;
            if (!wait_fd(socket_.native_handle(), POLLOUT, deadline_, cancel_fd_, ec)) return 0;
        }
    }
    // Beast's stream concepts also ask for the throwing forms; skiff only calls the ones above.
    template <class Buffers>
    size_t read_some(const Buffers& buffers) {
        error_code ec;
        size_t n = read_some(buffers, ec);
        if (ec) throw boost::system::system_error(ec);
        return n;
    }
    template <class Buffers>
    size_t write_some(const Buffers& buffers) {
        error_code ec;
        size_t n = write_some(buffers, ec);
        if (ec) throw boost::system::system_error(ec);
        return n;
    }

  private:
    tcp::socket& socket_;
    Clock::time_point deadline_;
    int cancel_fd_;
};

// A pooled connection that the member closed (or that has stray bytes) must not carry a write:
// it would fail after "sending" and leave the write's outcome unknown for nothing.
bool still_open(tcp::socket& socket) {
    pollfd p{socket.native_handle(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;
}

Error io_error(const error_code& ec, const std::string& what) {
    int code = ec.category() == boost::system::system_category() ? ec.value() : EIO;
    if (ec == asio::error::timed_out) code = ETIMEDOUT;
    if (ec == http::error::end_of_stream || ec == asio::error::eof) code = ECONNRESET;
    return Error(code, what + ": " + ec.message());
}

// What an error answer from etcd means for the request.
struct Failure {
    Error error;
    bool retry = false;          // another member (or later) may succeed
    bool maybe_applied = false;  // a write may have been applied anyway
};

Failure classify(unsigned status, std::string_view body) {
    std::string message;
    int64_t code = -1;
    auto j = Json::parse(body, nullptr, false);
    if (j.is_object()) {
        for (const char* f : {"message", "error"})
            if (auto it = j.find(f); it != j.end() && it->is_string() && message.empty())
                message = it->get<std::string>();
        if (auto it = j.find("code"); it != j.end() && it->is_number_integer())
            code = it->get<int64_t>();
    }
    if (message.empty())
        message = "HTTP " + std::to_string(status) + ": " + std::string(body.substr(0, 200));
    auto has = [&](std::string_view s) { return message.find(s) != std::string::npos; };
    if (has("required revision has been compacted")) return {Error(errc::compacted, message)};
    if (has("required revision is a future revision"))
        return {Error(errc::future_revision, message)};
    if (has("request is too large"))
        return {Error(EMSGSIZE, message + " (etcd's --max-request-bytes)")};
    // Refused before the proposal was made: nothing was applied.
    if (has("too many requests") || has("proposal dropped") || has("no leader"))
        return {Error(EAGAIN, message), true, false};
    // gRPC Unavailable / DeadlineExceeded ("request timed out", "leader changed", a member
    // shutting down): a write may have been committed.
    if (code == 14 || code == 4 || status == 503 || status == 504 || has("timed out") ||
        has("leader changed"))
        return {Error(EAGAIN, message), true, true};
    return {Error(EIO, message)};
}

}  // namespace

struct Connection {
    explicit Connection(asio::io_context& io, size_t i) : socket(io), endpoint(i) {}
    tcp::socket socket;
    beast::flat_buffer buffer;
    size_t endpoint;
};

std::string base64_encode(std::string_view in) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.resize((in.size() + 2) / 3 * 4);
    size_t o = 0, i = 0;
    auto byte = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(in[k])); };
    for (; i + 3 <= in.size(); i += 3) {
        uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
        out[o++] = kAlphabet[v >> 18];
        out[o++] = kAlphabet[(v >> 12) & 63];
        out[o++] = kAlphabet[(v >> 6) & 63];
        out[o++] = kAlphabet[v & 63];
    }
    if (size_t rest = in.size() - i; rest > 0) {
        uint32_t v = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0);
        out[o++] = kAlphabet[v >> 18];
        out[o++] = kAlphabet[(v >> 12) & 63];
        out[o++] = rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    return out;
}

bool base64_decode(std::string_view in, std::string& out) {
    static const auto kTable = [] {
        std::array<int8_t, 256> t{};
        t.fill(-1);
        const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(a[i])] = static_cast<int8_t>(i);
        return t;
    }();
    while (!in.empty() && in.back() == '=') in.remove_suffix(1);
    out.clear();
    out.reserve(in.size() * 3 / 4);
    uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        int8_t v = kTable[static_cast<unsigned char>(c)];
        if (v < 0) return false;
        acc = acc << 6 | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xff));
        }
    }
    return true;
}

std::string prefix_end(const std::string& prefix) {
    std::string end = store::prefix_end(prefix);
    return end.empty() ? std::string(1, '\0') : end;  // etcd's range_end "\0": no upper bound
}

int64_t int_field(const Json& object, const char* name) {
    auto it = object.find(name);
    if (it == object.end()) return 0;
    if (it->is_number_integer()) return it->get<int64_t>();
    if (!it->is_string()) return 0;
    const auto& s = it->get_ref<const std::string&>();
    int64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
}

BodyStream::BodyStream(std::unique_ptr<Connection> conn, int cancel_fd)
    : conn_(std::move(conn)), cancel_fd_(cancel_fd) {
    parser_.body_limit(kNoBodyLimit);
}
BodyStream::~BodyStream() = default;

Result<bool> BodyStream::read_some(std::string& out) {
    if (parser_.is_done()) return false;
    char chunk[64 * 1024];
    parser_.get().body().data = chunk;
    parser_.get().body().size = sizeof chunk;
    PollStream s(conn_->socket, Clock::time_point::max(), cancel_fd_);
    error_code ec;
    http::read_some(s, conn_->buffer, parser_, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec == asio::error::operation_aborted) return Error(errc::closed, "closed");
    if (ec) return io_error(ec, "read the stream");
    out.append(chunk, sizeof chunk - parser_.get().body().size);
    return true;
}

Result<std::shared_ptr<Gateway>> Gateway::open(const EtcdOptions& options) {
    if (options.endpoints.empty()) return Error(EINVAL, "no etcd endpoints given");
    std::shared_ptr<Gateway> g(new Gateway(options));
    tcp::resolver resolver(g->io_);
    for (const auto& url : options.endpoints) {
        constexpr std::string_view kScheme = "http://";
        std::string_view rest = url;
        if (rest.substr(0, kScheme.size()) != kScheme)
            return Error(EINVAL, "etcd endpoint \"" + url +
                                     "\": only http:// (the JSON gateway without TLS)");
        rest.remove_prefix(kScheme.size());
        while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
        auto colon = rest.rfind(':');
        if (colon == std::string_view::npos || rest.find('/') != std::string_view::npos)
            return Error(EINVAL, "etcd endpoint \"" + url + "\": expected http://HOST:PORT");
        std::string host(rest.substr(0, colon));
        std::string port(rest.substr(colon + 1));
        if (host.size() > 2 && host.front() == '[' && host.back() == ']')
            host = host.substr(1, host.size() - 2);
        error_code ec;
        auto results = resolver.resolve(host, port, tcp::resolver::numeric_service, ec);
        if (ec || results.empty())
            return Error(EHOSTUNREACH,
                         "etcd endpoint \"" + url + "\": resolve " + host + ": " + ec.message());
        g->endpoints_.push_back(Endpoint{url, std::string(rest), results.begin()->endpoint()});
    }
    g->idle_.resize(g->endpoints_.size());
    return g;
}

Gateway::Gateway(EtcdOptions options) : options_(std::move(options)) {}
Gateway::~Gateway() = default;

void Gateway::endpoint_failed(size_t i) {
    size_t expected = i;
    preferred_.compare_exchange_strong(expected, (i + 1) % endpoints_.size());
    std::vector<std::unique_ptr<Connection>> dropped;
    std::lock_guard lock(mu_);
    dropped.swap(idle_[i]);
}

Result<std::unique_ptr<Connection>> Gateway::connect(size_t i, Clock::time_point deadline,
                                                     int cancel_fd) {
    const Endpoint& ep = endpoints_[i];
    deadline = std::min(deadline, Clock::now() + options_.dial_timeout);
    auto conn = std::make_unique<Connection>(io_, i);
    error_code ec;
    conn->socket.open(ep.address.protocol(), ec);
    if (!ec) conn->socket.non_blocking(true, ec);
    if (!ec) conn->socket.set_option(tcp::no_delay(true), ec);
    if (ec) return io_error(ec, "connect to " + ep.url);
    // Asio's own connect() waits without a deadline: connect the non-blocking fd and poll it.
    int fd = conn->socket.native_handle();
    if (::connect(fd, ep.address.data(), static_cast<socklen_t>(ep.address.size())) != 0) {
        if (errno != EINPROGRESS) return Error::from_errno("connect to " + ep.url);
        if (!wait_fd(fd, POLLOUT, deadline, cancel_fd, ec)) {
            if (ec == asio::error::operation_aborted)
                return Error(errc::closed, "connect to " + ep.url + ": closed");
            return io_error(ec, "connect to " + ep.url);
        }
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) return Error::from_errno(err, "connect to " + ep.url);
    }
    return conn;
}

Result<std::unique_ptr<Connection>> Gateway::acquire(size_t i, Clock::time_point deadline) {
    for (;;) {
        std::unique_ptr<Connection> conn;
        {
            std::lock_guard lock(mu_);
            if (idle_[i].empty()) break;
            conn = std::move(idle_[i].back());
            idle_[i].pop_back();
        }
        if (still_open(conn->socket)) return conn;
    }
    return connect(i, deadline, -1);
}

void Gateway::release(std::unique_ptr<Connection> conn) {
    std::lock_guard lock(mu_);
    auto& idle = idle_[conn->endpoint];
    if (idle.size() < options_.max_idle_connections) idle.push_back(std::move(conn));
}

Result<Gateway::Reply> Gateway::call(std::string_view path, std::string body, Retry retry) {
    auto deadline = Clock::now() + options_.request_timeout;
    http::request<http::string_body> req{http::verb::post,
                                         beast::string_view(path.data(), path.size()), 11};
    req.set(http::field::content_type, "application/json");
    req.keep_alive(true);
    req.body() = std::move(body);
    req.prepare_payload();
    auto what = [&] { return "POST " + std::string(path); };

    bool resent = false;
    std::optional<Error> last;
    auto unknown_outcome = [&](const Error& e, size_t i) {
        return Error(
            e.code() == 0 ? EIO : e.code(),
            what() + " to " + endpoints_[i].url + ": " + e.message() +
                "; the request had been sent, so it may have been applied (not retried: a second "
                "application could change the result)");
    };
    const size_t n = endpoints_.size();
    for (int round = 0;; ++round) {
        size_t first = preferred_.load();
        for (size_t k = 0; k < n && Clock::now() < deadline; ++k) {
            size_t i = (first + k) % n;
            auto conn = acquire(i, deadline);
            if (!conn) {
                last = std::move(conn).error();
                endpoint_failed(i);
                continue;
            }
            req.set(http::field::host, endpoints_[i].host);
            // A request that may be retried gets half the time, so a member that swallowed it
            // (a proposal lost with a dead leader waits for etcd's own ~7 s timeout) leaves room
            // for another member to answer.
            auto attempt_deadline =
                retry == Retry::always
                    ? std::min(deadline, Clock::now() + options_.request_timeout / 2)
                    : deadline;
            PollStream s((*conn)->socket, attempt_deadline);
            error_code ec;
            http::write(s, req, ec);
            if (ec) {  // the member can't have read a whole request
                last = io_error(ec, what() + " to " + endpoints_[i].url);
                endpoint_failed(i);
                continue;
            }
            http::response_parser<http::string_body> parser;
            parser.body_limit(kNoBodyLimit);
            http::read(s, (*conn)->buffer, parser, ec);
            if (ec) {
                Error e = io_error(ec, "read the answer");
                endpoint_failed(i);
                if (retry == Retry::only_unsent) return unknown_outcome(e, i);
                resent = true;
                last = std::move(e).context(what() + " to " + endpoints_[i].url);
                continue;
            }
            auto res = parser.release();
            if (res.keep_alive()) release(std::move(*conn));
            if (res.result() == http::status::ok) {
                auto j = Json::parse(res.body(), nullptr, false);
                if (j.is_discarded() || !j.is_object())
                    return Error(EPROTO, what() + ": the answer from " + endpoints_[i].url +
                                             " is not a JSON object");
                return Reply{std::move(j), resent};
            }
            Failure f = classify(res.result_int(), res.body());
            if (!f.retry) return std::move(f.error).context(what());
            if (f.maybe_applied) {
                if (retry == Retry::only_unsent) return unknown_outcome(f.error, i);
                resent = true;
            }
            last = std::move(f.error).context(what() + " to " + endpoints_[i].url);
            endpoint_failed(i);
        }
        auto now = Clock::now();
        if (now >= deadline) {
            std::string detail = last ? last->message() : "no attempt";
            return Error(
                last && last->code() != 0 ? last->code() : ETIMEDOUT,
                what() + ": no etcd member answered within " +
                    std::to_string(options_.request_timeout.count()) + " ms (last: " + detail +
                    ")" +
                    (resent ? "; an attempt had been sent, so it may have been applied" : ""));
        }
        // Every member failed this round (an election, a restart): back off a little.
        auto pause = std::chrono::milliseconds(std::min(20 << std::min(round, 5), 500));
        std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline - now));
    }
}

Result<std::unique_ptr<BodyStream>> Gateway::open_stream(std::string_view path,
                                                         const std::string& body, int cancel_fd,
                                                         size_t& endpoint) {
    http::request<http::string_body> req{http::verb::post,
                                         beast::string_view(path.data(), path.size()), 11};
    req.set(http::field::content_type, "application/json");
    // etcd cancels the watch when its member loses the leader, instead of going quiet.
    req.set("Grpc-Metadata-hasleader", "true");
    req.body() = body;
    req.prepare_payload();
    size_t i = preferred_.load();
    endpoint = i;
    auto deadline = Clock::now() + options_.request_timeout;
    auto conn = connect(i, deadline, cancel_fd);
    if (!conn) return std::move(conn).error();
    req.set(http::field::host, endpoints_[i].host);
    auto stream = std::make_unique<BodyStream>(std::move(*conn), cancel_fd);
    PollStream s(stream->conn_->socket, deadline, cancel_fd);
    error_code ec;
    http::write(s, req, ec);
    if (!ec) http::read_header(s, stream->conn_->buffer, stream->parser_, ec);
    if (ec == asio::error::operation_aborted) return Error(errc::closed, "closed");
    if (ec) return io_error(ec, "POST " + std::string(path) + " to " + endpoints_[i].url);
    if (stream->parser_.get().result() != http::status::ok) {
        unsigned status = stream->parser_.get().result_int();
        std::string error_body;
        for (int k = 0; k < 64; ++k) {  // the error answer is small; don't wait on a member forever
            auto more = stream->read_some(error_body);
            if (!more || !*more) break;
        }
        return classify(status, error_body)
            .error.context("POST " + std::string(path) + " to " + endpoints_[i].url);
    }
    return stream;
}

}  // namespace skiff::store::etcd
