// Unit tests of strategic merge patch: kubectl's patches (from the wire doc) and each directive.
#include "skiff/apiserver/strategic_merge.hpp"

#include <gtest/gtest.h>

#include "kubernetes_test_schema.hpp"

namespace skiff::apiserver {
namespace {

using json = nlohmann::json;

json deployment() {
    return json::parse(R"({
      "apiVersion": "apps/v1", "kind": "Deployment",
      "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", "tier": "front"},
                   "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"old\":true}"}},
      "spec": {
        "replicas": 2, "minReadySeconds": 5,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {
          "metadata": {"labels": {"app": "web"}},
          "spec": {
            "containers": [
              {"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80, "protocol": "TCP"}],
               "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
              {"name": "sidecar", "image": "busybox", "args": ["sleep", "3600"]}
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "tolerations": [{"key": "a", "operator": "Exists"}]
          }
        }
      }
    })");
}

json patched(const json& original, const std::string& patch,
             const std::string& kind = "Deployment") {
    auto r = strategic_merge_patch(original, json::parse(patch), testing::schema_for(kind));
    EXPECT_TRUE(r) << r.error().what();
    return r ? *r : json();
}

std::string error_of(const json& original, const std::string& patch,
                     const std::string& kind = "Deployment") {
    auto r = strategic_merge_patch(original, json::parse(patch), testing::schema_for(kind));
    EXPECT_FALSE(r) << "the patch applied: " << (r ? r->dump() : "");
    return r ? "" : r.error().message();
}

const json& containers(const json& d) {
    return d["spec"]["template"]["spec"]["containers"];
}

// kubectl apply, second time, after the image changed in the file (KUBECTL-WIRE.md).
TEST(StrategicMergePatch, KubectlApplyImageChangeWithSetElementOrder) {
    json out = patched(deployment(), R"({
      "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"new\":true}"}},
      "spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
        "containers": [{"image": "nginx:1.27", "name": "web"}]}}}})");
    ASSERT_EQ(containers(out).size(), 2u);
    EXPECT_EQ(containers(out)[0]["name"], "web");
    EXPECT_EQ(containers(out)[0]["image"], "nginx:1.27");
    EXPECT_EQ(containers(out)[0]["ports"],
              deployment()["spec"]["template"]["spec"]["containers"][0]["ports"]);
    EXPECT_EQ(containers(out)[0]["env"].size(), 2u);
    EXPECT_EQ(containers(out)[1], deployment()["spec"]["template"]["spec"]["containers"][1]);
    EXPECT_EQ(out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
              "{\"new\":true}");
    EXPECT_EQ(out["metadata"]["labels"]["tier"], "front");
    EXPECT_FALSE(out["spec"]["template"]["spec"].contains("$setElementOrder/containers"));
    // Everything else is as it was.
    json expected = deployment();
    expected["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
        "{\"new\":true}";
    expected["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27";
    EXPECT_EQ(out, expected);
}

TEST(StrategicMergePatch, KubectlApplyReplicasChange) {
    json out = patched(
        deployment(),
        R"({"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"x"}},"spec":{"replicas":3}})");
    json expected = deployment();
    expected["spec"]["replicas"] = 3;
    expected["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = "x";
    EXPECT_EQ(out, expected);
}

// A field removed from the file: apply's three-way patch sets it to null.
TEST(StrategicMergePatch, KubectlApplyRemovedFieldsAreNull) {
    json out = patched(deployment(),
                       R"({"metadata":{"labels":{"tier":null}},"spec":{"minReadySeconds":null,
      "template":{"spec":{"$setElementOrder/containers":[{"name":"web"},{"name":"sidecar"}],
                          "containers":[{"name":"sidecar","args":null}]}}}})");
    EXPECT_EQ(out["metadata"]["labels"], json({{"app", "web"}}));
    EXPECT_FALSE(out["spec"].contains("minReadySeconds"));
    EXPECT_FALSE(containers(out)[1].contains("args"));
    EXPECT_EQ(containers(out)[1]["image"], "busybox");
}

TEST(StrategicMergePatch, AnnotationUpdatesMergeIntoTheMap) {
    json out = patched(
        deployment(),
        R"({"metadata":{"annotations":{"team":"a","kubectl.kubernetes.io/last-applied-configuration":null}}})");
    EXPECT_EQ(out["metadata"]["annotations"], json({{"team", "a"}}));
    // A null for a key that isn't there is dropped, not stored.
    out =
        patched(deployment(),
                R"({"metadata":{"annotations":{"nothere":null}, "newmap": {"x": null, "y": 1}}})");
    EXPECT_FALSE(out["metadata"]["annotations"].contains("nothere"));
    EXPECT_EQ(out["metadata"]["newmap"], json({{"y", 1}}));
}

TEST(StrategicMergePatch, MapsMergeRecursivelyAndValuesOfAnotherTypeReplace) {
    json out = patched(json::parse(R"({"a":{"b":{"c":1,"d":2}},"e":[1],"f":"x"})"),
                       R"({"a":{"b":{"c":3}},"e":{"now":"a map"},"f":{"g":null,"h":1}})");
    EXPECT_EQ(out, json::parse(R"({"a":{"b":{"c":3,"d":2}},"e":{"now":"a map"},"f":{"h":1}})"));
    EXPECT_EQ(patched(json(), R"({"a":1})"), json::parse(R"({"a":1})"));
}

TEST(StrategicMergePatch, MergeListItemMergesIntoTheItemWithItsKey) {
    json out = patched(deployment(), R"({"spec":{"template":{"spec":{"containers":[
        {"name":"web","env":[{"name":"B","value":"20"},{"name":"C","value":"3"}],"ports":[{"containerPort":443}]}]}}}})");
    const json& web = containers(out)[0];
    EXPECT_EQ(web["name"], "web");
    EXPECT_EQ(web["image"], "nginx:1.25");
    // env: the patch's items in its order (B, C), A (server-only, before B in the original) first.
    EXPECT_EQ(
        web["env"],
        json::parse(
            R"([{"name":"A","value":"1"},{"name":"B","value":"20"},{"name":"C","value":"3"}])"));
    EXPECT_EQ(web["ports"],
              json::parse(R"([{"containerPort":443},{"containerPort":80,"protocol":"TCP"}])"));
    EXPECT_EQ(containers(out)[1], deployment()["spec"]["template"]["spec"]["containers"][1]);
    EXPECT_EQ(containers(out).size(), 2u);
}

// Without $setElementOrder Kubernetes puts the patch's items first in patch order, and weaves the
// items only the server has back in where they stood relative to the patch items it knows.
TEST(StrategicMergePatch, MergeListOrderWithoutSetElementOrderFollowsKubernetes) {
    json original =
        json::parse(R"({"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"c"}]}})");
    auto names = [](const json& pod) {
        std::vector<std::string> out;
        for (const auto& c : pod["spec"]["containers"]) out.push_back(c["name"]);
        return out;
    };
    EXPECT_EQ(
        names(patched(original,
                      R"({"spec":{"containers":[{"name":"c","x":1},{"name":"a","x":1}]}})", "Pod")),
        (std::vector<std::string>{"b", "c", "a"}));
    EXPECT_EQ(names(patched(original, R"({"spec":{"containers":[{"name":"d"}]}})", "Pod")),
              (std::vector<std::string>{"d", "a", "b", "c"}));
    EXPECT_EQ(names(patched(original, R"({"spec":{"containers":[{"name":"b","x":1}]}})", "Pod")),
              (std::vector<std::string>{"a", "b", "c"}));
}

TEST(StrategicMergePatch, SetElementOrderOrdersTheResultAndAddsNewItemsWhereListed) {
    json original =
        json::parse(R"({"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"c"}]}})");
    json out = patched(
        original,
        R"({"spec":{"$setElementOrder/containers":[{"name":"c"},{"name":"a"},{"name":"d"},{"name":"b"}],
                                             "containers":[{"name":"d","image":"new"}]}})",
        "Pod");
    std::vector<std::string> names;
    for (const auto& c : out["spec"]["containers"]) names.push_back(c["name"]);
    EXPECT_EQ(names, (std::vector<std::string>{"c", "a", "d", "b"}));
    // Only the order: no list in the patch.
    out = patched(
        original,
        R"({"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"},{"name":"c"}]}})",
        "Pod");
    EXPECT_EQ(out["spec"]["containers"],
              json::parse(R"([{"name":"b"},{"name":"a"},{"name":"c"}])"));
    // An item of the patch missing from the order list is an error.
    EXPECT_NE(
        error_of(
            original,
            R"({"spec":{"$setElementOrder/containers":[{"name":"a"}],"containers":[{"name":"z"}]}})",
            "Pod")
            .find("$setElementOrder"),
        std::string::npos);
}

TEST(StrategicMergePatch, ListItemWithoutItsMergeKeyIsAnErrorNamingThePath) {
    std::string e =
        error_of(deployment(),
                 R"({"spec":{"template":{"spec":{"containers":[{"name":"web"},{"image":"x"}]}}}})");
    EXPECT_EQ(e, "spec.template.spec.containers[1]: the list item has no merge key \"name\"");
}

TEST(StrategicMergePatch, DeleteDirectiveInAListRemovesTheItem) {
    json out = patched(deployment(), R"({"spec":{"template":{"spec":{
        "$setElementOrder/containers":[{"name":"sidecar"}],
        "containers":[{"$patch":"delete","name":"web"}]}}}})");
    ASSERT_EQ(containers(out).size(), 1u);
    EXPECT_EQ(containers(out)[0]["name"], "sidecar");
    EXPECT_NE(error_of(deployment(),
                       R"({"spec":{"template":{"spec":{"containers":[{"$patch":"delete"}]}}}})")
                  .find("merge key"),
              std::string::npos);
}

TEST(StrategicMergePatch, ReplaceDirectiveInAListReplacesIt) {
    json out = patched(deployment(), R"({"spec":{"template":{"spec":{"containers":[
        {"name":"only","image":"x","drop":null},{"$patch":"replace"}]}}}})");
    EXPECT_EQ(containers(out), json::parse(R"([{"name":"only","image":"x"}])"));
}

TEST(StrategicMergePatch, ReplaceAndDeleteDirectivesOnMaps) {
    json out = patched(deployment(),
                       R"({"spec":{"selector":{"$patch":"replace","matchLabels":{"run":"x"}}}})");
    EXPECT_EQ(out["spec"]["selector"], json::parse(R"({"matchLabels":{"run":"x"}})"));
    out = patched(deployment(), R"({"metadata":{"labels":{"$patch":"delete"}}})");
    EXPECT_EQ(out["metadata"]["labels"], json::object());  // Kubernetes leaves the map, emptied
    out = patched(deployment(), R"({"metadata":{"labels":{"$patch":"merge","x":"y"}}})");
    EXPECT_EQ(out["metadata"]["labels"], json::parse(R"({"app":"web","tier":"front","x":"y"})"));
    out = patched(deployment(), R"({"$patch":"replace","kind":"Other"})");
    EXPECT_EQ(out, json::parse(R"({"kind":"Other"})"));
}

TEST(StrategicMergePatch, MergeDirectiveInAListIsTheDefault) {
    json out = patched(
        deployment(),
        R"({"spec":{"template":{"spec":{"containers":[{"$patch":"merge"},{"name":"web","image":"v2"}]}}}})");
    EXPECT_EQ(containers(out).size(), 2u);
    EXPECT_EQ(containers(out)[0]["image"], "v2");
}

TEST(StrategicMergePatch, UnknownDirectivesAreErrors) {
    EXPECT_EQ(error_of(deployment(), R"({"spec":{"$bogus":1}})"),
              "spec: unknown directive \"$bogus\"");
    EXPECT_NE(error_of(deployment(), R"({"spec":{"$patch":"explode"}})")
                  .find("unknown $patch directive \"explode\""),
              std::string::npos);
    EXPECT_NE(
        error_of(
            deployment(),
            R"({"spec":{"template":{"spec":{"containers":[{"$patch":"frob","name":"web"}]}}}})")
            .find("spec.template.spec.containers[0]: unknown $patch directive"),
        std::string::npos);
    // In a list replaced whole, only the replace marker means anything.
    EXPECT_NE(
        error_of(
            deployment(),
            R"({"spec":{"template":{"spec":{"tolerations":[{"$patch":"delete","key":"a"}]}}}})")
            .find("no merge strategy"),
        std::string::npos);
    EXPECT_NE(
        error_of(deployment(), R"({"metadata":{"$setElementOrder/":[]}})").find("names no field"),
        std::string::npos);
}

TEST(StrategicMergePatch, ListsWithoutMergeStrategyAreReplacedWhole) {
    json out =
        patched(deployment(),
                R"({"spec":{"template":{"spec":{"tolerations":[{"key":"b","operator":"Exists"}],
        "containers":[{"name":"sidecar","args":["sleep","1"]}]}}}})");
    EXPECT_EQ(out["spec"]["template"]["spec"]["tolerations"],
              json::parse(R"([{"key":"b","operator":"Exists"}])"));
    EXPECT_EQ(containers(out)[1]["args"], json::parse(R"(["sleep","1"])"));
    // An empty merge list changes nothing (use null or $patch: replace to clear it); an empty
    // atomic list clears.
    out = patched(deployment(),
                  R"({"spec":{"template":{"spec":{"containers":[],"tolerations":[]}}}})");
    EXPECT_EQ(containers(out).size(), 2u);
    EXPECT_EQ(out["spec"]["template"]["spec"]["tolerations"], json::array());
}

TEST(StrategicMergePatch, PrimitiveMergeListsUnionAndDeleteFromPrimitiveList) {
    json pod = json::parse(R"({"metadata":{"finalizers":["a","b"]},"spec":{}})");
    json out = patched(pod, R"({"metadata":{"finalizers":["c","a"]}})", "Pod");
    // c is new: it comes first; b stood after a in the original, so it stays after it.
    EXPECT_EQ(out["metadata"]["finalizers"], json::parse(R"(["c","a","b"])"));
    out =
        patched(pod, R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["a","zzz"]}})", "Pod");
    EXPECT_EQ(out["metadata"]["finalizers"], json::parse(R"(["b"])"));
    // What kubectl apply sends when a finalizer leaves the file and one joins it.
    out = patched(
        pod,
        R"({"metadata":{"$setElementOrder/finalizers":["b","d"],"$deleteFromPrimitiveList/finalizers":["a"],
                           "finalizers":["d"]}})",
        "Pod");
    EXPECT_EQ(out["metadata"]["finalizers"], json::parse(R"(["b","d"])"));
    EXPECT_NE(
        error_of(pod, R"({"metadata":{"$deleteFromPrimitiveList/finalizers":[{"a":1}]}})", "Pod")
            .find("list of values"),
        std::string::npos);
    EXPECT_NE(error_of(pod, R"({"metadata":{"finalizers":[{"a":1}]}})", "Pod")
                  .find("mixes objects and values"),
              std::string::npos);
}

TEST(StrategicMergePatch, RetainKeysClearsFieldsNotListed) {
    // kubectl switching a Deployment to Recreate: rollingUpdate must go.
    json out = patched(deployment(),
                       R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}})");
    EXPECT_EQ(out["spec"]["strategy"], json::parse(R"({"type":"Recreate"})"));
    // Volumes (merge,retainKeys): the volume source changes from emptyDir to configMap.
    out = patched(deployment(), R"({"spec":{"template":{"spec":{"volumes":[
        {"$retainKeys":["configMap","name"],"name":"data","configMap":{"name":"cm"}}]}}}})");
    EXPECT_EQ(out["spec"]["template"]["spec"]["volumes"],
              json::parse(R"([{"name":"data","configMap":{"name":"cm"}}])"));
    EXPECT_NE(error_of(deployment(),
                       R"({"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":{}}}})")
                  .find("$retainKeys"),
              std::string::npos);
}

TEST(StrategicMergePatch, ServicePortsMergeByPort) {
    json svc = json::parse(
        R"({"spec":{"ports":[{"port":80,"targetPort":8080},{"port":443,"targetPort":8443}]}})");
    json out = patched(
        svc,
        R"({"spec":{"$setElementOrder/ports":[{"port":80},{"port":443}],"ports":[{"port":80,"targetPort":9090}]}})",
        "Service");
    EXPECT_EQ(out["spec"]["ports"],
              json::parse(R"([{"port":80,"targetPort":9090},{"port":443,"targetPort":8443}])"));
}

TEST(StrategicMergePatch, NewItemsAndNewFieldsResolveTheirDirectives) {
    json out = patched(json::parse(R"({"spec":{}})"),
                       R"({"spec":{"containers":[{"name":"a","env":[{"name":"X","value":null}],
        "$setElementOrder/env":[{"name":"X"}]}]}})",
                       "Pod");
    EXPECT_EQ(out, json::parse(R"({"spec":{"containers":[{"name":"a","env":[{"name":"X"}]}]}})"));
}

TEST(StrategicMergePatch, BadInputsAreErrors) {
    EXPECT_FALSE(strategic_merge_patch(json::object(), json::array(), testing::schema_for("Pod")));
    EXPECT_FALSE(strategic_merge_patch(json(5), json::object(), testing::schema_for("Pod")));
    EXPECT_NE(error_of(deployment(), R"({"spec":{"template":{"spec":{"containers":[[1]]}}}})")
                  .find("lists of lists"),
              std::string::npos);
    // No schema at all: maps still merge, lists are replaced.
    auto r = strategic_merge_patch(json::parse(R"({"a":{"b":1},"l":[1,2]})"),
                                   json::parse(R"({"a":{"c":2},"l":[3]})"), nullptr);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, json::parse(R"({"a":{"b":1,"c":2},"l":[3]})"));
}

TEST(StrategicMergePatch, TheOriginalIsNotModified) {
    json original = deployment();
    json patch = json::parse(
        R"({"spec":{"replicas":9,"template":{"spec":{"containers":[{"name":"web","image":"z"}]}}}})");
    json patch_copy = patch;
    ASSERT_TRUE(strategic_merge_patch(original, patch, testing::schema_for("Deployment")));
    EXPECT_EQ(original, deployment());
    EXPECT_EQ(patch, patch_copy);
}

}  // namespace
}  // namespace skiff::apiserver
