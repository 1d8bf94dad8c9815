// skiff-oci update's input: runc's flags and sizes, and the merge of a change into a container's
// linux.resources with the checks that run before any cgroup file is written.
#include "skiff/runtime/update.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <tuple>
#include <type_traits>
#include <vector>

namespace skiff::runtime {

namespace {

using isolation::Resources;

Error bad_flag(const std::string& flag, const std::string& value, const std::string& why) {
    return Error(EINVAL, "--" + flag + ": invalid value \"" + value + "\": " + why);
}

template <class T>
Result<T> parse_int(const std::string& flag, const std::string& value) {
    T v{};
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (value.empty() || ec == std::errc::invalid_argument || end != value.data() + value.size())
        return bad_flag(flag, value,
                        std::is_signed_v<T> ? "not an integer" : "not a non-negative integer");
    if (ec == std::errc::result_out_of_range) return bad_flag(flag, value, "out of range");
    return v;
}

// A memory flag: a size, or -1 for unlimited (runc passes "-1" through as it is).
Result<int64_t> parse_memory_flag(const std::string& flag, const std::string& value) {
    if (value == "-1") return int64_t{-1};
    auto size = parse_ram_size(value);
    if (!size) return bad_flag(flag, value, size.error().message());
    return size;
}

// Replaces the entry of the same device (or page size) in list, or appends.
template <class T, class Same>
void merge_list(std::vector<T>& list, const std::vector<T>& change, Same same) {
    for (const auto& c : change) {
        auto it = std::find_if(list.begin(), list.end(), [&](const T& x) { return same(x, c); });
        if (it != list.end())
            *it = c;
        else
            list.push_back(c);
    }
}

// Sets dst from src when src holds a value that means something (not 0 where 0 is "not set").
template <class T>
bool take(std::optional<T>& dst, const std::optional<T>& src, bool zero_is_unset) {
    if (!src || (zero_is_unset && *src == T{})) return false;
    dst = src;
    return true;
}

std::string bytes(int64_t v) {
    return std::to_string(v);
}

Status check_memory(const isolation::MemoryResources& m) {
    auto size = [](const char* field, const char* flag, const std::optional<int64_t>& v) -> Status {
        if (v && *v < -1)
            return Error(EINVAL, std::string("memory.") + field + " (--" + flag + "): " +
                                     std::to_string(*v) + " is not a size or -1 (unlimited)");
        return {};
    };
    SKIFF_TRY(size("limit", "memory", m.limit));
    SKIFF_TRY(size("swap", "memory-swap", m.swap));
    SKIFF_TRY(size("reservation", "memory-reservation", m.reservation));
    int64_t limit = m.limit.value_or(0), swap = m.swap.value_or(0);
    if (limit > 0 && swap > 0 && swap < limit)
        return Error(EINVAL, "memory.swap (--memory-swap) " + bytes(swap) +
                                 " is below memory.limit (--memory) " + bytes(limit) +
                                 ": swap is the limit of memory plus swap; raise both together");
    if (limit == -1 && swap > 0)
        return Error(EINVAL, "memory.swap (--memory-swap) " + bytes(swap) +
                                 " needs a memory limit, but memory.limit (--memory) is unlimited");
    if (m.swappiness && *m.swappiness > 100)
        return Error(EINVAL, "memory.swappiness: " + std::to_string(*m.swappiness) +
                                 " is out of range 0..100");
    return {};
}

Status check_cpu(const isolation::CpuResources& c) {
    // The kernel's CFS bounds: a period of 1 ms to 1 s, a quota of at least 1 ms.
    if (c.period && *c.period != 0 && (*c.period < 1000 || *c.period > 1000000))
        return Error(EINVAL, "cpu.period (--cpu-period): " + std::to_string(*c.period) +
                                 " is out of range 1000..1000000 (microseconds)");
    if (c.quota && *c.quota != 0 && *c.quota != -1 && *c.quota < 1000)
        return Error(EINVAL, "cpu.quota (--cpu-quota): " + std::to_string(*c.quota) +
                                 " is below 1000 microseconds (or -1 for unlimited)");
    if (c.realtime_runtime && *c.realtime_runtime < -1)
        return Error(EINVAL, "cpu.realtimeRuntime (--cpu-rt-runtime): " +
                                 std::to_string(*c.realtime_runtime) + " is invalid");
    if (c.realtime_runtime && c.realtime_period && *c.realtime_period != 0 &&
        *c.realtime_runtime > 0 && static_cast<uint64_t>(*c.realtime_runtime) > *c.realtime_period)
        return Error(EINVAL, "cpu.realtimeRuntime (--cpu-rt-runtime) " +
                                 std::to_string(*c.realtime_runtime) +
                                 " is above cpu.realtimePeriod (--cpu-rt-period) " +
                                 std::to_string(*c.realtime_period));
    for (auto [field, flag, list] :
         {std::tuple{"cpus", "cpuset-cpus", &c.cpus}, std::tuple{"mems", "cpuset-mems", &c.mems}}) {
        if (list->empty()) continue;
        if (auto r = isolation::parse_cpu_list(*list); !r)
            return Error(EINVAL,
                         std::string("cpu.") + field + " (--" + flag + "): " + r.error().message());
    }
    return {};
}

Status check_block_io(const isolation::BlockIoResources& b) {
    auto weight = [](const std::string& field, const std::optional<uint16_t>& w) -> Status {
        if (w && *w != 0 && (*w < 10 || *w > 1000))
            return Error(EINVAL, "blockIO." + field + ": " + std::to_string(*w) +
                                     " is out of range 10..1000");
        return {};
    };
    SKIFF_TRY(weight("weight (--blkio-weight)", b.weight));
    SKIFF_TRY(weight("leafWeight", b.leaf_weight));
    for (const auto& d : b.weight_device) {
        SKIFF_TRY(weight("weightDevice.weight", d.weight));
        SKIFF_TRY(weight("weightDevice.leafWeight", d.leaf_weight));
    }
    return {};
}

}  // namespace

Result<int64_t> parse_ram_size(const std::string& text) {
    auto invalid = [&] { return Error(EINVAL, "invalid size \"" + text + "\""); };
    size_t i = 0;
    auto digits = [&] {
        size_t start = i;
        while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
        return i > start;
    };
    if (!digits()) return invalid();
    if (i < text.size() && text[i] == '.') {
        ++i;
        if (!digits()) return invalid();
    }
    size_t number_end = i;
    if (i < text.size() && text[i] == ' ') ++i;
    int shift = 0;
    if (i < text.size()) {
        switch (std::tolower(static_cast<unsigned char>(text[i]))) {
            case 'k':
                shift = 10;
                break;
            case 'm':
                shift = 20;
                break;
            case 'g':
                shift = 30;
                break;
            case 't':
                shift = 40;
                break;
            case 'p':
                shift = 50;
                break;
            default:
                break;
        }
        if (shift) ++i;
    }
    if (i < text.size() && (text[i] == 'i' || text[i] == 'I')) ++i;
    if (i < text.size() && (text[i] == 'b' || text[i] == 'B')) ++i;
    if (i != text.size()) return invalid();
    double number = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + number_end, number);
    if (ec != std::errc() || end != text.data() + number_end) return invalid();
    double size = std::ldexp(number, shift);
    // 2^63 is the first value int64 can't hold.
    if (!(size < std::ldexp(1.0, 63))) return Error(ERANGE, "size \"" + text + "\" is too large");
    return static_cast<int64_t>(size);
}

Status apply_update_flag(Resources& change, const std::string& flag, const std::string& value) {
    auto memory = [&]() -> isolation::MemoryResources& {
        if (!change.memory) change.memory.emplace();
        return *change.memory;
    };
    auto cpu = [&]() -> isolation::CpuResources& {
        if (!change.cpu) change.cpu.emplace();
        return *change.cpu;
    };
    auto set_size = [&](std::optional<int64_t> isolation::MemoryResources::*field) -> Status {
        auto v = parse_memory_flag(flag, value);
        if (!v) return std::move(v).error();
        memory().*field = *v;
        return {};
    };
    if (flag == "memory") return set_size(&isolation::MemoryResources::limit);
    if (flag == "memory-swap") return set_size(&isolation::MemoryResources::swap);
    if (flag == "memory-reservation") return set_size(&isolation::MemoryResources::reservation);
    if (flag == "kernel-memory") return set_size(&isolation::MemoryResources::kernel);
    if (flag == "kernel-memory-tcp") return set_size(&isolation::MemoryResources::kernel_tcp);
    if (flag == "cpu-share" || flag == "cpu-shares" || flag == "cpu-period" ||
        flag == "cpu-rt-period") {
        auto v = parse_int<uint64_t>(flag, value);
        if (!v) return std::move(v).error();
        if (flag == "cpu-period")
            cpu().period = *v;
        else if (flag == "cpu-rt-period")
            cpu().realtime_period = *v;
        else
            cpu().shares = *v;
        return {};
    }
    if (flag == "cpu-quota" || flag == "cpu-rt-runtime") {
        auto v = parse_int<int64_t>(flag, value);
        if (!v) return std::move(v).error();
        (flag == "cpu-quota" ? cpu().quota : cpu().realtime_runtime) = *v;
        return {};
    }
    if (flag == "cpuset-cpus" || flag == "cpuset-mems") {
        (flag == "cpuset-cpus" ? cpu().cpus : cpu().mems) = value;
        return {};
    }
    if (flag == "pids-limit") {
        auto v = parse_int<int64_t>(flag, value);
        if (!v) return std::move(v).error();
        change.pids = isolation::PidsResources{.limit = *v};
        return {};
    }
    if (flag == "blkio-weight") {
        auto v = parse_int<uint16_t>(flag, value);
        if (!v) return std::move(v).error();
        if (!change.block_io) change.block_io.emplace();
        change.block_io->weight = *v;
        return {};
    }
    if (flag == "l3-cache-schema" || flag == "mem-bw-schema")
        return Error(ENOTSUP, "--" + flag + ": Intel RDT is not supported by skiff-oci");
    return Error(EINVAL, "unknown update flag --" + flag);
}

Result<ResourceUpdate> plan_resource_update(const std::optional<Resources>& current,
                                            const Resources& change) {
    ResourceUpdate u;
    u.merged = current.value_or(Resources{});
    Resources& m = u.merged;

    if (change.memory) {
        const auto& c = *change.memory;
        if (!m.memory) m.memory.emplace();
        auto& d = *m.memory;
        bool touched = false;
        touched |= take(d.limit, c.limit, true);
        touched |= take(d.reservation, c.reservation, true);
        touched |= take(d.swap, c.swap, true);
        touched |= take(d.kernel, c.kernel, true);
        touched |= take(d.kernel_tcp, c.kernel_tcp, true);
        touched |= take(d.swappiness, c.swappiness, false);
        touched |= take(d.disable_oom_killer, c.disable_oom_killer, false);
        take(d.use_hierarchy, c.use_hierarchy, false);
        take(d.check_before_update, c.check_before_update, false);
        SKIFF_TRY(check_memory(d));
        if (touched) u.writes.memory = d;
    }
    if (change.cpu) {
        const auto& c = *change.cpu;
        if (!m.cpu) m.cpu.emplace();
        auto& d = *m.cpu;
        bool touched = false;
        touched |= take(d.shares, c.shares, true);
        touched |= take(d.quota, c.quota, true);
        touched |= take(d.period, c.period, true);
        touched |= take(d.burst, c.burst, false);
        touched |= take(d.realtime_runtime, c.realtime_runtime, true);
        touched |= take(d.realtime_period, c.realtime_period, true);
        touched |= take(d.idle, c.idle, false);
        bool cpuset = !c.cpus.empty() || !c.mems.empty();
        if (!c.cpus.empty()) d.cpus = c.cpus;
        if (!c.mems.empty()) d.mems = c.mems;
        SKIFF_TRY(check_cpu(d));
        // cpu and cpuset are separate controllers: rewrite only the one the change touches.
        if (touched) {
            u.writes.cpu = d;
            u.writes.cpu->cpus.clear();
            u.writes.cpu->mems.clear();
        }
        if (cpuset) {
            if (!u.writes.cpu) u.writes.cpu.emplace();
            u.writes.cpu->cpus = d.cpus;
            u.writes.cpu->mems = d.mems;
        }
    }
    if (change.pids && change.pids->limit != 0) {
        // Any negative limit means unlimited, as with runc.
        m.pids = isolation::PidsResources{.limit = std::max<int64_t>(change.pids->limit, -1)};
        u.writes.pids = m.pids;
    }
    if (change.block_io) {
        const auto& c = *change.block_io;
        if (!m.block_io) m.block_io.emplace();
        auto& d = *m.block_io;
        bool touched = false;
        touched |= take(d.weight, c.weight, true);
        touched |= take(d.leaf_weight, c.leaf_weight, true);
        auto same_dev = [](const auto& a, const auto& b) {
            return a.major == b.major && a.minor == b.minor;
        };
        merge_list(d.weight_device, c.weight_device, same_dev);
        merge_list(d.throttle_read_bps_device, c.throttle_read_bps_device, same_dev);
        merge_list(d.throttle_write_bps_device, c.throttle_write_bps_device, same_dev);
        merge_list(d.throttle_read_iops_device, c.throttle_read_iops_device, same_dev);
        merge_list(d.throttle_write_iops_device, c.throttle_write_iops_device, same_dev);
        SKIFF_TRY(check_block_io(d));
        // Only what the change names: the other devices' lines are already in place.
        isolation::BlockIoResources w;
        if (touched) {
            w.weight = d.weight;
            w.leaf_weight = d.leaf_weight;
        }
        w.weight_device = c.weight_device;
        w.throttle_read_bps_device = c.throttle_read_bps_device;
        w.throttle_write_bps_device = c.throttle_write_bps_device;
        w.throttle_read_iops_device = c.throttle_read_iops_device;
        w.throttle_write_iops_device = c.throttle_write_iops_device;
        u.writes.block_io = w;
    }
    if (!change.hugepage_limits.empty()) {
        merge_list(m.hugepage_limits, change.hugepage_limits,
                   [](const auto& a, const auto& b) { return a.page_size == b.page_size; });
        u.writes.hugepage_limits = change.hugepage_limits;
    }
    for (const auto& [file, value] : change.unified) {
        m.unified[file] = value;
        u.writes.unified[file] = value;
    }
    return u;
}

}  // namespace skiff::runtime
