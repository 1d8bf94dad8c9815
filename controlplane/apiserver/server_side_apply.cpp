// Server-side apply and field ownership: FieldsV1 sets, apply merge, comparison, conflicts.
#include "skiff/apiserver/server_side_apply.hpp"

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>
#include <tuple>

#include "list_order.hpp"

namespace skiff::apiserver {

using json = nlohmann::json;

namespace {

using Fields = std::vector<std::string>;  // field names from the root, for schema lookups
using Elements =
    std::vector<std::string>;  // a field path as FieldsV1 elements: "f:spec", "k:{...}", "v:..."

constexpr const char* kBeforeFirstApply = "before-first-apply";

// A set of field paths, shaped like FieldsV1: children keyed by path element, member = the path
// itself belongs to the set (a leaf, or "." next to children).
struct FieldSet {
    bool member = false;
    std::map<std::string, FieldSet> children;

    bool empty() const {
        if (member) return false;
        for (const auto& [_, c] : children)
            if (!c.empty()) return false;
        return true;
    }
    void insert(const Elements& path) {
        FieldSet* node = this;
        for (const auto& e : path) node = &node->children[e];
        node->member = true;
    }
    const FieldSet* child(const std::string& e) const {
        auto it = children.find(e);
        return it == children.end() ? nullptr : &it->second;
    }
    bool has_member_below() const {
        for (const auto& [_, c] : children)
            if (c.member || c.has_member_below()) return true;
        return false;
    }
    bool operator==(const FieldSet& o) const = default;
};

void compact(FieldSet& s) {
    for (auto it = s.children.begin(); it != s.children.end();) {
        compact(it->second);
        if (it->second.empty())
            it = s.children.erase(it);
        else
            ++it;
    }
}

FieldSet set_union(const FieldSet& a, const FieldSet& b) {
    FieldSet out = a;
    out.member = a.member || b.member;
    for (const auto& [e, c] : b.children) out.children[e] = set_union(out.children[e], c);
    return out;
}

FieldSet set_difference(const FieldSet& a, const FieldSet& b) {  // a's members that are not b's
    FieldSet out;
    out.member = a.member && !b.member;
    for (const auto& [e, c] : a.children) {
        const FieldSet* other = b.child(e);
        out.children[e] = other ? set_difference(c, *other) : c;
    }
    compact(out);
    return out;
}

FieldSet set_intersection(const FieldSet& a, const FieldSet& b) {
    FieldSet out;
    out.member = a.member && b.member;
    for (const auto& [e, c] : a.children)
        if (const FieldSet* other = b.child(e)) out.children[e] = set_intersection(c, *other);
    compact(out);
    return out;
}

// Kubernetes' iteration order: a node's members first, then the paths below its children.
template <class F>
void for_each_member(const FieldSet& s, Elements& prefix, F&& f) {
    for (const auto& [e, c] : s.children)
        if (c.member) {
            prefix.push_back(e);
            f(prefix);
            prefix.pop_back();
        }
    for (const auto& [e, c] : s.children) {
        prefix.push_back(e);
        for_each_member(c, prefix, f);
        prefix.pop_back();
    }
}

// ".spec.template.spec.containers[name=\"web\"].image", as Kubernetes prints a field path.
std::string display_path(const Elements& path) {
    std::string out;
    for (const auto& e : path) {
        std::string rest = e.substr(2);
        if (e.starts_with("f:")) {
            out += "." + rest;
        } else if (e.starts_with("k:")) {
            json key = json::parse(rest, nullptr, false);
            std::string parts;
            if (key.is_object())
                for (const auto& [name, value] : key.items())
                    parts += (parts.empty() ? "" : ",") + name + "=" + value.dump();
            out += "[" + parts + "]";
        } else if (e.starts_with("v:")) {
            out += "[=" + rest + "]";
        } else {
            out += "[" + rest + "]";
        }
    }
    return out;
}

json to_fields_v1(const FieldSet& s) {
    json out = json::object();
    bool children = false;
    for (const auto& [e, c] : s.children) {
        if (c.empty()) continue;
        out[e] = to_fields_v1(c);
        children = true;
    }
    if (s.member && children) out["."] = json::object();
    return out;
}

Result<FieldSet> from_fields_v1(const json& j) {
    if (!j.is_object()) return Error(EINVAL, "fieldsV1 entries must be objects");
    FieldSet s;
    if (j.empty()) s.member = true;  // {} is a leaf of the set
    for (const auto& [e, v] : j.items()) {
        if (e == ".") {
            s.member = true;
            continue;
        }
        std::string element = e;
        if (e.starts_with("k:") || e.starts_with("v:")) {
            // Keys and values are JSON: write them the way this file does, so equal paths compare
            // equal.
            json value = json::parse(e.substr(2), nullptr, false);
            if (value.is_discarded())
                return Error(EINVAL, "fieldsV1 element " + e + " is not valid JSON");
            element = e.substr(0, 2) + value.dump();
        } else if (!e.starts_with("f:") && !e.starts_with("i:")) {
            return Error(EINVAL, "fieldsV1 element \"" + e + "\" is not f:, k:, v:, i: or .");
        }
        auto child = from_fields_v1(v);
        if (!child) return std::move(child).error();
        s.children[element] = set_union(s.children[element], *child);
    }
    return s;
}

// Fields Kubernetes doesn't track: the server sets them or they identify the object.
void strip_untracked(FieldSet& s) {
    s.children.erase("f:apiVersion");
    s.children.erase("f:kind");
    if (auto m = s.children.find("f:metadata"); m != s.children.end()) {
        m->second.member = false;
        for (const char* f :
             {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
              "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "managedFields",
              "clusterName"})
            m->second.children.erase(std::string("f:") + f);
    }
    compact(s);
}

// One managedFields entry.
struct Manager {
    std::string manager, operation, api_version, time, subresource;
    FieldSet fields;

    // Kubernetes keeps one entry per applier, and per updater and apiVersion.
    bool same_identity(const Manager& o) const {
        return manager == o.manager && operation == o.operation && subresource == o.subresource &&
               (operation == "Apply" || api_version == o.api_version);
    }
};

// A string member, or fallback when it is absent or not a string.
std::string string_at(const json& object, const char* key, const std::string& fallback) {
    if (!object.is_object()) return fallback;
    auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : fallback;
}

const json* managed_fields_of(const json& object) {
    if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object())
        return nullptr;
    const json& meta = object["metadata"];
    return meta.contains("managedFields") && !meta["managedFields"].is_null()
               ? &meta["managedFields"]
               : nullptr;
}

Result<std::vector<Manager>> decode_managers(const json& object) {
    std::vector<Manager> out;
    const json* entries = managed_fields_of(object);
    if (!entries) return out;
    if (!entries->is_array()) return Error(EINVAL, "metadata.managedFields must be a list");
    for (size_t i = 0; i < entries->size(); ++i) {
        const json& e = (*entries)[i];
        std::string where = "metadata.managedFields[" + std::to_string(i) + "]";
        if (!e.is_object()) return Error(EINVAL, where + " must be an object");
        Manager m;
        for (auto [field, target] :
             {std::pair{"manager", &m.manager}, std::pair{"operation", &m.operation},
              std::pair{"apiVersion", &m.api_version}, std::pair{"time", &m.time},
              std::pair{"subresource", &m.subresource}}) {
            if (!e.contains(field) || e[field].is_null()) continue;
            if (!e[field].is_string())
                return Error(EINVAL, where + "." + field + " must be a string");
            *target = e[field].get<std::string>();
        }
        if (m.operation != "Apply" && m.operation != "Update")
            return Error(EINVAL, where + ".operation must be Apply or Update");
        if (e.contains("fieldsType") && e["fieldsType"] != "FieldsV1")
            return Error(EINVAL, where + ".fieldsType must be FieldsV1");
        if (e.contains("fieldsV1") && !e["fieldsV1"].is_null()) {
            auto fields = from_fields_v1(e["fieldsV1"]);
            if (!fields) return std::move(fields).error().context(where + ".fieldsV1");
            m.fields = std::move(*fields);
            if (e["fieldsV1"].empty()) m.fields.member = false;  // {} at the root is an empty set
        }
        out.push_back(std::move(m));
    }
    return out;
}

// Sorted as Kubernetes sorts them: operation, time, manager, apiVersion, subresource. Empty entries
// go.
json encode_managers(std::vector<Manager> managers) {
    std::erase_if(managers, [](const Manager& m) { return m.fields.empty(); });
    std::stable_sort(managers.begin(), managers.end(), [](const Manager& a, const Manager& b) {
        return std::tie(a.operation, a.time, a.manager, a.api_version, a.subresource) <
               std::tie(b.operation, b.time, b.manager, b.api_version, b.subresource);
    });
    json out = json::array();
    for (const auto& m : managers) {
        json e = {{"manager", m.manager},
                  {"operation", m.operation},
                  {"apiVersion", m.api_version},
                  {"fieldsType", "FieldsV1"},
                  {"fieldsV1", to_fields_v1(m.fields)}};
        if (!m.time.empty()) e["time"] = m.time;
        if (!m.subresource.empty()) e["subresource"] = m.subresource;
        out.push_back(std::move(e));
    }
    return out;
}

json without_managed_fields(json object) {
    if (object.is_object() && object.contains("metadata") && object["metadata"].is_object())
        object["metadata"].erase("managedFields");
    return object;
}

void set_managed_fields(json& object, std::vector<Manager> managers) {
    json encoded = encode_managers(std::move(managers));
    if (encoded.empty()) {
        if (object.contains("metadata") && object["metadata"].is_object())
            object["metadata"].erase("managedFields");
        return;
    }
    object["metadata"]["managedFields"] = std::move(encoded);
}

void drop_nulls(json& v) {
    if (v.is_object()) {
        for (auto it = v.begin(); it != v.end();) {
            if (it->is_null()) {
                it = v.erase(it);
            } else {
                drop_nulls(*it);
                ++it;
            }
        }
    } else if (v.is_array()) {
        for (auto& item : v) drop_nulls(item);
    }
}

struct Comparison {
    FieldSet added, modified, removed;
};

// How a list's items are told apart (x-kubernetes-list-type), looked up by field path.
struct ListShape {
    FieldPatchMeta::ListType type = FieldPatchMeta::ListType::atomic;
    std::vector<std::string> keys;
};

// The walks over objects that server-side apply needs, all following the schema's list types.
class Walker {
  public:
    explicit Walker(const PatchSchema& schema) : schema_(schema) {}

    // The configuration's lists must be well formed; a live list that is not is treated as atomic.
    Status validate(const json& v, Fields& fields, Elements& at) const;
    // The fields a configuration sets (Kubernetes' ToFieldSet).
    void collect(const json& v, Fields& fields, FieldSet& node) const;
    json merge(const json& live, const json& config, Fields& fields) const;
    // a, b: nullptr when absent.
    void compare(const json* a, const json* b, Fields& fields, Elements& at, Comparison& out) const;
    // Removes the fields in remove from v, except what keep (everyone's fields) still holds.
    void prune(json& v, const FieldSet& remove, const FieldSet* keep, Fields& fields) const;

  private:
    ListShape schema_shape(const Fields& fields) const;
    ListShape shape_for(const Fields& fields, const json* a, const json* b) const;
    // The item's path element ("k:{...}" or "v:..."), or "" with why set.
    static std::string element_of(const json& item, const ListShape& shape,
                                  std::string* why = nullptr);
    static std::string list_problem(const json& list, const ListShape& shape);
    void restrict_to(json& v, const FieldSet& keep, Fields& fields,
                     const std::vector<std::string>& key_fields) const;

    const PatchSchema& schema_;
};

ListShape Walker::schema_shape(const Fields& fields) const {
    FieldPatchMeta m = schema_ ? schema_(fields) : FieldPatchMeta{};
    ListShape s{m.list_type, m.list_map_keys};
    if (s.type == FieldPatchMeta::ListType::map && s.keys.empty() && !m.merge_key.empty())
        s.keys = {m.merge_key};
    if (s.type == FieldPatchMeta::ListType::map && s.keys.empty())
        s.type = FieldPatchMeta::ListType::atomic;
    return s;
}

ListShape Walker::shape_for(const Fields& fields, const json* a, const json* b) const {
    ListShape s = schema_shape(fields);
    if (s.type == FieldPatchMeta::ListType::atomic) return s;
    for (const json* list : {a, b})
        if (list && list->is_array() && !list_problem(*list, s).empty()) return ListShape{};
    return s;
}

std::string Walker::element_of(const json& item, const ListShape& shape, std::string* why) {
    if (shape.type == FieldPatchMeta::ListType::set) {
        if (item.is_object() || item.is_array()) {
            if (why) *why = "a set's items must be values, not objects or lists";
            return "";
        }
        return "v:" + item.dump();
    }
    if (!item.is_object()) {
        if (why) *why = "the items of a list keyed by fields must be objects";
        return "";
    }
    json key = json::object();
    for (const auto& k : shape.keys) {
        auto it = item.find(k);
        if (it != item.end() && !it->is_null()) {
            key[k] = *it;
        } else if (k == "protocol") {
            key[k] = "TCP";  // the one key field with a default in Kubernetes' types (ports)
        } else {
            if (why) *why = "an item omits the key field \"" + k + "\"";
            return "";
        }
    }
    return "k:" + key.dump();
}

std::string Walker::list_problem(const json& list, const ListShape& shape) {
    std::set<std::string> seen;
    for (const auto& item : list) {
        std::string why;
        std::string e = element_of(item, shape, &why);
        if (e.empty()) return why;
        if (!seen.insert(e).second) return "duplicate items " + display_path({e});
    }
    return "";
}

Status Walker::validate(const json& v, Fields& fields, Elements& at) const {
    if (v.is_object()) {
        for (const auto& [k, child] : v.items()) {
            fields.push_back(k);
            at.push_back("f:" + k);
            Status s = validate(child, fields, at);
            fields.pop_back();
            at.pop_back();
            SKIFF_TRY(s);
        }
    } else if (v.is_array()) {
        ListShape shape = schema_shape(fields);
        if (shape.type == FieldPatchMeta::ListType::atomic) return {};
        if (auto why = list_problem(v, shape); !why.empty())
            return Error(EINVAL, display_path(at) + ": " + why);
        for (const auto& item : v) {
            at.push_back(element_of(item, shape));
            Status s = validate(item, fields, at);
            at.pop_back();
            SKIFF_TRY(s);
        }
    }
    return {};
}

void Walker::collect(const json& v, Fields& fields, FieldSet& node) const {
    if (v.is_object() && !v.empty()) {
        for (const auto& [k, child] : v.items()) {
            fields.push_back(k);
            collect(child, fields, node.children["f:" + k]);
            fields.pop_back();
        }
        return;
    }
    ListShape shape = v.is_array() ? shape_for(fields, &v, nullptr) : ListShape{};
    if (!v.is_array() || v.empty() || shape.type == FieldPatchMeta::ListType::atomic) {
        node.member = true;  // a value, an empty map or list, or an atomic list
        return;
    }
    for (const auto& item : v) {
        FieldSet& child = node.children[element_of(item, shape)];
        child.member = true;  // the item itself ("." in FieldsV1)
        if (shape.type == FieldPatchMeta::ListType::map) collect(item, fields, child);
    }
}

json Walker::merge(const json& live, const json& config, Fields& fields) const {
    if (live.is_object() && config.is_object()) {
        json out = live;
        for (const auto& [k, v] : config.items()) {
            fields.push_back(k);
            out[k] = live.contains(k) ? merge(live[k], v, fields) : v;
            fields.pop_back();
        }
        return out;
    }
    if (!live.is_array() || !config.is_array()) return config;
    ListShape shape = shape_for(fields, &live, &config);
    if (shape.type == FieldPatchMeta::ListType::atomic) return config;

    std::map<std::string, long> live_rank;
    for (size_t i = 0; i < live.size(); ++i)
        live_rank[element_of(live[i], shape)] = static_cast<long>(i);
    using Item = std::pair<std::string, json>;
    std::vector<Item> from_config, live_only;
    std::set<std::string> in_config;
    for (const auto& item : config) {
        std::string e = element_of(item, shape);
        in_config.insert(e);
        auto l = live_rank.find(e);
        json merged = l != live_rank.end() && shape.type == FieldPatchMeta::ListType::map
                          ? merge(live[static_cast<size_t>(l->second)], item, fields)
                          : item;
        from_config.emplace_back(e, std::move(merged));
    }
    for (const auto& item : live) {
        std::string e = element_of(item, shape);
        if (!in_config.count(e)) live_only.emplace_back(e, item);
    }
    auto rank = [&](const Item& i) {
        auto l = live_rank.find(i.first);
        return l == live_rank.end() ? -1L : l->second;
    };
    json out = json::array();
    for (auto& item : detail::weave(std::move(live_only), std::move(from_config), rank))
        out.push_back(std::move(item.second));
    return out;
}

void Walker::compare(const json* a, const json* b, Fields& fields, Elements& at,
                     Comparison& out) const {
    if (!a && !b) return;
    auto mark = [&](FieldSet& set) {
        if (!at.empty()) set.insert(at);  // the root is not a field
    };
    auto leaf = [&] {
        if (!a)
            mark(out.added);
        else if (!b)
            mark(out.removed);
        else if (*a != *b)
            mark(out.modified);
    };
    bool maps = (!a || a->is_object()) && (!b || b->is_object());
    bool lists = (!a || a->is_array()) && (!b || b->is_array());
    if (maps) {
        if ((!a || a->empty()) && (!b || b->empty())) return leaf();  // keeps {} apart from absent
        if (!a) mark(out.added);
        if (!b) mark(out.removed);
        std::set<std::string> keys;
        for (const json* m : {a, b})
            if (m)
                for (const auto& [k, _] : m->items()) keys.insert(k);
        for (const auto& k : keys) {
            fields.push_back(k);
            at.push_back("f:" + k);
            compare(a && a->contains(k) ? &(*a)[k] : nullptr,
                    b && b->contains(k) ? &(*b)[k] : nullptr, fields, at, out);
            fields.pop_back();
            at.pop_back();
        }
        return;
    }
    if (lists) {
        ListShape shape = shape_for(fields, a, b);
        if (shape.type == FieldPatchMeta::ListType::atomic ||
            ((!a || a->empty()) && (!b || b->empty())))
            return leaf();
        if (!a) mark(out.added);
        if (!b) mark(out.removed);
        std::map<std::string, const json*> a_items, b_items;
        std::vector<std::string> order;
        for (auto [list, items] : {std::pair{a, &a_items}, std::pair{b, &b_items}})
            if (list)
                for (const auto& item : *list) {
                    std::string e = element_of(item, shape);
                    if (!a_items.count(e) && !b_items.count(e)) order.push_back(e);
                    (*items)[e] = &item;
                }
        for (const auto& e : order) {
            const json* ia = a_items.count(e) ? a_items[e] : nullptr;
            const json* ib = b_items.count(e) ? b_items[e] : nullptr;
            at.push_back(e);
            if (shape.type == FieldPatchMeta::ListType::set) {
                if (!ia) mark(out.added);
                if (!ib) mark(out.removed);
            } else {
                if (!ia) mark(out.added);
                if (!ib) mark(out.removed);
                compare(ia, ib, fields, at, out);
            }
            at.pop_back();
        }
        return;
    }
    if ((a && (a->is_object() || a->is_array())) || (b && (b->is_object() || b->is_array()))) {
        // A map or list became something else (or the other way round): all of it goes, all of it
        // comes.
        compare(a, nullptr, fields, at, out);
        compare(nullptr, b, fields, at, out);
        mark(out.modified);
        return;
    }
    leaf();
}

void Walker::restrict_to(json& v, const FieldSet& keep, Fields& fields,
                         const std::vector<std::string>& key_fields) const {
    if (v.is_object()) {
        for (auto it = v.begin(); it != v.end();) {
            const FieldSet* k = keep.child("f:" + it.key());
            bool is_key =
                std::find(key_fields.begin(), key_fields.end(), it.key()) != key_fields.end();
            if (!k && !is_key) {
                it = v.erase(it);
                continue;
            }
            if (k && !k->member) {
                fields.push_back(it.key());
                restrict_to(*it, *k, fields, {});
                fields.pop_back();
            }
            ++it;
        }
        return;
    }
    if (!v.is_array()) return;
    ListShape shape = shape_for(fields, &v, nullptr);
    if (shape.type == FieldPatchMeta::ListType::atomic) return;
    json kept = json::array();
    for (auto& item : v) {
        const FieldSet* k = keep.child(element_of(item, shape));
        if (!k) continue;
        if (!k->member && shape.type == FieldPatchMeta::ListType::map)
            restrict_to(item, *k, fields, shape.keys);
        kept.push_back(std::move(item));
    }
    v = std::move(kept);
}

void Walker::prune(json& v, const FieldSet& remove, const FieldSet* keep, Fields& fields) const {
    // What becomes of one child: gone, cut back to what others keep, or pruned further inside.
    auto prune_child = [&](json& child, const FieldSet& r, const FieldSet* k,
                           const std::vector<std::string>& keys) {
        bool kept_itself = k && k->member;
        if (r.member && !kept_itself) {
            if (!k || !k->has_member_below()) return false;
            restrict_to(child, *k, fields, keys);
            return true;
        }
        if (!r.children.empty()) prune(child, r, k, fields);
        return true;
    };
    if (v.is_object()) {
        for (const auto& [e, r] : remove.children) {
            if (!e.starts_with("f:")) continue;
            std::string name = e.substr(2);
            if (!v.contains(name)) continue;
            fields.push_back(name);
            if (!prune_child(v[name], r, keep ? keep->child(e) : nullptr, {})) v.erase(name);
            fields.pop_back();
        }
        return;
    }
    if (!v.is_array()) return;
    ListShape shape = shape_for(fields, &v, nullptr);
    if (shape.type == FieldPatchMeta::ListType::atomic) return;
    json kept = json::array();
    for (auto& item : v) {
        std::string e = element_of(item, shape);
        const FieldSet* r = remove.child(e);
        if (!r || prune_child(item, *r, keep ? keep->child(e) : nullptr, shape.keys))
            kept.push_back(std::move(item));
    }
    v = std::move(kept);
}

Comparison compare_objects(const Walker& w, const json& a, const json& b) {
    Comparison c;
    Fields fields;
    Elements at;
    w.compare(&a, &b, fields, at, c);
    for (FieldSet* s : {&c.added, &c.modified, &c.removed}) strip_untracked(*s);
    return c;
}

std::string print_manager(const Conflict& c) {
    std::string out = json(c.manager).dump();
    if (!c.subresource.empty()) out += " with subresource " + json(c.subresource).dump();
    if (c.operation == "Update") out += " using " + c.api_version;
    return out;
}

}  // namespace

Result<ApplyResult> server_side_apply(const json& live, const json& applied,
                                      const std::string& manager, bool force,
                                      const std::string& now_rfc3339, const PatchSchema& schema) {
    if (!applied.is_object())
        return Error(EINVAL, "the applied configuration must be a JSON object");
    if (!live.is_null() && !live.is_object())
        return Error(EINVAL, "the live object must be a JSON object");
    if (manager.empty()) return Error(EINVAL, "an apply needs a field manager (fieldManager)");
    if (managed_fields_of(applied))
        return Error(EINVAL, "metadata.managedFields must be nil in an applied configuration");
    if (applied.contains("metadata") && !applied["metadata"].is_object())
        return Error(EINVAL, "metadata must be an object");

    Walker w(schema);
    json config = applied;
    drop_nulls(config);  // a null in an applied configuration is taken as the field left out
    {
        Fields fields;
        Elements at;
        SKIFF_TRY_CTX(w.validate(config, fields, at), "the applied configuration");
    }
    auto managers = decode_managers(live);
    if (!managers) return std::move(managers).error().context("the live object");
    const json live_body = live.is_null() ? json::object() : without_managed_fields(live);
    std::string api_version =
        string_at(config, "apiVersion", string_at(live_body, "apiVersion", ""));

    if (!live.is_null() && managers->empty()) {
        // Fields written before anyone tracked ownership belong to this stand-in, as in Kubernetes.
        Comparison c = compare_objects(w, json::object(), live_body);
        Manager before{kBeforeFirstApply, "Update", string_at(live_body, "apiVersion", api_version),
                       now_rfc3339,       "",       {}};
        before.fields = set_union(c.added, c.modified);
        managers->push_back(std::move(before));
    }
    const std::vector<Manager> original_managers = *managers;

    FieldSet applied_fields;
    {
        Fields fields;
        w.collect(config, fields, applied_fields);
        strip_untracked(applied_fields);
    }
    Manager self{manager, "Apply", api_version, now_rfc3339, "", applied_fields};
    auto mine = std::find_if(managers->begin(), managers->end(),
                             [&](const Manager& m) { return m.same_identity(self); });
    FieldSet last_applied;
    if (mine != managers->end()) {
        last_applied = mine->fields;
        self.time = mine->time;
        *mine = self;
    } else {
        managers->push_back(self);
        mine = managers->end() - 1;
    }

    Fields fields;
    json merged = w.merge(live_body, config, fields);
    FieldSet everyone;
    for (const auto& m : *managers) everyone = set_union(everyone, m.fields);
    w.prune(merged, set_difference(last_applied, applied_fields), &everyone, fields);

    Comparison change = compare_objects(w, live_body, merged);
    FieldSet changed = set_union(change.modified, change.added);
    std::vector<Conflict> conflicts;
    for (auto& m : *managers) {
        if (m.same_identity(self)) continue;
        Elements prefix;
        for_each_member(set_intersection(m.fields, changed), prefix, [&](const Elements& path) {
            conflicts.push_back(
                Conflict{m.manager, m.operation, m.api_version, m.subresource, display_path(path)});
        });
    }
    if (!conflicts.empty() && !force) return ApplyResult{live, std::move(conflicts)};
    for (auto& m : *managers) {
        if (m.same_identity(self)) continue;
        m.fields = set_difference(set_difference(m.fields, changed),
                                  change.removed);  // force moves them here
    }

    mine = std::find_if(managers->begin(), managers->end(),
                        [&](const Manager& m) { return m.same_identity(self); });
    bool object_changed = merged != live_body;
    if (object_changed || !(last_applied == applied_fields) || mine->time.empty())
        mine->time = now_rfc3339;
    if (!live.is_null() && !object_changed &&
        encode_managers(*managers) == encode_managers(original_managers) && managed_fields_of(live))
        return ApplyResult{live, {}};  // nothing to do: the caller can skip the write
    set_managed_fields(merged, std::move(*managers));
    return ApplyResult{std::move(merged), {}};
}

json record_update(const json& old_object, const json& new_object, const std::string& manager,
                   const std::string& operation, const std::string& now_rfc3339,
                   const PatchSchema& schema) {
    if (!new_object.is_object()) return new_object;
    Walker w(schema);
    const json old_body =
        old_object.is_object() ? without_managed_fields(old_object) : json::object();
    json out = without_managed_fields(new_object);

    // The client's managedFields when it sent usable ones (that is how they are edited), else the
    // stored ones.
    std::vector<Manager> managers;
    auto sent = decode_managers(new_object);
    if (sent && !sent->empty()) {
        managers = std::move(*sent);
    } else if (auto stored = decode_managers(old_object); stored) {
        managers = std::move(*stored);
    }

    Comparison change = compare_objects(w, old_body, out);
    FieldSet changed = set_union(change.modified, change.added);
    Manager self{
        manager,     operation, string_at(out, "apiVersion", string_at(old_body, "apiVersion", "")),
        now_rfc3339, "",        {}};
    for (auto& m : managers)
        if (!m.same_identity(self))
            m.fields = set_difference(set_difference(m.fields, changed), change.removed);
    auto mine = std::find_if(managers.begin(), managers.end(),
                             [&](const Manager& m) { return m.same_identity(self); });
    if (mine == managers.end() && !changed.empty()) {
        managers.push_back(self);
        mine = managers.end() - 1;
    }
    if (mine != managers.end()) {
        mine->fields = set_union(set_difference(mine->fields, change.removed), changed);
        if (!changed.empty())
            mine->time = now_rfc3339;  // the entry's time says when it last took fields
    }
    set_managed_fields(out, std::move(managers));
    return out;
}

std::string conflict_message(const std::vector<Conflict>& conflicts) {
    if (conflicts.size() == 1)
        return "Apply failed with 1 conflict: conflict with " + print_manager(conflicts[0]) + ": " +
               conflicts[0].field;
    std::map<std::string, std::vector<std::string>> by_manager;
    for (const auto& c : conflicts) by_manager[print_manager(c)].push_back(c.field);
    std::string out = "Apply failed with " + std::to_string(conflicts.size()) + " conflicts: ";
    bool first = true;
    for (const auto& [who, fields] : by_manager) {
        out += (first ? "" : "\n") + std::string("conflicts with ") + who + ":";
        first = false;
        for (const auto& f : fields) out += "\n- " + f;
    }
    return out;
}

json conflict_causes(const std::vector<Conflict>& conflicts) {
    json causes = json::array();
    for (const auto& c : conflicts)
        causes.push_back({{"type", "FieldManagerConflict"},
                          {"message", "conflict with " + print_manager(c)},
                          {"field", c.field}});
    return causes;
}

json conflict_status(const std::vector<Conflict>& conflicts) {
    return {{"kind", "Status"},
            {"apiVersion", "v1"},
            {"metadata", json::object()},
            {"status", "Failure"},
            {"message", conflict_message(conflicts)},
            {"reason", "Conflict"},
            {"details", {{"causes", conflict_causes(conflicts)}}},
            {"code", 409}};
}

}  // namespace skiff::apiserver
