"""Images made by other tools (umoci, skopeo) in every format fastctr loads,
run by fastctr and compared, entry by entry, with `umoci unpack` of the same
image."""
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from fastctr.runtime.bundle import make_rootfs
from fastctr.engine import Engine, RunOptions
from fastctr.image import loading as images
from othertools import LIST, assert_same_tree, buildah_can_run, container_listing, private_buildah

pytestmark = pytest.mark.skipif(not (shutil.which("umoci") and shutil.which("skopeo")),
                                reason="needs umoci and skopeo (tests/run.sh installs them)")

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


def listed_image(engine, image_id, tmp_path):
    """Run LIST in a container of the image; return its parsed listing."""
    out = tmp_path / "listing"
    with open(out, "w") as f:
        status = engine.run(image_id, RunOptions(cmd=["sh", "-c", LIST], rm=True),
                            stdio=(-1, f.fileno(), sys.stderr.fileno()))
    assert status == 0
    return container_listing(out.read_text())


@contextlib.contextmanager
def loaded_engine(path, driver, state_root):
    """A fresh store with the one image at path loaded: (engine, image ID)."""
    data_root = tempfile.mkdtemp(prefix="fastctr-test-data-", dir="/var/tmp")
    engine = Engine(data_root=data_root, state_root=state_root, driver=driver, cgroup_parent="self")
    try:
        loaded = images.load(engine.store, engine.driver, path)
        assert len(loaded) == 1
        yield engine, loaded[0][0]
    finally:
        engine.store.close()
        shutil.rmtree(data_root, ignore_errors=True)


@pytest.mark.parametrize("fmt", ["oci-layout", "docker-archive", "oci-archive", "oci-zstd"])
@pytest.mark.parametrize("driver", ["overlay2", "vfs"])
def test_tool_image_matches_umoci_unpack(tool_images, fmt, driver, state_root, tmp_path):
    formats, reference = tool_images
    with loaded_engine(formats[fmt], driver, state_root) as (engine, image_id):
        got, got_links = listed_image(engine, image_id, tmp_path)
        assert len(got) > 250 and len(got_links) > 200  # busybox and its applet links: a real listing
        assert_same_tree(got, got_links, reference)
        assert "/srv/app/old.txt" not in got and got["/srv/app/new.txt"][0] & 0o7777 == 0o4755


# ------------------------------------------------------- an image built by buildah

BUILDAH_DOCKERFILE = """\
FROM oci:{base}:base
RUN mkdir -p /app && echo hi > /app/a
COPY file /app/b
RUN rm /app/a && rm -r /app-base
ENV X=1
CMD ["/bin/sh"]
"""


@pytest.fixture(scope="module")
def buildah_image():
    """A busybox base (an OCI layout made in Python) built on by `buildah bud`
    from a Dockerfile, fully offline: one layer per RUN/COPY, whiteouts of a
    file and of a base directory.  Pushed as an OCI layout and a
    docker-archive; the reference is `umoci unpack` of the OCI layout.

    buildah runs in a private storage with chroot isolation
    (othertools.private_buildah)."""
    import imagetools as it
    with private_buildah() as (buildah, tmp):
        base = os.path.join(tmp, "base")
        it.write_oci_layout(base, [it.busybox_layer(),
                                   it.tar_bytes([("bin/rm", "symlink", "busybox"), ("app-base", "dir", None),
                                                 ("app-base/keep", "file", b"kept\n")])], ref_name="base")
        buildah_can_run(buildah, f"oci:{base}:base")
        context = os.path.join(tmp, "context")
        os.makedirs(context)
        with open(os.path.join(context, "file"), "w") as f:
            f.write("copied\n")
        with open(os.path.join(context, "Dockerfile"), "w") as f:
            f.write(BUILDAH_DOCKERFILE.format(base=base))
        iidfile = os.path.join(tmp, "iid")
        p = buildah("bud", "--isolation", "chroot", "--pull=never", "--layers", "--iidfile", iidfile,
                    "-q", "-t", "localhost/fastctr-built:v1", context)
        assert p.returncode == 0, f"buildah bud: {p.stderr}"
        formats = {"oci-layout": os.path.join(tmp, "oci"), "docker-archive": os.path.join(tmp, "docker.tar")}
        for dest in (f"oci:{formats['oci-layout']}:v1", f"docker-archive:{formats['docker-archive']}:built/img:v1"):
            p = buildah("push", "-q", "localhost/fastctr-built:v1", dest)
            assert p.returncode == 0, f"buildah push {dest}: {p.stderr}"
        reference = os.path.join(tmp, "reference")
        sh("umoci", "unpack", "--image", f"{formats['oci-layout']}:v1", reference)
        with open(iidfile) as f:
            iid = f.read().strip()
        yield formats, os.path.join(reference, "rootfs"), iid


@pytest.mark.parametrize("fmt", ["oci-layout", "docker-archive"])
@pytest.mark.parametrize("driver", ["overlay2", "vfs"])
def test_buildah_image_matches_umoci_unpack(buildah_image, fmt, driver, state_root, tmp_path):
    formats, reference, iid = buildah_image
    with loaded_engine(formats[fmt], driver, state_root) as (engine, image_id):
        config = engine.store.image(image_id)["config"]
        assert config["config"]["Cmd"] == ["/bin/sh"] and "X=1" in config["config"]["Env"]
        assert len(config["rootfs"]["diff_ids"]) == 5  # two base layers, then RUN, COPY, RUN
        if fmt == "oci-layout":
            assert image_id.removeprefix("sha256:") == iid.removeprefix("sha256:")
        got, got_links = listed_image(engine, image_id, tmp_path)
        assert len(got) > 30 and len(got_links) > 20  # busybox and its applet links: a real listing
        assert_same_tree(got, got_links, reference)
        # The whiteouts of RUN rm: a file of an earlier layer, a directory of the base.
        assert "/app/a" not in got and "/app-base" not in got and "/app-base/keep" not in got
        assert got["/app/b"][3] == len("copied\n") and got_links["/bin/rm"] == "busybox"
