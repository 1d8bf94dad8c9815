// Tests for the cgroup v2 device filter: rule semantics, the generated BPF run through an
// interpreter, and (as root) the kernel's verifier and a filter on a cgroup made for the test.
#include "skiff/isolation/cgroup_devices_bpf.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "skiff/base/unique_fd.hpp"

namespace skiff::isolation {
namespace {

DeviceRule allow(std::string type, std::optional<int64_t> major, std::optional<int64_t> minor,
                 std::string access) {
    return DeviceRule{true, std::move(type), major, minor, std::move(access)};
}
DeviceRule deny(std::string type, std::optional<int64_t> major, std::optional<int64_t> minor,
                std::string access) {
    return DeviceRule{false, std::move(type), major, minor, std::move(access)};
}

DeviceRequest req(char type, uint32_t major, uint32_t minor, uint32_t access) {
    return DeviceRequest{type, major, minor, access};
}

constexpr uint32_t R = kDeviceRead, W = kDeviceWrite, M = kDeviceMknod;

// What skiff-oci applies for `skiff-oci spec`'s config: deny all, then the runtime's defaults
// (mknod of anything; null, zero, full, random, urandom, tty, console, ptmx, pts).
std::vector<DeviceRule> default_rules() {
    std::vector<DeviceRule> r = {deny("a", std::nullopt, std::nullopt, "rwm"),
                                 allow("c", std::nullopt, std::nullopt, "m"),
                                 allow("b", std::nullopt, std::nullopt, "m")};
    for (auto [maj, min] : std::vector<std::pair<int, int>>{
             {1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 1}, {5, 2}})
        r.push_back(allow("c", maj, min, "rwm"));
    r.push_back(allow("c", 136, std::nullopt, "rwm"));
    return r;
}

// Runs a program of the instructions device_filter_program emits, the way the kernel would on
// the request's bpf_cgroup_dev_ctx. nullopt (with a test failure) for anything else: an unknown
// opcode, a backward or out-of-range jump, a read outside the context, an unreachable
// instruction (which the verifier refuses), falling off the end.
std::optional<uint64_t> run(const std::vector<bpf_insn>& prog, const DeviceRequest& rq) {
    bpf_cgroup_dev_ctx ctx{};
    ctx.access_type =
        (rq.access << 16) | (rq.type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
    ctx.major = rq.major;
    ctx.minor = rq.minor;
    uint64_t reg[11] = {};
    constexpr uint64_t kCtx = 0xc0de0000;  // a stand-in pointer value for r1
    reg[1] = kCtx;
    for (size_t pc = 0; pc < prog.size(); ++pc) {
        const bpf_insn& i = prog[pc];
        uint64_t imm = static_cast<uint64_t>(static_cast<int64_t>(i.imm));  // sign-extended
        if (i.dst_reg > 10 || i.src_reg > 10) {
            ADD_FAILURE() << "bad register at " << pc;
            return std::nullopt;
        }
        uint64_t& dst = reg[i.dst_reg];
        switch (i.code) {
            case BPF_LDX | BPF_MEM | BPF_W: {
                if (reg[i.src_reg] != kCtx || i.off < 0 || i.off % 4 != 0 ||
                    static_cast<size_t>(i.off) + 4 > sizeof ctx) {
                    ADD_FAILURE() << "load outside the context at " << pc;
                    return std::nullopt;
                }
                uint32_t v;
                std::memcpy(&v, reinterpret_cast<const char*>(&ctx) + i.off, 4);
                dst = v;
                break;
            }
            case BPF_ALU64 | BPF_MOV | BPF_X:
                dst = reg[i.src_reg];
                break;
            case BPF_ALU64 | BPF_MOV | BPF_K:
                dst = imm;
                break;
            case BPF_ALU64 | BPF_AND | BPF_K:
                dst &= imm;
                break;
            case BPF_ALU64 | BPF_RSH | BPF_K:
                dst >>= i.imm;
                break;
            case BPF_JMP | BPF_JEQ | BPF_K:
            case BPF_JMP | BPF_JNE | BPF_K: {
                if (i.off < 0 || pc + 1 + i.off >= prog.size()) {
                    ADD_FAILURE() << "bad jump at " << pc;
                    return std::nullopt;
                }
                bool eq = dst == imm;
                if (((i.code & 0xf0) == BPF_JEQ) == eq) pc += i.off;
                break;
            }
            case BPF_JMP | BPF_EXIT:
                return reg[0];
            default:
                ADD_FAILURE() << "unexpected opcode " << int(i.code) << " at " << pc;
                return std::nullopt;
        }
    }
    ADD_FAILURE() << "fell off the end of the program";
    return std::nullopt;
}

// Every instruction is reachable from the first (the verifier's check_cfg refuses dead code).
void expect_all_reachable(const std::vector<bpf_insn>& prog) {
    std::vector<bool> seen(prog.size());
    std::vector<size_t> todo = {0};
    while (!todo.empty()) {
        size_t pc = todo.back();
        todo.pop_back();
        if (pc >= prog.size() || seen[pc]) continue;
        seen[pc] = true;
        const bpf_insn& i = prog[pc];
        if (i.code == (BPF_JMP | BPF_EXIT)) continue;
        if ((i.code & 0x07) == BPF_JMP) todo.push_back(pc + 1 + i.off);
        todo.push_back(pc + 1);
    }
    for (size_t pc = 0; pc < prog.size(); ++pc) EXPECT_TRUE(seen[pc]) << "unreachable insn " << pc;
}

// The program agrees with device_allowed() on every request of a grid around the rules' numbers.
void expect_program_matches(const std::vector<DeviceRule>& rules) {
    auto prog = device_filter_program(rules);
    ASSERT_TRUE(prog) << prog.error().what();
    expect_all_reachable(*prog);
    std::set<uint32_t> majors = {0, 1, 5, 8, 136, 4095}, minors = {0, 1, 3, 5, 9, 1048575};
    for (const auto& r : rules) {
        if (r.major && *r.major >= 0) majors.insert(static_cast<uint32_t>(*r.major));
        if (r.minor && *r.minor >= 0) minors.insert(static_cast<uint32_t>(*r.minor));
    }
    for (char type : {'b', 'c'})
        for (uint32_t maj : majors)
            for (uint32_t min : minors)
                for (uint32_t access = 1; access <= 7; ++access) {
                    auto rq = req(type, maj, min, access);
                    auto got = run(*prog, rq);
                    ASSERT_TRUE(got);
                    ASSERT_EQ(*got, device_allowed(rules, rq) ? 1u : 0u)
                        << type << " " << maj << ":" << min << " access " << access;
                }
}

TEST(DeviceRules, DefaultDenyAndTheDefaultDevices) {
    auto rules = default_rules();
    EXPECT_TRUE(device_allowed(rules, req('c', 1, 3, R | W)));    // /dev/null
    EXPECT_TRUE(device_allowed(rules, req('c', 1, 5, R)));        // /dev/zero
    EXPECT_TRUE(device_allowed(rules, req('c', 136, 7, R | W)));  // /dev/pts/7
    EXPECT_TRUE(device_allowed(rules, req('b', 8, 0, M)));        // mknod of anything
    EXPECT_FALSE(device_allowed(rules, req('b', 8, 0, R)));       // but no /dev/sda
    EXPECT_FALSE(device_allowed(rules, req('c', 1, 1, R)));       // nor /dev/mem
    EXPECT_FALSE(device_allowed(rules, req('c', 1, 1, R | M)));
    EXPECT_FALSE(device_allowed({}, req('c', 1, 3, R)));  // no rules: deny
}

TEST(DeviceRules, LastRuleWinsPerAccessBit) {
    // allow rwm, then deny w: reads and mknod stay, anything that writes goes (cgroup v1 agrees).
    std::vector<DeviceRule> rules = {allow("c", 1, 3, "rwm"), deny("c", 1, 3, "w")};
    EXPECT_TRUE(device_allowed(rules, req('c', 1, 3, R)));
    EXPECT_TRUE(device_allowed(rules, req('c', 1, 3, M)));
    EXPECT_FALSE(device_allowed(rules, req('c', 1, 3, W)));
    EXPECT_FALSE(device_allowed(rules, req('c', 1, 3, R | W)));
    // The reverse order: the later allow wins again.
    rules = {deny("c", 1, 3, "w"), allow("c", 1, 3, "rw")};
    EXPECT_TRUE(device_allowed(rules, req('c', 1, 3, R | W)));
    EXPECT_FALSE(device_allowed(rules, req('c', 1, 3, M)));
    // Two allows together cover a read-write open.
    rules = {allow("c", 1, 3, "r"), allow("c", 1, 3, "w")};
    EXPECT_TRUE(device_allowed(rules, req('c', 1, 3, R | W)));
    EXPECT_FALSE(device_allowed(rules, req('c', 1, 3, R | W | M)));
    // A deny of everything after allows: nothing.
    rules = {allow("a", std::nullopt, std::nullopt, "rwm"),
             deny("a", std::nullopt, std::nullopt, "rwm")};
    EXPECT_FALSE(device_allowed(rules, req('c', 1, 3, R)));
    // An allow-all list with one hole.
    rules = {allow("a", std::nullopt, std::nullopt, "rwm"), deny("b", 8, std::nullopt, "rw")};
    EXPECT_TRUE(device_allowed(rules, req('c', 1, 1, R | W)));
    EXPECT_TRUE(device_allowed(rules, req('b', 8, 0, M)));
    EXPECT_FALSE(device_allowed(rules, req('b', 8, 16, R)));
    EXPECT_TRUE(device_allowed(rules, req('b', 9, 0, R)));
}

TEST(DeviceRules, WildcardsAndTypes) {
    // -1 is the spec's "any", as an absent number is; type a (or empty) is any type.
    std::vector<DeviceRule> rules = {allow("c", -1, 3, "r"), allow("", 7, -1, "w")};
    EXPECT_TRUE(device_allowed(rules, req('c', 42, 3, R)));
    EXPECT_FALSE(device_allowed(rules, req('b', 42, 3, R)));
    EXPECT_TRUE(device_allowed(rules, req('b', 7, 99, W)));
    EXPECT_TRUE(device_allowed(rules, req('c', 7, 0, W)));
    // Empty access means rwm.
    EXPECT_TRUE(device_allowed({allow("b", 8, 0, "")}, req('b', 8, 0, R | W | M)));
}

TEST(DeviceRules, InvalidRulesAreErrorsNamingTheField) {
    auto bad_type = validate_device_rules({allow("c", 1, 3, "r"), allow("x", 1, 3, "r")});
    ASSERT_FALSE(bad_type);
    EXPECT_EQ(bad_type.error().code(), EINVAL);
    EXPECT_NE(bad_type.error().message().find("devices[1].type"), std::string::npos)
        << bad_type.error().message();
    auto bad_access = validate_device_rules({allow("c", 1, 3, "rx")});
    ASSERT_FALSE(bad_access);
    EXPECT_NE(bad_access.error().message().find("devices[0].access"), std::string::npos);
    auto big = device_filter_program({allow("c", int64_t{1} << 33, 3, "r")});
    ASSERT_FALSE(big);
    EXPECT_NE(big.error().message().find("devices[0].major"), std::string::npos);
    EXPECT_TRUE(validate_device_rules(default_rules()));
    EXPECT_FALSE(device_allowed({allow("x", 1, 3, "r")}, req('c', 1, 3, R)));
}

TEST(DeviceFilterProgram, KnownEncoding) {
    // "deny all, allow c 1:3 rw": the prologue, the allow block, then the deny-all block and
    // nothing after it (no default-deny tail: it would be unreachable).
    auto prog = device_filter_program(
        {deny("a", std::nullopt, std::nullopt, "rwm"), allow("c", 1, 3, "rw")});
    ASSERT_TRUE(prog) << prog.error().what();
    struct Want {
        uint8_t code, dst, src;
        int16_t off;
        int32_t imm;
    };
    const std::vector<Want> want = {
        {0x61, 2, 1, 0, 0},                // r2 = *(u32 *)(r1 + 0): access_type
        {0xbf, 3, 2, 0, 0},                // r3 = r2
        {0x57, 2, 0, 0, 0xffff},           // r2 &= 0xffff: the type
        {0x77, 3, 0, 0, 16},               // r3 >>= 16: the pending access bits
        {0x61, 4, 1, 4, 0},                // r4 = *(u32 *)(r1 + 4): major
        {0x61, 5, 1, 8, 0},                // r5 = *(u32 *)(r1 + 8): minor
        {0x55, 3, 0, 2, 0},                // if r3 != 0 goto +2
        {0xb7, 0, 0, 0, 0},                // r0 = 0
        {0x95, 0, 0, 0, 0},                // exit
        {0x55, 2, 0, 6, 2},                // if r2 != CHAR goto next
        {0x55, 4, 0, 5, 1},                // if r4 != 1 goto next
        {0x55, 5, 0, 4, 3},                // if r5 != 3 goto next
        {0x57, 3, 0, 0, ~int32_t(R | W)},  // r3 &= ~(r|w)
        {0x55, 3, 0, 2, 0},                // if r3 != 0 goto next
        {0xb7, 0, 0, 0, 1},                // r0 = 1
        {0x95, 0, 0, 0, 0},                // exit
        {0xb7, 0, 0, 0, 0},                // next: r0 = 0 (deny a *:* rwm)
        {0x95, 0, 0, 0, 0},                // exit
    };
    ASSERT_EQ(prog->size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
        const bpf_insn& got = (*prog)[i];
        EXPECT_EQ(got.code, want[i].code) << "insn " << i;
        EXPECT_EQ(got.dst_reg, want[i].dst) << "insn " << i;
        EXPECT_EQ(got.src_reg, want[i].src) << "insn " << i;
        EXPECT_EQ(got.off, want[i].off) << "insn " << i;
        EXPECT_EQ(got.imm, want[i].imm) << "insn " << i;
    }
}

TEST(DeviceFilterProgram, AgreesWithTheRulesOnKnownLists) {
    expect_program_matches({});
    expect_program_matches(default_rules());
    expect_program_matches({allow("c", 1, 3, "rwm"), deny("c", 1, 3, "w")});
    expect_program_matches({allow("c", 1, 3, "r"), allow("c", 1, 3, "w")});
    expect_program_matches(
        {allow("a", std::nullopt, std::nullopt, "rwm"), deny("b", 8, std::nullopt, "rw")});
    // An allow-all in the middle: what comes before it is dead, and must not be emitted.
    expect_program_matches({deny("c", 1, 3, "rwm"), allow("a", std::nullopt, std::nullopt, "rwm"),
                            deny("c", 1, 5, "w")});
}

TEST(DeviceFilterProgram, AgreesWithTheRulesOnRandomLists) {
    std::mt19937 rng(20261126);
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    const char* types[] = {"a", "b", "c"};
    const char* accesses[] = {"r", "w", "m", "rw", "rm", "wm", "rwm"};
    for (int round = 0; round < 150; ++round) {
        std::vector<DeviceRule> rules;
        int n = pick(7);
        for (int i = 0; i < n; ++i) {
            std::optional<int64_t> major, minor;
            if (pick(3)) major = pick(4) == 0 ? -1 : std::vector<int64_t>{1, 5, 8}[pick(3)];
            if (pick(3)) minor = pick(4) == 0 ? -1 : std::vector<int64_t>{0, 3, 5}[pick(3)];
            rules.push_back(
                DeviceRule{pick(2) == 0, types[pick(3)], major, minor, accesses[pick(7)]});
        }
        SCOPED_TRACE("round " + std::to_string(round));
        expect_program_matches(rules);
        if (HasFatalFailure()) return;
    }
}

// ---- the real kernel (root) ----------------------------------------------------------------

// The cgroup2 mount of this host (/sys/fs/cgroup/unified on the hybrid host, /sys/fs/cgroup on a
// pure one), or "".
std::string cgroup2_mount() {
    auto layout = detect_cgroup_layout();
    return layout ? layout->unified : "";
}

// Opens path in a child moved into the cgroup whose cgroup.procs is procs_fd; returns the
// child's errno of open (0 when it opened).
int open_in_cgroup(int procs_fd, const char* path, int flags) {
    pid_t pid = fork();
    if (pid == 0) {
        if (write(procs_fd, "0", 1) != 1) _exit(200);
        int fd = open(path, flags | O_CLOEXEC);
        _exit(fd >= 0 ? 0 : errno);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
}

TEST(DeviceFilterKernel, FiltersACgroupMadeForTheTest) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to load BPF programs";
    std::string mount = cgroup2_mount();
    if (mount.empty()) GTEST_SKIP() << "no cgroup2 hierarchy on this host";
    // A cgroup of the test's own (never the root cgroup): attach, check, and remove it.
    std::string dir = mount + "/skiff-devices-test-" + std::to_string(getpid());
    ASSERT_EQ(mkdir(dir.c_str(), 0755), 0) << dir << ": " << strerror(errno);
    struct RemoveDir {
        std::string d;
        // The children are reaped, but the cgroup may stay busy for a moment after they go.
        ~RemoveDir() {
            for (int i = 0; i < 200 && rmdir(d.c_str()) != 0 && errno == EBUSY; ++i) usleep(10000);
        }
    } remove_dir{dir};
    UniqueFd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    UniqueFd procs(open((dir + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
    ASSERT_TRUE(dir_fd && procs);

    auto st = attach_device_filter(dir_fd.get(), default_rules());
    ASSERT_TRUE(st) << st.error().what();
    auto ids = attached_device_filters(dir_fd.get());
    ASSERT_TRUE(ids) << ids.error().what();
    EXPECT_EQ(ids->size(), 1u);
    EXPECT_EQ(open_in_cgroup(procs.get(), "/dev/null", O_RDWR), 0);
    EXPECT_EQ(open_in_cgroup(procs.get(), "/dev/zero", O_RDONLY), 0);
    // /dev/mem (1:1) and /dev/kmsg (1:11) are outside the default list.
    if (access("/dev/kmsg", F_OK) == 0) {
        EXPECT_EQ(open_in_cgroup(procs.get(), "/dev/kmsg", O_RDONLY), EPERM);
    }

    // Update: the new program replaces the old one (one attached), and its rules hold.
    auto rules = default_rules();
    rules.push_back(deny("c", 1, 3, "w"));
    st = attach_device_filter(dir_fd.get(), rules);
    ASSERT_TRUE(st) << st.error().what();
    ids = attached_device_filters(dir_fd.get());
    ASSERT_TRUE(ids);
    EXPECT_EQ(ids->size(), 1u);
    EXPECT_EQ(open_in_cgroup(procs.get(), "/dev/null", O_RDONLY), 0);
    EXPECT_EQ(open_in_cgroup(procs.get(), "/dev/null", O_WRONLY), EPERM);
    EXPECT_EQ(open_in_cgroup(procs.get(), "/dev/null", O_RDWR), EPERM);
}

}  // namespace
}  // namespace skiff::isolation
