// `skiff server`: serves the Kubernetes API (HTTPS, and/or plain HTTP on loopback) until SIGINT/SIGTERM;
// `skiff server token` for node tokens and `skiff kubeconfig` for the admin kubeconfig.
#include "skiff/cli/server_command.hpp"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <boost/program_options.hpp>
#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <thread>

#include "skiff/apiserver/api_handler.hpp"
#include "skiff/apiserver/authentication.hpp"
#include "skiff/apiserver/node_tokens.hpp"
#include "skiff/apiserver/pki.hpp"
#include "skiff/apiserver/registry.hpp"
#include "skiff/apiserver/watch_cache.hpp"
#include "skiff/base/fs.hpp"
#include "skiff/base/memory.hpp"
#include "skiff/base/process.hpp"
#include "skiff/cli/options.hpp"
#include "skiff/store/store.hpp"

namespace po = boost::program_options;

namespace skiff::cli {

namespace {

int usage_error(const std::string& msg) { return cli::usage_error("skiff server", msg); }

const char* kServerUsage =
    "usage: skiff server [--listen ADDR:PORT] [--tls-san NAME]... [--insecure-listen 127.0.0.1:PORT]\n"
    "                    [--data-dir DIR] [--datastore etcd://HOST:PORT[,...]] [--threads N]\n"
    "                    [--watch-cache-size N] [--request-timeout SECONDS]\n"
    "       skiff server token create|revoke NODE [--data-dir DIR]\n"
    "  --listen ADDR:PORT                 HTTPS (default 0.0.0.0:6443); port 0 picks a free one. Clients\n"
    "                                     authenticate with a client certificate or a node token\n"
    "  --tls-san NAME|IP                  another name the serving certificate must carry (repeatable)\n"
    "  --data-dir DIR                     the SQLite store (DIR/state.db), certificates (DIR/pki), node\n"
    "                                     tokens (DIR/tokens), the admin kubeconfig (DIR/admin.kubeconfig);\n"
    "                                     default /var/lib/skiff/server\n"
    "  --datastore etcd://HOST:PORT,...   keep the objects in an etcd cluster (its members' client URLs)\n"
    "                                     instead of DIR/state.db (certificates and tokens stay in DIR)\n"
    "  --insecure-listen 127.0.0.1:PORT   plain HTTP, no authentication, loopback only (for tests); alone it\n"
    "                                     replaces HTTPS, with --listen it is served too\n"
    "  --threads N                        network I/O threads (default 2)\n"
    "  --watch-cache-size N               recent events kept for watches that resume (default 512);\n"
    "                                     older resourceVersions get 410 Expired\n"
    "  --request-timeout SECONDS          a TLS handshake, or a request's header and body, must arrive\n"
    "                                     within this (default 30)\n"
    "token create NODE prints a new bearer token for node NODE (the one time it is shown; only its SHA-256\n"
    "is kept); the running server accepts it at once. token revoke NODE removes all of NODE's tokens.\n";

const char* kDefaultDataDir = "/var/lib/skiff/server";

// "ADDR:PORT", "[V6]:PORT"; false with a reason.
bool parse_listen(const std::string& flag, const std::string& text, std::string& address, uint16_t& port,
                  std::string& error) {
    auto colon = text.rfind(':');
    unsigned value = 0;
    if (colon == std::string::npos ||
        std::from_chars(text.data() + colon + 1, text.data() + text.size(), value).ec != std::errc() ||
        value > 65535) {
        error = flag + ": expected ADDR:PORT, got \"" + text + "\"";
        return false;
    }
    address = text.substr(0, colon);
    if (address.size() >= 2 && address.front() == '[' && address.back() == ']') address = address.substr(1, address.size() - 2);
    if (address == "localhost") address = "127.0.0.1";
    port = static_cast<uint16_t>(value);
    return true;
}

std::string url_host(const std::string& address) {
    return address.find(':') != std::string::npos ? "[" + address + "]" : address;
}

int cmd_token(const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("help,h", po::bool_switch())("data-dir", po::value<std::string>()->default_value(kDefaultDataDir))(
        "words", po::value<std::vector<std::string>>());
    po::variables_map vm;
    std::string error;
    if (!parse_options(args, d, vm, error, "words")) return usage_error(error);
    std::vector<std::string> words = vm.count("words") ? vm["words"].as<std::vector<std::string>>() : std::vector<std::string>{};
    if (vm["help"].as<bool>() || words.size() != 2 || (words[0] != "create" && words[0] != "revoke")) {
        if (vm["help"].as<bool>()) {
            std::fputs(kServerUsage, stdout);
            return 0;
        }
        return usage_error("expected: skiff server token create|revoke NODE [--data-dir DIR]");
    }
    std::string data_dir = vm["data-dir"].as<std::string>();
    if (auto why = apiserver::dns1123_subdomain_error(words[1]); !why.empty())
        return usage_error("node name \"" + words[1] + "\": " + why);
    if (auto r = fs::make_dirs(data_dir, 0700); !r) {
        std::fprintf(stderr, "skiff server token: %s\n", r.error().what().c_str());
        return 1;
    }
    std::string path = apiserver::node_tokens_path(data_dir);
    if (words[0] == "revoke") {
        auto removed = apiserver::revoke_node_tokens(path, words[1]);
        if (!removed) {
            std::fprintf(stderr, "skiff server token: %s\n", removed.error().what().c_str());
            return 1;
        }
        std::fprintf(stderr, "skiff server token: revoked %zu token(s) of node %s\n", *removed, words[1].c_str());
        return *removed ? 0 : 1;
    }
    auto token = apiserver::create_node_token(path, words[1]);
    if (!token) {
        std::fprintf(stderr, "skiff server token: %s\n", token.error().what().c_str());
        return 1;
    }
    std::printf("%s\n", token->c_str());
    std::fprintf(stderr, "skiff server token: a new token for node %s (shown once; %s keeps only its hash)\n",
                 words[1].c_str(), path.c_str());
    return 0;
}

}  // namespace

int cmd_kubeconfig(const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("help,h", po::bool_switch())("data-dir", po::value<std::string>()->default_value(kDefaultDataDir));
    po::variables_map vm;
    std::string error;
    if (!parse_options(args, d, vm, error)) return cli::usage_error("skiff kubeconfig", error);
    if (vm["help"].as<bool>()) {
        std::fputs("usage: skiff kubeconfig [--data-dir DIR]\n"
                   "  prints the admin kubeconfig that `skiff server` wrote (skiff kubeconfig > ~/.kube/config)\n",
                   stdout);
        return 0;
    }
    std::string path = apiserver::PkiFiles::in(vm["data-dir"].as<std::string>()).kubeconfig;
    auto text = fs::read_file(path);
    if (!text) {
        std::fprintf(stderr, "skiff kubeconfig: %s%s\n", text.error().what().c_str(),
                     text.error().code() == ENOENT ? " (`skiff server` writes it on its first HTTPS start)" : "");
        return 1;
    }
    std::fwrite(text->data(), 1, text->size(), stdout);
    return 0;
}

int cmd_server(const std::vector<std::string>& args) {
    if (!args.empty() && args[0] == "token") return cmd_token({args.begin() + 1, args.end()});
    po::options_description d;
    d.add_options()("help,h", po::bool_switch())("listen", po::value<std::string>())(
        "insecure-listen", po::value<std::string>())("tls-san", po::value<std::vector<std::string>>()->composing())(
        "threads", po::value<int>()->default_value(2))("watch-cache-size", po::value<int>()->default_value(512))(
        "request-timeout", po::value<int>()->default_value(30))(
        "data-dir", po::value<std::string>()->default_value(kDefaultDataDir))("datastore", po::value<std::string>());
    po::variables_map vm;
    std::string error;
    if (!parse_options(args, d, vm, error)) return usage_error(error);
    if (vm["help"].as<bool>()) {
        std::fputs(kServerUsage, stdout);
        return 0;
    }
    // --insecure-listen alone keeps the plain loopback listener it has always been (the tests' way in).
    bool insecure = vm.count("insecure-listen") > 0;
    bool secure = vm.count("listen") > 0 || !insecure;
    std::string insecure_address, secure_address;
    uint16_t insecure_port = 0, secure_port = 0;
    if (insecure) {
        if (!parse_listen("--insecure-listen", vm["insecure-listen"].as<std::string>(), insecure_address, insecure_port,
                          error))
            return usage_error(error);
        if (insecure_address != "127.0.0.1" && insecure_address != "::1")
            return usage_error("--insecure-listen serves without authentication: only on loopback (127.0.0.1 or ::1)");
    }
    if (secure && !parse_listen("--listen", vm.count("listen") ? vm["listen"].as<std::string>() : "0.0.0.0:6443",
                                secure_address, secure_port, error))
        return usage_error(error);
    std::vector<std::string> sans = vm.count("tls-san") ? vm["tls-san"].as<std::vector<std::string>>() : std::vector<std::string>{};
    for (const auto& san : sans)
        if (auto why = apiserver::san_error(san); !why.empty()) return usage_error("--tls-san \"" + san + "\": " + why);
    int threads = vm["threads"].as<int>();
    if (threads < 1 || threads > 256) return usage_error("--threads: 1 to 256");
    int watch_cache_size = vm["watch-cache-size"].as<int>();
    if (watch_cache_size < 1) return usage_error("--watch-cache-size: at least 1");
    int request_timeout = vm["request-timeout"].as<int>();
    if (request_timeout < 1 || request_timeout > 3600) return usage_error("--request-timeout: 1 to 3600 seconds");
    std::optional<store::EtcdOptions> etcd;
    if (vm.count("datastore")) {
        auto parsed = store::parse_etcd_datastore(vm["datastore"].as<std::string>());
        if (!parsed) return usage_error("--datastore: " + parsed.error().message());
        etcd = std::move(*parsed);
    }

    // Every watch holds a connection: a thousand watchers pass the usual soft limit of 1,024 descriptors.
    // The soft limit goes up to the hard one (what Go does for kube-apiserver and etcd at start).
    rlimit files{};
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &files);
    }

    if (!using_jemalloc()) {
        // glibc gives each of the 64 handler threads an arena of its own, up to 8 per core, and keeps what
        // they freed: after 20 s of lists the server held 58 MB, 28 MB of it free memory in arenas. One arena
        // per core, and free memory handed back to the kernel every 5 s (below).
        mallopt(M_ARENA_MAX, static_cast<int>(std::max(2u, std::thread::hardware_concurrency())));
        // A fixed mmap threshold: blocks of 256 KiB and more (list pages, response bodies) are mapped and
        // unmapped on their own. glibc's default raises the threshold to the largest block freed so far,
        // after which megabyte-sized list pages come from the arenas and leave them fragmented.
        mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    }

    // SIGINT/SIGTERM are taken by a thread of their own (blocked everywhere else), which stops the server.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    std::string data_dir = vm["data-dir"].as<std::string>();
    if (auto r = fs::make_dirs(data_dir, 0700); !r) {
        std::fprintf(stderr, "skiff server: %s\n", r.error().what().c_str());
        return 1;
    }
    // Certificates first: a broken PKI stops the start before anything else is opened.
    std::optional<apiserver::PkiState> pki;
    if (secure) {
        // A specific listen address is a name clients will use.
        if (secure_address != "0.0.0.0" && secure_address != "::") sans.push_back(secure_address);
        auto state = apiserver::ensure_pki({data_dir, sans});
        if (!state) {
            std::fprintf(stderr, "skiff server: %s\n", state.error().what().c_str());
            return 1;
        }
        pki = std::move(*state);
        if (pki->created) std::fprintf(stderr, "skiff server: made a new cluster CA in %s\n", pki->files.dir.c_str());
        if (pki->renewed_server_cert)
            std::fprintf(stderr, "skiff server: made a new serving certificate (%s)\n", pki->files.server_cert.c_str());
    }
    auto store = etcd ? store::open_etcd(*etcd) : store::open_sqlite(data_dir + "/state.db");
    if (!store) {
        std::string where = etcd ? vm["datastore"].as<std::string>() : data_dir;
        std::fprintf(stderr, "skiff server: open the store in %s: %s\n", where.c_str(), store.error().what().c_str());
        return 1;
    }
    apiserver::WatchCacheOptions cache_options;
    cache_options.capacity = static_cast<size_t>(watch_cache_size);
    auto watches = apiserver::WatchCache::start(**store, cache_options);
    if (!watches) {
        std::fprintf(stderr, "skiff server: %s\n", watches.error().what().c_str());
        return 1;
    }
    apiserver::Registry registry(**store, *watches);
    if (auto r = registry.ensure_default_objects(); !r) {
        std::fprintf(stderr, "skiff server: %s\n", r.error().what().c_str());
        return 1;
    }

    apiserver::Authenticator authenticator(std::make_shared<apiserver::NodeTokens>(apiserver::node_tokens_path(data_dir)));
    std::vector<std::unique_ptr<apiserver::HttpServer>> servers;
    // One listener: HTTPS with tls, plain HTTP without; null after printing why it failed.
    // serving() announces it, once everything a client needs (the kubeconfig) is written.
    auto listen = [&](const std::string& address, uint16_t port, std::optional<apiserver::TlsOptions> tls,
                      apiserver::Handler handler) -> apiserver::HttpServer* {
        apiserver::HttpServerOptions options;
        options.address = address;
        options.port = port;
        options.threads = threads;
        options.is_list = apiserver::is_list_request;
        options.list_workers = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
        options.request_timeout = std::chrono::seconds(request_timeout);
        options.tls = std::move(tls);
        auto server = apiserver::HttpServer::listen(options, std::move(handler));
        if (!server) {
            std::fprintf(stderr, "skiff server: %s\n", server.error().what().c_str());
            return nullptr;
        }
        servers.push_back(std::move(*server));
        return servers.back().get();
    };
    auto serving = [&](const char* scheme, const std::string& address, const apiserver::HttpServer& server) {
        std::fprintf(stderr, "skiff server: serving the Kubernetes API on %s://%s:%u\n", scheme,
                     url_host(address).c_str(), server.port());
    };
    if (secure) {
        auto* server = listen(secure_address, secure_port,
                              apiserver::TlsOptions{pki->files.server_cert, pki->files.server_key, pki->files.ca_cert},
                              apiserver::make_api_handler(&registry, &authenticator));
        if (!server) return 1;
        // The kubeconfig points at the port really bound (--listen ...:0) and at loopback for a wildcard.
        std::string host = secure_address == "0.0.0.0" ? "127.0.0.1" : secure_address == "::" ? "::1" : secure_address;
        std::string url = "https://" + url_host(host) + ":" + std::to_string(server->port());
        if (auto r = apiserver::write_admin_kubeconfig(pki->files, url); !r) {
            std::fprintf(stderr, "skiff server: %s\n", r.error().what().c_str());
            return 1;
        }
        std::fprintf(stderr, "skiff server: admin kubeconfig: %s (`skiff kubeconfig` prints it)\n",
                     pki->files.kubeconfig.c_str());
        serving("https", secure_address, *server);
    }
    if (insecure) {
        auto* server = listen(insecure_address, insecure_port, std::nullopt, apiserver::make_api_handler(&registry));
        if (!server) return 1;
        serving("http", insecure_address, *server);
    }
    std::thread waiter([&] {
        // Wakes every 5 s to hand freed heap back to the kernel, as Go's scavenger does for kube-apiserver (an
        // idle server shrinks after a burst; the store frees its page caches after 3 s without writes, the
        // request threads their allocator caches after 1 s without work, the registry its decoded objects here).
        const timespec trim_interval{5, 0};
        while (sigtimedwait(&stop_signals, nullptr, &trim_interval) < 0) {
            if (errno != EAGAIN) continue;
            registry.release_idle_memory();
            release_free_heap();
        }
        for (auto& server : servers) server->stop();
    });
    name_thread(waiter, "server-signals");
    std::vector<std::thread> others;
    for (size_t i = 1; i < servers.size(); ++i) {
        others.emplace_back([&, i] { servers[i]->run(); });
        name_thread(others.back(), "api-io");
    }
    servers[0]->run();
    // run() also returns if a server stops on its own: stop the rest and wake the waiter so it can be joined.
    for (auto& server : servers) server->stop();
    for (auto& t : others) t.join();
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    (*watches)->stop();
    std::fprintf(stderr, "skiff server: stopped\n");
    return 0;
}

}  // namespace skiff::cli
