// CVE-2019-5736 defence: the runtime runs from a view of its binary that no process can write.
//
// A container process can reach the runtime's binary through /proc/PID/exe of any process that
// still runs the runtime's image inside the container (the init before its execve, an exec helper,
// or the init re-executing /proc/self/exe as its entrypoint) and, once that process is gone, open
// it for writing. protect_own_binary() re-executes the runtime, once, from a read-only detached
// bind mount of its own binary (open_tree + mount_setattr: no mount any namespace can see), or,
// where that is refused, from a sealed memfd copy; /proc/PID/exe then names that view, and
// writes through it fail (EROFS, EPERM). See docs/design/hardening.md for the figures.
#pragma once

#include "skiff/base/result.hpp"
#include "skiff/base/unique_fd.hpp"

namespace skiff::runtime {

enum class ExeGuard {
    none,            // the binary is writable through /proc/self/exe
    read_only,       // it lies on a read-only mount (our detached bind, or a read-only file system)
    sealed,          // it is a memfd sealed against writes
    not_needed,      // not root, and the binary is not writable by us: no container process can be
    under_valgrind,  // valgrind lacks open_tree and execveat: debugging runs go unprotected
};
const char* exe_guard_name(ExeGuard guard);

enum class ExeGuardMethod { read_only_bind, sealed_memfd };

// How the binary behind fd (an open file, not O_PATH) is protected: read_only, sealed or none.
[[nodiscard]] Result<ExeGuard> exe_guard_of(int fd);

// A detached read-only bind mount of the file fd names (needs CAP_SYS_ADMIN; ENOSYS before 5.12).
[[nodiscard]] Result<UniqueFd> read_only_view(int fd);
// A memfd holding a copy of the file fd names, sealed against writes, growth and shrinking.
[[nodiscard]] Result<UniqueFd> sealed_copy(int fd);

// Makes sure this process runs from a protected binary: returns how it is protected, or
// re-executes it (argv as given, the current environment) from a protected view and does not
// return. Call it before opening anything that must survive (fds without O_CLOEXEC do survive).
// `preferred` picks the first method tried; read_only_bind falls back to sealed_memfd. An error
// means no protection could be set up: the caller must not start container processes then.
[[nodiscard]] Result<ExeGuard> protect_own_binary(char** argv, ExeGuardMethod preferred);

}  // namespace skiff::runtime
