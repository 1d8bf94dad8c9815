// Server-side tables (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`): the columns kubectl prints
// for each kind, computed here as Kubernetes' API server does (kubectl prints the cells as given).
#pragma once

#include <ctime>
#include <nlohmann/json.hpp>
#include <string>

#include "skiff/apiserver/resources.hpp"

namespace skiff::apiserver {

// Whether an Accept header asks for a meta.k8s.io Table.
bool wants_table(const std::string& accept);

// A Table of objects of one kind; include_object: the whole object in each row ("Object"), else its
// metadata as a PartialObjectMetadata ("Metadata", kubectl's default). now: for the Age column.
nlohmann::json make_table(const ResourceInfo& info, const nlohmann::json& objects, const std::string& resource_version,
                          bool include_object, std::time_t now);

// kubectl's age format: "45s", "5m12s", "3h", "2d4h", "400d".
std::string human_duration(long long seconds);

}  // namespace skiff::apiserver
