// NodePort program tests: the real loader and program in a private network and mount namespace, fed
// crafted frames with BPF_PROG_TEST_RUN; checks the translations, checksums, routing and counters.
#include "skiff/net/nodeport.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <sstream>

#include "skiff/net/bpf_nodeport_types.h"
#include "skiff/net/bpf_types.h"

namespace skiff::net {
namespace {

constexpr int kTcActUnspec = -1;
constexpr int kTcActOk = 0;
constexpr int kTcActRedirect = 7;

const uint8_t kBackendMac[6] = {0x02, 0, 0, 0, 0, 0x02};
const uint8_t kClientMac[6] = {0x02, 0, 0, 0, 0, 0x01};

uint32_t ip(const char* text) {
    in_addr a{};
    EXPECT_EQ(inet_pton(AF_INET, text, &a), 1) << text;
    return a.s_addr;
}

uint32_t sum16(const uint8_t* p, size_t n, uint32_t sum = 0) {
    for (size_t i = 0; i + 1 < n; i += 2) sum += (p[i] << 8) | p[i + 1];
    if (n & 1) sum += p[n - 1] << 8;
    return sum;
}
uint16_t fold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

// An IPv4 frame as parsed back from the program's output.
struct Frame {
    uint8_t dmac[6], smac[6];
    uint32_t saddr, daddr;  // network order
    uint16_t sport, dport;  // host order
    uint8_t ttl, proto;
    uint16_t l4_csum;
    bool ip_csum_ok, l4_csum_ok;
};

// Ethernet + IPv4 (no options) + a TCP (flags) or UDP header + payload, with correct checksums
// (UDP: zero_udp_csum leaves the checksum 0, "none").
std::vector<uint8_t> make_frame(uint8_t proto, uint32_t saddr, uint16_t sport, uint32_t daddr,
                                uint16_t dport, uint8_t tcp_flags = 0x02,
                                bool zero_udp_csum = false) {
    const std::string payload = "hello";
    size_t l4_len = (proto == IPPROTO_TCP ? 20 : 8) + payload.size();
    std::vector<uint8_t> f(14 + 20 + l4_len, 0);
    std::memcpy(&f[0], "\x02\x00\x00\x00\x00\xaa", 6);
    std::memcpy(&f[6], kClientMac, 6);
    f[12] = 0x08;
    uint8_t* iph = &f[14];
    iph[0] = 0x45;
    uint16_t tot = htons(static_cast<uint16_t>(20 + l4_len));
    std::memcpy(iph + 2, &tot, 2);
    iph[8] = 64;
    iph[9] = proto;
    std::memcpy(iph + 12, &saddr, 4);
    std::memcpy(iph + 16, &daddr, 4);
    uint16_t c = htons(fold(sum16(iph, 20)));
    std::memcpy(iph + 10, &c, 2);
    uint8_t* l4 = iph + 20;
    uint16_t sp = htons(sport), dp = htons(dport);
    std::memcpy(l4, &sp, 2);
    std::memcpy(l4 + 2, &dp, 2);
    size_t csum_off;
    if (proto == IPPROTO_TCP) {
        l4[12] = 5 << 4;
        l4[13] = tcp_flags;
        l4[14] = 0xff;
        csum_off = 16;
        std::memcpy(l4 + 20, payload.data(), payload.size());
    } else {
        uint16_t len = htons(static_cast<uint16_t>(l4_len));
        std::memcpy(l4 + 4, &len, 2);
        csum_off = 6;
        std::memcpy(l4 + 8, payload.data(), payload.size());
    }
    if (proto == IPPROTO_TCP || !zero_udp_csum) {
        uint32_t pseudo = sum16(iph + 12, 8) + proto + static_cast<uint32_t>(l4_len);
        uint16_t l4c = fold(sum16(l4, l4_len, pseudo));
        if (proto == IPPROTO_UDP && l4c == 0) l4c = 0xffff;
        l4c = htons(l4c);
        std::memcpy(l4 + csum_off, &l4c, 2);
    }
    return f;
}

Frame parse_frame(const std::vector<uint8_t>& f) {
    Frame r{};
    std::memcpy(r.dmac, &f[0], 6);
    std::memcpy(r.smac, &f[6], 6);
    const uint8_t* iph = &f[14];
    std::memcpy(&r.saddr, iph + 12, 4);
    std::memcpy(&r.daddr, iph + 16, 4);
    r.ttl = iph[8];
    r.proto = iph[9];
    r.ip_csum_ok = fold(sum16(iph, 20)) == 0;
    const uint8_t* l4 = iph + 20;
    size_t l4_len = f.size() - 34;
    r.sport = (l4[0] << 8) | l4[1];
    r.dport = (l4[2] << 8) | l4[3];
    size_t csum_off = r.proto == IPPROTO_TCP ? 16 : 6;
    r.l4_csum = (l4[csum_off] << 8) | l4[csum_off + 1];
    uint32_t pseudo = sum16(iph + 12, 8) + r.proto + static_cast<uint32_t>(l4_len);
    r.l4_csum_ok = fold(sum16(l4, l4_len, pseudo)) == 0;
    return r;
}

// Runs body in a child with its own network and mount namespaces (nothing of the host is touched);
// the child reports failed checks as text.
std::string in_private_namespaces(const std::function<void(std::ostringstream&)>& body) {
    int pipefd[2];
    if (pipe(pipefd) != 0) return "pipe failed";
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        std::ostringstream failures;
        if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0 ||
            mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
            failures << "unshare: " << strerror(errno) << "\n";
        else
            body(failures);
        std::string text = failures.str();
        (void)!write(pipefd[1], text.data(), text.size());
        _exit(0);
    }
    close(pipefd[1]);
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = read(pipefd[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        text += "child died (status " + std::to_string(status) + ")\n";
    return text;
}

#define CHECK(cond, what)                                       \
    do {                                                        \
        if (!(cond)) out << __LINE__ << ": " << (what) << "\n"; \
    } while (0)

struct Harness {
    std::string mountpoint;  // a bpffs of the test's own, in the private mount namespace
    std::string bpffs;
    int prog = -1;
    uint32_t ifindex = 0;
    int map(const char* name) const { return bpf_obj_get((bpffs + "/maps/" + name).c_str()); }

    // One frame through the program; returns its verdict and the frame it left.
    int run(const std::vector<uint8_t>& in, std::vector<uint8_t>& out) const {
        out.assign(in.size() + 64, 0);
        __sk_buff ctx{};
        ctx.ifindex = ifindex;
        ctx.ingress_ifindex = ifindex;
        LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in.data(), .data_out = out.data(),
                    .data_size_in = static_cast<uint32_t>(in.size()),
                    .data_size_out = static_cast<uint32_t>(out.size()), .ctx_in = &ctx,
                    .ctx_size_in = sizeof ctx);
        if (bpf_prog_test_run_opts(prog, &opts) != 0) return -1000 - errno;
        out.resize(opts.data_size_out);
        return static_cast<int>(opts.retval);
    }

    ~Harness() {
        if (prog >= 0) close(prog);
        if (!mountpoint.empty()) {
            umount2(mountpoint.c_str(), MNT_DETACH);
            rmdir(mountpoint.c_str());
        }
    }
};

// A device d0 (a veth) with the pod network 10.88.1.0/24 and the client network 192.0.2.0/24
// (static neighbours, forwarding on), the program attached to it, and the NodePort services:
// 30080/tcp and 30053/udp -> 10.88.1.2 (8080, 5353), 30099/tcp without backends.
bool setup(Harness& h, std::ostringstream& out) {
    char dir[] = "/tmp/skiff-np-test.XXXXXX";
    if (!mkdtemp(dir)) {
        out << "mkdtemp: " << strerror(errno) << "\n";
        return false;
    }
    h.mountpoint = dir;
    if (mount("bpf", dir, "bpf", 0, nullptr) != 0) {
        out << "mount bpffs: " << strerror(errno) << "\n";
        return false;
    }
    h.bpffs = std::string(dir) + "/skiff";
    const char* cmds[] = {
        "ip link add d0 type veth peer name d1",
        "ip link set d0 address 02:00:00:00:00:aa",
        "ip link set d1 up",
        "ip link set d0 up",
        "ip addr add 10.88.1.1/24 dev d0",
        "ip addr add 192.0.2.10/24 dev d0",
        "ip neigh replace 10.88.1.2 lladdr 02:00:00:00:00:02 dev d0 nud permanent",
        "ip neigh replace 192.0.2.1 lladdr 02:00:00:00:00:01 dev d0 nud permanent",
        "echo 1 > /proc/sys/net/ipv4/ip_forward"};
    for (const char* c : cmds)
        if (system(c) != 0) {
            out << "setup failed: " << c << "\n";
            return false;
        }
    if (auto r = attach_nodeport(h.bpffs, {"d0"}); !r) {
        out << "attach: " << r.error().what() << "\n";
        return false;
    }
    h.ifindex = if_nametoindex("d0");
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(h.ifindex),
                .attach_point = BPF_TC_INGRESS);
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kNodePortTcHandle, .priority = kNodePortTcPriority);
    if (bpf_tc_query(&hook, &opts) != 0 || (h.prog = bpf_prog_get_fd_by_id(opts.prog_id)) < 0) {
        out << "the filter is not there after attach\n";
        return false;
    }
    int svc = h.map(SKIFF_MAP_SERVICES), slots = h.map(SKIFF_MAP_SLOTS),
        backends = h.map(SKIFF_MAP_BACKENDS);
    struct Entry {
        uint16_t node_port;
        uint8_t proto;
        uint32_t id, count;
        uint16_t backend_port;
    };
    for (Entry e : {Entry{30080, IPPROTO_TCP, 1, 1, 8080}, Entry{30053, IPPROTO_UDP, 2, 1, 5353},
                    Entry{30099, IPPROTO_TCP, 3, 0, 0}}) {
        skiff_svc_key key{0, htons(e.node_port), e.proto, SKIFF_SCOPE_NODE_PORT};
        skiff_svc value{};
        value.id = e.id;
        value.count = e.count;
        bool ok = bpf_map_update_elem(svc, &key, &value, BPF_ANY) == 0;
        if (e.count) {
            skiff_slot_key sk{e.id, 0};
            uint32_t backend_id = e.id;
            skiff_backend be{ip("10.88.1.2"), htons(e.backend_port), e.proto, SKIFF_BACKEND_ACTIVE,
                             e.id};
            skiff_slot slot{backend_id, be.addr, be.port, 0};
            ok = ok && bpf_map_update_elem(slots, &sk, &slot, BPF_ANY) == 0 &&
                 bpf_map_update_elem(backends, &backend_id, &be, BPF_ANY) == 0;
        }
        if (!ok) {
            out << "service maps: " << strerror(errno) << "\n";
            return false;
        }
    }
    return true;
}

uint64_t counter(const Harness& h, const char* map, uint32_t id, bool refused) {
    int fd = h.map(map);
    int ncpus = libbpf_num_possible_cpus();
    std::vector<skiff_counters> per_cpu(static_cast<size_t>(ncpus));
    uint64_t total = 0;
    if (bpf_map_lookup_elem(fd, &id, per_cpu.data()) == 0)
        for (const auto& c : per_cpu) total += refused ? c.refused : c.connections;
    close(fd);
    return total;
}

TEST(NodePort, TranslatesAndRoutesTcpBothWays) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (BPF programs, network namespaces)";
    std::string failures = in_private_namespaces([](std::ostringstream& out) {
        Harness h;
        if (!setup(h, out)) return;
        const uint32_t client = ip("192.0.2.1"), node = ip("192.0.2.10"), backend = ip("10.88.1.2");
        const uint32_t snat = ip("10.88.1.1");  // the node's source address towards the pod network

        std::vector<uint8_t> res;
        int verdict = h.run(make_frame(IPPROTO_TCP, client, 40000, node, 30080), res);
        CHECK(verdict == kTcActRedirect, "SYN: verdict " + std::to_string(verdict));
        Frame f = parse_frame(res);
        CHECK(f.saddr == snat, "SYN: source is the node's address towards the backend");
        CHECK(f.daddr == backend && f.dport == 8080, "SYN: destination is the backend");
        CHECK(f.sport >= SKIFF_NP_SNAT_PORT_MIN && f.sport <= SKIFF_NP_SNAT_PORT_MAX,
              "SYN: source port in the SNAT range, got " + std::to_string(f.sport));
        CHECK(f.ip_csum_ok && f.l4_csum_ok, "SYN: checksums");
        CHECK(f.ttl == 63, "SYN: TTL decremented");
        CHECK(std::memcmp(f.dmac, kBackendMac, 6) == 0,
              "SYN: destination MAC of the backend's neighbour entry");
        uint16_t snat_port = f.sport;
        CHECK(counter(h, SKIFF_MAP_SVC_STATS, 1, false) == 1,
              "one connection counted for the service");
        CHECK(counter(h, SKIFF_MAP_BE_STATS, 1, false) == 1,
              "one connection counted for the backend");

        // The SYN-ACK from the backend goes back to the client, from the node address and nodePort.
        verdict = h.run(make_frame(IPPROTO_TCP, backend, 8080, snat, snat_port, 0x12), res);
        CHECK(verdict == kTcActRedirect, "SYN-ACK: verdict " + std::to_string(verdict));
        f = parse_frame(res);
        CHECK(f.saddr == node && f.sport == 30080,
              "SYN-ACK: source is the node address and nodePort");
        CHECK(f.daddr == client && f.dport == 40000, "SYN-ACK: destination is the client");
        CHECK(f.ip_csum_ok && f.l4_csum_ok, "SYN-ACK: checksums");
        CHECK(std::memcmp(f.dmac, kClientMac, 6) == 0, "SYN-ACK: destination MAC of the client");

        // The next packet of the connection takes the same translation, and is not counted again.
        verdict = h.run(make_frame(IPPROTO_TCP, client, 40000, node, 30080, 0x10), res);
        f = parse_frame(res);
        CHECK(verdict == kTcActRedirect && f.sport == snat_port && f.daddr == backend,
              "ACK: same translation");
        CHECK(counter(h, SKIFF_MAP_SVC_STATS, 1, false) == 1, "the ACK is no new connection");

        // A reply to a SNAT port nobody holds is left alone.
        uint16_t other = snat_port == SKIFF_NP_SNAT_PORT_MAX ? snat_port - 1 : snat_port + 1;
        auto stray = make_frame(IPPROTO_TCP, backend, 8080, snat, other, 0x12);
        verdict = h.run(stray, res);
        CHECK(verdict == kTcActUnspec && res == stray, "a stray reply passes untouched");
    });
    EXPECT_EQ(failures, "");
}

TEST(NodePort, UdpKeepsAZeroChecksumAndFixesOthers) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (BPF programs, network namespaces)";
    std::string failures = in_private_namespaces([](std::ostringstream& out) {
        Harness h;
        if (!setup(h, out)) return;
        const uint32_t client = ip("192.0.2.1"), node = ip("192.0.2.10"), backend = ip("10.88.1.2");
        std::vector<uint8_t> res;
        int verdict = h.run(make_frame(IPPROTO_UDP, client, 5000, node, 30053), res);
        Frame f = parse_frame(res);
        CHECK(verdict == kTcActRedirect, "UDP: verdict " + std::to_string(verdict));
        CHECK(f.daddr == backend && f.dport == 5353, "UDP: destination is the backend");
        CHECK(f.ip_csum_ok && f.l4_csum_ok && f.l4_csum != 0, "UDP: checksums");
        uint16_t snat_port = f.sport;

        verdict = h.run(make_frame(IPPROTO_UDP, backend, 5353, f.saddr, snat_port, 0, true), res);
        f = parse_frame(res);
        CHECK(verdict == kTcActRedirect, "UDP reply: verdict " + std::to_string(verdict));
        CHECK(f.saddr == node && f.sport == 30053 && f.daddr == client && f.dport == 5000,
              "UDP reply: translated");
        CHECK(f.l4_csum == 0 && f.ip_csum_ok, "UDP reply: no checksum stays no checksum");
    });
    EXPECT_EQ(failures, "");
}

TEST(NodePort, LeavesOtherTrafficAlone) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (BPF programs, network namespaces)";
    std::string failures = in_private_namespaces([](std::ostringstream& out) {
        Harness h;
        if (!setup(h, out)) return;
        const uint32_t client = ip("192.0.2.1"), node = ip("192.0.2.10");
        std::vector<uint8_t> res;

        auto no_backend = make_frame(IPPROTO_TCP, client, 40001, node, 30099);
        int verdict = h.run(no_backend, res);
        CHECK(verdict == kTcActUnspec && res == no_backend,
              "no backend: to the stack untouched (it resets)");
        CHECK(counter(h, SKIFF_MAP_SVC_STATS, 3, true) == 1, "no backend: counted as refused");

        auto not_node = make_frame(IPPROTO_TCP, client, 40002, ip("192.0.2.99"), 30080);
        verdict = h.run(not_node, res);
        CHECK(verdict == kTcActUnspec && res == not_node, "not a node address: untouched");

        auto no_service = make_frame(IPPROTO_TCP, client, 40003, node, 30081);
        verdict = h.run(no_service, res);
        CHECK(verdict == kTcActUnspec && res == no_service, "no service on the port: untouched");

        auto udp_on_tcp_port = make_frame(IPPROTO_UDP, client, 40004, node, 30080);
        verdict = h.run(udp_on_tcp_port, res);
        CHECK(verdict == kTcActUnspec && res == udp_on_tcp_port,
              "the nodePort of another protocol: untouched");

        CHECK(h.run(make_frame(IPPROTO_TCP, client, 40005, node, 30080), res) == kTcActRedirect,
              "sanity: the service answers");

        // Detach removes the filter and the device's addresses; detaching again is fine.
        if (auto r = detach_nodeport(h.bpffs, {"d0"}); !r)
            out << "detach: " << r.error().what() << "\n";
        if (auto r = detach_nodeport(h.bpffs, {"d0", "nosuchdev"}); !r)
            out << "detach again: " << r.error().what() << "\n";
        LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(h.ifindex),
                    .attach_point = BPF_TC_INGRESS);
        LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kNodePortTcHandle,
                    .priority = kNodePortTcPriority);
        CHECK(bpf_tc_query(&hook, &opts) != 0, "the filter is gone after detach");
        auto addrs = nodeport_addresses(h.bpffs);
        CHECK(addrs && addrs->empty(), "no node address left after detach");
    });
    EXPECT_EQ(failures, "");
}

TEST(NodePort, AttachKeepsAddressesPerDeviceAndRejectsBadInput) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (BPF programs, network namespaces)";
    std::string failures = in_private_namespaces([](std::ostringstream& out) {
        Harness h;
        if (!setup(h, out)) return;
        auto addrs = nodeport_addresses(h.bpffs);
        CHECK(addrs && *addrs == (std::vector<std::string>{"10.88.1.1", "192.0.2.10"}),
              "d0's addresses");
        // Attaching again replaces the filter (idempotent) and keeps the addresses.
        if (auto r = attach_nodeport(h.bpffs, {"d0"}); !r)
            out << "attach again: " << r.error().what() << "\n";
        addrs = nodeport_addresses(h.bpffs);
        CHECK(addrs && addrs->size() == 2, "attach again: same addresses");
        // Explicit addresses replace the device's.
        if (auto r = attach_nodeport(h.bpffs, {"d0"}, {"198.51.100.7"}); !r)
            out << "attach --node-ip: " << r.error().what() << "\n";
        addrs = nodeport_addresses(h.bpffs);
        CHECK(addrs && *addrs == std::vector<std::string>{"198.51.100.7"}, "explicit node address");

        auto r = attach_nodeport(h.bpffs, {"nosuchdev"});
        CHECK(!r && r.error().code() == ENODEV, "an unknown device is refused");
        r = attach_nodeport(h.bpffs, {"lo"});
        CHECK(!r && r.error().code() == EINVAL, "a non-Ethernet device is refused");
        r = attach_nodeport(h.bpffs, {"d0"}, {"10.0.0"});
        CHECK(!r && r.error().code() == EINVAL, "a bad node address is refused");
        r = attach_nodeport("/tmp", {"d0"});
        CHECK(!r && r.error().code() == EINVAL, "a pin directory off bpffs is refused");
    });
    EXPECT_EQ(failures, "");
}

}  // namespace
}  // namespace skiff::net
