// How a field of a Kubernetes object merges in a patch or an apply (the patchStrategy/patchMergeKey and
// x-kubernetes-list-type/list-map-keys facts of the Kubernetes types), looked up by path from a kind's root.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace skiff::apiserver {

struct FieldPatchMeta {
    enum class Strategy { replace, merge, retain_keys, merge_and_retain_keys } strategy = Strategy::replace;
    std::string merge_key;                   // lists of objects merged by this key ("name", "containerPort", ...)
    std::vector<std::string> list_map_keys;  // server-side apply: x-kubernetes-list-map-keys
    enum class ListType { atomic, set, map } list_type = ListType::atomic;  // x-kubernetes-list-type
};

// path: the field names from the object's root with list positions left out
// (a Deployment's containers: {"spec", "template", "spec", "containers"}). Unknown paths: the defaults.
using PatchSchema = std::function<FieldPatchMeta(const std::vector<std::string>& path)>;

}  // namespace skiff::apiserver
