// Re-executes the runtime from a read-only or sealed view of its binary (CVE-2019-5736).
#include "skiff/runtime/self_exe.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

extern char** environ;

namespace skiff::runtime {
namespace {

// Set across the re-exec: a binary that is still unprotected afterwards is an error, not a loop.
constexpr const char* kReexecMark = "_SKIFF_OCI_EXE_GUARD_REEXEC";

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

}  // namespace

const char* exe_guard_name(ExeGuard guard) {
    switch (guard) {
        case ExeGuard::none: return "none";
        case ExeGuard::read_only: return "read-only bind";
        case ExeGuard::sealed: return "sealed memfd";
        case ExeGuard::not_needed: return "not needed (binary not writable by the caller)";
        case ExeGuard::under_valgrind: return "skipped under valgrind";
    }
    return "?";
}

Result<ExeGuard> exe_guard_of(int fd) {
    int seals = ::fcntl(fd, F_GET_SEALS);
    constexpr int kWriteSeals = F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW;
    if (seals >= 0 && (seals & kWriteSeals) == kWriteSeals) return ExeGuard::sealed;
    struct statvfs st{};
    if (::fstatvfs(fd, &st) != 0) return Error::from_errno("statvfs of the runtime's binary");
    if (st.f_flag & ST_RDONLY) return ExeGuard::read_only;
    return ExeGuard::none;
}

Result<UniqueFd> read_only_view(int fd) {
    // A private copy of the mount the binary is on, detached from every namespace and made
    // read-only on its own: the host's mount keeps its flags, and no one else can reach this one.
    UniqueFd tree(static_cast<int>(::syscall(SYS_open_tree, fd, "",
                                             OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH)));
    if (!tree) return Error::from_errno("open_tree of the runtime's binary");
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    if (::syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) != 0)
        return Error::from_errno("make the runtime binary's view read-only");
    return tree;
}

Result<UniqueFd> sealed_copy(int fd) {
    struct stat st{};
    if (::fstat(fd, &st) != 0) return Error::from_errno("stat the runtime's binary");
    // MFD_EXEC: with vm.memfd_noexec set, a memfd without it cannot be executed (6.3 and later).
    unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
    UniqueFd copy(::memfd_create("skiff-oci", flags | MFD_EXEC));
    if (!copy && errno == EINVAL) copy.reset(::memfd_create("skiff-oci", flags));
    if (!copy) return Error::from_errno("memfd_create for the runtime's binary");
    off_t offset = 0;
    while (offset < st.st_size) {
        ssize_t n = ::sendfile(copy.get(), fd, &offset, static_cast<size_t>(st.st_size - offset));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return Error::from_errno("copy the runtime's binary into a memfd");
    }
    if (::fcntl(copy.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) !=
        0)
        return Error::from_errno("seal the runtime binary's copy");
    return copy;
}

Result<ExeGuard> protect_own_binary(char** argv, ExeGuardMethod preferred) {
    bool reexecuted = ::getenv(kReexecMark) != nullptr;
    if (reexecuted) ::unsetenv(kReexecMark);  // not passed on to hooks or anything we run
    if (RUNNING_ON_VALGRIND) return ExeGuard::under_valgrind;
    UniqueFd self(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
    if (!self) return Error::from_errno("open /proc/self/exe");
    auto guard = exe_guard_of(self.get());
    if (!guard) return std::move(guard).error();
    if (*guard != ExeGuard::none) return *guard;
    if (reexecuted)
        return Error(EPERM, "the runtime's binary is still writable after re-executing from a "
                            "protected view");
    // Without root, a binary we cannot write is out of reach for the containers we start too:
    // their processes have at most our privileges (mapped into a user namespace).
    // Only a clear "no" counts: any other failure of the check means protecting anyway.
    if (::geteuid() != 0 && ::faccessat(AT_FDCWD, "/proc/self/exe", W_OK, AT_EACCESS) != 0 &&
        (errno == EACCES || errno == EPERM || errno == EROFS))
        return ExeGuard::not_needed;

    Result<UniqueFd> view = Error(0, "");
    if (preferred == ExeGuardMethod::read_only_bind) {
        view = read_only_view(self.get());
        // Refused without CAP_SYS_ADMIN (rootless) or missing before Linux 5.12: copy instead.
        if (!view) view = sealed_copy(self.get());
    } else {
        view = sealed_copy(self.get());
    }
    if (!view) return std::move(view).error().context("protect the runtime's binary (CVE-2019-5736)");
    if (::setenv(kReexecMark, "1", 1) != 0) return Error::from_errno("setenv");
    ::syscall(SYS_execveat, view->get(), "", argv, environ, AT_EMPTY_PATH);
    int saved = errno;
    ::unsetenv(kReexecMark);
    return Error::from_errno(saved, "re-execute the runtime from its protected binary");
}

}  // namespace skiff::runtime
