# Tests fds and paths handed to the process: no runtime fd leaks, --preserve-fds, cwd resolved in the rootfs, --pid-file.
source "$(dirname "$0")/lib.sh"

# fd_numbers: the fd numbers in busybox `ls -l /proc/self/fd` output ($OUT), sorted, on one line.
# Field 9 is the name; ls's own directory fd shows with no target (closed before readlink).
fd_numbers() { awk '/^l/ {print $9}' <<<"$OUT" | sort -n | xargs; }

# Host fds 7 and 8 are open in the runtime's caller; only stdio and ls's own directory fd (3) may show,
# and 3 only as a dangling entry (a leaked fd would show its target).
check_no_fd_leak_run() {
    new_id
    exec 7</etc/hostname 8>"$TMP/fd8"
    run_in "$ID" -- ls -l /proc/self/fd
    exec 7<&- 8>&-
    assert_rc "no leak (run): run" 0
    echo "$OUT"
    assert_eq "no leak (run): fds are stdio + ls's directory" "0 1 2 3" "$(fd_numbers)"
    assert_not_contains "no leak (run): caller's fd8 file not visible" "$OUT" "$TMP/fd8"
    assert_not_contains "no leak (run): no fd with a target past stdio" "$OUT" " 3 -> "
}

# Same through create + start, where the runtime holds more (exec fifo, sync socket, cgroup fds).
check_no_fd_leak_create_start() {
    new_id
    local id=$ID
    bundle_for "$id" -- ls -l /proc/self/fd
    exec 7</etc/hostname 8>"$TMP/fd8"
    RC=0
    oci create --bundle "$BUNDLE" "$id" >"$TMP/create.out" 2>"$TMP/create.err" </dev/null || RC=$?
    exec 7<&- 8>&-
    ERR=$(<"$TMP/create.err")
    assert_rc "no leak (create/start): create" 0
    [[ $RC == 0 ]] || return 0
    capture oci start "$id"
    assert_rc "no leak (create/start): start" 0
    wait_status "$id" stopped
    OUT=$(<"$TMP/create.out")
    echo "$OUT"
    assert_eq "no leak (create/start): fds are stdio + ls's directory" "0 1 2 3" "$(fd_numbers)"
    assert_not_contains "no leak (create/start): no fd with a target past stdio" "$OUT" " 3 -> "
    oci delete "$id" >/dev/null 2>&1 || true
}

# --preserve-fds 2 passes fds 3 and 4 (and nothing past them: 5 and 9 are open in the caller too).
check_preserve_fds() {
    new_id
    echo three-content >"$TMP/three"
    echo four-content >"$TMP/four"
    echo five-content >"$TMP/five"
    bundle_for "$ID" -- sh -c 'cat <&3; cat <&4; ls -l /proc/self/fd'
    exec 3<"$TMP/three" 4<"$TMP/four" 5<"$TMP/five" 9<"$TMP/five"
    RC=0
    oci run --preserve-fds 2 --bundle "$BUNDLE" "$ID" >"$TMP/preserve.out" 2>"$TMP/preserve.err" </dev/null || RC=$?
    exec 3<&- 4<&- 5<&- 9<&-
    OUT=$(<"$TMP/preserve.out") ERR=$(<"$TMP/preserve.err")
    echo "$OUT"
    assert_rc "--preserve-fds 2: run" 0
    assert_eq "--preserve-fds 2: fd 3 readable" three-content "$(sed -n 1p <<<"$OUT")"
    assert_eq "--preserve-fds 2: fd 4 readable" four-content "$(sed -n 2p <<<"$OUT")"
    # ls inherits 0-4 from sh and opens the directory as the lowest free fd, 5.
    assert_eq "--preserve-fds 2: fds are stdio, 3, 4 + ls's directory" "0 1 2 3 4 5" "$(fd_numbers)"
    assert_match "--preserve-fds 2: fd 3 is the caller's file" " 3 -> $TMP/three\$" "$OUT"
    assert_match "--preserve-fds 2: fd 4 is the caller's file" " 4 -> $TMP/four\$" "$OUT"
    assert_not_contains "--preserve-fds 2: fd 5 and 9 not passed" "$OUT" "$TMP/five"
    assert_not_contains "--preserve-fds 2: no fd with a target past 4" "$OUT" " 5 -> "
}

check_cwd() {
    new_id
    run_in "$ID" '.process.cwd = "/home/app"' -- sh -c 'pwd; readlink /proc/self/cwd'
    assert_rc "cwd: run" 0
    assert_eq "cwd: pwd and /proc/self/cwd are process.cwd" "/home/app
/home/app" "$OUT"
}

# runc creates a missing cwd (inside the container) before running the process.
check_missing_cwd_created() {
    new_id
    local rootfs
    rootfs=$(writable_rootfs "$ID")
    run_in "$ID" ".root.path = \"$rootfs\"" '.root.readonly = false' '.process.cwd = "/made/by/runtime"' \
        -- sh -c 'pwd; readlink /proc/self/cwd'
    assert_rc "missing cwd: run" 0
    assert_eq "missing cwd: created and entered" "/made/by/runtime
/made/by/runtime" "$OUT"
    [[ -d $rootfs/made/by/runtime ]] && ok "missing cwd: made inside the rootfs" ||
        fail "missing cwd: $rootfs/made/by/runtime not there"
    [[ ! -e /made ]] && ok "missing cwd: nothing made on the host" || fail "missing cwd: /made exists on the host"
}

# cwd=/evil with evil -> /etc in the rootfs must land in the container's /etc, not the host's.
check_cwd_symlink_resolved_in_rootfs() {
    new_id
    local rootfs host_only cwd
    rootfs=$(writable_rootfs "$ID")
    ln -s /etc "$rootfs/evil"
    ln -s ../../../../../../etc "$rootfs/evil-rel"
    # A file of the host's /etc that the busybox rootfs lacks: seeing it would mean an escape.
    host_only=$(comm -23 <(ls /etc | sort) <(ls "$rootfs/etc" | sort) | head -1)
    [[ -n $host_only ]] || die "cwd symlink: no host-only file in /etc to compare with"
    for cwd in /evil /evil-rel; do
        run_in "$ID" ".root.path = \"$rootfs\"" ".process.cwd = \"$cwd\"" \
            -- sh -c 'readlink /proc/self/cwd; echo ---; ls; echo ---; cat passwd'
        assert_rc "cwd $cwd: run" 0
        assert_eq "cwd $cwd: /proc/self/cwd is the container's /etc" /etc "$(sed -n 1p <<<"$OUT")"
        assert_eq "cwd $cwd: ls shows the rootfs's /etc" "$(ls "$rootfs/etc" | xargs)" \
            "$(sed -n '/^---$/,/^---$/p' <<<"$OUT" | grep -v '^---$' | xargs)"
        assert_not_contains "cwd $cwd: no host-only /etc file ($host_only)" "$OUT" "$host_only"
        assert_match "cwd $cwd: passwd has the rootfs's user app" '^app:x:1000:1000:' "$OUT"
        oci delete --force "$ID" >/dev/null 2>&1 || true
    done
}

check_pid_file() {
    new_id
    local id=$ID pid
    bundle_for "$id" -- sleep 60
    capture oci create --bundle "$BUNDLE" --pid-file "$TMP/container.pid" "$id"
    assert_rc "--pid-file: create" 0
    [[ $RC == 0 ]] || return 0
    pid=$(pid_of "$id")
    assert_ne "--pid-file: state has a pid" 0 "${pid:-0}"
    assert_eq "--pid-file: content is state's pid" "$pid" "$(cat "$TMP/container.pid")"
    proc_alive "$pid" && ok "--pid-file: pid is alive" || fail "--pid-file: pid $pid is not a live process"
    capture oci start "$id"
    assert_rc "--pid-file: start" 0
    wait_status "$id" running
    assert_eq "--pid-file: that pid runs the container's process" "sleep 60" "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | sed 's/ $//')"
    capture oci delete --force "$id"
    assert_rc "--pid-file: delete" 0

    # A relative --pid-file is relative to the caller's working directory.
    new_id
    id=$ID
    bundle_for "$id" -- sleep 60
    RC=0
    (cd "$TMP" && oci create --bundle "$BUNDLE" --pid-file rel.pid "$id") >/dev/null 2>"$TMP/rel.err" </dev/null || RC=$?
    ERR=$(<"$TMP/rel.err")
    assert_rc "relative --pid-file: create" 0
    [[ $RC == 0 ]] || return 0
    assert_eq "relative --pid-file: content is state's pid" "$(pid_of "$id")" "$(cat "$TMP/rel.pid" 2>/dev/null)"
    oci delete --force "$id" >/dev/null 2>&1 || true
}

check_no_fd_leak_run
check_no_fd_leak_create_start
check_preserve_fds
check_cwd
check_missing_cwd_created
check_cwd_symlink_resolved_in_rootfs
check_pid_file
