// Unit tests for the /proc and thread helpers.
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <mutex>
#include <string>
#include <thread>

#include "skiff/base/fs.hpp"
#include "skiff/base/process.hpp"

using namespace skiff;

namespace {

std::string comm_of_this_thread() {
    auto comm = fs::read_file("/proc/self/task/" + std::to_string(syscall(SYS_gettid)) + "/comm");
    return comm ? comm->substr(0, comm->find('\n')) : "?";
}

}  // namespace

TEST(NameThread, NamesTheThreadBeforeItLooks) {
    std::string main_before = comm_of_this_thread();
    std::mutex mu;
    mu.lock();  // the threads look at their names only once both are named
    std::string named, cut;
    std::thread a([&] {
        std::lock_guard hold(mu);
        named = comm_of_this_thread();
    });
    name_thread(a, "store-writer");
    std::thread b([&] {
        std::lock_guard hold(mu);
        cut = comm_of_this_thread();
    });
    name_thread(b, "a-name-longer-than-fifteen-bytes");
    mu.unlock();
    a.join();
    b.join();
    EXPECT_EQ(named, "store-writer");
    EXPECT_EQ(cut, "a-name-longer-t");  // the kernel keeps 15 bytes
    EXPECT_EQ(comm_of_this_thread(), main_before);
}
