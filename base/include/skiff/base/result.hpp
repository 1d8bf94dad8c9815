// Result<T>: a value or an Error with an errno and a chain of context, as crun reports failures.
#pragma once

#include <cassert>
#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace skiff {

class Error {
public:
    Error() = default;
    // code is an errno value (0 when the failure is not a system call's).
    Error(int code, std::string message) : code_(code), message_(std::move(message)) {}
    explicit Error(std::string message) : Error(0, std::move(message)) {}

    // An error for the system call that just failed: "what: strerror(errno)".
    static Error from_errno(std::string what) { return Error(errno, std::move(what)); }
    static Error from_errno(int code, std::string what) { return Error(code, std::move(what)); }

    // Adds a layer of context in front: "create container c1: mount /proc: EPERM".
    Error context(const std::string& outer) const& {
        Error e = *this;
        e.message_ = outer + ": " + e.message_;
        return e;
    }
    Error context(const std::string& outer) && {
        message_ = outer + ": " + message_;
        return std::move(*this);
    }

    int code() const { return code_; }
    const std::string& message() const { return message_; }
    // message plus the errno text, the form printed to users.
    std::string what() const;

private:
    int code_ = 0;
    std::string message_;
};

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & {
        assert(ok());
        return std::get<0>(v_);
    }
    const T& value() const& {
        assert(ok());
        return std::get<0>(v_);
    }
    T&& value() && {
        assert(ok());
        return std::get<0>(std::move(v_));
    }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const Error& error() const& {
        assert(!ok());
        return std::get<1>(v_);
    }
    Error&& error() && {
        assert(!ok());
        return std::get<1>(std::move(v_));
    }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), failed_(true) {}

    bool ok() const { return !failed_; }
    explicit operator bool() const { return ok(); }
    const Error& error() const& {
        assert(failed_);
        return error_;
    }
    Error&& error() && {
        assert(failed_);
        return std::move(error_);
    }

private:
    Error error_;
    bool failed_ = false;
};

using Status = Result<void>;

}  // namespace skiff

// Returns the error of a failed Result from the enclosing function, with optional context.
#define SKIFF_TRY(expr)                                \
    do {                                               \
        if (auto skiff_try_r_ = (expr); !skiff_try_r_) \
            return std::move(skiff_try_r_).error();    \
    } while (0)
#define SKIFF_TRY_CTX(expr, ctx)                                     \
    do {                                                             \
        if (auto skiff_try_r_ = (expr); !skiff_try_r_)               \
            return std::move(skiff_try_r_).error().context(ctx);     \
    } while (0)
