"""Issue 15, target 6: many idle detached containers.

- start latency does not grow: the first 20 `run -d` against the last 20
  of BENCH_DENSITY (median against median, at most 1.5x);
- what fastctr keeps alive per idle container is at most 0.5 MiB: the
  proportional set size (PSS: shared pages divided among their users, so N
  monitors sum to their true cost) of its monitor (csrc/monitor.c) and of
  its init when there is one (`--init`; none here), plus the bytes of the
  container's state files, which the default state root keeps in memory
  (/run/fastctr is a tmpfs);
- `ps`, `ps -a` and `ps -q` list them all in under 0.5 s.
Afterwards every container is removed, 50 at a time, and nothing may be
left: rows, state, monitors, cgroups, mounts.

BENCH_DENSITY=N sets the number of idle containers (default 200; the
issue's figure is 1000)."""
import os
import resource
import statistics
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import imagetools as it  # noqa: E402

from fastctr.runtime.cgroups import CgroupV1, own_cgroups  # noqa: E402

CLI = os.path.join(os.path.dirname(sys.executable), "fastctr")
COUNT = max(int(os.environ.get("BENCH_DENSITY", "200")), 40)  # the first and the last 20 apart
EDGE = 20  # starts compared at each end
BATCH = 50  # containers per `rm -f` at the end
RUN = ("run", "-d", "--rm", "--network", "none", "bb:1", "sleep", "100000")


class Fleet:
    """The idle containers of this module, and how long each took to start."""

    def __init__(self, run, data, state):
        self.run, self.data, self.state = run, data, state
        self.starts = []

    def start(self):
        t = time.perf_counter()
        self.run(*RUN)
        self.starts.append(time.perf_counter() - t)

    def fill(self, n):
        while len(self.starts) < n:
            self.start()


@pytest.fixture(scope="module")
def fleet(workdir):
    data, state = os.path.join(workdir, "density-data"), os.path.join(workdir, "density-state")
    layout = os.path.join(workdir, "density-layout")
    it.write_oci_layout(layout, [it.busybox_layer()], ref_name="bb:1")
    env = dict(os.environ, FASTCTR_CGROUP_PARENT="self")

    def run(*args):
        return subprocess.run([CLI, "--data-root", data, "--state-root", state, *args], env=env, cwd="/",
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, check=True)
    run("load", "-i", layout)
    f = Fleet(run, data, state)
    yield f
    ids = run("ps", "-a", "-q", "--no-trunc").stdout.split()
    t = time.perf_counter()
    for i in range(0, len(ids), BATCH):
        run("rm", "-f", *ids[i:i + BATCH])  # check=True: a failed removal fails the benchmark
    print(f"\nremoved {len(ids)} containers in {time.perf_counter() - t:.1f} s, {BATCH} per rm -f")
    _assert_nothing_left(f, ids)


def _assert_nothing_left(f, ids):
    assert f.run("ps", "-a", "-q").stdout == ""
    assert not [n for n in os.listdir(f.state) if not n.startswith(".")], "state directories left"
    deadline = time.monotonic() + 10  # a monitor's clean-up may still be on its way out
    while _monitor_pids(f.data) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _monitor_pids(f.data), "monitors left"
    with open("/proc/self/mountinfo") as m:
        assert f.data not in m.read(), "mounts left"
    names = {"fastctr-" + i for i in ids}
    own = own_cgroups()
    for hierarchy, mnt in CgroupV1.hierarchies_of_host().items():
        parent = os.path.join(mnt, own.get(hierarchy.split(",")[0], "/").lstrip("/"))
        assert not names & set(os.listdir(parent)), f"cgroups left in {parent}"


def _pss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def _monitor_pids(data_root):
    """The monitors of this data root (their argv names it)."""
    return [pid for pid, argv in _processes()
            if argv[0].endswith(b"fastctr/data/monitor") and any(data_root.encode() in a for a in argv)]


def _init_pids(monitors):
    """fastctr's inits (`--init`: /sbin/docker-init) that these monitors watch."""
    monitors = set(monitors)
    out = []
    for pid, argv in _processes():
        if argv[0] == b"/sbin/docker-init":
            with open(f"/proc/{pid}/stat", "rb") as f:
                if int(f.read().rpartition(b")")[2].split()[1]) in monitors:
                    out.append(pid)
    return out


def _processes():
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                yield int(pid), f.read().split(b"\0")
        except OSError:
            continue


def _state_bytes(state_root):
    """What the state root holds, in allocated bytes (a tmpfs keeps it in memory)."""
    total = 0
    for root, dirs, files in os.walk(state_root):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
    return total


def _cpu_seconds(fn, *args):
    """User + system time of the command fn runs: what it costs whatever
    else the machine runs meanwhile (the wall time is what the target says)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    fn(*args)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def _median_ms(samples):
    return statistics.median(samples) * 1000


def test_density_start_first(benchmark, fleet):
    """`run -d` with no other container of this store running."""
    assert not fleet.starts
    benchmark.pedantic(fleet.start, rounds=EDGE, iterations=1)
    benchmark.extra_info.update(live_before=0)


def test_density_start_last(benchmark, fleet):
    """`run -d` of the last EDGE containers of COUNT: within 1.5x of the first."""
    fleet.fill(COUNT - EDGE)
    benchmark.pedantic(fleet.start, rounds=EDGE, iterations=1)
    first, last = _median_ms(fleet.starts[:EDGE]), _median_ms(fleet.starts[-EDGE:])
    benchmark.extra_info.update(live_before=COUNT - EDGE, first_median_ms=round(first, 1),
                                last_median_ms=round(last, 1), ratio=round(last / first, 2))
    print(f"\nrun -d median: first {EDGE} {first:.1f} ms, last {EDGE} of {COUNT} {last:.1f} ms "
          f"({last / first:.2f}x)")
    assert last <= 1.5 * first, "the last containers start more than 1.5x slower than the first"


def test_density_idle_overhead(benchmark, fleet):
    """PSS of fastctr's processes per idle container, and its state files."""
    fleet.fill(COUNT)
    monitors = _monitor_pids(fleet.data)
    assert len(monitors) == COUNT
    pids = monitors + _init_pids(monitors)  # RUN has no --init: none
    totals = benchmark.pedantic(lambda: (sum(_pss_kib(p) for p in pids), _state_bytes(fleet.state)),
                                rounds=1, iterations=1)
    pss_kib, state_kib = totals[0] / COUNT, totals[1] / 1024 / COUNT
    db_kib = os.path.getsize(os.path.join(fleet.data, "fastctr.db")) / 1024
    benchmark.extra_info.update(containers=COUNT, monitors=len(monitors), inits=len(pids) - len(monitors),
                                pss_total_kib=totals[0], pss_per_container_kib=round(pss_kib, 1),
                                state_per_container_kib=round(state_kib, 1), db_kib=round(db_kib))
    print(f"\n{COUNT} idle containers: {len(pids)} processes of fastctr, PSS {totals[0]} KiB in all, "
          f"{pss_kib:.1f} KiB each; state files {state_kib:.1f} KiB each; store {db_kib:.0f} KiB")
    assert pss_kib + state_kib <= 512, "over 0.5 MiB per idle container"


@pytest.mark.parametrize("args", [("ps",), ("ps", "-a"), ("ps", "-q")], ids=lambda a: " ".join(a))
def test_density_ps(benchmark, fleet, args):
    """Listing COUNT running containers."""
    fleet.fill(COUNT)
    out = benchmark.pedantic(lambda: fleet.run(*args).stdout, rounds=10, iterations=1, warmup_rounds=1)
    assert len(out.splitlines()) == COUNT + (args != ("ps", "-q"))
    median = benchmark.stats.stats.median
    cpu = _median_ms([_cpu_seconds(fleet.run, *args) for _ in range(5)])
    benchmark.extra_info.update(containers=COUNT, median_ms=round(median * 1000, 1), cpu_median_ms=round(cpu, 1))
    print(f"\n{' '.join(args)} of {COUNT}: median {median * 1000:.0f} ms, CPU {cpu:.0f} ms")
    assert median < 0.5, f"{' '.join(args)} of {COUNT} containers takes {median * 1000:.0f} ms"
