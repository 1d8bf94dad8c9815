# Tests the container process: args/env/cwd, user and groups, umask, rlimits, capabilities, no_new_privs, seccomp, oom score, stdin.
source "$(dirname "$0")/lib.sh"

DOCKER_CAPS='["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"]'
STATUS_FIELDS='grep -E "^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):" /proc/self/status'

status_field() { awk -v f="$1:" '$1 == f {print $2}' <<<"$OUT"; }

check_args_env_cwd() {
    new_id
    run_in "$ID" '.process.env += ["GREETING=hello world"]' '.process.cwd = "/tmp"' \
        -- sh -c 'echo "args: $0 $1"; echo "env: $GREETING"; echo "cwd: $(pwd)"' first second
    assert_rc "args/env/cwd: run" 0
    assert_contains "args passed" "$OUT" "args: first second"
    assert_contains "env passed" "$OUT" "env: hello world"
    assert_contains "cwd set" "$OUT" "cwd: /tmp"
}

check_user_and_groups() {
    new_id
    run_in "$ID" '.process.user = {"uid": 1000, "gid": 1000, "additionalGids": [5, 65534]}' \
        -- sh -c 'id -u; id -g; id -G'
    assert_rc "user: run" 0
    assert_eq "user: uid" 1000 "$(sed -n 1p <<<"$OUT")"
    assert_eq "user: gid" 1000 "$(sed -n 2p <<<"$OUT")"
    local groups
    groups=" $(sed -n 3p <<<"$OUT") "
    assert_contains "user: additional gid 5" "$groups" " 5 "
    assert_contains "user: additional gid 65534" "$groups" " 65534 "
    assert_not_contains "user: no root group" "$groups" " 0 "
}

check_umask() {
    new_id
    run_in "$ID" '.process.user.umask = 23' -- sh -c umask
    assert_rc "umask: run" 0
    assert_eq "umask 23 (octal 027)" 0027 "$OUT"
}

check_rlimits() {
    new_id
    run_in "$ID" -- sh -c 'ulimit -n'
    assert_eq "rlimit: default spec NOFILE" 1024 "$OUT"
    new_id
    run_in "$ID" '.process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": 2048, "hard": 4096}, {"type": "RLIMIT_NPROC", "soft": 300, "hard": 300}]' \
        -- sh -c 'ulimit -n; ulimit -Hn; ulimit -u'
    assert_rc "rlimit: run" 0
    assert_eq "rlimit: custom NOFILE soft, hard, NPROC" "2048
4096
300" "$OUT"
}

check_docker_capabilities() {
    local set
    new_id
    run_in "$ID" ".process.capabilities = {bounding: $DOCKER_CAPS, effective: $DOCKER_CAPS, permitted: $DOCKER_CAPS, inheritable: $DOCKER_CAPS, ambient: $DOCKER_CAPS}" \
        -- sh -c "$STATUS_FIELDS"
    assert_rc "capabilities: run" 0
    for set in CapBnd CapEff CapPrm CapInh CapAmb; do
        assert_eq "capabilities: Docker's 14 in $set" 00000000a80425fb "$(status_field "$set")"
    done
}

check_custom_capabilities() {
    local caps='["CAP_NET_ADMIN","CAP_SYS_TIME","CAP_KILL"]'
    new_id
    run_in "$ID" ".process.capabilities = {bounding: $caps, effective: $caps, permitted: $caps, inheritable: [], ambient: []}" \
        -- sh -c "$STATUS_FIELDS"
    assert_rc "custom capabilities: run" 0
    local set
    for set in CapBnd CapEff CapPrm; do
        assert_eq "custom capabilities: $set" 0000000002001020 "$(status_field "$set")"
    done
    assert_eq "custom capabilities: CapInh" 0000000000000000 "$(status_field CapInh)"
    assert_eq "custom capabilities: CapAmb" 0000000000000000 "$(status_field CapAmb)"
}

check_default_spec_security() {
    new_id
    run_in "$ID" -- sh -c "$STATUS_FIELDS"
    assert_rc "default spec: run" 0
    assert_eq "default spec: NoNewPrivs" 1 "$(status_field NoNewPrivs)"
    # runc's `spec` has no seccomp profile (skiff's default spec has Docker's): fails on runc.
    assert_eq "default spec: Seccomp filter mode" 2 "$(status_field Seccomp)"
}

check_oom_score_adj() {
    new_id
    run_in "$ID" '.process.oomScoreAdj = 500' -- cat /proc/self/oom_score_adj
    assert_rc "oomScoreAdj: run" 0
    assert_eq "oomScoreAdj read back" 500 "$OUT"
}

check_stdin_piped() {
    new_id
    bundle_for "$ID" -- sh -c 'read -r line; echo "got: $line"'
    RC=0
    OUT=$(printf 'piped-input\n' | oci run --bundle "$BUNDLE" "$ID" 2>"$TMP/stdin.err") || RC=$?
    ERR=$(<"$TMP/stdin.err")
    assert_rc "terminal=false with piped stdin: run" 0
    assert_eq "terminal=false: stdin reaches the process" "got: piped-input" "$OUT"
}

check_args_env_cwd
check_user_and_groups
check_umask
check_rlimits
check_docker_capabilities
check_custom_capabilities
check_default_spec_security
check_oom_score_adj
check_stdin_piped
