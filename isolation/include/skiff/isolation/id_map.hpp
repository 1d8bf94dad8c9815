// User namespace id maps: /proc/PID/{uid,gid}_map written directly or by newuidmap/newgidmap.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "skiff/base/result.hpp"

namespace skiff::isolation {

// One line of a map: ids [inside, inside+count) in the namespace are [outside, outside+count)
// on the host (the parent namespace).
struct IdRange {
    uint32_t inside = 0, outside = 0, count = 0;
};
// "inside outside count\n" per range, the format /proc/PID/uid_map takes.
std::string id_map_text(const std::vector<IdRange>& ranges);

// The host ids [start, start+count) that /etc/subuid or /etc/subgid grant a user.
struct SubordinateRange {
    uint64_t start = 0, count = 0;
};
// The lines of a subuid/subgid file ("name:start:count") that name the user or its numeric
// id; malformed lines are skipped, as shadow's own parser does.
std::vector<SubordinateRange> parse_subordinate_ids(std::string_view text, std::string_view user,
                                                    uint32_t id);

// The kernel lets the unprivileged owner of a user namespace write one map itself: a single
// range of size 1 whose host id is its own (for gid_map only after setgroups is denied).
bool is_own_id_map(const std::vector<IdRange>& ranges, uint32_t own_id);

// Checks that every range of an unprivileged user's map is its own id or lies inside the
// subordinate ranges granted to it, so the error names the range and the file to fix instead
// of newuidmap's generic refusal. field names the config field ("linux.uidMappings"), file the
// subordinate id file ("/etc/subuid"), user the user's name.
[[nodiscard]] Status check_subordinate_map(const std::vector<IdRange>& ranges, uint32_t own_id,
                                           const std::vector<SubordinateRange>& granted,
                                           const std::string& field, const std::string& file,
                                           const std::string& user);

// Writes both maps of the new user namespace of pid (its first process, which waits for them).
// With CAP_SETUID/CAP_SETGID (root) the files are written directly. An unprivileged caller
// writes a map that is only its own id itself (denying setgroups first for gid_map, as the
// kernel requires); any other map goes through the setuid helpers newuidmap/newgidmap (package
// uidmap), after checking /etc/subuid and /etc/subgid grant its ranges.
[[nodiscard]] Status write_id_maps(pid_t pid, const std::vector<IdRange>& uid_map,
                                   const std::vector<IdRange>& gid_map);

// The name of uid in /etc/passwd, or its number as text. Read directly: skiff-oci is static,
// and glibc's NSS would need shared libraries at run time.
std::string user_name(uid_t uid);

}  // namespace skiff::isolation
