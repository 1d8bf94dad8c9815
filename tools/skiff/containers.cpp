// Single-host containers: records and names, the overlay rootfs, foreground runs, the monitor
// of detached ones, ps/logs/stop/rm.
#include "skiff/cli/containers.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "skiff/base/fs.hpp"
#include "skiff/base/process.hpp"
#include "skiff/base/log.hpp"
#include "skiff/base/unique_fd.hpp"
#include "skiff/cli/console.hpp"
#include "skiff/images/overlay.hpp"
#include "skiff/runtime/spec.hpp"

namespace skiff::cli {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::system_clock;

constexpr const char* kRecordFile = "container.json";
constexpr const char* kLogFile = "container.log";
constexpr const char* kRootLock = ".lock";
constexpr size_t kIdBytes = 32;  // 64 hex digits
constexpr size_t kShortId = 12;

// The record on disk: what ps shows, plus who waits for the init (owner) and how the rootfs
// was made.
struct Record {
    ContainerInfo info;
    pid_t owner_pid = 0;
    unsigned long long owner_start = 0;
    bool copied_rootfs = false;
};

int64_t to_ns(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
Clock::time_point from_ns(int64_t ns) {
    return Clock::time_point(
        std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
}

const char* state_name(ContainerState s) {
    switch (s) {
        case ContainerState::created:
            return "created";
        case ContainerState::running:
            return "running";
        case ContainerState::exited:
            return "exited";
    }
    return "created";
}

std::string record_json(const Record& r) {
    const ContainerInfo& i = r.info;
    json j = {{"id", i.id},
              {"name", i.name},
              {"image", i.image},
              {"command", i.command},
              {"created", to_ns(i.created)},
              {"started", to_ns(i.started)},
              {"finished", to_ns(i.finished)},
              {"state", state_name(i.state)},
              {"exitCode", i.exit_code},
              {"removeAfter", i.remove_after},
              {"detached", i.detached},
              {"stopSignal", i.stop_signal},
              {"ownerPid", r.owner_pid},
              {"ownerStart", r.owner_start},
              {"copiedRootfs", r.copied_rootfs}};
    return j.dump(2) + "\n";
}

Result<Record> parse_record(const std::string& text, const std::string& dir) {
    try {
        json j = json::parse(text);
        Record r;
        ContainerInfo& i = r.info;
        i.id = j.at("id").get<std::string>();
        i.name = j.at("name").get<std::string>();
        i.image = j.at("image").get<std::string>();
        i.command = j.at("command").get<std::vector<std::string>>();
        i.created = from_ns(j.at("created").get<int64_t>());
        i.started = from_ns(j.at("started").get<int64_t>());
        i.finished = from_ns(j.at("finished").get<int64_t>());
        std::string s = j.at("state").get<std::string>();
        i.state = s == "running"  ? ContainerState::running
                  : s == "exited" ? ContainerState::exited
                                  : ContainerState::created;
        i.exit_code = j.at("exitCode").get<int>();
        i.remove_after = j.at("removeAfter").get<bool>();
        i.detached = j.at("detached").get<bool>();
        i.stop_signal = j.at("stopSignal").get<int>();
        i.dir = dir;
        r.owner_pid = j.at("ownerPid").get<pid_t>();
        r.owner_start = j.at("ownerStart").get<unsigned long long>();
        r.copied_rootfs = j.at("copiedRootfs").get<bool>();
        return r;
    } catch (const std::exception& e) {
        return Error(EINVAL, "corrupt container record in " + dir + ": " + e.what());
    }
}

Status save(const Record& r) {
    return fs::write_file_atomic(r.info.dir + "/" + kRecordFile, record_json(r), 0600);
}

Result<Record> load(const std::string& dir) {
    auto text = fs::read_file(dir + "/" + kRecordFile);
    if (!text) return std::move(text).error();
    return parse_record(*text, dir);
}

bool is_full_id(const std::string& s) {
    return s.size() == 2 * kIdBytes &&
           std::all_of(s.begin(), s.end(), [](char c) { return isxdigit(c) && !isupper(c); });
}

Result<std::vector<Record>> load_all(const std::string& root) {
    std::vector<Record> out;
    DIR* d = ::opendir(root.c_str());
    if (!d) {
        if (errno == ENOENT) return out;
        return Error::from_errno("open " + root);
    }
    std::vector<std::string> ids;
    while (dirent* e = ::readdir(d))
        if (is_full_id(e->d_name)) ids.emplace_back(e->d_name);
    ::closedir(d);
    for (const auto& id : ids) {
        // A directory without its record is being made or removed right now.
        if (auto r = load(root + "/" + id)) out.push_back(std::move(*r));
    }
    return out;
}

bool owner_alive(const Record& r) {
    return r.owner_pid > 0 && live_process_start_time(r.owner_pid) == r.owner_start;
}

void set_owner_self(Record& r) {
    r.owner_pid = getpid();
    r.owner_start = live_process_start_time(r.owner_pid);
}

// The state as it really is: a running record whose owner is gone (killed monitor) is running
// only while the runtime still sees its init.
Record reconcile(runtime::Runtime& rt, Record r) {
    if (r.info.state != ContainerState::running || owner_alive(r)) return r;
    auto st = rt.state(r.info.id);
    if (st && st->status != runtime::ContainerStatus::stopped) return r;
    r.info.state = ContainerState::exited;
    r.info.exit_code = 255;
    return r;
}

std::string random_hex(size_t bytes) {
    std::vector<unsigned char> buf(bytes);
    size_t got = 0;
    while (got < bytes) {
        ssize_t n = getrandom(buf.data() + got, bytes - got, 0);
        if (n < 0 && errno == EINTR) continue;
        assert(n > 0);
        got += static_cast<size_t>(n);
    }
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char b : buf) {
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

uint32_t random_below(uint32_t n) {
    uint32_t v = 0;
    while (getrandom(&v, sizeof v, 0) != sizeof v) {
    }
    return v % n;
}

std::string generate_name() {
    static const char* const adjectives[] = {
        "brave",  "calm",   "eager",  "fancy", "gentle", "happy", "jolly",  "keen",
        "lucid",  "merry",  "nimble", "proud", "quiet",  "rapid", "sharp",  "sunny",
        "tender", "upbeat", "vivid",  "witty", "zesty",  "bold",  "clever", "dreamy"};
    static const char* const nouns[] = {
        "otter",  "falcon", "maple",   "harbor", "comet",  "badger",  "cedar",   "delta",
        "ember",  "fjord",  "glacier", "heron",  "island", "juniper", "kestrel", "lagoon",
        "meadow", "nebula", "orchid",  "pebble", "quartz", "raven",   "spruce",  "tundra"};
    return std::string(adjectives[random_below(std::size(adjectives))]) + "_" +
           nouns[random_below(std::size(nouns))];
}

Status validate_name(const std::string& name) {
    bool ok = !name.empty() && isalnum(static_cast<unsigned char>(name[0])) && name.size() <= 128;
    for (char c : name)
        ok = ok && (isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-');
    if (!ok)
        return Error(EINVAL, "invalid container name \"" + name +
                                 "\": use letters, digits, '_', '.' and '-', starting with a "
                                 "letter or digit");
    return {};
}

// An exclusive flock held for the object's lifetime.
class FileLock {
  public:
    static Result<FileLock> on_file(const std::string& path) {
        UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
        if (!fd) return Error::from_errno("open " + path);
        return lock(std::move(fd), path);
    }
    // Locks a container's directory; ENOENT when it was removed meanwhile.
    static Result<FileLock> on_container(const std::string& dir) {
        UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!fd) return Error::from_errno("open " + dir);
        auto l = lock(std::move(fd), dir);
        if (l && faccessat(l->fd_.get(), kRecordFile, F_OK, 0) != 0)
            return Error(ENOENT, "container removed: " + dir);
        return l;
    }

  private:
    static Result<FileLock> lock(UniqueFd fd, const std::string& what) {
        while (flock(fd.get(), LOCK_EX) != 0)
            if (errno != EINTR) return Error::from_errno("lock " + what);
        FileLock l;
        l.fd_ = std::move(fd);
        return l;
    }
    UniqueFd fd_;
};

bool is_mount_point(const std::string& path) {
    struct stat self {
    }, parent{};
    if (::stat(path.c_str(), &self) != 0 || ::stat((path + "/..").c_str(), &parent) != 0)
        return false;
    return self.st_dev != parent.st_dev;
}

// The runtime's state (killing a leftover init), the rootfs mount; leaves the directories.
Status release_runtime_and_rootfs(runtime::Runtime& rt, const std::string& id,
                                  const std::string& dir) {
    if (auto r = rt.remove(id, true); !r && r.error().code() != ENOENT)
        return std::move(r).error().context("remove runtime state");
    std::string rootfs = dir + "/rootfs";
    if (is_mount_point(rootfs)) SKIFF_TRY_CTX(images::unmount_rootfs(rootfs), "unmount rootfs");
    return {};
}

// Everything of a container: runtime state, mount, directory.
Status destroy(runtime::Runtime& rt, const std::string& id, const std::string& dir) {
    SKIFF_TRY(release_runtime_and_rootfs(rt, id, dir));
    return fs::remove_all(dir);
}

// Undoes a run that did not get its container started.
class PendingContainer {
  public:
    explicit PendingContainer(runtime::Runtime& rt) : rt_(rt) {}
    PendingContainer(const PendingContainer&) = delete;
    ~PendingContainer() {
        if (committed_ || dir_.empty()) return;
        if (auto r = destroy(rt_, id_, dir_); !r) log::warning(r.error().what());
    }
    void own(std::string id, std::string dir) {
        id_ = std::move(id);
        dir_ = std::move(dir);
    }
    void commit() { committed_ = true; }

  private:
    runtime::Runtime& rt_;
    std::string id_, dir_;
    bool committed_ = false;
};

// Signals a foreground run forwards to the container; blocked and read from a signalfd while
// it runs, so they neither kill skiff (whose terminal mode and cleanup must still happen) nor
// get lost. The previous mask comes back when this goes.
class ForwardedSignals {
  public:
    ForwardedSignals() {
        sigset_t set;
        sigemptyset(&set);
        for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH})
            sigaddset(&set, s);
        pthread_sigmask(SIG_BLOCK, &set, &old_);
        fd_.reset(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    }
    ForwardedSignals(const ForwardedSignals&) = delete;
    ~ForwardedSignals() {
        // What arrived after the container ended is consumed, not delivered on unblocking.
        signalfd_siginfo si;
        while (fd_ && ::read(fd_.get(), &si, sizeof si) == sizeof si) {
        }
        pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
    int fd() const { return fd_.get(); }

  private:
    sigset_t old_;
    UniqueFd fd_;
};

// The init of a created container, killed and reaped unless the wait for it completes.
class InitProcess {
  public:
    InitProcess(runtime::Runtime& rt, std::string id) : rt_(rt), id_(std::move(id)) {}
    InitProcess(const InitProcess&) = delete;
    ~InitProcess() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
            }
        }
        if (auto r = rt_.remove(id_, true); !r && r.error().code() != ENOENT)
            log::warning(r.error().what());
    }
    Status attach() {
        auto st = rt_.state(id_);
        if (!st) return std::move(st).error();
        pid_ = st->pid;
        pidfd_.reset(static_cast<int>(syscall(SYS_pidfd_open, pid_, 0)));
        if (!pidfd_) return Error::from_errno("pidfd_open container init");
        return {};
    }
    pid_t pid() const { return pid_; }
    int pidfd() const { return pidfd_.get(); }
    // Reaps the exited init: its exit code, 128+N for signal N.
    Result<int> reap() {
        auto code = wait_for_child(pid_, "container init");
        if (code) pid_ = -1;
        return code;
    }

  private:
    runtime::Runtime& rt_;
    std::string id_;
    pid_t pid_ = -1;
    UniqueFd pidfd_;
};

// After the init is gone: runtime state and mount released, then the record says exited (or,
// with --rm, the container is gone). Under the container's lock, against a concurrent rm.
void finish(runtime::Runtime& rt, Record& rec, int exit_code) {
    auto lock = FileLock::on_container(rec.info.dir);
    if (!lock) return;  // removed meanwhile (rm -f)
    if (auto r = release_runtime_and_rootfs(rt, rec.info.id, rec.info.dir); !r)
        log::warning(r.error().what());
    if (rec.info.remove_after) {
        if (auto r = fs::remove_all(rec.info.dir); !r) log::warning(r.error().what());
        return;
    }
    rec.info.state = ContainerState::exited;
    rec.info.exit_code = exit_code;
    rec.info.finished = Clock::now();
    if (auto r = save(rec); !r) log::warning(r.error().what());
}

struct StartIo {
    bool foreground = false;
    bool interactive = false;
    bool tty = false;
    int log_fd = -1;  // detached: the container's stdout and stderr
    // The spec and the config.json text written to the bundle: the runtime takes them as they
    // are instead of reading and parsing the file again.
    const runtime::Spec* spec = nullptr;
    const std::string* config_json = nullptr;
};

// create, start, wait: the part of a run done by its owner (the foreground skiff or the
// monitor), which is thereby the parent of the container's init. on_started runs once the
// container runs; errors before that leave no runtime state behind.
Result<int> start_and_wait(runtime::Runtime& rt, Record& rec, const StartIo& io,
                           const std::function<void()>& on_started) {
    std::optional<ForwardedSignals> signals;
    if (io.foreground) signals.emplace();
    std::optional<ConsoleSocket> console;
    if (io.tty) {
        auto cs = ConsoleSocket::listen(rec.info.dir);
        if (!cs) return std::move(cs).error();
        console.emplace(std::move(*cs));
    }
    UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!devnull) return Error::from_errno("open /dev/null");

    runtime::CreateOptions co;
    co.id = rec.info.id;
    co.bundle = rec.info.dir;
    if (io.spec && io.config_json) {
        co.spec = io.spec;
        co.config_json = *io.config_json;
    }
    if (console) co.console_socket = console->connect_path();
    if (!io.foreground) {
        co.stdio[0] = devnull.get();
        co.stdio[1] = co.stdio[2] = io.log_fd;
    } else if (!io.interactive) {
        co.stdio[0] = devnull.get();
    }
    SKIFF_TRY(rt.create(co));
    InitProcess init(rt, rec.info.id);
    SKIFF_TRY(init.attach());
    UniqueFd master;
    if (console) {
        auto m = console->receive_master(10000);
        if (!m) return std::move(m).error();
        master = std::move(*m);
    }
    SKIFF_TRY(rt.start(rec.info.id));
    {
        auto lock = FileLock::on_container(rec.info.dir);
        if (!lock) return std::move(lock).error();
        rec.info.state = ContainerState::running;
        rec.info.started = Clock::now();
        set_owner_self(rec);
        SKIFF_TRY(save(rec));
    }
    on_started();

    {
        RawMode raw;
        ProxyFds fds;
        if (signals) fds.signal_fd = signals->fd();
        if (master) {
            fds.master = master.get();
            if (io.foreground) {
                fds.in = io.interactive ? STDIN_FILENO : -1;
                fds.out = STDOUT_FILENO;
                fds.winsize = isatty(STDOUT_FILENO) ? STDOUT_FILENO : -1;
                if (io.interactive) raw = RawMode::enter(STDIN_FILENO);
            } else {
                fds.out = io.log_fd;
            }
        }
        SKIFF_TRY(wait_and_proxy(init.pidfd(), init.pid(), fds));
    }
    auto code = init.reap();
    if (!code) return std::move(code).error();
    finish(rt, rec, *code);
    return *code;
}

// Closes every descriptor from 3 on except keep (the monitor must not hold the caller's pipes
// open; it never execs, so close-on-exec does not help).
void close_fds_except(int keep) {
    if (keep > 3) syscall(SYS_close_range, 3u, static_cast<unsigned>(keep - 1), 0u);
    syscall(SYS_close_range, static_cast<unsigned>(keep + 1), ~0u, 0u);
}

// The monitor's report to `run -d`: "ok", or the error's code and text.
void report(int fd, const std::string& text) {
    (void)write_all(fd, text.data(), text.size());
}

[[noreturn]] void monitor_main(runtime::Runtime& rt, Record rec, const StartIo& base,
                               int report_fd) {
    int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd >= 0) {
        for (int i = 0; i < 3; ++i) dup2(null_fd, i);
        ::close(null_fd);
    }
    close_fds_except(report_fd);
    signal(SIGHUP, SIG_IGN);
    StartIo io = base;
    std::string log = rec.info.dir + "/" + kLogFile;
    UniqueFd log_fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
    if (!log_fd) {
        Error e = Error::from_errno("open " + log);
        report(report_fd, "error " + std::to_string(e.code()) + "\n" + e.message());
        _exit(1);
    }
    io.log_fd = log_fd.get();
    auto code = start_and_wait(rt, rec, io, [&] {
        report(report_fd, "ok");
        ::close(report_fd);
        report_fd = -1;
    });
    if (!code && report_fd >= 0) {
        report(report_fd,
               "error " + std::to_string(code.error().code()) + "\n" + code.error().message());
        _exit(1);
    }
    _exit(0);
}

// Forks the monitor (twice, so it is nobody's child and outlives the caller) and waits for its
// report on whether the container started.
Status start_detached(runtime::Runtime& rt, const Record& rec, const StartIo& io) {
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) return Error::from_errno("pipe");
    UniqueFd reader(pipe_fds[0]), writer(pipe_fds[1]);
    pid_t middle = fork();
    if (middle < 0) return Error::from_errno("fork the container's monitor");
    if (middle == 0) {
        reader.reset();
        setsid();
        pid_t monitor = fork();
        if (monitor != 0) _exit(monitor < 0 ? 1 : 0);
        monitor_main(rt, rec, io, writer.release());
    }
    writer.reset();
    int status = 0;
    while (waitpid(middle, &status, 0) < 0 && errno == EINTR) {
    }
    std::string text;
    char buf[1024];
    for (;;) {
        ssize_t n = ::read(reader.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        text.append(buf, static_cast<size_t>(n));
    }
    if (text == "ok") return {};
    if (text.rfind("error ", 0) == 0) {
        size_t nl = text.find('\n');
        int code = atoi(text.c_str() + 6);
        return Error(code, nl == std::string::npos ? text : text.substr(nl + 1));
    }
    return Error(ECHILD, "the container's monitor exited before starting it");
}

// Prepares the rootfs: an overlay of the layers, or a copy where overlayfs cannot be used.
Status make_rootfs(const std::vector<std::string>& layers, const std::string& dir, bool& copied) {
    // skiff never mounts a container's upper dir again: it goes with the container.
    images::RootfsLayers rl{layers, dir + "/upper", dir + "/work", /*volatile_upper=*/true};
    std::string target = dir + "/rootfs";
    if (images::overlay_supported()) {
        auto r = images::mount_overlay(rl, target);
        if (r) return {};
        if (r.error().code() != EINVAL && r.error().code() != ENODEV) return r;
        log::debug("overlay mount failed, copying the layers: " + r.error().what());
    }
    copied = true;
    return images::copy_layers(rl, target);
}

Result<std::string> resolve_in(const std::vector<Record>& records, const std::string& key) {
    if (key.empty()) return Error(EINVAL, "no container name or id given");
    for (const auto& r : records)
        if (r.info.name == key) return r.info.id;
    std::vector<const Record*> matches;
    for (const auto& r : records)
        if (r.info.id.rfind(key, 0) == 0) matches.push_back(&r);
    if (matches.size() == 1) return matches[0]->info.id;
    if (matches.empty()) return Error(ENOENT, "no such container: " + key);
    std::string list;
    for (const auto* m : matches)
        list +=
            (list.empty() ? "" : ", ") + m->info.id.substr(0, kShortId) + " (" + m->info.name + ")";
    return Error(EINVAL, "\"" + key + "\" matches more than one container: " + list);
}

std::string absolute(const std::string& path) {
    char buf[PATH_MAX];
    return realpath(path.c_str(), buf) ? std::string(buf) : path;
}

// Waits until the container's owner has recorded its exit (or is gone), up to timeout.
void wait_recorded(runtime::Runtime& rt, const std::string& dir,
                   std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        auto r = load(dir);
        if (!r || reconcile(rt, *r).info.state != ContainerState::running) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

bool wait_pidfd(int pidfd, int timeout_ms) {
    pollfd p{pidfd, POLLIN, 0};
    int rc;
    do rc = ::poll(&p, 1, timeout_ms);
    while (rc < 0 && errno == EINTR);
    return rc > 0;
}

// Kills the running container with signal and waits up to timeout_ms for its init to exit.
bool signal_and_wait(runtime::Runtime& rt, const std::string& id, int signal, int timeout_ms) {
    auto st = rt.state(id);
    if (!st || st->status == runtime::ContainerStatus::stopped) return true;
    UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, st->pid, 0)));
    if (!pidfd) return errno == ESRCH;
    if (auto r = rt.kill(id, signal, false); !r) return r.error().code() == ESRCH;
    return wait_pidfd(pidfd.get(), timeout_ms);
}

// A console socket in a directory of its own: concurrent `exec -t`s into one container must not
// take each other's socket.
class ExecConsole {
  public:
    static Result<std::unique_ptr<ExecConsole>> open(const std::string& container_dir) {
        std::string templ = container_dir + "/exec-XXXXXX";
        if (!mkdtemp(templ.data())) return Error::from_errno("mkdtemp in " + container_dir);
        std::unique_ptr<ExecConsole> console(new ExecConsole(templ));
        auto cs = ConsoleSocket::listen(templ);
        if (!cs) return std::move(cs).error();
        console->socket_.emplace(std::move(*cs));
        return console;
    }
    ExecConsole(const ExecConsole&) = delete;
    ~ExecConsole() {
        socket_.reset();
        ::rmdir(dir_.c_str());
    }
    ConsoleSocket& socket() { return *socket_; }

  private:
    explicit ExecConsole(std::string dir) : dir_(std::move(dir)) {}
    std::string dir_;
    std::optional<ConsoleSocket> socket_;
};

// The exec'd process, our child: killed and reaped unless reap() ran.
class ExecChild {
  public:
    explicit ExecChild(pid_t pid)
        : pid_(pid), pidfd_(static_cast<int>(syscall(SYS_pidfd_open, pid, 0))) {}
    ExecChild(const ExecChild&) = delete;
    ~ExecChild() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
        }
    }
    pid_t pid() const { return pid_; }
    int pidfd() const { return pidfd_.get(); }
    // Reaps the exited process: its exit code, 128+N for signal N.
    Result<int> reap() {
        auto code = wait_for_child(pid_, "the exec'd process");
        if (code) pid_ = -1;
        return code;
    }

  private:
    pid_t pid_;
    UniqueFd pidfd_;
};

// The container's process changed as docker exec does: command, env over the container's,
// workdir, and a user looked up in the container's own files.
Result<runtime::Process> exec_process_for(const runtime::Process& base, const ExecRequest& req,
                                          const std::string& rootfs) {
    runtime::ExecOptions changes;
    changes.args = req.command;
    changes.env = req.env;
    changes.cwd = req.workdir.value_or("");
    changes.terminal = req.tty;
    auto process = runtime::exec_process(base, changes);
    if (!process) return std::move(process).error();
    if (req.user) {
        auto user = runtime::resolve_image_user(*req.user, rootfs);
        if (!user) return std::move(user).error();
        user->umask = process->user.umask;
        process->user = std::move(*user);
    }
    winsize ws{};
    if (req.tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
        process->console_size = runtime::ConsoleSize{ws.ws_row, ws.ws_col};
    return process;
}

// Proxies the terminal (if any) and forwards signals until the process exits; its exit code.
Result<int> wait_exec(ExecChild& child, ExecConsole* console, const ExecRequest& req,
                      const ForwardedSignals& signals) {
    UniqueFd master;
    if (console) {
        auto m = console->socket().receive_master(10000);
        if (!m) return std::move(m).error();
        master = std::move(*m);
    }
    {
        RawMode raw;
        ProxyFds fds;
        fds.signal_fd = signals.fd();
        if (master) {
            fds.master = master.get();
            fds.in = req.interactive ? STDIN_FILENO : -1;
            fds.out = STDOUT_FILENO;
            fds.winsize = isatty(STDOUT_FILENO) ? STDOUT_FILENO : -1;
            if (req.interactive) raw = RawMode::enter(STDIN_FILENO);
        }
        SKIFF_TRY(wait_and_proxy(child.pidfd(), child.pid(), fds));
    }
    return child.reap();
}

}  // namespace

ContainerManager::ContainerManager(ManagerOptions options)
    : options_(std::move(options)), runtime_(options_.runtime_root) {}

Result<RunResult> ContainerManager::run(const RunRequest& req) {
    if (req.layers.empty()) return Error(EINVAL, "image " + req.image_name + " has no layers");
    if (!req.name.empty()) SKIFF_TRY(validate_name(req.name));
    int stop_signal = SIGTERM;
    if (!req.image.stop_signal.empty()) {
        auto s = runtime::parse_signal(req.image.stop_signal);
        if (!s) return std::move(s).error().context("image " + req.image_name + " StopSignal");
        stop_signal = *s;
    }
    SKIFF_TRY_CTX(fs::make_dirs(options_.root, 0711), "container root");
    std::string root = absolute(options_.root);

    Record rec;
    ContainerInfo& info = rec.info;
    info.image = req.image_name;
    info.created = Clock::now();
    info.remove_after = req.remove_after;
    info.detached = req.detach;
    info.stop_signal = stop_signal;
    set_owner_self(rec);
    PendingContainer pending(runtime_);
    {
        // Names are unique: checked and taken under the root's lock.
        auto lock = FileLock::on_file(root + "/" + kRootLock);
        if (!lock) return std::move(lock).error();
        auto all = load_all(root);
        if (!all) return std::move(all).error();
        auto taken = [&](const std::string& n) {
            return std::any_of(all->begin(), all->end(),
                               [&](const Record& r) { return r.info.name == n; });
        };
        if (!req.name.empty()) {
            for (const auto& r : *all)
                if (r.info.name == req.name)
                    return Error(EEXIST, "name \"" + req.name +
                                             "\" is already in use by container " +
                                             r.info.id.substr(0, kShortId));
            info.name = req.name;
        } else {
            info.name = generate_name();
            for (int i = 0; taken(info.name); ++i)
                info.name = generate_name() + (i < 20 ? "" : "_" + std::to_string(i));
        }
        do info.id = random_hex(kIdBytes);
        while (fs::exists(root + "/" + info.id));
        info.dir = root + "/" + info.id;
        if (::mkdir(info.dir.c_str(), 0700) != 0) return Error::from_errno("mkdir " + info.dir);
        pending.own(info.id, info.dir);
        for (const char* sub : {"/upper", "/work", "/rootfs"})
            if (::mkdir((info.dir + sub).c_str(), 0700) != 0)
                return Error::from_errno("mkdir " + info.dir + sub);
        SKIFF_TRY(save(rec));
    }

    SKIFF_TRY_CTX(make_rootfs(req.layers, info.dir, rec.copied_rootfs), "rootfs of " + info.name);
    runtime::RunOptions opts = req.options;
    opts.tty = req.tty;
    std::string rootfs = info.dir + "/rootfs";
    auto spec = runtime::spec_for_image(req.image, opts, rootfs);
    if (!spec) return std::move(spec).error();
    if (req.tty && !req.detach) {
        winsize ws{};
        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
            spec->process->console_size = runtime::ConsoleSize{ws.ws_row, ws.ws_col};
    }
    info.command = spec->process->args;
    std::string config_json = runtime::spec_to_json(*spec);
    SKIFF_TRY(fs::write_file(info.dir + "/config.json", config_json, 0600));
    SKIFF_TRY(save(rec));

    StartIo io;
    io.foreground = !req.detach;
    io.interactive = req.interactive;
    io.tty = req.tty;
    io.spec = &*spec;
    io.config_json = &config_json;
    RunResult result;
    result.id = info.id;
    if (req.detach) {
        SKIFF_TRY(start_detached(runtime_, rec, io));
        pending.commit();
        return result;
    }
    auto code = start_and_wait(runtime_, rec, io, [&] { pending.commit(); });
    if (!code) return std::move(code).error();
    result.exit_code = *code;
    return result;
}

Result<std::vector<ContainerInfo>> ContainerManager::ps(bool all) {
    auto records = load_all(options_.root);
    if (!records) return std::move(records).error();
    std::vector<ContainerInfo> out;
    for (auto& stored : *records) {
        Record r = reconcile(runtime_, stored);
        // A --rm container whose monitor died before removing it.
        if (r.info.remove_after && r.info.state == ContainerState::exited && !owner_alive(r)) {
            if (auto lock = FileLock::on_container(r.info.dir))
                if (auto d = destroy(runtime_, r.info.id, r.info.dir); !d)
                    log::warning(d.error().what());
            continue;
        }
        if (all || r.info.state == ContainerState::running) out.push_back(std::move(r.info));
    }
    std::sort(out.begin(), out.end(),
              [](const ContainerInfo& a, const ContainerInfo& b) { return a.created > b.created; });
    return out;
}

Result<int> ContainerManager::exec(const ExecRequest& req) {
    if (req.command.empty()) return Error(EINVAL, "exec needs a command");
    auto info = inspect(req.name);
    if (!info) return std::move(info).error();
    if (info->state != ContainerState::running)
        return Error(ESRCH, "container " + info->name + " is not running");
    auto spec = runtime::load_spec(info->dir);
    if (!spec) return std::move(spec).error();
    if (!spec->process) return Error(EINVAL, "container " + info->name + " has no process");
    auto process = exec_process_for(*spec->process, req, info->dir + "/rootfs");
    if (!process) return std::move(process).error();

    ForwardedSignals signals;
    std::unique_ptr<ExecConsole> console;
    if (req.tty) {
        auto c = ExecConsole::open(info->dir);
        if (!c) return std::move(c).error();
        console = std::move(*c);
    }
    UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!devnull) return Error::from_errno("open /dev/null");
    runtime::ExecOptions options;
    options.id = info->id;
    options.process = std::move(*process);
    if (console) options.console_socket = console->socket().connect_path();
    if (!req.interactive) options.stdio[0] = devnull.get();
    auto pid = runtime_.exec_start(options);
    if (!pid) return std::move(pid).error().context("exec in " + info->name);
    ExecChild child(*pid);
    if (child.pidfd() < 0) return Error::from_errno("pidfd_open of the exec'd process");
    return wait_exec(child, console.get(), req, signals);
}

Result<std::string> ContainerManager::resolve(const std::string& name_or_id) {
    auto records = load_all(options_.root);
    if (!records) return std::move(records).error();
    return resolve_in(*records, name_or_id);
}

Result<ContainerInfo> ContainerManager::inspect(const std::string& name_or_id) {
    auto id = resolve(name_or_id);
    if (!id) return std::move(id).error();
    auto r = load(absolute(options_.root) + "/" + *id);
    if (!r) return Error(ENOENT, "no such container: " + name_or_id);
    return reconcile(runtime_, std::move(*r)).info;
}

Status ContainerManager::logs(const std::string& name_or_id, bool follow, int out_fd) {
    auto info = inspect(name_or_id);
    if (!info) return std::move(info).error();
    std::string path = info->dir + "/" + kLogFile;
    UniqueFd fd;
    char buf[16384];
    for (;;) {
        if (!fd) fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        // Checked before reading, so the output written before the stop is all read after it.
        bool running = false;
        if (follow) {
            auto now = load(info->dir);
            running = now && reconcile(runtime_, *now).info.state != ContainerState::exited;
        }
        for (ssize_t n; fd && (n = ::read(fd.get(), buf, sizeof buf)) != 0;) {
            if (n < 0) {
                if (errno == EINTR) continue;
                return Error::from_errno("read " + path);
            }
            SKIFF_TRY_CTX(write_all(out_fd, buf, static_cast<size_t>(n)), "write logs");
        }
        if (!running) return {};
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

Status ContainerManager::stop(const std::string& name_or_id, int timeout_s) {
    auto info = inspect(name_or_id);
    if (!info) return std::move(info).error();
    if (info->state != ContainerState::running) return {};
    if (!signal_and_wait(runtime_, info->id, info->stop_signal, std::max(timeout_s, 0) * 1000) &&
        !signal_and_wait(runtime_, info->id, SIGKILL, 10000))
        return Error(ETIMEDOUT, "container " + info->name + " did not exit after SIGKILL");
    wait_recorded(runtime_, info->dir, std::chrono::seconds(10));
    return {};
}

Status ContainerManager::rm(const std::string& name_or_id, bool force) {
    auto info = inspect(name_or_id);
    if (!info) return std::move(info).error();
    if (info->state == ContainerState::running) {
        if (!force)
            return Error(EBUSY, "container " + info->name + " is running: stop it first or use -f");
        if (!signal_and_wait(runtime_, info->id, SIGKILL, 10000))
            return Error(ETIMEDOUT, "container " + info->name + " did not exit after SIGKILL");
        wait_recorded(runtime_, info->dir, std::chrono::seconds(10));
    }
    auto lock = FileLock::on_container(info->dir);
    if (!lock) return lock.error().code() == ENOENT ? Status{} : Status(std::move(lock).error());
    SKIFF_TRY_CTX(destroy(runtime_, info->id, info->dir), "remove container " + info->name);
    return {};
}

std::string human_duration(Clock::duration d) {
    using namespace std::chrono;
    auto secs = duration_cast<seconds>(d).count();
    if (secs < 1) return "Less than a second";
    if (secs == 1) return "1 second";
    if (secs < 60) return std::to_string(secs) + " seconds";
    auto mins = secs / 60;
    if (mins == 1) return "About a minute";
    if (mins < 60) return std::to_string(mins) + " minutes";
    auto hours = (secs + 1800) / 3600;
    if (hours == 1) return "About an hour";
    if (hours < 48) return std::to_string(hours) + " hours";
    if (hours < 24 * 7 * 2) return std::to_string(hours / 24) + " days";
    if (hours < 24 * 30 * 2) return std::to_string(hours / 24 / 7) + " weeks";
    if (hours < 24 * 365 * 2) return std::to_string(hours / 24 / 30) + " months";
    return std::to_string(hours / 24 / 365) + " years";
}

std::string status_text(const ContainerInfo& info, Clock::time_point now) {
    switch (info.state) {
        case ContainerState::created:
            return "Created";
        case ContainerState::running:
            return "Up " + human_duration(now - info.started);
        case ContainerState::exited:
            return "Exited (" + std::to_string(info.exit_code) + ") " +
                   human_duration(now - info.finished) + " ago";
    }
    return "";
}

std::string format_ps(const std::vector<ContainerInfo>& rows, Clock::time_point now) {
    std::vector<std::vector<std::string>> table = {
        {"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"}};
    for (const auto& r : rows) {
        std::string cmd;
        for (const auto& a : r.command) cmd += (cmd.empty() ? "" : " ") + a;
        if (cmd.size() > 20) cmd = cmd.substr(0, 19) + "…";
        table.push_back({r.id.substr(0, kShortId), r.image, "\"" + cmd + "\"",
                         human_duration(now - r.created) + " ago", status_text(r, now), r.name});
    }
    // Display width: "…" is three bytes and one column.
    auto width = [](const std::string& s) {
        size_t w = 0;
        for (unsigned char c : s) w += (c & 0xC0) != 0x80;
        return w;
    };
    std::vector<size_t> widths(table[0].size(), 0);
    for (const auto& row : table)
        for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], width(row[i]));
    std::string out;
    for (const auto& row : table) {
        for (size_t i = 0; i < row.size(); ++i) {
            out += row[i];
            if (i + 1 < row.size()) out += std::string(widths[i] - width(row[i]) + 3, ' ');
        }
        out += "\n";
    }
    return out;
}

}  // namespace skiff::cli
