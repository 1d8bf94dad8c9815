// Unit tests of the Kubernetes type table and the protobuf body decoder, on request bodies captured from
// the real kubectl 1.33 (`kubectl create namespace|deployment|service|configmap|secret|serviceaccount`).
#include <gtest/gtest.h>

#include <string>

#include "skiff/apiserver/k8s_types.hpp"
#include "skiff/apiserver/protobuf.hpp"
#include "skiff/apiserver/resources.hpp"

namespace skiff::apiserver {
namespace {

using json = nlohmann::json;

// Bodies kubectl.1.33 sent (tests/fuzz/protobuf/kubectl133-*.bin are the same bytes):
// create namespace demo; create deployment web --image=busybox --replicas=2 --port=8080 -- sleep 1000;
// create service clusterip web --tcp=80:8080; create service nodeport np --tcp=80:8080 --node-port=30080;
// create configmap c --from-literal=a=b; create secret generic s --from-literal=k=v; create serviceaccount sa.
const std::string kubectl_namespace(
    "k8s\000\012\017\012\002v1\022\011Namespace\022\034\012\024\012\004demo\022\000\032\000\042\000*"
    "\0002\0008\000B\000\022\000\032\002\012\000\032\000\042\000",
    55);
const std::string kubectl_deployment(
    "k8s\000\012\025\012\007apps/v1\022\012Deployment\022\312\001\012\037\012\003web\022\000\032\000"
    "\042\000*\0002\0008\000B\000Z\012\012\003app\022\003web\022\230\001\010\002\022\014\012\012\012"
    "\003app\022\003web\032~\012\034\012\000\022\000\032\000\042\000*\0002\0008\000B\000Z\012\012\003"
    "app\022\003web\022^\022@\012\007busybox\022\007busybox\032\005sleep\032\0041000*\0002\013\012"
    "\000\020\000\030\220\077\042\000*\000B\000j\000r\000\200\001\000\210\001\000\220\001\000\242\001"
    "\000\032\0002\000B\000J\000R\000X\000`\000h\000\202\001\000\212\001\000\232\001\000\302\001\000"
    "\042\002\012\000(\0008\000\032\014\010\000\020\000\030\000 \000(\0008\000\032\000\042\000",
    236);
const std::string kubectl_service_clusterip(
    "k8s\000\012\015\012\002v1\022\007Service\022i\012\037\012\003web\022\000\032\000\042\000*\0002"
    "\0008\000B\000Z\012\012\003app\022\003web\022B\012\033\012\00780-8080\022\003TCP\030P\042\007"
    "\010\000\020\220\077\032\000(\000\022\012\012\003app\022\003web\032\000\042\011ClusterIP:\000B"
    "\000R\000Z\000`\000h\000\032\002\012\000\032\000\042\000",
    130);
const std::string kubectl_service_nodeport(
    "k8s\000\012\015\012\002v1\022\007Service\022g\012\035\012\002np\022\000\032\000\042\000*\0002"
    "\0008\000B\000Z\011\012\003app\022\002np\022B\012\035\012\00780-8080\022\003TCP\030P\042\007\010"
    "\000\020\220\077\032\000(\200\353\001\022\011\012\003app\022\002np\032\000\042\010NodePort:\000B"
    "\000R\000Z\000`\000h\000\032\002\012\000\032\000\042\000",
    128);
const std::string kubectl_configmap(
    "k8s\000\012\017\012\002v1\022\011ConfigMap\022\033\012\021\012\001c\022\000\032\000\042\000*\000"
    "2\0008\000B\000\022\006\012\001a\022\001b\032\000\042\000",
    54);
const std::string kubectl_secret(
    "k8s\000\012\014\012\002v1\022\006Secret\022\035\012\021\012\001s\022\000\032\000\042\000*\0002"
    "\0008\000B\000\022\006\012\001k\022\001v\032\000\032\000\042\000",
    53);
const std::string kubectl_serviceaccount(
    "k8s\000\012\024\012\002v1\022\016ServiceAccount\022\024\012\022\012\002sa\022\000\032\000\042"
    "\000*\0002\0008\000B\000\032\000\042\000",
    52);

// ---- a few protobuf writers for hand-made bodies ----
std::string varint(uint64_t v) {
    std::string out;
    while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7f) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
    return out;
}
std::string tag(int number, int wire) { return varint((static_cast<uint64_t>(number) << 3) | static_cast<uint64_t>(wire)); }
std::string bytes_field(int number, const std::string& payload) { return tag(number, 2) + varint(payload.size()) + payload; }
std::string varint_field(int number, uint64_t v) { return tag(number, 0) + varint(v); }
std::string envelope(const std::string& api_version, const std::string& kind, const std::string& raw) {
    return std::string("k8s\0", 4) + bytes_field(1, bytes_field(1, api_version) + bytes_field(2, kind)) + bytes_field(2, raw);
}

json decode(const std::string& body) {
    auto r = decode_protobuf_object(body);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    return r.ok() ? *r : json();
}

std::string decode_error(const std::string& body, int max_depth = max_protobuf_depth) {
    auto r = decode_protobuf_object(body, max_depth);
    EXPECT_FALSE(r.ok()) << (r.ok() ? r->dump() : "");
    return r.ok() ? "" : r.error().message();
}

TEST(Protobuf, NamespaceIsWhatAJsonClientSends) {
    // kubectl 1.27 sends this JSON for the same command: Go's encoding/json of the same object.
    EXPECT_EQ(decode(kubectl_namespace), json::parse(R"({"apiVersion":"v1","kind":"Namespace",
        "metadata":{"name":"demo","creationTimestamp":null},"spec":{},"status":{}})"));
}

TEST(Protobuf, Deployment) {
    json d = decode(kubectl_deployment);
    EXPECT_EQ(d, json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment",
        "metadata":{"name":"web","creationTimestamp":null,"labels":{"app":"web"}},
        "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{},
          "template":{"metadata":{"creationTimestamp":null,"labels":{"app":"web"}},
            "spec":{"containers":[{"name":"busybox","image":"busybox","command":["sleep","1000"],
              "ports":[{"containerPort":8080}],"resources":{}}]}}},
        "status":{}})"));
}

TEST(Protobuf, Services) {
    json web = decode(kubectl_service_clusterip);
    EXPECT_EQ(web["spec"], json::parse(R"({"ports":[{"name":"80-8080","protocol":"TCP","port":80,"targetPort":8080}],
        "selector":{"app":"web"},"type":"ClusterIP"})"));
    json np = decode(kubectl_service_nodeport);
    EXPECT_EQ(np["spec"]["type"], "NodePort");
    EXPECT_EQ(np["spec"]["ports"][0]["nodePort"], 30080);
    EXPECT_EQ(np["spec"]["ports"][0]["targetPort"], 8080);
    EXPECT_EQ(np["metadata"]["name"], "np");
}

TEST(Protobuf, ConfigMapSecretServiceAccount) {
    EXPECT_EQ(decode(kubectl_configmap), json::parse(R"({"apiVersion":"v1","kind":"ConfigMap",
        "metadata":{"name":"c","creationTimestamp":null},"data":{"a":"b"}})"));
    // Secret data is bytes: base64 in JSON. The empty type is left out (omitempty).
    EXPECT_EQ(decode(kubectl_secret), json::parse(R"({"apiVersion":"v1","kind":"Secret",
        "metadata":{"name":"s","creationTimestamp":null},"data":{"k":"dg=="}})"));
    EXPECT_EQ(decode(kubectl_serviceaccount), json::parse(R"({"apiVersion":"v1","kind":"ServiceAccount",
        "metadata":{"name":"sa","creationTimestamp":null}})"));
}

TEST(Protobuf, SpecialForms) {
    // metadata.creationTimestamp {seconds 1700000000 nanos 5}, deletionTimestamp absent; Event's eventTime is a
    // MicroTime; a Service targetPort by name; a pointer int explicitly 0 stays (Go pointer), a plain 0 goes.
    std::string meta = bytes_field(1, "x") + bytes_field(8, varint_field(1, 1700000000) + varint_field(2, 5));
    json ev = decode(envelope("v1", "Event", bytes_field(1, meta) + bytes_field(10, varint_field(1, 1700000000) + varint_field(2, 123456789))));
    EXPECT_EQ(ev["metadata"]["creationTimestamp"], "2023-11-14T22:13:20Z");
    EXPECT_EQ(ev["eventTime"], "2023-11-14T22:13:20.123456Z");
    std::string port = bytes_field(4, varint_field(1, 1) + bytes_field(3, "http")) + varint_field(3, 80);
    json svc = decode(envelope("v1", "Service", bytes_field(2, bytes_field(1, port))));
    EXPECT_EQ(svc["spec"]["ports"][0]["targetPort"], "http");
    std::string spec = varint_field(1, 0) + varint_field(5, 0);  // replicas (pointer) 0, minReadySeconds 0
    json d = decode(envelope("apps/v1", "Deployment", bytes_field(2, spec)));
    EXPECT_EQ(d["spec"], json::parse(R"({"replicas":0})"));
    // A negative int32 is a 10-byte varint; resources.limits is a map of Quantity.
    std::string container = bytes_field(1, "c") + bytes_field(8, bytes_field(1, bytes_field(1, "cpu") + bytes_field(2, bytes_field(1, "100m"))));
    std::string pod_spec = bytes_field(2, container) + varint_field(4, static_cast<uint64_t>(int64_t{-5}));
    json pod = decode(envelope("v1", "Pod", bytes_field(2, pod_spec)));
    EXPECT_EQ(pod["spec"]["containers"][0]["resources"]["limits"]["cpu"], "100m");
    EXPECT_EQ(pod["spec"]["terminationGracePeriodSeconds"], -5);
    // Packed repeated scalars are read too (proto2 writers may pack them).
    std::string sc = bytes_field(4, varint(1) + varint(2) + varint(300));  // supplementalGroups
    json pod2 = decode(envelope("v1", "Pod", bytes_field(2, bytes_field(14, sc))));
    EXPECT_EQ(pod2["spec"]["securityContext"]["supplementalGroups"], json::parse("[1,2,300]"));
    // An inline member: a Volume's VolumeSource fields sit beside its name.
    std::string volume = bytes_field(1, "v") + bytes_field(2, bytes_field(2, ""));
    json pod3 = decode(envelope("v1", "Pod", bytes_field(2, bytes_field(1, volume))));
    EXPECT_EQ(pod3["spec"]["volumes"][0], json::parse(R"({"name":"v","emptyDir":{}})"));
}

TEST(Protobuf, ErrorsNameTheMessageAndField) {
    EXPECT_NE(decode_error("{\"kind\":\"ConfigMap\"}").find("k8s\\0 prefix"), std::string::npos);
    std::string e = decode_error(envelope("v1", "ConfigMap", varint_field(99, 1)));
    EXPECT_NE(e.find("core.v1.ConfigMap: unknown field number 99"), std::string::npos) << e;
    e = decode_error(envelope("v1", "ConfigMap", varint_field(2, 1)));
    EXPECT_NE(e.find("core.v1.ConfigMap field data (2): wire type varint, expected length-delimited"), std::string::npos) << e;
    e = decode_error(envelope("v1", "ConfigMap", bytes_field(1, bytes_field(1, std::string("\xff\xfe", 2)))));
    EXPECT_NE(e.find("meta.v1.ObjectMeta field name (1): string is not valid UTF-8"), std::string::npos) << e;
    e = decode_error(envelope("v1", "Widget", ""));
    EXPECT_NE(e.find("kind Widget of v1 is not known"), std::string::npos) << e;
    e = decode_error(envelope("v1", "ConfigMap", tag(4, 0) + std::string(10, '\xff') + "\x01"));
    EXPECT_NE(e.find("varint"), std::string::npos) << e;
    e = decode_error(envelope("v1", "ConfigMap", tag(1, 2) + varint(1000) + "ab"));
    EXPECT_NE(e.find("core.v1.ConfigMap field metadata (1): length 1000 runs past the end"), std::string::npos) << e;
    e = decode_error(kubectl_deployment, 3);
    EXPECT_NE(e.find("nested deeper than the limit"), std::string::npos) << e;
    EXPECT_TRUE(decode_protobuf_object(kubectl_deployment, 6).ok());
}

TEST(Protobuf, EveryTruncationFails) {
    // The object is length-prefixed inside the envelope: cutting anywhere in it must fail cleanly.
    for (const std::string* body : {&kubectl_deployment, &kubectl_service_nodeport, &kubectl_secret}) {
        size_t object_end = body->size() - 4;  // contentEncoding and contentType ("" each) follow the object
        for (size_t n = 0; n < object_end; ++n)
            EXPECT_FALSE(decode_protobuf_object(std::string_view(*body).substr(0, n)).ok()) << n;
    }
}

TEST(Protobuf, ContentEncodingIsRefused) {
    std::string body = envelope("v1", "ConfigMap", "") + bytes_field(3, "gzip");
    EXPECT_NE(decode_error(body).find("content encoding \"gzip\""), std::string::npos);
}

TEST(K8sTypes, EveryServedKindHasItsType) {
    for (const auto& r : resources()) {
        const MessageDef* m = message_for_kind(r.group, r.version, r.kind);
        ASSERT_NE(m, nullptr) << r.kind;
        EXPECT_NE(m->field("metadata"), nullptr) << r.kind;
    }
    EXPECT_NE(message_for_kind("autoscaling", "v1", "Scale"), nullptr);
    EXPECT_EQ(message_for_kind("apps", "v1", "StatefulSet"), nullptr);
    EXPECT_EQ(message_for_kind("", "v2", "Pod"), nullptr);
}

TEST(K8sTypes, Fields) {
    const MessageDef* c = find_message("core.v1.Container");
    ASSERT_NE(c, nullptr);
    const FieldDef* ports = c->field("ports");
    ASSERT_NE(ports, nullptr);
    EXPECT_EQ(ports->number, 6);
    EXPECT_EQ(ports->container, FieldDef::Container::list);
    EXPECT_EQ(ports->message_name, "core.v1.ContainerPort");
    EXPECT_EQ(c->field_by_number(2)->json_name, "image");
    EXPECT_EQ(c->field("imagee"), nullptr);
    const MessageDef* spec = find_message("apps.v1.DeploymentSpec");
    ASSERT_NE(spec, nullptr);
    EXPECT_TRUE(spec->field("replicas")->pointer);
    EXPECT_EQ(spec->field("replicas")->type, FieldType::int32);
    EXPECT_EQ(find_message("core.v1.Secret")->field("data")->container, FieldDef::Container::map);
    EXPECT_EQ(find_message("core.v1.Secret")->field("data")->type, FieldType::bytes);
    EXPECT_EQ(find_message("core.v1.ServicePort")->field("targetPort")->type, FieldType::int_or_string);
    EXPECT_EQ(find_message("meta.v1.ObjectMeta")->field("creationTimestamp")->type, FieldType::time);
    EXPECT_EQ(find_message("core.v1.Event")->field("eventTime")->type, FieldType::micro_time);
    // Inline members: a Volume's sources and a Probe's handler answer by their JSON names.
    EXPECT_NE(find_message("core.v1.Volume")->field("configMap"), nullptr);
    EXPECT_NE(find_message("core.v1.Probe")->field("httpGet"), nullptr);
    EXPECT_NE(find_message("core.v1.EphemeralContainer")->field("image"), nullptr);
    EXPECT_EQ(find_message("core.v1.Nope"), nullptr);
}

TEST(K8sTypes, PatchMeta) {
    using S = FieldPatchMeta::Strategy;
    using L = FieldPatchMeta::ListType;
    const ResourceInfo* deploy = find_resource("apps", "v1", "deployments");
    auto containers = patch_meta(*deploy, {"spec", "template", "spec", "containers"});
    EXPECT_EQ(containers.strategy, S::merge);
    EXPECT_EQ(containers.merge_key, "name");
    EXPECT_EQ(containers.list_type, L::map);
    EXPECT_EQ(containers.list_map_keys, std::vector<std::string>{"name"});
    auto ports = patch_meta(*deploy, {"spec", "template", "spec", "containers", "ports"});
    EXPECT_EQ(ports.merge_key, "containerPort");
    EXPECT_EQ(ports.list_map_keys, (std::vector<std::string>{"containerPort", "protocol"}));
    EXPECT_EQ(patch_meta(*deploy, {"spec", "template", "spec", "volumes"}).strategy, S::merge_and_retain_keys);
    EXPECT_EQ(patch_meta(*deploy, {"spec", "strategy"}).strategy, S::retain_keys);
    EXPECT_EQ(patch_meta(*deploy, {"metadata", "finalizers"}).list_type, L::set);
    EXPECT_EQ(patch_meta(*deploy, {"metadata", "ownerReferences"}).merge_key, "uid");
    auto args = patch_meta(*deploy, {"spec", "template", "spec", "containers", "args"});
    EXPECT_EQ(args.strategy, S::replace);
    EXPECT_EQ(args.list_type, L::atomic);
    auto gates = patch_meta(*deploy, {"spec", "template", "spec", "schedulingGates"});
    EXPECT_EQ(gates.list_type, L::map);
    EXPECT_EQ(patch_meta(*deploy, {"spec", "template", "spec", "containers", "nope"}).strategy, S::replace);
    const ResourceInfo* svc = find_resource("", "v1", "services");
    auto svc_ports = patch_meta(*svc, {"spec", "ports"});
    EXPECT_EQ(svc_ports.merge_key, "port");
    EXPECT_EQ(svc_ports.list_map_keys, (std::vector<std::string>{"port", "protocol"}));
    EXPECT_EQ(patch_meta(*svc, {"spec", "clusterIPs"}).list_type, L::atomic);
    const ResourceInfo* slices = find_resource("discovery.k8s.io", "v1", "endpointslices");
    EXPECT_EQ(patch_meta(*slices, {"endpoints", "addresses"}).list_type, L::set);
    // A schema bound to a kind, as strategic merge patch takes it.
    PatchSchema schema = patch_schema(*find_resource("", "v1", "pods"));
    EXPECT_EQ(schema({"spec", "containers", "env"}).merge_key, "name");
    EXPECT_EQ(schema({"metadata", "labels", "app"}).strategy, S::replace);
}

TEST(K8sTypes, UnknownFields) {
    const ResourceInfo* deploy = find_resource("apps", "v1", "deployments");
    json d = json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x","labels":{"any":"thing"}},
        "spec":{"foo":1,"replicas":1,"template":{"spec":{"containers":[{"name":"a","image":"b"},{"name":"c","imagee":"d",
        "resources":{"limits":{"cpu":"1"}}}],"volumes":[{"name":"v","hostPath":{"path":"/"}}]}}}})");
    auto unknown = unknown_fields(*deploy, d);
    EXPECT_EQ(unknown, (std::vector<std::string>{".spec.foo", ".spec.template.spec.containers[1].imagee"}));
    EXPECT_EQ(strict_decoding_error(*deploy, unknown),
              "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field "
              "\"spec.foo\", unknown field \"spec.template.spec.containers[1].imagee\"");
    EXPECT_TRUE(unknown_fields(*deploy, decode(kubectl_deployment)).empty());
    EXPECT_EQ(unknown_fields(*find_resource("", "v1", "configmaps"), json::parse(R"({"date":{}})")),
              std::vector<std::string>{".date"});
}

}  // namespace
}  // namespace skiff::apiserver
