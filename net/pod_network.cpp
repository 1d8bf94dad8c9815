// The pod network: bridge, per-pod veth pairs and addresses, host-gw routes, masquerade.
#include "skiff/net/pod_network.hpp"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <vector>

#include "netlink.hpp"
#include "skiff/base/fs.hpp"
#include "skiff/base/process.hpp"
#include "skiff/base/unique_fd.hpp"

namespace skiff::net {

namespace {

constexpr const char* kMasqueradeChain = "SKIFF-POSTROUTING";

// The network namespace file at path, checked to be one and not the caller's own (a pod's
// default route must never land on the node).
Result<UniqueFd> open_netns(const std::string& path) {
    std::string what = "open network namespace " + path;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return Error::from_errno(what);
    int type = ::ioctl(fd.get(), NS_GET_NSTYPE);
    if (type != CLONE_NEWNET) return Error(EINVAL, what + ": not a network namespace");
    struct stat target {
    }, self{};
    if (::fstat(fd.get(), &target) != 0) return Error::from_errno(what + ": stat");
    if (::stat("/proc/thread-self/ns/net", &self) != 0)
        return Error::from_errno(what + ": stat /proc/thread-self/ns/net");
    if (target.st_dev == self.st_dev && target.st_ino == self.st_ino)
        return Error(EINVAL, what + ": it is the node's own network namespace");
    return fd;
}

struct CommandResult {
    int exit_code = 0;
    std::string output;  // stdout and stderr together
};

// Runs iptables with a fixed argv (no shell, no PATH lookup of our caller's).
Result<CommandResult> run_iptables(const std::vector<std::string>& args) {
    const char* bin = nullptr;
    for (const char* c : {"/usr/sbin/iptables", "/sbin/iptables", "/usr/bin/iptables"})
        if (::access(c, X_OK) == 0) {
            bin = c;
            break;
        }
    if (!bin)
        return Error(ENOENT,
                     "iptables is not installed (/usr/sbin/iptables); install it or turn "
                     "masquerade off");
    // Everything the child needs is made before fork: it only dup2s and execs.
    std::vector<std::string> words = {"iptables", "-w", "10"};
    words.insert(words.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    static char path_env[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
    char* envp[] = {path_env, nullptr};
    std::string shown = "iptables";
    for (const auto& a : args) shown += " " + a;

    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return Error::from_errno("pipe for " + shown);
    UniqueFd rd(p[0]), wr(p[1]);
    UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!devnull) return Error::from_errno("open /dev/null");
    pid_t pid = ::fork();
    if (pid < 0) return Error::from_errno("fork for " + shown);
    if (pid == 0) {
        if (::dup2(devnull.get(), 0) < 0 || ::dup2(wr.get(), 1) < 0 || ::dup2(wr.get(), 2) < 0)
            ::_exit(126);
        ::execve(bin, argv.data(), envp);
        ::_exit(127);
    }
    wr.reset();
    CommandResult out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(rd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (out.output.size() < 65536) out.output.append(buf, static_cast<size_t>(n));
    }
    auto code = wait_for_child(pid, shown);
    if (!code) return std::move(code).error();
    out.exit_code = *code;
    while (!out.output.empty() && (out.output.back() == '\n' || out.output.back() == ' '))
        out.output.pop_back();
    return out;
}

Error iptables_error(const std::vector<std::string>& args, const CommandResult& r) {
    std::string shown = "iptables";
    for (const auto& a : args) shown += " " + a;
    return Error(shown + ": exit " + std::to_string(r.exit_code) +
                 (r.output.empty() ? "" : ": " + r.output));
}

// Appends rule (table, chain, match...) unless `iptables -C` finds it.
Status ensure_rule(const std::string& table, const std::string& chain,
                   const std::vector<std::string>& rule) {
    std::vector<std::string> check = {"-t", table, "-C", chain};
    check.insert(check.end(), rule.begin(), rule.end());
    auto c = run_iptables(check);
    if (!c) return std::move(c).error();
    if (c->exit_code == 0) return {};
    std::vector<std::string> append = {"-t", table, "-A", chain};
    append.insert(append.end(), rule.begin(), rule.end());
    auto a = run_iptables(append);
    if (!a) return std::move(a).error();
    if (a->exit_code != 0) return iptables_error(append, *a);
    return {};
}

Status ensure_chain(const std::string& table, const std::string& chain) {
    std::vector<std::string> list = {"-t", table, "-S", chain};
    auto l = run_iptables(list);
    if (!l) return std::move(l).error();
    if (l->exit_code == 0) return {};
    std::vector<std::string> create = {"-t", table, "-N", chain};
    auto n = run_iptables(create);
    if (!n) return std::move(n).error();
    if (n->exit_code == 0) return {};
    // Someone else may have made it meanwhile.
    auto again = run_iptables(list);
    if (again && again->exit_code == 0) return {};
    return iptables_error(create, *n);
}

Status ensure_masquerade(const Ipv4Net& pods, const Ipv4Net& cluster) {
    SKIFF_TRY(ensure_chain("nat", kMasqueradeChain));
    SKIFF_TRY(ensure_rule(
        "nat", "POSTROUTING",
        {"-m", "comment", "--comment", "skiff: masquerade pod traffic", "-j", kMasqueradeChain}));
    return ensure_rule("nat", kMasqueradeChain,
                       {"-s", pods.str(), "!", "-d", cluster.str(), "-j", "MASQUERADE"});
}

Status enable_ip_forward() {
    const std::string path = "/proc/sys/net/ipv4/ip_forward";
    if (auto cur = fs::read_file(path); cur && cur->rfind("1", 0) == 0) return {};
    SKIFF_TRY_CTX(fs::write_file(path, "1\n"), "enable net.ipv4.ip_forward");
    return {};
}

}  // namespace

Status validate_ifname(const std::string& name, const std::string& what) {
    auto bad = [&](const std::string& why) {
        return Error(EINVAL, what + " \"" + name + "\" is not a valid interface name: " + why);
    };
    if (name.empty()) return bad("it is empty");
    if (name.size() > 15) return bad("longer than 15 characters");
    if (name == "." || name == "..") return bad("reserved");
    for (unsigned char c : name)
        if (c == '/' || c == ':' || !std::isgraph(c)) return bad("it has '/', ':' or whitespace");
    return {};
}

std::string PodNetwork::host_veth_name(const std::string& pod_id) {
    uint32_t h = 2166136261u;  // FNV-1a: fixed, unlike std::hash, so names survive upgrades
    for (unsigned char c : pod_id) {
        h ^= c;
        h *= 16777619u;
    }
    char buf[16];
    std::snprintf(buf, sizeof buf, "vsk%08x", h);
    return buf;
}

Result<PodNetwork> PodNetwork::open(PodNetworkConfig config) {
    PodNetwork pn;
    SKIFF_TRY_CTX(validate_ifname(config.bridge, "bridge"), "pod network");
    if (config.mtu < 68 || config.mtu > 65535)
        return Error(EINVAL, "pod network: MTU " + std::to_string(config.mtu) +
                                 " is out of range (68..65535)");
    if (config.state_dir.empty()) return Error(EINVAL, "pod network: the state directory is empty");
    if (!config.pod_cidr.empty()) {
        auto pods = Ipv4Net::parse(config.pod_cidr);
        if (!pods) return std::move(pods).error().context("pod network: pod CIDR");
        pn.pod_net_ = *pods;
    }
    if (!config.cluster_cidr.empty()) {
        auto cluster = Ipv4Net::parse(config.cluster_cidr);
        if (!cluster) return std::move(cluster).error().context("pod network: cluster CIDR");
        if (pn.pod_net_ &&
            !(cluster->contains(pn.pod_net_->network) && cluster->prefix <= pn.pod_net_->prefix))
            return Error(EINVAL, "pod network: the cluster CIDR " + cluster->str() +
                                     " does not contain the pod CIDR " + pn.pod_net_->str());
        pn.cluster_net_ = *cluster;
    } else {
        pn.cluster_net_ = pn.pod_net_;
    }
    if (pn.pod_net_) {
        auto ipam = Ipam::open(config.state_dir, *pn.pod_net_);
        if (!ipam) return std::move(ipam).error().context("pod network");
        pn.ipam_ = std::move(*ipam);
    }
    pn.config_ = std::move(config);
    return pn;
}

Status PodNetwork::ensure_node() {
    if (!pod_net_) return Error(EINVAL, "prepare the node: no pod CIDR configured");
    const std::string& name = config_.bridge;
    std::string what = "prepare bridge " + name;
    auto host = nl::Socket::open();
    if (!host) return std::move(host).error().context(what);
    auto bridge = nl::find_link(*host, name);
    if (!bridge) return std::move(bridge).error().context(what);
    if (!*bridge) {
        auto created = nl::create_bridge(*host, name);
        if (!created) return std::move(created).error();
        bridge = nl::find_link(*host, name);
        if (!bridge) return std::move(bridge).error().context(what);
        if (!*bridge) return Error(ENODEV, what + ": it vanished after its creation");
    }
    const nl::Link& br = **bridge;
    if (br.kind != "bridge")
        return Error(EEXIST, what + ": a link of that name exists and is " +
                                 (br.kind.empty() ? "not a bridge" : "a " + br.kind));
    uint32_t gateway = pod_net_->network + 1;
    SKIFF_TRY_CTX(nl::add_address(*host, br, gateway, pod_net_->prefix), what);
    SKIFF_TRY_CTX(nl::change_link(*host, br, {static_cast<unsigned>(config_.mtu), true, {}, {}}),
                  what);
    SKIFF_TRY(enable_ip_forward());
    if (config_.masquerade)
        SKIFF_TRY_CTX(ensure_masquerade(*pod_net_, *cluster_net_), "masquerade " + pod_net_->str());
    node_ready_ = true;
    return {};
}

Result<PodAddress> PodNetwork::setup_pod_network(const std::string& netns_path,
                                                 const std::string& pod_id,
                                                 const std::string& ifname) {
    std::string what = "setup pod " + pod_id;
    SKIFF_TRY_CTX(validate_owner(pod_id), "setup pod");
    SKIFF_TRY_CTX(validate_ifname(ifname, "pod interface"), what);
    if (!ipam_) return Error(EINVAL, what + ": no pod CIDR configured");
    auto ns = open_netns(netns_path);
    if (!ns) return std::move(ns).error().context(what);
    if (!node_ready_) SKIFF_TRY_CTX(ensure_node(), what);

    auto host = nl::Socket::open();
    if (!host) return std::move(host).error().context(what);
    auto bridge = nl::find_link(*host, config_.bridge);
    if (bridge && !*bridge) {
        // Deleted since ensure_node() ran: make it again.
        SKIFF_TRY_CTX(ensure_node(), what);
        bridge = nl::find_link(*host, config_.bridge);
    }
    if (!bridge) return std::move(bridge).error().context(what);
    if (!*bridge) return Error(ENODEV, what + ": bridge " + config_.bridge + " is gone");
    const std::string veth = host_veth_name(pod_id);
    const unsigned mtu = static_cast<unsigned>(config_.mtu);

    auto allocation = ipam_->allocate(pod_id);
    if (!allocation) return std::move(allocation).error().context(what);
    auto ip = parse_ipv4(allocation->ip);
    if (!ip) return std::move(ip).error().context(what);

    // From here on a failure undoes what this call made: the veth it created, the address it
    // allocated (a repeated setup keeps the address the pod had).
    bool created_veth = false;
    auto undo = [&](Error e) -> Error {
        if (created_veth) (void)nl::delete_link(*host, veth);
        if (allocation->newly_allocated) (void)ipam_->release(pod_id);
        return std::move(e).context(what);
    };

    auto pod = nl::Socket::open_in(ns->get());
    if (!pod) return undo(std::move(pod).error().context("enter " + netns_path));
    auto outside = nl::find_link(*host, veth);
    if (!outside) return undo(std::move(outside).error());
    auto inside = nl::find_link(*pod, ifname);
    if (!inside) return undo(std::move(inside).error().context("inside " + netns_path));

    if (*outside) {
        const nl::Link& h = **outside;
        if (!h.alias.empty() && h.alias != pod_id)
            return undo(Error(EEXIST, "host veth " + veth + " belongs to pod " + h.alias +
                                          " (the two pod ids hash to the same name)"));
        bool paired = h.kind == "veth" && *inside && (*inside)->kind == "veth" &&
                      h.peer_elsewhere && h.peer_index == (*inside)->index &&
                      (*inside)->peer_index == h.index;
        if (!paired) {
            // Left by a setup that died, or wired to another namespace: start over.
            auto gone = nl::delete_link(*host, veth);
            if (!gone) return undo(std::move(gone).error().context("remove stale " + veth));
            outside = std::optional<nl::Link>();
            inside = nl::find_link(*pod, ifname);
            if (!inside) return undo(std::move(inside).error().context("inside " + netns_path));
        }
    }
    if (!*outside) {
        if (*inside) return undo(Error(EEXIST, ifname + " already exists in " + netns_path));
        if (auto s = nl::create_veth(*host, veth, ifname, ns->get(), netns_path, mtu); !s)
            return undo(std::move(s).error());
        created_veth = true;
        outside = nl::find_link(*host, veth);
        if (!outside) return undo(std::move(outside).error());
        inside = nl::find_link(*pod, ifname);
        if (!inside) return undo(std::move(inside).error().context("inside " + netns_path));
        if (!*outside || !*inside)
            return undo(Error(ENODEV, "veth " + veth + " or its peer " + ifname +
                                          " vanished after its creation"));
    }

    // The host end: named after the pod (alias), on the bridge, up.
    if (auto s = nl::change_link(*host, **outside, {mtu, true, (*bridge)->index, pod_id}); !s)
        return undo(std::move(s).error());
    // Inside: the address, the interface and lo up, the default route via the bridge.
    std::string in_ns = "inside " + netns_path;
    if (auto s = nl::add_address(*pod, **inside, *ip, pod_net_->prefix); !s)
        return undo(std::move(s).error().context(in_ns));
    if (auto s = nl::change_link(*pod, **inside, {mtu, true, {}, {}}); !s)
        return undo(std::move(s).error().context(in_ns));
    auto lo = nl::find_link(*pod, "lo");
    if (!lo) return undo(std::move(lo).error().context(in_ns));
    if (*lo) {
        if (auto s = nl::change_link(*pod, **lo, {{}, true, {}, {}}); !s)
            return undo(std::move(s).error().context(in_ns));
    }
    uint32_t gateway = pod_net_->network + 1;
    if (auto s = nl::replace_route(*pod, Ipv4Net{0, 0}, gateway, (*inside)->index, RTPROT_BOOT); !s)
        return undo(std::move(s).error().context(in_ns));
    return PodAddress{allocation->ip, pod_net_->prefix, format_ipv4(gateway), veth};
}

Status PodNetwork::teardown(const std::string& netns_path, const std::string& pod_id) {
    (void)netns_path;  // the pair is found from the host side; the namespace may be gone
    SKIFF_TRY_CTX(validate_owner(pod_id), "teardown pod");
    std::string what = "teardown pod " + pod_id;
    const std::string veth = host_veth_name(pod_id);
    auto host = nl::Socket::open();
    if (!host) return std::move(host).error().context(what);
    auto link = nl::find_link(*host, veth);
    if (!link) return std::move(link).error().context(what);
    // A veth without an alias is one whose setup died before naming it: it is this pod's too.
    if (*link && ((*link)->alias.empty() || (*link)->alias == pod_id)) {
        auto gone = nl::delete_link(*host, veth);
        if (!gone) return std::move(gone).error().context(what);
    }
    SKIFF_TRY_CTX(release_in_all_pools(config_.state_dir, pod_id), what);
    return {};
}

Result<std::optional<std::string>> PodNetwork::pod_ip(const std::string& pod_id) const {
    if (!ipam_) return std::optional<std::string>();
    return ipam_->find(pod_id);
}

Status PodNetwork::add_node_route(const std::string& cidr, const std::string& via) {
    std::string what = "add route to " + cidr + " via " + via;
    auto dst = Ipv4Net::parse(cidr);
    if (!dst) return std::move(dst).error().context(what);
    auto gw = parse_ipv4(via);
    if (!gw) return std::move(gw).error().context(what);
    if (pod_net_ && dst->overlaps(*pod_net_))
        return Error(EINVAL, what + ": it overlaps this node's pod CIDR " + pod_net_->str());
    auto host = nl::Socket::open();
    if (!host) return std::move(host).error().context(what);
    return nl::replace_route(*host, *dst, *gw, 0, RTPROT_STATIC);
}

Status PodNetwork::remove_node_route(const std::string& cidr) {
    auto dst = Ipv4Net::parse(cidr);
    if (!dst) return std::move(dst).error().context("remove route to " + cidr);
    if (pod_net_ && dst->overlaps(*pod_net_))
        return Error(EINVAL, "remove route to " + cidr + ": it overlaps this node's pod CIDR " +
                                 pod_net_->str());
    auto host = nl::Socket::open();
    if (!host) return std::move(host).error().context("remove route to " + cidr);
    auto gone = nl::delete_route(*host, *dst);
    if (!gone) return std::move(gone).error();
    return {};
}

}  // namespace skiff::net
