# Tests run/exec with process.terminal and no --console-socket: skiff-oci keeps the pty and relays it.
source "$(dirname "$0")/lib.sh"

PTY_RUN=$FIXTURES/pty-run
command -v python3 >/dev/null || die "python3 is needed to drive a pty"

# pty_run LABEL [pty-run options] -- CMD...: runs CMD on a new 33x111 pty; sets PTY (the JSON),
# PTY_OUT (what the terminal showed, \r stripped) and PTY_RC.
pty_run() {
    local label=$1
    shift
    PTY=$(timeout -k 5 60 "$PTY_RUN" --rows 33 --cols 111 "$@") || die "$label: pty-run failed"
    PTY_OUT=$(jq -r .output <<<"$PTY")
    PTY_RC=$(jq -r .rc <<<"$PTY")
    echo "--- $label: terminal showed:"; echo "$PTY_OUT"; echo "---"
}

# The outer terminal was raw while the relay ran and is back to its old mode after.
assert_mode_restored() { # LABEL
    local before during after
    before=$(jq -r .mode_before <<<"$PTY") during=$(jq -r .mode_during <<<"$PTY") after=$(jq -r .mode_after <<<"$PTY")
    assert_ne "$1: the outer terminal was switched (raw) while attached" "$before" "$during"
    assert_eq "$1: the outer terminal's mode is restored (stty -g before == after)" "$before" "$after"
}

# Only stdio (the container's pty) and ls's own directory fd: nothing of the relay (master,
# socketpair, signalfd) reaches the process.
assert_no_relay_fd() { # LABEL
    local fds
    fds=$(awk '/^l/ && $9 ~ /^[0-9]+$/ {print $9}' <<<"$PTY_OUT" | sort -n | xargs)
    assert_eq "$1: the process has fds 0 1 2 (and ls's 3) only" "0 1 2 3" "$fds"
    assert_match "$1: fds 0-2 are the container's pty" '^l.* 2 -> /dev/pts/[0-9]+$' "$PTY_OUT"
    assert_not_contains "$1: no fd past stdio has a target" "$PTY_OUT" " 3 -> "
    assert_not_contains "$1: no ptmx" "$PTY_OUT" ptmx
}

TTY_SCRIPT='tty; stty size; ls -l /proc/self/fd; echo READY; read -r line; echo "got:$line"; exit 7'

check_run_attached() {
    new_id
    bundle_for "$ID" '.process.terminal = true' -- sh -c "$TTY_SCRIPT"
    pty_run "run attached" --wait READY --send 'typed-line\r' -- \
        "$SKIFF_OCI" --root "$ROOT" run --bundle "$BUNDLE" "$ID"
    assert_match "run attached: tty is a pty of the container" '^/dev/pts/[0-9]+$' "$(sed -n 1p <<<"$PTY_OUT")"
    assert_contains "run attached: stty size is the outer terminal's" "$PTY_OUT" $'\n33 111\n'
    assert_contains "run attached: typed input reached the process" "$PTY_OUT" "got:typed-line"
    assert_eq "run attached: exit status passes through" 7 "$PTY_RC"
    assert_mode_restored "run attached"
    assert_no_relay_fd "run attached"
    assert_nothing_left "run attached: container removed" "$ID"
}

check_run_piped() {
    new_id
    bundle_for "$ID" '.process.terminal = true' -- sh
    local rc=0
    printf 'tty\necho "piped-$((6*7))"\nexit 4\n' | timeout -k 5 30 "$SKIFF_OCI" --root "$ROOT" run --bundle "$BUNDLE" "$ID" \
        >"$TMP/piped.out" 2>"$TMP/piped.err" || rc=$?
    local out; out=$(tr -d '\r' <"$TMP/piped.out")
    assert_eq "run piped: exit status passes through (stderr: $(<"$TMP/piped.err"))" 4 "$rc"
    assert_contains "run piped: piped commands ran" "$out" "piped-42"
    assert_match "run piped: the process has a tty" '^/dev/pts/[0-9]+$' "$out"
    # The end of the piped input is the terminal's end of file: sh exits on its own.
    new_id
    bundle_for "$ID" '.process.terminal = true' -- sh
    rc=0
    printf 'echo before-eof\n' | timeout -k 5 30 "$SKIFF_OCI" --root "$ROOT" run --bundle "$BUNDLE" "$ID" \
        >"$TMP/eof.out" 2>"$TMP/eof.err" || rc=$?
    assert_eq "run piped: no exit command, the input's end ends sh (not 124, a timeout)" 0 "$rc"
    assert_contains "run piped: the line before the end ran" "$(tr -d '\r' <"$TMP/eof.out")" "before-eof"
    assert_nothing_left "run piped: container removed" "$ID"
}

# A signal skiff-oci forwards ends the process; one it does not forward ends skiff-oci itself:
# either way the outer terminal gets its mode back.
check_run_signals() {
    new_id
    bundle_for "$ID" '.process.terminal = true' -- sh -c 'trap "echo got-term; exit 3" TERM; echo READY; while :; do sleep 0.1; done'
    pty_run "run, SIGTERM" --wait READY --signal SIGTERM -- "$SKIFF_OCI" --root "$ROOT" run --bundle "$BUNDLE" "$ID"
    assert_contains "run, SIGTERM: forwarded to the process" "$PTY_OUT" got-term
    assert_eq "run, SIGTERM: its exit status" 3 "$PTY_RC"
    assert_mode_restored "run, SIGTERM"
    new_id
    bundle_for "$ID" '.process.terminal = true' -- sh -c 'echo READY; sleep 1000'
    pty_run "run, SIGALRM" --wait READY --signal SIGALRM -- "$SKIFF_OCI" --root "$ROOT" run --bundle "$BUNDLE" "$ID"
    assert_eq "run, SIGALRM: skiff-oci died of it" $((128 + 14)) "$PTY_RC"
    assert_mode_restored "run, SIGALRM"
    oci delete --force "$ID" >/dev/null 2>&1 || true
}

check_exec_attached() {
    new_id
    local cid=$ID
    create_in "$cid" -- sleep 1000
    capture oci start "$cid"
    assert_rc "exec: start the container" 0
    pty_run "exec -t" --wait READY --send 'typed-line\r' -- \
        "$SKIFF_OCI" --root "$ROOT" exec -t "$cid" sh -c "$TTY_SCRIPT"
    assert_match "exec -t: tty is a pty of the container" '^/dev/pts/[0-9]+$' "$(sed -n 1p <<<"$PTY_OUT")"
    assert_contains "exec -t: stty size is the outer terminal's" "$PTY_OUT" $'\n33 111\n'
    assert_contains "exec -t: typed input reached the process" "$PTY_OUT" "got:typed-line"
    assert_eq "exec -t: exit status passes through" 7 "$PTY_RC"
    assert_mode_restored "exec -t"
    assert_no_relay_fd "exec -t"

    # process.terminal in --process FILE asks for it the same way.
    jq -n --arg script "$TTY_SCRIPT" '{terminal: true, cwd: "/", args: ["sh", "-c", $script],
        env: ["PATH=/bin:/sbin:/usr/bin"], user: {uid: 0, gid: 0}}' >"$TMP/process.json"
    pty_run "exec --process (terminal)" --wait READY --send 'from-process\r' -- \
        "$SKIFF_OCI" --root "$ROOT" exec --process "$TMP/process.json" "$cid"
    assert_contains "exec --process (terminal): typed input reached the process" "$PTY_OUT" "got:from-process"
    assert_eq "exec --process (terminal): exit status" 7 "$PTY_RC"
    assert_mode_restored "exec --process (terminal)"

    local rc=0 out
    printf 'echo "exec-piped-$((2+3))"\nexit 6\n' | timeout -k 5 30 "$SKIFF_OCI" --root "$ROOT" exec -t "$cid" sh \
        >"$TMP/exec-piped.out" 2>"$TMP/exec-piped.err" || rc=$?
    out=$(tr -d '\r' <"$TMP/exec-piped.out")
    assert_eq "exec -t piped: exit status (stderr: $(<"$TMP/exec-piped.err"))" 6 "$rc"
    assert_contains "exec -t piped: piped commands ran" "$out" "exec-piped-5"
    assert_eq "exec: the container still runs" running "$(state_of "$cid")"
    capture oci delete --force "$cid"
    assert_rc "exec: delete the container" 0
}

# With nothing in the foreground to relay to, a terminal needs --console-socket (runc's rule).
check_detached_needs_console_socket() {
    new_id
    bundle_for "$ID" '.process.terminal = true' -- true
    capture oci create --bundle "$BUNDLE" "$ID"
    assert_rc "create, terminal, no --console-socket: fails" 1
    assert_match "create: the message says why" 'cannot allocate a tty.*|detach.*console-socket' "$ERR"
    assert_nothing_left "create, terminal, no --console-socket" "$ID"
    capture oci run --detach --bundle "$BUNDLE" "$ID"
    assert_rc "run --detach, terminal, no --console-socket: fails" 1
    assert_match "run --detach: the message says why" 'detach.*console-socket' "$ERR"
    assert_nothing_left "run --detach, terminal, no --console-socket" "$ID"

    new_id
    local cid=$ID
    create_in "$cid" -- sleep 1000
    capture oci exec -d -t "$cid" true
    assert_rc "exec -d -t, no --console-socket: fails as exec does" 255
    assert_match "exec -d -t: the message says why" 'detach.*console-socket' "$ERR"
    oci delete --force "$cid" >/dev/null 2>&1 || true
}

check_run_attached
check_run_piped
check_run_signals
check_exec_attached
check_detached_needs_console_socket
