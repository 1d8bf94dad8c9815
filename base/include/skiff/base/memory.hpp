// The allocator's caches, handed back: skiff links jemalloc (CMakeLists.txt); a build with glibc's malloc
// gets what glibc can do.
#pragma once

namespace skiff {

// Whether the allocator is jemalloc (skiff links it; false in builds with glibc's malloc).
bool using_jemalloc();

// Returns the heap's free pages to the kernel (jemalloc: every arena's unused pages; glibc: malloc_trim).
void release_free_heap();

// Returns the calling thread's cached free blocks to the shared heap (jemalloc's thread cache; glibc's
// per-thread cache has no such call). A thread pool's threads call it when they go idle: each keeps its
// own cache otherwise, and sixty-four idle threads held 16 MB of an idle `skiff server`.
void release_thread_cache();

}  // namespace skiff
