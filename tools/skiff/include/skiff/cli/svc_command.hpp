// `skiff svc`: the eBPF service load balancer by hand (add, rm, ls, stats, apply, unload, nodeport).
#pragma once

#include <string>
#include <vector>

namespace skiff::cli {

// args are the words after "svc"; returns the process exit status (2 for usage errors).
int cmd_svc(const std::vector<std::string>& args);

}  // namespace skiff::cli
