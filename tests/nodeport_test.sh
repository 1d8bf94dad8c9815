# Tests NodePort (skiff svc nodeport, the tc program in SNAT mode) on the real kernel. Three "hosts" are
# network namespaces on one LAN bridge: a client (ext), node1 and node2, each node with a pod bridge and
# a pod running busybox httpd and a UDP echo server; node1 reaches node2's pods by a host-gw route. The
# services and the NodePort program live in node1; the client only ever talks to node1's address.
# Nothing of this machine's root network namespace or root cgroup is touched.
source "$(dirname "$0")/lib.sh"

SKIFF=$SKIFF_BUILD/bin/skiff
PEER=$FIXTURES/svc_peer.py
for t in ip tc nsenter python3 busybox bpftool jq; do command -v "$t" >/dev/null || die "$t not found (tools/setup installs it)"; done
[[ -d /sys/fs/cgroup/unified || $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]] || skip "no cgroup2 hierarchy"
CG2=/sys/fs/cgroup/unified
[[ -d $CG2 ]] || CG2=/sys/fs/cgroup

LAN=np-lan-$$ EXT=np-ext-$$ N1=np-node1-$$ N2=np-node2-$$ P1=np-pod1-$$ P2=np-pod2-$$
EXT_IP=192.168.50.1 NODE1_IP=192.168.50.10 NODE2_IP=192.168.50.20
POD1_IP=10.88.1.2 POD2_IP=10.88.2.2
CG=$CG2/skiff-nodeport-test-$$
# The bpffs is outside $TMP: lib.sh counts any mount under $TMP at the end as a leak.
BPFFS=$(mktemp -d /tmp/skiff-nodeport-bpffs.XXXXXX)
PINS=$BPFFS/skiff
PIDS=()
on_cleanup "rmdir '$BPFFS'"
on_cleanup "umount '$BPFFS'"
on_cleanup "rmdir '$CG'"
for ns in $LAN $EXT $N1 $N2 $P1 $P2; do on_cleanup "ip netns del '$ns'"; done
on_cleanup "timeout 20 nsenter --net='/run/netns/$N1' '$SKIFF' svc unload --bpffs '$PINS'"
on_cleanup 'for p in "${PIDS[@]}"; do kill -KILL "$p"; done; sleep 0.2'

mount -t bpf bpf "$BPFFS"
mkdir "$CG"

# ---- topology ----------------------------------------------------------------------------------
for ns in $LAN $EXT $N1 $N2 $P1 $P2; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
done
ip -n "$LAN" link add lan type bridge
ip -n "$LAN" link set lan up
# host NS ADDRESS PORT-NAME: an eth0 on the LAN bridge.
host() {
    ip -n "$1" link add eth0 type veth peer name "$3" netns "$LAN"
    ip -n "$LAN" link set "$3" master lan up
    ip -n "$1" addr add "$2/24" dev eth0
    ip -n "$1" link set eth0 up
}
host "$EXT" $EXT_IP ext
host "$N1" $NODE1_IP node1
host "$N2" $NODE2_IP node2
# node NS POD-NS N: pod bridge 10.88.N.1/24, one pod 10.88.N.2 with httpd :8080 and UDP echo :5353.
node() {
    local n=$3
    ip netns exec "$1" sysctl -qw net.ipv4.ip_forward=1
    ip -n "$1" link add br0 type bridge
    ip -n "$1" addr add "10.88.$n.1/24" dev br0
    ip -n "$1" link set br0 up
    ip -n "$1" link add vpod type veth peer name eth0 netns "$2"
    ip -n "$1" link set vpod master br0 up
    ip -n "$2" addr add "10.88.$n.2/24" dev eth0
    ip -n "$2" link set eth0 up
    ip -n "$2" route add default via "10.88.$n.1"
    mkdir -p "$TMP/www$n"
    echo "pod$n" >"$TMP/www$n/index.html"
    head -c 300000 /dev/urandom >"$TMP/www$n/big"
    ip netns exec "$2" busybox httpd -f -p 8080 -h "$TMP/www$n" &
    PIDS+=($!)
    ip netns exec "$2" python3 "$PEER" udp-echo 5353 "pod$n" &
    PIDS+=($!)
}
node "$N1" "$P1" 1
node "$N2" "$P2" 2
# node1's devices compute the checksums of offloaded (CHECKSUM_PARTIAL) packets in software when sending,
# as a NIC would: a wrong pseudo-header sum after the translation then reaches the receiver, which
# checks it. (Between veths alone, a CHECKSUM_PARTIAL packet is never checked.)
tx_checksum_off() { # NS DEV: ethtool -K DEV tx off, without ethtool (SIOCETHTOOL, ETHTOOL_STXCSUM)
    ip netns exec "$1" python3 -c '
import ctypes, fcntl, socket, struct, sys
value = ctypes.create_string_buffer(struct.pack("II", 0x17, 0))
fcntl.ioctl(socket.socket(), 0x8946, struct.pack("16sP", sys.argv[1].encode(), ctypes.addressof(value)))' "$2"
}
tx_checksum_off "$N1" eth0
tx_checksum_off "$N1" vpod
# host-gw: each node routes the other's pod network via the other's LAN address.
ip -n "$N1" route add 10.88.2.0/24 via $NODE2_IP
ip -n "$N2" route add 10.88.1.0/24 via $NODE1_IP

listening() { ip netns exec "$1" ss -Hltun | grep -q ":$2 "; }
for p in $P1 $P2; do
    for port in 8080 5353; do wait_until 10 listening "$p" "$port" || die "$p: nothing listens on $port"; done
done

# nsenter, not `ip netns exec`: that one mounts a fresh /sys, hiding the cgroup2 mount under it.
svc() { timeout 20 nsenter --net="/run/netns/$N1" "$SKIFF" svc "$@"; }
nodeport() { svc nodeport "$@" --bpffs "$PINS"; }
# From the client: one HTTP GET (busybox wget), the body or wget's error on stdout. (No wget -T: it
# crashes busybox 1.35's wget; timeout bounds it.)
get() { timeout 10 ip netns exec "$EXT" busybox wget -qO- "http://$1/${2-}" 2>&1 || true; }
ext_peer() { timeout 30 ip netns exec "$EXT" python3 "$PEER" "$@"; }
# The (backend, SNAT source) pairs of the conntrack entries of a client address, one per line.
conntrack_of() {
    bpftool -j map dump pinned "$PINS/maps/skiff_np_ct" | jq -r --arg client "$1" '
        def ip: map(ltrimstr("0x") | explode | reduce .[] as $c (0; . * 16 + (if $c >= 97 then $c - 87 else $c - 48 end)))
                | map(tostring) | join(".");
        .[] | select((.key[0:4] | ip) == $client) | "\(.value[0:4] | ip) \(.value[4:8] | ip)"' | sort -u
}
ingress_filters() { ip netns exec "$N1" tc filter show dev "$1" ingress; }

# ---- checks ------------------------------------------------------------------------------------
check_usage() {
    capture nodeport attach
    assert_rc "attach without --dev is a usage error" 2
    assert_contains "the usage error names --dev" "$ERR" "--dev"
    capture nodeport attach --dev eth0 --node-ip 10.0.0
    assert_rc "attach with a bad --node-ip is a usage error" 2
    capture nodeport frobnicate --dev eth0
    assert_rc "an unknown nodeport command is a usage error" 2
    capture nodeport attach --dev nosuchdev
    assert_rc "attach to a missing device fails" 1
    assert_contains "the failure names the device" "$ERR" nosuchdev
    capture svc nodeport attach --dev eth0 --bpffs "$TMP"
    assert_rc "a pin directory that is no bpffs fails" 1
}

check_setup() {
    capture svc add --vip 10.96.0.10:80/tcp --backend $POD1_IP:8080 --backend $POD2_IP:8080 --node-port 30080 \
        --cgroup "$CG" --bpffs "$PINS"
    assert_rc "add 10.96.0.10:80/tcp with NodePort 30080 (a backend on each node)" 0
    capture svc add --vip 10.96.0.11:53/udp --backend $POD1_IP:5353 --backend $POD2_IP:5353 --node-port 30053 \
        --bpffs "$PINS"
    assert_rc "add 10.96.0.11:53/udp with NodePort 30053" 0
    capture svc add --vip 10.96.0.12:80/tcp --node-port 30099 --bpffs "$PINS"
    assert_rc "add 10.96.0.12:80/tcp with NodePort 30099 and no backend" 0

    assert_ne "before attach, the nodePort does not answer" pod1 "$(get $NODE1_IP:30080)"
    capture nodeport attach --dev eth0 --dev br0
    assert_rc "nodeport attach --dev eth0 --dev br0" 0
    capture nodeport attach --dev eth0 --dev br0
    assert_rc "attaching again" 0
    for dev in eth0 br0; do
        assert_eq "one NodePort filter on $dev ingress" 1 "$(ingress_filters $dev | grep -c 'skiff_nodeport' || true)"
    done
    assert_eq "NodePort maps pinned with the load balancer's" "skiff_np_addrs skiff_np_ct skiff_np_rev" \
        "$(ls "$PINS/maps" | grep skiff_np_ | tr '\n' ' ' | sed 's/ $//')"
}

check_tcp() {
    local out="" i body
    for i in $(seq 1 20); do
        body=$(get $NODE1_IP:30080)
        out+="$body"$'\n'
    done
    assert_eq "20 GETs to node1:30080 all answered" 20 "$(grep -cE '^pod[12]$' <<<"$out" || true)"
    assert_match "the pod on node1 answered" '^pod1$' "$out"
    assert_match "the pod on node2 (host-gw route) answered" '^pod2$' "$out"

    # The client's connection is to node1:30080: a reply from anywhere else would be reset.
    capture ext_peer http $NODE1_IP 30080 4
    assert_rc "HTTP from a plain socket" 0
    assert_eq "every reply on the connection to node1:30080" 4 "$(grep -cE "^pod[12] $NODE1_IP:30080$" <<<"$OUT" || true)"

    # Big replies: full-size segments, GSO and checksum offload through the translation.
    local n sum_pod sum_got
    for n in 1 2; do
        sum_pod=$(md5sum <"$TMP/www$n/big")
        sum_got=""
        # Each connection picks a backend at random: 32 tries miss pod n with odds of 2^-32 (8 missed one
        # run in 256).
        for i in $(seq 32); do
            timeout 10 ip netns exec "$EXT" busybox wget -qO "$TMP/got" "http://$NODE1_IP:30080/big" 2>/dev/null || continue
            [[ $(md5sum <"$TMP/got") == "$sum_pod" ]] && { sum_got=$sum_pod; break; }
        done
        assert_eq "a 300 kB reply from pod$n arrives intact" "$sum_pod" "$sum_got"
    done

    # SNAT: the backend sees node1's own address towards it (br0's for its pod, eth0's for node2's).
    assert_eq "conntrack: backend and the node's source address, per client connection" \
        "10.88.1.2 10.88.1.1
10.88.2.2 $NODE1_IP" "$(conntrack_of $EXT_IP)"
}

check_udp() {
    capture ext_peer udp $NODE1_IP 30053 3
    assert_rc "UDP to node1:30053" 0
    assert_eq "3 echoes, each from node1:30053" 3 "$(grep -cE "^pod[12] $NODE1_IP:30053$" <<<"$OUT" || true)"
}

check_no_backend() {
    capture ext_peer refused $NODE1_IP 30099
    assert_match "a nodePort without backends refuses the connection" '^ECONNREFUSED' "$OUT"
    capture svc stats --json --bpffs "$PINS"
    assert_eq "the refusal is counted" true \
        "$(jq '[.[] | select(.vip == "10.96.0.12:80/tcp") | .refused >= 1] == [true]' <<<"$OUT")"
    assert_eq "connections through 30080 are counted" true \
        "$(jq '[.[] | select(.vip == "10.96.0.10:80/tcp") | .connections >= 20] == [true]' <<<"$OUT")"
}

check_rm() {
    capture svc rm 10.96.0.10:80/tcp --bpffs "$PINS"
    assert_rc "rm 10.96.0.10:80/tcp" 0
    capture ext_peer refused $NODE1_IP 30080
    assert_match "after rm, node1:30080 no longer answers" '^ECONNREFUSED' "$OUT"
    capture ext_peer udp $NODE1_IP 30053 1
    assert_rc "the other NodePort service still answers" 0
}

check_detach() {
    capture nodeport detach --dev eth0 --dev br0
    assert_rc "nodeport detach" 0
    assert_eq "no filter left on eth0 ingress" "" "$(ingress_filters eth0)"
    assert_eq "no filter left on br0 ingress" "" "$(ingress_filters br0)"
    capture ext_peer udp $NODE1_IP 30053 1
    assert_nonzero_rc "after detach, UDP node1:30053 no longer answers"
    capture nodeport detach --dev eth0 --dev br0
    assert_rc "detaching again is fine" 0
    # svc unload detaches NodePort too: its filters would otherwise keep the unpinned maps alive.
    capture nodeport attach --dev eth0 --dev br0
    assert_rc "attach again" 0
    capture svc unload --bpffs "$PINS"
    assert_rc "svc unload with NodePort attached" 0
    assert_eq "unload removed the filter from eth0" "" "$(ingress_filters eth0)"
    assert_eq "unload removed the filter from br0" "" "$(ingress_filters br0)"
    assert_eq "unload removed every pin" "" "$(find "$PINS" -mindepth 1 2>/dev/null)"
}

check_usage
check_setup
check_tcp
check_udp
check_no_backend
check_rm
check_detach

# Servers stop before lib.sh's leak check.
for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
PIDS=()
