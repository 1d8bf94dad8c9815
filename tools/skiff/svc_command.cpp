// `skiff svc`: services of the eBPF load balancer from the command line, the same ServiceLb calls the
// node agent makes from Services and EndpointSlices.
#include "skiff/cli/svc_command.hpp"

#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "skiff/base/fs.hpp"
#include "skiff/cli/options.hpp"
#include "skiff/cli/svc_nodeport_command.hpp"
#include "skiff/net/nodeport.hpp"
#include "skiff/net/service_lb.hpp"

namespace po = boost::program_options;
using json = nlohmann::json;

namespace skiff::cli {

namespace {

const char* kSvcUsage =
    "usage:\n"
    "  skiff svc add --vip ADDR:PORT[/tcp|udp] --backend ADDR:PORT... [--terminating ADDR:PORT...]\n"
    "                [--affinity SECONDS] [--node-port PORT] [--replace] [--cgroup DIR] [--bpffs DIR]\n"
    "  skiff svc rm [--bpffs DIR] (--vip ADDR:PORT[/PROTO] | ADDR:PORT[/PROTO]...)\n"
    "  skiff svc ls [--json] [--bpffs DIR]\n"
    "  skiff svc stats [--json] [--bpffs DIR]\n"
    "  skiff svc apply -f FILE|- [--cgroup DIR] [--bpffs DIR]\n"
    "  skiff svc unload [--bpffs DIR]\n"
    "  skiff svc nodeport attach|detach --dev IF... [--node-ip ADDR...] [--bpffs DIR]\n"
    "\n"
    "--cgroup: the cgroup2 directory whose processes' connections are balanced (on a node, the cgroup2\n"
    "root); needed the first time, when the programs are loaded. --bpffs: where maps and links are\n"
    "pinned (default /sys/fs/bpf/skiff).\n";

int usage_error(const std::string& msg) { return cli::usage_error("skiff svc", msg); }

int failure(const std::string& verb, const Error& e) {
    std::fprintf(stderr, "skiff svc %s: %s\n", verb.c_str(), e.what().c_str());
    return e.code() == EINVAL ? 2 : 1;
}

std::string backends_text(const net::Service& s) {
    std::string out;
    for (const auto& b : s.backends) {
        if (!out.empty()) out += ",";
        out += net::format_endpoint(b.endpoint) + (b.terminating ? "(terminating)" : "");
    }
    return out.empty() ? "-" : out;
}

int svc_add(const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("vip", po::value<std::string>())("backend", po::value<std::vector<std::string>>())(
        "terminating", po::value<std::vector<std::string>>())("affinity", po::value<uint32_t>()->default_value(0))(
        "node-port", po::value<uint32_t>()->default_value(0))("replace", po::bool_switch())(
        "cgroup", po::value<std::string>()->default_value(""))("bpffs", po::value<std::string>()->default_value(
                                                                             "/sys/fs/bpf/skiff"));
    po::variables_map vm;
    std::string error;
    if (!parse_options(args, d, vm, error)) return usage_error("add: " + error);
    if (!vm.count("vip")) return usage_error("add needs --vip ADDR:PORT[/PROTO]");
    net::Service s;
    auto key = net::parse_service_key(vm["vip"].as<std::string>());
    if (!key) return usage_error("add: --vip: " + key.error().message());
    s.key = *key;
    for (const char* opt : {"backend", "terminating"}) {
        if (!vm.count(opt)) continue;
        for (const auto& text : vm[opt].as<std::vector<std::string>>()) {
            auto e = net::parse_endpoint(text);
            if (!e) return usage_error(std::string("add: --") + opt + ": " + e.error().message());
            s.backends.push_back(net::Backend{*e, std::string(opt) == "terminating"});
        }
    }
    s.affinity_seconds = vm["affinity"].as<uint32_t>();
    if (s.affinity_seconds > 86400) return usage_error("add: --affinity: at most 86400 seconds");
    uint32_t node_port = vm["node-port"].as<uint32_t>();
    if (node_port > 65535) return usage_error("add: --node-port: " + std::to_string(node_port) + " is not a port");
    s.node_port = static_cast<uint16_t>(node_port);
    if (auto v = net::validate_service(s); !v) return usage_error("add: " + v.error().message());

    auto lb = net::ServiceLb::open({vm["cgroup"].as<std::string>(), vm["bpffs"].as<std::string>()});
    if (!lb) return failure("add", lb.error());
    if (!vm["replace"].as<bool>()) {
        auto existing = lb->get(s.key);
        if (!existing) return failure("add", existing.error());
        if (*existing)
            return failure("add", Error(EEXIST, "service " + net::format_service_key(s.key) +
                                                    " already exists (--replace to change it, or skiff svc apply)"));
    }
    if (auto r = lb->upsert(s); !r) return failure("add", r.error());
    return 0;
}

int svc_rm(const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("vip", po::value<std::vector<std::string>>())(
        "bpffs", po::value<std::string>()->default_value("/sys/fs/bpf/skiff"));
    po::variables_map vm;
    std::string error;
    if (!parse_options(args, d, vm, error, "vip")) return usage_error("rm: " + error);
    if (!vm.count("vip")) return usage_error("rm needs a service: --vip ADDR:PORT[/PROTO]");
    std::vector<net::ServiceKey> keys;
    for (const auto& text : vm["vip"].as<std::vector<std::string>>()) {
        auto key = net::parse_service_key(text);
        if (!key) return usage_error("rm: " + key.error().message());
        keys.push_back(*key);
    }
    auto lb = net::ServiceLb::open_existing(vm["bpffs"].as<std::string>());
    if (!lb) return failure("rm", lb.error());
    int rc = 0;
    for (const auto& k : keys)
        if (auto r = lb->remove(k); !r) rc = failure("rm", r.error());
    return rc;
}

int svc_ls(const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("json", po::bool_switch())("bpffs", po::value<std::string>()->default_value("/sys/fs/bpf/skiff"));
    po::variables_map vm;
    std::string error;
    if (!parse_options(args, d, vm, error)) return usage_error("ls: " + error);
    auto lb = net::ServiceLb::open_existing(vm["bpffs"].as<std::string>());
    if (!lb) return failure("ls", lb.error());
    auto services = lb->list();
    if (!services) return failure("ls", services.error());
    if (vm["json"].as<bool>()) {
        std::cout << net::services_to_json(*services) << "\n";
        return 0;
    }
    std::printf("%-22s %-9s %-9s %s\n", "SERVICE", "AFFINITY", "NODEPORT", "BACKENDS");
    for (const auto& s : *services) {
        std::string affinity = s.affinity_seconds ? std::to_string(s.affinity_seconds) + "s" : "-";
        std::string node_port = s.node_port ? std::to_string(s.node_port) : "-";
        std::printf("%-22s %-9s %-9s %s\n", net::format_service_key(s.key).c_str(), affinity.c_str(),
                    node_port.c_str(), backends_text(s).c_str());
    }
    return 0;
}

int svc_stats(const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("json", po::bool_switch())("bpffs", po::value<std::string>()->default_value("/sys/fs/bpf/skiff"));
    po::variables_map vm;
    std::string error;
    if (!parse_options(args, d, vm, error)) return usage_error("stats: " + error);
    auto lb = net::ServiceLb::open_existing(vm["bpffs"].as<std::string>());
    if (!lb) return failure("stats", lb.error());
    auto stats = lb->stats();
    if (!stats) return failure("stats", stats.error());
    if (vm["json"].as<bool>()) {
        json list = json::array();
        for (const auto& s : *stats) {
            json backends = json::array();
            for (const auto& b : s.backends)
                backends.push_back({{"address", net::format_endpoint(b.endpoint)},
                                    {"terminating", b.terminating},
                                    {"connections", b.connections}});
            list.push_back({{"vip", net::format_service_key(s.key)},
                            {"connections", s.connections},
                            {"refused", s.refused},
                            {"backends", backends}});
        }
        std::cout << list.dump(2) << "\n";
        return 0;
    }
    std::printf("%-24s %12s %8s\n", "SERVICE / BACKEND", "CONNECTIONS", "REFUSED");
    for (const auto& s : *stats) {
        std::printf("%-24s %12llu %8llu\n", net::format_service_key(s.key).c_str(),
                    static_cast<unsigned long long>(s.connections), static_cast<unsigned long long>(s.refused));
        for (const auto& b : s.backends)
            std::printf("  %-22s %12llu%s\n", net::format_endpoint(b.endpoint).c_str(),
                        static_cast<unsigned long long>(b.connections), b.terminating ? "  (terminating)" : "");
    }
    return 0;
}

int svc_apply(const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("file,f", po::value<std::string>())("cgroup", po::value<std::string>()->default_value(""))(
        "bpffs", po::value<std::string>()->default_value("/sys/fs/bpf/skiff"));
    po::variables_map vm;
    std::string error;
    if (!parse_options(args, d, vm, error)) return usage_error("apply: " + error);
    if (!vm.count("file")) return usage_error("apply needs -f FILE (or -f - for standard input)");
    std::string file = vm["file"].as<std::string>();
    std::string text;
    if (file == "-") {
        text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
        auto content = fs::read_file(file);
        if (!content) return failure("apply", content.error());
        text = std::move(*content);
    }
    auto services = net::parse_services_json(text);
    if (!services) return failure("apply", services.error().context(file == "-" ? "standard input" : file));
    auto lb = net::ServiceLb::open({vm["cgroup"].as<std::string>(), vm["bpffs"].as<std::string>()});
    if (!lb) return failure("apply", lb.error());
    if (auto r = lb->apply(*services); !r) return failure("apply", r.error());
    return 0;
}

int svc_unload(const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("bpffs", po::value<std::string>()->default_value("/sys/fs/bpf/skiff"));
    po::variables_map vm;
    std::string error;
    if (!parse_options(args, d, vm, error)) return usage_error("unload: " + error);
    const std::string& bpffs = vm["bpffs"].as<std::string>();
    // The NodePort filters first: they hold the maps that unload unpins.
    auto devices = net::nodeport_devices(bpffs);
    if (!devices) return failure("unload", devices.error());
    if (!devices->empty())
        if (auto r = net::detach_nodeport(bpffs, *devices); !r) return failure("unload", r.error());
    if (auto r = net::ServiceLb::unload(bpffs); !r) return failure("unload", r.error());
    return 0;
}

}  // namespace

int cmd_svc(const std::vector<std::string>& args) {
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
        std::fputs(kSvcUsage, args.empty() ? stderr : stdout);
        return args.empty() ? 2 : 0;
    }
    const std::string& verb = args[0];
    std::vector<std::string> rest(args.begin() + 1, args.end());
    if (verb == "add") return svc_add(rest);
    if (verb == "rm") return svc_rm(rest);
    if (verb == "ls") return svc_ls(rest);
    if (verb == "stats") return svc_stats(rest);
    if (verb == "apply") return svc_apply(rest);
    if (verb == "unload") return svc_unload(rest);
    if (verb == "nodeport") return cmd_svc_nodeport(rest);
    return usage_error("unknown command \"" + verb + "\"");
}

}  // namespace skiff::cli
