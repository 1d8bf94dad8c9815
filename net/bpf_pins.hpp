// What the BPF loaders of net/ share: the pin directory (on a bpf filesystem, locked while a loader
// changes it) and libbpf's messages kept for error context instead of printed.
#pragma once

#include <string>

#include "skiff/base/result.hpp"
#include "skiff/base/unique_fd.hpp"

namespace skiff::net::bpf_pins {

// libbpf prints into a per-thread buffer from now on; the last line ends up in libbpf_error().
void capture_libbpf_messages();
// An error for a failed libbpf call (err: its negative or positive errno), with libbpf's last line.
Error libbpf_error(int err, const std::string& what);

bool is_on(const std::string& path, long fs_magic);
std::string map_pin(const std::string& bpffs, const std::string& name);   // <bpffs>/maps/<name>
std::string link_pin(const std::string& bpffs, const std::string& name);  // <bpffs>/links/<name>

// Makes bpffs (when its parent is a bpf filesystem) and its maps/ and links/ directories.
[[nodiscard]] Status prepare(const std::string& bpffs);
// The exclusive lock every loader and `skiff svc` writer holds: an flock of the pin directory.
[[nodiscard]] Result<UniqueFd> lock(const std::string& bpffs);

}  // namespace skiff::net::bpf_pins
