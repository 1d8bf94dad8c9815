# Tests that containerd 1.6's runc shim drives skiff-oci unchanged (ctr run/exec/kill/ps/metrics/pause, -t, failures).
# The test starts its own containerd (root, state, sockets under its temp dir, no CRI plugin) and
# imports a one-layer image of the busybox rootfs (umoci, then an OCI archive for `ctr images import`);
# ctr runs every container with --runc-binary skiff-oci and a --runc-root of the test's.
source "$(dirname "$0")/lib_callers.sh"
require_tools containerd ctr containerd-shim-runc-v2 umoci tar script

CTD=$TMP/containerd
NS=skiff-t-$$ # containerd namespace; ctr puts each container's cgroup at /$NS/ID
RUNC_ROOT=$CTD/runc-root
IMAGE=localhost/skiff-test/busybox:v1
RUN_OPTS=(--runc-binary "$SKIFF_OCI" --runc-root "$RUNC_ROOT" --fifo-dir "$CTD/fifo")
CTD_PID=

mkdir -p "$CTD/fifo"
cat >"$CTD/config.toml" <<EOF
version = 2
root = "$CTD/root"
state = "$CTD/state"
# No CRI (kubelet's API), and none of the snapshotters this host lacks (aufs would run modprobe).
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "$CTD/containerd.sock"
[ttrpc]
  address = "$CTD/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CTD/opt"
EOF

c() { timeout -k 5 30 ctr --address "$CTD/containerd.sock" --namespace "$NS" "$@"; }

# The shims keep their sockets in /run/containerd/s whatever the config says; the dirs go if we made them.
keep_host_dir /run/containerd
keep_host_dir /run/containerd/s
keep_host_dir /run/containerd/fifo
on_teardown "remove_cgroup_tree '$NS'"

# stop_containerd: TERM to the containerd we started, then the shims it left (our adopted children).
stop_containerd() {
    local pid
    if [[ -n $CTD_PID ]]; then
        kill -TERM "$CTD_PID" 2>/dev/null
        wait_until 10 proc_gone "$CTD_PID" || kill -KILL "$CTD_PID" 2>/dev/null
        wait "$CTD_PID" 2>/dev/null
        CTD_PID=
    fi
    for pid in $(our_children containerd-shim); do kill -KILL "$pid" 2>/dev/null; done
    return 0
}
# At exit, before the cgroup removal above and lib.sh's leak check: containers, the daemon, then
# mounts left under the temp dir.
unmount_leftovers() {
    local m
    for m in $(findmnt -rn -o TARGET | grep -F "$CTD/" | sort -r); do umount "$m" 2>/dev/null || umount -l "$m"; done
}
on_teardown unmount_leftovers
on_teardown stop_containerd
# Tasks and containers left by a failed check, while containerd runs (ctr would wait for it otherwise).
remove_containers() {
    local id
    [[ -n $CTD_PID ]] || return 0
    for id in $(c task ls -q 2>/dev/null); do c task kill -s KILL "$id"; c task rm -f "$id"; done
    for id in $(c containers ls -q 2>/dev/null); do c containers rm "$id"; done
    return 0
}
on_teardown remove_containers

start_containerd() {
    containerd --config "$CTD/config.toml" >"$CTD/containerd.log" 2>&1 &
    CTD_PID=$!
    wait_until 15 c version >/dev/null 2>&1 ||
        die "containerd did not answer on $CTD/containerd.sock: $(tail -20 "$CTD/containerd.log")"
}

import_image() {
    local layout=$CTD/oci bundle=$CTD/umoci-bundle
    umoci init --layout "$layout"
    umoci new --image "$layout:v1"
    umoci unpack --image "$layout:v1" "$bundle" >/dev/null
    cp -a "$ROOTFS/." "$bundle/rootfs/"
    umoci repack --image "$layout:v1" "$bundle"
    rm -rf "$bundle"
    tar -C "$layout" -cf "$CTD/image.tar" .
    capture c images import --base-name "${IMAGE%:*}" "$CTD/image.tar"
    [[ $RC == 0 ]] || die "ctr images import failed: $ERR"
    capture c images ls -q
    assert_eq "the image is imported" "$IMAGE" "$OUT"
}

task_status() { c task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $3 }'; }
task_pid() { c task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $2 }'; }
is_task_status() { [[ $(task_status "$1") == "$2" ]]; }
oci_state() { "$SKIFF_OCI" --root "$RUNC_ROOT/$NS" state "$1" 2>/dev/null | jq -r ".${2:-status}" 2>/dev/null || true; }
oci_state_gone() { [[ ! -e $RUNC_ROOT/$NS/$1 ]]; }
# exec_in [EXEC-OPTION...] ID -- CMD...: runs CMD in the task with a fresh exec id; OUT, ERR, RC as capture.
EXEC_SEQ=0
exec_in() {
    local opts=()
    while [[ $1 != -- ]]; do opts+=("$1"); shift; done
    shift
    EXEC_SEQ=$((EXEC_SEQ + 1))
    capture c task exec --exec-id "e$EXEC_SEQ" --fifo-dir "$CTD/fifo" "${opts[@]}" "$@"
}
log_has() { exec_in "$1" -- cat /tmp/log; [[ $OUT == *"$2"* ]]; }

check_run() {
    capture c run --rm "${RUN_OPTS[@]}" "$IMAGE" c-run sh -c 'echo out; echo err >&2; exit 3'
    assert_rc "run --rm: the container's exit code" 3
    assert_eq "run --rm: stdout" out "$OUT"
    assert_eq "run --rm: stderr" err "$ERR"
    capture c c ls -q
    assert_not_contains "run --rm: container removed" "$OUT" c-run
    oci_state_gone c-run && ok "run --rm: skiff-oci's state removed" || fail "run --rm: $RUNC_ROOT/$NS/c-run left"
}

# The shim passes --log FILE --log-format json and reports the last error skiff-oci logged there.
check_failed_create() {
    capture c run --rm "${RUN_OPTS[@]}" "$IMAGE" c-fail /no/such/binary
    assert_nonzero_rc "run of a missing binary fails"
    assert_contains "the error is skiff-oci's, from its JSON log" "$ERR" "create container c-fail"
    assert_contains "the error names the binary" "$ERR" "/no/such/binary"
    c c rm c-fail >/dev/null 2>&1 || true
    oci_state_gone c-fail && ok "failed create: no skiff-oci state" || fail "failed create: $RUNC_ROOT/$NS/c-fail left"
}

SIGNAL_LOOP='trap "echo got-usr1 >>/tmp/log" USR1; trap "echo got-term >>/tmp/log; exit 0" TERM; echo ready >/tmp/log; while :; do sleep 1000 & wait $!; done'

check_detached() {
    local pid cg line p
    capture c run -d --null-io --memory-limit 67108864 "${RUN_OPTS[@]}" "$IMAGE" c-main sh -c "$SIGNAL_LOOP"
    assert_rc "run -d" 0
    wait_until 10 is_task_status c-main RUNNING && ok "run -d: RUNNING" || die "run -d: c-main is '$(task_status c-main)'"
    pid=$(task_pid c-main)
    assert_eq "skiff-oci's state (under --runc-root/NS): running" running "$(oci_state c-main)"
    assert_eq "skiff-oci's state: the pid containerd knows" "$pid" "$(oci_state c-main pid)"
    wait_until 10 log_has c-main ready && ok "run -d: the process runs" || fail "run -d: no ready in /tmp/log"

    # --memory-limit: the host's cgroup, and the shim's metrics (read from that cgroup).
    cg=/$NS/c-main
    assert_contains "the process is in cgroup $cg" "$(cat "/proc/$pid/cgroup" 2>/dev/null)" ":$cg"
    assert_eq "--memory-limit: the host's cgroup limit" 67108864 \
        "$(cat "/sys/fs/cgroup/memory$cg/memory.limit_in_bytes" 2>/dev/null || cat "/sys/fs/cgroup$cg/memory.max" 2>/dev/null)"
    capture c task metrics c-main
    assert_rc "task metrics" 0
    assert_match "task metrics: the memory limit" '(memory\.limit_in_bytes|memory\.max|limit)[^0-9]*67108864' "$OUT"
    assert_match "task metrics: pids counted" 'pids\.current +[1-9]' "$OUT"

    # exec: output, exit code, --cwd and --user, and a binary that is not there.
    exec_in c-main -- sh -c 'echo "$PATH"; pwd; exit 5'
    assert_rc "exec: the process's exit code" 5
    assert_eq "exec: env and cwd of the container" "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
/" "$OUT"
    exec_in --cwd /etc --user 1000 c-main -- sh -c 'pwd; id -u'
    assert_rc "exec --cwd --user" 0
    assert_eq "exec --cwd --user: cwd, uid" "/etc
1000" "$OUT"
    exec_in c-main -- /no/such/binary
    assert_nonzero_rc "exec of a missing binary fails"
    assert_contains "exec of a missing binary: skiff-oci's error" "$ERR" "/no/such/binary"

    # ps: skiff-oci ps --format json, seen through the shim: the init and a detached exec.
    EXEC_SEQ=$((EXEC_SEQ + 1))
    capture c task exec -d --exec-id "e$EXEC_SEQ" --fifo-dir "$CTD/fifo" c-main sleep 1000
    assert_rc "exec -d" 0
    capture c task ps c-main
    assert_rc "task ps" 0
    assert_match "task ps: the init" "^$pid " "$OUT"
    local procs n=0
    procs=$(cgroup_procs "$NS/c-main")
    while read -r p _; do
        [[ $p =~ ^[0-9]+$ ]] || continue
        n=$((n + 1))
        grep -qx "$p" <<<"$procs" || fail "task ps: pid $p is not in the container's cgroup"
    done <<<"$OUT"
    ((n == 3)) && ok "task ps: init, its sleep and the exec'd sleep" || fail "task ps: $n pids, not 3: $OUT"

    # kill: a signal to the init; it lives on.
    capture c task kill -s USR1 c-main
    assert_rc "task kill -s USR1" 0
    wait_until 10 log_has c-main got-usr1 && ok "kill: the init got SIGUSR1" || fail "kill: no got-usr1 in /tmp/log"
    assert_eq "kill USR1: still RUNNING" RUNNING "$(task_status c-main)"

    check_pause_resume c-main

    # kill (TERM by default): the trap exits 0, the shim reaps it and reports no error.
    capture c task kill c-main
    assert_rc "task kill (SIGTERM)" 0
    wait_until 10 is_task_status c-main STOPPED && ok "kill TERM: STOPPED" || fail "kill TERM: c-main is '$(task_status c-main)'"
    capture c task rm c-main
    assert_rc "task rm" 0
    assert_not_contains "task rm: exit code 0 (the TERM trap)" "$ERR" "non-zero exit code"
    capture c c rm c-main
    assert_rc "container rm" 0
    oci_state_gone c-main && ok "rm: skiff-oci's state removed" || fail "rm: $RUNC_ROOT/$NS/c-main left"
    wait_until 5 proc_gone "$pid" && ok "rm: process gone" || fail "rm: pid $pid alive"
    assert_eq "rm: cgroup gone" "" "$(find /sys/fs/cgroup/ -mindepth 2 -maxdepth 4 -type d -path "*/$NS/c-main" 2>/dev/null)"
}

# ctr task pause/resume: skiff-oci pause and resume.
check_pause_resume() {
    local id=$1 freezer=/sys/fs/cgroup/freezer/$NS/$1/freezer.state
    capture c task pause "$id"
    assert_rc "task pause" 0
    assert_eq "pause: PAUSED" PAUSED "$(task_status "$id")"
    assert_eq "pause: skiff-oci says paused" paused "$(oci_state "$id")"
    [[ -e $freezer ]] && assert_eq "pause: freezer FROZEN" FROZEN "$(cat "$freezer")"
    capture c task resume "$id"
    assert_rc "task resume" 0
    assert_eq "resume: RUNNING" RUNNING "$(task_status "$id")"
    [[ -e $freezer ]] && assert_eq "resume: freezer THAWED" THAWED "$(cat "$freezer")"
}

check_kill_sigkill() {
    capture c run -d --null-io "${RUN_OPTS[@]}" "$IMAGE" c-kill sleep 1000
    assert_rc "run -d (for kill)" 0
    capture c task kill -s KILL c-kill
    assert_rc "task kill -s KILL" 0
    wait_until 10 is_task_status c-kill STOPPED && ok "kill KILL: STOPPED" || fail "kill KILL: c-kill is '$(task_status c-kill)'"
    capture c task rm c-kill
    assert_contains "task rm: exit code 137" "$ERR" 137
    capture c c rm c-kill
    assert_rc "container rm after kill" 0
    oci_state_gone c-kill && ok "kill + rm: skiff-oci's state removed" || fail "kill + rm: $RUNC_ROOT/$NS/c-kill left"
}

# -t: ctr wants a terminal of its own, so it runs under script(1) with a 30x100 window; skiff-oci
# hands the container's terminal to the shim over --console-socket, and ctr's resize must reach it
# (it comes just after the start, so the container waits for it).
check_tty() {
    local cmd
    printf -v cmd '%q ' ctr --address "$CTD/containerd.sock" --namespace "$NS" run --rm -t "${RUN_OPTS[@]}" "$IMAGE" c-tty \
        sh -c 'tty; test -t 0 && test -t 1 && echo tty-in-out
               i=0; until [ "$(stty size 2>/dev/null)" = "30 100" ] || [ $i -ge 50 ]; do sleep 0.1; i=$((i + 1)); done
               echo "size $(stty size 2>&1)"; sleep 0.2; exit 7'
    # (The sleep: ctr may drop the last output of a -t task that exits at once, with runc too.)
    capture env SHELL=/bin/bash timeout -k 5 30 script -qec "stty rows 30 cols 100; exec $cmd" /dev/null
    assert_rc "run -t: the container's exit code" 7
    OUT=${OUT//$'\r'/}
    assert_match "run -t: tty prints a /dev/pts path" '/dev/pts/[0-9]+$' "$OUT"
    assert_contains "run -t: stdin and stdout are the terminal" "$OUT" tty-in-out
    assert_contains "run -t: ctr's window size reaches the terminal" "$OUT" "size 30 100"
    oci_state_gone c-tty && ok "run -t: skiff-oci's state removed" || fail "run -t: $RUNC_ROOT/$NS/c-tty left"
}

# After containerd is gone: no shim, state, cgroup or mount of the test's containers is left, and the
# shims' cleanup never had a delete --force refused (skiff-oci's of a gone container exits 0, as runc's).
check_nothing_left() {
    local left
    capture c c ls -q
    assert_eq "containerd has no containers left" "" "$OUT"
    stop_containerd
    assert_eq "no shim left once containerd is stopped" "" "$(our_children containerd-shim)"
    left=$(ls -A "$RUNC_ROOT/$NS" 2>/dev/null || true)
    assert_eq "no skiff-oci state left" "" "$left"
    wait_until 10 cgroup_has_no_procs "$NS" && ok "no process left in /$NS" ||
        fail "processes left in /$NS: $(cgroup_procs "$NS" | tr '\n' ' ')"
    left=$(find /sys/fs/cgroup/ -mindepth 2 -maxdepth 4 -type d -path "*/$NS/*" 2>/dev/null)
    assert_eq "no container cgroup left" "" "$left"
    left=$(findmnt -rn -o TARGET | grep -F "$CTD/" || true)
    assert_eq "no mount left under containerd's dirs" "" "$left"
    # (The 1.6 shim's cleanup sometimes reports "exit status 255" with no output for a runtime that
    # exited 0, runc as well: a race of its child reaper. Only skiff-oci's own refusals count here.)
    left=$(grep -E 'failed to remove runc container.*does not exist' "$CTD/containerd.log" || true)
    assert_eq "the shims logged no refused delete --force" "" "${left:0:2000}"
}

step start_containerd
step import_image
step check_run
step check_failed_create
step check_detached
step check_kill_sigkill
step check_tty
step check_nothing_left
