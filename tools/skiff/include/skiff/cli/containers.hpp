// Single-host containers (`skiff run|ps|logs|stop|rm|exec`): records, rootfs, monitor, lookups.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "skiff/base/result.hpp"
#include "skiff/runtime/container.hpp"
#include "skiff/runtime/image_spec.hpp"

namespace skiff::cli {

// What `skiff run` asks for, with what a pull produced (the image's name, config and layers).
struct RunRequest {
    std::string image_name;
    runtime::ImageProcess image;
    std::vector<std::string> layers;  // unpacked layer snapshot dirs, base layer first
    runtime::RunOptions options;      // options.tty is taken from tty below
    std::string name;                 // --name; generated ("brave_otter") when empty
    bool detach = false;              // -d
    bool remove_after = false;        // --rm
    bool interactive = false;         // -i: the caller's stdin, else /dev/null
    bool tty = false;                 // -t
};

// What `skiff exec` asks for (docker's meaning for each flag).
struct ExecRequest {
    std::string name;  // the container's name, id or id prefix
    std::vector<std::string> command;
    std::vector<std::string> env;        // -e KEY=VALUE, over the container's
    std::optional<std::string> workdir;  // -w
    std::optional<std::string> user;     // -u: name, uid, name:group or uid:gid
    bool interactive = false;            // -i: the caller's stdin, else /dev/null
    bool tty = false;                    // -t
};

struct RunResult {
    std::string id;     // full id (64 hex); `skiff run -d` prints it
    int exit_code = 0;  // foreground only: the container's exit code, 128+N for signal N
};

enum class ContainerState { created, running, exited };

struct ContainerInfo {
    std::string id, name, image;
    std::vector<std::string> command;
    std::chrono::system_clock::time_point created, started, finished;
    ContainerState state = ContainerState::created;
    int exit_code = 0;  // valid when exited; 255 when the exit was lost (its monitor died)
    bool remove_after = false;
    bool detached = false;
    int stop_signal = SIGTERM;
    std::string dir;  // the container's directory: rootfs/, upper/, work/, config.json, log
};

struct ManagerOptions {
    std::string root = "/var/lib/skiff/containers";
    std::string runtime_root = "/run/skiff/runtime";
};

// The containers of one host, kept as directories under options.root.
//
// Exit codes of detached containers: `run -d` forks a monitor (double fork, own session) that
// does the runtime's create itself, so the container's init is the monitor's child; it waits
// for it, records the exit code in the container's record, removes the runtime state, unmounts
// the rootfs and, with --rm, deletes the container. A foreground run is its own monitor. Should
// a monitor die, ps reports the container as exited with 255 once its init is gone, and the
// next ps or rm removes it if it was started with --rm.
// The monitor is forked without exec: call run(detach) from a single-threaded process.
class ContainerManager {
  public:
    explicit ContainerManager(ManagerOptions options = {});

    // Creates and starts a container. Foreground: the caller's stdio (or a pty with tty), the
    // exit code passes through, and forwarded signals (INT, TERM, HUP, QUIT, USR1, USR2) go to
    // the container while it runs. Detached: output to the log file, returns once started.
    // On failure nothing of the container is left.
    [[nodiscard]] Result<RunResult> run(const RunRequest& request);
    // Running containers, or all with all; newest first.
    [[nodiscard]] Result<std::vector<ContainerInfo>> ps(bool all);
    [[nodiscard]] Result<ContainerInfo> inspect(const std::string& name_or_id);
    // Writes the log to out_fd; with follow, keeps writing until the container stops.
    [[nodiscard]] Status logs(const std::string& name_or_id, bool follow,
                              int out_fd = STDOUT_FILENO);
    // The stop signal, then SIGKILL after timeout_s; a stopped container is fine.
    [[nodiscard]] Status stop(const std::string& name_or_id, int timeout_s = 10);
    // Removes a stopped container (force: kills a running one first) and all it had.
    [[nodiscard]] Status rm(const std::string& name_or_id, bool force);
    // Runs a command in a running container (its namespaces, cgroups, capabilities and seccomp
    // filter; its env, cwd and user unless the request changes them). Foreground only: the
    // caller's stdio or a pty, forwarded signals as with run; the exit code passes through.
    [[nodiscard]] Result<int> exec(const ExecRequest& request);
    // A name, a full id or a unique id prefix to the full id.
    [[nodiscard]] Result<std::string> resolve(const std::string& name_or_id);

    const ManagerOptions& options() const { return options_; }

  private:
    ManagerOptions options_;
    runtime::Runtime runtime_;
};

// The `skiff ps` table (CONTAINER ID, IMAGE, COMMAND, CREATED, STATUS, NAMES), docker's wording.
std::string format_ps(const std::vector<ContainerInfo>& rows,
                      std::chrono::system_clock::time_point now);
// "Up 5 seconds", "Exited (3) 2 minutes ago", "Created".
std::string status_text(const ContainerInfo& info, std::chrono::system_clock::time_point now);
// Docker's human durations: "Less than a second", "5 seconds", "About a minute", "3 hours".
std::string human_duration(std::chrono::system_clock::duration d);

}  // namespace skiff::cli
