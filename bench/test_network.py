"""Network set-up cost: a container on the bridge against --network none,
and start latency with 1, 8 and 32 containers starting at once.  Every
round runs inside a network namespace this benchmark made (unshare --net):
one long-lived shell there runs each command."""
import os
import shutil
import statistics
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import imagetools as it  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "20"))
CLI = os.path.join(os.path.dirname(sys.executable), "fastctr")
pytestmark = pytest.mark.skipif(not shutil.which("nft") or not shutil.which("unshare"), reason="needs nft, unshare")


class NetnsShell:
    """A shell in a private network namespace that runs one line per call."""

    def __init__(self, workdir):
        self.data = os.path.join(workdir, "net-data")
        self.state = os.path.join(workdir, "net-state")
        self.p = subprocess.Popen(["unshare", "--net", "--mount", "sh"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, env=dict(os.environ, FASTCTR_CGROUP_PARENT="self",
                                                                    FASTCTR_DEFAULT_NETWORK="bridge"))
        self.run("ip link set lo up")

    def run(self, line):
        self.p.stdin.write(f"{{ {line}; }} >/dev/null 2>&1; echo done $?\n")
        self.p.stdin.flush()
        status = self.p.stdout.readline().split()
        assert status == ["done", "0"], (line, status)

    def close(self):
        self.run(f"{CLI} --data-root {self.data} --state-root {self.state} network rm bridge || true")
        self.run(f"{sys.executable} -c 'from fastctr.net import netd; netd.stop()'")
        self.p.stdin.close()
        self.p.wait()


@pytest.fixture(scope="module")
def shell(workdir):
    layout = os.path.join(workdir, "net-layout")
    it.write_oci_layout(layout, [it.busybox_layer()], ref_name="bb:1")
    sh = NetnsShell(workdir)
    sh.fastctr = f"{CLI} --data-root {sh.data} --state-root {sh.state}"
    sh.run(f"{sh.fastctr} load -i {layout}")
    sh.run(f"{sh.fastctr} run --rm --network bridge bb:1 true")  # the bridge and the nft table exist
    yield sh
    sh.close()


@pytest.mark.parametrize("mode", ["none", "bridge"])
def test_run_by_network_mode(benchmark, shell, mode):
    benchmark.pedantic(lambda: shell.run(f"{shell.fastctr} run --rm --network {mode} bb:1 true"),
                       rounds=ROUNDS, iterations=1, warmup_rounds=1)


def test_bridge_over_none_side_by_side(benchmark, shell):
    """Issue 15's target 4: what the default bridge adds to the median of
    `run --rm bb:1 true` over --network none, measured in the same rounds:
    each round runs the none container (timed here, in the untimed setup)
    and then the bridge one (timed by pytest-benchmark)."""
    none_ms = []

    def none_first():
        t = time.perf_counter()
        shell.run(f"{shell.fastctr} run --rm --network none bb:1 true")
        none_ms.append((time.perf_counter() - t) * 1000)
    warmup = 1
    benchmark.pedantic(lambda: shell.run(f"{shell.fastctr} run --rm --network bridge bb:1 true"), setup=none_first,
                       rounds=ROUNDS, iterations=1, warmup_rounds=warmup)
    if benchmark.stats:  # not with --benchmark-disable
        none, bridge = statistics.median(none_ms[warmup:]), benchmark.stats.stats.median * 1000
        benchmark.extra_info.update(none_median_ms=round(none, 2), bridge_median_ms=round(bridge, 2),
                                    bridge_minus_none_ms=round(bridge - none, 2))
        print(f"\nmedians: --network none {none:.1f} ms, bridge {bridge:.1f} ms, difference {bridge - none:+.1f} ms")


@pytest.mark.parametrize("n", [1, 8, 32])
def test_concurrent_bridge_starts(benchmark, shell, n):
    """Wall time until all n containers (started at once) have run."""
    line = " ".join([f"{shell.fastctr} run --rm --network bridge bb:1 true &"] * n) + " wait"
    benchmark.pedantic(lambda: shell.run(line), rounds=max(3, ROUNDS // 4), iterations=1, warmup_rounds=1)
