// The terminal side of `skiff run -t`: receiving the pty master, raw mode, the proxy loop.
#include "skiff/cli/console.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "skiff/base/fd_passing.hpp"

namespace skiff::cli {
namespace {

constexpr const char* kSocketName = "console.sock";

ssize_t read_retry(int fd, char* buf, size_t size) {
    ssize_t n;
    do n = ::read(fd, buf, size);
    while (n < 0 && errno == EINTR);
    return n;
}

// Reads what master has left once the container is gone; EIO means every slave end is closed.
void drain(int master, int out) {
    int flags = fcntl(master, F_GETFL);
    if (flags >= 0) fcntl(master, F_SETFL, flags | O_NONBLOCK);
    char buf[16384];
    for (;;) {
        ssize_t n = read_retry(master, buf, sizeof buf);
        if (n <= 0) break;
        if (out >= 0 && !write_all(out, buf, static_cast<size_t>(n))) break;
    }
}

}  // namespace

Result<ConsoleSocket> ConsoleSocket::listen(const std::string& dir) {
    ConsoleSocket cs;
    cs.dir_.reset(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!cs.dir_) return Error::from_errno("open " + dir);
    cs.connect_path_ = "/proc/self/fd/" + std::to_string(cs.dir_.get()) + "/" + kSocketName;
    cs.sock_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!cs.sock_) return Error::from_errno("console socket");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, cs.connect_path_.c_str(), sizeof addr.sun_path - 1);
    ::unlinkat(cs.dir_.get(), kSocketName, 0);
    if (::bind(cs.sock_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        return Error::from_errno("bind console socket in " + dir);
    if (::listen(cs.sock_.get(), 1) != 0) return Error::from_errno("listen on console socket");
    return cs;
}

ConsoleSocket::~ConsoleSocket() {
    if (dir_) ::unlinkat(dir_.get(), kSocketName, 0);
}

Result<UniqueFd> ConsoleSocket::receive_master(int timeout_ms) {
    pollfd p{sock_.get(), POLLIN, 0};
    int rc;
    do rc = ::poll(&p, 1, timeout_ms);
    while (rc < 0 && errno == EINTR);
    if (rc == 0) return Error(ETIMEDOUT, "no terminal arrived on the console socket");
    if (rc < 0) return Error::from_errno("wait on console socket");
    UniqueFd conn(::accept4(sock_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) return Error::from_errno("accept on console socket");
    return receive_fd(conn.get(), 0, "the terminal from the console socket");
}

RawMode RawMode::enter(int fd) {
    RawMode m;
    termios t{};
    if (!isatty(fd) || tcgetattr(fd, &t) != 0) return m;
    m.saved_ = t;
    cfmakeraw(&t);
    if (tcsetattr(fd, TCSANOW, &t) == 0) m.fd_ = fd;
    return m;
}

RawMode::RawMode(RawMode&& o) noexcept : fd_(std::exchange(o.fd_, -1)), saved_(o.saved_) {}

RawMode& RawMode::operator=(RawMode&& o) noexcept {
    if (this != &o) {
        restore();
        fd_ = std::exchange(o.fd_, -1);
        saved_ = o.saved_;
    }
    return *this;
}

void RawMode::restore() {
    if (fd_ >= 0) tcsetattr(fd_, TCSANOW, &saved_);
    fd_ = -1;
}

bool copy_window_size(int from, int to) {
    winsize ws{};
    if (from < 0 || ioctl(from, TIOCGWINSZ, &ws) != 0) return false;
    return ioctl(to, TIOCSWINSZ, &ws) == 0;
}

Status write_all(int fd, const char* data, size_t size) {
    while (size > 0) {
        ssize_t n = ::write(fd, data, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                pollfd p{fd, POLLOUT, 0};
                ::poll(&p, 1, -1);
                continue;
            }
            return Error::from_errno("write");
        }
        data += n;
        size -= static_cast<size_t>(n);
    }
    return {};
}

Status wait_and_proxy(int pidfd, pid_t pid, const ProxyFds& fds) {
    if (fds.master >= 0 && fds.winsize >= 0) copy_window_size(fds.winsize, fds.master);
    bool in_open = fds.in >= 0 && fds.master >= 0;
    bool master_open = fds.master >= 0;
    char buf[16384];
    for (;;) {
        pollfd p[4];
        int n = 0;
        p[n++] = {pidfd, POLLIN, 0};
        int sig_i = -1, in_i = -1, master_i = -1;
        if (fds.signal_fd >= 0) p[sig_i = n++] = {fds.signal_fd, POLLIN, 0};
        if (in_open) p[in_i = n++] = {fds.in, POLLIN, 0};
        if (master_open) p[master_i = n++] = {fds.master, POLLIN, 0};
        int rc = ::poll(p, static_cast<nfds_t>(n), -1);
        if (rc < 0) {
            if (errno == EINTR) continue;
            return Error::from_errno("wait for the container");
        }
        if (sig_i >= 0 && (p[sig_i].revents & POLLIN)) {
            signalfd_siginfo si{};
            if (read_retry(fds.signal_fd, reinterpret_cast<char*>(&si), sizeof si) == sizeof si) {
                int sig = static_cast<int>(si.ssi_signo);
                if (sig == SIGWINCH) {
                    if (fds.master >= 0) copy_window_size(fds.winsize, fds.master);
                } else {
                    ::kill(pid, sig);
                }
            }
        }
        if (in_i >= 0 && p[in_i].revents) {
            ssize_t r = read_retry(fds.in, buf, sizeof buf);
            // The caller's input ended: a pty has no half-close, so only stop reading it.
            if (r <= 0 || !write_all(fds.master, buf, static_cast<size_t>(r))) in_open = false;
        }
        if (master_i >= 0 && p[master_i].revents) {
            ssize_t r = read_retry(fds.master, buf, sizeof buf);
            if (r <= 0) {
                master_open = false;
            } else if (fds.out >= 0) {
                // A vanished reader of our output must not stop the container's.
                (void)write_all(fds.out, buf, static_cast<size_t>(r));
            }
        }
        if (p[0].revents) break;
    }
    if (fds.master >= 0) drain(fds.master, fds.out);
    return {};
}

}  // namespace skiff::cli
