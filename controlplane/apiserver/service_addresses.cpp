// Service address allocation: a random free address of the range, claimed by creating its key.
#include "service_addresses.hpp"

#include <arpa/inet.h>
#include <sys/random.h>

#include <algorithm>


namespace skiff::apiserver {

using json = nlohmann::json;

namespace {

constexpr const char* kIpKeys = "/skiff/ranges/serviceips/";
constexpr const char* kPortKeys = "/skiff/ranges/nodeports/";

uint32_t random_below(uint32_t n) {
    uint32_t r = 0;
    while (getrandom(&r, sizeof r, 0) != sizeof r) {
    }
    return r % n;
}

bool parse_ipv4(const std::string& text, uint32_t& out) {
    in_addr a{};
    if (inet_pton(AF_INET, text.c_str(), &a) != 1) return false;
    out = ntohl(a.s_addr);
    return true;
}

std::string format_ipv4(uint32_t ip) {
    in_addr a{htonl(ip)};
    char buf[INET_ADDRSTRLEN];
    return inet_ntop(AF_INET, &a, buf, sizeof buf);
}

struct Range {
    uint32_t base = 0;
    uint32_t size = 0;
};

Range service_range() {
    std::string cidr = kServiceCidr;
    auto slash = cidr.find('/');
    uint32_t base = 0;
    parse_ipv4(cidr.substr(0, slash), base);
    int bits = std::stoi(cidr.substr(slash + 1));
    return {base, 1u << (32 - bits)};
}

bool is_ip_service(const json& svc) {
    const json spec = svc.value("spec", json::object());
    return spec.value("type", "ClusterIP") != "ExternalName" && spec.value("clusterIP", "") != "None";
}

bool has_node_ports(const json& svc) {
    std::string type = svc.value("spec", json::object()).value("type", "ClusterIP");
    return type == "NodePort" || type == "LoadBalancer";
}

std::string owner_of(const json& svc) {
    const json& meta = svc["metadata"];
    return meta.value("namespace", "") + "/" + meta.value("name", "");
}

// Claims key for the service; false if another holds it.
Result<bool> claim(store::Store& store, const std::string& key, const json& svc) {
    auto r = store.create(key, owner_of(svc));
    if (r) return true;
    if (r.error().code() == store::errc::exists) return false;
    return r.error();
}

}  // namespace

std::string first_service_address() { return format_ipv4(service_range().base + 1); }

std::vector<std::string> service_address_keys(const json& svc) {
    std::vector<std::string> keys;
    if (!svc.is_object() || !svc.contains("spec") || !svc["spec"].is_object()) return keys;
    const json& spec = svc["spec"];
    std::string ip = spec.value("clusterIP", "");
    if (!ip.empty() && ip != "None") keys.push_back(kIpKeys + ip);
    if (spec.contains("ports") && spec["ports"].is_array())
        for (const auto& p : spec["ports"])
            if (p.is_object() && p.contains("nodePort") && p["nodePort"].is_number_integer() && p["nodePort"] != 0)
                keys.push_back(kPortKeys + std::to_string(p["nodePort"].get<int>()));
    return keys;
}

std::vector<std::string> service_addresses_dropped(const json& old, const json& updated) {
    auto before = service_address_keys(old), after = service_address_keys(updated);
    std::vector<std::string> dropped;
    for (const auto& k : before)
        if (std::find(after.begin(), after.end(), k) == after.end()) dropped.push_back(k);
    return dropped;
}

void release_service_addresses(store::Store& store, const std::vector<std::string>& keys) {
    for (const auto& k : keys) (void)store.remove(k);
}

namespace {

Status allocate(store::Store& store, const json& old, json& updated, std::vector<std::string>& allocated);

}  // namespace

Status allocate_service_addresses(store::Store& store, const json& old, json& updated, std::vector<std::string>& allocated) {
    auto r = allocate(store, old, updated, allocated);
    if (!r) {
        release_service_addresses(store, allocated);
        allocated.clear();
    }
    return r;
}

namespace {

Status allocate(store::Store& store, const json& old, json& updated, std::vector<std::string>& allocated) {
    auto held = service_address_keys(old);
    auto holds = [&](const std::string& key) { return std::find(held.begin(), held.end(), key) != held.end(); };
    json& spec = updated["spec"];
    if (!spec.is_object()) return {};
    Range range = service_range();

    if (is_ip_service(updated)) {
        std::string ip = spec.value("clusterIP", "");
        if (ip.empty()) {
            // A random free address, never the range's first (the `kubernetes` service's) or the broadcast.
            for (int attempt = 0; attempt < 64 && ip.empty(); ++attempt) {
                std::string candidate = format_ipv4(range.base + 2 + random_below(range.size - 3));
                auto got = claim(store, kIpKeys + candidate, updated);
                if (!got) return got.error();
                if (*got) {
                    ip = candidate;
                    allocated.push_back(kIpKeys + candidate);
                }
            }
            if (ip.empty()) return Error(ENOSPC, std::string("spec.clusterIP: no free address in ") + kServiceCidr);
        } else if (!holds(kIpKeys + ip)) {
            uint32_t addr = 0;
            if (!parse_ipv4(ip, addr) || addr - range.base >= range.size)
                return Error(EINVAL, "spec.clusterIP: Invalid value: \"" + ip +
                                         "\": provided IP is not in the valid range. The range of valid IPs is " + kServiceCidr);
            auto got = claim(store, kIpKeys + ip, updated);
            if (!got) return got.error();
            if (!*got) return Error(EINVAL, "spec.clusterIP: Invalid value: \"" + ip + "\": provided IP is already allocated");
            allocated.push_back(kIpKeys + ip);
        }
        spec["clusterIP"] = ip;
        spec["clusterIPs"] = json::array({ip});
    }

    if (has_node_ports(updated) && spec.contains("ports") && spec["ports"].is_array()) {
        for (size_t i = 0; i < spec["ports"].size(); ++i) {
            json& port = spec["ports"][i];
            if (!port.is_object()) continue;
            int wanted = port.contains("nodePort") && port["nodePort"].is_number_integer() ? port["nodePort"].get<int>() : 0;
            if (wanted != 0) {
                std::string key = kPortKeys + std::to_string(wanted);
                if (holds(key) || std::find(allocated.begin(), allocated.end(), key) != allocated.end()) continue;
                std::string field = "spec.ports[" + std::to_string(i) + "].nodePort";
                if (wanted < kNodePortMin || wanted > kNodePortMax)
                    return Error(EINVAL, field + ": Invalid value: " + std::to_string(wanted) +
                                             ": provided port is not in the valid range. The range of valid ports is " +
                                             std::to_string(kNodePortMin) + "-" + std::to_string(kNodePortMax));
                auto got = claim(store, key, updated);
                if (!got) return got.error();
                if (!*got) return Error(EINVAL, field + ": Invalid value: " + std::to_string(wanted) + ": provided port is already allocated");
                allocated.push_back(key);
                continue;
            }
            int chosen = 0;
            for (int attempt = 0; attempt < 64 && !chosen; ++attempt) {
                int candidate = kNodePortMin + static_cast<int>(random_below(kNodePortMax - kNodePortMin + 1));
                std::string key = kPortKeys + std::to_string(candidate);
                auto got = claim(store, key, updated);
                if (!got) return got.error();
                if (*got) {
                    chosen = candidate;
                    allocated.push_back(key);
                }
            }
            if (!chosen) return Error(ENOSPC, "spec.ports[" + std::to_string(i) + "].nodePort: no free node port");
            port["nodePort"] = chosen;
        }
    }
    return {};
}

}  // namespace

}  // namespace skiff::apiserver
