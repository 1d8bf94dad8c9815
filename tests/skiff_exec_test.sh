# Tests `skiff exec`: a command in a running skiff container (its namespaces, the image's env and
# workdir, -e/-w/-u, exit codes, -i, -t and -it), and its errors. The image goes through a real
# docker-registry, as in skiff_images_test.sh.
source "$(dirname "$0")/lib.sh"

source "$(dirname "$0")/lib_images.sh"
require_tools docker-registry skopeo umoci script
start_registry "$TMP/registry"
ADDR=$REGISTRY

# One layer: the busybox rootfs, with an env and a working directory in the image config.
umoci_image "$TMP/oci:v1"
umoci config --image "$TMP/oci:v1" --config.cmd sh --config.env GREETING=hello --config.workingdir /tmp
push_image "$TMP/oci:v1" "$ADDR/skiff/exec:v1"
IMAGE=$ADDR/skiff/exec:v1
sk image pull -q --tls-verify=false "$IMAGE" >/dev/null || die "pull $IMAGE failed"

# The container the checks exec into; removed by the test itself (its overlay mount is under $TMP).
BOX=exec-box-$$
on_cleanup "'$SKIFF' --root '$STORE' rm -f '$BOX'"
capture sk run -d --name "$BOX" --hostname exec-host "$IMAGE" sh -c 'echo "init: $(hostname)"; exec sleep 1000'
[[ $RC == 0 ]] || die "run -d $BOX failed (exit $RC): $ERR"

check_namespaces() {
    capture sk exec "$BOX" hostname
    assert_rc "exec: hostname" 0
    assert_eq "exec sees the container's hostname" exec-host "$OUT"
    wait_until 10 sh -c "'$SKIFF' --root '$STORE' logs '$BOX' | grep -q init:" || fail "the init's output never reached the log"
    capture sk logs "$BOX"
    assert_eq "the init saw the same hostname" "init: exec-host" "$OUT"
    capture sk exec "$BOX" ps -o pid,comm
    assert_match "exec: the container's init is pid 1" '^ *1 +sleep$' "$OUT"
    capture sk exec "$BOX" sh -c "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"
    assert_eq "exec: the container's network namespace (only lo)" lo "$OUT"
}

check_process_settings() {
    capture sk exec "$BOX" sh -c 'echo "$GREETING"; pwd; id -u'
    assert_eq "exec: the image's env and workdir, root" "hello
/tmp
0" "$OUT"
    capture sk exec -e GREETING=bye -e EXTRA=1 -w / -u 1000 "$BOX" sh -c 'echo "$GREETING $EXTRA"; pwd; id -u'
    assert_eq "exec -e -w -u" "bye 1
/
1000" "$OUT"
    capture sk exec -u app "$BOX" sh -c 'id -u; id -g'
    assert_eq "exec -u NAME is looked up in the container's /etc/passwd" "1000
1000" "$OUT"
    capture sk exec -u nosuchuser "$BOX" true
    assert_nonzero_rc "exec -u with an unknown user"
    assert_contains "exec -u unknown user: named" "$ERR" nosuchuser
    capture sk exec "$BOX" sh -c 'grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status'
    assert_eq "exec: the container's no_new_privs and seccomp" "NoNewPrivs:	1
Seccomp:	2" "$OUT"
}

check_exit_codes() {
    capture sk exec "$BOX" sh -c 'exit 7'
    assert_rc "exec: exit code 7 passes through" 7
    capture sk exec "$BOX" sh -c 'kill -KILL $$'
    assert_rc "exec: SIGKILL gives 137" 137
    capture sk exec "$BOX" no-such-program
    assert_nonzero_rc "exec: missing program"
    assert_contains "exec: missing program named" "$ERR" no-such-program
}

check_stdin() {
    capture sk exec "$BOX" sh -c 'cat; echo end'
    assert_eq "exec without -i: stdin is empty" end "$OUT"
    RC=0
    OUT=$(printf 'typed\n' | sk exec -i "$BOX" sh -c 'read -r l; echo "got $l"' 2>"$TMP/i.err") || RC=$?
    assert_rc "exec -i" 0
    assert_eq "exec -i: stdin reaches the process" "got typed" "$OUT"
}

check_tty() {
    capture sk exec -t "$BOX" sh -c 'tty; test -t 0 && echo stdin-is-tty'
    assert_rc "exec -t" 0
    OUT=$(tr -d '\r' <<<"$OUT")
    assert_match "exec -t: a pty of the container" '^/dev/pts/[0-9]+$' "$(head -n1 <<<"$OUT")"
    assert_contains "exec -t: stdin is the tty" "$OUT" stdin-is-tty
    # -it from a terminal: script(1) gives skiff one, 30x100. Its input is a fifo opened
    # read-write, which never ends (at the end of its input script would type EOF into it).
    mkfifo "$TMP/it.in"
    RC=0
    OUT=$(script -qec "stty rows 30 cols 100; '$SKIFF' --root '$STORE' exec -it '$BOX' sh -c 'tty; stty size; exit 5'" \
        /dev/null <>"$TMP/it.in" 2>"$TMP/it.err") || RC=$?
    OUT=$(tr -d '\r' <<<"$OUT")
    assert_rc "exec -it under script: exit code passes through" 5
    assert_match "exec -it: a pty of the container" '^/dev/pts/[0-9]+$' "$(head -n1 <<<"$OUT")"
    assert_eq "exec -it: the pty has the caller's terminal size" "30 100" "$(sed -n 2p <<<"$OUT")"
    assert_eq "exec -t: its console socket directory is gone" "" \
        "$(find "$STORE/containers" -maxdepth 2 -name 'exec-*' 2>/dev/null)"
}

check_errors() {
    capture sk exec "no-such-container-$$" true
    assert_nonzero_rc "exec: unknown name"
    assert_contains "exec: unknown name says so" "$ERR" "no such container"
    capture sk exec "$BOX"
    assert_nonzero_rc "exec: no command"
    capture sk stop -t 1 "$BOX"
    assert_rc "stop" 0
    capture sk exec "$BOX" true
    assert_nonzero_rc "exec into a stopped container"
    assert_contains "exec into a stopped container: not running" "$ERR" "not running"
}

check_namespaces
check_process_settings
check_exit_codes
check_stdin
check_tty
check_errors
capture sk rm -f "$BOX"
assert_rc "rm" 0
