// Container lifecycle as the OCI runtime spec defines it: create, start, state, kill, delete.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "skiff/base/result.hpp"

namespace skiff::runtime {

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

// The runtime rooted at a state directory (runc's --root). Every operation on one container
// holds that container's lock, so concurrent commands are serialised.
class Runtime {
public:
    explicit Runtime(std::string root, bool systemd_cgroup = false);

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
    // Pids of every process in the container's cgroup (host pid namespace).
    [[nodiscard]] Result<std::vector<pid_t>> pids(const std::string& id);

    const std::string& root() const { return root_; }

private:
    std::string root_;
    bool systemd_cgroup_;
};

// Signal names ("KILL", "SIGKILL") and numbers ("9") to numbers.
[[nodiscard]] Result<int> parse_signal(const std::string& text);
// Container ids: letters, digits, '_', '-', '.', not starting with '.'.
[[nodiscard]] skiff::Status validate_container_id(const std::string& id);

}  // namespace skiff::runtime
