// A small work pool for parallel downloads and unpacks.
#include "skiff/base/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

namespace skiff {

Status run_parallel(size_t n, int threads, const std::function<Status(size_t)>& work) {
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex mu;
    std::optional<Error> first;
    auto worker = [&] {
        for (;;) {
            if (failed) return;
            size_t i = next++;
            if (i >= n) return;
            if (auto r = work(i); !r) {
                std::lock_guard lock(mu);
                if (!first) first = std::move(r).error();
                failed = true;
            }
        }
    };
    size_t count = std::min<size_t>(n, static_cast<size_t>(std::max(1, threads)));
    std::vector<std::thread> pool;
    try {
        for (size_t i = 1; i < count; ++i) pool.emplace_back(worker);
    } catch (const std::system_error&) {
        // Fewer threads than asked for still finish the work.
    }
    worker();
    for (auto& t : pool) t.join();
    if (first) return *first;
    return {};
}

}  // namespace skiff
