// OOM notifications of a cgroup: v1 eventfd registration on memory.oom_control, v2 memory.events.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "skiff/base/fs.hpp"
#include "skiff/isolation/cgroup.hpp"

namespace skiff::isolation {

namespace {

struct OomCounts {
    uint64_t oom = 0, oom_kill = 0;
};

OomCounts read_memory_events(const std::string& dir) {
    auto text = fs::read_file(dir + "/memory.events");
    if (!text) return {};
    auto keyed = parse_flat_keyed(*text);
    return {keyed["oom"], keyed["oom_kill"]};
}

}  // namespace

Result<OomWatch> Cgroup::watch_oom() const {
    OomWatch w;
    w.dir_ = dir_for("memory");
    if (w.dir_.empty()) return w;  // no memory controller: nothing can run out of it
    w.v1_ = w.dir_ != dir_for("");
    if (w.v1_) {
        w.fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (!w.fd_) return Error::from_errno("eventfd");
        std::string oom_control = w.dir_ + "/memory.oom_control";
        w.control_.reset(::open(oom_control.c_str(), O_RDONLY | O_CLOEXEC));
        if (!w.control_) return Error::from_errno("open " + oom_control);
        // "<eventfd> <fd of the file to watch>": the kernel signals the eventfd on every OOM
        // of the cgroup, and once more when the cgroup is removed.
        std::string reg = std::to_string(w.fd_.get()) + " " + std::to_string(w.control_.get());
        SKIFF_TRY_CTX(fs::write_file(w.dir_ + "/cgroup.event_control", reg),
                      "register for OOM notifications of " + w.dir_);
        return w;
    }
    w.fd_.reset(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
    if (!w.fd_) return Error::from_errno("inotify_init1");
    std::string events = w.dir_ + "/memory.events";
    if (::inotify_add_watch(w.fd_.get(), events.c_str(), IN_MODIFY) < 0)
        return Error::from_errno("watch " + events);
    auto counts = read_memory_events(w.dir_);
    w.oom_ = counts.oom;
    w.oom_kill_ = counts.oom_kill;
    return w;
}

int OomWatch::consume() {
    if (!fd_) return 0;
    if (v1_) {
        uint64_t count = 0;
        ssize_t n;
        do n = ::read(fd_.get(), &count, sizeof count);
        while (n < 0 && errno == EINTR);
        if (n != static_cast<ssize_t>(sizeof count)) return 0;  // EAGAIN: nothing new
        if (!fs::exists(dir_ + "/memory.oom_control")) {
            // The wake-up of the cgroup's removal, not an OOM.
            fd_.reset();
            control_.reset();
            return 0;
        }
        // One event per wake-up, as runc reports them (the counter may merge several).
        return 1;
    }
    alignas(inotify_event) char buf[4096];
    bool gone = false;
    for (;;) {
        ssize_t n = ::read(fd_.get(), buf, sizeof buf);
        if (n <= 0) break;
        for (ssize_t off = 0; off + static_cast<ssize_t>(sizeof(inotify_event)) <= n;) {
            auto* e = reinterpret_cast<inotify_event*>(buf + off);
            if (e->mask & IN_IGNORED) gone = true;  // the file went with its cgroup
            off += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
        }
    }
    auto counts = read_memory_events(dir_);
    bool more = counts.oom > oom_ || counts.oom_kill > oom_kill_;
    oom_ = std::max(oom_, counts.oom);
    oom_kill_ = std::max(oom_kill_, counts.oom_kill);
    if (gone) fd_.reset();
    return more ? 1 : 0;
}

}  // namespace skiff::isolation
