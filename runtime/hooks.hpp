// OCI hooks: prepared before clone so the container's init can run them without allocating.
#pragma once

#include <string>
#include <vector>

#include "skiff/isolation/child_error.hpp"
#include "skiff/runtime/spec.hpp"

namespace skiff::runtime {

struct PreparedHook {
    std::string path;
    std::vector<std::string> args, env;
    std::vector<char*> argv, envp;  // point into args/env; null-terminated
    int timeout = 0;                // seconds, 0 = none

    explicit PreparedHook(const Hook& hook);
    PreparedHook(const PreparedHook&) = delete;
    PreparedHook(PreparedHook&&) = delete;
};

// Runs a hook with the state JSON on its stdin and waits for it (killing it after its
// timeout). Allocates nothing. Returns 0, or -1 with err describing the failure.
int run_prepared_hook(const PreparedHook& hook, const char* state, size_t state_len,
                      isolation::ChildError& err) noexcept;

// Runs hooks in order in the calling process; the first failure stops and names the hook.
[[nodiscard]] skiff::Status run_hooks(const std::vector<Hook>& hooks, const char* stage,
                                      const std::string& state_json);

}  // namespace skiff::runtime
