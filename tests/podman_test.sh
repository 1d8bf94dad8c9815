# Tests that podman drives skiff-oci unchanged: run, run -d + exec, kill, stop, pause/unpause, -t, --memory, rm.
# podman has its own store, run and tmp dirs and file locks under the test's temp dir, and is pointed at
# skiff-oci by a containers.conf of the test (the lines README.md documents). Podman as root passes no
# --root to its runtime, so skiff-oci keeps its state in its default /run/skiff-oci, as it would in use.
source "$(dirname "$0")/lib_callers.sh"
require_tools podman conmon tar

PM=$TMP/podman
PM_CONF=$TMP/containers.conf
IMAGE=localhost/skiff-test/busybox:latest
OCI_STATE=/run/skiff-oci # skiff-oci's default --root
CG_PARENT=skiff-t-$$     # every container's cgroup (and conmon's) goes below /$CG_PARENT
# This host's bounding set lacks CAP_SYS_RESOURCE: podman's default hard limits (nofile 1048576)
# cannot be set by runc either, so every run lowers them.
RUN_OPTS=(--network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --cgroup-parent "/$CG_PARENT")

mkdir -p "$PM/net" "$PM/tmp"
cat >"$PM_CONF" <<EOF
[containers]
log_driver = "k8s-file"

[engine]
runtime = "skiff"
runtime_supports_json = ["crun", "runc", "kata", "runsc", "youki", "krun", "skiff"]
cgroup_manager = "cgroupfs"
events_logger = "file"
lock_type = "file"
image_copy_tmp_dir = "$PM/tmp"

[engine.runtimes]
skiff = ["$SKIFF_OCI"]
EOF

pm() {
    timeout -k 5 60 env CONTAINERS_CONF="$PM_CONF" podman --root "$PM/root" --runroot "$PM/run" \
        --tmpdir "$PM/tmp" --network-config-dir "$PM/net" --storage-driver overlay "$@"
}

# At exit, last-first and before lib.sh's leak check: podman removes its containers, skiff-oci
# deletes what podman left of the test's detached ones, the processes and cgroups below the parent
# go; at the very end /run/skiff-oci, if this test made it.
PM_IDS=()
delete_left_runtime_state() {
    local id
    for id in "${PM_IDS[@]}"; do [[ -e $OCI_STATE/$id ]] && "$SKIFF_OCI" delete --force "$id"; done
    return 0
}
keep_host_dir "$OCI_STATE"
on_teardown "remove_cgroup_tree '$CG_PARENT'"
on_teardown delete_left_runtime_state
on_teardown "pm rm -af -t 0; pm rmi -af"

inspect() { pm inspect --format "$2" "$1" 2>/dev/null || true; }
logs_contain() { [[ $(pm logs "$1" 2>/dev/null) == *"$2"* ]]; }
status_of() { inspect "$1" '{{.State.Status}}'; }
is_status() { [[ $(status_of "$1") == "$2" ]]; }
oci_state_gone() { [[ ! -e $OCI_STATE/$1 ]]; }

# host_memory_limit CGROUP-PATH: the memory limit the host's cgroup (v1 or v2) has for a path.
host_memory_limit() {
    cat "/sys/fs/cgroup/memory$1/memory.limit_in_bytes" 2>/dev/null ||
        cat "/sys/fs/cgroup$1/memory.max" 2>/dev/null || echo "<no memory cgroup at $1>"
}
# cgroup_path_of PID: the process's memory cgroup (v1) or unified one.
cgroup_path_of() {
    awk -F: '$2 ~ /(^|,)memory(,|$)/ { print $3; found = 1 } END { if (!found) exit 1 }' "/proc/$1/cgroup" 2>/dev/null ||
        awk -F: '$1 == "0" { print $3 }' "/proc/$1/cgroup" 2>/dev/null
}

import_image() {
    tar -C "$ROOTFS" -c . | pm import - "$IMAGE" >"$TMP/import.out" 2>&1 ||
        die "podman import of the busybox rootfs failed: $(cat "$TMP/import.out")"
}

check_run() {
    capture pm run --rm "${RUN_OPTS[@]}" --name p-run "$IMAGE" sh -c 'echo out; echo err >&2; exit 3'
    assert_rc "run: the container's exit code" 3
    assert_eq "run: stdout" out "$OUT"
    assert_contains "run: stderr" "$ERR" err
    assert_not_contains "run: no runtime error logged" "$ERR" "level=error"
    capture pm ps -a --format '{{.Names}}'
    assert_not_contains "run --rm: container removed" "$OUT" p-run

    # The runtime given as a path on podman's command line, not by name from containers.conf.
    capture pm --runtime "$SKIFF_OCI" run --rm "${RUN_OPTS[@]}" "$IMAGE" cat /etc/hostname
    assert_rc "run with --runtime PATH" 0
    assert_match "run with --runtime PATH: the container's hostname" '^[0-9a-f]{12}$' "$OUT"
}

# A create that fails in skiff-oci: conmon passed --log-format json --log FILE and reads skiff-oci's
# error back from it; podman maps "not found" to 127. The cleanup's delete --force of the container
# skiff-oci never made must not be logged as an error (runc's delete --force of a missing one exits 0).
check_failed_create() {
    capture pm run --rm "${RUN_OPTS[@]}" --name p-fail "$IMAGE" /no/such/binary
    assert_rc "run of a missing binary: exit 127" 127
    assert_contains "the error is skiff-oci's, from its JSON log" "$ERR" 'create container'
    assert_not_contains "conmon parsed the log line (no raw JSON shown)" "$ERR" '"level"'
    assert_contains "the error names the binary" "$ERR" '/no/such/binary'
    assert_not_contains "no failed delete of the never-created container" "$ERR" 'does not exist'
    capture pm ps -a --format '{{.Names}}'
    assert_not_contains "failed run: container removed" "$OUT" p-fail
}

SIGNAL_LOOP='trap "echo got-usr1" USR1; trap "echo got-term; exit 0" TERM; echo ready; while :; do sleep 1000 & wait $!; done'

check_detached() {
    local id pid cg t0
    capture pm run -d "${RUN_OPTS[@]}" --name p-main --memory 64m -e FOO=bar -w /tmp "$IMAGE" sh -c "$SIGNAL_LOOP"
    assert_rc "run -d" 0
    id=$OUT
    PM_IDS+=("$id")
    [[ $id =~ ^[0-9a-f]{64}$ ]] || die "run -d printed no container id: $OUT $ERR"
    wait_until 10 logs_contain p-main ready || fail "run -d: the container did not print ready"
    assert_eq "run -d: the runtime is skiff" skiff "$(inspect p-main '{{.OCIRuntime}}')"
    assert_eq "run -d: running" running "$(status_of p-main)"
    [[ -d $OCI_STATE/$id ]] && ok "run -d: skiff-oci's state dir $OCI_STATE/<id>" || fail "run -d: no $OCI_STATE/$id"
    capture "$SKIFF_OCI" state "$id"
    assert_eq "skiff-oci state: running" running "$(jq -r .status <<<"$OUT" 2>/dev/null)"
    pid=$(jq -r .pid <<<"$OUT" 2>/dev/null)
    assert_eq "skiff-oci state: the pid podman knows" "$(inspect p-main '{{.State.Pid}}')" "$pid"

    # --memory 64m: seen in the host's cgroup of the container and from inside.
    cg=$(cgroup_path_of "$pid")
    assert_eq "--memory: cgroup under the --cgroup-parent" "/$CG_PARENT/libpod-$id" "$cg"
    assert_eq "--memory: the host's cgroup limit" 67108864 "$(host_memory_limit "$cg")"
    capture pm exec p-main sh -c 'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes'
    assert_eq "--memory: the limit seen inside" 67108864 "$OUT"

    # exec: output, exit code, the container's env and workdir, and its own -e/-w/-u.
    capture pm exec p-main sh -c 'echo "$FOO"; pwd; exit 4'
    assert_rc "exec: the process's exit code" 4
    assert_eq "exec: env and workdir of the container" "bar
/tmp" "$OUT"
    capture pm exec -e X=1 -w /etc -u 1000 p-main sh -c 'echo "$X $FOO"; pwd; id -u'
    assert_rc "exec -e -w -u" 0
    assert_eq "exec -e -w -u: env, cwd, uid" "1 bar
/etc
1000" "$OUT"
    capture pm exec p-main /no/such/binary
    assert_rc "exec of a missing binary: 127" 127
    capture pm exec -t p-main sh -c 'tty; test -t 0 && test -t 1 && echo tty-in-out'
    assert_rc "exec -t" 0
    assert_match "exec -t: a terminal" '^/dev/pts/[0-9]+' "${OUT//$'\r'/}"
    assert_contains "exec -t: stdin and stdout" "${OUT//$'\r'/}" tty-in-out

    # kill: the signal reaches the container's process, which lives on.
    capture pm kill -s USR1 p-main
    assert_rc "kill -s USR1" 0
    wait_until 10 logs_contain p-main got-usr1 && ok "kill: the container got SIGUSR1" || fail "kill: no got-usr1 in the logs"
    assert_eq "kill USR1: still running" running "$(status_of p-main)"

    check_pause_unpause p-main "$id"

    # stop: SIGTERM, handled well before the 10 s grace period ends; podman then deletes the runtime's
    # container (skiff-oci's state) but keeps its own until rm.
    t0=$SECONDS
    capture pm stop -t 10 p-main
    assert_rc "stop" 0
    ((SECONDS - t0 < 8)) && ok "stop: graceful (SIGTERM), not the SIGKILL after 10 s" || fail "stop took $((SECONDS - t0)) s"
    assert_contains "stop: the container got SIGTERM" "$(pm logs p-main 2>&1)" got-term
    assert_eq "stop: exited" exited "$(status_of p-main)"
    assert_eq "stop: exit code of the TERM trap" 0 "$(inspect p-main '{{.State.ExitCode}}')"
    wait_until 10 oci_state_gone "$id" && ok "stop: skiff-oci's state deleted" || fail "stop: $OCI_STATE/$id left"
    wait_until 5 proc_gone "$pid" && ok "stop: process gone" || fail "stop: pid $pid alive"

    capture pm rm p-main
    assert_rc "rm" 0
    assert_eq "rm: the cgroup is gone" "" "$(host_cgroup_dirs "libpod-$id")"
    assert_eq "rm: podman knows no p-main" "" "$(inspect p-main '{{.Id}}')"
}

# podman pause/unpause: skiff-oci pause and resume.
check_pause_unpause() {
    local name=$1 id=$2 freezer=/sys/fs/cgroup/freezer/$CG_PARENT/libpod-$2/freezer.state
    capture pm pause "$name"
    assert_rc "pause" 0
    assert_eq "pause: podman says paused" paused "$(status_of "$name")"
    capture "$SKIFF_OCI" state "$id"
    assert_eq "pause: skiff-oci says paused" paused "$(jq -r .status <<<"$OUT" 2>/dev/null)"
    [[ -e $freezer ]] && assert_eq "pause: freezer FROZEN" FROZEN "$(cat "$freezer")"
    capture pm unpause "$name"
    assert_rc "unpause" 0
    assert_eq "unpause: running" running "$(status_of "$name")"
    [[ -e $freezer ]] && assert_eq "unpause: freezer THAWED" THAWED "$(cat "$freezer")"
    capture pm exec "$name" echo alive
    assert_eq "unpause: exec works again" alive "$OUT"
}

check_kill_default() {
    local id
    capture pm run -d "${RUN_OPTS[@]}" --name p-kill "$IMAGE" sleep 1000
    assert_rc "run -d (for kill)" 0
    id=$OUT
    PM_IDS+=("$id")
    capture pm kill p-kill
    assert_rc "kill (default SIGKILL)" 0
    wait_until 10 is_status p-kill exited && ok "kill: exited" || fail "kill: p-kill is $(status_of p-kill)"
    assert_eq "kill: exit code 137" 137 "$(inspect p-kill '{{.State.ExitCode}}')"
    capture pm rm p-kill
    assert_rc "rm after kill" 0
    wait_until 10 oci_state_gone "$id" && ok "kill + rm: skiff-oci's state deleted" || fail "kill + rm: $OCI_STATE/$id left"
    assert_eq "kill + rm: cgroup gone" "" "$(host_cgroup_dirs "libpod-$id")"
}

check_tty() {
    capture pm run --rm -t "${RUN_OPTS[@]}" "$IMAGE" sh -c 'tty; test -t 0 && test -t 1 && echo tty-in-out; stty rows 30 cols 100; stty size'
    assert_rc "run -t" 0
    OUT=${OUT//$'\r'/}
    assert_match "run -t: tty prints a /dev/pts path" '^/dev/pts/[0-9]+$' "$(head -1 <<<"$OUT")"
    assert_contains "run -t: stdin and stdout are the terminal" "$OUT" tty-in-out
    assert_contains "run -t: the terminal takes a window size" "$OUT" "30 100"
}

check_rm_force_running() {
    local id pid
    capture pm run -d "${RUN_OPTS[@]}" --name p-rmf "$IMAGE" sleep 1000
    assert_rc "run -d (for rm -f)" 0
    id=$OUT
    PM_IDS+=("$id")
    pid=$(inspect p-rmf '{{.State.Pid}}')
    capture pm rm -f -t 0 p-rmf
    assert_rc "rm -f of a running container" 0
    wait_until 5 proc_gone "$pid" && ok "rm -f: process gone" || fail "rm -f: pid $pid alive"
    wait_until 10 oci_state_gone "$id" && ok "rm -f: skiff-oci's state deleted" || fail "rm -f: $OCI_STATE/$id left"
    assert_eq "rm -f: cgroup gone" "" "$(host_cgroup_dirs "libpod-$id")"
}

# Nothing of skiff-oci's or podman's containers is left: state, cgroups, conmon, mounts.
check_nothing_left() {
    local left
    capture pm ps -a -q
    assert_eq "podman has no containers left" "" "$OUT"
    wait_until 10 cgroup_has_no_procs "$CG_PARENT" && ok "no process left in /$CG_PARENT (containers, conmon)" ||
        fail "processes left in /$CG_PARENT: $(cgroup_procs "$CG_PARENT" | tr '\n' ' ')"
    left=$(find /sys/fs/cgroup/ -mindepth 2 -maxdepth 4 -type d -path "*/$CG_PARENT/libpod-*" 2>/dev/null)
    assert_eq "no container cgroup left" "" "$left"
    left=$(mounts_under "$PM/root/overlay" "$PM/run")
    assert_eq "no container rootfs mounted" "" "$left"
    assert_eq "no conmon left" "" "$(our_children conmon)"
}

step import_image
step check_run
step check_failed_create
step check_detached
step check_kill_default
step check_tty
step check_rm_force_running
step check_nothing_left
