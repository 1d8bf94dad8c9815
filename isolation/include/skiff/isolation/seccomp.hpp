// Seccomp: the OCI profile model, its compilation to a BPF program, and installing that program.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "skiff/base/result.hpp"

namespace skiff::isolation {

// One argument comparison, as in the OCI profile ("op": "SCMP_CMP_MASKED_EQ", ...).
struct SeccompArg {
    unsigned index = 0;
    uint64_t value = 0;
    uint64_t value_two = 0;
    std::string op;
};

struct SeccompRule {
    std::vector<std::string> names;
    std::string action;                  // "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", ...
    std::optional<unsigned> errno_ret;   // for SCMP_ACT_ERRNO / SCMP_ACT_TRACE
    std::vector<SeccompArg> args;
};

// linux.seccomp of config.json.
struct SeccompConfig {
    std::string default_action;
    std::optional<unsigned> default_errno_ret;
    std::vector<std::string> architectures;  // "SCMP_ARCH_X86_64", ...
    std::vector<std::string> flags;          // "SECCOMP_FILTER_FLAG_LOG", ...
    std::string listener_path;
    std::vector<SeccompRule> syscalls;
};

// A compiled filter, ready for seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog).
struct SeccompProgram {
    std::vector<sock_filter> filter;
    unsigned flags = 0;  // SECCOMP_FILTER_FLAG_* bits
};

// Checks every action, architecture, flag and operator name and compiles the profile with
// libseccomp. Errors name the offending entry ("linux.seccomp.syscalls[3].action: ...").
// Syscall names unknown to this kernel/libseccomp are skipped, as runc does.
[[nodiscard]] Result<SeccompProgram> compile_seccomp(const SeccompConfig& config);

// Installs the program in the calling thread. Allocates nothing (safe between clone and
// execve). Returns 0 or a negative errno.
int install_seccomp(const SeccompProgram& program) noexcept;

// The default profile, equivalent to Docker's: deny with EPERM by default, ~360 syscalls
// allowed, namespace-creating clone flags, unshare, mount, keyctl, bpf, io_uring, kexec and
// the like refused unless `capabilities` (names like "CAP_SYS_ADMIN") hold the capability
// that Docker's profile conditions them on.
SeccompConfig default_seccomp_profile(const std::vector<std::string>& capabilities);

// Every action, architecture and flag name compile_seccomp accepts (for `skiff-oci features`).
std::vector<std::string> seccomp_known_actions();
std::vector<std::string> seccomp_known_architectures();
std::vector<std::string> seccomp_known_flags();
std::vector<std::string> seccomp_known_operators();

}  // namespace skiff::isolation
