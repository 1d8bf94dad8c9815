// The pin directory of the BPF loaders and libbpf's messages as error context.
#include "bpf_pins.hpp"

#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <cstdarg>
#include <cstdio>

#include "skiff/base/fs.hpp"

namespace skiff::net::bpf_pins {

namespace {

thread_local std::string libbpf_log;

int capture(enum libbpf_print_level level, const char* fmt, va_list args) {
    if (level == LIBBPF_DEBUG) return 0;
    char line[1024];
    int n = vsnprintf(line, sizeof line, fmt, args);
    libbpf_log += line;
    if (libbpf_log.size() > 8192) libbpf_log.erase(0, libbpf_log.size() - 8192);
    return n;
}

}  // namespace

void capture_libbpf_messages() { libbpf_set_print(capture); }

Error libbpf_error(int err, const std::string& what) {
    std::string log = libbpf_log;
    while (!log.empty() && log.back() == '\n') log.pop_back();
    if (auto nl = log.rfind('\n'); nl != std::string::npos) log = log.substr(nl + 1);
    return Error(err < 0 ? -err : err, log.empty() ? what : what + " (" + log + ")");
}

bool is_on(const std::string& path, long fs_magic) {
    struct statfs st {};
    return statfs(path.c_str(), &st) == 0 && st.f_type == fs_magic;
}

std::string map_pin(const std::string& bpffs, const std::string& name) { return bpffs + "/maps/" + name; }
std::string link_pin(const std::string& bpffs, const std::string& name) { return bpffs + "/links/" + name; }

Status prepare(const std::string& bpffs) {
    if (!fs::exists(bpffs)) {
        auto parent = bpffs.substr(0, bpffs.find_last_of('/'));
        if (!is_on(parent.empty() ? "/" : parent, BPF_FS_MAGIC))
            return Error(ENOENT, bpffs + " does not exist and " + parent +
                                     " is not a bpf filesystem (mount -t bpf bpf " + parent + ")");
        if (mkdir(bpffs.c_str(), 0700) != 0 && errno != EEXIST) return Error::from_errno("mkdir " + bpffs);
    }
    if (!is_on(bpffs, BPF_FS_MAGIC))
        return Error(EINVAL, bpffs + " is not on a bpf filesystem (mount -t bpf bpf DIR)");
    for (const char* sub : {"/maps", "/links"}) {
        std::string d = bpffs + sub;
        if (mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) return Error::from_errno("mkdir " + d);
    }
    return {};
}

Result<UniqueFd> lock(const std::string& bpffs) {
    UniqueFd fd(open(bpffs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return Error::from_errno("open " + bpffs);
    if (flock(fd.get(), LOCK_EX) != 0) return Error::from_errno("lock " + bpffs);
    return fd;
}

}  // namespace skiff::net::bpf_pins
