"""Start latency of one /bin/true container, side by side.

python -m pytest bench --benchmark-only   (as root; bench/run.sh installs the references)

Every case runs the same busybox bundle: all namespaces (pid, net, ipc, uts,
mount, cgroup), a cgroup below ours, a read-only root, masked paths; the
last case is target 1 of issue 15 (Engine.run of an image against bwrap and
runc on its root file system)."""
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
from conftest import cgroup_prefix, have, needs_hidden_unified, unique  # noqa: E402
from fastctr.bench.oci import MEMORY_LIMIT, PIDS_LIMIT, unpack_image, write_bundle  # noqa: E402
from fastctr.engine import Engine, RunOptions  # noqa: E402
from fastctr.image import loading as images  # noqa: E402
from fastctr.runtime.lifecycle import Runtime  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "60"))


def bench(benchmark, fn):
    benchmark.pedantic(fn, rounds=ROUNDS, iterations=1, warmup_rounds=3)


def test_fastctr_api(benchmark, true_bundle, workdir):
    """In-process: Runtime.run() = create + start + wait + delete."""
    rt = Runtime(root=os.path.join(workdir, "api-state"), cgroup_parent="self")
    def run():
        assert rt.run(unique("api"), true_bundle) == 0
    bench(benchmark, run)


def _cli_cmd():
    # The launcher installed next to this interpreter (not a pyenv shim).
    exe = os.path.join(os.path.dirname(sys.executable), "fastctr-runc")
    return [exe] if os.path.exists(exe) else [sys.executable, "-m", "fastctr.runtime.runc_cli"]


def test_fastctr_runc_cli(benchmark, true_bundle, workdir):
    root = os.path.join(workdir, "cli-state")
    cmd = _cli_cmd() + ["--root", root, "--cgroup-parent", "self", "run", "--bundle", true_bundle]
    def run():
        subprocess.run(cmd + [unique("cli")], check=True, stdin=subprocess.DEVNULL)
    bench(benchmark, run)


@pytest.mark.skipif(not have("runc"), reason="runc not installed (bench/run.sh installs it)")
def test_runc_run(benchmark, true_bundle, workdir):
    root = os.path.join(workdir, "runc-state")
    def run():
        subprocess.run(["runc", "--root", root, "run", "--bundle", true_bundle, unique("runc")],
                       check=True, stdin=subprocess.DEVNULL)
    bench(benchmark, run)


@pytest.mark.skipif(not have("crun"), reason="crun not installed (bench/run.sh installs it)")
def test_crun_run(benchmark, true_bundle, workdir):
    root = os.path.join(workdir, "crun-state")
    if needs_hidden_unified():
        # One long-lived shell in a private mount namespace without the v2
        # mount runs crun for each round, so no unshare cost is timed.
        shell = subprocess.Popen(["unshare", "-m", "sh", "-c",
                                  "umount /sys/fs/cgroup/unified && while read id; do "
                                  f"crun --root {root} run --bundle {true_bundle} $id </dev/null; echo $?; done"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        def run():
            shell.stdin.write(unique("crun") + "\n")
            shell.stdin.flush()
            assert shell.stdout.readline().strip() == "0"
        try:
            bench(benchmark, run)
        finally:
            shell.stdin.close()
            shell.wait()
        return
    def run_plain():
        subprocess.run(["crun", "--root", root, "run", "--bundle", true_bundle, unique("crun")],
                       check=True, stdin=subprocess.DEVNULL)
    bench(benchmark, run_plain)


@pytest.mark.skipif(not have("bwrap"), reason="bubblewrap not installed (bench/run.sh installs it)")
def test_bwrap(benchmark, true_bundle):
    rootfs = os.path.join(true_bundle, "rootfs")
    cmd = ["bwrap", "--unshare-all", "--bind", rootfs, "/", "--proc", "/proc", "--dev", "/dev", "/bin/true"]
    def run():
        subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL)
    bench(benchmark, run)


# ------------------------------------------------- target 1 of issue 15
API_TARGET_BWRAP, API_TARGET_RUNC = 1.5, 0.25


@pytest.fixture(scope="module")
def busybox_engine(workdir):
    """An Engine with busybox:latest loaded, and that image's root file
    system unpacked for bwrap and a runc bundle of it (limits as the API's)."""
    data = tempfile.mkdtemp(prefix="fastctr-bench-api-", dir="/var/tmp")
    os.chmod(data, 0o755)
    e = Engine(data_root=data, state_root=os.path.join(workdir, "api-image-state"), driver="overlay2",
               cgroup_parent="self")
    layout = os.path.join(workdir, "api-bb-layout")
    it.write_oci_layout(layout, [it.busybox_layer()], ref_name="busybox:latest")
    images.load(e.store, e.driver, layout)
    bundle = os.path.join(workdir, "api-image-bundle")
    rootfs = unpack_image(e.store, e.store.image(e.store.resolve("busybox:latest")), os.path.join(bundle, "rootfs"))
    write_bundle(bundle, rootfs, ["/bin/true"], None, cgroup_prefix() + "/fastctr-bench-api-runc")
    yield e, bundle
    e.store.close()
    shutil.rmtree(data, ignore_errors=True)


@pytest.mark.skipif(not (have("bwrap") and have("runc")), reason="needs bwrap and runc (bench/run.sh installs them)")
def test_engine_run_vs_bwrap_and_runc(benchmark, busybox_engine, workdir):
    """Target 1: Engine.run of busybox (overlay root, --network none, every
    namespace, a cgroup with limits, /bin/true to completion, rm=True) against
    bwrap --unshare-all on the same root file system and runc run of a bundle
    of it, which run in each round's untimed setup (the rounds alternate)."""
    import statistics
    import time
    from fastctr.bench.oci import MEMORY_LIMIT, PIDS_LIMIT
    from fastctr.engine import RunOptions
    engine, bundle = busybox_engine
    bwrap = ["bwrap", "--unshare-all", "--bind", os.path.join(bundle, "rootfs"), "/", "--proc", "/proc",
             "--dev", "/dev", "/bin/true"]
    runc_root = os.path.join(workdir, "api-runc-state")
    others = {"bwrap": [], "runc": []}

    def references():
        for name, cmd in (("bwrap", bwrap), ("runc", ["runc", "--root", runc_root, "run", "--bundle", bundle])):
            t = time.perf_counter()
            subprocess.run(cmd + ([unique("api-runc")] if name == "runc" else []), check=True,
                           stdin=subprocess.DEVNULL)
            others[name].append((time.perf_counter() - t) * 1000)

    def api_round():
        opts = RunOptions(cmd=["true"], rm=True, network="none", pids_limit=str(PIDS_LIMIT), memory=str(MEMORY_LIMIT))
        assert engine.run("busybox:latest", opts) == 0

    benchmark.pedantic(api_round, setup=references, rounds=ROUNDS, iterations=1, warmup_rounds=3)
    if benchmark.stats is None or len(others["bwrap"]) <= 3:  # --benchmark-disable: nothing to compare
        return
    api = benchmark.stats.stats.median * 1000
    bw, rc = (statistics.median(others[n][3:]) for n in ("bwrap", "runc"))
    benchmark.extra_info.update(api_median_ms=round(api, 2), bwrap_median_ms=round(bw, 2), runc_median_ms=round(rc, 2),
                                ratio_bwrap=round(api / bw, 2), ratio_runc=round(api / rc, 3),
                                target_ratio_bwrap=API_TARGET_BWRAP, target_ratio_runc=API_TARGET_RUNC)
    print(f"\nmedians of {ROUNDS} interleaved rounds: Engine.run {api:.1f} ms; bwrap {bw:.1f} ms (ratio {api / bw:.2f}, "
          f"target <= {API_TARGET_BWRAP}); runc run {rc:.1f} ms (ratio {api / rc:.3f}, target <= {API_TARGET_RUNC})")
