# Tests the container filesystem: read-only rootfs, bind/tmpfs mounts and flags, /dev, masked and read-only paths, devices, sysctl.
source "$(dirname "$0")/lib.sh"

# mountinfo_line MOUNTPOINT: the container's mountinfo line(s) for that mount point (run inside).
MOUNTINFO_OF='awk -v m="$0" '"'"'$5 == m'"'"' /proc/self/mountinfo'

check_readonly_rootfs() {
    new_id
    run_in "$ID" -- sh -c 'touch /newfile 2>&1; echo "rc=$?"'
    assert_contains "readonly rootfs: touch / fails" "$OUT" "Read-only file system"
    assert_not_contains "readonly rootfs: touch exit code" "$OUT" "rc=0"
    [[ ! -e $ROOTFS/newfile ]] && ok "readonly rootfs: nothing written" || fail "readonly rootfs: /newfile written"
}

check_bind_mount_readonly() {
    local data=$TMP/data
    mkdir -p "$data" && echo hello-from-host >"$data/file"
    new_id
    run_in "$ID" ".mounts += [{\"destination\": \"/mnt\", \"type\": \"bind\", \"source\": \"$data\", \"options\": [\"rbind\", \"ro\"]}]" \
        -- sh -c 'cat /mnt/file; touch /mnt/new 2>&1; exit 0'
    assert_rc "bind mount: run" 0
    assert_contains "bind mount: host file visible" "$OUT" hello-from-host
    assert_contains "bind mount: read-only" "$OUT" "Read-only file system"
    [[ ! -e $data/new ]] && ok "bind mount: host dir unchanged" || fail "bind mount: file created through ro bind"
}

check_tmpfs_options() {
    local line
    new_id
    run_in "$ID" '.mounts += [{"destination": "/opt", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=750"]}]' \
        -- sh -c "$MOUNTINFO_OF" /opt
    assert_rc "tmpfs: run" 0
    line=$(tail -n1 <<<"$OUT")
    assert_contains "tmpfs: fstype" "$line" " - tmpfs "
    assert_contains "tmpfs: size" "$line" "size=1024k"
    assert_contains "tmpfs: mode" "$line" "mode=750"
    local flag opts
    opts=$(awk '{print $6}' <<<"$line")
    for flag in nosuid nodev noexec; do
        assert_contains "tmpfs: $flag in mount options" ",$opts," ",$flag,"
    done
}

check_dev() {
    new_id
    run_in "$ID" -- sh -c '
        for f in null zero full random urandom tty; do [ -c /dev/$f ] && echo "char $f"; done
        [ -e /dev/ptmx ] && echo "exists ptmx"
        for f in fd stdin stdout stderr; do [ -L /dev/$f ] && echo "link $f $(readlink /dev/$f)"; done
        awk "\$5 == \"/dev/pts\" || \$5 == \"/dev/shm\" {print \"mount\", \$5, \$(NF-2)}" /proc/self/mountinfo
        exit 0'
    assert_rc "/dev: run" 0
    local f
    for f in null zero full random urandom tty; do assert_contains "/dev/$f is a char device" "$OUT" "char $f"; done
    assert_contains "/dev/ptmx exists" "$OUT" "exists ptmx"
    assert_contains "/dev/fd link" "$OUT" "link fd /proc/self/fd"
    assert_contains "/dev/stdin link" "$OUT" "link stdin /proc/self/fd/0"
    assert_contains "/dev/stdout link" "$OUT" "link stdout /proc/self/fd/1"
    assert_contains "/dev/stderr link" "$OUT" "link stderr /proc/self/fd/2"
    assert_contains "/dev/pts mounted" "$OUT" "mount /dev/pts devpts"
    assert_contains "/dev/shm mounted" "$OUT" "mount /dev/shm"
}

check_masked_and_readonly_paths() {
    # /proc/kcore is absent on kernels without CONFIG_PROC_KCORE; /proc/timer_list is masked too.
    local masked=/proc/kcore
    [[ -e $masked ]] || masked=/proc/timer_list
    new_id
    # CAP_SYS_ADMIN so that only the read-only mount (not a missing capability) stops the write.
    run_in "$ID" '.process.capabilities.bounding += ["CAP_SYS_ADMIN"] | .process.capabilities.effective += ["CAP_SYS_ADMIN"] | .process.capabilities.permitted += ["CAP_SYS_ADMIN"]' \
        -- sh -c '
        echo "masked $(wc -c <'$masked')"
        echo "firmware $(ls -A /sys/firmware | wc -l)"
        { echo evil >/proc/sys/kernel/hostname; } 2>&1 || echo "write-failed"
        echo "hostname $(hostname)"'
    assert_rc "masked paths: run" 0
    assert_contains "$masked masked (reads 0 bytes)" "$OUT" "masked 0"
    assert_contains "/sys/firmware masked (empty)" "$OUT" "firmware 0"
    assert_contains "/proc/sys read-only: write fails" "$OUT" "write-failed"
    assert_contains "/proc/sys read-only: EROFS" "$OUT" "Read-only file system"
    assert_not_contains "/proc/sys read-only: hostname unchanged" "$OUT" "hostname evil"
}

check_linux_devices() {
    new_id
    run_in "$ID" '.linux.devices += [{"path": "/dev/full2", "type": "c", "major": 1, "minor": 7, "fileMode": 438, "uid": 0, "gid": 0}]' \
        -- stat -c '%F %t %T %a' /dev/full2
    assert_rc "linux.devices: run" 0
    assert_eq "linux.devices: /dev/full2 is c 1:7 0666" "character special file 1 7 666" "$OUT"
}

check_rootfs_propagation_and_no_pivot() {
    new_id
    run_in "$ID" '.linux.rootfsPropagation = "private"' -- echo propagation-ok
    assert_rc "rootfsPropagation private: run" 0
    assert_eq "rootfsPropagation private: output" propagation-ok "$OUT"
    new_id
    bundle_for "$ID" -- sh -c 'cat /etc/hostname'
    capture oci run --no-pivot --bundle "$BUNDLE" "$ID"
    assert_rc "--no-pivot: run" 0
    assert_eq "--no-pivot: sees the container rootfs" skiff-rootfs "$OUT"
}

check_sysctl() {
    new_id
    run_in "$ID" '.linux.sysctl = {"net.ipv4.ip_forward": "1"}' -- cat /proc/sys/net/ipv4/ip_forward
    assert_rc "sysctl: run" 0
    assert_eq "sysctl: net.ipv4.ip_forward inside the netns" 1 "$OUT"
    assert_eq "sysctl: host value untouched" "$HOST_IP_FORWARD" "$(cat /proc/sys/net/ipv4/ip_forward)"
}

check_cgroup_mounts() {
    new_id
    run_in "$ID" -- awk '$5 ~ "^/sys/fs/cgroup" { for (i = 7; $i != "-"; i++); print $5, $(i+1) }' /proc/self/mountinfo
    assert_rc "cgroup mounts: run" 0
    assert_match "cgroup mounts: a cgroup filesystem under /sys/fs/cgroup" '^/sys/fs/cgroup[^ ]* cgroup2?$' "$OUT"
}

HOST_IP_FORWARD=$(cat /proc/sys/net/ipv4/ip_forward)
check_readonly_rootfs
check_bind_mount_readonly
check_tmpfs_options
check_dev
check_masked_and_readonly_paths
check_linux_devices
check_rootfs_propagation_and_no_pivot
check_sysctl
check_cgroup_mounts
