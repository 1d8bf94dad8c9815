// The Kubernetes types of every served kind and every message reachable from them: fields with their JSON
// names, protobuf numbers and types, Go's JSON rules (pointer, omitempty, inline) and the patch facts
// (patchStrategy, patchMergeKey, x-kubernetes-list-type, list-map-keys), for the protobuf decoder,
// strict field validation and strategic merge patch.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "skiff/apiserver/patch_meta.hpp"
#include "skiff/apiserver/resources.hpp"

namespace skiff::apiserver {

enum class FieldType {
    string,
    boolean,
    int32,
    int64,
    double_,
    bytes,         // base64 in JSON
    message,       // FieldDef::message names it
    time,          // meta/v1 Time: RFC 3339 in JSON (seconds), {seconds, nanos} in protobuf
    micro_time,    // meta/v1 MicroTime: RFC 3339 with microseconds
    quantity,      // resource.Quantity: a string ("100m", "1Gi")
    int_or_string, // intstr.IntOrString: an int or a string
    fields_v1,     // meta/v1 FieldsV1: a JSON object, its raw JSON bytes in protobuf
    duration,      // meta/v1 Duration: a Go duration string ("1h2m")
    raw_extension, // runtime.RawExtension: an embedded object, raw JSON bytes in protobuf
};

struct MessageDef;

struct FieldDef {
    std::string json_name;  // "" for an inline member (its message's fields are this message's in JSON)
    int number = 0;
    FieldType type = FieldType::string;  // of the element or map value for lists and maps
    enum class Container { single, list, map } container = Container::single;  // maps: string keys
    std::string message_name;            // for FieldType::message
    const MessageDef* message = nullptr; // resolved message_name
    bool pointer = false;    // a Go pointer: an explicit zero value stays in JSON
    bool omitempty = false;  // Go's omitempty: a zero scalar, an empty list or map is left out
    FieldPatchMeta patch;    // as written in the types (see patch_meta() for what lookups answer)
    bool has_list_type = false;  // the type says x-kubernetes-list-type (else patch_meta derives one)

    bool is_inline() const { return json_name.empty(); }
};

struct MessageDef {
    std::string name;  // "core.v1.PodSpec", "apps.v1.Deployment", "meta.v1.ObjectMeta"
    std::vector<FieldDef> fields;
    // Every JSON name, inline members' too. Hashed: strict field validation looks up every member of
    // every object written.
    struct NameHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, const FieldDef*, NameHash, std::equal_to<>> by_name;

    // The field by JSON name, looking into inline members (Volume's VolumeSource); nullptr if none.
    const FieldDef* field(std::string_view json_name) const;
    const FieldDef* field_by_number(int number) const;
};

// A message by name ("core.v1.Container"), nullptr if the table has none.
const MessageDef* find_message(std::string_view name);
// The root message of a kind ("apps", "v1", "Deployment" -> apps.v1.Deployment), nullptr if not served.
const MessageDef* message_for_kind(std::string_view group, std::string_view version, std::string_view kind);

// Patch metadata of the field at path (field names from the kind's root, list positions and map keys
// left out). list_type and list_map_keys are what server-side apply uses: the type's
// x-kubernetes-list-type where it has one, else what Kubernetes derives from the patch strategy (merge
// with a merge key: a map keyed by it; merge without one: a set). Unknown paths: the defaults.
FieldPatchMeta patch_meta(const std::string& group, const std::string& version, const std::string& kind,
                          const std::vector<std::string>& path);
FieldPatchMeta patch_meta(const ResourceInfo& info, const std::vector<std::string>& path);
// The same bound to one kind, for the patch code.
PatchSchema patch_schema(const ResourceInfo& info);

// The JSON paths of the fields in object that its kind does not have, as ".spec.foo" and
// ".spec.template.spec.containers[0].imagee" (apiVersion and kind at the root are allowed). Maps, and
// the free-form values (fieldsV1, raw extensions) are not looked into. Empty for an unknown kind.
std::vector<std::string> unknown_fields(const ResourceInfo& info, const nlohmann::json& object);
// Kubernetes' message for them with fieldValidation=Strict (400 BadRequest):
// `Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field
// "spec.foo", unknown field "spec.bar"`.
std::string strict_decoding_error(const ResourceInfo& info, const std::vector<std::string>& unknown);

}  // namespace skiff::apiserver
