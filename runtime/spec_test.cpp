// Unit tests of config.json parsing, validation, serialisation and the default spec.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>

#include <gtest/gtest.h>

#include "skiff/runtime/spec.hpp"

namespace skiff::runtime {
namespace {

// The project's test binaries link gtest only, not gmock: small predicates instead of matchers.
::testing::AssertionResult StartsWith(const std::string& text, const std::string& prefix) {
    if (text.rfind(prefix, 0) == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "\"" << text << "\" does not start with \"" << prefix << "\"";
}
::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
    if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "no " << part << " in the text";
}

// Every field the parser knows, each with a value different from its default.
const char* const kFullConfig = R"json({
  "ociVersion": "1.2.0",
  "root": {"path": "/var/lib/bundle/rootfs", "readonly": true},
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/data", "type": "bind", "source": "/srv/data",
     "options": ["rbind", "ro"],
     "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
     "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}]}
  ],
  "process": {
    "terminal": true,
    "consoleSize": {"height": 25, "width": 80},
    "cwd": "/home/app",
    "env": ["PATH=/bin", "HOME=/home/app"],
    "args": ["/bin/app", "--flag"],
    "user": {"uid": 1000, "gid": 1001, "umask": 18, "additionalGids": [5, 6],
             "username": "app"},
    "capabilities": {
      "bounding": ["CAP_CHOWN", "CAP_KILL"],
      "effective": ["CAP_CHOWN"],
      "inheritable": ["CAP_KILL"],
      "permitted": ["CAP_CHOWN", "CAP_KILL"],
      "ambient": ["CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096},
                {"type": "RLIMIT_CORE", "soft": 0, "hard": 18446744073709551615}],
    "noNewPrivileges": true,
    "apparmorProfile": "skiff-default",
    "selinuxLabel": "system_u:system_r:container_t:s0",
    "oomScoreAdj": -500
  },
  "hostname": "box",
  "domainname": "example.org",
  "hooks": {
    "prestart": [{"path": "/usr/bin/pre", "args": ["pre", "1"], "env": ["A=1"], "timeout": 5}],
    "createRuntime": [{"path": "/usr/bin/cr"}],
    "createContainer": [{"path": "/usr/bin/cc"}],
    "startContainer": [{"path": "/usr/bin/sc"}],
    "poststart": [{"path": "/usr/bin/ps"}],
    "poststop": [{"path": "/usr/bin/stop", "timeout": 30}]
  },
  "annotations": {"org.example.key": "value", "empty": ""},
  "linux": {
    "namespaces": [{"type": "pid"}, {"type": "network", "path": "/var/run/netns/n1"},
                   {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "user"},
                   {"type": "cgroup"}, {"type": "time"}],
    "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1},
                    {"containerID": 1, "hostID": 100000, "size": 65535}],
    "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 65536}],
    "timeOffsets": {"monotonic": {"secs": -10, "nanosecs": 5}, "boottime": {"secs": 3600}},
    "devices": [{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229,
                 "fileMode": 438, "uid": 0, "gid": 0},
                {"type": "p", "path": "/dev/fifo"}],
    "cgroupsPath": "/skiff/c1",
    "resources": {
      "devices": [{"allow": false, "access": "rwm"},
                  {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}],
      "memory": {"limit": 536870912, "reservation": 268435456, "swap": -1, "kernel": 1,
                 "kernelTCP": 2, "swappiness": 60, "disableOOMKiller": true,
                 "useHierarchy": false, "checkBeforeUpdate": true},
      "cpu": {"shares": 512, "quota": 50000, "burst": 1000, "period": 100000,
              "realtimeRuntime": 950, "realtimePeriod": 1000, "cpus": "0-1", "mems": "0",
              "idle": 1},
      "pids": {"limit": 100},
      "blockIO": {"weight": 500, "leafWeight": 300,
                  "weightDevice": [{"major": 8, "minor": 0, "weight": 200, "leafWeight": 100}],
                  "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                  "throttleWriteBpsDevice": [{"major": 8, "minor": 1, "rate": 2}],
                  "throttleReadIOPSDevice": [{"major": 8, "minor": 2, "rate": 3}],
                  "throttleWriteIOPSDevice": [{"major": 8, "minor": 3, "rate": 4}]},
      "hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}],
      "unified": {"memory.high": "400000000"}
    },
    "sysctl": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000000",
               "kernel.hostname": "box"},
    "seccomp": {
      "defaultAction": "SCMP_ACT_ERRNO",
      "defaultErrnoRet": 1,
      "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
      "flags": ["SECCOMP_FILTER_FLAG_LOG"],
      "listenerPath": "/run/seccomp.sock",
      "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"},
                  {"index": 1, "value": 255, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
      ]
    },
    "rootfsPropagation": "rslave",
    "maskedPaths": ["/proc/kcore"],
    "readonlyPaths": ["/proc/sys"],
    "mountLabel": "system_u:object_r:container_file_t:s0",
    "someFutureField": {"ignored": true}
  },
  "unknownTopLevel": [1, 2, 3]
})json";

Spec parse_ok(const std::string& text) {
    auto spec = parse_spec(text);
    EXPECT_TRUE(spec.ok()) << (spec.ok() ? "" : spec.error().message());
    return spec.ok() ? std::move(spec).value() : Spec{};
}

std::string parse_error(const std::string& text) {
    auto spec = parse_spec(text);
    EXPECT_FALSE(spec.ok()) << "parsed: " << text;
    return spec.ok() ? "" : spec.error().message();
}

std::string validate_error(const Spec& spec) {
    auto status = validate_spec(spec);
    EXPECT_FALSE(status.ok());
    return status.ok() ? "" : status.error().message();
}

// The smallest valid config with a process, a linux section and no namespaces.
Spec minimal_spec() {
    Spec spec;
    spec.oci_version = "1.2.0";
    spec.root_path = "rootfs";
    spec.process = Process{};
    spec.process->args = {"sh"};
    spec.linux = Linux{};
    return spec;
}

TEST(SpecParse, FullConfigReadsEveryField) {
    Spec s = parse_ok(kFullConfig);
    EXPECT_EQ(s.oci_version, "1.2.0");
    EXPECT_EQ(s.root_path, "/var/lib/bundle/rootfs");
    EXPECT_TRUE(s.root_readonly);

    ASSERT_EQ(s.mounts.size(), 2u);
    EXPECT_EQ(s.mounts[0].destination, "/proc");
    EXPECT_EQ(s.mounts[0].type, "proc");
    EXPECT_EQ(s.mounts[1].source, "/srv/data");
    EXPECT_EQ(s.mounts[1].options, (std::vector<std::string>{"rbind", "ro"}));
    ASSERT_EQ(s.mounts[1].uid_mappings.size(), 1u);
    EXPECT_EQ(s.mounts[1].uid_mappings[0].host_id, 100000u);
    EXPECT_EQ(s.mounts[1].uid_mappings[0].size, 65536u);
    ASSERT_EQ(s.mounts[1].gid_mappings.size(), 1u);
    EXPECT_EQ(s.mounts[1].gid_mappings[0].host_id, 200000u);

    ASSERT_TRUE(s.process);
    const Process& p = *s.process;
    EXPECT_TRUE(p.terminal);
    ASSERT_TRUE(p.console_size);
    EXPECT_EQ(p.console_size->height, 25u);
    EXPECT_EQ(p.console_size->width, 80u);
    EXPECT_EQ(p.cwd, "/home/app");
    EXPECT_EQ(p.env, (std::vector<std::string>{"PATH=/bin", "HOME=/home/app"}));
    EXPECT_EQ(p.args, (std::vector<std::string>{"/bin/app", "--flag"}));
    EXPECT_EQ(p.user.uid, 1000u);
    EXPECT_EQ(p.user.gid, 1001u);
    EXPECT_EQ(p.user.umask, 18u);
    EXPECT_EQ(p.user.additional_gids, (std::vector<uint32_t>{5, 6}));
    EXPECT_EQ(p.user.username, "app");
    ASSERT_TRUE(p.capabilities);
    EXPECT_EQ(p.capabilities->bounding, (std::vector<std::string>{"CAP_CHOWN", "CAP_KILL"}));
    EXPECT_EQ(p.capabilities->effective, (std::vector<std::string>{"CAP_CHOWN"}));
    EXPECT_EQ(p.capabilities->inheritable, (std::vector<std::string>{"CAP_KILL"}));
    EXPECT_EQ(p.capabilities->permitted.size(), 2u);
    EXPECT_EQ(p.capabilities->ambient, (std::vector<std::string>{"CAP_NET_BIND_SERVICE"}));
    ASSERT_EQ(p.rlimits.size(), 2u);
    EXPECT_EQ(p.rlimits[0].type, "RLIMIT_NOFILE");
    EXPECT_EQ(p.rlimits[0].soft, 1024u);
    EXPECT_EQ(p.rlimits[0].hard, 4096u);
    EXPECT_EQ(p.rlimits[1].hard, UINT64_MAX);
    EXPECT_TRUE(p.no_new_privileges);
    EXPECT_EQ(p.apparmor_profile, "skiff-default");
    EXPECT_EQ(p.selinux_label, "system_u:system_r:container_t:s0");
    EXPECT_EQ(p.oom_score_adj, -500);

    EXPECT_EQ(s.hostname, "box");
    EXPECT_EQ(s.domainname, "example.org");

    ASSERT_TRUE(s.hooks);
    ASSERT_EQ(s.hooks->prestart.size(), 1u);
    EXPECT_EQ(s.hooks->prestart[0].path, "/usr/bin/pre");
    EXPECT_EQ(s.hooks->prestart[0].args, (std::vector<std::string>{"pre", "1"}));
    EXPECT_EQ(s.hooks->prestart[0].env, (std::vector<std::string>{"A=1"}));
    EXPECT_EQ(s.hooks->prestart[0].timeout, 5);
    EXPECT_EQ(s.hooks->create_runtime.at(0).path, "/usr/bin/cr");
    EXPECT_EQ(s.hooks->create_container.at(0).path, "/usr/bin/cc");
    EXPECT_EQ(s.hooks->start_container.at(0).path, "/usr/bin/sc");
    EXPECT_EQ(s.hooks->poststart.at(0).path, "/usr/bin/ps");
    EXPECT_FALSE(s.hooks->poststart.at(0).timeout);
    EXPECT_EQ(s.hooks->poststop.at(0).timeout, 30);

    EXPECT_EQ(s.annotations.at("org.example.key"), "value");
    EXPECT_EQ(s.annotations.at("empty"), "");

    ASSERT_TRUE(s.linux);
    const Linux& l = *s.linux;
    ASSERT_EQ(l.namespaces.size(), 8u);
    ASSERT_NE(l.find_namespace("network"), nullptr);
    EXPECT_EQ(l.find_namespace("network")->path, "/var/run/netns/n1");
    EXPECT_EQ(l.find_namespace("time")->path, "");
    ASSERT_EQ(l.uid_mappings.size(), 2u);
    EXPECT_EQ(l.uid_mappings[1].container_id, 1u);
    EXPECT_EQ(l.uid_mappings[1].host_id, 100000u);
    EXPECT_EQ(l.uid_mappings[1].size, 65535u);
    EXPECT_EQ(l.gid_mappings.at(0).size, 65536u);
    EXPECT_EQ(l.time_offsets.at("monotonic").secs, -10);
    EXPECT_EQ(l.time_offsets.at("monotonic").nanosecs, 5u);
    EXPECT_EQ(l.time_offsets.at("boottime").secs, 3600);
    ASSERT_EQ(l.devices.size(), 2u);
    EXPECT_EQ(l.devices[0].type, "c");
    EXPECT_EQ(l.devices[0].path, "/dev/fuse");
    EXPECT_EQ(l.devices[0].major, 10);
    EXPECT_EQ(l.devices[0].minor, 229);
    EXPECT_EQ(l.devices[0].file_mode, 0666u);
    EXPECT_EQ(l.devices[0].uid, 0u);
    EXPECT_EQ(l.devices[0].gid, 0u);
    EXPECT_FALSE(l.devices[1].file_mode);
    EXPECT_EQ(l.cgroups_path, "/skiff/c1");

    ASSERT_TRUE(l.resources);
    const auto& r = *l.resources;
    ASSERT_EQ(r.devices.size(), 2u);
    EXPECT_FALSE(r.devices[0].allow);
    EXPECT_EQ(r.devices[0].type, "a");
    EXPECT_FALSE(r.devices[0].major);
    EXPECT_EQ(r.devices[0].access, "rwm");
    EXPECT_TRUE(r.devices[1].allow);
    EXPECT_EQ(r.devices[1].type, "c");
    EXPECT_EQ(r.devices[1].major, 10);
    EXPECT_EQ(r.devices[1].minor, 229);
    EXPECT_EQ(r.devices[1].access, "rw");
    ASSERT_TRUE(r.memory);
    EXPECT_EQ(r.memory->limit, 536870912);
    EXPECT_EQ(r.memory->reservation, 268435456);
    EXPECT_EQ(r.memory->swap, -1);
    EXPECT_EQ(r.memory->kernel, 1);
    EXPECT_EQ(r.memory->kernel_tcp, 2);
    EXPECT_EQ(r.memory->swappiness, 60u);
    EXPECT_EQ(r.memory->disable_oom_killer, true);
    EXPECT_EQ(r.memory->use_hierarchy, false);
    EXPECT_EQ(r.memory->check_before_update, true);
    ASSERT_TRUE(r.cpu);
    EXPECT_EQ(r.cpu->shares, 512u);
    EXPECT_EQ(r.cpu->quota, 50000);
    EXPECT_EQ(r.cpu->burst, 1000u);
    EXPECT_EQ(r.cpu->period, 100000u);
    EXPECT_EQ(r.cpu->realtime_runtime, 950);
    EXPECT_EQ(r.cpu->realtime_period, 1000u);
    EXPECT_EQ(r.cpu->cpus, "0-1");
    EXPECT_EQ(r.cpu->mems, "0");
    EXPECT_EQ(r.cpu->idle, 1);
    ASSERT_TRUE(r.pids);
    EXPECT_EQ(r.pids->limit, 100);
    ASSERT_TRUE(r.block_io);
    EXPECT_EQ(r.block_io->weight, 500);
    EXPECT_EQ(r.block_io->leaf_weight, 300);
    ASSERT_EQ(r.block_io->weight_device.size(), 1u);
    EXPECT_EQ(r.block_io->weight_device[0].major, 8);
    EXPECT_EQ(r.block_io->weight_device[0].weight, 200);
    EXPECT_EQ(r.block_io->weight_device[0].leaf_weight, 100);
    EXPECT_EQ(r.block_io->throttle_read_bps_device.at(0).rate, 1048576u);
    EXPECT_EQ(r.block_io->throttle_write_bps_device.at(0).minor, 1);
    EXPECT_EQ(r.block_io->throttle_read_iops_device.at(0).rate, 3u);
    EXPECT_EQ(r.block_io->throttle_write_iops_device.at(0).rate, 4u);
    ASSERT_EQ(r.hugepage_limits.size(), 1u);
    EXPECT_EQ(r.hugepage_limits[0].page_size, "2MB");
    EXPECT_EQ(r.hugepage_limits[0].limit, 209715200u);
    EXPECT_EQ(r.unified.at("memory.high"), "400000000");

    EXPECT_EQ(l.sysctl.size(), 3u);
    EXPECT_EQ(l.sysctl.at("net.ipv4.ip_forward"), "1");

    ASSERT_TRUE(l.seccomp);
    const auto& sc = *l.seccomp;
    EXPECT_EQ(sc.default_action, "SCMP_ACT_ERRNO");
    EXPECT_EQ(sc.default_errno_ret, 1u);
    EXPECT_EQ(sc.architectures, (std::vector<std::string>{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"}));
    EXPECT_EQ(sc.flags, (std::vector<std::string>{"SECCOMP_FILTER_FLAG_LOG"}));
    EXPECT_EQ(sc.listener_path, "/run/seccomp.sock");
    ASSERT_EQ(sc.syscalls.size(), 3u);
    EXPECT_EQ(sc.syscalls[0].names, (std::vector<std::string>{"read", "write"}));
    EXPECT_FALSE(sc.syscalls[0].errno_ret);
    ASSERT_EQ(sc.syscalls[1].args.size(), 2u);
    EXPECT_EQ(sc.syscalls[1].args[1].index, 1u);
    EXPECT_EQ(sc.syscalls[1].args[1].value, 255u);
    EXPECT_EQ(sc.syscalls[1].args[1].value_two, 8u);
    EXPECT_EQ(sc.syscalls[1].args[1].op, "SCMP_CMP_MASKED_EQ");
    EXPECT_EQ(sc.syscalls[2].errno_ret, 38u);

    EXPECT_EQ(l.rootfs_propagation, "rslave");
    EXPECT_EQ(l.masked_paths, (std::vector<std::string>{"/proc/kcore"}));
    EXPECT_EQ(l.readonly_paths, (std::vector<std::string>{"/proc/sys"}));
    EXPECT_EQ(l.mount_label, "system_u:object_r:container_file_t:s0");
}

TEST(SpecParse, FullConfigValidates) {
    Spec s = parse_ok(kFullConfig);
    auto status = validate_spec(s);
    EXPECT_TRUE(status.ok()) << status.error().message();
}

TEST(SpecParse, RoundTripKeepsEveryField) {
    Spec first = parse_ok(kFullConfig);
    std::string text = spec_to_json(first);
    Spec second = parse_ok(text);
    EXPECT_EQ(spec_to_json(second), text);
    // Spot checks that serialisation did not drop what the comparison above cannot see
    // (a field lost in both directions would compare equal).
    for (const char* name : {"\"ociVersion\"",
                             "\"consoleSize\"",
                             "\"additionalGids\"",
                             "\"ambient\"",
                             "\"oomScoreAdj\"",
                             "\"createRuntime\"",
                             "\"timeOffsets\"",
                             "\"kernelTCP\"",
                             "\"checkBeforeUpdate\"",
                             "\"realtimeRuntime\"",
                             "\"idle\"",
                             "\"throttleWriteIOPSDevice\"",
                             "\"hugepageLimits\"",
                             "\"unified\"",
                             "\"valueTwo\"",
                             "\"listenerPath\"",
                             "\"defaultErrnoRet\"",
                             "\"mountLabel\"",
                             "\"fileMode\"",
                             "\"rootfsPropagation\"",
                             "\"domainname\"",
                             "\"annotations\"",
                             "\"gidMappings\""})
        EXPECT_TRUE(Contains(text, name));
    EXPECT_EQ(second.linux->resources->memory->swap, -1);
    EXPECT_EQ(second.process->rlimits[1].hard, UINT64_MAX);
    EXPECT_EQ(second.linux->time_offsets.at("monotonic").secs, -10);
    EXPECT_EQ(second.linux->seccomp->syscalls[1].args[1].value_two, 8u);
    EXPECT_EQ(second.annotations.at("empty"), "");
    EXPECT_EQ(second.hooks->poststop.at(0).timeout, 30);
}

TEST(SpecParse, RoundTripOfEmptyOptionalSections) {
    // Present-but-empty sections stay present: "hooks": {} is not the same as no hooks key
    // for the optional<> fields.
    Spec s = parse_ok(R"({"ociVersion": "1.0.2", "root": {"path": "r"},
                          "hooks": {}, "linux": {"resources": {"memory": {}}}})");
    ASSERT_TRUE(s.hooks);
    ASSERT_TRUE(s.linux && s.linux->resources && s.linux->resources->memory);
    EXPECT_FALSE(s.process);
    Spec again = parse_ok(spec_to_json(s));
    EXPECT_TRUE(again.hooks);
    ASSERT_TRUE(again.linux && again.linux->resources);
    EXPECT_TRUE(again.linux->resources->memory);
    EXPECT_FALSE(again.linux->resources->cpu);
    EXPECT_FALSE(again.process);
}

TEST(SpecParse, NullMeansAbsent) {
    Spec s = parse_ok(R"({"ociVersion": "1.0.0", "root": {"path": "r", "readonly": null},
                          "process": null, "hostname": null, "linux": {"seccomp": null}})");
    EXPECT_FALSE(s.root_readonly);
    EXPECT_FALSE(s.process);
    EXPECT_EQ(s.hostname, "");
    ASSERT_TRUE(s.linux);
    EXPECT_FALSE(s.linux->seccomp);
}

TEST(SpecParse, MissingRequiredFieldsNameTheirPath) {
    EXPECT_EQ(parse_error(R"({"root": {"path": "r"}})"), "ociVersion: missing required field");
    EXPECT_EQ(parse_error(R"({"ociVersion": "1.0.0"})"), "root: missing required field");
    EXPECT_EQ(parse_error(R"({"ociVersion": "1.0.0", "root": {}})"),
              "root.path: missing required field");
    EXPECT_EQ(parse_error(R"({"ociVersion": "1.0.0", "root": {"path": "r"},
                              "mounts": [{"destination": "/a"}, {"type": "tmpfs"}]})"),
              "mounts[1].destination: missing required field");
    EXPECT_EQ(parse_error(R"({"ociVersion": "1.0.0", "root": {"path": "r"},
                              "process": {"args": ["sh"]}})"),
              "process.cwd: missing required field");
    EXPECT_EQ(parse_error(R"({"ociVersion": "1.0.0", "root": {"path": "r"},
                              "linux": {"namespaces": [{"type": "pid"}, {"type": "uts"},
                                                       {"path": "/proc/1/ns/net"}]}})"),
              "linux.namespaces[2].type: missing required field");
    EXPECT_EQ(parse_error(R"({"ociVersion": "1.0.0", "root": {"path": "r"},
                              "hooks": {"poststop": [{"args": ["x"]}]}})"),
              "hooks.poststop[0].path: missing required field");
    EXPECT_EQ(parse_error(R"({"ociVersion": "1.0.0", "root": {"path": "r"},
                              "process": {"cwd": "/", "rlimits": [{"type": "RLIMIT_CORE",
                                                                   "soft": 1}]}})"),
              "process.rlimits[0].hard: missing required field");
    EXPECT_EQ(parse_error(R"({"ociVersion": "1.0.0", "root": {"path": "r"},
                              "linux": {"uidMappings": [{"containerID": 0, "hostID": 1}]}})"),
              "linux.uidMappings[0].size: missing required field");
    EXPECT_EQ(parse_error(R"({"ociVersion": "1.0.0", "root": {"path": "r"},
                              "linux": {"devices": [{"type": "c", "path": "/dev/x",
                                                     "major": 1}]}})"),
              "linux.devices[0].minor: missing required field");
    EXPECT_EQ(parse_error(R"({"ociVersion": "1.0.0", "root": {"path": "r"},
                              "linux": {"seccomp": {"syscalls": []}}})"),
              "linux.seccomp.defaultAction: missing required field");
    EXPECT_EQ(parse_error(R"({"ociVersion": "1.0.0", "root": {"path": "r"},
                              "linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW",
                                "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW",
                                              "args": [{"index": 0, "value": 1}]}]}}})"),
              "linux.seccomp.syscalls[0].args[0].op: missing required field");
    EXPECT_EQ(parse_error(R"({"ociVersion": "1.0.0", "root": {"path": "r"},
                              "linux": {"resources": {"devices": [{"access": "rwm"}]}}})"),
              "linux.resources.devices[0].allow: missing required field");
}

TEST(SpecParse, PipeDeviceNeedsNoNumbers) {
    Spec s = parse_ok(R"({"ociVersion": "1.0.0", "root": {"path": "r"},
                          "linux": {"devices": [{"type": "p", "path": "/dev/p"}]}})");
    EXPECT_EQ(s.linux->devices.at(0).major, 0);
}

TEST(SpecParse, WrongTypesNameTheirPath) {
    const std::string head = R"({"ociVersion": "1.0.0", "root": {"path": "r"}, )";
    EXPECT_EQ(parse_error(head + R"("process": {"cwd": "/", "args": "sh"}})"),
              "process.args: expected an array of strings");
    EXPECT_EQ(parse_error(head + R"("process": {"cwd": "/", "args": ["sh", 1]}})"),
              "process.args: expected an array of strings");
    EXPECT_EQ(parse_error(R"({"ociVersion": 1, "root": {"path": "r"}})"),
              "ociVersion: expected a string");
    EXPECT_EQ(parse_error(R"({"ociVersion": "1.0.0", "root": "r"})"), "root: expected an object");
    EXPECT_EQ(parse_error(R"({"ociVersion": "1.0.0", "root": {"path": "r", "readonly": "yes"}})"),
              "root.readonly: expected a boolean");
    EXPECT_EQ(parse_error(head + R"("mounts": {"destination": "/a"}})"),
              "mounts: expected an array");
    EXPECT_EQ(parse_error(head + R"("mounts": [42]})"), "mounts[0]: expected an object");
    EXPECT_EQ(parse_error(head + R"("process": {"cwd": "/", "terminal": 1}})"),
              "process.terminal: expected a boolean");
    EXPECT_EQ(parse_error(head + R"("process": {"cwd": "/", "user": {"uid": "0"}}})"),
              "process.user.uid: expected an integer");
    EXPECT_EQ(parse_error(head + R"("process": {"cwd": "/", "user": {"uid": 1.5}}})"),
              "process.user.uid: expected an integer");
    EXPECT_EQ(parse_error(head + R"("annotations": {"a": "b", "c": 1}})"),
              "annotations[\"c\"]: expected a string");
    EXPECT_EQ(parse_error(head + R"("linux": {"sysctl": ["net.x"]}})"),
              "linux.sysctl: expected an object");
    EXPECT_EQ(parse_error(head + R"("linux": {"resources": {"memory": {"limit": "1G"}}}})"),
              "linux.resources.memory.limit: expected an integer");
    EXPECT_EQ(parse_error(head + R"("linux": {"resources": {"unified": {"cpu.max": 5}}}})"),
              "linux.resources.unified[\"cpu.max\"]: expected a string");
    EXPECT_EQ(parse_error(head + R"("linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW",
                               "syscalls": [{"names": "read", "action": "SCMP_ACT_ALLOW"}]}}})"),
              "linux.seccomp.syscalls[0].names: expected an array of strings");
    EXPECT_EQ(parse_error(head + R"("hooks": {"prestart": [{"path": "/x", "timeout": "5"}]}})"),
              "hooks.prestart[0].timeout: expected an integer");
    EXPECT_EQ(parse_error(head + R"("linux": {"timeOffsets": {"boottime": 5}}})"),
              "linux.timeOffsets[\"boottime\"]: expected an object");
}

TEST(SpecParse, NumbersOutOfRangeNameTheField) {
    const std::string head = R"({"ociVersion": "1.0.0", "root": {"path": "r"}, )";
    EXPECT_TRUE(StartsWith(parse_error(head + R"("process": {"cwd": "/", "user": {"uid": -1}}})"),
                           "process.user.uid: -1 is out of range"));
    EXPECT_TRUE(
        StartsWith(parse_error(head + R"("process": {"cwd": "/", "user": {"gid": 4294967296}}})"),
                   "process.user.gid: 4294967296 is out of range"));
    // 2^32-1 itself fits.
    EXPECT_EQ(parse_ok(head + R"("process": {"cwd": "/", "user": {"uid": 4294967295}}})")
                  .process->user.uid,
              4294967295u);
    EXPECT_TRUE(
        StartsWith(parse_error(head + R"("process": {"cwd": "/", "oomScoreAdj": 2147483648}})"),
                   "process.oomScoreAdj: 2147483648 is out of range"));
    EXPECT_TRUE(StartsWith(parse_error(head + R"("process": {"cwd": "/",
                                      "rlimits": [{"type": "RLIMIT_CORE", "soft": -1,
                                                   "hard": 1}]}})"),
                           "process.rlimits[0].soft: -1 is out of range"));
    EXPECT_TRUE(
        StartsWith(parse_error(head + R"("linux": {"resources": {"blockIO": {"weight": 65536}}}})"),
                   "linux.resources.blockIO.weight: 65536 is out of range"));
    // Beyond 2^64 nlohmann produces a double: still a clear error, not a wrap.
    EXPECT_EQ(parse_error(head + R"("linux": {"resources": {"pids": {"limit": 1e30}}}})"),
              "linux.resources.pids.limit: expected an integer");
}

TEST(SpecParse, InvalidJsonGivesSyntaxErrors) {
    for (const std::string& text : std::vector<std::string>{
             "", "{", "}", "{\"ociVersion\": }", "{\"a\": 1,}", "[1, 2", "nul", "{\"a\" 1}",
             "\"unterminated", "{\"a\": \"\\uD800\"}", "{\"a\": \"\xff\"}", "{} trailing",
             "{\"a\": 01}", std::string("\x00\x01", 2), std::string("{\"a\"\0: 1}", 9)}) {
        std::string message = parse_error(text);
        EXPECT_TRUE(StartsWith(message, "config.json: syntax error at byte ")) << text;
    }
    // The offset counts the bytes read up to and including the bad one (as Go's SyntaxError).
    EXPECT_TRUE(
        StartsWith(parse_error("{\"ociVersion\": x}"), "config.json: syntax error at byte 16: "));
    // Valid JSON that is not an object.
    for (const char* text : {"[]", "42", "\"s\"", "null", "true"})
        EXPECT_EQ(parse_error(text), "config.json: expected an object") << text;
}

TEST(SpecParse, DeepNestingIsAnErrorOrIgnoredNotACrash) {
    std::string deep(100000, '[');
    auto r = parse_spec(deep);
    EXPECT_FALSE(r.ok());
    std::string ignored = R"({"ociVersion": "1.0.0", "root": {"path": "r"}, "x": )" +
                          std::string(10000, '[') + std::string(10000, ']') + "}";
    EXPECT_TRUE(parse_spec(ignored).ok());
}

TEST(SpecLoad, ReadsBundleConfigAndNamesTheFile) {
    char tmpl[] = "/tmp/skiff-spec-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    std::string dir = tmpl;
    { std::ofstream(dir + "/config.json") << kFullConfig; }
    auto spec = load_spec(dir);
    ASSERT_TRUE(spec.ok()) << spec.error().message();
    EXPECT_EQ(spec->hostname, "box");
    { std::ofstream(dir + "/config.json") << R"({"ociVersion": "1.0.0", "root": {}})"; }
    auto bad = load_spec(dir);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().message(), dir + "/config.json: root.path: missing required field");
    unlink((dir + "/config.json").c_str());
    auto missing = load_spec(dir);
    EXPECT_FALSE(missing.ok());
    rmdir(dir.c_str());
}

TEST(SpecValidate, MinimalSpecIsValid) {
    auto status = validate_spec(minimal_spec());
    EXPECT_TRUE(status.ok()) << status.error().message();
}

TEST(SpecValidate, VersionAndRoot) {
    Spec s = minimal_spec();
    s.oci_version = "2.0.0";
    EXPECT_EQ(validate_error(s), "ociVersion: unsupported version \"2.0.0\" (want 1.x)");
    s = minimal_spec();
    s.root_path = "";
    EXPECT_EQ(validate_error(s), "root.path: must not be empty");
}

TEST(SpecValidate, MountsAndProcess) {
    Spec s = minimal_spec();
    s.mounts = {{.destination = "/proc", .type = "proc"}, {.destination = "tmp"}};
    EXPECT_EQ(validate_error(s), "mounts[1].destination: \"tmp\" is not an absolute path");

    s = minimal_spec();
    s.process->args.clear();
    EXPECT_EQ(validate_error(s), "process.args: must not be empty");
    s = minimal_spec();
    s.process->cwd = "home";
    EXPECT_EQ(validate_error(s), "process.cwd: \"home\" is not an absolute path");
}

TEST(SpecValidate, Rlimits) {
    Spec s = minimal_spec();
    s.process->rlimits = {{"RLIMIT_NOFILE", 10, 20}, {"RLIMIT_FOO", 1, 1}};
    EXPECT_EQ(validate_error(s), "process.rlimits[1].type: unknown rlimit \"RLIMIT_FOO\"");
    s.process->rlimits = {{"RLIMIT_NOFILE", 30, 20}};
    EXPECT_EQ(validate_error(s), "process.rlimits[0]: soft limit 30 exceeds hard limit 20");
    s.process->rlimits = {{"RLIMIT_NOFILE", 1, 2}, {"RLIMIT_CORE", 0, 0}, {"RLIMIT_NOFILE", 1, 2}};
    EXPECT_EQ(validate_error(s), "process.rlimits[2].type: duplicate rlimit \"RLIMIT_NOFILE\"");
}

TEST(SpecRlimit, NamesMapToResources) {
    EXPECT_EQ(rlimit_resource("RLIMIT_NOFILE"), RLIMIT_NOFILE);
    EXPECT_EQ(rlimit_resource("RLIMIT_AS"), RLIMIT_AS);
    EXPECT_EQ(rlimit_resource("RLIMIT_RTTIME"), RLIMIT_RTTIME);
    EXPECT_EQ(rlimit_resource("RLIMIT_nofile"), -1);
    EXPECT_EQ(rlimit_resource("NOFILE"), -1);
    EXPECT_EQ(rlimit_resource(""), -1);
}

TEST(SpecValidate, Capabilities) {
    Spec s = minimal_spec();
    s.process->capabilities = isolation::CapabilitySets{.bounding = {"CAP_CHOWN", "CAP_FOO"}};
    EXPECT_EQ(validate_error(s), "process.capabilities.bounding: unknown capability \"CAP_FOO\"");
    s.process->capabilities = isolation::CapabilitySets{.ambient = {"chown"}};
    EXPECT_EQ(validate_error(s), "process.capabilities.ambient: unknown capability \"chown\"");
    s.process->capabilities = isolation::CapabilitySets{
        .bounding = {"CAP_CHOWN"}, .effective = {"CAP_SYS_ADMIN"}, .permitted = {"CAP_KILL"}};
    EXPECT_TRUE(validate_spec(s).ok());
}

TEST(SpecValidate, Hooks) {
    Spec s = minimal_spec();
    s.hooks = Hooks{};
    s.hooks->poststart = {{.path = "/bin/ok"}, {.path = "relative"}};
    EXPECT_EQ(validate_error(s), "hooks.poststart[1].path: \"relative\" is not an absolute path");
    s.hooks = Hooks{};
    s.hooks->create_runtime = {{.path = "/bin/x", .timeout = 0}};
    EXPECT_EQ(validate_error(s), "hooks.createRuntime[0].timeout: must be greater than zero");
    s.hooks->create_runtime = {{.path = "/bin/x", .timeout = -3}};
    EXPECT_EQ(validate_error(s), "hooks.createRuntime[0].timeout: must be greater than zero");
    s.hooks->create_runtime = {{.path = "/bin/x", .timeout = 3}};
    EXPECT_TRUE(validate_spec(s).ok());
}

TEST(SpecValidate, Namespaces) {
    Spec s = minimal_spec();
    s.linux->namespaces = {{.type = "pid"}, {.type = "foo"}};
    EXPECT_EQ(validate_error(s), "linux.namespaces[1].type: unknown namespace type \"foo\"");
    s.linux->namespaces = {{.type = "pid"}, {.type = "ipc"}, {.type = "pid"}};
    EXPECT_EQ(validate_error(s), "linux.namespaces[2].type: duplicate namespace \"pid\"");
    s.linux->namespaces = {{.type = "network", .path = "run/netns/x"}};
    EXPECT_EQ(validate_error(s),
              "linux.namespaces[0].path: \"run/netns/x\" is not an absolute path");
    s.linux->namespaces = {{.type = "pid"},   {.type = "network"},
                           {.type = "mount"}, {.type = "ipc"},
                           {.type = "uts"},   {.type = "cgroup"},
                           {.type = "time"},  {.type = "user", .path = "/proc/1/ns/user"}};
    EXPECT_TRUE(validate_spec(s).ok());
}

TEST(SpecValidate, UserNamespaceAndMappings) {
    Spec s = minimal_spec();
    s.linux->uid_mappings = {{0, 1000, 1}};
    s.linux->gid_mappings = {{0, 1000, 1}};
    EXPECT_EQ(validate_error(s), "linux.uidMappings: requires a user namespace");
    s.linux->uid_mappings.clear();
    EXPECT_EQ(validate_error(s), "linux.gidMappings: requires a user namespace");
    s.linux->namespaces = {{.type = "user"}};
    EXPECT_EQ(validate_error(s), "linux.uidMappings: a new user namespace requires uid mappings");
    s.linux->uid_mappings = {{0, 1000, 0}};
    EXPECT_EQ(validate_error(s), "linux.uidMappings[0].size: must be at least 1");
    s.linux->uid_mappings = {{0, 4294967295u, 2}};
    EXPECT_EQ(validate_error(s), "linux.uidMappings[0]: range exceeds 2^32");
    s.linux->uid_mappings = {{0, 1000, 1}};
    EXPECT_TRUE(validate_spec(s).ok());
    // Several ranges: disjoint on both sides is fine, an overlap on either side is named.
    s.linux->uid_mappings = {{0, 100000, 1000}, {1000, 200000, 100}};
    EXPECT_TRUE(validate_spec(s).ok());
    s.linux->uid_mappings = {{0, 100000, 1000}, {999, 200000, 100}};
    EXPECT_EQ(validate_error(s),
              "linux.uidMappings[1]: container ids overlap linux.uidMappings[0]");
    s.linux->uid_mappings = {{0, 100000, 1000}, {1000, 100999, 100}};
    EXPECT_EQ(validate_error(s), "linux.uidMappings[1]: host ids overlap linux.uidMappings[0]");
    s.linux->uid_mappings = {{0, 1000, 1}};
    s.linux->gid_mappings = {{5, 50, 10}, {0, 1000, 1}, {20, 55, 1}};
    EXPECT_EQ(validate_error(s), "linux.gidMappings[2]: host ids overlap linux.gidMappings[0]");
    s.linux->gid_mappings.clear();
    for (uint32_t i = 0; i < 341; ++i) s.linux->gid_mappings.push_back({i, 1000 + i, 1});
    EXPECT_EQ(validate_error(s), "linux.gidMappings: 341 ranges; the kernel takes at most 340");
    s.linux->gid_mappings.pop_back();
    EXPECT_TRUE(validate_spec(s).ok());
    // Joining an existing user namespace needs no maps: it has them already.
    s.linux->namespaces = {{.type = "user", .path = "/proc/42/ns/user"}};
    s.linux->uid_mappings.clear();
    s.linux->gid_mappings.clear();
    EXPECT_TRUE(validate_spec(s).ok());
}

TEST(SpecValidate, HostnameNeedsUts) {
    Spec s = minimal_spec();
    s.hostname = "box";
    EXPECT_EQ(validate_error(s), "hostname requires a new uts namespace");
    s.linux.reset();
    EXPECT_EQ(validate_error(s), "hostname requires a new uts namespace");
    s = minimal_spec();
    s.domainname = "example.org";
    EXPECT_EQ(validate_error(s), "domainname requires a new uts namespace");
    s.linux->namespaces = {{.type = "uts"}};
    s.hostname = "box";
    EXPECT_TRUE(validate_spec(s).ok());
}

TEST(SpecValidate, Sysctl) {
    Spec s = minimal_spec();
    s.linux->sysctl = {{"vm.swappiness", "10"}};
    EXPECT_EQ(validate_error(s), "linux.sysctl: \"vm.swappiness\" is not namespaced");
    s.linux->sysctl = {{"kernel.pid_max", "10"}};
    EXPECT_EQ(validate_error(s), "linux.sysctl: \"kernel.pid_max\" is not namespaced");
    s.linux->sysctl = {{"net.ipv4.ip_forward", "1"}};
    EXPECT_EQ(validate_error(s),
              "linux.sysctl: \"net.ipv4.ip_forward\" requires a new network namespace");
    s.linux->sysctl = {{"kernel.shmmax", "1"}};
    EXPECT_EQ(validate_error(s), "linux.sysctl: \"kernel.shmmax\" requires a new ipc namespace");
    s.linux->sysctl = {{"fs/mqueue/msg_max", "1"}};
    EXPECT_EQ(validate_error(s),
              "linux.sysctl: \"fs/mqueue/msg_max\" requires a new ipc namespace");
    s.linux->sysctl = {{"kernel.domainname", "x"}};
    EXPECT_EQ(validate_error(s),
              "linux.sysctl: \"kernel.domainname\" requires a new uts namespace");

    s.linux->namespaces = {
        {.type = "network", .path = "/var/run/netns/pod"}, {.type = "ipc"}, {.type = "uts"}};
    s.linux->sysctl = {{"net.ipv4.ip_forward", "1"},    {"net/core/somaxconn", "1024"},
                       {"kernel.msgmax", "1"},          {"kernel.sem", "1 2 3 4"},
                       {"kernel.shm_rmid_forced", "1"}, {"fs.mqueue.queues_max", "1"},
                       {"kernel.hostname", "h"}};
    auto status = validate_spec(s);
    EXPECT_TRUE(status.ok()) << status.error().message();
}

TEST(SpecValidate, TimeOffsets) {
    Spec s = minimal_spec();
    s.linux->time_offsets = {{"monotonic", {.secs = 5}}};
    EXPECT_EQ(validate_error(s), "linux.timeOffsets: requires a new time namespace");
    s.linux->namespaces = {{.type = "time", .path = "/proc/1/ns/time"}};
    EXPECT_EQ(validate_error(s), "linux.timeOffsets: requires a new time namespace");
    s.linux->namespaces = {{.type = "time"}};
    EXPECT_TRUE(validate_spec(s).ok());
    s.linux->time_offsets = {{"realtime", {.secs = 5}}};
    EXPECT_EQ(validate_error(s), "linux.timeOffsets: unknown clock \"realtime\"");
    s.linux->time_offsets = {{"boottime", {.secs = 0, .nanosecs = 1000000000}}};
    EXPECT_EQ(validate_error(s),
              "linux.timeOffsets[\"boottime\"].nanosecs: must be below 1000000000");
}

TEST(SpecValidate, Devices) {
    Spec s = minimal_spec();
    s.linux->devices = {{.type = "c", .path = "/dev/null", .major = 1, .minor = 3},
                        {.type = "x", .path = "/dev/x"}};
    EXPECT_EQ(validate_error(s),
              "linux.devices[1].type: unknown device type \"x\" (want c, b, u or p)");
    s.linux->devices = {{.type = "b", .path = "dev/sda", .major = 8}};
    EXPECT_EQ(validate_error(s), "linux.devices[0].path: \"dev/sda\" is not an absolute path");
    s.linux->devices = {{.type = "c", .path = "/dev/x", .major = -1}};
    EXPECT_EQ(validate_error(s), "linux.devices[0]: negative major or minor number");
    s.linux->devices.clear();
    s.linux->resources = isolation::Resources{};
    s.linux->resources->devices = {{.allow = true, .type = "p"}};
    EXPECT_EQ(validate_error(s),
              "linux.resources.devices[0].type: unknown device type \"p\" (want a, c or b)");
    s.linux->resources->devices = {{.allow = true, .type = "c", .access = "rwx"}};
    EXPECT_EQ(validate_error(s),
              "linux.resources.devices[0].access: \"rwx\" is not a combination of r, w and m");
}

TEST(SpecValidate, Seccomp) {
    Spec s = minimal_spec();
    isolation::SeccompConfig good{.default_action = "SCMP_ACT_ERRNO",
                                  .architectures = {"SCMP_ARCH_X86_64"},
                                  .flags = {"SECCOMP_FILTER_FLAG_LOG"},
                                  .syscalls = {{.names = {"read"}, .action = "SCMP_ACT_ALLOW"}}};
    s.linux->seccomp = good;
    auto status = validate_spec(s);
    EXPECT_TRUE(status.ok()) << status.error().message();

    s.linux->seccomp->default_action = "SCMP_ACT_MAYBE";
    EXPECT_EQ(validate_error(s), "linux.seccomp.defaultAction: unknown action \"SCMP_ACT_MAYBE\"");
    s.linux->seccomp = good;
    s.linux->seccomp->architectures.push_back("SCMP_ARCH_Z80");
    EXPECT_EQ(validate_error(s),
              "linux.seccomp.architectures[1]: unknown architecture \"SCMP_ARCH_Z80\"");
    s.linux->seccomp = good;
    s.linux->seccomp->flags = {"SECCOMP_FILTER_FLAG_NOPE"};
    EXPECT_EQ(validate_error(s),
              "linux.seccomp.flags[0]: unknown flag \"SECCOMP_FILTER_FLAG_NOPE\"");
    s.linux->seccomp = good;
    s.linux->seccomp->syscalls.push_back({.names = {"write"}, .action = "ALLOW"});
    EXPECT_EQ(validate_error(s), "linux.seccomp.syscalls[1].action: unknown action \"ALLOW\"");
    s.linux->seccomp = good;
    s.linux->seccomp->syscalls[0].args = {{.index = 0, .value = 1, .op = "SCMP_CMP_EQ"},
                                          {.index = 1, .value = 1, .op = "EQ"}};
    EXPECT_EQ(validate_error(s), "linux.seccomp.syscalls[0].args[1].op: unknown operator \"EQ\"");
    s.linux->seccomp->syscalls[0].args = {{.index = 6, .value = 1, .op = "SCMP_CMP_EQ"}};
    EXPECT_EQ(validate_error(s), "linux.seccomp.syscalls[0].args[0].index: must be 0..5");
    s.linux->seccomp = good;
    s.linux->seccomp->syscalls[0].names.clear();
    EXPECT_EQ(validate_error(s), "linux.seccomp.syscalls[0].names: must not be empty");
}

TEST(SpecValidate, RootfsPropagationAndPaths) {
    Spec s = minimal_spec();
    for (const char* ok : {"", "private", "rprivate", "slave", "rslave", "shared", "rshared",
                           "unbindable", "runbindable"}) {
        s.linux->rootfs_propagation = ok;
        EXPECT_TRUE(validate_spec(s).ok()) << ok;
    }
    s.linux->rootfs_propagation = "recursive";
    EXPECT_EQ(validate_error(s), "linux.rootfsPropagation: unknown value \"recursive\"");
    s.linux->rootfs_propagation = "";
    s.linux->masked_paths = {"/proc/kcore", "proc/keys"};
    EXPECT_EQ(validate_error(s), "linux.maskedPaths[1]: \"proc/keys\" is not an absolute path");
}

bool has_mount(const Spec& s, const std::string& destination, const std::string& type) {
    return std::any_of(s.mounts.begin(), s.mounts.end(), [&](const Mount& m) {
        return m.destination == destination && m.type == type;
    });
}
const Mount* find_mount(const Spec& s, const std::string& destination) {
    for (const auto& m : s.mounts)
        if (m.destination == destination) return &m;
    return nullptr;
}

TEST(SpecDefault, IsValidAndHardened) {
    Spec s = default_spec();
    auto status = validate_spec(s);
    ASSERT_TRUE(status.ok()) << status.error().message();
    EXPECT_EQ(s.oci_version, "1.2.0");
    EXPECT_EQ(s.root_path, "rootfs");
    EXPECT_TRUE(s.root_readonly);
    EXPECT_EQ(s.hostname, "skiff");
    ASSERT_TRUE(s.process);
    EXPECT_FALSE(s.process->terminal);
    EXPECT_EQ(s.process->args, (std::vector<std::string>{"sh"}));
    EXPECT_EQ(s.process->user.uid, 0u);
    EXPECT_TRUE(s.process->no_new_privileges);
    ASSERT_TRUE(s.process->capabilities);
    EXPECT_EQ(s.process->capabilities->bounding, isolation::default_capabilities());
    EXPECT_EQ(s.process->capabilities->effective, isolation::default_capabilities());
    EXPECT_EQ(s.process->capabilities->permitted, isolation::default_capabilities());
    EXPECT_TRUE(s.process->capabilities->ambient.empty());
    EXPECT_TRUE(s.process->capabilities->inheritable.empty());
    ASSERT_EQ(s.process->rlimits.size(), 1u);
    EXPECT_EQ(s.process->rlimits[0].type, "RLIMIT_NOFILE");
    EXPECT_EQ(s.process->rlimits[0].hard, 1024u);
    for (auto [dest, type] :
         std::vector<std::pair<const char*, const char*>>{{"/proc", "proc"},
                                                          {"/dev", "tmpfs"},
                                                          {"/dev/pts", "devpts"},
                                                          {"/dev/shm", "tmpfs"},
                                                          {"/dev/mqueue", "mqueue"},
                                                          {"/sys", "sysfs"},
                                                          {"/sys/fs/cgroup", "cgroup"}})
        EXPECT_TRUE(has_mount(s, dest, type)) << dest;
    const Mount* pts = find_mount(s, "/dev/pts");
    ASSERT_NE(pts, nullptr);
    EXPECT_NE(std::find(pts->options.begin(), pts->options.end(), "gid=5"), pts->options.end());
    ASSERT_TRUE(s.linux);
    for (const char* ns : {"pid", "network", "ipc", "uts", "mount", "cgroup"})
        EXPECT_NE(s.linux->find_namespace(ns), nullptr) << ns;
    EXPECT_EQ(s.linux->find_namespace("user"), nullptr);
    EXPECT_EQ(s.linux->masked_paths.size(), 11u);
    EXPECT_EQ(s.linux->readonly_paths.size(), 5u);
    ASSERT_TRUE(s.linux->resources);
    ASSERT_EQ(s.linux->resources->devices.size(), 1u);
    EXPECT_FALSE(s.linux->resources->devices[0].allow);
    EXPECT_EQ(s.linux->resources->devices[0].type, "a");
    EXPECT_EQ(s.linux->resources->devices[0].access, "rwm");
    ASSERT_TRUE(s.linux->seccomp);
    EXPECT_FALSE(s.linux->seccomp->syscalls.empty());

    // What `skiff-oci spec` writes must read back to the same thing.
    std::string text = spec_to_json(s);
    Spec again = parse_ok(text);
    EXPECT_EQ(spec_to_json(again), text);
    EXPECT_TRUE(validate_spec(again).ok());
}

TEST(SpecDefault, RootlessMapsTheCallerAndMountsItsOwnSysfs) {
    Spec s = default_spec(true, 1234, 5678);
    auto status = validate_spec(s);
    ASSERT_TRUE(status.ok()) << status.error().message();
    ASSERT_TRUE(s.linux);
    const Namespace* user = s.linux->find_namespace("user");
    ASSERT_NE(user, nullptr);
    EXPECT_EQ(user->path, "");
    EXPECT_NE(s.linux->find_namespace("network"), nullptr);
    ASSERT_EQ(s.linux->uid_mappings.size(), 1u);
    EXPECT_EQ(s.linux->uid_mappings[0].container_id, 0u);
    EXPECT_EQ(s.linux->uid_mappings[0].host_id, 1234u);
    EXPECT_EQ(s.linux->uid_mappings[0].size, 1u);
    ASSERT_EQ(s.linux->gid_mappings.size(), 1u);
    EXPECT_EQ(s.linux->gid_mappings[0].host_id, 5678u);
    EXPECT_EQ(s.linux->gid_mappings[0].size, 1u);
    EXPECT_FALSE(s.linux->resources);
    EXPECT_EQ(find_mount(s, "/sys/fs/cgroup"), nullptr);
    const Mount* sys = find_mount(s, "/sys");
    ASSERT_NE(sys, nullptr);
    // Its own network namespace lets the user namespace mount sysfs (the runtime binds the
    // host's /sys where that is refused).
    EXPECT_EQ(sys->type, "sysfs");
    EXPECT_NE(std::find(sys->options.begin(), sys->options.end(), "ro"), sys->options.end());
    const Mount* pts = find_mount(s, "/dev/pts");
    ASSERT_NE(pts, nullptr);
    EXPECT_EQ(std::find(pts->options.begin(), pts->options.end(), "gid=5"), pts->options.end());

    Spec again = parse_ok(spec_to_json(s));
    EXPECT_EQ(again.linux->uid_mappings.at(0).host_id, 1234u);
    EXPECT_TRUE(validate_spec(again).ok());
}

}  // namespace
}  // namespace skiff::runtime
