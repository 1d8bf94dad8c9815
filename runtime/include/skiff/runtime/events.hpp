// skiff-oci events: stats and oom events as the JSON lines runc prints, and runc's --interval.
#pragma once

#include <chrono>
#include <string>

#include "skiff/base/result.hpp"
#include "skiff/isolation/cgroup_stats.hpp"

namespace skiff::runtime {

// {"type":"stats","id":ID,"data":{...}} with runc's field names and omissions (runc's
// types.Stats: cpu, cpuset, memory, pids, blkio, hugetlb, intel_rdt, network_interfaces).
std::string stats_event_json(const std::string& id, const isolation::CgroupStats& stats);
// {"type":"oom","id":ID}
std::string oom_event_json(const std::string& id);

// A Go duration as runc's flags take it: "5s", "250ms", "1m30s", "1.5h", units ns, us (µs),
// ms, s, m, h. Must be positive.
[[nodiscard]] Result<std::chrono::nanoseconds> parse_duration(const std::string& text);

}  // namespace skiff::runtime
