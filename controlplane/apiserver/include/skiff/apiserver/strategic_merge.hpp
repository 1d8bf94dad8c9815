// Strategic merge patch (PATCH application/strategic-merge-patch+json), as kubectl uses it.
#pragma once

#include <nlohmann/json.hpp>

#include "skiff/apiserver/patch_meta.hpp"
#include "skiff/base/result.hpp"

namespace skiff::apiserver {

// Applies a strategic merge patch to original (an object, or null for an empty one) and returns the
// result:
// - maps merge recursively; null deletes a key; a value of another type replaces the original's;
// - lists whose field has strategy merge (or merge_and_retain_keys) merge: objects by merge_key (a
// patch
//   item merges into the original item with the same key, new items are added), values as a union;
//   other lists are replaced whole;
// - directives: "$patch": replace|delete|merge on a map or as a list item,
// "$setElementOrder/<field>",
//   "$deleteFromPrimitiveList/<field>", "$retainKeys". Any other "$" key is an error.
// Errors (EINVAL) name the path, e.g. "spec.template.spec.containers[0]: the list item has no merge
// key
// \"name\"". The caller's objects are not modified.
[[nodiscard]] Result<nlohmann::json> strategic_merge_patch(const nlohmann::json& original,
                                                           const nlohmann::json& patch,
                                                           const PatchSchema& schema);

}  // namespace skiff::apiserver
