// `skiff svc nodeport`: attaches and detaches the NodePort tc program on the node's devices.
#pragma once

#include <string>
#include <vector>

namespace skiff::cli {

// args are the words after "nodeport" (attach|detach and their options); returns the exit status:
// 0, 1 when the kernel or the pin directory says no, 2 for usage errors.
int cmd_svc_nodeport(const std::vector<std::string>& args);

}  // namespace skiff::cli
