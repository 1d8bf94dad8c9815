// Route netlink through libnl: sockets (also inside another namespace), links, addresses, routes.
#include "netlink.hpp"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <sched.h>
#include <sys/socket.h>

#include <cstring>
#include <system_error>
#include <thread>
#include <utility>

namespace skiff::net::nl {

struct Socket::State {
    nl_sock* sock = nullptr;
    // What the kernel said about the last failed request: libnl keeps only its own error class.
    int kernel_errno = 0;
    std::string kernel_message;  // the extended ack text ("Nexthop has invalid gateway")

    ~State() {
        if (sock) nl_socket_free(sock);
    }
    void clear() {
        kernel_errno = 0;
        kernel_message.clear();
    }
};

namespace {

// The kernel's error (errno and extended-ack message) of a NLMSG_ERROR, recorded in the socket.
int record_kernel_error(sockaddr_nl*, nlmsgerr* e, void* arg) {
    auto* st = static_cast<Socket::State*>(arg);
    st->kernel_errno = -e->error;
    const auto* hdr =
        reinterpret_cast<const nlmsghdr*>(reinterpret_cast<const char*>(e) - NLMSG_HDRLEN);
    if (hdr->nlmsg_flags & NLM_F_ACK_TLVS) {
        size_t total = hdr->nlmsg_len;
        size_t off = NLMSG_HDRLEN + sizeof(nlmsgerr);
        if (!(hdr->nlmsg_flags & NLM_F_CAPPED) && e->msg.nlmsg_len >= NLMSG_HDRLEN)
            off += e->msg.nlmsg_len - NLMSG_HDRLEN;
        off = NLMSG_ALIGN(off);
        const char* base = reinterpret_cast<const char*>(hdr);
        while (off + sizeof(nlattr) <= total) {
            nlattr a;
            std::memcpy(&a, base + off, sizeof a);
            if (a.nla_len < sizeof(nlattr) || off + a.nla_len > total) break;
            if ((a.nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
                const char* text = base + off + sizeof(nlattr);
                st->kernel_message.assign(text, strnlen(text, a.nla_len - sizeof(nlattr)));
                break;
            }
            off += NLA_ALIGN(a.nla_len);
        }
    }
    return NL_STOP;
}

// errno for libnl's own error classes, when the kernel did not say.
int errno_of(int nl_err) {
    static constexpr std::pair<int, int> kErrnos[] = {
        {NLE_EXIST, EEXIST},         {NLE_OBJ_NOTFOUND, ENOENT},
        {NLE_NODEV, ENODEV},         {NLE_PERM, EPERM},
        {NLE_NOACCESS, EACCES},      {NLE_BUSY, EBUSY},
        {NLE_INVAL, EINVAL},         {NLE_RANGE, ERANGE},
        {NLE_NOMEM, ENOMEM},         {NLE_AGAIN, EAGAIN},
        {NLE_INTR, EINTR},           {NLE_NOADDR, EADDRNOTAVAIL},
        {NLE_OPNOTSUPP, EOPNOTSUPP}, {NLE_AF_NOSUPPORT, EAFNOSUPPORT},
        {NLE_BAD_SOCK, EBADF},       {NLE_MSGSIZE, EMSGSIZE},
    };
    int nle = nl_err < 0 ? -nl_err : nl_err;
    for (auto [from, to] : kErrnos)
        if (from == nle) return to;
    return 0;
}

Error nl_error(const Socket& s, int nl_err, const std::string& what) {
    const auto& st = s.state();
    std::string msg = what;
    if (!st.kernel_message.empty()) msg += ": " + st.kernel_message;
    int code = st.kernel_errno ? st.kernel_errno : errno_of(nl_err);
    if (code == 0) msg += std::string(": ") + nl_geterror(nl_err);
    return Error(code, msg);
}

bool kernel_said(const Socket& s, int nl_err, std::initializer_list<int> errnos) {
    int code = s.state().kernel_errno ? s.state().kernel_errno : errno_of(nl_err);
    for (int e : errnos)
        if (code == e) return true;
    return false;
}

struct LinkPut {
    void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
struct AddrPut {
    void operator()(nl_addr* a) const { nl_addr_put(a); }
};
struct RtAddrPut {
    void operator()(rtnl_addr* a) const { rtnl_addr_put(a); }
};
struct RoutePut {
    void operator()(rtnl_route* r) const { rtnl_route_put(r); }
};
using LinkPtr = std::unique_ptr<rtnl_link, LinkPut>;
using AddrPtr = std::unique_ptr<nl_addr, AddrPut>;
using RtAddrPtr = std::unique_ptr<rtnl_addr, RtAddrPut>;
using RoutePtr = std::unique_ptr<rtnl_route, RoutePut>;

Error out_of_memory(const std::string& what) {
    return Error(ENOMEM, what);
}

AddrPtr ipv4_addr(uint32_t ip, int prefix) {
    uint32_t be = htonl(ip);
    AddrPtr a(nl_addr_build(AF_INET, &be, sizeof be));
    if (a) nl_addr_set_prefixlen(a.get(), prefix);
    return a;
}

}  // namespace

Socket::Socket(std::unique_ptr<State> s) : s_(std::move(s)) {}
Socket::Socket(Socket&&) noexcept = default;
Socket& Socket::operator=(Socket&&) noexcept = default;
Socket::~Socket() = default;

Result<Socket> Socket::open() {
    auto st = std::make_unique<State>();
    st->sock = nl_socket_alloc();
    if (!st->sock) return out_of_memory("allocate a netlink socket");
    if (int err = nl_connect(st->sock, NETLINK_ROUTE); err < 0)
        return Error(errno_of(err),
                     std::string("connect a route netlink socket: ") + nl_geterror(err));
    // Extended acks carry the kernel's reason; capped acks don't echo our request back.
    int one = 1;
    int fd = nl_socket_get_fd(st->sock);
    (void)::setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    (void)::setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
    if (int err = nl_socket_modify_err_cb(st->sock, NL_CB_CUSTOM, record_kernel_error, st.get());
        err < 0)
        return Error(errno_of(err),
                     std::string("set the netlink error handler: ") + nl_geterror(err));
    return Socket(std::move(st));
}

Result<Socket> Socket::open_in(int netns_fd) {
    std::optional<Result<Socket>> out;
    try {
        std::thread joiner([&] {
            if (::setns(netns_fd, CLONE_NEWNET) != 0) {
                out.emplace(Error::from_errno("join the network namespace (setns)"));
                return;
            }
            out.emplace(open());
        });
        joiner.join();
    } catch (const std::system_error& e) {
        return Error(e.code().value(), "start a thread to join the network namespace");
    }
    return std::move(*out);
}

Result<std::optional<Link>> find_link(Socket& s, const std::string& name) {
    s.state().clear();
    rtnl_link* raw = nullptr;
    int err = rtnl_link_get_kernel(s.state().sock, 0, name.c_str(), &raw);
    LinkPtr link(raw);
    if (err < 0) {
        if (kernel_said(s, err, {ENODEV, ENOENT})) return std::optional<Link>();
        return nl_error(s, err, "look up link " + name);
    }
    Link out;
    out.index = rtnl_link_get_ifindex(raw);
    if (const char* n = rtnl_link_get_name(raw)) out.name = n;
    if (const char* k = rtnl_link_get_type(raw)) out.kind = k;
    out.flags = rtnl_link_get_flags(raw);
    out.mtu = rtnl_link_get_mtu(raw);
    out.master = rtnl_link_get_master(raw);
    out.peer_index = rtnl_link_get_link(raw);
    int32_t nsid = 0;
    out.peer_elsewhere = rtnl_link_get_link_netnsid(raw, &nsid) == 0;
    if (const char* a = rtnl_link_get_ifalias(raw)) out.alias = a;
    return std::optional<Link>(std::move(out));
}

Result<bool> create_bridge(Socket& s, const std::string& name) {
    std::string what = "create bridge " + name;
    LinkPtr br(rtnl_link_bridge_alloc());
    if (!br) return out_of_memory(what);
    rtnl_link_set_name(br.get(), name.c_str());
    s.state().clear();
    if (int err = rtnl_link_add(s.state().sock, br.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
        if (kernel_said(s, err, {EEXIST})) return false;
        return nl_error(s, err, what);
    }
    // A bridge takes the smallest MAC of its ports unless its own was set: pods would see the
    // gateway's MAC change whenever a pod comes or goes. Setting it to itself pins it.
    s.state().clear();
    rtnl_link* raw = nullptr;
    if (int err = rtnl_link_get_kernel(s.state().sock, 0, name.c_str(), &raw); err < 0)
        return nl_error(s, err, what + ": look it up");
    LinkPtr made(raw);
    if (nl_addr* mac = rtnl_link_get_addr(raw)) {
        LinkPtr change(rtnl_link_alloc());
        if (!change) return out_of_memory(what);
        rtnl_link_set_addr(change.get(), mac);
        s.state().clear();
        if (int err = rtnl_link_change(s.state().sock, made.get(), change.get(), 0); err < 0)
            return nl_error(s, err, what + ": pin its MAC address");
    }
    return true;
}

Status create_veth(Socket& s, const std::string& host_name, const std::string& peer_name,
                   int peer_netns_fd, const std::string& peer_netns_name, unsigned mtu) {
    std::string what =
        "create veth " + host_name + " with its peer " + peer_name + " in " + peer_netns_name;
    LinkPtr veth(rtnl_link_veth_alloc());
    if (!veth) return out_of_memory(what);
    rtnl_link_set_name(veth.get(), host_name.c_str());
    rtnl_link_set_mtu(veth.get(), mtu);
    LinkPtr peer(rtnl_link_veth_get_peer(veth.get()));
    if (!peer) return out_of_memory(what);
    rtnl_link_set_name(peer.get(), peer_name.c_str());
    rtnl_link_set_mtu(peer.get(), mtu);
    rtnl_link_set_ns_fd(peer.get(), peer_netns_fd);
    s.state().clear();
    if (int err = rtnl_link_add(s.state().sock, veth.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0)
        return nl_error(s, err, what);
    return {};
}

Status change_link(Socket& s, const Link& link, const LinkChange& c) {
    std::string what = "configure link " + link.name;
    LinkPtr orig(rtnl_link_alloc()), change(rtnl_link_alloc());
    if (!orig || !change) return out_of_memory(what);
    rtnl_link_set_ifindex(orig.get(), link.index);
    if (c.mtu) rtnl_link_set_mtu(change.get(), *c.mtu);
    if (c.up) rtnl_link_set_flags(change.get(), IFF_UP);
    if (c.master) rtnl_link_set_master(change.get(), *c.master);
    if (c.alias) rtnl_link_set_ifalias(change.get(), c.alias->c_str());
    s.state().clear();
    if (int err = rtnl_link_change(s.state().sock, orig.get(), change.get(), 0); err < 0)
        return nl_error(s, err, what);
    return {};
}

Result<bool> delete_link(Socket& s, const std::string& name) {
    LinkPtr link(rtnl_link_alloc());
    if (!link) return out_of_memory("delete link " + name);
    rtnl_link_set_name(link.get(), name.c_str());
    s.state().clear();
    if (int err = rtnl_link_delete(s.state().sock, link.get()); err < 0) {
        if (kernel_said(s, err, {ENODEV, ENOENT})) return false;
        return nl_error(s, err, "delete link " + name);
    }
    return true;
}

Status add_address(Socket& s, const Link& link, uint32_t ip, int prefix) {
    std::string what =
        "add address " + format_ipv4(ip) + "/" + std::to_string(prefix) + " to " + link.name;
    RtAddrPtr addr(rtnl_addr_alloc());
    AddrPtr local = ipv4_addr(ip, prefix);
    Ipv4Net net{ip & (prefix ? ~uint32_t{0} << (32 - prefix) : 0), prefix};
    AddrPtr brd = ipv4_addr(net.broadcast(), 32);
    if (!addr || !local || !brd) return out_of_memory(what);
    rtnl_addr_set_family(addr.get(), AF_INET);
    rtnl_addr_set_ifindex(addr.get(), link.index);
    if (int err = rtnl_addr_set_local(addr.get(), local.get()); err < 0)
        return Error(errno_of(err), what + ": " + nl_geterror(err));
    if (prefix < 31) (void)rtnl_addr_set_broadcast(addr.get(), brd.get());
    s.state().clear();
    if (int err = rtnl_addr_add(s.state().sock, addr.get(), NLM_F_CREATE); err < 0) {
        if (kernel_said(s, err, {EEXIST})) return {};
        return nl_error(s, err, what);
    }
    return {};
}

Status replace_route(Socket& s, const Ipv4Net& dst, uint32_t gateway, int ifindex, int protocol) {
    std::string what = "add route " + dst.str() + " via " + format_ipv4(gateway);
    RoutePtr route(rtnl_route_alloc());
    AddrPtr d = ipv4_addr(dst.network, dst.prefix), gw = ipv4_addr(gateway, 32);
    rtnl_nexthop* nh = rtnl_route_nh_alloc();
    if (!route || !d || !gw || !nh) {
        if (nh) rtnl_route_nh_free(nh);
        return out_of_memory(what);
    }
    rtnl_route_set_family(route.get(), AF_INET);
    rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
    rtnl_route_set_scope(route.get(), RT_SCOPE_UNIVERSE);
    rtnl_route_set_protocol(route.get(), static_cast<uint8_t>(protocol));
    (void)rtnl_route_set_type(route.get(), RTN_UNICAST);
    if (int err = rtnl_route_set_dst(route.get(), d.get()); err < 0) {
        rtnl_route_nh_free(nh);
        return Error(errno_of(err), what + ": " + nl_geterror(err));
    }
    rtnl_route_nh_set_gateway(nh, gw.get());
    if (ifindex) rtnl_route_nh_set_ifindex(nh, ifindex);
    rtnl_route_add_nexthop(route.get(), nh);  // the route owns it now
    s.state().clear();
    if (int err = rtnl_route_add(s.state().sock, route.get(), NLM_F_CREATE | NLM_F_REPLACE);
        err < 0)
        return nl_error(s, err, what);
    return {};
}

Result<bool> delete_route(Socket& s, const Ipv4Net& dst) {
    std::string what = "delete route " + dst.str();
    RoutePtr route(rtnl_route_alloc());
    AddrPtr d = ipv4_addr(dst.network, dst.prefix);
    if (!route || !d) return out_of_memory(what);
    rtnl_route_set_family(route.get(), AF_INET);
    rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
    // Wildcards for the kernel's match (libnl would otherwise guess a scope and a protocol).
    rtnl_route_set_scope(route.get(), RT_SCOPE_NOWHERE);
    rtnl_route_set_protocol(route.get(), RTPROT_UNSPEC);
    if (int err = rtnl_route_set_dst(route.get(), d.get()); err < 0)
        return Error(errno_of(err), what + ": " + nl_geterror(err));
    s.state().clear();
    if (int err = rtnl_route_delete(s.state().sock, route.get(), 0); err < 0) {
        if (kernel_said(s, err, {ESRCH, ENOENT})) return false;
        return nl_error(s, err, what);
    }
    return true;
}

}  // namespace skiff::net::nl
