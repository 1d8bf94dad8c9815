// /proc/PID/stat parsing shared by the runtime and the container manager.
#include "skiff/base/process.hpp"

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

}  // namespace skiff
