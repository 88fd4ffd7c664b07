"""Task timings through containerd's runc v2 shim: fastctr-runc next to runc.

    python3 bench/containerd.py [-n 20]

As root, with containerd, ctr and runc installed (apt-get install containerd
runc).  containerd runs in a network and mount namespace of its own, with no
CRI plugin and the native snapshotter, all under a temporary directory.  For
each runtime, rounds interleaved: create+start (`ctr run -d`), stop (`ctr task
kill -s KILL` until the task is STOPPED) and remove (`ctr task delete` +
`ctr container delete`); medians in ms."""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import imagetools as it  # noqa: E402  (test images by hand, no other engine)
from fastctr.runtime.cgroups import own_cgroups  # noqa: E402

FASTCTR_RUNC = os.path.join(os.path.dirname(sys.executable), "fastctr-runc")


def start_containerd(work):
    config = os.path.join(work, "config.toml")
    with open(config, "w") as f:
        f.write(f'version = 2\nroot = "{work}/root"\nstate = "{work}/state"\n'
                'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.tracing"]\n'
                f'[grpc]\n  address = "{work}/containerd.sock"\n'
                f'[ttrpc]\n  address = "{work}/containerd.sock.ttrpc"\n')
    proc = subprocess.Popen(["unshare", "--net", "--mount", "--propagation", "private", "containerd", "--config",
                             config], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not os.path.exists(f"{work}/containerd.sock"):
        time.sleep(0.05)
    return proc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="fastctr-bench-ctrd-", dir="/tmp")
    os.chmod(work, 0o755)
    own = own_cgroups()
    prefix = (own.get("memory") or own.get("") or "/").rstrip("/")
    proc = start_containerd(work)

    def ctr(*a):
        p = subprocess.run(["ctr", "-a", f"{work}/containerd.sock", "-n", "bench", *a], capture_output=True,
                           text=True, stdin=subprocess.DEVNULL)
        if p.returncode != 0 and a[:2] != ("task", "delete"):
            raise SystemExit(f"ctr {' '.join(a)}: {p.stderr}")
        return p

    def stopped(task):
        return any(line.split()[:1] == [task] and "STOPPED" in line for line in ctr("task", "ls").stdout.splitlines())

    try:
        archive = os.path.join(work, "bb.tar")
        it.write_docker_archive(archive, [it.busybox_layer()], repo_tags=("bb:1",))
        ctr("images", "import", "--snapshotter", "native", archive)
        runtimes = {"runc": shutil.which("runc"), "fastctr-runc": FASTCTR_RUNC}
        times = {(r, s): [] for r in runtimes for s in ("create+start", "stop", "remove")}
        for i in range(args.n):
            for name, binary in runtimes.items():
                task = f"{name}-{i}"
                t0 = time.monotonic()
                ctr("run", "-d", "--snapshotter", "native", "--runc-binary", binary, "--runc-root",
                    f"{work}/{name}-root", "--cgroup", f"{prefix}/fastctr-bench-{task}", "docker.io/library/bb:1",
                    task, "/bin/sleep", "60")
                t1 = time.monotonic()
                ctr("task", "kill", "-s", "KILL", task)
                while not stopped(task):
                    time.sleep(0.002)
                t2 = time.monotonic()
                ctr("task", "delete", task)
                ctr("container", "delete", task)
                t3 = time.monotonic()
                for stage, seconds in (("create+start", t1 - t0), ("stop", t2 - t1), ("remove", t3 - t2)):
                    times[name, stage].append(seconds * 1000)
        print(f"{'runtime':<14}{'create+start':>14}{'stop':>10}{'remove':>10}   (medians of {args.n}, ms)")
        for name in runtimes:
            cells = [statistics.median(times[name, s]) for s in ("create+start", "stop", "remove")]
            print(f"{name:<14}" + "".join(f"{c:>{w}.1f}" for c, w in zip(cells, (14, 10, 10))))
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
