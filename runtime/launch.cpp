// From spec to launch plan (before clone), and the container's init (after it, no allocation).
#include "launch.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <climits>
#include <cstring>

#include "skiff/base/fd_passing.hpp"
#include "skiff/base/unique_fd.hpp"
#include "terminal.hpp"

namespace skiff::runtime {

int clone_flag(const std::string& type) {
    if (type == "pid") return CLONE_NEWPID;
    if (type == "network") return CLONE_NEWNET;
    if (type == "mount") return CLONE_NEWNS;
    if (type == "ipc") return CLONE_NEWIPC;
    if (type == "uts") return CLONE_NEWUTS;
    if (type == "user") return CLONE_NEWUSER;
    if (type == "cgroup") return CLONE_NEWCGROUP;
    if (type == "time") return CLONE_NEWTIME;
    return 0;
}

namespace {

std::vector<isolation::IdRange> id_ranges(const std::vector<IdMapping>& maps) {
    std::vector<isolation::IdRange> out;
    for (const auto& m : maps) out.push_back({m.container_id, m.host_id, m.size});
    return out;
}

std::string join_path(const std::string& base, const std::string& rel) {
    if (!rel.empty() && rel[0] == '/') return rel;
    return base + "/" + rel;
}

Result<isolation::MountStep> convert_mount(const Mount& m, size_t index, const std::string& bundle,
                                           const isolation::CgroupLayout& layout,
                                           const std::string& cgroup_path, bool new_cgroup_ns) {
    std::string field = "mounts[" + std::to_string(index) + "]";
    isolation::MountStep step;
    auto flags = isolation::parse_mount_options(m.options);
    if (!flags) return std::move(flags).error().context(field + ".options");
    step.flags = *flags;
    step.destination = m.destination;
    step.fstype = m.type;
    if (m.type == "bind" || flags->bind) {
        step.kind = isolation::MountStep::Kind::bind;
        step.source = join_path(bundle, m.source);
        struct stat st{};
        if (::stat(step.source.c_str(), &st) != 0)
            return Error::from_errno(field + ".source: " + step.source);
        step.source_is_dir = S_ISDIR(st.st_mode);
    } else if (m.type == "cgroup" || m.type == "cgroup2") {
        step.kind = isolation::MountStep::Kind::cgroup;
        using H = isolation::MountStep::Hierarchy;
        if (layout.pure_v2()) {
            step.hierarchies.push_back(
                H{"", "cgroup2", "", new_cgroup_ns ? "" : layout.unified + cgroup_path});
        } else {
            // One mount per v1 hierarchy (co-mounted controllers share one), then the unified.
            std::vector<std::pair<std::string, std::string>> by_mount;  // mount point, options
            for (const auto& [controller, mount_point] : layout.v1) {
                bool found = false;
                for (auto& [mp, opts] : by_mount)
                    if (mp == mount_point) {
                        opts += "," + controller;
                        found = true;
                    }
                if (!found) by_mount.emplace_back(mount_point, controller);
            }
            for (const auto& [mp, opts] : by_mount) {
                std::string name = mp.substr(mp.rfind('/') + 1);
                step.hierarchies.push_back(
                    H{name, "cgroup", opts, new_cgroup_ns ? "" : mp + cgroup_path});
            }
            if (!layout.unified.empty())
                step.hierarchies.push_back(H{"unified", "cgroup2", "",
                                             new_cgroup_ns ? "" : layout.unified + cgroup_path});
        }
    } else {
        step.kind = isolation::MountStep::Kind::filesystem;
        step.source = m.source;
        if (step.fstype.empty())
            return Error(EINVAL, field + ".type: needed for a mount that is not a bind mount");
    }
    return step;
}

}  // namespace

Status plan_process(const Process& proc, LaunchPlan& plan) {
    plan.args = proc.args;
    plan.env = proc.env;
    bool has_home = false;
    for (const auto& e : plan.env) {
        if (e.rfind("PATH=", 0) == 0) plan.path_env = e.substr(5);
        if (e.rfind("HOME=", 0) == 0) has_home = true;
    }
    if (!has_home) plan.env.push_back(proc.user.uid == 0 ? "HOME=/root" : "HOME=/");
    if (plan.path_env.empty())
        plan.path_env = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (auto& a : plan.args) plan.argv.push_back(a.data());
    plan.argv.push_back(nullptr);
    for (auto& e : plan.env) plan.envp.push_back(e.data());
    plan.envp.push_back(nullptr);
    plan.cwd = proc.cwd.empty() ? "/" : proc.cwd;
    plan.uid = proc.user.uid;
    plan.gid = proc.user.gid;
    plan.additional_gids.assign(proc.user.additional_gids.begin(), proc.user.additional_gids.end());
    if (proc.user.umask) plan.umask = static_cast<mode_t>(*proc.user.umask);
    for (size_t i = 0; i < proc.rlimits.size(); ++i) {
        int res = rlimit_resource(proc.rlimits[i].type);
        if (res < 0)
            return Error(EINVAL, "process.rlimits[" + std::to_string(i) + "].type: unknown \"" +
                                     proc.rlimits[i].type + "\"");
        plan.rlimits.push_back({res, {proc.rlimits[i].soft, proc.rlimits[i].hard}});
    }
    if (proc.capabilities) {
        auto masks = isolation::resolve_capabilities(*proc.capabilities);
        if (!masks) return std::move(masks).error();
        plan.capabilities = *masks;
    }
    plan.no_new_privileges = proc.no_new_privileges;
    return {};
}

Result<UniqueFd> connect_console_socket(const std::string& path) {
    UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return Error(ENAMETOOLONG, "--console-socket " + path);
    std::strcpy(addr.sun_path, path.c_str());
    if (!sock || ::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        return Error::from_errno("connect to --console-socket " + path);
    return sock;
}

Error detached_terminal_error() {
    return Error(EINVAL, "process.terminal is true, but skiff-oci detaches (create, run --detach, "
                         "exec --detach) and no --console-socket was given to receive the "
                         "terminal: cannot allocate a tty");
}

pid_t clone_into_cgroup(uint64_t flags, int cgroup_fd, bool& placed) {
    struct CloneArgs {
        uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
            set_tid_size, cgroup;
    } args{};
    constexpr uint64_t kCloneIntoCgroup = 0x200000000ULL;
    if (placed) {
        args.flags = flags | kCloneIntoCgroup;
        args.exit_signal = SIGCHLD;
        args.cgroup = static_cast<uint64_t>(cgroup_fd);
        long pid = syscall(SYS_clone3, &args, sizeof args);
        if (pid >= 0) return static_cast<pid_t>(pid);
        if (errno != ENOSYS && errno != E2BIG && errno != EINVAL) return -1;
        placed = false;
    }
    return static_cast<pid_t>(syscall(SYS_clone, static_cast<unsigned long>(flags) | SIGCHLD,
                                      nullptr, nullptr, nullptr, 0));
}

Result<std::unique_ptr<LaunchPlan>> build_launch_plan(const Spec& spec, const std::string& rootfs,
                                                      const std::string& bundle,
                                                      const CreateOptions& options,
                                                      const isolation::CgroupLayout& layout,
                                                      const std::string& cgroup_path,
                                                      bool attach_terminal) {
    auto plan = std::make_unique<LaunchPlan>();
    const Linux empty_linux;
    const Linux& lx = spec.linux ? *spec.linux : empty_linux;

    bool new_cgroup_ns = false;
    const Namespace* user_ns = lx.find_namespace("user");
    for (const auto& ns : lx.namespaces) {
        int flag = clone_flag(ns.type);
        if (ns.path.empty()) {
            if (flag == CLONE_NEWPID || flag == CLONE_NEWUSER)
                plan->clone_flags |= flag;
            else
                plan->unshare_flags |= flag;
            if (flag == CLONE_NEWCGROUP) new_cgroup_ns = true;
            continue;
        }
        UniqueFd fd(::open(ns.path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd)
            return Error::from_errno("linux.namespaces: open " + ns.type + " namespace " + ns.path);
        if (flag == CLONE_NEWPID) {
            plan->join_pid_fd = fd.release();
        } else if (flag == CLONE_NEWUSER) {
            plan->joins.insert(plan->joins.begin(), {fd.release(), flag});
        } else {
            plan->joins.push_back({fd.release(), flag});
        }
    }
    plan->user_namespace = user_ns != nullptr;
    if (user_ns && user_ns->path.empty()) {
        plan->uid_map = id_ranges(lx.uid_mappings);
        plan->gid_map = id_ranges(lx.gid_mappings);
        // Decided here, not in the init: there geteuid() turns 0 as soon as the maps are written.
        plan->caller_writes_id_maps = geteuid() != 0;
    }
    for (const auto& [clock, offset] : lx.time_offsets)
        plan->time_offsets += clock + " " + std::to_string(offset.secs) + " " +
                              std::to_string(offset.nanosecs) + "\n";
    const Namespace* mount_ns = lx.find_namespace("mount");
    plan->has_mount_ns = mount_ns != nullptr;
    if (!plan->has_mount_ns)
        return Error(EINVAL, "linux.namespaces: a mount namespace is required");

    // Root file system.
    auto& rp = plan->rootfs;
    rp.rootfs = rootfs;
    rp.no_pivot = options.no_pivot;
    rp.readonly_root = spec.root_readonly;
    rp.user_namespace = plan->user_namespace;
    rp.console = spec.process && spec.process->terminal;
    auto prop = isolation::parse_propagation(lx.rootfs_propagation);
    if (!prop) return std::move(prop).error().context("linux.rootfsPropagation");
    rp.final_propagation = *prop;
    // The host must never see the container's mounts: start from slave (or the asked mode).
    if (*prop & (MS_SHARED)) rp.root_propagation = MS_SHARED | MS_REC;
    for (size_t i = 0; i < spec.mounts.size(); ++i) {
        auto step = convert_mount(spec.mounts[i], i, bundle, layout, cgroup_path, new_cgroup_ns);
        if (!step) return std::move(step).error();
        if (spec.mounts[i].destination == "/dev") rp.make_default_devices = true;
        rp.mounts.push_back(std::move(*step));
    }
    for (const auto& d : lx.devices) {
        isolation::DeviceNode node;
        node.path = d.path;
        node.type = d.type == "u" ? 'c' : d.type[0];
        node.major = static_cast<uint32_t>(d.major);
        node.minor = static_cast<uint32_t>(d.minor);
        node.mode = d.file_mode.value_or(0666);
        node.uid = d.uid.value_or(0);
        node.gid = d.gid.value_or(0);
        rp.devices.push_back(node);
    }
    rp.masked_paths = lx.masked_paths;
    rp.readonly_paths = lx.readonly_paths;

    plan->hostname = spec.hostname;
    plan->set_hostname = !spec.hostname.empty();
    plan->domainname = spec.domainname;
    plan->set_domainname = !spec.domainname.empty();
    for (const auto& [key, value] : lx.sysctl) {
        std::string path = "/proc/sys/" + key;
        for (size_t i = 10; i < path.size(); ++i)
            if (path[i] == '.') path[i] = '/';
        plan->sysctl.emplace_back(path, value);
    }

    // The process.
    if (!spec.process) return Error(EINVAL, "process: missing (nothing to run)");
    const Process& proc = *spec.process;
    SKIFF_TRY(plan_process(proc, *plan));
    if (lx.seccomp) {
        auto program = isolation::compile_seccomp(*lx.seccomp);
        if (!program) return std::move(program).error();
        plan->seccomp = std::move(*program);
    }
    plan->terminal = proc.terminal;
    if (proc.console_size) {
        plan->console_rows = static_cast<unsigned short>(proc.console_size->height);
        plan->console_cols = static_cast<unsigned short>(proc.console_size->width);
    }
    if (proc.terminal && options.console_socket.empty()) {
        if (!attach_terminal) return detached_terminal_error();
        auto pair = make_console_pair();
        if (!pair) return std::move(pair).error();
        plan->console_socket = pair->container_end.release();
        plan->console_receiver = std::move(pair->runtime_end);
        own_window_size(plan->console_rows, plan->console_cols);
    } else if (proc.terminal) {
        auto sock = connect_console_socket(options.console_socket);
        if (!sock) return std::move(sock).error();
        plan->console_socket = sock->release();
    }
    plan->preserve_fds = options.preserve_fds;
    for (int i = 0; i < 3; ++i) plan->stdio[i] = options.stdio[i];

    if (spec.hooks) {
        for (const auto& h : spec.hooks->create_container)
            plan->create_container_hooks.push_back(std::make_unique<PreparedHook>(h));
        for (const auto& h : spec.hooks->start_container)
            plan->start_container_hooks.push_back(std::make_unique<PreparedHook>(h));
        plan->parent_hooks = !spec.hooks->prestart.empty() ||
                             !spec.hooks->create_runtime.empty() ||
                             !spec.hooks->create_container.empty();
    }
    return plan;
}

// ---- the container's init: between clone and execve, nothing allocates or throws ----

namespace {

void send_message(int fd, SyncType type, int code, const char* text) noexcept {
    SyncMessage msg{};
    msg.type = type;
    msg.code = code;
    if (text) snprintf(msg.text, sizeof msg.text, "%s", text);
    ssize_t unused = send(fd, &msg, sizeof msg, MSG_NOSIGNAL);
    (void)unused;
}

[[noreturn]] void fail(LaunchPlan& plan, const isolation::ChildError& err) noexcept {
    send_message(plan.sync_fd, SyncType::error, err.code, err.message);
    _exit(1);
}

void receive_payload(LaunchPlan& plan, char* payload, size_t size, size_t* len) noexcept {
    ssize_t n;
    do n = recv(plan.sync_fd, payload, size, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) _exit(1);
    *len = static_cast<size_t>(n);
}

// Waits for one message of the given type from the parent; anything else ends the init.
void expect(LaunchPlan& plan, SyncType type, char* payload, size_t payload_size,
            size_t* payload_len) noexcept {
    SyncMessage msg{};
    ssize_t n;
    do n = recv(plan.sync_fd, &msg, sizeof msg, 0);
    while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(sizeof msg) || msg.type != type) _exit(1);
    if (payload) {
        do n = recv(plan.sync_fd, payload, payload_size, 0);
        while (n < 0 && errno == EINTR);
        if (n < 0) _exit(1);
        *payload_len = static_cast<size_t>(n);
    }
}

// The go message carries the cgroup `tasks` fds; the state JSON follows it as its own message.
void receive_go(LaunchPlan& plan) noexcept {
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * LaunchPlan::kMaxTaskFds)] = {};
    SyncMessage msg{};
    iovec iov{&msg, sizeof msg};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control;
    mh.msg_controllen = sizeof control;
    ssize_t n;
    do n = recvmsg(plan.sync_fd, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(sizeof msg) || msg.type != SyncType::go) _exit(1);
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        if (count > LaunchPlan::kMaxTaskFds) count = LaunchPlan::kMaxTaskFds;
        memcpy(plan.cgroup_tasks_fds, CMSG_DATA(c), count * sizeof(int));
        plan.cgroup_tasks_count = count;
    }
}

int write_text(const char* path, const char* text, size_t len) noexcept {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = write(fd, text, len);
    int saved = errno;
    close(fd);
    errno = saved;
    return n == static_cast<ssize_t>(len) ? 0 : -1;
}

}  // namespace

// Finds args[0] along PATH inside the new root, as execvp would.
int find_executable(LaunchPlan& plan, isolation::ChildError& err) noexcept {
    const char* name = plan.args[0].c_str();
    struct stat st{};
    if (strchr(name, '/')) {
        if (stat(name, &st) != 0 || !S_ISREG(st.st_mode))
            return err.fail(errno ? errno : EACCES, "exec: \"%s\": not found", name);
        snprintf(plan.exec_path, sizeof plan.exec_path, "%s", name);
        return 0;
    }
    const char* p = plan.path_env.c_str();
    while (*p) {
        const char* end = strchr(p, ':');
        size_t len = end ? static_cast<size_t>(end - p) : strlen(p);
        if (len == 0) {
            snprintf(plan.exec_path, sizeof plan.exec_path, "./%s", name);
        } else {
            snprintf(plan.exec_path, sizeof plan.exec_path, "%.*s/%s", static_cast<int>(len), p,
                     name);
        }
        if (stat(plan.exec_path, &st) == 0 && S_ISREG(st.st_mode) &&
            access(plan.exec_path, X_OK) == 0)
            return 0;
        if (!end) break;
        p = end + 1;
    }
    return err.fail(ENOENT, "exec: \"%s\": executable file not found in $PATH", name);
}

int enter_cwd(const LaunchPlan& plan, isolation::ChildError& err) noexcept {
    const char* cwd = plan.cwd.c_str();
    // Resolved from our root with every symlink kept inside it and no magic link followed: a
    // cwd of /proc/self/fd/N can't reach a directory some fd of ours holds (CVE-2024-21626).
    int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) return err.fail(errno, "process.cwd: open /");
    int dir = isolation::open_in_root(root, cwd, O_PATH | O_DIRECTORY);
    int saved = errno;
    close(root);
    if (dir < 0) {
        if (saved == ELOOP || saved == EXDEV)
            return err.fail(saved, "process.cwd: %s is outside the container's root (it goes "
                                   "through a /proc magic link) or loops", cwd);
        return err.fail(saved, "process.cwd: chdir %s", cwd);
    }
    int rc = fchdir(dir);
    saved = errno;
    close(dir);
    if (rc != 0) return err.fail(saved, "process.cwd: chdir %s", cwd);
    // And check what we got: a directory outside our root shows as "(unreachable)" (and glibc's
    // getcwd then fails with ENOENT).
    char here[PATH_MAX];
    if (!getcwd(here, sizeof here) || here[0] != '/')
        return err.fail(EPERM, "process.cwd: %s is outside the container's root", cwd);
    return 0;
}

// A pty from the container's own devpts: the master goes to the console socket, the slave
// becomes stdio, the controlling terminal and /dev/console.
int setup_terminal(LaunchPlan& plan, isolation::ChildError& err) noexcept {
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) return err.fail(errno, "open /dev/ptmx");
    int unlock = 0;
    unsigned int ptn = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) != 0 || ioctl(master, TIOCGPTN, &ptn) != 0)
        return err.fail(errno, "unlock pty");
    if (plan.console_rows || plan.console_cols) {
        winsize ws{};
        ws.ws_row = plan.console_rows;
        ws.ws_col = plan.console_cols;
        if (ioctl(master, TIOCSWINSZ, &ws) != 0) return err.fail(errno, "set process.consoleSize");
    }
    char slave_path[64];
    snprintf(slave_path, sizeof slave_path, "/dev/pts/%u", ptn);
    // Only the init's terminal becomes /dev/console; an exec'd process (no rootfs plan) leaves it.
    if (plan.rootfs.console && isolation::mount_console(slave_path, err) != 0) return -1;
    int slave = open(slave_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) return err.fail(errno, "open %s", slave_path);
    if (send_fd(plan.console_socket, master) != 0)
        return err.fail(errno, "send the terminal to --console-socket");
    close(master);
    close(plan.console_socket);
    if (setsid() < 0) return err.fail(errno, "setsid");
    if (ioctl(slave, TIOCSCTTY, 0) != 0) return err.fail(errno, "set controlling terminal");
    for (int fd = 0; fd < 3; ++fd)
        if (dup2(slave, fd) < 0) return err.fail(errno, "dup terminal to fd %d", fd);
    close(slave);
    return 0;
}

int switch_user(LaunchPlan& plan, isolation::ChildError& err) noexcept {
    if (int rc = isolation::drop_bounding_capabilities(plan.capabilities); rc != 0)
        return err.fail(-rc, "drop capabilities from the bounding set");
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return err.fail(errno, "keep capabilities");
    // In a user namespace whose setgroups is denied, setgroups fails; the groups stay as they are.
    if (setgroups(plan.additional_gids.size(), plan.additional_gids.data()) != 0 &&
        !(plan.user_namespace && errno == EPERM))
        return err.fail(errno, "setgroups");
    if (setresgid(plan.gid, plan.gid, plan.gid) != 0)
        return err.fail(errno, "setgid %u", static_cast<unsigned>(plan.gid));
    if (setresuid(plan.uid, plan.uid, plan.uid) != 0)
        return err.fail(errno, "setuid %u", static_cast<unsigned>(plan.uid));
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return err.fail(errno, "clear keepcaps");
    if (int rc = isolation::apply_capabilities(plan.capabilities); rc != 0)
        return err.fail(-rc, "set capabilities");
    return 0;
}

void container_init(LaunchPlan& plan) noexcept {
    isolation::ChildError err;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // Not dumpable until execve: a container process (one exec'd into a created container, or
    // of another container in a shared pid namespace) without CAP_SYS_PTRACE can neither ptrace
    // the init nor open its /proc/PID/exe, fds, environ or memory while it holds the host's
    // privileges. execve makes the program dumpable again. A caller that is not root writes the
    // new user namespace's id maps itself, which needs /proc/PID to stay its own until then (a
    // non-dumpable process's /proc files belong to root): such an init turns non-dumpable after
    // the go message, which comes after the maps.
    bool defer_nondumpable = plan.caller_writes_id_maps;
    auto make_nondumpable = [&] {
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
            err.fail(errno, "prctl PR_SET_DUMPABLE");
            fail(plan, err);
        }
    };
    if (!defer_nondumpable) make_nondumpable();
    if (plan.lock_fd >= 0) close(plan.lock_fd);
    for (int i = 0; i < 3; ++i) {
        if (plan.stdio[i] >= 0 && plan.stdio[i] != i && dup2(plan.stdio[i], i) < 0) {
            err.fail(errno, "set up fd %d of the container", i);
            fail(plan, err);
        }
    }

    // Without a user namespace nothing here waits for the parent: make the namespaces (a network
    // namespace costs most of a millisecond) while it creates the v1 cgroups. The cgroup
    // namespace must wait until the init is in its cgroups.
    bool early = !plan.user_namespace;
    int early_flags = early ? plan.unshare_flags & ~CLONE_NEWCGROUP : 0;
    if (early_flags && unshare(early_flags) != 0) {
        err.fail(errno, "unshare namespaces (flags 0x%x)", static_cast<unsigned>(early_flags));
        fail(plan, err);
    }

    // With nothing joined by path, the mounts up to the first cgroup mount need nothing from the
    // parent either (a namespace joined later would change what sysfs or mqueue mounts show).
    isolation::RootfsProgress rootfs_progress;
    bool early_mounts = early && plan.joins.empty() && (early_flags & CLONE_NEWNS);
    if (early_mounts && isolation::prepare_rootfs(plan.rootfs, rootfs_progress, true, err) != 0)
        fail(plan, err);

    size_t state_len = 0;
    receive_go(plan);
    if (defer_nondumpable) make_nondumpable();
    receive_payload(plan, plan.state_buffer.data(), plan.state_buffer.size(), &state_len);
    if (int rc = isolation::Cgroup::join_self(plan.cgroup_tasks_fds, plan.cgroup_tasks_count);
        rc != 0) {
        err.fail(-rc, "join the container's cgroups");
        fail(plan, err);
    }
    for (size_t i = 0; i < plan.cgroup_tasks_count; ++i) close(plan.cgroup_tasks_fds[i]);

    for (const auto& j : plan.joins) {
        if (setns(j.fd, j.type) != 0) {
            err.fail(errno, "join namespace (type 0x%x)", static_cast<unsigned>(j.type));
            fail(plan, err);
        }
        close(j.fd);
    }
    // The init starts out as the unmapped host root in a new user namespace; become the mapped root
    // so files it creates have an owner there.
    if (plan.user_namespace && (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0)) {
        err.fail(errno, "user namespace: become uid/gid 0 (is 0 mapped in linux.uidMappings?)");
        fail(plan, err);
    }
    int late_flags = plan.unshare_flags & ~early_flags;
    if (late_flags && unshare(late_flags) != 0) {
        err.fail(errno, "unshare namespaces (flags 0x%x)", static_cast<unsigned>(late_flags));
        fail(plan, err);
    }
    if (!plan.time_offsets.empty() &&
        write_text("/proc/self/timens_offsets", plan.time_offsets.data(),
                   plan.time_offsets.size()) != 0) {
        err.fail(errno, "write linux.timeOffsets");
        fail(plan, err);
    }
    if (isolation::prepare_rootfs(plan.rootfs, rootfs_progress, false, err) != 0) fail(plan, err);
    if (plan.set_hostname && sethostname(plan.hostname.data(), plan.hostname.size()) != 0) {
        err.fail(errno, "sethostname %s", plan.hostname.c_str());
        fail(plan, err);
    }
    if (plan.set_domainname && setdomainname(plan.domainname.data(), plan.domainname.size()) != 0) {
        err.fail(errno, "setdomainname %s", plan.domainname.c_str());
        fail(plan, err);
    }
    if (plan.parent_hooks) {
        send_message(plan.sync_fd, SyncType::need_hooks, 0, nullptr);
        expect(plan, SyncType::hooks_done, nullptr, 0, nullptr);
        for (const auto& h : plan.create_container_hooks)
            if (run_prepared_hook(*h, plan.state_buffer.data(), state_len, err) != 0)
                fail(plan, err);
    }
    if (isolation::enter_rootfs(plan.rootfs, err) != 0) fail(plan, err);
    for (const auto& [path, value] : plan.sysctl) {
        if (write_text(path.c_str(), value.data(), value.size()) != 0) {
            err.fail(errno, "linux.sysctl: write %s=%s", path.c_str() + 10, value.c_str());
            fail(plan, err);
        }
    }
    if (plan.terminal && setup_terminal(plan, err) != 0) fail(plan, err);
    {
        // Like runc, a missing working directory is made (inside the new root, before it may
        // turn read-only).
        int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0 || isolation::make_path_in_root(root, plan.cwd.c_str(), false) != 0) {
            if (errno == ELOOP)
                err.fail(errno, "process.cwd: %s is outside the container's root (it goes through "
                                "a /proc magic link) or loops", plan.cwd.c_str());
            else
                err.fail(errno, "process.cwd: create %s", plan.cwd.c_str());
            fail(plan, err);
        }
        close(root);
    }
    if (isolation::finish_rootfs(plan.rootfs, err) != 0) fail(plan, err);
    for (const auto& l : plan.rlimits) {
        if (setrlimit(static_cast<__rlimit_resource>(l.resource), &l.value) != 0) {
            err.fail(errno, "setrlimit %d", l.resource);
            fail(plan, err);
        }
    }
    if (find_executable(plan, err) != 0) fail(plan, err);
    if (enter_cwd(plan, err) != 0) fail(plan, err);

    send_message(plan.sync_fd, SyncType::created, 0, nullptr);
    close(plan.sync_fd);

    // Wait for `start`: it writes one byte into the exec fifo.
    char byte;
    ssize_t n;
    do n = read(plan.fifo_fd, &byte, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1) _exit(1);
    // The fifo fd stays open until execve closes it (O_CLOEXEC): that close is how `start`
    // learns the startContainer hooks are done and the program runs.

    for (const auto& h : plan.start_container_hooks) {
        if (run_prepared_hook(*h, plan.state_buffer.data(), state_len, err) != 0) {
            dprintf(STDERR_FILENO, "skiff-oci: startContainer %s\n", err.message);
            _exit(1);
        }
    }
    auto die = [&](const isolation::ChildError& e) {
        dprintf(STDERR_FILENO, "skiff-oci: %s: %s\n", e.message, strerror(e.code));
        _exit(127);
    };
    // Without no_new_privs a filter may only be installed while CAP_SYS_ADMIN is held.
    if (plan.seccomp && !plan.no_new_privileges) {
        if (int rc = isolation::install_seccomp(*plan.seccomp); rc != 0) {
            err.fail(-rc, "install seccomp filter");
            die(err);
        }
    }
    if (switch_user(plan, err) != 0) die(err);
    if (plan.umask) ::umask(*plan.umask);
    // Again as the process's user: it must be allowed into its working directory.
    if (enter_cwd(plan, err) != 0) die(err);
    if (plan.no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        err.fail(errno, "set no_new_privs");
        die(err);
    }
    if (plan.seccomp && plan.no_new_privileges) {
        if (int rc = isolation::install_seccomp(*plan.seccomp); rc != 0) {
            err.fail(-rc, "install seccomp filter");
            die(err);
        }
    }
    // Nothing of the runtime's may reach the program: every fd past stdio and the preserved
    // ones closes at exec (CVE-2024-21626 leaked one).
    syscall(SYS_close_range, 3 + plan.preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC);
    execve(plan.exec_path, plan.argv.data(), plan.envp.data());
    dprintf(STDERR_FILENO, "skiff-oci: exec %s: %s\n", plan.exec_path, strerror(errno));
    _exit(127);
}

}  // namespace skiff::runtime
