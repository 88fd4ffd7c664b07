"""Images as a Docker user meets them, through the fastctr CLI: one image
under every spelling of its name, pull before run, save/load, push,
login/logout, and Docker's lines for each.

Registries are Debian's docker-registry on 127.0.0.1 (as in
test_registry.py); the one with auth uses an htpasswd file of bcrypt
hashes made by the C library's crypt(3).  Nothing talks to any address but
loopback: what would need Docker Hub runs in a network namespace of its
own with nothing in it."""
import base64
import contextlib
import http.client
import json
import os
import pty
import re
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse

import pytest

import imagetools as it
from othertools import docker_registry, registry, status_of  # noqa: F401 (registry: a fixture)

CLI = os.path.join(os.path.dirname(sys.executable), "fastctr")
FAILED = (1,)  # Docker's CLI exits 1 outside run/create/exec for anything but a flag error


# ---------------------------------------------------------------- helpers

@pytest.fixture
def fresh(tmp_path):
    """fastctr with an empty data root of its own (and its own DOCKER_CONFIG)."""
    data = tempfile.mkdtemp(prefix="fastctr-test-fresh-", dir="/var/tmp")
    state = tempfile.mkdtemp(prefix="fastctr-test-state-")
    env = dict(os.environ, FASTCTR_CGROUP_PARENT="self", FASTCTR_DEFAULT_NETWORK="none",
               DOCKER_CONFIG=str(tmp_path / "docker-config"))

    def run(*args, stdin=subprocess.DEVNULL, prefix=(), env_extra=None, **kw):
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.run([*prefix, CLI, "--data-root", data, "--state-root", state, *args], stdout=out,
                               stderr=err, stdin=stdin, cwd="/", timeout=120, env=dict(env, **(env_extra or {})),
                               **kw)
            out.seek(0)
            err.seek(0)
            p.stdout, p.stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        return p
    run.data, run.env = data, env
    yield run
    left = run("ps", "-a", "-q").stdout.split()
    if left:
        run("rm", "-f", *left)
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(state, ignore_errors=True)
    assert not left, f"containers left behind: {left}"


def load_bb(fcli_like, tmp_path, name="bb:1", extra=None):
    layout = str(tmp_path / f"layout-{os.urandom(3).hex()}")
    layers = [it.busybox_layer()] + ([extra] if extra else [])
    it.write_oci_layout(layout, layers, ref_name=name)
    p = fcli_like("load", "-i", layout)
    assert p.returncode == 0, p.stderr
    return p


def image_id(run, ref):
    p = run("inspect", "--type", "image", "-f", "{{.Id}}", ref)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def store_files(data):
    """Every file of a data root but the database, for 'nothing was left' checks."""
    out = set()
    for d, _, files in os.walk(data):
        out.update(os.path.relpath(os.path.join(d, f), data) for f in files if not f.startswith("fastctr.db"))
    return out


def tags_of(data):
    with contextlib.closing(sqlite3.connect(os.path.join(data, "fastctr.db"))) as db:
        return sorted(r[0] for r in db.execute("SELECT name FROM tags"))


# ---------------------------------------------------------------- references

def test_one_image_under_every_spelling(fcli):
    assert fcli("tag", "bb:1", "docker.io/library/spell:1").returncode == 0
    assert fcli("tag", "bb:1", "index.docker.io/myuser/app").returncode == 0
    want = image_id(fcli, "bb:1")
    for ref in ("spell:1", "library/spell:1", "docker.io/spell:1", "docker.io/library/spell:1",
                "index.docker.io/library/spell:1", "myuser/app", "myuser/app:latest", "docker.io/myuser/app:latest",
                want, want[7:19], want[7:]):
        assert image_id(fcli, ref) == want, ref
    rows = [line.split()[:2] for line in fcli("images").stdout.splitlines()[1:]]
    assert ["spell", "1"] in rows and ["myuser/app", "latest"] in rows
    assert not any("docker.io" in r[0] for r in rows)
    assert [line.split()[:2] for line in fcli("images", "docker.io/library/spell").stdout.splitlines()[1:]] == \
        [["spell", "1"]]
    assert [line.split()[:2] for line in fcli("images", "--filter", "reference=myuser/*").stdout.splitlines()[1:]] \
        == [["myuser/app", "latest"]]
    assert fcli("history", "docker.io/library/spell:1").returncode == 0
    assert fcli("rmi", "docker.io/library/spell:1").stdout == "Untagged: spell:1\n"
    assert fcli("rmi", "docker.io/myuser/app").stdout == "Untagged: myuser/app:latest\n"
    assert image_id(fcli, "bb:1") == want  # still there by its other name


@pytest.mark.parametrize("args, code", [(("tag", "bb:1", "Foo"), FAILED), (("run", "--rm", "--network", "none", "Foo", "true"), (125,)),
                                        (("create", "Foo"), FAILED), (("pull", "Foo"), FAILED)])
def test_uppercase_names_are_refused_as_docker_does(fcli, args, code):
    p = fcli(*args)
    assert p.returncode in code
    assert "invalid reference format: repository name (library/Foo) must be lowercase" in p.stderr
    assert p.stderr.count("\n") == 1


def test_rmi_prints_untagged_and_deleted(fcli, tmp_path):
    extra = it.tar_bytes([("only-here", "file", os.urandom(16))])
    load_bb(fcli, tmp_path, "gone:1", extra=extra)
    iid = image_id(fcli, "gone:1")
    assert fcli("tag", "gone:1", "quay.io/x/gone:2").returncode == 0
    p = fcli("rmi", iid[7:19])  # by ID: names of two repositories
    assert p.returncode in FAILED and "image is referenced in multiple repositories" in p.stderr
    assert fcli("rmi", "quay.io/x/gone:2").stdout == "Untagged: quay.io/x/gone:2\n"
    p = fcli("rmi", "gone")  # the :latest that does not exist
    assert p.returncode in FAILED
    lines = fcli("rmi", "gone:1").stdout.splitlines()
    assert lines[:2] == ["Untagged: gone:1", f"Deleted: {iid}"]
    assert len(lines) == 3 and re.fullmatch(r"Deleted: sha256:[0-9a-f]{64}", lines[2])  # its own layer, not bb's
    assert fcli("run", "--rm", "--network", "none", "bb:1", "true").returncode == 0


def test_old_store_names_are_migrated_on_open(fresh, tmp_path):
    load_bb(fresh, tmp_path, "mig:1")
    iid = image_id(fresh, "mig:1")
    with contextlib.closing(sqlite3.connect(os.path.join(fresh.data, "fastctr.db"))) as db, db:
        db.execute("DELETE FROM tags")
        db.executemany("INSERT INTO tags (name, image_id) VALUES (?, ?)",
                       [("docker.io/library/mig:1", iid), ("localhost:5000/team/mig:2", iid), ("plain", iid),
                        ("mig:1", iid)])
        db.execute("DELETE FROM meta WHERE key = 'tag_form'")
    assert fresh("images", "-q").returncode == 0
    assert tags_of(fresh.data) == ["localhost:5000/team/mig:2", "mig:1", "plain:latest"]
    assert image_id(fresh, "docker.io/library/plain") == iid


# ---------------------------------------------------------------- pull before run

def push(run, ref):
    p = run("push", ref)
    assert p.returncode == 0, p.stderr
    return p


def test_run_pulls_a_missing_image(fcli, fresh, registry):
    ref = f"localhost:{registry}/busybox:1"
    assert fcli("tag", "bb:1", ref).returncode == 0
    push(fcli, ref)
    p = fresh("run", "--rm", ref, "echo", "from the registry")
    assert (p.returncode, p.stdout) == (0, "from the registry\n"), p.stderr
    lines = p.stderr.splitlines()
    assert lines[0] == f"Unable to find image '{ref}' locally"
    assert lines[1] == "1: Pulling from busybox"
    assert any(re.fullmatch(r"[0-9a-f]{12}: Pull complete", line) for line in lines)
    assert re.fullmatch(r"Digest: sha256:[0-9a-f]{64}", lines[-2])
    assert lines[-1] == f"Status: Downloaded newer image for {ref}"
    p = fresh("run", "--rm", ref, "true")  # now local: no pull
    assert (p.returncode, p.stderr) == (0, "")
    p = fresh("run", "--rm", "--pull", "always", ref, "true")
    assert p.returncode == 0 and p.stderr.splitlines()[-1] == f"Status: Image is up to date for {ref}", p.stderr
    p = fresh("create", "--pull", "sometimes", ref)
    assert p.returncode == 125 and "invalid pull option" in p.stderr
    assert fresh("ps", "-a", "-q").stdout == ""


def test_pull_never_and_no_network_fail_cleanly(fresh):
    before = store_files(fresh.data)
    p = fresh("run", "--rm", "--pull", "never", "busybox", "true")
    assert (p.returncode, p.stderr) == (125, "fastctr: No such image: busybox:latest\n")
    # Docker Hub from a network namespace with nothing in it: the pull fails, one line, nothing left.
    p = fresh("run", "--rm", "fastctr-test/absent", "true", prefix=("unshare", "--net"))
    assert p.returncode == 125
    lines = p.stderr.splitlines()
    assert lines[0] == "Unable to find image 'fastctr-test/absent:latest' locally"
    assert lines[1] == "latest: Pulling from fastctr-test/absent"
    assert lines[-1].startswith("fastctr: ") and "registry-1.docker.io" in lines[-1]
    assert store_files(fresh.data) == before and tags_of(fresh.data) == []
    assert fresh("ps", "-a", "-q").stdout == ""


def test_hello_world_needs_no_network(fresh):
    p = fresh("run", "--rm", "hello-world", prefix=("unshare", "--net"))
    assert p.returncode == 0 and "Hello from fastctr!\n" in p.stdout, p.stderr


def test_pull_prints_dockers_lines(fcli, fresh, registry):
    ref = f"127.0.0.1:{registry}/lines/bb:v1"
    assert fcli("tag", "bb:1", ref).returncode == 0
    pushed = push(fcli, ref).stdout.splitlines()
    assert pushed[0] == f"The push refers to repository [127.0.0.1:{registry}/lines/bb]"
    assert re.fullmatch(r"[0-9a-f]{12}: Pushed", pushed[-2]) and pushed[1].endswith(": Preparing")
    digest, size = re.fullmatch(r"v1: digest: (sha256:[0-9a-f]{64}) size: (\d+)", pushed[-1]).groups()
    again = push(fcli, ref).stdout.splitlines()
    assert again[-2].endswith(": Layer already exists") and again[-1] == pushed[-1]
    p = fresh("pull", ref)
    lines = p.stdout.splitlines()
    assert p.returncode == 0, p.stderr
    assert lines[0] == "v1: Pulling from lines/bb"
    assert [line.split(": ", 1)[1] for line in lines[1:-3]] == \
        ["Pulling fs layer", "Verifying Checksum", "Download complete", "Pull complete"]
    assert lines[-3:] == [f"Digest: {digest}", f"Status: Downloaded newer image for {ref}", ref]
    lines = fresh("pull", ref).stdout.splitlines()
    assert lines[-2:] == [f"Status: Image is up to date for {ref}", ref]
    assert fresh("pull", "-q", ref).stdout == ref + "\n"
    # by digest, as the push printed it
    p = fresh("pull", f"127.0.0.1:{registry}/lines/bb@{digest}")
    assert p.returncode == 0 and p.stdout.splitlines()[-1] == f"127.0.0.1:{registry}/lines/bb@{digest}"
    inspect = json.loads(fresh("inspect", ref).stdout)[0]
    assert inspect["RepoDigests"] == [f"127.0.0.1:{registry}/lines/bb@{digest}"]
    assert int(size) > 0


def test_pull_all_tags(fcli, fresh, registry):
    repo = f"127.0.0.1:{registry}/alltags/bb"
    for tag in ("1", "2", "3"):
        assert fcli("tag", "bb:1", f"{repo}:{tag}").returncode == 0
        push(fcli, f"{repo}:{tag}")
    assert fresh("pull", "-a", f"{repo}:1").returncode == 1  # a tag and -a: Docker's error
    p = fresh("pull", "--all-tags", repo)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[-1] == repo
    assert sorted(line for line in p.stdout.splitlines() if line.startswith("Status: ")) == \
        [f"Status: Downloaded newer image for {repo}:{tag}" for tag in ("1", "2", "3")]  # each tag is new here
    assert [line.split()[1] for line in fresh("images", repo).stdout.splitlines()[1:]] == ["1", "2", "3"]


def test_push_mounts_blobs_from_another_repository(fcli, registry):
    first, second = f"127.0.0.1:{registry}/mount/a:1", f"127.0.0.1:{registry}/mount/b:1"
    assert fcli("tag", "bb:1", first).returncode == 0
    push(fcli, first)
    assert fcli("tag", "bb:1", second).returncode == 0
    lines = push(fcli, second).stdout.splitlines()
    assert re.fullmatch(r"[0-9a-f]{12}: Mounted from [a-z/]+", lines[-2]), lines
    p = fcli("pull", second)  # and the registry serves the image there
    assert p.returncode == 0 and p.stdout.splitlines()[-1] == second, p.stderr


def test_push_is_read_back_by_skopeo(fcli, registry, tmp_path):
    if not shutil.which("skopeo"):
        pytest.skip("needs skopeo")
    ref = f"127.0.0.1:{registry}/skopeo/bb:2"
    assert fcli("tag", "bb:1", ref).returncode == 0
    digest = push(fcli, ref).stdout.split("digest: ")[1].split()[0]
    p = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["Digest"] == digest
    p = subprocess.run(["skopeo", "--insecure-policy", "copy", "--src-tls-verify=false", f"docker://{ref}",
                        f"oci:{tmp_path / 'copy'}:x"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


# ---------------------------------------------------------------- save and load

def test_save_load_round_trip(fcli, fresh, tmp_path):
    assert fcli("tag", "bb:1", "quay.io/saved/bb:3").returncode == 0
    want = image_id(fcli, "bb:1")
    archive = tmp_path / "two.tar"
    p = fcli("save", "-o", str(archive), "bb:1", "quay.io/saved/bb:3")
    assert (p.returncode, p.stdout) == (0, ""), p.stderr
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))
        index = json.load(tar.extractfile("index.json"))
    assert {"manifest.json", "index.json", "oci-layout", "repositories"} <= names
    assert manifest == [{"Config": f"blobs/sha256/{want[7:]}", "RepoTags": ["bb:1", "quay.io/saved/bb:3"],
                         "Layers": manifest[0]["Layers"]}]
    assert {m["annotations"]["io.containerd.image.name"] for m in index["manifests"]} == \
        {"docker.io/library/bb:1", "quay.io/saved/bb:3"}
    p = fresh("load", "-i", str(archive))
    assert p.stdout == "Loaded image: bb:1\nLoaded image: quay.io/saved/bb:3\n", p.stderr
    assert image_id(fresh, "quay.io/saved/bb:3") == want
    p = fresh("run", "--rm", "bb:1", "echo", "loaded")
    assert (p.returncode, p.stdout) == (0, "loaded\n"), p.stderr


def test_load_over_a_name_says_so_as_docker(fresh, tmp_path):
    load_bb(fresh, tmp_path, "moved:1")
    old = image_id(fresh, "moved:1")
    layout = str(tmp_path / "other")
    it.write_oci_layout(layout, [it.busybox_layer(), it.tar_bytes([("new", "file", b"x")])], ref_name="moved:1")
    p = fresh("load", "-i", layout)
    assert p.stdout == f"The image moved:1 already exists, renaming the old one with ID {old} to empty string\n" \
        "Loaded image: moved:1\n", p.stderr
    assert image_id(fresh, "moved:1") != old
    assert fresh("rmi", "moved").returncode == 1  # no moved:latest
    assert fresh("rmi", "moved:2").stderr == "fastctr: No such image: moved:2\n"


def test_save_to_stdout_and_load_from_stdin(fcli, fresh, tmp_path):
    archive = tmp_path / "out.tar"
    with open(archive, "wb") as f:
        p = subprocess.run(fcli.argv + ["save", "bb"], stdout=f, stderr=subprocess.PIPE, env=fcli.env, timeout=60)
    assert p.returncode == 0, p.stderr
    with open(archive, "rb") as f:
        p = fresh("load", stdin=f)
    assert p.stdout == "Loaded image: bb:1\n", p.stderr
    assert fresh("rmi", "bb:1").returncode == 0
    with open(archive, "rb") as f:
        p = fresh("load", "-q", "-i", "-", stdin=f)
    assert p.stdout == "Loaded image: bb:1\n", p.stderr
    with open(os.devnull, "rb") as f:
        p = fresh("load", stdin=f)
    assert p.returncode in FAILED and "stdin is empty" in p.stderr


def test_save_refuses_a_terminal(fcli):
    master, slave = pty.openpty()
    try:
        p = subprocess.run(fcli.argv + ["save", "bb:1"], stdout=slave, stderr=subprocess.PIPE, text=True,
                           env=fcli.env, timeout=60)
    finally:
        os.close(slave)
        os.close(master)
    assert p.returncode in FAILED
    assert "cowardly refusing to save to a terminal. Use the -o flag or redirect" in p.stderr


@pytest.mark.parametrize("fmt, transport", [("docker-archive", "docker-archive"), ("oci-archive", "oci-archive")])
def test_skopeo_reads_the_archives(fcli, tmp_path, fmt, transport):
    if not shutil.which("skopeo"):
        pytest.skip("needs skopeo")
    archive = tmp_path / "img.tar"
    args = ["save", "-o", str(archive)] + (["--format", fmt] if fmt != "docker-archive" else []) + ["bb:1"]
    assert fcli(*args).returncode == 0
    p = subprocess.run(["skopeo", "inspect", f"{transport}:{archive}"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert len(json.loads(p.stdout)["Layers"]) == 1
    p = subprocess.run(["skopeo", "--insecure-policy", "copy", f"{transport}:{archive}", f"oci:{tmp_path / 'oci'}:x"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


def test_umoci_reads_the_oci_archive(fcli, tmp_path):
    if not shutil.which("umoci"):
        pytest.skip("needs umoci")
    archive = tmp_path / "img.tar"
    assert fcli("save", "--format", "oci-archive", "-o", str(archive), "bb:1").returncode == 0
    layout = tmp_path / "layout"
    with tarfile.open(archive) as tar:
        tar.extractall(layout, filter="data")
    p = subprocess.run(["umoci", "ls", "--layout", str(layout)], capture_output=True, text=True, timeout=60)
    assert (p.returncode, p.stdout.split()) == (0, ["1"]), p.stderr
    p = subprocess.run(["umoci", "stat", "--image", f"{layout}:1"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


def test_failed_save_and_load_leave_nothing(fcli, fresh, tmp_path):
    out = tmp_path / "never.tar"
    p = fcli("save", "-o", str(out), "bb:1", "no-such:image")
    assert p.returncode in FAILED and not os.listdir(tmp_path)  # no file, no temporary one
    p = fcli("save", "-o", str(tmp_path / "no" / "such" / "dir.tar"), "bb:1")
    assert p.returncode in FAILED and "no such file or directory" in p.stderr and not os.listdir(tmp_path)
    good = tmp_path / "good.tar"
    assert fcli("save", "-o", str(good), "bb:1").returncode == 0
    data = good.read_bytes()
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(data[:len(data) // 2])
    before = store_files(fresh.data)
    with open(truncated, "rb") as f:
        p = fresh("load", stdin=f)
    assert p.returncode in FAILED and p.stderr.count("\n") == 1, p.stderr
    assert store_files(fresh.data) == before and tags_of(fresh.data) == []


# ---------------------------------------------------------------- login, logout, auth

@pytest.fixture(scope="module")
def private(tmp_path_factory):
    with docker_registry(tmp_path_factory.mktemp("private"), users={"alice": "s3cret pass"}) as port:
        yield port


def test_login_push_pull_logout(fcli, fresh, private, tmp_path):
    ref = f"127.0.0.1:{private}/team/bb:1"
    server = f"127.0.0.1:{private}"
    config = tmp_path / "docker-config" / "config.json"
    env = {"DOCKER_CONFIG": str(config.parent)}
    assert fcli("tag", "bb:1", ref).returncode == 0
    p = fcli("push", ref, env=dict(fcli.env, **env))
    assert p.returncode in FAILED and p.stderr.count("\n") == 1, p.stderr
    assert status_of(private, "/v2/team/bb/tags/list", user=("alice", "s3cret pass")) == 404  # nothing pushed
    p = fresh("login", "-u", "alice", "-p", "wrong", server)
    assert p.returncode in FAILED and not config.exists()
    p = fresh("login", "-u", "alice", "--password-stdin", server, stdin=None, input=b"s3cret pass\n")
    assert p.returncode == 0 and p.stdout == "Login Succeeded\n", p.stderr
    assert os.stat(config).st_mode & 0o777 == 0o600
    assert json.loads(config.read_text()) == {"auths": {server: {"auth": "YWxpY2U6czNjcmV0IHBhc3M="}}}
    p = fcli("push", ref, env=dict(fcli.env, **env))
    assert p.returncode == 0, p.stderr
    assert status_of(private, "/v2/team/bb/tags/list", user=("alice", "s3cret pass")) == 200
    p = fresh("run", "--rm", ref, "echo", "private")
    assert (p.returncode, p.stdout) == (0, "private\n"), p.stderr
    if shutil.which("docker"):  # docker's own CLI reads the file fastctr wrote (logout needs no daemon)
        p = subprocess.run(["docker", "--config", str(config.parent), "logout", server], capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert (p.returncode, p.stdout) == (0, f"Removing login credentials for {server}\n"), p.stderr
        assert fresh("login", "-u", "alice", "--password-stdin", server, stdin=None,
                     input=b"s3cret pass\n").returncode == 0
    assert fresh("logout", server).stdout == f"Removing login credentials for {server}\n"
    assert json.loads(config.read_text()) == {"auths": {}}
    assert fresh("logout", server).stdout == f"Not logged in to {server}\n"
    assert fresh("rmi", ref).returncode == 0
    p = fresh("pull", ref)
    assert p.returncode in FAILED and "alice" not in p.stderr
    assert tags_of(fresh.data) == []


def test_failed_pull_leaves_nothing(fresh, registry):
    before = store_files(fresh.data)
    p = fresh("pull", f"127.0.0.1:{registry}/nothing/here:1")
    assert p.returncode in FAILED and p.stderr.count("\n") == 1
    assert store_files(fresh.data) == before and tags_of(fresh.data) == []


def test_image_management_forms(fcli, tmp_path):
    assert fcli("image", "tag", "bb:1", "forms:1").returncode == 0
    assert "forms" in fcli("image", "ls").stdout
    assert fcli("image", "inspect", "forms:1").returncode == 0
    assert fcli("image", "history", "forms:1").returncode == 0
    assert fcli("image", "save", "-o", str(tmp_path / "f.tar"), "forms:1").returncode == 0
    assert fcli("image", "rm", "forms:1").stdout == "Untagged: forms:1\n"
    assert fcli("image", "load", "-i", str(tmp_path / "f.tar")).stdout == "Loaded image: forms:1\n"
    assert fcli("image", "rm", "forms:1").returncode == 0


DOCKERD_SCRIPT = r"""
set -u
D=$1
mount -t tmpfs tmpfs /run  # dockerd's and containerd's /run files stay in this namespace
dockerd -H unix://$D/docker.sock --data-root $D/data --exec-root $D/exec --pidfile $D/docker.pid \
  --bridge=none --iptables=false --ip6tables=false --ip-masq=false > $D/dockerd.log 2>&1 &
DPID=$!
export DOCKER_HOST=unix://$D/docker.sock
for i in $(seq 150); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
docker load -i $D/ours.tar && docker save -o $D/theirs.tar bb:1 && docker image inspect -f '{{.Id}}' bb:1
status=$?
kill $DPID
wait $DPID
exit $status
"""


def test_dockerd_loads_what_fastctr_saves_and_back(fcli, fresh, tmp_path):
    """Debian's dockerd (20.10), in network and mount namespaces of its own:
    `docker load` takes fastctr's archive, and fastctr loads what `docker save` writes."""
    if not (shutil.which("dockerd") and shutil.which("docker")):
        pytest.skip("needs dockerd and the docker CLI")
    work = tempfile.mkdtemp(prefix="fastctr-test-dockerd-", dir="/var/tmp")
    try:
        assert fcli("save", "-o", os.path.join(work, "ours.tar"), "bb:1").returncode == 0
        p = subprocess.run(["unshare", "--net", "--mount", "--fork", "sh", "-c", DOCKERD_SCRIPT, "sh", work],
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        log = open(os.path.join(work, "dockerd.log"), errors="replace").read()[-1500:]
        assert p.returncode == 0, p.stdout + p.stderr + log
        assert p.stdout.splitlines() == ["Loaded image: bb:1", image_id(fcli, "bb:1")]
        with open(os.path.join(work, "theirs.tar"), "rb") as f:
            assert fresh("load", stdin=f).stdout == "Loaded image: bb:1\n"
        assert image_id(fresh, "bb:1") == image_id(fcli, "bb:1")
    finally:
        shutil.rmtree(work, ignore_errors=True)


class BearerProxy:
    """Docker's token protocol in front of a registry that has no auth: /token
    gives a token for alice's Basic credentials, and /v2/ answers only requests
    that carry it (the rest is passed to the real registry on loopback)."""

    TOKEN = "fastctr-test-token"

    def __init__(self, upstream):
        import http.server
        import threading
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_any(self):
                if self.path.startswith("/token"):
                    return self.token()
                if self.headers.get("Authorization") != f"Bearer {proxy.TOKEN}":
                    return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"token wanted"}]}', {
                        "WWW-Authenticate": f'Bearer realm="http://127.0.0.1:{proxy.port}/token",service="fake"'})
                self.forward()

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_any

            def token(self):
                proxy.scopes.append(urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("scope"))
                basic = "Basic " + base64.b64encode(b"alice:s3cret").decode()
                if self.headers.get("Authorization") != basic:
                    return self.reply(401, b'{"details":"bad credentials"}')
                self.reply(200, json.dumps({"token": proxy.TOKEN}).encode())

            def forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("authorization", "host")}
                headers["Host"] = f"127.0.0.1:{proxy.port}"  # the registry's Location URLs name the proxy
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.reply(resp.status, data, {k: v for k, v in resp.getheaders()
                                               if k.lower() not in ("content-length", "connection", "date")})
                conn.close()

            def reply(self, status, data, headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

        self.scopes = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_login_push_pull_through_a_bearer_token_server(fcli, fresh, registry, tmp_path):
    proxy = BearerProxy(registry)
    try:
        server = f"127.0.0.1:{proxy.port}"
        ref = f"{server}/bearer/bb:1"
        env = dict(fcli.env, DOCKER_CONFIG=fresh.env["DOCKER_CONFIG"])
        assert fresh("login", "-u", "alice", "-p", "nope", server).returncode == 1
        assert fresh("login", "-u", "alice", "-p", "s3cret", server).stdout == "Login Succeeded\n"
        assert fcli("tag", "bb:1", ref).returncode == 0
        p = fcli("push", ref, env=env)
        assert p.returncode == 0, p.stderr
        assert ["repository:bearer/bb:pull,push"] in proxy.scopes  # the challenge named none: the push asked
        p = fresh("run", "--rm", ref, "echo", "bearer")
        assert (p.returncode, p.stdout) == (0, "bearer\n"), p.stderr
        assert ["repository:bearer/bb:pull"] in proxy.scopes
    finally:
        proxy.close()


def test_run_quiet_and_platform_pull(fcli, fresh, registry):
    """run -q pulls without a line; --platform of another architecture than
    the local image's pulls again (as the docker CLI on the daemon's
    NotFound) and, when the registry has only that one, fails as Docker."""
    ref = f"localhost:{registry}/busybox:quiet"
    assert fcli("tag", "bb:1", ref).returncode == 0
    push(fcli, ref)
    p = fresh("run", "-q", "--rm", ref, "echo", "quiet")
    assert (p.returncode, p.stdout, p.stderr) == (0, "quiet\n", "")
    p = fresh("run", "--rm", "--name", "plat", "--platform", "linux/arm64", ref, "true")
    assert p.returncode == 125
    assert p.stderr.splitlines()[0] == f"Unable to find image '{ref}' locally"
    assert p.stderr.splitlines()[-1].startswith("fastctr: ")  # the registry has no linux/arm64 image
    assert fresh("ps", "-a", "-q").stdout == ""
