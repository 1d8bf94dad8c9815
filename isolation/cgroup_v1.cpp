// The cgroup v1 mapping: linux.resources to (controller, file, value) writes, one hierarchy each.
#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "skiff/isolation/cgroup.hpp"

namespace skiff::isolation {

namespace {

// Same check as the v2 mapping: the size becomes part of a file name.
bool valid_page_size(const std::string& s) {
    if (s.size() < 3) return false;
    std::string unit = s.substr(s.size() - 2);
    if (unit != "KB" && unit != "MB" && unit != "GB") return false;
    return std::all_of(s.begin(), s.end() - 2, [](unsigned char c) { return std::isdigit(c); });
}

std::string device(int64_t major, int64_t minor) {
    return std::to_string(major) + ":" + std::to_string(minor);
}

void memory_files(const MemoryResources& m, std::vector<V1Write>& out) {
    auto add = [&](const char* file, std::string value) {
        out.push_back({"memory", file, std::move(value)});
    };
    bool swap = m.swap && *m.swap != 0;
    bool limit = m.limit && *m.limit != 0;
    // The kernel keeps memory.limit <= memsw.limit at every step: an unlimited memsw goes first,
    // a finite one after the memory limit (Cgroup::apply retries in the other order on EINVAL).
    if (swap && *m.swap == -1) add("memory.memsw.limit_in_bytes", "-1");
    if (limit) add("memory.limit_in_bytes", std::to_string(*m.limit));
    if (swap && *m.swap != -1) add("memory.memsw.limit_in_bytes", std::to_string(*m.swap));
    if (m.reservation && *m.reservation != 0)
        add("memory.soft_limit_in_bytes", std::to_string(*m.reservation));
    if (m.swappiness) add("memory.swappiness", std::to_string(*m.swappiness));
    if (m.disable_oom_killer.value_or(false)) add("memory.oom_control", "1");
    // kernel / kernelTCP (memory.kmem.*) are deprecated in the runtime spec and the kernel refuses
    // them since 5.16; useHierarchy is always on since 6.0. Both ignored, as runc does.
}

Status cpu_files(const CpuResources& c, std::vector<V1Write>& out) {
    auto add = [&](const char* file, std::string value) {
        out.push_back({"cpu", file, std::move(value)});
    };
    if (c.shares && *c.shares != 0) add("cpu.shares", std::to_string(*c.shares));
    // Period before quota, as runc: a quota is checked against the period in force.
    if (c.period && *c.period != 0) add("cpu.cfs_period_us", std::to_string(*c.period));
    if (c.quota && *c.quota != 0) add("cpu.cfs_quota_us", std::to_string(*c.quota));
    if (c.burst) add("cpu.cfs_burst_us", std::to_string(*c.burst));
    // Period first here too: the runtime must fit in the period.
    if (c.realtime_period && *c.realtime_period != 0)
        add("cpu.rt_period_us", std::to_string(*c.realtime_period));
    if (c.realtime_runtime && *c.realtime_runtime != 0)
        add("cpu.rt_runtime_us", std::to_string(*c.realtime_runtime));
    if (c.idle) add("cpu.idle", std::to_string(*c.idle));
    if (!c.cpus.empty()) out.push_back({"cpuset", "cpuset.cpus", c.cpus});
    if (!c.mems.empty()) out.push_back({"cpuset", "cpuset.mems", c.mems});
    return {};
}

void blkio_files(const BlockIoResources& b, std::vector<V1Write>& out) {
    auto add = [&](const char* file, std::string value) {
        out.push_back({"blkio", file, std::move(value)});
    };
    if (b.weight && *b.weight != 0) add("blkio.weight", std::to_string(*b.weight));
    if (b.leaf_weight && *b.leaf_weight != 0)
        add("blkio.leaf_weight", std::to_string(*b.leaf_weight));
    for (const auto& d : b.weight_device) {
        if (d.weight)
            add("blkio.weight_device", device(d.major, d.minor) + " " + std::to_string(*d.weight));
        if (d.leaf_weight)
            add("blkio.leaf_weight_device",
                device(d.major, d.minor) + " " + std::to_string(*d.leaf_weight));
    }
    auto throttle = [&](const std::vector<ThrottleDevice>& list, const char* file) {
        for (const auto& t : list)
            add(file, device(t.major, t.minor) + " " + std::to_string(t.rate));
    };
    throttle(b.throttle_read_bps_device, "blkio.throttle.read_bps_device");
    throttle(b.throttle_write_bps_device, "blkio.throttle.write_bps_device");
    throttle(b.throttle_read_iops_device, "blkio.throttle.read_iops_device");
    throttle(b.throttle_write_iops_device, "blkio.throttle.write_iops_device");
}

Status device_files(const std::vector<DeviceRule>& rules, std::vector<V1Write>& out) {
    for (const auto& d : rules) {
        if (d.type != "a" && d.type != "b" && d.type != "c")
            return Error(EINVAL, "linux.resources.devices: bad type \"" + d.type + "\"");
        if (d.access.empty() || d.access.find_first_not_of("rwm") != std::string::npos)
            return Error(EINVAL, "linux.resources.devices: bad access \"" + d.access + "\"");
        auto num = [](const std::optional<int64_t>& n) {
            return n && *n >= 0 ? std::to_string(*n) : std::string("*");
        };
        // "a" alone means every device; a leading deny-all rule thus writes "a" to devices.deny
        // before the allow rules open single devices again.
        std::string value = d.type == "a" && !d.major && !d.minor
                                ? std::string("a")
                                : d.type + " " + num(d.major) + ":" + num(d.minor) + " " + d.access;
        out.push_back({"devices", d.allow ? "devices.allow" : "devices.deny", value});
    }
    return {};
}

}  // namespace

Result<std::vector<V1Write>> v1_files(const Resources& r) {
    std::vector<V1Write> out;
    if (r.memory) memory_files(*r.memory, out);
    if (r.cpu) SKIFF_TRY(cpu_files(*r.cpu, out));
    if (r.pids)
        out.push_back(
            {"pids", "pids.max", r.pids->limit <= 0 ? "max" : std::to_string(r.pids->limit)});
    if (r.block_io) blkio_files(*r.block_io, out);
    for (const auto& h : r.hugepage_limits) {
        if (!valid_page_size(h.page_size))
            return Error(EINVAL,
                         "linux.resources.hugepageLimits: bad page size \"" + h.page_size + "\"");
        out.push_back(
            {"hugetlb", "hugetlb." + h.page_size + ".limit_in_bytes", std::to_string(h.limit)});
    }
    SKIFF_TRY(device_files(r.devices, out));
    if (!r.unified.empty())
        return Error(EINVAL, "linux.resources.unified: needs a cgroup v2 hierarchy");
    return out;
}

}  // namespace skiff::isolation
