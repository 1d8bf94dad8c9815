/* Backend selection shared by the socket programs and the NodePort tc program: random choice among
 * a service's active backends, sticky per client when the service has session affinity. */
#ifndef SKIFF_BPF_LB_H
#define SKIFF_BPF_LB_H

#include "maps.h"

#define SKIFF_NSEC_PER_SEC 1000000000ULL

static __always_inline void lb_count(void* map, __u32 id, int refused)
{
    struct skiff_counters* c = bpf_map_lookup_elem(map, &id);
    if (!c) return;
    if (refused)
        c->refused++;
    else
        c->connections++;
}

static __always_inline struct skiff_svc* lb_lookup_service(__be32 addr, __be16 port, __u8 proto, __u8 scope)
{
    struct skiff_svc_key key = {.addr = addr, .port = port, .proto = proto, .scope = scope};
    return bpf_map_lookup_elem(&skiff_svc, &key);
}

/* Chooses a backend of svc for a new connection from client into *out (id, address, port).
 * Returns 0, or -1 when the service has no active backend. */
static __always_inline int lb_select_backend(const struct skiff_svc* svc, __u64 client, struct skiff_slot* out)
{
    struct skiff_affinity_key akey = {.netns_cookie = client, .svc_id = svc->id};
    __u64 now = 0;

    if (svc->count == 0) return -1;
    if (svc->affinity_seconds) {
        now = bpf_ktime_get_ns();
        struct skiff_affinity* a = bpf_map_lookup_elem(&skiff_affinity, &akey);
        if (a && now - a->last_used_ns < (__u64)svc->affinity_seconds * SKIFF_NSEC_PER_SEC) {
            __u32 id = a->backend_id;
            struct skiff_backend* be = bpf_map_lookup_elem(&skiff_backends, &id);
            /* A removed, reused or terminating backend ends the affinity. */
            if (be && be->svc_id == svc->id && be->state == SKIFF_BACKEND_ACTIVE) {
                a->last_used_ns = now;
                out->backend_id = id;
                out->addr = be->addr;
                out->port = be->port;
                return 0;
            }
        }
    }

    /* Slots below count hold active backends (the loader writes them before the count). */
    struct skiff_slot_key skey = {.svc_id = svc->id, .slot = bpf_get_prandom_u32() % svc->count};
    struct skiff_slot* slot = bpf_map_lookup_elem(&skiff_slots, &skey);
    if (!slot) return -1;
    *out = *slot;

    if (svc->affinity_seconds) {
        struct skiff_affinity a = {.backend_id = slot->backend_id, .last_used_ns = now};
        bpf_map_update_elem(&skiff_affinity, &akey, &a, BPF_ANY);
    }
    return 0;
}

#endif /* SKIFF_BPF_LB_H */
