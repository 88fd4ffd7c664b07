#!/usr/bin/env bash
# Boot the v2 test VM (tests/v2vm/build.sh makes it) and run COMMAND in it,
# in this work tree, as root, on a pure cgroup v2 kernel (cgroup_no_v1=all).
#
#   bash tests/v2vm/run.sh [--vm WORKDIR] [--timeout SECONDS] COMMAND...
#
# The host's root is shared read-only (with a tmpfs overlay in the VM), the
# work tree read-write; there is no network device.  /dev/kvm here cannot run
# a stock kernel, so the VM runs under TCG: slow, but the same everywhere.
# Prints the command's output; exits with its status (124 on time-out).
set -euo pipefail
vm=/var/tmp/fastctr-v2vm
timeout=900
while [ $# -gt 0 ]; do
    case "$1" in
        --vm) vm=$2; shift 2 ;;
        --timeout) timeout=$2; shift 2 ;;
        *) break ;;
    esac
done
repo=$(cd "$(dirname "$0")/../.." && pwd)
state="$repo/.v2vm"
rm -rf "$state"
mkdir -p "$state"
{   # the caller's PATH (its Python and fastctr) and fastctr's settings
    printf 'export PATH=%q\n' "$PATH"
    env | grep -E '^(FASTCTR_[A-Z0-9_]+|CI)=' | sed 's/^/export /' || true
    printf '%q ' "$@"
    echo
} > "$state/cmd"
set +e
timeout "$timeout" qemu-system-x86_64 -machine q35 -accel tcg -cpu max -smp 2 -m 3072 \
    -kernel "$vm/vmlinuz" -initrd "$vm/initramfs.gz" \
    -append "console=ttyS0 quiet panic=-1 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 fastctr_work=$repo" \
    -virtfs local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap \
    -virtfs local,path="$repo",mount_tag=work,security_model=passthrough,multidevs=remap \
    -nic none -nographic -no-reboot -serial file:"$state/console" -monitor none < /dev/null
qemu=$?
set -e
cat "$state/out" 2>/dev/null || true
if [ ! -e "$state/rc" ]; then
    echo "v2vm: the command did not finish (qemu status $qemu); console:" >&2
    tail -30 "$state/console" >&2 || true
    exit $([ $qemu -eq 124 ] && echo 124 || echo 125)
fi
exit "$(cat "$state/rc")"
