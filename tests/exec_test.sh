# Tests `skiff-oci exec`: the new process joins the container's namespaces, cgroups, capabilities, seccomp and no_new_privs; flags, exit codes, tty, fds, errors, leaks.
source "$(dirname "$0")/lib.sh"

TMPFS_TMP='.mounts += [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]}]'
# The init leaves a file in its own /tmp (a tmpfs only its mount namespace has), then sleeps as pid 1.
INIT=(sh -c 'echo from-init >/tmp/init-marker && exec sleep 1000')
STATUS_FIELDS='grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):" /proc/self/status'

init_ready() { oci exec "$1" test -e /tmp/init-marker >/dev/null 2>&1; }

# start_container [jq-filter...]: a running container (INIT) with a tmpfs /tmp; sets CID and CPID.
start_container() {
    new_id
    CID=$ID
    bundle_for "$CID" "$TMPFS_TMP" "$@" -- "${INIT[@]}"
    capture oci run --detach --bundle "$BUNDLE" "$CID"
    [[ $RC == 0 ]] || die "run --detach $CID failed (exit $RC): $ERR"
    CPID=$(pid_of "$CID")
    wait_until 10 init_ready "$CID" || die "$CID: the init's marker never appeared (exec broken?)"
}

status_field() { awk -v f="$1:" '$1 == f {print $2}' <<<"$2"; }

# ---- what the exec'd process shares with the container ------------------------------------------

check_namespaces() {
    start_container '.hostname = "exec-box"'
    local ns inside
    capture oci exec "$CID" sh -c 'for n in ipc uts mnt net pid cgroup; do echo "$n $(readlink /proc/self/ns/$n)"; done'
    assert_rc "namespaces: exec" 0
    for ns in ipc uts mnt net pid cgroup; do
        inside=$(awk -v n="$ns" '$1 == n {print $2}' <<<"$OUT")
        assert_eq "namespaces: $ns is the init's" "$(readlink "/proc/$CPID/ns/$ns")" "$inside"
        assert_ne "namespaces: $ns is not the host's" "$(readlink "/proc/$$/ns/$ns")" "$inside"
    done
    capture oci exec "$CID" hostname
    assert_eq "uts: exec sees the container's hostname" exec-box "$OUT"
    capture oci exec "$CID" sh -c 'read -r pid rest </proc/self/stat; echo "self=$pid"; ps -o pid,comm'
    assert_rc "pid ns: exec" 0
    assert_match "pid ns: the container's init is pid 1" '^ *1 +sleep$' "$OUT"
    assert_match "pid ns: the exec'd process has a pid of the container's namespace, not 1" \
        '^self=([2-9]|[1-9][0-9]+)$' "$(head -n1 <<<"$OUT")"
    capture oci exec "$CID" cat /tmp/init-marker
    assert_eq "mount ns: the file the init wrote in its /tmp" from-init "$OUT"
    capture oci exec "$CID" sh -c "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"
    assert_eq "net ns: only the container's lo" lo "$OUT"
    capture oci exec "$CID" cat /etc/hostname
    assert_eq "mount ns: the container's root file system" skiff-rootfs "$OUT"
}

check_cgroups() {
    start_container
    capture oci exec "$CID" sh -c 'cat /proc/self/cgroup; echo ---; cat /proc/1/cgroup'
    assert_rc "cgroups: exec" 0
    assert_eq "cgroups: /proc/self/cgroup (in its cgroup ns) is the init's" \
        "$(sed -n '/^---$/,$p' <<<"$OUT" | tail -n +2)" "$(sed '/^---$/,$d' <<<"$OUT")"
    # On the host: a detached exec'd process, looked at from outside.
    capture oci exec --detach --pid-file "$TMP/cg.pid" "$CID" sleep 60
    assert_rc "cgroups: exec --detach" 0
    local pid line path dir
    pid=$(cat "$TMP/cg.pid")
    assert_eq "cgroups: host /proc/PID/cgroup is the init's" "$(cat "/proc/$CPID/cgroup")" "$(cat "/proc/$pid/cgroup")"
    while IFS=: read -r _ controllers path; do
        case $controllers in
            memory) dir=/sys/fs/cgroup/memory$path ;;
            pids) dir=/sys/fs/cgroup/pids$path ;;
            '') dir=/sys/fs/cgroup/unified$path ;;
            *) continue ;;
        esac
        [[ -d $dir ]] || continue
        if grep -qx "$pid" "$dir/cgroup.procs"; then ok "cgroups: pid in $dir/cgroup.procs"; else fail "cgroups: pid $pid not in $dir/cgroup.procs"; fi
    done <"/proc/$CPID/cgroup"
    capture oci ps --format json "$CID"
    assert_eq "cgroups: ps lists the exec'd pid" "$pid" "$(jq -r ".[] | select(. == $pid)" <<<"$OUT")"
    kill "$pid"
    wait_until 5 proc_gone "$pid" && ok "cgroups: detached process ended" || fail "cgroups: pid $pid still alive"
}

check_security_settings() {
    start_container
    local init_status eff
    init_status=$(grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' "/proc/$CPID/status")
    capture oci exec "$CID" sh -c "$STATUS_FIELDS"
    assert_rc "security: exec" 0
    assert_eq "security: capabilities, NoNewPrivs and Seccomp are the init's" "$init_status" "$OUT"
    assert_eq "security: seccomp filter on" 2 "$(status_field Seccomp "$OUT")"
    assert_eq "security: no_new_privs on" 1 "$(status_field NoNewPrivs "$OUT")"
    assert_eq "security: Docker's 14 capabilities" 00000000a80425fb "$(status_field CapEff "$OUT")"
    capture oci exec -c CAP_SYS_ADMIN --cap NET_ADMIN "$CID" sh -c "$STATUS_FIELDS"
    assert_rc "--cap: exec" 0
    eff=$(printf '%016x' $((0xa80425fb | (1 << 21) | (1 << 12))))
    assert_eq "--cap: CAP_SYS_ADMIN and CAP_NET_ADMIN added to CapEff" "$eff" "$(status_field CapEff "$OUT")"
    assert_eq "--cap: added to CapBnd" "$eff" "$(status_field CapBnd "$OUT")"
    assert_eq "--cap: not inheritable (CVE-2022-29162)" 0000000000000000 "$(status_field CapInh "$OUT")"
    capture oci exec "$CID" sh -c "$STATUS_FIELDS"
    assert_eq "--cap: the container itself is unchanged" 00000000a80425fb "$(status_field CapEff "$OUT")"
    # The filter is the container's, made for its capabilities: with CAP_SYS_ADMIN added by --cap
    # the capability check would pass, so only seccomp refuses unshare here.
    capture oci exec --cap CAP_SYS_ADMIN "$CID" unshare -n true
    assert_nonzero_rc "seccomp: the container's filter refuses unshare"
    assert_contains "seccomp: refused with EPERM" "$ERR" "not permitted"
}

check_no_new_privs_flag() {
    start_container '.process.noNewPrivileges = false'
    capture oci exec "$CID" sh -c "$STATUS_FIELDS"
    assert_eq "no_new_privs: off as in the config" 0 "$(status_field NoNewPrivs "$OUT")"
    assert_eq "no_new_privs off: seccomp still on" 2 "$(status_field Seccomp "$OUT")"
    capture oci exec --no-new-privs "$CID" sh -c "$STATUS_FIELDS"
    assert_eq "--no-new-privs: on" 1 "$(status_field NoNewPrivs "$OUT")"
}

# ---- flags ------------------------------------------------------------------------------------------

check_env_cwd_user() {
    start_container '.process.env += ["GREETING=hello"]' '.process.cwd = "/home/app"'
    capture oci exec "$CID" sh -c 'echo "$GREETING"; pwd; id -u; echo "$HOME"'
    assert_eq "defaults: the config's env, cwd and user" "hello
/home/app
0
/root" "$OUT"
    capture oci exec --env GREETING=bye -e EXTRA=1 --cwd /tmp "$CID" sh -c 'echo "$GREETING $EXTRA"; pwd; echo "$PATH"'
    assert_eq "--env, --cwd" "bye 1
/tmp
/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "$OUT"
    capture oci exec --user 1000:1000 "$CID" sh -c 'id -u; id -g; id -G'
    assert_eq "--user 1000:1000" "1000
1000
1000" "$OUT"
    capture oci exec -u 1000 -g 5 --additional-gids 65534 "$CID" sh -c 'id -u; id -g; id -G'
    assert_eq "--user 1000 keeps gid 0, --additional-gids" "1000
0
0 5 65534" "$OUT"
    capture oci exec -u 1000 "$CID" sh -c "$STATUS_FIELDS"
    assert_eq "--user 1000: no effective capabilities" 0000000000000000 "$(status_field CapEff "$OUT")"
    capture oci exec --user app "$CID" true
    assert_nonzero_rc "--user with a name is refused (runc takes numbers)"
    assert_contains "--user name: message" "$ERR" "--user"
    capture oci exec --cwd /no/such/dir "$CID" true
    assert_rc "--cwd missing: exit 255" 255
    assert_contains "--cwd missing: names the dir" "$ERR" "/no/such/dir"
}

check_process_file() {
    start_container
    jq -n '{args: ["sh", "-c", "echo \"$A\"; pwd; id -u; grep -E \"^(CapEff|NoNewPrivs):\" /proc/self/status"],
            env: ["A=from-file", "PATH=/bin"], cwd: "/dev", user: {uid: 65534, gid: 65534},
            capabilities: {bounding: ["CAP_KILL"], effective: ["CAP_KILL"], permitted: ["CAP_KILL"]},
            noNewPrivileges: false}' >"$TMP/process.json"
    capture oci exec --process "$TMP/process.json" "$CID"
    assert_rc "--process: exec" 0
    assert_eq "--process: args, env, cwd, user as given" "from-file
/dev
65534" "$(head -n3 <<<"$OUT")"
    assert_eq "--process: its capabilities (none effective for uid 65534)" 0000000000000000 "$(awk '$1 == "CapEff:" {print $2}' <<<"$OUT")"
    echo '{"args": [], "cwd": "/"}' >"$TMP/bad-process.json"
    capture oci exec -p "$TMP/bad-process.json" "$CID"
    assert_rc "--process with empty args: exit 255" 255
    assert_contains "--process with empty args: names the field" "$ERR" "process.args"
    capture oci exec --process "$TMP/process.json" "$CID" echo extra
    assert_nonzero_rc "--process and a command together are refused"
}

check_exit_codes() {
    start_container
    capture oci exec "$CID" sh -c 'echo out; echo err >&2; exit 7'
    assert_rc "exit code 7 passes through" 7
    assert_eq "stdout reaches the caller" out "$OUT"
    assert_eq "stderr reaches the caller" err "$ERR"
    capture oci exec "$CID" sh -c 'kill -KILL $$'
    assert_rc "killed by SIGKILL: 137" 137
    capture oci exec "$CID" sh -c 'kill -TERM $$'
    assert_rc "killed by SIGTERM: 143" 143
    RC=0
    OUT=$(printf 'piped\n' | oci exec "$CID" sh -c 'read -r l; echo "got $l"' 2>"$TMP/stdin.err") || RC=$?
    assert_eq "stdin reaches the process" "got piped" "$OUT"
}

check_signal_forwarding() {
    start_container
    # Started directly (not through oci's timeout), so the signal goes to skiff-oci itself.
    : >"$TMP/fwd.out"
    "$SKIFF_OCI" --root "$ROOT" exec "$CID" sh -c 'trap "echo got-term; exit 3" TERM; echo ready; while :; do sleep 0.1; done' \
        >"$TMP/fwd.out" 2>"$TMP/fwd.err" </dev/null &
    local runtime_pid=$! rc=0
    wait_until 10 grep -q ready "$TMP/fwd.out" || fail "signal forwarding: the process never started"
    kill -TERM "$runtime_pid"
    wait "$runtime_pid" || rc=$?
    assert_eq "signal forwarding: SIGTERM to skiff-oci reaches the process (its exit code)" 3 "$rc"
    assert_contains "signal forwarding: the trap ran" "$(cat "$TMP/fwd.out")" got-term
}

check_detach_and_pid_file() {
    start_container
    local pid start=$SECONDS
    capture oci exec -d --pid-file "$TMP/exec.pid" "$CID" sleep 60
    assert_rc "--detach: exit 0" 0
    ((SECONDS - start < 10)) && ok "--detach: returned without waiting" || fail "--detach: waited for the process"
    pid=$(cat "$TMP/exec.pid" 2>/dev/null || true)
    [[ $pid =~ ^[0-9]+$ ]] && ok "--pid-file: holds a pid" || fail "--pid-file: '$pid' is not a pid"
    proc_alive "$pid" && ok "--detach: the process runs after exec returned" || fail "--detach: pid $pid not alive"
    assert_eq "--pid-file: that pid runs the command" "sleep 60" "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | sed 's/ $//')"
    assert_eq "--detach: same pid namespace as the init" "$(readlink "/proc/$CPID/ns/pid")" "$(readlink "/proc/$pid/ns/pid")"
    capture oci exec -d "$CID" /no/such/program
    assert_rc "--detach with a missing program: exit 255" 255
    kill "$pid"
    wait_until 5 proc_gone "$pid" && ok "--detach: process ended on kill" || fail "--detach: pid $pid still alive"
}

check_tty() {
    start_container
    local sock=$TMP/exec-tty.sock out=$TMP/exec-tty.out recv_pid rc=0
    "$CONSOLE_RECV" "$sock" >"$out" 2>"$TMP/exec-tty.err" </dev/null &
    recv_pid=$!
    wait_until 5 test -S "$sock" || die "console-recv did not listen on $sock"
    capture oci exec --tty --console-socket "$sock" "$CID" sh -c 'tty; test -t 0 && echo stdin-is-tty; test -t 1 && echo stdout-is-tty; exit 4'
    assert_rc "--tty: exit code passes through" 4
    if ! wait_until 15 proc_gone "$recv_pid"; then
        fail "--tty: console-recv still waiting (pty not closed?)"
        kill "$recv_pid" 2>/dev/null || true
    fi
    wait "$recv_pid" || rc=$?
    assert_eq "--tty: console-recv exit" 0 "$rc"
    local console
    console=$(tr -d '\r' <"$out")
    assert_match "--tty: the process's tty is a pty of the container" '^/dev/pts/[0-9]+$' "$(head -n1 <<<"$console")"
    assert_contains "--tty: stdin is a tty" "$console" stdin-is-tty
    assert_contains "--tty: stdout is a tty" "$console" stdout-is-tty
    # In the foreground skiff-oci attaches the terminal itself (terminal_attach_test.sh); detached,
    # nobody could receive it.
    capture oci exec --detach --tty "$CID" true
    assert_rc "--detach --tty without --console-socket: exit 255" 255
    assert_contains "--detach --tty without --console-socket: says so" "$ERR" "console-socket"
}

check_no_fd_leak() {
    start_container
    exec 7</etc/hostname 8>"$TMP/fd8"
    capture oci exec "$CID" ls -l /proc/self/fd
    exec 7<&- 8>&-
    assert_rc "no fd leak: exec" 0
    assert_eq "no fd leak: fds are stdio + ls's directory" "0 1 2 3" "$(awk '/^l/ {print $9}' <<<"$OUT" | sort -n | xargs)"
    assert_not_contains "no fd leak: no fd with a target past stdio" "$OUT" " 3 -> "
    echo three-content >"$TMP/three"
    exec 3<"$TMP/three" 5<"$TMP/three"
    RC=0
    OUT=$(oci exec --preserve-fds 1 "$CID" sh -c 'cat <&3; ls -l /proc/self/fd' 2>"$TMP/preserve.err" </dev/null) || RC=$?
    exec 3<&- 5<&-
    assert_rc "--preserve-fds 1: exec" 0
    assert_eq "--preserve-fds 1: fd 3 readable" three-content "$(head -n1 <<<"$OUT")"
    assert_not_contains "--preserve-fds 1: fd 5 not passed" "$OUT" " 5 -> "
}

# CVE-2024-21626: a cwd through /proc/self/fd/N must not land outside the container's root, neither
# through a descriptor of the runtime's nor through one its caller leaked (fd 7: the host's /).
check_cwd_escape() {
    start_container
    local fd escaped=()
    exec 7</
    for fd in $(seq 3 20); do
        capture oci exec --cwd "/proc/self/fd/$fd" "$CID" sh -c 'pwd; ls'
        ((RC == 0)) && escaped+=("$fd: $(head -n1 <<<"$OUT")")
        [[ $fd == 7 ]] && assert_contains "cwd through the caller's leaked fd 7: refused as outside the root" "$ERR" "outside the container's root"
    done
    exec 7<&-
    assert_eq "no cwd through /proc/self/fd/3..20 is accepted" "" "${escaped[*]}"
}

# ---- errors -----------------------------------------------------------------------------------------

check_errors() {
    start_container
    capture oci exec "$CID" no-such-program
    assert_rc "missing program: exit 255" 255
    assert_contains "missing program: named" "$ERR" '"no-such-program"'
    assert_contains "missing program: not found in PATH" "$ERR" "not found"
    capture oci exec "$CID" /bin/no-such-program
    assert_rc "missing absolute program: exit 255" 255
    assert_contains "missing absolute program: named" "$ERR" "/bin/no-such-program"
    capture oci exec "t-$$-never-made" true
    assert_rc "unknown container: exit 255" 255
    assert_contains "unknown container: says so" "$ERR" "does not exist"
    capture oci exec "$CID"
    assert_nonzero_rc "no command: refused"

    new_id
    bundle_for "$ID" -- true
    capture oci run --detach --bundle "$BUNDLE" "$ID"
    wait_status "$ID" stopped
    capture oci exec "$ID" true
    assert_rc "stopped container: exit 255" 255
    assert_contains "stopped container: says it is stopped" "$ERR" stopped
}

check_exec_into_created() {
    new_id
    create_in "$ID" '.hostname = "not-started"' -- sleep 1000
    capture oci exec "$ID" hostname
    assert_rc "created container: exec" 0
    assert_eq "created container: exec sees its namespaces" not-started "$OUT"
    assert_eq "created container: still created afterwards" created "$(state_of "$ID")"
    capture oci delete --force "$ID"
}

# Nothing of exec stays behind: only the containers' inits carry the test mark.
check_no_leftover_processes() {
    local id pid inits=() left=()
    for id in "${IDS[@]}"; do
        pid=$(pid_of "$id")
        [[ $pid =~ ^[1-9][0-9]*$ ]] && inits+=("$pid")
    done
    for pid in $(marked_processes); do
        [[ " ${inits[*]} " == *" $pid "* ]] || left+=("$pid:$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)")
    done
    assert_eq "no exec helper or exec'd process left behind" "" "${left[*]}"
}

build_console_recv
check_namespaces
check_cgroups
check_security_settings
check_no_new_privs_flag
check_env_cwd_user
check_process_file
check_exit_codes
check_signal_forwarding
check_detach_and_pid_file
check_tty
check_no_fd_leak
check_cwd_escape
check_errors
check_exec_into_created
check_no_leftover_processes
