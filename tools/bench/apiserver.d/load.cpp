// Load generator for tools/bench/apiserver: keep-alive HTTP/1.1 clients and watch streams against
// `skiff server`.
//
// usage: apiserver_load preload|run|watch --port PORT [options]   (tools/bench/apiserver drives it)
//   preload: creates the namespaces bench-0..K-1 and pods pod-0..N-1 (pod-i in bench-(i % K)), as
//   fast as
//            --clients connections can; prints the time taken.
//   run:     --mode create|get|list|update|mixed for --warmup + --seconds; per-verb latencies and
//   rates of
//            the requests started after the warm-up. With --pace R the clients together send R
//            requests/s on a fixed schedule (open loop) instead of each sending its next request
//            when the last one is answered; a request's latency then counts from when it was due,
//            so a server that falls behind its schedule is charged for the wait.
//   watch:   --watchers connections watch /api/v1/pods from the current resourceVersion while
//   --writers
//            connections update pods at --rate writes/s; every watcher must get every update
//            exactly once and in order; delivery latency = watcher's read time - writer's send time
//            (one clock).
// Results go to stdout and, as "key value" lines, to --summary FILE (appended).
//
// Everything runs on one thread (one io_context, one coroutine per connection): on a 2-core machine
// that also runs the server, a second thread here would only take CPU from it. A failed connection
// or a protocol error throws and ends the run with a message: a benchmark with broken clients means
// nothing.
#include <sys/resource.h>

#include <utility>  // before Asio: its awaitable.hpp uses std::exchange without including it

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using asio::awaitable;
using asio::use_awaitable;

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
        .count();
}

[[noreturn]] void die(const std::string& msg) {
    std::fprintf(stderr, "apiserver_load: %s\n", msg.c_str());
    std::exit(1);
}

struct Options {
    std::string command;
    std::string host = "127.0.0.1";
    uint16_t port = 0;
    int pods = 10000;
    int namespaces = 4;
    int clients = 50;
    double seconds = 10;
    double warmup = 2;
    std::string mode = "mixed";
    int watchers = 1000;
    int writers = 4;
    double rate = 100;
    double pace = 0;  // run: requests/s of all clients together on a schedule; 0: back-to-back
    std::string summary;
    std::string label;  // prefix of the summary keys; default the mode (run) or the command
};

Options parse(int argc, char** argv) {
    Options o;
    if (argc < 2)
        die("usage: apiserver_load preload|run|watch --port PORT [options] (see the source's "
            "header)");
    o.command = argv[1];
    auto number = [&](int& i) -> double {
        if (i + 1 >= argc) die(std::string(argv[i]) + " needs a value");
        char* end = nullptr;
        double v = std::strtod(argv[++i], &end);
        if (*end || v < 0)
            die(std::string(argv[i - 1]) + ": not a non-negative number: " + argv[i]);
        return v;
    };
    auto text = [&](int& i) -> std::string {
        if (i + 1 >= argc) die(std::string(argv[i]) + " needs a value");
        return argv[++i];
    };
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--host")
            o.host = text(i);
        else if (a == "--port")
            o.port = static_cast<uint16_t>(number(i));
        else if (a == "--pods")
            o.pods = static_cast<int>(number(i));
        else if (a == "--namespaces")
            o.namespaces = static_cast<int>(number(i));
        else if (a == "--clients")
            o.clients = static_cast<int>(number(i));
        else if (a == "--seconds")
            o.seconds = number(i);
        else if (a == "--warmup")
            o.warmup = number(i);
        else if (a == "--mode")
            o.mode = text(i);
        else if (a == "--watchers")
            o.watchers = static_cast<int>(number(i));
        else if (a == "--writers")
            o.writers = static_cast<int>(number(i));
        else if (a == "--rate")
            o.rate = number(i);
        else if (a == "--pace")
            o.pace = number(i);
        else if (a == "--summary")
            o.summary = text(i);
        else if (a == "--label")
            o.label = text(i);
        else
            die("unknown option " + a);
    }
    if (o.port == 0) die("--port is required");
    if (o.pods < 1 || o.namespaces < 1 || o.clients < 1 || o.writers < 1 || o.rate <= 0)
        die("--pods, --namespaces, --clients, --writers and --rate must be positive");
    if (o.command == "run" && o.mode != "create" && o.mode != "get" && o.mode != "list" &&
        o.mode != "update" && o.mode != "mixed")
        die("--mode: create, get, list, update or mixed");
    if (o.label.empty()) o.label = o.command == "run" ? o.mode : o.command;
    return o;
}

// 1,000 watchers plus clients exceed the usual soft limit of 1,024 descriptors.
void raise_fd_limit() {
    rlimit r{};
    if (getrlimit(RLIMIT_NOFILE, &r) != 0) return;
    r.rlim_cur = r.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &r);
}

std::string ns_of(int pod, int namespaces) {
    return "bench-" + std::to_string(pod % namespaces);
}

// A pod as kubectl would send it for a small Deployment's replica: labels, annotations, one
// container with a command, ports, env, resources, probe, a config volume; about 1.9 KB before the
// server adds uid, timestamps, generation and resourceVersion.
std::string pod_body(const std::string& ns, const std::string& name, int64_t seq,
                     int64_t resource_version = 0) {
    std::string rv =
        resource_version ? ",\"resourceVersion\":\"" + std::to_string(resource_version) + "\"" : "";
    std::string s;
    s.reserve(2048);
    s += R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name + R"(","namespace":")" +
         ns + "\"" + rv;
    s +=
        R"(,"labels":{"app":"web","tier":"frontend","pod-template-hash":"7d9c6b5f4d","bench":"apiserver"},)";
    s +=
        R"("annotations":{"bench.skiff.dev/seq":")" + std::to_string(seq) +
        R"(","kubectl.kubernetes.io/restartedAt":"2026-11-26T10:00:00Z","prometheus.io/scrape":"true","prometheus.io/port":"9102"}},)";
    s +=
        R"("spec":{"containers":[{"name":"web","image":"registry.example.com/team/web-frontend:1.24.3",)";
    s +=
        R"("imagePullPolicy":"IfNotPresent","command":["/usr/local/bin/web"],"args":["--listen=:8080","--log-level=info","--metrics=:9102"],)";
    s +=
        R"("ports":[{"name":"http","containerPort":8080,"protocol":"TCP"},{"name":"metrics","containerPort":9102,"protocol":"TCP"}],)";
    s +=
        R"("env":[{"name":"APP_ENV","value":"production"},{"name":"CACHE_URL","value":"redis://cache.default.svc.cluster.local:6379"},)";
    s +=
        R"({"name":"POD_NAME","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.name"}}},)";
    s +=
        R"({"name":"POD_IP","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"status.podIP"}}},{"name":"GOMAXPROCS","value":"2"}],)";
    s +=
        R"("resources":{"requests":{"cpu":"250m","memory":"256Mi"},"limits":{"cpu":"1","memory":"512Mi"}},)";
    s +=
        R"("readinessProbe":{"httpGet":{"path":"/healthz","port":8080,"scheme":"HTTP"},"initialDelaySeconds":5,"periodSeconds":10,"timeoutSeconds":1,"successThreshold":1,"failureThreshold":3},)";
    s += R"("volumeMounts":[{"name":"config","mountPath":"/etc/web","readOnly":true}],)";
    s += R"("terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],)";
    s += R"("volumes":[{"name":"config","configMap":{"name":"web-config","defaultMode":420}}],)";
    s +=
        R"("restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"default",)";
    s +=
        R"("schedulerName":"default-scheduler","securityContext":{"runAsNonRoot":true,"runAsUser":1000},"priority":0,"enableServiceLinks":true,)";
    s +=
        R"("preemptionPolicy":"PreemptLowerPriority","tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}]}})";
    return s;
}

// The string value of the first (or last) "key":"..." in a JSON text. The server writes JSON
// without spaces and with sorted keys: metadata.resourceVersion is the first "resourceVersion" of a
// pod or event (the pod bodies here carry no other), a list's metadata.continue comes after its
// items.
std::string_view json_string(std::string_view body, std::string_view key, bool last = false) {
    std::string pattern = "\"" + std::string(key) + "\":\"";
    size_t at = last ? body.rfind(pattern) : body.find(pattern);
    if (at == std::string_view::npos) return {};
    size_t start = at + pattern.size();
    size_t end = body.find('"', start);
    if (end == std::string_view::npos) return {};
    return body.substr(start, end - start);
}

int64_t to_int(std::string_view s) {
    int64_t v = 0;
    if (s.empty() || std::from_chars(s.data(), s.data() + s.size(), v).ec != std::errc()) return 0;
    return v;
}

// Latency samples of one verb (µs) and its outcome counts.
struct VerbStats {
    std::vector<double> us;
    int64_t errors = 0;     // any status other than the expected one (409s on update not included)
    int64_t conflicts = 0;  // 409 Conflict on update
    int64_t items = 0;      // list: items returned, for the average page size
};

double percentile(std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    size_t k = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
    std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
    return v[k];
}

class Summary {
  public:
    explicit Summary(Options o) : o_(std::move(o)) {}
    void put(const std::string& key, double value) {
        lines_.emplace_back(o_.label + "." + key, value);
    }
    void write() const {
        if (o_.summary.empty()) return;
        FILE* f = std::fopen(o_.summary.c_str(), "a");
        if (!f) die("open " + o_.summary + ": " + std::strerror(errno));
        for (const auto& [k, v] : lines_) std::fprintf(f, "%s %.6g\n", k.c_str(), v);
        std::fclose(f);
    }

  private:
    Options o_;
    std::vector<std::pair<std::string, double>> lines_;
};

// Prints and records p50/p90/p99/max (ms), the rate over `seconds` and the error counts of each
// verb.
double report_verbs(std::map<std::string, VerbStats>& stats, double seconds, Summary& summary) {
    double total = 0;
    std::printf("  %-7s %8s %9s %8s %8s %8s %8s %8s %6s\n", "verb", "requests", "req/s", "p50 ms",
                "p90 ms", "p99 ms", "max ms", "errors", "409s");
    for (auto& [verb, s] : stats) {
        double n = static_cast<double>(s.us.size());
        double rate = n / seconds;
        total += rate;
        double p50 = percentile(s.us, 50) / 1000, p90 = percentile(s.us, 90) / 1000,
               p99 = percentile(s.us, 99) / 1000;
        double max = s.us.empty() ? 0 : *std::max_element(s.us.begin(), s.us.end()) / 1000;
        std::printf("  %-7s %8.0f %9.1f %8.2f %8.2f %8.2f %8.2f %8" PRId64 " %6" PRId64 "\n",
                    verb.c_str(), n, rate, p50, p90, p99, max, s.errors, s.conflicts);
        summary.put(verb + ".n", n);
        summary.put(verb + ".rps", rate);
        summary.put(verb + ".p50", p50);
        summary.put(verb + ".p90", p90);
        summary.put(verb + ".p99", p99);
        summary.put(verb + ".max", max);
        summary.put(verb + ".errors", static_cast<double>(s.errors));
        summary.put(verb + ".conflicts", static_cast<double>(s.conflicts));
        if (verb == "list" && n > 0) summary.put("list.items", static_cast<double>(s.items) / n);
    }
    summary.put("total.rps", total);
    return total;
}

// One keep-alive HTTP/1.1 connection.
class Connection {
  public:
    // Beast reads at most the buffer's free room (at least 512 bytes) and the body moves out as it comes:
    // without room reserved, every response was read 512 bytes per recvmsg.
    Connection(asio::io_context& io, const Options& o) : socket_(io), o_(o) { buffer_.reserve(64 * 1024); }

    awaitable<void> connect() {
        tcp::endpoint ep(asio::ip::make_address(o_.host), o_.port);
        co_await socket_.async_connect(ep, use_awaitable);
        socket_.set_option(tcp::no_delay(true));
    }

    // Sends one request and reads the whole response; t0 is set just before the send.
    awaitable<http::response<http::string_body>> request(http::verb verb, const std::string& target,
                                                         std::string body, int64_t& t0) {
        http::request<http::string_body> req{verb, target, 11};
        req.set(http::field::host, o_.host);
        req.set(http::field::accept, "application/json");
        if (!body.empty()) {
            req.set(http::field::content_type, "application/json");
            req.body() = std::move(body);
        }
        req.keep_alive(true);
        req.prepare_payload();
        t0 = now_ns();
        co_await http::async_write(socket_, req, use_awaitable);
        http::response_parser<http::string_body> parser;
        parser.body_limit(256 * 1024 * 1024);
        co_await http::async_read(socket_, buffer_, parser, use_awaitable);
        co_return parser.release();
    }

    tcp::socket& socket() { return socket_; }
    beast::flat_buffer& buffer() { return buffer_; }

  private:
    tcp::socket socket_;
    beast::flat_buffer buffer_;
    const Options& o_;
};

std::string pods_path(const std::string& ns) {
    return "/api/v1/namespaces/" + ns + "/pods";
}

// ---- preload ----

awaitable<void> create_namespaces(asio::io_context& io, const Options& o) {
    Connection c(io, o);
    co_await c.connect();
    for (int i = 0; i < o.namespaces; ++i) {
        std::string name = "bench-" + std::to_string(i);
        int64_t t0;
        auto res = co_await c.request(
            http::verb::post, "/api/v1/namespaces",
            R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")" + name + "\"}}", t0);
        if (res.result_int() != 201 && res.result_int() != 409)
            die("create namespace " + name + ": HTTP " + std::to_string(res.result_int()) + ": " +
                res.body());
    }
}

awaitable<void> preload_client(asio::io_context& io, const Options& o, int& next,
                               VerbStats& stats) {
    Connection c(io, o);
    co_await c.connect();
    while (next < o.pods) {
        int i = next++;
        std::string ns = ns_of(i, o.namespaces);
        int64_t t0;
        auto res = co_await c.request(http::verb::post, pods_path(ns),
                                      pod_body(ns, "pod-" + std::to_string(i), 0), t0);
        stats.us.push_back(static_cast<double>(now_ns() - t0) / 1000);
        if (res.result_int() != 201)
            die("preload pod-" + std::to_string(i) + ": HTTP " + std::to_string(res.result_int()) +
                ": " + res.body().substr(0, 300));
    }
}

int preload(const Options& o) {
    asio::io_context io;
    Summary summary(o);
    asio::co_spawn(io, create_namespaces(io, o), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
    });
    io.run();
    io.restart();
    int next = 0;
    std::map<std::string, VerbStats> stats;
    int64_t t0 = now_ns();
    for (int i = 0; i < o.clients; ++i)
        asio::co_spawn(io, preload_client(io, o, next, stats["create"]), [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        });
    io.run();
    double secs = static_cast<double>(now_ns() - t0) / 1e9;
    std::printf("preloaded %d pods in %d namespaces with %d clients in %.2f s (%.0f creates/s)\n",
                o.pods, o.namespaces, o.clients, secs, o.pods / secs);
    summary.put("seconds", secs);
    report_verbs(stats, secs, summary);
    summary.write();
    return 0;
}

// ---- run ----

struct OwnedPod {
    int index;
    int64_t rv = 0;  // the resourceVersion of our last write (0: not known yet)
    int64_t seq = 0;
};

struct RunState {
    const Options& o;
    int64_t measure_from = 0;  // requests sent before this are warm-up
    int64_t end = 0;
    std::map<std::string, VerbStats> stats;
};

struct Weights {
    int create, remove, get, list, update;
};

Weights weights_for(const std::string& mode) {
    // create mode: each create is followed by the delete of the pod, so the store stays at --pods
    // pods.
    if (mode == "create") return {1, 1, 0, 0, 0};
    if (mode == "get") return {0, 0, 1, 0, 0};
    if (mode == "list") return {0, 0, 0, 1, 0};
    if (mode == "update") return {0, 0, 0, 0, 1};
    return {10, 10, 50, 5, 25};  // mixed: read-heavy, as a cluster's API traffic is
}

awaitable<void> run_client(asio::io_context& io, RunState& st, int id) {
    const Options& o = st.o;
    Connection c(io, o);
    co_await c.connect();
    std::mt19937_64 rng(static_cast<uint64_t>(id) * 7919 + 17);
    Weights w = weights_for(o.mode);
    int wsum = w.create + w.remove + w.get + w.list + w.update;
    // The preloaded pods this client updates: up to 20 of every clients-th one, so no two clients
    // write the same pod and a 409 can only mean a wrong resourceVersion. Their versions are read
    // first (untimed, in the warm-up); after that each update carries the version its previous
    // write returned.
    std::vector<OwnedPod> owned;
    if (w.update)
        for (int i = id; i < o.pods && owned.size() < 20; i += o.clients) owned.push_back({i});
    for (auto& p : owned) {
        int64_t t0;
        std::string ns = ns_of(p.index, o.namespaces);
        auto res = co_await c.request(http::verb::get,
                                      pods_path(ns) + "/pod-" + std::to_string(p.index), "", t0);
        if (res.result_int() != 200)
            die("get pod-" + std::to_string(p.index) + ": HTTP " +
                std::to_string(res.result_int()));
        p.rv = to_int(json_string(res.body(), "resourceVersion"));
        p.seq = to_int(json_string(res.body(), "bench.skiff.dev/seq"));
    }
    size_t next_owned = 0;
    // --pace: request k of all clients is due at the warm-up's start + k / pace; this client sends
    // k = id, id + clients, ...
    asio::steady_timer timer(io);
    int64_t paced_start = st.measure_from - static_cast<int64_t>(o.warmup * 1e9);  // the run's start
    int64_t next_k = id;
    int64_t due = 0;
    std::vector<std::string>
        created;  // pods this client created and has not deleted yet (namespace bench-0)
    int64_t created_seq = 0;
    std::string list_ns = ns_of(id, o.namespaces);
    std::string list_continue;
    auto record = [&](const char* verb, int64_t t0, unsigned status,
                      unsigned expected) -> VerbStats& {
        auto& s = st.stats[verb];
        if (due && due < t0) t0 = due;  // paced: late sends count as latency
        if (t0 >= st.measure_from) {
            s.us.push_back(static_cast<double>(now_ns() - t0) / 1000);
            if (status == 409 && std::string_view(verb) == "update")
                ++s.conflicts;
            else if (status != expected)
                ++s.errors;
        }
        return s;
    };
    while (now_ns() < st.end) {
        if (o.pace > 0) {
            due = paced_start + static_cast<int64_t>(static_cast<double>(next_k) * 1e9 / o.pace);
            next_k += o.clients;
            if (due >= st.end) break;
            if (due > now_ns()) {
                timer.expires_after(std::chrono::nanoseconds(due - now_ns()));
                co_await timer.async_wait(use_awaitable);
            }
        }
        int r = static_cast<int>(rng() % static_cast<uint64_t>(wsum));
        int64_t t0 = 0;
        if ((r -= w.create) < 0 || (o.mode == "create" && created.empty())) {
            std::string name = "load-" + std::to_string(id) + "-" + std::to_string(created_seq++);
            auto res = co_await c.request(http::verb::post, pods_path("bench-0"),
                                          pod_body("bench-0", name, 0), t0);
            record("create", t0, res.result_int(), 201);
            if (res.result_int() == 201) created.push_back(name);
        } else if ((r -= w.remove) < 0) {
            if (created.empty()) continue;
            std::string name = created.back();
            created.pop_back();
            auto res =
                co_await c.request(http::verb::delete_, pods_path("bench-0") + "/" + name, "", t0);
            record("delete", t0, res.result_int(), 200);
        } else if ((r -= w.get) < 0) {
            int i = static_cast<int>(rng() % static_cast<uint64_t>(o.pods));
            auto res = co_await c.request(
                http::verb::get, pods_path(ns_of(i, o.namespaces)) + "/pod-" + std::to_string(i),
                "", t0);
            record("get", t0, res.result_int(), 200);
        } else if ((r -= w.list) < 0) {
            // One page of kubectl's default chunk size; the next request continues where it ended,
            // so a client walks its namespace page by page (later pages are snapshot reads at the
            // list's revision).
            std::string target = pods_path(list_ns) + "?limit=500";
            if (!list_continue.empty()) target += "&continue=" + list_continue;
            auto res = co_await c.request(http::verb::get, target, "", t0);
            auto& s = record("list", t0, res.result_int(), 200);
            if (res.result_int() == 410 || res.result_int() != 200) {
                list_continue.clear();
                continue;
            }
            // Items are counted by their uids: one per pod, in the server's sorted-key JSON.
            if (t0 >= st.measure_from) {
                std::string_view b = res.body();
                for (size_t at = b.find("\"uid\":\""); at != std::string_view::npos;
                     at = b.find("\"uid\":\"", at + 1))
                    ++s.items;
            }
            list_continue = std::string(json_string(res.body(), "continue", true));
        } else {
            if (owned.empty()) continue;
            OwnedPod& p = owned[next_owned++ % owned.size()];
            std::string ns = ns_of(p.index, o.namespaces), name = "pod-" + std::to_string(p.index);
            if (p.rv ==
                0) {  // after a failed update: read the version again (a get, counted as one)
                auto res = co_await c.request(http::verb::get, pods_path(ns) + "/" + name, "", t0);
                record("get", t0, res.result_int(), 200);
                p.rv = to_int(json_string(res.body(), "resourceVersion"));
                p.seq = to_int(json_string(res.body(), "bench.skiff.dev/seq"));
                continue;
            }
            auto res = co_await c.request(http::verb::put, pods_path(ns) + "/" + name,
                                          pod_body(ns, name, ++p.seq, p.rv), t0);
            record("update", t0, res.result_int(), 200);
            p.rv = res.result_int() == 200 ? to_int(json_string(res.body(), "resourceVersion")) : 0;
        }
    }
    // Pods created and not yet deleted are deleted now (untimed), so every phase leaves --pods
    // pods.
    for (const auto& name : created) {
        int64_t t0;
        (void)co_await c.request(http::verb::delete_, pods_path("bench-0") + "/" + name, "", t0);
    }
}

int run(const Options& o) {
    asio::io_context io;
    Summary summary(o);
    RunState st{o};
    int64_t start = now_ns();
    st.measure_from = start + static_cast<int64_t>(o.warmup * 1e9);
    st.end = st.measure_from + static_cast<int64_t>(o.seconds * 1e9);
    for (int i = 0; i < o.clients; ++i)
        asio::co_spawn(io, run_client(io, st, i), [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        });
    io.run();
    // Requests are counted when they started after the warm-up and before the end; the last ones
    // finish after it, so the window is from the warm-up's end to the end, not to the last
    // response.
    std::printf("%s: %d clients, %.1f s after %.1f s of warm-up", o.mode.c_str(), o.clients,
                o.seconds, o.warmup);
    if (o.pace > 0) std::printf(", paced at %.0f requests/s together", o.pace);
    std::printf("\n");
    double total = report_verbs(st.stats, o.seconds, summary);
    double writes = 0;
    for (const char* v : {"create", "update", "delete"})
        if (st.stats.count(v)) writes += static_cast<double>(st.stats[v].us.size()) / o.seconds;
    std::printf("  total %.1f req/s, of which writes %.1f/s\n", total, writes);
    summary.put("writes.rps", writes);
    summary.write();
    return 0;
}

// ---- watch ----

struct Watcher {
    std::vector<std::pair<int64_t, int64_t>> got;  // (resourceVersion, read time ns)
    int64_t bad_type = 0;
    std::string partial;  // an event line not complete yet
    bool ready = false;   // the response header arrived
};

struct WatchState {
    const Options& o;
    int64_t from_rv = 0;
    std::vector<Watcher> watchers;
    std::unordered_map<int64_t, int64_t> sent;  // revision of a write -> time its request was sent
    std::vector<int64_t> expected;              // revisions of the successful writes
    VerbStats writes;
    int ready = 0;
    bool first_checked = false;
    int64_t measure_from = 0;
};

awaitable<void> watch_one(asio::io_context& io, WatchState& st, Watcher& w) {
    Connection c(io, st.o);
    co_await c.connect();
    http::request<http::empty_body> req{
        http::verb::get, "/api/v1/pods?watch=true&resourceVersion=" + std::to_string(st.from_rv),
        11};
    req.set(http::field::host, st.o.host);
    req.set(http::field::accept, "application/json");
    co_await http::async_write(c.socket(), req, use_awaitable);
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    auto on_chunk = [&](std::uint64_t, beast::string_view data, beast::error_code&) -> std::size_t {
        int64_t t = now_ns();  // one read: every event in it arrived by now
        w.partial.append(data.data(), data.size());
        size_t start = 0;
        for (size_t nl = w.partial.find('\n'); nl != std::string::npos;
             nl = w.partial.find('\n', start)) {
            std::string_view line(w.partial.data() + start, nl - start);
            start = nl + 1;
            // {"object":{...},"type":"MODIFIED"}: keys sorted, so the type is the last string.
            if (json_string(line, "type", true) != "MODIFIED") ++w.bad_type;
            w.got.emplace_back(to_int(json_string(line, "resourceVersion")), t);
            if (!st.first_checked) {  // the quick field scan agrees with a real parse (once)
                st.first_checked = true;
                auto j = nlohmann::json::parse(line);
                if (j["type"] != "MODIFIED" ||
                    to_int(j["object"]["metadata"]["resourceVersion"].get<std::string>()) !=
                        w.got.back().first)
                    die("the watch event scan disagrees with the JSON parser on: " +
                        std::string(line.substr(0, 300)));
            }
        }
        w.partial.erase(0, start);
        return data.size();
    };
    parser.on_chunk_body(on_chunk);
    co_await http::async_read_header(c.socket(), c.buffer(), parser, use_awaitable);
    if (parser.get().result_int() != 200)
        die("watch: HTTP " + std::to_string(parser.get().result_int()));
    w.ready = true;
    ++st.ready;
    beast::error_code ec;
    while (!parser.is_done()) {
        co_await http::async_read_some(c.socket(), c.buffer(), parser,
                                       asio::redirect_error(use_awaitable, ec));
        if (ec) break;  // closed by us at the end
    }
}

awaitable<void> watch_writer(asio::io_context& io, WatchState& st, int id, int64_t start,
                             int64_t end) {
    const Options& o = st.o;
    Connection c(io, o);
    co_await c.connect();
    asio::steady_timer timer(io);
    std::vector<OwnedPod> owned;
    for (int i = id; i < o.pods; i += o.writers) owned.push_back({i});
    // Versions first (untimed, before the first scheduled write).
    for (auto& p : owned) {
        if (&p - owned.data() >= 64) break;  // a writer cycles through at most 64 pods
        std::string ns = ns_of(p.index, o.namespaces);
        int64_t t0;
        auto res = co_await c.request(http::verb::get,
                                      pods_path(ns) + "/pod-" + std::to_string(p.index), "", t0);
        p.rv = to_int(json_string(res.body(), "resourceVersion"));
        p.seq = to_int(json_string(res.body(), "bench.skiff.dev/seq"));
    }
    owned.resize(std::min<size_t>(owned.size(), 64));
    double interval_ns = 1e9 / o.rate;
    for (int64_t k = id;; k += o.writers) {  // write k of all writers is due at start + k / rate
        int64_t due = start + static_cast<int64_t>(static_cast<double>(k) * interval_ns);
        if (due >= end) break;
        if (due > now_ns()) {
            timer.expires_after(std::chrono::nanoseconds(due - now_ns()));
            co_await timer.async_wait(use_awaitable);
        }
        OwnedPod& p = owned[static_cast<size_t>(k / o.writers) % owned.size()];
        std::string ns = ns_of(p.index, o.namespaces), name = "pod-" + std::to_string(p.index);
        int64_t t0;
        auto res = co_await c.request(http::verb::put, pods_path(ns) + "/" + name,
                                      pod_body(ns, name, ++p.seq, p.rv), t0);
        if (res.result_int() != 200)
            die("watch phase: update " + name + ": HTTP " + std::to_string(res.result_int()));
        p.rv = to_int(json_string(res.body(), "resourceVersion"));
        st.sent[p.rv] = t0;
        st.expected.push_back(p.rv);
        if (t0 >= st.measure_from)
            st.writes.us.push_back(static_cast<double>(now_ns() - t0) / 1000);
    }
}

awaitable<void> watch_phase(asio::io_context& io, WatchState& st) {
    const Options& o = st.o;
    {
        Connection c(io, o);
        co_await c.connect();
        int64_t t0;
        auto res = co_await c.request(http::verb::get, "/api/v1/pods?limit=1", "", t0);
        st.from_rv = to_int(json_string(res.body(), "resourceVersion", true));
        if (st.from_rv == 0)
            die("watch: no resourceVersion in the list: " + res.body().substr(0, 300));
    }
    st.watchers.resize(static_cast<size_t>(o.watchers));
    for (auto& w : st.watchers)
        asio::co_spawn(io, watch_one(io, st, w), [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        });
    asio::steady_timer timer(io);
    int64_t deadline = now_ns() + 30'000'000'000;
    while (st.ready < o.watchers) {
        if (now_ns() > deadline)
            die("watch: only " + std::to_string(st.ready) + " of " + std::to_string(o.watchers) +
                " watches answered within 30 s");
        timer.expires_after(std::chrono::milliseconds(10));
        co_await timer.async_wait(use_awaitable);
    }
    std::printf(
        "watch: %d watchers connected; %d writers updating pods at %.0f/s for %.1f s (+ %.1f s "
        "warm-up)\n",
        o.watchers, o.writers, o.rate, o.seconds, o.warmup);
    std::fflush(stdout);
    int64_t start = now_ns() + 50'000'000;  // the writers fetch their pods' versions first
    st.measure_from = start + static_cast<int64_t>(o.warmup * 1e9);
    int64_t end = st.measure_from + static_cast<int64_t>(o.seconds * 1e9);
    int writers_left = o.writers;
    for (int i = 0; i < o.writers; ++i)
        asio::co_spawn(io, watch_writer(io, st, i, start, end), [&](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
            --writers_left;
        });
    while (writers_left > 0) {
        timer.expires_after(std::chrono::milliseconds(10));
        co_await timer.async_wait(use_awaitable);
    }
    // Every watcher has every event, or 10 s have passed: then the streams are closed.
    deadline = now_ns() + 10'000'000'000;
    auto complete = [&] {
        for (auto& w : st.watchers)
            if (w.got.size() < st.expected.size()) return false;
        return true;
    };
    while (!complete() && now_ns() < deadline) {
        timer.expires_after(std::chrono::milliseconds(10));
        co_await timer.async_wait(use_awaitable);
    }
    io.stop();
}

int watch(const Options& o) {
    raise_fd_limit();
    asio::io_context io;
    Summary summary(o);
    WatchState st{o};
    asio::co_spawn(io, watch_phase(io, st), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
    });
    io.run();

    std::vector<int64_t> expected = st.expected;
    std::sort(expected.begin(), expected.end());  // the store's revision order
    int64_t ok = 0, missing = 0, extra = 0, out_of_order = 0, bad_type = 0, over = 0;
    std::vector<double> lat;
    lat.reserve(expected.size() * st.watchers.size());
    for (auto& w : st.watchers) {
        bad_type += w.bad_type;
        bool in_order = std::is_sorted(w.got.begin(), w.got.end()) &&
                        std::adjacent_find(w.got.begin(), w.got.end(), [](auto& a, auto& b) {
                            return a.first == b.first;
                        }) == w.got.end();
        if (!in_order) ++out_of_order;
        std::vector<int64_t> revs;
        for (auto& [rv, t] : w.got) revs.push_back(rv);
        std::sort(revs.begin(), revs.end());
        std::vector<int64_t> diff;
        std::set_difference(expected.begin(), expected.end(), revs.begin(), revs.end(),
                            std::back_inserter(diff));
        missing += static_cast<int64_t>(diff.size());
        diff.clear();
        std::set_difference(revs.begin(), revs.end(), expected.begin(), expected.end(),
                            std::back_inserter(diff));
        extra += static_cast<int64_t>(diff.size());
        if (in_order && revs == expected && w.bad_type == 0) ++ok;
        for (auto& [rv, t] : w.got) {
            auto it = st.sent.find(rv);
            if (it == st.sent.end() || it->second < st.measure_from) continue;
            double ms = static_cast<double>(t - it->second) / 1e6;
            lat.push_back(ms);
            if (ms > 100) ++over;
        }
    }
    double p50 = percentile(lat, 50), p99 = percentile(lat, 99);
    double max = lat.empty() ? 0 : *std::max_element(lat.begin(), lat.end());
    double wp50 = percentile(st.writes.us, 50) / 1000, wp99 = percentile(st.writes.us, 99) / 1000;
    std::printf(
        "  %zu writes (%zu timed: p50 %.2f ms, p99 %.2f ms); %lld watcher x event pairs timed\n",
        expected.size(), st.writes.us.size(), wp50, wp99, static_cast<long long>(lat.size()));
    std::printf("  delivery latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms; %lld over 100 ms\n",
                p50, p99, max, static_cast<long long>(over));
    std::printf(
        "  watchers with every event exactly once and in order: %lld of %d (missing %lld, "
        "unexpected %lld, "
        "out of order %lld, wrong type %lld)\n",
        static_cast<long long>(ok), o.watchers, static_cast<long long>(missing),
        static_cast<long long>(extra), static_cast<long long>(out_of_order),
        static_cast<long long>(bad_type));
    summary.put("watchers", o.watchers);
    summary.put("rate", o.rate);
    summary.put("events", static_cast<double>(expected.size()));
    summary.put("pairs", static_cast<double>(lat.size()));
    summary.put("p50", p50);
    summary.put("p99", p99);
    summary.put("max", max);
    summary.put("over100", static_cast<double>(over));
    summary.put("ok", static_cast<double>(ok));
    summary.put("missing", static_cast<double>(missing));
    summary.put("unexpected", static_cast<double>(extra));
    summary.put("out_of_order", static_cast<double>(out_of_order));
    summary.put("write.p50", wp50);
    summary.put("write.p99", wp99);
    summary.write();
    return ok == o.watchers ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
    Options o = parse(argc, argv);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    try {
        if (o.command == "preload") return preload(o);
        if (o.command == "run") return run(o);
        if (o.command == "watch") return watch(o);
    } catch (const std::exception& e) {
        die(o.command + ": " + e.what());
    }
    die("unknown command " + o.command + " (preload, run or watch)");
}
