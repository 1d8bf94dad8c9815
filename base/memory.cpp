// The allocator's caches, handed back (see memory.hpp).
#include "skiff/base/memory.hpp"

#include <malloc.h>

#include <cstddef>

// jemalloc's control interface when it is linked in, null otherwise.
extern "C" int mallctl(const char* name, void* oldp, size_t* oldlenp, void* newp, size_t newlen) __attribute__((weak));

namespace skiff {

bool using_jemalloc() { return mallctl != nullptr; }

void release_free_heap() {
    if (mallctl) (void)mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);  // 4096: every arena
    else malloc_trim(0);
}

void release_thread_cache() {
    if (mallctl) (void)mallctl("thread.tcache.flush", nullptr, nullptr, nullptr, 0);
}

}  // namespace skiff
