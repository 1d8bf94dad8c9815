#include "skiff/base/shared_library.hpp"

#include <dlfcn.h>

namespace skiff {

Result<SharedLibrary> SharedLibrary::open(const std::string& soname) {
    void* handle = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char* why = dlerror();
        return Error(ENOENT, "load " + soname + ": " + (why ? why : "not found") +
                                 " (tools/setup installs it)");
    }
    return SharedLibrary(handle, soname);
}

Result<void*> SharedLibrary::symbol(const char* name) const {
    dlerror();
    void* sym = dlsym(handle_, name);
    if (!sym) return Error(ENOENT, soname_ + " has no " + name + " (too old?)");
    return sym;
}

}  // namespace skiff
