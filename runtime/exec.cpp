// exec: one more process in an existing container, in its namespaces, cgroups and seccomp filter.
//
// The process tree (runc's shape): the runtime clones a helper straight into the container's
// cgroup2 directory (clone3 CLONE_INTO_CGROUP); the helper joins the v1 cgroups (a "0" written
// to each `tasks` file) and every namespace of the init at once (setns on a pidfd), then forks
// the process. setns into a pid (or time) namespace only applies to children, hence the fork.
// Without detach that fork uses CLONE_PARENT, so the process is the runtime's own child and
// its exit status comes straight back; with detach it is left to the host's reaper. Nothing
// between the clone and execve allocates: the plan is made before.
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/close_range.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "launch.hpp"
#include "record.hpp"
#include "terminal.hpp"
#include "skiff/base/fs.hpp"
#include "skiff/base/log.hpp"
#include "skiff/base/process.hpp"
#include "skiff/base/unique_fd.hpp"
#include "skiff/isolation/capabilities.hpp"
#include "skiff/isolation/cgroup.hpp"
#include "skiff/isolation/child_error.hpp"
#include "skiff/runtime/container.hpp"

namespace skiff::runtime {
namespace {

// ---- the process exec runs ----

// Sets KEY=VALUE: an entry of that key is replaced where it stands, else it is appended.
void set_env(std::vector<std::string>& env, const std::string& entry) {
    std::string key = entry.substr(0, entry.find('='));
    for (auto& e : env) {
        if (e.compare(0, key.size(), key) == 0 &&
            (e.size() == key.size() || e[key.size()] == '=')) {
            e = entry;
            return;
        }
    }
    env.push_back(entry);
}

void add_name(std::vector<std::string>& set, const std::string& name) {
    if (std::find(set.begin(), set.end(), name) == set.end()) set.push_back(name);
}

// Checks a process the way create checks config.json's (a spec holding only the process).
Status validate_exec_process(const Process& process) {
    Spec spec;
    spec.oci_version = "1.2.0";
    spec.root_path = "rootfs";
    spec.process = process;
    return validate_spec(spec);
}

// ---- the plan: everything the helper and the process need, made before the first clone ----

struct ExecPlan {
    // The process part of a launch plan: what the init's own process steps read.
    std::unique_ptr<LaunchPlan> process = std::make_unique<LaunchPlan>();
    UniqueFd init_pidfd;   // setns target: the container's init
    int namespaces = 0;    // CLONE_NEW* of every namespace in the container's config
    UniqueFd unified_dir;  // the cgroup2 directory, for CLONE_INTO_CGROUP
    std::vector<UniqueFd> v1_tasks;
    UniqueFd console;           // --console-socket, or our end of the pair we attach ourselves
    UniqueFd console_receiver;  // where the master arrives when we attach the terminal
    UniqueFd sync_runtime, sync_child;  // SOCK_SEQPACKET pair: reports come back on it
    bool detach = false;
};

void plan_namespaces(const Spec& spec, ExecPlan& plan) {
    if (!spec.linux) return;
    for (const auto& ns : spec.linux->namespaces) plan.namespaces |= clone_flag(ns.type);
    plan.process->user_namespace = (plan.namespaces & CLONE_NEWUSER) != 0;
}

// The init, named by a pidfd that is checked to be the recorded process (pid and start time).
Status open_init(const RecordedContainer& target, ExecPlan& plan) {
    plan.init_pidfd.reset(static_cast<int>(syscall(SYS_pidfd_open, target.pid, 0)));
    if (!plan.init_pidfd || live_process_start_time(target.pid) != target.start_time)
        return Error(ESRCH, "container \"" + target.id + "\" is not running");
    return {};
}

Status open_cgroups(const RecordedContainer& target, ExecPlan& plan) {
    if (target.cgroup_path.empty()) return {};  // a rootless container without a cgroup
    auto layout = isolation::detect_cgroup_layout();
    if (!layout) return std::move(layout).error();
    auto cgroup = isolation::Cgroup::open(*layout, target.cgroup_path);
    auto unified = cgroup.open_unified_dir();
    if (!unified) return std::move(unified).error().context("cgroup " + target.cgroup_path);
    plan.unified_dir = std::move(*unified);
    auto tasks = cgroup.open_v1_tasks();
    if (!tasks) return std::move(tasks).error().context("cgroup " + target.cgroup_path);
    if (tasks->size() > LaunchPlan::kMaxTaskFds)
        return Error(E2BIG, "cgroup: more v1 hierarchies than skiff-oci can join");
    plan.v1_tasks = std::move(*tasks);
    LaunchPlan& p = *plan.process;
    for (const auto& fd : plan.v1_tasks) p.cgroup_tasks_fds[p.cgroup_tasks_count++] = fd.get();
    return {};
}

// attach_terminal: without --console-socket the terminal comes to skiff-oci (exec in the
// foreground), which relays it; otherwise that is an error.
Status plan_terminal(const ExecOptions& options, const Process& process, ExecPlan& plan,
                     bool attach_terminal) {
    LaunchPlan& p = *plan.process;
    p.terminal = process.terminal;
    if (!p.terminal) return {};
    if (process.console_size) {
        p.console_rows = static_cast<unsigned short>(process.console_size->height);
        p.console_cols = static_cast<unsigned short>(process.console_size->width);
    }
    if (options.console_socket.empty()) {
        if (!attach_terminal) return detached_terminal_error();
        auto pair = make_console_pair();
        if (!pair) return std::move(pair).error();
        plan.console = std::move(pair->container_end);
        plan.console_receiver = std::move(pair->runtime_end);
        own_window_size(p.console_rows, p.console_cols);
    } else {
        auto sock = connect_console_socket(options.console_socket);
        if (!sock) return std::move(sock).error();
        plan.console = std::move(*sock);
    }
    p.console_socket = plan.console.get();
    return {};
}

Result<std::unique_ptr<ExecPlan>> make_plan(const RecordedContainer& target, const Spec& spec,
                                            const Process& process, const ExecOptions& options,
                                            bool attach_terminal) {
    auto plan = std::make_unique<ExecPlan>();
    plan->detach = options.detach;
    LaunchPlan& p = *plan->process;
    SKIFF_TRY(plan_process(process, p));
    if (spec.linux && spec.linux->seccomp) {
        auto program = isolation::compile_seccomp(*spec.linux->seccomp);
        if (!program) return std::move(program).error().context("linux.seccomp");
        p.seccomp = std::move(*program);
    }
    plan_namespaces(spec, *plan);
    SKIFF_TRY(plan_terminal(options, process, *plan, attach_terminal));
    p.preserve_fds = options.preserve_fds;
    for (int i = 0; i < 3; ++i) p.stdio[i] = options.stdio[i];
    p.lock_fd = target.lock.get();
    SKIFF_TRY(open_init(target, *plan));
    SKIFF_TRY(open_cgroups(target, *plan));
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return Error::from_errno("socketpair");
    plan->sync_runtime.reset(sv[0]);
    plan->sync_child.reset(sv[1]);
    p.sync_fd = sv[1];
    return plan;
}

// ---- after clone: the helper and the process (nothing allocates, nothing throws) ----

// What the helper and the process report to the runtime.
struct Report {
    enum Kind : int32_t { started = 1, failed = 2 };
    int32_t kind;
    int32_t value;  // started: the process's pid; failed: an errno value
    char text[512];
};

void send_report(int fd, int32_t kind, int32_t value, const char* text) noexcept {
    Report r{};
    r.kind = kind;
    r.value = value;
    if (text) snprintf(r.text, sizeof r.text, "%s", text);
    ssize_t unused = send(fd, &r, sizeof r, MSG_NOSIGNAL);
    (void)unused;
}

[[noreturn]] void report_failure(const LaunchPlan& p, const isolation::ChildError& err) noexcept {
    send_report(p.sync_fd, Report::failed, err.code, err.message);
    _exit(127);
}

// The runtime's mask and handlers stay behind: the program starts with every signal unblocked
// and at its default (an ignored SIGPIPE would otherwise survive execve).
void reset_signals() noexcept {
    for (int s = 1; s < NSIG; ++s)
        if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
}

// stdio as asked, then a terminal (its own session) or just a new session, as runc does.
int set_up_stdio(LaunchPlan& p, isolation::ChildError& err) noexcept {
    for (int i = 0; i < 3; ++i)
        if (p.stdio[i] >= 0 && p.stdio[i] != i && dup2(p.stdio[i], i) < 0)
            return err.fail(errno, "set up fd %d of the process", i);
    if (p.terminal) return setup_terminal(p, err);
    if (setsid() < 0) return err.fail(errno, "setsid");
    return 0;
}

int apply_rlimits(const LaunchPlan& p, isolation::ChildError& err) noexcept {
    for (const auto& l : p.rlimits)
        if (setrlimit(static_cast<__rlimit_resource>(l.resource), &l.value) != 0)
            return err.fail(errno, "setrlimit %d", l.resource);
    return 0;
}

// Capabilities, user, no_new_privs and seccomp in the order the init takes them.
int drop_privileges(LaunchPlan& p, isolation::ChildError& err) noexcept {
    // Without no_new_privs a filter may only be installed while CAP_SYS_ADMIN is held.
    if (p.seccomp && !p.no_new_privileges) {
        if (int rc = isolation::install_seccomp(*p.seccomp); rc != 0)
            return err.fail(-rc, "install seccomp filter");
    }
    if (switch_user(p, err) != 0) return -1;
    if (p.umask) ::umask(*p.umask);
    if (p.no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return err.fail(errno, "set no_new_privs");
    if (p.seccomp && p.no_new_privileges) {
        if (int rc = isolation::install_seccomp(*p.seccomp); rc != 0)
            return err.fail(-rc, "install seccomp filter");
    }
    return 0;
}

// The process: already in the container's namespaces and cgroups.
[[noreturn]] void start_process(LaunchPlan& p) noexcept {
    isolation::ChildError err;
    reset_signals();
    if (set_up_stdio(p, err) != 0 || apply_rlimits(p, err) != 0 || enter_cwd(p, err) != 0 ||
        find_executable(p, err) != 0 || drop_privileges(p, err) != 0)
        report_failure(p, err);
    // Nothing of the runtime's may reach the program: every fd past stdio and the preserved ones
    // closes at exec (CVE-2024-21626 leaked one). The report socket closing tells the runtime
    // the program runs.
    syscall(SYS_close_range, 3 + p.preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC);
    execve(p.exec_path, p.argv.data(), p.envp.data());
    err.fail(errno, "exec %s", p.exec_path);
    report_failure(p, err);
}

// Waits for the runtime's go (sent once this helper is surely in the cgroup2 directory).
bool wait_go(int fd) noexcept {
    char byte;
    ssize_t n;
    do n = recv(fd, &byte, 1, 0);
    while (n < 0 && errno == EINTR);
    return n == 1;
}

// The host's cgroup directory and files and the init's pidfd are not the process's business: it
// never holds them, so no cwd or path through /proc/self/fd can reach them.
void close_host_fds(const ExecPlan& plan) noexcept {
    close(plan.init_pidfd.get());
    if (plan.unified_dir) close(plan.unified_dir.get());
    for (const auto& fd : plan.v1_tasks) close(fd.get());
}

// The helper: joins the cgroups and namespaces, then forks the process.
[[noreturn]] void enter_container(ExecPlan& plan) noexcept {
    LaunchPlan& p = *plan.process;
    isolation::ChildError err;
    close(p.lock_fd);
    // Not dumpable until execve: a container process without CAP_SYS_PTRACE can neither ptrace
    // this one nor open its /proc/PID/exe (the runtime's binary) while it holds the host's
    // privileges.
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        err.fail(errno, "prctl PR_SET_DUMPABLE");
        report_failure(p, err);
    }
    if (!wait_go(p.sync_fd)) _exit(1);
    if (int rc = isolation::Cgroup::join_self(p.cgroup_tasks_fds, p.cgroup_tasks_count); rc != 0) {
        err.fail(-rc, "join the container's cgroups");
        report_failure(p, err);
    }
    if (plan.namespaces && setns(plan.init_pidfd.get(), plan.namespaces) != 0) {
        err.fail(errno, "join the namespaces of the container's init (flags 0x%x)",
                 static_cast<unsigned>(plan.namespaces));
        report_failure(p, err);
    }
    close_host_fds(plan);
    unsigned long flags = SIGCHLD | (plan.detach ? 0 : CLONE_PARENT);
    pid_t pid = static_cast<pid_t>(syscall(SYS_clone, flags, nullptr, nullptr, nullptr, 0));
    if (pid == 0) start_process(p);
    if (pid < 0) {
        err.fail(errno, "fork the process in the container");
        report_failure(p, err);
    }
    send_report(p.sync_fd, Report::started, pid, nullptr);
    _exit(0);
}

// ---- the runtime's side ----

// A child that is killed and reaped unless it was waited for or released.
class ChildProcess {
  public:
    explicit ChildProcess(pid_t pid) : pid_(pid) {}
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    ~ChildProcess() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        wait();
    }
    // Reaps it; the wait status.
    int wait() {
        int status = 0;
        while (pid_ > 0 && waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        pid_ = -1;
        return status;
    }
    pid_t release() { return std::exchange(pid_, -1); }

  private:
    pid_t pid_;
};

struct Outcome {
    pid_t pid = -1;  // the process, once the helper forked it
    std::optional<Error> error;
};

// Reads the reports until every child end of the socket is closed: the helper exits, the
// process execs (close-on-exec) or fails.
Result<Outcome> read_reports(int fd) {
    Outcome out;
    for (;;) {
        Report r{};
        ssize_t n = ::recv(fd, &r, sizeof r, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error::from_errno("read exec reports");
        if (n == 0) return out;
        if (n != static_cast<ssize_t>(sizeof r)) return Error(EPROTO, "short exec report");
        if (r.kind == Report::started) {
            out.pid = r.value;
        } else if (!out.error) {
            r.text[sizeof r.text - 1] = '\0';
            out.error = Error(r.value, r.text);
        }
    }
}

Status send_go(int fd) {
    char byte = 'g';
    if (::send(fd, &byte, 1, MSG_NOSIGNAL) != 1) return Error::from_errno("start exec helper");
    return {};
}

// Where clone3 could not place the helper: the classic move through cgroup.procs.
Status move_to_unified(const RecordedContainer& target, pid_t pid) {
    auto layout = isolation::detect_cgroup_layout();
    if (!layout) return std::move(layout).error();
    std::string procs = layout->unified + target.cgroup_path + "/cgroup.procs";
    SKIFF_TRY_CTX(fs::write_file(procs, std::to_string(pid)), "join cgroup");
    return {};
}

// Clones the helper into the cgroup and waits until the process runs its program (or fails).
Result<pid_t> spawn(ExecPlan& plan, const RecordedContainer& target) {
    bool placed = plan.unified_dir.valid();
    pid_t helper_pid = clone_into_cgroup(0, plan.unified_dir.get(), placed);
    if (helper_pid < 0) return Error::from_errno("clone exec helper");
    if (helper_pid == 0) enter_container(plan);
    ChildProcess helper(helper_pid);
    plan.sync_child.reset();
    if (!placed && plan.unified_dir.valid()) SKIFF_TRY(move_to_unified(target, helper_pid));
    SKIFF_TRY(send_go(plan.sync_runtime.get()));
    auto outcome = read_reports(plan.sync_runtime.get());
    int helper_status = helper.wait();
    if (!outcome) return std::move(outcome).error();
    // Without detach the process is our child: reap it if it failed before execve.
    ChildProcess process(plan.detach ? -1 : outcome->pid);
    if (outcome->error) {
        process.wait();
        return std::move(*outcome->error);
    }
    if (outcome->pid <= 0)
        return Error(ECHILD, "exec helper exited before starting the process (status " +
                                 std::to_string(helper_status) + ")");
    process.release();
    return outcome->pid;
}

Status check_status(const RecordedContainer& target) {
    if (target.status == ContainerStatus::created || target.status == ContainerStatus::running)
        return {};
    // A process joining a frozen cgroup freezes before it could run its program, so exec would
    // hang until resume: refuse, as runc does.
    if (target.status == ContainerStatus::paused)
        return Error(EBUSY, "cannot exec in container \"" + target.id +
                                "\": it is paused (resume it first)");
    return Error(
        target.status == ContainerStatus::stopped ? ESRCH : EBUSY,
        "cannot exec in container \"" + target.id + "\": it is " + status_name(target.status));
}

Result<Process> process_for(const Spec& spec, const ExecOptions& options) {
    if (options.process) {
        SKIFF_TRY(validate_exec_process(*options.process));
        return *options.process;
    }
    if (!spec.process) return Error(EINVAL, "the container's config has no process to start from");
    return exec_process(*spec.process, options);
}

// Kills a detached process that was started but cannot be reported (its pid file failed).
void kill_detached(pid_t pid) {
    UniqueFd fd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
    if (fd) syscall(SYS_pidfd_send_signal, fd.get(), SIGKILL, nullptr, 0);
}

struct ExecStarted {
    pid_t pid = -1;
    UniqueFd console;  // the terminal's master, when attach_terminal got one
};

Result<ExecStarted> start_exec(const std::string& root, const ExecOptions& options,
                               bool attach_terminal) {
    auto target = read_recorded(root, options.id);
    if (!target) return std::move(target).error();
    SKIFF_TRY(check_status(*target));
    auto spec = parse_spec(target->config);
    if (!spec) return std::move(spec).error().context("saved config of " + options.id);
    auto process = process_for(*spec, options);
    if (!process) return std::move(process).error();
    auto plan = make_plan(*target, *spec, *process, options, attach_terminal);
    if (!plan) return std::move(plan).error();
    log::debug("exec " + options.id + ": planned");
    auto pid = spawn(**plan, *target);
    if (!pid) return std::move(pid).error();
    log::debug("exec " + options.id + ": started pid " + std::to_string(*pid));
    ExecStarted out;
    // The process sent its master before execve, and execve is what spawn waited for.
    if ((*plan)->console_receiver) {
        auto master = receive_console((*plan)->console_receiver.get());
        if (!master) {
            ChildProcess started(*pid);
            return std::move(master).error();
        }
        out.console = std::move(*master);
    }
    if (!options.pid_file.empty()) {
        auto written = fs::write_file_atomic(options.pid_file, std::to_string(*pid), 0644);
        if (!written) {
            ChildProcess process(options.detach ? -1 : *pid);
            if (options.detach) kill_detached(*pid);
            return std::move(written).error().context("--pid-file");
        }
    }
    out.pid = *pid;
    return out;
}

}  // namespace

Result<Process> exec_process(const Process& base, const ExecOptions& o) {
    if (o.args.empty()) return Error(EINVAL, "exec needs a command (or a process file)");
    Process p = base;
    p.args = o.args;
    if (!o.cwd.empty()) p.cwd = o.cwd;
    for (const auto& e : o.env) {
        if (e.empty() || e[0] == '=' || e.find('=') == std::string::npos)
            return Error(EINVAL, "--env \"" + e + "\": want KEY=VALUE");
        set_env(p.env, e);
    }
    if (o.uid) p.user.uid = *o.uid;
    if (o.gid) p.user.gid = *o.gid;
    for (uint32_t g : o.additional_gids)
        if (std::find(p.user.additional_gids.begin(), p.user.additional_gids.end(), g) ==
            p.user.additional_gids.end())
            p.user.additional_gids.push_back(g);
    if (!o.add_capabilities.empty() && !p.capabilities) p.capabilities.emplace();
    for (const auto& cap : o.add_capabilities) {
        auto name = parse_capability_name(cap);
        if (!name) return std::move(name).error();
        for (auto* set : {&p.capabilities->bounding, &p.capabilities->effective,
                          &p.capabilities->permitted, &p.capabilities->ambient})
            add_name(*set, *name);
    }
    if (o.no_new_privileges) p.no_new_privileges = *o.no_new_privileges;
    p.terminal = o.terminal;
    // The config's size was for the init's terminal.
    p.console_size.reset();
    SKIFF_TRY(validate_exec_process(p));
    return p;
}

Result<Process> parse_exec_process(const std::string& json_text) {
    nlohmann::json wrapper;
    try {
        wrapper = {{"ociVersion", "1.2.0"},
                   {"root", {{"path", "rootfs"}}},
                   {"process", nlohmann::json::parse(json_text)}};
    } catch (const std::exception& e) {
        return Error(EINVAL, std::string("not JSON: ") + e.what());
    }
    auto spec = parse_spec(wrapper.dump());
    if (!spec) return std::move(spec).error();
    SKIFF_TRY(validate_spec(*spec));
    return std::move(*spec->process);
}

Result<UserIds> parse_user_ids(const std::string& text) {
    auto number = [&](const std::string& s, const char* what) -> Result<uint32_t> {
        if (s.empty() || s.size() > 10 || !std::all_of(s.begin(), s.end(), ::isdigit))
            return Error(EINVAL, "--user \"" + text + "\": the " + what + " must be a number");
        unsigned long v = std::stoul(s);
        if (v > 0xfffffffeUL)
            return Error(EINVAL, "--user \"" + text + "\": the " + what + " is out of range");
        return static_cast<uint32_t>(v);
    };
    UserIds out;
    size_t colon = text.find(':');
    auto uid = number(text.substr(0, colon), "uid");
    if (!uid) return std::move(uid).error();
    out.uid = *uid;
    if (colon != std::string::npos) {
        auto gid = number(text.substr(colon + 1), "gid");
        if (!gid) return std::move(gid).error();
        out.gid = *gid;
    }
    return out;
}

Result<std::string> parse_capability_name(const std::string& text) {
    std::string name = text;
    for (auto& c : name) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
    if (name.rfind("CAP_", 0) != 0) name = "CAP_" + name;
    auto known = isolation::known_capabilities();
    if (std::find(known.begin(), known.end(), name) == known.end())
        return Error(EINVAL, "unknown capability \"" + text + "\"");
    return name;
}

Result<pid_t> Runtime::exec_start(const ExecOptions& options) {
    auto started = start_exec(root_, options, false);
    if (!started) return std::move(started).error();
    return started->pid;
}

Result<int> Runtime::exec(const ExecOptions& options) {
    if (options.detach) {
        auto pid = exec_start(options);
        if (!pid) return std::move(pid).error();
        return 0;
    }
    // Blocked before the process exists, so none is lost in between.
    sigset_t forward, old;
    sigemptyset(&forward);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD})
        sigaddset(&forward, s);
    sigprocmask(SIG_BLOCK, &forward, &old);
    auto started = start_exec(root_, options, true);
    int code = 0;
    if (started && started->console) {
        // A terminal nobody else receives is ours; it started with our window size.
        RawTerminal raw;
        code = relay_terminal(started->pid, started->console.get(), forward);
    } else if (started) {
        code = wait_forwarding(started->pid, forward);
    }
    sigprocmask(SIG_SETMASK, &old, nullptr);
    if (!started) return std::move(started).error();
    return code;
}

}  // namespace skiff::runtime
