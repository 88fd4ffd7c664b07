"""Resource limits, checked in the cgroup files and by behaviour."""
import os

import pytest

from fastctr.runtime.cgroups import CgroupV1, own_cgroups


def resources(**res):
    def edit(spec):
        spec["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}], **res}
    return edit


def test_memory_hog_is_oom_killed(run_capture):
    # dd's 64 MiB block buffer cannot fit in a 16 MiB cgroup.
    edit = resources(memory={"limit": 16 * 2**20, "swap": 16 * 2**20})
    status, out = run_capture(["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"], edit=edit)
    assert status == 137, out  # SIGKILL from the OOM killer


def test_same_hog_runs_without_limit(run_capture):
    status, out = run_capture(["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"], edit=resources())
    assert status == 0, out


def test_fork_bomb_stops_at_pids_limit(run_capture):
    # The bomb runs in a child shell, which dies when fork fails; the outer
    # shell then reads the pids cgroup with builtins only (no fork needed).
    bomb = "i=0; while [ $i -lt 40 ]; do sleep 2 & i=$((i+1)); done"
    script = f"""
    sh -c '{bomb}' 2>/dev/null
    d=/sys/fs/cgroup/pids; [ -e $d/pids.events ] || d=/sys/fs/cgroup
    read ev < $d/pids.events; echo "events=$ev"
    read n < $d/pids.current; echo "current=$n"
    """
    status, out = run_capture(["sh", "-c", script], edit=resources(pids={"limit": 10}))
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert int(values["current"]) <= 10, out
    assert values["events"].split()[0] == "max" and int(values["events"].split()[1]) >= 1, out


def test_limits_written_to_cgroup_files(rt, bundle):
    edit = resources(cpu={"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
                     memory={"limit": 64 * 2**20, "reservation": 32 * 2**20},
                     pids={"limit": 77}, blockIO={"weight": 300})
    c = rt.create("limits", bundle(["sleep", "60"], edit=edit))
    try:
        cg = c.cgroup
        def read(controller, f):
            return open(os.path.join(cg._dir(controller), f)).read().strip()
        if cg.version != 1:
            pytest.skip("host uses cgroup v2")
        assert read("cpu", "cpu.shares") == "512"
        assert read("cpu", "cpu.cfs_quota_us") == "50000"
        assert read("cpu", "cpu.cfs_period_us") == "100000"
        assert read("cpuset", "cpuset.cpus") == "0"
        assert read("memory", "memory.limit_in_bytes") == str(64 * 2**20)
        assert read("memory", "memory.soft_limit_in_bytes") == str(32 * 2**20)
        assert read("pids", "pids.max") == "77"
        blkio = cg._dir("blkio")
        weight_file = "blkio.weight" if os.path.exists(os.path.join(blkio, "blkio.weight")) else "blkio.bfq.weight"
        assert read("blkio", weight_file).split()[-1] == "300"
        # Every hierarchy holds the container's process, below our own cgroup.
        own = own_cgroups()
        for name, path in cg.paths.items():
            assert str(c.pid) in open(os.path.join(path, "cgroup.procs")).read().split()
            own_path = own["" if name == "unified" else name.split(",")[0]]  # a hybrid host's cgroup2
            assert own_path.rstrip("/") + "/fastctr-limits" in path
    finally:
        rt.delete("limits", force=True)


def test_device_cgroup_denies_unlisted_devices(run_capture):
    def edit(spec):
        spec["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
        spec["linux"]["devices"] = [{"path": "/dev/loopish", "type": "c", "major": 1, "minor": 11,
                                     "fileMode": 0o666}]  # /dev/kmsg's numbers: not allowed
    status, out = run_capture(["sh", "-c", "head -c1 /dev/loopish; echo rc=$?; head -c1 /dev/zero | wc -c"],
                              edit=edit)
    assert "rc=1" in out and "Operation not permitted" in out, out
    assert out.splitlines()[-1].strip() == "1"


@pytest.mark.skipif(not os.path.exists("/sys/fs/cgroup/unified/cgroup.procs") and
                    not os.path.exists("/sys/fs/cgroup/cgroup.controllers"), reason="no cgroup v2 mount")
def test_cgroup_v2_backend(state_root, bundle, tmp_path):
    """The v2 backend: CLONE_INTO_CGROUP, the limits it can set, removal."""
    from fastctr.runtime.lifecycle import Runtime
    v2_root = "/sys/fs/cgroup" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "/sys/fs/cgroup/unified"
    rt = Runtime(root=state_root, cgroup_parent="self", cgroup_v2_root=v2_root)
    available = set(open(os.path.join(v2_root, "cgroup.controllers")).read().split())
    res = {"pids": {"limit": 20}} if "pids" in available else {}
    def edit(spec):
        spec["linux"]["resources"] = res
        spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] != "cgroup"]
    out = tmp_path / "out"
    with open(out, "w") as f:
        c = rt.create("v2", bundle(["sh", "-c", "cat /proc/self/cgroup"], edit=edit), stdio=(-1, f.fileno(), f.fileno()))
    path = c.cgroup.path
    try:
        assert os.path.isdir(path)
        assert str(c.pid) in open(os.path.join(path, "cgroup.procs")).read().split()
        if res:
            assert open(os.path.join(path, "pids.max")).read().strip() == "20"
        rt.start("v2")
        import time
        for _ in range(200):
            if out.read_text():
                break
            time.sleep(0.01)
        rel = "/" + os.path.relpath(path, v2_root)
        assert f"0::{rel}" in out.read_text().splitlines()
    finally:
        rt.delete("v2", force=True)
    assert not os.path.exists(path)


def test_a_parent_cpuset_another_start_made_but_has_not_filled_yet(run_capture):
    """Two starts at once making the same parents (fastctr bench
    --concurrency): one has made a v1 cpuset parent, not yet copied cpus and
    mems into it, when the other makes its leaf below: the leaf must still
    get the CPUs (an empty cpuset refuses tasks: ENOSPC)."""
    cpuset = CgroupV1.hierarchies_of_host().get("cpuset")
    if not cpuset:
        pytest.skip("no cgroup v1 cpuset hierarchy")
    name = f"fctr-test-parent-{os.getpid()}"
    parent = os.path.join(cpuset, own_cgroups().get("cpuset", "/").lstrip("/"), name)
    os.mkdir(parent)  # as the other start has made it: cpuset.cpus still empty
    try:
        assert open(os.path.join(parent, "cpuset.cpus")).read().strip() == ""
        status, out = run_capture(["true"], edit=lambda spec: spec["linux"].update(cgroupsPath=f"{name}/leaf"))
        assert status == 0, out
    finally:
        os.rmdir(parent)
