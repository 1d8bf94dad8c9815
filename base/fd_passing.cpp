// Passing a descriptor over a Unix socket (SCM_RIGHTS).
#include "skiff/base/fd_passing.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace skiff {

namespace {

// One data byte and room for one descriptor: what both directions put in their msghdr.
struct FdMessage {
    char byte = 'T';
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr header{};
    FdMessage() {
        header.msg_iov = &iov;
        header.msg_iovlen = 1;
        header.msg_control = control;
        header.msg_controllen = sizeof control;
    }
    FdMessage(const FdMessage&) = delete;
};

}  // namespace

int send_fd(int sock, int fd) noexcept {
    FdMessage m;
    cmsghdr* c = CMSG_FIRSTHDR(&m.header);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    ssize_t n;
    do n = ::sendmsg(sock, &m.header, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : -1;
}

Result<UniqueFd> receive_fd(int sock, int flags, const std::string& what) {
    FdMessage m;
    msghdr& mh = m.header;
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
