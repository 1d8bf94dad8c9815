// The pod network of a node: a bridge, a veth pair per pod namespace, IPAM, host-gw routes to the
// other nodes' pods and masquerade for traffic leaving the cluster (docs/design/network.md).
#pragma once

#include <optional>
#include <string>

#include "skiff/base/result.hpp"
#include "skiff/net/ipam.hpp"

namespace skiff::net {

struct PodNetworkConfig {
    std::string bridge = "skiff0";
    // This node's pods ("10.88.1.0/24", a /30 or larger); the bridge carries its first address
    // as the pods' gateway. May be empty for a PodNetwork used only for teardown and routes.
    std::string pod_cidr;
    // Every node's pods ("10.88.0.0/16"): traffic to it is not masqueraded. Empty: pod_cidr.
    std::string cluster_cidr;
    int mtu = 1500;                                // of the bridge and both ends of every veth
    std::string state_dir = "/var/lib/skiff/net";  // IPAM under STATE_DIR/ipam/
    bool masquerade = true;
};

struct PodAddress {
    std::string ip;  // "10.88.1.2"
    int prefix = 0;  // of the pod CIDR
    std::string gateway;
    std::string host_veth;  // the host end, "vsk" + 8 hex digits of the pod id's hash
};

// Works in the network namespace of the calling thread (the node's; in tests a namespace made
// for the test). Not thread-safe as an object; IPAM itself is safe across processes.
class PodNetwork {
  public:
    // Checks the configuration (EINVAL naming the bad field) and opens the IPAM state; changes
    // nothing in the kernel.
    [[nodiscard]] static Result<PodNetwork> open(PodNetworkConfig config);

    const PodNetworkConfig& config() const { return config_; }

    // The node's part, idempotent: the bridge (up, MTU, gateway address), ip_forward=1 and, with
    // masquerade, the SKIFF-POSTROUTING nat chain. setup_pod_network() calls it once per object.
    [[nodiscard]] Status ensure_node();

    // Wires the network namespace at netns_path (e.g. /run/netns/p1 or /proc/PID/ns/net) to the
    // bridge: a veth pair whose peer is made inside it as ifname, an address from IPAM, lo up and
    // a default route via the gateway. Repeating it for the same pod id converges to the same
    // state and address. On failure, whatever this call created is removed again.
    [[nodiscard]] Result<PodAddress> setup_pod_network(const std::string& netns_path,
                                                       const std::string& pod_id,
                                                       const std::string& ifname = "eth0");

    // Deletes the pod's host veth (its peer goes with it) and releases its address in every pool
    // under state_dir. Idempotent, and cleans up after a setup that died at any point. The
    // namespace need not exist any more; it is not needed to find what to remove.
    [[nodiscard]] Status teardown(const std::string& netns_path, const std::string& pod_id);

    // The address IPAM holds for the pod, if any.
    [[nodiscard]] Result<std::optional<std::string>> pod_ip(const std::string& pod_id) const;

    // host-gw: the route to another node's pod CIDR via that node's address (replaced if there
    // is one) and its removal (none is fine).
    [[nodiscard]] Status add_node_route(const std::string& cidr, const std::string& via);
    [[nodiscard]] Status remove_node_route(const std::string& cidr);

    // "vsk" + FNV-1a of the pod id as 8 hex digits: 11 characters, stable across versions.
    static std::string host_veth_name(const std::string& pod_id);

  private:
    PodNetwork() = default;

    PodNetworkConfig config_;
    std::optional<Ipv4Net> pod_net_;
    std::optional<Ipv4Net> cluster_net_;
    std::optional<Ipam> ipam_;
    bool node_ready_ = false;
};

// A Linux interface name: 1..15 characters, no '/', ':' or whitespace; EINVAL naming `what`.
[[nodiscard]] Status validate_ifname(const std::string& name, const std::string& what);

}  // namespace skiff::net
