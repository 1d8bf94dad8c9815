// The launch plan: everything the container's init needs, computed before clone, and the init.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hooks.hpp"
#include "skiff/base/unique_fd.hpp"
#include "skiff/isolation/capabilities.hpp"
#include "skiff/isolation/child_error.hpp"
#include "skiff/isolation/id_map.hpp"
#include "skiff/isolation/rootfs.hpp"
#include "skiff/isolation/seccomp.hpp"
#include "skiff/runtime/container.hpp"
#include "skiff/runtime/spec.hpp"

namespace skiff::runtime {

// Messages on the parent/init socket (SOCK_SEQPACKET).
enum class SyncType : uint32_t { go = 1, need_hooks, hooks_done, created, error };
struct SyncMessage {
    SyncType type;
    int32_t code;
    char text[512];
};

struct LaunchPlan {
    // Namespaces: clone makes new user and pid ones; the init joins and unshares the rest.
    int clone_flags = 0;
    int unshare_flags = 0;
    struct Join {
        int fd;
        int type;  // CLONE_NEW*
    };
    std::vector<Join> joins;  // user first; pid is joined by the parent before clone
    int join_pid_fd = -1;
    std::vector<isolation::IdRange> uid_map, gid_map;  // a new user namespace's maps
    bool caller_writes_id_maps = false;  // not root: the init stays dumpable until they are written
    std::string time_offsets;  // "monotonic S N\nboottime S N\n"

    isolation::RootfsPlan rootfs;
    bool has_mount_ns = false;
    std::string hostname, domainname;
    bool set_hostname = false, set_domainname = false;
    std::vector<std::pair<std::string, std::string>> sysctl;  // /proc/sys path, value

    // The process.
    std::vector<std::string> args, env;
    std::vector<char*> argv, envp;
    std::string path_env;  // PATH used to find args[0]
    std::string cwd;
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> additional_gids;
    std::optional<mode_t> umask;
    struct Limit {
        int resource;
        rlimit value;
    };
    std::vector<Limit> rlimits;
    isolation::CapabilityMasks capabilities;
    bool no_new_privileges = false;
    std::optional<isolation::SeccompProgram> seccomp;
    bool terminal = false;
    unsigned short console_rows = 0, console_cols = 0;
    int console_socket = -1;
    // The runtime's end of the socketpair whose other end is console_socket, when skiff-oci
    // attaches the terminal itself (no --console-socket): the master arrives on it.
    UniqueFd console_receiver;
    int preserve_fds = 0;
    int stdio[3] = {-1, -1, -1};  // dup'ed onto 0, 1, 2 by the init when set
    bool user_namespace = false;

    // Hooks the init itself runs (in the container's namespaces).
    std::vector<std::unique_ptr<PreparedHook>> create_container_hooks, start_container_hooks;
    bool parent_hooks = false;  // prestart/createRuntime/createContainer: a round trip at setup

    // Channels, set up by the caller before clone.
    int sync_fd = -1;  // init's end of the socketpair
    int fifo_fd = -1;  // exec fifo, opened O_RDWR: start writes a byte to it
    // v1 `tasks` files the init writes "0" to, joining its cgroups without a grace period; they
    // arrive with the go message (SCM_RIGHTS), once the parent has made those cgroups.
    static constexpr size_t kMaxTaskFds = 32;
    int cgroup_tasks_fds[kMaxTaskFds] = {};
    size_t cgroup_tasks_count = 0;
    // The state dir lock fd: the init must not keep the container locked while it waits.
    int lock_fd = -1;

    // Filled in by the init (its own copy).
    char exec_path[4096] = {};
    std::vector<char> state_buffer = std::vector<char>(64 * 1024);
};

// "pid", "network", ... to CLONE_NEWPID, CLONE_NEWNET, ...; 0 for an unknown type.
int clone_flag(const std::string& type);

// The process part of the plan (args, env with HOME and PATH defaults, cwd, user, rlimits,
// capabilities, no_new_privileges) from a validated process; create and exec share it.
[[nodiscard]] Status plan_process(const Process& process, LaunchPlan& plan);
// Connects to the --console-socket that receives a terminal's master.
[[nodiscard]] Result<UniqueFd> connect_console_socket(const std::string& path);
// clone3 with CLONE_INTO_CGROUP puts the child straight into a cgroup2 directory; where clone3
// or that flag is missing, a fork-like clone (placed=false tells the caller to migrate it).
// Returns like fork.
pid_t clone_into_cgroup(uint64_t flags, int cgroup_fd, bool& placed);

// The error for a terminal nobody can receive: skiff-oci would detach (create, run --detach,
// exec --detach) and no --console-socket was given. runc's message, in its meaning.
Error detached_terminal_error();

// Builds the plan from a validated spec. rootfs is the absolute rootfs path, bundle the bundle.
// attach_terminal: a process.terminal without --console-socket goes to skiff-oci itself (run in
// the foreground), through plan.console_receiver; without it, that is an error.
[[nodiscard]] Result<std::unique_ptr<LaunchPlan>> build_launch_plan(
    const Spec& spec, const std::string& rootfs, const std::string& bundle,
    const CreateOptions& options, const isolation::CgroupLayout& layout,
    const std::string& cgroup_path, bool attach_terminal);

// The container's init: runs in the child of clone, never returns. Allocates nothing.
[[noreturn]] void container_init(LaunchPlan& plan) noexcept;

// Steps of the init that an exec'd process takes too (after clone; allocate nothing; 0 or -1
// with err set).
// Finds args[0] along the plan's PATH (in the current root) into plan.exec_path.
int find_executable(LaunchPlan& plan, isolation::ChildError& err) noexcept;
// chdir to plan.cwd, resolved inside the current root (no magic links), and a check that the
// result is reachable from that root (CVE-2024-21626).
int enter_cwd(const LaunchPlan& plan, isolation::ChildError& err) noexcept;
// A pty from the current devpts: the master goes to plan.console_socket, the slave becomes
// stdio and the controlling terminal (of a new session), and /dev/console when
// plan.rootfs.console is set.
int setup_terminal(LaunchPlan& plan, isolation::ChildError& err) noexcept;
// Bounding set, groups, uid/gid, then the other capability sets.
int switch_user(LaunchPlan& plan, isolation::ChildError& err) noexcept;

}  // namespace skiff::runtime
