// User namespace id maps: root writes them, others their own id or newuidmap/newgidmap.
#include "skiff/isolation/id_map.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>

#include "skiff/base/fs.hpp"
#include "skiff/base/unique_fd.hpp"

namespace skiff::isolation {
namespace {

std::vector<std::string_view> split_fields(std::string_view line, char sep) {
    std::vector<std::string_view> out;
    size_t pos = 0;
    for (;;) {
        size_t end = line.find(sep, pos);
        out.push_back(line.substr(pos, end == std::string_view::npos ? end : end - pos));
        if (end == std::string_view::npos) return out;
        pos = end + 1;
    }
}

bool parse_number(std::string_view s, uint64_t& out) {
    if (s.empty()) return false;
    auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

std::string range_text(uint64_t start, uint64_t count) {
    return count == 1 ? std::to_string(start)
                      : std::to_string(start) + "-" + std::to_string(start + count - 1);
}

// A helper on PATH (the uidmap package puts them in /usr/bin), as runc looks them up.
std::string find_on_path(const char* name) {
    const char* env = getenv("PATH");
    std::string path = env && *env ? env : "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
    for (auto dir : split_fields(path, ':')) {
        if (dir.empty()) continue;
        std::string candidate = std::string(dir) + "/" + name;
        if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return {};
}

// Runs newuidmap/newgidmap PID ranges... and returns its failure with what it printed.
Status run_map_helper(const char* name, pid_t pid, const std::vector<IdRange>& ranges,
                      const std::string& field) {
    std::string helper = find_on_path(name);
    if (helper.empty())
        return Error(ENOENT, field + ": " + name +
                                 " not found on PATH: an unprivileged user needs it (package "
                                 "uidmap) to map more than its own id");
    std::vector<std::string> args = {helper, std::to_string(pid)};
    for (const auto& r : ranges) {
        args.push_back(std::to_string(r.inside));
        args.push_back(std::to_string(r.outside));
        args.push_back(std::to_string(r.count));
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) return Error::from_errno(std::string("pipe for ") + name);
    UniqueFd read_end(pipefd[0]), write_end(pipefd[1]);
    pid_t child = fork();
    if (child < 0) return Error::from_errno(std::string("fork ") + name);
    if (child == 0) {
        // Only async-signal-safe calls between fork and execve.
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null >= 0) dup2(null, STDIN_FILENO);
        dup2(write_end.get(), STDOUT_FILENO);
        dup2(write_end.get(), STDERR_FILENO);
        execv(argv[0], argv.data());
        _exit(127);
    }
    write_end.reset();
    std::string output;
    char buf[512];
    for (;;) {
        ssize_t n = read(read_end.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (output.size() < 4096) output.append(buf, static_cast<size_t>(n));
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
    while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
    for (auto& c : output)
        if (c == '\n') c = ' ';
    return Error(
        EPERM, field + ": " + name + " failed (" +
                   (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status)) : "killed") +
                   ")" + (output.empty() ? "" : ": " + output));
}

Status write_proc_file(pid_t pid, const char* file, const std::string& text,
                       const std::string& field) {
    std::string path = "/proc/" + std::to_string(pid) + "/" + file;
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    // One write: the kernel takes a map only in a single write.
    if (!fd || ::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
        return Error::from_errno(field + ": write " + path);
    return {};
}

// One map of an unprivileged caller: its own id directly, anything else through the helper.
Status write_unprivileged_map(pid_t pid, bool gid, const std::vector<IdRange>& ranges) {
    std::string field = gid ? "linux.gidMappings" : "linux.uidMappings";
    uint32_t own = gid ? getegid() : geteuid();
    if (is_own_id_map(ranges, own)) {
        if (gid) SKIFF_TRY(write_proc_file(pid, "setgroups", "deny", field));
        return write_proc_file(pid, gid ? "gid_map" : "uid_map", id_map_text(ranges), field);
    }
    std::string file = gid ? "/etc/subgid" : "/etc/subuid";
    std::string user = user_name(geteuid());
    auto text = fs::read_file(file);
    std::vector<SubordinateRange> granted;
    if (text) granted = parse_subordinate_ids(*text, user, geteuid());
    SKIFF_TRY(check_subordinate_map(ranges, own, granted, field, file, user));
    return run_map_helper(gid ? "newgidmap" : "newuidmap", pid, ranges, field);
}

}  // namespace

std::string id_map_text(const std::vector<IdRange>& ranges) {
    std::string out;
    for (const auto& r : ranges)
        out += std::to_string(r.inside) + " " + std::to_string(r.outside) + " " +
               std::to_string(r.count) + "\n";
    return out;
}

std::vector<SubordinateRange> parse_subordinate_ids(std::string_view text, std::string_view user,
                                                    uint32_t id) {
    std::vector<SubordinateRange> out;
    std::string id_text = std::to_string(id);
    for (auto line : split_fields(text, '\n')) {
        auto f = split_fields(line, ':');
        if (f.size() != 3 || (f[0] != user && f[0] != id_text)) continue;
        SubordinateRange r;
        if (!parse_number(f[1], r.start) || !parse_number(f[2], r.count) || r.count == 0) continue;
        out.push_back(r);
    }
    return out;
}

bool is_own_id_map(const std::vector<IdRange>& ranges, uint32_t own_id) {
    return ranges.size() == 1 && ranges[0].count == 1 && ranges[0].outside == own_id;
}

Status check_subordinate_map(const std::vector<IdRange>& ranges, uint32_t own_id,
                             const std::vector<SubordinateRange>& granted, const std::string& field,
                             const std::string& file, const std::string& user) {
    for (size_t i = 0; i < ranges.size(); ++i) {
        const auto& r = ranges[i];
        uint64_t start = r.outside, end = uint64_t{r.outside} + r.count;
        if (r.count == 1 && r.outside == own_id) continue;
        bool inside = false;
        for (const auto& g : granted)
            if (start >= g.start && end <= g.start + g.count) inside = true;
        if (inside) continue;
        std::string have;
        for (const auto& g : granted)
            have += (have.empty() ? "" : ", ") + range_text(g.start, g.count);
        return Error(
            EPERM, field + "[" + std::to_string(i) + "]: host ids " + range_text(start, r.count) +
                       " are not allowed for user " + user + " (uid " + std::to_string(geteuid()) +
                       "): " + file +
                       (have.empty() ? " has no range for " + user : " grants only " + have) +
                       "; an unprivileged user may map its own id and ranges from " + file);
    }
    return {};
}

Status write_id_maps(pid_t pid, const std::vector<IdRange>& uid_map,
                     const std::vector<IdRange>& gid_map) {
    if (geteuid() == 0) {
        // CAP_SETUID/CAP_SETGID in the parent namespace: any map, and setgroups stays allowed.
        SKIFF_TRY(write_proc_file(pid, "uid_map", id_map_text(uid_map), "linux.uidMappings"));
        return write_proc_file(pid, "gid_map", id_map_text(gid_map), "linux.gidMappings");
    }
    SKIFF_TRY(write_unprivileged_map(pid, false, uid_map));
    return write_unprivileged_map(pid, true, gid_map);
}

std::string user_name(uid_t uid) {
    std::string id = std::to_string(uid);
    auto passwd = fs::read_file("/etc/passwd");
    if (!passwd) return id;
    for (auto line : split_fields(*passwd, '\n')) {
        auto f = split_fields(line, ':');
        if (f.size() >= 3 && f[2] == id) return std::string(f[0]);
    }
    return id;
}

}  // namespace skiff::isolation
