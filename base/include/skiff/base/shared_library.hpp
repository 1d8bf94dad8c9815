// Shared libraries loaded when first needed (dlopen), so a command that never talks to a registry
// or reads a tarball doesn't pay for loading libcurl, libarchive and their ~40 dependencies.
#pragma once

#include <string>

#include "skiff/base/result.hpp"

namespace skiff {

// Fills a table of function pointers from one shared library. The pointer types come from the
// library's own header (decltype(&::fn)), so a call through the table is checked like a direct
// call. Tables are built once per process and never unloaded.
class SharedLibrary {
public:
    // RTLD_NOW | RTLD_LOCAL: a missing symbol shows up here, not in the middle of a pull.
    [[nodiscard]] static Result<SharedLibrary> open(const std::string& soname);

    template <class Fn>
    [[nodiscard]] Status bind(const char* name, Fn*& out) const {
        auto sym = symbol(name);
        if (!sym) return std::move(sym).error();
        out = reinterpret_cast<Fn*>(*sym);
        return {};
    }

private:
    SharedLibrary(void* handle, std::string soname) : handle_(handle), soname_(std::move(soname)) {}
    [[nodiscard]] Result<void*> symbol(const char* name) const;

    void* handle_;
    std::string soname_;
};

}  // namespace skiff
