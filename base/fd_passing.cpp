// Receiving a descriptor over a Unix socket (SCM_RIGHTS).
#include "skiff/base/fd_passing.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace skiff {

Result<UniqueFd> receive_fd(int sock, int flags, const std::string& what) {
    char byte;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control;
    mh.msg_controllen = sizeof control;
    ssize_t n;
    do n = ::recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0) return Error::from_errno("receive " + what);
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int))) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
            return UniqueFd(fd);
        }
    }
    return Error(EPROTO, "receive " + what + ": the message carried no descriptor");
}

}  // namespace skiff
