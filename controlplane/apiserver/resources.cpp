// The table of served resources: names, kinds, scope, short names and subresources as Kubernetes has them.
#include "skiff/apiserver/resources.hpp"

namespace skiff::apiserver {

const std::vector<ResourceInfo>& resources() {
    static const std::vector<ResourceInfo> table = {
        {"", "v1", "namespaces", "namespace", "Namespace", false, {"ns"}, {}, {"status", "finalize"}},
        {"", "v1", "pods", "pod", "Pod", true, {"po"}, {"all"}, {"status", "binding", "log"}},
        {"", "v1", "services", "service", "Service", true, {"svc"}, {"all"}, {"status"}},
        {"", "v1", "endpoints", "endpoints", "Endpoints", true, {"ep"}, {}, {}},
        {"", "v1", "nodes", "node", "Node", false, {"no"}, {}, {"status"}},
        {"", "v1", "events", "event", "Event", true, {"ev"}, {}, {}},
        {"", "v1", "configmaps", "configmap", "ConfigMap", true, {"cm"}, {}, {}},
        {"", "v1", "secrets", "secret", "Secret", true, {}, {}, {}},
        {"", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", true, {"sa"}, {}, {}},
        {"apps", "v1", "deployments", "deployment", "Deployment", true, {"deploy"}, {"all"}, {"status", "scale"}},
        {"apps", "v1", "replicasets", "replicaset", "ReplicaSet", true, {"rs"}, {"all"}, {"status", "scale"}},
        {"coordination.k8s.io", "v1", "leases", "lease", "Lease", true, {}, {}, {}},
        {"discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", true, {}, {}, {}},
    };
    return table;
}

const ResourceInfo* find_resource(const std::string& group, const std::string& version, const std::string& plural) {
    for (const auto& r : resources())
        if (r.group == group && r.version == version && r.resource == plural) return &r;
    return nullptr;
}

}  // namespace skiff::apiserver
