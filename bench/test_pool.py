"""A pooled start (issue 16 target 2): Engine.run of /bin/true taking a
pooled container (fastctr.engine.pool), against the normal Engine.run and
bwrap --unshare-all on the same root file system.

python -m pytest bench/test_pool.py --benchmark-only   (as root)

Each round's untimed setup runs the two references (the normal run first,
while nothing is offered, so that it cannot take the pooled container) and
then prepares the one pooled container the timed run takes, as a server
refills its pool in the background.  Limits as the API's (pids, memory)."""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import imagetools as it  # noqa: E402
from conftest import have  # noqa: E402
from fastctr.bench.oci import MEMORY_LIMIT, PIDS_LIMIT, unpack_image  # noqa: E402
from fastctr.engine import Engine, RunOptions, pool  # noqa: E402
from fastctr.image import loading as images  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "60"))
TARGET_MS = 3.0


@pytest.fixture(scope="module")
def pooled_engine(workdir):
    data = tempfile.mkdtemp(prefix="fastctr-bench-pool-", dir="/var/tmp")
    os.chmod(data, 0o755)
    e = Engine(data_root=data, state_root=os.path.join(workdir, "pool-state"), driver="overlay2",
               cgroup_parent="self", default_network="none")
    layout = os.path.join(workdir, "pool-bb-layout")
    it.write_oci_layout(layout, [it.busybox_layer()], ref_name="busybox:latest")
    images.load(e.store, e.driver, layout)
    rootfs = unpack_image(e.store, e.store.image(e.store.resolve("busybox:latest")),
                          os.path.join(workdir, "pool-rootfs", "rootfs"))
    yield e, rootfs
    pool.drain()
    e.store.close()
    shutil.rmtree(data, ignore_errors=True)


def _opts():
    return RunOptions(cmd=["true"], rm=True, network="none", pids_limit=str(PIDS_LIMIT), memory=str(MEMORY_LIMIT))


@pytest.mark.skipif(not have("bwrap"), reason="needs bwrap (bench/run.sh installs it)")
def test_pooled_run_vs_engine_run_and_bwrap(benchmark, pooled_engine):
    engine, rootfs = pooled_engine
    null = os.open("/dev/null", os.O_RDWR)
    bwrap = ["bwrap", "--unshare-all", "--bind", rootfs, "/", "--proc", "/proc", "--dev", "/dev", "/bin/true"]
    others = {"engine_run": [], "bwrap": []}

    def setup():
        t = time.perf_counter()
        assert engine.run("busybox:latest", _opts(), stdio=(null, null, null)) == 0
        others["engine_run"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        subprocess.run(bwrap, check=True, stdin=subprocess.DEVNULL)
        others["bwrap"].append((time.perf_counter() - t) * 1000)
        pool.prepare(engine, "busybox:latest", 1, opts=_opts())

    def pooled_round():
        assert engine.run("busybox:latest", _opts(), stdio=(null, null, null)) == 0
        assert not pool.offered()

    try:
        benchmark.pedantic(pooled_round, setup=setup, rounds=ROUNDS, iterations=1, warmup_rounds=3)
    finally:
        os.close(null)
    if benchmark.stats is None or len(others["bwrap"]) <= 3:
        return
    pooled = benchmark.stats.stats.median * 1000
    normal, bw = (statistics.median(others[n][3:]) for n in ("engine_run", "bwrap"))
    benchmark.extra_info.update(pooled_median_ms=round(pooled, 2), engine_run_median_ms=round(normal, 2),
                                bwrap_median_ms=round(bw, 2), target_ms=TARGET_MS)
    print(f"\nmedians of {ROUNDS} interleaved rounds: pooled Engine.run {pooled:.2f} ms (target <= {TARGET_MS}); "
          f"Engine.run {normal:.2f} ms; bwrap {bw:.2f} ms")
