// The default seccomp profile: the same policy as Docker's (moby) default profile.
#include <sched.h>
#include <sys/socket.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "skiff/isolation/seccomp.hpp"

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

namespace skiff::isolation {
namespace {

// Allowed for every container. Names a kernel or libseccomp does not know are skipped when
// compiling, so 32-bit and newer calls can stay in one list. Absent on purpose (and so refused
// with EPERM): keyctl, add_key, request_key (the keyring is not namespaced), userfaultfd,
// io_uring_* (a long record of kernel bugs; Docker dropped them too), kexec_*, open_by_handle_at
// and the namespace/mount/module/clock calls, which come back below with their capability.
// Packed by hand: clang-format would put each of the ~370 names on its own line.
// clang-format off
const char* const kAlwaysAllowed[] = {
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget",
    "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
    "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
    "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
    "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
    "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr",
    "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
    "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv",
    "futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
    "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
    "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
    "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
    "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday",
    "getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1",
    "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
    "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit", "ipc", "kill",
    "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32",
    "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "_llseek", "lremovexattr",
    "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "map_shadow_stack", "membarrier",
    "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock",
    "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
    "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink",
    "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
    "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2", "pause", "pidfd_open",
    "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
    "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
    "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read",
    "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg",
    "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "rename", "renameat",
    "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
    "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget",
    "semop", "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg",
    "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32",
    "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32",
    "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
    "set_robust_list", "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid",
    "setuid32", "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack",
    "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice",
    "stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync",
    "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
    "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
    "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
    "timerfd_settime64", "times", "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname",
    "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice",
    "wait4", "waitid", "waitpid", "write", "writev",
};
// clang-format on

struct CapabilityGroup {
    const char* capability;
    std::vector<std::string> names;
};

// Calls that a capability makes meaningful, as Docker's profile grants them.
const CapabilityGroup kCapabilityGroups[] = {
    {"CAP_DAC_READ_SEARCH", {"open_by_handle_at"}},
    {"CAP_SYS_ADMIN",
     {"bpf",
      "clone",
      "clone3",
      "fanotify_init",
      "fsconfig",
      "fsmount",
      "fsopen",
      "fspick",
      "lookup_dcookie",
      "mount",
      "mount_setattr",
      "move_mount",
      "name_to_handle_at",
      "open_tree",
      "perf_event_open",
      "quotactl",
      "quotactl_fd",
      "setdomainname",
      "sethostname",
      "setns",
      "syslog",
      "umount",
      "umount2",
      "unshare"}},
    {"CAP_SYS_BOOT", {"reboot"}},
    {"CAP_SYS_CHROOT", {"chroot"}},
    {"CAP_SYS_MODULE", {"delete_module", "init_module", "finit_module"}},
    {"CAP_SYS_PACCT", {"acct"}},
    {"CAP_SYS_PTRACE",
     {"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"}},
    {"CAP_SYS_RAWIO", {"iopl", "ioperm"}},
    {"CAP_SYS_TIME", {"settimeofday", "stime", "clock_settime", "clock_settime64"}},
    {"CAP_SYS_TTY_CONFIG", {"vhangup"}},
    {"CAP_SYS_NICE", {"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"}},
    {"CAP_SYSLOG", {"syslog"}},
    {"CAP_BPF", {"bpf"}},
    {"CAP_PERFMON", {"perf_event_open"}},
};

// Linux 4.8 closed the hole that let a ptraced process skip seccomp (the tracer could rewrite
// the syscall after the filter ran), so from then on Docker allows ptrace and the
// process_vm_* calls without CAP_SYS_PTRACE: they only reach processes the caller may already
// trace (same uid, Yama permitting), and strace/gdb inside containers rely on it. We do the same.
bool kernel_at_least(int want_major, int want_minor) {
    utsname u{};
    if (uname(&u) != 0) return false;
    int major = 0, minor = 0;
    if (std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
    return major > want_major || (major == want_major && minor >= want_minor);
}

SeccompRule allow(std::vector<std::string> names, std::vector<SeccompArg> args = {}) {
    return SeccompRule{std::move(names), "SCMP_ACT_ALLOW", std::nullopt, std::move(args)};
}

SeccompArg arg(unsigned index, uint64_t value, const char* op, uint64_t value_two = 0) {
    return SeccompArg{index, value, value_two, op};
}

}  // namespace

SeccompConfig default_seccomp_profile(const std::vector<std::string>& capabilities) {
    auto has = [&](const char* cap) {
        return std::find(capabilities.begin(), capabilities.end(), cap) != capabilities.end();
    };

    SeccompConfig config;
    config.default_action = "SCMP_ACT_ERRNO";
    config.default_errno_ret = EPERM;
#if defined(__x86_64__)
    config.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
#elif defined(__aarch64__)
    config.architectures = {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"};
#elif defined(__i386__)
    config.architectures = {"SCMP_ARCH_X86"};
#elif defined(__arm__)
    config.architectures = {"SCMP_ARCH_ARM"};
#endif

    config.syscalls.push_back(allow({std::begin(kAlwaysAllowed), std::end(kAlwaysAllowed)}));
    if (kernel_at_least(4, 8))
        config.syscalls.push_back(allow({"process_vm_readv", "process_vm_writev", "ptrace"}));

    // personality(2) only for the execution domains programs ask for: PER_LINUX, PER_LINUX32
    // (0x8), UNAME26 (0x20000), PER_LINUX32|UNAME26, and 0xffffffff (a query). Each is its own
    // rule: several comparisons on one argument would mean all of them at once.
    for (uint64_t persona : {0x0ULL, 0x8ULL, 0x20000ULL, 0x20008ULL, 0xffffffffULL})
        config.syscalls.push_back(allow({"personality"}, {arg(0, persona, "SCMP_CMP_EQ")}));

    // Every address family except AF_VSOCK: vsock reaches the hypervisor and host services
    // outside the network namespace.
    config.syscalls.push_back(allow({"socket"}, {arg(0, AF_VSOCK, "SCMP_CMP_NE")}));

#if defined(__x86_64__) || defined(__i386__)
    config.syscalls.push_back(allow({"arch_prctl", "modify_ldt"}));
#elif defined(__aarch64__) || defined(__arm__)
    config.syscalls.push_back(allow({"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2",
                                     "breakpoint", "cacheflush", "set_tls"}));
#endif

    if (!has("CAP_SYS_ADMIN")) {
        // clone without any namespace flag. clone3 passes its flags in memory a filter cannot
        // read, so it fails with ENOSYS and glibc falls back to clone.
        constexpr uint64_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
                                             CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |
                                             CLONE_NEWCGROUP;
        config.syscalls.push_back(
            allow({"clone"}, {arg(0, kNamespaceFlags, "SCMP_CMP_MASKED_EQ", 0)}));
        config.syscalls.push_back(SeccompRule{{"clone3"}, "SCMP_ACT_ERRNO", ENOSYS, {}});
    }
    for (const CapabilityGroup& group : kCapabilityGroups)
        if (has(group.capability)) config.syscalls.push_back(allow(group.names));
    return config;
}

}  // namespace skiff::isolation
