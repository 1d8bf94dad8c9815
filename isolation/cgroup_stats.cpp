// Usage statistics of a container's cgroup, read per controller from its v1 or v2 files.
#include "skiff/isolation/cgroup_stats.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cctype>
#include <charconv>
#include <limits>
#include <sstream>

#include "skiff/base/fs.hpp"
#include "skiff/isolation/cgroup.hpp"

namespace skiff::isolation {

namespace {

constexpr uint64_t kUnlimited = std::numeric_limits<uint64_t>::max();

// The whole of s as a number.
bool to_u64(std::string_view s, uint64_t& out) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc() && end == s.data() + s.size();
}

std::string trim(std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    size_t i = 0;
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    return s.substr(i);
}

// Statistics files vanish with the cgroup or are missing for a feature this kernel lacks
// (memory.kmem.* since 6.x, blkio.* without CFQ): both read as empty, which leaves zeros.
std::string read_or_empty(const std::string& dir, const std::string& file) {
    if (dir.empty()) return {};
    auto r = fs::read_file(dir + "/" + file);
    return r ? *r : std::string();
}

// One number; "max" is unlimited (v2). Anything else unreadable is 0.
uint64_t read_u64(const std::string& dir, const std::string& file) {
    std::string s = trim(read_or_empty(dir, file));
    if (s == "max") return kUnlimited;
    uint64_t v = 0;
    return to_u64(s, v) ? v : 0;
}

std::vector<uint64_t> read_u64_list(const std::string& dir, const std::string& file) {
    std::vector<uint64_t> out;
    std::istringstream in(read_or_empty(dir, file));
    for (std::string w; in >> w;) {
        uint64_t v = 0;
        if (to_u64(w, v)) out.push_back(v);
    }
    return out;
}

bool parse_device(std::string_view s, uint64_t& major, uint64_t& minor) {
    size_t colon = s.find(':');
    return colon != std::string_view::npos && to_u64(s.substr(0, colon), major) &&
           to_u64(s.substr(colon + 1), minor);
}

void cpu_v1(const std::string& cpu, const std::string& cpuacct, CpuStats& out) {
    if (!cpuacct.empty()) {
        out.total = read_u64(cpuacct, "cpuacct.usage");
        out.percpu = read_u64_list(cpuacct, "cpuacct.usage_percpu");
        // cpuacct.stat counts clock ticks (USER_HZ).
        long hz = ::sysconf(_SC_CLK_TCK);
        uint64_t tick_ns = hz > 0 ? 1000000000ULL / static_cast<uint64_t>(hz) : 10000000ULL;
        auto stat = parse_flat_keyed(read_or_empty(cpuacct, "cpuacct.stat"));
        out.user = stat["user"] * tick_ns;
        out.kernel = stat["system"] * tick_ns;
        // "cpu user system" then one line per cpu, in nanoseconds.
        std::istringstream all(read_or_empty(cpuacct, "cpuacct.usage_all"));
        std::string line;
        std::getline(all, line);
        while (std::getline(all, line)) {
            std::istringstream f(line);
            uint64_t cpu_no = 0, user = 0, sys = 0;
            if (f >> cpu_no >> user >> sys) {
                out.percpu_user.push_back(user);
                out.percpu_kernel.push_back(sys);
            }
        }
    }
    if (!cpu.empty()) {
        auto stat = parse_flat_keyed(read_or_empty(cpu, "cpu.stat"));
        out.periods = stat["nr_periods"];
        out.throttled_periods = stat["nr_throttled"];
        out.throttled_time = stat["throttled_time"];
    }
}

void cpu_v2(const std::string& dir, CpuStats& out) {
    auto stat = parse_flat_keyed(read_or_empty(dir, "cpu.stat"));
    out.total = stat["usage_usec"] * 1000;
    out.user = stat["user_usec"] * 1000;
    out.kernel = stat["system_usec"] * 1000;
    out.periods = stat["nr_periods"];
    out.throttled_periods = stat["nr_throttled"];
    out.throttled_time = stat["throttled_usec"] * 1000;
}

void cpuset_stats(const std::string& dir, bool v2, CpusetStats& out) {
    auto list = [&](const char* file) {
        auto r = parse_cpu_list(trim(read_or_empty(dir, file)));
        return r ? *r : std::vector<uint16_t>{};
    };
    if (v2) {
        out.cpus = list("cpuset.cpus.effective");
        out.mems = list("cpuset.mems.effective");
        return;
    }
    out.cpus = list("cpuset.cpus");
    out.mems = list("cpuset.mems");
    out.cpu_exclusive = read_u64(dir, "cpuset.cpu_exclusive");
    out.mem_hardwall = read_u64(dir, "cpuset.mem_hardwall");
    out.mem_exclusive = read_u64(dir, "cpuset.mem_exclusive");
    out.memory_migrate = read_u64(dir, "cpuset.memory_migrate");
    out.memory_spread_page = read_u64(dir, "cpuset.memory_spread_page");
    out.memory_spread_slab = read_u64(dir, "cpuset.memory_spread_slab");
    out.memory_pressure = read_u64(dir, "cpuset.memory_pressure");
    out.sched_load_balance = read_u64(dir, "cpuset.sched_load_balance");
    std::string level = trim(read_or_empty(dir, "cpuset.sched_relax_domain_level"));
    std::from_chars(level.data(), level.data() + level.size(), out.sched_relax_domain_level);
}

MemoryEntry memory_entry_v1(const std::string& dir, const std::string& prefix) {
    std::string p = prefix.empty() ? "memory." : "memory." + prefix + ".";
    return {read_u64(dir, p + "limit_in_bytes"), read_u64(dir, p + "usage_in_bytes"),
            read_u64(dir, p + "max_usage_in_bytes"), read_u64(dir, p + "failcnt")};
}

void memory_v1(const std::string& dir, MemoryStats& out) {
    out.raw = parse_flat_keyed(read_or_empty(dir, "memory.stat"));
    out.cache = out.raw["cache"];
    out.usage = memory_entry_v1(dir, "");
    out.swap = memory_entry_v1(dir, "memsw");
    out.kernel = memory_entry_v1(dir, "kmem");
    out.kernel_tcp = memory_entry_v1(dir, "kmem.tcp");
}

void memory_v2(const std::string& dir, MemoryStats& out) {
    out.raw = parse_flat_keyed(read_or_empty(dir, "memory.stat"));
    out.cache = out.raw["file"];
    out.usage.usage = read_u64(dir, "memory.current");
    out.usage.limit = read_u64(dir, "memory.max");
    out.usage.max = read_u64(dir, "memory.peak");  // 5.19+; 0 before
    // The times the limit was hit: the nearest thing to v1's failcnt.
    out.usage.failcnt = parse_flat_keyed(read_or_empty(dir, "memory.events"))["max"];
    // v1 reports swap as memory+swap; v2 counts swap alone: add the memory side, as runc does.
    out.swap.usage = read_u64(dir, "memory.swap.current") + out.usage.usage;
    uint64_t swap_max = read_u64(dir, "memory.swap.max");
    out.swap.limit = swap_max == kUnlimited || out.usage.limit == kUnlimited
                         ? kUnlimited
                         : swap_max + out.usage.limit;
}

void pids_stats(const std::string& dir, PidsStats& out) {
    out.current = read_u64(dir, "pids.current");
    uint64_t max = read_u64(dir, "pids.max");
    out.limit = max == kUnlimited ? 0 : max;
}

void blkio_v1(const std::string& dir, BlkioStats& out) {
    auto read = [&](const std::string& file) { return parse_blkio_v1(read_or_empty(dir, file)); };
    auto fill = [&](const std::string& prefix) {
        out.io_service_bytes_recursive = read(prefix + "io_service_bytes_recursive");
        out.io_serviced_recursive = read(prefix + "io_serviced_recursive");
        out.io_queue_recursive = read(prefix + "io_queued_recursive");
        out.io_service_time_recursive = read(prefix + "io_service_time_recursive");
        out.io_wait_time_recursive = read(prefix + "io_wait_time_recursive");
        out.io_merged_recursive = read(prefix + "io_merged_recursive");
        out.io_time_recursive = read(prefix + "time_recursive");
        out.sectors_recursive = read(prefix + "sectors_recursive");
    };
    // CFQ's files, else BFQ's (same names with "bfq."), else only the throttle counters, which
    // every blkio cgroup has (runc's order).
    fill("blkio.");
    if (!out.io_serviced_recursive.empty()) return;
    fill("blkio.bfq.");
    if (!out.io_serviced_recursive.empty()) return;
    out = BlkioStats{};
    out.io_service_bytes_recursive = read("blkio.throttle.io_service_bytes_recursive");
    out.io_serviced_recursive = read("blkio.throttle.io_serviced_recursive");
}

// The page sizes this kernel has, from /sys/kernel/mm/hugepages.
std::vector<std::string> hugepage_sizes() {
    std::vector<std::string> out;
    DIR* d = ::opendir("/sys/kernel/mm/hugepages");
    if (!d) return out;
    while (dirent* e = ::readdir(d)) {
        std::string name = hugepage_size_name(e->d_name);
        if (!name.empty()) out.push_back(name);
    }
    ::closedir(d);
    return out;
}

void hugetlb_stats(const std::string& dir, bool v2, std::map<std::string, HugetlbStats>& out) {
    for (const auto& size : hugepage_sizes()) {
        std::string p = "hugetlb." + size + ".";
        HugetlbStats h;
        if (v2) {
            h.usage = read_u64(dir, p + "current");
            h.failcnt = parse_flat_keyed(read_or_empty(dir, p + "events"))["max"];
        } else {
            h.usage = read_u64(dir, p + "usage_in_bytes");
            h.max = read_u64(dir, p + "max_usage_in_bytes");
            h.failcnt = read_u64(dir, p + "failcnt");
        }
        out[size] = h;
    }
}

}  // namespace

std::map<std::string, uint64_t> parse_flat_keyed(const std::string& text) {
    std::map<std::string, uint64_t> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        std::istringstream f(line);
        std::string key, value, extra;
        uint64_t v = 0;
        if (f >> key >> value && !(f >> extra) && to_u64(value, v)) out[key] = v;
    }
    return out;
}

std::vector<BlkioEntry> parse_blkio_v1(const std::string& text) {
    std::vector<BlkioEntry> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        std::istringstream f(line);
        std::vector<std::string> w;
        for (std::string x; f >> x;) w.push_back(x);
        BlkioEntry e;
        // "8:0 Read 4096" or, for io_time/sectors, "8:0 4096"; "Total 4096" closes the list.
        if (w.size() < 2 || !parse_device(w[0], e.major, e.minor)) continue;
        if (w.size() == 3) e.op = w[1];
        if (!to_u64(w.back(), e.value)) continue;
        out.push_back(std::move(e));
    }
    return out;
}

BlkioStats parse_io_stat_v2(const std::string& text) {
    BlkioStats out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        std::istringstream f(line);
        std::string dev;
        uint64_t major = 0, minor = 0;
        if (!(f >> dev) || !parse_device(dev, major, minor)) continue;
        for (std::string kv; f >> kv;) {
            size_t eq = kv.find('=');
            uint64_t v = 0;
            if (eq == std::string::npos || !to_u64(std::string_view(kv).substr(eq + 1), v))
                continue;
            std::string key = kv.substr(0, eq);
            if (key == "rbytes")
                out.io_service_bytes_recursive.push_back({major, minor, "Read", v});
            if (key == "wbytes")
                out.io_service_bytes_recursive.push_back({major, minor, "Write", v});
            if (key == "rios") out.io_serviced_recursive.push_back({major, minor, "Read", v});
            if (key == "wios") out.io_serviced_recursive.push_back({major, minor, "Write", v});
        }
    }
    return out;
}

Result<std::vector<uint16_t>> parse_cpu_list(const std::string& text) {
    std::vector<uint16_t> out;
    std::istringstream in(text);
    for (std::string part; std::getline(in, part, ',');) {
        part = trim(part);
        if (part.empty()) continue;
        size_t dash = part.find('-');
        uint64_t lo = 0, hi = 0;
        bool ok = false;
        if (dash == std::string::npos) {
            ok = to_u64(part, lo);
            hi = lo;
        } else {
            ok = to_u64(std::string_view(part).substr(0, dash), lo) &&
                 to_u64(std::string_view(part).substr(dash + 1), hi);
        }
        if (!ok || lo > hi || hi > std::numeric_limits<uint16_t>::max())
            return Error(EINVAL, "bad cpu list entry \"" + part + "\"");
        for (uint64_t i = lo; i <= hi; ++i) out.push_back(static_cast<uint16_t>(i));
    }
    return out;
}

std::string hugepage_size_name(const std::string& dir_name) {
    const std::string prefix = "hugepages-";
    if (dir_name.rfind(prefix, 0) != 0 || dir_name.size() < prefix.size() + 3 ||
        dir_name.compare(dir_name.size() - 2, 2, "kB") != 0)
        return {};
    uint64_t kb = 0;
    if (!to_u64(
            std::string_view(dir_name).substr(prefix.size(), dir_name.size() - prefix.size() - 2),
            kb) ||
        kb == 0)
        return {};
    const char* units[] = {"KB", "MB", "GB", "TB"};
    size_t u = 0;
    while (kb % 1024 == 0 && u + 1 < std::size(units)) {
        kb /= 1024;
        ++u;
    }
    return std::to_string(kb) + units[u];
}

Result<CgroupStats> Cgroup::stats() const {
    CgroupStats out;
    const std::string unified = dir_for("");
    // A controller is on v2 when its directory is the unified one (dir_for routes it there).
    auto on_v2 = [&](const std::string& dir) { return !dir.empty() && dir == unified; };
    bool any = false;
    for (const auto& d : dirs()) any = any || fs::exists(d);
    if (!any) return Error(ENOENT, "cgroup " + path() + " does not exist");

    std::string cpu = dir_for("cpu");
    if (on_v2(cpu) || (cpu.empty() && !unified.empty()))
        cpu_v2(unified, out.cpu);  // cpu.stat's usage lines are core to every cgroup2 dir
    else
        cpu_v1(cpu, dir_for("cpuacct"), out.cpu);
    if (std::string d = dir_for("cpuset"); !d.empty()) cpuset_stats(d, on_v2(d), out.cpuset);
    if (std::string d = dir_for("memory"); !d.empty()) {
        if (on_v2(d))
            memory_v2(d, out.memory);
        else
            memory_v1(d, out.memory);
    }
    if (std::string d = dir_for("pids"); !d.empty()) pids_stats(d, out.pids);
    if (std::string d = dir_for("blkio"); !d.empty() && !on_v2(d)) {
        blkio_v1(d, out.blkio);
    } else if (std::string io = dir_for("io"); on_v2(io)) {
        out.blkio = parse_io_stat_v2(read_or_empty(io, "io.stat"));
    }
    if (std::string d = dir_for("hugetlb"); !d.empty()) hugetlb_stats(d, on_v2(d), out.hugetlb);
    return out;
}

}  // namespace skiff::isolation
