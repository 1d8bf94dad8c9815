// Unit tests of the id map helpers: map text, /etc/subuid parsing, the unprivileged-map checks.
#include "skiff/isolation/id_map.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

namespace skiff::isolation {
namespace {

TEST(IdMap, TextIsOneLinePerRange) {
    EXPECT_EQ(id_map_text({{0, 100000, 1000}, {1000, 200000, 100}}),
              "0 100000 1000\n1000 200000 100\n");
    EXPECT_EQ(id_map_text({}), "");
}

TEST(IdMap, ParsesSubordinateIdsByNameOrUid) {
    const char* text =
        "alice:100000:65536\n"
        "bob:165536:65536\n"
        "1001:300000:1000\n"
        "# comment:1:2\n"
        "alice:bad:10\n"
        "alice:500000:0\n"
        "alice:600000\n"
        "alice:700000:10";  // no final newline
    auto r = parse_subordinate_ids(text, "alice", 1001);
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r[0].start, 100000u);
    EXPECT_EQ(r[0].count, 65536u);
    EXPECT_EQ(r[1].start, 300000u);
    EXPECT_EQ(r[2].start, 700000u);
    EXPECT_EQ(r[2].count, 10u);
    EXPECT_TRUE(parse_subordinate_ids(text, "carol", 2000).empty());
    EXPECT_TRUE(parse_subordinate_ids("", "alice", 1001).empty());
}

TEST(IdMap, OwnIdMapIsOneIdOfTheCaller) {
    EXPECT_TRUE(is_own_id_map({{0, 1001, 1}}, 1001));
    EXPECT_FALSE(is_own_id_map({{0, 1001, 2}}, 1001));
    EXPECT_FALSE(is_own_id_map({{0, 1002, 1}}, 1001));
    EXPECT_FALSE(is_own_id_map({{0, 1001, 1}, {1, 100000, 10}}, 1001));
}

TEST(IdMap, SubordinateCheckAcceptsOwnIdAndGrantedRanges) {
    std::vector<SubordinateRange> granted = {{100000, 65536}, {300000, 10}};
    EXPECT_TRUE(check_subordinate_map({{0, 1001, 1}, {1, 100000, 65536}, {70000, 300000, 10}}, 1001,
                                      granted, "linux.uidMappings", "/etc/subuid", "alice")
                    .ok());
}

TEST(IdMap, SubordinateCheckNamesTheRangeAndTheFile) {
    std::vector<SubordinateRange> granted = {{100000, 65536}};
    // One past the end of the granted range.
    auto s = check_subordinate_map({{0, 1001, 1}, {1, 100001, 65536}}, 1001, granted,
                                   "linux.uidMappings", "/etc/subuid", "alice");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code(), EPERM);
    const std::string& m = s.error().message();
    EXPECT_NE(m.find("linux.uidMappings[1]: host ids 100001-165536 are not allowed for user alice"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("/etc/subuid grants only 100000-165535"), std::string::npos) << m;
    // Someone else's single id is not the caller's own.
    s = check_subordinate_map({{0, 0, 1}}, 1001, granted, "linux.gidMappings", "/etc/subgid",
                              "alice");
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message().find("host ids 0 are not allowed"), std::string::npos);
    s = check_subordinate_map({{0, 1001, 1}, {1, 5000, 1}}, 1001, {}, "linux.gidMappings",
                              "/etc/subgid", "alice");
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message().find("/etc/subgid has no range for alice"), std::string::npos)
        << s.error().message();
}

TEST(IdMap, UserNameFallsBackToTheNumber) {
    EXPECT_EQ(user_name(0), "root");
    EXPECT_EQ(user_name(4000000123u), "4000000123");
}

}  // namespace
}  // namespace skiff::isolation
