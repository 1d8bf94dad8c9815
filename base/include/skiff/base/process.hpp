// What /proc says about a process: its state and start time (which, with the pid, names it for good).
#pragma once

#include <sys/types.h>

#include <optional>

namespace skiff {

struct ProcessStat {
    char state = 0;                     // field 3: R, S, D, Z, X, ...
    unsigned long long start_time = 0;  // field 22, clock ticks since boot
};

// Reads /proc/PID/stat; empty when the process is gone.
std::optional<ProcessStat> read_process_stat(pid_t pid);

// The start time of a live (not zombie) process, or 0 when there is none with that pid.
unsigned long long live_process_start_time(pid_t pid);

}  // namespace skiff
