// Generic REST storage: API objects as JSON in the store, keyed by resource, namespace and name, with
// Kubernetes' metadata rules and metav1.Status errors.
#include "skiff/apiserver/registry.hpp"

#include "skiff/apiserver/tables.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>

namespace skiff::apiserver {

using json = nlohmann::json;

namespace {

Response object_response(int code, const json& j) {
    return Response{code, "application/json", j.dump(-1, ' ', false, json::error_handler_t::replace), {}};
}

// A metav1.Status failure with details naming the object (kubectl prints them).
Response failure(int code, const std::string& reason, const std::string& message, const ResourcePath& path,
                 const std::string& name, json causes = nullptr) {
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

std::string now_rfc3339() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

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
    json j = json::parse(kv.value, nullptr, false);
    if (j.is_discarded()) j = json::object();
    j["metadata"]["resourceVersion"] = std::to_string(kv.mod_revision);
    return j;
}

// Parses a request body as a JSON object; a 400 naming the byte position otherwise.
bool parse_body(const Request& req, json& out, Response& error) {
    std::string type = req.header("content-type");
    type = type.substr(0, type.find(';'));
    if (!type.empty() && type != "application/json" && type != "application/yaml" && type != "*/*") {
        error = status_response(415, "UnsupportedMediaType",
                                "the body's content type \"" + type + "\" is not supported: send application/json");
        return false;
    }
    try {
        out = json::parse(req.body);
    } catch (const json::parse_error& e) {
        error = status_response(400, "BadRequest",
                                "the request body is not valid JSON at byte " + std::to_string(e.byte) + ": " + e.what());
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

std::string name_error(const ResourceInfo& info, const std::string& name) {
    return info.resource == "namespaces" ? dns1123_label_error(name) : dns1123_subdomain_error(name);
}

// What an update or patch may not change, taken from the stored object: the identity (name, uid,
// namespace, creationTimestamp), the generation (one more when the spec changed), kind and apiVersion.
// The resourceVersion is the store's, never stored.
void carry_over(json& updated, const json& old, const ResourceInfo& info) {
    json& meta = updated["metadata"];
    const json& old_meta = old.contains("metadata") ? old["metadata"] : json::object();
    for (const char* kept : {"uid", "creationTimestamp", "namespace", "name", "generation"})
        if (old_meta.contains(kept)) meta[kept] = old_meta[kept];
    meta.erase("resourceVersion");
    if (updated.value("spec", json()) != old.value("spec", json())) meta["generation"] = old_meta.value("generation", 1) + 1;
    updated["kind"] = info.kind;
    updated["apiVersion"] = info.group_version();
}

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

bool parse_label_selector(const std::string& text, std::vector<LabelRequirement>& out, std::string& error) {
    out.clear();
    size_t start = 0;
    while (start <= text.size()) {
        size_t comma = text.find(',', start);
        std::string term = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        while (!term.empty() && term.front() == ' ') term.erase(0, 1);
        while (!term.empty() && term.back() == ' ') term.pop_back();
        if (!term.empty()) {
            LabelRequirement r;
            if (term.find(" in ") != std::string::npos || term.find(" notin ") != std::string::npos ||
                term.find('(') != std::string::npos) {
                error = "set-based requirement \"" + term + "\" is not supported yet (use key=value, key!=value, key, !key)";
                return false;
            }
            if (auto p = term.find("!="); p != std::string::npos) {
                r = {term.substr(0, p), LabelRequirement::Op::not_equals, term.substr(p + 2)};
            } else if (auto q = term.find("=="); q != std::string::npos) {
                r = {term.substr(0, q), LabelRequirement::Op::equals, term.substr(q + 2)};
            } else if (auto e = term.find('='); e != std::string::npos) {
                r = {term.substr(0, e), LabelRequirement::Op::equals, term.substr(e + 1)};
            } else if (term[0] == '!') {
                r = {term.substr(1), LabelRequirement::Op::not_exists, ""};
            } else {
                r = {term, LabelRequirement::Op::exists, ""};
            }
            if (r.key.empty() || r.key.find_first_of(" =!") != std::string::npos) {
                error = "invalid label selector term \"" + term + "\"";
                return false;
            }
            out.push_back(std::move(r));
        }
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return true;
}

bool parse_field_selector(const std::string& text, const ResourceInfo& info, std::vector<FieldRequirement>& out,
                          std::string& error) {
    out.clear();
    std::vector<std::string> allowed = {"metadata.name", "metadata.namespace"};
    if (info.resource == "pods") allowed.insert(allowed.end(), {"spec.nodeName", "status.phase"});
    if (info.resource == "events")
        allowed.insert(allowed.end(), {"involvedObject.kind", "involvedObject.name", "involvedObject.namespace",
                                       "involvedObject.uid", "reason", "type"});
    if (info.resource == "secrets") allowed.push_back("type");
    size_t start = 0;
    while (start <= text.size()) {
        size_t comma = text.find(',', start);
        std::string term = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!term.empty()) {
            FieldRequirement r;
            size_t op = term.find("!=");
            if (op != std::string::npos) {
                r = {term.substr(0, op), false, term.substr(op + 2)};
            } else if ((op = term.find("==")) != std::string::npos) {
                r = {term.substr(0, op), true, term.substr(op + 2)};
            } else if ((op = term.find('=')) != std::string::npos) {
                r = {term.substr(0, op), true, term.substr(op + 1)};
            } else {
                error = "invalid term \"" + term + "\" (field=value or field!=value)";
                return false;
            }
            if (std::find(allowed.begin(), allowed.end(), r.field) == allowed.end()) {
                error = "field label not supported: " + r.field;
                return false;
            }
            out.push_back(std::move(r));
        }
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return true;
}

bool fields_match(const json& obj, const std::vector<FieldRequirement>& selector) {
    for (const auto& r : selector) {
        const json* at = &obj;
        size_t start = 0;
        while (at && start <= r.field.size()) {
            size_t dot = r.field.find('.', start);
            std::string part = r.field.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
            at = at->is_object() && at->contains(part) ? &(*at)[part] : nullptr;
            if (dot == std::string::npos) break;
            start = dot + 1;
        }
        std::string value = at && at->is_string() ? at->get<std::string>() : "";
        if ((value == r.value) != r.equals) return false;
    }
    return true;
}

bool labels_match(const json& labels, const std::vector<LabelRequirement>& selector) {
    for (const auto& r : selector) {
        bool has = labels.is_object() && labels.contains(r.key) && labels[r.key].is_string();
        std::string value = has ? labels[r.key].get<std::string>() : "";
        switch (r.op) {
            case LabelRequirement::Op::equals:
                if (!has || value != r.value) return false;
                break;
            case LabelRequirement::Op::not_equals:
                if (has && value == r.value) return false;
                break;
            case LabelRequirement::Op::exists:
                if (!has) return false;
                break;
            case LabelRequirement::Op::not_exists:
                if (has) return false;
                break;
        }
    }
    return true;
}

std::string Registry::collection_prefix(const ResourceInfo& info, const std::string& ns) {
    std::string key = "/registry/" + (info.group.empty() ? std::string("core") : info.group) + "/" + info.resource + "/";
    if (info.namespaced && !ns.empty()) key += ns + "/";
    return key;
}

std::string Registry::key_of(const ResourceInfo& info, const std::string& ns, const std::string& name) {
    return collection_prefix(info, info.namespaced ? ns : "") + name;
}

Status Registry::ensure_default_namespaces() {
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
    return {};
}

Response Registry::handle(const Request& req, const ResourcePath& path) {
    if (!path.subresource.empty())
        return status_response(404, "NotFound", "the subresource " + path.info->resource + "/" + path.subresource +
                                                    " is not served yet");
    if (req.method == "GET" && (req.param("watch") == "true" || req.param("watch") == "1")) return watch(req, path);
    if (req.method == "GET") return path.name.empty() ? list(req, path) : get(req, path);
    if (req.method == "POST" && path.name.empty()) return create(req, path);
    if (req.method == "PUT" && !path.name.empty()) return update(req, path);
    if (req.method == "PATCH" && !path.name.empty()) return patch(req, path);
    if (req.method == "DELETE" && !path.name.empty()) return remove(path);
    return status_response(405, "MethodNotAllowed", req.method + " is not allowed on " + req.path);
}

Response Registry::create(const Request& req, const ResourcePath& path) {
    json obj;
    Response error;
    if (!parse_body(req, obj, error) || !check_type(obj, path, error)) return error;
    const auto& info = *path.info;
    json& meta = obj["metadata"];
    if (!meta.is_object()) meta = json::object();
    std::string name = meta.value("name", "");
    if (name.empty() && meta.contains("generateName") && meta["generateName"].is_string())
        name = meta["generateName"].get<std::string>() + generated_suffix();
    if (auto why = name_error(info, name); !why.empty())
        return failure(422, "Invalid", info.kind + " \"" + name + "\" is invalid: metadata.name: Invalid value: \"" +
                                           name + "\": " + why,
                       path, name, json::array({{{"reason", "FieldValueInvalid"}, {"message", why}, {"field", "metadata.name"}}}));
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
        meta["namespace"] = path.ns;
    } else {
        meta.erase("namespace");
    }
    meta["name"] = name;
    meta["uid"] = new_uid();
    meta["creationTimestamp"] = now_rfc3339();
    meta["generation"] = 1;
    meta.erase("resourceVersion");
    obj["kind"] = info.kind;
    obj["apiVersion"] = info.group_version();
    auto kv = store_.create(key_of(info, path.ns, name), obj.dump());
    if (!kv) return store_failure(kv.error(), path, name);
    return object_response(201, with_version(*kv));
}

Response Registry::get(const Request& req, const ResourcePath& path) {
    auto kv = store_.get(key_of(*path.info, path.ns, path.name));
    if (!kv) return store_failure(kv.error(), path, path.name);
    json obj = with_version(*kv);
    if (wants_table(req.header("accept")))
        return object_response(200, make_table(*path.info, json::array({obj}), std::to_string(kv->mod_revision),
                                               req.param("includeObject") == "Object", std::time(nullptr)));
    return object_response(200, obj);
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
    json items = json::array();
    int64_t revision = 0;
    std::string last_key;
    bool more = false;
    // Filters run after the store's page, so pages are refilled until limit items match or the keys run out.
    for (;;) {
        opts.limit = limit ? limit - static_cast<int64_t>(items.size()) : 0;
        auto page = store_.list(prefix, opts);
        if (!page) return store_failure(page.error(), path, "");
        revision = page->revision;
        opts.revision = revision;
        for (const auto& kv : page->items) {
            last_key = kv.key;
            json obj = with_version(kv);
            const json& meta = obj["metadata"];
            if (!fields_match(obj, fields)) continue;
            if (!selector.empty() && !labels_match(meta.contains("labels") ? meta["labels"] : json(), selector)) continue;
            items.push_back(std::move(obj));
        }
        more = page->more;
        if (!more || !limit || static_cast<int64_t>(items.size()) >= limit) break;
        opts.start_after = last_key;
    }
    if (wants_table(req.header("accept"))) {
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
    json obj;
    Response error;
    if (!parse_body(req, obj, error) || !check_type(obj, path, error)) return error;
    const auto& info = *path.info;
    json& meta = obj["metadata"];
    if (!meta.is_object()) meta = json::object();
    if (meta.value("name", path.name) != path.name)
        return status_response(400, "BadRequest", "the name of the object (" + meta.value("name", "") +
                                                      ") does not match the name in the URL (" + path.name + ")");
    std::string key = key_of(info, path.ns, path.name);
    auto current = store_.get(key);
    if (!current) return store_failure(current.error(), path, path.name);
    json old = json::parse(current->value, nullptr, false);
    int64_t expected = 0;
    if (auto rv = meta.value("resourceVersion", ""); !rv.empty()) {
        if (std::from_chars(rv.data(), rv.data() + rv.size(), expected).ec != std::errc())
            return failure(422, "Invalid", "metadata.resourceVersion: Invalid value: \"" + rv + "\"", path, path.name);
    } else {
        expected = current->mod_revision;  // an update without resourceVersion is unconditional
    }
    meta["name"] = path.name;
    carry_over(obj, old, info);
    auto kv = store_.update(key, obj.dump(), expected);
    if (!kv) return store_failure(kv.error(), path, path.name);
    return object_response(200, with_version(*kv));
}

Response Registry::patch(const Request& req, const ResourcePath& path) {
    std::string type = req.header("content-type");
    type = type.substr(0, type.find(';'));
    json patch;
    try {
        patch = json::parse(req.body);
    } catch (const json::parse_error& e) {
        return status_response(400, "BadRequest", "the patch is not valid JSON at byte " + std::to_string(e.byte));
    }
    std::string key = key_of(*path.info, path.ns, path.name);
    // Read, patch, write back with compare-and-swap; a concurrent writer makes it try again.
    for (int attempt = 0; attempt < 5; ++attempt) {
        auto current = store_.get(key);
        if (!current) return store_failure(current.error(), path, path.name);
        json obj = json::parse(current->value, nullptr, false);
        json patched;
        if (type == "application/json-patch+json") {
            try {
                patched = obj.patch(patch);
            } catch (const json::exception& e) {
                return failure(422, "Invalid", std::string("the JSON patch does not apply: ") + e.what(), path, path.name);
            }
        } else if (type == "application/merge-patch+json" || type == "application/strategic-merge-patch+json") {
            // Strategic merge patch is taken as a JSON merge patch for now: lists are replaced, not merged
            // by their merge keys.
            if (!patch.is_object()) return status_response(400, "BadRequest", "a merge patch must be a JSON object");
            patched = obj;
            patched.merge_patch(patch);
        } else {
            return status_response(415, "UnsupportedMediaType", "the patch type \"" + type + "\" is not supported");
        }
        carry_over(patched, obj, *path.info);
        auto kv = store_.update(key, patched.dump(), current->mod_revision);
        if (kv) return object_response(200, with_version(*kv));
        if (kv.error().code() != store::errc::conflict) return store_failure(kv.error(), path, path.name);
    }
    return failure(409, "Conflict", "the object kept changing while the patch was applied", path, path.name);
}

Response Registry::remove(const ResourcePath& path) {
    auto kv = store_.remove(key_of(*path.info, path.ns, path.name));
    if (!kv) return store_failure(kv.error(), path, path.name);
    return object_response(200, with_version(*kv));
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
