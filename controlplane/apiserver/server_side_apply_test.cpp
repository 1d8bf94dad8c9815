// Unit tests of server-side apply and field ownership (managedFields) against Kubernetes.
#include "skiff/apiserver/server_side_apply.hpp"

#include <gtest/gtest.h>

#include "kubernetes_test_schema.hpp"

namespace skiff::apiserver {
namespace {

using json = nlohmann::json;

const char* kT1 = "2024-05-01T10:00:00Z";
const char* kT2 = "2024-05-01T11:00:00Z";
const char* kT3 = "2024-05-01T12:00:00Z";

json web_deployment(int replicas = 2, const std::string& image = "nginx:1.25") {
    json d = json::parse(R"({
      "apiVersion": "apps/v1", "kind": "Deployment",
      "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
      "spec": {"selector": {"matchLabels": {"app": "web"}},
               "template": {"metadata": {"labels": {"app": "web"}},
                            "spec": {"containers": [{"name": "web", "ports": [{"containerPort": 80}]}]}}}})");
    d["spec"]["replicas"] = replicas;
    d["spec"]["template"]["spec"]["containers"][0]["image"] = image;
    return d;
}

ApplyResult apply(const json& live, const json& config, const std::string& manager,
                  bool force = false, const std::string& now = kT1) {
    auto r = server_side_apply(live, config, manager, force, now,
                               testing::schema_for(config.value("kind", "")));
    EXPECT_TRUE(r) << r.error().what();
    return r ? *r : ApplyResult{};
}

json update(const json& old_object, const json& new_object, const std::string& manager,
            const std::string& now = kT2) {
    return record_update(old_object, new_object, manager, "Update", now,
                         testing::schema_for(new_object.value("kind", "")));
}

// The entry of a manager (and operation) in managedFields, or null.
json entry(const json& object, const std::string& manager, const std::string& operation) {
    for (const auto& e : object["metadata"].value("managedFields", json::array()))
        if (e["manager"] == manager && e["operation"] == operation) return e;
    return nullptr;
}

std::vector<std::string> fields_of(const std::vector<Conflict>& conflicts) {
    std::vector<std::string> out;
    for (const auto& c : conflicts) out.push_back(c.manager + " " + c.field);
    return out;
}

TEST(ServerSideApply, CreateRecordsTheAppliedFieldsInKubernetesFormat) {
    ApplyResult r = apply(nullptr, web_deployment(), "kubectl");
    ASSERT_TRUE(r.conflicts.empty());
    json expected_object = web_deployment();
    json managed = r.object["metadata"]["managedFields"];
    r.object["metadata"].erase("managedFields");
    EXPECT_EQ(r.object, expected_object);
    ASSERT_EQ(managed.size(), 1u);
    EXPECT_EQ(managed[0], json::parse(R"({
      "manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": "2024-05-01T10:00:00Z",
      "fieldsType": "FieldsV1",
      "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}},
                   "f:spec": {"f:replicas": {}, "f:selector": {"f:matchLabels": {"f:app": {}}},
                              "f:template": {"f:metadata": {"f:labels": {"f:app": {}}},
                                             "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {
                                                 ".": {}, "f:image": {}, "f:name": {},
                                                 "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                                                     ".": {}, "f:containerPort": {}}}}}}}}}})"));
}

TEST(ServerSideApply, ReapplyingTheSameConfigurationChangesNothing) {
    json live = apply(nullptr, web_deployment(), "kubectl").object;
    live["metadata"]["uid"] = "u1";
    live["metadata"]["resourceVersion"] = "7";
    ApplyResult again = apply(live, web_deployment(), "kubectl", false, kT3);
    EXPECT_TRUE(again.conflicts.empty());
    EXPECT_EQ(again.object, live);  // the time stays too: the caller can skip the write
}

TEST(ServerSideApply, ChangedValuesAreSetAndTheTimeMoves) {
    json live = apply(nullptr, web_deployment(), "kubectl").object;
    ApplyResult r = apply(live, web_deployment(3, "nginx:1.27"), "kubectl", false, kT3);
    ASSERT_TRUE(r.conflicts.empty());
    EXPECT_EQ(r.object["spec"]["replicas"], 3);
    EXPECT_EQ(r.object["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.27");
    EXPECT_EQ(r.object["spec"]["template"]["spec"]["containers"][0]["ports"],
              json::parse(R"([{"containerPort":80}])"));
    EXPECT_EQ(entry(r.object, "kubectl", "Apply")["time"], kT3);
}

TEST(ServerSideApply, FieldsNoLongerAppliedAreRemoved) {
    json config = web_deployment();
    config["metadata"]["labels"]["tier"] = "front";
    config["spec"]["minReadySeconds"] = 5;
    config["spec"]["template"]["spec"]["containers"].push_back(
        {{"name", "sidecar"}, {"image", "busybox"}});
    json live = apply(nullptr, config, "kubectl").object;
    // A field nobody applied (set by a controller, say) stays.
    live["spec"]["progressDeadlineSeconds"] = 600;

    ApplyResult r = apply(live, web_deployment(), "kubectl", false, kT2);
    ASSERT_TRUE(r.conflicts.empty());
    EXPECT_EQ(r.object["metadata"]["labels"], json({{"app", "web"}}));
    EXPECT_FALSE(r.object["spec"].contains("minReadySeconds"));
    EXPECT_EQ(r.object["spec"]["progressDeadlineSeconds"], 600);
    ASSERT_EQ(r.object["spec"]["template"]["spec"]["containers"].size(), 1u);
    EXPECT_EQ(r.object["spec"]["template"]["spec"]["containers"][0]["name"], "web");
    json f = entry(r.object, "kubectl", "Apply")["fieldsV1"];
    EXPECT_FALSE(f["f:spec"].contains("f:minReadySeconds"));
    EXPECT_FALSE(
        f["f:spec"]["f:template"]["f:spec"]["f:containers"].contains("k:{\"name\":\"sidecar\"}"));
}

TEST(ServerSideApply, FieldsAnotherManagerAlsoOwnsStayWhenDropped) {
    json config = web_deployment();
    config["metadata"]["labels"]["team"] = "a";
    json live = apply(nullptr, config, "kubectl").object;
    // Another applier sets the same value: both own it, no conflict.
    json other = {{"apiVersion", "apps/v1"},
                  {"kind", "Deployment"},
                  {"metadata", {{"name", "web"}, {"labels", {{"team", "a"}}}}}};
    ApplyResult shared = apply(live, other, "team-tool", false, kT2);
    ASSERT_TRUE(shared.conflicts.empty());
    EXPECT_EQ(shared.object["metadata"]["labels"]["team"], "a");

    ApplyResult r = apply(shared.object, web_deployment(), "kubectl", false, kT3);
    ASSERT_TRUE(r.conflicts.empty());
    EXPECT_EQ(r.object["metadata"]["labels"]["team"], "a");  // team-tool still owns it
    EXPECT_EQ(entry(r.object, "team-tool", "Apply")["fieldsV1"],
              json::parse(R"({"f:metadata":{"f:labels":{"f:team":{}}}})"));
}

TEST(ServerSideApply, ConflictWithClientSideApplyMatchesKubernetesMessage) {
    // kubectl apply (client-side) created it: its manager owns every field it set.
    json created = update(nullptr, web_deployment(2), "kubectl-client-side-apply", kT1);
    ASSERT_FALSE(entry(created, "kubectl-client-side-apply", "Update").is_null());

    auto r = server_side_apply(created, web_deployment(5), "kubectl", false, kT2,
                               testing::schema_for("Deployment"));
    ASSERT_TRUE(r) << r.error().what();
    ASSERT_EQ(r->conflicts.size(), 1u);
    EXPECT_EQ(r->object, created);  // nothing applied
    const Conflict& c = r->conflicts[0];
    EXPECT_EQ(c.manager, "kubectl-client-side-apply");
    EXPECT_EQ(c.operation, "Update");
    EXPECT_EQ(c.api_version, "apps/v1");
    EXPECT_EQ(c.field, ".spec.replicas");
    EXPECT_EQ(conflict_message(r->conflicts),
              "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using "
              "apps/v1: .spec.replicas");
    EXPECT_EQ(conflict_causes(r->conflicts), json::parse(R"([{"type":"FieldManagerConflict",
        "message":"conflict with \"kubectl-client-side-apply\" using apps/v1","field":".spec.replicas"}])"));
    json status = conflict_status(r->conflicts);
    EXPECT_EQ(status["code"], 409);
    EXPECT_EQ(status["reason"], "Conflict");
    EXPECT_EQ(status["kind"], "Status");
    EXPECT_EQ(status["message"], conflict_message(r->conflicts));
    EXPECT_EQ(status["details"]["causes"], conflict_causes(r->conflicts));

    // The same values as the other manager's are no conflict: the fields become shared.
    ApplyResult same = apply(created, web_deployment(2), "kubectl", false, kT2);
    EXPECT_TRUE(same.conflicts.empty());
    EXPECT_FALSE(
        entry(same.object, "kubectl-client-side-apply", "Update")["fieldsV1"]["f:spec"].is_null());
    EXPECT_TRUE(
        entry(same.object, "kubectl-client-side-apply", "Update")["fieldsV1"]["f:spec"].contains(
            "f:replicas"));
    EXPECT_TRUE(
        entry(same.object, "kubectl", "Apply")["fieldsV1"]["f:spec"].contains("f:replicas"));
}

TEST(ServerSideApply, ForceMovesOwnershipToTheApplier) {
    json created = update(nullptr, web_deployment(2), "kubectl-client-side-apply", kT1);
    ApplyResult r = apply(created, web_deployment(5, "nginx:2"), "kubectl", true, kT2);
    ASSERT_TRUE(r.conflicts.empty());
    EXPECT_EQ(r.object["spec"]["replicas"], 5);
    EXPECT_EQ(r.object["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:2");
    json old_owner = entry(r.object, "kubectl-client-side-apply", "Update")["fieldsV1"];
    EXPECT_FALSE(old_owner["f:spec"].contains("f:replicas"));
    EXPECT_FALSE(old_owner["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"]
                     .contains("f:image"));
    EXPECT_TRUE(old_owner["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"]
                    .contains("f:name"));
    EXPECT_TRUE(entry(r.object, "kubectl", "Apply")["fieldsV1"]["f:spec"].contains("f:replicas"));
    // Now kubectl owns replicas alone: the next apply of another value needs no force.
    ApplyResult next = apply(r.object, web_deployment(6, "nginx:2"), "kubectl", false, kT3);
    EXPECT_TRUE(next.conflicts.empty());
    EXPECT_EQ(next.object["spec"]["replicas"], 6);
}

TEST(ServerSideApply, SeveralConflictsAreGroupedByManager) {
    json created = update(nullptr, web_deployment(2), "kubectl-client-side-apply", kT1);
    json label_owner = created;
    label_owner["metadata"]["labels"]["env"] = "prod";
    json live = update(created, label_owner, "labeler", kT2);
    json config = web_deployment(3, "nginx:9");
    config["metadata"]["labels"]["env"] = "dev";
    auto r =
        server_side_apply(live, config, "kubectl", false, kT3, testing::schema_for("Deployment"));
    ASSERT_TRUE(r);
    EXPECT_EQ(fields_of(r->conflicts),
              (std::vector<std::string>{
                  "kubectl-client-side-apply .spec.replicas",
                  "kubectl-client-side-apply .spec.template.spec.containers[name=\"web\"].image",
                  "labeler .metadata.labels.env"}));
    EXPECT_EQ(conflict_message(r->conflicts),
              "Apply failed with 3 conflicts: conflicts with \"kubectl-client-side-apply\" using "
              "apps/v1:\n"
              "- .spec.replicas\n"
              "- .spec.template.spec.containers[name=\"web\"].image\n"
              "conflicts with \"labeler\" using apps/v1:\n"
              "- .metadata.labels.env");
}

TEST(ServerSideApply, ConflictWithAnotherApplierNamesItWithoutApiVersion) {
    json live = apply(nullptr, web_deployment(2), "ci").object;
    auto r = server_side_apply(live, web_deployment(4), "kubectl", false, kT2,
                               testing::schema_for("Deployment"));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->conflicts.size(), 1u);
    EXPECT_EQ(conflict_message(r->conflicts),
              "Apply failed with 1 conflict: conflict with \"ci\": .spec.replicas");
}

TEST(ServerSideApply, AnUpdateTakesFieldsFromTheApplierAndTheNextApplyConflicts) {
    json live = apply(nullptr, web_deployment(2), "kubectl").object;
    // kubectl scale: a merge patch of spec.replicas, recorded as an Update by its manager.
    json scaled = live;
    scaled["spec"]["replicas"] = 5;
    json after_scale = update(live, scaled, "kubectl-scale");
    EXPECT_FALSE(
        entry(after_scale, "kubectl", "Apply")["fieldsV1"]["f:spec"].contains("f:replicas"));
    json scale_entry = entry(after_scale, "kubectl-scale", "Update");
    EXPECT_EQ(scale_entry["fieldsV1"], json::parse(R"({"f:spec":{"f:replicas":{}}})"));
    EXPECT_EQ(scale_entry["time"], kT2);
    EXPECT_EQ(scale_entry["apiVersion"], "apps/v1");

    auto r = server_side_apply(after_scale, web_deployment(2), "kubectl", false, kT3,
                               testing::schema_for("Deployment"));
    ASSERT_TRUE(r);
    EXPECT_EQ(conflict_message(r->conflicts),
              "Apply failed with 1 conflict: conflict with \"kubectl-scale\" using apps/v1: "
              ".spec.replicas");
    // Leaving replicas out of the configuration avoids it, and leaves the scaled value alone.
    json without_replicas = web_deployment();
    without_replicas["spec"].erase("replicas");
    ApplyResult ok = apply(after_scale, without_replicas, "kubectl", false, kT3);
    EXPECT_TRUE(ok.conflicts.empty());
    EXPECT_EQ(ok.object["spec"]["replicas"], 5);
}

TEST(ServerSideApply, ObjectsWithoutManagedFieldsBelongToBeforeFirstApply) {
    json live = web_deployment(2);
    live["metadata"]["uid"] = "u1";
    auto r = server_side_apply(live, web_deployment(3), "kubectl", false, kT1,
                               testing::schema_for("Deployment"));
    ASSERT_TRUE(r);
    EXPECT_EQ(conflict_message(r->conflicts),
              "Apply failed with 1 conflict: conflict with \"before-first-apply\" using apps/v1: "
              ".spec.replicas");
    ApplyResult same = apply(live, web_deployment(2), "kubectl", false, kT1);
    EXPECT_TRUE(same.conflicts.empty());
    EXPECT_FALSE(entry(same.object, "before-first-apply", "Update").is_null());
    EXPECT_FALSE(entry(same.object, "kubectl", "Apply").is_null());
    EXPECT_EQ(same.object["metadata"]["uid"], "u1");
}

TEST(ServerSideApply, DroppingAnItemKeepsWhatOthersOwnInIt) {
    json config = web_deployment();
    config["spec"]["template"]["spec"]["containers"].push_back(
        {{"name", "side"}, {"image", "busybox"}});
    json live = apply(nullptr, config, "kubectl").object;
    json edited = live;
    edited["spec"]["template"]["spec"]["containers"][1]["env"] =
        json::parse(R"([{"name":"X","value":"1"}])");
    live = update(live, edited, "editor");

    ApplyResult r = apply(live, web_deployment(), "kubectl", false, kT3);
    ASSERT_TRUE(r.conflicts.empty());
    const json& containers = r.object["spec"]["template"]["spec"]["containers"];
    ASSERT_EQ(containers.size(), 2u);
    // The image (kubectl's alone) went; the key and the editor's env stayed.
    EXPECT_EQ(containers[1], json::parse(R"({"name":"side","env":[{"name":"X","value":"1"}]})"));
}

TEST(ServerSideApply, SetsAndDefaultedPortProtocol) {
    json pod = json::parse(
        R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","finalizers":["a.io/x","b.io/y"]},
        "spec":{"containers":[{"name":"c","image":"i","ports":[{"containerPort":80}]}]}})");
    ApplyResult r = apply(nullptr, pod, "kubectl");
    json f = entry(r.object, "kubectl", "Apply")["fieldsV1"];
    EXPECT_EQ(f["f:metadata"]["f:finalizers"],
              json::parse(R"({"v:\"a.io/x\"":{},"v:\"b.io/y\"":{}})"));
    // Someone else adds a finalizer; kubectl drops one of its own: each keeps theirs.
    json live = r.object;
    json with_c = live;
    with_c["metadata"]["finalizers"].push_back("c.io/z");
    live = update(live, with_c, "controller");
    json next = pod;
    next["metadata"]["finalizers"] = json::array({"b.io/y"});
    // The stored port has the defaulted protocol; the configuration doesn't say it: the same item.
    live["spec"]["containers"][0]["ports"][0]["protocol"] = "TCP";
    ApplyResult r2 = apply(live, next, "kubectl", false, kT3);
    ASSERT_TRUE(r2.conflicts.empty()) << conflict_message(r2.conflicts);
    EXPECT_EQ(r2.object["metadata"]["finalizers"], json::parse(R"(["b.io/y","c.io/z"])"));
    EXPECT_EQ(r2.object["spec"]["containers"][0]["ports"],
              json::parse(R"([{"containerPort":80,"protocol":"TCP"}])"));
}

TEST(ServerSideApply, UntrackedMetadataIsNotOwned) {
    json config = web_deployment();
    config["metadata"]["resourceVersion"] = "12";
    config["metadata"]["uid"] = "abc";
    ApplyResult r = apply(nullptr, config, "kubectl");
    json f = entry(r.object, "kubectl", "Apply")["fieldsV1"];
    EXPECT_FALSE(f.contains("f:apiVersion"));
    EXPECT_FALSE(f.contains("f:kind"));
    EXPECT_EQ(f["f:metadata"], json::parse(R"({"f:labels":{"f:app":{}}})"));
}

TEST(ServerSideApply, BadConfigurationsAreErrors) {
    auto schema = testing::schema_for("Deployment");
    json no_name = web_deployment();
    no_name["spec"]["template"]["spec"]["containers"][0].erase("name");
    auto r = server_side_apply(nullptr, no_name, "kubectl", false, kT1, schema);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(),
              "the applied configuration: .spec.template.spec.containers: an item omits the key "
              "field \"name\"");
    json twice = web_deployment();
    twice["spec"]["template"]["spec"]["containers"].push_back(
        twice["spec"]["template"]["spec"]["containers"][0]);
    r = server_side_apply(nullptr, twice, "kubectl", false, kT1, schema);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("duplicate items [name=\"web\"]"), std::string::npos);
    json with_managed = web_deployment();
    with_managed["metadata"]["managedFields"] = json::array();
    EXPECT_FALSE(server_side_apply(nullptr, with_managed, "kubectl", false, kT1, schema));
    EXPECT_FALSE(server_side_apply(nullptr, json::array(), "kubectl", false, kT1, schema));
    EXPECT_FALSE(server_side_apply(nullptr, web_deployment(), "", false, kT1, schema));
    json broken_live = web_deployment();
    broken_live["metadata"]["managedFields"] =
        json::parse(R"([{"manager":"x","operation":"Frob"}])");
    EXPECT_FALSE(server_side_apply(broken_live, web_deployment(), "kubectl", false, kT1, schema));
}

TEST(ServerSideApply, NullsInTheConfigurationAreLeftOut) {
    json config = web_deployment();
    config["spec"]["paused"] = nullptr;
    json live = web_deployment();
    live["spec"]["paused"] = true;
    live = update(nullptr, live, "creator", kT1);
    ApplyResult r = apply(live, config, "kubectl", false, kT2);
    ASSERT_TRUE(r.conflicts.empty());
    EXPECT_EQ(r.object["spec"]["paused"], true);
    EXPECT_FALSE(entry(r.object, "kubectl", "Apply")["fieldsV1"]["f:spec"].contains("f:paused"));
}

TEST(ServerSideApplyUpdates, CreateOwnsEveryFieldWithMembershipMarks) {
    json created = update(nullptr, web_deployment(), "kubectl-create", kT1);
    json e = entry(created, "kubectl-create", "Update");
    ASSERT_FALSE(e.is_null());
    EXPECT_EQ(e["time"], kT1);
    EXPECT_EQ(e["apiVersion"], "apps/v1");
    EXPECT_EQ(e["fieldsType"], "FieldsV1");
    // Maps and keyed lists that appeared are owned themselves too ("."), as Kubernetes records
    // updates.
    EXPECT_EQ(e["fieldsV1"]["f:metadata"], json::parse(R"({"f:labels":{".":{},"f:app":{}}})"));
    EXPECT_EQ(e["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"],
              json::parse(R"({".":{},"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:name":{},
                  "f:ports":{".":{},"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}})"));
    json body = created;
    body["metadata"].erase("managedFields");
    EXPECT_EQ(body, web_deployment());
}

TEST(ServerSideApplyUpdates, UpdatesTakeChangedFieldsAndRemovalsLeaveEveryone) {
    json live = update(nullptr, web_deployment(), "creator", kT1);
    json changed = live;
    changed["metadata"]["labels"]["x"] = "1";
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "v2";
    changed["spec"].erase("replicas");
    json out = update(live, changed, "editor", kT2);
    json creator = entry(out, "creator", "Update")["fieldsV1"];
    json editor = entry(out, "editor", "Update")["fieldsV1"];
    EXPECT_FALSE(creator["f:spec"].contains("f:replicas"));
    EXPECT_FALSE(editor["f:spec"].contains("f:replicas"));
    EXPECT_FALSE(
        creator["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"].contains(
            "f:image"));
    EXPECT_EQ(editor, json::parse(R"({"f:metadata":{"f:labels":{"f:x":{}}},
        "f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{"f:image":{}}}}}}})"));
    EXPECT_EQ(entry(out, "creator", "Update")["time"], kT1);  // it lost fields but wrote nothing
    // Entries are sorted as Kubernetes sorts them (operation, time, manager).
    EXPECT_EQ(out["metadata"]["managedFields"][0]["manager"], "creator");
    EXPECT_EQ(out["metadata"]["managedFields"][1]["manager"], "editor");

    // A write that changes nothing tracked leaves managedFields as they were.
    json touched = out;
    touched["metadata"]["resourceVersion"] = "99";
    EXPECT_EQ(update(out, touched, "toucher", kT3)["metadata"]["managedFields"],
              out["metadata"]["managedFields"]);
}

TEST(ServerSideApplyUpdates, ManagedFieldsSentByTheClientAreKeptOrIgnoredWhenEmpty) {
    json live = update(nullptr, web_deployment(), "creator", kT1);
    json stripped = live;
    stripped["metadata"].erase("managedFields");  // a client that doesn't know them
    EXPECT_EQ(update(live, stripped, "creator", kT2)["metadata"]["managedFields"],
              live["metadata"]["managedFields"]);
    json replaced = live;
    replaced["metadata"]["managedFields"] =
        json::parse(R"([{"manager":"someone","operation":"Update","apiVersion":"apps/v1",
        "fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{}}}}])");
    json out = update(live, replaced, "creator", kT2);
    ASSERT_EQ(out["metadata"]["managedFields"].size(), 1u);
    EXPECT_EQ(out["metadata"]["managedFields"][0]["manager"], "someone");
}

TEST(ServerSideApplyUpdates, MalformedKeyedListsAreOwnedWhole) {
    json pod = json::parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
        "spec":{"containers":[{"image":"no-name"},{"image":"no-name"}]}})");
    json out = update(nullptr, pod, "creator", kT1);
    // The list is one leaf: no item keys. (spec itself gets "." as a map that appeared.)
    EXPECT_EQ(entry(out, "creator", "Update")["fieldsV1"]["f:spec"],
              json::parse(R"({".":{},"f:containers":{}})"));
}

}  // namespace
}  // namespace skiff::apiserver
