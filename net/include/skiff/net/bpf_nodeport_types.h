/* Map keys and values of the NodePort tc program (net/bpf/nodeport.bpf.c), shared with its C++
 * loader: explicit padding, sizes checked on the C++ side. Addresses and ports are in network byte
 * order. */
#ifndef SKIFF_NET_BPF_NODEPORT_TYPES_H
#define SKIFF_NET_BPF_NODEPORT_TYPES_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Pinned map names (under <bpffs>/maps/), at most 15 characters. */
#define SKIFF_MAP_NP_CT "skiff_np_ct"
#define SKIFF_MAP_NP_REV "skiff_np_rev"
#define SKIFF_MAP_NP_ADDRS "skiff_np_addrs"

#define SKIFF_NP_MAX_CT 131072
#define SKIFF_NP_MAX_ADDRS 256

/* The source ports of translated connections: above the node's own ephemeral range
 * (net.ipv4.ip_local_port_range, 32768-60999 by default) and the NodePort range (30000-32767), so a
 * translated connection never takes a port the node's own sockets or services use. */
#define SKIFF_NP_SNAT_PORT_MIN 61000
#define SKIFF_NP_SNAT_PORT_MAX 65535

/* Conntrack lifetimes (Cilium's defaults), counted from the last packet seen. */
#define SKIFF_NP_TIMEOUT_TCP_SYN_S 60 /* no reply seen yet */
#define SKIFF_NP_TIMEOUT_TCP_ESTABLISHED_S 21600
#define SKIFF_NP_TIMEOUT_TCP_CLOSE_S 10 /* FIN or RST seen */
#define SKIFF_NP_TIMEOUT_UDP_S 60

/* skiff_np_ct flags */
#define SKIFF_NP_CT_REPLIED 1 /* a reply went back to the client */
#define SKIFF_NP_CT_CLOSING 2 /* TCP FIN or RST seen in either direction */

/* skiff_np_ct (LRU): a client's connection to a node address and nodePort -> where it went.
 * The key is what the client sends: (client, node address:nodePort, protocol). */
struct skiff_np_ct_key {
    __be32 client_addr;
    __be32 node_addr;
    __be16 client_port;
    __be16 node_port;
    __u8 proto;
    __u8 pad[3];
};

struct skiff_np_ct {
    __be32 backend_addr;
    __be32 snat_addr; /* the node's source address towards the backend */
    __be16 backend_port;
    __be16 snat_port; /* from [snat_port_min, snat_port_max] */
    __u32 backend_id;
    __u32 svc_id;
    __u8 flags;
    __u8 pad[3];
    __u64 expires_ns; /* bpf_ktime_get_ns() after which the entry is dead */
};

/* skiff_np_rev (LRU): a backend's reply (backend:port -> node source address:port, protocol) -> the
 * conntrack key it belongs to. Valid only while that conntrack entry is alive and points back here.
 */
struct skiff_np_rev_key {
    __be32 backend_addr;
    __be32 snat_addr;
    __be16 backend_port;
    __be16 snat_port;
    __u8 proto;
    __u8 pad[3];
};

/* skiff_np_addrs: the node's IPv4 addresses on which nodePorts answer -> the interface index the
 * loader read the address from (0: given explicitly). */
struct skiff_np_addr {
    __u32 ifindex;
};

#ifdef __cplusplus
static_assert(sizeof(struct skiff_np_ct_key) == 16);
static_assert(sizeof(struct skiff_np_ct) == 32);
static_assert(sizeof(struct skiff_np_rev_key) == 16);
static_assert(sizeof(struct skiff_np_addr) == 4);
#endif

#endif /* SKIFF_NET_BPF_NODEPORT_TYPES_H */
