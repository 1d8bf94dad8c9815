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

check_exe_overwrite_through_exec
check_exe_overwrite_through_exec memfd
check_exe_overwrite_through_entrypoint
