// The resource kinds skiff's API serves (core/v1, apps/v1, coordination.k8s.io/v1, discovery.k8s.io/v1),
// as one table that discovery, routing and storage read.
#pragma once

#include <string>
#include <vector>

namespace skiff::apiserver {

struct ResourceInfo {
    std::string group;     // "" for core
    std::string version;   // "v1"
    std::string resource;  // plural: "pods"
    std::string singular;  // "pod"
    std::string kind;      // "Pod"
    bool namespaced = true;
    std::vector<std::string> short_names;
    std::vector<std::string> categories;    // "all" for what `kubectl get all` shows
    std::vector<std::string> subresources;  // "status", "scale", "binding", "log"

    std::string group_version() const { return group.empty() ? version : group + "/" + version; }
};

// Every resource, core first, in a stable order.
const std::vector<ResourceInfo>& resources();
// The resource of a group/version by its plural name, or nullptr.
const ResourceInfo* find_resource(const std::string& group, const std::string& version, const std::string& plural);

}  // namespace skiff::apiserver
