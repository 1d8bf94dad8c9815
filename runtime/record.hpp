// A container's recorded state as other runtime files read it (exec), taken under its lock.
#pragma once

#include <sys/types.h>

#include <string>

#include "skiff/base/result.hpp"
#include "skiff/base/unique_fd.hpp"
#include "skiff/isolation/cgroup.hpp"
#include "skiff/runtime/container.hpp"

namespace skiff::runtime {

struct RecordedContainer {
    std::string id, config, cgroup_path;  // config: the config.json text create saw
    pid_t pid = 0;                        // the init, named for good by pid and start_time
    unsigned long long start_time = 0;
    ContainerStatus status = ContainerStatus::stopped;
    UniqueFd lock;  // keeps the container locked until it is closed
};

// Reads the record of container id under root; ENOENT names the container when it is unknown.
[[nodiscard]] Result<RecordedContainer> read_recorded(const std::string& root,
                                                      const std::string& id);

// The container's own cgroup, for what needs one (pause, resume, update, stats). A rootless container
// without a delegated cgroup has none (cgroup_path ""): an error naming what is not possible, never the
// hierarchy's root.
[[nodiscard]] Result<isolation::Cgroup> own_cgroup(const std::string& id, const std::string& cgroup_path,
                                                   const std::string& what);

}  // namespace skiff::runtime
