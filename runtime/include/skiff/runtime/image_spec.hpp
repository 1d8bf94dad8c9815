// From an image's config and `skiff run` options to a runtime spec with the secure defaults.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "skiff/base/result.hpp"
#include "skiff/runtime/spec.hpp"

namespace skiff::runtime {

// What an image says about its process (the OCI image config's `config` object).
struct ImageProcess {
    std::string user, working_dir, stop_signal;
    std::vector<std::string> env, entrypoint, cmd;
    std::map<std::string, std::string> labels;
};

struct VolumeMount {
    std::string source, destination;
    bool read_only = false;
};

// The options of `skiff run` (docker's meaning for each).
struct RunOptions {
    std::optional<std::string> entrypoint;  // replaces the image's; drops its Cmd
    std::vector<std::string> command;       // replaces the image's Cmd when not empty
    std::vector<std::string> env;           // KEY=VALUE, over the image's
    std::optional<std::string> user;        // name, uid, name:group or uid:gid
    std::optional<std::string> working_dir;
    std::string hostname;
    bool read_only = false;
    bool tty = false;
    std::vector<std::string> cap_add, cap_drop;  // "NET_ADMIN" or "CAP_NET_ADMIN"; "ALL"
    std::optional<int64_t> memory_bytes;
    std::optional<double> cpus;
    std::optional<int64_t> pids_limit;
    std::string network = "none";  // none (own namespace, loopback only) or host
    std::vector<VolumeMount> volumes;
};

// "64m", "1g", "512k", "1024" to bytes; errors name the text.
[[nodiscard]] Result<int64_t> parse_memory_size(const std::string& text);
// "SRC:DST[:ro|rw]"; SRC must be an absolute path.
[[nodiscard]] Result<VolumeMount> parse_volume(const std::string& text);

// docker's --user ("name", "uid", "name:group", "uid:gid", supplementary groups from
// /etc/group) against the files of the root file system at rootfs, resolved inside it.
[[nodiscard]] Result<User> resolve_image_user(const std::string& user, const std::string& rootfs);

// The spec for a container of the image whose unpacked root file system is at rootfs (user and
// group names are looked up in its /etc/passwd and /etc/group, resolved inside it). Starts from
// default_spec(): Docker's capabilities adjusted by cap_add/cap_drop, a seccomp profile for the
// final capability set, masked paths, no_new_privileges.
[[nodiscard]] Result<Spec> spec_for_image(const ImageProcess& image, const RunOptions& options,
                                          const std::string& rootfs);

}  // namespace skiff::runtime
