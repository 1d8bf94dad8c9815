# Shared helpers for the root integration tests: runtime wrapper, bundles, assertions, leak checks.
# Sourced by every tests/*_test.sh (env: SKIFF_OCI, SKIFF_BUILD, SKIFF_SOURCE).
set -eEuo pipefail

TEST_NAME=$(basename "$0" .sh)
TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FIXTURES=$TESTS_DIR/fixtures

# exit 77 is only for what the machine lacks (root, a kernel feature), with the reason.
skip() { echo "SKIP: $TEST_NAME: $*"; exit 77; }

[[ $(id -u) -eq 0 ]] || skip "needs root (runs real containers)"
: "${SKIFF_OCI:?SKIFF_OCI must name the runtime binary under test}"
: "${SKIFF_BUILD:?SKIFF_BUILD must name the build dir}"
: "${SKIFF_SOURCE:=$(cd "$TESTS_DIR/.." && pwd)}"
[[ -x $SKIFF_OCI ]] || { echo "FAIL: $TEST_NAME: SKIFF_OCI=$SKIFF_OCI is not executable" >&2; exit 1; }
export SKIFF_OCI SKIFF_BUILD SKIFF_SOURCE

OCI_TIMEOUT=${OCI_TIMEOUT:-30}
ROOTFS=$SKIFF_BUILD/fixtures/rootfs
# Every runtime and container process of this test carries this variable, so leaks can be found.
export SKIFF_TEST_MARK="$TEST_NAME-$$-$RANDOM"

FAILURES=()
IDS=()
CLEANUPS=()
TEARDOWNS=()
ID_SEQ=0
CAPTURE_SEQ=0
OUT='' ERR='' RC=0

# ---- reporting -----------------------------------------------------------------------------
fail() { echo "FAIL: $*" >&2; FAILURES+=("$*"); }
ok() { echo "ok: $*"; }
die() { fail "$*"; exit 1; }

assert_eq() { # LABEL EXPECTED ACTUAL
    if [[ $3 == "$2" ]]; then ok "$1"; else fail "$1: expected '$2', got '$3'"; fi
}
assert_ne() { # LABEL UNEXPECTED ACTUAL
    if [[ $3 != "$2" ]]; then ok "$1"; else fail "$1: expected something other than '$2'"; fi
}
assert_contains() { # LABEL HAYSTACK NEEDLE
    if [[ $2 == *"$3"* ]]; then ok "$1"; else fail "$1: expected to contain '$3', got: ${2:0:2000}"; fi
}
assert_not_contains() { # LABEL HAYSTACK NEEDLE
    if [[ $2 != *"$3"* ]]; then ok "$1"; else fail "$1: expected not to contain '$3', got: ${2:0:2000}"; fi
}
assert_match() { # LABEL ERE TEXT  (grep -E -i over the text)
    if grep -qEi -- "$2" <<<"$3"; then ok "$1"; else fail "$1: expected to match /$2/, got: ${3:0:2000}"; fi
}
assert_rc() { # LABEL EXPECTED [ACTUAL=$RC]
    local actual=${3-$RC}
    if [[ $actual == "$2" ]]; then ok "$1"; else fail "$1: expected exit $2, got $actual (stderr: ${ERR:0:1000})"; fi
}
assert_nonzero_rc() { # LABEL [ACTUAL=$RC]
    local actual=${2-$RC}
    if [[ $actual != 0 ]]; then ok "$1"; else fail "$1: expected a non-zero exit, got 0 (stdout: ${OUT:0:1000})"; fi
}

# ---- running things ------------------------------------------------------------------------
# console-recv (tests/fixtures/console-recv.c): receives a terminal's master over --console-socket.
CONSOLE_RECV=$SKIFF_BUILD/fixtures/console-recv
build_console_recv() {
    [[ -x $CONSOLE_RECV && $CONSOLE_RECV -nt $FIXTURES/console-recv.c ]] && return
    command -v cc >/dev/null || die "cc not found (apt-get install gcc libc6-dev)"
    mkdir -p "$(dirname "$CONSOLE_RECV")"
    (
        flock 9
        [[ -x $CONSOLE_RECV && $CONSOLE_RECV -nt $FIXTURES/console-recv.c ]] && exit 0
        cc -static -O2 -Wall -Wextra -Werror -o "$CONSOLE_RECV.tmp.$$" "$FIXTURES/console-recv.c" &&
            mv "$CONSOLE_RECV.tmp.$$" "$CONSOLE_RECV"
    ) 9>"$CONSOLE_RECV.lock" || die "building $CONSOLE_RECV from console-recv.c failed"
}
# Sets ID to a fresh container id (t-PID-N) and remembers it for cleanup.
new_id() { ID_SEQ=$((ID_SEQ + 1)); ID="t-$$-$ID_SEQ"; register_id "$ID"; }
register_id() { [[ " ${IDS[*]} " == *" $1 "* ]] || IDS+=("$1"); }
on_cleanup() { CLEANUPS+=("$*"); }
# on_teardown CMD: run at exit (last registered first) before the leak check, for what must stop
# before leaks are judged: another engine's containers and daemons (podman, containerd).
on_teardown() { TEARDOWNS+=("$*"); }

oci() { timeout -k 5 "$OCI_TIMEOUT" "$SKIFF_OCI" --root "$ROOT" "$@"; }

# Runs a command with stdin from /dev/null; stdout -> OUT, stderr -> ERR, exit code -> RC.
# Output goes through files, not pipes, so a detached container keeping them open can't hang us.
capture() {
    CAPTURE_SEQ=$((CAPTURE_SEQ + 1))
    local o=$TMP/capture.$CAPTURE_SEQ.out e=$TMP/capture.$CAPTURE_SEQ.err
    RC=0
    "$@" >"$o" 2>"$e" </dev/null || RC=$?
    OUT=$(<"$o") ERR=$(<"$e")
}

args_json() { jq -cn '$ARGS.positional' --args -- "$@"; }

# make_bundle DIR [jq-filter...]: a bundle on the shared read-only rootfs (tests/fixtures/make-bundle).
make_bundle() {
    "$FIXTURES/make-bundle" "$1" ".process.env += [\"SKIFF_TEST_MARK=$SKIFF_TEST_MARK\"]" "${@:2}"
}

# bundle_for ID [jq-filter...] -- CMD...: makes $TMP/bundle-ID with process.args=CMD; sets BUNDLE.
bundle_for() {
    local id=$1 filters=()
    shift
    while (($#)) && [[ $1 != -- ]]; do filters+=("$1"); shift; done
    [[ ${1-} == -- ]] || die "bundle_for $id: missing -- before the command"
    shift
    register_id "$id"
    BUNDLE=$TMP/bundle-$id
    make_bundle "$BUNDLE" ".process.args = $(args_json "$@")" "${filters[@]}"
}

# run_in ID [jq-filter...] -- CMD...: `run`s CMD in a new container; OUT, ERR, RC as capture.
run_in() {
    local id=$1
    bundle_for "$@"
    capture oci run --bundle "$BUNDLE" "$id"
}

# create_in ID [jq-filter...] -- CMD...: `create`s the container (not started); dies if that fails.
create_in() {
    local id=$1
    bundle_for "$@"
    capture oci create --bundle "$BUNDLE" "$id"
    [[ $RC == 0 ]] || die "create $id failed (exit $RC): $ERR"
}

state_of() { oci state "$1" 2>/dev/null | jq -r ".${2:-status}" 2>/dev/null || true; }
pid_of() { state_of "$1" pid; }

# wait_until SECONDS CMD...: polls CMD every 50 ms; returns 1 on timeout.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.05
    done
}
# A process is alive if it exists and is not a zombie (exited containers are reaped by init later).
proc_alive() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [[ $st != Z ]]; }
proc_gone() { ! proc_alive "$1"; }
status_is() { [[ $(state_of "$1") == "$2" ]]; }
wait_status() { # ID STATUS
    if wait_until 10 status_is "$1" "$2"; then ok "$1 reached status $2"; else fail "$1: status '$2' not reached (is '$(state_of "$1")')"; fi
}

# Copies the shared rootfs for a test that needs to write to it; echoes the copy's path.
writable_rootfs() { local d=$TMP/rootfs-$1; cp -a "$ROOTFS" "$d"; echo "$d"; }

host_cgroup_dirs() { # CGROUP-NAME-GLOB: cgroup dirs with that name in any hierarchy
    find /sys/fs/cgroup/ -mindepth 2 -maxdepth 6 -type d -name "$1" 2>/dev/null || true
}

# ---- leak checks and cleanup -------------------------------------------------------------------
marked_processes() { # pids (not ours) that carry SKIFF_TEST_MARK: runtime or container processes
    local f pid ppid
    for f in $(grep -lzx "SKIFF_TEST_MARK=$SKIFF_TEST_MARK" /proc/[0-9]*/environ 2>/dev/null || true); do
        pid=${f#/proc/}; pid=${pid%/environ}
        ppid=$(awk '{print $4}' "/proc/$pid/stat" 2>/dev/null) || continue
        [[ $pid == "$$" || $pid == "$BASHPID" || $ppid == "$$" || $ppid == "$BASHPID" ]] && continue
        echo "$pid"
    done
}

mounts_under() { # DIR...: host mount points at or below any DIR
    awk -v dirs="$*" 'BEGIN { n = split(dirs, d, " ") }
        { for (i = 1; i <= n; i++) if ($5 == d[i] || index($5, d[i] "/") == 1) print $5 }' /proc/self/mountinfo
}

# check_no_leaks LABEL: nothing of this test's containers is left (state, cgroups, mounts, processes).
check_no_leaks() {
    local label=$1 left pids cg
    left=$(ls -A "$ROOT" 2>/dev/null || true)
    [[ -z $left ]] || fail "$label: state dir entries left under $ROOT: $left"
    cg=$(host_cgroup_dirs "t-$$-*")
    [[ -z $cg ]] || fail "$label: cgroup dirs left: $cg"
    left=$(mounts_under "$TMP" "$ROOT" "$ROOTFS")
    [[ -z $left ]] || fail "$label: mounts left: $left"
    pids=$(marked_processes)
    [[ -z $pids ]] || fail "$label: processes left: $(for p in $pids; do printf '%s:%s ' "$p" "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"; done)"
}

# assert_nothing_left LABEL ID: after a failed create, the container left no state, cgroup, mount or process.
assert_nothing_left() {
    local label=$1 id=$2 left
    if oci state "$id" >/dev/null 2>&1; then fail "$label: state of $id still answers"; else ok "$label: no state"; fi
    [[ ! -e $ROOT/$id ]] && ok "$label: no state dir entry" || fail "$label: state dir entry $ROOT/$id left"
    assert_eq "$label: no cgroup dir" "" "$(host_cgroup_dirs "$id")"
    assert_eq "$label: no mount" "" "$(mounts_under "$TMP" "$ROOT" "$ROOTFS")"
    sleep 0.1 # a killed child may take a moment to vanish
    left=$(marked_processes)
    assert_eq "$label: no process" "" "$left"
}

cleanup() {
    local rc=$? id i p m d
    set +eE
    [[ -n ${ROOT-} && -n ${TMP-} ]] || exit "$rc"
    trap - ERR
    for id in "${IDS[@]}"; do oci delete --force "$id" >/dev/null 2>&1; done
    for ((i = ${#TEARDOWNS[@]} - 1; i >= 0; i--)); do eval "${TEARDOWNS[i]}" >/dev/null 2>&1; done
    check_no_leaks "after cleanup"
    # Remove whatever leaked so the host stays clean; the test has already failed above.
    for p in $(marked_processes); do kill -KILL "$p" 2>/dev/null; done
    for m in $(mounts_under "$TMP" "$ROOT" "$ROOTFS" | sort -r); do umount -l "$m" 2>/dev/null; done
    sleep 0.1
    for d in $(host_cgroup_dirs "t-$$-*" | sort -r); do rmdir "$d" 2>/dev/null; done
    # The test's own cleanups (netns, cgroup parents, chattr) run last, after the leaks are gone.
    for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do eval "${CLEANUPS[i]}" >/dev/null 2>&1; done
    rm -rf "$TMP" "$ROOT"
    if ((${#FAILURES[@]})); then
        echo "$TEST_NAME: ${#FAILURES[@]} check(s) failed:" >&2
        printf '  - %s\n' "${FAILURES[@]}" >&2
        exit 1
    fi
    if ((rc != 0)); then echo "$TEST_NAME: aborted (exit $rc)" >&2; exit "$rc"; fi
    echo "$TEST_NAME: all checks passed"
    exit 0
}
# Temp dirs are made only once cleanup is defined and trapped, so an early abort leaks nothing.
ROOT=$(mktemp -d /tmp/skiff-root.XXXXXX) # the runtime's --root (state dir)
TMP=$(mktemp -d /tmp/skiff-test.XXXXXX)  # bundles, logs, scratch
trap cleanup EXIT
trap 'exit 143' TERM INT HUP # a killed test (ctest timeout) still cleans up
trap 'echo "ERROR: $TEST_NAME: line $LINENO: \`$BASH_COMMAND\` failed" >&2' ERR
"$FIXTURES/make-rootfs" "$ROOTFS"
