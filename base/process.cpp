// /proc/PID/stat parsing shared by the runtime and the container manager.
#include "skiff/base/process.hpp"

#include <pthread.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "skiff/base/fs.hpp"

namespace skiff {

std::optional<ProcessStat> read_process_stat(pid_t pid) {
    auto text = fs::read_file("/proc/" + std::to_string(pid) + "/stat");
    if (!text) return std::nullopt;
    // The command name (field 2) may hold spaces and parentheses: fields restart after the last ')'.
    size_t close_paren = text->rfind(')');
    if (close_paren == std::string::npos || close_paren + 2 >= text->size()) return std::nullopt;
    const char* p = text->c_str() + close_paren + 2;
    ProcessStat out;
    out.state = *p;
    int field = 3;
    while (*p && field < 22) {
        if (*p == ' ') ++field;
        ++p;
    }
    out.start_time = std::strtoull(p, nullptr, 10);
    return out;
}

unsigned long long live_process_start_time(pid_t pid) {
    auto st = read_process_stat(pid);
    if (!st || st->state == 'Z' || st->state == 'X') return 0;
    return st->start_time;
}

int exit_code_of(int wait_status) {
    return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

Result<int> wait_for_child(pid_t pid, const std::string& what) {
    int status = 0;
    pid_t w;
    do w = waitpid(pid, &status, 0);
    while (w < 0 && errno == EINTR);
    if (w != pid) return Error::from_errno("wait for " + what);
    return exit_code_of(status);
}

int wait_forwarding(pid_t pid, const sigset_t& forward) {
    for (;;) {
        siginfo_t info{};
        if (sigwaitinfo(&forward, &info) < 0) {
            if (errno == EINTR) continue;
            break;  // can't happen with a valid set; wait without forwarding
        }
        if (info.si_signo != SIGCHLD) {
            ::kill(pid, info.si_signo);
            continue;
        }
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) return exit_code_of(status);
    }
    auto code = wait_for_child(pid, "child " + std::to_string(pid));
    return code ? *code : -1;
}

void name_thread(std::thread& thread, std::string_view name) {
    // The kernel's limit is 16 bytes with the NUL; pthread_setname_np refuses a longer name, so cut it.
    std::string cut(name.substr(0, 15));
    pthread_setname_np(thread.native_handle(), cut.c_str());
}

}  // namespace skiff
