// Discovery: the version, API group and resource lists, built from the resource table.
#include "skiff/apiserver/discovery.hpp"

#include <set>

#include "skiff/apiserver/resources.hpp"

namespace skiff::apiserver {

using json = nlohmann::json;

namespace {

const std::vector<std::string> kVerbs = {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"};

json subresource_verbs(const std::string& sub) {
    if (sub == "log") return json::array({"get"});
    if (sub == "binding") return json::array({"create"});
    return json::array({"get", "patch", "update"});
}

}  // namespace

json version_document() {
    // kubectl's dispatcher picks kubectl.1.<minor> by this minor: 1.32 is its built-in default.
    return {{"major", "1"},
            {"minor", "32"},
            {"gitVersion", "v1.32.0-skiff.0.1.0"},
            {"gitCommit", "skiff"},
            {"gitTreeState", "clean"},
            {"buildDate", "2026-11-26T00:00:00Z"},
            {"goVersion", "n/a (C++20)"},
            {"compiler", "gc"},
            {"platform", "linux/amd64"}};
}

json api_versions_document() {
    return {{"kind", "APIVersions"},
            {"versions", json::array({"v1"})},
            {"serverAddressByClientCIDRs", json::array({{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", ""}}})}};
}

json api_groups_document() {
    json groups = json::array();
    std::set<std::string> seen;
    for (const auto& r : resources()) {
        if (r.group.empty() || !seen.insert(r.group).second) continue;
        json gv = {{"groupVersion", r.group_version()}, {"version", r.version}};
        groups.push_back({{"name", r.group}, {"versions", json::array({gv})}, {"preferredVersion", gv}});
    }
    return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
}

std::optional<json> resource_list_document(const std::string& group, const std::string& version) {
    json list = json::array();
    for (const auto& r : resources()) {
        if (r.group != group || r.version != version) continue;
        json entry = {{"name", r.resource},
                      {"singularName", r.singular},
                      {"namespaced", r.namespaced},
                      {"kind", r.kind},
                      {"verbs", kVerbs}};
        if (!r.short_names.empty()) entry["shortNames"] = r.short_names;
        if (!r.categories.empty()) entry["categories"] = r.categories;
        list.push_back(entry);
        for (const auto& sub : r.subresources)
            list.push_back({{"name", r.resource + "/" + sub},
                            {"singularName", ""},
                            {"namespaced", r.namespaced},
                            {"kind", sub == "scale" ? "Scale" : sub == "binding" ? "Binding" : r.kind},
                            {"verbs", subresource_verbs(sub)}});
    }
    if (list.empty()) return std::nullopt;
    std::string gv = group.empty() ? version : group + "/" + version;
    return json{{"kind", "APIResourceList"}, {"apiVersion", "v1"}, {"groupVersion", gv}, {"resources", list}};
}

}  // namespace skiff::apiserver
