// The eBPF service load balancer: services (virtual IP, port, protocol -> backends) in pinned maps, and
// the socket programs that use them attached to one cgroup. What the node agent drives from Services and
// Endpoints, and what `skiff svc` drives by hand.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "skiff/base/result.hpp"
#include "skiff/base/unique_fd.hpp"
#include "skiff/net/ipam.hpp"  // parse_ipv4, format_ipv4

namespace skiff::net {

enum class Protocol : uint8_t { tcp = 6, udp = 17 };

// An IPv4 endpoint. ip is in host byte order (10.96.0.10 == 0x0a60000a).
struct Endpoint {
    uint32_t ip = 0;
    uint16_t port = 0;
    friend bool operator==(const Endpoint&, const Endpoint&) = default;
    friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

struct ServiceKey {
    Endpoint vip;
    Protocol protocol = Protocol::tcp;
    friend bool operator==(const ServiceKey&, const ServiceKey&) = default;
    friend auto operator<=>(const ServiceKey&, const ServiceKey&) = default;
};

struct Backend {
    Endpoint endpoint;
    bool terminating = false;  // keeps its open connections, gets no new ones
    friend bool operator==(const Backend&, const Backend&) = default;
};

struct Service {
    ServiceKey key;
    std::vector<Backend> backends;
    uint32_t affinity_seconds = 0;  // 0: no session affinity
    uint16_t node_port = 0;         // 0: no NodePort
    friend bool operator==(const Service&, const Service&) = default;
};

struct BackendStats {
    Endpoint endpoint;
    bool terminating = false;
    uint64_t connections = 0;
};

struct ServiceStats {
    ServiceKey key;
    uint64_t connections = 0;
    uint64_t refused = 0;
    std::vector<BackendStats> backends;
};

// "10.96.0.10:80", "10.96.0.10:80/tcp" (protocol defaults to tcp), "10.88.0.2:8080".
[[nodiscard]] Result<Endpoint> parse_endpoint(const std::string& text);
[[nodiscard]] Result<ServiceKey> parse_service_key(const std::string& text);
std::string format_endpoint(const Endpoint& e);
std::string format_service_key(const ServiceKey& k);

// Checks a service for what the data plane cannot take: port 0, duplicate backends, too many backends.
[[nodiscard]] Status validate_service(const Service& s);
// A JSON list of services: [{"vip": "10.96.0.10:80/tcp", "backends": ["10.88.0.2:8080",
// {"address": "10.88.0.3:8080", "terminating": true}], "affinity": 10800, "nodePort": 30080}].
[[nodiscard]] Result<std::vector<Service>> parse_services_json(const std::string& text);
std::string services_to_json(const std::vector<Service>& services);

struct LbOptions {
    std::string cgroup;                     // cgroup2 directory the socket programs attach to
    std::string bpffs = "/sys/fs/bpf/skiff";  // pin directory (maps/, links/), on a bpf filesystem
};

class ServiceLb {
public:
    // Opens the pinned load balancer in options.bpffs; when it is not there yet (or attach is true and
    // the programs are not attached), loads the programs, pins the maps and attaches to options.cgroup.
    // Fails if the programs are attached to another cgroup than options.cgroup.
    [[nodiscard]] static Result<ServiceLb> open(const LbOptions& options);
    // Opens only what is pinned (for ls and stats); an error when nothing is.
    [[nodiscard]] static Result<ServiceLb> open_existing(const std::string& bpffs);
    // Detaches the programs and removes every pin under bpffs. Idempotent.
    [[nodiscard]] static Status unload(const std::string& bpffs);

    ServiceLb(ServiceLb&&) noexcept;
    ServiceLb& operator=(ServiceLb&&) noexcept;
    ~ServiceLb();

    // Adds or changes one service; only its own map entries are written.
    [[nodiscard]] Status upsert(const Service& service);
    [[nodiscard]] Status remove(const ServiceKey& key);
    // Makes the set of services exactly `services` (what is not in it is removed).
    [[nodiscard]] Status apply(const std::vector<Service>& services);
    [[nodiscard]] Result<std::vector<Service>> list() const;
    [[nodiscard]] Result<std::optional<Service>> get(const ServiceKey& key) const;
    [[nodiscard]] Result<std::vector<ServiceStats>> stats() const;

    const std::string& bpffs() const;

private:
    struct State;
    explicit ServiceLb(State* state);
    State* state_;
};

}  // namespace skiff::net
