"""Make a small OCI bundle from the host's static busybox.

Used by the README's demo, the tests and the benchmarks until images exist:
rootfs/bin/busybox plus one symlink per applet, and a config.json."""
import json
import os
import shutil
import subprocess

from fastctr.runtime.defaults import default_spec

BUSYBOX_PATHS = ("/bin/busybox", "/usr/bin/busybox")


def find_busybox():
    for p in BUSYBOX_PATHS:
        if os.path.exists(p):
            return p
    raise FileNotFoundError("busybox not found: install Debian's busybox-static")


def make_rootfs(rootfs):
    """A busybox root filesystem; reused when it already exists."""
    if os.path.exists(os.path.join(rootfs, "bin", "busybox")):
        return rootfs
    for d in ("bin", "proc", "sys", "dev", "etc", "tmp", "root"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
    shutil.copy2(find_busybox(), os.path.join(rootfs, "bin", "busybox"))
    applets = subprocess.run([find_busybox(), "--list"], capture_output=True, text=True, check=True).stdout.split()
    for name in applets:
        link = os.path.join(rootfs, "bin", name)
        if name != "busybox" and not os.path.lexists(link):
            os.symlink("busybox", link)
    with open(os.path.join(rootfs, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    with open(os.path.join(rootfs, "etc", "group"), "w") as f:
        f.write("root:x:0:\ntty:x:5:\nnobody:x:65534:\n")
    return rootfs


def make_bundle(bundle, args=("sh",), rootfs=None, **spec_changes):
    """Write BUNDLE/config.json (runc's defaults, terminal off) for args.

    rootfs: an existing root filesystem to point at instead of making
    BUNDLE/rootfs.  Keyword arguments replace top-level spec keys."""
    os.makedirs(bundle, exist_ok=True)
    spec = default_spec(args=args, terminal=False)
    if rootfs is None:
        make_rootfs(os.path.join(bundle, "rootfs"))
    else:
        spec["root"]["path"] = os.path.abspath(rootfs)
    spec.update(spec_changes)
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(spec, f, indent=2)
    return spec
