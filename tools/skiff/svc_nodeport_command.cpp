// `skiff svc nodeport attach|detach`: the NodePort tc program on the node's devices, by hand.
#include "skiff/cli/svc_nodeport_command.hpp"

#include <arpa/inet.h>

#include <boost/program_options.hpp>
#include <cstdio>

#include "skiff/cli/options.hpp"
#include "skiff/net/nodeport.hpp"

namespace po = boost::program_options;

namespace skiff::cli {

namespace {

const char* kNodePortUsage =
    "usage:\n"
    "  skiff svc nodeport attach --dev IF [--dev IF...] [--node-ip ADDR...] [--bpffs DIR]\n"
    "  skiff svc nodeport detach --dev IF [--dev IF...] [--bpffs DIR]\n"
    "\n"
    "attach loads the NodePort program (tc clsact ingress) on each device: the node's external\n"
    "interfaces and the pod bridge. A service's nodePort then answers on the node addresses: the\n"
    "--node-ip ones, else the devices' IPv4 addresses. Attaching again replaces the program.\n"
    "detach removes it from the devices. Both work in the current network namespace.\n"
    "--bpffs: where the load balancer's maps are pinned (default /sys/fs/bpf/skiff).\n";

int usage_error(const std::string& msg) { return cli::usage_error("skiff svc nodeport", msg); }

int failure(const std::string& verb, const Error& e) {
    std::fprintf(stderr, "skiff svc nodeport %s: %s\n", verb.c_str(), e.what().c_str());
    return 1;
}

}  // namespace

int cmd_svc_nodeport(const std::vector<std::string>& args) {
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
        std::fputs(kNodePortUsage, args.empty() ? stderr : stdout);
        return args.empty() ? 2 : 0;
    }
    const std::string& verb = args[0];
    if (verb != "attach" && verb != "detach")
        return usage_error("unknown command \"" + verb + "\"");
    bool attach = verb == "attach";

    po::options_description d;
    d.add_options()("dev", po::value<std::vector<std::string>>())(
        "bpffs", po::value<std::string>()->default_value("/sys/fs/bpf/skiff"));
    if (attach) d.add_options()("node-ip", po::value<std::vector<std::string>>());
    po::variables_map vm;
    std::string error;
    if (!parse_options(std::vector<std::string>(args.begin() + 1, args.end()), d, vm, error))
        return usage_error(verb + ": " + error);
    if (!vm.count("dev")) return usage_error(verb + " needs at least one --dev IF");
    auto devices = vm["dev"].as<std::vector<std::string>>();
    std::vector<std::string> node_ips;
    if (vm.count("node-ip")) node_ips = vm["node-ip"].as<std::vector<std::string>>();
    for (const auto& ip : node_ips) {
        in_addr a{};
        if (inet_pton(AF_INET, ip.c_str(), &a) != 1 || a.s_addr == 0)
            return usage_error(verb + ": --node-ip: '" + ip + "' is not an IPv4 address");
    }
    const std::string& bpffs = vm["bpffs"].as<std::string>();

    Status r = attach ? net::attach_nodeport(bpffs, devices, node_ips)
                      : net::detach_nodeport(bpffs, devices);
    if (!r) return failure(verb, r.error());
    return 0;
}

}  // namespace skiff::cli
