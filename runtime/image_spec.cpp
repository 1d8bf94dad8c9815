// Image config + run options -> runtime spec, with docker's rules for command, env, user and caps.
#include "skiff/runtime/image_spec.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "skiff/base/unique_fd.hpp"
#include "skiff/isolation/capabilities.hpp"
#include "skiff/isolation/rootfs.hpp"
#include "skiff/isolation/seccomp.hpp"

namespace skiff::runtime {
namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Reads a file of the image, resolving the path inside the rootfs so a symlinked /etc/passwd in
// an image can't make us read the host's. A missing file is an empty one.
std::string read_in_rootfs(const std::string& rootfs, const char* path) {
    UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) return {};
    UniqueFd fd(isolation::open_in_root(root.get(), path, O_RDONLY));
    if (!fd) return {};
    std::string out;
    char buf[8192];
    ssize_t n;
    while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
}

std::vector<std::vector<std::string>> colon_records(const std::string& text) {
    std::vector<std::vector<std::string>> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        std::vector<std::string> fields;
        size_t pos = 0;
        for (;;) {
            size_t colon = line.find(':', pos);
            fields.push_back(line.substr(pos, colon - pos));
            if (colon == std::string::npos) break;
            pos = colon + 1;
        }
        out.push_back(std::move(fields));
    }
    return out;
}

std::optional<uint32_t> as_id(const std::string& s) {
    if (s.empty() || s.size() > 10 || !std::all_of(s.begin(), s.end(), ::isdigit)) return {};
    unsigned long v = std::stoul(s);
    if (v > 0xffffffffUL) return {};
    return static_cast<uint32_t>(v);
}

// docker's user rules: "name", "uid", "name:group", "uid:gid"; names from the image's files;
// supplementary groups are the image's groups that list the user.
Status resolve_user(const std::string& spec_text, const std::string& rootfs, User& out,
                    std::string& home) {
    std::string user = spec_text, group;
    if (size_t colon = spec_text.find(':'); colon != std::string::npos) {
        user = spec_text.substr(0, colon);
        group = spec_text.substr(colon + 1);
    }
    if (user.empty()) return Error(EINVAL, "--user \"" + spec_text + "\": empty user");
    auto passwd = colon_records(read_in_rootfs(rootfs, "/etc/passwd"));
    std::string name;
    bool found = false;
    if (auto uid = as_id(user)) {
        out.uid = *uid;
        out.gid = 0;
        for (const auto& f : passwd)
            if (f.size() >= 4 && as_id(f[2]) == uid) {
                name = f[0];
                out.gid = as_id(f[3]).value_or(0);
                if (f.size() >= 6) home = f[5];
                found = true;
                break;
            }
    } else {
        for (const auto& f : passwd)
            if (f.size() >= 4 && f[0] == user) {
                auto uid = as_id(f[2]);
                auto gid = as_id(f[3]);
                if (!uid || !gid) break;
                out.uid = *uid;
                out.gid = *gid;
                name = user;
                if (f.size() >= 6) home = f[5];
                found = true;
                break;
            }
        if (!found)
            return Error(ENOENT, "user \"" + user + "\" is not in the image's /etc/passwd");
    }
    auto groups = colon_records(read_in_rootfs(rootfs, "/etc/group"));
    if (!group.empty()) {
        if (auto gid = as_id(group)) {
            out.gid = *gid;
        } else {
            bool group_found = false;
            for (const auto& f : groups)
                if (f.size() >= 3 && f[0] == group && as_id(f[2])) {
                    out.gid = *as_id(f[2]);
                    group_found = true;
                    break;
                }
            if (!group_found)
                return Error(ENOENT, "group \"" + group + "\" is not in the image's /etc/group");
        }
    }
    out.additional_gids.clear();
    if (!name.empty()) {
        for (const auto& f : groups) {
            if (f.size() < 4 || !as_id(f[2])) continue;
            std::istringstream members(f[3]);
            for (std::string m; std::getline(members, m, ',');)
                if (m == name && *as_id(f[2]) != out.gid) out.additional_gids.push_back(*as_id(f[2]));
        }
    }
    return {};
}

std::string cap_name(std::string c) {
    for (auto& ch : c) ch = static_cast<char>(toupper(static_cast<unsigned char>(ch)));
    if (c != "ALL" && c.rfind("CAP_", 0) != 0) c = "CAP_" + c;
    return c;
}

Result<std::vector<std::string>> final_capabilities(const RunOptions& o) {
    auto known = isolation::known_capabilities();
    std::set<std::string> caps;
    for (const auto& c : isolation::default_capabilities()) caps.insert(c);
    auto check = [&](const std::string& c, const char* flag) -> Status {
        if (c != "ALL" && std::find(known.begin(), known.end(), c) == known.end())
            return Error(EINVAL, std::string(flag) + ": unknown capability \"" + c + "\"");
        return {};
    };
    // docker applies drops, then adds; ALL on either side means every capability.
    for (const auto& raw : o.cap_drop) {
        std::string c = cap_name(raw);
        SKIFF_TRY(check(c, "--cap-drop"));
        if (c == "ALL") caps.clear();
        else caps.erase(c);
    }
    for (const auto& raw : o.cap_add) {
        std::string c = cap_name(raw);
        SKIFF_TRY(check(c, "--cap-add"));
        if (c == "ALL") caps.insert(known.begin(), known.end());
        else caps.insert(c);
    }
    return std::vector<std::string>(caps.begin(), caps.end());
}

void set_env(std::vector<std::string>& env, const std::string& kv) {
    std::string key = kv.substr(0, kv.find('='));
    for (auto& e : env)
        if (e.substr(0, e.find('=')) == key) {
            e = kv;
            return;
        }
    env.push_back(kv);
}

}  // namespace

Result<int64_t> parse_memory_size(const std::string& text) {
    if (text.empty()) return Error(EINVAL, "memory size: empty");
    size_t digits = 0;
    while (digits < text.size() && isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
    std::string suffix = text.substr(digits);
    for (auto& c : suffix) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    if (digits == 0 || digits > 15) return Error(EINVAL, "invalid memory size \"" + text + "\"");
    int64_t value = std::stoll(text.substr(0, digits));
    int64_t unit = 1;
    if (suffix == "" || suffix == "b") unit = 1;
    else if (suffix == "k" || suffix == "kb") unit = int64_t{1} << 10;
    else if (suffix == "m" || suffix == "mb") unit = int64_t{1} << 20;
    else if (suffix == "g" || suffix == "gb") unit = int64_t{1} << 30;
    else return Error(EINVAL, "invalid memory size \"" + text + "\" (use b, k, m or g)");
    if (value > (int64_t{1} << 50) / unit) return Error(ERANGE, "memory size \"" + text + "\" is too large");
    return value * unit;
}

Result<VolumeMount> parse_volume(const std::string& text) {
    VolumeMount v;
    std::vector<std::string> parts;
    size_t pos = 0;
    for (;;) {
        size_t colon = text.find(':', pos);
        parts.push_back(text.substr(pos, colon - pos));
        if (colon == std::string::npos) break;
        pos = colon + 1;
    }
    if (parts.size() < 2 || parts.size() > 3)
        return Error(EINVAL, "volume \"" + text + "\": expected SRC:DST[:ro]");
    v.source = parts[0];
    v.destination = parts[1];
    if (v.source.empty() || v.source[0] != '/')
        return Error(EINVAL, "volume \"" + text + "\": the source must be an absolute host path");
    if (v.destination.empty() || v.destination[0] != '/')
        return Error(EINVAL, "volume \"" + text + "\": the destination must be an absolute path");
    if (parts.size() == 3) {
        if (parts[2] == "ro") v.read_only = true;
        else if (parts[2] != "rw")
            return Error(EINVAL, "volume \"" + text + "\": unknown mode \"" + parts[2] + "\"");
    }
    return v;
}

Result<User> resolve_image_user(const std::string& user, const std::string& rootfs) {
    User out;
    std::string home;
    SKIFF_TRY(resolve_user(user, rootfs, out, home));
    return out;
}

Result<Spec> spec_for_image(const ImageProcess& image, const RunOptions& o,
                            const std::string& rootfs) {
    Spec spec = default_spec();
    spec.root_path = rootfs;
    spec.root_readonly = o.read_only;
    if (!o.hostname.empty()) spec.hostname = o.hostname;
    Process& p = *spec.process;

    // Command: docker's entrypoint/cmd rules.
    std::vector<std::string> entrypoint = image.entrypoint, cmd = image.cmd;
    if (o.entrypoint) {
        entrypoint = o.entrypoint->empty() ? std::vector<std::string>{}
                                           : std::vector<std::string>{*o.entrypoint};
        cmd.clear();
    }
    if (!o.command.empty()) cmd = o.command;
    p.args = entrypoint;
    p.args.insert(p.args.end(), cmd.begin(), cmd.end());
    if (p.args.empty())
        return Error(EINVAL, "no command: the image has no Entrypoint or Cmd and none was given");

    // Environment: the image's, then the caller's; PATH always set.
    p.env.clear();
    for (const auto& e : image.env) set_env(p.env, e);
    for (const auto& e : o.env) {
        if (e.find('=') == std::string::npos || e[0] == '=')
            return Error(EINVAL, "-e \"" + e + "\": expected KEY=VALUE");
        set_env(p.env, e);
    }
    bool has_path = std::any_of(p.env.begin(), p.env.end(),
                                [](const std::string& e) { return e.rfind("PATH=", 0) == 0; });
    if (!has_path) p.env.insert(p.env.begin(), std::string("PATH=") + kDefaultPath);
    if (!spec.hostname.empty()) set_env(p.env, "HOSTNAME=" + spec.hostname);
    if (o.tty) set_env(p.env, "TERM=xterm");
    p.terminal = o.tty;

    std::string user = o.user.value_or(image.user);
    std::string home = "/";
    if (!user.empty()) {
        SKIFF_TRY(resolve_user(user, rootfs, p.user, home));
    } else {
        home = "/root";
    }
    if (std::none_of(p.env.begin(), p.env.end(),
                     [](const std::string& e) { return e.rfind("HOME=", 0) == 0; }))
        p.env.push_back("HOME=" + home);
    p.cwd = o.working_dir.value_or(image.working_dir.empty() ? "/" : image.working_dir);
    if (p.cwd.empty() || p.cwd[0] != '/')
        return Error(EINVAL, "working directory \"" + p.cwd + "\" must be absolute");

    auto caps = final_capabilities(o);
    if (!caps) return std::move(caps).error();
    p.capabilities = isolation::CapabilitySets{*caps, *caps, {}, *caps, {}};
    Linux& lx = *spec.linux;
    lx.seccomp = isolation::default_seccomp_profile(*caps);

    isolation::Resources res = lx.resources.value_or(isolation::Resources{});
    if (o.memory_bytes) {
        if (*o.memory_bytes < 6 * 1024 * 1024)
            return Error(EINVAL, "--memory: at least 6m is needed to start a container");
        isolation::MemoryResources m;
        m.limit = *o.memory_bytes;
        res.memory = m;
    }
    if (o.cpus) {
        if (!(*o.cpus > 0) || *o.cpus > 1024)
            return Error(EINVAL, "--cpus: must be a number of CPUs above 0");
        isolation::CpuResources c;
        c.period = 100000;
        c.quota = static_cast<int64_t>(std::llround(*o.cpus * 100000));
        res.cpu = c;
    }
    if (o.pids_limit) {
        isolation::PidsResources pl;
        pl.limit = *o.pids_limit;
        res.pids = pl;
    }
    lx.resources = res;

    if (o.network == "host") {
        lx.namespaces.erase(std::remove_if(lx.namespaces.begin(), lx.namespaces.end(),
                                           [](const Namespace& n) { return n.type == "network"; }),
                            lx.namespaces.end());
    } else if (o.network != "none") {
        return Error(EINVAL, "--network \"" + o.network + "\": only none and host are supported");
    }
    for (const auto& v : o.volumes) {
        Mount m;
        m.destination = v.destination;
        m.type = "bind";
        m.source = v.source;
        m.options = {"rbind", v.read_only ? "ro" : "rw", "nosuid", "nodev"};
        spec.mounts.push_back(m);
    }
    for (const auto& [k, v] : image.labels) spec.annotations[k] = v;
    if (!image.stop_signal.empty()) spec.annotations["org.opencontainers.image.stopSignal"] = image.stop_signal;
    SKIFF_TRY(validate_spec(spec));
    return spec;
}

}  // namespace skiff::runtime
