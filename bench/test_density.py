"""Detached containers: `run -d` latency, and what fastctr keeps alive per
idle container (its monitor), as proportional set size (PSS: shared pages
divided among their users, so N monitors sum to their true cost).

BENCH_DENSITY=N sets the number of idle containers (default 200)."""
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import imagetools as it  # noqa: E402

CLI = os.path.join(os.path.dirname(sys.executable), "fastctr")
COUNT = int(os.environ.get("BENCH_DENSITY", "200"))


@pytest.fixture(scope="module")
def fc(workdir):
    data, state = os.path.join(workdir, "density-data"), os.path.join(workdir, "density-state")
    layout = os.path.join(workdir, "density-layout")
    it.write_oci_layout(layout, [it.busybox_layer()], ref_name="bb:1")
    env = dict(os.environ, FASTCTR_CGROUP_PARENT="self")

    def run(*args):
        return subprocess.run([CLI, "--data-root", data, "--state-root", state, *args], env=env, cwd="/",
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, check=True)
    run("load", "-i", layout)
    yield run
    ids = run("ps", "-a", "-q").stdout.split()
    for i in range(0, len(ids), 50):
        run("rm", "-f", *ids[i:i + 50])  # check=True: a failed removal fails the benchmark


def _pss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def _monitor_pids(data_marker):
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"fastctr/data/monitor") and any(data_marker in a for a in argv):
            out.append(int(pid))
    return out


def test_run_detached_latency(benchmark, fc):
    benchmark.pedantic(lambda: fc("run", "-d", "--rm", "bb:1", "sleep", "100000"), rounds=20, iterations=1,
                       warmup_rounds=1)


def test_idle_monitor_overhead(benchmark, fc, workdir):
    """Start COUNT idle containers; PSS of everything fastctr keeps for them."""
    starts = []
    for i in range(COUNT):
        t = time.perf_counter()
        fc("run", "-d", "--rm", "bb:1", "sleep", "100000")
        starts.append(time.perf_counter() - t)
    marker = os.path.join(workdir, "density-data").encode()
    pids = _monitor_pids(marker)
    assert len(pids) >= COUNT
    total_kib = sum(_pss_kib(p) for p in pids)
    per_kib = total_kib / len(pids)
    first, last = sorted(starts[:20])[10], sorted(starts[-20:])[10]
    benchmark.extra_info.update(containers=len(pids), monitor_pss_total_kib=total_kib,
                                monitor_pss_per_container_kib=round(per_kib, 1),
                                run_d_median_first20_ms=round(first * 1000, 1),
                                run_d_median_last20_ms=round(last * 1000, 1))
    print(f"\n{len(pids)} idle containers: monitors' PSS {total_kib} KiB in all, {per_kib:.1f} KiB each; "
          f"run -d median {first * 1000:.1f} ms for the first 20, {last * 1000:.1f} ms for the last 20")
    assert per_kib <= 512, "over 0.5 MiB per idle container"
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
