// Label selectors (equality- and set-based: "app=web,tier in (a,b),!canary") and field selectors
// ("spec.nodeName=n1"), parsed from list and watch parameters and matched against objects.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "skiff/apiserver/resources.hpp"

namespace skiff::apiserver {

struct LabelRequirement {
    std::string key;
    enum class Op { equals, not_equals, exists, not_exists, in, not_in, greater, less } op = Op::exists;
    std::vector<std::string> values;  // one for equals/not_equals, the set for in/not_in, a number for greater/less
};
// Kubernetes' selector grammar: key, !key, key=v, key==v, key!=v, key in (v1,v2), key notin (v1,v2), key>n,
// key<n, joined by commas; keys are qualified names, values label values. false with a reason.
bool parse_label_selector(const std::string& text, std::vector<LabelRequirement>& out, std::string& error);
// labels: the object's metadata.labels (null or absent: no labels).
bool labels_match(const nlohmann::json& labels, const std::vector<LabelRequirement>& selector);

// A field selector ("spec.nodeName=n1,status.phase!=Failed") over the fields Kubernetes allows for the
// resource (metadata.name and metadata.namespace everywhere, spec.nodeName and status.phase for pods,
// involvedObject.* for events); false with a reason (Kubernetes' "field label not supported: F").
struct FieldRequirement {
    std::string field;
    bool equals = true;
    std::string value;
};
bool parse_field_selector(const std::string& text, const ResourceInfo& info, std::vector<FieldRequirement>& out,
                          std::string& error);
bool fields_match(const nlohmann::json& object, const std::vector<FieldRequirement>& selector);

}  // namespace skiff::apiserver
