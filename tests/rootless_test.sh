# Tests rootless skiff-oci as a real unprivileged user made for the test: spec --rootless, the lifecycle, exec, newuidmap ranges, cgroups skipped or delegated, nothing left.
source "$(dirname "$0")/lib.sh"

# Unprivileged user namespaces must be allowed (Debian's kernel.unprivileged_userns_clone, or
# user.max_user_namespaces=0 turn them off); this test changes no sysctl.
if [[ $(cat /proc/sys/kernel/unprivileged_userns_clone 2>/dev/null || echo 1) == 0 ]] ||
    [[ $(cat /proc/sys/user/max_user_namespaces) == 0 ]] ||
    ! setpriv --reuid 65534 --regid 65534 --clear-groups unshare -U true 2>/dev/null; then
    skip "unprivileged user namespaces are disabled on this host (kernel.unprivileged_userns_clone / user.max_user_namespaces)"
fi
command -v newuidmap >/dev/null && command -v newgidmap >/dev/null ||
    die "newuidmap/newgidmap are missing (package uidmap; tools/setup installs it)"

# ---- the user: made here, removed (with its /etc/subuid and /etc/subgid lines) at the end ----
U=sk-rl-$$
useradd --no-create-home --home-dir /nonexistent --shell /bin/sh --user-group "$U" ||
    die "useradd $U failed"
on_cleanup "userdel $U; sed -i '/^$U:/d' /etc/subuid /etc/subgid"
UID_U=$(id -u "$U") GID_U=$(id -g "$U")
# useradd gives a range where login.defs asks for one; make sure there is one either way.
if ! grep -q "^$U:" /etc/subuid; then usermod --add-subuids 400000000-400065535 "$U"; fi
if ! grep -q "^$U:" /etc/subgid; then usermod --add-subgids 400000000-400065535 "$U"; fi
SUB_UID=$(awk -F: -v u="$U" '$1 == u {print $2; exit}' /etc/subuid)
SUB_GID=$(awk -F: -v u="$U" '$1 == u {print $2; exit}' /etc/subgid)
SUB_COUNT=$(awk -F: -v u="$U" '$1 == u {print $3; exit}' /etc/subuid)
((SUB_COUNT >= 2000)) || die "subordinate range of $U is too small ($SUB_COUNT)"

chmod 711 "$TMP"
UDIR=$TMP/user
XDG=$UDIR/xdg
install -d -o "$U" -g "$U" -m 700 "$UDIR" "$XDG" "$UDIR/bundles"
# The binary where the user can surely run it (the build dir may be private).
install -o root -g root -m 755 "$SKIFF_OCI" "$UDIR/skiff-oci"
cp -a "$ROOTFS" "$UDIR/rootfs"
chown -R "$U:$U" "$UDIR/rootfs"

# Runs a command as the user (bounded in time), with its own XDG_RUNTIME_DIR and the test's mark.
as_user() {
    timeout -k 5 "$OCI_TIMEOUT" setpriv --reuid "$U" --regid "$U" --init-groups --reset-env \
        env XDG_RUNTIME_DIR="$XDG" HOME="$UDIR" PATH="${USER_PATH:-/usr/sbin:/usr/bin:/sbin:/bin}" \
        SKIFF_TEST_MARK="$SKIFF_TEST_MARK" "$@"
}
# skiff-oci as the user, with no --root: its state goes under $XDG_RUNTIME_DIR/skiff-oci.
uoci() { as_user "$UDIR/skiff-oci" "$@"; }
URIDS=()
new_uid() { ID_SEQ=$((ID_SEQ + 1)); ID="rl-$$-$ID_SEQ"; URIDS+=("$ID"); }
user_cleanup() {
    local id
    for id in "${URIDS[@]}"; do uoci delete --force "$id" >/dev/null 2>&1; done
    # Only this test's processes run as its own user: end any left by pid before userdel.
    local p
    for p in $(pgrep -u "$UID_U"); do kill -KILL "$p" 2>/dev/null; done
}
on_cleanup user_cleanup

# ubundle ID [jq-filter...]: a bundle made by `spec --rootless` as the user; sets BUNDLE.
ubundle() {
    local id=$1 filter='.root.path = $rootfs | .process.terminal = false | .process.env += [$mark]'
    shift
    local f
    for f in "$@"; do filter+=" | ($f)"; done
    BUNDLE=$UDIR/bundles/$id
    as_user mkdir -p "$BUNDLE"
    (cd "$BUNDLE" && uoci spec --rootless) || die "spec --rootless as $U failed"
    jq --arg rootfs "$UDIR/rootfs" --arg mark "SKIFF_TEST_MARK=$SKIFF_TEST_MARK" "$filter" \
        "$BUNDLE/config.json" >"$TMP/config.new" || die "jq on the rootless config failed"
    as_user sh -c "cat > $BUNDLE/config.json" <"$TMP/config.new"
}
# The user's live processes, after a grace period: a killed container's processes vanish when its
# init, reaped by the runtime, takes them along. Zombies are dead already (the host's init reaps them,
# on a busy machine not always within seconds).
live_user_processes() { ps -o pid=,stat=,args= -u "$UID_U" | awk '$2 !~ /^Z/' || true; }
user_processes() {
    wait_until 10 sh -c "[ -z \"\$(ps -o stat= -u $UID_U | grep -v '^Z')\" ]" || live_user_processes
}
args_filter() { echo ".process.args = $(args_json "$@")"; }

check_spec() {
    local d=$UDIR/bundles/spec
    as_user mkdir -p "$d"
    capture as_user sh -c "cd $d && $UDIR/skiff-oci spec --rootless"
    assert_rc "spec --rootless as $U" 0
    assert_eq "spec: uid 0 is the user" "0 $UID_U 1" "$(jq -r '.linux.uidMappings[] | "\(.containerID) \(.hostID) \(.size)"' "$d/config.json")"
    assert_eq "spec: gid 0 is the user's group" "0 $GID_U 1" "$(jq -r '.linux.gidMappings[] | "\(.containerID) \(.hostID) \(.size)"' "$d/config.json")"
    assert_eq "spec: new user and network namespaces" "network user" \
        "$(jq -r '[.linux.namespaces[].type | select(. == "user" or . == "network")] | sort | join(" ")' "$d/config.json")"
    assert_eq "spec: no cgroup resources" null "$(jq -c '.linux.resources // null' "$d/config.json")"
}

check_run() {
    new_uid
    ubundle "$ID" '.root.readonly = false' "$(args_filter sh -c '
        id; cat /proc/self/uid_map; touch /made-by-rootless
        echo data > /dev/null && head -c 1 /dev/zero | od -An -tx1
        ls /sys/class/net')"
    capture uoci run --bundle "$BUNDLE" "$ID"
    assert_rc "run as $U" 0
    assert_contains "uid 0 inside" "$OUT" "uid=0(root) gid=0(root)"
    assert_match "uid_map inside: 0 -> the user" "^ *0 +$UID_U +1$" "$OUT"
    assert_eq "the file it wrote is the user's on the host" "$UID_U:$GID_U" "$(stat -c %u:%g "$UDIR/rootfs/made-by-rootless")"
    assert_contains "devices work (bound from the host)" "$OUT" " 00"
    assert_eq "its own netns: only lo under /sys/class/net" lo "$(tail -n 1 <<<"$OUT")"
    assert_eq "one warning about the missing cgroup" 1 "$(grep -c 'warning: rootless: container' <<<"$ERR")"
    assert_contains "warning: says what is not applied" "$ERR" "resource limits and pause/resume are not available"
    assert_contains "warning: says how to get them" "$ERR" "delegate a cgroup subtree to this user"
    rm -f "$UDIR/rootfs/made-by-rootless"
}

check_lifecycle() {
    new_uid
    ubundle "$ID" '.root.readonly = false' "$(args_filter sh -c 'sleep 1000 & exec sleep 1000')"
    capture uoci create --bundle "$BUNDLE" "$ID"
    assert_rc "create as $U" 0
    assert_eq "state lives under \$XDG_RUNTIME_DIR/skiff-oci" "$UID_U" "$(stat -c %u "$XDG/skiff-oci/$ID" 2>/dev/null)"
    assert_eq "state: created" created "$(uoci state "$ID" | jq -r .status)"
    assert_eq "state: owner" "$U" "$(uoci state "$ID" | jq -r .owner)"
    capture uoci start "$ID"
    assert_rc "start" 0
    assert_eq "state: running" running "$(uoci state "$ID" | jq -r .status)"
    local pid
    pid=$(uoci state "$ID" | jq -r .pid)
    assert_eq "the init is the user's on the host" "$UID_U" "$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")"
    capture uoci exec "$ID" sh -c 'id -u; touch /tmp/by-exec; cat /proc/self/uid_map'
    assert_rc "exec as $U" 0
    assert_eq "exec: root inside" 0 "$(head -n 1 <<<"$OUT")"
    assert_eq "exec: its file is the user's on the host" "$UID_U" "$(stat -c %u "$UDIR/rootfs/tmp/by-exec")"
    rm -f "$UDIR/rootfs/tmp/by-exec"
    # Without a cgroup, ps and kill --all go by the container's pid namespace.
    ps_count_is() { [[ $(uoci ps --format json "$ID" 2>/dev/null | jq length 2>/dev/null) == "$1" ]]; }
    wait_until 5 ps_count_is 2 ||
        fail "ps: expected the init and its background sleep, got $(uoci ps --format json "$ID")"
    assert_contains "ps lists the init" "$(uoci ps --format json "$ID")" "$pid"
    capture uoci kill --all "$ID" KILL
    assert_rc "kill --all" 0
    wait_status "$ID" stopped
    capture uoci delete "$ID"
    assert_rc "delete" 0
    assert_eq "state dir entry gone" "" "$(ls -A "$XDG/skiff-oci")"
    proc_gone "$pid" && ok "init gone" || fail "init $pid still alive"
    # kill (the init only), then delete, for a second container. A pid namespace's init gets
    # only signals it handles, so KILL.
    new_uid
    ubundle "$ID" "$(args_filter sleep 1000)"
    capture uoci run --detach --bundle "$BUNDLE" "$ID"
    assert_rc "run --detach" 0
    capture uoci kill "$ID" KILL
    assert_rc "kill KILL" 0
    wait_status "$ID" stopped
    capture uoci delete "$ID"
    assert_rc "delete after kill" 0
}
# The lib's status checks, for the user's containers.
state_of() { uoci state "$1" 2>/dev/null | jq -r ".${2:-status}" 2>/dev/null || true; }

# More than its own id: newuidmap/newgidmap with the ranges /etc/subuid and /etc/subgid grant.
RANGES='.linux.uidMappings = [{containerID: 0, hostID: $ENV.UID_U|tonumber, size: 1}, {containerID: 1, hostID: $ENV.SUB_UID|tonumber, size: 1999}]
    | .linux.gidMappings = [{containerID: 0, hostID: $ENV.GID_U|tonumber, size: 1}, {containerID: 1, hostID: $ENV.SUB_GID|tonumber, size: 1999}]'
export UID_U GID_U SUB_UID SUB_GID SUB_COUNT

check_subordinate_ranges() {
    new_uid
    ubundle "$ID" "$RANGES" '.root.readonly = false' "$(args_filter sleep 1000)"
    capture uoci run --detach --bundle "$BUNDLE" "$ID"
    assert_rc "run with subordinate ranges" 0
    local pid
    pid=$(uoci state "$ID" | jq -r .pid)
    assert_eq "uid_map: own id and the subordinate range" "0 $UID_U 1|1 $SUB_UID 1999" \
        "$(awk '{print $1, $2, $3}' "/proc/$pid/uid_map" | paste -sd '|')"
    assert_eq "gid_map: own group and the subordinate range" "0 $GID_U 1|1 $SUB_GID 1999" \
        "$(awk '{print $1, $2, $3}' "/proc/$pid/gid_map" | paste -sd '|')"
    capture uoci exec --user 1000:1000 "$ID" sh -c 'id -u; touch /tmp/by-1000'
    assert_rc "exec as container uid 1000" 0
    assert_eq "container uid 1000 is subordinate id +999 on the host" "$((SUB_UID + 999)):$((SUB_GID + 999))" \
        "$(stat -c %u:%g "$UDIR/rootfs/tmp/by-1000" 2>/dev/null)"
    rm -f "$UDIR/rootfs/tmp/by-1000"
    capture uoci delete --force "$ID"
    assert_rc "delete" 0
}

check_bad_ranges() {
    # One past the granted range.
    new_uid
    ubundle "$ID" "$RANGES" '.linux.uidMappings[1].hostID = (($ENV.SUB_UID|tonumber) + ($ENV.SUB_COUNT|tonumber) - 10) | .linux.uidMappings[1].size = 20' \
        "$(args_filter true)"
    capture uoci run --bundle "$BUNDLE" "$ID"
    assert_nonzero_rc "host ids outside /etc/subuid are refused"
    assert_contains "message names the range" "$ERR" "linux.uidMappings[1]: host ids $((SUB_UID + SUB_COUNT - 10))-$((SUB_UID + SUB_COUNT + 9)) are not allowed for user $U"
    assert_contains "message names the file" "$ERR" "/etc/subuid grants only $SUB_UID-$((SUB_UID + SUB_COUNT - 1))"
    assert_eq "nothing left: state" "" "$(ls -A "$XDG/skiff-oci")"
    assert_eq "nothing left: processes" "" "$(user_processes)"
    # Someone else's id.
    new_uid
    ubundle "$ID" "$RANGES" '.linux.gidMappings[1].hostID = 0 | .linux.gidMappings[1].size = 1' "$(args_filter true)"
    capture uoci run --bundle "$BUNDLE" "$ID"
    assert_nonzero_rc "gid 0 of the host is refused"
    assert_contains "gid message" "$ERR" "linux.gidMappings[1]: host ids 0 are not allowed for user $U"
    # Without the helpers.
    new_uid
    ubundle "$ID" "$RANGES" "$(args_filter true)"
    USER_PATH=/nonexistent capture uoci run --bundle "$BUNDLE" "$ID"
    assert_nonzero_rc "no newuidmap on PATH"
    assert_contains "missing helper: message" "$ERR" "newuidmap not found on PATH"
    assert_contains "missing helper: names the package" "$ERR" "package uidmap"
    assert_eq "nothing left: state" "" "$(ls -A "$XDG/skiff-oci")"
    assert_eq "nothing left: processes" "" "$(user_processes)"
}

check_limits_need_a_cgroup() {
    new_uid
    ubundle "$ID" '.linux.resources = {memory: {limit: 67108864}}' "$(args_filter true)"
    capture uoci run --bundle "$BUNDLE" "$ID"
    assert_nonzero_rc "limits without a writable cgroup are an error"
    assert_contains "limits: message" "$ERR" "a rootless container needs a cgroup for its limits"
    assert_eq "nothing left: state" "" "$(ls -A "$XDG/skiff-oci")"
    assert_eq "nothing left: processes" "" "$(user_processes)"
}

# A delegated subtree: a cgroup in every hierarchy chown'ed to the user, as systemd's Delegate=
# does on cgroup2. The user's skiff-oci runs from a cgroup2 leaf inside it, since moving a
# process needs the common ancestor's cgroup.procs writable.
check_delegated_cgroup() {
    local name=skiff-deleg-$$ roots=() r unified='' caller
    mapfile -t roots < <(awk '$9 == "cgroup" || $9 == "cgroup2" {print $5}' /proc/self/mountinfo | sort -u)
    for r in "${roots[@]}"; do
        mkdir "$r/$name" || die "mkdir $r/$name"
        on_cleanup "rmdir $r/$name/caller $r/$name"
        chown -R "$U:$U" "$r/$name"
        [[ $(stat -fc %T "$r") == cgroup2fs ]] && unified=$r
    done
    caller=$unified/$name/caller
    if [[ -n $unified ]]; then
        mkdir "$caller" && chown -R "$U:$U" "$caller"
    fi
    # Runs the user's skiff-oci from the delegated cgroup2 leaf.
    doci() {
        timeout -k 5 "$OCI_TIMEOUT" sh -c '[ -z "$1" ] || echo $$ > "$1/cgroup.procs"; shift; exec "$@"' \
            sh "${unified:+$caller}" setpriv --reuid "$U" --regid "$U" --init-groups --reset-env \
            env XDG_RUNTIME_DIR="$XDG" PATH=/usr/bin:/bin SKIFF_TEST_MARK="$SKIFF_TEST_MARK" \
            "$UDIR/skiff-oci" "$@"
    }
    new_uid
    ubundle "$ID" ".linux.cgroupsPath = \"/$name/c1\" | .linux.resources = {memory: {limit: 67108864}, pids: {limit: 50}}" \
        "$(args_filter sleep 1000)"
    capture doci run --detach --bundle "$BUNDLE" "$ID"
    assert_rc "run in a delegated cgroup" 0
    assert_not_contains "no warning: the cgroup is there" "$ERR" "warning"
    local mem pids
    mem=$(awk '$9 == "cgroup" && $NF ~ /(^|,)memory(,|$)/ {print $5; exit}' /proc/self/mountinfo)
    pids=$(awk '$9 == "cgroup" && $NF ~ /(^|,)pids(,|$)/ {print $5; exit}' /proc/self/mountinfo)
    local pid
    pid=$(uoci state "$ID" | jq -r .pid)
    if [[ -n $mem ]]; then
        assert_eq "memory limit applied in the delegated cgroup" 67108864 "$(cat "$mem/$name/c1/memory.limit_in_bytes" 2>/dev/null)"
        assert_contains "the init is in it" "$(cat "$mem/$name/c1/cgroup.procs" 2>/dev/null)" "$pid"
    else
        assert_eq "memory limit applied in the delegated cgroup" 67108864 "$(cat "$unified/$name/c1/memory.max" 2>/dev/null)"
    fi
    [[ -z $pids ]] || assert_eq "pids limit applied" 50 "$(cat "$pids/$name/c1/pids.max" 2>/dev/null)"
    [[ -z $unified ]] || assert_contains "the init is in the cgroup2 dir too" "$(cat "$unified/$name/c1/cgroup.procs")" "$pid"
    capture doci exec "$ID" true
    assert_rc "exec into the delegated cgroup" 0
    capture doci delete --force "$ID"
    assert_rc "delete" 0
    local left=''
    for r in "${roots[@]}"; do [[ ! -d $r/$name/c1 ]] || left+=" $r/$name/c1"; done
    assert_eq "delete removed the cgroup in every hierarchy" "" "$left"
}

check_nothing_left() {
    assert_eq "no state under \$XDG_RUNTIME_DIR/skiff-oci" "" "$(ls -A "$XDG/skiff-oci" 2>/dev/null)"
    assert_eq "no process of $U" "" "$(user_processes)"
    assert_eq "no mount under the user's dirs" "" "$(mounts_under "$UDIR")"
}

check_spec
check_run
check_lifecycle
check_subordinate_ranges
check_bad_ranges
check_limits_need_a_cgroup
check_delegated_cgroup
check_nothing_left
check_no_leaks "rootless"
