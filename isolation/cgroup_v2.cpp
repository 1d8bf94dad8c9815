// The cgroup v2 mapping: linux.resources to (file, value) writes in the unified hierarchy.
#include <algorithm>
#include <cctype>
#include <string>
#include <utility>
#include <vector>

#include "skiff/isolation/cgroup.hpp"

namespace skiff::isolation {

namespace {

using Writes = std::vector<std::pair<std::string, std::string>>;

// "2MB", "1GB", "64KB": the only page-size spellings the kernel's hugetlb file names use. Checked
// because the size becomes part of a file name.
bool valid_page_size(const std::string& s) {
    if (s.size() < 3) return false;
    std::string unit = s.substr(s.size() - 2);
    if (unit != "KB" && unit != "MB" && unit != "GB") return false;
    return std::all_of(s.begin(), s.end() - 2, [](unsigned char c) { return std::isdigit(c); });
}

std::string max_or(int64_t v) {
    return v < 0 ? "max" : std::to_string(v);
}

std::string device(int64_t major, int64_t minor) {
    return std::to_string(major) + ":" + std::to_string(minor);
}

// OCI swap is memory+swap (the v1 memsw meaning); v2's memory.swap.max is swap alone. Same rules
// as runc's ConvertMemorySwapToCgroupV2Value. Returns nullopt for "don't write".
Result<std::optional<int64_t>> swap_max(const MemoryResources& m) {
    int64_t limit = m.limit.value_or(0);
    int64_t swap = m.swap.value_or(0);
    // Unlimited memory with swap unset means both unlimited, as on v1.
    if (limit == -1 && swap == 0) return std::optional<int64_t>(-1);
    if (swap == -1) return std::optional<int64_t>(-1);
    if (swap == 0) return std::optional<int64_t>();
    if (limit <= 0)
        return Error(EINVAL, "linux.resources.memory.swap: setting swap needs a memory limit");
    if (swap < limit)
        return Error(EINVAL, "linux.resources.memory.swap: " + std::to_string(swap) +
                                 " is below the memory limit " + std::to_string(limit) +
                                 " (swap is memory+swap)");
    return std::optional<int64_t>(swap - limit);
}

Status memory_files(const MemoryResources& m, Writes& out) {
    auto swap = swap_max(m);
    if (!swap) return std::move(swap).error();
    // swap.max first: it has no ordering constraint, and memory.max may then shrink freely.
    if (*swap) out.emplace_back("memory.swap.max", max_or(**swap));
    if (m.limit && *m.limit != 0) out.emplace_back("memory.max", max_or(*m.limit));
    if (m.reservation && *m.reservation != 0)
        out.emplace_back("memory.low", max_or(*m.reservation));
    // No v2 equivalent, ignored as runc and crun do: swappiness (global only), disableOOMKiller
    // (memory.oom.group means something else), kernel and kernelTCP (deprecated; v2 accounts
    // kernel memory inside memory.max), useHierarchy (always on).
    return {};
}

Status cpu_files(const CpuResources& c, Writes& out) {
    if (c.shares && *c.shares != 0)
        out.emplace_back("cpu.weight", std::to_string(cpu_shares_to_weight(*c.shares)));
    int64_t quota = c.quota.value_or(0);
    uint64_t period = c.period.value_or(0);
    if (quota != 0 || period != 0) {
        std::string v = quota > 0 ? std::to_string(quota) : "max";
        // Without a period the kernel keeps the current one.
        if (period != 0) v += " " + std::to_string(period);
        out.emplace_back("cpu.max", v);
    }
    if (c.burst) out.emplace_back("cpu.max.burst", std::to_string(*c.burst));
    if (c.idle) out.emplace_back("cpu.idle", std::to_string(*c.idle));
    if ((c.realtime_runtime && *c.realtime_runtime != 0) ||
        (c.realtime_period && *c.realtime_period != 0))
        return Error(EINVAL,
                     "linux.resources.cpu.realtimeRuntime/realtimePeriod: not supported on "
                     "cgroup v2");
    if (!c.cpus.empty()) out.emplace_back("cpuset.cpus", c.cpus);
    if (!c.mems.empty()) out.emplace_back("cpuset.mems", c.mems);
    return {};
}

void io_files(const BlockIoResources& b, Writes& out) {
    if (b.weight && *b.weight != 0)
        out.emplace_back("io.weight", std::to_string(blkio_weight_to_io_weight(*b.weight)));
    for (const auto& d : b.weight_device) {
        if (d.weight && *d.weight != 0)
            out.emplace_back("io.weight", device(d.major, d.minor) + " " +
                                              std::to_string(blkio_weight_to_io_weight(*d.weight)));
    }
    // leafWeight has no v2 equivalent.
    auto throttle = [&](const std::vector<ThrottleDevice>& list, const char* key) {
        for (const auto& t : list) {
            // 0 removes a v1 throttle; "max" is how v2 says the same.
            std::string rate = t.rate == 0 ? "max" : std::to_string(t.rate);
            out.emplace_back("io.max", device(t.major, t.minor) + " " + key + "=" + rate);
        }
    };
    throttle(b.throttle_read_bps_device, "rbps");
    throttle(b.throttle_write_bps_device, "wbps");
    throttle(b.throttle_read_iops_device, "riops");
    throttle(b.throttle_write_iops_device, "wiops");
}

}  // namespace

uint64_t cpu_shares_to_weight(uint64_t shares) {
    if (shares == 0) return 0;
    if (shares <= 2) return 1;
    if (shares >= 262144) return 10000;
    return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t blkio_weight_to_io_weight(uint64_t weight) {
    if (weight == 0) return 0;
    weight = std::clamp<uint64_t>(weight, 10, 1000);
    return 1 + (weight - 10) * 9999 / 990;
}

Result<std::vector<std::pair<std::string, std::string>>> v2_files(const Resources& r) {
    Writes out;
    if (r.memory) SKIFF_TRY(memory_files(*r.memory, out));
    if (r.cpu) SKIFF_TRY(cpu_files(*r.cpu, out));
    if (r.pids)
        out.emplace_back("pids.max", r.pids->limit <= 0 ? "max" : std::to_string(r.pids->limit));
    if (r.block_io) io_files(*r.block_io, out);
    for (const auto& h : r.hugepage_limits) {
        if (!valid_page_size(h.page_size))
            return Error(EINVAL,
                         "linux.resources.hugepageLimits: bad page size \"" + h.page_size + "\"");
        out.emplace_back("hugetlb." + h.page_size + ".max", std::to_string(h.limit));
    }
    // linux.resources.devices is no file on v2: Cgroup::apply attaches an eBPF program for it
    // (cgroup_devices_bpf.cpp).
    for (const auto& [key, value] : r.unified) {
        if (key.empty() || key.find('/') != std::string::npos ||
            key.find("..") != std::string::npos)
            return Error(EINVAL, "linux.resources.unified: bad file name \"" + key + "\"");
        // Last, so the verbatim values override what the structured fields asked for.
        out.emplace_back(key, value);
    }
    return out;
}

}  // namespace skiff::isolation
