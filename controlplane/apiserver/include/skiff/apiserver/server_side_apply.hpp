// Server-side apply (kubectl apply --server-side) and field ownership in managedFields.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "skiff/apiserver/patch_meta.hpp"
#include "skiff/base/result.hpp"

namespace skiff::apiserver {

// A field the applied configuration would change that another manager owns.
struct Conflict {
    std::string manager;      // "kubectl-client-side-apply"
    std::string operation;    // the owner's operation: "Apply" or "Update"
    std::string api_version;  // the owner's entry's apiVersion ("apps/v1")
    std::string subresource;  // the owner's entry's subresource, usually ""
    std::string field;  // ".spec.replicas", ".spec.template.spec.containers[name=\"web\"].image"
};

struct ApplyResult {
    nlohmann::json
        object;  // the result with its managedFields; the live object when conflicts is set
    std::vector<Conflict>
        conflicts;  // not empty: nothing was applied, the caller answers 409 (conflict_status)
};

// Applies a configuration for a field manager, as PATCH application/apply-patch+yaml does.
// live: the stored object, null when the apply creates it. The applied configuration's fields are
// set (maps merge, lists by their x-kubernetes-list-type), fields this manager applied before and
// no longer lists are removed unless another manager owns them too, and the manager's Apply entry
// becomes exactly the configuration's fields. Fields another manager owns that would change are
// conflicts; with force they move to this manager instead. A live object without managedFields has
// its fields owned by "before-first-apply", as in Kubernetes. When nothing changes, object is the
// live object unchanged. Errors (EINVAL): the configuration is not an object, sets
// metadata.managedFields, or has a keyed list whose items lack their keys or repeat them; the live
// managedFields cannot be read.
[[nodiscard]] Result<ApplyResult> server_side_apply(const nlohmann::json& live,
                                                    const nlohmann::json& applied,
                                                    const std::string& manager, bool force,
                                                    const std::string& now_rfc3339,
                                                    const PatchSchema& schema);

// Records a non-apply write (create: old_object null; update; patch) by a manager: returns
// new_object with metadata.managedFields where the manager's entry for operation (usually "Update")
// owns every field the write changed or added, and other managers lose those fields (an update
// always wins, as in Kubernetes). managedFields sent in new_object are taken when they are valid
// and not empty, else old_object's are kept.
nlohmann::json record_update(const nlohmann::json& old_object, const nlohmann::json& new_object,
                             const std::string& manager, const std::string& operation,
                             const std::string& now_rfc3339, const PatchSchema& schema);

// Kubernetes' 409 message: `Apply failed with 1 conflict: conflict with "kubectl-client-side-apply"
// using apps/v1: .spec.replicas` (several conflicts: grouped by manager, one "- <field>" line
// each).
std::string conflict_message(const std::vector<Conflict>& conflicts);
// The Status causes: [{"type":"FieldManagerConflict","message":"conflict with \"x\" using
// apps/v1","field":".spec.replicas"}].
nlohmann::json conflict_causes(const std::vector<Conflict>& conflicts);
// The whole metav1.Status (409, reason Conflict) with the message and causes above.
nlohmann::json conflict_status(const std::vector<Conflict>& conflicts);

}  // namespace skiff::apiserver
