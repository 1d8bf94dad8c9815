// The terminal skiff-oci attaches itself when no --console-socket receives it: raw mode and a relay.
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <termios.h>

#include "skiff/base/result.hpp"
#include "skiff/base/unique_fd.hpp"

namespace skiff::runtime {

// A socketpair for a terminal's master: the container side (setup_terminal sends the master on
// it, as on a --console-socket) and the runtime's side that receives it.
struct ConsolePair {
    UniqueFd container_end, runtime_end;
};
[[nodiscard]] Result<ConsolePair> make_console_pair();
// The master that setup_terminal sent on the pair (already queued: the sender sent it before
// reporting that it was set up). Close-on-exec.
[[nodiscard]] Result<UniqueFd> receive_console(int runtime_end);

// While it lives, stdin's terminal (when stdin is one) is in raw mode: keys reach the container's
// terminal unprocessed. The old mode comes back when it goes, and also when skiff-oci is killed
// by a signal it does not forward (the handler restores it and re-raises). One at a time.
class RawTerminal {
  public:
    RawTerminal();
    ~RawTerminal();
    RawTerminal(const RawTerminal&) = delete;
    RawTerminal& operator=(const RawTerminal&) = delete;
    bool active() const { return active_; }

  private:
    bool active_ = false;
};

// The window size of skiff-oci's own terminal (stdin's, else stdout's); false when neither is
// a terminal. An attached terminal starts with it, so the program never sees another size.
bool own_window_size(unsigned short& rows, unsigned short& cols);

// Copies the window size of skiff-oci's own terminal (stdin's, else stdout's) to the pty master;
// nothing when neither is a terminal.
void copy_window_size(int master);

// Relays until the process pid (our child) exits and its terminal has drained: stdin to the
// master (an end of input that is not a terminal's becomes the terminal's EOF character), the
// master to stdout. The signals of `forward` (blocked by the caller, SIGCHLD among them) go on
// to the process, except SIGWINCH, which resizes the pty. Returns the exit code (128+N for a
// signal), -1 if the process could not be waited for.
int relay_terminal(pid_t pid, int master, const sigset_t& forward);

}  // namespace skiff::runtime
