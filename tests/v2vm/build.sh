#!/usr/bin/env bash
# Build the pure cgroup v2 test VM from Debian packages only: the Debian
# kernel (downloaded and unpacked here, never installed), a busybox
# initramfs that loads virtio, 9p and overlay, and qemu-system-x86.
#
#   bash tests/v2vm/build.sh [WORKDIR]     (default /var/tmp/fastctr-v2vm)
#
# WORKDIR then holds vmlinuz and initramfs.gz; tests/v2vm/run.sh boots them.
set -euo pipefail
work=${1:-/var/tmp/fastctr-v2vm}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
cd "$work"
export DEBIAN_FRONTEND=noninteractive
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v busybox >/dev/null || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ! -e vmlinuz ]; then
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    if [ -z "$pkg" ]; then
        apt-get update -qq
        pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    fi
    [ -n "$pkg" ] || { echo "v2vm: no linux-image-amd64 in the apt lists (apt-get update?)" >&2; exit 1; }
    rm -rf kernel "$pkg"_*.deb
    apt-get download -qq "$pkg" 2>/dev/null
    dpkg-deb -x "$pkg"_*.deb kernel
    rm -f "$pkg"_*.deb
    cp kernel/boot/vmlinuz-* vmlinuz
fi
version=$(ls kernel/lib/modules)
# The modules the initramfs loads, with what they depend on, in load order.
python3 "$here/modules.py" "kernel/lib/modules/$version" virtio_pci 9pnet_virtio 9p overlay veth bridge loop bfq > modules.order
rm -rf initramfs
mkdir -p initramfs/bin initramfs/lib/modules initramfs/proc initramfs/sys initramfs/dev initramfs/mnt
cp "$(command -v busybox)" initramfs/bin/busybox
for m in $(cat modules.order); do cp "kernel/lib/modules/$version/$m" initramfs/lib/modules/; done
sed 's|.*/|/lib/modules/|' modules.order > initramfs/modules.order
cp "$here/init" initramfs/init
chmod +x initramfs/init
(cd initramfs && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) > initramfs.gz
echo "v2vm: kernel $version, $(wc -l < modules.order) modules, $(du -h initramfs.gz | cut -f1) initramfs in $work"
