// `skiff server`: serves the Kubernetes API until SIGINT/SIGTERM.
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
#include <thread>

#include "skiff/apiserver/api_handler.hpp"
#include "skiff/cli/options.hpp"
#include "skiff/apiserver/registry.hpp"
#include "skiff/apiserver/watch_cache.hpp"
#include "skiff/store/store.hpp"

namespace po = boost::program_options;

namespace skiff::cli {

namespace {

int usage_error(const std::string& msg) { return cli::usage_error("skiff server", msg); }

const char* kServerUsage =
    "usage: skiff server --insecure-listen ADDR:PORT [--data-dir DIR] [--threads N] [--watch-cache-size N]\n"
    "  --data-dir DIR                     the SQLite store (DIR/state.db); default /var/lib/skiff/server\n"
    "  --insecure-listen 127.0.0.1:PORT   plain HTTP, no authentication, loopback only (for tests);\n"
    "                                     port 0 picks a free one (printed on start)\n"
    "  --threads N                        network I/O threads (default 2)\n"
    "  --watch-cache-size N               recent events kept for watches that resume (default 8192);\n"
    "                                     older resourceVersions get 410 Expired\n";

}  // namespace

int cmd_server(const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("help,h", po::bool_switch())("insecure-listen", po::value<std::string>())(
        "threads", po::value<int>()->default_value(2))("watch-cache-size", po::value<int>()->default_value(8192))(
        "data-dir", po::value<std::string>()->default_value("/var/lib/skiff/server"));
    po::variables_map vm;
    std::string error;
    if (!parse_options(args, d, vm, error)) return usage_error(error);
    if (vm["help"].as<bool>()) {
        std::fputs(kServerUsage, stdout);
        return 0;
    }
    if (!vm.count("insecure-listen"))
        return usage_error("HTTPS serving (certificates, tokens) is not built yet: give --insecure-listen 127.0.0.1:PORT");
    std::string listen = vm["insecure-listen"].as<std::string>();
    auto colon = listen.rfind(':');
    unsigned port = 0;
    if (colon == std::string::npos ||
        std::from_chars(listen.data() + colon + 1, listen.data() + listen.size(), port).ec != std::errc() ||
        port > 65535)
        return usage_error("--insecure-listen: expected ADDR:PORT, got \"" + listen + "\"");
    std::string address = listen.substr(0, colon);
    if (address != "127.0.0.1" && address != "::1" && address != "localhost")
        return usage_error("--insecure-listen serves without authentication: only on loopback (127.0.0.1 or ::1)");
    if (address == "localhost") address = "127.0.0.1";
    int threads = vm["threads"].as<int>();
    if (threads < 1 || threads > 256) return usage_error("--threads: 1 to 256");
    int watch_cache_size = vm["watch-cache-size"].as<int>();
    if (watch_cache_size < 1) return usage_error("--watch-cache-size: at least 1");

    // Every watch holds a connection: a thousand watchers pass the usual soft limit of 1,024 descriptors.
    // The soft limit goes up to the hard one (what Go does for kube-apiserver and etcd at start).
    rlimit files{};
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &files);
    }

    // glibc gives each of the 64 handler threads an arena of its own, up to 8 per core, and keeps what they
    // freed: after 20 s of lists the server held 58 MB, 28 MB of it free memory in arenas. One arena per core,
    // and free memory handed back to the kernel every 10 s (below), as Go's scavenger does for kube-apiserver.
    mallopt(M_ARENA_MAX, static_cast<int>(std::max(2u, std::thread::hardware_concurrency())));

    // SIGINT/SIGTERM are taken by a thread of their own (blocked everywhere else), which stops the server.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    std::string data_dir = vm["data-dir"].as<std::string>();
    if (mkdir(data_dir.c_str(), 0700) != 0 && errno != EEXIST) {
        std::fprintf(stderr, "skiff server: mkdir %s: %s\n", data_dir.c_str(), strerror(errno));
        return 1;
    }
    auto store = store::open_sqlite(data_dir + "/state.db");
    if (!store) {
        std::fprintf(stderr, "skiff server: open the store in %s: %s\n", data_dir.c_str(), store.error().what().c_str());
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
    if (auto r = registry.ensure_default_namespaces(); !r) {
        std::fprintf(stderr, "skiff server: %s\n", r.error().what().c_str());
        return 1;
    }

    apiserver::HttpServerOptions options;
    options.address = address;
    options.port = static_cast<uint16_t>(port);
    options.threads = threads;
    auto server = apiserver::HttpServer::listen(options, apiserver::make_api_handler(&registry));
    if (!server) {
        std::fprintf(stderr, "skiff server: %s\n", server.error().what().c_str());
        return 1;
    }
    std::fprintf(stderr, "skiff server: serving the Kubernetes API on http://%s:%u\n", address.c_str(),
                 (*server)->port());
    std::thread waiter([&] {
        const timespec trim_interval{10, 0};
        while (sigtimedwait(&stop_signals, nullptr, &trim_interval) < 0) {
            if (errno == EAGAIN) malloc_trim(0);
        }
        (*server)->stop();
    });
    (*server)->run();
    // run() also returns if the server stops on its own: wake the waiter so it can be joined.
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    (*watches)->stop();
    std::fprintf(stderr, "skiff server: stopped\n");
    return 0;
}

}  // namespace skiff::cli
