// Deletion as Kubernetes defines it: DeleteOptions (grace period, propagation policy, preconditions,
// dryRun), finalizers that hold an object with a deletionTimestamp until they are removed, graceful
// deletion of pods bound to a node (the node agent finishes it), namespaces that delete their content,
// and DELETE on a collection.
#include <charconv>
#include <optional>

#include "registry_internal.hpp"
#include "service_addresses.hpp"

namespace skiff::apiserver {

using json = nlohmann::json;

namespace {

std::string rfc3339_after(long long seconds) { return rfc3339(std::time(nullptr) + seconds); }

}  // namespace

bool parse_delete_options(const Request& req, DeleteOptions& out, Response& error) {
    json body = json::object();
    if (!req.body.empty()) {
        if (!parse_body(req, body, error)) return false;
        if (body.value("kind", "DeleteOptions") != "DeleteOptions") {
            error = status_response(400, "BadRequest", "the body of a DELETE must be DeleteOptions, not " + body["kind"].dump());
            return false;
        }
    }
    auto bad = [&](const std::string& what) {
        error = status_response(400, "BadRequest", what);
        return false;
    };
    if (body.contains("gracePeriodSeconds")) {
        if (!body["gracePeriodSeconds"].is_number_integer()) return bad("gracePeriodSeconds must be a whole number");
        out.grace_period = body["gracePeriodSeconds"].get<long long>();
    }
    if (auto g = req.param("gracePeriodSeconds"); !g.empty()) {
        long long v = 0;
        if (std::from_chars(g.data(), g.data() + g.size(), v).ec != std::errc()) return bad("gracePeriodSeconds: \"" + g + "\" is not a whole number");
        out.grace_period = v;
    }
    if (out.grace_period && *out.grace_period < 0) out.grace_period = 0;
    out.propagation = body.value("propagationPolicy", req.param("propagationPolicy"));
    if (!out.propagation.empty() && out.propagation != "Orphan" && out.propagation != "Background" &&
        out.propagation != "Foreground")
        return bad("propagationPolicy: Unsupported value: \"" + out.propagation + "\": supported values: \"Orphan\", \"Background\", \"Foreground\"");
    if (body.contains("orphanDependents") && body["orphanDependents"].is_boolean() && out.propagation.empty())
        out.propagation = body["orphanDependents"].get<bool>() ? "Orphan" : "Background";
    if (body.contains("preconditions") && body["preconditions"].is_object()) {
        out.uid_precondition = body["preconditions"].value("uid", "");
        out.rv_precondition = body["preconditions"].value("resourceVersion", "");
    }
    json dry = body.value("dryRun", json::array());
    out.dry_run = req.param("dryRun") == "All" || (dry.is_array() && !dry.empty() && dry[0] == "All");
    return true;
}

Response Registry::remove(const Request& req, const ResourcePath& path) {
    DeleteOptions options;
    Response error;
    if (!parse_delete_options(req, options, error)) return error;
    return delete_object(path, path.name, options);
}

Response Registry::delete_object(const ResourcePath& path, const std::string& name, const DeleteOptions& options) {
    const auto& info = *path.info;
    std::string key = key_of(info, path.ns, name);
    for (int attempt = 0; attempt < 5; ++attempt) {
        auto current = store_.get(key);
        if (!current) return store_failure(current.error(), path, name);
        json obj = *decode(info, *current, false);
        json& meta = obj["metadata"];
        if (!options.uid_precondition.empty() && options.uid_precondition != meta.value("uid", ""))
            return failure(409, "Conflict",
                           "Precondition failed: UID in precondition: " + options.uid_precondition +
                               ", UID in object meta: " + meta.value("uid", ""),
                           path, name);
        if (!options.rv_precondition.empty() && options.rv_precondition != meta.value("resourceVersion", ""))
            return failure(409, "Conflict",
                           "Precondition failed: ResourceVersion in precondition: " + options.rv_precondition +
                               ", ResourceVersion in object meta: " + meta.value("resourceVersion", ""),
                           path, name);
        if (info.resource == "namespaces") return delete_namespace(path, name, obj, current->mod_revision, options);

        json finalizers = meta.value("finalizers", json::array());
        bool deleting = meta.contains("deletionTimestamp");
        if (!deleting) {
            const char* added = options.propagation == "Foreground" ? "foregroundDeletion"
                                : options.propagation == "Orphan"   ? "orphan"
                                                                    : nullptr;
            if (added && std::find(finalizers.begin(), finalizers.end(), added) == finalizers.end()) finalizers.push_back(added);
        }
        // A pod on a node stops there first: the node agent kills its containers, then deletes it with a
        // grace period of 0. A pod whose node is gone (or that never ran) goes at once, as PodGC would do.
        long long grace = 0;
        if (info.resource == "pods") {
            const json spec = obj.value("spec", json::object());
            std::string node = spec.value("nodeName", "");
            grace = options.grace_period.value_or(spec.value("terminationGracePeriodSeconds", 30LL));
            if (node.empty() || !store_.get(key_of(*find_resource("", "v1", "nodes"), "", node))) grace = 0;
            if (deleting) grace = std::min<long long>(grace, meta.value("deletionGracePeriodSeconds", 0LL));
        }
        bool final = finalizers.empty() && grace == 0;
        if (deleting && !final && grace == meta.value("deletionGracePeriodSeconds", 0LL))
            return object_response(200, obj);  // already on its way; nothing changes
        if (options.dry_run) return object_response(200, obj);
        if (final) {
            auto kv = store_.remove(key, current->mod_revision);
            if (!kv && kv.error().code() == store::errc::conflict) continue;
            if (!kv) return store_failure(kv.error(), path, name);
            decoded_.forget(key);
            after_removal(info, path.ns, obj);
            // The removed object (kv's value) at the deletion's revision.
            return Response{200, "application/json", with_version_text(kv->value, kv->mod_revision), {}};
        }
        if (!deleting) meta["deletionTimestamp"] = rfc3339_after(grace);
        meta["deletionGracePeriodSeconds"] = grace;
        meta["finalizers"] = finalizers;
        meta.erase("resourceVersion");
        auto kv = store_.update(key, write_json(obj), current->mod_revision);
        if (!kv && kv.error().code() == store::errc::conflict) continue;
        if (!kv) return store_failure(kv.error(), path, name);
        Response response{200, "application/json", with_version_text(kv->value, kv->mod_revision), {}};
        remember(*kv, std::move(obj));
        return response;
    }
    return failure(409, "Conflict", "the object kept changing while it was deleted", path, name);
}

void Registry::after_removal(const ResourceInfo& info, const std::string& ns, const json& obj) {
    if (info.resource == "services") release_service_addresses(store_, service_address_keys(obj));
    if (info.namespaced && !ns.empty()) finish_namespace(ns);
}

// The namespace controller's work, done in the request: the namespace is marked Terminating (no new
// content), its objects are deleted, and it goes when the last one is gone (finalizers or a graceful pod
// may keep some a while: their final removal finishes the namespace).
Response Registry::delete_namespace(const ResourcePath& path, const std::string& name, json ns, int64_t revision,
                                    const DeleteOptions& options) {
    if (options.dry_run) return object_response(200, ns);
    std::string key = key_of(*path.info, "", name);
    if (!ns["metadata"].contains("deletionTimestamp")) {
        ns["metadata"]["deletionTimestamp"] = now_rfc3339();
        ns["metadata"]["deletionGracePeriodSeconds"] = 0;
        ns["status"]["phase"] = "Terminating";
        ns["metadata"].erase("resourceVersion");
        auto kv = store_.update(key, ns.dump(), revision);
        if (!kv) return store_failure(kv.error(), path, name);
        ns = with_version(*kv);
    }
    DeleteOptions content;
    content.propagation = "Background";
    for (const auto& info : resources()) {
        if (!info.namespaced) continue;
        auto page = store_.list(collection_prefix(info, name), {});
        if (!page) return store_failure(page.error(), path, name);
        ResourcePath content_path{&info, name, "", ""};
        for (const auto& kv : page->items)
            (void)delete_object(content_path, kv.key.substr(kv.key.rfind('/') + 1), content);
    }
    finish_namespace(name);
    auto now = store_.get(key);
    if (!now) return object_response(200, ns);  // gone already
    return object_response(200, with_version(*now));
}

void Registry::finish_namespace(const std::string& name) {
    const ResourceInfo* namespaces = find_resource("", "v1", "namespaces");
    auto kv = store_.get(key_of(*namespaces, "", name));
    if (!kv) return;
    json ns = json::parse(kv->value, nullptr, false);
    if (!ns.is_object() || !ns["metadata"].contains("deletionTimestamp")) return;
    for (const auto& info : resources()) {
        if (!info.namespaced) continue;
        store::ListOptions one;
        one.limit = 1;
        auto page = store_.list(collection_prefix(info, name), one);
        if (!page || !page->items.empty()) return;
    }
    (void)store_.remove(kv->key, kv->mod_revision);
}

Response Registry::remove_collection(const Request& req, const ResourcePath& path) {
    DeleteOptions options;
    Response error;
    if (!parse_delete_options(req, options, error)) return error;
    std::vector<LabelRequirement> labels;
    std::vector<FieldRequirement> fields;
    std::string why;
    if (!parse_label_selector(req.param("labelSelector"), labels, why))
        return status_response(400, "BadRequest", "labelSelector: " + why);
    if (!parse_field_selector(req.param("fieldSelector"), *path.info, fields, why))
        return status_response(400, "BadRequest", "fieldSelector: " + why);
    auto page = store_.list(collection_prefix(*path.info, path.ns), {});
    if (!page) return store_failure(page.error(), path, "");
    json items = json::array();
    for (const auto& kv : page->items) {
        json obj = with_version(kv);
        const json& meta = obj["metadata"];
        if (!fields_match(obj, fields) || !labels_match(meta.value("labels", json()), labels)) continue;
        ResourcePath item_path{path.info, meta.value("namespace", path.ns), "", ""};
        Response r = delete_object(item_path, meta.value("name", ""), options);
        if (r.status == 200) items.push_back(json::parse(r.body));
        else if (r.status != 404) return r;
    }
    return object_response(200, {{"kind", path.info->kind + "List"},
                                 {"apiVersion", path.info->group_version()},
                                 {"metadata", {{"resourceVersion", std::to_string(page->revision)}}},
                                 {"items", items}});
}

}  // namespace skiff::apiserver
