// The merge facts of Deployments, Pods and Services as k8s.io/api declares them, for tests.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "skiff/apiserver/patch_meta.hpp"

namespace skiff::apiserver::testing {

// patchStrategy/patchMergeKey and x-kubernetes-list-type/list-map-keys from k8s.io/api (core/v1,
// apps/v1).
inline FieldPatchMeta keyed(const std::string& key, std::vector<std::string> map_keys = {},
                            FieldPatchMeta::Strategy strategy = FieldPatchMeta::Strategy::merge) {
    FieldPatchMeta m;
    m.strategy = strategy;
    m.merge_key = key;
    m.list_map_keys = map_keys.empty() ? std::vector<std::string>{key} : std::move(map_keys);
    m.list_type = FieldPatchMeta::ListType::map;
    return m;
}

// Facts of an ObjectMeta, relative to it.
inline FieldPatchMeta object_meta(const std::vector<std::string>& rel) {
    FieldPatchMeta m;
    if (rel == std::vector<std::string>{"finalizers"}) {  // +patchStrategy=merge, +listType=set
        m.strategy = FieldPatchMeta::Strategy::merge;
        m.list_type = FieldPatchMeta::ListType::set;
    }
    if (rel == std::vector<std::string>{"ownerReferences"}) return keyed("uid");
    return m;
}

// Facts of a PodSpec, relative to it.
inline FieldPatchMeta pod_spec(const std::vector<std::string>& rel) {
    using S = FieldPatchMeta::Strategy;
    if (rel.empty()) return {};
    const std::string& f = rel[0];
    if (rel.size() == 1) {
        if (f == "containers" || f == "initContainers" || f == "ephemeralContainers" ||
            f == "imagePullSecrets")
            return keyed("name");
        if (f == "volumes")
            return keyed("name", {}, S::merge_and_retain_keys);  // "merge,retainKeys"
        if (f == "hostAliases") return keyed("ip");
        if (f == "topologySpreadConstraints")
            return keyed("topologyKey", {"topologyKey", "whenUnsatisfiable"});
        return {};  // tolerations, ...: atomic lists replaced whole
    }
    if ((f == "containers" || f == "initContainers") && rel.size() == 2) {
        if (rel[1] == "ports") return keyed("containerPort", {"containerPort", "protocol"});
        if (rel[1] == "env") return keyed("name");
        if (rel[1] == "volumeMounts") return keyed("mountPath");
    }
    return {};
}

inline std::vector<std::string> after(const std::vector<std::string>& path, size_t n) {
    return std::vector<std::string>(path.begin() + static_cast<long>(n), path.end());
}

inline bool starts(const std::vector<std::string>& path, const std::vector<std::string>& prefix) {
    return path.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), path.begin());
}

inline PatchSchema schema_for(const std::string& kind) {
    return [kind](const std::vector<std::string>& path) -> FieldPatchMeta {
        if (starts(path, {"metadata"})) return object_meta(after(path, 1));
        if (kind == "Pod" && starts(path, {"spec"})) return pod_spec(after(path, 1));
        if (kind == "Deployment") {
            if (starts(path, {"spec", "template", "metadata"})) return object_meta(after(path, 3));
            if (starts(path, {"spec", "template", "spec"})) return pod_spec(after(path, 3));
            if (path == std::vector<std::string>{"spec", "strategy"}) {  // patchStrategy=retainKeys
                FieldPatchMeta m;
                m.strategy = FieldPatchMeta::Strategy::retain_keys;
                return m;
            }
            if (path == std::vector<std::string>{"status", "conditions"}) return keyed("type");
        }
        if (kind == "Service" && path == std::vector<std::string>{"spec", "ports"})
            return keyed("port", {"port", "protocol"});
        return {};
    };
}

}  // namespace skiff::apiserver::testing
