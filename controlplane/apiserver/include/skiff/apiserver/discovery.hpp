// Discovery documents kubectl reads before anything else: /version, /api, /apis, /api/v1 and
// /apis/<group>/<version> (the legacy lists every kubectl from 1.27 to 1.33 understands).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace skiff::apiserver {

nlohmann::json version_document();
nlohmann::json api_versions_document();  // /api
nlohmann::json api_groups_document();    // /apis
// /api/v1 or /apis/<group>/<version>; nullopt for a group version that is not served.
std::optional<nlohmann::json> resource_list_document(const std::string& group, const std::string& version);

}  // namespace skiff::apiserver
