"""Target 3: `fastctr-runc` against `runc` on the same bundle, for each call
containerd's shim makes: run (create + start + wait + delete in one
process), create, start, state and delete.  Each case is one round of
its command; `create_start_delete` is the three calls a task's life
costs, timed together.

python -m pytest bench/test_runc_cli.py --benchmark-only"""
import json
import os
import subprocess
import sys

import pytest

from conftest import have, unique

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "60"))
FASTCTR_RUNC = os.path.join(os.path.dirname(sys.executable), "fastctr-runc")
RUNTIMES = {"fastctr-runc": [FASTCTR_RUNC, "--cgroup-parent", "self"], "runc": ["runc"]}


def _runtime(name, workdir):
    if name == "runc" and not have("runc"):
        pytest.skip("runc not installed (bench/run.sh installs it)")
    base = RUNTIMES[name] if os.path.exists(RUNTIMES[name][0]) or name == "runc" else \
        [sys.executable, "-m", "fastctr.runtime.runc_cli", "--cgroup-parent", "self"]
    root = os.path.join(workdir, f"cli-{name}-state")

    def call(*args):
        # The container of `create` keeps its stdio: no pipes that would
        # hold the call open until the container ends.
        subprocess.run([*base, "--root", root, *args], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return call


@pytest.fixture(params=list(RUNTIMES))
def runtime(request, workdir):
    return request.param, _runtime(request.param, workdir)


def test_run(benchmark, runtime, true_bundle):
    name, call = runtime
    benchmark.pedantic(lambda: call("run", "--bundle", true_bundle, unique(name)), rounds=ROUNDS, iterations=1,
                       warmup_rounds=3)


def test_create_start_delete(benchmark, runtime, true_bundle):
    name, call = runtime

    def life():
        cid = unique(name)
        call("create", "--bundle", true_bundle, cid)
        call("start", cid)
        call("delete", "--force", cid)  # /bin/true may not have ended yet: as the shim after its exit event
    benchmark.pedantic(life, rounds=ROUNDS, iterations=1, warmup_rounds=3)


def _bundle_for(true_bundle, cid):
    """A bundle of the same rootfs with a cgroup of its own: containers that
    exist at once must not share one (fastctr-runc refuses, runc warns)."""
    with open(os.path.join(true_bundle, "config.json")) as f:
        spec = json.load(f)
    spec["root"]["path"] = os.path.join(true_bundle, spec["root"]["path"])
    spec["linux"]["cgroupsPath"] = os.path.dirname(spec["linux"]["cgroupsPath"]) + "/" + cid
    path = os.path.join(os.path.dirname(true_bundle), "bundles", cid)
    os.makedirs(path)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(spec, f)
    return path


def _create(call, true_bundle, name, count):
    ids = [unique(name) for _ in range(count)]
    for cid in ids:
        call("create", "--bundle", _bundle_for(true_bundle, cid), cid)
    return ids


@pytest.fixture
def created(runtime, true_bundle):
    name, call = runtime
    ids = _create(call, true_bundle, name, 1)
    yield name, call, ids[0]
    call("delete", "--force", ids[0])


def test_state(benchmark, created):
    name, call, cid = created
    benchmark.pedantic(lambda: call("state", cid), rounds=ROUNDS, iterations=1, warmup_rounds=3)


@pytest.mark.parametrize("command", ["start", "delete"])
def test_one_call(benchmark, runtime, true_bundle, command):
    """start of a created container; delete of a created one (as the shim
    deletes a task that never started, and runc does without --force)."""
    name, call = runtime
    ids = _create(call, true_bundle, name, ROUNDS + 3)
    done = []

    def one():
        cid = ids.pop()
        done.append(cid)
        call(command, cid)
    try:
        benchmark.pedantic(one, rounds=ROUNDS, iterations=1, warmup_rounds=3)
    finally:
        for cid in ids + (done if command == "start" else []):
            call("delete", "--force", cid)
