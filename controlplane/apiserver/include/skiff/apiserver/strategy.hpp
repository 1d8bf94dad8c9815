// Per-kind strategy of the API server, as Kubernetes has it: the defaults an object gets when it is
// written (SetDefaults_*), what an update may carry over from the stored object (PrepareForUpdate), and
// the validation of creates and updates with Kubernetes' field paths and messages. Pure functions over
// JSON: no store, no HTTP (invalid_response only builds the 422 body).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "skiff/apiserver/http_server.hpp"
#include "skiff/apiserver/resources.hpp"

namespace skiff::apiserver {

// One cause of a 422, as apimachinery's field.Error words it.
struct FieldError {
    // Kubernetes' CauseType: "FieldValueRequired", "FieldValueInvalid", "FieldValueNotSupported",
    // "FieldValueDuplicate", "FieldValueTooLong", "FieldValueForbidden", "FieldValueNotFound",
    // "FieldValueTypeInvalid".
    std::string type;
    std::string field;  // "spec.template.spec.containers[0].image"
    std::string
        message;  // without the field: "Required value", "Invalid value: -1: must be greater than or equal to 0"

    bool operator==(const FieldError&) const = default;
};

// "spec.replicas: Invalid value: -1: must be greater than or equal to 0" (field.Error's Error()).
std::string to_string(const FieldError& error);

// Fills in what Kubernetes defaults for the kind (pods' restartPolicy, deployments' strategy, services'
// sessionAffinity, ...) where the client left it out; also the conversions Kubernetes does on decode
// (a Secret's stringData folded into data). Values of the wrong JSON type are left for validation.
void apply_defaults(const ResourceInfo& info, nlohmann::json& object);

// What Kubernetes' PrepareForUpdate carries over from the stored object when the update leaves it out:
// a service's allocated clusterIP(s) and node ports.
void prepare_for_update(const ResourceInfo& info, nlohmann::json& object, const nlohmann::json& old);

// The errors of an object about to be created (after defaults, with its final name and namespace); empty
// if it is valid.
std::vector<FieldError> validate_create(const ResourceInfo& info, const nlohmann::json& object);

// The errors of an update of `old` to `object` (after prepare_for_update and defaults): everything
// validate_create checks, plus what may not change (a deployment's selector, a pod's spec, ...). old has
// its defaults applied too (the registry decodes stored objects so), so that an object stored before a
// default existed compares as if it had it.
std::vector<FieldError> validate_update(const ResourceInfo& info, const nlohmann::json& object,
                                        const nlohmann::json& old);
// Whether an update keeps the stored spec: equal specs, or none in either (a null spec counts as none).
// It decides the generation (carry_over) and whether a pod's spec rules run again (validate_update).
bool spec_kept(const nlohmann::json& object, const nlohmann::json& old);
// The same as validate_update above, for a caller that has asked spec_kept already.
std::vector<FieldError> validate_update(const ResourceInfo& info, const nlohmann::json& object,
                                        const nlohmann::json& old, bool spec_kept);

// The 422 kube-apiserver answers: a metav1.Status with reason Invalid, details {name, group, kind, causes}
// and the message `Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: ...` (several
// errors: `... is invalid: [a, b]`).
Response invalid_response(const ResourceInfo& info, const std::string& name, const std::vector<FieldError>& errors);

}  // namespace skiff::apiserver
