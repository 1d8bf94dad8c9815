// The cgroup v2 device filter: linux.resources.devices as a BPF_PROG_TYPE_CGROUP_DEVICE program.
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <string>
#include <vector>

#include "skiff/base/result.hpp"
#include "skiff/isolation/cgroup.hpp"

namespace skiff::isolation {

// Access bits of a device request, as the kernel passes them (BPF_DEVCG_ACC_*).
inline constexpr uint32_t kDeviceMknod = BPF_DEVCG_ACC_MKNOD;
inline constexpr uint32_t kDeviceRead = BPF_DEVCG_ACC_READ;
inline constexpr uint32_t kDeviceWrite = BPF_DEVCG_ACC_WRITE;

// One request the kernel asks the filter about: struct bpf_cgroup_dev_ctx, decoded.
struct DeviceRequest {
    char type = 'c';  // 'c' or 'b'
    uint32_t major = 0, minor = 0;
    uint32_t access = 0;  // kDeviceMknod | kDeviceRead | kDeviceWrite
};

// Checks each rule's type (a, b, c), access letters (r, w, m; empty means rwm) and numbers
// (negative means any, the spec's -1; at most INT32_MAX otherwise).
[[nodiscard]] Status validate_device_rules(const std::vector<DeviceRule>& rules);

// What the rules decide for one request; the meaning the BPF program implements. Default deny;
// each requested access bit is decided by the last rule that names the device and that bit, and
// the request passes only if every bit it asks for is allowed. That is cgroup v1's behaviour for
// the same list of devices.allow/deny writes: "allow c 1:3 rwm" then "deny c 1:3 w" leaves
// reads and mknod allowed and refuses an O_RDWR open. Rules must be valid.
bool device_allowed(const std::vector<DeviceRule>& rules, const DeviceRequest& request);

// The program for the rules, as instructions for the kernel: it reads bpf_cgroup_dev_ctx from r1
// and returns 1 (allow) or 0 (deny). Uses only loads, 64-bit ALU and conditional jumps on
// constants, all forward: the verifier accepts it on any kernel with cgroup device programs (4.15).
[[nodiscard]] Result<std::vector<bpf_insn>> device_filter_program(
    const std::vector<DeviceRule>& rules);

// Loads the program for the rules and attaches it to the cgroup2 directory cgroup_dir_fd
// (BPF_CGROUP_DEVICE). Device programs this cgroup had before are detached once the new one is
// in place, so an update never leaves the cgroup unfiltered. A load the verifier refuses fails
// with the verifier's log in the message. Never call this on a root cgroup.
[[nodiscard]] Status attach_device_filter(int cgroup_dir_fd, const std::vector<DeviceRule>& rules);

// Ids of the device programs attached to the cgroup directory itself (not inherited ones).
[[nodiscard]] Result<std::vector<uint32_t>> attached_device_filters(int cgroup_dir_fd);

}  // namespace skiff::isolation
