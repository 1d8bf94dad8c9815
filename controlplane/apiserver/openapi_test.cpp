// Unit tests of the OpenAPI v3 documents: the index links every served group-version by its hash, every
// kind has a schema that names it, every $ref resolves, and the facts kubectl reads from them (patch
// strategies, the PATCH operations' kind and fieldValidation parameter, descriptions) are there.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "skiff/apiserver/node_tokens.hpp"
#include "skiff/apiserver/openapi.hpp"
#include "skiff/apiserver/resources.hpp"

namespace skiff::apiserver {
namespace {

using json = nlohmann::json;

std::string path_of(const ResourceInfo& r) {
    return r.group.empty() ? "api/" + r.version : "apis/" + r.group + "/" + r.version;
}

json document(const std::string& path) {
    const OpenApiDocument* doc = openapi_v3_document(path);
    EXPECT_NE(doc, nullptr) << path;
    return doc ? json::parse(doc->json) : json{};
}

void collect_refs(const json& j, std::set<std::string>& out) {
    if (j.is_object()) {
        for (auto& [k, v] : j.items()) {
            if (k == "$ref") out.insert(v.get<std::string>());
            collect_refs(v, out);
        }
    } else if (j.is_array()) {
        for (const auto& v : j) collect_refs(v, out);
    }
}

TEST(OpenApi, IndexLinksEveryServedGroupVersionByItsHash) {
    json index = json::parse(openapi_v3_index());
    std::set<std::string> served;
    for (const auto& r : resources()) served.insert(path_of(r));
    ASSERT_EQ(index["paths"].size(), served.size());
    for (const auto& path : served) {
        const OpenApiDocument* doc = openapi_v3_document(path);
        ASSERT_NE(doc, nullptr) << path;
        EXPECT_EQ(doc->hash.size(), 64u);
        std::string upper = sha256_hex(doc->json);
        for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        EXPECT_EQ(doc->hash, upper);
        EXPECT_EQ(index["paths"][path]["serverRelativeURL"], "/openapi/v3/" + path + "?hash=" + doc->hash);
    }
    EXPECT_EQ(openapi_v3_document("apis/batch/v1"), nullptr);
    EXPECT_EQ(openapi_v3_document("api"), nullptr);
}

TEST(OpenApi, EveryKindHasItsSchemaAndEveryReferenceResolves) {
    for (const auto& r : resources()) {
        json doc = document(path_of(r));
        const json& schemas = doc["components"]["schemas"];
        bool found = false;
        for (auto& [name, s] : schemas.items()) {
            if (!s.contains("x-kubernetes-group-version-kind")) continue;
            for (const auto& g : s["x-kubernetes-group-version-kind"])
                if (g["group"] == r.group && g["version"] == r.version && g["kind"] == r.kind) found = true;
        }
        EXPECT_TRUE(found) << r.kind;
        std::set<std::string> refs;
        collect_refs(doc, refs);
        EXPECT_FALSE(refs.empty());
        for (const auto& ref : refs) {
            ASSERT_TRUE(ref.starts_with("#/components/schemas/")) << ref;
            EXPECT_TRUE(schemas.contains(ref.substr(21))) << path_of(r) << ": " << ref << " is not defined";
        }
    }
}

TEST(OpenApi, DeploymentSchemaCarriesTypesPatchFactsAndDescriptions) {
    json doc = document("apis/apps/v1");
    const json& s = doc["components"]["schemas"];
    const json& deployment = s["io.k8s.api.apps.v1.Deployment"];
    EXPECT_EQ(deployment["x-kubernetes-group-version-kind"][0], (json{{"group", "apps"}, {"kind", "Deployment"}, {"version", "v1"}}));
    EXPECT_EQ(deployment["properties"]["spec"]["allOf"][0]["$ref"], "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec");
    const json& spec = s["io.k8s.api.apps.v1.DeploymentSpec"];
    EXPECT_EQ(spec["properties"]["replicas"]["type"], "integer");
    EXPECT_EQ(spec["properties"]["replicas"]["format"], "int32");
    EXPECT_NE(spec["properties"]["replicas"]["description"].get<std::string>().find("desired pods"), std::string::npos);
    EXPECT_EQ(spec["required"], json::array({"selector", "template"}));
    const json& containers = s["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    EXPECT_EQ(containers["type"], "array");
    EXPECT_EQ(containers["x-kubernetes-patch-merge-key"], "name");
    EXPECT_EQ(containers["x-kubernetes-patch-strategy"], "merge");
    EXPECT_EQ(containers["items"]["allOf"][0]["$ref"], "#/components/schemas/io.k8s.api.core.v1.Container");
    const json& ports = s["io.k8s.api.core.v1.Container"]["properties"]["ports"];
    EXPECT_EQ(ports["x-kubernetes-list-type"], "map");
    EXPECT_EQ(ports["x-kubernetes-list-map-keys"], json::array({"containerPort", "protocol"}));
    EXPECT_EQ(s["io.k8s.api.core.v1.Container"]["properties"]["resources"]["allOf"][0]["$ref"],
              "#/components/schemas/io.k8s.api.core.v1.ResourceRequirements");
    EXPECT_EQ(s["io.k8s.api.core.v1.ResourceRequirements"]["properties"]["limits"]["additionalProperties"]["$ref"],
              "#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity");
    // An inline member's fields are the outer message's, as in JSON: a Volume has hostPath directly.
    EXPECT_TRUE(s["io.k8s.api.core.v1.Volume"]["properties"].contains("hostPath"));
    EXPECT_TRUE(s["io.k8s.api.core.v1.Volume"]["properties"].contains("name"));
    // The scale subresource answers with autoscaling/v1 Scale.
    EXPECT_EQ(s["io.k8s.api.autoscaling.v1.Scale"]["x-kubernetes-group-version-kind"][0]["kind"], "Scale");
}

TEST(OpenApi, PatchOperationsNameTheirKindAndTakeFieldValidation) {
    json doc = document("api/v1");
    const json& paths = doc["paths"];
    ASSERT_TRUE(paths.contains("/api/v1/namespaces/{namespace}/pods/{name}"));
    const json& patch = paths["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
    EXPECT_EQ(patch["x-kubernetes-group-version-kind"], (json{{"group", ""}, {"kind", "Pod"}, {"version", "v1"}}));
    bool field_validation = false;
    for (const auto& p : patch["parameters"]) field_validation |= p["name"] == "fieldValidation" && p["in"] == "query";
    EXPECT_TRUE(field_validation);
    EXPECT_TRUE(patch["requestBody"]["content"].contains("application/strategic-merge-patch+json"));
    EXPECT_TRUE(paths.contains("/api/v1/nodes/{name}/status"));
    EXPECT_FALSE(paths.contains("/api/v1/namespaces/{namespace}/nodes"));
    EXPECT_TRUE(paths.contains("/api/v1/pods"));
    EXPECT_EQ(paths["/api/v1/namespaces/{namespace}/pods/{name}/binding"]["post"]["x-kubernetes-group-version-kind"]["kind"], "Binding");
    EXPECT_EQ(paths["/api/v1/namespaces/{namespace}/pods"]["get"]["operationId"], "listCoreV1NamespacedPod");
}

}  // namespace
}  // namespace skiff::apiserver
