// ChildError: how code between clone and execve reports a failure without allocating.
#pragma once

#include <cerrno>
#include <cstdarg>
#include <cstdio>

namespace skiff::isolation {

struct ChildError {
    int code = 0;
    char message[512] = {};

    // Records errno-style code and a printf-formatted message; returns -1 for `return fail(...)`.
    __attribute__((format(printf, 3, 4))) int fail(int err, const char* fmt, ...) noexcept {
        code = err;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(message, sizeof message, fmt, ap);
        va_end(ap);
        return -1;
    }
};

}  // namespace skiff::isolation
