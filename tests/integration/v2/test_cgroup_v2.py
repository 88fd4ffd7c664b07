"""fastctr on a pure cgroup v2 host: the v2 lane (tests/v2vm/run.sh runs these
in a VM booted with cgroup_no_v1=all; elsewhere they skip).

Containers see their own cgroup at /sys/fs/cgroup (mounted from inside their
cgroup namespace, so its root is theirs) with the limits they were given;
flags map to the v2 files as runc and crun map them; pause, OOM, stats and
teardown use the v2 interfaces."""
import json
import os
import time

import pytest

PURE_V2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers") and not os.path.exists("/sys/fs/cgroup/unified")
pytestmark = pytest.mark.skipif(not PURE_V2 or os.geteuid() != 0, reason="needs root on a pure cgroup v2 host "
                                "(bash tests/v2vm/run.sh pytest tests/integration/v2)")


def sh(fcli, script, *flags):
    p = fcli("run", "--rm", "--network", "none", *flags, "bb:1", "sh", "-c", script)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_the_container_sees_its_own_cgroup_with_its_limits(fcli):
    out = sh(fcli, "grep ' /sys/fs/cgroup ' /proc/self/mountinfo; cat /proc/self/cgroup; "
                   "for f in memory.max pids.max cpu.max cpuset.cpus io.weight; do echo $f=$(cat /sys/fs/cgroup/$f); done",
             "-m", "64m", "--pids-limit", "50", "--cpus", "0.5", "--cpuset-cpus", "0", "--blkio-weight", "300")
    mount, cgroup, *files = out.splitlines()
    assert mount.split()[3] == "/" and " ro," in mount and "cgroup2" in mount, mount
    assert cgroup == "0::/"
    values = dict(line.split("=", 1) for line in files)
    assert values["memory.max"] == str(64 << 20)
    assert values["pids.max"] == "50"
    assert values["cpu.max"] == "50000 100000"
    assert values["cpuset.cpus"] == "0"
    assert values["io.weight"].split()[-1] == str(1 + (300 - 10) * 9999 // 990)


def test_the_host_tree_is_not_visible_and_privileged_mounts_it_writable(fcli):
    assert "fastctr-" not in sh(fcli, "ls /sys/fs/cgroup")
    out = sh(fcli, "grep ' /sys/fs/cgroup ' /proc/self/mountinfo; mkdir /sys/fs/cgroup/sub && echo made",
             "--privileged")
    assert " rw," in out.splitlines()[0] and "made" in out


def test_flags_map_to_the_v2_files_and_update_changes_them(fcli):
    p = fcli("run", "-d", "--network", "none", "-c", "512", "-m", "64m", "--memory-swap", "96m",
             "--memory-reservation", "32m", "bb:1", "sleep", "60")
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip()
    try:
        def read(f):
            p = fcli("exec", cid, "cat", f"/sys/fs/cgroup/{f}")
            assert p.returncode == 0, p.stderr
            return p.stdout.strip()
        assert read("cpu.weight") == str(1 + (512 - 2) * 9999 // 262142)  # crun's conversion
        assert read("memory.swap.max") == str(32 << 20)  # --memory-swap is memory + swap
        assert read("memory.low") == str(32 << 20)
        assert fcli("update", "--pids-limit", "20", "-m", "128m", "--memory-swap", "128m", cid).returncode == 0
        assert (read("pids.max"), read("memory.max"), read("memory.swap.max")) == ("20", str(128 << 20), "0")
    finally:
        fcli("rm", "-f", cid)


def test_cloned_into_its_cgroup_paused_with_freeze_and_removed(fcli):
    # A child of its own too: teardown (cgroup.kill) must end every process.
    p = fcli("run", "-d", "--network", "none", "bb:1", "sh", "-c", "sleep 60 & exec sleep 61")
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip()
    info = json.loads(fcli("inspect", cid).stdout)[0]
    pid = info["State"]["Pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        path = f.read().strip().split("::", 1)[1]
    cg = "/sys/fs/cgroup" + path
    assert os.path.isdir(cg) and str(pid) in open(f"{cg}/cgroup.procs").read().split()
    assert fcli("pause", cid).returncode == 0
    assert "frozen 1" in open(f"{cg}/cgroup.events").read()
    assert fcli("unpause", cid).returncode == 0
    assert "frozen 0" in open(f"{cg}/cgroup.events").read()
    stats = fcli("stats", "--no-stream", "--format", "json", cid)
    raw = json.loads(stats.stdout.splitlines()[0])["raw"]
    assert raw["pids"] == 2 and raw["memory"] > 0 and raw["cpu_ns"] > 0, raw  # pids/memory.current/cpu.stat
    procs = open(f"{cg}/cgroup.procs").read().split()
    assert fcli("rm", "-f", cid).returncode == 0
    assert not os.path.exists(cg)
    assert not [p for p in procs if os.path.exists(f"/proc/{p}")]


def test_oom_kill_is_137_and_recorded(fcli):
    p = fcli("run", "--name", "oom", "--network", "none", "-m", "16m", "--memory-swap", "16m", "bb:1",
             "sh", "-c", "x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo survived")
    try:
        assert p.returncode == 137, (p.returncode, p.stdout, p.stderr)
        assert fcli("inspect", "--format", "{{.State.OOMKilled}}", "oom").stdout.strip() == "true"
    finally:
        fcli("rm", "-f", "oom")


def test_below_a_parent_that_holds_processes(fcli, tmp_path):
    """The "no internal processes" rule: with --cgroup-parent self, a caller
    in a cgroup of its own must still get containers below it."""
    parent = "/sys/fs/cgroup/fctr-test-caller"
    os.mkdir(parent)
    me = str(os.getpid())
    try:
        with open(f"{parent}/cgroup.procs", "w") as f:
            f.write(me)
        p = fcli("run", "--rm", "--network", "none", "-m", "32m", "bb:1", "cat", "/sys/fs/cgroup/memory.max",
                 env=dict(fcli.env, FASTCTR_CGROUP_PARENT="self"))
        assert (p.returncode, p.stdout.strip()) == (0, str(32 << 20)), p.stderr
    finally:
        with open("/sys/fs/cgroup/cgroup.procs", "w") as f:
            f.write(me)
        deadline = time.monotonic() + 5
        for dirpath, dirnames, _ in sorted(os.walk(parent), reverse=True):
            while os.path.isdir(dirpath) and time.monotonic() < deadline:
                try:
                    os.rmdir(dirpath)
                except OSError:
                    time.sleep(0.05)


def test_devices_are_limited_by_an_ebpf_program(fcli):
    """mknod may succeed (Docker's rules allow it for every device), opening
    what is not allowed fails; --device opens only what it names.  (/dev/kmsg
    opened for writing needs no capability, so only the cgroup refuses it.)"""
    out = sh(fcli, "mknod /tmp/kmsg c 1 11 && echo made; (: > /tmp/kmsg) 2>/dev/null && echo opened || echo refused; "
                   "echo x > /dev/null && echo null-ok")
    assert "made" in out and "refused" in out and "null-ok" in out, out
    out = sh(fcli, "(: > /dev/kmsg) && echo opened; mknod /tmp/tty c 4 64; (: > /tmp/tty) 2>/dev/null || echo tty-refused",
             "--device", "/dev/kmsg")
    assert "opened" in out and "tty-refused" in out, out


def test_runtime_hugetlb_and_io_limits_land_in_the_v2_files(rt, bundle):
    """The OCI runtime's resources beyond Docker's flags: hugepageLimits ->
    hugetlb.<size>.max, blockIO.weight -> io.weight (and io.bfq.weight)."""
    def edit(spec):
        spec["linux"]["resources"] = {"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}],
                                      "blockIO": {"weight": 500}}
    c = rt.create("v2-hugetlb", bundle(["sleep", "30"], edit=edit))
    try:
        path = c.cgroup.path
        assert open(f"{path}/hugetlb.2MB.max").read().strip() == str(4 << 20)
        assert open(f"{path}/io.weight").read().split()[-1] == str(1 + (500 - 10) * 9999 // 990)
        if os.path.exists(f"{path}/io.bfq.weight"):
            assert open(f"{path}/io.bfq.weight").read().split()[-1] == "500"
    finally:
        rt.delete("v2-hugetlb", force=True)


# ---------------------------------------------- the rarer cgroup flags on v2

def test_oom_kill_disable_and_swappiness_are_discarded_with_dockers_warnings(fcli):
    """cgroup v2 has neither: dockerd warns and goes on without them, so does fastctr."""
    p = fcli("run", "--rm", "--network", "none", "-m", "64m", "--oom-kill-disable", "--memory-swappiness", "10",
             "bb:1", "cat", "/sys/fs/cgroup/memory.max")
    assert p.returncode == 0 and p.stdout.strip() == str(64 << 20), p.stderr
    assert "WARNING: Your kernel does not support OomKillDisable. OomKillDisable discarded." in p.stderr
    assert "WARNING: Your kernel does not support memory swappiness capabilities or the cgroup is not " \
           "mounted. Memory swappiness discarded." in p.stderr


def test_realtime_flags_are_refused(fcli):
    p = fcli("run", "--rm", "--network", "none", "--cpu-rt-runtime", "10000", "bb:1", "true")
    assert p.returncode == 125 and "does not support CPU real-time scheduler" in p.stderr, p.stderr
    assert fcli("ps", "-a", "-q").stdout == ""


def test_device_cgroup_rule_in_the_ebpf_program(fcli):
    script = "mknod /tmp/kmsg c 1 11 && (: > /tmp/kmsg) 2>/dev/null && echo opened || echo refused"
    assert sh(fcli, script).strip() == "refused"
    assert sh(fcli, script, "--device-cgroup-rule", "c 1:11 w").strip() == "opened"
    assert sh(fcli, script, "--device-cgroup-rule", "c 1:* r").strip() == "refused"


@pytest.fixture
def loop_device(tmp_path):
    import shutil
    import subprocess
    if not shutil.which("losetup") or not os.path.exists("/dev/loop-control"):
        pytest.skip("no loop devices in this VM")
    backing = tmp_path / "disk"
    backing.write_bytes(bytes(1 << 20))
    p = subprocess.run(["losetup", "-f", "--show", str(backing)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"losetup: {p.stderr.strip()}")
    dev = p.stdout.strip()
    try:
        st = os.stat(dev)
        yield dev, os.major(st.st_rdev), os.minor(st.st_rdev)
    finally:
        subprocess.run(["losetup", "-d", dev])


def test_device_rate_limits_land_in_io_max(fcli, loop_device):
    dev, major, minor = loop_device
    out = sh(fcli, "cat /sys/fs/cgroup/io.max", "--device-read-bps", f"{dev}:1mb", "--device-write-bps",
             f"{dev}:2mb", "--device-read-iops", f"{dev}:100", "--device-write-iops", f"{dev}:200")
    assert f"{major}:{minor} rbps={1 << 20} wbps={2 << 20} riops=100 wiops=200" in out, out


def test_blkio_weight_device_needs_bfq_and_lands_in_io_bfq_weight(fcli, loop_device):
    dev, major, minor = loop_device
    sched = f"/sys/block/{os.path.basename(dev)}/queue/scheduler"
    p = fcli("run", "--rm", "--network", "none", "--blkio-weight-device", f"{dev}:300", "bb:1", "true")
    if "[bfq]" not in open(sched).read():
        assert p.returncode == 125 and "only bfq does" in p.stderr, p.stderr
    if "bfq" not in open(sched).read():
        return  # this kernel has no BFQ
    with open(sched, "w") as f:
        f.write("bfq")
    try:
        out = sh(fcli, "cat /sys/fs/cgroup/io.bfq.weight", "--blkio-weight-device", f"{dev}:300")
        assert f"{major}:{minor} 300" in out, out
    finally:
        with open(sched, "w") as f:
            f.write("none")


def test_cgroup_parent_per_container(fcli):
    """Relative: below fastctr's own cgroup, made for it and removed after it
    (Docker's cgroupfs semantics; dockerd would leave the parent)."""
    from fastctr.runtime.cgroups import own_cgroups
    own = own_cgroups()[""].rstrip("/")
    p = fcli("run", "-d", "--network", "none", "--cgroup-parent", "fctr-test-v2parent", "-m", "32m", "bb:1",
             "sleep", "60")
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip()
    try:
        pid = json.loads(fcli("inspect", cid).stdout)[0]["State"]["Pid"]
        with open(f"/proc/{pid}/cgroup") as f:
            path = f.read().strip().split("::", 1)[1]
        assert path == f"{own}/fctr-test-v2parent/fastctr-{cid}"
        assert open(f"/sys/fs/cgroup{path}/memory.max").read().strip() == str(32 << 20)
    finally:
        fcli("rm", "-f", cid)
    assert not os.path.exists(f"/sys/fs/cgroup{own}/fctr-test-v2parent")
