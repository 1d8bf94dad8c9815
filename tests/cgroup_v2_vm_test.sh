#!/usr/bin/env bash
# Pure cgroup v2 on a real kernel: boots Debian's kernel under qemu (tcg) with an initramfs holding
# skiff-oci, busybox and a container rootfs; tests/fixtures/vm-init runs every check in one boot.
#
# This host is hybrid (v1 controllers), so the pure-v2 paths of skiff-oci (limits in the unified
# hierarchy, controllers enabled on the way down, the eBPF device filter, cgroup.freeze) only run
# in the VM. The VM prints one VMCHECK line per check on its serial console; a failed, skipped or
# missing check fails this test.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VM_TIMEOUT=${SKIFF_VM_TIMEOUT:-300} # seconds for boot + checks; tcg on a busy 2-core host is slow
# SKIFF_VM_LOG=FILE keeps the whole VM console there.
QEMU=$(command -v qemu-system-x86_64 || true)
[[ -n $QEMU ]] || skip "qemu-system-x86_64 is missing (tools/setup installs qemu-system-x86)"
KERNEL=$(ls /boot/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -n 1 || true)
[[ -n $KERNEL ]] || skip "no Debian kernel in /boot (tools/setup installs linux-image-amd64)"
KVER=${KERNEL#/boot/vmlinuz-}
BUSYBOX=/bin/busybox
[[ -x $BUSYBOX ]] && ! ldd "$BUSYBOX" >/dev/null 2>&1 || die "$BUSYBOX is not a static busybox (busybox-static)"
command -v cpio >/dev/null || die "cpio is missing (tools/setup installs it)"

expected=(memory pids cpu io oom devices freeze update nothing-left)

t_start=$(date +%s.%N)
stage=$TMP/initramfs
mkdir -p "$stage"/{bin,bundles,modules}

# ---- the initramfs ------------------------------------------------------------------------------
cp "$FIXTURES/vm-init" "$stage/init"
chmod 755 "$stage/init"
cp "$BUSYBOX" "$stage/bin/busybox"
# skiff-oci, without its debug info (half the initramfs otherwise); with its libraries and loader
# when it is linked dynamically (-DSKIFF_STATIC_OCI=OFF).
if command -v strip >/dev/null; then strip -o "$stage/bin/skiff-oci" "$SKIFF_OCI"; else cp "$SKIFF_OCI" "$stage/bin/skiff-oci"; fi
if ldd "$SKIFF_OCI" >/dev/null 2>&1; then
    for lib in $(ldd "$SKIFF_OCI" | grep -oE '/[^ ]+'); do
        mkdir -p "$stage$(dirname "$lib")"
        cp -L "$lib" "$stage$lib"
    done
fi
cp -a "$ROOTFS" "$stage/rootfs"
# The virtio disk for the io checks: its modules in load order (the kernel has them as modules).
n=0
for ko in $(for m in virtio_pci virtio_blk; do modprobe --show-depends -S "$KVER" "$m"; done 2>/dev/null |
    awk '$1 == "insmod" && !seen[$2]++ { print $2 }'); do
    n=$((n + 1))
    cp "$ko" "$stage/modules/$(printf '%02d' "$n")-$(basename "$ko")"
done
((n > 0)) || die "no virtio modules for $KVER under /lib/modules"
echo "IO_DISK=vda" >"$stage/vm.env"

# ---- the bundles (root.path /rootfs: the VM's copy) ---------------------------------------------
bundle() { # NAME ARGS-JSON [jq-filter...]
    local name=$1 args=$2
    shift 2
    "$FIXTURES/make-bundle" "$stage/bundles/$name" '.root.path = "/rootfs"' ".process.args = $args" "$@"
}
bundle mem '["sh", "-c", "echo max=$(cat /sys/fs/cgroup/memory.max); echo cgroup=$(cat /proc/self/cgroup)"]' \
    '.linux.resources.memory = {limit: 33554432, reservation: 16777216, swap: 33554432}'
bundle pids '["sh", "-c", "i=0; while [ $i -lt 20 ]; do sleep 60 & i=$((i + 1)); done; wait"]' \
    '.linux.resources.pids = {limit: 8}'
bundle cpu '["sh", "-c", "timeout 2 sh -c \"while :; do :; done\"; exit 0"]' \
    '.linux.resources.cpu = {shares: 512, quota: 50000, period: 100000, cpus: "0"}'
# 4094 stands for the disk's major, which the VM learns at boot (vm-init replaces it in every bundle).
bundle io '["dd", "if=/dev/vda", "of=/dev/null", "bs=64k", "count=12", "iflag=direct"]' \
    '.linux.resources.blockIO = {weight: 500, throttleReadBpsDevice: [{major: 4094, minor: 0, rate: 262144}]}' \
    '.linux.devices = [{path: "/dev/vda", type: "b", major: 4094, minor: 0, fileMode: 432, uid: 0, gid: 0}]' \
    '.linux.resources.devices += [{allow: true, type: "b", major: 4094, minor: 0, access: "r"}]'
bundle oom '["tail", "/dev/zero"]' '.linux.resources.memory = {limit: 16777216, swap: 16777216}'
devices_script='cat /dev/null && echo "null: ok"; echo "zero: $(head -c 4 /dev/zero | wc -c)"
mknod /dev/sda-test b 8 0 && echo "mknod b: ok"; head -c 1 /dev/sda-test
mknod /dev/mem-test c 1 1 && echo "mknod c: ok"; head -c 1 /dev/mem-test; true'
bundle dev "$(args_json sh -c "$devices_script")"
bundle devallow "$(args_json sh -c "$devices_script")" \
    '.linux.resources.devices += [{allow: true, type: "b", major: 8, minor: 0, access: "rw"}]'
# The disk again, allowed rwm then denied w: reads pass, a write or read-write open does not.
# (The runtime appends its default devices after the config's rules, so a config can't take
# /dev/null away, as with runc: the disk, which is not among them, shows the rule order.)
bundle devrules "$(args_json sh -c 'echo "read: $(head -c 512 /dev/vdx | wc -c)"
dd if=/dev/zero of=/dev/vdx bs=512 count=1 && echo "write: ok"; echo x >/dev/null && echo "null: ok"; true')" \
    '.linux.devices = [{path: "/dev/vdx", type: "b", major: 4094, minor: 0, fileMode: 432, uid: 0, gid: 0}]' \
    '.linux.resources.devices += [{allow: true, type: "b", major: 4094, minor: 0, access: "rwm"},
                                  {allow: false, type: "b", major: 4094, minor: 0, access: "w"}]'
bundle frz '["sleep", "1000"]'
bundle upd '["sleep", "1000"]' '.linux.resources.memory = {limit: 33554432}' '.linux.resources.pids = {limit: 20}'

# Uncompressed: the kernel unpacks it without a decompressor, which costs seconds under tcg.
(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$TMP/initramfs.cpio"
truncate -s 16M "$TMP/disk.img"
t_built=$(date +%s.%N)

# ---- boot -------------------------------------------------------------------------------------
serial=$TMP/serial.log
"$QEMU" -accel tcg -nographic -no-reboot -m 384 -smp 2 -nic none \
    -kernel "$KERNEL" -initrd "$TMP/initramfs.cpio" \
    -append "console=ttyS0 panic=-1 loglevel=1 cgroup_no_v1=all mitigations=off" \
    -drive "file=$TMP/disk.img,format=raw,if=virtio,cache=unsafe" \
    </dev/null >"$serial" 2>&1 &
qemu_pid=$!
# Killed on any exit until reaped (after that the pid may belong to someone else).
stop_qemu() { [[ -z $qemu_pid ]] || kill -KILL "$qemu_pid"; }
on_cleanup stop_qemu
deadline=$((SECONDS + VM_TIMEOUT))
while kill -0 "$qemu_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
if kill -0 "$qemu_pid" 2>/dev/null; then
    kill -KILL "$qemu_pid"
    fail "the VM did not power off within ${VM_TIMEOUT}s"
fi
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=
t_end=$(date +%s.%N)

# ---- results ----------------------------------------------------------------------------------
log=$(tr -d '\r' <"$serial")
[[ -z ${SKIFF_VM_LOG-} ]] || printf '%s\n' "$log" >"$SKIFF_VM_LOG" # the whole console, for debugging
echo "---- VM console (VMCHECK lines and failures) ----"
grep -E '^(VMBOOT|VMDISKS|VMCHECK|VMCHECKS-DONE|  \| )|Kernel panic|BUG|Call Trace' <<<"$log" || true
echo "----"
grep -q '^VMCHECKS-DONE' <<<"$log" || fail "the VM did not finish its checks"
for name in "${expected[@]}"; do
    line=$(grep -E "^VMCHECK (ok|fail|skip) $name( |:|$)" <<<"$log" | head -n 1 || true)
    case $line in
    "VMCHECK ok "*) ok "vm: $name" ;;
    "VMCHECK skip "*) fail "vm: $name skipped: ${line#*: }" ;;
    "VMCHECK fail "*) fail "vm: $name: ${line#*: }" ;;
    *) fail "vm: check $name is missing from the console output" ;;
    esac
done
if ((${#FAILURES[@]})); then
    echo "---- VM console, the last 80 lines ----"
    tail -n 80 <<<"$log"
    echo "----"
fi
boot=$(sed -n 's/^VMBOOT uptime \([0-9.]*\).*/\1/p' <<<"$log" | head -n 1)
done_at=$(sed -n 's/^VMCHECKS-DONE.* uptime \([0-9.]*\).*/\1/p' <<<"$log" | head -n 1)
awk -v a="$t_start" -v b="$t_built" -v c="$t_end" -v boot="${boot:-?}" -v done_at="${done_at:-?}" 'BEGIN {
    printf "timing: initramfs %.1fs, qemu %.1fs (guest: init started at %ss, checks done at %ss), total %.1fs\n",
        b - a, c - b, boot, done_at, c - a }'
