// Tests for exec's pure parts: the process runc's flags make, --process files, --user, --cap.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "skiff/runtime/container.hpp"

namespace skiff::runtime {
namespace {

Process container_process() {
    Process p;
    p.args = {"sleep", "1000"};
    p.env = {"PATH=/usr/bin:/bin", "TERM=xterm", "GREETING=hello"};
    p.cwd = "/srv";
    p.user.uid = 1000;
    p.user.gid = 1000;
    p.user.additional_gids = {5};
    p.capabilities = isolation::CapabilitySets{{"CAP_KILL"}, {"CAP_KILL"}, {}, {"CAP_KILL"}, {}};
    p.no_new_privileges = true;
    p.terminal = true;
    p.console_size = ConsoleSize{24, 80};
    return p;
}

ExecOptions with_args(std::vector<std::string> args) {
    ExecOptions o;
    o.args = std::move(args);
    return o;
}

TEST(ExecProcess, KeepsTheContainersProcessApartFromTheCommand) {
    auto p = exec_process(container_process(), with_args({"ps", "-ef"}));
    ASSERT_TRUE(p) << p.error().what();
    EXPECT_EQ(p->args, (std::vector<std::string>{"ps", "-ef"}));
    EXPECT_EQ(p->env, container_process().env);
    EXPECT_EQ(p->cwd, "/srv");
    EXPECT_EQ(p->user.uid, 1000u);
    EXPECT_EQ(p->user.gid, 1000u);
    EXPECT_EQ(p->user.additional_gids, std::vector<uint32_t>{5});
    EXPECT_EQ(p->capabilities->bounding, std::vector<std::string>{"CAP_KILL"});
    EXPECT_TRUE(p->no_new_privileges);
}

TEST(ExecProcess, TerminalComesFromTheOptionNotTheConfig) {
    auto p = exec_process(container_process(), with_args({"sh"}));
    ASSERT_TRUE(p);
    EXPECT_FALSE(p->terminal);
    EXPECT_FALSE(p->console_size);
    ExecOptions o = with_args({"sh"});
    o.terminal = true;
    p = exec_process(container_process(), o);
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->terminal);
}

TEST(ExecProcess, EnvReplacesAKeyInPlaceAndAppendsNewOnes) {
    ExecOptions o = with_args({"env"});
    o.env = {"GREETING=bye", "NEW=1", "PATH=/bin", "NEW=2"};
    auto p = exec_process(container_process(), o);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->env,
              (std::vector<std::string>{"PATH=/bin", "TERM=xterm", "GREETING=bye", "NEW=2"}));
}

TEST(ExecProcess, EnvKeyIsMatchedWhole) {
    ExecOptions o = with_args({"env"});
    o.env = {"PAT=x", "GREETING="};
    auto p = exec_process(container_process(), o);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->env,
              (std::vector<std::string>{"PATH=/usr/bin:/bin", "TERM=xterm", "GREETING=", "PAT=x"}));
}

TEST(ExecProcess, EnvWithoutEqualsIsRefused) {
    for (const char* bad : {"NOVALUE", "=x", ""}) {
        ExecOptions o = with_args({"env"});
        o.env = {bad};
        auto p = exec_process(container_process(), o);
        ASSERT_FALSE(p) << bad;
        EXPECT_NE(p.error().message().find("KEY=VALUE"), std::string::npos);
    }
}

TEST(ExecProcess, CwdUserAndGroups) {
    ExecOptions o = with_args({"id"});
    o.cwd = "/tmp";
    o.uid = 0;
    o.additional_gids = {5, 65534};
    auto p = exec_process(container_process(), o);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->cwd, "/tmp");
    EXPECT_EQ(p->user.uid, 0u);
    EXPECT_EQ(p->user.gid, 1000u) << "--user UID keeps the config's gid, as runc does";
    EXPECT_EQ(p->user.additional_gids, (std::vector<uint32_t>{5, 65534}));
    o.gid = 7;
    p = exec_process(container_process(), o);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->user.gid, 7u);
}

TEST(ExecProcess, RelativeCwdIsRefused) {
    ExecOptions o = with_args({"pwd"});
    o.cwd = "tmp";
    auto p = exec_process(container_process(), o);
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().message().find("process.cwd"), std::string::npos);
}

TEST(ExecProcess, CapAddsToEverySetButInheritable) {
    ExecOptions o = with_args({"sh"});
    o.add_capabilities = {"net_admin", "CAP_KILL"};
    auto p = exec_process(container_process(), o);
    ASSERT_TRUE(p) << p.error().what();
    const auto& c = *p->capabilities;
    std::vector<std::string> both = {"CAP_KILL", "CAP_NET_ADMIN"};
    EXPECT_EQ(c.bounding, both);
    EXPECT_EQ(c.effective, both);
    EXPECT_EQ(c.permitted, both);
    EXPECT_EQ(c.ambient, (std::vector<std::string>{"CAP_NET_ADMIN", "CAP_KILL"}));
    EXPECT_TRUE(c.inheritable.empty());
}

TEST(ExecProcess, CapWithoutCapabilitiesInTheConfig) {
    Process base = container_process();
    base.capabilities.reset();
    ExecOptions o = with_args({"sh"});
    o.add_capabilities = {"SYS_ADMIN"};
    auto p = exec_process(base, o);
    ASSERT_TRUE(p);
    ASSERT_TRUE(p->capabilities);
    EXPECT_EQ(p->capabilities->bounding, std::vector<std::string>{"CAP_SYS_ADMIN"});
}

TEST(ExecProcess, UnknownCapIsNamed) {
    ExecOptions o = with_args({"sh"});
    o.add_capabilities = {"CAP_MAKE_COFFEE"};
    auto p = exec_process(container_process(), o);
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().message().find("CAP_MAKE_COFFEE"), std::string::npos);
}

TEST(ExecProcess, NoNewPrivsOnlyWhenGiven) {
    Process base = container_process();
    base.no_new_privileges = false;
    auto p = exec_process(base, with_args({"sh"}));
    ASSERT_TRUE(p);
    EXPECT_FALSE(p->no_new_privileges);
    ExecOptions o = with_args({"sh"});
    o.no_new_privileges = true;
    p = exec_process(base, o);
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->no_new_privileges);
}

TEST(ExecProcess, NeedsACommand) {
    auto p = exec_process(container_process(), ExecOptions{});
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().message().find("command"), std::string::npos);
}

TEST(ParseExecProcess, ReadsAProcessObject) {
    auto p = parse_exec_process(R"({"args": ["sh", "-c", "id"], "cwd": "/tmp",
        "env": ["A=1"], "user": {"uid": 5, "gid": 6}, "terminal": true,
        "capabilities": {"bounding": ["CAP_KILL"]}, "noNewPrivileges": true})");
    ASSERT_TRUE(p) << p.error().what();
    EXPECT_EQ(p->args, (std::vector<std::string>{"sh", "-c", "id"}));
    EXPECT_EQ(p->cwd, "/tmp");
    EXPECT_EQ(p->env, std::vector<std::string>{"A=1"});
    EXPECT_EQ(p->user.uid, 5u);
    EXPECT_EQ(p->user.gid, 6u);
    EXPECT_TRUE(p->terminal);
    EXPECT_TRUE(p->no_new_privileges);
    EXPECT_EQ(p->capabilities->bounding, std::vector<std::string>{"CAP_KILL"});
}

TEST(ParseExecProcess, ErrorsNameTheField) {
    auto bad_json = parse_exec_process("{\"args\": [");
    ASSERT_FALSE(bad_json);
    auto no_cwd = parse_exec_process(R"({"args": ["sh"]})");
    ASSERT_FALSE(no_cwd);
    EXPECT_NE(no_cwd.error().message().find("process.cwd"), std::string::npos);
    auto no_args = parse_exec_process(R"({"args": [], "cwd": "/"})");
    ASSERT_FALSE(no_args);
    EXPECT_NE(no_args.error().message().find("process.args"), std::string::npos);
    auto bad_type = parse_exec_process(R"({"args": "sh", "cwd": "/"})");
    ASSERT_FALSE(bad_type);
    EXPECT_NE(bad_type.error().message().find("process.args"), std::string::npos);
    auto bad_cap = parse_exec_process(
        R"({"args": ["sh"], "cwd": "/", "capabilities": {"effective": ["CAP_NOPE"]}})");
    ASSERT_FALSE(bad_cap);
    EXPECT_NE(bad_cap.error().message().find("CAP_NOPE"), std::string::npos);
    EXPECT_FALSE(parse_exec_process("[1, 2]"));
}

TEST(ParseUserIds, UidAndGid) {
    auto u = parse_user_ids("1000");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->uid, 1000u);
    EXPECT_FALSE(u->gid);
    u = parse_user_ids("0:5");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->uid, 0u);
    EXPECT_EQ(u->gid, 5u);
    u = parse_user_ids("4294967294:4294967294");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->uid, 4294967294u);
}

TEST(ParseUserIds, RefusesNamesAndJunk) {
    for (const char* bad : {"", "root", "1000:", ":5", "1000:app", "-1", "1:2:3", "4294967295",
                            "99999999999", " 1", "1 "}) {
        auto u = parse_user_ids(bad);
        EXPECT_FALSE(u) << "\"" << bad << "\"";
        if (!u) {
            EXPECT_NE(u.error().message().find("--user"), std::string::npos);
        }
    }
}

TEST(ParseCapabilityName, Forms) {
    for (const char* form : {"CAP_NET_ADMIN", "NET_ADMIN", "net_admin", "cap_net_admin"}) {
        auto c = parse_capability_name(form);
        ASSERT_TRUE(c) << form;
        EXPECT_EQ(*c, "CAP_NET_ADMIN");
    }
}

TEST(ParseCapabilityName, Unknown) {
    for (const char* bad : {"", "CAP_", "NET ADMIN", "CAP_FLY"}) {
        auto c = parse_capability_name(bad);
        ASSERT_FALSE(c) << bad;
        EXPECT_NE(c.error().message().find("unknown capability"), std::string::npos);
    }
}

}  // namespace
}  // namespace skiff::runtime
