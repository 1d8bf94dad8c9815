# Tests user namespaces run by root: several id ranges, who owns what the container writes, device nodes bound from the host, /sys without a netns of its own, bad maps.
source "$(dirname "$0")/lib.sh"

# The container's root is host uid 100000 here: it must be able to walk down to its rootfs
# (mktemp made $TMP 0700).
chmod 711 "$TMP"
MAPS='.linux.namespaces += [{type: "user"}]
    | .linux.uidMappings = [{containerID: 0, hostID: 100000, size: 1000}, {containerID: 1000, hostID: 200000, size: 100}]
    | .linux.gidMappings = [{containerID: 0, hostID: 100000, size: 1000}, {containerID: 1000, hostID: 200000, size: 100}]'

# A writable copy of the rootfs owned by the mapped root, as podman prepares one.
mapped_rootfs() { # NAME: echoes the path
    local d
    d=$(writable_rootfs "$1")
    chown -R 100000:100000 "$d"
    chown -R 200000:200000 "$d/home/app"
    echo "$d"
}

check_multiple_ranges() {
    local rootfs
    rootfs=$(mapped_rootfs ranges)
    new_id
    create_in "$ID" "$MAPS" ".root.path = \"$rootfs\" | .root.readonly = false" -- \
        sh -c 'cat /proc/self/uid_map /proc/self/gid_map > /tmp/maps; id -u > /tmp/id; touch /root/by-root; exec sleep 100'
    capture oci start "$ID"
    assert_rc "start" 0
    wait_until 5 test -s "$rootfs/tmp/id" || fail "the container did not write its id"
    assert_eq "uid_map and gid_map inside: both ranges" \
        "0 100000 1000|1000 200000 100|0 100000 1000|1000 200000 100" \
        "$(awk '{print $1, $2, $3}' "$rootfs/tmp/maps" | paste -sd '|')"
    assert_eq "the process is root inside" 0 "$(<"$rootfs/tmp/id")"
    assert_eq "a file of container uid 0 is host 100000's" 100000:100000 "$(stat -c %u:%g "$rootfs/root/by-root")"
    # The process runs as the first host id of the range on the host.
    assert_eq "the init is host uid 100000" 100000 "$(awk '/^Uid:/ {print $2}' "/proc/$(pid_of "$ID")/status")"
    capture oci exec --user 1000:1000 "$ID" sh -c 'id -u; id -g; touch /home/app/by-app /tmp/by-app'
    assert_rc "exec as 1000:1000 in the user namespace" 0
    assert_eq "exec: ids inside" "1000
1000" "$OUT"
    assert_eq "a file of container uid 1000 is host 200000's" 200000:200000 "$(stat -c %u:%g "$rootfs/tmp/by-app")"
    assert_eq "... also in the dir it owns" 200000:200000 "$(stat -c %u:%g "$rootfs/home/app/by-app")"
    capture oci exec --user 1100 "$ID" true
    assert_nonzero_rc "exec as an unmapped uid fails"
    capture oci delete --force "$ID"
    assert_rc "delete" 0
}

check_devices_bound() {
    local rootfs fuse=''
    rootfs=$(mapped_rootfs devices)
    [[ -c /dev/fuse ]] && fuse='| .linux.devices = [{path: "/dev/fuse", type: "c", major: 10, minor: 229, fileMode: 438}]'
    new_id
    run_in "$ID" "$MAPS" ".root.path = \"$rootfs\" $fuse" -- sh -c '
        echo data > /dev/null && echo null-ok
        head -c 1 /dev/zero | od -An -tx1
        head -c 4 /dev/urandom | wc -c
        echo x > /dev/full 2>/dev/null || echo full-refuses
        for d in null zero full random urandom tty; do stat -c "%n %F %t:%T" /dev/$d; done
        [ -e /dev/fuse ] && stat -c "%n %F %t:%T" /dev/fuse
        grep -E " /dev/(null|zero) " /proc/self/mountinfo | wc -l'
    assert_rc "devices: run" 0
    assert_contains "echo > /dev/null works" "$OUT" "null-ok"
    assert_contains "head -c 1 /dev/zero gives a zero byte" "$OUT" " 00"
    assert_contains "/dev/urandom reads" "$OUT" $'\n4\n'
    assert_contains "/dev/full refuses writes" "$OUT" "full-refuses"
    assert_contains "/dev/null is the null device" "$OUT" "/dev/null character special file 1:3"
    assert_contains "/dev/tty is the tty device" "$OUT" "/dev/tty character special file 5:0"
    # Nodes can't be made in a user namespace: each is a bind mount of the host's node.
    assert_eq "null and zero are bind mounts" 2 "$(tail -n 1 <<<"$OUT")"
    if [[ -n $fuse ]]; then
        assert_contains "linux.devices /dev/fuse bound from the host" "$OUT" "/dev/fuse character special file a:e5"
    fi
}

check_sys_without_netns() {
    # sysfs only mounts for the owner of the network namespace: sharing the host's, the
    # container gets the host's /sys bound instead (read-only, as asked).
    local rootfs
    rootfs=$(mapped_rootfs sys)
    new_id
    run_in "$ID" "$MAPS" ".root.path = \"$rootfs\"" \
        '.linux.namespaces |= map(select(.type != "network"))' -- \
        sh -c 'ls /sys/class/net | sort | paste -sd " "; touch /sys/x 2>/dev/null || echo sys-ro'
    assert_rc "run sharing the host netns" 0
    assert_eq "/sys shows the host's interfaces" "$(ls /sys/class/net | sort | paste -sd ' ')" "$(head -n 1 <<<"$OUT")"
    assert_contains "the bound /sys is read-only" "$OUT" "sys-ro"
    # With its own netns it mounts a sysfs of its own: only lo.
    new_id
    run_in "$ID" "$MAPS" ".root.path = \"$rootfs\"" -- sh -c 'ls /sys/class/net'
    assert_eq "own netns: own sysfs with lo only" lo "$OUT"
}

check_bad_maps() {
    local rootfs
    rootfs=$(mapped_rootfs bad)
    new_id
    run_in "$ID" "$MAPS" ".root.path = \"$rootfs\"" \
        '.linux.uidMappings = [{containerID: 0, hostID: 100000, size: 1000}, {containerID: 500, hostID: 200000, size: 100}]' -- true
    assert_nonzero_rc "overlapping container ids are refused"
    assert_contains "overlap: message" "$ERR" "linux.uidMappings[1]: container ids overlap linux.uidMappings[0]"
    assert_nothing_left "overlap" "$ID"
    new_id
    run_in "$ID" "$MAPS" ".root.path = \"$rootfs\"" \
        '.linux.gidMappings = [{containerID: 0, hostID: 100000, size: 1000}, {containerID: 1000, hostID: 100500, size: 100}]' -- true
    assert_nonzero_rc "overlapping host ids are refused"
    assert_contains "host overlap: message" "$ERR" "linux.gidMappings[1]: host ids overlap linux.gidMappings[0]"
    assert_nothing_left "host overlap" "$ID"
    new_id
    run_in "$ID" "$MAPS" ".root.path = \"$rootfs\"" \
        '.linux.uidMappings = [{containerID: 1, hostID: 100000, size: 1000}]' -- true
    assert_nonzero_rc "a map without uid 0 fails"
    assert_contains "no uid 0: message" "$ERR" "is 0 mapped in linux.uidMappings?"
    assert_nothing_left "no uid 0" "$ID"
    # A rootfs the mapped root can't reach: the error says so.
    local hidden=$TMP/hidden
    mkdir -m 700 "$hidden"
    cp -a "$rootfs" "$hidden/rootfs"
    new_id
    run_in "$ID" "$MAPS" ".root.path = \"$hidden/rootfs\"" -- true
    assert_nonzero_rc "an unreachable rootfs fails"
    assert_contains "unreachable rootfs: message" "$ERR" "the container's root (its mapped host uid) cannot reach it"
    assert_nothing_left "unreachable rootfs" "$ID"
}

check_multiple_ranges
check_devices_bound
check_sys_without_netns
check_bad_maps
check_no_leaks "userns"
