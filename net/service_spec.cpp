// Services as text: addresses, "VIP:PORT/PROTO" keys, validation and the JSON list of `skiff svc apply`.
#include <arpa/inet.h>

#include <charconv>
#include <nlohmann/json.hpp>
#include <set>

#include "skiff/net/bpf_types.h"
#include "skiff/net/service_lb.hpp"

namespace skiff::net {

using json = nlohmann::json;

namespace {

Result<uint16_t> parse_port(const std::string& text, const std::string& whole) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > 65535)
        return Error(EINVAL, "bad port \"" + text + "\" in \"" + whole + "\"");
    if (value == 0) return Error(EINVAL, "port 0 in \"" + whole + "\": a port must be 1-65535");
    return static_cast<uint16_t>(value);
}

}  // namespace

Result<Endpoint> parse_endpoint(const std::string& text) {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) return Error(EINVAL, "\"" + text + "\" is not ADDRESS:PORT");
    auto ip = parse_ipv4(text.substr(0, colon));
    if (!ip) return std::move(ip).error().context("\"" + text + "\"");
    auto port = parse_port(text.substr(colon + 1), text);
    if (!port) return std::move(port).error();
    return Endpoint{*ip, *port};
}

Result<ServiceKey> parse_service_key(const std::string& text) {
    ServiceKey key;
    std::string endpoint = text;
    if (auto slash = text.find('/'); slash != std::string::npos) {
        std::string proto = text.substr(slash + 1);
        for (auto& c : proto) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (proto == "tcp")
            key.protocol = Protocol::tcp;
        else if (proto == "udp")
            key.protocol = Protocol::udp;
        else
            return Error(EINVAL, "bad protocol \"" + text.substr(slash + 1) + "\" in \"" + text + "\": tcp or udp");
        endpoint = text.substr(0, slash);
    }
    auto e = parse_endpoint(endpoint);
    if (!e) return std::move(e).error();
    key.vip = *e;
    return key;
}

std::string format_endpoint(const Endpoint& e) { return format_ipv4(e.ip) + ":" + std::to_string(e.port); }

std::string format_service_key(const ServiceKey& k) {
    return format_endpoint(k.vip) + (k.protocol == Protocol::udp ? "/udp" : "/tcp");
}

Status validate_service(const Service& s) {
    std::string name = format_service_key(s.key);
    if (s.key.vip.ip == 0) return Error(EINVAL, "service " + name + ": the address 0.0.0.0 is not a service address");
    if (s.key.vip.port == 0) return Error(EINVAL, "service " + name + ": port 0");
    if (s.backends.size() > SKIFF_MAX_BACKENDS_PER_SERVICE)
        return Error(EINVAL, "service " + name + ": " + std::to_string(s.backends.size()) + " backends, at most " +
                                 std::to_string(SKIFF_MAX_BACKENDS_PER_SERVICE));
    std::set<Endpoint> seen;
    for (const auto& b : s.backends) {
        std::string be = format_endpoint(b.endpoint);
        if (b.endpoint.ip == 0 || b.endpoint.port == 0)
            return Error(EINVAL, "service " + name + ": backend " + be + " has no address or port");
        if (!seen.insert(b.endpoint).second) return Error(EINVAL, "service " + name + ": duplicate backend " + be);
        if (b.endpoint == s.key.vip) return Error(EINVAL, "service " + name + ": backend " + be + " is the service itself");
    }
    return {};
}

namespace {

Result<Backend> backend_from_json(const json& j, const std::string& where) {
    Backend b;
    std::string address;
    if (j.is_string()) {
        address = j.get<std::string>();
    } else if (j.is_object()) {
        for (const auto& [k, v] : j.items()) {
            if (k == "address" && v.is_string())
                address = v.get<std::string>();
            else if (k == "terminating" && v.is_boolean())
                b.terminating = v.get<bool>();
            else
                return Error(EINVAL, where + ": unknown field or wrong type: \"" + k + "\"");
        }
        if (address.empty()) return Error(EINVAL, where + ": missing \"address\"");
    } else {
        return Error(EINVAL, where + ": a backend is \"ADDRESS:PORT\" or {\"address\": ..., \"terminating\": bool}");
    }
    auto e = parse_endpoint(address);
    if (!e) return std::move(e).error().context(where);
    b.endpoint = *e;
    return b;
}

Result<uint32_t> unsigned_from_json(const json& v, const std::string& where, uint32_t max) {
    if (!v.is_number_unsigned() || v.get<uint64_t>() > max)
        return Error(EINVAL, where + ": expected a whole number from 0 to " + std::to_string(max));
    return static_cast<uint32_t>(v.get<uint64_t>());
}

Result<Service> service_from_json(const json& j, const std::string& where) {
    if (!j.is_object()) return Error(EINVAL, where + ": a service is a JSON object");
    Service s;
    bool have_vip = false;
    for (const auto& [k, v] : j.items()) {
        std::string field = where + "." + k;
        if (k == "vip") {
            if (!v.is_string()) return Error(EINVAL, field + ": expected \"ADDRESS:PORT/PROTOCOL\"");
            auto key = parse_service_key(v.get<std::string>());
            if (!key) return std::move(key).error().context(field);
            s.key = *key;
            have_vip = true;
        } else if (k == "backends") {
            if (!v.is_array()) return Error(EINVAL, field + ": expected a list");
            for (size_t i = 0; i < v.size(); ++i) {
                auto b = backend_from_json(v[i], field + "[" + std::to_string(i) + "]");
                if (!b) return std::move(b).error();
                s.backends.push_back(*b);
            }
        } else if (k == "affinity") {
            auto n = unsigned_from_json(v, field, 86400);
            if (!n) return std::move(n).error();
            s.affinity_seconds = *n;
        } else if (k == "nodePort") {
            auto n = unsigned_from_json(v, field, 65535);
            if (!n) return std::move(n).error();
            s.node_port = static_cast<uint16_t>(*n);
        } else {
            return Error(EINVAL, field + ": unknown field");
        }
    }
    if (!have_vip) return Error(EINVAL, where + ": missing \"vip\"");
    SKIFF_TRY_CTX(validate_service(s), where);
    return s;
}

}  // namespace

Result<std::vector<Service>> parse_services_json(const std::string& text) {
    json doc = json::parse(text, nullptr, false);
    if (doc.is_discarded()) return Error(EINVAL, "not valid JSON");
    if (!doc.is_array()) return Error(EINVAL, "expected a JSON list of services");
    std::vector<Service> services;
    std::set<ServiceKey> keys;
    std::set<std::pair<uint16_t, Protocol>> node_ports;
    for (size_t i = 0; i < doc.size(); ++i) {
        auto s = service_from_json(doc[i], "services[" + std::to_string(i) + "]");
        if (!s) return std::move(s).error();
        if (!keys.insert(s->key).second)
            return Error(EINVAL, "services[" + std::to_string(i) + "]: " + format_service_key(s->key) + " is listed twice");
        if (s->node_port && !node_ports.insert({s->node_port, s->key.protocol}).second)
            return Error(EINVAL, "services[" + std::to_string(i) + "]: nodePort " + std::to_string(s->node_port) +
                                     " is used twice");
        services.push_back(std::move(*s));
    }
    return services;
}

std::string services_to_json(const std::vector<Service>& services) {
    json list = json::array();
    for (const auto& s : services) {
        json backends = json::array();
        for (const auto& b : s.backends) {
            if (b.terminating)
                backends.push_back({{"address", format_endpoint(b.endpoint)}, {"terminating", true}});
            else
                backends.push_back(format_endpoint(b.endpoint));
        }
        json j = {{"vip", format_service_key(s.key)}, {"backends", backends}};
        if (s.affinity_seconds) j["affinity"] = s.affinity_seconds;
        if (s.node_port) j["nodePort"] = s.node_port;
        list.push_back(std::move(j));
    }
    return list.dump(2);
}

}  // namespace skiff::net
