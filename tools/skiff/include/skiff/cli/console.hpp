// The terminal side of `skiff run -t`: the console socket, raw mode, and the pty proxy loop.
#pragma once

#include <sys/types.h>
#include <termios.h>

#include <cstddef>
#include <string>

#include "skiff/base/result.hpp"
#include "skiff/base/unique_fd.hpp"

namespace skiff::cli {

// A listening AF_UNIX socket through which the runtime hands over a container's pty master
// (the runtime's --console-socket protocol: one message carrying the fd by SCM_RIGHTS).
class ConsoleSocket {
  public:
    // Creates dir/console.sock. The path given to the runtime goes through /proc/self/fd, so it
    // fits sun_path however deep dir is; it is valid in this process only, which is where
    // Runtime::create connects to it.
    [[nodiscard]] static Result<ConsoleSocket> listen(const std::string& dir);
    ConsoleSocket(ConsoleSocket&&) noexcept = default;
    ConsoleSocket& operator=(ConsoleSocket&&) noexcept = default;
    ~ConsoleSocket();  // unlinks the socket file

    const std::string& connect_path() const { return connect_path_; }
    // Accepts the runtime's connection and receives the pty master.
    [[nodiscard]] Result<UniqueFd> receive_master(int timeout_ms);

  private:
    ConsoleSocket() = default;
    UniqueFd dir_, sock_;
    std::string connect_path_;
};

// Puts a terminal in raw mode and restores the saved mode when it goes; does nothing for a
// descriptor that is not a terminal.
class RawMode {
  public:
    RawMode() = default;
    static RawMode enter(int fd);
    RawMode(RawMode&& o) noexcept;
    RawMode& operator=(RawMode&& o) noexcept;
    RawMode(const RawMode&) = delete;
    RawMode& operator=(const RawMode&) = delete;
    ~RawMode() { restore(); }
    void restore();

  private:
    int fd_ = -1;
    termios saved_{};
};

// Copies the window size of terminal from to the pty to; false when from is not a terminal.
bool copy_window_size(int from, int to);

[[nodiscard]] Status write_all(int fd, const char* data, size_t size);

// What wait_and_proxy copies and forwards while the container runs; -1 leaves a part out.
struct ProxyFds {
    int master = -1;     // the container's pty master
    int in = -1;         // copied to master (the caller's stdin with -i)
    int out = -1;        // receives what master gives (the caller's stdout, or the log file)
    int winsize = -1;    // the caller's terminal, whose size follows it on SIGWINCH
    int signal_fd = -1;  // signalfd of the blocked signals to forward (SIGWINCH resizes)
};

// Waits until the process behind pidfd has exited, proxying and forwarding meanwhile; pid is
// that process (our unreaped child, so its pid cannot be reused). Drains master at the end.
[[nodiscard]] Status wait_and_proxy(int pidfd, pid_t pid, const ProxyFds& fds);

}  // namespace skiff::cli
