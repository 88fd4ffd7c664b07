"""Images made by other tools (umoci, skopeo) in every format fastctr loads,
run by fastctr and compared, entry by entry, with `umoci unpack` of the same
image."""
import os
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest

from fastctr.bundle import make_rootfs
from fastctr.engine import Engine, RunOptions
from fastctr import images

pytestmark = pytest.mark.skipif(not (shutil.which("umoci") and shutil.which("skopeo")),
                                reason="needs umoci and skopeo (tests/run.sh installs them)")

LIST = "find / -xdev -exec stat -c '%n|%f|%u|%g|%s' {} +; echo LINKS; find / -xdev -type l -exec readlink -n {} ';' -exec echo ' <- {}' ';'"
# Paths the runtime adds to every container (mount points and bind targets).
ADDED = {"/", "/etc/hostname", "/etc/hosts", "/proc", "/sys", "/dev"}


def sh(*cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"{' '.join(cmd)}: {p.stderr}"
    return p.stdout


@pytest.fixture(scope="module")
def tool_images():
    """An umoci image of two layers (the second deletes and changes files),
    then skopeo copies of it in each format fastctr loads."""
    tmp = tempfile.mkdtemp(prefix="fastctr-tools-", dir="/var/tmp")
    os.chmod(tmp, 0o755)
    layout = os.path.join(tmp, "layout")
    bundle = os.path.join(tmp, "bundle")
    sh("umoci", "init", "--layout", layout)
    sh("umoci", "new", "--image", f"{layout}:base")
    sh("umoci", "unpack", "--image", f"{layout}:base", bundle)
    rootfs = os.path.join(bundle, "rootfs")
    shutil.rmtree(rootfs)
    make_rootfs(rootfs)
    os.makedirs(os.path.join(rootfs, "srv/app"))
    with open(os.path.join(rootfs, "srv/app/old.txt"), "w") as f:
        f.write("old\n")
    os.symlink("/srv/app/old.txt", os.path.join(rootfs, "srv/abs-link"))
    os.chown(os.path.join(rootfs, "srv/app"), 1000, 1000)
    sh("umoci", "repack", "--image", f"{layout}:base", bundle)
    os.unlink(os.path.join(rootfs, "srv/app/old.txt"))  # becomes a whiteout
    with open(os.path.join(rootfs, "srv/app/new.txt"), "w") as f:
        f.write("new\n")
    os.chmod(os.path.join(rootfs, "srv/app/new.txt"), 0o4755)
    sh("umoci", "repack", "--image", f"{layout}:base", bundle)
    sh("umoci", "config", "--image", f"{layout}:base", "--config.cmd", "/bin/sh")
    formats = {
        "oci-layout": layout,
        "docker-archive": os.path.join(tmp, "docker.tar"),
        "oci-archive": os.path.join(tmp, "oci.tar"),
        "oci-zstd": os.path.join(tmp, "zstd"),
    }
    sh("skopeo", "copy", "-q", f"oci:{layout}:base", f"docker-archive:{formats['docker-archive']}:tools/base:v1")
    sh("skopeo", "copy", "-q", f"oci:{layout}:base", f"oci-archive:{formats['oci-archive']}:tools/base:oci")
    sh("skopeo", "copy", "-q", "--dest-compress-format", "zstd", f"oci:{layout}:base", f"oci:{formats['oci-zstd']}:zstd")
    reference = os.path.join(tmp, "reference")
    sh("umoci", "unpack", "--image", f"{layout}:base", reference)
    yield formats, os.path.join(reference, "rootfs")
    shutil.rmtree(tmp, ignore_errors=True)


def host_listing(root):
    entries, links = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames + ([""] if dirpath == root else []):
            path = os.path.join(dirpath, name) if name else dirpath
            st = os.lstat(path)
            rel = "/" + os.path.relpath(path, root) if path != root else "/"
            size = st.st_size if stat.S_ISREG(st.st_mode) else 0
            entries[rel] = (st.st_mode, st.st_uid, st.st_gid, size)
            if stat.S_ISLNK(st.st_mode):
                links[rel] = os.readlink(path)
    return entries, links


def container_listing(text):
    entries, links = {}, {}
    body, _, link_text = text.partition("LINKS\n")
    for line in body.splitlines():
        path, mode, uid, gid, size = line.rsplit("|", 4)
        mode = int(mode, 16)
        entries[path] = (mode, int(uid), int(gid), int(size) if stat.S_ISREG(mode) else 0)
    for line in link_text.splitlines():
        target, _, path = line.partition(" <- ")
        links[path] = target
    return entries, links


@pytest.mark.parametrize("fmt", ["oci-layout", "docker-archive", "oci-archive", "oci-zstd"])
@pytest.mark.parametrize("driver", ["overlay2", "vfs"])
def test_tool_image_matches_umoci_unpack(tool_images, fmt, driver, state_root, tmp_path):
    formats, reference = tool_images
    data_root = tempfile.mkdtemp(prefix="fastctr-test-data-", dir="/var/tmp")
    engine = Engine(data_root=data_root, state_root=state_root, driver=driver, cgroup_parent="self")
    try:
        loaded = images.load(engine.store, engine.driver, formats[fmt])
        assert len(loaded) == 1
        image_id, names = loaded[0]
        out = tmp_path / "listing"
        with open(out, "w") as f:
            status = engine.run(image_id, RunOptions(cmd=["sh", "-c", LIST], rm=True),
                                stdio=(-1, f.fileno(), sys.stderr.fileno()))
        assert status == 0
        got, got_links = container_listing(out.read_text())
        want, want_links = host_listing(reference)
        assert len(got) > 250 and len(got_links) > 200  # busybox and its applet links: a real listing
        # /dev, /proc, /sys hold the runtime's own mounts: compare the image's content.
        for path in ("/dev", "/proc", "/sys"):
            want.pop(path, None)
        missing = {p: m for p, m in want.items() if p not in got}
        assert not missing, f"missing from the container: {sorted(missing)[:10]}"
        differ = {p: (want[p], got[p]) for p in want if p in got and want[p] != got[p] and p not in ADDED}
        assert not differ, f"different: {dict(list(differ.items())[:10])}"
        extra = set(got) - set(want) - ADDED
        assert not extra, f"not in the image: {sorted(extra)[:10]}"
        assert got_links == {p: t for p, t in want_links.items()}
        assert "/srv/app/old.txt" not in got and got["/srv/app/new.txt"][0] & 0o7777 == 0o4755
    finally:
        engine.store.close()
        shutil.rmtree(data_root, ignore_errors=True)
