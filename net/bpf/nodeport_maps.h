/* The NodePort program's own maps (conntrack, reverse entries, node addresses), pinned under
 * <bpffs>/maps/ beside the shared maps of maps.h. */
#ifndef SKIFF_BPF_NODEPORT_MAPS_H
#define SKIFF_BPF_NODEPORT_MAPS_H

#include "maps.h"
#include "skiff/net/bpf_nodeport_types.h"

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, SKIFF_NP_MAX_CT);
    __type(key, struct skiff_np_ct_key);
    __type(value, struct skiff_np_ct);
} skiff_np_ct SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, SKIFF_NP_MAX_CT);
    __type(key, struct skiff_np_rev_key);
    __type(value, struct skiff_np_ct_key);
} skiff_np_rev SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, SKIFF_NP_MAX_ADDRS);
    __type(key, __be32);
    __type(value, struct skiff_np_addr);
} skiff_np_addrs SEC(".maps");

#endif /* SKIFF_BPF_NODEPORT_MAPS_H */
