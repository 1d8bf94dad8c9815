// Container lifecycle as the OCI runtime spec defines it: create, start, state, kill, delete.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "skiff/base/result.hpp"
#include "skiff/isolation/cgroup.hpp"
#include "skiff/runtime/spec.hpp"

namespace skiff::runtime {

struct Spec;

struct CreateOptions {
    std::string id;
    std::string bundle;          // directory holding config.json
    std::string pid_file;        // written with the container's pid once it is created
    std::string console_socket;  // AF_UNIX socket that receives the terminal's master fd
    bool no_pivot = false;
    int preserve_fds = 0;        // fds 3 .. 3+N-1 pass into the container
    // The container's stdin, stdout and stderr; -1 keeps the caller's (runc's behaviour). A
    // library caller such as `skiff run -d` points them at a log file.
    int stdio[3] = {-1, -1, -1};
    // A library caller that built the spec itself (skiff run) passes it with the config.json text
    // it wrote to the bundle, sparing a re-read and re-parse. Both or neither.
    const Spec* spec = nullptr;
    std::string config_json;
};

enum class ContainerStatus { creating, created, running, stopped, paused };
const char* status_name(ContainerStatus status);

struct ContainerState {
    std::string oci_version, id, bundle, rootfs, created, owner;
    ContainerStatus status = ContainerStatus::stopped;
    pid_t pid = 0;
    std::vector<std::pair<std::string, std::string>> annotations;
    // The state JSON of the runtime spec (ociVersion, id, status, pid, bundle, annotations).
    std::string to_json() const;
};

// ---- exec: one more process in an existing container ----

// What exec runs. With process (exec --process FILE) that process is used as it is. Without,
// the container's own config process is the base and the fields below change it the way
// runc exec's flags do.
struct ExecOptions {
    std::string id;
    std::optional<Process> process;
    std::vector<std::string> args;              // the command; required without process
    std::vector<std::string> env;               // KEY=VALUE; replaces a base entry of that key
    std::string cwd;                            // empty: the base's
    std::optional<uint32_t> uid, gid;           // --user UID[:GID]
    std::vector<uint32_t> additional_gids;      // added to the base's
    std::vector<std::string> add_capabilities;  // --cap: bounding, effective, permitted, ambient
    std::optional<bool> no_new_privileges;      // --no-new-privs
    bool terminal = false;                      // --tty (the base's terminal is not used)

    bool detach = false;          // the process is nobody's child: the host reaps it (runc -d)
    std::string pid_file;         // written with the process's pid once it runs its program
    std::string console_socket;   // receives the terminal's master (terminal needs it)
    int preserve_fds = 0;         // fds 3 .. 3+N-1 pass into the process
    int stdio[3] = {-1, -1, -1};  // -1 keeps the caller's
};

// The process exec runs for options, given the container's config process (runc's rules: the
// last --env of a key wins in place, --user keeps the base's gid unless it names one, --cap adds
// to every set but the inheritable one). Pure; checks the result as config.json's process.
[[nodiscard]] Result<Process> exec_process(const Process& container_process,
                                           const ExecOptions& options);
// The text of `exec --process FILE`: one OCI process object, checked as config.json's process.
[[nodiscard]] Result<Process> parse_exec_process(const std::string& json_text);
struct UserIds {
    uint32_t uid = 0;
    std::optional<uint32_t> gid;
};
// runc's --user: "UID" or "UID:GID", numbers only.
[[nodiscard]] Result<UserIds> parse_user_ids(const std::string& text);
// --cap names: "CAP_NET_ADMIN", "net_admin" or "NET_ADMIN" to "CAP_NET_ADMIN", if this kernel
// knows it.
[[nodiscard]] Result<std::string> parse_capability_name(const std::string& text);

// The runtime rooted at a state directory (runc's --root). Every operation on one container
// holds that container's lock, so concurrent commands are serialised.
class Runtime {
public:
    // rootless: whether the caller lacks root on the host (runc's --rootless); unset, it is
    // detected (running_rootless). A rootless runtime makes cgroups only where it may (a
    // delegated subtree) and otherwise runs containers without one, warning what that loses.
    explicit Runtime(std::string root, bool systemd_cgroup = false,
                     std::optional<bool> rootless = std::nullopt);

    // Prepares everything and leaves the container's process waiting for start.
    [[nodiscard]] skiff::Status create(const CreateOptions& options);
    // Lets the created container's process run its program; runs the poststart hooks.
    [[nodiscard]] skiff::Status start(const std::string& id);
    // create + start + wait: returns the exit code of the container's process (128+N for a
    // signal). detach=true returns 0 once started.
    [[nodiscard]] Result<int> run(const CreateOptions& options, bool detach);
    [[nodiscard]] Result<ContainerState> state(const std::string& id);
    [[nodiscard]] skiff::Status kill(const std::string& id, int signal, bool all);
    // Removes a stopped (or, with force, any) container: process, cgroup, state; poststop hooks.
    [[nodiscard]] skiff::Status remove(const std::string& id, bool force);
    [[nodiscard]] Result<std::vector<ContainerState>> list();
    // Pids of every process in the container's cgroup (host pid namespace); for a container
    // without a cgroup (rootless), those in its pid namespace.
    [[nodiscard]] Result<std::vector<pid_t>> pids(const std::string& id);

    // Freezes every process of a created or running container (its status becomes paused) and
    // thaws it again. Errors when the container is in any other state.
    [[nodiscard]] skiff::Status pause(const std::string& id);
    [[nodiscard]] skiff::Status resume(const std::string& id);
    // Changes the limits of a created, running or paused container (skiff-oci update): change is
    // merged into its linux.resources by plan_resource_update's rules (update.hpp), written
    // through its cgroup and recorded in its saved config, where later reads see it.
    [[nodiscard]] skiff::Status update(const std::string& id, const isolation::Resources& change);
    // Usage statistics of a created, running or paused container's cgroup.
    [[nodiscard]] Result<isolation::CgroupStats> stats(const std::string& id);
    // Streams the container's events to emit as runc's JSON lines: a stats event every interval
    // (the first after one interval) and an oom event whenever its cgroup runs out of memory.
    // Returns once the container stops; the container is not locked meanwhile.
    [[nodiscard]] skiff::Status events(const std::string& id, std::chrono::milliseconds interval,
                                       const std::function<void(const std::string&)>& emit);

    // exec into a created or running container: the process joins every namespace of the
    // container's init and its cgroups, and gets the container's seccomp filter. Returns the
    // process's pid (host pid namespace) once it runs its program; failures before that (no
    // such executable, bad cwd or user) are errors. Without detach the caller is the process's
    // parent and must reap it.
    [[nodiscard]] Result<pid_t> exec_start(const ExecOptions& options);
    // exec_start, then waits while forwarding INT, TERM, HUP, QUIT, USR1, USR2 and WINCH to the
    // process: its exit code, 128+N for signal N. With detach, 0 once it runs.
    [[nodiscard]] Result<int> exec(const ExecOptions& options);

    const std::string& root() const { return root_; }

private:
    // Only create needs it: detected there, so other commands read no /proc file for it.
    bool rootless();

    std::string root_;
    bool systemd_cgroup_;
    std::optional<bool> rootless_;
};

// Whether this process is unprivileged on the host: not root, or root of a user namespace that
// maps less than every id (as under rootlesskit).
bool running_rootless();

// Signal names ("KILL", "SIGKILL") and numbers ("9") to numbers.
[[nodiscard]] Result<int> parse_signal(const std::string& text);
// Container ids: letters, digits, '_', '-', '.', not starting with '.'.
[[nodiscard]] skiff::Status validate_container_id(const std::string& id);

}  // namespace skiff::runtime
