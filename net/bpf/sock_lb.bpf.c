/* Socket-level service load balancing (cgroup/connect4, sendmsg4, recvmsg4, getpeername4): a socket
 * that connects or sends to a service address is given a backend address once, when it is made, so no
 * packet is ever rewritten; UDP replies and a UDP socket's getpeername() show the service address. */
#include "lb.h"

#define SKIFF_ECONNREFUSED 111

char LICENSE[] SEC("license") = "GPL";

/* Rewrites ctx's destination from a service to one of its backends. Returns the program's verdict:
 * 1 to let the call go on, 0 (with ECONNREFUSED) when the service has no backend. */
static __always_inline int translate_to_backend(struct bpf_sock_addr* ctx)
{
    __u8 proto = ctx->protocol;
    if (proto != SKIFF_PROTO_TCP && proto != SKIFF_PROTO_UDP) return 1;

    struct skiff_svc* svc = lb_lookup_service(ctx->user_ip4, (__be16)ctx->user_port, proto, SKIFF_SCOPE_CLUSTER_IP);
    if (!svc) return 1;

    struct skiff_slot be;
    __u64 client = svc->affinity_seconds ? bpf_get_netns_cookie(ctx) : 0; /* only affinity needs it */
    if (lb_select_backend(svc, client, &be) != 0) {
        lb_count(&skiff_svc_stats, svc->id, 1);
        bpf_set_retval(-SKIFF_ECONNREFUSED);
        return 0;
    }

    if (proto == SKIFF_PROTO_UDP) {
        struct skiff_sock_rev_key rkey = {.cookie = bpf_get_socket_cookie(ctx), .addr = be.addr, .port = be.port};
        struct skiff_sock_rev rev = {.addr = ctx->user_ip4, .port = (__be16)ctx->user_port};
        bpf_map_update_elem(&skiff_sock_rev, &rkey, &rev, BPF_ANY);
    }

    lb_count(&skiff_svc_stats, svc->id, 0);
    lb_count(&skiff_be_stats, be.backend_id, 0);
    ctx->user_ip4 = be.addr;
    ctx->user_port = be.port;
    return 1;
}

/* Shows the service address where the socket sees a backend it was translated to. */
static __always_inline int translate_to_service(struct bpf_sock_addr* ctx)
{
    struct skiff_sock_rev_key rkey = {
        .cookie = bpf_get_socket_cookie(ctx), .addr = ctx->user_ip4, .port = (__be16)ctx->user_port};
    struct skiff_sock_rev* rev = bpf_map_lookup_elem(&skiff_sock_rev, &rkey);
    if (rev) {
        ctx->user_ip4 = rev->addr;
        ctx->user_port = rev->port;
    }
    return 1;
}

SEC("cgroup/connect4")
int skiff_connect4(struct bpf_sock_addr* ctx)
{
    return translate_to_backend(ctx);
}

SEC("cgroup/sendmsg4")
int skiff_sendmsg4(struct bpf_sock_addr* ctx)
{
    return translate_to_backend(ctx);
}

SEC("cgroup/recvmsg4")
int skiff_recvmsg4(struct bpf_sock_addr* ctx)
{
    return translate_to_service(ctx);
}

SEC("cgroup/getpeername4")
int skiff_getpeername4(struct bpf_sock_addr* ctx)
{
    return translate_to_service(ctx);
}
