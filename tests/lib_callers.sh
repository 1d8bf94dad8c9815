# Shared by the tests where another engine (podman, containerd) drives skiff-oci: makes the test
# shell a child subreaper, then sources lib.sh; helpers for optional skiff-oci commands and cgroups.
#
# conmon and containerd's shims daemonize: without a subreaper they would be re-parented to the
# host's pid 1, outlive the test unnoticed and never be reaped. As a subreaper, the test shell
# adopts them (bash reaps any child it is sent SIGCHLD for) and can find and stop them by pid.
if [[ ${SKIFF_SUBREAPER_OF-} != "$$" ]]; then
    command -v python3 >/dev/null || { echo "FAIL: $(basename "$0"): python3 is missing (tools/setup)" >&2; exit 1; }
    # The exec keeps the pid, so the re-run script sees SKIFF_SUBREAPER_OF == $$ and goes on.
    SKIFF_SUBREAPER_OF=$$ exec python3 -c '
import ctypes, os, sys
PR_SET_CHILD_SUBREAPER = 36
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER): " + os.strerror(ctypes.get_errno()))
os.execvp(sys.argv[1], sys.argv[1:])' bash "$0" "$@"
fi
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_tools() { # TOOL...: the callers are installed by tools/setup; missing is a setup failure
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool is not installed (tools/setup installs it)"
    done
}

# our_children NAME: pids of this shell's children (adopted daemons included) whose command is NAME.
our_children() {
    local f pid
    for f in /proc/[0-9]*/stat; do
        pid=${f#/proc/}; pid=${pid%/stat}
        [[ $(awk '{print $4}' "$f" 2>/dev/null) == "$$" ]] || continue
        [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$1" ]] && echo "$pid"
    done
    return 0
}

# cgroup_procs NAME: pids in any cgroup v1/v2 hierarchy at or below /NAME.
cgroup_procs() {
    local d
    for d in /sys/fs/cgroup/*/"$1" /sys/fs/cgroup/"$1"; do
        if [[ -d $d ]]; then find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null || true; fi
    done | sort -un
}
cgroup_has_no_procs() { [[ -z $(cgroup_procs "$1") ]]; }

# remove_cgroup_tree NAME: kills what is left in /NAME (only processes this test started run
# there) and removes the cgroup dirs bottom-up, in every hierarchy.
remove_cgroup_tree() {
    local pid d
    for pid in $(cgroup_procs "$1"); do kill -KILL "$pid" 2>/dev/null; done
    wait_until 5 cgroup_has_no_procs "$1" || true
    for d in /sys/fs/cgroup/*/"$1" /sys/fs/cgroup/"$1"; do
        if [[ -d $d ]]; then find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
    done
}

# keep_host_dir DIR: at cleanup, removes DIR if this test made it (a default state dir of a caller
# or of skiff-oci) and it is empty by then.
keep_host_dir() {
    [[ -e $1 ]] || on_cleanup "rmdir '$1'"
}

# step FUNCTION: runs one check function and prints how long it took (these tests must stay quick).
step() {
    local t0=${EPOCHREALTIME/[.,]/}
    "$1"
    echo "time: $1 $(((${EPOCHREALTIME/[.,]/} - t0) / 1000)) ms"
}
