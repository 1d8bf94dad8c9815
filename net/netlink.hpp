// Route netlink through libnl: links, addresses and routes of the namespace a socket lives in.
// Private to net/: callers see no libnl type.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "skiff/base/result.hpp"
#include "skiff/net/ipam.hpp"

struct nl_sock;

namespace skiff::net::nl {

// A NETLINK_ROUTE socket. A netlink socket stays bound to the network namespace it was created
// in, so one opened in a pod's namespace configures that pod while the caller stays where it is.
class Socket {
  public:
    // A socket in the calling thread's network namespace.
    [[nodiscard]] static Result<Socket> open();
    // A socket in the namespace of netns_fd: a short-lived helper thread joins it (setns only
    // moves that thread) and opens the socket there.
    [[nodiscard]] static Result<Socket> open_in(int netns_fd);

    Socket(Socket&&) noexcept;
    Socket& operator=(Socket&&) noexcept;
    ~Socket();

    struct State;
    State& state() const { return *s_; }

  private:
    explicit Socket(std::unique_ptr<State> s);
    std::unique_ptr<State> s_;
};

// What the kernel reports about a link.
struct Link {
    int index = 0;
    std::string name;
    std::string kind;  // "veth", "bridge", ... ("" for a plain device such as lo)
    unsigned flags = 0;
    unsigned mtu = 0;
    int master = 0;               // the bridge it is enslaved to, 0 for none
    int peer_index = 0;           // IFLA_LINK: a veth's peer (an index in the peer's namespace)
    bool peer_elsewhere = false;  // IFLA_LINK_NETNSID present: the peer is in another namespace
    std::string alias;
};

[[nodiscard]] Result<std::optional<Link>> find_link(Socket& s, const std::string& name);

// Creates a bridge and pins its MAC address (so it doesn't change as ports come and go); false
// when a link of that name existed already (which the caller checks). Its MTU is the caller's to
// set afterwards: only an MTU set by a change sticks when ports come and go (one given at
// creation is overridden by the kernel's automatic adjustment).
[[nodiscard]] Result<bool> create_bridge(Socket& s, const std::string& name);

// Creates the veth pair host_name <-> peer_name with the peer made directly inside the namespace
// of peer_netns_fd (no moment where the peer sits in the caller's namespace, so no temporary name
// and nothing to move or rename); both get mtu. peer_netns_name is for messages.
[[nodiscard]] Status create_veth(Socket& s, const std::string& host_name,
                                 const std::string& peer_name, int peer_netns_fd,
                                 const std::string& peer_netns_name, unsigned mtu);

struct LinkChange {
    std::optional<unsigned> mtu;
    bool up = false;
    std::optional<int> master;
    std::optional<std::string> alias;
};
[[nodiscard]] Status change_link(Socket& s, const Link& link, const LinkChange& change);

// Deletes the link; false when there was none.
[[nodiscard]] Result<bool> delete_link(Socket& s, const std::string& name);

// Adds ip/prefix to the link; having it already is fine.
[[nodiscard]] Status add_address(Socket& s, const Link& link, uint32_t ip, int prefix);

// Creates or replaces the main-table route to dst via gateway (through ifindex when not 0).
[[nodiscard]] Status replace_route(Socket& s, const Ipv4Net& dst, uint32_t gateway, int ifindex,
                                   int protocol);
// Deletes the main-table route to dst; false when there was none.
[[nodiscard]] Result<bool> delete_route(Socket& s, const Ipv4Net& dst);

}  // namespace skiff::net::nl
