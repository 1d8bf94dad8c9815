// Generic REST storage: API objects as JSON in the store, keyed by resource, namespace and name, with
// Kubernetes' metadata rules and metav1.Status errors.
#include "skiff/apiserver/registry.hpp"

#include "registry_internal.hpp"
#include "service_addresses.hpp"
#include "skiff/apiserver/json_parse.hpp"
#include "skiff/apiserver/k8s_types.hpp"
#include "skiff/apiserver/protobuf.hpp"
#include "skiff/apiserver/server_side_apply.hpp"
#include "skiff/apiserver/strategic_merge.hpp"
#include "skiff/apiserver/strategy.hpp"
#include "skiff/apiserver/tables.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>

namespace skiff::apiserver {

using json = nlohmann::json;

const json& member_or_null(const json& object, std::string_view key) {
    static const json null;
    if (!object.is_object()) return null;
    auto it = object.find(key);
    return it == object.end() ? null : *it;
}

Response object_response(int code, const json& j) {
    try {
        return Response{code, "application/json", write_json(j), {}};
    } catch (const json::type_error&) {  // invalid UTF-8 (text only our own code made): replaced, as dump does
        return Response{code, "application/json", j.dump(-1, ' ', false, json::error_handler_t::replace), {}};
    }
}

// A metav1.Status failure with details naming the object (kubectl prints them).
Response failure(int code, const std::string& reason, const std::string& message, const ResourcePath& path,
                 const std::string& name, json causes) {
    Response r = status_response(code, reason, message);
    json j = json::parse(r.body);
    json details = {{"kind", path.info->resource}};
    if (!name.empty()) details["name"] = name;
    if (!path.info->group.empty()) details["group"] = path.info->group;
    if (!causes.is_null()) details["causes"] = causes;
    j["details"] = details;
    r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
    return r;
}

Response not_found(const ResourcePath& path, const std::string& name) {
    return failure(404, "NotFound", path.info->resource + " \"" + name + "\" not found", path, name);
}

Response store_failure(const Error& e, const ResourcePath& path, const std::string& name) {
    if (e.code() == store::errc::not_found) return not_found(path, name);
    if (e.code() == store::errc::exists)
        return failure(409, "AlreadyExists", path.info->resource + " \"" + name + "\" already exists", path, name);
    if (e.code() == store::errc::conflict)
        return failure(409, "Conflict",
                       "Operation cannot be fulfilled on " + path.info->resource + " \"" + name +
                           "\": the object has been modified; please apply your changes to the latest version "
                           "and try again",
                       path, name);
    if (e.code() == store::errc::compacted)
        return status_response(410, "Expired", "too old resource version: " + e.message());
    return status_response(500, "InternalError", e.what());
}

std::string rfc3339(std::time_t t) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string now_rfc3339() { return rfc3339(std::time(nullptr)); }

std::string random_hex(size_t bytes) {
    std::string raw(bytes, '\0');
    size_t got = 0;
    while (got < bytes) {
        ssize_t n = getrandom(raw.data() + got, bytes - got, 0);
        if (n > 0) got += static_cast<size_t>(n);
    }
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : raw) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

std::string new_uid() {  // an RFC 4122 version 4 UUID
    std::string h = random_hex(16);
    h[12] = '4';
    h[16] = "89ab"[std::stoi(h.substr(16, 1), nullptr, 16) & 3];
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

std::string generated_suffix() {  // 5 characters from Kubernetes' alphabet (no vowels, no 0/1/3)
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    std::string raw(5, '\0');
    while (getrandom(raw.data(), raw.size(), 0) != 5) {
    }
    std::string out;
    for (unsigned char c : raw) out.push_back(alphabet[c % (sizeof alphabet - 1)]);
    return out;
}

// The stored JSON with the store's revision as metadata.resourceVersion.
json with_version(const store::KeyValue& kv) {
    json j = parse_json_or_discarded(kv.value);
    if (j.is_discarded()) j = json::object();
    j["metadata"]["resourceVersion"] = std::to_string(kv.mod_revision);
    return j;
}

std::string with_version_text(std::string_view stored, int64_t revision) {
    // Find the top-level "metadata" object: track the depth, skip over strings (and their escapes).
    int depth = 0;
    bool in_string = false;
    size_t key_start = std::string_view::npos;
    for (size_t i = 0; i < stored.size(); ++i) {
        char c = stored[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') {
                in_string = false;
                std::string_view key = stored.substr(key_start, i - key_start);
                if (depth != 1 || key != "metadata") continue;
                size_t j = i + 1;
                while (j < stored.size() && (stored[j] == ' ' || stored[j] == ':')) ++j;
                if (j >= stored.size() || stored[j] != '{') break;
                std::string rv = "\"resourceVersion\":\"" + std::to_string(revision) + "\"";
                bool empty = j + 1 < stored.size() && stored[j + 1] == '}';
                std::string out;
                out.reserve(stored.size() + rv.size() + 1);
                out.append(stored.substr(0, j + 1)).append(rv);
                if (!empty) out.push_back(',');
                out.append(stored.substr(j + 1));
                return out;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
            key_start = i + 1;
        } else if (c == '{' || c == '[') {
            ++depth;
        } else if (c == '}' || c == ']') {
            --depth;
        }
    }
    // No metadata object (not something this server wrote): the slow way.
    return with_version({"", std::string(stored), 0, revision}).dump(-1, ' ', false, json::error_handler_t::replace);
}

// A request body as JSON. A NUL byte is never valid JSON text (inside a string it must be escaped), but
// nlohmann's rules, which parse_json keeps, end the text at one: "{}\0junk" would pass as {}.
namespace {
bool parse_json_body(std::string_view body, json& out, JsonSyntaxError& error) {
    if (auto nul = body.find('\0'); nul != std::string_view::npos) {
        error = {nul, "a NUL byte"};
        return false;
    }
    return parse_json(body, out, &error);
}
}  // namespace

// Parses a request body as a JSON object; a 400 naming the byte position otherwise.
bool parse_body(const Request& req, json& out, Response& error) {
    std::string type = req.header("content-type");
    type = type.substr(0, type.find(';'));
    if (type == protobuf_content_type) {  // kubectl 1.32+ typed clients; the answer stays JSON
        auto decoded = decode_protobuf_object(req.body);
        if (!decoded) error = status_response(400, "BadRequest", decoded.error().message());
        else out = std::move(*decoded);
        return decoded.ok();
    }
    if (!type.empty() && type != "application/json" && type != "application/yaml" && type != "*/*") {
        error = status_response(415, "UnsupportedMediaType",
                                "the body's content type \"" + type + "\" is not supported: send application/json");
        return false;
    }
    if (JsonSyntaxError e; !parse_json_body(req.body, out, e)) {
        error = status_response(400, "BadRequest",
                                "the request body is not valid JSON at byte " + std::to_string(e.byte) + ": " + e.message);
        return false;
    }
    if (!out.is_object()) {
        error = status_response(400, "BadRequest", "the request body must be a JSON object");
        return false;
    }
    return true;
}

// kind and apiVersion, when given, must be the resource's.
bool check_type(const json& obj, const ResourcePath& path, Response& error) {
    const auto& info = *path.info;
    if (obj.contains("kind") && obj["kind"] != info.kind) {
        error = status_response(400, "BadRequest",
                                "the object's kind " + obj["kind"].dump() + " is not " + info.kind + " (" + info.resource + ")");
        return false;
    }
    if (obj.contains("apiVersion") && obj["apiVersion"] != info.group_version()) {
        error = status_response(400, "BadRequest", "the object's apiVersion " + obj["apiVersion"].dump() +
                                                       " is not " + info.group_version());
        return false;
    }
    if (obj.contains("metadata") && !obj["metadata"].is_object()) {
        error = status_response(400, "BadRequest", "metadata must be an object");
        return false;
    }
    return true;
}

// What an update or patch may not change, taken from the stored object: the identity (name, uid,
// namespace, creationTimestamp), the generation (one more when the spec changed), kind and apiVersion.
// The resourceVersion is the store's, never stored. Returns whether the spec is the stored one.
bool carry_over(json& updated, const json& old, const ResourceInfo& info) {
    json& meta = updated["metadata"];
    const json& old_meta = member_or_null(old, "metadata");
    for (const char* kept : {"uid", "creationTimestamp", "namespace", "name", "generation"})
        if (old_meta.contains(kept)) meta[kept] = old_meta[kept];
    meta.erase("resourceVersion");
    bool kept = spec_kept(updated, old);
    if (!kept) meta["generation"] = old_meta.value("generation", 1) + 1;
    updated["kind"] = info.kind;
    updated["apiVersion"] = info.group_version();
    return kept;
}

namespace {

// A continue token: the list's revision and the last key returned (hex, so it is URL-safe).
std::string make_continue(int64_t revision, const std::string& last_key) {
    static const char* digits = "0123456789abcdef";
    std::string out = std::to_string(revision) + ".";
    for (unsigned char c : last_key) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

bool parse_continue(const std::string& token, int64_t& revision, std::string& last_key) {
    auto dot = token.find('.');
    if (dot == std::string::npos) return false;
    if (std::from_chars(token.data(), token.data() + dot, revision).ec != std::errc() || revision <= 0) return false;
    std::string hex = token.substr(dot + 1);
    if (hex.size() % 2) return false;
    last_key.clear();
    for (size_t i = 0; i < hex.size(); i += 2) {
        unsigned v = 0;
        if (std::from_chars(hex.data() + i, hex.data() + i + 2, v, 16).ec != std::errc()) return false;
        last_key.push_back(static_cast<char>(v));
    }
    return true;
}

}  // namespace

std::string dns1123_label_error(const std::string& name) {
    if (name.empty()) return "must not be empty";
    if (name.size() > 63) return "must be no more than 63 characters";
    for (char c : name)
        if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-'))
            return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'";
    if (name.front() == '-' || name.back() == '-') return "must start and end with an alphanumeric character";
    return "";
}

std::string dns1123_subdomain_error(const std::string& name) {
    if (name.empty()) return "must not be empty";
    if (name.size() > 253) return "must be no more than 253 characters";
    size_t start = 0;
    while (start <= name.size()) {
        size_t dot = name.find('.', start);
        std::string label = name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        if (label.empty() || !dns1123_label_error(label).empty() || label.size() > 63)
            return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                   "and must start and end with an alphanumeric character";
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    return "";
}





std::string Registry::collection_prefix(const ResourceInfo& info, const std::string& ns) {
    std::string key = "/registry/" + (info.group.empty() ? std::string("core") : info.group) + "/" + info.resource + "/";
    if (info.namespaced && !ns.empty()) key += ns + "/";
    return key;
}

std::string Registry::key_of(const ResourceInfo& info, const std::string& ns, const std::string& name) {
    return collection_prefix(info, info.namespaced ? ns : "") + name;
}

Status Registry::ensure_default_objects() {
    const ResourceInfo* ns = find_resource("", "v1", "namespaces");
    for (const char* name : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
        json obj = {{"apiVersion", "v1"},
                    {"kind", "Namespace"},
                    {"metadata", {{"name", name}, {"uid", new_uid()}, {"creationTimestamp", now_rfc3339()}}},
                    {"spec", {{"finalizers", json::array({"kubernetes"})}}},
                    {"status", {{"phase", "Active"}}}};
        auto r = store_.create(key_of(*ns, "", name), obj.dump());
        if (!r && r.error().code() != store::errc::exists) return r.error();
    }
    const ResourceInfo* services = find_resource("", "v1", "services");
    std::string key = key_of(*services, "default", "kubernetes");
    if (auto existing = store_.get(key); existing || existing.error().code() != store::errc::not_found)
        return existing ? Status{} : Status(existing.error());
    json svc = {{"apiVersion", "v1"},
                {"kind", "Service"},
                {"metadata",
                 {{"name", "kubernetes"},
                  {"namespace", "default"},
                  {"uid", new_uid()},
                  {"creationTimestamp", now_rfc3339()},
                  {"labels", {{"component", "apiserver"}, {"provider", "kubernetes"}}}}},
                {"spec",
                 {{"type", "ClusterIP"},
                  {"clusterIP", first_service_address()},
                  {"ports", json::array({{{"name", "https"}, {"port", 443}, {"protocol", "TCP"}, {"targetPort", 6443}}})},
                  {"sessionAffinity", "None"}}}};
    std::vector<std::string> allocated;
    SKIFF_TRY(allocate_service_addresses(store_, json(), svc, allocated));
    auto r = store_.create(key, svc.dump());
    if (!r) {
        release_service_addresses(store_, allocated);
        if (r.error().code() != store::errc::exists) return r.error();
    }
    return {};
}

// Warnings for the response being built on this thread (fieldValidation=Warn), sent as Warning headers.
thread_local std::vector<std::string> request_warnings;

Response Registry::handle(const Request& req, const ResourcePath& path) {
    request_warnings.clear();
    Response res = route(req, path);
    for (size_t i = 0; i < request_warnings.size(); ++i) {
        // RFC 7234 warn-code 299, as kube-apiserver sends them (kubectl prints "Warning: <text>").
        std::string value = "299 - " + json(request_warnings[i]).dump();
        auto& header = res.headers["Warning"];
        header += (header.empty() ? "" : ", ") + value;
    }
    return res;
}

Response Registry::route(const Request& req, const ResourcePath& path) {
    const std::string& sub = path.subresource;
    if (sub == "log") return req.method == "GET" ? pod_log(path) : status_response(405, "MethodNotAllowed", req.method + " is not allowed on " + req.path);
    if (sub == "binding") return req.method == "POST" ? bind(req, path) : status_response(405, "MethodNotAllowed", req.method + " is not allowed on " + req.path);
    if (!sub.empty() && sub != "status" && sub != "scale" && sub != "finalize")
        return status_response(404, "NotFound", "the subresource " + path.info->resource + "/" + sub + " is not served");
    if (req.method == "GET" && (req.param("watch") == "true" || req.param("watch") == "1")) {
        if (!sub.empty()) return status_response(405, "MethodNotAllowed", "watch is not allowed on " + req.path);
        return watch(req, path);
    }
    if (req.method == "GET") return path.name.empty() ? list(req, path) : get(req, path);
    if (req.method == "POST" && path.name.empty()) return create(req, path);
    if (req.method == "PUT" && !path.name.empty()) return update(req, path);
    if (req.method == "PATCH" && !path.name.empty() && sub != "finalize") return patch(req, path);
    if (req.method == "DELETE" && sub.empty()) return path.name.empty() ? remove_collection(req, path) : remove(req, path);
    return status_response(405, "MethodNotAllowed", req.method + " is not allowed on " + req.path);
}

Response Registry::create(const Request& req, const ResourcePath& path) {
    json obj;
    Response error;
    if (!parse_body(req, obj, error) || !check_type(obj, path, error) || !check_fields(req, *path.info, obj, error))
        return error;
    return create_object(req, path, std::move(obj));
}

Response Registry::create_object(const Request& req, const ResourcePath& path, json obj) {
    const auto& info = *path.info;
    json& meta = obj["metadata"];
    if (!meta.is_object()) meta = json::object();
    std::string name = meta.value("name", "");
    if (name.empty() && meta.contains("generateName") && meta["generateName"].is_string())
        name = meta["generateName"].get<std::string>() + generated_suffix();
    if (info.namespaced) {
        std::string body_ns = meta.value("namespace", "");
        if (!body_ns.empty() && body_ns != path.ns)
            return status_response(400, "BadRequest", "the namespace of the object (" + body_ns +
                                                          ") does not match the namespace of the request (" + path.ns + ")");
        auto ns = store_.get(key_of(*find_resource("", "v1", "namespaces"), "", path.ns));
        if (!ns)
            return ns.error().code() == store::errc::not_found
                       ? status_response(404, "NotFound", "namespaces \"" + path.ns + "\" not found")
                       : store_failure(ns.error(), path, name);
        if (member_or_null(parse_json_or_discarded(ns->value), "metadata").contains("deletionTimestamp"))
            return failure(403, "Forbidden",
                           info.resource + " \"" + name + "\" is forbidden: unable to create new content in namespace " +
                               path.ns + " because it is being terminated",
                           path, name);
        meta["namespace"] = path.ns;
    } else {
        meta.erase("namespace");
    }
    meta["name"] = name;
    meta["uid"] = new_uid();
    meta["creationTimestamp"] = now_rfc3339();
    meta["generation"] = 1;
    for (const char* field : {"resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"}) meta.erase(field);
    obj["kind"] = info.kind;
    obj["apiVersion"] = info.group_version();
    // A status is the controllers' to write (through the status subresource); nodes bring their own.
    if (has_status_subresource(info) && info.resource != "nodes" && info.resource != "namespaces") obj.erase("status");
    apply_defaults(info, obj);
    if (auto errors = validate_create(info, obj); !errors.empty()) return invalid_response(info, name, errors);
    if (dry_run(req)) return object_response(201, obj);
    std::vector<std::string> allocated;
    if (info.resource == "services") {
        auto r = allocate_service_addresses(store_, json(), obj, allocated);
        if (!r) return failure(r.error().code() == EINVAL ? 422 : 500, r.error().code() == EINVAL ? "Invalid" : "InternalError",
                               "Service \"" + name + "\" is invalid: " + r.error().message(), path, name);
    }
    auto kv = store_.create(key_of(info, path.ns, name), write_json(obj));
    if (!kv) {
        release_service_addresses(store_, allocated);
        return store_failure(kv.error(), path, name);
    }
    return Response{201, "application/json", with_version_text(kv->value, kv->mod_revision), {}};
}

Response Registry::get(const Request& req, const ResourcePath& path) {
    auto kv = store_.get(key_of(*path.info, path.ns, path.name));
    if (!kv) return store_failure(kv.error(), path, path.name);
    bool table = wants_table(req.header("accept"));
    if (path.subresource.empty() && !table)
        return Response{200, "application/json", with_version_text(kv->value, kv->mod_revision), {}};
    json obj = with_version(*kv);
    if (path.subresource == "scale") return object_response(200, scale_of(*path.info, obj));
    return object_response(200, make_table(*path.info, json::array({obj}), std::to_string(kv->mod_revision),
                                           req.param("includeObject") == "Object", std::time(nullptr)));
}

Response Registry::list(const Request& req, const ResourcePath& path) {
    const auto& info = *path.info;
    std::string prefix = collection_prefix(info, path.ns);
    std::vector<LabelRequirement> selector;
    std::string error;
    if (!parse_label_selector(req.param("labelSelector"), selector, error))
        return status_response(400, "BadRequest", "labelSelector: " + error);
    std::vector<FieldRequirement> fields;
    if (!parse_field_selector(req.param("fieldSelector"), info, fields, error))
        return status_response(400, "BadRequest", "fieldSelector: " + error);
    store::ListOptions opts;
    int64_t limit = 0;
    if (auto l = req.param("limit"); !l.empty() && (std::from_chars(l.data(), l.data() + l.size(), limit).ec != std::errc() || limit < 0))
        return status_response(400, "BadRequest", "limit: \"" + l + "\" is not a whole number");
    if (auto c = req.param("continue"); !c.empty()) {
        if (!parse_continue(c, opts.revision, opts.start_after))
            return status_response(400, "BadRequest", "continue: the token is not valid");
    }
    // Without filters and tables the objects are never parsed: their stored text goes out as it is.
    bool table = wants_table(req.header("accept"));
    bool as_text = !table && selector.empty() && fields.empty();
    json items = json::array();
    std::string texts;  // as_text: the items, comma-separated
    int64_t count = 0;
    int64_t revision = 0;
    std::string last_key;
    bool more = false;
    // Filters run after the store's page, so pages are refilled until limit items match or the keys run out.
    for (;;) {
        opts.limit = limit ? limit - count : 0;
        auto page = store_.list(prefix, opts);
        if (!page) return store_failure(page.error(), path, "");
        revision = page->revision;
        opts.revision = revision;
        for (const auto& kv : page->items) {
            last_key = kv.key;
            if (as_text) {
                if (count++) texts.push_back(',');
                texts += with_version_text(kv.value, kv.mod_revision);
                continue;
            }
            json obj = with_version(kv);
            const json& meta = obj["metadata"];
            if (!fields_match(obj, fields)) continue;
            if (!selector.empty() && !labels_match(member_or_null(meta, "labels"), selector)) continue;
            items.push_back(std::move(obj));
            ++count;
        }
        more = page->more;
        if (!more || !limit || count >= limit) break;
        opts.start_after = last_key;
    }
    if (as_text) {
        json meta = {{"resourceVersion", std::to_string(revision)}};
        if (more && limit) meta["continue"] = make_continue(revision, last_key);
        std::string body = R"({"apiVersion":")" + info.group_version() + R"(","items":[)" + texts + R"(],"kind":")" +
                           info.kind + R"(List","metadata":)" + meta.dump() + "}";
        return Response{200, "application/json", std::move(body), {}};
    }
    if (table) {
        json table = make_table(info, items, std::to_string(revision), req.param("includeObject") == "Object",
                                std::time(nullptr));
        if (more && limit) table["metadata"]["continue"] = make_continue(revision, last_key);
        return object_response(200, table);
    }
    json list = {{"kind", info.kind + "List"},
                 {"apiVersion", info.group_version()},
                 {"metadata", {{"resourceVersion", std::to_string(revision)}}},
                 {"items", items}};
    if (more && limit) list["metadata"]["continue"] = make_continue(revision, last_key);
    return object_response(200, list);
}

Response Registry::update(const Request& req, const ResourcePath& path) {
    const auto& info = *path.info;
    // The body, checked; again after a try that consumed it (its unknown-field warnings are given once).
    auto read_body = [&](json& obj, Response& error, bool again) {
        if (!parse_body(req, obj, error)) return false;
        if (path.subresource == "scale") {
            if (obj.value("kind", "Scale") != "Scale") {
                error = status_response(400, "BadRequest", "the scale subresource takes a Scale, not " + obj["kind"].dump());
                return false;
            }
        } else if (!check_type(obj, path, error) || (!again && !check_fields(req, info, obj, error))) {
            return false;
        }
        json& meta = obj["metadata"];
        if (!meta.is_object()) meta = json::object();
        if (meta.value("name", path.name) != path.name) {
            error = status_response(400, "BadRequest", "the name of the object (" + meta.value("name", "") +
                                                           ") does not match the name in the URL (" + path.name + ")");
            return false;
        }
        return true;
    };
    json obj;
    Response error;
    if (!read_body(obj, error, false)) return error;
    const json& meta = obj["metadata"];
    int64_t wanted = 0;  // the client's resourceVersion; 0: an unconditional update
    if (auto rv = meta.value("resourceVersion", ""); !rv.empty()) {
        if (std::from_chars(rv.data(), rv.data() + rv.size(), wanted).ec != std::errc())
            return failure(422, "Invalid", "metadata.resourceVersion: Invalid value: \"" + rv + "\"", path, path.name);
    }
    std::string key = key_of(info, path.ns, path.name);
    // The object at the client's version, when this server wrote or read it last: the write's compare-and-swap
    // on that version checks that it is still current, so the store need not be read first. When it is not
    // (another server wrote, the object went), the update goes the long way and answers as if it had.
    if (auto known = wanted && !dry_run(req) ? decoded_.find(key, wanted) : nullptr) {
        if (path.subresource == "scale") obj = with_scale(*known, obj);
        bool stale = false;
        Response r = commit_update(req, path, *known, std::move(obj), wanted, stale);
        if (!stale) return r;
        obj = json();
        if (!read_body(obj, error, true)) return error;
    }
    auto current = store_.get(key);
    if (!current) return store_failure(current.error(), path, path.name);
    auto decoded = decode(info, *current);
    const json& old = *decoded;
    if (path.subresource == "scale") obj = with_scale(old, obj);
    bool stale = false;
    return commit_update(req, path, old, std::move(obj), wanted ? wanted : current->mod_revision, stale);
}

Response Registry::patch(const Request& req, const ResourcePath& path) {
    std::string type = req.header("content-type");
    type = type.substr(0, type.find(';'));
    json patch;
    if (JsonSyntaxError e; !parse_json_body(req.body, patch, e)) {
        if (type == "application/apply-patch+yaml")
            return status_response(400, "BadRequest", "the apply configuration must be sent as JSON (kubectl does)");
        return status_response(400, "BadRequest", "the patch is not valid JSON at byte " + std::to_string(e.byte) + ": " + e.message);
    }
    const auto& info = *path.info;
    if (type == "application/apply-patch+yaml") return apply(req, path, patch);
    bool is_scale = path.subresource == "scale";
    std::string key = key_of(info, path.ns, path.name);
    // Read, patch, write back with compare-and-swap; a concurrent writer makes it try again.
    for (int attempt = 0; attempt < 5; ++attempt) {
        auto current = store_.get(key);
        if (!current) return store_failure(current.error(), path, path.name);
        auto decoded = decode(info, *current);
        const json& old = *decoded;
        // A patch of the scale subresource applies to the Scale the client sees.
        json base = is_scale ? scale_of(info, old) : old;
        json patched;
        if (type == "application/json-patch+json") {
            try {
                patched = base.patch(patch);
            } catch (const json::exception& e) {
                return failure(422, "Invalid", std::string("the JSON patch does not apply: ") + e.what(), path, path.name);
            }
        } else if (type == "application/merge-patch+json" || (is_scale && type == "application/strategic-merge-patch+json")) {
            if (!patch.is_object()) return status_response(400, "BadRequest", "a merge patch must be a JSON object");
            patched = base;
            patched.merge_patch(patch);
        } else if (type == "application/strategic-merge-patch+json") {
            auto merged = strategic_merge_patch(base, patch, patch_schema(info));
            if (!merged) return status_response(400, "BadRequest", "the strategic merge patch does not apply: " + merged.error().message());
            patched = std::move(*merged);
        } else {
            return status_response(415, "UnsupportedMediaType", "the patch type \"" + type + "\" is not supported");
        }
        if (is_scale) patched = with_scale(old, patched);
        Response error;
        if (!is_scale && !check_fields(req, info, patched, error)) return error;
        bool stale = false;
        Response r = commit_update(req, path, old, std::move(patched), current->mod_revision, stale);
        if (!stale) return r;
    }
    return failure(409, "Conflict", "the object kept changing while the patch was applied", path, path.name);
}

// Server-side apply: the configuration's fields owned by the field manager, conflicts with other managers'
// fields answered 409 unless force=true; an absent object is created.
Response Registry::apply(const Request& req, const ResourcePath& path, const json& applied) {
    const auto& info = *path.info;
    std::string manager = req.param("fieldManager");
    if (manager.empty())
        return status_response(400, "BadRequest", "PATCH, application/apply-patch+yaml: fieldManager is required for apply requests");
    if (!path.subresource.empty())
        return status_response(415, "UnsupportedMediaType", "server-side apply is served for objects, not for " + path.subresource);
    Response error;
    if (!applied.is_object()) return status_response(400, "BadRequest", "the apply configuration must be a JSON object");
    if (!check_type(applied, path, error) || !check_fields(req, info, applied, error)) return error;
    bool force = req.param("force") == "true";
    std::string key = key_of(info, path.ns, path.name);
    for (int attempt = 0; attempt < 5; ++attempt) {
        auto current = store_.get(key);
        if (!current && current.error().code() != store::errc::not_found) return store_failure(current.error(), path, path.name);
        auto decoded = current ? decode(info, *current) : std::make_shared<const json>();
        const json& live = *decoded;
        auto result = server_side_apply(live, applied, manager, force, now_rfc3339(), patch_schema(info));
        if (!result) return status_response(400, "BadRequest", result.error().message());
        if (!result->conflicts.empty()) return object_response(409, conflict_status(result->conflicts));
        json obj = std::move(result->object);
        if (!current) {
            obj["metadata"]["name"] = path.name;
            Response r = create_object(req, path, std::move(obj));
            if (r.status == 409 && r.body.find("AlreadyExists") != std::string::npos) continue;  // created meanwhile
            return r;
        }
        if (obj == live) return object_response(200, live);  // nothing changed: no write, no new revision
        bool stale = false;
        Response r = commit_update(req, path, live, std::move(obj), current->mod_revision, stale);
        if (!stale) return r;
    }
    return failure(409, "Conflict", "the object kept changing while the configuration was applied", path, path.name);
}

// fieldValidation: Strict refuses fields the kind doesn't have (400, Kubernetes' strict decoding error),
// Warn (the default) answers with a Warning header, Ignore does neither.
bool Registry::check_fields(const Request& req, const ResourceInfo& info, const json& obj, Response& error) {
    std::string mode = req.param("fieldValidation");
    if (mode == "Ignore") return true;
    if (!mode.empty() && mode != "Strict" && mode != "Warn") {
        error = status_response(400, "BadRequest", "fieldValidation: \"" + mode + "\" is not one of Strict, Warn, Ignore");
        return false;
    }
    auto unknown = unknown_fields(info, obj);
    if (unknown.empty()) return true;
    if (mode == "Strict") {
        error = status_response(400, "BadRequest", strict_decoding_error(info, unknown));
        return false;
    }
    for (const auto& field : unknown) request_warnings.push_back("unknown field \"" + field.substr(1) + "\"");
    return true;
}

Response Registry::commit_update(const Request& req, const ResourcePath& path, const json& old, json updated,
                                 int64_t expected, bool& stale) {
    const auto& info = *path.info;
    const std::string& sub = path.subresource;
    if (sub == "status") {
        // The status subresource changes the status and nothing else.
        json status = updated.contains("status") ? updated["status"] : json();
        updated = old;
        if (status.is_null()) updated.erase("status");
        else updated["status"] = std::move(status);
    } else if (sub == "finalize") {
        json finalizers = updated.contains("spec") && updated["spec"].is_object() ? updated["spec"].value("finalizers", json()) : json();
        updated = old;
        if (finalizers.is_null()) updated["spec"].erase("finalizers");
        else updated["spec"]["finalizers"] = std::move(finalizers);
    } else if (has_status_subresource(info)) {
        // The main resource leaves the status alone (kubectl apply/edit can't undo a controller's status).
        if (old.contains("status")) updated["status"] = old["status"];
        else updated.erase("status");
    }
    prepare_for_update(info, updated, old);
    apply_defaults(info, updated);
    bool spec_kept = carry_over(updated, old, info);
    const json& old_meta = old["metadata"];
    json& meta = updated["metadata"];
    for (const char* kept : {"deletionTimestamp", "deletionGracePeriodSeconds"}) {
        if (old_meta.contains(kept)) meta[kept] = old_meta[kept];
        else meta.erase(kept);
    }
    json finalizers = meta.value("finalizers", json::array());
    if (old_meta.contains("deletionTimestamp")) {
        json old_finalizers = old_meta.value("finalizers", json::array());
        for (const auto& f : finalizers)
            if (std::find(old_finalizers.begin(), old_finalizers.end(), f) == old_finalizers.end())
                return failure(422, "Invalid",
                               info.kind + " \"" + path.name + "\" is invalid: metadata.finalizers: Forbidden: no new "
                                           "finalizers can be added if the object is being deleted, found new finalizers " +
                                   f.dump(),
                               path, path.name,
                               json::array({{{"reason", "FieldValueForbidden"},
                                             {"message", "no new finalizers can be added if the object is being deleted"},
                                             {"field", "metadata.finalizers"}}}));
    }
    if (auto errors = validate_update(info, updated, old, spec_kept); !errors.empty())
        return invalid_response(info, path.name, errors);
    // Field ownership of ordinary writes is recorded once server-side apply manages the object (an object
    // never applied server-side has none to keep; its fields go to "before-first-apply" at the first apply).
    const json& old_managed = member_or_null(old_meta, "managedFields");
    if (old_managed.is_array() && !old_managed.empty() && req.header("content-type").rfind("application/apply-patch", 0) != 0) {
        std::string manager = req.param("fieldManager");
        if (manager.empty()) manager = req.header("user-agent").substr(0, req.header("user-agent").find('/'));
        if (manager.empty()) manager = "unknown";
        // (record_update returns a new object: references into the old one, like meta, are stale after this)
        updated = record_update(old, updated, manager, "Update", now_rfc3339(), patch_schema(info));
    }
    if (dry_run(req)) return object_response(200, updated);
    std::string key = key_of(info, path.ns, path.name);
    // The last finalizer gone from an object being deleted: the update is its deletion.
    if (old_meta.contains("deletionTimestamp") && (finalizers.is_null() || finalizers.empty()) &&
        old_meta.value("deletionGracePeriodSeconds", 0) == 0) {
        updated["metadata"].erase("resourceVersion");
        auto kv = store_.update(key, write_json(updated), expected);
        if (kv) kv = store_.remove(key, kv->mod_revision);
        if (!kv) {
            stale = kv.error().code() == store::errc::conflict || kv.error().code() == store::errc::not_found;
            return store_failure(kv.error(), path, path.name);
        }
        after_removal(info, path.ns, updated);
        return object_response(200, with_version(*kv));
    }
    std::vector<std::string> allocated;
    if (info.resource == "services") {
        auto r = allocate_service_addresses(store_, old, updated, allocated);
        if (!r) return failure(r.error().code() == EINVAL ? 422 : 500, r.error().code() == EINVAL ? "Invalid" : "InternalError",
                               "Service \"" + path.name + "\" is invalid: " + r.error().message(), path, path.name);
    }
    updated["metadata"].erase("resourceVersion");
    auto kv = store_.update(key, write_json(updated), expected);
    if (!kv) {
        release_service_addresses(store_, allocated);
        stale = kv.error().code() == store::errc::conflict || kv.error().code() == store::errc::not_found;
        return store_failure(kv.error(), path, path.name);
    }
    if (info.resource == "services") release_service_addresses(store_, service_addresses_dropped(old, updated));
    Response response = sub == "scale" ? object_response(200, scale_of(info, with_version(*kv)))
                                       : Response{200, "application/json", with_version_text(kv->value, kv->mod_revision), {}};
    remember(*kv, std::move(updated));
    return response;
}

std::shared_ptr<const json> Registry::decode(const ResourceInfo& info, const store::KeyValue& kv, bool keep) {
    if (auto known = decoded_.find(kv.key, kv.mod_revision)) return known;
    json object = with_version(kv);
    apply_defaults(info, object);
    auto decoded = std::make_shared<const json>(std::move(object));
    if (keep) decoded_.remember(kv.key, kv.mod_revision, kv.value.size(), decoded);
    return decoded;
}

void Registry::remember(const store::KeyValue& kv, json object) {
    object["metadata"]["resourceVersion"] = std::to_string(kv.mod_revision);
    decoded_.remember(kv.key, kv.mod_revision, kv.value.size(), std::make_shared<const json>(std::move(object)));
}

Result<std::string> Registry::bound_node(const std::string& ns, const std::string& pod) {
    auto kv = store_.get(key_of(*find_resource("", "v1", "pods"), ns, pod));
    if (!kv) return std::move(kv).error();
    json obj = json::parse(kv->value, nullptr, false);
    const json* node = obj.is_object() && obj.contains("spec") && obj["spec"].is_object() && obj["spec"].contains("nodeName")
                           ? &obj["spec"]["nodeName"]
                           : nullptr;
    return node && node->is_string() ? node->get<std::string>() : std::string();
}

}  // namespace skiff::apiserver
