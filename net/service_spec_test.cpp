// Unit tests of services as text: addresses, service keys, validation and the apply file.
#include <gtest/gtest.h>

#include "skiff/net/service_lb.hpp"

namespace skiff::net {
namespace {

TEST(ServiceSpec, ParsesAddressesAndKeys) {
    auto key = parse_service_key("10.96.0.10:80/UDP");
    ASSERT_TRUE(key) << key.error().what();
    EXPECT_EQ(key->vip.ip, 0x0a60000au);
    EXPECT_EQ(key->vip.port, 80);
    EXPECT_EQ(key->protocol, Protocol::udp);
    EXPECT_EQ(format_service_key(*key), "10.96.0.10:80/udp");
    auto tcp = parse_service_key("10.96.0.10:443");
    ASSERT_TRUE(tcp);
    EXPECT_EQ(tcp->protocol, Protocol::tcp);
    EXPECT_EQ(format_endpoint(parse_endpoint("192.168.1.2:65535").value()), "192.168.1.2:65535");
}

TEST(ServiceSpec, RejectsBadAddressesWithTheReason) {
    struct Case {
        const char* text;
        const char* message;
    } cases[] = {
        {"10.96.0:80", "invalid IPv4 address \"10.96.0\""},
        {"10.96.0.10:0", "port 0"},
        {"10.96.0.10:65536", "bad port \"65536\""},
        {"10.96.0.10:http", "bad port \"http\""},
        {"10.96.0.10:80/sctp", "bad protocol \"sctp\""},
        {"10.96.0.10", "is not ADDRESS:PORT"},
        {"10.96.0.10:", "bad port \"\""},
        {"::1:80", "invalid IPv4 address"},
        {"10.96.0.10:+80", "bad port"},
    };
    for (const auto& c : cases) {
        auto key = parse_service_key(c.text);
        ASSERT_FALSE(key) << c.text;
        EXPECT_NE(key.error().message().find(c.message), std::string::npos) << key.error().message();
        EXPECT_EQ(key.error().code(), EINVAL);
    }
}

Service service(const char* vip, std::initializer_list<const char*> backends) {
    Service s;
    s.key = parse_service_key(vip).value();
    for (const char* b : backends) s.backends.push_back(Backend{parse_endpoint(b).value(), false});
    return s;
}

TEST(ServiceSpec, ValidatesServices) {
    EXPECT_TRUE(validate_service(service("10.96.0.10:80", {"10.88.0.2:80", "10.88.0.3:80"})));
    EXPECT_TRUE(validate_service(service("10.96.0.10:80", {})));
    auto dup = validate_service(service("10.96.0.10:80", {"10.88.0.2:80", "10.88.0.2:80"}));
    ASSERT_FALSE(dup);
    EXPECT_EQ(dup.error().message(), "service 10.96.0.10:80/tcp: duplicate backend 10.88.0.2:80");
    auto self = validate_service(service("10.96.0.10:80", {"10.96.0.10:80"}));
    ASSERT_FALSE(self);
    EXPECT_NE(self.error().message().find("is the service itself"), std::string::npos);
    Service zero;
    auto z = validate_service(zero);
    ASSERT_FALSE(z);
    EXPECT_NE(z.error().message().find("0.0.0.0"), std::string::npos);
}

TEST(ServiceSpec, ParsesTheApplyFileAndPrintsItBack) {
    auto services = parse_services_json(R"([
        {"vip": "10.96.0.10:80/tcp", "backends": ["10.88.0.2:8080", {"address": "10.88.0.3:8080", "terminating": true}],
         "affinity": 10800, "nodePort": 30080},
        {"vip": "10.96.0.10:53/udp", "backends": []}])");
    ASSERT_TRUE(services) << services.error().what();
    ASSERT_EQ(services->size(), 2u);
    const Service& s = (*services)[0];
    EXPECT_EQ(s.affinity_seconds, 10800u);
    EXPECT_EQ(s.node_port, 30080);
    ASSERT_EQ(s.backends.size(), 2u);
    EXPECT_FALSE(s.backends[0].terminating);
    EXPECT_TRUE(s.backends[1].terminating);
    EXPECT_EQ((*services)[1].key.protocol, Protocol::udp);
    auto again = parse_services_json(services_to_json(*services));
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, *services);
}

TEST(ServiceSpec, ApplyFileErrorsNameTheField) {
    struct Case {
        const char* json;
        const char* message;
    } cases[] = {
        {"{}", "expected a JSON list"},
        {"[1]", "services[0]: a service is a JSON object"},
        {R"([{"backends": []}])", "services[0]: missing \"vip\""},
        {R"([{"vip": "10.96.0.1:80", "port": 1}])", "services[0].port: unknown field"},
        {R"([{"vip": "10.96.0.1:80", "backends": ["10.88.0.2"]}])", "services[0].backends[0]"},
        {R"([{"vip": "10.96.0.1:80", "backends": [{"terminating": true}]}])", "missing \"address\""},
        {R"([{"vip": "10.96.0.1:80", "affinity": -1}])", "services[0].affinity"},
        {R"([{"vip": "10.96.0.1:80", "nodePort": 70000}])", "services[0].nodePort"},
        {R"([{"vip": "10.96.0.1:80"}, {"vip": "10.96.0.1:80/tcp"}])", "listed twice"},
        {R"([{"vip": "10.96.0.1:80", "nodePort": 30000}, {"vip": "10.96.0.2:80", "nodePort": 30000}])", "nodePort 30000 is used twice"},
        {R"([{"vip": "10.96.0.1:80", "backends": ["10.88.0.2:1", "10.88.0.2:1"]}])", "duplicate backend"},
        {"[", "not valid JSON"},
    };
    for (const auto& c : cases) {
        auto r = parse_services_json(c.json);
        ASSERT_FALSE(r) << c.json;
        EXPECT_NE(r.error().message().find(c.message), std::string::npos) << c.json << " -> " << r.error().message();
    }
}

}  // namespace
}  // namespace skiff::net
