// IPAM for pod networks: IPv4 CIDRs and an allocator persisted as one file per address on disk.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "skiff/base/result.hpp"

namespace skiff::net {

// "10.88.1.2" <-> host-order integer.
[[nodiscard]] Result<uint32_t> parse_ipv4(std::string_view text);
std::string format_ipv4(uint32_t ip);

// An IPv4 network "A.B.C.D/N" whose host bits are zero.
struct Ipv4Net {
    uint32_t network = 0;  // host order
    int prefix = 0;

    // Strict: the address must be the network's own (no host bits), the prefix 0..32.
    [[nodiscard]] static Result<Ipv4Net> parse(std::string_view text);
    uint32_t mask() const { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
    uint32_t broadcast() const { return network | ~mask(); }
    bool contains(uint32_t ip) const { return (ip & mask()) == network; }
    bool overlaps(const Ipv4Net& o) const { return contains(o.network) || o.contains(network); }
    std::string str() const;  // "10.88.1.0/24"
    bool operator==(const Ipv4Net&) const = default;
};

// One owner's address as allocate() hands it out.
struct IpAllocation {
    std::string ip;
    bool newly_allocated = false;  // false: the owner already held it (a repeated setup)
};

// Hands out the host addresses of a pool (a /30 or larger), never the network, the broadcast or
// the gateway (the first host address, which the node's bridge carries). State lives in
// STATE_DIR/ipam/<network>_<prefix>/: a file named after each allocated address holding its
// owner (the pod id), created with O_CREAT|O_EXCL while the pool's `lock` file is flocked, and
// `last_reserved_ip`, where the next scan starts (so a released address is reused last).
// Safe between threads and processes; every call takes the lock for its scan.
class Ipam {
  public:
    [[nodiscard]] static Result<Ipam> open(const std::string& state_dir, const Ipv4Net& pool);

    const Ipv4Net& pool() const { return pool_; }
    uint32_t gateway() const { return pool_.network + 1; }
    const std::string& dir() const { return dir_; }

    // The address owner holds, or a free one recorded for it; ENOSPC naming the pool when none
    // is left.
    [[nodiscard]] Result<IpAllocation> allocate(const std::string& owner);
    // The address owner holds, if any.
    [[nodiscard]] Result<std::optional<std::string>> find(const std::string& owner) const;
    // Frees every address owner holds; holding none is fine.
    [[nodiscard]] Status release(const std::string& owner);
    // Allocated address -> owner.
    [[nodiscard]] Result<std::map<std::string, std::string>> list() const;

  private:
    Ipam(Ipv4Net pool, std::string dir) : pool_(pool), dir_(std::move(dir)) {}

    Ipv4Net pool_;
    std::string dir_;
};

// The directory of pool under state_dir: STATE_DIR/ipam/10.88.1.0_24.
std::string ipam_pool_dir(const std::string& state_dir, const Ipv4Net& pool);
// Releases owner's addresses in every pool under state_dir/ipam (teardown does not need to know
// which pool the pod came from, e.g. after the node's pod CIDR changed).
[[nodiscard]] Status release_in_all_pools(const std::string& state_dir, const std::string& owner);
// An owner (pod id) is 1..253 printable characters without whitespace; EINVAL otherwise.
[[nodiscard]] Status validate_owner(const std::string& owner);

}  // namespace skiff::net
