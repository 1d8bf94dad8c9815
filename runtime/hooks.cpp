// OCI hooks: fork, execve with the state on stdin, wait with a timeout through a pidfd.
#include "hooks.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <memory>

namespace skiff::runtime {

PreparedHook::PreparedHook(const Hook& hook)
    : path(hook.path), args(hook.args), env(hook.env), timeout(hook.timeout.value_or(0)) {
    // runc passes the path as argv[0] when args is empty.
    if (args.empty()) args.push_back(path);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
}

int run_prepared_hook(const PreparedHook& hook, const char* state, size_t state_len,
                      isolation::ChildError& err) noexcept {
    int in[2];
    if (pipe2(in, O_CLOEXEC) != 0) return err.fail(errno, "hook %s: pipe", hook.path.c_str());
    pid_t pid = fork();
    if (pid < 0) {
        close(in[0]);
        close(in[1]);
        return err.fail(errno, "hook %s: fork", hook.path.c_str());
    }
    if (pid == 0) {
        dup2(in[0], STDIN_FILENO);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        execve(hook.path.c_str(), hook.argv.data(), hook.envp.data());
        _exit(127);
    }
    close(in[0]);
    // The hook may not read its stdin; never block on it or die of SIGPIPE.
    struct sigaction ignore {}, old {};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ignore, &old);
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    size_t off = 0;
    while (off < state_len) {
        ssize_t n = write(in[1], state + off, state_len - off);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
    }
    close(in[1]);
    sigaction(SIGPIPE, &old, nullptr);
    int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    bool timed_out = false;
    if (pidfd >= 0) {
        pollfd p{pidfd, POLLIN, 0};
        int ms = hook.timeout > 0 ? hook.timeout * 1000 : -1;
        int rc;
        do rc = poll(&p, 1, ms);
        while (rc < 0 && errno == EINTR);
        if (rc == 0) {
            timed_out = true;
            kill(pid, SIGKILL);
        }
        close(pidfd);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out)
        return err.fail(ETIMEDOUT, "hook %s timed out after %d s", hook.path.c_str(),
                        hook.timeout);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    if (WIFEXITED(status))
        return err.fail(0, "hook %s exited with status %d", hook.path.c_str(),
                        WEXITSTATUS(status));
    return err.fail(0, "hook %s killed by signal %d", hook.path.c_str(), WTERMSIG(status));
}

skiff::Status run_hooks(const std::vector<Hook>& hooks, const char* stage,
                        const std::string& state_json) {
    for (size_t i = 0; i < hooks.size(); ++i) {
        auto prepared = std::make_unique<PreparedHook>(hooks[i]);
        isolation::ChildError err;
        if (run_prepared_hook(*prepared, state_json.data(), state_json.size(), err) != 0)
            return Error(err.code, std::string(stage) + " hook " + std::to_string(i) + ": " +
                                       err.message);
    }
    return {};
}

}  // namespace skiff::runtime
