// OpenAPI v3 documents for kubectl: schemas of the served kinds from the type table (so `kubectl explain`
// has fields, types and descriptions, and client-side apply finds the same patch strategies the server
// uses) and paths whose PATCH operations name their kind and the fieldValidation parameter (so kubectl
// leaves validation to the server).
#include "skiff/apiserver/openapi.hpp"

#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>
#include <vector>

#include "skiff/apiserver/discovery.hpp"
#include "skiff/apiserver/k8s_types.hpp"
#include "skiff/apiserver/node_tokens.hpp"
#include "skiff/apiserver/resources.hpp"

namespace skiff::apiserver {

using json = nlohmann::ordered_json;

namespace {

const char kDescriptionText[] =
#include "k8s_descriptions.inc"
    ;

struct MessageText {
    std::string description;
    std::vector<std::string> required;
    std::unordered_map<std::string, std::string> fields;
};

std::string unescape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) {
            out += s[i + 1] == 'n' ? '\n' : s[i + 1];
            ++i;
        } else {
            out += s[i];
        }
    }
    return out;
}

// The descriptions table (see tools/gen/k8s_types.py --descriptions), by message name.
std::unordered_map<std::string, MessageText> parse_descriptions() {
    std::unordered_map<std::string, MessageText> out;
    MessageText* current = nullptr;
    std::string_view text = kDescriptionText;
    while (!text.empty()) {
        size_t eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
        if (line.empty() || line[0] == '#') continue;
        if (line.starts_with("message ")) {
            current = &out[std::string(line.substr(8))];
        } else if (!current) {
            continue;
        } else if (line.starts_with("= ")) {
            current->description = unescape(line.substr(2));
        } else if (line.starts_with("required ")) {
            std::string_view names = line.substr(9);
            while (!names.empty()) {
                size_t comma = names.find(',');
                current->required.emplace_back(names.substr(0, comma));
                names = comma == std::string_view::npos ? std::string_view{} : names.substr(comma + 1);
            }
        } else if (line.starts_with("  ")) {
            line.remove_prefix(2);
            size_t space = line.find(' ');
            if (space != std::string_view::npos)
                current->fields[std::string(line.substr(0, space))] = unescape(line.substr(space + 1));
        }
    }
    return out;
}

const MessageText* text_of(const std::unordered_map<std::string, MessageText>& texts, const std::string& name) {
    auto it = texts.find(name);
    return it == texts.end() ? nullptr : &it->second;
}

// The schema names Kubernetes uses: core.v1.Pod -> io.k8s.api.core.v1.Pod.
std::string schema_name(const std::string& message) {
    if (message.starts_with("meta.")) return "io.k8s.apimachinery.pkg.apis." + message;
    return "io.k8s.api." + message;
}

const std::string kTime = "io.k8s.apimachinery.pkg.apis.meta.v1.Time";
const std::string kMicroTime = "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime";
const std::string kQuantity = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const std::string kIntOrString = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const std::string kFieldsV1 = "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1";
const std::string kRawExtension = "io.k8s.apimachinery.pkg.runtime.RawExtension";
const std::string kListMeta = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
const std::string kPatch = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";

json schema_ref(const std::string& name) { return {{"$ref", "#/components/schemas/" + name}}; }

// The types with a JSON form of their own, as Kubernetes' documents describe them.
json leaf_schemas() {
    json s;
    s[kTime] = {{"description", "An RFC 3339 date and time in UTC, to the second (\"2026-11-26T20:00:00Z\")."},
                {"type", "string"},
                {"format", "date-time"}};
    s[kMicroTime] = {{"description", "An RFC 3339 date and time in UTC with microseconds."},
                     {"type", "string"},
                     {"format", "date-time"}};
    s[kQuantity] = {{"description", "A fixed-point amount with an optional SI or binary suffix: \"100m\" "
                                    "(0.1), \"1Gi\", \"500M\"; written as a string or a number."},
                    {"oneOf", json::array({{{"type", "string"}}, {{"type", "number"}}})}};
    s[kIntOrString] = {{"description", "A value that is either an integer or a string (a port number or name)."},
                       {"format", "int-or-string"},
                       {"oneOf", json::array({{{"type", "integer"}}, {{"type", "string"}}})}};
    s[kFieldsV1] = {{"description", "The set of fields a manager owns, in the FieldsV1 format of "
                                    "server-side apply."},
                    {"type", "object"}};
    s[kRawExtension] = {{"description", "An embedded object, kept as it was written."}, {"type", "object"}};
    s[kListMeta] = {
        {"description", "What every list carries besides its items."},
        {"type", "object"},
        {"properties",
         {{"continue", {{"description", "The token that continues this list from where it stopped "
                                        "(the limit was reached); empty when the list is complete."},
                        {"type", "string"}}},
          {"remainingItemCount", {{"description", "How many items the rest of the list holds, when known."},
                                  {"type", "integer"},
                                  {"format", "int64"}}},
          {"resourceVersion", {{"description", "The store's revision this list was read at; watch from it "
                                               "to see every later change."},
                               {"type", "string"}}},
          {"selfLink", {{"description", "Deprecated and never set."}, {"type", "string"}}}}}};
    s[kPatch] = {{"description", "The body of a PATCH: a JSON patch, a merge patch, a strategic merge patch or "
                                 "an apply configuration, as its Content-Type says."},
                 {"type", "object"}};
    return s;
}

json scalar_schema(FieldType type) {
    switch (type) {
    case FieldType::string: return {{"type", "string"}};
    case FieldType::boolean: return {{"type", "boolean"}};
    case FieldType::int32: return {{"type", "integer"}, {"format", "int32"}};
    case FieldType::int64: return {{"type", "integer"}, {"format", "int64"}};
    case FieldType::double_: return {{"type", "number"}, {"format", "double"}};
    case FieldType::bytes: return {{"type", "string"}, {"format", "byte"}};
    case FieldType::duration: return {{"type", "string"}};
    case FieldType::time: return schema_ref(kTime);
    case FieldType::micro_time: return schema_ref(kMicroTime);
    case FieldType::quantity: return schema_ref(kQuantity);
    case FieldType::int_or_string: return schema_ref(kIntOrString);
    case FieldType::fields_v1: return schema_ref(kFieldsV1);
    case FieldType::raw_extension: return schema_ref(kRawExtension);
    case FieldType::message: break;
    }
    return {{"type", "object"}};
}

const char* strategy_name(FieldPatchMeta::Strategy s) {
    switch (s) {
    case FieldPatchMeta::Strategy::merge: return "merge";
    case FieldPatchMeta::Strategy::retain_keys: return "retainKeys";
    case FieldPatchMeta::Strategy::merge_and_retain_keys: return "merge,retainKeys";
    case FieldPatchMeta::Strategy::replace: break;
    }
    return "";
}

const char* list_type_name(FieldPatchMeta::ListType t) {
    switch (t) {
    case FieldPatchMeta::ListType::set: return "set";
    case FieldPatchMeta::ListType::map: return "map";
    case FieldPatchMeta::ListType::atomic: break;
    }
    return "atomic";
}

// A field's schema: its element (a $ref for messages, wrapped in allOf so a description can sit beside
// it, as Kubernetes writes them), in an array or a map as declared, with the patch extensions.
json field_schema(const FieldDef& f, const std::string* description) {
    json element = f.type == FieldType::message ? schema_ref(schema_name(f.message_name)) : scalar_schema(f.type);
    json s;
    if (description) s["description"] = *description;
    if (f.container == FieldDef::Container::list) {
        s["type"] = "array";
        s["items"] = element.contains("$ref") ? json{{"allOf", json::array({element})}, {"default", json::object()}}
                                              : element;
    } else if (f.container == FieldDef::Container::map) {
        s["type"] = "object";
        s["additionalProperties"] = element;
    } else if (element.contains("$ref")) {
        s["allOf"] = json::array({element});
        if (f.type == FieldType::message && !f.pointer) s["default"] = json::object();
    } else {
        for (auto& [k, v] : element.items()) s[k] = v;
    }
    if (f.patch.strategy != FieldPatchMeta::Strategy::replace) s["x-kubernetes-patch-strategy"] = strategy_name(f.patch.strategy);
    if (!f.patch.merge_key.empty()) s["x-kubernetes-patch-merge-key"] = f.patch.merge_key;
    if (f.has_list_type) {
        s["x-kubernetes-list-type"] = list_type_name(f.patch.list_type);
        if (!f.patch.list_map_keys.empty()) s["x-kubernetes-list-map-keys"] = f.patch.list_map_keys;
    }
    return s;
}

// Adds message's properties (with its inline members' flattened in, as their JSON has them) to props.
void add_properties(const MessageDef& m, const MessageText* outer, const std::unordered_map<std::string, MessageText>& texts,
                    json& props, std::vector<const MessageDef*>& reached) {
    const MessageText* own = text_of(texts, m.name);
    for (const auto& f : m.fields) {
        if (f.is_inline()) {
            if (f.message) add_properties(*f.message, outer ? outer : own, texts, props, reached);
            continue;
        }
        const std::string* description = nullptr;
        for (const MessageText* t : {outer, own}) {
            if (!t || description) continue;
            if (auto it = t->fields.find(f.json_name); it != t->fields.end()) description = &it->second;
        }
        props[f.json_name] = field_schema(f, description);
        if (f.type == FieldType::message && f.message) reached.push_back(f.message);
    }
}

json message_schema(const MessageDef& m, const std::unordered_map<std::string, MessageText>& texts,
                    std::vector<const MessageDef*>& reached) {
    json s;
    const MessageText* text = text_of(texts, m.name);
    if (text && !text->description.empty()) s["description"] = text->description;
    s["type"] = "object";
    json props = json::object();
    add_properties(m, nullptr, texts, props, reached);
    s["properties"] = props;
    if (text) {
        json required = json::array();
        for (const auto& r : text->required)
            if (props.contains(r)) required.push_back(r);
        if (!required.empty()) s["required"] = required;
    }
    return s;
}

json gvk(const std::string& group, const std::string& version, const std::string& kind) {
    return {{"group", group}, {"kind", kind}, {"version", version}};
}

std::string upper_first(std::string s) {
    if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
    return s;
}

// "CoreV1", "AppsV1", "CoordinationV1": the group-version part of Kubernetes' operation ids.
std::string operation_group(const ResourceInfo& r) {
    std::string g = r.group.empty() ? "core" : r.group.substr(0, r.group.find('.'));
    return upper_first(g) + upper_first(r.version);
}

json query_param(const std::string& name, const std::string& type, const std::string& description) {
    json schema = {{"type", type}};
    if (type == "string") schema["uniqueItems"] = true;
    return {{"name", name}, {"in", "query"}, {"description", description}, {"schema", schema}};
}

json path_param(const std::string& name, const std::string& description) {
    return {{"name", name}, {"in", "path"}, {"description", description}, {"required", true},
            {"schema", {{"type", "string"}, {"uniqueItems", true}}}};
}

json dry_run() { return query_param("dryRun", "string", "\"All\": check and answer as if the change were made, "
                                                        "without storing it."); }
json field_manager() { return query_param("fieldManager", "string", "The name of the actor making the change, "
                                                                    "recorded in managedFields."); }
json field_validation() {
    return query_param("fieldValidation", "string",
                       "What to do with fields the kind does not have: Ignore drops them, Warn drops them with a "
                       "Warning header, Strict rejects the request (400).");
}

json list_params(bool watchable) {
    json p = json::array(
        {query_param("continue", "string", "The token of a previous page, to list from where it stopped."),
         query_param("fieldSelector", "string", "Only objects whose fields match (metadata.name, "
                                                 "metadata.namespace, spec.nodeName, status.phase)."),
         query_param("labelSelector", "string", "Only objects whose labels match (equality and set-based)."),
         query_param("limit", "integer", "At most this many objects in one page."),
         query_param("resourceVersion", "string", "The revision to list or watch from."),
         query_param("resourceVersionMatch", "string", "How resourceVersion applies to a list."),
         query_param("timeoutSeconds", "integer", "End the list or watch after this many seconds.")});
    if (watchable) {
        p.push_back(query_param("allowWatchBookmarks", "boolean", "Send BOOKMARK events while watching."));
        p.push_back(query_param("sendInitialEvents", "boolean", "Begin a watch with the current objects."));
        p.push_back(query_param("watch", "boolean", "Stream changes as watch events instead of a list."));
    }
    return p;
}

json content(const json& schema) {
    return {{"application/json", {{"schema", schema}}}, {"application/yaml", {{"schema", schema}}}};
}

json ok(const json& schema) { return {{"200", {{"description", "OK"}, {"content", content(schema)}}}}; }

json operation(const std::string& id, const std::string& action, const json& kind_gvk, json params, json responses) {
    json op = {{"description", id}, {"operationId", id}};
    if (!params.empty()) op["parameters"] = std::move(params);
    op["responses"] = std::move(responses);
    op["x-kubernetes-action"] = action;
    op["x-kubernetes-group-version-kind"] = kind_gvk;
    return op;
}

json with_body(json op, const json& body_content) {
    json out;
    for (auto& [k, v] : op.items()) {
        if (k == "responses") out["requestBody"] = {{"content", body_content}};
        out[k] = v;
    }
    return out;
}

json patch_body() {
    json patch = schema_ref(kPatch);
    return {{"application/apply-patch+yaml", {{"schema", patch}}},
            {"application/json-patch+json", {{"schema", patch}}},
            {"application/merge-patch+json", {{"schema", patch}}},
            {"application/strategic-merge-patch+json", {{"schema", patch}}}};
}

// The paths of one resource: its collection, its objects, their subresources, and for namespaced
// resources the list across namespaces.
void add_paths(const ResourceInfo& r, json& paths) {
    std::string prefix = r.group.empty() ? "/api/" + r.version : "/apis/" + r.group + "/" + r.version;
    std::string ns = r.namespaced ? "Namespaced" : "";
    std::string gv = operation_group(r);
    json kind_gvk = gvk(r.group, r.version, r.kind);
    json object = schema_ref(schema_name(message_for_kind(r.group, r.version, r.kind)->name));
    json list = schema_ref(schema_name(message_for_kind(r.group, r.version, r.kind)->name) + "List");
    json common = json::array({query_param("pretty", "string", "Indent the JSON of the answer.")});
    json ns_param = path_param("namespace", "The namespace of the objects.");
    json name_param = path_param("name", "The name of the " + r.kind + ".");

    json collection;
    collection["get"] = operation("list" + gv + ns + r.kind, "list", kind_gvk, list_params(true), ok(list));
    collection["post"] = with_body(operation("create" + gv + ns + r.kind, "post", kind_gvk,
                                             json::array({dry_run(), field_manager(), field_validation()}), ok(object)),
                                   content(object));
    json delete_params = list_params(false);
    delete_params.push_back(dry_run());
    delete_params.push_back(query_param("gracePeriodSeconds", "integer", "Seconds to wait before deleting; 0: at once."));
    delete_params.push_back(query_param("propagationPolicy", "string", "Orphan, Background or Foreground."));
    collection["delete"] = operation("deletecollection" + gv + ns + r.kind, "deletecollection", kind_gvk,
                                     delete_params, ok(list));
    json collection_params = common;
    if (r.namespaced) collection_params.insert(collection_params.begin(), ns_param);
    collection["parameters"] = collection_params;
    std::string collection_path = prefix + (r.namespaced ? "/namespaces/{namespace}/" : "/") + r.resource;
    paths[collection_path] = collection;

    json item_params = common;
    item_params.insert(item_params.begin(), name_param);
    if (r.namespaced) item_params.insert(item_params.begin() + 1, ns_param);
    json item;
    item["get"] = operation("read" + gv + ns + r.kind, "get", kind_gvk, json::array(), ok(object));
    item["put"] = with_body(operation("replace" + gv + ns + r.kind, "put", kind_gvk,
                                      json::array({dry_run(), field_manager(), field_validation()}), ok(object)),
                            content(object));
    item["patch"] = with_body(
        operation("patch" + gv + ns + r.kind, "patch", kind_gvk,
                  json::array({dry_run(), field_manager(), field_validation(),
                               query_param("force", "boolean", "Apply: take over fields other managers own.")}),
                  ok(object)),
        patch_body());
    item["delete"] = operation("delete" + gv + ns + r.kind, "delete", kind_gvk,
                               json::array({dry_run(),
                                            query_param("gracePeriodSeconds", "integer", "Seconds to wait before deleting; 0: at once."),
                                            query_param("propagationPolicy", "string", "Orphan, Background or Foreground.")}),
                               ok(object));
    item["parameters"] = item_params;
    paths[collection_path + "/{name}"] = item;

    for (const auto& sub : r.subresources) {
        std::string Sub = upper_first(sub);
        json sub_path;
        if (sub == "log") {
            sub_path["get"] = operation("read" + gv + ns + r.kind + "Log", "get", kind_gvk,
                                        json::array({query_param("container", "string", "The container's log."),
                                                     query_param("follow", "boolean", "Stream the log.")}),
                                        {{"200", {{"description", "OK"}, {"content", {{"text/plain", {{"schema", {{"type", "string"}}}}}}}}}});
        } else if (sub == "binding") {
            json binding = schema_ref(schema_name("core.v1.Binding"));
            sub_path["post"] = with_body(operation("create" + gv + ns + r.kind + "Binding", "post",
                                                   gvk("", "v1", "Binding"),
                                                   json::array({dry_run(), field_manager(), field_validation()}), ok(binding)),
                                         content(binding));
        } else {
            json sub_gvk = sub == "scale" ? gvk("autoscaling", "v1", "Scale") : kind_gvk;
            json sub_object = sub == "scale" ? schema_ref(schema_name("autoscaling.v1.Scale")) : object;
            sub_path["get"] = operation("read" + gv + ns + r.kind + Sub, "get", sub_gvk, json::array(), ok(sub_object));
            sub_path["put"] = with_body(operation("replace" + gv + ns + r.kind + Sub, "put", sub_gvk,
                                                  json::array({dry_run(), field_manager(), field_validation()}), ok(sub_object)),
                                        content(sub_object));
            sub_path["patch"] = with_body(
                operation("patch" + gv + ns + r.kind + Sub, "patch", sub_gvk,
                          json::array({dry_run(), field_manager(), field_validation(),
                                       query_param("force", "boolean", "Apply: take over fields other managers own.")}),
                          ok(sub_object)),
                patch_body());
        }
        sub_path["parameters"] = item_params;
        paths[collection_path + "/{name}/" + sub] = sub_path;
    }
    if (r.namespaced) {
        json all;
        all["get"] = operation("list" + gv + r.kind + "ForAllNamespaces", "list", kind_gvk, list_params(true), ok(list));
        all["parameters"] = common;
        paths[prefix + "/" + r.resource] = all;
    }
}

json list_schema(const ResourceInfo& r, const std::string& item_schema) {
    return {{"description", r.kind + "List is a list of " + r.kind + " objects."},
            {"type", "object"},
            {"properties",
             {{"apiVersion", {{"description", "The version of the list's schema."}, {"type", "string"}}},
              {"items", {{"description", "The " + r.resource + "."},
                         {"type", "array"},
                         {"items", {{"allOf", json::array({schema_ref(item_schema)})}, {"default", json::object()}}}}},
              {"kind", {{"description", "\"" + r.kind + "List\"."}, {"type", "string"}}},
              {"metadata", {{"allOf", json::array({schema_ref(kListMeta)})}, {"default", json::object()},
                            {"description", "The list's revision and continue token."}}}}},
            {"required", json::array({"items"})},
            {"x-kubernetes-group-version-kind", json::array({gvk(r.group, r.version, r.kind + "List")})}};
}

OpenApiDocument build_document(const std::string& group, const std::string& version) {
    static const auto texts = parse_descriptions();
    json paths = json::object();
    json schemas = leaf_schemas();
    std::vector<const MessageDef*> todo;
    std::map<std::string, json> kinds_of;  // schema name -> its x-kubernetes-group-version-kind list
    for (const auto& r : resources()) {
        if (r.group != group || r.version != version) continue;
        add_paths(r, paths);
        const MessageDef* m = message_for_kind(r.group, r.version, r.kind);
        todo.push_back(m);
        kinds_of[schema_name(m->name)] = json::array({gvk(r.group, r.version, r.kind)});
        schemas[schema_name(m->name) + "List"] = list_schema(r, schema_name(m->name));
        for (const auto& sub : r.subresources) {
            if (sub == "scale") {
                const MessageDef* scale = message_for_kind("autoscaling", "v1", "Scale");
                todo.push_back(scale);
                kinds_of[schema_name(scale->name)] = json::array({gvk("autoscaling", "v1", "Scale")});
            } else if (sub == "binding") {
                todo.push_back(message_for_kind("", "v1", "Binding"));
                kinds_of[schema_name("core.v1.Binding")] = json::array({gvk("", "v1", "Binding")});
            }
        }
    }
    std::set<std::string> done;
    while (!todo.empty()) {
        const MessageDef* m = todo.back();
        todo.pop_back();
        if (!m || !done.insert(m->name).second) continue;
        json s = message_schema(*m, texts, todo);
        if (auto it = kinds_of.find(schema_name(m->name)); it != kinds_of.end())
            s["x-kubernetes-group-version-kind"] = it->second;
        schemas[schema_name(m->name)] = std::move(s);
    }
    json sorted_schemas = json::object();
    std::map<std::string, json> by_name;
    for (auto& [name, s] : schemas.items()) by_name[name] = std::move(s);
    for (auto& [name, s] : by_name) sorted_schemas[name] = std::move(s);

    json doc = {{"openapi", "3.0.0"},
                {"info", {{"title", "Kubernetes"}, {"version", version_document()["gitVersion"].get<std::string>()}}},
                {"paths", paths},
                {"components", {{"schemas", sorted_schemas}}}};
    OpenApiDocument out;
    out.json = doc.dump();
    out.hash = sha256_hex(out.json);
    for (auto& c : out.hash) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

struct Documents {
    std::map<std::string, OpenApiDocument, std::less<>> by_path;  // "api/v1", "apis/apps/v1"
    std::string index;
};

const Documents& documents() {
    static const Documents docs = [] {
        Documents d;
        std::set<std::pair<std::string, std::string>> group_versions;
        for (const auto& r : resources()) group_versions.emplace(r.group, r.version);
        json paths = json::object();
        for (const auto& [group, version] : group_versions) {
            std::string path = group.empty() ? "api/" + version : "apis/" + group + "/" + version;
            auto& doc = d.by_path[path] = build_document(group, version);
            paths[path] = {{"serverRelativeURL", "/openapi/v3/" + path + "?hash=" + doc.hash}};
        }
        d.index = json{{"paths", paths}}.dump();
        return d;
    }();
    return docs;
}

}  // namespace

const std::string& openapi_v3_index() { return documents().index; }

const OpenApiDocument* openapi_v3_document(std::string_view group_version_path) {
    const auto& docs = documents().by_path;
    auto it = docs.find(group_version_path);
    return it == docs.end() ? nullptr : &it->second;
}

}  // namespace skiff::apiserver
