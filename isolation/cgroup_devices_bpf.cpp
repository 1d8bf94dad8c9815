// The cgroup v2 device filter: rule semantics, a small BPF assembler for them, load and attach.
#include "skiff/isolation/cgroup_devices_bpf.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <optional>

#include "skiff/base/unique_fd.hpp"

namespace skiff::isolation {

namespace {

static_assert(sizeof(bpf_insn) == 8, "struct bpf_insn is the kernel's 8-byte instruction");
static_assert(sizeof(bpf_cgroup_dev_ctx) == 12 && offsetof(bpf_cgroup_dev_ctx, major) == 4 &&
                  offsetof(bpf_cgroup_dev_ctx, minor) == 8,
              "the program reads bpf_cgroup_dev_ctx at these offsets");

constexpr uint32_t kAllAccess = kDeviceMknod | kDeviceRead | kDeviceWrite;

// A validated rule in the program's terms.
struct Rule {
    bool allow;
    uint32_t type;  // BPF_DEVCG_DEV_*, 0 for any
    std::optional<uint32_t> major, minor;
    uint32_t access;
};

Result<Rule> to_rule(const DeviceRule& d, size_t index) {
    std::string where = "linux.resources.devices[" + std::to_string(index) + "]";
    Rule r{d.allow, 0, std::nullopt, std::nullopt, 0};
    if (d.type == "b")
        r.type = BPF_DEVCG_DEV_BLOCK;
    else if (d.type == "c")
        r.type = BPF_DEVCG_DEV_CHAR;
    else if (d.type != "a" && !d.type.empty())
        return Error(EINVAL, where + ".type: bad device type \"" + d.type + "\" (a, b or c)");
    for (char c : d.access) {
        if (c == 'r')
            r.access |= kDeviceRead;
        else if (c == 'w')
            r.access |= kDeviceWrite;
        else if (c == 'm')
            r.access |= kDeviceMknod;
        else
            return Error(EINVAL, where + ".access: bad access \"" + d.access + "\" (r, w, m)");
    }
    if (r.access == 0) r.access = kAllAccess;  // runtime-spec: access defaults to "rwm"
    auto number = [&](const std::optional<int64_t>& n, const char* field,
                      std::optional<uint32_t>& out) -> Status {
        if (!n || *n < 0) return {};  // absent or -1: any
        // The program compares with sign-extended 32-bit immediates: keep them positive.
        if (*n > INT32_MAX)
            return Error(EINVAL,
                         where + "." + field + ": " + std::to_string(*n) + " is out of range");
        out = static_cast<uint32_t>(*n);
        return {};
    };
    SKIFF_TRY(number(d.major, "major", r.major));
    SKIFF_TRY(number(d.minor, "minor", r.minor));
    return r;
}

Result<std::vector<Rule>> to_rules(const std::vector<DeviceRule>& rules) {
    std::vector<Rule> out;
    out.reserve(rules.size());
    for (size_t i = 0; i < rules.size(); ++i) {
        auto r = to_rule(rules[i], i);
        if (!r) return std::move(r).error();
        out.push_back(*r);
    }
    return out;
}

bool matches_device(const Rule& r, uint32_t type, uint32_t major, uint32_t minor) {
    return (r.type == 0 || r.type == type) && (!r.major || *r.major == major) &&
           (!r.minor || *r.minor == minor);
}

// ---- the assembler: one function per instruction form the program uses ----------------------

// Registers: r0 the result, r1 the context; r2-r5 hold what the prologue loads.
enum Reg : uint8_t { R0 = 0, R1 = 1, kType = 2, kPending = 3, kMajor = 4, kMinor = 5 };

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    bpf_insn i{};
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    return i;
}
// dst = *(u32 *)(src + off)
bpf_insn load_u32(uint8_t dst, uint8_t src, int16_t off) {
    return insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0);
}
bpf_insn mov_reg(uint8_t dst, uint8_t src) {
    return insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0);
}
bpf_insn mov_imm(uint8_t dst, int32_t imm) {
    return insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm);
}
bpf_insn and_imm(uint8_t dst, int32_t imm) {
    return insn(BPF_ALU64 | BPF_AND | BPF_K, dst, 0, 0, imm);
}
bpf_insn rsh_imm(uint8_t dst, int32_t imm) {
    return insn(BPF_ALU64 | BPF_RSH | BPF_K, dst, 0, 0, imm);
}
// if dst <op> imm: pc += 1 + off
bpf_insn jump_imm(uint8_t op, uint8_t dst, int32_t imm, int16_t off) {
    return insn(BPF_JMP | op | BPF_K, dst, 0, off, imm);
}
bpf_insn exit_insn() {
    return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

// One rule's block. Its "not this rule" jumps go to the instruction after the block; they are
// emitted with a placeholder offset and patched once the block's length is known.
class Block {
  public:
    void add(bpf_insn i) { code_.push_back(i); }
    void skip_if(uint8_t op, uint8_t reg, int32_t imm) {
        skips_.push_back(code_.size());
        code_.push_back(jump_imm(op, reg, imm, 0));
    }
    void append_to(std::vector<bpf_insn>& prog) {
        for (size_t at : skips_) code_[at].off = static_cast<int16_t>(code_.size() - at - 1);
        prog.insert(prog.end(), code_.begin(), code_.end());
    }

  private:
    std::vector<bpf_insn> code_;
    std::vector<size_t> skips_;
};

// Jump offsets are 16-bit, but a block is at most 9 instructions and only jumps past itself, so
// any rule list fits; BPF_MAXINSNS (4096) bounds an unprivileged-size program on old kernels.
Result<std::vector<bpf_insn>> checked(std::vector<bpf_insn>& prog) {
    if (prog.size() > BPF_MAXINSNS)
        return Error(E2BIG, "linux.resources.devices: the device filter would have " +
                                std::to_string(prog.size()) + " instructions, more than " +
                                std::to_string(BPF_MAXINSNS));
    return std::move(prog);
}

}  // namespace

Status validate_device_rules(const std::vector<DeviceRule>& rules) {
    auto r = to_rules(rules);
    if (!r) return std::move(r).error();
    return {};
}

bool device_allowed(const std::vector<DeviceRule>& rules, const DeviceRequest& request) {
    auto parsed = to_rules(rules);
    if (!parsed) return false;
    uint32_t type = request.type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR;
    uint32_t pending = request.access & kAllAccess;
    if (pending == 0) return false;
    // From the last rule back: the first rule met that names a pending bit decides that bit.
    for (auto it = parsed->rbegin(); it != parsed->rend(); ++it) {
        if (!matches_device(*it, type, request.major, request.minor)) continue;
        if (!it->allow && (pending & it->access)) return false;
        if (it->allow) {
            pending &= ~it->access;
            if (pending == 0) return true;
        }
    }
    return false;
}

Result<std::vector<bpf_insn>> device_filter_program(const std::vector<DeviceRule>& rules) {
    auto parsed = to_rules(rules);
    if (!parsed) return std::move(parsed).error();

    // ctx->access_type is (access << 16) | type. Pending = the access bits not decided yet.
    std::vector<bpf_insn> prog = {
        load_u32(kType, R1, offsetof(bpf_cgroup_dev_ctx, access_type)),
        mov_reg(kPending, kType),
        and_imm(kType, 0xffff),
        rsh_imm(kPending, 16),
        load_u32(kMajor, R1, offsetof(bpf_cgroup_dev_ctx, major)),
        load_u32(kMinor, R1, offsetof(bpf_cgroup_dev_ctx, minor)),
        // A request for nothing is not one the kernel makes; refuse it rather than allow it.
        jump_imm(BPF_JNE, kPending, 0, 2),
        mov_imm(R0, 0),
        exit_insn(),
    };
    // The rules from the last to the first, as device_allowed() walks them.
    for (auto it = parsed->rbegin(); it != parsed->rend(); ++it) {
        const Rule& r = *it;
        Block b;
        if (r.type != 0) b.skip_if(BPF_JNE, kType, static_cast<int32_t>(r.type));
        if (r.major) b.skip_if(BPF_JNE, kMajor, static_cast<int32_t>(*r.major));
        if (r.minor) b.skip_if(BPF_JNE, kMinor, static_cast<int32_t>(*r.minor));
        if (r.allow) {
            // Every pending bit this rule names is allowed; done when none is left.
            if (r.access != kAllAccess) {
                b.add(and_imm(kPending, static_cast<int32_t>(~r.access)));
                b.skip_if(BPF_JNE, kPending, 0);
            }
            b.add(mov_imm(R0, 1));
        } else {
            // A pending bit this rule names is denied, and with it the request. Pending is never
            // empty here (an allow that empties it returns), so a full-access deny needs no test.
            if (r.access != kAllAccess) {
                b.add(mov_reg(R0, kPending));
                b.add(and_imm(R0, static_cast<int32_t>(r.access)));
                b.skip_if(BPF_JEQ, R0, 0);
            }
            b.add(mov_imm(R0, 0));
        }
        b.add(exit_insn());
        b.append_to(prog);
        // A rule for every device and access decides every request that gets to it: the
        // verifier refuses unreachable instructions, so nothing may follow it.
        if (r.type == 0 && !r.major && !r.minor && r.access == kAllAccess) return checked(prog);
    }
    prog.push_back(mov_imm(R0, 0));  // default deny
    prog.push_back(exit_insn());
    return checked(prog);
}

// ---- the kernel side -----------------------------------------------------------------------

namespace {

long sys_bpf(int cmd, bpf_attr& attr) {
    return ::syscall(SYS_bpf, cmd, &attr, sizeof attr);
}

uint64_t ptr(const void* p) {
    return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p));
}

Result<UniqueFd> load_program(const std::vector<bpf_insn>& prog) {
    static const char license[] = "GPL";  // no helpers are called; any license would do
    auto load = [&](char* log, uint32_t log_size) {
        bpf_attr attr{};
        attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
        attr.insns = ptr(prog.data());
        attr.insn_cnt = static_cast<uint32_t>(prog.size());
        attr.license = ptr(license);
        std::strncpy(attr.prog_name, "skiff_devices", sizeof attr.prog_name - 1);
        if (log) {
            attr.log_level = 1;
            attr.log_buf = ptr(log);
            attr.log_size = log_size;
        }
        int fd;
        do fd = static_cast<int>(sys_bpf(BPF_PROG_LOAD, attr));
        while (fd < 0 && errno == EAGAIN);  // the verifier can be interrupted
        return UniqueFd(fd);
    };
    // The first try without a log: it is the common case and the log costs verifier time.
    UniqueFd fd = load(nullptr, 0);
    if (fd) return fd;
    int first_errno = errno;
    if (first_errno == EPERM)
        return Error(EPERM,
                     "load the device filter (BPF_PROG_LOAD needs CAP_SYS_ADMIN or "
                     "CAP_BPF)");
    std::string log(64 * 1024, '\0');
    fd = load(log.data(), static_cast<uint32_t>(log.size()));
    if (fd) return fd;  // a flake the second load did not hit
    log.resize(std::strlen(log.c_str()));
    while (!log.empty() && (log.back() == '\n' || log.back() == ' ')) log.pop_back();
    std::string what = "load the device filter (" + std::to_string(prog.size()) + " instructions)";
    if (!log.empty()) what += ": verifier log:\n" + log + "\n";
    return Error(first_errno, what);
}

Result<UniqueFd> program_by_id(uint32_t id) {
    bpf_attr attr{};
    attr.prog_id = id;
    UniqueFd fd(static_cast<int>(sys_bpf(BPF_PROG_GET_FD_BY_ID, attr)));
    if (!fd) return Error::from_errno("get device filter " + std::to_string(id));
    return fd;
}

struct Attached {
    uint32_t flags = 0;
    std::vector<uint32_t> ids;
};

Result<Attached> query(int cgroup_fd) {
    Attached out;
    // Grows when more programs are attached than there is room for (the kernel says ENOSPC and
    // sets prog_cnt to how many there are).
    out.ids.resize(8);
    for (;;) {
        bpf_attr attr{};
        attr.query.target_fd = static_cast<uint32_t>(cgroup_fd);
        attr.query.attach_type = BPF_CGROUP_DEVICE;
        attr.query.prog_ids = ptr(out.ids.data());
        attr.query.prog_cnt = static_cast<uint32_t>(out.ids.size());
        if (sys_bpf(BPF_PROG_QUERY, attr) == 0) {
            out.flags = attr.query.attach_flags;
            out.ids.resize(attr.query.prog_cnt);
            return out;
        }
        if (errno != ENOSPC || attr.query.prog_cnt <= out.ids.size())
            return Error::from_errno("query the cgroup's device filters");
        out.ids.resize(attr.query.prog_cnt);
    }
}

}  // namespace

Result<std::vector<uint32_t>> attached_device_filters(int cgroup_dir_fd) {
    auto q = query(cgroup_dir_fd);
    if (!q) return std::move(q).error();
    return std::move(q->ids);
}

Status attach_device_filter(int cgroup_dir_fd, const std::vector<DeviceRule>& rules) {
    auto prog = device_filter_program(rules);
    if (!prog) return std::move(prog).error();
    auto fd = load_program(*prog);
    if (!fd) return std::move(fd).error();
    auto before = query(cgroup_dir_fd);
    if (!before) return std::move(before).error();

    // ALLOW_MULTI: a parent's device program (a nested runtime's, a systemd slice's) keeps
    // running too and both must allow, so a container never gets more than its parent grants.
    // A cgroup that already has a program in single mode gets the new one in its place.
    bool single = !before->ids.empty() && !(before->flags & BPF_F_ALLOW_MULTI);
    bpf_attr attr{};
    attr.target_fd = static_cast<uint32_t>(cgroup_dir_fd);
    attr.attach_bpf_fd = static_cast<uint32_t>(fd->get());
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = single ? before->flags : BPF_F_ALLOW_MULTI;
    if (sys_bpf(BPF_PROG_ATTACH, attr) != 0)
        return Error::from_errno("attach the device filter to the cgroup");
    if (single) return {};

    // The new program is in place; the old ones go now. Detaching needs a program's fd.
    for (uint32_t id : before->ids) {
        auto old = program_by_id(id);
        if (!old) {
            if (old.error().code() == ENOENT) continue;  // detached meanwhile
            return std::move(old).error();
        }
        bpf_attr d{};
        d.target_fd = static_cast<uint32_t>(cgroup_dir_fd);
        d.attach_bpf_fd = static_cast<uint32_t>(old->get());
        d.attach_type = BPF_CGROUP_DEVICE;
        if (sys_bpf(BPF_PROG_DETACH, d) != 0 && errno != ENOENT)
            return Error::from_errno("detach the previous device filter " + std::to_string(id));
    }
    return {};
}

}  // namespace skiff::isolation
