// Seccomp: validates an OCI profile, compiles it to BPF with libseccomp, installs the program.
#include "skiff/isolation/seccomp.hpp"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cctype>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

#include "skiff/base/unique_fd.hpp"

// Older uapi headers lack the newer flags; the values are kernel ABI.
#ifndef SECCOMP_FILTER_FLAG_SPEC_ALLOW
#define SECCOMP_FILTER_FLAG_SPEC_ALLOW (1UL << 2)
#endif
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

namespace skiff::isolation {
namespace {

constexpr unsigned kMaxSyscallArgs = 6;
// The kernel refuses longer programs (BPF_MAXINSNS).
constexpr size_t kMaxFilterInstructions = 4096;
// SECCOMP_RET_DATA is 16 bits wide; a larger errno would be silently truncated.
constexpr unsigned kMaxReturnData = 0xffff;

struct NamedFlag {
    std::string_view name;
    unsigned bit;
};

constexpr std::array<NamedFlag, 4> kFlags = {{
    {"SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC},
    {"SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG},
    {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW},
    {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV},
}};

struct NamedOp {
    std::string_view name;
    scmp_compare op;
};

constexpr std::array<NamedOp, 7> kOperators = {{
    {"SCMP_CMP_NE", SCMP_CMP_NE},
    {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE},
    {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
}};

// Every architecture name of the OCI spec; seccomp_known_architectures() reports the ones this
// libseccomp knows.
constexpr std::array<std::string_view, 21> kArchitectures = {
    "SCMP_ARCH_X86",     "SCMP_ARCH_X86_64",   "SCMP_ARCH_X32",         "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS",     "SCMP_ARCH_MIPS64",      "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",  "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",   "SCMP_ARCH_PPC64LE",  "SCMP_ARCH_S390",        "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",  "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",     "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
};

std::string quoted(std::string_view s) {
    return "\"" + std::string(s) + "\"";
}

// Resolves an OCI action name plus its optional errnoRet to a libseccomp action. `field` names
// the entry for error messages ("linux.seccomp.syscalls[3]"); the other two are its keys.
Result<uint32_t> resolve_action(const std::string& field, const std::string& action_field,
                                const std::string& errno_field, const std::string& name,
                                const std::optional<unsigned>& errno_ret) {
    const unsigned code = errno_ret.value_or(EPERM);
    bool takes_errno = false;
    uint32_t action = 0;
    if (name == "SCMP_ACT_ALLOW") {
        action = SCMP_ACT_ALLOW;
    } else if (name == "SCMP_ACT_ERRNO") {
        action = SCMP_ACT_ERRNO(code);
        takes_errno = true;
    } else if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") {
        action = SCMP_ACT_KILL_THREAD;  // runc's reading of the old SCMP_ACT_KILL
    } else if (name == "SCMP_ACT_KILL_PROCESS") {
        action = SCMP_ACT_KILL_PROCESS;
    } else if (name == "SCMP_ACT_TRAP") {
        action = SCMP_ACT_TRAP;
    } else if (name == "SCMP_ACT_TRACE") {
        action = SCMP_ACT_TRACE(code);
        takes_errno = true;
    } else if (name == "SCMP_ACT_LOG") {
        action = SCMP_ACT_LOG;
    } else if (name == "SCMP_ACT_NOTIFY") {
        return Error(ENOTSUP,
                     field + "." + action_field +
                         ": SCMP_ACT_NOTIFY is not supported (no seccomp notify listener)");
    } else if (name.empty()) {
        return Error(EINVAL, field + "." + action_field + ": missing");
    } else {
        return Error(EINVAL, field + "." + action_field + ": unknown action " + quoted(name));
    }
    if (errno_ret && !takes_errno)
        // The OCI spec requires failing rather than ignoring the value.
        return Error(EINVAL,
                     field + "." + errno_field + ": " + name + " does not take an errno value");
    if (errno_ret && *errno_ret > kMaxReturnData)
        return Error(EINVAL, field + "." + errno_field + ": " + std::to_string(*errno_ret) +
                                 " does not fit in 16 bits");
    return action;
}

// "SCMP_ARCH_X86_64" -> the libseccomp token, or 0 when unknown.
uint32_t resolve_arch(std::string_view name) {
    constexpr std::string_view kPrefix = "SCMP_ARCH_";
    if (name.substr(0, kPrefix.size()) != kPrefix) return 0;
    std::string lower(name.substr(kPrefix.size()));
    if (lower.empty()) return 0;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return seccomp_arch_resolve_name(lower.c_str());
}

std::string arch_name(uint32_t token) {
    for (std::string_view name : kArchitectures)
        if (resolve_arch(name) == token) return std::string(name);
    return std::to_string(token);
}

struct ContextDeleter {
    void operator()(void* ctx) const { seccomp_release(ctx); }
};
using SeccompContext = std::unique_ptr<void, ContextDeleter>;

// Reads the BPF that libseccomp generated. libseccomp 2.5 can only export to an fd, so the
// program goes through a memfd (a pipe could fill up and block on large programs).
Result<std::vector<sock_filter>> export_bpf(scmp_filter_ctx ctx) {
    UniqueFd fd(memfd_create("skiff-seccomp", MFD_CLOEXEC));
    if (!fd) return Error::from_errno("linux.seccomp: memfd_create");
    if (int rc = seccomp_export_bpf(ctx, fd.get()); rc < 0)
        return Error(-rc, "linux.seccomp: export BPF");
    off_t size = lseek(fd.get(), 0, SEEK_END);
    if (size < 0) return Error::from_errno("linux.seccomp: lseek exported BPF");
    if (size == 0 || size % sizeof(sock_filter) != 0)
        return Error(EIO, "linux.seccomp: exported BPF has odd size " + std::to_string(size));
    std::vector<sock_filter> filter(static_cast<size_t>(size) / sizeof(sock_filter));
    auto* out = reinterpret_cast<char*>(filter.data());
    size_t done = 0;
    while (done < static_cast<size_t>(size)) {
        ssize_t n =
            pread(fd.get(), out + done, static_cast<size_t>(size) - done, static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error::from_errno("linux.seccomp: read exported BPF");
        if (n == 0) return Error(EIO, "linux.seccomp: exported BPF truncated");
        done += static_cast<size_t>(n);
    }
    return filter;
}

// A profile after validation: resolved actions, architectures and comparisons.
struct PlannedRule {
    const std::vector<std::string>* names;
    uint32_t action;
    std::vector<scmp_arg_cmp> conditions;  // all must hold
};

struct Plan {
    uint32_t default_action = 0;
    std::vector<uint32_t> arches;  // libseccomp tokens, the native one first
    std::vector<PlannedRule> rules;
};

Status plan_rule(const SeccompRule& rule, const std::string& field, Plan& plan) {
    if (rule.names.empty()) return Error(EINVAL, field + ".names: empty");
    for (const std::string& name : rule.names)
        if (name.empty()) return Error(EINVAL, field + ".names: empty syscall name");
    auto action = resolve_action(field, "action", "errnoRet", rule.action, rule.errno_ret);
    if (!action) return std::move(action).error();

    std::vector<scmp_arg_cmp> conditions;
    conditions.reserve(rule.args.size());
    std::array<unsigned, kMaxSyscallArgs> per_index{};
    bool repeated_index = false;
    for (size_t j = 0; j < rule.args.size(); ++j) {
        const SeccompArg& arg = rule.args[j];
        const std::string arg_field = field + ".args[" + std::to_string(j) + "]";
        if (arg.index >= kMaxSyscallArgs)
            return Error(EINVAL, arg_field + ".index: " + std::to_string(arg.index) +
                                     " is out of range (0-5)");
        auto it = std::find_if(kOperators.begin(), kOperators.end(),
                               [&](const NamedOp& o) { return o.name == arg.op; });
        if (it == kOperators.end())
            return Error(EINVAL, arg_field + ".op: unknown operator " + quoted(arg.op));
        if (++per_index[arg.index] > 1) repeated_index = true;
        conditions.push_back(scmp_arg_cmp{arg.index, it->op, arg.value, arg.value_two});
    }

    // A rule with the default action changes nothing (and libseccomp refuses it).
    if (*action == plan.default_action) return {};
    if (repeated_index) {
        // libseccomp takes one comparison per argument in a rule. runc and Docker read several
        // comparisons on one argument as alternatives: one rule each.
        for (const scmp_arg_cmp& cond : conditions)
            plan.rules.push_back(PlannedRule{&rule.names, *action, {cond}});
    } else {
        plan.rules.push_back(PlannedRule{&rule.names, *action, std::move(conditions)});
    }
    return {};
}

// ---- compilation with libseccomp, for architectures the fast generator does not cover ----

Result<std::vector<sock_filter>> compile_with_libseccomp(const Plan& plan) {
    const std::string top = "linux.seccomp";
    SeccompContext ctx(seccomp_init(plan.default_action));
    if (!ctx) return Error(ENOMEM, top + ": seccomp_init failed");
    // The runtime sets no_new_privs itself when the spec asks for it; the filter must not.
    if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0); rc < 0)
        return Error(-rc, top + ": clear no_new_privs attribute");
    // A binary tree over syscall numbers: O(log n) checks per syscall, not a linear scan.
    if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2); rc < 0)
        return Error(-rc, top + ": set binary tree optimization");
    for (uint32_t arch : plan.arches) {
        int rc = seccomp_arch_add(ctx.get(), arch);
        if (rc == -EDOM)
            return Error(EDOM, top + ".architectures: " + arch_name(arch) +
                                   " cannot share a filter with " +
                                   arch_name(seccomp_arch_native()) + " (different endianness)");
        // The native architecture is in the filter from seccomp_init on.
        if (rc < 0 && rc != -EEXIST)
            return Error(-rc, top + ".architectures: add " + arch_name(arch));
    }
    for (const PlannedRule& rule : plan.rules) {
        for (const std::string& name : *rule.names) {
            int nr = seccomp_syscall_resolve_name(name.c_str());
            if (nr == __NR_SCMP_ERROR) continue;
            int rc = seccomp_rule_add_array(ctx.get(), rule.action, nr,
                                            static_cast<unsigned>(rule.conditions.size()),
                                            rule.conditions.data());
            if (rc < 0) return Error(-rc, top + ": add rule for " + quoted(name));
        }
    }
    return export_bpf(ctx.get());
}

// ---- the fast generator ----
//
// libseccomp 2.5 needs ~15 ms to compile Docker's profile for x86_64+x86+x32, too slow for the
// container start path. For the architectures containers run on (x86 and Arm families) we emit
// the same filter semantics directly: a check of the audit arch, a binary search over syscall
// numbers, argument comparisons as libseccomp makes them (64-bit arguments compared word by word,
// only the low word on 32-bit ABIs), and x86's socketcall/ipc multiplexers. libseccomp still
// resolves syscall names. seccomp_test compares both compilers on every syscall number.

uint32_t audit_arch_of(uint32_t token) {
    return token == SCMP_ARCH_X32 ? SCMP_ARCH_X86_64 : token;
}
bool fast_arch(uint32_t token) {
    return token == SCMP_ARCH_X86_64 || token == SCMP_ARCH_X86 || token == SCMP_ARCH_X32 ||
           token == SCMP_ARCH_AARCH64 || token == SCMP_ARCH_ARM;
}
// ABIs whose arguments libseccomp compares as 32-bit values.
bool args_are_32bit(uint32_t token) {
    return token == SCMP_ARCH_X86 || token == SCMP_ARCH_X32 || token == SCMP_ARCH_ARM;
}
constexpr uint32_t kX32SyscallBit = 0x40000000;
// What libseccomp does with a syscall from an architecture not in the filter.
constexpr uint32_t kBadArchAction = SCMP_ACT_KILL_THREAD;

// i386 reaches socket and SysV IPC calls through socketcall(2)/ipc(2) as well as (since 4.3
// and 5.1) through direct numbers; a rule must catch both doors, as libseccomp's does.
struct Multiplexed {
    std::string_view name;
    int direct;  // i386 number, or -1 where there is none
    uint32_t via_socketcall;
    uint32_t via_ipc;
};
constexpr int kI386Socketcall = 102;
constexpr int kI386Ipc = 117;
constexpr std::array<Multiplexed, 32> kI386Multiplexed = {{
    {"socket", 359, 1, 0},      {"bind", 361, 2, 0},        {"connect", 362, 3, 0},
    {"listen", 363, 4, 0},      {"accept", -1, 5, 0},       {"getsockname", 367, 6, 0},
    {"getpeername", 368, 7, 0}, {"socketpair", 360, 8, 0},  {"send", -1, 9, 0},
    {"recv", -1, 10, 0},        {"sendto", 369, 11, 0},     {"recvfrom", 371, 12, 0},
    {"shutdown", 373, 13, 0},   {"setsockopt", 366, 14, 0}, {"getsockopt", 365, 15, 0},
    {"sendmsg", 370, 16, 0},    {"recvmsg", 372, 17, 0},    {"accept4", 364, 18, 0},
    {"recvmmsg", 337, 19, 0},   {"sendmmsg", 345, 20, 0},   {"semop", -1, 0, 1},
    {"semget", 393, 0, 2},      {"semctl", 394, 0, 3},      {"semtimedop", -1, 0, 4},
    {"msgsnd", 400, 0, 11},     {"msgrcv", 401, 0, 12},     {"msgget", 399, 0, 13},
    {"msgctl", 402, 0, 14},     {"shmat", 397, 0, 21},      {"shmdt", 398, 0, 22},
    {"shmget", 395, 0, 23},     {"shmctl", 396, 0, 24},
}};

// Builds the program back to front, so every jump target already exists when the jump is
// emitted; conditional jumps reach at most 255 instructions, farther targets get a `ja`.
class Emitter {
  public:
    using Label = size_t;  // index into the reversed program

    Label ret(uint32_t action) {
        for (auto& [a, label] : rets_)
            if (a == action) {
                if (distance(label) <= 200) return label;
                label = push(BPF_STMT(BPF_RET | BPF_K, action));
                return label;
            }
        Label label = push(BPF_STMT(BPF_RET | BPF_K, action));
        rets_.emplace_back(action, label);
        return label;
    }
    Label load(uint32_t offset) { return push(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offset)); }
    Label mask(uint32_t bits) { return push(BPF_STMT(BPF_ALU | BPF_AND | BPF_K, bits)); }
    Label jump(uint16_t op, uint32_t k, Label jt, Label jf) {
        if (distance(jf) > 255) jf = far_jump(jf);
        if (distance(jt) > 255) {
            jt = far_jump(jt);
            if (distance(jf) > 255) jf = far_jump(jf);
        }
        return push(BPF_JUMP(BPF_JMP | op | BPF_K, k, static_cast<uint8_t>(distance(jt)),
                             static_cast<uint8_t>(distance(jf))));
    }
    std::vector<sock_filter> finish() && {
        std::reverse(rev_.begin(), rev_.end());
        return std::move(rev_);
    }

  private:
    // The offset a jump pushed next would need to reach `target`.
    size_t distance(Label target) const { return rev_.size() - target - 1; }
    Label far_jump(Label target) {
        return push(BPF_STMT(BPF_JMP | BPF_JA, static_cast<uint32_t>(distance(target))));
    }
    Label push(sock_filter f) {
        rev_.push_back(f);
        return rev_.size() - 1;
    }

    std::vector<sock_filter> rev_;
    std::vector<std::pair<uint32_t, Label>> rets_;
};

struct SyscallEntry {
    uint32_t nr;
    size_t order;  // rule order, to keep the first-added rule first
    const PlannedRule* rule;
    std::optional<scmp_arg_cmp> selector;  // socketcall/ipc sub-call check
};

class Generator {
  public:
    Generator(Emitter& e, uint32_t default_action) : e_(e), default_(default_action) {}

    // Code for one ABI: A holds the syscall number on entry.
    Emitter::Label abi(uint32_t token, const std::vector<PlannedRule>& rules) {
        args32_ = args_are_32bit(token);
        std::vector<SyscallEntry> entries;
        for (size_t i = 0; i < rules.size(); ++i) {
            for (const std::string& name : *rules[i].names) {
                if (token == SCMP_ARCH_X86) {
                    auto m = std::find_if(kI386Multiplexed.begin(), kI386Multiplexed.end(),
                                          [&](const Multiplexed& x) { return x.name == name; });
                    if (m != kI386Multiplexed.end()) {
                        if (m->direct >= 0)
                            entries.push_back({uint32_t(m->direct), i, &rules[i], std::nullopt});
                        // The multiplexer's other arguments sit behind a pointer: only the
                        // sub-call can be checked, the rule's comparisons do not apply.
                        const bool sock = m->via_socketcall != 0;
                        entries.push_back({uint32_t(sock ? kI386Socketcall : kI386Ipc), i,
                                           &rules[i],
                                           scmp_arg_cmp{0, SCMP_CMP_EQ,
                                                        sock ? m->via_socketcall : m->via_ipc, 0}});
                        continue;
                    }
                }
                int nr = seccomp_syscall_resolve_name_arch(token, name.c_str());
                // Unknown names and pseudo-syscalls (negative: absent from this ABI) are skipped.
                if (nr < 0) continue;
                entries.push_back({uint32_t(nr), i, &rules[i], std::nullopt});
            }
        }
        std::stable_sort(entries.begin(), entries.end(),
                         [](const SyscallEntry& a, const SyscallEntry& b) { return a.nr < b.nr; });
        // Group by number.
        groups_.clear();
        for (size_t i = 0; i < entries.size();) {
            size_t j = i;
            while (j < entries.size() && entries[j].nr == entries[i].nr) ++j;
            groups_.push_back({i, j});
            i = j;
        }
        entries_ = std::move(entries);
        return dispatch(0, groups_.size());
    }

  private:
    uint32_t nr_of(size_t group) const { return entries_[groups_[group].first].nr; }

    Emitter::Label dispatch(size_t lo, size_t hi) {
        constexpr size_t kLeaf = 4;
        if (hi - lo <= kLeaf) {
            Emitter::Label next = e_.ret(default_);
            for (size_t g = hi; g-- > lo;) {
                Emitter::Label body = syscall_body(g);
                next = e_.jump(BPF_JEQ, nr_of(g), body, next);
            }
            return next;
        }
        size_t mid = lo + (hi - lo) / 2;
        Emitter::Label right = dispatch(mid, hi);
        Emitter::Label left = dispatch(lo, mid);
        return e_.jump(BPF_JGE, nr_of(mid), right, left);
    }

    // One syscall: the first unconditional rule decides; otherwise the conditional rules are
    // tried in order and the default action closes the chain.
    Emitter::Label syscall_body(size_t group) {
        auto [first, last] = groups_[group];
        for (size_t i = first; i < last; ++i)
            if (entries_[i].rule->conditions.empty() && !entries_[i].selector)
                return e_.ret(entries_[i].rule->action);
        Emitter::Label next = e_.ret(default_);
        for (size_t i = last; i-- > first;) {
            const SyscallEntry& entry = entries_[i];
            Emitter::Label pass = e_.ret(entry.rule->action);
            if (!entry.selector) {
                const auto& conds = entry.rule->conditions;
                for (size_t c = conds.size(); c-- > 0;) pass = compare(conds[c], pass, next);
            } else {
                pass = compare(*entry.selector, pass, next);
            }
            next = pass;
        }
        return next;
    }

    Emitter::Label compare(const scmp_arg_cmp& c, Emitter::Label pass, Emitter::Label fail) {
        const uint32_t lo_off = 16 + 8 * c.arg;  // seccomp_data.args[i], little endian
        const uint32_t hi_off = lo_off + 4;
        const uint32_t a_lo = uint32_t(c.datum_a), a_hi = uint32_t(c.datum_a >> 32);
        const uint32_t b_lo = uint32_t(c.datum_b), b_hi = uint32_t(c.datum_b >> 32);
        switch (c.op) {
            case SCMP_CMP_NE:
                std::swap(pass, fail);
                [[fallthrough]];
            case SCMP_CMP_EQ: {
                e_.jump(BPF_JEQ, a_lo, pass, fail);
                Emitter::Label low = e_.load(lo_off);
                if (args32_) return low;
                e_.jump(BPF_JEQ, a_hi, low, fail);
                return e_.load(hi_off);
            }
            case SCMP_CMP_MASKED_EQ: {
                e_.jump(BPF_JEQ, b_lo, pass, fail);
                e_.mask(a_lo);
                Emitter::Label low = e_.load(lo_off);
                if (args32_) return low;
                e_.jump(BPF_JEQ, b_hi, low, fail);
                e_.mask(a_hi);
                return e_.load(hi_off);
            }
            case SCMP_CMP_LE:
            case SCMP_CMP_LT:
                std::swap(pass, fail);
                [[fallthrough]];
            case SCMP_CMP_GT:
            case SCMP_CMP_GE: {
                // LE is !GT and LT is !GE.
                const bool strict = c.op == SCMP_CMP_GT || c.op == SCMP_CMP_LE;
                const uint16_t op = strict ? BPF_JGT : BPF_JGE;
                e_.jump(op, a_lo, pass, fail);
                Emitter::Label low = e_.load(lo_off);
                if (args32_) return low;
                Emitter::Label equal_high = e_.jump(BPF_JEQ, a_hi, low, fail);
                e_.jump(BPF_JGT, a_hi, pass, equal_high);
                return e_.load(hi_off);
            }
            default:
                break;
        }
        assert(false && "operator validated in plan_rule");
        return fail;
    }

    Emitter& e_;
    uint32_t default_;
    bool args32_ = false;
    std::vector<SyscallEntry> entries_;
    std::vector<std::pair<size_t, size_t>> groups_;
};

std::vector<sock_filter> compile_fast(const Plan& plan) {
    Emitter e;
    Generator gen(e, plan.default_action);
    auto has = [&](uint32_t t) {
        return std::find(plan.arches.begin(), plan.arches.end(), t) != plan.arches.end();
    };
    // One block per audit arch; x86_64 and x32 share one and differ in the x32 syscall bit.
    std::vector<std::pair<uint32_t, Emitter::Label>> blocks;
    for (auto it = plan.arches.rbegin(); it != plan.arches.rend(); ++it) {
        const uint32_t token = *it;
        if (token == SCMP_ARCH_X32 && has(SCMP_ARCH_X86_64)) continue;  // part of x86_64's block
        Emitter::Label body;
        if (token == SCMP_ARCH_X86_64 || token == SCMP_ARCH_X32) {
            Emitter::Label x86_64 = has(SCMP_ARCH_X86_64) ? gen.abi(SCMP_ARCH_X86_64, plan.rules)
                                                          : e.ret(kBadArchAction);
            // Without x32 in the filter, x32 calls are a bad arch, except nr -1 (which
            // libseccomp lets through to the x86_64 rules; the kernel answers ENOSYS).
            Emitter::Label x32 = has(SCMP_ARCH_X32)
                                     ? gen.abi(SCMP_ARCH_X32, plan.rules)
                                     : e.jump(BPF_JEQ, 0xffffffff, x86_64, e.ret(kBadArchAction));
            e.jump(BPF_JGE, kX32SyscallBit, x32, x86_64);
            body = e.load(offsetof(seccomp_data, nr));
        } else {
            gen.abi(token, plan.rules);
            body = e.load(offsetof(seccomp_data, nr));
        }
        blocks.emplace_back(audit_arch_of(token), body);
    }
    Emitter::Label next = e.ret(kBadArchAction);
    for (auto& [audit, body] : blocks) next = e.jump(BPF_JEQ, audit, body, next);
    e.load(offsetof(seccomp_data, arch));
    return std::move(e).finish();
}

}  // namespace

Result<SeccompProgram> compile_seccomp(const SeccompConfig& config) {
    const std::string top = "linux.seccomp";
    Plan plan;
    auto default_action = resolve_action(top, "defaultAction", "defaultErrnoRet",
                                         config.default_action, config.default_errno_ret);
    if (!default_action) return std::move(default_action).error();
    plan.default_action = *default_action;
    if (!config.listener_path.empty())
        return Error(ENOTSUP, top + ".listenerPath: seccomp notify listeners are not supported");

    SeccompProgram program;
    for (size_t i = 0; i < config.flags.size(); ++i) {
        auto it = std::find_if(kFlags.begin(), kFlags.end(),
                               [&](const NamedFlag& f) { return f.name == config.flags[i]; });
        if (it == kFlags.end())
            return Error(EINVAL, top + ".flags[" + std::to_string(i) + "]: unknown flag " +
                                     quoted(config.flags[i]));
        // WAIT_KILLABLE_RECV only changes how a notify listener receives; without a listener
        // (we have none) the kernel would refuse the filter with EINVAL, so it is accepted
        // and left out.
        if (it->bit == SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) continue;
        program.flags |= it->bit;
    }

    // libseccomp always filters for the native ABI too; so do we.
    plan.arches.push_back(seccomp_arch_native());
    for (size_t i = 0; i < config.architectures.size(); ++i) {
        const std::string& name = config.architectures[i];
        uint32_t arch = resolve_arch(name);
        if (arch == 0)
            return Error(EINVAL, top + ".architectures[" + std::to_string(i) +
                                     "]: unknown architecture " + quoted(name));
        if (std::find(plan.arches.begin(), plan.arches.end(), arch) == plan.arches.end())
            plan.arches.push_back(arch);
    }

    for (size_t i = 0; i < config.syscalls.size(); ++i)
        SKIFF_TRY(
            plan_rule(config.syscalls[i], top + ".syscalls[" + std::to_string(i) + "]", plan));

    if (std::all_of(plan.arches.begin(), plan.arches.end(), fast_arch)) {
        program.filter = compile_fast(plan);
    } else {
        auto filter = compile_with_libseccomp(plan);
        if (!filter) return std::move(filter).error();
        program.filter = std::move(*filter);
    }
    if (program.filter.size() > kMaxFilterInstructions)
        return Error(E2BIG, top + ": compiled filter has " + std::to_string(program.filter.size()) +
                                " instructions, the kernel takes at most " +
                                std::to_string(kMaxFilterInstructions));
    return program;
}

int install_seccomp(const SeccompProgram& program) noexcept {
    sock_fprog prog{};
    prog.len = static_cast<unsigned short>(program.filter.size());
    prog.filter = const_cast<sock_filter*>(program.filter.data());
    long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, program.flags, &prog);
    if (rc < 0) return -errno;
    // With TSYNC the kernel returns the id of a thread it could not synchronise.
    if (rc > 0) return -ESRCH;
    return 0;
}

std::vector<std::string> seccomp_known_actions() {
    return {"SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
            "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE",        "SCMP_ACT_ALLOW",       "SCMP_ACT_LOG"};
}

std::vector<std::string> seccomp_known_architectures() {
    std::vector<std::string> out;
    for (std::string_view name : kArchitectures)
        if (resolve_arch(name) != 0) out.emplace_back(name);
    return out;
}

std::vector<std::string> seccomp_known_flags() {
    std::vector<std::string> out;
    for (const NamedFlag& f : kFlags) out.emplace_back(f.name);
    return out;
}

std::vector<std::string> seccomp_known_operators() {
    std::vector<std::string> out;
    for (const NamedOp& o : kOperators) out.emplace_back(o.name);
    return out;
}

}  // namespace skiff::isolation
