// Processes: what /proc says about one (its state and start time, which with the pid names it for
// good), and waiting for a child's exit code.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "skiff/base/result.hpp"

namespace skiff {

struct ProcessStat {
    char state = 0;                     // field 3: R, S, D, Z, X, ...
    unsigned long long start_time = 0;  // field 22, clock ticks since boot
};

// Reads /proc/PID/stat; empty when the process is gone.
std::optional<ProcessStat> read_process_stat(pid_t pid);

// The start time of a live (not zombie) process, or 0 when there is none with that pid.
unsigned long long live_process_start_time(pid_t pid);

// A waitpid status as a shell reports it: the exit code, or 128+N for signal N.
int exit_code_of(int wait_status);
// Waits for the child pid (through EINTR); its exit code as exit_code_of gives it. what names
// the child in the error.
[[nodiscard]] Result<int> wait_for_child(pid_t pid, const std::string& what);
// Waits for the child pid while the signals of `forward` (blocked by the caller, SIGCHLD among
// them) arrive: each one but SIGCHLD is passed on to the child. Its exit code (-1 if the child
// could not be waited for).
int wait_forwarding(pid_t pid, const sigset_t& forward);

// Names a thread (its comm, which top -H, ps -L and perf show), from the thread that started it, so that
// the name is there once the constructor returns; the first 15 bytes are kept. A server's threads say what
// they do ("store-writer", "api-request"), not all "skiff".
void name_thread(std::thread& thread, std::string_view name);

}  // namespace skiff
