// Runs independent pieces of work on a few threads; the first error wins and stops the rest.
#pragma once

#include <cstddef>
#include <functional>

#include "skiff/base/result.hpp"

namespace skiff {

// Calls work(i) for every i in [0, n) on up to `threads` threads (the caller's included). Once
// one call fails no new ones start; the first error is returned.
[[nodiscard]] Status run_parallel(size_t n, int threads, const std::function<Status(size_t)>& work);

}  // namespace skiff
