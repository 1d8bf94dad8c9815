// `skiff net setup|teardown|route`: the node's pod network (net/pod_network.hpp) for bare-metal
// users and tests.
#include "skiff/cli/net_command.hpp"

#include <boost/program_options.hpp>
#include <cstdio>

#include "skiff/cli/options.hpp"
#include "skiff/net/ipam.hpp"
#include "skiff/net/pod_network.hpp"

namespace po = boost::program_options;

namespace skiff {

namespace {

const char* kNetUsage =
    "usage:\n"
    "  skiff net setup --netns PATH --pod ID --pod-cidr CIDR [--cluster-cidr CIDR]\n"
    "                  [--bridge NAME] [--mtu N] [--state-dir DIR] [--ifname NAME]\n"
    "                  [--no-masquerade]             prints the pod's IP/PREFIX\n"
    "  skiff net teardown --pod ID [--netns PATH] [--state-dir DIR] [setup's options]\n"
    "  skiff net route add CIDR via IP               route to another node's pods\n"
    "  skiff net route rm CIDR\n"
    "defaults: --bridge skiff0, --mtu 1500, --state-dir /var/lib/skiff/net, --ifname eth0,\n"
    "          --cluster-cidr the pod CIDR\n";

int usage_error(const std::string& msg) { return cli::usage_error("skiff net", msg); }

int failed(const Error& e) {
    std::fprintf(stderr, "skiff net: %s\n", e.what().c_str());
    return 1;
}

// Bad configuration (a CIDR, an MTU...) is the caller's mistake: exit 2 like other usage errors.
int config_error(const Error& e) {
    std::fprintf(stderr, "skiff net: %s\n", e.what().c_str());
    return e.code() == EINVAL ? 2 : 1;
}

std::string get(const po::variables_map& vm, const char* name) {
    return vm.count(name) ? vm[name].as<std::string>() : std::string();
}

// setup and teardown share their options, so one set of flags can be passed to both.
int pod_command(const std::string& sub, const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("netns", po::value<std::string>(), "")("pod", po::value<std::string>(), "")(
        "pod-cidr", po::value<std::string>(), "")("cluster-cidr", po::value<std::string>(), "")(
        "bridge", po::value<std::string>(), "")("mtu", po::value<int>(), "")(
        "state-dir", po::value<std::string>(), "")("ifname", po::value<std::string>(), "")(
        "no-masquerade", po::bool_switch(), "");
    po::variables_map vm;
    if (std::string error; !cli::parse_options(args, d, vm, error)) return usage_error(sub + ": " + error);
    bool setup = sub == "setup";
    if (!vm.count("pod")) return usage_error(sub + " needs --pod ID");
    if (setup && !vm.count("netns")) return usage_error("setup needs --netns PATH");
    if (setup && !vm.count("pod-cidr")) return usage_error("setup needs --pod-cidr CIDR");
    std::string pod = get(vm, "pod");
    if (auto s = net::validate_owner(pod); !s) return usage_error("--pod: " + s.error().message());
    std::string ifname = vm.count("ifname") ? get(vm, "ifname") : "eth0";
    if (auto s = net::validate_ifname(ifname, "--ifname"); !s)
        return usage_error(s.error().message());
    std::string netns = get(vm, "netns");
    if (setup && netns.empty()) return usage_error("--netns is empty");

    net::PodNetworkConfig config;
    config.pod_cidr = get(vm, "pod-cidr");
    config.cluster_cidr = get(vm, "cluster-cidr");
    if (vm.count("bridge")) config.bridge = get(vm, "bridge");
    if (vm.count("mtu")) config.mtu = vm["mtu"].as<int>();
    if (vm.count("state-dir")) config.state_dir = get(vm, "state-dir");
    config.masquerade = !vm["no-masquerade"].as<bool>();
    auto network = net::PodNetwork::open(config);
    if (!network) return config_error(network.error());

    if (setup) {
        auto addr = network->setup_pod_network(netns, pod, ifname);
        if (!addr) return failed(addr.error());
        std::printf("%s/%d\n", addr->ip.c_str(), addr->prefix);
        return 0;
    }
    if (auto s = network->teardown(netns, pod); !s) return failed(s.error());
    return 0;
}

int route_command(const std::vector<std::string>& args) {
    if (args.empty()) return usage_error("route needs add or rm");
    const std::string& op = args[0];
    net::PodNetworkConfig config;  // no pod CIDR: routes only
    if (op == "add") {
        if (args.size() != 4 || args[2] != "via")
            return usage_error("usage: skiff net route add CIDR via IP");
        if (auto c = net::Ipv4Net::parse(args[1]); !c) return usage_error(c.error().message());
        if (auto ip = net::parse_ipv4(args[3]); !ip)
            return usage_error("via: " + ip.error().message());
        auto network = net::PodNetwork::open(config);
        if (!network) return config_error(network.error());
        if (auto s = network->add_node_route(args[1], args[3]); !s) return failed(s.error());
        return 0;
    }
    if (op == "rm" || op == "del" || op == "delete") {
        if (args.size() != 2) return usage_error("usage: skiff net route rm CIDR");
        if (auto c = net::Ipv4Net::parse(args[1]); !c) return usage_error(c.error().message());
        auto network = net::PodNetwork::open(config);
        if (!network) return config_error(network.error());
        if (auto s = network->remove_node_route(args[1]); !s) return failed(s.error());
        return 0;
    }
    return usage_error("unknown route operation \"" + op + "\" (add or rm)");
}

}  // namespace

int cmd_net(const std::vector<std::string>& args) {
    if (args.empty()) {
        std::fputs(kNetUsage, stderr);
        return 2;
    }
    const std::string& sub = args[0];
    std::vector<std::string> rest(args.begin() + 1, args.end());
    if (sub == "--help" || sub == "-h" || sub == "help") {
        std::fputs(kNetUsage, stdout);
        return 0;
    }
    if (sub == "setup" || sub == "teardown") return pod_command(sub, rest);
    if (sub == "route") return route_command(rest);
    return usage_error("unknown net subcommand \"" + sub + "\" (setup, teardown, route)");
}

}  // namespace skiff
