// A client for etcd's v3 JSON gateway: keep-alive HTTP/1.1 connections per member, failover,
// retries.
#pragma once

#include <poll.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "skiff/base/result.hpp"
#include "skiff/store/store.hpp"

namespace skiff::store::etcd {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

std::string base64_encode(std::string_view in);
// false if in is not base64.
bool base64_decode(std::string_view in, std::string& out);

// The smallest key greater than every key starting with prefix; "\0" (etcd: no end) when none is.
std::string prefix_end(const std::string& prefix);

// An int64 field of a gateway response (they come as JSON strings); 0 when absent.
int64_t int_field(const Json& object, const char* name);

// Whether a request may be sent again after it reached a member without an answer coming back
// (the member died, the connection broke, etcd said "request timed out"): it might have been
// applied.
enum class Retry {
    always,       // reads, compaction, and writes whose compare rejects a second application
    only_unsent,  // writes a second application could change: sent once, else "outcome unknown"
};

struct Endpoint {
    std::string url;   // as given, for messages
    std::string host;  // the Host header
    boost::asio::ip::tcp::endpoint address;
};

struct Connection;

// A streaming response body (a watch) on a connection of its own.
class BodyStream {
  public:
    BodyStream(std::unique_ptr<Connection> conn, int cancel_fd);
    ~BodyStream();
    // Appends the next bytes of the body to out; false at the end of the body. Fails with
    // errc::closed when cancel_fd becomes readable.
    [[nodiscard]] Result<bool> read_some(std::string& out);

  private:
    friend class Gateway;
    std::unique_ptr<Connection> conn_;
    boost::beast::http::response_parser<boost::beast::http::buffer_body> parser_;
    int cancel_fd_;
};

class Gateway {
  public:
    // Resolves the endpoints' host names (once: no DNS per request).
    [[nodiscard]] static Result<std::shared_ptr<Gateway>> open(const EtcdOptions& options);
    ~Gateway();

    struct Reply {
        Json json;
        // An earlier attempt reached a member and got no answer: if this one's compare failed,
        // that attempt may be why.
        bool resent = false;
    };
    // POSTs body to path ("/v3/kv/range"); the parsed body of a 200 answer, or the error etcd
    // gave mapped onto errc codes, or a connection/timeout error once every member was tried
    // until the request timeout.
    [[nodiscard]] Result<Reply> call(std::string_view path, std::string body, Retry retry);

    // Starts a streaming POST on a new connection to the preferred member (then the others):
    // the stream is positioned at the body of a 200 answer. cancel_fd readable = give up.
    [[nodiscard]] Result<std::unique_ptr<BodyStream>> open_stream(std::string_view path,
                                                                  const std::string& body,
                                                                  int cancel_fd, size_t& endpoint);
    // A connection to member i broke: the next requests go to the next member.
    void endpoint_failed(size_t i);
    const Endpoint& endpoint(size_t i) const { return endpoints_[i]; }
    const EtcdOptions& options() const { return options_; }

  private:
    explicit Gateway(EtcdOptions options);
    Result<std::unique_ptr<Connection>> acquire(size_t i, Clock::time_point deadline);
    Result<std::unique_ptr<Connection>> connect(size_t i, Clock::time_point deadline,
                                                int cancel_fd);
    void release(std::unique_ptr<Connection> conn);

    const EtcdOptions options_;
    boost::asio::io_context io_;  // owns nothing that runs: every socket is used synchronously
    std::vector<Endpoint> endpoints_;
    std::atomic<size_t> preferred_{0};
    std::mutex mu_;
    std::vector<std::vector<std::unique_ptr<Connection>>> idle_;  // per endpoint
};

}  // namespace skiff::store::etcd
