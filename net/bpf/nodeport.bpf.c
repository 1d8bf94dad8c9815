/* NodePort (tc clsact ingress, Cilium's SNAT mode): a client's packet to a node address and
 * nodePort is translated to (node source address:SNAT port -> backend) and routed with a FIB
 * lookup; the backend's reply is translated back to (node address:nodePort -> client). See
 * docs/design/service-lb-nodeport.md. */
#include "lb.h"
#include "nodeport_maps.h"

#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader before load (read-only afterwards). */
const volatile __u16 snat_port_min = SKIFF_NP_SNAT_PORT_MIN;
const volatile __u16 snat_port_max = SKIFF_NP_SNAT_PORT_MAX;

#define TC_ACT_UNSPEC (-1) /* not ours: the next filter or the stack decides */
#define TC_ACT_OK 0
#define TC_ACT_SHOT 2

#define SKIFF_AF_INET 2
#define SKIFF_ETH_HLEN 14
#define SKIFF_ETH_P_IP 0x0800
#define SKIFF_IP_MF 0x2000
#define SKIFF_IP_OFFSET 0x1fff
#define SKIFF_TCP_FIN 0x01
#define SKIFF_TCP_SYN 0x02
#define SKIFF_TCP_RST 0x04
#define SKIFF_TCP_ACK 0x10

/* Offsets in the frame: Ethernet header, then the IPv4 header. */
#define IP_OFF SKIFF_ETH_HLEN
#define IP_TTL_OFF (IP_OFF + 8)
#define IP_CSUM_OFF (IP_OFF + 10)
#define IP_ADDRS_OFF (IP_OFF + 12) /* saddr, then daddr */
#define TCP_CSUM_OFF 16
#define TCP_FLAGS_OFF 13
#define UDP_CSUM_OFF 6

#define SNAT_PORT_TRIES 32
/* A conntrack entry's expiry is written at most once a second per flow, not at every packet. */
#define EXPIRY_SLACK_NS SKIFF_NSEC_PER_SEC

/* The IPv4 header as on the wire (own definition: no bitfields, no CO-RE relocations). */
struct ipv4_hdr {
    __u8 version_ihl;
    __u8 tos;
    __be16 tot_len;
    __be16 id;
    __be16 frag_off;
    __u8 ttl;
    __u8 protocol;
    __sum16 check;
    __be32 saddr;
    __be32 daddr;
};

struct packet {
    __u32 l4_off;
    __be32 saddr;
    __be32 daddr;
    __be16 sport;
    __be16 dport;
    __u8 proto;
    __u8 tcp_flags;
    __u8 ttl;
    __u8 tos;
};

/* 0 when p describes a translatable packet: IPv4 (options are fine), TCP or UDP, no fragment. */
static __always_inline int parse_packet(struct __sk_buff* skb, struct packet* p) {
    struct ipv4_hdr ip;
    __be16 ports[2];

    if (skb->protocol != bpf_htons(SKIFF_ETH_P_IP) || skb->vlan_present) return -1;
    if (bpf_skb_load_bytes(skb, IP_OFF, &ip, sizeof(ip)) < 0) return -1;
    if ((ip.version_ihl >> 4) != 4 || (ip.version_ihl & 0xf) < 5) return -1;
    if (ip.protocol != SKIFF_PROTO_TCP && ip.protocol != SKIFF_PROTO_UDP) return -1;
    /* Fragments carry no ports after the first; translating only the first would be wrong. */
    if (ip.frag_off & bpf_htons(SKIFF_IP_MF | SKIFF_IP_OFFSET)) return -1;

    p->l4_off = IP_OFF + (ip.version_ihl & 0xf) * 4;
    if (bpf_skb_load_bytes(skb, p->l4_off, ports, sizeof(ports)) < 0) return -1;
    p->tcp_flags = 0;
    if (ip.protocol == SKIFF_PROTO_TCP &&
        bpf_skb_load_bytes(skb, p->l4_off + TCP_FLAGS_OFF, &p->tcp_flags, 1) < 0)
        return -1;
    p->saddr = ip.saddr;
    p->daddr = ip.daddr;
    p->sport = ports[0];
    p->dport = ports[1];
    p->proto = ip.protocol;
    p->ttl = ip.ttl;
    p->tos = ip.tos;
    return 0;
}

static __always_inline __u64 ct_lifetime_ns(__u8 proto, __u8 flags) {
    __u64 s;
    if (proto != SKIFF_PROTO_TCP)
        s = SKIFF_NP_TIMEOUT_UDP_S;
    else if (flags & SKIFF_NP_CT_CLOSING)
        s = SKIFF_NP_TIMEOUT_TCP_CLOSE_S;
    else if (flags & SKIFF_NP_CT_REPLIED)
        s = SKIFF_NP_TIMEOUT_TCP_ESTABLISHED_S;
    else
        s = SKIFF_NP_TIMEOUT_TCP_SYN_S;
    return s * SKIFF_NSEC_PER_SEC;
}

static __always_inline __u8 ct_flags_after(__u8 flags, const struct packet* p, int reply) {
    if (reply) flags |= SKIFF_NP_CT_REPLIED;
    if (p->tcp_flags & (SKIFF_TCP_FIN | SKIFF_TCP_RST)) flags |= SKIFF_NP_CT_CLOSING;
    return flags;
}

/* Records a packet of the connection: its flags, and a later expiry. */
static __always_inline void ct_refresh(struct skiff_np_ct* ct, const struct packet* p, __u64 now,
                                       int reply) {
    __u8 flags = ct_flags_after(ct->flags, p, reply);
    __u64 expires = now + ct_lifetime_ns(p->proto, flags);
    if (flags != ct->flags || expires > ct->expires_ns + EXPIRY_SLACK_NS) {
        ct->flags = flags;
        ct->expires_ns = expires;
    }
}

/* Whether ct is alive and is the connection whose reverse entry is rk. */
static __always_inline int ct_matches_reply(const struct skiff_np_ct* ct,
                                            const struct skiff_np_rev_key* rk, __u64 now) {
    return ct->expires_ns > now && ct->backend_addr == rk->backend_addr &&
           ct->backend_port == rk->backend_port && ct->snat_addr == rk->snat_addr &&
           ct->snat_port == rk->snat_port;
}

/* Rewrites the addresses and ports of p to the given ones, fixing the IP and L4 checksums. */
static __always_inline int rewrite(struct __sk_buff* skb, const struct packet* p, __be32 saddr,
                                   __be32 daddr, __be16 sport, __be16 dport) {
    __be32 old_addrs[2] = {p->saddr, p->daddr};
    __be32 new_addrs[2] = {saddr, daddr};
    __be16 old_ports[2] = {p->sport, p->dport};
    __be16 new_ports[2] = {sport, dport};
    __u32 csum_off = p->l4_off + (p->proto == SKIFF_PROTO_TCP ? TCP_CSUM_OFF : UDP_CSUM_OFF);
    /* UDP: a zero checksum means "none" and stays zero; a computed zero is sent as 0xffff. */
    __u64 l4_flags = p->proto == SKIFF_PROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;

    __s64 addr_diff = bpf_csum_diff(old_addrs, sizeof(old_addrs), new_addrs, sizeof(new_addrs), 0);
    __s64 port_diff = bpf_csum_diff((__be32*)old_ports, sizeof(old_ports), (__be32*)new_ports,
                                    sizeof(new_ports), 0);
    if (addr_diff < 0 || port_diff < 0) return -1;
    /* The addresses are in the L4 checksum through the pseudo header (BPF_F_PSEUDO_HDR keeps a
     * CHECKSUM_PARTIAL packet right); the ports only in the L4 one. */
    if (bpf_l4_csum_replace(skb, csum_off, 0, addr_diff, BPF_F_PSEUDO_HDR | l4_flags) < 0)
        return -1;
    if (bpf_l4_csum_replace(skb, csum_off, 0, port_diff, l4_flags) < 0) return -1;
    if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, 0, addr_diff, 0) < 0) return -1;
    if (bpf_skb_store_bytes(skb, IP_ADDRS_OFF, new_addrs, sizeof(new_addrs), 0) < 0) return -1;
    if (bpf_skb_store_bytes(skb, p->l4_off, new_ports, sizeof(new_ports), 0) < 0) return -1;
    return 0;
}

/* A forwarding lookup as the stack would make it for a packet that came in on skb's device. */
static __always_inline int fib_lookup(struct __sk_buff* skb, struct bpf_fib_lookup* fib,
                                      const struct packet* p, __be32 src, __be32 dst, __u32 flags) {
    __builtin_memset(fib, 0, sizeof(*fib));
    fib->family = SKIFF_AF_INET;
    fib->l4_protocol = p->proto;
    fib->tos = p->tos;
    fib->ifindex = skb->ingress_ifindex;
    fib->ipv4_src = src;
    fib->ipv4_dst = dst;
    /* tot_len 0: the kernel checks the skb itself against the MTU, GSO packets included. */
    return bpf_fib_lookup(skb, fib, sizeof(*fib), flags);
}

/* Sends the translated packet out of the device the FIB lookup found, as a router would (TTL - 1).
 * Anything the lookup could not settle goes up the stack, which routes the translated packet too.
 */
static __always_inline int forward(struct __sk_buff* skb, const struct packet* p, int rc,
                                   struct bpf_fib_lookup* fib) {
    if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) return TC_ACT_OK;
    if (p->ttl <= 1) return TC_ACT_OK; /* the stack sends the ICMP time exceeded */

    __be16 old_word = bpf_htons(((__u16)p->ttl << 8) | p->proto);
    __be16 new_word = bpf_htons(((__u16)(p->ttl - 1) << 8) | p->proto);
    __u8 ttl = p->ttl - 1;
    if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_word, new_word, sizeof(new_word)) < 0)
        return TC_ACT_SHOT;
    if (bpf_skb_store_bytes(skb, IP_TTL_OFF, &ttl, 1, 0) < 0) return TC_ACT_SHOT;

    if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
        if (bpf_skb_store_bytes(skb, 0, fib->dmac, 6, 0) < 0) return TC_ACT_SHOT;
        if (bpf_skb_store_bytes(skb, 6, fib->smac, 6, 0) < 0) return TC_ACT_SHOT;
        return bpf_redirect(fib->ifindex, 0);
    }
    /* No neighbour entry yet: the kernel resolves it (ARP) and fills in the MACs. */
    struct bpf_redir_neigh nh = {.nh_family = SKIFF_AF_INET, .ipv4_nh = fib->ipv4_dst};
    return bpf_redirect_neigh(fib->ifindex, &nh, sizeof(nh), 0);
}

/* A backend's reply: (backend -> node source address:SNAT port) becomes (node address:nodePort ->
 * client). TC_ACT_UNSPEC when p is no reply of ours. */
static __always_inline int reply_to_client(struct __sk_buff* skb, const struct packet* p,
                                           __u64 now) {
    struct skiff_np_rev_key rk = {.backend_addr = p->saddr,
                                  .snat_addr = p->daddr,
                                  .backend_port = p->sport,
                                  .snat_port = p->dport,
                                  .proto = p->proto};
    struct skiff_np_ct_key* found = bpf_map_lookup_elem(&skiff_np_rev, &rk);
    if (!found) return TC_ACT_UNSPEC;
    struct skiff_np_ct_key key = *found;
    struct skiff_np_ct* ct = bpf_map_lookup_elem(&skiff_np_ct, &key);
    if (!ct || !ct_matches_reply(ct, &rk, now)) return TC_ACT_UNSPEC;
    ct_refresh(ct, p, now, 1);

    struct bpf_fib_lookup fib;
    int rc = fib_lookup(skb, &fib, p, key.node_addr, key.client_addr, 0);
    if (rewrite(skb, p, key.node_addr, key.client_addr, key.node_port, key.client_port) < 0)
        return TC_ACT_SHOT;
    return forward(skb, p, rc, &fib);
}

/* Whether the reverse entry rk may be taken over: nobody's, or its connection is gone. */
static __always_inline int rev_entry_stale(const struct skiff_np_rev_key* rk, __u64 now) {
    struct skiff_np_ct_key* owner = bpf_map_lookup_elem(&skiff_np_rev, rk);
    if (!owner) return 1;
    struct skiff_np_ct_key key = *owner;
    struct skiff_np_ct* ct = bpf_map_lookup_elem(&skiff_np_ct, &key);
    return !ct || !ct_matches_reply(ct, rk, now);
}

/* Takes a free SNAT port for (backend, node source address) and writes the reverse entry to key.
 * Returns the port (network order), or 0 when none of the ports tried was free. */
static __always_inline __be16 claim_snat_port(struct skiff_np_rev_key* rk,
                                              const struct skiff_np_ct_key* key, __u64 now) {
    __u32 min = snat_port_min, max = snat_port_max;
    if (min == 0 || max < min) return 0;
    __u32 range = max - min + 1;
    __u32 start = bpf_get_prandom_u32();

    for (int i = 0; i < SNAT_PORT_TRIES; i++) {
        rk->snat_port = bpf_htons((__u16)(min + (start + i) % range));
        if (bpf_map_update_elem(&skiff_np_rev, rk, key, BPF_NOEXIST) == 0) return rk->snat_port;
        if (rev_entry_stale(rk, now) && bpf_map_update_elem(&skiff_np_rev, rk, key, BPF_ANY) == 0)
            return rk->snat_port;
    }
    return 0;
}

/* Whether an existing conntrack entry still carries this packet: alive, same service, its backend
 * still there (a terminating one keeps its connections), and not a new SYN after a close. */
static __always_inline int ct_usable(const struct skiff_np_ct* ct, __u32 svc_id,
                                     const struct packet* p, __u64 now) {
    if (ct->expires_ns <= now || ct->svc_id != svc_id) return 0;
    if ((ct->flags & SKIFF_NP_CT_CLOSING) &&
        (p->tcp_flags & (SKIFF_TCP_SYN | SKIFF_TCP_ACK)) == SKIFF_TCP_SYN)
        return 0;
    __u32 id = ct->backend_id;
    struct skiff_backend* be = bpf_map_lookup_elem(&skiff_backends, &id);
    return be && be->svc_id == svc_id && be->addr == ct->backend_addr &&
           be->port == ct->backend_port;
}

/* A client's packet to node address:nodePort: (client -> node) becomes (node source address:SNAT
 * port
 * -> backend), through the connection's conntrack entry, made here for its first packet. */
static __always_inline int to_backend(struct __sk_buff* skb, const struct packet* p, __u64 now) {
    if (!bpf_map_lookup_elem(&skiff_np_addrs, &p->daddr)) return TC_ACT_UNSPEC;
    struct skiff_svc* svc = lb_lookup_service(0, p->dport, p->proto, SKIFF_SCOPE_NODE_PORT);
    if (!svc) return TC_ACT_UNSPEC;
    __u32 svc_id = svc->id;

    struct skiff_np_ct_key key = {.client_addr = p->saddr,
                                  .node_addr = p->daddr,
                                  .client_port = p->sport,
                                  .node_port = p->dport,
                                  .proto = p->proto};
    struct bpf_fib_lookup fib;
    struct skiff_np_ct entry;
    int rc;

    struct skiff_np_ct* ct = bpf_map_lookup_elem(&skiff_np_ct, &key);
    if (ct && ct_usable(ct, svc_id, p, now)) {
        ct_refresh(ct, p, now, 0);
        entry = *ct;
        rc = fib_lookup(skb, &fib, p, entry.snat_addr, entry.backend_addr, 0);
    } else {
        struct skiff_slot be;
        /* Session affinity per client address; bit 63 keeps it apart from the socket programs'
         * network namespace cookies in the shared affinity map. */
        if (lb_select_backend(svc, (1ULL << 63) | bpf_ntohl(p->saddr), &be) != 0) {
            /* No active backend: the stack answers, and nothing listens on a nodePort, so the
             * client gets a TCP RST or an ICMP port unreachable. */
            lb_count(&skiff_svc_stats, svc_id, 1);
            return TC_ACT_UNSPEC;
        }
        __builtin_memset(&entry, 0, sizeof(entry));
        entry.backend_addr = be.addr;
        entry.backend_port = be.port;
        entry.backend_id = be.backend_id;
        entry.svc_id = svc_id;

        /* The source address is the one the node uses towards the backend (BPF_FIB_LOOKUP_SRC,
         * Linux 6.7+; before that, the address the client used), so the reply comes back here. */
        rc = fib_lookup(skb, &fib, p, 0, entry.backend_addr, BPF_FIB_LOOKUP_SRC);
        if (rc < 0) rc = fib_lookup(skb, &fib, p, 0, entry.backend_addr, 0);
        entry.snat_addr = p->daddr;
        if ((rc == BPF_FIB_LKUP_RET_SUCCESS || rc == BPF_FIB_LKUP_RET_NO_NEIGH) && fib.ipv4_src)
            entry.snat_addr = fib.ipv4_src;

        struct skiff_np_rev_key rk = {.backend_addr = entry.backend_addr,
                                      .snat_addr = entry.snat_addr,
                                      .backend_port = entry.backend_port,
                                      .proto = p->proto};
        entry.snat_port = claim_snat_port(&rk, &key, now);
        if (!entry.snat_port) return TC_ACT_SHOT; /* all ports tried are busy: the client retries */
        entry.flags = ct_flags_after(0, p, 0);
        entry.expires_ns = now + ct_lifetime_ns(p->proto, entry.flags);
        if (bpf_map_update_elem(&skiff_np_ct, &key, &entry, BPF_ANY) < 0) {
            bpf_map_delete_elem(&skiff_np_rev, &rk);
            return TC_ACT_SHOT;
        }
        lb_count(&skiff_svc_stats, svc_id, 0);
        lb_count(&skiff_be_stats, be.backend_id, 0);
    }

    if (rewrite(skb, p, entry.snat_addr, entry.backend_addr, entry.snat_port, entry.backend_port) <
        0)
        return TC_ACT_SHOT;
    return forward(skb, p, rc, &fib);
}

SEC("tc")
int skiff_nodeport(struct __sk_buff* skb) {
    struct packet p;
    if (parse_packet(skb, &p) < 0) return TC_ACT_UNSPEC;
    __u64 now = bpf_ktime_get_ns();

    /* Replies first: a reply is addressed to a node address too, at a SNAT port. */
    int verdict = reply_to_client(skb, &p, now);
    if (verdict != TC_ACT_UNSPEC) return verdict;
    return to_backend(skb, &p, now);
}
