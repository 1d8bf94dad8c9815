# Tests namespace isolation: pid, uts (hostname/domainname), net, ipc, mount, cgroup, joined netns, user, time.
source "$(dirname "$0")/lib.sh"

WITH_CGROUP_NS='.linux.namespaces |= (if any(.type == "cgroup") then . else . + [{"type": "cgroup"}] end)'

check_pid_namespace() {
    new_id
    run_in "$ID" -- sh -c 'read -r pid rest </proc/self/stat; echo "pid=$pid"; ps -o pid,comm; exit 0'
    assert_rc "pid ns: run" 0
    assert_contains "pid ns: the process is pid 1" "$OUT" "pid=1"
    # ps header + sh (pid 1) + ps itself: no host process is visible.
    assert_eq "pid ns: ps shows only container processes" 2 "$(grep -cE '^ *[0-9]+ ' <<<"$OUT" || true)"
}

check_hostname_without_etc_hostname() {
    local rootfs
    rootfs=$(writable_rootfs hostname)
    rm -f "$rootfs/etc/hostname"
    new_id
    run_in "$ID" ".root.path = \"$rootfs\"" '.hostname = "skiff-box"' -- hostname
    assert_rc "uts: run" 0
    assert_eq "uts: hostname from config (no /etc/hostname)" skiff-box "$OUT"
    assert_ne "uts: host hostname unchanged" skiff-box "$(hostname)"
}

check_domainname() {
    new_id
    # runc 1.1.5 ignores "domainname" (supported from runc 1.2): expected to fail on runc.
    run_in "$ID" '.domainname = "skiff.example"' -- cat /proc/sys/kernel/domainname
    assert_rc "uts: run with domainname" 0
    assert_eq "uts: domainname from config" skiff.example "$OUT"
}

check_network_namespace() {
    new_id
    run_in "$ID" -- sh -c "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"
    assert_rc "net ns: run" 0
    assert_eq "net ns: only lo" lo "$OUT"
}

check_namespaces_differ_from_host() {
    local ns inside
    new_id
    run_in "$ID" "$WITH_CGROUP_NS" -- sh -c 'for n in ipc uts mnt cgroup net pid; do echo "$n $(readlink /proc/self/ns/$n)"; done'
    assert_rc "namespaces: run" 0
    for ns in ipc uts mnt cgroup net pid; do
        inside=$(awk -v n="$ns" '$1 == n {print $2}' <<<"$OUT")
        [[ -n $inside ]] || { fail "namespaces: no $ns link inside"; continue; }
        assert_ne "namespaces: $ns differs from host" "$(readlink "/proc/$$/ns/$ns")" "$inside"
    done
}

check_join_netns_by_path() {
    local name=skiff-t-$$ inode
    ip netns add "$name" || { fail "join netns: ip netns add $name failed"; return; }
    on_cleanup ip netns del "$name"
    inode=$(stat -L -c %i "/var/run/netns/$name")
    new_id
    run_in "$ID" ".linux.namespaces |= map(if .type == \"network\" then .path = \"/var/run/netns/$name\" else . end)" \
        -- readlink /proc/self/ns/net
    assert_rc "join netns: run" 0
    assert_eq "join netns: process is in the named netns" "net:[$inode]" "$OUT"
    ip netns del "$name"
}

check_user_namespace() {
    new_id
    run_in "$ID" '.linux.namespaces += [{"type": "user"}]' \
        '.linux.uidMappings = [{"containerID": 0, "hostID": 200000, "size": 65536}]' \
        '.linux.gidMappings = [{"containerID": 0, "hostID": 200000, "size": 65536}]' \
        -- sh -c 'cat /proc/self/uid_map /proc/self/gid_map; id -u'
    assert_rc "user ns: run" 0
    assert_match "user ns: uid_map" '^ *0 +200000 +65536$' "$(sed -n 1p <<<"$OUT")"
    assert_match "user ns: gid_map" '^ *0 +200000 +65536$' "$(sed -n 2p <<<"$OUT")"
    assert_eq "user ns: root inside" 0 "$(sed -n 3p <<<"$OUT")"
}

check_time_namespace() {
    local host_uptime inside
    if [[ ! -e /proc/self/ns/time ]]; then
        echo "SKIP (check): time namespaces: /proc/self/ns/time absent on this kernel"
        return
    fi
    new_id
    # runc 1.1.5 does not know the "time" namespace (added in runc 1.2): expected to fail on runc.
    run_in "$ID" '.linux.namespaces += [{"type": "time"}]' \
        '.linux.timeOffsets = {"boottime": {"secs": 864000, "nanosecs": 0}, "monotonic": {"secs": 864000, "nanosecs": 0}}' \
        -- cat /proc/uptime
    host_uptime=$(cut -d. -f1 /proc/uptime)
    assert_rc "time ns: run" 0
    [[ $RC == 0 ]] || return 0
    inside=$(cut -d. -f1 <<<"$OUT")
    if [[ $inside =~ ^[0-9]+$ ]] && ((inside >= host_uptime + 864000 - 5 && inside <= host_uptime + 864000 + 5)); then
        ok "time ns: boottime offset applied"
    else
        fail "time ns: uptime inside '$inside', expected host $host_uptime + 864000"
    fi
}

[[ -e /proc/self/ns/pid ]] || skip "no namespaces in /proc/self/ns"
check_pid_namespace
check_hostname_without_etc_hostname
check_domainname
check_network_namespace
check_namespaces_differ_from_host
check_join_netns_by_path
check_user_namespace
check_time_namespace
