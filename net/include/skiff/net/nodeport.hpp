// NodePort: the tc program that takes traffic for a node address and a service's nodePort to the
// service's backends (SNAT mode), attached to the clsact ingress hook of the node's devices.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "skiff/base/result.hpp"

namespace skiff::net {

// The tc filter of the NodePort program: clsact ingress, this handle and priority on every device.
inline constexpr uint32_t kNodePortTcHandle = 0x5f1f;
inline constexpr uint32_t kNodePortTcPriority = 0x5f1f;

// Loads the NodePort program (its maps and the load balancer's maps pinned under <bpffs>/maps/,
// pinned ones reused) and attaches it to the clsact ingress of each device (Ethernet devices only:
// the external interfaces and the pod bridge), replacing a filter attached before. The nodePorts
// answer on node_ips (IPv4 addresses); when node_ips is empty, on the IPv4 addresses the devices
// have now. Addresses are kept per device: attaching a device again replaces its addresses,
// explicit node_ips replace the explicit ones given before. Works in the calling process's network
// namespace, which must forward IPv4 (net.ipv4.ip_forward=1) like any node that routes to pods.
[[nodiscard]] Status attach_nodeport(const std::string& bpffs,
                                     const std::vector<std::string>& devices,
                                     const std::vector<std::string>& node_ips = {});

// Removes the NodePort filter from each device and the device's node addresses (and those of
// devices that no longer exist). A device without the filter, or no longer there, is fine. The
// clsact qdisc stays: other programs may use it. The conntrack maps stay pinned (skiff svc unload
// removes them).
[[nodiscard]] Status detach_nodeport(const std::string& bpffs,
                                     const std::vector<std::string>& devices);

// The node addresses the nodePorts answer on (dotted quads, sorted); empty when nothing is pinned.
[[nodiscard]] Result<std::vector<std::string>> nodeport_addresses(const std::string& bpffs);

// The devices (of this network namespace) the NodePort program was attached to with their own
// addresses, as recorded in the pinned address map; what `skiff svc unload` detaches.
[[nodiscard]] Result<std::vector<std::string>> nodeport_devices(const std::string& bpffs);

}  // namespace skiff::net
