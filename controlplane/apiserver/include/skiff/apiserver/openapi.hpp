// The OpenAPI v3 documents kubectl reads: /openapi/v3 (the index of group-versions) and one document per
// group-version with the paths of its resources and the schemas of its kinds, built from the type table
// (fields, patch strategies and list types) and the descriptions of the v1.21 Kubernetes API.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace skiff::apiserver {

struct OpenApiDocument {
    std::string json;  // the document
    std::string hash;  // of json: the ?hash= of its URL in the index, and its ETag
};

// GET /openapi/v3: {"paths":{"api/v1":{"serverRelativeURL":"/openapi/v3/api/v1?hash=..."},...}}.
const std::string& openapi_v3_index();

// The document of "api/v1" or "apis/<group>/<version>", nullptr for a group-version that isn't served.
// Built once, on first use.
const OpenApiDocument* openapi_v3_document(std::string_view group_version_path);

}  // namespace skiff::apiserver
