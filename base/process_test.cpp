// Unit tests for the /proc and thread helpers.
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

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

TEST(NameThisThread, NamesTheCallingThreadOnly) {
    std::string main_before = comm_of_this_thread();
    std::string named, cut;
    std::thread([&] {
        name_this_thread("store-writer");
        named = comm_of_this_thread();
        name_this_thread("a-name-longer-than-fifteen-bytes");
        cut = comm_of_this_thread();
    }).join();
    EXPECT_EQ(named, "store-writer");
    EXPECT_EQ(cut, "a-name-longer-t");  // the kernel keeps 15 bytes
    EXPECT_EQ(comm_of_this_thread(), main_before);
}
