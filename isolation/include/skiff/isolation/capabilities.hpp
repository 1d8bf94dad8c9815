// Capabilities: names to bit sets (libcap) before clone, and applying the five sets after it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "skiff/base/result.hpp"

namespace skiff::isolation {

struct CapabilitySets {
    std::vector<std::string> bounding, effective, inheritable, permitted, ambient;
};

// Bit masks (1 << CAP_*) for each set.
struct CapabilityMasks {
    uint64_t bounding = 0, effective = 0, inheritable = 0, permitted = 0, ambient = 0;
};

// Resolves names ("CAP_NET_ADMIN"). An unknown name is an error that names it and its set.
// Capabilities this kernel does not know are dropped with no error (runc warns the same way).
[[nodiscard]] Result<CapabilityMasks> resolve_capabilities(const CapabilitySets& sets);

// Drops every capability not in the bounding set. Needs CAP_SETPCAP, so call it before setuid.
// Allocates nothing. Returns 0 or a negative errno.
int drop_bounding_capabilities(const CapabilityMasks& masks) noexcept;
// Sets effective/permitted/inheritable and raises the ambient capabilities that are also
// permitted and inheritable (the kernel refuses others; runc skips them the same way). Call after setuid (with
// PR_SET_KEEPCAPS) and before execve. Allocates nothing. Returns 0 or a negative errno.
int apply_capabilities(const CapabilityMasks& masks) noexcept;

// The highest capability number the running kernel knows (from /proc/sys/kernel/cap_last_cap).
int last_capability();
// "CAP_CHOWN" ... for every capability this kernel knows.
std::vector<std::string> known_capabilities();
// Docker's 14 default capabilities.
std::vector<std::string> default_capabilities();

}  // namespace skiff::isolation
