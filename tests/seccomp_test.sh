# Tests seccomp: the default spec's profile refuses dangerous syscalls; errnoRet and defaultAction ALLOW profiles work.
source "$(dirname "$0")/lib.sh"

PROBE=$SKIFF_BUILD/fixtures/probe
PROBE_SYSCALLS=(unshare mount keyctl bpf userfaultfd io_uring_setup kexec_load clone3 ptrace setns swapon reboot init_module)
# The probe's directory is bind-mounted read-only at /mnt, so /mnt/probe runs inside.
MOUNT_PROBE=".mounts += [{\"destination\": \"/mnt\", \"type\": \"bind\", \"source\": \"$SKIFF_BUILD/fixtures\", \"options\": [\"rbind\", \"ro\"]}]"
DEFAULT_SECCOMP='.'

build_probe() {
    [[ -x $PROBE && $PROBE -nt $FIXTURES/probe.c ]] && return
    command -v cc >/dev/null || die "cc not found (apt-get install gcc libc6-dev)"
    (
        flock 9
        [[ -x $PROBE && $PROBE -nt $FIXTURES/probe.c ]] && exit 0
        cc -static -O2 -o "$PROBE.tmp.$$" "$FIXTURES/probe.c" && mv "$PROBE.tmp.$$" "$PROBE"
    ) 9>"$PROBE.lock" || die "building $PROBE from probe.c failed"
}

# runc's `spec` has no seccomp profile (skiff's default spec has Docker's). Then the required
# check fails, and the rest runs with tests/fixtures/seccomp-docker.json so it still means something.
check_default_spec_has_profile() {
    local dir=$TMP/spec-only
    mkdir -p "$dir"
    (cd "$dir" && "$SKIFF_OCI" spec)
    if jq -e '.linux.seccomp.defaultAction' "$dir/config.json" >/dev/null; then
        ok "default spec has a seccomp profile"
    else
        fail "default spec has no linux.seccomp profile (continuing with tests/fixtures/seccomp-docker.json)"
        DEFAULT_SECCOMP=".linux.seccomp = $(jq -c . "$FIXTURES/seccomp-docker.json")"
    fi
}

check_busybox_operations_refused() {
    new_id
    run_in "$ID" "$DEFAULT_SECCOMP" -- sh -c '
        unshare -n true 2>&1; echo "unshare rc=$?"
        mount -t tmpfs none /tmp 2>&1; echo "mount rc=$?"
        hostname foo 2>&1; echo "hostname rc=$?; now $(hostname)"'
    assert_rc "busybox probes: run" 0
    local op
    for op in unshare mount hostname; do
        assert_not_contains "$op refused" "$OUT" "$op rc=0"
    done
    assert_match "unshare -n: Operation not permitted" 'unshare.*Operation not permitted' "$OUT"
    assert_match "mount tmpfs: Operation not permitted" 'mount.*(Operation not permitted|permission denied)' "$OUT"
    assert_not_contains "hostname unchanged" "$OUT" "now foo"
}

check_probe_syscalls_refused() {
    local name got want
    new_id
    run_in "$ID" "$DEFAULT_SECCOMP" "$MOUNT_PROBE" -- /mnt/probe "${PROBE_SYSCALLS[@]}"
    assert_rc "syscall probe: run" 0
    for name in "${PROBE_SYSCALLS[@]}"; do
        got=$(awk -v n="$name" '$1 == n {print $2}' <<<"$OUT")
        want=errno=1 # EPERM
        [[ $name == clone3 ]] && want=errno=38 # ENOSYS, so libcs fall back to clone, which is filtered
        assert_eq "default profile refuses $name" "$want" "$got"
    done
}

check_errno_ret() {
    new_id
    run_in "$ID" "$MOUNT_PROBE" \
        '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 99}]}' \
        -- sh -c '/mnt/probe getcwd; busybox pwd 2>&1; exit 0'
    assert_rc "errnoRet profile: run" 0
    assert_contains "errnoRet 99 returned by getcwd" "$OUT" "getcwd errno=99"
    # The pwd applet (not ash's builtin, which prints nothing) reports strerror(99).
    assert_contains "pwd fails with EADDRNOTAVAIL" "$OUT" "Cannot assign requested address"
}

check_default_allow() {
    new_id
    run_in "$ID" "$MOUNT_PROBE" '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW"}' \
        -- sh -c 'echo allowed; /mnt/probe getcwd; grep Seccomp: /proc/self/status'
    assert_rc "defaultAction ALLOW: run" 0
    assert_contains "defaultAction ALLOW: runs" "$OUT" allowed
    assert_contains "defaultAction ALLOW: getcwd works" "$OUT" "getcwd errno=0"
}

[[ $(awk '/^Seccomp:/ {print $2}' /proc/self/status) ]] || skip "kernel without seccomp"
build_probe
check_default_spec_has_profile
check_busybox_operations_refused
check_probe_syscalls_refused
check_errno_ret
check_default_allow
