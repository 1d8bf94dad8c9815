// The terminal skiff-oci attaches itself (run, exec without --console-socket): raw mode and relay.
#include "terminal.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

#include "skiff/base/fd_passing.hpp"
#include "skiff/base/process.hpp"

namespace skiff::runtime {

Result<ConsolePair> make_console_pair() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return Error::from_errno("socketpair for the terminal");
    return ConsolePair{UniqueFd(sv[1]), UniqueFd(sv[0])};
}

Result<UniqueFd> receive_console(int runtime_end) {
    return receive_fd(runtime_end, MSG_DONTWAIT, "the terminal's master");
}

// ---- raw mode ----

namespace {

// What a signal handler may read: the mode to restore (set before the handlers go in).
termios g_saved_mode;
volatile sig_atomic_t g_raw_active = 0;

// Signals that end skiff-oci and that it does not forward to the container (those are blocked).
constexpr int kFatalSignals[] = {SIGALRM, SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ, SIGPWR,
                                 SIGSEGV, SIGBUS,    SIGFPE,  SIGILL,  SIGABRT, SIGTRAP,
                                 SIGSYS,  SIGSTKFLT, SIGIO};
struct sigaction g_old_actions[std::size(kFatalSignals)];

void restore_and_reraise(int sig) {
    if (g_raw_active) ::tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_mode);
    // SA_RESETHAND put the default action back; SA_NODEFER lets it hit now.
    ::raise(sig);
}

}  // namespace

RawTerminal::RawTerminal() {
    if (g_raw_active || !::isatty(STDIN_FILENO) || ::tcgetattr(STDIN_FILENO, &g_saved_mode) != 0)
        return;
    struct sigaction sa{};
    sa.sa_handler = restore_and_reraise;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < std::size(kFatalSignals); ++i)
        ::sigaction(kFatalSignals[i], &sa, &g_old_actions[i]);
    termios raw = g_saved_mode;
    ::cfmakeraw(&raw);
    g_raw_active = 1;
    if (::tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) != 0) {
        g_raw_active = 0;
        for (size_t i = 0; i < std::size(kFatalSignals); ++i)
            ::sigaction(kFatalSignals[i], &g_old_actions[i], nullptr);
        return;
    }
    active_ = true;
}

RawTerminal::~RawTerminal() {
    if (!active_) return;
    ::tcsetattr(STDIN_FILENO, TCSADRAIN, &g_saved_mode);
    g_raw_active = 0;
    for (size_t i = 0; i < std::size(kFatalSignals); ++i)
        ::sigaction(kFatalSignals[i], &g_old_actions[i], nullptr);
}

bool own_window_size(unsigned short& rows, unsigned short& cols) {
    winsize ws{};
    if (::ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) != 0 && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0)
        return false;
    rows = ws.ws_row;
    cols = ws.ws_col;
    return true;
}

void copy_window_size(int master) {
    winsize ws{};
    if (::ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 || ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
        ::ioctl(master, TIOCSWINSZ, &ws);
}

// ---- the relay ----

namespace {

// Writes all of data to fd, waiting where fd is non-blocking; false once fd takes no more.
bool write_all(int fd, const char* data, size_t len) {
    while (len > 0) {
        ssize_t n = ::write(fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            pollfd p{fd, POLLOUT, 0};
            ::poll(&p, 1, -1);
            continue;
        }
        if (n <= 0) return false;
        data += n;
        len -= static_cast<size_t>(n);
    }
    return true;
}

// The end of input, as a terminal's reader sees it: the EOF character (^D) at the start of a
// line, so one more where a line was left open.
constexpr char kEof = 4;
// An EOF the terminal received in canonical mode turns into a NUL byte when a reader then
// switches to raw mode (busybox sh's line editor does so for every prompt), so while the
// terminal is in raw mode after the input ended, ^D goes again now and then.
constexpr int kEofRepeatMs = 200;
constexpr int kEofRepeats = 10;

// Whether the container's side of the terminal is in raw (non-canonical) mode: TCGETS on a
// master reads the slave's settings.
bool terminal_is_raw(int master) {
    termios t{};
    return ::tcgetattr(master, &t) == 0 && !(t.c_lflag & ICANON);
}

// How long output may still come once the process has exited (a child of it that kept the
// terminal open), and how long a silence ends it.
constexpr auto kDrainLimit = std::chrono::seconds(1);
constexpr int kDrainSilenceMs = 100;

}  // namespace

int relay_terminal(pid_t pid, int master, const sigset_t& forward) {
    UniqueFd sigfd(::signalfd(-1, &forward, SFD_CLOEXEC | SFD_NONBLOCK));
    int flags = ::fcntl(master, F_GETFL);
    if (flags >= 0) ::fcntl(master, F_SETFL, flags | O_NONBLOCK);
    // A reader of our stdout that went away must not kill us before the process is reaped.
    struct sigaction ignore{}, old_pipe{};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ignore, &old_pipe);

    const bool stdin_is_tty = ::isatty(STDIN_FILENO);
    bool stdin_open = true, master_open = true, stdout_open = true;
    std::string to_master;
    char last_input = '\n';
    int eof_repeats = 0;  // ^D still to repeat while the terminal is raw
    int status = 0;
    bool exited = false;
    std::chrono::steady_clock::time_point exit_time;
    auto reap = [&] {
        if (!exited && ::waitpid(pid, &status, WNOHANG) == pid) {
            exited = true;
            exit_time = std::chrono::steady_clock::now();
        }
    };
    reap();
    char buf[16384];
    while (!(exited && !master_open)) {
        if (exited && std::chrono::steady_clock::now() - exit_time > kDrainLimit) break;
        pollfd fds[3];
        nfds_t nfds = 0;
        fds[nfds++] = {sigfd.get(), POLLIN, 0};
        int master_at = -1, stdin_at = -1;
        if (master_open) {
            master_at = static_cast<int>(nfds);
            fds[nfds++] = {master, static_cast<short>(POLLIN | (to_master.empty() ? 0 : POLLOUT)), 0};
        }
        if (stdin_open && master_open && !exited && to_master.empty()) {
            stdin_at = static_cast<int>(nfds);
            fds[nfds++] = {STDIN_FILENO, POLLIN, 0};
        }
        int timeout = exited ? kDrainSilenceMs : eof_repeats > 0 ? kEofRepeatMs : -1;
        int rc = ::poll(fds, nfds, timeout);
        if (rc < 0 && errno == EINTR) continue;
        if (rc < 0) break;
        if (rc == 0 && exited) break;  // nothing more came
        if (rc == 0) {
            --eof_repeats;
            if (master_open && to_master.empty() && terminal_is_raw(master))
                to_master.push_back(kEof);
            continue;
        }
        if (fds[0].revents & POLLIN) {
            signalfd_siginfo si{};
            while (::read(sigfd.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
                int sig = static_cast<int>(si.ssi_signo);
                if (sig == SIGCHLD)
                    reap();
                else if (sig == SIGWINCH)
                    copy_window_size(master);
                else if (!exited)
                    ::kill(pid, sig);
            }
        }
        if (master_at >= 0 && fds[master_at].revents) {
            short ev = fds[master_at].revents;
            if (ev & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t n = ::read(master, buf, sizeof buf);
                if (n > 0) {
                    if (stdout_open) stdout_open = write_all(STDOUT_FILENO, buf, static_cast<size_t>(n));
                } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                    master_open = false;  // EIO: every holder of the terminal closed it
                }
            }
            if (master_open && (ev & POLLOUT) && !to_master.empty()) {
                ssize_t n = ::write(master, to_master.data(), to_master.size());
                if (n > 0) to_master.erase(0, static_cast<size_t>(n));
                else if (n < 0 && errno != EAGAIN && errno != EINTR) to_master.clear();
            }
        }
        if (stdin_at >= 0 && fds[stdin_at].revents) {
            ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
            if (n > 0) {
                to_master.append(buf, static_cast<size_t>(n));
                last_input = buf[n - 1];
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                stdin_open = false;
                // Piped input ended: the process reads an end of file from its terminal.
                if (!stdin_is_tty) {
                    if (last_input != '\n') to_master.push_back(kEof);
                    to_master.push_back(kEof);
                    eof_repeats = kEofRepeats;
                }
            }
        }
    }
    ::sigaction(SIGPIPE, &old_pipe, nullptr);
    if (!exited) {
        int rc;
        do rc = ::waitpid(pid, &status, 0);
        while (rc < 0 && errno == EINTR);
        if (rc != pid) return -1;
    }
    return exit_code_of(status);
}

}  // namespace skiff::runtime
