"""Images: load/import formats, exact layer semantics under both storage
drivers, refused malicious archives, the run command's contract."""
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

import pytest

import imagetools as it
from fastctr.engine import Engine, RunOptions

CLI = os.path.join(os.path.dirname(sys.executable), "fastctr")


@pytest.fixture
def data_root():
    d = tempfile.mkdtemp(prefix="fastctr-test-data-", dir="/var/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(params=["overlay2", "vfs"])
def engine(request, data_root, state_root):
    e = Engine(data_root=data_root, state_root=state_root, driver=request.param, cgroup_parent="self")
    yield e
    for c in e.ps(all=True):
        e.rm(c["id"], force=True)
    e.store.close()


def run(engine, image, cmd, tmp_path, **kw):
    out = tmp_path / f"out-{os.urandom(4).hex()}"
    with open(out, "w+") as f:
        status = engine.run(image, RunOptions(cmd=cmd, rm=True, **kw), stdio=(-1, f.fileno(), f.fileno()))
        f.seek(0)
        return status, f.read()


def cli(data_root, state_root, *args, driver="overlay2"):
    env = dict(os.environ, FASTCTR_CGROUP_PARENT="self")
    return subprocess.run([CLI, "--data-root", data_root, "--state-root", state_root, "--storage-driver", driver,
                           *args], capture_output=True, text=True, timeout=120, cwd="/", env=env,
                          stdin=subprocess.DEVNULL)


def load_layout(engine, tmp_path, layers, **kw):
    from fastctr.image import loading as images
    layout = str(tmp_path / f"layout-{os.urandom(3).hex()}")
    it.write_oci_layout(layout, layers, **kw)
    return images.load(engine.store, engine.driver, layout)


# ------------------------------------------------------------------ formats

def test_oci_layout_docker_archive_and_oci_archive(engine, tmp_path):
    from fastctr.image import loading as images
    base = it.busybox_layer()
    extra = it.tar_bytes([("data", "dir", None), ("data/hello.txt", "file", b"hi from layer 2\n")])
    (image_id, names), = load_layout(engine, tmp_path, [base, extra], ref_name="demo/oci:v1")
    assert names == ["demo/oci:v1"]
    archive = str(tmp_path / "docker.tar")
    docker_id = it.write_docker_archive(archive, [base, extra], repo_tags=["demo/docker:v2"])
    assert images.load(engine.store, engine.driver, archive) == [(docker_id, ["demo/docker:v2"])]
    layout = str(tmp_path / "plain-layout")
    it.write_oci_layout(layout, [base], ref_name="latest")  # a bare tag names no repository
    oci_tar = str(tmp_path / "oci.tar")
    it.tar_directory(layout, oci_tar)
    (anon_id, anon_names), = images.load(engine.store, engine.driver, oci_tar)
    assert anon_names == []
    for ref in ("demo/oci:v1", "demo/docker:v2", anon_id, anon_id[7:19]):
        status, out = run(engine, ref, ["sh", "-c", "cat /data/hello.txt 2>/dev/null || echo base-only"], tmp_path)
        assert status == 0, out
    assert run(engine, "demo/oci:v1", ["cat", "/data/hello.txt"], tmp_path) == (0, "hi from layer 2\n")
    # layers are shared: the docker archive's two layers are the OCI image's
    assert len(engine.store.layer_rows(engine.driver.name)) == 2


def test_import_rootfs_tar(engine, tmp_path):
    from fastctr.image import loading as images
    tar = tmp_path / "rootfs.tar.gz"
    import gzip
    tar.write_bytes(gzip.compress(it.busybox_layer()))
    image_id = images.import_rootfs(engine.store, engine.driver, str(tar), "imported:1")
    assert engine.store.resolve("imported:1") == image_id
    assert run(engine, "imported:1", ["id", "-u"], tmp_path) == (0, "0\n")


# ------------------------------------------------------------ layer exactness

LAYER_CHECK = r"""
set -e
test ! -e /gone && echo "whiteout ok"
ls /opaque | sort | tr '\n' ' '; echo
test -d /was-file && test -f /was-file/inside && echo "file->dir ok"
test -f /was-dir && echo "dir->file ok"
echo "hardlink $(stat -c %h /links/a) $(cat /links/b)"
echo "rel $(readlink /links/rel) abs $(readlink /links/abs) dangling $(readlink /links/dangling)"
stat -c "%a %u %g" /modes/setuid /modes/setgid /modes/owned
test -f /deep/$(printf 'x%.0s' $(seq 1 120))/long-name-$(printf 'y%.0s' $(seq 1 110)) && echo "long ok"
"""


def layered_image():
    long_dir = "deep/" + "x" * 120
    long_file = long_dir + "/long-name-" + "y" * 110
    setuid = it.tarfile.TarInfo("modes/setuid")
    setuid.mode, setuid.size, setuid.uid, setuid.gid = 0o4755, 1, 0, 0
    setgid = it.tarfile.TarInfo("modes/setgid")
    setgid.mode, setgid.size = 0o2755, 1
    owned = it.tarfile.TarInfo("modes/owned")
    owned.mode, owned.size, owned.uid, owned.gid = 0o640, 1, 1000, 50
    layer1 = it.tar_bytes([
        ("gone", "file", b"delete me"), ("opaque", "dir", None), ("opaque/lower1", "file", b"1"),
        ("opaque/lower2", "file", b"2"), ("was-file", "file", b"f"), ("was-dir", "dir", None),
        ("was-dir/child", "file", b"c")])
    layer2 = it.tar_bytes([
        ("gone", "whiteout", None), ("opaque", "dir", None), ("opaque/new", "file", b"n"), ("opaque", "opaque", None),
        ("was-file", "dir", None), ("was-file/inside", "file", b"i"),
        ("links", "dir", None), ("links/a", "file", b"linked\n"), ("links/b", "hardlink", "links/a"),
        ("links/rel", "symlink", "a"), ("links/abs", "symlink", "/etc/passwd"),
        ("links/dangling", "symlink", "/no/such/target"),
        ("modes", "dir", None), ("x", "raw", (setuid, b"s")), ("x", "raw", (setgid, b"g")), ("x", "raw", (owned, b"o")),
        ("deep", "dir", None), (long_dir, "dir", None), (long_file, "file", b"long")])
    layer3 = it.tar_bytes([("was-dir", "whiteout", None), ("was-dir", "file", b"now a file")])
    return [it.busybox_layer(), layer1, layer2, layer3]


def test_layer_semantics_inside_a_container(engine, tmp_path):
    load_layout(engine, tmp_path, layered_image(), ref_name="layers:test")
    status, out = run(engine, "layers:test", ["sh", "-c", LAYER_CHECK], tmp_path)
    assert status == 0, out
    lines = out.splitlines()
    assert lines[0] == "whiteout ok"
    assert lines[1].split() == ["new"]  # opaque: lower entries hidden, this layer's kept
    assert lines[2:4] == ["file->dir ok", "dir->file ok"]
    assert lines[4] == "hardlink 2 linked"
    assert lines[5] == "rel a abs /etc/passwd dangling /no/such/target"
    assert lines[6:9] == ["4755 0 0", "2755 0 0", "640 1000 50"]
    assert lines[9] == "long ok"


def test_many_layers_fit_one_overlay_mount(engine, tmp_path):
    layers = [it.busybox_layer()] + [it.tar_bytes([(f"l{i}", "file", str(i).encode())]) for i in range(119)]
    load_layout(engine, tmp_path, layers, ref_name="tall:120", compress=False)
    status, out = run(engine, "tall:120", ["sh", "-c", "cat /l0 /l118"], tmp_path)
    assert (status, out) == (0, "0118")


# ------------------------------------------------------------- bad archives

def _store_snapshot(engine):
    root = engine.store.root
    files = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for n in filenames:  # files only: an empty driver directory is no content
            p = os.path.relpath(os.path.join(dirpath, n), root)
            if not p.startswith(("fastctr.db", "locks/")):  # the store's own files
                files.add(p)
    return engine.store.image_ids(), files


@pytest.mark.parametrize("bad", [
    [("../evil", "file", b"x")],
    [("/abs-evil", "file", b"x")],
    [("a", "dir", None), ("a/../../evil", "file", b"x")],
    [("esc", "symlink", "/tmp"), ("esc/evil", "file", b"x")],
    [("esc", "symlink", ".."), ("esc/evil", "file", b"x")],
    [("hl", "hardlink", "/etc/passwd")],
    [("hl", "hardlink", "../outside")],
])
def test_malicious_layer_refused_and_store_unchanged(engine, tmp_path, bad):
    from fastctr.image import loading as images
    load_layout(engine, tmp_path, [it.busybox_layer()], ref_name="good:1")
    before = _store_snapshot(engine)
    layout = str(tmp_path / "evil")
    it.write_oci_layout(layout, [it.busybox_layer(), it.tar_bytes(bad)], ref_name="evil:1")
    with pytest.raises(ValueError) as e:
        images.load(engine.store, engine.driver, layout)
    assert str(e.value)
    assert _store_snapshot(engine) == before
    assert not os.path.exists("/evil") and not os.path.exists(os.path.dirname(engine.store.root) + "/evil")


def test_truncated_and_wrong_digest_refused(engine, tmp_path):
    from fastctr.image import loading as images
    from fastctr.image.store import StoreError
    before = _store_snapshot(engine)
    layout = str(tmp_path / "trunc")
    it.write_oci_layout(layout, [it.busybox_layer()[:30000]], compress=False)
    with pytest.raises(Exception) as e:
        images.load(engine.store, engine.driver, layout)
    assert isinstance(e.value, (ValueError, StoreError))
    layout = str(tmp_path / "digest")
    it.write_oci_layout(layout, [it.busybox_layer()])
    blobs = os.path.join(layout, "blobs", "sha256")
    victim = max(os.listdir(blobs), key=lambda n: os.path.getsize(os.path.join(blobs, n)))
    with open(os.path.join(blobs, victim), "r+b") as f:
        f.seek(100)
        f.write(b"corrupt!")
    with pytest.raises(StoreError, match="does not match"):
        images.load(engine.store, engine.driver, layout)
    assert _store_snapshot(engine) == before


# --------------------------------------------------------------- run flags

def test_run_merges_image_config_with_flags(engine, tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "f").write_text("from host\n")
    envfile = tmp_path / "env"
    envfile.write_text("# comment\nFROM_FILE=1\n")
    load_layout(engine, tmp_path, [it.busybox_layer()], ref_name="flags:1", cmd=["echo", "image-cmd"],
                env=["PATH=/bin", "IMAGE_VAR=img"], WorkingDir="/home")
    assert run(engine, "flags:1", [], tmp_path) == (0, "image-cmd\n")
    status, out = run(engine, "flags:1", ["sh", "-c", "echo $IMAGE_VAR $FROM_FILE $X; pwd; id -u; id -g; id -G; "
                                                     "hostname; cat /data/f; touch /data/x 2>/dev/null || echo ro; "
                                                     "touch /scratch/y && echo tmpfs; touch /z 2>/dev/null || echo rootro"],
                      tmp_path, env=["X=flag"], env_files=[str(envfile)], workdir="/tmp", user="app:staff",
                      hostname="box", volumes=[f"{host}:/data:ro"], tmpfs=["/scratch"], read_only=True)
    assert status == 0, out
    assert out.splitlines() == ["img 1 flag", "/tmp", "1000", "50", "50", "box", "from host", "ro", "tmpfs", "rootro"]
    assert run(engine, "flags:1", ["-c", "echo via-entrypoint"], tmp_path, entrypoint="sh") == (0, "via-entrypoint\n")


def test_bad_flags_leave_nothing(engine, tmp_path):
    from fastctr.errors import ConfigError
    load_layout(engine, tmp_path, [it.busybox_layer()], ref_name="bad:1")
    for kw in ({"volumes": ["bad name:/x"]}, {"volumes": ["/nonexistent-src:/x"]}, {"user": "nosuchuser"},
               {"name": "bad name!"}, {"tmpfs": ["relative"]}, {"mounts": ["type=volume,target=relative"]},
               {"mounts": ["type=nosuch,target=/x"]}):
        with pytest.raises(ConfigError):
            engine.create("bad:1", RunOptions(cmd=["true"], **kw))
    assert engine.ps(all=True) == []
    assert not os.listdir(os.path.join(engine.store.root, "containers")) if os.path.exists(
        os.path.join(engine.store.root, "containers")) else True


# ------------------------------------------------------------------- the CLI

def test_cli_hello_world_and_exit_codes(data_root, state_root, tmp_path):
    p = cli(data_root, state_root, "run", "--rm", "hello-world")
    assert p.returncode == 0, p.stderr
    assert "Hello from fastctr!" in p.stdout
    assert cli(data_root, state_root, "run", "--rm", "no-such-image").returncode == 125
    assert cli(data_root, state_root, "run", "--bogus-flag", "hello-world").returncode == 125
    layout = str(tmp_path / "layout")
    it.write_oci_layout(layout, [it.busybox_layer()], ref_name="bb:1")
    p = cli(data_root, state_root, "load", "-i", layout)
    assert p.stdout == "Loaded image: bb:1\n", p.stderr
    assert cli(data_root, state_root, "run", "--rm", "bb:1", "sh", "-c", "exit 3").returncode == 3
    p = cli(data_root, state_root, "run", "--rm", "bb:1", "no-such-cmd")
    assert p.returncode == 127 and "no-such-cmd" in p.stderr
    assert cli(data_root, state_root, "run", "--rm", "bb:1", "/etc/passwd").returncode == 126
    assert cli(data_root, state_root, "ps", "-a", "-q").stdout == ""  # --rm removed them all, failures too


def test_cli_create_start_rm_ps_images(data_root, state_root, tmp_path):
    layout = str(tmp_path / "layout")
    it.write_oci_layout(layout, [it.busybox_layer()], ref_name="bb:1")
    assert cli(data_root, state_root, "load", "-i", layout).returncode == 0
    p = cli(data_root, state_root, "create", "--name", "web", "-l", "app=demo", "bb:1", "sh", "-c", "exit 4")
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip()
    assert cli(data_root, state_root, "create", "--name", "web", "bb:1").returncode == 1  # name in use
    ps = [json.loads(line) for line in cli(data_root, state_root, "ps", "-a", "--format", "json").stdout.splitlines()]
    assert [(c["Names"], c["State"], c["Status"], c["Labels"]) for c in ps] == [("web", "created", "Created",
                                                                                 "app=demo")]  # Docker's keys
    assert cli(data_root, state_root, "start", "-a", "web").returncode == 4
    ps = [json.loads(line) for line in cli(data_root, state_root, "ps", "-a", "--format", "json").stdout.splitlines()]
    assert ps[0]["State"] == "exited" and ps[0]["Status"].startswith("Exited (4) ")
    assert cli(data_root, state_root, "rmi", "bb:1").returncode == 1  # in use by web
    assert cli(data_root, state_root, "tag", "bb:1", "other/name:2").returncode == 0
    images = [json.loads(line) for line in cli(data_root, state_root, "images", "--format", "json").stdout.splitlines()]
    assert sorted((i["Repository"], i["Tag"]) for i in images) == [("bb", "1"), ("other/name", "2")]  # a row a tag
    inspect = json.loads(cli(data_root, state_root, "inspect", "bb:1").stdout)
    assert inspect[0]["Config"]["Cmd"] == ["/bin/sh"]
    assert cli(data_root, state_root, "rm", cid[:8]).returncode == 0
    assert cli(data_root, state_root, "rmi", "other/name:2").stdout.startswith("Untagged: other/name:2")
    assert "Deleted" in cli(data_root, state_root, "rmi", "bb:1").stdout
    assert cli(data_root, state_root, "images", "-q").stdout == ""
    info = json.loads(cli(data_root, state_root, "info", "--format", "json").stdout)
    assert info["Driver"] == "overlay2" and info["CgroupVersion"] in ("1", "2")


def test_concurrent_runs_of_one_image(data_root, state_root, tmp_path):
    layout = str(tmp_path / "layout")
    it.write_oci_layout(layout, [it.busybox_layer(), it.tar_bytes([("f", "file", b"ok")])], ref_name="bb:1")
    assert cli(data_root, state_root, "load", "-i", layout).returncode == 0
    env = dict(os.environ, FASTCTR_CGROUP_PARENT="self")
    procs = [subprocess.Popen([CLI, "--data-root", data_root, "--state-root", state_root, "run", "--rm", "bb:1",
                               "cat", "/f"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/",
                              env=env, stdin=subprocess.DEVNULL) for _ in range(20)]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    assert all(r[:2] == (0, "ok") for r in results), [r for r in results if r[:2] != (0, "ok")]
    assert cli(data_root, state_root, "ps", "-a", "-q").stdout == ""
    assert len(cli(data_root, state_root, "images", "-q").stdout.split()) == 1


def test_export_and_commit_round_trip(engine, tmp_path):
    load_layout(engine, tmp_path, [it.busybox_layer(), it.tar_bytes([("keep", "file", b"k"), ("drop", "file", b"d")])],
                ref_name="base:1")
    with open(os.devnull, "w") as null:
        c = engine.create("base:1", RunOptions(cmd=["sh", "-c", "rm /drop; echo new > /added; mkdir -p /d/e"]))
        assert engine.start(c["id"], stdio=(-1, null.fileno(), null.fileno())) == 0
    out = tmp_path / "export.tar"
    with open(out, "wb") as f:
        engine.export(c["id"], f)
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
    assert {"keep", "added", "d/e", "bin/busybox"} <= names and "drop" not in names
    image_id = engine.commit(c["id"], "committed:1")
    engine.rm(c["id"])
    status, text = run(engine, "committed:1", ["sh", "-c", "cat /keep /added; test -e /drop || echo drop-gone"], tmp_path)
    assert (status, text) == (0, "knew\ndrop-gone\n")
    history = engine.store.image(image_id)["config"]["history"]
    assert history[-1]["created_by"].startswith("fastctr commit")


def test_forced_rmi_of_an_image_in_use_keeps_its_layers(engine, tmp_path):
    load_layout(engine, tmp_path, [it.busybox_layer()], ref_name="inuse:1")
    c = engine.create("inuse:1", RunOptions(cmd=["true"]))
    from fastctr.errors import FastctrError
    with pytest.raises(FastctrError, match='^conflict: unable to remove repository reference "inuse:1" '
                                           r'\(must force\) - container .* is using its referenced image'):
        engine.rmi("inuse:1")
    assert engine.rmi("inuse:1", force=True) == ["Untagged: inuse:1"]
    with open(os.devnull, "w") as null:
        assert engine.start(c["id"], stdio=(-1, null.fileno(), null.fileno())) == 0  # layers still there
    engine.rm(c["id"])


def test_network_modes(engine, tmp_path):
    import threading
    import time
    load_layout(engine, tmp_path, [it.busybox_layer()], ref_name="net:1")
    assert run(engine, "net:1", ["sh", "-c", "ls /sys/class/net; cat /sys/class/net/lo/flags"], tmp_path) == \
        (0, "lo\n0x9\n")  # only loopback, and it is up
    status, out = run(engine, "net:1", ["sh", "-c", "ls /sys/class/net; hostname"], tmp_path, network="host")
    assert status == 0 and out.split() == sorted(os.listdir("/sys/class/net")) + [os.uname().nodename]
    # container:NAME joins a running container's network namespace
    holder = threading.Thread(target=engine.run, args=("net:1", RunOptions(cmd=["sleep", "5"], name="holder", rm=True)))
    holder.start()
    try:
        for _ in range(500):
            rows = [c for c in engine.ps() if c["name"] == "holder"]
            if rows:
                try:
                    pid = engine.runtime.state(rows[0]["id"])["pid"]
                    if pid:
                        break
                except LookupError:
                    pass
            time.sleep(0.01)
        want = os.readlink(f"/proc/{pid}/ns/net")
        status, out = run(engine, "net:1", ["readlink", "/proc/self/ns/net"], tmp_path, network="container:holder")
        assert (status, out.strip()) == (0, want)
    finally:
        engine.runtime.kill(rows[0]["id"], "KILL")
        holder.join()
    from fastctr.errors import ConfigError
    from fastctr.engine import ContainerNotFoundError
    from fastctr.net.ipam import NetworkError
    for kw, exc in (({"network": "no such!"}, ConfigError), ({"network": "bogus"}, NetworkError),
                    ({"network": "host", "hostname": "x"}, ConfigError),
                    ({"network": "container:missing"}, ContainerNotFoundError)):
        with pytest.raises(exc):
            engine.create("net:1", RunOptions(cmd=["true"], **kw))
    assert engine.ps(all=True) == []
