// The Kubernetes type table: parsed once from the generated text in k8s_types_table.inc, and the
// lookups over it (messages, kinds, patch metadata, unknown fields).
#include "skiff/apiserver/k8s_types.hpp"

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <sstream>
#include <tuple>

namespace skiff::apiserver {

namespace {

const char* const table_text =
#include "k8s_types_table.inc"
    ;

struct KindEntry {
    std::string api_version;  // "v1", "apps/v1"
    std::string kind;
    const MessageDef* message = nullptr;
};

struct Table {
    std::map<std::string, MessageDef, std::less<>> messages;
    std::vector<KindEntry> kinds;
};

FieldType scalar_type(std::string_view t, bool& is_message) {
    static const std::pair<std::string_view, FieldType> names[] = {
        {"string", FieldType::string},       {"bool", FieldType::boolean},
        {"int32", FieldType::int32},         {"int64", FieldType::int64},
        {"double", FieldType::double_},      {"bytes", FieldType::bytes},
        {"time", FieldType::time},           {"microtime", FieldType::micro_time},
        {"quantity", FieldType::quantity},   {"intorstring", FieldType::int_or_string},
        {"fieldsv1", FieldType::fields_v1},  {"duration", FieldType::duration},
        {"rawextension", FieldType::raw_extension},
    };
    is_message = false;
    for (const auto& [name, type] : names)
        if (t == name) return type;
    is_message = true;
    return FieldType::message;
}

FieldPatchMeta::Strategy strategy_of(std::string_view s) {
    if (s == "merge") return FieldPatchMeta::Strategy::merge;
    if (s == "retainKeys") return FieldPatchMeta::Strategy::retain_keys;
    if (s == "merge,retainKeys" || s == "retainKeys,merge") return FieldPatchMeta::Strategy::merge_and_retain_keys;
    return FieldPatchMeta::Strategy::replace;
}

std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream in(s);
    std::string part;
    while (std::getline(in, part, ','))
        if (!part.empty()) out.push_back(part);
    return out;
}

// The table is generated and checked in: a malformed line is a bug, so it aborts at startup.
[[noreturn]] void bad_table(const std::string& line) {
    std::fprintf(stderr, "skiff: the Kubernetes type table is malformed at: %s\n", line.c_str());
    std::abort();
}

Table parse_table() {
    Table t;
    std::istringstream in(table_text);
    std::string line;
    MessageDef* current = nullptr;
    std::vector<std::tuple<std::string, std::string, std::string>> kinds;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream words(line);
        if (line.rfind("kind ", 0) == 0) {
            std::string word, api_version, kind, message;
            words >> word >> api_version >> kind >> message;
            if (message.empty()) bad_table(line);
            kinds.emplace_back(api_version, kind, message);
        } else if (line.rfind("message ", 0) == 0) {
            std::string word, name;
            words >> word >> name;
            current = &t.messages[name];
            current->name = name;
        } else {
            if (!current) bad_table(line);
            FieldDef f;
            std::string type;
            words >> f.json_name >> f.number >> type;
            if (type.empty() || f.number <= 0) bad_table(line);
            if (f.json_name == "-") f.json_name.clear();
            if (type.rfind("[]", 0) == 0) {
                f.container = FieldDef::Container::list;
                type = type.substr(2);
            } else if (type.rfind("map[string]", 0) == 0) {
                f.container = FieldDef::Container::map;
                type = type.substr(11);
            }
            bool is_message = false;
            f.type = scalar_type(type, is_message);
            if (is_message) f.message_name = type;
            std::string flag;
            while (words >> flag) {
                auto eq = flag.find('=');
                std::string key = flag.substr(0, eq), value = eq == std::string::npos ? "" : flag.substr(eq + 1);
                if (key == "ptr") f.pointer = true;
                else if (key == "omitempty") f.omitempty = true;
                else if (key == "patch") f.patch.strategy = strategy_of(value);
                else if (key == "key") f.patch.merge_key = value;
                else if (key == "keys") f.patch.list_map_keys = split_commas(value);
                else if (key == "list") {
                    f.has_list_type = true;
                    f.patch.list_type = value == "map"   ? FieldPatchMeta::ListType::map
                                        : value == "set" ? FieldPatchMeta::ListType::set
                                                         : FieldPatchMeta::ListType::atomic;
                } else bad_table(line);
            }
            current->fields.push_back(std::move(f));
        }
    }
    for (auto& [name, m] : t.messages)
        for (auto& f : m.fields)
            if (f.type == FieldType::message) {
                auto it = t.messages.find(f.message_name);
                if (it == t.messages.end()) bad_table("message " + f.message_name + " (used by " + name + ")");
                f.message = &it->second;
            }
    // Field lookups by name, inline members' fields included (own fields first, as JSON decoding does).
    std::function<void(MessageDef&, const MessageDef&)> index = [&](MessageDef& into, const MessageDef& from) {
        for (const auto& f : from.fields)
            if (!f.is_inline()) into.by_name.emplace(f.json_name, &f);
        for (const auto& f : from.fields)
            if (f.is_inline() && f.message) index(into, *f.message);
    };
    for (auto& [name, m] : t.messages) index(m, m);
    for (auto& [api_version, kind, message] : kinds) {
        auto it = t.messages.find(message);
        if (it == t.messages.end()) bad_table("kind " + kind);
        t.kinds.push_back({api_version, kind, &it->second});
    }
    return t;
}

// Parsed on first use: the server pays for it only once something needs a type.
const Table& table() {
    static const Table t = parse_table();
    return t;
}

// What a lookup answers: the list type server-side apply uses (see the header).
FieldPatchMeta effective(const FieldDef& f) {
    FieldPatchMeta m = f.patch;
    if (f.container == FieldDef::Container::list && !f.has_list_type &&
        (m.strategy == FieldPatchMeta::Strategy::merge || m.strategy == FieldPatchMeta::Strategy::merge_and_retain_keys)) {
        if (!m.merge_key.empty()) {
            m.list_type = FieldPatchMeta::ListType::map;
            m.list_map_keys = {m.merge_key};
        } else if (f.type != FieldType::message) {
            m.list_type = FieldPatchMeta::ListType::set;
        }
    }
    return m;
}

// The JSON path down to the member being checked, as the keys and list indexes that lead there;
// written out only for a member the message doesn't have.
struct PathStep {
    std::string_view key;
    size_t index = 0;
    bool is_index = false;
};

std::string render(const std::vector<PathStep>& path) {
    std::string out;
    for (const auto& step : path) {
        if (step.is_index)
            out.append("[").append(std::to_string(step.index)).append("]");
        else
            out.append(".").append(step.key);
    }
    return out;
}

void collect_unknown(const MessageDef& m, const nlohmann::json& obj, std::vector<PathStep>& path,
                     bool root, std::vector<std::string>& out) {
    if (!obj.is_object()) return;
    for (const auto& [key, value] : obj.items()) {
        if (root && (key == "apiVersion" || key == "kind")) continue;
        const FieldDef* f = m.field(key);
        path.push_back({key});
        if (!f) {
            out.push_back(render(path));
        } else if (f->type == FieldType::message && !value.is_null()) {
            if (f->container == FieldDef::Container::single) {
                collect_unknown(*f->message, value, path, false, out);
            } else if (f->container == FieldDef::Container::list && value.is_array()) {
                for (size_t i = 0; i < value.size(); ++i) {
                    path.push_back({{}, i, true});
                    collect_unknown(*f->message, value[i], path, false, out);
                    path.pop_back();
                }
            } else if (f->container == FieldDef::Container::map && value.is_object()) {
                for (const auto& [k, v] : value.items()) {
                    path.push_back({k});
                    collect_unknown(*f->message, v, path, false, out);
                    path.pop_back();
                }
            }
        }
        path.pop_back();
    }
}

}  // namespace

const FieldDef* MessageDef::field(std::string_view json_name) const {
    auto it = by_name.find(json_name);
    return it == by_name.end() ? nullptr : it->second;
}

const FieldDef* MessageDef::field_by_number(int number) const {
    for (const auto& f : fields)
        if (f.number == number) return &f;
    return nullptr;
}

const MessageDef* find_message(std::string_view name) {
    const auto& messages = table().messages;
    auto it = messages.find(name);
    return it == messages.end() ? nullptr : &it->second;
}

const MessageDef* message_for_kind(std::string_view group, std::string_view version, std::string_view kind) {
    std::string api_version = group.empty() ? std::string(version) : std::string(group) + "/" + std::string(version);
    for (const auto& k : table().kinds)
        if (k.api_version == api_version && k.kind == kind) return k.message;
    return nullptr;
}

FieldPatchMeta patch_meta(const std::string& group, const std::string& version, const std::string& kind,
                          const std::vector<std::string>& path) {
    const MessageDef* m = message_for_kind(group, version, kind);
    const FieldDef* f = nullptr;
    for (size_t i = 0; i < path.size(); ++i) {
        if (!m) return {};
        f = m->field(path[i]);
        if (!f) return {};
        // A map's values are reached through their key, which the path names.
        if (f->container == FieldDef::Container::map && i + 1 < path.size()) ++i;
        m = f->message;
    }
    return f ? effective(*f) : FieldPatchMeta{};
}

FieldPatchMeta patch_meta(const ResourceInfo& info, const std::vector<std::string>& path) {
    return patch_meta(info.group, info.version, info.kind, path);
}

PatchSchema patch_schema(const ResourceInfo& info) {
    return [group = info.group, version = info.version, kind = info.kind](const std::vector<std::string>& path) {
        return patch_meta(group, version, kind, path);
    };
}

std::vector<std::string> unknown_fields(const ResourceInfo& info, const nlohmann::json& object) {
    std::vector<std::string> out;
    std::vector<PathStep> path;
    if (const MessageDef* m = message_for_kind(info.group, info.version, info.kind))
        collect_unknown(*m, object, path, true, out);
    return out;
}

std::string strict_decoding_error(const ResourceInfo& info, const std::vector<std::string>& unknown) {
    std::string msg = info.kind + " in version \"" + info.version + "\" cannot be handled as a " + info.kind +
                      ": strict decoding error: ";
    for (size_t i = 0; i < unknown.size(); ++i) {
        if (i) msg += ", ";
        std::string path = unknown[i];
        if (!path.empty() && path[0] == '.') path.erase(0, 1);
        msg += "unknown field \"" + path + "\"";
    }
    return msg;
}

}  // namespace skiff::apiserver
