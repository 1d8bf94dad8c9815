/* Map keys and values shared by the BPF programs (net/bpf) and their C++ loader: one definition,
 * explicit padding, sizes checked on the C++ side. Addresses and ports are in network byte order,
 * as the kernel hands them to the programs. */
#ifndef SKIFF_NET_BPF_TYPES_H
#define SKIFF_NET_BPF_TYPES_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Pinned map names (under <bpffs>/maps/). At most 15 characters: the kernel's object name limit. */
#define SKIFF_MAP_SERVICES "skiff_svc"
#define SKIFF_MAP_SLOTS "skiff_slots"
#define SKIFF_MAP_BACKENDS "skiff_backends"
#define SKIFF_MAP_SOCK_REV "skiff_sock_rev"
#define SKIFF_MAP_AFFINITY "skiff_affinity"
#define SKIFF_MAP_SVC_STATS "skiff_svc_stats"
#define SKIFF_MAP_BE_STATS "skiff_be_stats"
#define SKIFF_MAP_IDS "skiff_ids" /* loader only: bitmaps of the service and backend ids in use */

/* Sizes as Cilium's default bpf-lb-map-max (65,536): larger maps cost their allocation at every load
 * (the per-CPU counters and the LRU maps are preallocated), 0.2 s per 200k entries here. */
#define SKIFF_MAX_SERVICES 65536 /* service ids are 1..SKIFF_MAX_SERVICES-1; 0 is "none" */
#define SKIFF_MAX_BACKENDS 65536 /* backend ids are 1..SKIFF_MAX_BACKENDS-1 */
#define SKIFF_MAX_SLOTS 65536
#define SKIFF_MAX_SOCK_REV 65536
#define SKIFF_MAX_AFFINITY 65536
#define SKIFF_MAX_BACKENDS_PER_SERVICE 4096

#define SKIFF_PROTO_TCP 6
#define SKIFF_PROTO_UDP 17

/* Which address a service entry answers on. */
#define SKIFF_SCOPE_CLUSTER_IP 0 /* addr is the virtual IP */
#define SKIFF_SCOPE_NODE_PORT 1  /* addr is 0: any of the node's addresses (tc program) */

/* Backend states. */
#define SKIFF_BACKEND_ACTIVE 0
#define SKIFF_BACKEND_TERMINATING 1 /* kept for replies and counters; gets no new connections */

/* skiff_svc: (address, port, protocol, scope) -> service. */
struct skiff_svc_key {
    __be32 addr;
    __be16 port;
    __u8 proto;
    __u8 scope;
};

struct skiff_svc {
    __u32 id;               /* key of the slots and index of the service counters */
    __u32 count;            /* active backends: slots 0..count-1 */
    __u32 affinity_seconds; /* 0: a new backend for each connection */
    __u32 total;            /* slots 0..total-1: the active backends, then the terminating ones */
    __u16 node_port;        /* host byte order, 0 if none: where the loader finds the NodePort entry */
    __u16 pad;
};

/* skiff_slots: (service id, slot) -> backend id and address. New connections only use slots below
 * count. The address is here as well as in skiff_backends so a connect() costs one lookup less. */
struct skiff_slot_key {
    __u32 svc_id;
    __u32 slot;
};

struct skiff_slot {
    __u32 backend_id;
    __be32 addr;
    __be16 port;
    __u16 pad;
};

/* skiff_backends: backend id -> backend. Ids are per service: the same address in two services
 * has two ids, so counters and terminating state are per service. */
struct skiff_backend {
    __be32 addr;
    __be16 port;
    __u8 proto;
    __u8 state;
    __u32 svc_id;
};

/* skiff_sock_rev (LRU): (socket cookie, backend address, port) -> the service address it replaced,
 * for UDP sockets only: recvmsg4 and getpeername4 show the service address to the application. TCP
 * connections are not recorded (an LRU insert per connect() costs more than all the rest of the
 * translation), so a TCP socket's getpeername() shows the backend, as with Calico's socket LB. */
struct skiff_sock_rev_key {
    __u64 cookie;
    __be32 addr;
    __be16 port;
    __u16 pad;
};

struct skiff_sock_rev {
    __be32 addr;
    __be16 port;
    __u16 pad;
};

/* skiff_affinity (LRU): (client network namespace, service id) -> backend chosen last, with when. */
struct skiff_affinity_key {
    __u64 netns_cookie;
    __u32 svc_id;
    __u32 pad;
};

struct skiff_affinity {
    __u32 backend_id;
    __u32 pad;
    __u64 last_used_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
};

/* skiff_svc_stats / skiff_be_stats (per-CPU arrays, indexed by service / backend id). */
struct skiff_counters {
    __u64 connections; /* connect()s and first datagrams sent to this service or backend */
    __u64 refused;     /* refused because the service had no active backend (services only) */
};

#ifdef __cplusplus
static_assert(sizeof(struct skiff_svc_key) == 8);
static_assert(sizeof(struct skiff_svc) == 20);
static_assert(sizeof(struct skiff_slot_key) == 8);
static_assert(sizeof(struct skiff_slot) == 12);
static_assert(sizeof(struct skiff_backend) == 12);
static_assert(sizeof(struct skiff_sock_rev_key) == 16);
static_assert(sizeof(struct skiff_sock_rev) == 8);
static_assert(sizeof(struct skiff_affinity_key) == 16);
static_assert(sizeof(struct skiff_affinity) == 16);
static_assert(sizeof(struct skiff_counters) == 16);
#endif

#endif /* SKIFF_NET_BPF_TYPES_H */
