// For the store's tests: a directory of the test's own, removed with everything in it when it goes.
#pragma once

#include <stdlib.h>

#include <string>

#include "skiff/base/fs.hpp"

namespace skiff::store {

struct TestDir {
    // path stays empty when the directory could not be made (the test asserts it is not).
    explicit TestDir(std::string tmpl = "/tmp/skiff-store-test-XXXXXX") {
        if (mkdtemp(tmpl.data())) path = tmpl;
    }
    ~TestDir() {
        if (!path.empty()) (void)fs::remove_all(path);
    }
    TestDir(const TestDir&) = delete;
    TestDir& operator=(const TestDir&) = delete;
    std::string path;
};

}  // namespace skiff::store
