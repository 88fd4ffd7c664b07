"""The OCI lifecycle through the API and through fastctr-runc."""
import json
import os
import signal
import socket
import array
import threading
import time

import pytest

from fastctr.errors import CommandNotExecutable, CommandNotFound, ContainerExists, InvalidState, SpawnError


def wait_status(rt, cid, want, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rt.state(cid)["status"] == want:
            return
        time.sleep(0.01)
    raise AssertionError(f"{cid} never became {want}: {rt.state(cid)}")


def test_create_start_kill_delete(rt, bundle, tmp_path):
    marker = tmp_path / "started"
    b = bundle(["sh", "-c", "echo started > /out/started; exec sleep 60"],
               edit=lambda s: s["mounts"].append({"destination": "/out", "type": "bind",
                                                 "source": str(tmp_path), "options": ["rbind"]}))
    c = rt.create("life", b)
    st = rt.state("life")
    assert st["status"] == "created" and st["pid"] == c.pid and st["id"] == "life"
    assert st["bundle"] == b and not marker.exists()  # args not run before start
    rt.start("life")
    wait_status(rt, "life", "running")
    with pytest.raises(InvalidState, match="not stopped: running"):
        rt.delete("life")  # a running container is not deleted without force
    for _ in range(500):
        if marker.exists():
            break
        time.sleep(0.01)
    assert marker.read_text() == "started\n"
    with pytest.raises(InvalidState):
        rt.start("life")
    assert rt.ps("life") == [c.pid]
    rt.kill("life", "KILL")  # TERM would be ignored: sleep is PID 1 without a handler
    wait_status(rt, "life", "stopped")
    assert rt.state("life")["pid"] == 0
    with pytest.raises(InvalidState):
        rt.kill("life", "KILL")
    cg_paths = list(rt.get("life").cgroup.paths.values())
    rt.delete("life")
    assert not any(os.path.exists(p) for p in cg_paths)
    assert "life" not in [x.id for x in rt.list()]


def test_duplicate_id_refused_and_original_untouched(rt, bundle):
    b = bundle(["sleep", "60"])
    rt.create("dup", b)
    try:
        with pytest.raises(ContainerExists):
            rt.create("dup", b)
        assert rt.state("dup")["status"] == "created"
    finally:
        rt.delete("dup", force=True)


def test_exec_enters_every_namespace_and_the_cgroup(rt, bundle, tmp_path):
    rt.create("ex", bundle(["sleep", "60"]), stdio=(-1, -1, -1))
    rt.start("ex")
    try:
        out = tmp_path / "exec-out"
        with open(out, "w") as f:
            status = rt.exec("ex", {"args": ["sh", "-c", "ps -o pid,args; hostname; cat /proc/self/cgroup; exit 3"],
                                    "env": ["PATH=/bin"], "cwd": "/"}, stdio=(-1, f.fileno(), f.fileno()))
        assert status == 3
        text = out.read_text()
        assert "1 sleep 60" in text and "fastctr" in text
        assert text.count("sleep") == 1  # one sleep: the container's, not the host's
        cgroup_lines = [line for line in text.splitlines() if line[:1].isdigit() and ":" in line]
        # Joined the container's cgroup (the root of its cgroup namespace), not our own.
        assert cgroup_lines and all(line.endswith(":/") for line in cgroup_lines), text
    finally:
        rt.delete("ex", force=True)


def test_pause_and_resume(rt, bundle):
    rt.create("pz", bundle(["sleep", "60"]))
    rt.start("pz")
    try:
        rt.pause("pz")
        assert rt.state("pz")["status"] == "paused"
        with open(f"/proc/{rt.state('pz')['pid']}/status") as f:
            assert any(line.startswith("State:") for line in f)
        rt.resume("pz")
        assert rt.state("pz")["status"] == "running"
    finally:
        rt.delete("pz", force=True)


def test_command_not_found_and_not_executable(rt, bundle, rootfs):
    with pytest.raises(CommandNotFound) as e:
        rt.run("nf", bundle(["no-such-command"]))
    assert e.value.exit_code == 127 and e.value.stage == "exec" and "no-such-command" in str(e.value)
    with pytest.raises(CommandNotExecutable) as e:
        rt.run("nx", bundle(["/etc/passwd"]))
    assert e.value.exit_code == 126


def test_spawn_errors_name_stage_and_path(rt, bundle):
    def edit(spec):
        spec["process"]["cwd"] = "/does/not/exist"
    with pytest.raises(FileNotFoundError) as e:
        rt.run("cwd", bundle(["true"], edit=edit))
    assert isinstance(e.value, SpawnError) and e.value.stage == "process" and "/does/not/exist" in str(e.value)


def test_exit_status(rt, bundle):
    assert rt.run("st1", bundle(["sh", "-c", "exit 42"])) == 42


def test_hooks_run_with_state_on_stdin(rt, bundle, tmp_path):
    log = tmp_path / "hooks.log"
    script = tmp_path / "hook.sh"
    script.write_text(f"#!/bin/sh\necho \"$1 $(cat)\" >> {log}\n")
    script.chmod(0o755)
    def edit(spec):
        spec["hooks"] = {k: [{"path": str(script), "args": ["hook.sh", k]}]
                         for k in ("prestart", "createRuntime", "poststart", "poststop")}
    assert rt.run("hk", bundle(["true"], edit=edit)) == 0
    lines = log.read_text().splitlines()
    kinds = [line.split(" ", 1)[0] for line in lines]
    assert kinds == ["prestart", "createRuntime", "poststart", "poststop"]
    states = [json.loads(line.split(" ", 1)[1]) for line in lines]
    assert all(s["id"] == "hk" for s in states)
    assert states[0]["status"] == "created" and states[3]["status"] == "stopped"


def test_failing_create_hook_leaves_nothing(rt, bundle, tmp_path):
    def edit(spec):
        spec["hooks"] = {"createRuntime": [{"path": "/bin/false"}]}
    from fastctr.errors import HookError
    with pytest.raises(HookError):
        rt.create("badhook", bundle(["sleep", "10"], edit=edit))
    assert rt.list() == []


def test_container_in_container_hooks(rt, bundle, tmp_path):
    def edit(spec):
        spec["mounts"].append({"destination": "/out", "type": "bind", "source": str(tmp_path), "options": ["rbind"]})
        spec["hooks"] = {"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "hostname > /out/hookhost"]}]}
    rt.create("inhook", bundle(["true"], edit=edit))
    rt.start("inhook")
    try:
        assert (tmp_path / "hookhost").read_text().strip() == "fastctr"
    finally:
        rt.delete("inhook", force=True)


def test_console_socket_receives_the_pty(rt, bundle, tmp_path):
    path = str(tmp_path / "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    def edit(spec):
        spec["process"]["terminal"] = True
    b = bundle(["sh", "-c", "tty; echo on-the-pty"], edit=edit)
    rt.create("tty", b, console_socket=path)
    conn, _ = srv.accept()
    fds = array.array("i")
    msg, anc, _, _ = conn.recvmsg(64, socket.CMSG_SPACE(4))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:4])
    master = fds[0]
    try:
        rt.start("tty")
        out = b""
        deadline = time.monotonic() + 5
        while b"on-the-pty" not in out and time.monotonic() < deadline:
            try:
                out += os.read(master, 1024)
            except OSError:
                break
        assert b"/dev/pts/0" in out and b"on-the-pty" in out
    finally:
        os.close(master)
        conn.close()
        srv.close()
        rt.delete("tty", force=True)


# ------------------------------------------------------------------ the CLI

def test_cli_lifecycle(cli, bundle, tmp_path):
    b = bundle(["sleep", "60"])
    pidfile = tmp_path / "pid"
    cli("create", "--bundle", b, "--pid-file", str(pidfile), "c1")
    st = json.loads(cli("state", "c1").stdout)
    assert st["status"] == "created" and st["pid"] == int(pidfile.read_text())
    cli("start", "c1")
    assert json.loads(cli("state", "c1").stdout)["status"] == "running"
    assert cli("delete", "c1", check=False).returncode == 1  # running: only with --force
    assert json.loads(cli("ps", "--format", "json", "c1").stdout) == [st["pid"]]
    assert "c1" in cli("list", "-q").stdout
    assert cli("exec", "c1", "sh", "-c", "exit 5", check=False).returncode == 5
    cli("kill", "c1", "KILL")
    for _ in range(200):
        if json.loads(cli("state", "c1").stdout)["status"] == "stopped":
            break
        time.sleep(0.01)
    cli("delete", "c1")
    assert cli("state", "c1", check=False).returncode == 1


def test_cli_run_returns_status_and_cleans_up(cli, bundle):
    p = cli("run", "--bundle", bundle(["sh", "-c", "echo out; exit 7"]), "r1", check=False)
    assert p.returncode == 7 and p.stdout == "out\n"
    p = cli("run", "--bundle", bundle(["nonexistent-cmd"]), "r2", check=False)
    assert p.returncode == 127 and "nonexistent-cmd" in p.stderr


def test_cli_kill_all_and_force_delete(cli, bundle):
    cli("run", "--detach", "--bundle", bundle(["sh", "-c", "sleep 60 & sleep 60 & wait"]), "ka")
    cli("kill", "--all", "ka", "KILL")
    cli("delete", "--force", "ka")


@pytest.mark.parametrize("edit, message", [
    (lambda s: s["linux"]["namespaces"].append({"type": "bogus"}), "unknown or unsupported namespace"),
    (lambda s: s["process"]["capabilities"]["bounding"].append("CAP_TEST"), "unknown capability"),
    (lambda s: s["mounts"].append({"destination": "/x", "type": "bind", "source": "/nonexistent"}), "does not exist"),
    (lambda s: s["mounts"].append({"destination": "/x", "type": "nosuchfs", "source": "x"}), "mount x (nosuchfs) on /x"),
    (lambda s: s["linux"].update(resources={"memory": {"limit": "lots"}}), "must be an integer"),
    (lambda s: s["linux"].update(resources={"blockIO": {"weight": 5}}), "between 10 and 1000"),
    (lambda s: s["linux"].update(uidMappings=[{"containerID": 0, "hostID": 1, "size": 1}]), "user namespace"),
])
def test_cli_bad_input_fails_cleanly(cli, bundle, state_root, edit, message, tmp_path):
    log = tmp_path / "log.json"
    p = cli("--log", str(log), "--log-format", "json", "create", "--bundle", bundle(["true"], edit=edit), "bad",
            check=False)
    assert p.returncode == 1
    assert message in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert message in json.loads(log.read_text().splitlines()[-1])["msg"]
    assert not os.path.exists(os.path.join(state_root, "bad"))  # no_leaks checks cgroups and mounts


def test_cli_spec_and_features(cli, tmp_path):
    cli("spec", "--bundle", str(tmp_path))
    spec = json.loads((tmp_path / "config.json").read_text())
    assert spec["process"]["args"] == ["sh"] and "/proc/kcore" in spec["linux"]["maskedPaths"]
    assert cli("spec", "--bundle", str(tmp_path), check=False).returncode == 1
    features = json.loads(cli("features").stdout)
    assert "pid" in features["linux"]["namespaces"]


def test_config_without_process_creates_but_cannot_start(rt, bundle):
    b = bundle(["true"], edit=lambda s: s.pop("process"))
    rt.create("noproc", b)
    assert rt.state("noproc")["status"] == "created"
    with pytest.raises(InvalidState, match="no process"):
        rt.start("noproc")
    assert rt.state("noproc")["status"] == "stopped"
    rt.delete("noproc")


def test_cli_exec_process_file_detached_with_pid_file(cli, bundle, tmp_path):
    cli("run", "--detach", "--bundle", bundle(["sleep", "60"]), "pe")
    try:
        proc = {"args": ["sh", "-c", "echo $FOO > /dev/shm/foo; sleep 1"], "env": ["FOO=bar", "PATH=/bin"],
                "cwd": "/", "user": {"uid": 0, "gid": 0}}
        pf = tmp_path / "proc.json"
        pf.write_text(json.dumps(proc))
        pidfile = tmp_path / "exec.pid"
        cli("exec", "--process", str(pf), "--detach", "--pid-file", str(pidfile), "pe")
        pid = int(pidfile.read_text())
        assert os.path.exists(f"/proc/{pid}")
        assert cli("exec", "pe", "cat", "/dev/shm/foo").stdout == "bar\n"
    finally:
        cli("delete", "--force", "pe")


@pytest.mark.parametrize("edit, exc", [
    # fails while writing the cgroup: cpuset has no CPU 999
    (lambda s: s["linux"].update(resources={"cpu": {"cpus": "999"}}), OSError),
    # fails in the child, in the middle of the mount plan
    (lambda s: s["mounts"].append({"destination": "/x", "type": "nosuchfs", "source": "x"}), SpawnError),
    # fails in the child after pivot_root: a sysctl that does not exist
    (lambda s: s["linux"].update(sysctl={"net.ipv4.no_such_knob": "1"}), SpawnError),
    # fails at setrlimit: above fs.nr_open
    (lambda s: s["process"].update(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 2**40, "hard": 2**40}]), SpawnError),
])
def test_failures_at_each_stage_leave_nothing(rt, bundle, edit, exc):
    with pytest.raises(exc) as e:
        rt.create("stage", bundle(["true"], edit=edit))
    assert str(e.value)
    assert rt.list() == []  # state; no_leaks checks cgroups and mounts


def test_runs_from_threads_started_meanwhile(rt, bundle):
    """A Runtime (or an Engine) used from threads: each run's process
    changes ids while other threads come and go.  glibc's setresuid and
    setgroups would make every thread of the parent's list change too, and
    the cloned child, which has only one, waited forever for the others."""
    b = bundle(["true"])
    results = {}

    def one(i):
        results[i] = rt.run(f"thread-{i}", b)
    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(48)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    for t in threads:
        t.join(max(deadline - time.monotonic(), 0))
    hung = [t.name for t in threads if t.is_alive()]
    assert hung == [], f"{len(hung)} runs never returned"
    assert results == {i: 0 for i in range(48)}
