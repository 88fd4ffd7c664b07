"""`load` and `pull` SIGKILLed at any moment leave nothing for good: the
next command or `system prune` removes their temporary work and the layers
and blobs no image refers to, and the data root then holds exactly the
images that completed."""
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

import pytest

import imagetools as it
from conftest import killed_by_sigkill
from test_registry import fake_registry, make_layer

CLI = os.path.join(os.path.dirname(sys.executable), "fastctr")
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.fixture
def world(tmp_path):
    data = tempfile.mkdtemp(prefix="fastctr-test-kill-", dir="/var/tmp")
    env = dict(os.environ, FASTCTR_CGROUP_PARENT="self", FASTCTR_DEFAULT_NETWORK="none")

    def fastctr(*args, crash=None, **kw):
        e = dict(env, FASTCTR_CRASH_AT=crash) if crash else env
        return subprocess.run([CLI, "--data-root", data, "--state-root", str(tmp_path / "state"), *args], env=e,
                              cwd="/", capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, **kw)
    fastctr.data = data
    fastctr.argv = [CLI, "--data-root", data, "--state-root", str(tmp_path / "state")]
    fastctr.env = env
    yield fastctr
    subprocess.run(["rm", "-rf", data])


def big_archive(path):
    """~18 MB in three layers of incompressible files: long enough to be
    killed half-way, whole or while unpacking."""
    rnd = random.Random(7)
    layers = [it.busybox_layer()] + [
        it.tar_bytes([(f"data{n}", "dir", None)] +
                     [(f"data{n}/f{i}", "file", rnd.randbytes(600_000)) for i in range(10)]) for n in range(2)]
    it.write_docker_archive(path, layers, repo_tags=("big:1",))


def expected_files(data):
    """What a data root holding its images (and nothing else) has: their
    blobs, their unpacked layers and links, and the store's own files."""
    sys.path.insert(0, "/")
    from fastctr.image.store import Store, chain_ids
    store = Store(data)
    blobs = {d.partition(":")[2] for d in store.referenced_blobs()}
    layers = set()
    for image_id in store.image_ids():
        layers.update(c.partition(":")[2] for c in chain_ids(store.image(image_id)["config"]["rootfs"]["diff_ids"]))
    store.close()
    return blobs, layers


def actual_files(data):
    def ls(*rel):
        try:
            return set(os.listdir(os.path.join(data, *rel)))
        except FileNotFoundError:
            return set()
    return ls("blobs", "sha256"), ls("overlay2") - {"l"}, ls("tmp"), ls()


def assert_only_completed_images(fastctr):
    blobs, layers = expected_files(fastctr.data)
    got_blobs, got_layers, tmp, top = actual_files(fastctr.data)
    assert got_blobs == blobs
    assert got_layers == layers
    assert tmp == set()
    assert top <= {"blobs", "overlay2", "tmp", "locks", "fastctr.db", "fastctr.db-wal", "fastctr.db-shm",
                   "containers", "volumes", "archive", "events.log"}, top  # events.log: `fastctr events`
    links = os.path.join(fastctr.data, "overlay2", "l")
    if os.path.isdir(links):  # every short link names a layer that is there
        assert all(os.path.exists(os.path.join(links, n)) for n in os.listdir(links))


@pytest.mark.parametrize("point", ["load:unpacked", "layer:unpacked", "layer:installed", "image:layers"])
def test_load_killed_at_each_stage_leaves_nothing_after_prune(world, tmp_path, point):
    archive = str(tmp_path / "big.tar")
    big_archive(archive)
    p = world("load", "-i", archive, crash=point)
    assert killed_by_sigkill(p), (p.returncode, p.stderr)
    df = world("system", "df")
    assert df.returncode == 0, df.stderr
    if point in ("load:unpacked", "layer:unpacked"):
        assert "Temporary" in df.stdout  # counted, and reclaimable
    assert world("images", "-q").stdout.strip() == ""
    p = world("system", "prune", "-f")
    assert p.returncode == 0, p.stderr
    assert "Temporary" not in world("system", "df").stdout
    assert_only_completed_images(world)
    # The same load then works, and the image runs.
    assert world("load", "-i", archive).returncode == 0
    p = world("run", "--rm", "big:1", "sh", "-c", "ls /data1 | wc -l")
    assert (p.returncode, p.stdout.strip()) == (0, "10"), p.stderr


def test_load_killed_at_random_moments_then_prune_keeps_only_completed(world, tmp_path):
    archive = str(tmp_path / "big.tar")
    big_archive(archive)
    small = str(tmp_path / "small")
    it.write_oci_layout(small, [it.busybox_layer()], ref_name="small:1")
    assert world("load", "-i", small).returncode == 0
    start = time.monotonic()
    assert world("load", "-i", archive).returncode == 0
    whole = time.monotonic() - start
    assert world("rmi", "big:1").returncode == 0
    rnd = random.Random(11)
    for _ in range(8):
        proc = subprocess.Popen(world.argv + ["load", "-i", archive], env=world.env, cwd="/",
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.05, whole))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # A new load sweeps what the killed ones left before it starts.
    assert world("load", "-i", small).returncode == 0
    assert world("system", "prune", "-f").returncode == 0
    assert_only_completed_images(world)
    assert world("inspect", "--format", "{{.Id}}", "small:1").returncode == 0


@pytest.mark.parametrize("point", ["pull:downloaded", "layer:installed", "image:layers", None])
def test_pull_killed_leaves_nothing_after_prune(world, point):
    layers = [make_layer({"bin/x": os.urandom(300_000)}), make_layer({"etc/y": b"y" * 1000})]
    with fake_registry() as srv:
        srv.add_image("test/kill", "latest", layers)
        ref = f"{srv.netloc}/test/kill:latest"
        if point:
            p = world("pull", "-q", ref, crash=point)
            assert killed_by_sigkill(p), (p.returncode, p.stderr)
        else:  # at a random moment of the download or the unpack
            proc = subprocess.Popen(world.argv + ["pull", "-q", ref], env=world.env, cwd="/",
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.15)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert world("system", "prune", "-f").returncode == 0
        assert_only_completed_images(world)
        p = world("pull", "-q", ref)
        assert p.returncode == 0, p.stderr
    assert_only_completed_images(world)
