/* The load balancer's maps, as every BPF object of skiff declares them. The loader pins them under
 * <bpffs>/maps/ and every object reuses the pinned maps, so the socket and the tc programs share
 * one state, and a restarted loader finds the services where it left them. */
#ifndef SKIFF_BPF_MAPS_H
#define SKIFF_BPF_MAPS_H

#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

#include "skiff/net/bpf_types.h"

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, SKIFF_MAX_SERVICES);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct skiff_svc_key);
    __type(value, struct skiff_svc);
} skiff_svc SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, SKIFF_MAX_SLOTS);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct skiff_slot_key);
    __type(value, struct skiff_slot);
} skiff_slots SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, SKIFF_MAX_BACKENDS);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, __u32);
    __type(value, struct skiff_backend);
} skiff_backends SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, SKIFF_MAX_SOCK_REV);
    __type(key, struct skiff_sock_rev_key);
    __type(value, struct skiff_sock_rev);
} skiff_sock_rev SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, SKIFF_MAX_AFFINITY);
    __type(key, struct skiff_affinity_key);
    __type(value, struct skiff_affinity);
} skiff_affinity SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, SKIFF_MAX_SERVICES);
    __type(key, __u32);
    __type(value, struct skiff_counters);
} skiff_svc_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, SKIFF_MAX_BACKENDS);
    __type(key, __u32);
    __type(value, struct skiff_counters);
} skiff_be_stats SEC(".maps");

#endif /* SKIFF_BPF_MAPS_H */
