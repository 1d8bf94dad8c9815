// Capabilities: name resolution with libcap before clone; raw capset/prctl after it (no allocation).
#include "skiff/isolation/capabilities.hpp"

#include <linux/capability.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>

namespace skiff::isolation {
namespace {

Result<uint64_t> resolve_set(const std::vector<std::string>& names, const char* set_name,
                             int last_cap) {
    uint64_t mask = 0;
    for (const auto& name : names) {
        cap_value_t value = 0;
        if (cap_from_name(name.c_str(), &value) != 0 || name.size() < 5 ||
            (name.compare(0, 4, "CAP_") != 0 && name.compare(0, 4, "cap_") != 0)) {
            return Error(EINVAL, std::string("process.capabilities.") + set_name +
                                     ": unknown capability \"" + name + "\"");
        }
        // A capability newer than this kernel can't be granted; leaving it out is what runc does.
        if (value > last_cap || value >= 64) continue;
        mask |= uint64_t{1} << value;
    }
    return mask;
}

}  // namespace

int last_capability() {
    static int cached = [] {
        std::ifstream in("/proc/sys/kernel/cap_last_cap");
        int v = -1;
        if (in >> v) return v;
        return static_cast<int>(CAP_LAST_CAP);
    }();
    return cached;
}

Result<CapabilityMasks> resolve_capabilities(const CapabilitySets& sets) {
    int last = last_capability();
    CapabilityMasks m;
    struct Item {
        const std::vector<std::string>* names;
        const char* set_name;
        uint64_t* out;
    };
    const Item items[] = {{&sets.bounding, "bounding", &m.bounding},
                          {&sets.effective, "effective", &m.effective},
                          {&sets.inheritable, "inheritable", &m.inheritable},
                          {&sets.permitted, "permitted", &m.permitted},
                          {&sets.ambient, "ambient", &m.ambient}};
    for (const auto& item : items) {
        auto r = resolve_set(*item.names, item.set_name, last);
        if (!r) return std::move(r).error();
        *item.out = *r;
    }
    return m;
}

int drop_bounding_capabilities(const CapabilityMasks& masks) noexcept {
    for (int cap = 0; cap < 64; ++cap) {
        if (masks.bounding & (uint64_t{1} << cap)) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) return -errno;
    }
    return 0;
}

int apply_capabilities(const CapabilityMasks& masks) noexcept {
    __user_cap_header_struct header{};
    header.version = _LINUX_CAPABILITY_VERSION_3;
    header.pid = 0;
    __user_cap_data_struct data[2]{};
    for (int i = 0; i < 2; ++i) {
        data[i].effective = static_cast<uint32_t>(masks.effective >> (32 * i));
        data[i].permitted = static_cast<uint32_t>(masks.permitted >> (32 * i));
        data[i].inheritable = static_cast<uint32_t>(masks.inheritable >> (32 * i));
    }
    if (syscall(SYS_capset, &header, data) != 0) return -errno;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        return -errno;
    // The kernel only lets a capability into the ambient set when it is permitted and
    // inheritable. `runc spec` lists ambient capabilities without inheritable ones; runc then
    // raises what it can, so the others are left out here too.
    uint64_t ambient = masks.ambient & masks.inheritable & masks.permitted;
    for (int cap = 0; cap < 64; ++cap) {
        if (!(ambient & (uint64_t{1} << cap))) continue;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) return -errno;
    }
    return 0;
}

std::vector<std::string> known_capabilities() {
    std::vector<std::string> out;
    int last = last_capability();
    for (int cap = 0; cap <= last; ++cap) {
        char* name = cap_to_name(cap);
        if (!name) continue;
        std::string upper = name;
        cap_free(name);
        for (auto& c : upper) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
        // libcap prints numbers for capabilities it has no name for; those aren't names.
        if (upper.rfind("CAP_", 0) == 0) out.push_back(upper);
    }
    return out;
}

std::vector<std::string> default_capabilities() {
    return {"CAP_CHOWN",  "CAP_DAC_OVERRIDE",     "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
            "CAP_NET_RAW", "CAP_SETGID",          "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
            "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"};
}

}  // namespace skiff::isolation
