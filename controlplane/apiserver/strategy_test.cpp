// Unit tests of the per-kind strategies: defaults, validation messages as Kubernetes words them, update
// rules, the 422 body, hostile JSON types, and the registry answering with them over a real SQLite store.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <random>

#include "skiff/apiserver/registry.hpp"
#include "skiff/apiserver/strategy.hpp"
#include "skiff/store/store.hpp"

namespace skiff::apiserver {
namespace {

using json = nlohmann::json;

const ResourceInfo& kind(const char* group, const char* plural) {
    const ResourceInfo* r = find_resource(group, "v1", plural);
    EXPECT_NE(r, nullptr) << plural;
    return *r;
}
const ResourceInfo& pods() {
    return kind("", "pods");
}
const ResourceInfo& deployments() {
    return kind("apps", "deployments");
}
const ResourceInfo& services() {
    return kind("", "services");
}

std::vector<std::string> lines(const std::vector<FieldError>& errors) {
    std::vector<std::string> out;
    for (const auto& e : errors) out.push_back(to_string(e));
    return out;
}

// The errors of creating `object` after defaults, as "field: message" lines.
std::vector<std::string> create_errors(const ResourceInfo& info, json object) {
    apply_defaults(info, object);
    return lines(validate_create(info, object));
}

bool has_line(const std::vector<std::string>& got, const std::string& line) {
    return std::find(got.begin(), got.end(), line) != got.end();
}

#define EXPECT_LINE(got, line) \
    EXPECT_TRUE(has_line(got, line)) << "missing: " << (line) << "\ngot:\n" << ::testing::PrintToString(got)

json pod(const std::string& name = "web") {
    return {{"metadata", {{"name", name}, {"namespace", "default"}}},
            {"spec", {{"containers", json::array({{{"name", "web"}, {"image", "busybox"}}})}}}};
}

json deployment(const std::string& name = "web") {
    return {{"metadata", {{"name", name}, {"namespace", "default"}}},
            {"spec",
             {{"selector", {{"matchLabels", {{"app", "web"}}}}},
              {"template",
               {{"metadata", {{"labels", {{"app", "web"}}}}},
                {"spec", {{"containers", json::array({{{"name", "web"}, {"image", "busybox:1.36"}}})}}}}}}}};
}

json service() {
    return {{"metadata", {{"name", "web"}, {"namespace", "default"}}},
            {"spec", {{"selector", {{"app", "web"}}}, {"ports", json::array({{{"port", 80}}})}}}};
}

TEST(StrategyDefaults, PodAsKubectlShowsIt) {
    json p = pod();
    p["spec"]["containers"][0]["ports"] = json::array({{{"containerPort", 80}}});
    apply_defaults(pods(), p);
    const json& s = p["spec"];
    EXPECT_EQ(s["restartPolicy"], "Always");
    EXPECT_EQ(s["dnsPolicy"], "ClusterFirst");
    EXPECT_EQ(s["terminationGracePeriodSeconds"], 30);
    EXPECT_EQ(s["schedulerName"], "default-scheduler");
    EXPECT_EQ(s["securityContext"], json::object());
    EXPECT_EQ(s["enableServiceLinks"], true);
    EXPECT_EQ(s["priority"], 0);
    const json& c = s["containers"][0];
    EXPECT_EQ(c["imagePullPolicy"], "Always");
    EXPECT_EQ(c["terminationMessagePath"], "/dev/termination-log");
    EXPECT_EQ(c["terminationMessagePolicy"], "File");
    EXPECT_EQ(c["resources"], json::object());
    EXPECT_EQ(c["ports"][0]["protocol"], "TCP");
    EXPECT_EQ(p["status"]["phase"], "Pending");
    EXPECT_EQ(p["status"]["qosClass"], "BestEffort");
    EXPECT_TRUE(create_errors(pods(), p).empty()) << ::testing::PrintToString(create_errors(pods(), p));
}

TEST(StrategyDefaults, PullPolicyFollowsTheTag) {
    for (auto [image, policy] :
         std::vector<std::pair<const char*, const char*>>{{"busybox", "Always"},
                                                          {"busybox:latest", "Always"},
                                                          {"busybox:1.36", "IfNotPresent"},
                                                          {"localhost:5000/busybox", "Always"},
                                                          {"localhost:5000/busybox:1", "IfNotPresent"},
                                                          {"busybox@sha256:0123", "IfNotPresent"}}) {
        json p = pod();
        p["spec"]["containers"][0]["image"] = image;
        apply_defaults(pods(), p);
        EXPECT_EQ(p["spec"]["containers"][0]["imagePullPolicy"], policy) << image;
    }
    json p = pod();
    p["spec"]["containers"][0]["imagePullPolicy"] = "Never";
    apply_defaults(pods(), p);
    EXPECT_EQ(p["spec"]["containers"][0]["imagePullPolicy"], "Never") << "a given value stays";
}

TEST(StrategyDefaults, QosClassAndRequestsFromLimits) {
    json p = pod();
    p["spec"]["containers"][0]["resources"] = {{"limits", {{"cpu", "500m"}, {"memory", "64Mi"}}}};
    apply_defaults(pods(), p);
    EXPECT_EQ(p["spec"]["containers"][0]["resources"]["requests"], (json{{"cpu", "500m"}, {"memory", "64Mi"}}));
    EXPECT_EQ(p["status"]["qosClass"], "Guaranteed");
    json q = pod();
    q["spec"]["containers"][0]["resources"] = {{"requests", {{"cpu", "100m"}}}};
    apply_defaults(pods(), q);
    EXPECT_EQ(q["status"]["qosClass"], "Burstable");
}

TEST(StrategyDefaults, DeploymentAndTemplate) {
    json d = deployment();
    apply_defaults(deployments(), d);
    const json& s = d["spec"];
    EXPECT_EQ(s["replicas"], 1);
    EXPECT_EQ(s["strategy"],
              (json{{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxSurge", "25%"}, {"maxUnavailable", "25%"}}}}));
    EXPECT_EQ(s["revisionHistoryLimit"], 10);
    EXPECT_EQ(s["progressDeadlineSeconds"], 600);
    const json& t = s["template"]["spec"];
    EXPECT_EQ(t["restartPolicy"], "Always");
    EXPECT_EQ(t["containers"][0]["imagePullPolicy"], "IfNotPresent");
    EXPECT_FALSE(t.contains("enableServiceLinks")) << "a pod-only default";
    EXPECT_FALSE(d.contains("status"));
    json recreate = deployment();
    recreate["spec"]["strategy"] = {{"type", "Recreate"}};
    apply_defaults(deployments(), recreate);
    EXPECT_FALSE(recreate["spec"]["strategy"].contains("rollingUpdate"));
}

TEST(StrategyDefaults, ServiceNamespaceSecret) {
    json s = service();
    s["spec"]["type"] = "NodePort";
    s["spec"]["clusterIP"] = "10.96.0.10";
    apply_defaults(services(), s);
    EXPECT_EQ(s["spec"]["sessionAffinity"], "None");
    EXPECT_EQ(s["spec"]["ports"][0]["protocol"], "TCP");
    EXPECT_EQ(s["spec"]["ports"][0]["targetPort"], 80);
    EXPECT_EQ(s["spec"]["externalTrafficPolicy"], "Cluster");
    EXPECT_EQ(s["spec"]["internalTrafficPolicy"], "Cluster");
    EXPECT_EQ(s["spec"]["ipFamilies"], json::array({"IPv4"}));
    EXPECT_EQ(s["spec"]["ipFamilyPolicy"], "SingleStack");
    EXPECT_EQ(s["spec"]["clusterIPs"], json::array({"10.96.0.10"}));
    EXPECT_FALSE(s["spec"].contains("nodePort")) << "allocation is the registry's";
    json plain = service();
    apply_defaults(services(), plain);
    EXPECT_EQ(plain["spec"]["type"], "ClusterIP");
    EXPECT_FALSE(plain["spec"].contains("externalTrafficPolicy"));

    json ns = {{"metadata", {{"name", "demo"}}}};
    apply_defaults(kind("", "namespaces"), ns);
    EXPECT_EQ(ns["spec"]["finalizers"], json::array({"kubernetes"}));
    EXPECT_EQ(ns["status"]["phase"], "Active");
    EXPECT_EQ(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "demo");

    json secret = {{"metadata", {{"name", "s"}, {"namespace", "default"}}},
                   {"stringData", {{"user", "admin"}, {"k", "ab"}}}};
    apply_defaults(kind("", "secrets"), secret);
    EXPECT_EQ(secret["type"], "Opaque");
    EXPECT_EQ(secret["data"], (json{{"user", "YWRtaW4="}, {"k", "YWI="}}));
    EXPECT_FALSE(secret.contains("stringData"));
}

TEST(StrategyResponse, InvalidStatusAsKubeApiserverSendsIt) {
    json d = deployment();
    d["spec"]["replicas"] = -1;
    apply_defaults(deployments(), d);
    auto errors = validate_create(deployments(), d);
    ASSERT_EQ(errors.size(), 1u) << ::testing::PrintToString(lines(errors));
    EXPECT_EQ(errors[0], (FieldError{"FieldValueInvalid", "spec.replicas",
                                     "Invalid value: -1: must be greater than or equal to 0"}));
    Response r = invalid_response(deployments(), "web", errors);
    EXPECT_EQ(r.status, 422);
    json body = json::parse(r.body);
    EXPECT_EQ(body["kind"], "Status");
    EXPECT_EQ(body["status"], "Failure");
    EXPECT_EQ(body["reason"], "Invalid");
    EXPECT_EQ(body["code"], 422);
    EXPECT_EQ(
        body["message"],
        "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0");
    EXPECT_EQ(body["details"],
              (json{{"name", "web"},
                    {"group", "apps"},
                    {"kind", "Deployment"},
                    {"causes", json::array({{{"reason", "FieldValueInvalid"},
                                             {"message", "Invalid value: -1: must be greater than or equal to 0"},
                                             {"field", "spec.replicas"}}})}}));

    // Several: bracketed, each distinct line once; a core kind has no group.
    std::vector<FieldError> two = {
        {"FieldValueRequired", "spec.containers", "Required value"},
        {"FieldValueRequired", "spec.containers", "Required value"},
        {"FieldValueNotSupported", "spec.restartPolicy",
         "Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""}};
    body = json::parse(invalid_response(pods(), "p", two).body);
    EXPECT_EQ(body["message"],
              "Pod \"p\" is invalid: [spec.containers: Required value, spec.restartPolicy: Unsupported value: "
              "\"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"]");
    EXPECT_FALSE(body["details"].contains("group"));
    EXPECT_EQ(body["details"]["causes"].size(), 3u);
}

TEST(StrategyValidation, Metadata) {
    json cm = {
        {"metadata",
         {{"name", "Bad_Name"},
          {"namespace", "default"},
          {"labels", {{"app", "-web"}, {"bad key!", "x"}}},
          {"annotations", {{"example.com/ok", "1"}, {"/nope", "x"}}},
          {"finalizers", json::array({"example.com/f", "bad finalizer"})},
          {"ownerReferences",
           json::array(
               {{{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"name", "a"}, {"uid", "1"}, {"controller", true}},
                {{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"name", "b"}, {"uid", "2"}, {"controller", true}},
                {{"apiVersion", ""}, {"kind", "X"}, {"name", "c"}, {"uid", "3"}}})}}}};
    auto got = create_errors(kind("", "configmaps"), cm);
    EXPECT_LINE(got,
                "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case "
                "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
                "'example.com', regex used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
    EXPECT_LINE(got,
                "metadata.labels: Invalid value: \"-web\": a valid label must be an empty string or consist of "
                "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
                "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
                "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");
    EXPECT_LINE(got,
                "metadata.labels: Invalid value: \"bad key!\": name part must consist of alphanumeric characters, '-', "
                "'_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
                "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
    EXPECT_LINE(got, "metadata.annotations: Invalid value: \"/nope\": prefix part must be non-empty");
    EXPECT_LINE(
        got,
        "metadata.ownerReferences: Invalid value: [{\"apiVersion\":\"apps/v1\",\"controller\":true,\"kind\":"
        "\"ReplicaSet\",\"name\":\"a\",\"uid\":\"1\"},{\"apiVersion\":\"apps/v1\",\"controller\":true,\"kind\":"
        "\"ReplicaSet\",\"name\":\"b\",\"uid\":\"2\"},{\"apiVersion\":\"\",\"kind\":\"X\",\"name\":\"c\",\"uid\":"
        "\"3\"}]: Only one reference can have Controller set to true. Found \"true\" in references for "
        "ReplicaSet/a and ReplicaSet/b");
    EXPECT_LINE(got, "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be empty");
    EXPECT_EQ(std::count_if(got.begin(), got.end(),
                            [](const std::string& l) { return l.rfind("metadata.finalizers", 0) == 0; }),
              1);

    json big = {{"metadata",
                 {{"name", "big"}, {"namespace", "default"}, {"annotations", {{"a", std::string(256 * 1024, 'x')}}}}}};
    EXPECT_LINE(create_errors(kind("", "configmaps"), big),
                "metadata.annotations: Too long: may not be more than 262144 bytes");

    json unnamed = {{"metadata", {{"namespace", "default"}}}};
    EXPECT_LINE(create_errors(kind("", "configmaps"), unnamed),
                "metadata.name: Required value: name or generateName is required");
    // Services are DNS-1035 labels, namespaces RFC 1123 labels.
    json svc = service();
    svc["metadata"]["name"] = "1web";
    EXPECT_LINE(create_errors(services(), svc),
                "metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist of lower case alphanumeric "
                "characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. "
                "'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')");
    json ns = {{"metadata", {{"name", "a.b"}}}};
    EXPECT_LINE(create_errors(kind("", "namespaces"), ns),
                "metadata.name: Invalid value: \"a.b\": must not contain dots");
}

TEST(StrategyValidation, PodSpec) {
    json p = pod();
    p["spec"]["containers"] = json::array();
    EXPECT_EQ(create_errors(pods(), p), std::vector<std::string>{"spec.containers: Required value"});

    p = pod();
    json& c = p["spec"]["containers"][0];
    c["ports"] = json::array({{{"containerPort", 70000}, {"protocol", "ICMP"}, {"name", "http"}},
                              {{"containerPort", 81}, {"name", "http"}}});
    c["volumeMounts"] = json::array({{{"name", "data"}, {"mountPath", "/data"}}});
    c["resources"] = {{"limits", {{"cpu", "500m"}}}, {"requests", {{"cpu", "1"}, {"memory", "lots"}}}};
    c["env"] = json::array({{{"name", "A=B"}, {"value", "x"}}});
    p["spec"]["initContainers"] = json::array({{{"name", "web"}, {"image", ""}}});
    p["spec"]["restartPolicy"] = "Sometimes";
    p["spec"]["dnsPolicy"] = "Bogus";
    auto got = create_errors(pods(), p);
    EXPECT_LINE(
        got, "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive");
    EXPECT_LINE(got,
                "spec.containers[0].ports[0].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", "
                "\"TCP\", \"UDP\"");
    EXPECT_LINE(got, "spec.containers[0].ports[1].name: Duplicate value: \"http\"");
    EXPECT_LINE(got, "spec.containers[0].volumeMounts[0].name: Not found: \"data\"");
    EXPECT_LINE(
        got,
        "spec.containers[0].resources.requests: Invalid value: \"1\": must be less than or equal to cpu limit of 500m");
    EXPECT_LINE(got,
                "spec.containers[0].resources.requests[memory]: Invalid value: \"lots\": quantities must match the "
                "regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
    EXPECT_LINE(
        got,
        "spec.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist "
        "only of printable ASCII characters other than '='");
    EXPECT_LINE(got, "spec.initContainers[0].image: Required value");
    EXPECT_LINE(got, "spec.initContainers[0].name: Duplicate value: \"web\"");
    EXPECT_LINE(
        got,
        "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"");
    EXPECT_LINE(got,
                "spec.dnsPolicy: Unsupported value: \"Bogus\": supported values: \"ClusterFirstWithHostNet\", "
                "\"ClusterFirst\", \"Default\", \"None\"");

    p = pod();
    p["spec"]["containers"][0]["name"] = "Web";
    p["spec"]["containers"][0]["imagePullPolicy"] = "Sometimes";
    got = create_errors(pods(), p);
    EXPECT_LINE(
        got,
        "spec.containers[0].name: Invalid value: \"Web\": a lowercase RFC 1123 label must consist of lower case "
        "alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
        "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')");
    EXPECT_LINE(got,
                "spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", "
                "\"IfNotPresent\", \"Never\"");
}

TEST(StrategyValidation, DeploymentSpec) {
    json d = deployment();
    d["spec"]["template"]["metadata"]["labels"] = {{"app", "other"}};
    EXPECT_EQ(
        create_errors(deployments(), d),
        std::vector<std::string>{"spec.template.metadata.labels: Invalid value: {\"app\":\"other\"}: `selector` does "
                                 "not match template `labels`"});
    d = deployment();
    d["spec"].erase("selector");
    auto got = create_errors(deployments(), d);
    EXPECT_LINE(got, "spec.selector: Required value");
    EXPECT_LINE(
        got,
        "spec.template.metadata.labels: Invalid value: {\"app\":\"web\"}: `selector` does not match template `labels`");
    d = deployment();
    d["spec"]["selector"] = json::object();
    EXPECT_EQ(create_errors(deployments(), d),
              std::vector<std::string>{"spec.selector: Invalid value: {}: empty selector is invalid for deployment"});
    d = deployment();
    d["spec"]["selector"] = {
        {"matchExpressions", json::array({{{"key", "app"}, {"operator", "In"}, {"values", {"web", "api"}}}})}};
    EXPECT_TRUE(create_errors(deployments(), d).empty()) << ::testing::PrintToString(create_errors(deployments(), d));
    d = deployment();
    d["spec"]["strategy"] = {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxSurge", 0}, {"maxUnavailable", "0%"}}}};
    d["spec"]["template"]["spec"]["restartPolicy"] = "Never";
    d["spec"]["revisionHistoryLimit"] = -2;
    got = create_errors(deployments(), d);
    EXPECT_LINE(got,
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"0%\": may not be 0 when `maxSurge` is 0");
    EXPECT_LINE(got, "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"");
    EXPECT_LINE(got, "spec.revisionHistoryLimit: Invalid value: -2: must be greater than or equal to 0");
    d = deployment();
    d["spec"]["strategy"] = {{"type", "Canary"}};
    EXPECT_LINE(
        create_errors(deployments(), d),
        "spec.strategy: Unsupported value: {\"type\":\"Canary\"}: supported values: \"Recreate\", \"RollingUpdate\"");
    d = deployment();
    d["spec"]["template"]["spec"]["containers"][0].erase("image");
    EXPECT_EQ(create_errors(deployments(), d),
              std::vector<std::string>{"spec.template.spec.containers[0].image: Required value"});
}

TEST(StrategyValidation, ServiceSpec) {
    json s = service();
    s["spec"]["ports"] = json::array();
    EXPECT_EQ(create_errors(services(), s), std::vector<std::string>{"spec.ports: Required value"});
    s["spec"]["clusterIP"] = "None";
    EXPECT_TRUE(create_errors(services(), s).empty()) << "headless services need no ports";

    s = service();
    s["spec"]["ports"] =
        json::array({{{"port", 80}, {"nodePort", 30080}}, {{"port", 0}, {"name", "b"}, {"targetPort", "Not_A_Name"}}});
    s["spec"]["clusterIP"] = "10.96.0.300";
    auto got = create_errors(services(), s);
    EXPECT_LINE(got, "spec.ports[0].name: Required value");
    EXPECT_LINE(got, "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive");
    EXPECT_LINE(got,
                "spec.ports[1].targetPort: Invalid value: \"Not_A_Name\": must contain only alpha-numeric characters "
                "(a-z, 0-9), and hyphens (-)");
    EXPECT_LINE(got, "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'");
    EXPECT_LINE(got,
                "spec.clusterIPs[0]: Invalid value: \"10.96.0.300\": must be a valid IP address, (e.g. 10.9.8.7 or "
                "2001:db8::ffff)");

    s = service();
    s["spec"]["type"] = "NodePort";
    s["spec"]["ports"][0]["nodePort"] = 80;
    EXPECT_EQ(
        create_errors(services(), s),
        std::vector<std::string>{"spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. "
                                 "The range of valid ports is 30000-32767"});
    s = service();
    s["spec"]["type"] = "Magic";
    EXPECT_LINE(create_errors(services(), s),
                "spec.type: Unsupported value: \"Magic\": supported values: \"ClusterIP\", \"ExternalName\", "
                "\"LoadBalancer\", \"NodePort\"");
    s = {{"metadata", {{"name", "ext"}, {"namespace", "default"}}}, {"spec", {{"type", "ExternalName"}}}};
    EXPECT_EQ(create_errors(services(), s), std::vector<std::string>{"spec.externalName: Required value"});
    s["spec"]["externalName"] = "db.example.com.";
    EXPECT_TRUE(create_errors(services(), s).empty());
}

TEST(StrategyValidation, DataKindsAndOthers) {
    json cm = {{"metadata", {{"name", "c"}, {"namespace", "default"}}}, {"data", {{"ok.key", "1"}, {"bad key", "2"}}}};
    EXPECT_EQ(create_errors(kind("", "configmaps"), cm),
              std::vector<std::string>{"data[bad key]: Invalid value: \"bad key\": a valid config key must consist of "
                                       "alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
                                       "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"});
    cm["data"] = {{"a", std::string(1024 * 1024 + 1, 'x')}};
    EXPECT_EQ(create_errors(kind("", "configmaps"), cm),
              std::vector<std::string>{"[]: Too long: may not be more than 1048576 bytes"});

    json secret = {{"metadata", {{"name", "s"}, {"namespace", "default"}}}, {"data", {{"a", "not base64!"}}}};
    EXPECT_LINE(create_errors(kind("", "secrets"), secret),
                "data[a]: Invalid value: \"<secret contents redacted>\": illegal base64 data");
    secret = {{"metadata", {{"name", "s"}, {"namespace", "default"}}},
              {"type", "kubernetes.io/tls"},
              {"data", json::object()}};
    EXPECT_EQ(create_errors(kind("", "secrets"), secret),
              (std::vector<std::string>{"data[tls.crt]: Required value", "data[tls.key]: Required value"}));

    json slice = {{"metadata", {{"name", "web-1"}, {"namespace", "default"}}},
                  {"endpoints", json::array({{{"addresses", json::array()}}, {{"addresses", {"10.0.0.300"}}}})}};
    auto got = create_errors(kind("discovery.k8s.io", "endpointslices"), slice);
    EXPECT_LINE(got, "addressType: Required value");
    EXPECT_LINE(got, "endpoints[0].addresses: Required value: must contain at least 1 address");
    slice["addressType"] = "IPv4";
    EXPECT_LINE(create_errors(kind("discovery.k8s.io", "endpointslices"), slice),
                "endpoints[1].addresses[0]: Invalid value: \"10.0.0.300\": must be a valid IPv4 address");
    slice["addressType"] = "IPv5";
    EXPECT_LINE(create_errors(kind("discovery.k8s.io", "endpointslices"), slice),
                "addressType: Unsupported value: \"IPv5\": supported values: \"FQDN\", \"IPv4\", \"IPv6\"");

    json lease = {{"metadata", {{"name", "l"}, {"namespace", "kube-node-lease"}}},
                  {"spec", {{"leaseDurationSeconds", 0}}}};
    EXPECT_EQ(create_errors(kind("coordination.k8s.io", "leases"), lease),
              std::vector<std::string>{"spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"});

    json event = {{"metadata", {{"name", "web.1"}, {"namespace", "default"}}},
                  {"involvedObject", {{"kind", "Pod"}, {"apiVersion", "v1"}, {"name", "web"}, {"namespace", "other"}}}};
    EXPECT_EQ(
        create_errors(kind("", "events"), event),
        std::vector<std::string>{"involvedObject.namespace: Invalid value: \"other\": does not match event.namespace"});

    json node = {
        {"metadata", {{"name", "n1"}}},
        {"spec", {{"podCIDRs", {"10.88.0.0/33"}}, {"taints", json::array({{{"key", "k"}, {"effect", "Sometimes"}}})}}}};
    got = create_errors(kind("", "nodes"), node);
    EXPECT_LINE(got,
                "spec.podCIDRs[0]: Invalid value: \"10.88.0.0/33\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or "
                "2001:db8::/64)");
    EXPECT_LINE(got,
                "spec.taints[0].effect: Unsupported value: \"Sometimes\": supported values: \"NoExecute\", "
                "\"NoSchedule\", \"PreferNoSchedule\"");
}

TEST(StrategyValidation, WrongJsonTypesAreErrorsNotCrashes) {
    json d = deployment();
    d["spec"]["replicas"] = "3";
    d["spec"]["template"]["spec"]["containers"][0]["ports"] = {{"containerPort", 80}};
    auto got = create_errors(deployments(), d);
    EXPECT_LINE(got,
                "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"");
    EXPECT_LINE(got,
                "spec.template.spec.containers[0].ports: Invalid value: \"object\": "
                "spec.template.spec.containers[0].ports in body must be of type array: \"object\"");
    d = deployment();
    d["metadata"]["labels"] = {{"app", 5}};
    got = create_errors(deployments(), d);
    EXPECT_LINE(got,
                "metadata.labels[app]: Invalid value: \"integer\": metadata.labels[app] in body must be of type "
                "string: \"integer\"");

    // Every value of valid objects swapped for values of every other type: defaults and validation must
    // answer (errors or not), never throw or crash.
    const std::vector<json> replacements = {json(),
                                            json(7),
                                            json(-1.5),
                                            json("x"),
                                            json(true),
                                            json::array({1, "a"}),
                                            json::object({{"k", json::array()}})};
    std::mt19937 rng(42);
    for (const auto& [info, base] : std::vector<std::pair<const ResourceInfo*, json>>{
             {&pods(), pod()}, {&deployments(), deployment()}, {&services(), service()}}) {
        json flat_base = base;
        apply_defaults(*info, flat_base);
        std::vector<std::string> pointers;
        const json flat = flat_base.flatten();
        for (const auto& [pointer, value] : flat.items()) pointers.push_back(pointer);
        for (int round = 0; round < 400; ++round) {
            // A leaf, or one of its parents (an object where a list was, and so on), gets another type.
            std::string pointer = pointers[rng() % pointers.size()];
            for (unsigned cut = rng() % 3; cut > 0 && pointer.rfind('/') != std::string::npos && pointer.rfind('/') > 0;
                 --cut)
                pointer = pointer.substr(0, pointer.rfind('/'));
            json object = flat_base;
            object[json::json_pointer(pointer)] = replacements[rng() % replacements.size()];
            EXPECT_NO_THROW({
                apply_defaults(*info, object);
                auto errors = validate_create(*info, object);
                auto update_errors = validate_update(*info, object, flat_base);
                for (const auto& e : errors) EXPECT_NE(e.type, "InternalError") << e.message;
                for (const auto& e : update_errors) EXPECT_NE(e.type, "InternalError") << e.message;
            });
        }
    }
    for (const json& garbage : replacements) {
        json object = garbage;
        EXPECT_NO_THROW({
            apply_defaults(pods(), object);
            validate_create(pods(), object);
            prepare_for_update(services(), object, garbage);
            validate_update(services(), object, garbage);
        });
    }
}

// The stored object (defaulted) and its update, as the registry hands them to validate_update.
std::vector<std::string> update_errors(const ResourceInfo& info, json old, json changed) {
    apply_defaults(info, old);
    prepare_for_update(info, changed, old);
    apply_defaults(info, changed);
    return lines(validate_update(info, changed, old));
}

TEST(StrategyUpdate, PodSpecIsImmutableButImages) {
    json p = pod();
    p["spec"]["containers"][0]["ports"] = json::array({{{"containerPort", 80}}});
    apply_defaults(pods(), p);  // as a client GETs it
    json image = p;
    image["spec"]["containers"][0]["image"] = "busybox:1.36";
    EXPECT_TRUE(update_errors(pods(), p, image).empty());
    json deadline = p;
    deadline["spec"]["activeDeadlineSeconds"] = 60;
    EXPECT_TRUE(update_errors(pods(), p, deadline).empty());
    json labels = p;
    labels["metadata"]["labels"] = {{"tier", "front"}};
    EXPECT_TRUE(update_errors(pods(), p, labels).empty());
    json bound = p;
    bound["spec"]["nodeName"] = "node-a";
    EXPECT_TRUE(update_errors(pods(), p, bound).empty()) << "no pods/binding yet: a node may be assigned once";
    json rebound = bound;
    rebound["spec"]["nodeName"] = "node-b";
    EXPECT_EQ(update_errors(pods(), bound, rebound).size(), 1u);

    json port = p;
    port["spec"]["containers"][0]["ports"][0]["containerPort"] = 8080;
    auto got = update_errors(pods(), p, port);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(
        got[0].rfind("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
                     "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions "
                     "to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
                     "previously negative)\n",
                     0),
        0u)
        << got[0];
    EXPECT_NE(got[0].find("containers[0].ports[0].containerPort: 80"), std::string::npos) << got[0];
    EXPECT_NE(got[0].find("containers[0].ports[0].containerPort: 8080"), std::string::npos) << got[0];

    json more = p;
    more["spec"]["containers"].push_back({{"name", "side"}, {"image", "busybox"}});
    EXPECT_EQ(update_errors(pods(), p, more),
              std::vector<std::string>{"spec.containers: Forbidden: pod updates may not add or remove containers"});
    json raised = deadline;
    raised["spec"]["activeDeadlineSeconds"] = 120;
    EXPECT_EQ(update_errors(pods(), deadline, raised),
              std::vector<std::string>{
                  "spec.activeDeadlineSeconds: Invalid value: 120: must be less than or equal to previous value"});
}

TEST(StrategyUpdate, SelectorsClusterIPsAndTypes) {
    json d = deployment();
    json moved = d;
    moved["spec"]["selector"]["matchLabels"]["app"] = "api";
    moved["spec"]["template"]["metadata"]["labels"]["app"] = "api";
    EXPECT_EQ(update_errors(deployments(), d, moved),
              std::vector<std::string>{
                  "spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"api\"}}: field is immutable"});
    json scaled = d;
    scaled["spec"]["replicas"] = 5;
    EXPECT_TRUE(update_errors(deployments(), d, scaled).empty());

    json s = service();
    s["spec"]["type"] = "NodePort";
    s["spec"]["clusterIP"] = "10.96.0.10";
    s["spec"]["ports"][0]["nodePort"] = 30080;
    json changed = s;
    changed["spec"]["clusterIP"] = "10.96.0.20";
    EXPECT_EQ(update_errors(services(), s, changed),
              std::vector<std::string>{"spec.clusterIPs[0]: Invalid value: [\"10.96.0.20\"]: may not change once set"});
    // A client that leaves the allocated values out (kubectl replace of the original file) keeps them.
    json omitted = service();
    omitted["spec"]["type"] = "NodePort";
    json stored = s;
    apply_defaults(services(), stored);
    prepare_for_update(services(), omitted, stored);
    EXPECT_EQ(omitted["spec"]["clusterIP"], "10.96.0.10");
    EXPECT_EQ(omitted["spec"]["clusterIPs"], json::array({"10.96.0.10"}));
    EXPECT_EQ(omitted["spec"]["ports"][0]["nodePort"], 30080);
    EXPECT_TRUE(update_errors(services(), s, omitted).empty());

    json secret = {{"metadata", {{"name", "s"}, {"namespace", "default"}}}, {"data", {{"a", "YQ=="}}}};
    json retyped = secret;
    retyped["type"] = "kubernetes.io/basic-auth";
    retyped["data"]["username"] = "YQ==";
    EXPECT_EQ(update_errors(kind("", "secrets"), secret, retyped),
              std::vector<std::string>{"type: Invalid value: \"kubernetes.io/basic-auth\": field is immutable"});
    json frozen = {
        {"metadata", {{"name", "c"}, {"namespace", "default"}}}, {"immutable", true}, {"data", {{"a", "1"}}}};
    json thawed = frozen;
    thawed["data"]["a"] = "2";
    EXPECT_EQ(update_errors(kind("", "configmaps"), frozen, thawed),
              std::vector<std::string>{"data: Forbidden: field is immutable when `immutable` is set"});
}

// The registry over a real SQLite store answers creates and updates with the strategy's defaults and 422s.
class RegistryStrategyTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char dir[] = "/tmp/skiff-strategy-test.XXXXXX";
        ASSERT_NE(mkdtemp(dir), nullptr);
        dir_ = dir;
        auto s = store::open_sqlite(dir_ + "/state.db");
        ASSERT_TRUE(s) << s.error().what();
        store_ = std::move(*s);
        registry_ = std::make_unique<Registry>(*store_);
        ASSERT_TRUE(registry_->ensure_default_objects().ok());
    }
    void TearDown() override {
        registry_.reset();
        store_.reset();
        std::filesystem::remove_all(dir_);
    }
    Response call(const std::string& method, const ResourceInfo& info, const std::string& name, const json& body,
                  const std::string& type = "application/json") {
        Request req;
        req.method = method;
        req.headers["content-type"] = type;
        req.body = body.dump();
        return registry_->handle(req, ResourcePath{&info, "default", name, ""});
    }

    std::string dir_;
    std::unique_ptr<store::Store> store_;
    std::unique_ptr<Registry> registry_;
};

TEST_F(RegistryStrategyTest, CreateDefaultsAndRefusesInvalid) {
    json d = deployment();
    d["spec"]["replicas"] = -1;
    Response r = call("POST", deployments(), "", d);
    EXPECT_EQ(r.status, 422);
    EXPECT_EQ(
        json::parse(r.body)["message"],
        "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0");
    EXPECT_EQ(call("GET", deployments(), "web", json()).status, 404) << "nothing stored";

    r = call("POST", deployments(), "", deployment());
    ASSERT_EQ(r.status, 201) << r.body;
    json stored = json::parse(call("GET", deployments(), "web", json()).body);
    EXPECT_EQ(stored["spec"]["replicas"], 1);
    EXPECT_EQ(stored["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    EXPECT_EQ(stored["spec"]["template"]["spec"]["containers"][0]["terminationMessagePolicy"], "File");

    r = call("PATCH", deployments(), "web", {{"spec", {{"replicas", -3}}}}, "application/merge-patch+json");
    EXPECT_EQ(r.status, 422) << r.body;
    r = call("PATCH", deployments(), "web", {{"spec", {{"replicas", 3}}}}, "application/merge-patch+json");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["metadata"]["generation"], 2);
    // A PUT of the original file (no defaults in it) changes nothing but replicas back to 1: generation 3,
    // and the defaults come back.
    r = call("PUT", deployments(), "web", deployment());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["spec"]["revisionHistoryLimit"], 10);
}

TEST_F(RegistryStrategyTest, PodImageUpdateAllowedPortChangeRefused) {
    json p = pod();
    p["spec"]["containers"][0]["ports"] = json::array({{{"containerPort", 80}}});
    ASSERT_EQ(call("POST", pods(), "", p).status, 201);
    Response r =
        call("PATCH", pods(), "web",
             json::array({{{"op", "replace"}, {"path", "/spec/containers/0/image"}, {"value", "busybox:1.36"}}}),
             "application/json-patch+json");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["spec"]["containers"][0]["image"], "busybox:1.36");
    r = call("PATCH", pods(), "web",
             json::array({{{"op", "replace"}, {"path", "/spec/containers/0/ports/0/containerPort"}, {"value", 8080}}}),
             "application/json-patch+json");
    EXPECT_EQ(r.status, 422);
    json body = json::parse(r.body);
    EXPECT_EQ(body["details"]["causes"][0]["field"], "spec");
    EXPECT_EQ(body["details"]["causes"][0]["reason"], "FieldValueForbidden");
    EXPECT_EQ(body["message"].get<std::string>().rfind(
                  "Pod \"web\" is invalid: spec: Forbidden: pod updates may not change fields other than", 0),
              0u);
}

// Updates start from the decoded object of the registry's last write only while the store still holds that
// revision: a write that went around this registry (another server on the same etcd) is read afresh.
TEST_F(RegistryStrategyTest, UpdatesSeeWritesMadeAroundTheRegistry) {
    ASSERT_EQ(call("POST", deployments(), "", deployment()).status, 201);
    Response r = call("PATCH", deployments(), "web", {{"spec", {{"replicas", 2}}}}, "application/merge-patch+json");
    ASSERT_EQ(r.status, 200) << r.body;
    // Behind the registry's back: new labels and replicas, stored as they are.
    std::string key = Registry::key_of(deployments(), "default", "web");
    auto kv = store_->get(key);
    ASSERT_TRUE(kv);
    json stored = json::parse(kv->value);
    stored["metadata"]["labels"] = {{"written", "elsewhere"}};
    stored["spec"]["replicas"] = 7;
    ASSERT_TRUE(store_->update(key, stored.dump(), kv->mod_revision));
    // A merge patch applies to what is stored now, not to the registry's last write.
    r = call("PATCH", deployments(), "web", {{"metadata", {{"annotations", {{"a", "1"}}}}}}, "application/merge-patch+json");
    ASSERT_EQ(r.status, 200) << r.body;
    json after = json::parse(r.body);
    EXPECT_EQ(after["metadata"]["labels"]["written"], "elsewhere");
    EXPECT_EQ(after["spec"]["replicas"], 7);
    EXPECT_EQ(after["metadata"]["annotations"]["a"], "1");
    // A PUT carrying the revision it read succeeds; one carrying an older revision is a conflict.
    json put = after;
    put["spec"]["replicas"] = 4;
    r = call("PUT", deployments(), "web", put);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["spec"]["replicas"], 4);
    EXPECT_EQ(call("PUT", deployments(), "web", put).status, 409);
    // A delete and a new object of the same name: the new one's updates start from the new one.
    ASSERT_EQ(call("DELETE", deployments(), "web", json::object()).status, 200);
    json again = deployment();
    again["spec"]["replicas"] = 5;
    ASSERT_EQ(call("POST", deployments(), "", again).status, 201);
    r = call("PATCH", deployments(), "web", {{"metadata", {{"annotations", {{"b", "2"}}}}}}, "application/merge-patch+json");
    ASSERT_EQ(r.status, 200) << r.body;
    after = json::parse(r.body);
    EXPECT_EQ(after["spec"]["replicas"], 5);
    EXPECT_FALSE(after["metadata"].contains("labels")) << after.dump();
    EXPECT_EQ(after["metadata"]["generation"], 1);
}

// A PUT carrying the version the registry wrote last starts from its own copy without reading the store;
// the compare-and-swap still catches a write made elsewhere since, and an object gone since.
TEST_F(RegistryStrategyTest, PutsAtTheLastWrittenVersionStillSeeWritesMadeElsewhere) {
    ASSERT_EQ(call("POST", deployments(), "", deployment()).status, 201);
    Response r = call("PATCH", deployments(), "web", {{"spec", {{"replicas", 2}}}}, "application/merge-patch+json");
    ASSERT_EQ(r.status, 200) << r.body;
    json mine = json::parse(r.body);  // the registry's last write, and the version it remembers
    std::string key = Registry::key_of(deployments(), "default", "web");

    // The common case: a PUT at that version from the registry's copy, then another at the new one.
    json put = mine;
    put["spec"]["replicas"] = 3;
    r = call("PUT", deployments(), "web", put);
    ASSERT_EQ(r.status, 200) << r.body;
    mine = json::parse(r.body);
    EXPECT_EQ(mine["spec"]["replicas"], 3);
    EXPECT_EQ(mine["metadata"]["generation"], 3);
    auto kv = store_->get(key);
    ASSERT_TRUE(kv);
    EXPECT_EQ(json::parse(kv->value)["spec"]["replicas"], 3);

    // Another writer changes it behind the registry's back: a PUT at the registry's version is a conflict
    // naming the object, and the other write stays.
    json stored = json::parse(kv->value);
    stored["spec"]["replicas"] = 7;
    ASSERT_TRUE(store_->update(key, stored.dump(), kv->mod_revision));
    put = mine;
    put["spec"]["replicas"] = 4;
    r = call("PUT", deployments(), "web", put);
    EXPECT_EQ(r.status, 409) << r.body;
    EXPECT_NE(r.body.find("\"web\""), std::string::npos) << r.body;
    EXPECT_EQ(json::parse(store_->get(key)->value)["spec"]["replicas"], 7);

    // A PUT at the registry's version after it wrote again, then the object removed behind its back: 404.
    put = json::parse(call("GET", deployments(), "web", json()).body);
    put["spec"]["replicas"] = 5;
    r = call("PUT", deployments(), "web", put);
    ASSERT_EQ(r.status, 200) << r.body;
    put = json::parse(r.body);
    ASSERT_TRUE(store_->remove(key, 0));
    put["spec"]["replicas"] = 6;
    r = call("PUT", deployments(), "web", put);
    EXPECT_EQ(r.status, 404) << r.body;
    EXPECT_FALSE(store_->get(key));
}

// An update that leaves a pod's spec as stored does not check it again (ratcheting): a pod stored with a
// spec today's rules refuse can still get labels, but a change to its spec is checked in full.
TEST_F(RegistryStrategyTest, PodSpecsAreCheckedWhenAnUpdateChangesThem) {
    ASSERT_EQ(call("POST", pods(), "", pod()).status, 201);
    std::string key = Registry::key_of(pods(), "default", "web");
    auto kv = store_->get(key);
    ASSERT_TRUE(kv);
    json stored = json::parse(kv->value);
    stored["spec"]["containers"][0]["name"] = "Not_A_DNS_Label";
    ASSERT_TRUE(store_->update(key, stored.dump(), kv->mod_revision));

    Response r = call("PATCH", pods(), "web", {{"metadata", {{"labels", {{"x", "y"}}}}}}, "application/merge-patch+json");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["metadata"]["labels"]["x"], "y");

    json image = {{"spec", {{"containers", json::array({{{"name", "Not_A_DNS_Label"}, {"image", "nginx:2"}}})}}}};
    r = call("PATCH", pods(), "web", image, "application/strategic-merge-patch+json");
    EXPECT_EQ(r.status, 422) << r.body;
    EXPECT_NE(r.body.find("spec.containers[0].name"), std::string::npos) << r.body;
    EXPECT_EQ(json::parse(store_->get(key)->value)["spec"]["containers"][0].value("image", ""),
              stored["spec"]["containers"][0].value("image", ""));
}

// The stored text of objects written before a default existed: the update is validated as if it had it.
TEST_F(RegistryStrategyTest, ObjectsStoredWithoutDefaultsAreUpdatedAsIfTheyHadThem) {
    ASSERT_EQ(call("POST", pods(), "", pod()).status, 201);
    std::string key = Registry::key_of(pods(), "default", "web");
    auto kv = store_->get(key);
    ASSERT_TRUE(kv);
    json bare = json::parse(kv->value);
    bare["spec"].erase("dnsPolicy");
    bare["spec"].erase("terminationGracePeriodSeconds");
    ASSERT_TRUE(store_->update(key, bare.dump(), kv->mod_revision));
    // Only the labels change; a pod's spec may not, and the missing defaults don't count as changes.
    Response r = call("PATCH", pods(), "web", {{"metadata", {{"labels", {{"x", "y"}}}}}}, "application/merge-patch+json");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["spec"]["dnsPolicy"], "ClusterFirst");
}

}  // namespace
}  // namespace skiff::apiserver
