// Usage statistics of a container's cgroup (cpu, cpuset, memory, pids, block I/O, hugetlb), read
// from v1 or v2 files per controller, in the units runc's `events --stats` reports.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "skiff/base/result.hpp"

namespace skiff::isolation {

// Times in nanoseconds.
struct CpuStats {
    uint64_t total = 0, kernel = 0, user = 0;
    std::vector<uint64_t> percpu, percpu_kernel, percpu_user;
    uint64_t periods = 0, throttled_periods = 0, throttled_time = 0;
};
struct CpusetStats {
    std::vector<uint16_t> cpus, mems;
    uint64_t cpu_exclusive = 0, mem_hardwall = 0, mem_exclusive = 0, memory_migrate = 0,
             memory_spread_page = 0, memory_spread_slab = 0, memory_pressure = 0,
             sched_load_balance = 0;
    int64_t sched_relax_domain_level = 0;
};
// Unlimited is reported as the kernel's number for it (v1) or UINT64_MAX ("max" on v2).
struct MemoryEntry {
    uint64_t limit = 0, usage = 0, max = 0, failcnt = 0;
};
struct MemoryStats {
    uint64_t cache = 0;
    // swap is memory+swap, as v1's memsw reports it (v2's numbers are converted).
    MemoryEntry usage, swap, kernel, kernel_tcp;
    std::map<std::string, uint64_t> raw;  // memory.stat as it is
};
struct PidsStats {
    uint64_t current = 0, limit = 0;  // limit 0: unlimited
};
struct BlkioEntry {
    uint64_t major = 0, minor = 0;
    std::string op;  // "Read", "Write", "Sync", "Async", "Discard", "Total"
    uint64_t value = 0;
};
struct BlkioStats {
    std::vector<BlkioEntry> io_service_bytes_recursive, io_serviced_recursive, io_queue_recursive,
        io_service_time_recursive, io_wait_time_recursive, io_merged_recursive, io_time_recursive,
        sectors_recursive;
};
struct HugetlbStats {
    uint64_t usage = 0, max = 0, failcnt = 0;
};
struct CgroupStats {
    CpuStats cpu;
    CpusetStats cpuset;
    MemoryStats memory;
    PidsStats pids;
    BlkioStats blkio;
    std::map<std::string, HugetlbStats> hugetlb;  // page size ("2MB") -> stats
};

// The parsers behind Cgroup::stats(), exposed for unit tests.
// "key value" lines (memory.stat, cpu.stat, cpuacct.stat, memory.events); other lines skipped.
std::map<std::string, uint64_t> parse_flat_keyed(const std::string& text);
// v1 blkio.*_recursive: "MAJ:MIN Op value" lines; the closing "Total N" line is skipped.
std::vector<BlkioEntry> parse_blkio_v1(const std::string& text);
// v2 io.stat ("MAJ:MIN rbytes=N wbytes=N rios=N wios=N ...") as runc maps it: bytes and ios
// read/written become the Read/Write entries of io_service_bytes and io_serviced.
BlkioStats parse_io_stat_v2(const std::string& text);
// A cpuset list ("0-3,8,10-11") to its members; an error names the bad part.
[[nodiscard]] Result<std::vector<uint16_t>> parse_cpu_list(const std::string& text);
// Hugepage directory names under /sys/kernel/mm/hugepages ("hugepages-2048kB") to the size
// names the cgroup files use ("2MB"); empty for a name it does not understand.
std::string hugepage_size_name(const std::string& dir_name);

}  // namespace skiff::isolation
