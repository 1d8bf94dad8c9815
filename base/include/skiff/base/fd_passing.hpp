// Passing a file descriptor over a Unix socket (SCM_RIGHTS): the console socket's terminal.
#pragma once

#include <string>

#include "skiff/base/result.hpp"
#include "skiff/base/unique_fd.hpp"

namespace skiff {

// Sends fd with one data byte over sock. 0, or -1 with errno. Allocates nothing (a container's init
// calls it between clone and execve).
int send_fd(int sock, int fd) noexcept;

// Reads one message from sock (recvmsg flags: MSG_DONTWAIT and the like; MSG_CMSG_CLOEXEC is always
// added) and returns the one descriptor it carries. `what` names it in errors: "receive <what>: ...".
[[nodiscard]] Result<UniqueFd> receive_fd(int sock, int flags, const std::string& what);

}  // namespace skiff
