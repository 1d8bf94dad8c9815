// Strategic merge patch (application/strategic-merge-patch+json) applied to a JSON object.
#include "skiff/apiserver/strategic_merge.hpp"

#include <cerrno>
#include <optional>
#include <set>
#include <string_view>

#include "list_order.hpp"

namespace skiff::apiserver {

using json = nlohmann::json;

namespace {

constexpr std::string_view kPatchDirective = "$patch";
constexpr std::string_view kRetainKeys = "$retainKeys";
constexpr std::string_view kSetElementOrder = "$setElementOrder/";
constexpr std::string_view kDeleteFromPrimitiveList = "$deleteFromPrimitiveList/";

// Where the merge is: the field names for schema lookups, and a readable path with list positions
// for errors.
struct Location {
    std::vector<std::string> fields;
    std::string text;

    Location field(const std::string& name) const {
        Location l{fields, text.empty() ? name : text + "." + name};
        l.fields.push_back(name);
        return l;
    }
    Location item(size_t i) const { return Location{fields, text + "[" + std::to_string(i) + "]"}; }
};

Error invalid(const Location& at, const std::string& what) {
    return Error(EINVAL, (at.text.empty() ? std::string("the patch") : at.text) + ": " + what);
}

bool is_scalar(const json& v) {
    return !v.is_object() && !v.is_array();
}

long rank_in(const std::vector<json>& order, const json& id) {
    for (size_t i = 0; i < order.size(); ++i)
        if (order[i] == id) return static_cast<long>(i);
    return -1;
}

class Merger {
  public:
    explicit Merger(const PatchSchema& schema) : schema_(schema) {}

    Result<json> merge_map(json original, const json& patch, const Location& at);
    // original: the original list, or nullptr when the original has none.
    Result<json> merge_list(const json* original, const json& patch, const Location& at);

  private:
    FieldPatchMeta meta(const Location& at) const {
        return schema_ ? schema_(at.fields) : FieldPatchMeta{};
    }
    static bool merges(const FieldPatchMeta& m) {
        return m.strategy == FieldPatchMeta::Strategy::merge ||
               m.strategy == FieldPatchMeta::Strategy::merge_and_retain_keys;
    }
    // A patch value for a field the original lacks (or holds with another type): applied to an
    // empty value, so directives and nulls inside it are resolved rather than stored.
    Result<json> fresh(const json& patch, const Location& at);
    Status retain_keys(json& original, const json& patch, const json& keys, const Location& at);
    Result<std::optional<json>> ordered_list(const json& original, const json& patch,
                                             const std::string& field, const json& order,
                                             const Location& at);
    // What identifies a list item: its merge key's value for objects, the item itself for values.
    Result<json> identity(const json& item, const std::string& merge_key, const Location& at);
    Result<std::vector<json>> identities(const json& list, const std::string& merge_key,
                                         const Location& at);

    const PatchSchema& schema_;
};

Result<json> Merger::fresh(const json& patch, const Location& at) {
    if (patch.is_object()) return merge_map(json::object(), patch, at);
    if (patch.is_array()) return merge_list(nullptr, patch, at);
    return patch;
}

Result<json> Merger::merge_map(json original, const json& patch, const Location& at) {
    if (!original.is_object()) original = json::object();
    json rest = patch;  // the patch; directives are taken out as they are handled
    if (auto d = rest.find(std::string(kPatchDirective)); d != rest.end()) {
        if (!d->is_string())
            return invalid(at, "$patch must be a string (replace, delete or merge)");
        std::string directive = d->get<std::string>();
        rest.erase(d);
        // Kubernetes leaves an empty map where "$patch: delete" was (null deletes the key itself).
        if (directive == "delete") return json::object();
        if (directive == "replace") return merge_map(json::object(), rest, at);
        if (directive != "merge")
            return invalid(
                at, "unknown $patch directive \"" + directive + "\" (replace, delete or merge)");
    }
    for (const auto& [key, value] : rest.items()) {
        if (key.empty() || key[0] != '$') continue;
        bool prefixed =
            key.starts_with(kSetElementOrder) || key.starts_with(kDeleteFromPrimitiveList);
        if (key != kRetainKeys && !prefixed)
            return invalid(at, "unknown directive \"" + key + "\"");
        if (prefixed && key.back() == '/')
            return invalid(at, "directive \"" + key + "\" names no field");
    }
    if (auto r = rest.find(std::string(kRetainKeys)); r != rest.end()) {
        SKIFF_TRY(retain_keys(original, rest, *r, at));
        rest.erase(r);
    }

    // Lists with an order directive are merged together with it: the directive fixes the result's
    // order.
    std::set<std::string> ordered;
    for (const auto& [key, order] : rest.items()) {
        if (!key.starts_with(kSetElementOrder)) continue;
        std::string field = key.substr(kSetElementOrder.size());
        if (rest.contains(field) && rest[field].is_null()) continue;  // the list is deleted
        auto list = ordered_list(original, rest, field, order, at.field(field));
        if (!list) return std::move(list).error();
        if (*list) original[field] = std::move(**list);
        ordered.insert(field);
    }

    for (const auto& [key, value] : rest.items()) {
        if (key[0] == '$' || ordered.count(key)) continue;
        if (value.is_null()) {
            original.erase(key);
            continue;
        }
        Location field = at.field(key);
        auto existing = original.find(key);
        Result<json> merged = json();
        if (existing != original.end() && existing->is_object() && value.is_object())
            merged = merge_map(*existing, value, field);
        else if (existing != original.end() && existing->is_array() && value.is_array())
            merged = merge_list(&*existing, value, field);
        else
            merged = fresh(value, field);
        if (!merged) return std::move(merged).error();
        original[key] = std::move(*merged);
    }

    // Deletions from lists of values come last, after any merge of the same list.
    for (const auto& [key, values] : rest.items()) {
        if (!key.starts_with(kDeleteFromPrimitiveList)) continue;
        std::string field = key.substr(kDeleteFromPrimitiveList.size());
        if (!values.is_array()) return invalid(at, key + " must be a list of values");
        for (const auto& v : values)
            if (!is_scalar(v))
                return invalid(at, key + " must be a list of values, not objects or lists");
        auto list = original.find(field);
        if (list == original.end() || !list->is_array()) continue;
        json kept = json::array();
        for (auto& item : *list)
            if (std::find(values.begin(), values.end(), item) == values.end())
                kept.push_back(std::move(item));
        *list = std::move(kept);
    }
    return original;
}

Status Merger::retain_keys(json& original, const json& patch, const json& keys,
                           const Location& at) {
    if (!keys.is_array()) return invalid(at, "$retainKeys must be a list of field names");
    std::set<std::string> retained;
    for (const auto& k : keys) {
        if (!k.is_string()) return invalid(at, "$retainKeys must be a list of field names");
        retained.insert(k.get<std::string>());
    }
    for (const auto& [key, value] : patch.items()) {
        if (key[0] == '$' || value.is_null()) continue;
        if (!retained.count(key))
            return invalid(at, "the patch sets \"" + key + "\", which $retainKeys does not list");
    }
    for (auto it = original.begin(); it != original.end();) {
        if (retained.count(it.key()))
            ++it;
        else
            it = original.erase(it);
    }
    return {};
}

Result<json> Merger::identity(const json& item, const std::string& merge_key, const Location& at) {
    if (merge_key.empty() || !item.is_object()) return item;
    auto k = item.find(merge_key);
    if (k == item.end()) return invalid(at, "the list item has no merge key \"" + merge_key + "\"");
    return *k;
}

Result<std::vector<json>> Merger::identities(const json& list, const std::string& merge_key,
                                             const Location& at) {
    std::vector<json> ids;
    for (size_t i = 0; i < list.size(); ++i) {
        auto id = identity(list[i], merge_key, at.item(i));
        if (!id) return std::move(id).error();
        ids.push_back(std::move(*id));
    }
    return ids;
}

Result<std::optional<json>> Merger::ordered_list(const json& original, const json& patch,
                                                 const std::string& field, const json& order,
                                                 const Location& at) {
    if (!order.is_array()) return invalid(at, "$setElementOrder must be a list");
    const json* original_list =
        original.contains(field) && original[field].is_array() ? &original[field] : nullptr;
    const json* patch_list = nullptr;
    if (patch.contains(field)) {
        if (!patch[field].is_array())
            return invalid(at, "$setElementOrder is given but the patch's value is not a list");
        patch_list = &patch[field];
    }
    if (!original_list && !patch_list) return std::optional<json>();
    std::string merge_key = meta(at).merge_key;

    auto order_ids = identities(order, merge_key, at);
    if (!order_ids) return std::move(order_ids).error();
    // The patch's items (deletions aside) must appear in the order list, in the same relative
    // order.
    if (patch_list) {
        size_t o = 0;
        for (size_t i = 0; i < patch_list->size(); ++i) {
            const json& item = (*patch_list)[i];
            if (item.is_object() && item.contains(std::string(kPatchDirective))) continue;
            auto id = identity(item, merge_key, at.item(i));
            if (!id) return std::move(id).error();
            while (o < order_ids->size() && (*order_ids)[o] != *id) ++o;
            if (o == order_ids->size())
                return invalid(at.item(i),
                               "the item is missing from $setElementOrder or out of its order");
            ++o;
        }
    }

    Result<json> merged = original_list ? *original_list : json::array();
    if (patch_list) merged = merge_list(original_list, *patch_list, at);
    if (!merged) return std::move(merged).error();
    auto merged_ids = identities(*merged, merge_key, at);
    if (!merged_ids) return std::move(merged_ids).error();
    std::vector<json> server_ids;
    if (original_list) {
        auto ids = identities(*original_list, merge_key, at);
        if (!ids) return std::move(ids).error();
        server_ids = std::move(*ids);
    }

    using Item = std::pair<json, json>;  // identity, item
    std::vector<Item> in_order, server_only;
    for (size_t i = 0; i < merged->size(); ++i) {
        Item item{(*merged_ids)[i], (*merged)[i]};
        (rank_in(*order_ids, item.first) >= 0 ? in_order : server_only).push_back(std::move(item));
    }
    detail::sort_by_rank(in_order, [&](const Item& i) { return rank_in(*order_ids, i.first); });
    detail::sort_by_rank(server_only, [&](const Item& i) { return rank_in(server_ids, i.first); });
    json out = json::array();
    for (auto& item : detail::weave(std::move(server_only), std::move(in_order),
                                    [&](const Item& i) { return rank_in(server_ids, i.first); }))
        out.push_back(std::move(item.second));
    return std::optional<json>(std::move(out));
}

Result<json> Merger::merge_list(const json* original, const json& patch, const Location& at) {
    FieldPatchMeta m = meta(at);
    if (!merges(m)) {
        // Replaced whole: only the "$patch: replace" marker (what happens anyway) is meaningful
        // here.
        json out = json::array();
        for (size_t i = 0; i < patch.size(); ++i) {
            const json& item = patch[i];
            if (item.is_object() && item.contains(std::string(kPatchDirective))) {
                if (item[std::string(kPatchDirective)] == "replace") continue;
                return invalid(at.item(i),
                               "$patch: " + item[std::string(kPatchDirective)].dump() +
                                   " in a list that has no merge strategy (it is replaced whole)");
            }
            auto v = fresh(item, at.item(i));
            if (!v) return std::move(v).error();
            out.push_back(std::move(*v));
        }
        return out;
    }

    json merged = original ? *original : json::array();
    size_t objects = 0, values = 0;
    for (const json* list : std::initializer_list<const json*>{&merged, &patch})
        for (const auto& item : *list) {
            if (item.is_array()) return invalid(at, "lists of lists cannot be merged");
            (item.is_object() ? objects : values)++;
        }
    if (objects && values)
        return invalid(at, "the list mixes objects and values, it cannot be merged");
    if (!objects && !values) return merged;

    std::vector<json>
        patch_ids;  // the identities of the patch's items (directives aside), in order
    std::vector<json> server_ids;
    if (values) {
        // A set of values: the union, patch values ordered as the patch lists them.
        for (const auto& v : merged) server_ids.push_back(v);
        for (const auto& v : patch) {
            if (rank_in(patch_ids, v) < 0) patch_ids.push_back(v);
            if (std::find(merged.begin(), merged.end(), v) == merged.end()) merged.push_back(v);
        }
    } else {
        if (m.merge_key.empty())
            return invalid(at, "the list has merge strategy but no merge key, it cannot be merged");
        const std::string& key = m.merge_key;
        bool replace = false;
        std::vector<std::pair<size_t, const json*>> items;  // the patch's items without directives
        for (size_t i = 0; i < patch.size(); ++i) {
            const json& item = patch[i];
            auto d = item.find(std::string(kPatchDirective));
            if (d == item.end()) {
                if (!item.contains(key))
                    return invalid(at.item(i), "the list item has no merge key \"" + key + "\"");
                items.emplace_back(i, &item);
                continue;
            }
            if (*d == "delete") {
                if (!item.contains(key))
                    return invalid(at.item(i), "$patch: delete needs the merge key \"" + key +
                                                   "\" of the item to delete");
                json kept = json::array();
                for (auto& o : merged)
                    if (!(o.is_object() && o.contains(key) && o[key] == item[key]))
                        kept.push_back(std::move(o));
                merged = std::move(kept);
            } else if (*d == "replace") {
                replace = true;
            } else if (*d != "merge") {  // "$patch: merge" asks for what a merge list does anyway
                return invalid(at.item(i), "unknown $patch directive " + d->dump() +
                                               " (replace, delete or merge)");
            }
        }
        if (replace) {
            json out = json::array();
            for (const auto& [i, item] : items) {
                auto v = merge_map(json::object(), *item, at.item(i));
                if (!v) return std::move(v).error();
                out.push_back(std::move(*v));
            }
            return out;
        }
        for (const auto& o : merged)
            server_ids.push_back(o.is_object() && o.contains(key) ? o[key] : json());
        for (const auto& [i, item] : items) {
            const json& id = (*item)[key];
            if (rank_in(patch_ids, id) < 0) patch_ids.push_back(id);
            auto same = std::find_if(merged.begin(), merged.end(), [&](const json& o) {
                return o.is_object() && o.contains(key) && o[key] == id;
            });
            auto v = merge_map(same != merged.end() ? *same : json::object(), *item, at.item(i));
            if (!v) return std::move(v).error();
            if (same != merged.end())
                *same = std::move(*v);
            else
                merged.push_back(std::move(*v));
        }
    }

    // Order: the patch's items as the patch lists them, the rest woven in where the original had
    // them.
    auto id_of = [&](const json& item) -> json {
        if (values) return item;
        return item.is_object() && item.contains(m.merge_key) ? item[m.merge_key] : json();
    };
    using Item = std::pair<json, json>;
    std::vector<Item> from_patch, server_only;
    for (auto& item : merged) {
        json id = id_of(item);
        bool in_patch = !id.is_null() && rank_in(patch_ids, id) >= 0;
        (in_patch ? from_patch : server_only).emplace_back(std::move(id), std::move(item));
    }
    detail::sort_by_rank(from_patch, [&](const Item& i) { return rank_in(patch_ids, i.first); });
    auto server_rank = [&](const Item& i) {
        return i.first.is_null() ? -1L : rank_in(server_ids, i.first);
    };
    json out = json::array();
    for (auto& item : detail::weave(std::move(server_only), std::move(from_patch), server_rank))
        out.push_back(std::move(item.second));
    return out;
}

}  // namespace

Result<json> strategic_merge_patch(const json& original, const json& patch,
                                   const PatchSchema& schema) {
    if (!patch.is_object()) return Error(EINVAL, "a strategic merge patch must be a JSON object");
    if (!original.is_null() && !original.is_object())
        return Error(EINVAL, "only a JSON object can be patched");
    return Merger(schema).merge_map(original.is_null() ? json::object() : original, patch,
                                    Location{});
}

}  // namespace skiff::apiserver
