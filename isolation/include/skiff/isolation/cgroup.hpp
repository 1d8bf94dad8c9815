// cgroups: one interface for a container's cgroup on v1, v2 and hybrid hosts.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "skiff/base/result.hpp"
#include "skiff/base/unique_fd.hpp"
#include "skiff/isolation/cgroup_stats.hpp"

namespace skiff::isolation {

// linux.resources of config.json (runtime-spec v1.2 names, snake_case).
struct MemoryResources {
    std::optional<int64_t> limit, reservation, swap, kernel, kernel_tcp;
    std::optional<uint64_t> swappiness;
    std::optional<bool> disable_oom_killer, use_hierarchy, check_before_update;
};
struct CpuResources {
    std::optional<uint64_t> shares;
    std::optional<int64_t> quota;
    std::optional<uint64_t> burst;
    std::optional<uint64_t> period;
    std::optional<int64_t> realtime_runtime;
    std::optional<uint64_t> realtime_period;
    std::string cpus, mems;
    std::optional<int64_t> idle;
};
struct PidsResources {
    int64_t limit = 0;  // <= 0: unlimited
};
struct WeightDevice {
    int64_t major = 0, minor = 0;
    std::optional<uint16_t> weight, leaf_weight;
};
struct ThrottleDevice {
    int64_t major = 0, minor = 0;
    uint64_t rate = 0;
};
struct BlockIoResources {
    std::optional<uint16_t> weight, leaf_weight;
    std::vector<WeightDevice> weight_device;
    std::vector<ThrottleDevice> throttle_read_bps_device, throttle_write_bps_device,
        throttle_read_iops_device, throttle_write_iops_device;
};
struct HugepageLimit {
    std::string page_size;  // "2MB", "1GB"
    uint64_t limit = 0;
};
// One entry of linux.resources.devices (the device cgroup allow/deny list).
struct DeviceRule {
    bool allow = false;
    std::string type = "a";  // a, c or b
    std::optional<int64_t> major, minor;  // empty: all (*)
    std::string access = "rwm";
};
struct Resources {
    std::optional<MemoryResources> memory;
    std::optional<CpuResources> cpu;
    std::optional<PidsResources> pids;
    std::optional<BlockIoResources> block_io;
    std::vector<HugepageLimit> hugepage_limits;
    std::vector<DeviceRule> devices;
    std::map<std::string, std::string> unified;  // raw cgroup v2 files
};

// Where each controller lives on this host: v1 (its own hierarchy) or v2 (the unified one).
struct CgroupLayout {
    // v1 controller name ("memory", "cpu", "name=systemd", ...) -> mount point.
    std::map<std::string, std::string> v1;
    // Mount point of the cgroup2 hierarchy, empty if none (on hybrid hosts it is
    // /sys/fs/cgroup/unified).
    std::string unified;
    // Controllers enabled at the v2 root (cgroup.controllers).
    std::vector<std::string> v2_controllers;

    bool pure_v2() const { return v1.empty() && !unified.empty(); }
    bool hybrid() const { return !v1.empty() && !unified.empty(); }
};

// Reads /proc/self/mountinfo (or the given text, for tests) to find the hierarchies.
[[nodiscard]] Result<CgroupLayout> detect_cgroup_layout();
[[nodiscard]] Result<CgroupLayout> parse_cgroup_layout(const std::string& mountinfo,
                                                       const std::string& v2_root_controllers);

// Notices the OOM events of a cgroup: on v1 memory.oom_control registered through
// cgroup.event_control with an eventfd, on v2 the oom and oom_kill counts of memory.events,
// watched with inotify. Made by Cgroup::watch_oom().
class OomWatch {
  public:
    OomWatch() = default;
    // Poll it for POLLIN; -1 when there is nothing to watch (no memory controller, or the
    // cgroup is gone), and then it never fires.
    int fd() const { return fd_.get(); }
    // Once fd() is readable: the OOM events since the last call (0 when the wake-up was the
    // cgroup going away, after which fd() is -1).
    [[nodiscard]] int consume();

  private:
    friend class Cgroup;
    bool v1_ = false;
    std::string dir_;                  // the memory controller's directory of the cgroup
    UniqueFd fd_;                      // the eventfd (v1) or inotify instance (v2)
    UniqueFd control_;                 // v1: memory.oom_control, open while the registration lasts
    uint64_t oom_ = 0, oom_kill_ = 0;  // v2: counts seen so far
};

// The cgroup of one container: a directory in every hierarchy of the layout.
class Cgroup {
public:
    // Creates path (an absolute cgroup path like "/skiff/c1") in every hierarchy, including the
    // cgroup2 one on a hybrid host. Fails and removes what it made if any mkdir fails.
    [[nodiscard]] static Result<Cgroup> create(const CgroupLayout& layout, const std::string& path);
    // The same in two steps: the cgroup2 directory first (so a process can be cloned into it),
    // the v1 directories after (while that process sets up its namespaces).
    enum class Part { all, unified, v1 };
    [[nodiscard]] static Result<Cgroup> create(const CgroupLayout& layout, const std::string& path,
                                               Part part);
    // Why the calling user could not create (or join) path: the first directory it lacks write
    // access to, "" when it may make the cgroup in every hierarchy. That is the case in a
    // subtree delegated to the user (chown'ed to it, as systemd's Delegate= does). On cgroup2,
    // moving a process also needs cgroup.procs of the common ancestor of its current cgroup and
    // the target writable, so that is checked too. How a rootless caller decides whether its
    // container gets a cgroup.
    static std::string blocking_dir(const CgroupLayout& layout, const std::string& path);
    // Refers to an existing container cgroup (for delete, kill --all, ps) without creating it.
    static Cgroup open(const CgroupLayout& layout, const std::string& path);

    Cgroup(Cgroup&&) noexcept;
    Cgroup& operator=(Cgroup&&) noexcept;
    ~Cgroup();

    // Writes the limits, mapping each to the hierarchy that holds its controller. A resource
    // whose controller this host lacks is an error naming it. Unchanged by a failure halfway?
    // No: callers destroy the cgroup on failure.
    [[nodiscard]] Status apply(const Resources& resources);
    // Changes the limits of a cgroup that has processes (skiff-oci update). Everything is mapped
    // and checked before the first write; if the kernel refuses a value, the single-value files
    // already written get their old values back, so a failed update changes nothing it could undo.
    [[nodiscard]] Status update(const Resources& resources);
    // Moves pid into the cgroup in every hierarchy.
    [[nodiscard]] Status add_process(pid_t pid);
    // Without a v1 devices controller: the device rules as an eBPF program on the cgroup2 directory
    // (replacing the one there; see cgroup_devices_bpf.hpp).
    [[nodiscard]] Status attach_devices(const Resources& resources);

    // The fast way in for a new single-threaded process. Moving a process through cgroup.procs
    // takes the kernel's global threadgroup lock for writing, which waits for an RCU grace
    // period (10-20 ms on these machines). Two paths avoid it: clone3(CLONE_INTO_CGROUP) with
    // the cgroup2 directory places the child at fork, and a v1 `tasks` write of "0" by the
    // process itself moves only the calling thread, which the kernel does without that lock.
    // The cgroup2 directory, for CLONE_INTO_CGROUP; an invalid fd on hosts without cgroup2.
    [[nodiscard]] Result<UniqueFd> open_unified_dir() const;
    // `tasks` of every v1 hierarchy, opened for writing.
    [[nodiscard]] Result<std::vector<UniqueFd>> open_v1_tasks() const;
    // Writes "0" to each fd (in the new process, before it starts other threads). Allocates
    // nothing. Returns 0 or a negative errno.
    static int join_self(const int* v1_tasks, size_t count) noexcept;
    // Every pid in the container's cgroup (the pids controller's or the unified hierarchy's).
    [[nodiscard]] Result<std::vector<pid_t>> pids() const;
    // pause/resume. The v1 freezer when the freezer controller is on v1, otherwise cgroup.freeze
    // of the unified hierarchy. freeze() waits (bounded) until the kernel reports every task
    // frozen; if that does not happen it thaws again and fails, so nothing stays half frozen.
    enum class FreezerState { thawed, freezing, frozen };
    [[nodiscard]] Status freeze();
    [[nodiscard]] Status thaw();
    [[nodiscard]] Result<FreezerState> freezer_state() const;

    // Usage statistics of every controller the container's cgroup has, each read from its own
    // hierarchy (v1 or v2 files). Controllers missing on this host are left zero.
    [[nodiscard]] Result<CgroupStats> stats() const;

    // Starts watching the cgroup for OOM events (skiff-oci events).
    [[nodiscard]] Result<OomWatch> watch_oom() const;

    // Kills every process, waits (bounded) until the cgroups are empty and removes every
    // directory. Missing directories are fine (idempotent).
    [[nodiscard]] Status destroy();

    const std::string& path() const;
    // Directory of this cgroup in a hierarchy: controller "memory", or "" for the unified one.
    std::string dir_for(const std::string& controller) const;
    // Every directory the cgroup has (for tests and cleanup).
    std::vector<std::string> dirs() const;

private:
    struct Impl;
    explicit Cgroup(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Whether resources ask for anything besides device rules (a limit, a weight, a cpuset, a raw
// v2 file): what a container cannot do without a cgroup of its own.
bool has_limits(const Resources& resources);

// Converts the cpu.shares value (2..262144) to cpu.weight (1..10000), as runc does.
uint64_t cpu_shares_to_weight(uint64_t shares);
// Converts blkio weight (10..1000) to io.weight (1..10000).
uint64_t blkio_weight_to_io_weight(uint64_t weight);

// The v2 file writes for resources, as (file, value) pairs in the order they are applied.
// Exposed for unit tests of the mapping (the pure-v2 path is proven on a real kernel later).
[[nodiscard]] Result<std::vector<std::pair<std::string, std::string>>> v2_files(
    const Resources& resources);
// The v1 writes as (controller, file, value).
struct V1Write {
    std::string controller, file, value;
};
[[nodiscard]] Result<std::vector<V1Write>> v1_files(const Resources& resources);

}  // namespace skiff::isolation
