# Tests the runc/crun CVE defences with the exploits run from inside containers: /proc/self/exe overwrite, fd leaks, symlinked mount targets.
source "$(dirname "$0")/lib.sh"

# ---- helpers ------------------------------------------------------------------------------------

# build_fixture NAME: compiles tests/fixtures/NAME.c static (it runs in the busybox rootfs); echoes its path.
build_fixture() {
    local name=$1 out=$SKIFF_BUILD/fixtures/$1
    command -v cc >/dev/null || die "cc not found (apt-get install gcc libc6-dev)"
    mkdir -p "$(dirname "$out")"
    (
        flock 9
        [[ -x $out && $out -nt $FIXTURES/$name.c ]] && exit 0
        cc -static -O2 -Wall -Wextra -Werror -o "$out.tmp.$$" "$FIXTURES/$name.c" && mv "$out.tmp.$$" "$out"
    ) 9>"$out.lock" || die "building $out from $name.c failed"
    echo "$out"
}

# The binary under attack is a copy of skiff-oci: if an overwrite got through, only the copy is damaged.
VICTIM=$TMP/victim/skiff-oci
mkdir -p "$TMP/victim"
cp "$SKIFF_OCI" "$VICTIM"
VICTIM_SUM=$(sha256sum <"$VICTIM")
victim() { timeout -k 5 "$OCI_TIMEOUT" "$VICTIM" --root "$ROOT" "$@"; }

# A directory every container of the attack shares (bound on /mnt): the attacker, the fifo the runtime
# image blocks on, and the "#!/proc/self/exe" script.
SHARED=$TMP/shared
mkdir -p "$SHARED"
cp "$(build_fixture exe-attack)" "$SHARED/exe-attack"
printf '#!/proc/self/exe --log=/mnt/fifo\n' >"$SHARED/evil.sh"
chmod 755 "$SHARED/evil.sh"
SHARED_MOUNT=".mounts += [{\"destination\": \"/mnt\", \"type\": \"bind\", \"source\": \"$SHARED\", \"options\": [\"rbind\", \"rw\"]}]"

reset_fifo() { rm -f "$SHARED/fifo"; mkfifo "$SHARED/fifo"; }

# victim_untouched LABEL: the attacked binary still has its bytes, and still runs.
victim_untouched() {
    assert_eq "$1: the runtime binary is unchanged" "$VICTIM_SUM" "$(sha256sum <"$VICTIM")"
    "$VICTIM" --version >/dev/null 2>&1 && ok "$1: the runtime binary still runs" || fail "$1: the runtime binary no longer runs"
}

# start_attacker ID [jq-filter...]: a running container whose pid 1 is exe-attack; its output goes to $TMP/ID.out.
start_attacker() {
    local id=$1
    shift
    bundle_for "$id" "$SHARED_MOUNT" "$@" -- /mnt/exe-attack /mnt/fifo
    RC=0
    victim create --bundle "$BUNDLE" "$id" >"$TMP/$id.out" 2>"$TMP/$id.err" </dev/null || RC=$?
    ERR=$(<"$TMP/$id.err")
    [[ $RC == 0 ]] || die "create attacker $id failed (exit $RC): $ERR"
    victim start "$id" >/dev/null 2>&1 || die "start attacker $id failed"
}

# attack_result LABEL ID: waits for the attacker to finish, then checks it found the runtime image and failed.
attack_result() {
    local label=$1 id=$2 out
    wait_until 30 status_is "$id" stopped || fail "$label: attacker $id still running"
    out=$(<"$TMP/$id.out")
    echo "$out" | sed 's/^/    attacker: /'
    assert_contains "$label: the attacker saw the runtime image in the container" "$out" "found runtime process"
    assert_not_contains "$label: the runtime binary was not overwritten" "$out" "OVERWRITTEN"
    assert_contains "$label: the attacker's attempt failed" "$out" "attack failed"
    victim_untouched "$label"
}

# ---- CVE-2019-5736: /proc/self/exe ---------------------------------------------------------------

# An exec'd "#!/proc/self/exe" script turns the exec'd process into the runtime's image inside the
# container; the container's pid 1 grabs its /proc/PID/exe and writes through it once it is gone.
check_exe_overwrite_through_exec() { # [memfd]
    local method=${1:-bind} label id
    label="CVE-2019-5736 via exec ($method)"
    new_id
    id=$ID
    reset_fifo
    start_attacker "$id"
    RC=0
    SKIFF_OCI_EXE_GUARD=$method victim exec "$id" /mnt/evil.sh >"$TMP/exec.out" 2>"$TMP/exec.err" </dev/null || RC=$?
    # The script's runtime image fails (unknown command "/mnt/evil.sh"): the exec's status is its.
    assert_rc "$label: the exec'd runtime image exited with its own error" 1
    attack_result "$label" "$id"
    local out=$(<"$TMP/$id.out")
    if [[ $method == bind ]]; then
        assert_contains "$label: the binary the container sees is on a read-only mount" "$out" "exe mount read-only: yes"
        assert_contains "$label: write-open refused (EROFS)" "$out" "write-open: errno=30 "
    else
        assert_contains "$label: the binary the container sees is a sealed memfd (write|grow|shrink|seal)" "$out" "exe seals: 0xf"
    fi
    victim delete --force "$id" >/dev/null 2>&1 || true
}

# The init is the runtime's image until its final execve: an entrypoint "#!/proc/self/exe" (or
# /proc/self/exe itself) runs the runtime's binary as the container's process. The attacker is pid 1
# of a pid namespace the victim container joins (a pod), so it outlives the victim's process.
check_exe_overwrite_through_entrypoint() {
    local args label attacker victim_id apid
    for args in '["/mnt/evil.sh"]' '["/proc/self/exe", "--log=/mnt/fifo", "x"]'; do
        label="CVE-2019-5736 via entrypoint $args"
        new_id
        attacker=$ID
        reset_fifo
        start_attacker "$attacker"
        apid=$(pid_of "$attacker")
        new_id
        victim_id=$ID
        bundle_for "$victim_id" "$SHARED_MOUNT" \
            "(.linux.namespaces[] | select(.type == \"pid\")) += {\"path\": \"/proc/$apid/ns/pid\"}" \
            ".process.args = $args" -- unused
        capture victim create --bundle "$BUNDLE" "$victim_id"
        assert_rc "$label: create" 0
        capture victim start "$victim_id"
        assert_rc "$label: start" 0
        attack_result "$label" "$attacker"
        assert_contains "$label: write-open refused (EROFS)" "$(<"$TMP/$attacker.out")" "write-open: errno=30 "
        victim delete --force "$victim_id" >/dev/null 2>&1 || true
        victim delete --force "$attacker" >/dev/null 2>&1 || true
    done
}

# ---- CVE-2024-21626: fds and the working directory ------------------------------------------------

# The fds a process has, from its own shell (no helper process, no directory fd of ls): "N -> target".
LIST_FDS='for i in $(seq 0 64); do [ -L /proc/$$/fd/$i ] && echo "fd $i -> $(readlink /proc/$$/fd/$i)"; done; true'
fd_list() { grep -o '^fd [0-9]*' <<<"$1" | awk '{print $2}' | xargs; }

# Host fds 7 (a directory) and 8 (a file) are open in the runtime's caller and not preserved: the
# process must see stdio only (and the preserved fds where asked), for run and exec, with and
# without a terminal.
check_fds_reaching_the_process() {
    local id out
    mkdir -p "$TMP/hostdir"
    exec 7<"$TMP/hostdir" 8>"$TMP/fd8"

    new_id
    run_in "$ID" -- sh -c "$LIST_FDS"
    assert_rc "fds (run): run" 0
    assert_eq "fds (run): stdio only" "0 1 2" "$(fd_list "$OUT")"

    new_id
    id=$ID
    echo preserved >"$TMP/three"
    bundle_for "$id" -- sh -c "$LIST_FDS"
    RC=0
    oci run --preserve-fds 1 --bundle "$BUNDLE" "$id" 3<"$TMP/three" >"$TMP/pres.out" 2>"$TMP/pres.err" </dev/null || RC=$?
    OUT=$(<"$TMP/pres.out") ERR=$(<"$TMP/pres.err")
    assert_rc "fds (run --preserve-fds 1): run" 0
    assert_eq "fds (run --preserve-fds 1): stdio and fd 3" "0 1 2 3" "$(fd_list "$OUT")"
    assert_contains "fds (run --preserve-fds 1): fd 3 is the caller's" "$OUT" "fd 3 -> $TMP/three"

    new_id
    id=$ID
    start_console_recv "fds-run"
    bundle_for "$id" '.process.terminal = true' -- sh -c "$LIST_FDS"
    capture oci run --detach --console-socket "$SOCK" --bundle "$BUNDLE" "$id"
    assert_rc "fds (run, terminal): run" 0
    finish_console_recv "fds (run, terminal)"
    assert_eq "fds (run, terminal): stdio only" "0 1 2" "$(fd_list "$CONSOLE")"
    assert_match "fds (run, terminal): stdio is the pty" '^fd 0 -> /dev/pts/[0-9]+$' "$CONSOLE"

    # exec: into a running container, plain and with --tty.
    new_id
    id=$ID
    bundle_for "$id" -- sleep 1000
    capture oci run --detach --bundle "$BUNDLE" "$id"
    assert_rc "fds (exec): container runs" 0
    capture oci exec "$id" sh -c "$LIST_FDS"
    assert_rc "fds (exec): exec" 0
    assert_eq "fds (exec): stdio only" "0 1 2" "$(fd_list "$OUT")"
    start_console_recv "fds-exec"
    capture oci exec --tty --console-socket "$SOCK" "$id" sh -c "$LIST_FDS"
    assert_rc "fds (exec --tty): exec" 0
    finish_console_recv "fds (exec --tty)"
    assert_eq "fds (exec --tty): stdio only" "0 1 2" "$(fd_list "$CONSOLE")"
    oci delete --force "$id" >/dev/null 2>&1 || true
    exec 7<&- 8>&-
}

# start_console_recv NAME: console-recv listening on $TMP/NAME.sock; sets SOCK, RECV_PID, RECV_OUT.
start_console_recv() {
    build_console_recv
    SOCK=$TMP/$1.sock RECV_OUT=$TMP/$1.console RECV_ERR=$TMP/$1.console-err
    "$CONSOLE_RECV" "$SOCK" >"$RECV_OUT" 2>"$RECV_ERR" </dev/null &
    RECV_PID=$!
    wait_until 5 test -S "$SOCK" || die "console-recv did not listen on $SOCK: $(<"$RECV_ERR")"
}
finish_console_recv() { # LABEL: waits for the pty to close; sets CONSOLE (\r stripped)
    if ! wait_until 15 proc_gone "$RECV_PID"; then
        fail "$1: console-recv still waiting after 15s"
        kill "$RECV_PID" 2>/dev/null || true
    fi
    wait "$RECV_PID" 2>/dev/null || true
    CONSOLE=$(tr -d '\r' <"$RECV_OUT")
}

# process.cwd = /proc/self/fd/N for N in 3..20, with the caller's fd 7 on a host directory: the
# process must not start, or start inside its rootfs (never in the host directory or a host cgroup).
check_cwd_through_fds() {
    local n escaped=() id
    mkdir -p "$TMP/host-cwd" && touch "$TMP/host-cwd/host-only-marker"
    exec 7<"$TMP/host-cwd"
    for n in $(seq 3 20); do
        new_id
        run_in "$ID" ".process.cwd = \"/proc/self/fd/$n\"" -- sh -c 'pwd; ls -a'
        if ((RC == 0)); then
            [[ $OUT == *host-only-marker* || $OUT == *cgroup.procs* || $OUT == *"(unreachable)"* ]] &&
                escaped+=("run $n: $(head -n1 <<<"$OUT")")
        else
            assert_contains "cwd /proc/self/fd/$n (run): refused with a process.cwd error" "$ERR" "process.cwd: "
            # fd 7 is open in the process (the caller's): the magic link is refused as such.
            [[ $n == 7 ]] && assert_contains "cwd /proc/self/fd/7 (run): refused as outside the root" "$ERR" "outside the container's root"
        fi
    done
    new_id
    id=$ID
    bundle_for "$id" -- sleep 1000
    capture oci run --detach --bundle "$BUNDLE" "$id"
    for n in $(seq 3 20); do
        capture oci exec --cwd "/proc/self/fd/$n" "$id" sh -c 'pwd; ls -a'
        if ((RC == 0)); then
            [[ $OUT == *host-only-marker* || $OUT == *cgroup.procs* || $OUT == *"(unreachable)"* ]] &&
                escaped+=("exec $n: $(head -n1 <<<"$OUT")")
        else
            assert_contains "cwd /proc/self/fd/$n (exec): refused with a process.cwd error" "$ERR" "process.cwd: "
            # fd 7 is open in the process (the caller's): the magic link is refused as such.
            [[ $n == 7 ]] && assert_contains "cwd /proc/self/fd/7 (exec): refused as outside the root" "$ERR" "outside the container's root"
        fi
    done
    exec 7<&-
    oci delete --force "$id" >/dev/null 2>&1 || true
    assert_eq "no cwd through /proc/self/fd/3..20 reached the host (run and exec)" "" "${escaped[*]}"
}

# ---- mount targets, masks, /dev/null, /dev/console and devices through the image's symlinks -----------

# host_state PATH...: what the host has at these paths (type, content, mounts): must not change.
host_state() {
    local p
    for p in "$@"; do
        if [[ -L $p ]]; then echo "$p link $(readlink "$p")"
        elif [[ -f $p ]]; then echo "$p file $(sha256sum <"$p")"
        elif [[ -d $p ]]; then echo "$p dir $(ls -A "$p" | xargs)"
        else echo "$p missing"; fi
    done
    mounts_under "$@"
}

check_mount_destination_symlinks() {
    local rootfs before label
    new_id
    rootfs=$(writable_rootfs "$ID")
    mkdir -p "$TMP/data" && echo data-marker >"$TMP/data/data-marker"
    ln -s /etc "$rootfs/evil-etc"
    ln -s "$TMP/host-abs/sub" "$rootfs/evil-abs"
    ln -s "../../../../../../../..$TMP/host-rel" "$rootfs/evil-rel"
    before=$(host_state /etc "$TMP/host-abs" "$TMP/host-rel")
    run_in "$ID" ".root.path = \"$rootfs\"" \
        ".mounts += [{\"destination\": \"/evil-etc\", \"type\": \"bind\", \"source\": \"$TMP/data\", \"options\": [\"bind\", \"ro\"]},
                     {\"destination\": \"/evil-abs\", \"type\": \"tmpfs\", \"source\": \"tmpfs\", \"options\": [\"size=64k\"]},
                     {\"destination\": \"/evil-rel\", \"type\": \"bind\", \"source\": \"$TMP/data\", \"options\": [\"bind\"]}]" \
        -- sh -c 'cat /etc/data-marker; cat /evil-rel/data-marker; touch /evil-abs/in-tmpfs && echo tmpfs-writable;
                  awk '"'"'$5 ~ /host-abs|host-rel|^\/etc$/ {print "mount", $5, $(NF-2)}'"'"' /proc/self/mountinfo'
    label="mount destination symlinks"
    assert_rc "$label: run" 0
    echo "$OUT"
    assert_eq "$label: /etc -> the bind landed on the container's /etc" data-marker "$(sed -n 1p <<<"$OUT")"
    assert_eq "$label: ../../.. -> landed inside the rootfs" data-marker "$(sed -n 2p <<<"$OUT")"
    assert_contains "$label: absolute host path -> a tmpfs inside the rootfs" "$OUT" tmpfs-writable
    assert_contains "$label: the tmpfs is at the link's target inside the container" "$OUT" "mount $TMP/host-abs/sub tmpfs"
    [[ -d $rootfs$TMP/host-abs/sub && -d $rootfs$TMP/host-rel ]] && ok "$label: the missing targets were made inside the rootfs" ||
        fail "$label: $rootfs$TMP/host-abs/sub or $rootfs$TMP/host-rel missing"
    assert_eq "$label: the host is untouched" "$before" "$(host_state /etc "$TMP/host-abs" "$TMP/host-rel")"
}

check_masked_path_symlinks() {
    local rootfs before label
    new_id
    rootfs=$(writable_rootfs "$ID")
    echo top-secret >"$rootfs/secret-file"
    echo host-secret-content >"$TMP/host-secret"
    ln -s ../../../../../../secret-file "$rootfs/mask-rel"
    ln -s "$TMP/host-secret" "$rootfs/mask-abs"
    before=$(host_state "$TMP/host-secret")
    run_in "$ID" ".root.path = \"$rootfs\"" '.linux.maskedPaths += ["/mask-rel", "/mask-abs"]' \
        -- sh -c 'echo "secret: $(cat /secret-file)"; cat /mask-abs 2>&1; true'
    label="masked path symlinks"
    assert_rc "$label: run" 0
    echo "$OUT"
    assert_eq "$label: ../.. -> the container's file is masked" "secret: " "$(sed -n 1p <<<"$OUT")"
    assert_not_contains "$label: the host's file is not visible" "$OUT" host-secret-content
    assert_eq "$label: the host is untouched" "$before" "$(host_state "$TMP/host-secret")"
}

# Without a /dev tmpfs the image's /dev is used: its /dev/null must be the null device to mask with.
NO_DEV_MOUNTS='.mounts |= map(select(.destination | startswith("/dev") | not))'
NULL_DEVICE='.linux.devices = [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 438}]'

check_dev_null_symlink() {
    local rootfs before target label
    echo host-file >"$TMP/host-null-target"
    for target in "$TMP/host-null-target" /etc/passwd; do
        label="/dev/null -> $target"
        new_id
        rootfs=$(writable_rootfs "$ID")
        ln -s "$target" "$rootfs/dev/null"
        before=$(host_state "$TMP/host-null-target" /etc/passwd)
        run_in "$ID" ".root.path = \"$rootfs\"" "$NO_DEV_MOUNTS" -- cat /proc/kcore
        assert_nonzero_rc "$label: refused"
        assert_contains "$label: says why" "$ERR" "/dev/null is not the null device"
        assert_eq "$label: the host is untouched" "$before" "$(host_state "$TMP/host-null-target" /etc/passwd)"
        assert_nothing_left "$label" "$ID"
    done
}

check_dev_console_symlink() {
    local rootfs before target label id
    echo host-console-target >"$TMP/host-console-target"
    for target in /etc/passwd "$TMP/host-console-target"; do
        label="/dev/console -> $target"
        new_id
        id=$ID
        rootfs=$(writable_rootfs "$id")
        ln -s "$target" "$rootfs/dev/console"
        ln -s pts/ptmx "$rootfs/dev/ptmx" # the image's /dev is used as it is: the pty comes from /dev/pts
        before=$(host_state "$TMP/host-console-target" /etc/passwd)
        start_console_recv "console-$id"
        bundle_for "$id" ".root.path = \"$rootfs\"" '.mounts |= map(select(.destination != "/dev"))' \
            "$NULL_DEVICE" '.process.terminal = true' \
            -- sh -c 'ls -l /dev/console; head -n1 /etc/passwd'
        capture oci run --detach --console-socket "$SOCK" --bundle "$BUNDLE" "$id"
        assert_rc "$label: run" 0
        finish_console_recv "$label"
        echo "$CONSOLE"
        assert_match "$label: /dev/console is the terminal (char 136)" '^c[rwx-]{9}.* 136, +[0-9]+ .*/dev/console$' "$CONSOLE"
        assert_contains "$label: the link's target kept its content" "$CONSOLE" "root:x:0:0"
        [[ ! -L $rootfs/dev/console ]] && ok "$label: the link was replaced" || fail "$label: $rootfs/dev/console still a symlink"
        assert_eq "$label: the host is untouched" "$before" "$(host_state "$TMP/host-console-target" /etc/passwd)"
        wait_status "$id" stopped
        oci delete --force "$id" >/dev/null 2>&1 || true
    done
}

check_device_nodes_through_symlinked_dev() {
    local rootfs before label="devices under a symlinked /dev"
    new_id
    rootfs=$(writable_rootfs "$ID")
    rm -rf "$rootfs/dev"
    ln -s "$TMP/host-dev" "$rootfs/dev"
    before=$(host_state "$TMP/host-dev")
    run_in "$ID" ".root.path = \"$rootfs\"" "$NO_DEV_MOUNTS" \
        '.linux.devices = [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 438}, {"path": "/dev/evil-zero", "type": "c", "major": 1, "minor": 5, "fileMode": 438}]' \
        '.linux.resources.devices += [{"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"}]' \
        -- sh -c '[ -c /dev/evil-zero ] && echo evil-zero-is-a-device; head -c 4 /dev/evil-zero | wc -c'
    assert_rc "$label: run" 0
    assert_contains "$label: the node is there in the container" "$OUT" evil-zero-is-a-device
    [[ -c $rootfs$TMP/host-dev/evil-zero ]] && ok "$label: made inside the rootfs" || fail "$label: $rootfs$TMP/host-dev/evil-zero missing"
    assert_eq "$label: the host is untouched" "$before" "$(host_state "$TMP/host-dev")"
}

# procfs through a symlinked /proc would leave the masked paths, and /proc, elsewhere (CVE-2019-19921).
check_proc_symlink_refused() {
    local rootfs label="/proc -> /fakeproc"
    new_id
    rootfs=$(writable_rootfs "$ID")
    rmdir "$rootfs/proc"
    mkdir "$rootfs/fakeproc"
    ln -s /fakeproc "$rootfs/proc"
    run_in "$ID" ".root.path = \"$rootfs\"" -- true
    assert_nonzero_rc "$label: refused"
    assert_contains "$label: says why" "$ERR" "mount point /proc of proc is a symlink in the rootfs"
    assert_nothing_left "$label" "$ID"
}

# ---- the secure defaults stay -------------------------------------------------------------------------

check_secure_defaults() {
    new_id
    # /proc/kcore is absent on kernels without CONFIG_PROC_KCORE; /proc/timer_list is masked too.
    local masked=/proc/kcore
    [[ -e $masked ]] || masked=/proc/timer_list
    run_in "$ID" -- sh -c 'grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status; wc -c <'$masked'; ls -A /sys/firmware | wc -l'
    assert_rc "defaults: run" 0
    echo "$OUT"
    assert_match "defaults: seccomp filter on" '^Seccomp:[[:space:]]+2$' "$OUT"
    assert_match "defaults: no_new_privs" '^NoNewPrivs:[[:space:]]+1$' "$OUT"
    assert_match "defaults: runc's default capability set" '^CapEff:[[:space:]]+00000000a80425fb$' "$OUT"
    assert_eq "defaults: $masked masked" "0
0" "$(tail -n2 <<<"$OUT")"
}

check_exe_overwrite_through_exec
check_exe_overwrite_through_exec memfd
check_exe_overwrite_through_entrypoint
check_fds_reaching_the_process
check_cwd_through_fds
check_mount_destination_symlinks
check_masked_path_symlinks
check_dev_null_symlink
check_dev_console_symlink
check_device_nodes_through_symlinked_dev
check_proc_symlink_refused
check_secure_defaults
