// `skiff net`: the pod network of a node from the command line (setup, teardown, route).
#pragma once

#include <string>
#include <vector>

namespace skiff {

// args: what follows `net`. Exit status: 0 done, 1 failed, 2 usage error.
int cmd_net(const std::vector<std::string>& args);

}  // namespace skiff
