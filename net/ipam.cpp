// IPAM: IPv4 parsing and the on-disk allocator (one O_EXCL file per address, under a flock).
#include "skiff/net/ipam.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cctype>
#include <charconv>
#include <memory>
#include <set>
#include <vector>

#include "skiff/base/fs.hpp"
#include "skiff/base/unique_fd.hpp"

namespace skiff::net {

Result<uint32_t> parse_ipv4(std::string_view text) {
    // inet_pton takes only the four-part dotted decimal form (no "10.1", no leading zeros).
    std::string s(text);
    in_addr a{};
    if (text.empty() || text.size() > 15 || ::inet_pton(AF_INET, s.c_str(), &a) != 1)
        return Error(EINVAL, "invalid IPv4 address \"" + s + "\"");
    return ntohl(a.s_addr);
}

std::string format_ipv4(uint32_t ip) {
    return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 0xff) + "." +
           std::to_string((ip >> 8) & 0xff) + "." + std::to_string(ip & 0xff);
}

Result<Ipv4Net> Ipv4Net::parse(std::string_view text) {
    auto bad = [&](const std::string& why) {
        return Error(EINVAL, "invalid CIDR \"" + std::string(text) + "\": " + why);
    };
    size_t slash = text.find('/');
    if (slash == std::string_view::npos) return bad("expected ADDRESS/PREFIX, e.g. 10.88.1.0/24");
    auto ip = parse_ipv4(text.substr(0, slash));
    if (!ip) return bad("the address is not dotted-decimal IPv4");
    std::string_view p = text.substr(slash + 1);
    int prefix = -1;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (p.empty() || p.size() > 2 || ec != std::errc() || end != p.data() + p.size() ||
        prefix < 0 || prefix > 32)
        return bad("the prefix length must be 0..32");
    Ipv4Net net{*ip, prefix};
    if ((*ip & net.mask()) != *ip) {
        Ipv4Net fixed{*ip & net.mask(), prefix};
        return bad("host bits are set (the network is " + fixed.str() + ")");
    }
    return net;
}

std::string Ipv4Net::str() const {
    return format_ipv4(network) + "/" + std::to_string(prefix);
}

Status validate_owner(const std::string& owner) {
    if (owner.empty()) return Error(EINVAL, "the pod id is empty");
    if (owner.size() > 253) return Error(EINVAL, "the pod id is longer than 253 characters");
    for (unsigned char c : owner)
        if (!std::isgraph(c))
            return Error(EINVAL, "pod id \"" + owner + "\" has whitespace or control characters");
    return {};
}

std::string ipam_pool_dir(const std::string& state_dir, const Ipv4Net& pool) {
    return state_dir + "/ipam/" + format_ipv4(pool.network) + "_" + std::to_string(pool.prefix);
}

namespace {

constexpr const char* kLockFile = "lock";
constexpr const char* kLastReserved = "last_reserved_ip";

// Holds the pool's lock file, flocked exclusively, until it goes.
Result<UniqueFd> lock_pool(const std::string& dir) {
    std::string path = dir + "/" + kLockFile;
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) return Error::from_errno("open " + path);
    while (::flock(fd.get(), LOCK_EX) != 0)
        if (errno != EINTR) return Error::from_errno("flock " + path);
    return fd;
}

struct Entry {
    uint32_t ip;
    std::string owner;  // empty: a file whose writer died between create and write
};

struct DirCloser {
    void operator()(DIR* d) const { ::closedir(d); }
};

// The address files of the pool in dir (other names are ignored). Called with the lock held.
Result<std::vector<Entry>> scan(const std::string& dir, const Ipv4Net& pool) {
    std::unique_ptr<DIR, DirCloser> d(::opendir(dir.c_str()));
    if (!d) return Error::from_errno("open " + dir);
    std::vector<Entry> out;
    errno = 0;
    while (dirent* ent = ::readdir(d.get())) {
        std::string name = ent->d_name;
        auto ip = parse_ipv4(name);
        if (!ip || !pool.contains(*ip)) continue;
        auto text = fs::read_file(dir + "/" + name);
        if (!text) {
            if (text.error().code() == ENOENT) continue;
            return std::move(text).error();
        }
        std::string owner = *text;
        while (!owner.empty() && (owner.back() == '\n' || owner.back() == '\r')) owner.pop_back();
        out.push_back({*ip, std::move(owner)});
        errno = 0;
    }
    if (errno != 0) return Error::from_errno("read " + dir);
    return out;
}

Status sync_dir(const std::string& dir) {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd || ::fsync(fd.get()) != 0) return Error::from_errno("fsync " + dir);
    return {};
}

Status unlink_entry(const std::string& dir, uint32_t ip) {
    std::string path = dir + "/" + format_ipv4(ip);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Error::from_errno("unlink " + path);
    return {};
}

// Creates the file for ip holding owner; false when it exists already.
Result<bool> claim(const std::string& dir, uint32_t ip, const std::string& owner) {
    std::string path = dir + "/" + format_ipv4(ip);
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd) {
        if (errno == EEXIST) return false;
        return Error::from_errno("create " + path);
    }
    std::string data = owner + "\n";
    ssize_t n;
    do n = ::write(fd.get(), data.data(), data.size());
    while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(data.size()) || ::fsync(fd.get()) != 0) {
        Error e = n >= 0 && n != static_cast<ssize_t>(data.size())
                      ? Error(EIO, "short write to " + path)
                      : Error::from_errno("write " + path);
        ::unlink(path.c_str());
        return e;
    }
    return true;
}

}  // namespace

Result<Ipam> Ipam::open(const std::string& state_dir, const Ipv4Net& pool) {
    if (pool.prefix > 30)
        return Error(EINVAL, "pod CIDR " + pool.str() +
                                 " is too small: it needs at least a /30 (network, gateway, one "
                                 "pod, broadcast)");
    if (state_dir.empty()) return Error(EINVAL, "the IPAM state directory is empty");
    std::string dir = ipam_pool_dir(state_dir, pool);
    SKIFF_TRY_CTX(fs::make_dirs(dir, 0700), "IPAM state for " + pool.str());
    return Ipam(pool, std::move(dir));
}

Result<IpAllocation> Ipam::allocate(const std::string& owner) {
    SKIFF_TRY(validate_owner(owner));
    std::string what = "allocate an address in " + pool_.str() + " for " + owner;
    auto lock = lock_pool(dir_);
    if (!lock) return std::move(lock).error().context(what);
    auto entries = scan(dir_, pool_);
    if (!entries) return std::move(entries).error().context(what);
    std::set<uint32_t> used;
    for (const auto& e : *entries) {
        if (e.owner == owner) return IpAllocation{format_ipv4(e.ip), false};
        if (e.owner.empty()) {
            // Only a writer that died holding the lock leaves an empty file: nobody owns it.
            SKIFF_TRY_CTX(unlink_entry(dir_, e.ip), what);
            continue;
        }
        used.insert(e.ip);
    }
    // Hosts are network+2 .. broadcast-1: network+1 is the gateway.
    uint32_t first = pool_.network + 2;
    uint64_t count = uint64_t{pool_.broadcast()} - first;
    uint64_t start = 0;
    if (auto last = fs::read_file(dir_ + "/" + kLastReserved); last) {
        std::string t = *last;
        while (!t.empty() && t.back() == '\n') t.pop_back();
        if (auto ip = parse_ipv4(t); ip && *ip >= first && *ip < first + count)
            start = (*ip - first + 1) % count;
    }
    for (uint64_t i = 0; i < count; ++i) {
        uint32_t ip = first + static_cast<uint32_t>((start + i) % count);
        if (used.count(ip)) continue;
        auto claimed = claim(dir_, ip, owner);
        if (!claimed) return std::move(claimed).error().context(what);
        if (!*claimed) continue;
        SKIFF_TRY_CTX(sync_dir(dir_), what);
        // Only a hint for where the next scan starts: losing it costs nothing but reuse order.
        (void)fs::write_file_atomic(dir_ + "/" + kLastReserved, format_ipv4(ip) + "\n");
        return IpAllocation{format_ipv4(ip), true};
    }
    return Error(ENOSPC, "pod CIDR " + pool_.str() + " is exhausted: all " + std::to_string(count) +
                             " pod addresses are allocated (" + dir_ + ")");
}

Result<std::optional<std::string>> Ipam::find(const std::string& owner) const {
    SKIFF_TRY(validate_owner(owner));
    auto lock = lock_pool(dir_);
    if (!lock) return std::move(lock).error().context("look up " + owner + " in " + pool_.str());
    auto entries = scan(dir_, pool_);
    if (!entries) return std::move(entries).error().context("look up " + owner);
    for (const auto& e : *entries)
        if (e.owner == owner) return std::optional<std::string>(format_ipv4(e.ip));
    return std::optional<std::string>();
}

Status Ipam::release(const std::string& owner) {
    SKIFF_TRY(validate_owner(owner));
    std::string what = "release the address of " + owner + " in " + pool_.str();
    auto lock = lock_pool(dir_);
    if (!lock) return std::move(lock).error().context(what);
    auto entries = scan(dir_, pool_);
    if (!entries) return std::move(entries).error().context(what);
    bool changed = false;
    for (const auto& e : *entries) {
        if (e.owner != owner && !e.owner.empty()) continue;
        SKIFF_TRY_CTX(unlink_entry(dir_, e.ip), what);
        changed = true;
    }
    if (changed) SKIFF_TRY_CTX(sync_dir(dir_), what);
    return {};
}

Result<std::map<std::string, std::string>> Ipam::list() const {
    auto lock = lock_pool(dir_);
    if (!lock) return std::move(lock).error().context("list " + pool_.str());
    auto entries = scan(dir_, pool_);
    if (!entries) return std::move(entries).error().context("list " + pool_.str());
    std::map<std::string, std::string> out;
    for (const auto& e : *entries)
        if (!e.owner.empty()) out[format_ipv4(e.ip)] = e.owner;
    return out;
}

Status release_in_all_pools(const std::string& state_dir, const std::string& owner) {
    SKIFF_TRY(validate_owner(owner));
    std::string root = state_dir + "/ipam";
    std::vector<Ipv4Net> pools;
    {
        std::unique_ptr<DIR, DirCloser> d(::opendir(root.c_str()));
        if (!d) {
            if (errno == ENOENT) return {};
            return Error::from_errno("open " + root);
        }
        while (dirent* ent = ::readdir(d.get())) {
            std::string name = ent->d_name;
            size_t us = name.rfind('_');
            if (us == std::string::npos) continue;
            auto pool = Ipv4Net::parse(name.substr(0, us) + "/" + name.substr(us + 1));
            if (pool && pool->prefix <= 30 && ipam_pool_dir(state_dir, *pool) == root + "/" + name)
                pools.push_back(*pool);
        }
    }
    for (const auto& pool : pools) {
        auto ipam = Ipam::open(state_dir, pool);
        if (!ipam) return std::move(ipam).error();
        SKIFF_TRY(ipam->release(owner));
    }
    return {};
}

}  // namespace skiff::net
