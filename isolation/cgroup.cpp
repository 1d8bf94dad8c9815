// A container's cgroup on v1, v2 and hybrid hosts: layout detection, create, apply, kill, remove.
#include "skiff/isolation/cgroup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <chrono>
#include <set>
#include <sstream>
#include <thread>

#include "skiff/base/fs.hpp"
#include "skiff/base/unique_fd.hpp"
#include "skiff/isolation/cgroup_devices_bpf.hpp"

namespace skiff::isolation {

namespace {

using Clock = std::chrono::steady_clock;

// mountinfo escapes space, tab, newline and backslash in paths as \ooo.
std::string unescape_mount_path(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size() &&
            std::all_of(s.begin() + i + 1, s.begin() + i + 4,
                        [](char c) { return c >= '0' && c <= '7'; })) {
            out +=
                static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
            i += 3;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string cur;
    std::istringstream in(s);
    while (std::getline(in, cur, sep)) out.push_back(cur);
    return out;
}

std::vector<std::string> words(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    std::string w;
    while (in >> w) out.push_back(w);
    return out;
}

// Super options of a v1 cgroup mount that are not controllers.
bool is_cgroup_option(const std::string& o) {
    static const std::set<std::string> options = {
        "rw",           "ro",         "noprefix", "clone_children", "xattr", "cpuset_v2_mode",
        "favordynmods", "nsdelegate", "none"};
    if (options.count(o)) return true;
    return o.find('=') != std::string::npos && o.rfind("name=", 0) != 0;
}

// Splits "/skiff/c1" into {"skiff", "c1"}; refuses relative paths and "." / "..".
Result<std::vector<std::string>> path_components(const std::string& path) {
    if (path.empty() || path[0] != '/')
        return Error(EINVAL, "cgroup path \"" + path + "\" is not absolute");
    std::vector<std::string> out;
    for (auto& c : split(path, '/')) {
        if (c.empty()) continue;
        if (c == "." || c == "..")
            return Error(EINVAL, "cgroup path \"" + path + "\" contains " + c);
        out.push_back(c);
    }
    if (out.empty()) return Error(EINVAL, "cgroup path \"" + path + "\" names the root cgroup");
    return out;
}

// One write() per value: cgroup files parse each write as one request. No O_CREAT: a missing
// file means a missing controller or feature, and creating it would hide that.
Status write_cgroup_file(const std::string& dir, const std::string& file,
                         const std::string& value) {
    std::string path = dir + "/" + file;
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
    ssize_t n = -1;
    if (fd) {
        do {
            n = ::write(fd.get(), value.data(), value.size());
        } while (n < 0 && errno == EINTR);
    }
    if (n < 0) return Error::from_errno("write " + file + "=" + value).context("cgroup " + dir);
    return {};
}

Result<std::string> read_cgroup_file(const std::string& dir, const std::string& file) {
    auto r = fs::read_file(dir + "/" + file);
    if (!r) return Error::from_errno(r.error().code(), "read " + file).context("cgroup " + dir);
    return r;
}

std::string trim(std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    size_t i = 0;
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    return s.substr(i);
}

bool file_exists(const std::string& path) {
    return ::access(path.c_str(), F_OK) == 0;
}

// Sub-cgroups of dir (made inside the container, e.g. by systemd or a nested runtime).
std::vector<std::string> child_dirs(const std::string& dir) {
    std::vector<std::string> out;
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return out;
    DIR* d = ::fdopendir(fd);
    if (!d) {
        ::close(fd);
        return out;
    }
    while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n == "." || n == "..") continue;
        if (e->d_type == DT_DIR) out.push_back(dir + "/" + n);
    }
    ::closedir(d);
    return out;
}

// Pids in dir and every cgroup below it; a vanished directory counts as empty.
Status collect_pids(const std::string& dir, std::vector<pid_t>& out) {
    auto text = fs::read_file(dir + "/cgroup.procs");
    if (!text) {
        if (text.error().code() == ENOENT) return {};
        return Error::from_errno(text.error().code(), "read cgroup.procs").context("cgroup " + dir);
    }
    for (auto& w : words(*text)) {
        pid_t pid = 0;
        if (std::from_chars(w.data(), w.data() + w.size(), pid).ec == std::errc())
            out.push_back(pid);
    }
    for (auto& child : child_dirs(dir)) SKIFF_TRY(collect_pids(child, out));
    return {};
}

// rmdir dir after its sub-cgroups, depth first. A missing directory is already removed. Retries
// EBUSY briefly: a cgroup whose last task just exited can stay busy for a moment.
Status remove_cgroup_dir(const std::string& dir, Clock::time_point deadline) {
    for (auto& child : child_dirs(dir)) SKIFF_TRY(remove_cgroup_dir(child, deadline));
    for (;;) {
        if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return {};
        if (errno != EBUSY || Clock::now() >= deadline) return Error::from_errno("rmdir " + dir);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

// Directories a failing create() made, removed in reverse order unless dismissed; directories
// that existed before are never in the list, so they survive.
class MadeDirs {
  public:
    MadeDirs() = default;
    MadeDirs(const MadeDirs&) = delete;
    MadeDirs& operator=(const MadeDirs&) = delete;
    ~MadeDirs() {
        for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) ::rmdir(it->c_str());
    }
    void add(std::string d) { dirs_.push_back(std::move(d)); }
    void dismiss() { dirs_.clear(); }

  private:
    std::vector<std::string> dirs_;
};

// Enables each wanted controller in cgroup.subtree_control of every level above the leaf, from
// the root down, so the leaf gets its files. Only controllers the level offers are enabled, and
// levels that already have them are not written.
Status enable_v2_controllers(const std::string& unified, const std::vector<std::string>& parts,
                             const std::vector<std::string>& wanted) {
    std::string level = unified;
    for (size_t i = 0; i < parts.size(); ++i) {
        auto available = read_cgroup_file(level, "cgroup.controllers");
        if (!available) return std::move(available).error();
        auto enabled = read_cgroup_file(level, "cgroup.subtree_control");
        if (!enabled) return std::move(enabled).error();
        auto have = words(*available), on = words(*enabled);
        for (const auto& c : wanted) {
            if (std::find(have.begin(), have.end(), c) == have.end()) continue;
            if (std::find(on.begin(), on.end(), c) != on.end()) continue;
            SKIFF_TRY(write_cgroup_file(level, "cgroup.subtree_control", "+" + c));
        }
        level += "/" + parts[i];
    }
    return {};
}

// A v1 cpuset starts with empty cpus and mems, and no task may join it until both are set: copy
// them from the parent into every level that has them empty.
Status init_cpuset(const std::string& root, const std::vector<std::string>& parts) {
    std::string parent = root;
    for (const auto& p : parts) {
        std::string dir = parent + "/" + p;
        for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
            auto cur = read_cgroup_file(dir, file);
            if (!cur) return std::move(cur).error();
            if (!trim(*cur).empty()) continue;
            auto from = read_cgroup_file(parent, file);
            if (!from) return std::move(from).error();
            SKIFF_TRY(write_cgroup_file(dir, file, trim(*from)));
        }
        parent = dir;
    }
    return {};
}

// The distinct hierarchy mount points: co-mounted v1 controllers (cpu,cpuacct) share one.
std::vector<std::string> hierarchy_roots(const CgroupLayout& layout) {
    std::vector<std::string> out;
    for (const auto& [name, mount] : layout.v1)
        if (std::find(out.begin(), out.end(), mount) == out.end()) out.push_back(mount);
    if (!layout.unified.empty() && std::find(out.begin(), out.end(), layout.unified) == out.end())
        out.push_back(layout.unified);
    return out;
}

bool any_memory(const MemoryResources& m) {
    return m.limit || m.reservation || m.swap || m.swappiness ||
           m.disable_oom_killer.value_or(false);
}
bool any_cpu(const CpuResources& c) {
    return c.shares || c.quota || c.burst || c.period || c.realtime_runtime || c.realtime_period ||
           c.idle;
}
bool any_cpuset(const CpuResources& c) {
    return !c.cpus.empty() || !c.mems.empty();
}
bool any_blkio(const BlockIoResources& b) {
    return b.weight || b.leaf_weight || !b.weight_device.empty() ||
           !b.throttle_read_bps_device.empty() || !b.throttle_write_bps_device.empty() ||
           !b.throttle_read_iops_device.empty() || !b.throttle_write_iops_device.empty();
}

// With the BFQ scheduler the blkio weight files carry a "bfq." prefix.
std::string resolve_v1_file(const std::string& dir, const std::string& file) {
    if (file.rfind("blkio.", 0) == 0 && !file_exists(dir + "/" + file)) {
        std::string bfq = "blkio.bfq." + file.substr(6);
        if (file_exists(dir + "/" + bfq)) return bfq;
    }
    return file;
}

// Polls until done() or the deadline, sleeping 1 ms at first and up to 10 ms: freezing a few
// tasks takes well under a millisecond, a busy cgroup longer.
template <class F>
bool poll_until(Clock::time_point deadline, F done) {
    auto pause = std::chrono::microseconds(1000);
    for (;;) {
        if (done()) return true;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(pause);
        pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(10));
    }
}

}  // namespace

bool has_limits(const Resources& r) {
    const auto& m = r.memory;
    return (m && (any_memory(*m) || m->kernel || m->kernel_tcp)) ||
           (r.cpu && (any_cpu(*r.cpu) || any_cpuset(*r.cpu))) || (r.pids && r.pids->limit > 0) ||
           (r.block_io && any_blkio(*r.block_io)) || !r.hugepage_limits.empty() ||
           !r.unified.empty();
}

Result<CgroupLayout> parse_cgroup_layout(const std::string& mountinfo,
                                         const std::string& v2_root_controllers) {
    CgroupLayout layout;
    std::istringstream in(mountinfo);
    std::string line;
    while (std::getline(in, line)) {
        auto f = words(line);
        // id parent major:minor root mount-point options [optional...] - fstype source
        // super-options
        auto sep = std::find(f.begin(), f.end(), "-");
        if (f.size() < 7 || sep == f.end() || f.end() - sep < 4) continue;
        const std::string& fstype = *(sep + 1);
        std::string mount = unescape_mount_path(f[4]);
        if (fstype == "cgroup2") {
            if (layout.unified.empty()) layout.unified = mount;
        } else if (fstype == "cgroup") {
            for (const auto& opt : split(*(sep + 3), ',')) {
                if (opt.empty() || is_cgroup_option(opt)) continue;
                layout.v1.emplace(opt, mount);  // the first mount of a controller wins
            }
        }
    }
    if (!layout.unified.empty()) layout.v2_controllers = words(v2_root_controllers);
    if (layout.v1.empty() && layout.unified.empty())
        return Error(ENOENT, "no cgroup file system is mounted");
    return layout;
}

Result<CgroupLayout> detect_cgroup_layout() {
    auto mountinfo = fs::read_file("/proc/self/mountinfo");
    if (!mountinfo) return std::move(mountinfo).error();
    auto layout = parse_cgroup_layout(*mountinfo, "");
    if (!layout || layout->unified.empty()) return layout;
    auto controllers = fs::read_file(layout->unified + "/cgroup.controllers");
    if (!controllers) return std::move(controllers).error();
    layout->v2_controllers = words(*controllers);
    return layout;
}

struct Cgroup::Impl {
    CgroupLayout layout;
    std::string path;  // normalized, "/a/b"
    std::vector<std::string> parts;

    // What apply/update write: the resources routed to v1 (kept for write_v1's swap checks)
    // and the file writes of each side, all mapped and checked before anything is written.
    struct WritePlan {
        Resources r1;
        std::vector<V1Write> v1;
        std::vector<std::pair<std::string, std::string>> v2;
        bool device_filter = false;  // the device rules go to an eBPF program on the cgroup2 directory
    };
    Result<WritePlan> plan(const Resources& r) const;
    Status write_v1(const std::vector<V1Write>& writes, const Resources& r);
    Status write_v2(const std::vector<std::pair<std::string, std::string>>& writes);
    Status kill_all(Clock::time_point deadline);

    // The freezer: v1's freezer.state directory, or the unified directory for cgroup.freeze.
    struct Freezer {
        bool v1 = false;
        std::string dir;
    };
    Result<Freezer> freezer() const;
};

Cgroup::Cgroup(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Cgroup::Cgroup(Cgroup&&) noexcept = default;
Cgroup& Cgroup::operator=(Cgroup&&) noexcept = default;
// The cgroup outlives this handle (a created container keeps its cgroup); destroy() removes it.
Cgroup::~Cgroup() = default;

Cgroup Cgroup::open(const CgroupLayout& layout, const std::string& path) {
    auto impl = std::make_unique<Impl>();
    impl->layout = layout;
    for (auto& c : split(path, '/'))
        if (!c.empty() && c != "." && c != "..") impl->parts.push_back(c);
    for (auto& c : impl->parts) impl->path += "/" + c;
    // A container's cgroup is never a hierarchy's root: destroy() or a limit there would hit the
    // whole host. A container without a cgroup (rootless) records an empty path; callers check.
    assert(!impl->parts.empty() && "Cgroup::open of a hierarchy root");
    return Cgroup(std::move(impl));
}

namespace {

bool writable(const std::string& path) {
    return ::faccessat(AT_FDCWD, path.c_str(), W_OK, AT_EACCESS) == 0;
}

// The calling process's cgroup2 path ("0::/a/b" in /proc/self/cgroup), "" if it has none.
std::string own_unified_path() {
    auto text = fs::read_file("/proc/self/cgroup");
    if (!text) return "";
    for (const auto& line : split(*text, '\n'))
        if (line.rfind("0::", 0) == 0) return line.substr(3);
    return "";
}

}  // namespace

std::string Cgroup::blocking_dir(const CgroupLayout& layout, const std::string& path) {
    auto parts = path_components(path);
    if (!parts) return path;
    for (const auto& root : hierarchy_roots(layout)) {
        // The deepest level that exists: a missing one below it is made there.
        std::string dir = root;
        size_t depth = 0;
        for (; depth < parts->size(); ++depth) {
            std::string next = dir + "/" + (*parts)[depth];
            struct stat st{};
            if (::stat(next.c_str(), &st) != 0) break;
            dir = next;
        }
        bool exists = depth == parts->size();
        if (exists ? !writable(dir + (root == layout.unified ? "/cgroup.procs" : "/tasks"))
                   : !writable(dir))
            return dir;
        if (root != layout.unified) continue;
        std::string own = own_unified_path();
        std::vector<std::string> own_parts;
        for (auto& c : split(own, '/'))
            if (!c.empty()) own_parts.push_back(c);
        std::string common = root;
        for (size_t i = 0; i < own_parts.size() && i < parts->size() && own_parts[i] == (*parts)[i];
             ++i)
            common += "/" + own_parts[i];
        if (!writable(common + "/cgroup.procs")) return common;
    }
    return "";
}

Result<Cgroup> Cgroup::create(const CgroupLayout& layout, const std::string& path) {
    return create(layout, path, Part::all);
}

Result<Cgroup> Cgroup::create(const CgroupLayout& layout, const std::string& path, Part part) {
    auto parts = path_components(path);
    if (!parts) return std::move(parts).error();
    auto all_roots = hierarchy_roots(layout);
    if (all_roots.empty()) return Error(ENOENT, "create cgroup " + path + ": no cgroup hierarchy");
    std::vector<std::string> roots;
    for (const auto& r : all_roots) {
        bool unified = r == layout.unified;
        if (part == Part::all || (part == Part::unified) == unified) roots.push_back(r);
    }
    MadeDirs made;
    for (const auto& root : roots) {
        std::string dir = root;
        for (const auto& p : *parts) {
            dir += "/" + p;
            if (::mkdir(dir.c_str(), 0755) == 0) {
                made.add(dir);
            } else if (errno != EEXIST) {
                return Error::from_errno("mkdir " + dir).context("create cgroup " + path);
            }
        }
    }
    if (auto it = layout.v1.find("cpuset"); it != layout.v1.end() && part != Part::unified)
        SKIFF_TRY_CTX(init_cpuset(it->second, *parts), "create cgroup " + path);
    if (layout.pure_v2() && part != Part::v1) {
        // On a hybrid host the unified hierarchy holds few controllers and the host's root is
        // left alone here; apply() enables one there only when a limit needs it.
        static const std::vector<std::string> wanted = {"cpu",  "cpuset",  "io",   "memory",
                                                        "pids", "hugetlb", "rdma", "misc"};
        SKIFF_TRY_CTX(enable_v2_controllers(layout.unified, *parts, wanted),
                      "create cgroup " + path);
    }
    made.dismiss();
    return open(layout, path);
}

const std::string& Cgroup::path() const {
    return impl_->path;
}

std::string Cgroup::dir_for(const std::string& controller) const {
    const auto& l = impl_->layout;
    if (controller.empty()) return l.unified.empty() ? "" : l.unified + impl_->path;
    if (auto it = l.v1.find(controller); it != l.v1.end()) return it->second + impl_->path;
    if (!l.unified.empty() && std::find(l.v2_controllers.begin(), l.v2_controllers.end(),
                                        controller) != l.v2_controllers.end())
        return l.unified + impl_->path;
    return "";
}

std::vector<std::string> Cgroup::dirs() const {
    std::vector<std::string> out;
    for (auto& root : hierarchy_roots(impl_->layout)) out.push_back(root + impl_->path);
    return out;
}

Status Cgroup::Impl::write_v1(const std::vector<V1Write>& writes, const Resources& r) {
    bool memsw_done = false;
    for (size_t i = 0; i < writes.size(); ++i) {
        const auto& w = writes[i];
        std::string dir = layout.v1.at(w.controller) + path;
        std::string file = w.file;
        if (file == "memory.memsw.limit_in_bytes") {
            if (memsw_done) continue;
            if (!file_exists(dir + "/" + file)) {
                // No swap accounting (swapaccount=0 or no swap): fine when nothing beyond the
                // memory limit was asked for.
                int64_t swap = r.memory->swap.value_or(0);
                if (swap == -1 || swap == r.memory->limit.value_or(0)) continue;
                return Error(ENOENT,
                             "linux.resources.memory.swap: this host has no swap accounting "
                             "(no memory.memsw.limit_in_bytes)");
            }
        }
        file = resolve_v1_file(dir, file);
        auto st = write_cgroup_file(dir, file, w.value);
        if (!st && file == "memory.limit_in_bytes" && st.error().code() == EINVAL) {
            // Raising the limit above the current memsw limit: memsw has to grow first.
            auto sw = std::find_if(writes.begin() + i, writes.end(), [](const V1Write& x) {
                return x.file == "memory.memsw.limit_in_bytes";
            });
            if (sw != writes.end() && file_exists(dir + "/" + sw->file)) {
                SKIFF_TRY(write_cgroup_file(dir, sw->file, sw->value));
                memsw_done = true;
                st = write_cgroup_file(dir, file, w.value);
            }
        }
        if (!st) return st;
    }
    return {};
}

Status Cgroup::Impl::write_v2(const std::vector<std::pair<std::string, std::string>>& writes) {
    std::vector<std::string> needed;
    for (const auto& [file, value] : writes) {
        std::string c = file.substr(0, file.find('.'));
        if (std::find(layout.v2_controllers.begin(), layout.v2_controllers.end(), c) !=
                layout.v2_controllers.end() &&
            std::find(needed.begin(), needed.end(), c) == needed.end())
            needed.push_back(c);
    }
    if (!needed.empty()) SKIFF_TRY(enable_v2_controllers(layout.unified, parts, needed));
    for (const auto& [file, value] : writes)
        SKIFF_TRY(write_cgroup_file(layout.unified + path, file, value));
    return {};
}

Result<Cgroup::Impl::WritePlan> Cgroup::Impl::plan(const Resources& r) const {
    const auto& l = layout;
    enum class Where { v1, v2, none };
    auto where = [&](const char* v1_name, const char* v2_name) {
        if (l.v1.count(v1_name)) return Where::v1;
        if (!l.unified.empty() && std::find(l.v2_controllers.begin(), l.v2_controllers.end(),
                                            v2_name) != l.v2_controllers.end())
            return Where::v2;
        return Where::none;
    };
    auto missing = [](const std::string& field, const std::string& controller) {
        return Error(
            ENOENT, "linux.resources." + field + ": no " + controller + " controller on this host");
    };
    Resources r1, r2;
    auto route = [&](Where w, auto member, const auto& value) {
        (w == Where::v1 ? r1 : r2).*member = value;
    };

    if (r.memory && any_memory(*r.memory)) {
        Where w = where("memory", "memory");
        if (w == Where::none) return missing("memory", "memory");
        route(w, &Resources::memory, r.memory);
    }
    if (r.cpu && any_cpu(*r.cpu)) {
        Where w = where("cpu", "cpu");
        if (w == Where::none) return missing("cpu", "cpu");
        CpuResources c = *r.cpu;
        c.cpus.clear();
        c.mems.clear();
        route(w, &Resources::cpu, std::optional<CpuResources>(c));
    }
    if (r.cpu && any_cpuset(*r.cpu)) {
        Where w = where("cpuset", "cpuset");
        if (w == Where::none) return missing("cpu.cpus/mems", "cpuset");
        Resources& dst = w == Where::v1 ? r1 : r2;
        if (!dst.cpu) dst.cpu.emplace();
        dst.cpu->cpus = r.cpu->cpus;
        dst.cpu->mems = r.cpu->mems;
    }
    if (r.pids) {
        Where w = where("pids", "pids");
        if (w == Where::none) return missing("pids", "pids");
        route(w, &Resources::pids, r.pids);
    }
    if (r.block_io && any_blkio(*r.block_io)) {
        Where w = where("blkio", "io");
        if (w == Where::none) return missing("blockIO", "blkio/io");
        route(w, &Resources::block_io, r.block_io);
    }
    if (!r.hugepage_limits.empty()) {
        Where w = where("hugetlb", "hugetlb");
        if (w == Where::none) return missing("hugepageLimits", "hugetlb");
        route(w, &Resources::hugepage_limits, r.hugepage_limits);
    }
    // Without a v1 devices controller the list becomes an eBPF program on the cgroup2 directory.
    bool device_filter = false;
    if (!r.devices.empty()) {
        if (l.v1.count("devices")) {
            r1.devices = r.devices;
        } else if (l.unified.empty()) {
            return missing("devices", "devices");
        } else {
            SKIFF_TRY(validate_device_rules(r.devices));
            device_filter = true;
        }
    }
    if (!r.unified.empty()) {
        if (l.unified.empty())
            return Error(ENOENT, "linux.resources.unified: no cgroup v2 hierarchy on this host");
        r2.unified = r.unified;
    }

    auto w1 = v1_files(r1);
    if (!w1) return std::move(w1).error();
    auto w2 = v2_files(r2);
    if (!w2) return std::move(w2).error();
    return WritePlan{std::move(r1), std::move(*w1), std::move(*w2), device_filter};
}

Status Cgroup::attach_devices(const Resources& r) {
    auto dir = open_unified_dir();
    if (!dir) return std::move(dir).error();
    SKIFF_TRY_CTX(attach_device_filter(dir->get(), r.devices),
                  "linux.resources.devices: cgroup " + impl_->layout.unified + impl_->path);
    return {};
}

Status Cgroup::apply(const Resources& r) {
    auto plan = impl_->plan(r);
    if (!plan) return std::move(plan).error();
    SKIFF_TRY(impl_->write_v1(plan->v1, plan->r1));
    SKIFF_TRY(impl_->write_v2(plan->v2));
    if (plan->device_filter) return attach_devices(r);
    return {};
}

Status Cgroup::update(const Resources& r) {
    auto plan = impl_->plan(r);
    if (!plan) return std::move(plan).error();
    const auto& l = impl_->layout;
    // The old value of every single-value file about to be written. Multi-line files (device
    // throttles, io.max, oom_control) can't be written back as read, so they are not restored.
    struct Saved {
        std::string dir, file, value;
    };
    std::vector<Saved> saved;
    auto remember = [&](const std::string& dir, const std::string& file) {
        for (const auto& x : saved)
            if (x.dir == dir && x.file == file) return;
        auto v = fs::read_file(dir + "/" + file);
        if (!v) return;  // a missing file fails the write below, with its name
        std::string value = trim(*v);
        if (value.find('\n') == std::string::npos) saved.push_back({dir, file, value});
    };
    for (const auto& w : plan->v1) {
        std::string dir = l.v1.at(w.controller) + impl_->path;
        remember(dir, resolve_v1_file(dir, w.file));
    }
    for (const auto& [file, value] : plan->v2) remember(l.unified + impl_->path, file);

    auto st = impl_->write_v1(plan->v1, plan->r1);
    if (st) st = impl_->write_v2(plan->v2);
    if (st && plan->device_filter) st = attach_devices(r);
    if (st) return st;
    // Back to the old values, last write first. Twice: memory.limit_in_bytes and
    // memory.memsw.limit_in_bytes constrain each other, so one order can fail where the other
    // works; writing a value a file already has is harmless.
    for (int pass = 0; pass < 2; ++pass)
        for (auto it = saved.rbegin(); it != saved.rend(); ++it)
            (void)write_cgroup_file(it->dir, it->file, it->value);
    return st;
}

Result<Cgroup::Impl::Freezer> Cgroup::Impl::freezer() const {
    if (auto it = layout.v1.find("freezer"); it != layout.v1.end())
        return Freezer{true, it->second + path};
    // cgroup.freeze is core to cgroup2 (no controller to enable), in every non-root cgroup.
    if (!layout.unified.empty()) return Freezer{false, layout.unified + path};
    return Error(ENOTSUP, "no freezer: neither a v1 freezer controller nor a cgroup2 hierarchy");
}

Result<Cgroup::FreezerState> Cgroup::freezer_state() const {
    auto f = impl_->freezer();
    if (!f) return std::move(f).error();
    if (f->v1) {
        auto s = read_cgroup_file(f->dir, "freezer.state");
        if (!s) return std::move(s).error();
        std::string state = trim(*s);
        if (state == "FROZEN") return FreezerState::frozen;
        if (state == "FREEZING") return FreezerState::freezing;
        return FreezerState::thawed;
    }
    auto want = read_cgroup_file(f->dir, "cgroup.freeze");
    if (!want) return std::move(want).error();
    if (trim(*want) != "1") return FreezerState::thawed;
    auto events = read_cgroup_file(f->dir, "cgroup.events");
    if (!events) return std::move(events).error();
    return parse_flat_keyed(*events)["frozen"] == 1 ? FreezerState::frozen : FreezerState::freezing;
}

Status Cgroup::freeze() {
    auto f = impl_->freezer();
    if (!f) return std::move(f).error().context("freeze cgroup " + impl_->path);
    const char* file = f->v1 ? "freezer.state" : "cgroup.freeze";
    const char* on = f->v1 ? "FROZEN" : "1";
    SKIFF_TRY_CTX(write_cgroup_file(f->dir, file, on), "freeze");
    auto start = Clock::now();
    auto last_kick = start;
    Status read_status;
    bool frozen = poll_until(start + std::chrono::seconds(5), [&] {
        auto s = freezer_state();
        if (!s) {
            read_status = std::move(s).error();
            return true;
        }
        if (*s == FreezerState::frozen) return true;
        // A v1 freezer can stay FREEZING while tasks fork or sit in uninterruptible sleep;
        // writing FROZEN again makes it retry the tasks it could not freeze yet.
        if (f->v1 && Clock::now() - last_kick > std::chrono::milliseconds(100)) {
            (void)write_cgroup_file(f->dir, file, on);
            last_kick = Clock::now();
        }
        return false;
    });
    if (frozen && read_status) return {};
    (void)write_cgroup_file(f->dir, file, f->v1 ? "THAWED" : "0");
    if (!read_status) return std::move(read_status).error().context("freeze");
    return Error(EBUSY, "freeze cgroup " + impl_->path +
                            ": the tasks did not all freeze within 5 s (thawed again)");
}

Status Cgroup::thaw() {
    auto f = impl_->freezer();
    if (!f) return std::move(f).error().context("thaw cgroup " + impl_->path);
    SKIFF_TRY_CTX(write_cgroup_file(f->dir, f->v1 ? "freezer.state" : "cgroup.freeze",
                                    f->v1 ? "THAWED" : "0"),
                  "thaw");
    return {};
}

Status Cgroup::add_process(pid_t pid) {
    for (const auto& dir : dirs())
        SKIFF_TRY(write_cgroup_file(dir, "cgroup.procs", std::to_string(pid)));
    return {};
}

Result<std::vector<UniqueFd>> Cgroup::open_v1_tasks() const {
    std::vector<UniqueFd> out;
    std::vector<std::string> v1_roots;
    for (const auto& [name, mount] : impl_->layout.v1)
        if (std::find(v1_roots.begin(), v1_roots.end(), mount) == v1_roots.end())
            v1_roots.push_back(mount);
    for (const auto& root : v1_roots) {
        std::string file = root + impl_->path + "/tasks";
        UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd) return Error::from_errno("open " + file);
        out.push_back(std::move(fd));
    }
    return out;
}

Result<UniqueFd> Cgroup::open_unified_dir() const {
    if (impl_->layout.unified.empty()) return UniqueFd();
    std::string dir = impl_->layout.unified + impl_->path;
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return Error::from_errno("open " + dir);
    return fd;
}

int Cgroup::join_self(const int* v1_tasks, size_t count) noexcept {
    for (size_t i = 0; i < count; ++i)
        if (::write(v1_tasks[i], "0", 1) != 1) return -errno;
    return 0;
}

Result<std::vector<pid_t>> Cgroup::pids() const {
    std::string dir = dir_for("pids");
    if (dir.empty()) dir = dir_for("memory");
    if (dir.empty()) dir = dir_for("");
    if (dir.empty()) return Error(ENOENT, "cgroup " + impl_->path + ": no hierarchy to list");
    if (!file_exists(dir)) return Error(ENOENT, "cgroup " + dir);
    std::vector<pid_t> out;
    SKIFF_TRY(collect_pids(dir, out));
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

Status Cgroup::Impl::kill_all(Clock::time_point deadline) {
    std::vector<std::string> all;
    for (auto& root : hierarchy_roots(layout)) all.push_back(root + path);
    {
        // The common case on delete: the init has exited and the cgroup is already empty.
        std::vector<pid_t> pids;
        for (const auto& d : all) SKIFF_TRY(collect_pids(d, pids));
        if (pids.empty()) return {};
    }
    // Freezing first stops the processes from forking new ones between listing and killing;
    // frozen tasks only die once thawed, so thaw after the first round of signals.
    std::string freezer;
    if (auto it = layout.v1.find("freezer");
        it != layout.v1.end() && file_exists(it->second + path))
        freezer = it->second + path;
    bool frozen = false;
    if (!freezer.empty() && write_cgroup_file(freezer, "freezer.state", "FROZEN")) {
        frozen = true;
        auto freeze_deadline = std::min(deadline, Clock::now() + std::chrono::milliseconds(500));
        while (Clock::now() < freeze_deadline) {
            auto s = fs::read_file(freezer + "/freezer.state");
            if (!s || trim(*s) == "FROZEN") break;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    // cgroup.kill (5.14+) kills the whole v2 subtree at once, forks included.
    std::string unified = layout.unified.empty() ? "" : layout.unified + path;
    if (!unified.empty() && file_exists(unified + "/cgroup.kill"))
        (void)write_cgroup_file(unified, "cgroup.kill", "1");
    for (;;) {
        std::vector<pid_t> pids;
        for (const auto& d : all) SKIFF_TRY(collect_pids(d, pids));
        if (pids.empty()) break;
        for (pid_t p : pids) ::kill(p, SIGKILL);  // ESRCH: already gone
        if (frozen) {
            (void)write_cgroup_file(freezer, "freezer.state", "THAWED");
            frozen = false;
        }
        if (Clock::now() >= deadline) {
            std::string list;
            for (pid_t p : pids) list += " " + std::to_string(p);
            return Error(EBUSY, "processes still in cgroup " + path + ":" + list);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (frozen) (void)write_cgroup_file(freezer, "freezer.state", "THAWED");
    return {};
}

Status Cgroup::destroy() {
    if (impl_->parts.empty()) return Error(EINVAL, "destroy: refusing to remove the root cgroup");
    // The common case (delete after the init exited): every directory is empty and goes with
    // one rmdir, no listing needed. EBUSY or ENOTEMPTY means processes or sub-cgroups remain.
    bool all_removed = true;
    for (const auto& dir : dirs())
        if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) all_removed = false;
    if (all_removed) return {};
    auto deadline = Clock::now() + std::chrono::seconds(2);
    SKIFF_TRY_CTX(impl_->kill_all(deadline), "destroy cgroup " + impl_->path);
    // Only the container's own directory (and what was made inside it): parents such as /skiff
    // are shared with other containers, which may be creating theirs right now.
    for (const auto& dir : dirs())
        SKIFF_TRY_CTX(remove_cgroup_dir(dir, deadline), "destroy cgroup " + impl_->path);
    return {};
}

}  // namespace skiff::isolation
