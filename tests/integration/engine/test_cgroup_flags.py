"""The rarer cgroup flags of `run`/`create`/`update` (fastctr.engine.cgroupflags),
read back from the host's cgroup v1 files of the running container and,
where the kernel shows it, in their effect: --oom-kill-disable,
--memory-swappiness, --device-read/write-bps/iops, --blkio-weight-device,
--device-cgroup-rule, --cpu-rt-period/--cpu-rt-runtime, --cgroup-parent.
Block devices are loop devices this module attaches (and detaches)."""
import json
import os
import subprocess
import tempfile
import time

import pytest

from fastctr.runtime.cgroups import CgroupV1, host_version, own_cgroups

pytestmark = pytest.mark.skipif(host_version() != 1, reason="reads cgroup v1 files (the v2 lane has its own)")


def _run_d(fcli, *flags, cmd=("sleep", "60")):
    p = fcli("run", "-d", "--network", "none", *flags, "bb:1", *cmd)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def _pid(fcli, cid):
    return json.loads(fcli("inspect", cid).stdout)[0]["State"]["Pid"]


def _cgroup_dir(pid, controller):
    """The host directory of the process's cgroup in that v1 hierarchy."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f.read().splitlines():
            _, names, path = line.split(":", 2)
            if controller in names.split(","):
                for hierarchy, mnt in CgroupV1.hierarchies_of_host().items():
                    if controller in hierarchy.split(","):
                        return mnt + path
    raise AssertionError(f"no {controller} cgroup for {pid}")


def _read(pid, controller, file):
    with open(os.path.join(_cgroup_dir(pid, controller), file)) as f:
        return f.read()


@pytest.fixture
def container(fcli):
    made = []

    def run(*flags, cmd=("sleep", "60")):
        cid = _run_d(fcli, *flags, cmd=cmd)
        made.append(cid)
        return cid, _pid(fcli, cid)
    yield run
    if made:
        fcli("rm", "-f", *made)


@pytest.fixture(scope="module")
def loop():
    """A loop block device over a small file (/dev/loopN, major 7)."""
    backing = tempfile.NamedTemporaryFile(dir="/var/tmp", prefix="fctr-loop-", delete=False)
    backing.write(b"hello" + bytes(1 << 20))
    backing.close()
    dev = subprocess.run(["losetup", "-f", "--show", backing.name], capture_output=True, text=True,
                         check=True).stdout.strip()
    st = os.stat(dev)
    try:
        yield dev, os.major(st.st_rdev), os.minor(st.st_rdev)
    finally:
        subprocess.run(["losetup", "-d", dev], check=True)
        os.unlink(backing.name)


def _scheduler(dev, name):
    path = f"/sys/block/{os.path.basename(dev)}/queue/scheduler"
    with open(path, "w") as f:
        f.write(name)


def _fails_cleanly(fcli, flags, message):
    p = fcli("run", "--rm", "--network", "none", *flags, "bb:1", "true")
    assert p.returncode == 125 and message in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert fcli("ps", "-a", "-q").stdout == ""


# ------------------------------------------------------------- memory

def test_oom_kill_disable_leaves_the_process_waiting_instead_of_killed(fcli, container):
    cid, pid = container("-m", "8m", "--memory-swap", "8m", "--oom-kill-disable",
                         cmd=("sh", "-c", "x=$(head -c 64000000 /dev/zero | busybox tr '\\0' a); echo survived"))
    assert "oom_kill_disable 1" in _read(pid, "memory", "memory.oom_control")
    deadline = time.monotonic() + 60
    while "under_oom 1" not in _read(pid, "memory", "memory.oom_control"):
        assert time.monotonic() < deadline, _read(pid, "memory", "memory.oom_control")
        time.sleep(0.1)
    # Out of memory but not killed: it waits for memory (Docker's semantics of the flag).
    assert fcli("inspect", "-f", "{{.State.Running}}", cid).stdout.strip() == "true"
    assert "oom_kill 0" in _read(pid, "memory", "memory.oom_control")


def test_oom_kill_disable_without_a_memory_limit_warns_as_docker(fcli, container):
    p = fcli("create", "--oom-kill-disable", "bb:1", "true")
    assert p.returncode == 0, p.stderr
    assert "WARNING: OOM killer is disabled for the container, but no memory limit is set" in p.stderr
    assert fcli("rm", p.stdout.strip()).returncode == 0


def test_memory_swappiness(fcli, container):
    _, pid = container("--memory-swappiness", "17")
    assert _read(pid, "memory", "memory.swappiness").strip() == "17"
    _, pid = container("--memory-swappiness", "-1")  # Docker's "unset"
    assert _read(pid, "memory", "memory.swappiness").strip() == open("/proc/sys/vm/swappiness").read().strip() \
        or _read(pid, "memory", "memory.swappiness").strip().isdigit()


@pytest.mark.parametrize("flags, message", [
    (["--memory-swappiness", "101"], "valid memory swappiness range is 0-100"),
    (["--memory-swappiness", "x"], "--memory-swappiness"),
])
def test_bad_memory_flags(fcli, flags, message):
    _fails_cleanly(fcli, flags, message)


# ----------------------------------------------------------- block I/O

def test_device_rate_limits_land_in_blkio_throttle(fcli, container, loop):
    dev, major, minor = loop
    _, pid = container("--device-read-bps", f"{dev}:1mb", "--device-write-bps", f"{dev}:2m",
                       "--device-read-iops", f"{dev}:100", "--device-write-iops", f"{dev}:200")
    dm = f"{major}:{minor}"
    assert f"{dm} {1 << 20}" in _read(pid, "blkio", "blkio.throttle.read_bps_device")
    assert f"{dm} {2 << 20}" in _read(pid, "blkio", "blkio.throttle.write_bps_device")
    assert f"{dm} 100" in _read(pid, "blkio", "blkio.throttle.read_iops_device")
    assert f"{dm} 200" in _read(pid, "blkio", "blkio.throttle.write_iops_device")


def test_blkio_weight_device_on_a_bfq_device(fcli, container, loop):
    dev, major, minor = loop
    _scheduler(dev, "bfq")
    try:
        _, pid = container("--blkio-weight-device", f"{dev}:300")
        assert f"{major}:{minor} 300" in _read(pid, "blkio", "blkio.bfq.weight_device")
    finally:
        _scheduler(dev, "none")


def test_blkio_weight_device_without_bfq_is_a_clear_error(fcli, loop):
    dev, major, minor = loop
    _scheduler(dev, "none")
    _fails_cleanly(fcli, ["--blkio-weight-device", f"{dev}:300"], "keeps no per-cgroup weights; only bfq does")


@pytest.mark.parametrize("flag, value, message", [
    ("--device-read-bps", "/dev/null:1mb", "not a block device"),
    ("--device-write-bps", "/tmp/x:1mb", "bad format for device path"),
    ("--device-read-iops", "/dev/nothing-here:5", "No such file or directory"),
    ("--device-write-iops", "{dev}:many", "invalid rate for device"),
    ("--device-read-bps", "{dev}", "bad format"),
    ("--blkio-weight-device", "{dev}:5", "invalid weight for device"),
])
def test_bad_device_limits(fcli, loop, flag, value, message):
    _fails_cleanly(fcli, [flag, value.format(dev=loop[0])], message)


# ------------------------------------------------------------- devices

def test_device_cgroup_rule_opens_the_device_class(fcli, container):
    # /dev/kmsg (c 1:11) opened for writing needs no capability: only the cgroup decides.
    script = "mknod /tmp/kmsg c 1 11 && (: > /tmp/kmsg) 2>/dev/null && echo opened || echo refused"
    p = fcli("run", "--rm", "--network", "none", "bb:1", "sh", "-c", script)
    assert p.stdout.strip() == "refused", p.stderr
    p = fcli("run", "--rm", "--network", "none", "--device-cgroup-rule", "c 1:11 w", "bb:1", "sh", "-c", script)
    assert p.stdout.strip() == "opened", p.stderr
    p = fcli("run", "--rm", "--network", "none", "--device-cgroup-rule", "c 1:11 r", "bb:1", "sh", "-c", script)
    assert p.stdout.strip() == "refused", "a read rule must not allow writing"
    _, pid = container("--device-cgroup-rule", "c 1:11 w", "--device-cgroup-rule", "b 7:* rm")
    rules = _read(pid, "devices", "devices.list").splitlines()
    assert "c 1:11 w" in rules and "b 7:* rm" in rules


def test_device_cgroup_rule_reads_a_block_device(fcli, loop):
    dev, major, minor = loop
    script = f"mknod /tmp/blk b {major} {minor} && head -c5 /tmp/blk"
    p = fcli("run", "--rm", "--network", "none", "--device-cgroup-rule", f"b {major}:{minor} r", "bb:1",
             "sh", "-c", script)
    assert p.returncode == 0 and p.stdout == "hello", p.stderr
    p = fcli("run", "--rm", "--network", "none", "bb:1", "sh", "-c", script)
    assert p.returncode != 0 and "Operation not permitted" in p.stderr


@pytest.mark.parametrize("rule", ["c 1:11", "x 1:3 rwm", "c 1:3 rwx", "c a:3 r"])
def test_bad_device_cgroup_rules(fcli, rule):
    _fails_cleanly(fcli, ["--device-cgroup-rule", rule], "invalid device cgroup format")


# ------------------------------------------------------------ realtime

def _chrt(pid):
    return subprocess.run(["chrt", "-r", "-p", "5", str(pid)], capture_output=True, text=True)


def test_cpu_rt_runtime_lets_the_container_run_realtime_and_update_changes_it(fcli, container):
    cid, pid = container("--cpu-rt-period", "100000", "--cpu-rt-runtime", "10000")
    assert _read(pid, "cpu", "cpu.rt_period_us").strip() == "100000"
    assert _read(pid, "cpu", "cpu.rt_runtime_us").strip() == "10000"
    assert _chrt(pid).returncode == 0, _chrt(pid).stderr  # SCHED_RR needs a real-time budget in its group
    p = fcli("update", "--cpu-rt-runtime", "20000", cid)
    assert p.returncode == 0, p.stderr
    assert _read(pid, "cpu", "cpu.rt_runtime_us").strip() == "20000"
    _, plain = container()
    assert _read(plain, "cpu", "cpu.rt_runtime_us").strip() == "0"
    assert _chrt(plain).returncode != 0  # no budget, no real-time scheduling


@pytest.mark.parametrize("flags, message", [
    (["--cpu-rt-period", "1000", "--cpu-rt-runtime", "2000"], "cannot be higher than cpu real-time period"),
    (["--cpu-rt-runtime", "x"], "--cpu-rt-runtime"), (["--cpu-rt-period", "0"], "--cpu-rt-period"),
])
def test_bad_realtime_flags(fcli, flags, message):
    _fails_cleanly(fcli, flags, message)


def test_cpu_rt_runtime_above_the_hosts_budget_fails_cleanly(fcli):
    # The root grants 950000 of each 1000000 µs: a group may not take more.
    p = fcli("run", "--rm", "--network", "none", "--cpu-rt-runtime", "990000", "bb:1", "true")
    assert p.returncode == 125 and "more real-time runtime than its parent cgroup" in p.stderr, p.stderr
    assert fcli("ps", "-a", "-q").stdout == ""


# -------------------------------------------------------- cgroup parent

def _own(controller):
    return own_cgroups()[controller].rstrip("/")


def _cleanup_parents(*rel_paths):
    for name, mnt in CgroupV1.hierarchies_of_host().items():
        for rel in rel_paths:
            d = mnt + (rel if rel.startswith("/") else _own(name.split(",")[0]) + "/" + rel)
            if os.path.isdir(d):
                os.rmdir(d)


def test_cgroup_parent_absolute_is_from_the_hierarchy_root(fcli, container):
    # Below our own (memory) cgroup, as tests must stay; Docker's cgroupfs semantics.
    parent = _own("memory") + "/fctr-test-parent"
    try:
        cid, pid = container("--cgroup-parent", parent)
        assert _cgroup_dir(pid, "memory") == f"/sys/fs/cgroup/memory{parent}/fastctr-{cid}"
        assert _cgroup_dir(pid, "pids") == f"/sys/fs/cgroup/pids{parent}/fastctr-{cid}"
        fcli("rm", "-f", cid)
        # fastctr removes the parents it made once empty (dockerd leaves them).
        assert not os.path.exists("/sys/fs/cgroup/memory" + parent)
    finally:
        _cleanup_parents(parent)


def test_cgroup_parent_relative_is_below_our_own_and_passes_a_realtime_budget(fcli, container):
    try:
        cid, pid = container("--cgroup-parent", "fctr-test-rel/sub", "--cpu-rt-runtime", "10000")
        assert _cgroup_dir(pid, "memory") == f"/sys/fs/cgroup/memory{_own('memory')}/fctr-test-rel/sub/fastctr-{cid}"
        # The parents made for it got the real-time budget it needs (they had none).
        cpu = _cgroup_dir(pid, "cpu")
        for d in (os.path.dirname(cpu), os.path.dirname(os.path.dirname(cpu))):
            assert open(d + "/cpu.rt_runtime_us").read().strip() == "10000", d
        assert _chrt(pid).returncode == 0
    finally:
        fcli("rm", "-f", *fcli("ps", "-a", "-q").stdout.split())
        _cleanup_parents("fctr-test-rel/sub", "fctr-test-rel")


@pytest.mark.parametrize("parent, message", [
    ("system.slice:docker:x", "systemd slices are not supported"), ("/a/../b", "not a usable cgroup path"),
    ("/", "not a usable cgroup path"),
])
def test_bad_cgroup_parents(fcli, parent, message):
    _fails_cleanly(fcli, ["--cgroup-parent", parent], message)
