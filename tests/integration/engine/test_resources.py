"""Docker's resource flags, checked in the cgroup files the container sees
(its cgroup namespace puts its own cgroup at /sys/fs/cgroup/<controller>)
and in its behaviour.  This machine runs cgroup v1."""
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

import imagetools as it
from fastctr.runtime.cgroups import host_version

CLI = os.path.join(os.path.dirname(sys.executable), "fastctr")
pytestmark = pytest.mark.skipif(host_version() != 1, reason="the in-container paths below are cgroup v1's")


@pytest.fixture(scope="module")
def fc():
    data = tempfile.mkdtemp(prefix="fastctr-test-data-", dir="/var/tmp")
    os.chmod(data, 0o755)
    state = tempfile.mkdtemp(prefix="fastctr-test-state-")
    it.write_oci_layout(os.path.join(data, "layout"), [it.busybox_layer()], ref_name="bb:1")

    def run(*args):
        return subprocess.run([CLI, "--data-root", data, "--state-root", state, *args], capture_output=True,
                              text=True, cwd="/", stdin=subprocess.DEVNULL, timeout=120,
                              env=dict(os.environ, FASTCTR_CGROUP_PARENT="self"))
    run("load", "-i", os.path.join(data, "layout"))
    yield run
    assert run("ps", "-a", "-q").stdout == ""
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(state, ignore_errors=True)


def _read_in(fc, flags, files):
    script = "; ".join(f"echo {name}=$(cat {path} 2>/dev/null || echo absent)" for name, path in files.items())
    p = fc("run", "--rm", *flags, "bb:1", "sh", "-c", script)
    assert p.returncode == 0, p.stderr
    return dict(line.split("=", 1) for line in p.stdout.splitlines())


def test_cgroup_files_follow_the_flags(fc):
    got = _read_in(fc, ["--cpus", "0.5", "-c", "512", "--cpuset-cpus", "0", "-m", "64m",
                        "--memory-reservation", "32m", "--memory-swap", "128m", "--pids-limit", "50",
                        "--blkio-weight", "300"],
                   {"quota": "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "period": "/sys/fs/cgroup/cpu/cpu.cfs_period_us",
                    "shares": "/sys/fs/cgroup/cpu/cpu.shares", "cpuset": "/sys/fs/cgroup/cpuset/cpuset.cpus",
                    "mem": "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                    "soft": "/sys/fs/cgroup/memory/memory.soft_limit_in_bytes",
                    "memsw": "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes",
                    "pids": "/sys/fs/cgroup/pids/pids.max", "blkio": "/sys/fs/cgroup/blkio/blkio.weight"})
    assert (got["quota"], got["period"], got["shares"], got["cpuset"]) == ("50000", "100000", "512", "0")
    assert (got["mem"], got["soft"], got["pids"]) == (str(64 << 20), str(32 << 20), "50")
    assert got["memsw"] in (str(128 << 20), "absent")  # without swap accounting the file is absent
    assert got["blkio"] in ("300", "absent")  # the I/O scheduler decides whether blkio.weight exists


def test_process_limits_shm_and_sysctl(fc):
    p = fc("run", "--rm", "--ulimit", "nofile=100:200", "--oom-score-adj", "300", "--shm-size", "1m",
           "--sysctl", "kernel.msgmax=4096", "bb:1", "sh", "-c",
           "ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj; df -k /dev/shm | tail -1; "
           "cat /proc/sys/kernel/msgmax")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[:3] == ["100", "200", "300"]
    assert lines[3].split()[1] == "1024"
    assert lines[4] == "4096"


def test_cpus_half_uses_about_half_a_cpu(fc):
    # Busy for 2 s of wall time; cpuacct.usage is the CPU time it got (ns).
    p = fc("run", "--rm", "--cpus", "0.5", "bb:1", "sh", "-c",
           "end=$(($(date +%s) + 2)); while [ $(date +%s) -lt $end ]; do :; done; "
           "cat /sys/fs/cgroup/cpuacct/cpuacct.usage")
    assert p.returncode == 0, p.stderr
    used = int(p.stdout.split()[-1]) / 1e9
    assert 0.5 < used < 1.35, f"{used:.2f} s of CPU in 2-3 s under --cpus 0.5"


def test_memory_limit_triggers_the_oom_killer(fc):
    p = fc("run", "--rm", "-m", "8m", "--memory-swap", "8m", "bb:1", "sh", "-c",
           "x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo survived")
    assert p.returncode == 137 and "survived" not in p.stdout


@pytest.mark.parametrize("flags, message", [
    (["--cpus", "0"], "--cpus"), (["--cpus", "x"], "--cpus"), (["-m", "1k"], "minimum is 6m"),
    (["-m", "lots"], "--memory"), (["--memory-swap", "1g"], "needs --memory"),
    (["-m", "64m", "--memory-swap", "32m"], "at least --memory"), (["--cpu-shares", "1"], "--cpu-shares"),
    (["--cpuset-cpus", "0-a"], "--cpuset-cpus"), (["--blkio-weight", "5"], "--blkio-weight"),
    (["--ulimit", "files=1"], "--ulimit"), (["--ulimit", "nofile=10:5"], "soft limit"),
    (["--oom-score-adj", "2000"], "--oom-score-adj"), (["--sysctl", "novalue"], "--sysctl"),
    (["--cpus", "1", "--cpu-quota", "50000"], "conflicting"), (["--shm-size", "0"], "--shm-size"),
])
def test_bad_resource_flags_fail_before_anything_exists(fc, flags, message):
    p = fc("run", "--rm", *flags, "bb:1", "true")
    assert p.returncode == 125 and message in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert fc("ps", "-a", "-q").stdout == ""
