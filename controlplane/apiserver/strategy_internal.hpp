// Shared pieces of the per-kind strategies: field paths and error lists worded as apimachinery's field
// package words them, type-checked access to untrusted JSON, and the format checks (DNS names, label
// keys and values, ports, IPs, quantities) with Kubernetes' messages.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "skiff/apiserver/resources.hpp"
#include "skiff/apiserver/strategy.hpp"

namespace skiff::apiserver::strategy_detail {

using json = nlohmann::json;

// A field path as apimachinery prints it: "spec.containers[0].name", "data[key.name]".
class Path {
  public:
    Path() = default;
    explicit Path(std::string text) : text_(std::move(text)) {}
    Path child(std::string_view name) const;
    Path index(size_t i) const { return Path(text_ + "[" + std::to_string(i) + "]"); }
    Path key(std::string_view key) const { return Path(text_ + "[" + std::string(key) + "]"); }
    const std::string& str() const { return text_; }

  private:
    std::string text_;
};

// How field.Error prints a bad value: strings quoted as Go's %q, numbers and booleans bare, lists and
// objects as compact JSON (as kube-apiserver 1.33+ does).
std::string bad_value(const json& value);

// An ErrorList being built, with one method per field.Error constructor.
class Errors {
  public:
    void required(const Path& p, const std::string& detail = "");
    void invalid(const Path& p, const json& value, const std::string& detail);
    void not_supported(const Path& p, const json& value, const std::vector<std::string>& supported);
    void duplicate(const Path& p, const json& value);
    void forbidden(const Path& p, const std::string& detail);
    void too_long(const Path& p, size_t max_bytes);
    void not_found(const Path& p, const json& value);
    // A value of the wrong JSON type, worded as kube-apiserver's schema validation words it.
    void type_invalid(const Path& p, const json& value, const char* expected);

    std::vector<FieldError> list;
};

// Type-checked access to a member: nullptr when absent or null (Kubernetes treats null as unset); a
// FieldValueTypeInvalid error and nullptr when it has another JSON type.
const json* member(const json& object, std::string_view key);
const json* string_at(const json& object, std::string_view key, const Path& p, Errors& e);
const json* integer_at(const json& object, std::string_view key, const Path& p, Errors& e);
const json* bool_at(const json& object, std::string_view key, const Path& p, Errors& e);
const json* object_at(const json& object, std::string_view key, const Path& p, Errors& e);
const json* array_at(const json& object, std::string_view key, const Path& p, Errors& e);
// A map of strings (labels, annotations, selectors, data): non-string values are reported and skipped.
const json* string_map_at(const json& object, std::string_view key, const Path& p, Errors& e);
bool is_integer(const json& value);
int64_t integer_value(const json& value);  // of a value is_integer accepts
// Lenient reads for defaulting and comparisons: the value when it has the type, else the fallback.
std::string string_or(const json& object, std::string_view key, const std::string& fallback = "");
std::optional<int64_t> integer_member(const json& object, std::string_view key);

// Format checks: Kubernetes' messages, none when the value is valid.
std::vector<std::string> dns1123_label(const std::string& value);
std::vector<std::string> dns1123_subdomain(const std::string& value);
std::vector<std::string> dns1035_label(const std::string& value);
std::vector<std::string> qualified_name(const std::string& value);
std::vector<std::string> label_value(const std::string& value);
std::vector<std::string> config_map_key(const std::string& value);
std::vector<std::string> port_name(const std::string& value);   // IANA_SVC_NAME
std::vector<std::string> port_number(int64_t value);            // 1-65535
std::vector<std::string> ip_address(const std::string& value);  // v4 or v6
std::vector<std::string> ipv4_address(const std::string& value);
std::vector<std::string> ipv6_address(const std::string& value);
std::vector<std::string> cidr(const std::string& value);
// A resource quantity ("500m", "1Gi", "2e3", or a JSON number) as a number; nullopt if it does not parse.
std::optional<long double> parse_quantity(const json& value);
inline const char* const quantity_syntax_error =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
inline const char* const negative_error = "must be greater than or equal to 0";
inline const char* const immutable_error = "field is immutable";

// metadata, for every kind: the name by the kind's rule, namespace, labels, annotations, owner
// references, finalizers. On update the identity fields are the registry's, so only the rest is checked.
void validate_object_meta(const ResourceInfo& info, const json& object, bool creating, Errors& e);
void validate_labels(const json& owner, std::string_view key, const Path& p, Errors& e);
// A metav1.LabelSelector: matchLabels and matchExpressions.
void validate_label_selector(const json& selector, const Path& p, Errors& e);
bool selector_is_empty(const json& selector);
bool selector_matches(const json& selector, const json& labels);
// A non-negative integer member (replicas, minReadySeconds, ...).
void validate_nonnegative(const json& object, std::string_view key, const Path& p, Errors& e);

// Per-kind validation (validation_pods.cpp, validation_core.cpp).
void validate_pod_spec(const json& spec, const Path& p, Errors& e);
// check_spec false: the spec is the one already stored (validated when it was written) and is left alone.
void validate_pod(const json& pod, Errors& e, bool check_spec = true);
void validate_pod_update(const json& pod, const json& old, Errors& e);
void validate_deployment(const json& deployment, Errors& e);
void validate_replica_set(const json& replica_set, Errors& e);
void validate_selector_unchanged(const json& object, const json& old, Errors& e);
void validate_service(const json& service, Errors& e);
void validate_service_update(const json& service, const json& old, Errors& e);
void validate_namespace(const json& ns, Errors& e);
void validate_config_map(const json& config_map, Errors& e);
void validate_config_map_update(const json& config_map, const json& old, Errors& e);
void validate_secret(const json& secret, Errors& e);
void validate_secret_update(const json& secret, const json& old, Errors& e);
void validate_node(const json& node, Errors& e);
void validate_node_update(const json& node, const json& old, Errors& e);
void validate_lease(const json& lease, Errors& e);
void validate_endpoint_slice(const json& slice, bool creating, Errors& e);
void validate_endpoint_slice_update(const json& slice, const json& old, Errors& e);
void validate_endpoints(const json& endpoints, Errors& e);
void validate_event(const json& event, Errors& e);

}  // namespace skiff::apiserver::strategy_detail
