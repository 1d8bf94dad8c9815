// Pieces of the registry that its files share (registry.cpp, watch.cpp, subresources.cpp, deletion.cpp):
// responses, metav1.Status failures, and the metadata rules every write follows.
#pragma once

#include <nlohmann/json.hpp>

#include <ctime>
#include <string>
#include <string_view>

#include "skiff/apiserver/json_write.hpp"
#include "skiff/apiserver/registry.hpp"

namespace skiff::apiserver {

// object[key], or a null when object is not an object or has no such member: read in place, where
// `cond ? object[key] : json()` would copy the member into a temporary.
const nlohmann::json& member_or_null(const nlohmann::json& object, std::string_view key);

Response object_response(int code, const nlohmann::json& j);
// A metav1.Status failure with details naming the object (kubectl prints them).
Response failure(int code, const std::string& reason, const std::string& message, const ResourcePath& path,
                 const std::string& name, nlohmann::json causes = nullptr);
Response not_found(const ResourcePath& path, const std::string& name);
// The Status for a store error (404, 409 AlreadyExists/Conflict, 410, 500).
Response store_failure(const Error& e, const ResourcePath& path, const std::string& name);
std::string rfc3339(std::time_t t);  // "2026-11-26T19:03:10Z", what metadata timestamps look like
std::string now_rfc3339();
std::string new_uid();
// The stored JSON with the store's revision as metadata.resourceVersion.
nlohmann::json with_version(const store::KeyValue& kv);
// The same as text, without parsing: "resourceVersion" spliced into the stored text's top-level metadata.
std::string with_version_text(std::string_view stored, int64_t revision);
// Parses a request body as a JSON object; false with a 400/415 in error.
bool parse_body(const Request& req, nlohmann::json& out, Response& error);
// kind and apiVersion, when given, must be the resource's.
bool check_type(const nlohmann::json& obj, const ResourcePath& path, Response& error);
// What an update may not change: identity, generation rules, kind and apiVersion. Returns whether the
// spec is the stored one (what validate_update needs to know too).
bool carry_over(nlohmann::json& updated, const nlohmann::json& old, const ResourceInfo& info);

}  // namespace skiff::apiserver

namespace skiff::apiserver {

bool has_status_subresource(const ResourceInfo& info);
// dryRun=All: everything but the write.
bool dry_run(const Request& req);
// The autoscaling/v1 Scale of a deployment or replica set, and the object with a Scale's replicas.
nlohmann::json scale_of(const ResourceInfo& info, const nlohmann::json& obj);
nlohmann::json with_scale(const nlohmann::json& obj, const nlohmann::json& scale);

}  // namespace skiff::apiserver
