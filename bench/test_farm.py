"""Target 5: containers per second with 32 spawners at once, every one of
them /bin/true to completion, none may fail.

BENCH_FARM=N containers per round (default 200; bench/farm.py runs the
full 1,000 with clean-up checks), BENCH_FARM_J=N spawners (default 32).
Each case reports its rate as extra_info["per_second"].

- api: Engine.run(--rm, --network none) of a busybox image in forked
  workers with an Engine each (farm.api_workers);
- fastctr-runc, runc, crun: `run` of the same bundle, one command per
  container from a thread pool (farm.run_jobs)."""
import os
import shutil
import subprocess
import sys
import time

import pytest

import farm
from conftest import cgroup_prefix, have, needs_hidden_unified

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import imagetools as it  # noqa: E402

COUNT = int(os.environ.get("BENCH_FARM", "200"))
SPAWNERS = int(os.environ.get("BENCH_FARM_J", "32"))
ROUNDS = int(os.environ.get("BENCH_FARM_ROUNDS", "3"))


@pytest.fixture(scope="module")
def api_roots(workdir):
    from fastctr.engine import Engine
    from fastctr.image import loading as images
    data, state = os.path.join(workdir, "farm-data"), os.path.join(workdir, "farm-state")
    layout = os.path.join(workdir, "farm-layout")
    it.write_oci_layout(layout, [it.busybox_layer()], ref_name="bb:1")
    e = Engine(data_root=data, state_root=state, cgroup_parent="self")
    images.load(e.store, e.driver, layout)
    e.store.close()
    yield data, state
    e = Engine(data_root=data, state_root=state, cgroup_parent="self")
    left = [c["id"] for c in e.ps(all=True)]
    e.store.close()
    assert not left, f"{len(left)} containers left behind"


def _rate(benchmark, round_fn):
    rates, failures = [], {}

    def one():
        seconds, failed = round_fn()
        rates.append(COUNT / seconds)
        failures.update(failed)
    benchmark.pedantic(one, rounds=ROUNDS, iterations=1)
    benchmark.extra_info.update(containers=COUNT, spawners=SPAWNERS, per_second=max(rates),
                                per_second_median=sorted(rates)[len(rates) // 2])
    assert not failures, f"failed containers: {failures}"


def test_farm_api(benchmark, api_roots):
    data, state = api_roots
    _rate(benchmark, lambda: farm.api_workers(lambda: farm._api_engine(data, state), farm._api_job,
                                              COUNT, SPAWNERS))


def _oci_round(cmd, root, true_bundle, workdir):
    """One round: COUNT `run`s, each with a bundle of its own made before
    the clock starts (the same rootfs; a cgroup below ours named after the
    container: containers at once must not share one)."""
    import json
    with open(os.path.join(true_bundle, "config.json")) as f:
        spec = json.load(f)
    spec["root"]["path"] = os.path.join(true_bundle, spec["root"]["path"])

    def round_fn():
        tag = f"farm-{os.getpid()}-{time.monotonic_ns()}"
        bundles = os.path.join(workdir, tag)
        for i in range(COUNT):
            os.makedirs(os.path.join(bundles, str(i)))
            spec["linux"]["cgroupsPath"] = f"{cgroup_prefix()}/{tag}-{i}"
            with open(os.path.join(bundles, str(i), "config.json"), "w") as f:
                json.dump(spec, f)

        def job(i):
            return subprocess.run([*cmd, "--root", root, "run", "--bundle", os.path.join(bundles, str(i)),
                                   f"{tag}-{i}"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=120)
        try:
            return farm.run_jobs(job, COUNT, SPAWNERS)
        finally:
            shutil.rmtree(bundles)
    return round_fn


@pytest.mark.parametrize("runtime", ["fastctr-runc", "runc", "crun"])
def test_farm_oci(benchmark, runtime, true_bundle, workdir):
    if runtime != "fastctr-runc" and not have(runtime):
        pytest.skip(f"{runtime} not installed (bench/run.sh installs it)")
    if runtime == "crun" and needs_hidden_unified():
        pytest.skip("crun 1.8 needs /sys/fs/cgroup/unified hidden: bench/farm.py runs it so")
    root = os.path.join(workdir, f"farm-{runtime}-state")
    # fastctr-runc without --cgroup-parent: the cgroupsPath given is below ours already, as for runc.
    cmd = [os.path.join(os.path.dirname(sys.executable), "fastctr-runc")] if runtime == "fastctr-runc" else [runtime]
    _rate(benchmark, _oci_round(cmd, root, true_bundle, workdir))
