// Container lifecycle: state directories and locks, create/start/run/kill/delete, status checks.
#include "skiff/runtime/container.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

#include "hooks.hpp"
#include "launch.hpp"
#include "record.hpp"
#include "terminal.hpp"
#include "skiff/base/fs.hpp"
#include "skiff/base/log.hpp"
#include "skiff/base/process.hpp"
#include "skiff/base/unique_fd.hpp"
#include "skiff/isolation/cgroup.hpp"
#include "skiff/isolation/id_map.hpp"
#include "skiff/runtime/update.hpp"

namespace skiff::runtime {
namespace {

using json = nlohmann::json;
constexpr const char* kStateFile = "state.json";
constexpr const char* kFifo = "exec.fifo";
constexpr const char* kSpecVersion = "1.2.0";

// What create records about a container; status is derived from the process, not stored.
struct Record {
    std::string id, bundle, rootfs, created, owner, cgroup_path, config;
    pid_t pid = 0;
    unsigned long long start_time = 0;
    // Whether config has poststart/poststop hooks: start and delete then re-read it.
    bool poststart = false, poststop = false;
    std::vector<std::pair<std::string, std::string>> annotations;

    std::string to_json() const {
        json j = {{"id", id},           {"bundle", bundle},   {"rootfs", rootfs},
                  {"created", created}, {"owner", owner},     {"cgroupPath", cgroup_path},
                  {"pid", pid},         {"startTime", start_time}, {"config", config},
                  {"poststart", poststart}, {"poststop", poststop}};
        json a = json::object();
        for (const auto& [k, v] : annotations) a[k] = v;
        j["annotations"] = a;
        return j.dump();
    }
    static Result<Record> from_json(const std::string& text) {
        try {
            json j = json::parse(text);
            Record r;
            r.id = j.at("id").get<std::string>();
            r.bundle = j.at("bundle").get<std::string>();
            r.rootfs = j.at("rootfs").get<std::string>();
            r.created = j.at("created").get<std::string>();
            r.owner = j.at("owner").get<std::string>();
            r.cgroup_path = j.at("cgroupPath").get<std::string>();
            r.pid = j.at("pid").get<pid_t>();
            r.start_time = j.at("startTime").get<unsigned long long>();
            r.config = j.at("config").get<std::string>();
            r.poststart = j.value("poststart", true);
            r.poststop = j.value("poststop", true);
            for (auto& [k, v] : j.at("annotations").items())
                r.annotations.emplace_back(k, v.get<std::string>());
            return r;
        } catch (const std::exception& e) {
            return Error(EINVAL, std::string("corrupt state file: ") + e.what());
        }
    }
};

std::string now_rfc3339() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm t{};
    gmtime_r(&ts.tv_sec, &t);
    char buf[64];
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
    snprintf(buf + n, sizeof buf - n, ".%09ldZ", ts.tv_nsec);
    return buf;
}

bool process_alive(const Record& r) {
    return r.pid > 0 && live_process_start_time(r.pid) == r.start_time && r.start_time != 0;
}

class PidFd {
public:
    explicit PidFd(pid_t pid) : fd_(static_cast<int>(syscall(SYS_pidfd_open, pid, 0))) {}
    int get() const { return fd_.get(); }
    bool valid() const { return fd_.valid(); }
    // Waits until the process has exited; false on timeout.
    bool wait_exit(int timeout_ms) const {
        pollfd p{fd_.get(), POLLIN, 0};
        int rc;
        do rc = poll(&p, 1, timeout_ms);
        while (rc < 0 && errno == EINTR);
        return rc > 0;
    }

private:
    UniqueFd fd_;
};

// The state directory of one container, locked for the lifetime of this object.
class ContainerDir {
public:
    static Result<ContainerDir> open_existing(const std::string& root, const std::string& id) {
        SKIFF_TRY(validate_container_id(id));
        std::string dir = root + "/" + id;
        UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!fd) {
            if (errno == ENOENT) return Error(ENOENT, "container \"" + id + "\" does not exist");
            return Error::from_errno("open state of container \"" + id + "\"");
        }
        if (flock(fd.get(), LOCK_EX) != 0) return Error::from_errno("lock container " + id);
        // A delete may have removed it while we waited for the lock.
        if (faccessat(fd.get(), kStateFile, F_OK, 0) != 0)
            return Error(ENOENT, "container \"" + id + "\" does not exist");
        return ContainerDir(dir, std::move(fd));
    }
    static Result<ContainerDir> make_new(const std::string& root, const std::string& id) {
        SKIFF_TRY(validate_container_id(id));
        if (auto made = fs::make_dirs(root, 0711); !made) {
            if (made.error().code() == EACCES && geteuid() != 0)
                return std::move(made).error().context(
                    "state root (uid " + std::to_string(geteuid()) +
                    " may not write it: set XDG_RUNTIME_DIR or pass --root)");
            return std::move(made).error().context("state root");
        }
        std::string dir = root + "/" + id;
        if (::mkdir(dir.c_str(), 0711) != 0) {
            if (errno == EEXIST)
                return Error(EEXIST, "container with id \"" + id + "\" already exists");
            return Error::from_errno("mkdir " + dir);
        }
        UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!fd || flock(fd.get(), LOCK_EX) != 0) {
            Error e = Error::from_errno("lock " + dir);
            ::rmdir(dir.c_str());
            return e;
        }
        return ContainerDir(dir, std::move(fd));
    }

    const std::string& path() const { return path_; }
    int lock_fd() const { return fd_.get(); }
    std::string file(const char* name) const { return path_ + "/" + name; }
    Result<Record> read() const {
        auto text = fs::read_file(file(kStateFile));
        if (!text) return std::move(text).error();
        return Record::from_json(*text);
    }
    Status write(const Record& r) const { return fs::write_file_atomic(file(kStateFile), r.to_json(), 0600); }
    Status remove() const { return fs::remove_all(path_); }

private:
    ContainerDir(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
    std::string path_;
    UniqueFd fd_;
};

// Whether the container's cgroup is frozen (or freezing) by pause. Unknown counts as not paused:
// a host without a freezer can't have paused it.
bool cgroup_frozen(const Record& r) {
    if (r.cgroup_path.empty()) return false;  // no cgroup (rootless): never paused
    auto layout = isolation::detect_cgroup_layout();
    if (!layout) return false;
    auto state = isolation::Cgroup::open(*layout, r.cgroup_path).freezer_state();
    return state && *state != isolation::Cgroup::FreezerState::thawed;
}

// As runc: a frozen container is paused whether or not it was started yet.
ContainerStatus status_of(const ContainerDir& dir, const Record& r) {
    if (!process_alive(r)) return ContainerStatus::stopped;
    if (cgroup_frozen(r)) return ContainerStatus::paused;
    if (fs::exists(dir.file(kFifo))) return ContainerStatus::created;
    return ContainerStatus::running;
}

// A SIGKILL sent to a task frozen by the v1 freezer waits until it is thawed (v2 lets fatal
// signals through): thaw a paused container once it has been sent one.
void thaw_after_kill(const Record& r) {
    if (r.cgroup_path.empty()) return;
    auto layout = isolation::detect_cgroup_layout();
    if (!layout) return;
    if (auto st = isolation::Cgroup::open(*layout, r.cgroup_path).thaw(); !st)
        log::warning(st.error().what());
}

ContainerState to_state(const ContainerDir& dir, const Record& r) {
    ContainerState s;
    s.oci_version = kSpecVersion;
    s.id = r.id;
    s.bundle = r.bundle;
    s.rootfs = r.rootfs;
    s.created = r.created;
    s.owner = r.owner;
    s.status = status_of(dir, r);
    s.pid = s.status == ContainerStatus::stopped ? 0 : r.pid;
    s.annotations = r.annotations;
    return s;
}

// The (dev, inode) of a process's pid namespace; nullopt when it is gone or not ours to see.
std::optional<std::pair<dev_t, ino_t>> pid_namespace_of(const std::string& proc_dir) {
    struct stat st{};
    if (::stat((proc_dir + "/ns/pid").c_str(), &st) != 0) return std::nullopt;
    return std::pair{st.st_dev, st.st_ino};
}

// Every process of a container. With a cgroup: its members. Without one (rootless, nothing
// delegated): the processes in the init's pid namespace when that is not the host's, else the
// init alone, since nothing else marks which host processes belong to the container.
Result<std::vector<pid_t>> container_pids(const Record& r) {
    if (!r.cgroup_path.empty()) {
        auto layout = isolation::detect_cgroup_layout();
        if (!layout) return std::move(layout).error();
        return isolation::Cgroup::open(*layout, r.cgroup_path).pids();
    }
    std::vector<pid_t> out;
    if (!process_alive(r)) return out;
    auto init_ns = pid_namespace_of("/proc/" + std::to_string(r.pid));
    if (!init_ns || init_ns == pid_namespace_of("/proc/self")) {
        out.push_back(r.pid);
        return out;
    }
    DIR* d = ::opendir("/proc");
    if (!d) return Error::from_errno("open /proc");
    while (dirent* e = ::readdir(d)) {
        char* end = nullptr;
        long pid = strtol(e->d_name, &end, 10);
        if (pid <= 0 || *end != '\0') continue;
        if (pid_namespace_of(std::string("/proc/") + e->d_name) == init_ns)
            out.push_back(static_cast<pid_t>(pid));
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

std::string cgroup_path_for(const Spec& spec, const std::string& id, bool systemd) {
    std::string p = spec.linux ? spec.linux->cgroups_path : "";
    if (systemd && !p.empty() && p[0] != '/') {
        // slice:prefix:name, as runc's systemd driver names the scope; laid out on cgroupfs.
        size_t a = p.find(':'), b = p.find(':', a == std::string::npos ? a : a + 1);
        if (a != std::string::npos && b != std::string::npos)
            return "/" + p.substr(0, a) + "/" + p.substr(a + 1, b - a - 1) + "-" +
                   p.substr(b + 1) + ".scope";
    }
    if (p.empty()) return "/" + id;
    if (p[0] != '/') return "/" + p;
    return p;
}

// The device rules every container needs for the nodes the runtime itself creates.
void add_default_device_rules(isolation::Resources& res) {
    using R = isolation::DeviceRule;
    auto allow = [&](const char* type, std::optional<int64_t> major, std::optional<int64_t> minor,
                     const char* access) { res.devices.push_back(R{true, type, major, minor, access}); };
    allow("c", std::nullopt, std::nullopt, "m");
    allow("b", std::nullopt, std::nullopt, "m");
    for (const auto& d : isolation::default_devices())
        allow("c", d.major, d.minor, "rwm");
    allow("c", 5, 1, "rwm");              // /dev/console
    allow("c", 5, 2, "rwm");              // /dev/ptmx
    allow("c", 136, std::nullopt, "rwm"); // /dev/pts/*
    // linux.devices are not allowed implicitly: as with runc, the config's own
    // linux.resources.devices rules decide whether the container may open them.
}

std::string state_json_for(const Record& r, ContainerStatus status) {
    ContainerState s;
    s.oci_version = kSpecVersion;
    s.id = r.id;
    s.bundle = r.bundle;
    s.status = status;
    s.pid = r.pid;
    s.annotations = r.annotations;
    return s.to_json();
}

// Everything a create has made so far, owned here so it is undone (kill the init, remove the
// cgroup, remove the state dir) unless the create completes.
class CreateUndo {
public:
    explicit CreateUndo(ContainerDir dir) : dir_(std::move(dir)) {}
    CreateUndo(const CreateUndo&) = delete;
    ~CreateUndo() {
        if (committed_) return;
        if (child_ > 0) {
            ::kill(child_, SIGKILL);
            while (waitpid(child_, nullptr, 0) < 0 && errno == EINTR) {
            }
        }
        if (cgroup_) {
            if (auto r = cgroup_->destroy(); !r) log::warning(r.error().what());
        }
        if (auto r = dir_.remove(); !r) log::warning(r.error().what());
    }
    const ContainerDir& dir() const { return dir_; }
    isolation::Cgroup& set_cgroup(isolation::Cgroup c) { return cgroup_.emplace(std::move(c)); }
    void set_child(pid_t p) { child_ = p; }
    void commit() { committed_ = true; }

private:
    ContainerDir dir_;
    std::optional<isolation::Cgroup> cgroup_;
    pid_t child_ = -1;
    bool committed_ = false;
};

Status write_all_fd(int fd, const std::string& data) {
    if (::send(fd, data.data(), data.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(data.size()))
        return Error::from_errno("send to container init");
    return {};
}

// The go message, with the v1 `tasks` fds the init joins its cgroups through.
Status send_go(int fd, const std::vector<UniqueFd>& task_fds) {
    SyncMessage msg{};
    msg.type = SyncType::go;
    iovec iov{&msg, sizeof msg};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    std::vector<char> control(CMSG_SPACE(sizeof(int) * task_fds.size()));
    if (!task_fds.empty()) {
        mh.msg_control = control.data();
        mh.msg_controllen = control.size();
        cmsghdr* c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * task_fds.size());
        int* out = reinterpret_cast<int*>(CMSG_DATA(c));
        for (size_t i = 0; i < task_fds.size(); ++i) out[i] = task_fds[i].get();
    }
    if (::sendmsg(fd, &mh, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof msg))
        return Error::from_errno("talk to container init");
    return {};
}

Status send_sync(int fd, SyncType type) {
    SyncMessage msg{};
    msg.type = type;
    if (::send(fd, &msg, sizeof msg, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof msg))
        return Error::from_errno("talk to container init");
    return {};
}

// The create sequence shared by create and run; leaves the init waiting on the exec fifo.
struct Created {
    pid_t pid = 0;
    UniqueFd fifo;     // kept open by run to release the init itself
    UniqueFd console;  // the terminal's master, when run attaches it itself
};

// The bundle's config.json, as text and parsed; from the caller when it has both already.
Result<std::pair<std::string, Spec>> load_config(const std::string& bundle,
                                                 const CreateOptions& opt) {
    if (opt.spec) return std::pair{opt.config_json, *opt.spec};
    auto text = fs::read_file(bundle + "/config.json");
    if (!text) return std::move(text).error().context("load bundle");
    auto spec = parse_spec(*text);
    if (!spec) return std::move(spec).error();
    return std::pair{std::move(*text), std::move(*spec)};
}

// Whether a rootless container gets a cgroup: only where the caller may make it (a subtree
// delegated to the user). Without one it stays in the caller's cgroups, which is an error only
// when the config asks for limits, since they would silently not hold (runc refuses too).
Result<bool> rootless_cgroup(const isolation::CgroupLayout& layout, const std::string& path,
                             const Spec& spec, const std::string& id) {
    std::string blocked = isolation::Cgroup::blocking_dir(layout, path);
    if (blocked.empty()) return true;
    std::string why = "uid " + std::to_string(geteuid()) + " may not write " + blocked;
    if (spec.linux && spec.linux->resources && isolation::has_limits(*spec.linux->resources))
        return Error(EPERM, "linux.resources: a rootless container needs a cgroup for its limits "
                            "and cannot make " + path + " (" + why + "); delegate a cgroup "
                            "subtree to this user and set linux.cgroupsPath inside it, or "
                            "drop the limits");
    log::warning("rootless: container " + id + " runs without a cgroup of its own (" + why +
                 "): resource limits and pause/resume are not available, ps and kill --all "
                 "go by its pid namespace; delegate a cgroup subtree to this user and set "
                 "linux.cgroupsPath inside it to have them");
    return false;
}

Result<Created> do_create(const std::string& root, bool systemd, bool rootless,
                          const CreateOptions& opt, bool keep_fifo, bool attach_terminal) {
    if (systemd && !fs::exists("/run/systemd/system"))
        return Error(EINVAL, "--systemd-cgroup: systemd is not running on this host "
                             "(/run/systemd/system is missing); use the default cgroupfs driver");
    char bundle_buf[PATH_MAX];
    if (!realpath(opt.bundle.empty() ? "." : opt.bundle.c_str(), bundle_buf))
        return Error::from_errno("bundle " + opt.bundle);
    std::string bundle = bundle_buf;
    auto loaded = load_config(bundle, opt);
    if (!loaded) return std::move(loaded).error();
    const std::string* config_text = &loaded->first;
    const Spec* spec = &loaded->second;
    SKIFF_TRY(validate_spec(*spec));

    log::debug("create " + opt.id + ": config loaded");
    auto made = ContainerDir::make_new(root, opt.id);
    if (!made) return std::move(made).error();
    CreateUndo undo(std::move(*made));
    const ContainerDir* dir = &undo.dir();

    std::string rootfs = spec->root_path[0] == '/' ? spec->root_path : bundle + "/" + spec->root_path;
    char rootfs_buf[PATH_MAX];
    if (!realpath(rootfs.c_str(), rootfs_buf))
        return Error::from_errno("root.path: rootfs " + rootfs);
    rootfs = rootfs_buf;
    struct stat st{};
    if (::stat(rootfs.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        return Error(ENOTDIR, "root.path: " + rootfs + " is not a directory");

    auto layout = isolation::detect_cgroup_layout();
    if (!layout) return std::move(layout).error();
    std::string cgroup_path = cgroup_path_for(*spec, opt.id, systemd);
    bool use_cgroup = true;
    if (rootless) {
        auto decided = rootless_cgroup(*layout, cgroup_path, *spec, opt.id);
        if (!decided) return std::move(decided).error();
        use_cgroup = *decided;
    }
    auto plan_r =
        build_launch_plan(*spec, rootfs, bundle, opt, *layout, cgroup_path, attach_terminal);
    if (!plan_r) return std::move(plan_r).error();
    LaunchPlan& plan = **plan_r;
    // Fds the plan opened (joined namespaces, console) must close in this process too.
    struct PlanFds {
        LaunchPlan& p;
        ~PlanFds() {
            for (auto& j : p.joins) ::close(j.fd);
            if (p.join_pid_fd >= 0) ::close(p.join_pid_fd);
            if (p.console_socket >= 0) ::close(p.console_socket);
        }
    } plan_fds{plan};

    // The cgroup2 directory first, so the init can be cloned straight into it; the v1
    // directories are made while the init sets up its namespaces.
    isolation::Cgroup* cgroup = nullptr;
    if (use_cgroup) {
        auto made_cgroup =
            isolation::Cgroup::create(*layout, cgroup_path, isolation::Cgroup::Part::unified);
        if (!made_cgroup) return std::move(made_cgroup).error().context("cgroup " + cgroup_path);
        cgroup = &undo.set_cgroup(std::move(*made_cgroup));
        log::debug("create " + opt.id + ": cgroup ready");
    }
    std::string fifo_path = dir->file(kFifo);
    if (::mkfifo(fifo_path.c_str(), 0600) != 0) return Error::from_errno("mkfifo " + fifo_path);
    UniqueFd fifo(::open(fifo_path.c_str(), O_RDWR | O_CLOEXEC));
    if (!fifo) return Error::from_errno("open " + fifo_path);
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return Error::from_errno("socketpair");
    UniqueFd parent_end(sv[0]), child_end(sv[1]);
    plan.sync_fd = child_end.get();
    plan.fifo_fd = fifo.get();
    plan.lock_fd = dir->lock_fd();

    UniqueFd unified_dir;
    if (cgroup) {
        auto opened = cgroup->open_unified_dir();
        if (!opened) return std::move(opened).error().context("cgroup " + cgroup_path);
        unified_dir = std::move(*opened);
    }

    if (plan.join_pid_fd >= 0 && ::setns(plan.join_pid_fd, CLONE_NEWPID) != 0)
        return Error::from_errno("linux.namespaces: join pid namespace");
    bool placed_by_clone = unified_dir.valid();
    pid_t pid = clone_into_cgroup(static_cast<uint64_t>(plan.clone_flags), unified_dir.get(),
                                  placed_by_clone);
    if (pid < 0) return Error::from_errno("clone container init");
    if (pid == 0) container_init(plan);
    undo.set_child(pid);
    child_end.reset();
    log::debug("create " + opt.id + ": init cloned");

    std::vector<UniqueFd> v1_tasks;
    if (cgroup) {
        SKIFF_TRY_CTX(
            isolation::Cgroup::create(*layout, cgroup_path, isolation::Cgroup::Part::v1),
            "cgroup " + cgroup_path);
        isolation::Resources resources = spec->linux && spec->linux->resources
                                             ? *spec->linux->resources
                                             : isolation::Resources{};
        // An unprivileged user cannot program the device controller (v1 devices.allow and the
        // v2 BPF program need CAP_SYS_ADMIN on the host); in its user namespace the container
        // has only the host nodes bound in, as with runc.
        if (rootless) resources.devices.clear();
        // Only when the config manages devices: the default device list is then added to it.
        if (!resources.devices.empty()) add_default_device_rules(resources);
        SKIFF_TRY_CTX(cgroup->apply(resources), "linux.resources");
        auto tasks = cgroup->open_v1_tasks();
        if (!tasks) return std::move(tasks).error().context("cgroup " + cgroup_path);
        if (tasks->size() > LaunchPlan::kMaxTaskFds)
            return Error(E2BIG, "cgroup: more v1 hierarchies than skiff-oci can join");
        v1_tasks = std::move(*tasks);
        log::debug("create " + opt.id + ": cgroup ready");
    }

    if (!plan.uid_map.empty()) SKIFF_TRY(isolation::write_id_maps(pid, plan.uid_map, plan.gid_map));

    Record rec;
    rec.id = opt.id;
    rec.bundle = bundle;
    rec.rootfs = rootfs;
    rec.created = now_rfc3339();
    rec.owner = isolation::user_name(geteuid());
    rec.cgroup_path = cgroup ? cgroup_path : "";  // "": no cgroup of its own (rootless)
    rec.config = *config_text;
    rec.pid = pid;
    rec.start_time = read_process_stat(pid).value_or(ProcessStat{}).start_time;
    for (const auto& [k, v] : spec->annotations) rec.annotations.emplace_back(k, v);
    rec.poststart = spec->hooks && !spec->hooks->poststart.empty();
    rec.poststop = spec->hooks && !spec->hooks->poststop.empty();

    std::string creating_state = state_json_for(rec, ContainerStatus::creating);
    // Without CLONE_INTO_CGROUP (kernels before 5.7) the cgroup2 side is a classic migration.
    if (!placed_by_clone && unified_dir.valid())
        SKIFF_TRY_CTX(fs::write_file(cgroup->dir_for("") + "/cgroup.procs", std::to_string(pid)),
                      "join cgroup");
    if (spec->process && spec->process->oom_score_adj)
        SKIFF_TRY_CTX(fs::write_file("/proc/" + std::to_string(pid) + "/oom_score_adj",
                                     std::to_string(*spec->process->oom_score_adj)),
                      "process.oomScoreAdj");
    // An init that failed before the go message (its early mounts) has reported why and exited:
    // that report, not the broken pipe, is the error.
    auto init_report_or = [&](Error e) -> Error {
        SyncMessage msg{};
        if (::recv(parent_end.get(), &msg, sizeof msg, MSG_DONTWAIT) ==
                static_cast<ssize_t>(sizeof msg) &&
            msg.type == SyncType::error) {
            msg.text[sizeof msg.text - 1] = '\0';
            return Error(msg.code, msg.text);
        }
        return e;
    };
    if (auto sent = send_go(parent_end.get(), v1_tasks); !sent)
        return init_report_or(std::move(sent).error());
    v1_tasks.clear();
    if (auto sent = write_all_fd(parent_end.get(), creating_state); !sent)
        return init_report_or(std::move(sent).error());

    for (;;) {
        SyncMessage msg{};
        ssize_t n;
        do n = ::recv(parent_end.get(), &msg, sizeof msg, 0);
        while (n < 0 && errno == EINTR);
        if (n != static_cast<ssize_t>(sizeof msg)) {
            int status = 0;
            waitpid(pid, &status, 0);
            undo.set_child(-1);
            return Error(ECHILD, "container init exited during setup (status " +
                                     std::to_string(status) + ")");
        }
        if (msg.type == SyncType::error) {
            msg.text[sizeof msg.text - 1] = '\0';
            return Error(msg.code, msg.text);
        }
        if (msg.type == SyncType::need_hooks) {
            if (spec->hooks) {
                SKIFF_TRY(run_hooks(spec->hooks->prestart, "prestart", creating_state));
                SKIFF_TRY(run_hooks(spec->hooks->create_runtime, "createRuntime", creating_state));
            }
            SKIFF_TRY(send_sync(parent_end.get(), SyncType::hooks_done));
            continue;
        }
        if (msg.type == SyncType::created) break;
        return Error(EPROTO, "unexpected message from container init");
    }

    log::debug("create " + opt.id + ": init ready");
    Created out;
    if (plan.console_receiver) {
        auto master = receive_console(plan.console_receiver.get());
        if (!master) return std::move(master).error();
        out.console = std::move(*master);
    }
    SKIFF_TRY(dir->write(rec));
    if (!opt.pid_file.empty())
        SKIFF_TRY_CTX(fs::write_file_atomic(opt.pid_file, std::to_string(pid), 0644), "--pid-file");
    undo.commit();
    out.pid = pid;
    if (keep_fifo) out.fifo = std::move(fifo);
    return out;
}

}  // namespace

const char* status_name(ContainerStatus status) {
    switch (status) {
        case ContainerStatus::creating: return "creating";
        case ContainerStatus::created: return "created";
        case ContainerStatus::running: return "running";
        case ContainerStatus::stopped: return "stopped";
        case ContainerStatus::paused: return "paused";
    }
    return "unknown";
}

std::string ContainerState::to_json() const {
    json j = {{"ociVersion", oci_version}, {"id", id},         {"status", status_name(status)},
              {"pid", pid},               {"bundle", bundle}};
    if (!rootfs.empty()) j["rootfs"] = rootfs;
    if (!created.empty()) j["created"] = created;
    if (!owner.empty()) j["owner"] = owner;
    if (!annotations.empty()) {
        json a = json::object();
        for (const auto& [k, v] : annotations) a[k] = v;
        j["annotations"] = a;
    }
    return j.dump(2);
}

Status validate_container_id(const std::string& id) {
    if (id.empty()) return Error(EINVAL, "container id must not be empty");
    if (id.size() > 1024) return Error(EINVAL, "container id is too long");
    if (id[0] == '.') return Error(EINVAL, "invalid container id \"" + id + "\"");
    for (char c : id)
        if (!isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.')
            return Error(EINVAL, "invalid container id \"" + id +
                                     "\": only letters, digits, '_', '-' and '.' are allowed");
    return {};
}

Result<int> parse_signal(const std::string& text) {
    if (text.empty()) return Error(EINVAL, "empty signal");
    if (isdigit(static_cast<unsigned char>(text[0]))) {
        char* end = nullptr;
        long v = strtol(text.c_str(), &end, 10);
        if (*end != '\0' || v <= 0 || v > SIGRTMAX)
            return Error(EINVAL, "invalid signal \"" + text + "\"");
        return static_cast<int>(v);
    }
    std::string name = text;
    for (auto& c : name) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
    if (name.rfind("SIG", 0) == 0) name = name.substr(3);
    for (int s = 1; s < NSIG; ++s) {
        const char* abbrev = sigabbrev_np(s);
        if (abbrev && name == abbrev) return s;
    }
    if (name.rfind("RTMIN", 0) == 0 || name.rfind("RTMAX", 0) == 0) {
        int base = name[2] == 'M' && name[3] == 'I' ? SIGRTMIN : SIGRTMAX;
        int off = name.size() > 5 ? atoi(name.c_str() + 5) : 0;
        int s = base + off;
        if (s >= SIGRTMIN && s <= SIGRTMAX) return s;
    }
    return Error(EINVAL, "unknown signal \"" + text + "\"");
}

bool running_rootless() {
    if (geteuid() != 0) return true;
    // Root of a user namespace that does not map the whole id range (rootlesskit, a nested
    // runtime) is no more privileged on the host than the user behind it.
    auto map = fs::read_file("/proc/self/uid_map");
    if (!map) return false;
    std::istringstream in(*map);
    uint64_t inside = 0, outside = 0, count = 0;
    in >> inside >> outside >> count;
    return !(inside == 0 && outside == 0 && count == 4294967295ULL);
}

Runtime::Runtime(std::string root, bool systemd_cgroup, std::optional<bool> rootless)
    : root_(std::move(root)),
      systemd_cgroup_(systemd_cgroup),
      rootless_(rootless) {}

bool Runtime::rootless() {
    if (!rootless_) rootless_ = running_rootless();
    return *rootless_;
}

Status Runtime::create(const CreateOptions& options) {
    auto r = do_create(root_, systemd_cgroup_, rootless(), options, false, false);
    if (!r) return std::move(r).error();
    return {};
}

// Lets the init go and waits until it has run its startContainer hooks and called execve:
// the init's fifo fd is close-on-exec, so our write end then reports POLLERR (no reader left).
static Status release_init(const ContainerDir& dir, const std::string& id, UniqueFd own_reader) {
    std::string fifo = dir.file(kFifo);
    UniqueFd fd(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    if (!fd) {
        if (errno == ENXIO) return Error(ESRCH, "container \"" + id + "\" is not waiting to start");
        return Error::from_errno("open " + fifo);
    }
    own_reader.reset();
    char byte = 0;
    if (::write(fd.get(), &byte, 1) != 1) return Error::from_errno("start container " + id);
    pollfd p{fd.get(), 0, 0};
    int rc;
    do rc = ::poll(&p, 1, -1);
    while (rc < 0 && errno == EINTR);
    ::unlink(fifo.c_str());
    return {};
}

static void run_poststart(const Record& rec) {
    if (!rec.poststart) return;
    auto spec = parse_spec(rec.config);
    if (!spec || !spec->hooks || spec->hooks->poststart.empty()) return;
    auto r = run_hooks(spec->hooks->poststart, "poststart",
                       state_json_for(rec, ContainerStatus::running));
    // The spec makes a failing poststart hook a warning: the container is already running.
    if (!r) log::warning(r.error().what());
}

Status Runtime::start(const std::string& id) {
    auto dir = ContainerDir::open_existing(root_, id);
    if (!dir) return std::move(dir).error();
    auto rec = dir->read();
    if (!rec) return std::move(rec).error();
    ContainerStatus status = status_of(*dir, *rec);
    if (status != ContainerStatus::created)
        return Error(EINVAL, "cannot start container \"" + id + "\": it is " +
                                 status_name(status) + ", not created");
    SKIFF_TRY(release_init(*dir, id, UniqueFd()));
    run_poststart(*rec);
    return {};
}

Result<int> Runtime::run(const CreateOptions& options, bool detach) {
    // Block the signals we forward before the init exists, so none is lost in between.
    sigset_t forward, old;
    sigemptyset(&forward);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD})
        sigaddset(&forward, s);
    if (!detach) sigprocmask(SIG_BLOCK, &forward, &old);
    auto created = do_create(root_, systemd_cgroup_, rootless(), options, true, !detach);
    if (!created) {
        if (!detach) sigprocmask(SIG_SETMASK, &old, nullptr);
        return std::move(created).error();
    }
    pid_t pid = created->pid;
    // A terminal nobody else receives is ours (it started with our window size): raw mode from
    // before the program starts, restored when this scope ends, however it ends.
    std::optional<RawTerminal> raw;
    if (created->console) raw.emplace();
    {
        auto dir = ContainerDir::open_existing(root_, options.id);
        if (!dir) return std::move(dir).error();
        if (auto r = release_init(*dir, options.id, std::move(created->fifo)); !r) {
            (void)remove(options.id, true);
            return r.error();
        }
        auto rec = dir->read();
        if (rec) run_poststart(*rec);
    }
    log::debug("run " + options.id + ": started");
    if (detach) return 0;
    int exit_code = std::max(0, created->console
                                    ? relay_terminal(pid, created->console.get(), forward)
                                    : wait_forwarding(pid, forward));
    raw.reset();
    created->console.reset();
    sigprocmask(SIG_SETMASK, &old, nullptr);
    log::debug("run " + options.id + ": exited");
    auto removed = remove(options.id, true);
    log::debug("run " + options.id + ": removed");
    if (!removed) log::warning(removed.error().what());
    return exit_code;
}

Result<ContainerState> Runtime::state(const std::string& id) {
    auto dir = ContainerDir::open_existing(root_, id);
    if (!dir) return std::move(dir).error();
    auto rec = dir->read();
    if (!rec) return std::move(rec).error();
    return to_state(*dir, *rec);
}

Status Runtime::kill(const std::string& id, int signal, bool all) {
    auto dir = ContainerDir::open_existing(root_, id);
    if (!dir) return std::move(dir).error();
    auto rec = dir->read();
    if (!rec) return std::move(rec).error();
    bool paused = signal == SIGKILL && status_of(*dir, *rec) == ContainerStatus::paused;
    if (all) {
        auto pids = container_pids(*rec);
        if (!pids) return std::move(pids).error();
        for (pid_t p : *pids) ::kill(p, signal);
        if (paused) thaw_after_kill(*rec);
        return {};
    }
    // The pidfd, checked against the recorded start time, can't hit a recycled pid.
    PidFd pidfd(rec->pid);
    if (!pidfd.valid() || !process_alive(*rec))
        return Error(ESRCH, "container \"" + id + "\" is not running");
    if (syscall(SYS_pidfd_send_signal, pidfd.get(), signal, nullptr, 0) != 0)
        return Error::from_errno("kill container " + id);
    // Other signals stay pending until resume, as with runc.
    if (paused) thaw_after_kill(*rec);
    return {};
}

Status Runtime::remove(const std::string& id, bool force) {
    auto dir = ContainerDir::open_existing(root_, id);
    // As with runc, a forced delete of a container that is already gone succeeds: containerd's
    // shim and podman's cleanup both delete --force after a delete or a failed create, and log
    // an error (or a "failed to remove" warning) for every non-zero exit.
    if (!dir && force && dir.error().code() == ENOENT) return {};
    if (!dir) return std::move(dir).error();
    auto rec = dir->read();
    if (!rec) return std::move(rec).error();
    ContainerStatus status = status_of(*dir, *rec);
    if ((status == ContainerStatus::running || status == ContainerStatus::paused) && !force)
        return Error(EBUSY, "cannot delete container \"" + id + "\" that is " + status_name(status) +
                                " (stop it first or use --force)");
    if (status != ContainerStatus::stopped) {
        PidFd pidfd(rec->pid);
        if (pidfd.valid() && process_alive(*rec)) {
            syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
            if (status == ContainerStatus::paused) thaw_after_kill(*rec);
            if (!pidfd.wait_exit(10000))
                return Error(ETIMEDOUT, "container \"" + id + "\" did not exit after SIGKILL");
        }
    }
    if (!rec->cgroup_path.empty()) {
        auto layout = isolation::detect_cgroup_layout();
        if (!layout) return std::move(layout).error();
        auto cg = isolation::Cgroup::open(*layout, rec->cgroup_path);
        SKIFF_TRY_CTX(cg.destroy(), "remove cgroup of " + id);
        log::debug("delete " + id + ": cgroup removed");
    }
    auto spec = rec->poststop ? parse_spec(rec->config) : Result<Spec>(Error("no poststop hooks"));
    if (spec && spec->hooks && !spec->hooks->poststop.empty()) {
        auto r = run_hooks(spec->hooks->poststop, "poststop",
                           state_json_for(*rec, ContainerStatus::stopped));
        if (!r) log::warning(r.error().what());
    }
    return dir->remove();
}

Result<std::vector<ContainerState>> Runtime::list() {
    std::vector<ContainerState> out;
    DIR* d = ::opendir(root_.c_str());
    if (!d) {
        if (errno == ENOENT) return out;
        return Error::from_errno("open " + root_);
    }
    std::vector<std::string> ids;
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        ids.push_back(name);
    }
    ::closedir(d);
    std::sort(ids.begin(), ids.end());
    for (const auto& id : ids) {
        auto s = state(id);
        if (s) out.push_back(std::move(*s));
    }
    return out;
}

Result<RecordedContainer> read_recorded(const std::string& root, const std::string& id) {
    auto dir = ContainerDir::open_existing(root, id);
    if (!dir) return std::move(dir).error();
    auto rec = dir->read();
    if (!rec) return std::move(rec).error();
    RecordedContainer out;
    out.id = rec->id;
    out.config = rec->config;
    out.cgroup_path = rec->cgroup_path;
    out.pid = rec->pid;
    out.start_time = rec->start_time;
    out.status = status_of(*dir, *rec);
    // The duplicate shares the open file description, and with it the lock.
    out.lock.reset(::fcntl(dir->lock_fd(), F_DUPFD_CLOEXEC, 3));
    if (!out.lock) return Error::from_errno("lock container " + id);
    return out;
}

Result<isolation::Cgroup> own_cgroup(const std::string& id, const std::string& cgroup_path,
                                     const std::string& what) {
    if (cgroup_path.empty())
        return Error(ENOTSUP, what + ": container \"" + id +
                                  "\" has no cgroup of its own (rootless, no delegated cgroup)");
    auto layout = isolation::detect_cgroup_layout();
    if (!layout) return std::move(layout).error();
    return isolation::Cgroup::open(*layout, cgroup_path);
}

Status Runtime::pause(const std::string& id) {
    auto dir = ContainerDir::open_existing(root_, id);
    if (!dir) return std::move(dir).error();
    auto rec = dir->read();
    if (!rec) return std::move(rec).error();
    ContainerStatus status = status_of(*dir, *rec);
    if (status == ContainerStatus::paused)
        return Error(EINVAL, "cannot pause container \"" + id + "\": it is already paused");
    if (status != ContainerStatus::running && status != ContainerStatus::created)
        return Error(ESRCH, "cannot pause container \"" + id + "\": it is " + status_name(status) +
                                ", not running");
    auto cgroup = own_cgroup(id, rec->cgroup_path, "pause");
    if (!cgroup) return std::move(cgroup).error();
    SKIFF_TRY_CTX(cgroup->freeze(), "pause container " + id);
    return {};
}

Status Runtime::resume(const std::string& id) {
    auto dir = ContainerDir::open_existing(root_, id);
    if (!dir) return std::move(dir).error();
    auto rec = dir->read();
    if (!rec) return std::move(rec).error();
    ContainerStatus status = status_of(*dir, *rec);
    if (status != ContainerStatus::paused)
        return Error(EINVAL, "cannot resume container \"" + id + "\": it is " +
                                 status_name(status) + ", not paused");
    auto cgroup = own_cgroup(id, rec->cgroup_path, "resume");
    if (!cgroup) return std::move(cgroup).error();
    SKIFF_TRY_CTX(cgroup->thaw(), "resume container " + id);
    return {};
}

Status Runtime::update(const std::string& id, const isolation::Resources& change) {
    auto dir = ContainerDir::open_existing(root_, id);
    if (!dir) return std::move(dir).error();
    auto rec = dir->read();
    if (!rec) return std::move(rec).error();
    ContainerStatus status = status_of(*dir, *rec);
    if (status == ContainerStatus::stopped)
        return Error(ESRCH, "cannot update container \"" + id + "\": it is stopped");
    auto spec = parse_spec(rec->config);
    if (!spec) return std::move(spec).error().context("saved config of " + id);
    auto plan = plan_resource_update(spec->linux ? spec->linux->resources : std::nullopt, change);
    if (!plan) return std::move(plan).error().context("update container " + id);
    auto cgroup = own_cgroup(id, rec->cgroup_path, "update");
    if (!cgroup) return std::move(cgroup).error();
    SKIFF_TRY_CTX(cgroup->update(plan->writes), "update container " + id);
    // Only linux.resources changes in the saved config; every other field stays as create saw
    // it, including fields this runtime does not model.
    try {
        using ordered = nlohmann::ordered_json;  // keeps config.json's field order
        ordered config = ordered::parse(rec->config);
        config["linux"]["resources"] = ordered::parse(resources_to_json(plan->merged));
        rec->config = config.dump();
    } catch (const std::exception& e) {
        return Error(EINVAL, std::string("record the update of ") + id + ": " + e.what());
    }
    SKIFF_TRY_CTX(dir->write(*rec), "record the update of " + id);
    return {};
}

Result<std::vector<pid_t>> Runtime::pids(const std::string& id) {
    auto dir = ContainerDir::open_existing(root_, id);
    if (!dir) return std::move(dir).error();
    auto rec = dir->read();
    if (!rec) return std::move(rec).error();
    return container_pids(*rec);
}

}  // namespace skiff::runtime
