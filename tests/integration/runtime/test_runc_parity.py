"""fastctr-runc and Debian's runc side by side: every lifecycle verb in every
state gives the same exit code and the error words containerd's shim
(go-runc) matches on ("container not running", "does not exist", ...).

The shim tells a task that is already gone from a real failure by those
words: a kill that fails differently on an exited container leaves the pod
running forever.  (The `creating` state lasts only while `create` runs and
is not reached from outside.)"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import RUNC_CLI
from fastctr.runtime.bundle import make_bundle
from fastctr.runtime.cgroups import own_cgroups

pytestmark = pytest.mark.skipif(not shutil.which("runc") or os.geteuid() != 0,
                                reason="needs root and Debian's runc (apt-get install runc)")
RUNTIMES = {"runc": ["runc"], "fastctr-runc": RUNC_CLI}
STATES = ("missing", "created", "running", "paused", "stopped")
VERBS = ("create", "start", "state", "kill", "kill --all", "pause", "resume", "exec", "ps", "update",
         "delete", "delete --force")


def cgroup_prefix():
    own = own_cgroups()
    return (own.get("memory") or own.get("") or "/").rstrip("/")


class Side:
    """One runtime with its own state root; containers of one shared rootfs."""

    def __init__(self, name, work, rootfs):
        self.name, self.work, self.rootfs = name, work, rootfs
        self.root = os.path.join(work, name + "-root")

    def __call__(self, *args):
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            # Files, not pipes: `create` hands its stdio to the container.
            p = subprocess.run(RUNTIMES[self.name] + ["--root", self.root, *args], stdout=out, stderr=err,
                               stdin=subprocess.DEVNULL, cwd=self.work, timeout=60)
            out.seek(0)
            err.seek(0)
            p.stdout, p.stderr = out.read().decode(), err.read().decode()
        return p

    def bundle(self, cid, args):
        path = os.path.join(self.work, f"{self.name}-{cid}")
        spec = make_bundle(path, args=args, rootfs=self.rootfs)
        spec["root"]["path"] = self.rootfs  # runc refuses a rootfs symlink
        spec["linux"]["cgroupsPath"] = f"{cgroup_prefix()}/fctr-test-{os.getpid()}-{self.name}-{cid}"
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(spec, f)
        return path

    def status(self, cid):
        p = self("state", cid)
        return json.loads(p.stdout)["status"] if p.returncode == 0 else None

    def make(self, cid, state):
        """A container `cid` in `state` (nothing for `missing`)."""
        if state == "missing":
            return
        args = ["/bin/true"] if state == "stopped" else ["/bin/sleep", "60"]
        p = self("create", "--bundle", self.bundle(cid, args), cid)
        assert p.returncode == 0, p.stderr
        if state in ("running", "paused", "stopped"):
            assert self("start", cid).returncode == 0
        if state == "paused":
            assert self("pause", cid).returncode == 0
        deadline = time.monotonic() + 10
        while self.status(cid) != state and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.status(cid) == state

    def verb(self, verb, cid, files):
        return {"create": ["create", "--bundle", self.bundle(cid + "-again", ["/bin/sleep", "60"]), cid],
                "start": ["start", cid], "state": ["state", cid], "kill": ["kill", cid, "KILL"],
                "kill --all": ["kill", "--all", cid, "KILL"], "pause": ["pause", cid], "resume": ["resume", cid],
                "exec": ["exec", "--process", files["process"], cid], "ps": ["ps", cid],
                "update": ["update", "--resources", files["resources"], cid], "delete": ["delete", cid],
                "delete --force": ["delete", "--force", cid]}[verb]


def message(stderr):
    """The error text without each tool's wrapping."""
    lines = stderr.strip().splitlines()
    if not lines:
        return ""
    last = lines[-1]
    m = re.search(r'msg="((?:[^"\\]|\\.)*)"', last)
    text = m.group(1) if m else last
    return text.removeprefix("fastctr-runc: ").removeprefix("runc create failed: ")


@pytest.fixture(scope="module")
def matrix(rootfs):
    work = tempfile.mkdtemp(prefix="fastctr-test-parity-", dir="/tmp")
    os.chmod(work, 0o755)
    files = {"process": os.path.join(work, "process.json"), "resources": os.path.join(work, "resources.json")}
    with open(files["process"], "w") as f:
        json.dump({"args": ["/bin/true"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}, f)
    with open(files["resources"], "w") as f:
        json.dump({"pids": {"limit": 50}}, f)
    sides = [Side(name, work, rootfs) for name in RUNTIMES]
    results = {}
    try:
        for side in sides:
            for state in STATES:
                for i, verb in enumerate(VERBS):
                    cid = f"p-{state}-{i}"
                    side.make(cid, state)
                    p = side(*side.verb(verb, cid, files))
                    results[side.name, state, verb] = (p.returncode, message(p.stderr))
                    side("delete", "--force", cid)
                    side("delete", "--force", cid + "-again")
    finally:
        for side in sides:
            for cid in side("list", "-q").stdout.split():
                side("delete", "--force", cid)
        shutil.rmtree(work, ignore_errors=True)
    return results


@pytest.mark.parametrize("state", STATES)
def test_every_verb_answers_as_runc_does(matrix, state):
    diffs = []
    for verb in VERBS:
        (want_code, want), (code, got) = matrix["runc", state, verb], matrix["fastctr-runc", state, verb]
        # Our text is runc's, or the part of it that the shim matches.
        if code != want_code or bool(got) != bool(want) or got not in want:
            diffs.append(f"{verb}: runc {want_code} {want!r}, fastctr-runc {code} {got!r}")
    assert not diffs, "\n".join(diffs)


def test_shim_kill_all_of_an_exited_container_succeeds_and_plain_kill_says_not_running(cli, bundle):
    """containerd's shim after a task exits: `kill --all ID 9` must exit 0."""
    cli("create", "--bundle", bundle(["/bin/true"]), "exited")
    cli("start", "exited")
    deadline = time.monotonic() + 10
    while json.loads(cli("state", "exited").stdout)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert cli("kill", "--all", "exited", "9").returncode == 0
    p = cli("kill", "exited", "9", check=False)
    assert p.returncode == 1 and "container not running" in p.stderr
    cli("delete", "exited")
    p = cli("kill", "--all", "exited", "9", check=False)
    assert p.returncode == 1 and "does not exist" in p.stderr


@pytest.mark.skipif(not os.path.exists("/sys/fs/cgroup/unified/cgroup.procs"), reason="not a hybrid cgroup host")
def test_on_a_hybrid_host_the_container_joins_runcs_cgroup2_path(rootfs, tmp_path):
    os.chmod(tmp_path, 0o755)
    lines = {}
    for name in RUNTIMES:
        side = Side(name, str(tmp_path), rootfs)
        cid = "v2path"
        side.make(cid, "created")
        try:
            pid = json.loads(side("state", cid).stdout)["pid"]
            with open(f"/proc/{pid}/cgroup") as f:
                lines[name] = next(line.strip() for line in f if line.startswith("0::"))
        finally:
            side("delete", "--force", cid)
    want = f"0::{cgroup_prefix()}/fctr-test-{os.getpid()}"
    assert lines["runc"].startswith(want), lines
    assert lines["fastctr-runc"] == lines["runc"].replace("-runc-", "-fastctr-runc-"), lines
