# Tests process.terminal: the pty master reaches --console-socket; the process has a tty as stdio and /dev/console.
source "$(dirname "$0")/lib.sh"

# start_console_recv NAME [INPUT]: listens on $TMP/NAME.sock in the background; sets SOCK, RECV_PID, RECV_OUT.
start_console_recv() {
    SOCK=$TMP/$1.sock RECV_OUT=$TMP/$1.console RECV_ERR=$TMP/$1.console-err
    "$CONSOLE_RECV" "$SOCK" "${@:2}" >"$RECV_OUT" 2>"$RECV_ERR" </dev/null &
    RECV_PID=$!
    wait_until 5 test -S "$SOCK" || die "console-recv did not listen on $SOCK: $(<"$RECV_ERR")"
}

# finish_console_recv LABEL: waits for console-recv to see the pty close; sets CONSOLE (\r stripped).
finish_console_recv() {
    local rc=0
    if ! wait_until 15 proc_gone "$RECV_PID"; then
        fail "$1: console-recv still waiting after 15s (pty not closed?)"
        kill "$RECV_PID" 2>/dev/null || true
    fi
    wait "$RECV_PID" || rc=$?
    assert_eq "$1: console-recv exit (stderr: $(<"$RECV_ERR"))" 0 "$rc"
    CONSOLE=$(tr -d '\r' <"$RECV_OUT")
}

check_terminal_through_console_socket() {
    new_id
    local id=$ID
    start_console_recv term
    bundle_for "$id" '.process.terminal = true' '.process.consoleSize = {"height": 30, "width": 100}' \
        -- sh -c 'tty; test -t 0 && echo stdin-is-tty; test -t 1 && echo stdout-is-tty; ls -l /dev/console; stty size; echo done-marker'
    capture oci create --bundle "$BUNDLE" --console-socket "$SOCK" "$id"
    assert_rc "terminal: create with --console-socket" 0
    if [[ $RC != 0 ]]; then
        kill "$RECV_PID" 2>/dev/null; wait "$RECV_PID" 2>/dev/null || true
        return
    fi
    assert_eq "terminal: created" created "$(state_of "$id")"
    capture oci start "$id"
    assert_rc "terminal: start" 0
    finish_console_recv "terminal"
    echo "--- console output:"; echo "$CONSOLE"; echo "---"
    assert_eq "terminal: tty is the container's first pty" /dev/pts/0 "$(sed -n 1p <<<"$CONSOLE")"
    assert_contains "terminal: stdin is a tty" "$CONSOLE" stdin-is-tty
    assert_contains "terminal: stdout is a tty" "$CONSOLE" stdout-is-tty
    assert_match "terminal: /dev/console is character device 136,0" '^c[rwx-]{9}.* 136, +0 .*/dev/console$' "$CONSOLE"
    assert_contains "terminal: stty size is process.consoleSize" "$CONSOLE" $'\n30 100\n'
    assert_contains "terminal: process ran to the end" "$CONSOLE" done-marker
    wait_status "$id" stopped
    capture oci delete "$id"
    assert_rc "terminal: delete" 0
}

check_terminal_input() {
    new_id
    local id=$ID
    start_console_recv input $'typed-line\n'
    bundle_for "$id" '.process.terminal = true' -- sh -c 'read -r line; echo "got:$line"'
    capture oci create --bundle "$BUNDLE" --console-socket "$SOCK" "$id"
    assert_rc "terminal input: create" 0
    if [[ $RC != 0 ]]; then
        kill "$RECV_PID" 2>/dev/null; wait "$RECV_PID" 2>/dev/null || true
        return
    fi
    capture oci start "$id"
    assert_rc "terminal input: start" 0
    finish_console_recv "terminal input"
    assert_contains "terminal input: the process read what was written to the master" "$CONSOLE" "got:typed-line"
    wait_status "$id" stopped
    oci delete "$id" >/dev/null 2>&1 || true
}

check_terminal_without_console_socket() {
    new_id
    bundle_for "$ID" '.process.terminal = true' -- true
    capture oci create --bundle "$BUNDLE" "$ID"
    assert_rc "terminal without --console-socket: create fails" 1
    assert_match "terminal without --console-socket: message names console-socket" 'console[- ]socket' "$ERR"
    assert_nothing_left "terminal without --console-socket" "$ID"
}

check_console_socket_not_listening() {
    new_id
    bundle_for "$ID" '.process.terminal = true' -- true
    capture oci create --bundle "$BUNDLE" --console-socket "$TMP/nobody-listens.sock" "$ID"
    assert_rc "unreachable --console-socket: create fails" 1
    assert_match "unreachable --console-socket: message names the socket" 'nobody-listens\.sock' "$ERR"
    assert_nothing_left "unreachable --console-socket" "$ID"
}

build_console_recv
check_terminal_through_console_socket
check_terminal_input
check_terminal_without_console_socket
check_console_socket_not_listening
