"""The commands that watch and control running containers (exec, attach,
pause, rename, inspect, top, stats, update, ps --format) and the terminal:
-i/-t through a real pty, window size, Ctrl-C, detach keys, signals and
--init."""
import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import tempfile
import termios
import time

import pytest
from ptytools import Pty


@pytest.fixture
def fc(fcli):
    return fcli


@pytest.fixture
def pty(fc):
    made = []

    def start(*args, **kw):
        p = Pty(fc.argv + list(args), fc.env, **kw)
        made.append(p)
        return p
    yield start
    for p in made:
        p.close()


def _inspect(fc, ref, template):
    p = fc("inspect", "--format", template, ref)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


# ---------------------------------------------------------------- terminal

def test_run_it_size_input_resize_and_exit_code(fc, pty):
    t = pty("run", "-it", "--rm", "bb:1", "sh")
    t.send("stty size; tty; echo term=$TERM\n")
    t.expect("30 100")
    t.expect("/dev/pts/0")
    t.expect("term=xterm")
    t.resize(40, 120)  # the kernel sends SIGWINCH to fastctr, which passes the size on
    time.sleep(0.3)
    t.send("stty size\n")
    t.expect("40 120")
    t.send("exit 7\n")
    assert t.wait() == 7
    assert fc("ps", "-a", "-q").stdout == ""  # --rm: gone when run returns


def test_ctrl_c_reaches_the_containers_foreground_process(fc, pty):
    t = pty("run", "-it", "--rm", "bb:1", "sh")
    t.send("sleep 30\n")
    time.sleep(0.5)
    t0 = time.monotonic()
    t.send("\x03")
    t.send("echo status=$?\n")
    t.expect("status=130")
    assert time.monotonic() - t0 < 10
    t.send("exit\n")
    assert t.wait() == 0


def test_detach_keys_leave_it_running_and_attach_comes_back(fc, pty):
    t = pty("run", "-it", "--name", "det", "bb:1", "sh")
    t.send("echo one=$((0+1))\n")
    t.expect("one=1")  # the shell's output: raw mode is on (the pty's echo would show the input)
    t.send("\x10\x11")  # Ctrl-P Ctrl-Q
    assert t.wait() == 0
    assert _inspect(fc, "det", "{{.State.Status}}") == "running"
    a = pty("attach", "--detach-keys", "ctrl-x,x", "det")
    time.sleep(0.3)
    a.send("echo two=$((1+1))\n")
    a.expect("two=2")
    a.send("\x18x")
    assert a.wait() == 0
    a = pty("attach", "det")
    time.sleep(0.3)
    a.send("exit 3\n")
    assert a.wait() == 3
    assert fc("wait", "det").stdout.strip() == "3"
    assert "echo one" in fc("logs", "det").stdout  # a -t container's output is logged too
    fc("rm", "det")


def test_run_di_then_attach_sends_input(fc, tmp_path):
    cid = fc("run", "-di", "bb:1", "sh", "-c", "read line; echo got:$line").stdout.strip()
    (tmp_path / "in").write_text("hello\n")
    with open(tmp_path / "in") as stdin:
        p = fc("attach", cid, stdin=stdin)
    assert p.returncode == 0 and p.stdout == "got:hello\n", (p.stdout, p.stderr)
    fc("rm", cid)


def test_attach_to_a_stopped_container_fails_cleanly(fc):
    cid = fc("create", "bb:1", "true").stdout.strip()
    p = fc("attach", cid)
    assert p.returncode == 1 and "created" in p.stderr and len(p.stderr.splitlines()) == 1
    fc("rm", cid)


def test_sig_proxy_passes_signals_to_the_container(fc):
    p = subprocess.Popen(fc.argv + ["run", "--rm", "bb:1", "sh", "-c",
                                    "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.1; done"],
                         stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=fc.env, text=True)
    try:
        assert p.stdout.readline() == "ready\n"
        p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 42
        assert p.stdout.read() == "got-term\n"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_init_reaps_zombies_and_forwards_signals(fc):
    p = fc("run", "--rm", "--init", "bb:1", "sh", "-c",
           "(sleep 0.2 &); sleep 0.6; cat /proc/1/cmdline | tr '\\0' ' '; echo; ps -o stat,comm | grep -c '^Z' || true")
    assert p.stdout.split("\n")[0].startswith("/sbin/docker-init -- sh -c"), p.stdout
    assert p.stdout.split("\n")[1] == "0"  # the orphaned sleep was reaped
    # a plain sleep as the command: without an init, PID 1 would ignore SIGTERM
    proc = subprocess.Popen(fc.argv + ["run", "--rm", "--init", "bb:1", "sleep", "30"], env=fc.env,
                            stdin=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -------------------------------------------------------------------- exec

@pytest.fixture
def running(fc):
    cid = fc("run", "-d", "--name", "box", "bb:1", "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"
             ).stdout.strip()
    assert cid
    yield cid
    fc("rm", "-f", cid)


def test_exec_flags(fc, running, tmp_path):
    p = fc("exec", "-e", "FOO=bar", "-w", "/tmp", "-u", "1000:1000", "box", "sh", "-c", "echo $FOO $(pwd) $(id -u):$(id -g)")
    assert p.stdout.strip() == "bar /tmp 1000:1000", p.stderr
    assert fc("exec", "box", "sh", "-c", "exit 5").returncode == 5
    p = fc("exec", "box", "nonexistent")
    assert p.returncode == 127 and len(p.stderr.splitlines()) == 1
    (tmp_path / "in").write_text("via stdin\n")
    with open(tmp_path / "in") as stdin:
        assert fc("exec", "-i", "box", "cat", stdin=stdin).stdout == "via stdin\n"
    with open(tmp_path / "in") as stdin:
        assert fc("exec", "box", "cat", stdin=stdin).stdout == ""  # no -i: no input
    # -d: in the background, in the container's namespaces and cgroup
    assert fc("exec", "-d", "box", "sleep", "7").returncode == 0
    assert "sleep 7" in fc("top", "box").stdout
    ns = fc("exec", "box", "sh", "-c", "for n in 1/ns/pid self/ns/pid 1/ns/mnt self/ns/mnt; do readlink /proc/$n; done")
    a, b, c, d = ns.stdout.split()
    assert a == b and c == d


def test_exec_it_has_a_terminal(fc, running, pty):
    t = pty("exec", "-it", "box", "sh", "-c", "tty; stty size; read x; echo x=$x; exit 4", rows=25, cols=81)
    t.expect("25 81")
    t.send("typed\n")
    t.expect("x=typed")
    assert t.wait() == 4


def test_exec_needs_a_running_container(fc):
    cid = fc("create", "bb:1", "true").stdout.strip()
    p = fc("exec", cid, "true")
    assert p.returncode == 1 and "not running" in p.stderr  # Docker's CLI: the daemon refused
    fc("rm", cid)


# ------------------------------------------------------ pause and the rest

def test_pause_and_unpause(fc, running):
    assert fc("pause", "box").returncode == 0
    assert re.search(r"Up [\w ]+ \(Paused\)", fc("ps").stdout)  # Up 2 seconds (Paused)
    assert _inspect(fc, "box", "{{.State.Status}} {{.State.Paused}}") == "paused true"
    p = fc("exec", "box", "true")
    assert p.returncode == 1 and "paused" in p.stderr
    assert fc("pause", "box").returncode == 1  # Docker's CLI: 1 outside run/create/exec/start -a
    assert fc("unpause", "box").returncode == 0
    assert fc("exec", "box", "true").returncode == 0
    fc("pause", "box")
    t0 = time.monotonic()
    assert fc("stop", "-t", "5", "box").returncode == 0  # a paused container stops too
    assert time.monotonic() - t0 < 5
    assert _inspect(fc, "box", "{{.State.Status}}") == "exited"


def test_frozen_container_makes_no_progress(fc):
    cid = fc("run", "-d", "bb:1", "sh", "-c", "while :; do echo x >> /tmp/n; done").stdout.strip()
    try:
        time.sleep(0.3)
        fc("pause", cid)
        counter = f"/proc/{fc('inspect', '--format', '{{.State.Pid}}', cid).stdout.strip()}/root/tmp/n"
        a = os.path.getsize(counter)
        time.sleep(0.5)
        assert os.path.getsize(counter) == a
        fc("unpause", cid)
        time.sleep(0.3)
        assert os.path.getsize(counter) > a
    finally:
        fc("rm", "-f", cid)


def test_rename(fc, running):
    assert fc("rename", "box", "crate").returncode == 0
    assert _inspect(fc, "crate", "{{.Name}}") == "/crate"
    other = fc("create", "--name", "other", "bb:1", "true").stdout.strip()
    p = fc("rename", "crate", "other")
    assert p.returncode == 1 and "already in use" in p.stderr
    assert fc("rename", "crate", "bad name!").returncode == 1
    fc("rm", other)
    fc("rename", "crate", "box")


def test_inspect_format_and_document(fc, running):
    doc = json.loads(fc("inspect", "box").stdout)[0]
    assert doc["State"]["Running"] is True and doc["State"]["Pid"] > 0 and doc["Name"] == "/box"
    assert doc["Config"]["Cmd"][0] == "sh" and doc["Id"].startswith(running[:12])
    assert _inspect(fc, "box", "{{json .Config.Cmd}}").startswith('["sh",')
    assert _inspect(fc, "box", "{{.State.OOMKilled}} {{upper .State.Status}}") == "false RUNNING"
    assert _inspect(fc, "box", "{{index .Config.Cmd 1}}") == "-c"
    for bad in ("{{.Nope}}", "{{frobnicate .Id}}", "{{index .Config.Cmd 9}}"):
        p = fc("inspect", "--format", bad, "box")
        assert p.returncode == 1 and len(p.stderr.splitlines()) == 1, p.stderr


def test_oom_killed_shows_in_inspect(fc):
    cid = fc("run", "-d", "-m", "8m", "--memory-swap", "8m", "bb:1", "sh", "-c",
             "x=0123456789; while :; do x=$x$x; done").stdout.strip()
    assert fc("wait", cid).stdout.strip() == "137"
    assert _inspect(fc, cid, "{{.State.OOMKilled}} {{.State.ExitCode}}") == "true 137"
    fc("rm", cid)


def test_top_and_stats(fc, running):
    top = fc("top", "box").stdout.splitlines()
    assert top[0].split()[:3] == ["UID", "PID", "PPID"] and any("while :" in line for line in top[1:])
    busy = fc("run", "-d", "--name", "busy", "bb:1", "sh", "-c", "while :; do :; done").stdout.strip()
    try:
        p = fc("stats", "--no-stream", "box", "busy")
        lines = p.stdout.splitlines()
        assert lines[0].split()[:3] == ["CONTAINER", "ID", "NAME"], p.stdout
        rows = {line.split()[1]: line for line in lines[1:]}
        assert set(rows) == {"box", "busy"}
        p = fc("stats", "--no-stream", "--format", "json", "busy")
        row = json.loads(p.stdout)
        assert float(row["CPUPerc"].rstrip("%")) > 30  # a busy loop: about one CPU
        assert row["raw"]["pids"] >= 1 and row["raw"]["memory"] > 0
        p = fc("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "box")
        assert p.stdout.split()[0] == "box" and int(p.stdout.split()[1]) >= 1
    finally:
        fc("rm", "-f", busy)


def test_update_changes_limits_of_a_running_container(fc, running):
    read = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max"
    assert fc("update", "-m", "48m", "--cpus", "0.5", "--pids-limit", "30", "box").returncode == 0
    p = fc("exec", "box", "sh", "-c", read)
    assert p.stdout.split() == [str(48 << 20), "50000", "30"], p.stderr
    assert _inspect(fc, "box", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}") == f"{48 << 20} 500000000"
    for bad in (["-m", "1k"], ["--cpus", "lots"], []):
        p = fc("update", *bad, "box")
        assert p.returncode == 1, bad  # Docker's CLI: 1 outside run/create/exec
    fc("restart", "-t", "1", "box")  # the limits are kept for the next start
    assert fc("exec", "box", "sh", "-c", read).stdout.split() == [str(48 << 20), "50000", "30"]


def test_ps_formats(fc, running):
    lines = fc("ps", "--format", "table {{.Names}}\t{{.Status}}").stdout.splitlines()
    assert lines[0].split() == ["NAMES", "STATUS"] and lines[1].split()[:2] == ["box", "Up"]  # Up 2 seconds
    assert fc("ps", "--format", "{{.ID}}:{{.State}}").stdout.strip() == f"{running[:12]}:running"
    assert fc("ps", "-q").stdout.strip() == running[:12]
    assert json.loads(fc("ps", "--format", "json").stdout)["Names"] == "box"


# ----------------------------------------------------------------- volumes

def test_named_and_anonymous_volumes_and_rm_v(fc):
    assert fc("run", "--rm", "-v", "keep:/data", "bb:1", "sh", "-c", "echo kept > /data/f").returncode == 0
    assert fc("run", "--rm", "-v", "keep:/data:ro", "bb:1", "cat", "/data/f").stdout == "kept\n"
    cid = fc("run", "-d", "-v", "/scratch", "-v", "keep:/data", "bb:1", "sh", "-c",
             "echo x > /scratch/y; sleep 60").stdout.strip()
    names = fc("volume", "ls", "-q").stdout.split()
    assert "keep" in names and len(names) == 2
    p = fc("volume", "rm", "keep")
    assert p.returncode == 1 and "in use" in p.stderr
    assert "Local Volumes   2" in fc("system", "df").stdout
    assert fc("rm", "-f", "-v", cid).returncode == 0
    assert fc("volume", "ls", "-q").stdout.split() == ["keep"]  # the anonymous one went with -v
    fc("run", "--rm", "-v", "/tmpvol", "bb:1", "true")  # --rm takes anonymous volumes too
    assert fc("volume", "ls", "-q").stdout.split() == ["keep"]
    p = fc("run", "--rm", "-v", "bad name:/x", "bb:1", "true")
    assert p.returncode == 125 and len(p.stderr.splitlines()) == 1
    assert fc("volume", "rm", "keep").returncode == 0
    assert fc("volume", "ls", "-q").stdout == "" and fc("ps", "-a", "-q").stdout == ""


def test_system_df(fc):
    lines = fc("system", "df").stdout.splitlines()
    assert lines[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert [line.split()[0] for line in lines[1:]] == ["Images", "Containers", "Local", "Build"]
    assert lines[1].split()[1] == "1"  # bb:1


# ------------------------------------------------------------- cgroup v2

V2_ROOT = "/sys/fs/cgroup/unified"


@pytest.mark.skipif(not os.path.exists(os.path.join(V2_ROOT, "cgroup.procs")),
                    reason="no cgroup2 mount at /sys/fs/cgroup/unified (a hybrid host's)")
def test_v2_path_with_what_the_unified_hierarchy_offers(fc, tmp_path):
    """This hybrid host's cgroup2 has no controllers: a container still gets
    its own v2 cgroup (accounting via cpu.stat), and a limit that needs a
    missing controller is refused cleanly, before anything is made."""
    env = {"FASTCTR_CGROUP_V2_ROOT": V2_ROOT}
    run = lambda *a, **kw: fc(*a, env=dict(fc.env, **env), **kw)  # noqa: E731
    cid = run("run", "-d", "bb:1", "sh", "-c", "while :; do :; done").stdout.strip()
    try:
        pid = run("inspect", "--format", "{{.State.Pid}}", cid).stdout.strip()
        with open(f"/proc/{pid}/cgroup") as f:  # seen from here: its own cgroup2 directory
            v2 = [line for line in f.read().splitlines() if line.startswith("0::")][0]
        assert v2.endswith(f"/fastctr-{cid}") and os.path.isdir(V2_ROOT + v2[3:])
        row = json.loads(run("stats", "--no-stream", "--format", "json", cid).stdout)
        assert float(row["CPUPerc"].rstrip("%")) > 30 and row["raw"]["cpu_ns"] > 0
        p = run("update", "-m", "64m", cid)
        assert p.returncode == 1 and "not available" in p.stderr, p.stderr
    finally:
        run("rm", "-f", cid)
    available = open(os.path.join(V2_ROOT, "cgroup.controllers")).read().split()
    if "memory" not in available:
        p = run("run", "--rm", "-m", "64m", "bb:1", "true")
        assert p.returncode == 125 and "memory" in p.stderr and len(p.stderr.splitlines()) == 1
    assert fc("ps", "-a", "-q").stdout == ""


def test_stop_timeout_flag(fc):
    cid = fc("run", "-d", "--stop-timeout", "1", "bb:1", "sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"
             ).stdout.strip()
    t0 = time.monotonic()
    assert fc("stop", cid).returncode == 0  # SIGTERM is ignored: SIGKILL after 1 s, not 10
    assert 0.9 < time.monotonic() - t0 < 8
    assert _inspect(fc, cid, "{{.State.ExitCode}}") == "137"
    fc("rm", cid)
    assert fc("run", "--rm", "--stop-timeout", "soon", "bb:1", "true").returncode == 125


def test_image_volume_gets_the_images_files(fc, tmp_path):
    import imagetools as it
    layout = str(tmp_path / "layout")
    it.write_oci_layout(layout, [it.busybox_layer(), it.tar_bytes([("data", "dir", None),
                                                                    ("data/seed", "file", b"from the image\n")])],
                        ref_name="vol:1", Volumes={"/data": {}})
    assert fc("load", "-i", layout).returncode == 0
    try:
        cid = fc("run", "-d", "vol:1", "sh", "-c", "cat /data/seed; echo more >> /data/seed").stdout.strip()
        assert fc("wait", cid).stdout.strip() == "0"
        assert fc("logs", cid).stdout == "from the image\n"
        (name,) = fc("volume", "ls", "-q").stdout.split()  # anonymous, made for the image's VOLUME
        # a named volume that exists already keeps its own content
        fc("run", "--rm", "-v", "mine:/data", "vol:1", "sh", "-c", "echo mine > /data/seed")
        assert fc("run", "--rm", "-v", "mine:/data", "vol:1", "cat", "/data/seed").stdout == "mine\n"
        assert fc("rm", "-v", cid).returncode == 0
        assert fc("volume", "ls", "-q").stdout.split() == ["mine"]
    finally:
        fc("volume", "rm", "mine")
        fc("rmi", "vol:1")


def test_exec_detached_leaves_no_zombie_and_reports_errors(fc, running):
    from fastctr.engine import Engine
    engine = Engine(data_root=fc.argv[2], state_root=fc.argv[4], cgroup_parent="self")
    assert engine.exec("box", ["sleep", "0.7"], detach=True) is None
    time.sleep(0.2)
    box_ns = os.readlink(f"/proc/{_inspect(fc, 'box', '{{.State.Pid}}')}/ns/pid")
    mine = [pid for task in os.listdir("/proc/self/task")
            for pid in open(f"/proc/self/task/{task}/children").read().split()]

    def in_box(pid):
        try:
            return os.readlink(f"/proc/{pid}/ns/pid") == box_ns
        except OSError:
            return False  # gone, or a zombie of another test
    assert not [pid for pid in mine if in_box(pid)]  # never our child: no zombie to reap
    p = fc("exec", "-d", "box", "no-such-command")
    assert p.returncode == 127 and len(p.stderr.splitlines()) == 1, p.stderr
