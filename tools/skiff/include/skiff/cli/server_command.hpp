// `skiff server`: the Kubernetes-compatible API server.
#pragma once

#include <string>
#include <vector>

namespace skiff::cli {

// args are the words after "server"; runs until SIGINT or SIGTERM; returns the exit status.
int cmd_server(const std::vector<std::string>& args);

// `skiff kubeconfig [--data-dir DIR]`: prints the admin kubeconfig the server wrote.
int cmd_kubeconfig(const std::vector<std::string>& args);

}  // namespace skiff::cli
