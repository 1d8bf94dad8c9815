// The NodePort loader: loads net/bpf/nodeport.bpf.c with the load balancer's pinned maps, fills the
// node address map and attaches the program to the clsact ingress hook of the given devices.
#include "skiff/net/nodeport.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/magic.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstring>
#include <memory>
#include <set>

#include "nodeport.skel.h"
#include "skiff/base/fs.hpp"
#include "skiff/base/unique_fd.hpp"
#include "skiff/net/bpf_nodeport_types.h"
#include "skiff/net/bpf_types.h"
#include "bpf_pins.hpp"

namespace skiff::net {

using bpf_pins::is_on;
using bpf_pins::libbpf_error;
using bpf_pins::map_pin;

namespace {

struct Device {
    std::string name;
    uint32_t ifindex = 0;
};

// The program rewrites Ethernet frames and hands them to bpf_redirect: only Ethernet devices.
Result<Device> ethernet_device(const std::string& name) {
    if (name.empty() || name.size() >= IFNAMSIZ)
        return Error(EINVAL, "bad device name '" + name + "'");
    Device d{name, if_nametoindex(name.c_str())};
    if (d.ifindex == 0)
        return Error(ENODEV, "device " + name + ": no such device in this network namespace");
    UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock) return Error::from_errno("socket");
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, name.c_str(), name.size());
    if (ioctl(sock.get(), SIOCGIFHWADDR, &ifr) != 0) return Error::from_errno("device " + name);
    if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER)
        return Error(EINVAL, "device " + name + " is not an Ethernet device (type " +
                                 std::to_string(ifr.ifr_hwaddr.sa_family) + ")");
    return d;
}

// The IPv4 addresses of a device (labels "dev:N" included), in network byte order.
Result<std::vector<uint32_t>> device_addresses(const std::string& name) {
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) return Error::from_errno("getifaddrs");
    std::unique_ptr<ifaddrs, decltype(&freeifaddrs)> owner(list, freeifaddrs);
    std::vector<uint32_t> out;
    for (ifaddrs* a = list; a; a = a->ifa_next) {
        if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET || !a->ifa_name) continue;
        std::string n = a->ifa_name;
        if (n != name && n.rfind(name + ":", 0) != 0) continue;
        out.push_back(reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr.s_addr);
    }
    return out;
}

Result<uint32_t> parse_node_ip(const std::string& text) {
    in_addr a{};
    if (inet_pton(AF_INET, text.c_str(), &a) != 1)
        return Error(EINVAL, "node address '" + text + "' is not an IPv4 address");
    if (a.s_addr == 0) return Error(EINVAL, "node address 0.0.0.0 is not an address");
    return a.s_addr;
}

std::string format_ip(uint32_t be) {
    char buf[INET_ADDRSTRLEN];
    in_addr a{be};
    inet_ntop(AF_INET, &a, buf, sizeof buf);
    return buf;
}

// Deletes the address entries whose interface index satisfies drop.
template <class Pred>
Status remove_addresses(int map_fd, Pred drop) {
    std::vector<uint32_t> doomed;
    uint32_t key = 0, next = 0;
    uint32_t* prev = nullptr;
    while (bpf_map_get_next_key(map_fd, prev, &next) == 0) {
        skiff_np_addr value{};
        if (bpf_map_lookup_elem(map_fd, &next, &value) == 0 && drop(value.ifindex))
            doomed.push_back(next);
        key = next;
        prev = &key;
    }
    for (uint32_t a : doomed)
        if (bpf_map_delete_elem(map_fd, &a) != 0 && errno != ENOENT)
            return Error::from_errno("remove node address " + format_ip(a));
    return {};
}

Status add_address(int map_fd, uint32_t addr, uint32_t ifindex) {
    skiff_np_addr value{ifindex};
    if (bpf_map_update_elem(map_fd, &addr, &value, BPF_ANY) != 0)
        return Error::from_errno("add node address " + format_ip(addr));
    return {};
}

bool device_gone(uint32_t ifindex) {
    char name[IF_NAMESIZE];
    return ifindex != 0 && if_indextoname(ifindex, name) == nullptr;
}

using Skeleton = std::unique_ptr<nodeport, decltype(&nodeport__destroy)>;

// The program with every map of the object pinned under bpffs/maps (pinned ones reused).
Result<Skeleton> load_program(const std::string& bpffs) {
    Skeleton skel(nodeport__open(), nodeport__destroy);
    if (!skel) return libbpf_error(errno, "open the NodePort program");
    skel->rodata->snat_port_min = SKIFF_NP_SNAT_PORT_MIN;
    skel->rodata->snat_port_max = SKIFF_NP_SNAT_PORT_MAX;
    bpf_map* map;
    bpf_object__for_each_map(map, skel->obj) {
        if (bpf_map__is_internal(map)) continue;  // .rodata: this program's own
        if (int err = bpf_map__set_pin_path(map, map_pin(bpffs, bpf_map__name(map)).c_str()))
            return libbpf_error(err, std::string("pin path of map ") + bpf_map__name(map));
    }
    if (int err = nodeport__load(skel.get())) return libbpf_error(err, "load the NodePort program");
    return skel;
}

Status attach_device(const Device& dev, int prog_fd) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(dev.ifindex),
                .attach_point = BPF_TC_INGRESS);
    int err = bpf_tc_hook_create(&hook);
    if (err && err != -EEXIST) return libbpf_error(err, "add the clsact qdisc to " + dev.name);
    LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE,
                .handle = kNodePortTcHandle, .priority = kNodePortTcPriority);
    if ((err = bpf_tc_attach(&hook, &opts)))
        return libbpf_error(err, "attach the NodePort program to " + dev.name + " ingress");
    return {};
}

}  // namespace

Status attach_nodeport(const std::string& bpffs, const std::vector<std::string>& devices,
                       const std::vector<std::string>& node_ips) {
    bpf_pins::capture_libbpf_messages();
    if (devices.empty()) return Error(EINVAL, "attach NodePort: no device given");

    std::vector<Device> devs;
    for (const auto& name : devices) {
        auto d = ethernet_device(name);
        if (!d) return std::move(d).error().context("attach NodePort");
        devs.push_back(*d);
    }
    std::vector<uint32_t> explicit_ips;
    for (const auto& ip : node_ips) {
        auto a = parse_node_ip(ip);
        if (!a) return std::move(a).error().context("attach NodePort");
        explicit_ips.push_back(*a);
    }

    SKIFF_TRY_CTX(bpf_pins::prepare(bpffs), "attach NodePort");
    auto lock = bpf_pins::lock(bpffs);
    if (!lock) return std::move(lock).error().context("attach NodePort");
    auto skel = load_program(bpffs);
    if (!skel) return std::move(skel).error().context("attach NodePort");

    // Addresses before the filters: the program answers only on what is in the map.
    int addrs = bpf_map__fd((*skel)->maps.skiff_np_addrs);
    std::set<uint32_t> ifindexes;
    for (const auto& d : devs) ifindexes.insert(d.ifindex);
    bool replace_explicit = !explicit_ips.empty();
    SKIFF_TRY_CTX(remove_addresses(addrs,
                                   [&](uint32_t ifindex) {
                                       return ifindexes.count(ifindex) ||
                                              (replace_explicit && ifindex == 0) ||
                                              device_gone(ifindex);
                                   }),
                  "attach NodePort");
    if (replace_explicit) {
        for (uint32_t a : explicit_ips) SKIFF_TRY_CTX(add_address(addrs, a, 0), "attach NodePort");
    } else {
        for (const auto& d : devs) {
            auto found = device_addresses(d.name);
            if (!found) return std::move(found).error().context("attach NodePort");
            for (uint32_t a : *found)
                SKIFF_TRY_CTX(add_address(addrs, a, d.ifindex), "attach NodePort");
        }
    }

    int prog_fd = bpf_program__fd((*skel)->progs.skiff_nodeport);
    for (const auto& d : devs) SKIFF_TRY_CTX(attach_device(d, prog_fd), "attach NodePort");
    return {};
}

Status detach_nodeport(const std::string& bpffs, const std::vector<std::string>& devices) {
    bpf_pins::capture_libbpf_messages();
    if (devices.empty()) return Error(EINVAL, "detach NodePort: no device given");
    std::set<uint32_t> ifindexes;
    for (const auto& name : devices) {
        if (name.empty() || name.size() >= IFNAMSIZ)
            return Error(EINVAL, "detach NodePort: bad device name '" + name + "'");
        uint32_t ifindex = if_nametoindex(name.c_str());
        if (ifindex == 0) continue;  // gone, and its filters with it
        ifindexes.insert(ifindex);
        LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex),
                    .attach_point = BPF_TC_INGRESS);
        LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kNodePortTcHandle,
                    .priority = kNodePortTcPriority);
        int err = bpf_tc_detach(&hook, &opts);
        // ENOENT: no such filter; EINVAL: no clsact qdisc on the device at all.
        if (err && err != -ENOENT && err != -EINVAL)
            return libbpf_error(err, "detach NodePort: remove the filter from " + name);
    }

    std::string pin = map_pin(bpffs, SKIFF_MAP_NP_ADDRS);
    if (!fs::exists(pin)) return {};
    auto lock = bpf_pins::lock(bpffs);
    if (!lock) return std::move(lock).error().context("detach NodePort");
    UniqueFd addrs(bpf_obj_get(pin.c_str()));
    if (!addrs) return Error::from_errno("detach NodePort: open pinned map " + pin);
    SKIFF_TRY_CTX(remove_addresses(addrs.get(),
                                   [&](uint32_t ifindex) {
                                       return ifindexes.count(ifindex) || device_gone(ifindex);
                                   }),
                  "detach NodePort");
    return {};
}

Result<std::vector<std::string>> nodeport_addresses(const std::string& bpffs) {
    std::string pin = map_pin(bpffs, SKIFF_MAP_NP_ADDRS);
    std::vector<std::string> out;
    if (!fs::exists(pin)) return out;
    UniqueFd fd(bpf_obj_get(pin.c_str()));
    if (!fd) return Error::from_errno("open pinned map " + pin);
    std::vector<uint32_t> addrs;
    uint32_t key = 0, next = 0;
    uint32_t* prev = nullptr;
    while (bpf_map_get_next_key(fd.get(), prev, &next) == 0) {
        addrs.push_back(next);
        key = next;
        prev = &key;
    }
    std::sort(addrs.begin(), addrs.end(),
              [](uint32_t a, uint32_t b) { return ntohl(a) < ntohl(b); });
    for (uint32_t a : addrs) out.push_back(format_ip(a));
    return out;
}

}  // namespace skiff::net

namespace skiff::net {

Result<std::vector<std::string>> nodeport_devices(const std::string& bpffs) {
    std::string pin = map_pin(bpffs, SKIFF_MAP_NP_ADDRS);
    std::vector<std::string> out;
    if (!fs::exists(pin)) return out;
    UniqueFd fd(bpf_obj_get(pin.c_str()));
    if (!fd) return Error::from_errno("open pinned map " + pin);
    std::set<std::string> names;
    uint32_t key = 0, next = 0;
    uint32_t* prev = nullptr;
    while (bpf_map_get_next_key(fd.get(), prev, &next) == 0) {
        skiff_np_addr value{};
        char name[IF_NAMESIZE] = {};
        if (bpf_map_lookup_elem(fd.get(), &next, &value) == 0 && value.ifindex && if_indextoname(value.ifindex, name))
            names.insert(name);
        key = next;
        prev = &key;
    }
    out.assign(names.begin(), names.end());
    return out;
}

}  // namespace skiff::net
