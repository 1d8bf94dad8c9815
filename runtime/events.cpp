// skiff-oci events: cgroup statistics as runc's stats JSON, OOM notifications, the event stream.
#include "skiff/runtime/events.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "record.hpp"
#include "skiff/base/process.hpp"
#include "skiff/base/unique_fd.hpp"
#include "skiff/isolation/cgroup.hpp"
#include "skiff/runtime/container.hpp"

namespace skiff::runtime {

namespace {

using ojson = nlohmann::ordered_json;  // runc's field order
using Clock = std::chrono::steady_clock;

// Go's encoding/json with omitempty leaves out zero numbers and empty lists.
template <class T>
void put_nonzero(ojson& o, const char* key, const T& v) {
    if (v != T{}) o[key] = v;
}
template <class T>
void put_nonempty(ojson& o, const char* key, const std::vector<T>& v) {
    if (!v.empty()) o[key] = v;
}

ojson cpu_json(const isolation::CpuStats& c) {
    ojson usage = ojson::object();
    put_nonzero(usage, "total", c.total);
    put_nonempty(usage, "percpu", c.percpu);
    put_nonempty(usage, "percpu_kernel", c.percpu_kernel);
    put_nonempty(usage, "percpu_user", c.percpu_user);
    usage["kernel"] = c.kernel;
    usage["user"] = c.user;
    ojson throttling = ojson::object();
    put_nonzero(throttling, "periods", c.periods);
    put_nonzero(throttling, "throttledPeriods", c.throttled_periods);
    put_nonzero(throttling, "throttledTime", c.throttled_time);
    return {{"usage", usage}, {"throttling", throttling}};
}

ojson cpuset_json(const isolation::CpusetStats& c) {
    ojson o = ojson::object();
    put_nonempty(o, "cpus", c.cpus);
    o["cpu_exclusive"] = c.cpu_exclusive;
    put_nonempty(o, "mems", c.mems);
    o["mem_hardwall"] = c.mem_hardwall;
    o["mem_exclusive"] = c.mem_exclusive;
    o["memory_migrate"] = c.memory_migrate;
    o["memory_spread_page"] = c.memory_spread_page;
    o["memory_spread_slab"] = c.memory_spread_slab;
    o["memory_pressure"] = c.memory_pressure;
    o["sched_load_balance"] = c.sched_load_balance;
    o["sched_relax_domain_level"] = c.sched_relax_domain_level;
    return o;
}

ojson memory_entry_json(const isolation::MemoryEntry& e) {
    ojson o = {{"limit", e.limit}};
    put_nonzero(o, "usage", e.usage);
    put_nonzero(o, "max", e.max);
    o["failcnt"] = e.failcnt;
    return o;
}

ojson memory_json(const isolation::MemoryStats& m) {
    ojson o = ojson::object();
    put_nonzero(o, "cache", m.cache);
    o["usage"] = memory_entry_json(m.usage);
    o["swap"] = memory_entry_json(m.swap);
    o["kernel"] = memory_entry_json(m.kernel);
    o["kernelTCP"] = memory_entry_json(m.kernel_tcp);
    if (!m.raw.empty()) {
        ojson raw = ojson::object();
        for (const auto& [k, v] : m.raw) raw[k] = v;  // sorted, as Go encodes a map
        o["raw"] = raw;
    }
    return o;
}

ojson blkio_json(const isolation::BlkioStats& b) {
    ojson o = ojson::object();
    auto list = [&](const char* key, const std::vector<isolation::BlkioEntry>& entries) {
        if (entries.empty()) return;
        ojson arr = ojson::array();
        for (const auto& e : entries) {
            ojson x = ojson::object();
            put_nonzero(x, "major", e.major);
            put_nonzero(x, "minor", e.minor);
            put_nonzero(x, "op", e.op);
            put_nonzero(x, "value", e.value);
            arr.push_back(x);
        }
        o[key] = arr;
    };
    list("ioServiceBytesRecursive", b.io_service_bytes_recursive);
    list("ioServicedRecursive", b.io_serviced_recursive);
    list("ioQueueRecursive", b.io_queue_recursive);
    list("ioServiceTimeRecursive", b.io_service_time_recursive);
    list("ioWaitTimeRecursive", b.io_wait_time_recursive);
    list("ioMergedRecursive", b.io_merged_recursive);
    list("ioTimeRecursive", b.io_time_recursive);
    list("sectorsRecursive", b.sectors_recursive);
    return o;
}

// Reads the container's record; the lock is dropped before returning, so a long events stream
// never holds up delete or kill.
Result<RecordedContainer> running_container(const std::string& root, const std::string& id) {
    auto rec = read_recorded(root, id);
    if (!rec) return std::move(rec).error();
    rec->lock.reset();
    if (rec->status == ContainerStatus::stopped)
        return Error(ESRCH, "container \"" + id + "\" is not running");
    return rec;
}

}  // namespace

std::string stats_event_json(const std::string& id, const isolation::CgroupStats& s) {
    ojson hugetlb = ojson::object();
    for (const auto& [size, h] : s.hugetlb) {
        ojson x = ojson::object();
        put_nonzero(x, "usage", h.usage);
        put_nonzero(x, "max", h.max);
        x["failcnt"] = h.failcnt;
        hugetlb[size] = x;
    }
    ojson pids = ojson::object();
    put_nonzero(pids, "current", s.pids.current);
    put_nonzero(pids, "limit", s.pids.limit);
    ojson data = {{"cpu", cpu_json(s.cpu)},          {"cpuset", cpuset_json(s.cpuset)},
                  {"memory", memory_json(s.memory)}, {"pids", pids},
                  {"blkio", blkio_json(s.blkio)},    {"hugetlb", hugetlb},
                  {"intel_rdt", ojson::object()},    {"network_interfaces", nullptr}};
    ojson event = {{"type", "stats"}, {"id", id}, {"data", data}};
    return event.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

std::string oom_event_json(const std::string& id) {
    ojson event = {{"type", "oom"}, {"id", id}};
    return event.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

Result<std::chrono::nanoseconds> parse_duration(const std::string& text) {
    auto invalid = [&](const std::string& why) {
        return Error(EINVAL, "invalid duration \"" + text + "\": " + why);
    };
    static const std::pair<const char*, double> kUnits[] = {
        {"ns", 1},   {"us", 1e3}, {"\u00b5s", 1e3}, {"\u03bcs", 1e3},
        {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},      {"h", 3600e9}};
    if (text.empty()) return invalid("empty");
    if (text == "0") return invalid("must be greater than 0");
    double total = 0;
    size_t i = 0;
    while (i < text.size()) {
        size_t start = i;
        while (i < text.size() &&
               (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
            ++i;
        if (i == start) return invalid("expected a number at \"" + text.substr(start) + "\"");
        std::string number = text.substr(start, i - start);
        char* end = nullptr;
        double v = std::strtod(number.c_str(), &end);
        if (end != number.c_str() + number.size()) return invalid("bad number \"" + number + "\"");
        size_t unit_start = i;
        while (i < text.size() && !std::isdigit(static_cast<unsigned char>(text[i])) &&
               text[i] != '.')
            ++i;
        std::string unit = text.substr(unit_start, i - unit_start);
        if (unit.empty()) return invalid("missing unit (ns, us, ms, s, m, h)");
        const double* scale = nullptr;
        for (const auto& [name, s] : kUnits)
            if (unit == name) scale = &s;
        if (!scale) return invalid("unknown unit \"" + unit + "\"");
        total += v * *scale;
    }
    if (!(total >= 1)) return invalid("must be greater than 0");
    if (total > 9.2e18) return invalid("too long");
    return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(total)));
}

Result<isolation::CgroupStats> Runtime::stats(const std::string& id) {
    auto rec = running_container(root_, id);
    if (!rec) return std::move(rec).error();
    auto cgroup = own_cgroup(id, rec->cgroup_path, "stats");
    if (!cgroup) return std::move(cgroup).error();
    auto stats = cgroup->stats();
    if (!stats) return std::move(stats).error().context("stats of container " + id);
    return stats;
}

Status Runtime::events(const std::string& id, std::chrono::milliseconds interval,
                       const std::function<void(const std::string&)>& emit) {
    if (interval.count() <= 0) return Error(EINVAL, "events: the interval must be positive");
    auto rec = running_container(root_, id);
    if (!rec) return std::move(rec).error();
    // The init's pidfd turns readable when it exits: the container has stopped. Checked against
    // the recorded start time, so a recycled pid can't stand in for it.
    UniqueFd init(static_cast<int>(::syscall(SYS_pidfd_open, rec->pid, 0)));
    if (!init || live_process_start_time(rec->pid) != rec->start_time)
        return Error(ESRCH, "container \"" + id + "\" is not running");
    auto cgroup = own_cgroup(id, rec->cgroup_path, "events");
    if (!cgroup) return std::move(cgroup).error();
    auto oom = cgroup->watch_oom();
    if (!oom) return std::move(oom).error().context("events of container " + id);

    auto report_ooms = [&] {
        for (int n = oom->consume(); n > 0; --n) emit(oom_event_json(id));
    };
    auto next = Clock::now() + interval;
    for (;;) {
        auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - Clock::now());
        pollfd fds[2] = {{init.get(), POLLIN, 0}, {oom->fd(), POLLIN, 0}};
        int n = ::poll(fds, oom->fd() >= 0 ? 2 : 1,
                       static_cast<int>(std::clamp<int64_t>(wait.count(), 0, INT32_MAX)));
        if (n < 0 && errno != EINTR) return Error::from_errno("events: poll");
        if (n > 0 && oom->fd() >= 0 && (fds[1].revents & POLLIN)) report_ooms();
        if (n > 0 && fds[0].revents) {
            // Stopped. An OOM kill that ended it was notified before the exit: report it.
            pollfd last{oom->fd(), POLLIN, 0};
            if (last.fd >= 0 && ::poll(&last, 1, 0) > 0) report_ooms();
            return {};
        }
        if (Clock::now() < next) continue;
        next += interval;
        auto stats = cgroup->stats();
        // The cgroup goes with delete; the exit shows on the pidfd at the next poll.
        if (stats) emit(stats_event_json(id, *stats));
    }
}

}  // namespace skiff::runtime
