"""Start latency of one /bin/true container, side by side.

python -m pytest bench --benchmark-only   (as root; bench/run.sh installs the references)

Every case runs the same busybox bundle: all namespaces (pid, net, ipc, uts,
mount, cgroup), a cgroup below ours, a read-only root, masked paths."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import have, needs_hidden_unified, unique
from fastctr.runtime.lifecycle import Runtime

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
