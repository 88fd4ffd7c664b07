"""Image benchmarks: overlay mount cost against layer count, import
throughput, and `fastctr run --rm IMAGE true` end to end against runc."""
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import imagetools as it  # noqa: E402
from conftest import have, unique  # noqa: E402
from fastctr.engine import Engine, RunOptions  # noqa: E402
from fastctr.image import loading as images  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "30"))
CLI = os.path.join(os.path.dirname(sys.executable), "fastctr")


@pytest.fixture(scope="module")
def data_root():
    d = tempfile.mkdtemp(prefix="fastctr-bench-data-", dir="/var/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def engine(data_root, workdir):
    e = Engine(data_root=data_root, state_root=os.path.join(workdir, "engine-state"), driver="overlay2",
               cgroup_parent="self")
    layout = os.path.join(workdir, "bb-layout")
    it.write_oci_layout(layout, [it.busybox_layer()], ref_name="busybox:latest")
    images.load(e.store, e.driver, layout)
    for n in (10, 100):
        layers = [it.busybox_layer()] + [it.tar_bytes([(f"l{i}", "file", b"x")]) for i in range(n - 1)]
        layout = os.path.join(workdir, f"tall-{n}")
        it.write_oci_layout(layout, layers, ref_name=f"tall:{n}", compress=False)
        images.load(e.store, e.driver, layout)
    yield e
    e.store.close()


@pytest.mark.parametrize("layers", [1, 10, 100])
def test_overlay_run_by_layer_count(benchmark, engine, layers):
    """A container from an image of N layers (the overlay mount is in the path)."""
    ref = "busybox:latest" if layers == 1 else f"tall:{layers}"
    def run():
        with open(os.devnull, "w") as null:
            assert engine.run(ref, RunOptions(cmd=["true"], rm=True), stdio=(-1, null.fileno(), null.fileno())) == 0
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=2)


def _big_layer_tar(workdir):
    path = os.path.join(workdir, "big-layer.tar")
    if not os.path.exists(path):
        entries = [("data", "dir", None)]
        blob = os.urandom(1 << 16)
        entries += [(f"data/f{i}", "file", blob) for i in range(400)]  # ~26 MB, 400 files
        with open(path, "wb") as f:
            f.write(it.tar_bytes(entries))
    return path


def test_import_throughput(benchmark, data_root, workdir):
    tar = _big_layer_tar(workdir)
    e = Engine(data_root=os.path.join(data_root, "imp"), driver="overlay2")
    def imp():
        image_id = images.import_rootfs(e.store, e.driver, tar, None)
        e.rmi(image_id)
    benchmark.pedantic(imp, rounds=10, iterations=1, warmup_rounds=1)
    e.store.close()


@pytest.mark.skipif(not have("umoci"), reason="umoci not installed")
def test_umoci_unpack_same_layer(benchmark, workdir):
    tar = _big_layer_tar(workdir)
    layout = os.path.join(workdir, "umoci-layout")
    if not os.path.exists(layout):
        with open(tar, "rb") as f:
            it.write_oci_layout(layout, [f.read()], ref_name="big", compress=False)
    def unpack():
        dest = os.path.join(workdir, unique("umoci-bundle"))
        subprocess.run(["umoci", "unpack", "--image", f"{layout}:big", dest], check=True, capture_output=True)
        shutil.rmtree(dest)
    benchmark.pedantic(unpack, rounds=10, iterations=1, warmup_rounds=1)


def test_fastctr_cli_run_rm_busybox_true(benchmark, engine, data_root, workdir):
    cmd = [CLI, "--data-root", data_root, "--state-root", os.path.join(workdir, "engine-state"),
           "--cgroup-parent", "self", "run", "--rm", "busybox", "true"]
    def run():
        subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL)
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=2)
