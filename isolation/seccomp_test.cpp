// Tests for seccomp: profile validation, compilation, the default profile, and real-kernel filters.
#include "skiff/isolation/seccomp.hpp"

#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

namespace skiff::isolation {
namespace {

SeccompRule rule(std::vector<std::string> names, std::string action,
                 std::optional<unsigned> errno_ret = std::nullopt,
                 std::vector<SeccompArg> args = {}) {
    return SeccompRule{std::move(names), std::move(action), errno_ret, std::move(args)};
}

SeccompConfig allow_all_but(std::vector<SeccompRule> rules) {
    SeccompConfig c;
    c.default_action = "SCMP_ACT_ALLOW";
    c.syscalls = std::move(rules);
    return c;
}

std::string compile_error(const SeccompConfig& c) {
    auto r = compile_seccomp(c);
    if (r) return "(compiled)";
    return r.error().message();
}

bool same_program(const SeccompProgram& a, const SeccompProgram& b) {
    return a.flags == b.flags && a.filter.size() == b.filter.size() &&
           std::memcmp(a.filter.data(), b.filter.data(), a.filter.size() * sizeof(sock_filter)) ==
               0;
}

bool has_return(const SeccompProgram& p, uint32_t k) {
    return std::any_of(p.filter.begin(), p.filter.end(), [&](const sock_filter& f) {
        return f.code == (BPF_RET | BPF_K) && f.k == k;
    });
}

std::set<std::string> allowed_names(const SeccompConfig& c) {
    std::set<std::string> out;
    for (const auto& r : c.syscalls)
        if (r.action == "SCMP_ACT_ALLOW") out.insert(r.names.begin(), r.names.end());
    return out;
}

// Runs `checks` in a forked child after installing `program`. The child reports the first
// failed check over a pipe; the returned string is empty when all held.
template <class Checks>
std::string run_filtered(const SeccompProgram& program, Checks checks) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return "pipe failed";
    pid_t pid = fork();
    if (pid < 0) return "fork failed";
    if (pid == 0) {
        close(fds[0]);
        char msg[256];
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        if (int rc = install_seccomp(program); rc != 0) {
            int n = snprintf(msg, sizeof msg, "install_seccomp: %s", strerror(-rc));
            (void)!write(fds[1], msg, static_cast<size_t>(n));
            _exit(2);
        }
        const char* failed = checks(msg, sizeof msg);
        if (failed) {
            (void)!write(fds[1], failed, strlen(failed));
            _exit(1);
        }
        _exit(0);
    }
    close(fds[1]);
    std::string report;
    char buf[256];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) report.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status)) return "child killed by signal " + std::to_string(WTERMSIG(status));
    if (WEXITSTATUS(status) != 0 && report.empty())
        return "child exit " + std::to_string(WEXITSTATUS(status));
    return report;
}

// In the child: checks that `rc` is -1 with errno `want`, else formats a failure into msg.
#define EXPECT_ERRNO_IN_CHILD(call, want)                                                  \
    do {                                                                                   \
        errno = 0;                                                                         \
        long rc_ = (call);                                                                 \
        int e_ = errno;                                                                    \
        if (rc_ != -1 || e_ != (want)) {                                                   \
            snprintf(msg, size, "%s: rc=%ld errno=%d (%s), want errno %d", #call, rc_, e_, \
                     strerror(e_), (want));                                                \
            return msg;                                                                    \
        }                                                                                  \
    } while (0)
#define EXPECT_OK_IN_CHILD(call)                                                                 \
    do {                                                                                         \
        errno = 0;                                                                               \
        long rc_ = (call);                                                                       \
        if (rc_ < 0) {                                                                           \
            snprintf(msg, size, "%s: rc=%ld errno=%d (%s)", #call, rc_, errno, strerror(errno)); \
            return msg;                                                                          \
        }                                                                                        \
    } while (0)

// ---- validation and compilation ----

TEST(SeccompCompile, BadActionNamesTheField) {
    auto c = allow_all_but({rule({"getpid"}, "SCMP_ACT_ERRNO"), rule({"getcwd"}, "SCMP_ACT_ERRNO"),
                            rule({"getppid"}, "SCMP_ACT_ERRNO"), rule({"read"}, "SCMP_ACT_FOO")});
    EXPECT_EQ(compile_error(c),
              "linux.seccomp.syscalls[3].action: unknown action \"SCMP_ACT_FOO\"");

    SeccompConfig d;
    d.default_action = "SCMP_ACT_BAR";
    EXPECT_EQ(compile_error(d), "linux.seccomp.defaultAction: unknown action \"SCMP_ACT_BAR\"");
    d.default_action = "";
    EXPECT_EQ(compile_error(d), "linux.seccomp.defaultAction: missing");
}

TEST(SeccompCompile, BadArchitectureFlagOperatorNameTheField) {
    auto c = allow_all_but({});
    c.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"};
    EXPECT_EQ(compile_error(c),
              "linux.seccomp.architectures[1]: unknown architecture \"SCMP_ARCH_VAX\"");
    c.architectures = {"x86_64"};  // libseccomp's own spelling is not an OCI name
    EXPECT_EQ(compile_error(c), "linux.seccomp.architectures[0]: unknown architecture \"x86_64\"");

    c = allow_all_but({});
    c.flags = {"SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_BOGUS"};
    EXPECT_EQ(compile_error(c),
              "linux.seccomp.flags[1]: unknown flag \"SECCOMP_FILTER_FLAG_BOGUS\"");

    c = allow_all_but({rule({"getpid"}, "SCMP_ACT_ERRNO"),
                       rule({"getpriority"}, "SCMP_ACT_ERRNO", std::nullopt,
                            {{0, 1, 0, "SCMP_CMP_EQ"}, {1, 1, 0, "SCMP_CMP_APPROX"}})});
    EXPECT_EQ(compile_error(c),
              "linux.seccomp.syscalls[1].args[1].op: unknown operator \"SCMP_CMP_APPROX\"");

    c = allow_all_but(
        {rule({"getpriority"}, "SCMP_ACT_ERRNO", std::nullopt, {{6, 1, 0, "SCMP_CMP_EQ"}})});
    EXPECT_EQ(compile_error(c), "linux.seccomp.syscalls[0].args[0].index: 6 is out of range (0-5)");

    c = allow_all_but({rule({}, "SCMP_ACT_ERRNO")});
    EXPECT_EQ(compile_error(c), "linux.seccomp.syscalls[0].names: empty");
}

TEST(SeccompCompile, NotifyIsRefusedClearly) {
    auto c = allow_all_but({rule({"getpid"}, "SCMP_ACT_NOTIFY")});
    auto r = compile_seccomp(c);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("linux.seccomp.syscalls[0].action"), std::string::npos);
    EXPECT_NE(r.error().message().find("SCMP_ACT_NOTIFY is not supported"), std::string::npos);
    EXPECT_EQ(r.error().code(), ENOTSUP);

    c = allow_all_but({});
    c.listener_path = "/run/listener.sock";
    EXPECT_EQ(compile_error(c),
              "linux.seccomp.listenerPath: seccomp notify listeners are not supported");
}

TEST(SeccompCompile, ErrnoRetOnlyWhereTheActionTakesOne) {
    auto c = allow_all_but({rule({"getpid"}, "SCMP_ACT_KILL_PROCESS", 5u)});
    EXPECT_EQ(compile_error(c),
              "linux.seccomp.syscalls[0].errnoRet: SCMP_ACT_KILL_PROCESS does not take an errno "
              "value");
    c = allow_all_but({rule({"getpid"}, "SCMP_ACT_ERRNO", 70000u)});
    EXPECT_EQ(compile_error(c),
              "linux.seccomp.syscalls[0].errnoRet: 70000 does not fit in 16 bits");
    SeccompConfig d;
    d.default_action = "SCMP_ACT_ALLOW";
    d.default_errno_ret = 1;
    EXPECT_EQ(compile_error(d),
              "linux.seccomp.defaultErrnoRet: SCMP_ACT_ALLOW does not take an errno value");
}

TEST(SeccompCompile, ErrnoRetIsInTheProgram) {
    auto with = compile_seccomp(allow_all_but({rule({"getcwd"}, "SCMP_ACT_ERRNO", 99u)}));
    ASSERT_TRUE(with) << with.error().what();
    EXPECT_TRUE(has_return(*with, SECCOMP_RET_ERRNO | 99));
    EXPECT_FALSE(has_return(*with, SECCOMP_RET_ERRNO | EPERM));

    // Without errnoRet, ERRNO means EPERM.
    auto without = compile_seccomp(allow_all_but({rule({"getcwd"}, "SCMP_ACT_ERRNO")}));
    ASSERT_TRUE(without) << without.error().what();
    EXPECT_TRUE(has_return(*without, SECCOMP_RET_ERRNO | EPERM));

    SeccompConfig deny;
    deny.default_action = "SCMP_ACT_ERRNO";
    deny.default_errno_ret = 38;
    deny.syscalls = {rule({"getpid"}, "SCMP_ACT_ALLOW")};
    auto d = compile_seccomp(deny);
    ASSERT_TRUE(d) << d.error().what();
    EXPECT_TRUE(has_return(*d, SECCOMP_RET_ERRNO | 38));
    EXPECT_TRUE(has_return(*d, SECCOMP_RET_ALLOW));
}

TEST(SeccompCompile, EveryActionCompiles) {
    for (const std::string& action : seccomp_known_actions()) {
        auto r = compile_seccomp(allow_all_but({rule({"getcwd"}, action)}));
        EXPECT_TRUE(r) << action << ": " << r.error().what();
    }
    auto kill = compile_seccomp(allow_all_but({rule({"getcwd"}, "SCMP_ACT_KILL")}));
    ASSERT_TRUE(kill);
    EXPECT_TRUE(has_return(*kill, SECCOMP_RET_KILL_THREAD));
    auto trace = compile_seccomp(allow_all_but({rule({"getcwd"}, "SCMP_ACT_TRACE")}));
    ASSERT_TRUE(trace);
    EXPECT_TRUE(has_return(*trace, SECCOMP_RET_TRACE | EPERM));
}

TEST(SeccompCompile, UnknownSyscallNamesAreSkipped) {
    auto plain = compile_seccomp(allow_all_but({rule({"getcwd"}, "SCMP_ACT_ERRNO")}));
    auto with_unknown =
        compile_seccomp(allow_all_but({rule({"no_such_syscall_skiff", "getcwd"}, "SCMP_ACT_ERRNO"),
                                       rule({"another_unknown_one"}, "SCMP_ACT_KILL")}));
    ASSERT_TRUE(plain) << plain.error().what();
    ASSERT_TRUE(with_unknown) << with_unknown.error().what();
    EXPECT_TRUE(same_program(*plain, *with_unknown));
}

TEST(SeccompCompile, RuleWithTheDefaultActionIsSkipped) {
    auto plain = compile_seccomp(allow_all_but({rule({"getcwd"}, "SCMP_ACT_ERRNO")}));
    auto redundant = compile_seccomp(allow_all_but(
        {rule({"getcwd"}, "SCMP_ACT_ERRNO"), rule({"getpid", "read"}, "SCMP_ACT_ALLOW")}));
    ASSERT_TRUE(plain) << plain.error().what();
    ASSERT_TRUE(redundant) << redundant.error().what();
    EXPECT_TRUE(same_program(*plain, *redundant));
}

TEST(SeccompCompile, FlagsBecomeBits) {
    auto c = allow_all_but({});
    c.flags = {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
               "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"};
    auto r = compile_seccomp(c);
    ASSERT_TRUE(r) << r.error().what();
    // WAIT_KILLABLE_RECV only applies with a notify listener, which we never create.
    EXPECT_EQ(r->flags, unsigned{SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_LOG |
                                 SECCOMP_FILTER_FLAG_SPEC_ALLOW});
}

TEST(SeccompCompile, ArgumentOperatorsCompile) {
    for (const std::string& op : seccomp_known_operators()) {
        auto r = compile_seccomp(
            allow_all_but({rule({"getpriority"}, "SCMP_ACT_ERRNO", 61u, {{0, 0xf0, 0x10, op}})}));
        EXPECT_TRUE(r) << op << ": " << r.error().what();
    }
    // Two comparisons on one argument: split into alternatives rather than refused.
    auto split = compile_seccomp(
        allow_all_but({rule({"getpriority"}, "SCMP_ACT_ERRNO", 62u,
                            {{0, 0x21, 0, "SCMP_CMP_EQ"}, {0, 0x22, 0, "SCMP_CMP_EQ"}})}));
    EXPECT_TRUE(split) << split.error().what();
}

TEST(SeccompCompile, KnownNamesAreAccepted) {
    auto arches = seccomp_known_architectures();
    EXPECT_NE(std::find(arches.begin(), arches.end(), "SCMP_ARCH_X86_64"), arches.end());
    EXPECT_NE(std::find(arches.begin(), arches.end(), "SCMP_ARCH_AARCH64"), arches.end());
    EXPECT_GE(arches.size(), 15u);
    for (const std::string& a : arches) {
        auto c = allow_all_but({rule({"getcwd"}, "SCMP_ACT_ERRNO")});
        c.architectures = {a};
        auto r = compile_seccomp(c);
        // Big-endian ABIs cannot share a filter with this host's; the error says so.
        if (!r && r.error().code() == EDOM) {
            EXPECT_NE(r.error().message().find("different endianness"), std::string::npos);
            continue;
        }
        EXPECT_TRUE(r) << a << ": " << r.error().what();
    }
    EXPECT_EQ(seccomp_known_flags().size(), 4u);
    EXPECT_EQ(seccomp_known_operators().size(), 7u);
    auto actions = seccomp_known_actions();
    EXPECT_EQ(std::find(actions.begin(), actions.end(), "SCMP_ACT_NOTIFY"), actions.end());
}

// ---- the default profile ----

TEST(SeccompDefault, ShapeWithoutCapabilities) {
    SeccompConfig c = default_seccomp_profile({});
    EXPECT_EQ(c.default_action, "SCMP_ACT_ERRNO");
    EXPECT_EQ(c.default_errno_ret, std::optional<unsigned>(EPERM));
#if defined(__x86_64__)
    EXPECT_EQ(c.architectures,
              (std::vector<std::string>{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
#endif
    auto names = allowed_names(c);
    EXPECT_GE(names.size(), 330u);
    EXPECT_LE(names.size(), 400u);
    for (const char* refused : {"mount",
                                "umount2",
                                "unshare",
                                "setns",
                                "keyctl",
                                "add_key",
                                "request_key",
                                "bpf",
                                "io_uring_setup",
                                "io_uring_enter",
                                "io_uring_register",
                                "kexec_load",
                                "kexec_file_load",
                                "userfaultfd",
                                "open_by_handle_at",
                                "init_module",
                                "reboot",
                                "chroot",
                                "clock_settime",
                                "perf_event_open",
                                "clone3",
                                "fsopen",
                                "syslog",
                                "acct"})
        EXPECT_EQ(names.count(refused), 0u) << refused;
    for (const char* ok : {"read", "write", "openat", "execve", "getpid", "futex", "socket",
                           "personality", "clone", "ptrace", "arch_prctl"})
        EXPECT_EQ(names.count(ok), 1u) << ok;
    // clone comes only with the namespace-flag filter; clone3 answers ENOSYS.
    bool clone3_enosys = false;
    for (const auto& r : c.syscalls) {
        if (r.names == std::vector<std::string>{"clone"}) {
            ASSERT_EQ(r.args.size(), 1u);
            EXPECT_EQ(r.args[0].op, "SCMP_CMP_MASKED_EQ");
            EXPECT_EQ(r.args[0].value, 0x7E020000u);
            EXPECT_EQ(r.args[0].value_two, 0u);
        }
        if (r.names == std::vector<std::string>{"clone3"})
            clone3_enosys = r.action == "SCMP_ACT_ERRNO" && r.errno_ret == ENOSYS;
    }
    EXPECT_TRUE(clone3_enosys);
}

TEST(SeccompDefault, CapabilitiesOpenTheirGroups) {
    auto admin = allowed_names(default_seccomp_profile({"CAP_SYS_ADMIN"}));
    for (const char* n : {"mount", "umount2", "unshare", "setns", "clone3", "sethostname", "bpf"})
        EXPECT_EQ(admin.count(n), 1u) << n;
    EXPECT_EQ(admin.count("keyctl"), 0u);
    EXPECT_EQ(admin.count("reboot"), 0u);
    SeccompConfig admin_profile = default_seccomp_profile({"CAP_SYS_ADMIN"});
    for (const auto& r : admin_profile.syscalls)
        EXPECT_FALSE(r.action == "SCMP_ACT_ERRNO" && r.names == std::vector<std::string>{"clone3"});

    auto others = allowed_names(default_seccomp_profile(
        {"CAP_SYS_BOOT", "CAP_SYS_CHROOT", "CAP_SYS_MODULE", "CAP_SYS_TIME", "CAP_BPF",
         "CAP_PERFMON", "CAP_SYS_PTRACE", "CAP_SYSLOG", "CAP_DAC_READ_SEARCH"}));
    for (const char* n : {"reboot", "chroot", "init_module", "finit_module", "clock_settime", "bpf",
                          "perf_event_open", "kcmp", "pidfd_getfd", "syslog", "open_by_handle_at"})
        EXPECT_EQ(others.count(n), 1u) << n;
    EXPECT_EQ(others.count("mount"), 0u);
}

TEST(SeccompDefault, CompilesFast) {
    for (const auto& caps :
         {std::vector<std::string>{}, std::vector<std::string>{"CAP_SYS_ADMIN"}}) {
        SeccompConfig c = default_seccomp_profile(caps);
        auto first = compile_seccomp(c);
        ASSERT_TRUE(first) << first.error().what();
        EXPECT_GT(first->filter.size(), 300u);
        EXPECT_LE(first->filter.size(), 4096u);
    }
    SeccompConfig c = default_seccomp_profile({});
    constexpr int kRuns = 200;
    std::vector<double> ms;
    for (int i = 0; i < kRuns; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        auto r = compile_seccomp(c);
        auto t1 = std::chrono::steady_clock::now();
        ASSERT_TRUE(r);
        ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    const double median = ms[kRuns / 2];
    std::printf(
        "compile_seccomp(default profile): median %.3f ms, min %.3f ms, p95 %.3f ms, "
        "%zu BPF instructions\n",
        median, ms.front(), ms[kRuns * 95 / 100], compile_seccomp(c)->filter.size());
    EXPECT_LT(median, 2.0);
}

// ---- the fast generator against libseccomp ----

// A classic-BPF interpreter for the instructions seccomp filters use.
uint32_t run_bpf(const std::vector<sock_filter>& prog, const seccomp_data& data) {
    uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {};
    const auto* bytes = reinterpret_cast<const unsigned char*>(&data);
    for (size_t pc = 0; pc < prog.size(); ++pc) {
        const sock_filter& f = prog[pc];
        switch (f.code) {
            case BPF_LD | BPF_W | BPF_ABS:
                if (f.k + 4 > sizeof data) return 0xdeadbeef;
                std::memcpy(&a, bytes + f.k, 4);
                break;
            case BPF_LD | BPF_IMM:
                a = f.k;
                break;
            case BPF_LDX | BPF_IMM:
                x = f.k;
                break;
            case BPF_LD | BPF_MEM:
                a = mem[f.k];
                break;
            case BPF_LDX | BPF_MEM:
                x = mem[f.k];
                break;
            case BPF_ST:
                mem[f.k] = a;
                break;
            case BPF_STX:
                mem[f.k] = x;
                break;
            case BPF_MISC | BPF_TAX:
                x = a;
                break;
            case BPF_MISC | BPF_TXA:
                a = x;
                break;
            case BPF_ALU | BPF_AND | BPF_K:
                a &= f.k;
                break;
            case BPF_ALU | BPF_OR | BPF_K:
                a |= f.k;
                break;
            case BPF_JMP | BPF_JA:
                pc += f.k;
                break;
            case BPF_JMP | BPF_JEQ | BPF_K:
                pc += (a == f.k) ? f.jt : f.jf;
                break;
            case BPF_JMP | BPF_JGT | BPF_K:
                pc += (a > f.k) ? f.jt : f.jf;
                break;
            case BPF_JMP | BPF_JGE | BPF_K:
                pc += (a >= f.k) ? f.jt : f.jf;
                break;
            case BPF_JMP | BPF_JSET | BPF_K:
                pc += (a & f.k) ? f.jt : f.jf;
                break;
            case BPF_RET | BPF_K:
                return f.k;
            case BPF_RET | BPF_A:
                return a;
            default:
                return 0xbadc0de;
        }
    }
    return 0xfa11;  // fell off the end
}

// Runs both compilers on `config` (adding MIPSEL, which the fast generator leaves to
// libseccomp) and compares their verdicts on every syscall number of every ABI in `abis`,
// with argument values around the profile's constants. Returns the number of inputs checked.
size_t expect_same_as_libseccomp(SeccompConfig config) {
    auto fast = compile_seccomp(config);
    EXPECT_TRUE(fast) << fast.error().what();
    config.architectures.push_back("SCMP_ARCH_MIPSEL");
    auto reference = compile_seccomp(config);
    EXPECT_TRUE(reference) << reference.error().what();
    if (!fast || !reference) return 0;
    EXPECT_FALSE(same_program(*fast, *reference));  // really two different compilers

    struct Abi {
        uint32_t audit;
        uint32_t nr_base;
    };
    const std::vector<Abi> abis = {{AUDIT_ARCH_X86_64, 0},          {AUDIT_ARCH_I386, 0},
                                   {AUDIT_ARCH_X86_64, 0x40000000},  // x32
                                   {AUDIT_ARCH_AARCH64, 0},         {AUDIT_ARCH_ARM, 0},
                                   {AUDIT_ARCH_ARM, 0x0f0000},  // ARM private calls
                                   {AUDIT_ARCH_PPC64LE, 0}};
    const uint64_t values[] = {0,
                               1,
                               2,
                               3,
                               5,
                               6,
                               8,
                               40,
                               41,
                               0x11,
                               0x1f,
                               0x21,
                               0x22,
                               0x23,
                               0x20000,
                               0x20008,
                               0xffffffff,
                               0x7E020000,
                               0x10000,
                               0x100000005ULL,
                               0x100000000ULL,
                               0xffffffff00000028ULL,
                               0x3000000000ULL};
    size_t checked = 0;
    for (const Abi& abi : abis) {
        for (uint32_t n = 0; n < 600; ++n) {
            for (uint64_t v : values) {
                for (unsigned index : {0u, 1u}) {
                    seccomp_data d{};
                    d.arch = abi.audit;
                    d.nr = static_cast<int>(abi.nr_base + n);
                    d.args[index] = v;
                    uint32_t want = run_bpf(reference->filter, d);
                    uint32_t got = run_bpf(fast->filter, d);
                    ++checked;
                    if (want != got) {
                        ADD_FAILURE() << "arch " << std::hex << abi.audit << " nr 0x" << d.nr
                                      << " args[" << index << "]=0x" << v << ": libseccomp 0x"
                                      << want << ", fast 0x" << got;
                        return checked;
                    }
                }
            }
        }
    }
    for (int nr : {-1, 0x3fffffff, 0x40000000 + 1000, 0x7fffffff}) {
        seccomp_data d{};
        d.arch = AUDIT_ARCH_X86_64;
        d.nr = nr;
        EXPECT_EQ(run_bpf(reference->filter, d), run_bpf(fast->filter, d)) << "nr " << nr;
    }
    return checked;
}

TEST(SeccompFastGenerator, DefaultProfileMatchesLibseccomp) {
    for (const auto& caps : {std::vector<std::string>{}, std::vector<std::string>{"CAP_SYS_ADMIN"},
                             std::vector<std::string>{"CAP_SYS_PTRACE", "CAP_SYS_TIME"}}) {
        size_t n = expect_same_as_libseccomp(default_seccomp_profile(caps));
        EXPECT_GT(n, 100000u);
    }
}

TEST(SeccompFastGenerator, OperatorsAndMultiplexersMatchLibseccomp) {
    SeccompConfig c;
    c.default_action = "SCMP_ACT_ALLOW";
    c.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64",
                       "SCMP_ARCH_ARM"};
    c.syscalls = {
        rule({"getpriority"}, "SCMP_ACT_ERRNO", 61u, {{0, 0xf0, 0x10, "SCMP_CMP_MASKED_EQ"}}),
        rule({"getpriority"}, "SCMP_ACT_ERRNO", 62u,
             {{0, 0x21, 0, "SCMP_CMP_EQ"}, {0, 0x22, 0, "SCMP_CMP_EQ"}}),
        rule({"read"}, "SCMP_ACT_ERRNO", 1u, {{0, 0x100000005ULL, 0, "SCMP_CMP_GT"}}),
        rule({"write"}, "SCMP_ACT_ERRNO", 2u, {{0, 0x100000005ULL, 0, "SCMP_CMP_GE"}}),
        rule({"close"}, "SCMP_ACT_ERRNO", 3u, {{1, 0x100000005ULL, 0, "SCMP_CMP_LT"}}),
        rule({"dup"}, "SCMP_ACT_ERRNO", 4u, {{0, 40, 0, "SCMP_CMP_LE"}}),
        rule({"dup2"}, "SCMP_ACT_ERRNO", 5u, {{0, 40, 0, "SCMP_CMP_NE"}}),
        rule({"fcntl"}, "SCMP_ACT_ERRNO", 6u,
             {{0, 0xffffffff00000000ULL, 0x3000000000ULL, "SCMP_CMP_MASKED_EQ"},
              {1, 6, 0, "SCMP_CMP_GE"}}),
        rule({"mmap"}, "SCMP_ACT_ERRNO", 7u,
             {{0, 8, 0, "SCMP_CMP_EQ"}, {1, 0x20000, 0, "SCMP_CMP_EQ"}}),
        rule({"connect", "semop", "shmget"}, "SCMP_ACT_ERRNO", 8u),
        rule({"socket"}, "SCMP_ACT_ERRNO", 9u, {{0, 40, 0, "SCMP_CMP_EQ"}}),
        rule({"accept"}, "SCMP_ACT_TRAP"),
        rule({"kill"}, "SCMP_ACT_KILL_PROCESS", std::nullopt, {{1, 1, 0, "SCMP_CMP_EQ"}}),
        rule({"cacheflush", "set_tls", "arch_prctl"}, "SCMP_ACT_LOG"),
    };
    EXPECT_GT(expect_same_as_libseccomp(c), 100000u);
    // Without x32: x32 numbers on x86_64 must be refused the way libseccomp refuses them.
    c.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"};
    EXPECT_GT(expect_same_as_libseccomp(c), 100000u);
}

// ---- on the real kernel (root) ----

TEST(SeccompKernel, DefaultProfileRefusesAndAllows) {
    auto program = compile_seccomp(default_seccomp_profile({}));
    ASSERT_TRUE(program) << program.error().what();
    std::string failure = run_filtered(*program, [](char* msg, size_t size) -> const char* {
        EXPECT_OK_IN_CHILD(syscall(SYS_getpid));
        if (syscall(SYS_getpid) != getpid()) return "getpid mismatch";
        EXPECT_ERRNO_IN_CHILD(unshare(CLONE_NEWNS), EPERM);
        EXPECT_ERRNO_IN_CHILD(syscall(SYS_setns, 0, 0), EPERM);
        EXPECT_ERRNO_IN_CHILD(mount("none", "/nonexistent-skiff", "tmpfs", 0, nullptr), EPERM);
        EXPECT_ERRNO_IN_CHILD(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, -1, 0), EPERM);
        EXPECT_ERRNO_IN_CHILD(syscall(SYS_add_key, "user", "k", "v", 1, -1), EPERM);
        // clone3(NULL, 0) is EINVAL unfiltered; ENOSYS shows the filter answered.
        EXPECT_ERRNO_IN_CHILD(syscall(SYS_clone3, nullptr, 0), ENOSYS);
        EXPECT_ERRNO_IN_CHILD(syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0), EPERM);
        EXPECT_ERRNO_IN_CHILD(syscall(SYS_io_uring_setup, 1, nullptr), EPERM);
        EXPECT_ERRNO_IN_CHILD(syscall(SYS_userfaultfd, 0), EPERM);
        EXPECT_ERRNO_IN_CHILD(syscall(SYS_bpf, 0, nullptr, 0), EPERM);
        EXPECT_ERRNO_IN_CHILD(syscall(SYS_kexec_load, 0, 0, nullptr, 0), EPERM);
        EXPECT_ERRNO_IN_CHILD(socket(AF_VSOCK, SOCK_STREAM, 0), EPERM);
        EXPECT_ERRNO_IN_CHILD(personality(PER_BSD), EPERM);
        EXPECT_OK_IN_CHILD(personality(0xffffffff));
        int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        EXPECT_OK_IN_CHILD(sock);
        close(sock);
        // fork goes through clone without namespace flags: allowed.
        pid_t child = fork();
        EXPECT_OK_IN_CHILD(child);
        if (child == 0) _exit(7);
        int status = 0;
        if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 7)
            return "fork/wait under the filter failed";
        return nullptr;
    });
    EXPECT_EQ(failure, "");
}

TEST(SeccompKernel, SysAdminProfileAllowsNamespaces) {
    auto program = compile_seccomp(default_seccomp_profile({"CAP_SYS_ADMIN"}));
    ASSERT_TRUE(program) << program.error().what();
    std::string failure = run_filtered(*program, [](char* msg, size_t size) -> const char* {
        EXPECT_OK_IN_CHILD(unshare(CLONE_NEWNS));
        // Reaches the kernel now: EINVAL for the NULL argument, not the filter's ENOSYS.
        EXPECT_ERRNO_IN_CHILD(syscall(SYS_clone3, nullptr, 0), EINVAL);
        EXPECT_ERRNO_IN_CHILD(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, -1, 0), EPERM);
        return nullptr;
    });
    EXPECT_EQ(failure, "");
}

TEST(SeccompKernel, ErrnoRetReachesTheCaller) {
    auto program = compile_seccomp(allow_all_but({rule({"getcwd"}, "SCMP_ACT_ERRNO", 99u)}));
    ASSERT_TRUE(program) << program.error().what();
    std::string failure = run_filtered(*program, [](char* msg, size_t size) -> const char* {
        char cwd[256];
        EXPECT_ERRNO_IN_CHILD(syscall(SYS_getcwd, cwd, sizeof cwd), 99);
        EXPECT_OK_IN_CHILD(syscall(SYS_getpid));
        return nullptr;
    });
    EXPECT_EQ(failure, "");
}

TEST(SeccompKernel, ArgumentFiltersMatchOnTheKernel) {
    // getpriority's `which` is filtered: (which & 0xf0) == 0x10 -> 61; which == 0x21 or 0x22
    // (two comparisons on one argument) -> 62. Unfiltered, such `which` values give EINVAL.
    auto program = compile_seccomp(allow_all_but(
        {rule({"getpriority"}, "SCMP_ACT_ERRNO", 61u, {{0, 0xf0, 0x10, "SCMP_CMP_MASKED_EQ"}}),
         rule({"getpriority"}, "SCMP_ACT_ERRNO", 62u,
              {{0, 0x21, 0, "SCMP_CMP_EQ"}, {0, 0x22, 0, "SCMP_CMP_EQ"}}),
         rule({"getpgid"}, "SCMP_ACT_ERRNO", 63u, {{0, 1000, 0, "SCMP_CMP_GT"}})}));
    ASSERT_TRUE(program) << program.error().what();
    std::string failure = run_filtered(*program, [](char* msg, size_t size) -> const char* {
        EXPECT_ERRNO_IN_CHILD(syscall(SYS_getpriority, 0x11, 0), 61);
        EXPECT_ERRNO_IN_CHILD(syscall(SYS_getpriority, 0x1f, 0), 61);
        EXPECT_ERRNO_IN_CHILD(syscall(SYS_getpriority, 0x21, 0), 62);
        EXPECT_ERRNO_IN_CHILD(syscall(SYS_getpriority, 0x22, 0), 62);
        EXPECT_ERRNO_IN_CHILD(syscall(SYS_getpriority, 0x23, 0), EINVAL);
        EXPECT_OK_IN_CHILD(syscall(SYS_getpriority, PRIO_PROCESS, 0));
        EXPECT_ERRNO_IN_CHILD(syscall(SYS_getpgid, 5000000), 63);
        EXPECT_OK_IN_CHILD(syscall(SYS_getpgid, 0));
        return nullptr;
    });
    EXPECT_EQ(failure, "");
}

TEST(SeccompKernel, KillProcessKills) {
    auto program = compile_seccomp(allow_all_but({rule({"getcwd"}, "SCMP_ACT_KILL_PROCESS")}));
    ASSERT_TRUE(program) << program.error().what();
    std::string failure = run_filtered(*program, [](char*, size_t) -> const char* {
        char cwd[64];
        syscall(SYS_getcwd, cwd, sizeof cwd);
        return "survived getcwd";
    });
    EXPECT_EQ(failure, "child killed by signal " + std::to_string(SIGSYS));
}

}  // namespace
}  // namespace skiff::isolation
