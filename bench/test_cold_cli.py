"""Target 2 of issue 15: the cold CLI against `crun run` of the same bundle.

`fastctr run --rm --network none busybox true`, a new process each round
(interpreter start, imports, store, spawn, removal), and crun running the
bundle fastctr made for a container of the same image: its config.json
(namespaces, mounts, masked paths), its overlay as the root.  crun runs it
twice per round: as it is, with Docker's seccomp profile, which crun compiles
with libseccomp on every run (~40 ms here; fastctr keeps the compiled
program), and without linux.seccomp, the ~9-10 ms reference of issue 15 (as
bench/test_start.py's bundle).  The rounds alternate (crun in the untimed
setup of each fastctr round), so all see the same machine; extra_info holds
the medians and the ratios (the target: at most 2.0 against crun without
seccomp).

test_served_cli_vs_crun_run is issue 16's target 1: the same command through
a warm `fastctr serve` (csrc/client.c hands it over; a forked worker runs
it), at most 1.0 against crun, with the cold CLI timed beside it.

python -m pytest bench/test_cold_cli.py --benchmark-only   (as root)"""
import json
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
from fastctr.engine import Engine  # noqa: E402
from fastctr.image import loading as images  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "60"))
WARMUP = 3
CLI = os.path.join(os.path.dirname(sys.executable), "fastctr")
TARGET_RATIO = 2.0
SERVED_TARGET_RATIO = 1.0
COLD_ENV = dict(os.environ, FASTCTR_NO_SERVER="1")


@pytest.fixture(scope="module")
def store(workdir):
    """A data root holding busybox:latest, and the CLI's global flags for it."""
    data = tempfile.mkdtemp(prefix="fastctr-bench-cold-", dir="/var/tmp")
    os.chmod(data, 0o755)
    e = Engine(data_root=data, driver="overlay2")
    layout = os.path.join(workdir, "cold-bb-layout")
    it.write_oci_layout(layout, [it.busybox_layer()], ref_name="busybox:latest")
    images.load(e.store, e.driver, layout)
    e.store.close()
    yield [CLI, "--data-root", data, "--state-root", os.path.join(workdir, "cold-state"), "--cgroup-parent", "self"]
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="module")
def crun_shell(store, workdir):
    """A shell in a private mount namespace with the overlay of a created
    fastctr container mounted, running `crun run` for each line it reads
    (CONFIG ID), so no unshare or mount is timed; CONFIG is config.json
    (fastctr's own) or no-seccomp.json."""
    cid = subprocess.run(store + ["create", "--network", "none", "busybox", "true"], check=True,
                         capture_output=True, text=True).stdout.strip()
    try:
        bundle = _crun_bundle(store, cid, workdir)
        _, data, base = _rootfs_mount(store, cid)
        root = os.path.join(workdir, "cold-crun-state")
        hide = "umount /sys/fs/cgroup/unified && " if needs_hidden_unified() else ""
        script = (f"cd {base} && mount -t overlay overlay -o {data} {bundle}/rootfs && {hide}cd / && "
                  f"while read config id; do crun --root {root} run --bundle {bundle} --config {bundle}/$config $id "
                  "</dev/null >/dev/null; echo $?; done")
        shell = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            yield shell
        finally:
            shell.stdin.close()
            shell.wait()
    finally:
        subprocess.run(store + ["rm", "-f", cid], check=True, capture_output=True)


def _crun_bundle(store, cid, workdir):
    """The container's config.json with its root at our mount point and its
    cgroup below ours; next to it the same without linux.seccomp."""
    bundle = os.path.join(workdir, "cold-crun-bundle")
    os.makedirs(os.path.join(bundle, "rootfs"), exist_ok=True)
    with open(os.path.join(store[2], "containers", cid, "config.json")) as f:
        spec = json.load(f)
    spec["root"]["path"] = os.path.join(bundle, "rootfs")
    spec["linux"]["cgroupsPath"] = cgroup_prefix() + "/fastctr-bench-cold-crun"
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(spec, f)
    spec["linux"].pop("seccomp", None)
    with open(os.path.join(bundle, "no-seccomp.json"), "w") as f:
        json.dump(spec, f)
    return bundle


def _rootfs_mount(store, cid):
    """(fstype, overlay options, their directory) that fastctr's container
    process mounts as its root (the record `inspect` does not show)."""
    e = Engine(data_root=store[2])
    try:
        return e.container(cid)["config"]["rootfs_mount"]
    finally:
        e.store.close()


@pytest.mark.skipif(not have("crun"), reason="crun not installed (bench/run.sh installs it)")
def test_cold_cli_vs_crun_run(benchmark, store, crun_shell):
    """The timed rounds are fastctr's; crun's are timed in each setup."""
    cmd = store + ["run", "--rm", "--network", "none", "busybox", "true"]
    crun_ms = {"config.json": [], "no-seccomp.json": []}

    def crun_rounds():
        for config, times in crun_ms.items():
            t = time.perf_counter()
            crun_shell.stdin.write(f"{config} {unique('cold-crun')}\n")
            crun_shell.stdin.flush()
            assert crun_shell.stdout.readline().strip() == "0"
            times.append((time.perf_counter() - t) * 1000)

    def fastctr_round():
        subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, env=COLD_ENV)

    benchmark.pedantic(fastctr_round, setup=crun_rounds, rounds=ROUNDS, iterations=1, warmup_rounds=WARMUP)
    if benchmark.stats is None or len(crun_ms["config.json"]) <= WARMUP:  # --benchmark-disable: nothing to compare
        return
    fastctr = benchmark.stats.stats.median * 1000
    same, plain = (statistics.median(crun_ms[c][WARMUP:]) for c in ("config.json", "no-seccomp.json"))
    benchmark.extra_info.update(fastctr_median_ms=round(fastctr, 2), crun_median_ms=round(same, 2),
                                crun_no_seccomp_median_ms=round(plain, 2), ratio=round(fastctr / same, 2),
                                ratio_no_seccomp=round(fastctr / plain, 2), target_ratio=TARGET_RATIO)
    print(f"\nmedians of {ROUNDS} interleaved rounds: cold CLI {fastctr:.1f} ms; crun run of its bundle "
          f"{same:.1f} ms (ratio {fastctr / same:.2f}), without seccomp {plain:.1f} ms (ratio {fastctr / plain:.2f}; "
          f"target <= {TARGET_RATIO})")


@pytest.fixture(scope="module")
def server(store, workdir):
    """A `fastctr serve` on the store's roots, on a socket of the bench's."""
    sock = os.path.join(workdir, "served.sock")
    p = subprocess.Popen(store + ["serve", "--socket", sock], env=COLD_ENV, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not os.path.exists(sock):
        assert p.poll() is None and time.monotonic() < deadline, "fastctr serve did not start"
        time.sleep(0.02)
    yield dict(os.environ, FASTCTR_SOCKET=sock)
    p.terminate()
    assert p.wait(30) == 0


@pytest.mark.skipif(not have("crun"), reason="crun not installed (bench/run.sh installs it)")
def test_served_cli_vs_crun_run(benchmark, store, crun_shell, server):
    """The timed rounds go through the server; crun and the cold CLI are
    timed in each setup."""
    cmd = store + ["run", "--rm", "--network", "none", "busybox", "true"]
    side = {"crun": [], "cold": []}

    def other_rounds():
        t = time.perf_counter()
        crun_shell.stdin.write(f"no-seccomp.json {unique('served-crun')}\n")
        crun_shell.stdin.flush()
        assert crun_shell.stdout.readline().strip() == "0"
        side["crun"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, env=COLD_ENV)
        side["cold"].append((time.perf_counter() - t) * 1000)

    def served_round():
        subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, env=server)

    benchmark.pedantic(served_round, setup=other_rounds, rounds=ROUNDS, iterations=1, warmup_rounds=WARMUP)
    if benchmark.stats is None or len(side["crun"]) <= WARMUP:
        return
    served = benchmark.stats.stats.median * 1000
    crun, cold = (statistics.median(side[k][WARMUP:]) for k in ("crun", "cold"))
    benchmark.extra_info.update(served_median_ms=round(served, 2), cold_median_ms=round(cold, 2),
                                crun_no_seccomp_median_ms=round(crun, 2), ratio=round(served / crun, 2),
                                target_ratio=SERVED_TARGET_RATIO)
    print(f"\nmedians of {ROUNDS} interleaved rounds: CLI via server {served:.1f} ms, cold CLI {cold:.1f} ms, "
          f"crun run without seccomp {crun:.1f} ms (ratio {served / crun:.2f}; target <= {SERVED_TARGET_RATIO})")
