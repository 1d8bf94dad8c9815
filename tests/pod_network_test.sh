# Tests the pod network (`skiff net`, docs/design/network.md) on the real kernel: two "node"
# network namespaces, each with its bridge and pod CIDR, joined by a veth (192.168.77.0/24), an
# "external" host behind node 1 (203.0.113.0/24), and pods as namespaces wired by `skiff net setup`
# run inside a node with `ip netns exec`. Nothing in the root network namespace is changed.
source "$(dirname "$0")/lib.sh"

SKIFF=$SKIFF_BUILD/bin/skiff
[[ -x $SKIFF ]] || die "skiff binary missing: $SKIFF"
for tool in ip iptables busybox ss timeout; do
    command -v "$tool" >/dev/null || die "$tool is not installed (tools/setup installs it)"
done

T=$$ # every namespace name carries the test's pid
NODE1=skn1-$T NODE2=skn2-$T EXT=skext-$T
CLUSTER=10.88.0.0/16 CIDR1=10.88.1.0/24 CIDR2=10.88.2.0/24
STATE1=$TMP/net-state1 STATE2=$TMP/net-state2
OPTS1=(--pod-cidr "$CIDR1" --cluster-cidr "$CLUSTER" --mtu 1400 --state-dir "$STATE1")
OPTS2=(--pod-cidr "$CIDR2" --cluster-cidr "$CLUSTER" --mtu 1400 --state-dir "$STATE2")
POOL1=$STATE1/ipam/10.88.1.0_24

# A namespace that the cleanup deletes (with every veth end and bridge in it).
new_netns() {
    ip netns add "$1" || die "ip netns add $1 failed"
    on_cleanup "ip netns delete '$1'"
}
in_ns() { local ns=$1; shift; timeout -k 5 30 ip netns exec "$ns" "$@"; }
net() { local node=$1; shift; in_ns "$node" "$SKIFF" net "$@"; }
# The host veth name skiff derives from a pod id: "vsk" + FNV-1a 32 of the id in hex.
veth_of() {
    local s=$1 h=2166136261 i c
    for ((i = 0; i < ${#s}; i++)); do
        printf -v c '%d' "'${s:i:1}"
        h=$(((h ^ c) * 16777619 & 0xffffffff))
    done
    printf 'vsk%08x' "$h"
}
link_exists() { in_ns "$1" ip link show "$2" >/dev/null 2>&1; }
# pod NODE POD-ID [skiff net setup options...]: a pod namespace wired on NODE; OUT is its IP/prefix.
pod() {
    local node=$1 id=$2
    shift 2
    new_netns "skp-$id-$T"
    capture net "$node" setup --netns "/run/netns/skp-$id-$T" --pod "$id" "$@"
}
pod_ns() { echo "skp-$1-$T"; }
pings() { in_ns "$1" busybox ping -c 1 -W 1 "$2" >/dev/null 2>&1; }
# http_get NS ADDR PATH: the body busybox nc receives (httpd's CGI answers close the connection).
http_get() {
    printf 'GET %s HTTP/1.0\r\n\r\n' "$3" | in_ns "$1" busybox nc -w 3 "${2%:*}" "${2##*:}" 2>/dev/null |
        tr -d '\r' | sed '1,/^$/d'
}
listening() { in_ns "$1" ss -ltn 2>/dev/null | grep -q "$2"; }
# start_httpd NS ADDR:PORT: busybox httpd serving $WWW there (the CGI prints the client's address).
start_httpd() {
    local pid
    env -u SKIFF_TEST_MARK ip netns exec "$1" busybox httpd -f -p "$2" -h "$WWW" </dev/null >/dev/null 2>&1 &
    pid=$!
    on_cleanup "kill $pid"
    wait_until 10 listening "$1" "$2" || die "httpd did not listen on $2 in $1"
}

WWW=$TMP/www
mkdir -p "$WWW/cgi-bin"
echo "hello from a pod" >"$WWW/index.html"
printf '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n%%s\\n" "$REMOTE_ADDR"\n' >"$WWW/cgi-bin/peer"
chmod +x "$WWW/cgi-bin/peer"

# What the root namespace has now, to show at the end that the test changed none of it.
root_state() { sysctl -n net.ipv4.ip_forward; ip -o link show | awk '{print $2}' | grep -c '^vsk' || true; }
ROOT_BEFORE=$(root_state)

# ---- the nodes ------------------------------------------------------------------------------
new_netns "$NODE1"
new_netns "$NODE2"
new_netns "$EXT"
for ns in "$NODE1" "$NODE2" "$EXT"; do in_ns "$ns" ip link set lo up; done
in_ns "$NODE1" ip link add up0 type veth peer name up0 netns "$NODE2"
in_ns "$NODE1" ip addr add 192.168.77.1/24 dev up0
in_ns "$NODE2" ip addr add 192.168.77.2/24 dev up0
in_ns "$NODE1" ip link add ext0 type veth peer name ext0 netns "$EXT"
in_ns "$NODE1" ip addr add 203.0.113.1/24 dev ext0
in_ns "$EXT" ip addr add 203.0.113.2/24 dev ext0
for l in "$NODE1 up0" "$NODE2 up0" "$NODE1 ext0" "$EXT ext0"; do in_ns ${l% *} ip link set "${l#* }" up; done

check_setup() {
    pod "$NODE1" pod-a "${OPTS1[@]}"
    assert_rc "setup pod-a" 0
    assert_eq "setup prints the pod's IP/prefix (network .0 and gateway .1 skipped)" 10.88.1.2/24 "$OUT"
    local ns veth
    ns=$(pod_ns pod-a) veth=$(veth_of pod-a)
    assert_contains "pod-a: eth0 has the address" "$(in_ns "$ns" ip -o -4 addr show dev eth0)" "inet 10.88.1.2/24"
    assert_contains "pod-a: eth0 MTU" "$(in_ns "$ns" ip -o link show eth0)" "mtu 1400"
    assert_match "pod-a: eth0 up" '<[^>]*\bUP\b' "$(in_ns "$ns" ip -o link show eth0)"
    assert_match "pod-a: lo up" '<[^>]*\bUP\b' "$(in_ns "$ns" ip -o link show lo)"
    assert_eq "pod-a: default route via the bridge" "default via 10.88.1.1 dev eth0" \
        "$(in_ns "$ns" ip route show default | sed 's/ *$//')"
    assert_eq "pod-a: nothing but lo and eth0" "eth0 lo" \
        "$(in_ns "$ns" ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | sort | xargs)"
    local host
    host=$(in_ns "$NODE1" ip -o link show "$veth" 2>&1)
    assert_contains "host veth $veth: on the bridge" "$host" "master skiff0"
    assert_contains "host veth: MTU" "$host" "mtu 1400"
    assert_match "host veth: up" '<[^>]*\bUP\b' "$host"
    assert_contains "host veth: alias names the pod" "$(in_ns "$NODE1" ip -d link show "$veth")" "alias pod-a"
    assert_contains "bridge: gateway address" "$(in_ns "$NODE1" ip -o -4 addr show dev skiff0)" "inet 10.88.1.1/24"
    assert_contains "bridge: MTU" "$(in_ns "$NODE1" ip -o link show skiff0)" "mtu 1400"
    assert_eq "node: ip_forward on" 1 "$(in_ns "$NODE1" sysctl -n net.ipv4.ip_forward)"
    assert_eq "IPAM: a file per address holding the pod id" pod-a "$(cat "$POOL1/10.88.1.2" 2>&1)"

    capture net "$NODE1" setup --netns "/run/netns/$ns" --pod pod-a "${OPTS1[@]}"
    assert_rc "setup pod-a again" 0
    assert_eq "setup again gives the same IP" 10.88.1.2/24 "$OUT"
    assert_eq "setup again: still one default route" 1 "$(in_ns "$ns" ip route show default | wc -l)"
    assert_eq "setup again: still one address" 1 "$(in_ns "$ns" ip -o -4 addr show dev eth0 | wc -l)"

    local nat
    nat=$(in_ns "$NODE1" iptables -t nat -S)
    assert_contains "masquerade rule in SKIFF-POSTROUTING" "$nat" \
        "-A SKIFF-POSTROUTING -s 10.88.1.0/24 ! -d 10.88.0.0/16 -j MASQUERADE"
    assert_eq "POSTROUTING jumps to SKIFF-POSTROUTING once after two setups" 1 \
        "$(grep -c -- '-A POSTROUTING .*-j SKIFF-POSTROUTING' <<<"$nat")"
    assert_eq "the masquerade rule is there once" 1 "$(grep -c -- '-j MASQUERADE' <<<"$nat")"

    pod "$NODE1" pod-b "${OPTS1[@]}"
    assert_rc "setup pod-b" 0
    assert_eq "a second pod gets another IP" 10.88.1.3/24 "$OUT"
    pod "$NODE2" pod-c "${OPTS2[@]}"
    assert_rc "setup pod-c on node 2" 0
    assert_eq "pod-c: from node 2's pod CIDR" 10.88.2.2/24 "$OUT"
}

check_same_node() {
    if wait_until 5 pings "$(pod_ns pod-a)" 10.88.1.3; then ok "pod-a pings pod-b (same node)"; else fail "pod-a cannot ping pod-b"; fi
    start_httpd "$(pod_ns pod-b)" 10.88.1.3:8080
    assert_eq "pod-a fetches from pod-b's httpd (busybox wget)" "hello from a pod" \
        "$(in_ns "$(pod_ns pod-a)" busybox wget -q -O - http://10.88.1.3:8080/index.html 2>&1)"
    assert_eq "pod-b sees pod-a's own address" 10.88.1.2 \
        "$(http_get "$(pod_ns pod-a)" 10.88.1.3:8080 /cgi-bin/peer)"
}

check_cross_node() {
    local a=$(pod_ns pod-a) c=$(pod_ns pod-c)
    if pings "$a" 10.88.2.2; then fail "pod-a reached pod-c before any route"; else ok "no route, no cross-node traffic"; fi
    capture net "$NODE1" route add "$CIDR2" via 192.168.77.2
    assert_rc "node 1: route add $CIDR2 via node 2" 0
    capture net "$NODE1" route add "$CIDR2" via 192.168.77.2
    assert_rc "route add again (replace)" 0
    assert_eq "node 1: one route to node 2's pods" "10.88.2.0/24 via 192.168.77.2 dev up0 proto static" \
        "$(in_ns "$NODE1" ip route show "$CIDR2" | sed 's/ *$//')"
    capture net "$NODE2" route add "$CIDR1" via 192.168.77.1
    assert_rc "node 2: route add $CIDR1 via node 1" 0
    if wait_until 5 pings "$a" 10.88.2.2; then ok "pod-a pings pod-c across nodes"; else fail "pod-a cannot ping pod-c across nodes"; fi
    start_httpd "$c" 10.88.2.2:8080
    assert_eq "pod-c sees pod-a's own address (no masquerade inside the cluster)" 10.88.1.2 \
        "$(http_get "$a" 10.88.2.2:8080 /cgi-bin/peer)"

    capture net "$NODE1" route rm "$CIDR2"
    assert_rc "route rm" 0
    assert_eq "route rm: the route is gone" "" "$(in_ns "$NODE1" ip route show "$CIDR2")"
    if pings "$a" 10.88.2.2; then fail "pod-a still reaches pod-c after route rm"; else ok "route rm cuts node 2's pods off"; fi
    capture net "$NODE1" route rm "$CIDR2"
    assert_rc "route rm again" 0
}

check_masquerade() {
    start_httpd "$EXT" 203.0.113.2:8080
    assert_eq "outside the cluster, the external host sees node 1's address" 203.0.113.1 \
        "$(http_get "$(pod_ns pod-a)" 203.0.113.2:8080 /cgi-bin/peer)"
}

check_teardown() {
    local b=$(pod_ns pod-b) veth
    veth=$(veth_of pod-b)
    capture net "$NODE1" teardown --netns "/run/netns/$b" --pod pod-b "${OPTS1[@]}"
    assert_rc "teardown pod-b" 0
    if link_exists "$NODE1" "$veth"; then fail "teardown left the host veth $veth"; else ok "teardown removed the host veth"; fi
    if link_exists "$b" eth0; then fail "teardown left eth0 in the pod"; else ok "teardown removed the pod's eth0"; fi
    [[ ! -e $POOL1/10.88.1.3 ]] && ok "teardown released the IP" || fail "IPAM file 10.88.1.3 left"
    capture net "$NODE1" teardown --netns "/run/netns/$b" --pod pod-b "${OPTS1[@]}"
    assert_rc "teardown twice" 0
    # The namespace may be gone before teardown (the veth pair went with it).
    local a=$(pod_ns pod-a)
    ip netns delete "$a"
    capture net "$NODE1" teardown --netns "/run/netns/$a" --pod pod-a --state-dir "$STATE1"
    assert_rc "teardown after the pod's namespace is gone (no --pod-cidr)" 0
    [[ ! -e $POOL1/10.88.1.2 ]] && ok "...released pod-a's IP" || fail "IPAM file 10.88.1.2 left"
    pod "$NODE1" pod-d "${OPTS1[@]}"
    assert_rc "setup after teardowns" 0
    assert_eq "a released IP is reused only after the others" 10.88.1.4/24 "$OUT"
}

check_crash_recovery() {
    # An IP allocated with no veth (setup died after IPAM).
    echo crash-a >"$POOL1/10.88.1.50"
    capture net "$NODE1" teardown --pod crash-a "${OPTS1[@]}"
    assert_rc "teardown of an IP without veth" 0
    [[ ! -e $POOL1/10.88.1.50 ]] && ok "...released the IP" || fail "...left $POOL1/10.88.1.50"
    # A veth with no IP (setup died between the veth and IPAM, or a half-made pair).
    local veth
    veth=$(veth_of crash-b)
    in_ns "$NODE1" ip link add "$veth" type veth peer name crb-peer
    capture net "$NODE1" teardown --pod crash-b "${OPTS1[@]}"
    assert_rc "teardown of a stray veth" 0
    if link_exists "$NODE1" "$veth" || link_exists "$NODE1" crb-peer; then fail "stray veth left"; else ok "...removed the stray veth pair"; fi
    # Both at once, then setup again: it converges without a teardown.
    veth=$(veth_of crash-c)
    in_ns "$NODE1" ip link add "$veth" type veth peer name crc-peer
    echo crash-c >"$POOL1/10.88.1.60"
    pod "$NODE1" crash-c "${OPTS1[@]}"
    assert_rc "setup over a half-made veth and an allocated IP" 0
    assert_eq "...keeps the allocated IP" 10.88.1.60/24 "$OUT"
    assert_contains "...the pair is rebuilt on the bridge" "$(in_ns "$NODE1" ip -o link show "$veth")" "master skiff0"
    if link_exists "$NODE1" crc-peer; then fail "the half-made veth's peer is left"; else ok "...the half-made pair is gone"; fi
    assert_contains "...the pod has its address" "$(in_ns "$(pod_ns crash-c)" ip -o -4 addr show dev eth0)" 10.88.1.60/24
    capture net "$NODE1" teardown --netns "/run/netns/$(pod_ns crash-c)" --pod crash-c "${OPTS1[@]}"
    assert_rc "teardown crash-c" 0
    if link_exists "$NODE1" "$veth"; then fail "crash-c's veth left"; else ok "...veth gone"; fi
}

check_exhaustion() {
    local opts=(--bridge sk30 --pod-cidr 10.99.0.0/30 --no-masquerade --state-dir "$TMP/net-state30")
    pod "$NODE1" small-1 "${opts[@]}"
    assert_rc "/30: the one pod address" 0
    assert_eq "/30: it is .2" 10.99.0.2/30 "$OUT"
    pod "$NODE1" small-2 "${opts[@]}"
    assert_rc "/30: a second pod fails" 1
    assert_contains "/30: the error names the CIDR" "$ERR" "pod CIDR 10.99.0.0/30 is exhausted"
    assert_contains "/30: the error names the pod" "$ERR" "setup pod small-2"
    if link_exists "$NODE1" "$(veth_of small-2)"; then fail "/30: failed setup left a veth"; else ok "/30: failed setup left no veth"; fi
    assert_eq "/30: failed setup left only the first pod's IPAM file" 10.99.0.2 \
        "$(ls "$TMP/net-state30/ipam/10.99.0.0_30" | grep -v -e lock -e last_reserved | xargs)"
    assert_eq "/30: no masquerade rule for it (--no-masquerade)" 0 \
        "$(in_ns "$NODE1" iptables -t nat -S | grep -c 10.99.0.0 || true)"
}

check_bad_input() {
    local ns=/run/netns/$(pod_ns pod-c)
    capture net "$NODE1" setup --netns "$ns" --pod x --pod-cidr 10.88.1.0/33 --state-dir "$TMP/bad"
    assert_rc "bad CIDR prefix: usage error" 2
    assert_contains "bad CIDR: named" "$ERR" '10.88.1.0/33'
    capture net "$NODE1" setup --netns "$ns" --pod x --pod-cidr 10.88.1.5/24 --state-dir "$TMP/bad"
    assert_rc "CIDR with host bits: usage error" 2
    assert_contains "CIDR with host bits: says which network was meant" "$ERR" "10.88.1.0/24"
    capture net "$NODE1" setup --netns "$ns" --pod x --pod-cidr 10.88.1.0/24 --cluster-cidr 10.77.0.0/16 --state-dir "$TMP/bad"
    assert_rc "cluster CIDR not containing the pod CIDR" 2
    capture net "$NODE1" setup --netns "$ns" --pod-cidr 10.88.1.0/24 --state-dir "$TMP/bad"
    assert_rc "missing --pod" 2
    assert_contains "missing --pod: named" "$ERR" "--pod"
    capture net "$NODE1" setup --netns "$ns" --pod x --pod-cidr 10.88.1.0/24 --mtu abc
    assert_rc "--mtu abc" 2
    capture net "$NODE1" setup --netns "$ns" --pod x --pod-cidr 10.88.1.0/24 --ifname this-is-too-long-for-linux
    assert_rc "--ifname too long" 2
    capture net "$NODE1" setup --netns "/run/netns/nope-$T" --pod x "${OPTS1[@]}"
    assert_rc "missing namespace: failure" 1
    assert_contains "missing namespace: named" "$ERR" "open network namespace /run/netns/nope-$T"
    capture net "$NODE1" route add 10.88.2.0/24 via 300.1.1.1
    assert_rc "route add with a bad gateway address" 2
    assert_contains "route add: bad address named" "$ERR" 300.1.1.1
    capture net "$NODE1" route add 10.88.2.0/24 through 192.168.77.2
    assert_rc "route add without 'via'" 2
    capture net "$NODE1" route add 10.55.0.0/24 via 10.123.0.1
    assert_rc "route via an unreachable gateway: failure" 1
    assert_contains "route via an unreachable gateway: the kernel's reason" "$ERR" "unreachable"
    capture net "$NODE1" frobnicate
    assert_rc "unknown subcommand" 2
}

check_setup
check_same_node
check_cross_node
check_masquerade
check_teardown
check_crash_recovery
check_exhaustion
check_bad_input
assert_eq "the root network namespace is as it was (ip_forward, no vsk veths)" "$ROOT_BEFORE" "$(root_state)"
