"""fastctr-runc under containerd's runc v2 shim, as Kubernetes uses it, next
to Debian's runc: the same ctr steps end the same way, and nothing is left
(shim, process, cgroup, state directory).

containerd runs in a network and mount namespace of its own (no CRI plugin,
native snapshotter, everything under a temporary directory)."""
import contextlib
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import imagetools as it
from conftest import RUNC_CLI
from othertools import end
from fastctr.runtime.cgroups import own_cgroups

pytestmark = pytest.mark.skipif(not (shutil.which("containerd") and shutil.which("ctr") and shutil.which("runc"))
                                or os.geteuid() != 0,
                                reason="needs root, containerd, ctr and runc (apt-get install containerd runc)")
IMAGE = "docker.io/library/bb:1"
RUNTIMES = {"runc": shutil.which("runc") or "runc", "fastctr-runc": RUNC_CLI[0]}


@contextlib.contextmanager
def containerd(work):
    config = os.path.join(work, "config.toml")
    with open(config, "w") as f:
        f.write(f"""version = 2
root = "{work}/root"
state = "{work}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{work}/containerd.sock"
[ttrpc]
  address = "{work}/containerd.sock.ttrpc"
""")
    log = open(os.path.join(work, "containerd.log"), "wb")
    proc = subprocess.Popen(["unshare", "--net", "--mount", "--propagation", "private", "containerd", "--config",
                             config], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(f"{work}/containerd.sock"):
            assert proc.poll() is None and time.monotonic() < deadline, open(log.name).read()[-2000:]
            time.sleep(0.05)
        yield proc
    finally:
        end(proc)
        log.close()


class Ctr:
    def __init__(self, work, runtime):
        self.work, self.runtime = work, runtime
        self.root = os.path.join(work, f"{runtime}-root")
        own = own_cgroups()
        self.cgroup = (own.get("memory") or own.get("") or "/").rstrip("/") + f"/fctr-test-{os.getpid()}-{runtime}"

    def __call__(self, *args, timeout=60):
        return subprocess.run(["ctr", "-a", f"{self.work}/containerd.sock", "-n", "fctest", *args],
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def run(self, task, *cmd, detach=True):
        return self("run", *(["-d"] if detach else ["--rm"]), "--snapshotter", "native",
                    "--runc-binary", RUNTIMES[self.runtime], "--runc-root", self.root,
                    "--cgroup", f"{self.cgroup}-{task}", IMAGE, task, *cmd)

    def status(self, task):
        for line in self("task", "ls").stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == task:
                return fields[2]
        return None

    def wait_status(self, task, want, timeout=10):
        deadline = time.monotonic() + timeout
        while self.status(task) != want and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.status(task)

    def remove(self, task):
        """ctr task delete + container delete: (exit codes, the task's exit status line)."""
        t = self("task", "delete", task)
        c = self("container", "delete", task)
        said = t.stderr.strip()
        return t.returncode, c.returncode, said[said.find("msg="):]  # without the time


def scenario(ctr):
    """Every step a kubelet's calls come down to; what each one gave."""
    out = {}
    p = ctr.run("t-rm", "/bin/sh", "-c", "echo hello", detach=False)
    out["run --rm"] = (p.returncode, p.stdout)
    # A task whose process exits by itself must be seen to stop (the shim's
    # `kill --all` of the exited container must succeed), then be removable.
    assert ctr.run("t-exit", "/bin/sh", "-c", "sleep 0.2; exit 3").returncode == 0
    out["exits by itself"] = ctr.wait_status("t-exit", "STOPPED")
    p = ctr("task", "kill", "-s", "KILL", "t-exit")
    out["kill of an exited task"] = (p.returncode, "process already finished" in p.stderr)
    out["remove exited"] = ctr.remove("t-exit")
    # A running task: exec, pause/resume, kill, remove.
    assert ctr.run("t-run", "/bin/sleep", "60").returncode == 0
    p = ctr("task", "exec", "--exec-id", "e1", "t-run", "/bin/sh", "-c", "echo in-exec; exit 4")
    out["exec"] = (p.returncode, p.stdout)
    out["pause"] = (ctr("task", "pause", "t-run").returncode, ctr.status("t-run"))
    out["resume"] = (ctr("task", "resume", "t-run").returncode, ctr.status("t-run"))
    out["kill running"] = (ctr("task", "kill", "-s", "KILL", "t-run").returncode, ctr.wait_status("t-run", "STOPPED"))
    out["remove killed"] = ctr.remove("t-run")
    out["tasks left"] = ctr("task", "ls", "-q").stdout.split()
    out["containers left"] = ctr("container", "ls", "-q").stdout.split()
    return out


def shims(containerd_pid):
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if b"containerd-shim" in f.read():
                        found.append(int(pid))
            except OSError:
                pass
    return found


def leftovers(ctr):
    """What the runtime left: state directories and cgroups."""
    states = []
    for dirpath, dirnames, _ in os.walk(ctr.root):
        states += [d for d in dirnames if d.startswith("t-")]
    cgroups = []
    for mnt in ("/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        parent = os.path.dirname(os.path.join(mnt, ctr.cgroup.lstrip("/")))
        if os.path.isdir(parent):
            cgroups += [d for d in os.listdir(parent) if d.startswith(os.path.basename(ctr.cgroup))]
    return states, cgroups


@pytest.fixture(scope="module")
def world():
    work = tempfile.mkdtemp(prefix="fastctr-test-ctrd-", dir="/tmp")
    os.chmod(work, 0o755)
    archive = os.path.join(work, "bb.tar")
    it.write_docker_archive(archive, [it.busybox_layer()], repo_tags=("bb:1",))
    try:
        with containerd(work) as proc:
            ctr = Ctr(work, "runc")
            p = ctr("images", "import", "--snapshotter", "native", archive)
            assert p.returncode == 0, p.stderr
            yield work, proc
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_ctr_steps_end_as_with_runc_and_leave_nothing(world):
    work, proc = world
    results = {}
    for runtime in RUNTIMES:
        ctr = Ctr(work, runtime)
        results[runtime] = scenario(ctr)
        deadline = time.monotonic() + 10
        while shims(proc.pid) and time.monotonic() < deadline:  # a shim exits once its task is deleted
            time.sleep(0.05)
        assert shims(proc.pid) == [], f"{runtime}: shims left"
        assert leftovers(ctr) == ([], []), f"{runtime}: {leftovers(ctr)}"
    want, got = results["runc"], results["fastctr-runc"]
    assert want["run --rm"] == (0, "hello\n")
    assert want["exits by itself"] == "STOPPED"
    assert got == want
