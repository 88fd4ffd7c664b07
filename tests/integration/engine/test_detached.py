"""Detached containers under their monitor, the commands that watch and end
them, and what a killed `fastctr` command leaves (nothing invisible)."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

import imagetools as it
from conftest import killed_by_sigkill

CLI = os.path.join(os.path.dirname(sys.executable), "fastctr")


@pytest.fixture(scope="module")
def layout():
    d = tempfile.mkdtemp(prefix="fastctr-test-layout-", dir="/var/tmp")
    it.write_oci_layout(os.path.join(d, "layout"), [it.busybox_layer()], ref_name="bb:1")
    yield os.path.join(d, "layout")
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def fc(layout, state_root):
    data = tempfile.mkdtemp(prefix="fastctr-test-data-", dir="/var/tmp")
    os.chmod(data, 0o755)

    def run(*args, env=None, timeout=60):
        e = dict(os.environ, FASTCTR_CGROUP_PARENT="self", **(env or {}))
        # Files, not pipes: a detached container's monitor must not hold our pipe.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.run([CLI, "--data-root", data, "--state-root", state_root, *args], stdout=out,
                               stderr=err, stdin=subprocess.DEVNULL, cwd="/", env=e, timeout=timeout)
            out.seek(0)
            err.seek(0)
            p.stdout, p.stderr = out.read().decode(), err.read().decode()
        return p
    run("load", "-i", layout)
    run.data = data
    yield run
    ids = run("ps", "-a", "-q").stdout.split()
    if ids:
        run("rm", "-f", *ids)
    _wait_monitors_gone(data)
    shutil.rmtree(data, ignore_errors=True)


def _monitors(data):
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            # the monitor execs its clean-up (`container cleanup ID`): the same process, a new argv
            ours = any(data.encode() in a for a in argv)
            if ours and (argv[0].endswith(b"fastctr/data/monitor") or b"cleanup" in argv):
                out.append(int(pid))
    return out


def _wait_monitors_gone(data, timeout=20):
    deadline = time.monotonic() + timeout
    while _monitors(data) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _monitors(data)


def _ps(fc):
    """ps -a --format json (Docker's keys) by name; "Status" here is the state
    word (Docker's State) and "ExitCode" the code read from `Exited (N) ...`."""
    out = {}
    for c in map(json.loads, fc("ps", "-a", "--format", "json").stdout.splitlines()):
        code = re.match(r"Exited \((-?\d+)\)", c["Status"])
        out[c["Names"]] = dict(c, Status=c["State"], ExitCode=int(code.group(1)) if code else None)
    return out


def test_run_detached_logs_wait_and_clean_exit(fc):
    p = fc("run", "-d", "--name", "bg", "bb:1", "sh", "-c",
           'echo out-1; echo err-1 >&2; printf "no newline"; sleep 1; exit 7')
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip()
    assert len(cid) == 64
    assert _ps(fc)["bg"]["Status"] == "running"
    assert len(_monitors(fc.data)) == 1
    assert fc("wait", "bg").stdout.strip() == "7"
    logs = fc("logs", "bg")
    assert logs.stdout == "out-1\nno newline" and logs.stderr == "err-1\n"
    assert fc("logs", "--tail", "1", "bg").stdout == "no newline"
    stamped = fc("logs", "-t", "bg").stdout.splitlines()[0]
    assert stamped.endswith(" out-1") and stamped[4] == "-" and stamped[29] == "Z"
    assert fc("logs", "--since", "2999-01-01T00:00:00Z", "bg").stdout == ""
    with open(os.path.join(fc.data, "containers", cid, "container-json.log")) as f:
        first = json.loads(f.readline())
    assert first["log"] == "out-1\n" and first["stream"] == "stdout"
    assert _wait_monitors_gone(fc.data) == []
    c = _ps(fc)["bg"]
    assert (c["Status"], c["ExitCode"]) == ("exited", 7)
    assert fc("logs", "--tail", "x", "bg").returncode == 125


def test_stop_kill_restart_and_rm_force(fc):
    fc("run", "-d", "--name", "polite", "bb:1", "sh", "-c", "trap 'exit 3' TERM; while :; do sleep 0.05; done")
    fc("run", "-d", "--name", "stubborn", "bb:1", "sleep", "1000")
    t = time.monotonic()
    assert fc("stop", "polite").returncode == 0
    assert time.monotonic() - t < 5
    t = time.monotonic()
    assert fc("stop", "-t", "1", "stubborn").returncode == 0  # PID 1 ignores SIGTERM: SIGKILL after 1 s
    assert time.monotonic() - t >= 1
    ps = _ps(fc)
    assert (ps["polite"]["Status"], ps["polite"]["ExitCode"]) == ("exited", 3)
    assert (ps["stubborn"]["Status"], ps["stubborn"]["ExitCode"]) == ("exited", 137)
    assert fc("restart", "-t", "0", "stubborn").returncode == 0
    assert _ps(fc)["stubborn"]["Status"] == "running"
    assert fc("kill", "-s", "TERM", "stubborn").returncode == 0  # ignored by PID 1
    assert _ps(fc)["stubborn"]["Status"] == "running"
    assert fc("rm", "stubborn").returncode == 1  # running (Docker's CLI: 1 outside run/create/exec)
    assert fc("rm", "-f", "stubborn").returncode == 0
    assert "stubborn" not in _ps(fc)
    assert fc("kill", "polite").returncode == 1  # not running
    assert fc("stop", "nosuch").returncode == 1 and "no such container" in fc("stop", "nosuch").stderr
    assert _wait_monitors_gone(fc.data) == []


def test_detached_rm_and_failures(fc):
    p = fc("run", "-d", "--rm", "bb:1", "true")
    assert p.returncode == 0, p.stderr
    assert _wait_monitors_gone(fc.data) == []
    assert fc("ps", "-a", "-q").stdout == ""  # removed by the monitor's clean-up
    p = fc("run", "-d", "--rm", "bb:1", "nosuchcommand")
    assert p.returncode == 127 and "not found" in p.stderr
    assert fc("ps", "-a", "-q").stdout == ""
    p = fc("run", "-d", "--name", "kept", "bb:1", "nosuchcommand")
    assert p.returncode == 127
    assert (_ps(fc)["kept"]["Status"], _ps(fc)["kept"]["ExitCode"]) == ("exited", 127)


@pytest.mark.parametrize("point", ["create:recorded", "create:layer", "start:spawned"])
def test_killed_command_leaves_a_dead_container_that_prune_removes(fc, point):
    # --rm: the direct foreground path (without it, run goes through a monitor)
    p = fc("run", "--rm", "--name", "victim", "bb:1", "sleep", "1000", env={"FASTCTR_CRASH_AT": point})
    assert killed_by_sigkill(p), (p.returncode, p.stderr)
    assert _ps(fc)["victim"]["Status"] == "dead"
    out = fc("system", "prune", "-f")
    assert out.returncode == 0 and "Deleted Containers:\n" in out.stdout  # Docker's words
    assert fc("ps", "-a", "-q").stdout == ""
    # the autouse no_leaks fixture checks cgroups, mounts and state


@pytest.mark.parametrize("point", ["create:recorded", "create:layer", "create:returned"])
def test_a_ctrl_c_during_create_leaves_nothing(fc, tmp_path, point):
    cidfile = tmp_path / "cid"
    p = fc("create", "--cidfile", str(cidfile), "-v", "/anon", "bb:1", "true",
           env={"FASTCTR_CRASH_AT": point, "FASTCTR_CRASH_SIGNAL": "INT"})
    assert p.returncode == 130, (p.returncode, p.stderr)
    assert fc("ps", "-a", "-q").stdout == "" and not cidfile.exists()
    assert fc("volume", "ls", "-q").stdout == ""  # its anonymous volume went with it
    # the autouse no_leaks fixture checks cgroups, mounts and state


def test_killed_foreground_command_leaves_its_running_container_visible(fc):
    p = fc("run", "--name", "orphan", "bb:1", "sleep", "1000", env={"FASTCTR_CRASH_AT": "start:running"})
    assert killed_by_sigkill(p), (p.returncode, p.stderr)
    assert _ps(fc)["orphan"]["Status"] == "running"
    assert fc("container", "prune").stdout == "Total reclaimed space: 0B\n"  # nothing removed
    assert fc("stop", "-t", "0", "orphan").returncode == 0
    assert _ps(fc)["orphan"]["Status"] == "exited"
    assert fc("container", "prune").stdout.startswith("Deleted Containers:\n")


def test_hundred_detached_containers_leave_nothing(fc):
    for i in range(100):
        p = fc("run", "-d", "bb:1", "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done")
        assert p.returncode == 0, p.stderr
    ids = fc("ps", "-q").stdout.split()
    assert len(ids) == 100 and len(_monitors(fc.data)) == 100
    p = fc("stop", *ids, timeout=300)
    assert p.returncode == 0, p.stderr
    assert all(c["Status"] == "exited" and c["ExitCode"] in (0, 143) for c in _ps(fc).values())
    assert fc("rm", *ids).returncode == 0
    assert _wait_monitors_gone(fc.data) == []
    assert fc("ps", "-a", "-q").stdout == ""


def test_containers_that_exit_at_once_are_cleaned_up(fc):
    # `true` may be gone before its start time is read: the runtime must not
    # then take the container for alive (and its clean-up for premature).
    for _ in range(20):
        assert fc("run", "-d", "--rm", "bb:1", "true").returncode == 0
    ids = [fc("run", "-d", "bb:1", "true").stdout.strip() for _ in range(5)]
    assert _wait_monitors_gone(fc.data) == []
    assert sorted(fc("ps", "-a", "-q").stdout.split()) == sorted(i[:12] for i in ids)
    assert all(c["Status"] == "exited" and c["ExitCode"] == 0 for c in _ps(fc).values())
    assert fc("rm", *ids).returncode == 0
