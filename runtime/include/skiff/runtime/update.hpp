// skiff-oci update: runc's flags and --resources JSON as a change to a container's
// linux.resources, merged into what it has and checked before anything is written.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "skiff/base/result.hpp"
#include "skiff/isolation/cgroup.hpp"

namespace skiff::runtime {

// A size the way runc's memory flags take it (docker's units.RAMInBytes): "67108864", "64m",
// "64MB", "64MiB", "1.5g", "64 k"; units are powers of 1024 and case-insensitive.
[[nodiscard]] Result<int64_t> parse_ram_size(const std::string& text);

// Sets the field of one `runc update` flag in change: "memory", "memory-swap",
// "memory-reservation", "kernel-memory", "kernel-memory-tcp" (sizes, or -1 for unlimited),
// "cpu-share"/"cpu-shares", "cpu-period", "cpu-quota", "cpu-rt-period", "cpu-rt-runtime",
// "cpuset-cpus", "cpuset-mems", "pids-limit", "blkio-weight". Errors name the flag.
[[nodiscard]] Status apply_update_flag(isolation::Resources& change, const std::string& flag,
                                       const std::string& value);

struct ResourceUpdate {
    // The container's linux.resources afterwards, recorded in its saved config.
    isolation::Resources merged;
    // What goes to the cgroup: each section the change touches, taken whole from merged so
    // that values written together stay consistent (quota with the period in force, the memory
    // limit with swap).
    isolation::Resources writes;
};

// Merges change into current with runc's update rules: a field that is absent, or 0 where 0
// means "not set" (limits, shares, period, quota, weight, pids limit), keeps its value; device
// lists, hugepage limits and unified files replace the entries they name. The device cgroup
// rules (linux.resources.devices) are not updated, as with runc. Checks the result (ranges,
// swap not below the memory limit, cpu lists) and names the field of any bad value.
[[nodiscard]] Result<ResourceUpdate> plan_resource_update(
    const std::optional<isolation::Resources>& current, const isolation::Resources& change);

}  // namespace skiff::runtime
