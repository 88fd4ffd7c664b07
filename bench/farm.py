"""A CI farm's day in a private network namespace: many short containers at
once, and what is left after.

    python3 bench/farm.py [-n 1000] [-j 32] [--modes none,bridge,mixed,rm-storm,api,served,fastctr-runc,runc,crun]

Run as root.  The script re-executes itself under `unshare --net --mount`,
so bridges, veths and nftables rules exist only in that namespace.  For
each mode it prints containers per second and every failure by message,
then checks that nothing is left: containers, veths, nft rules, mounts,
cgroups, container directories.  `api` runs the same `run --rm --network
none` through the Python API: -j worker processes, forked once, each with
an Engine of its own (a farm's long-lived workers: no interpreter start
per container).  `served` runs `run --rm --network none` through a
`fastctr serve` the farm starts (issue 16's target 3); the other CLI modes
are cold (FASTCTR_NO_SERVER=1).  Outside CI time (1,000 containers take
minutes); tests/integration/test_stress.py runs a bounded version."""
import argparse
import collections
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)
CLI = os.path.join(BIN, "fastctr")
RUNC_CLI = os.path.join(BIN, "fastctr-runc")


def reexec_in_netns():
    if os.environ.get("FARM_IN_NETNS") == "1":
        return
    env = dict(os.environ, FARM_IN_NETNS="1")
    sys.exit(subprocess.run(["unshare", "--net", "--mount", "--propagation", "private", sys.executable,
                             os.path.abspath(__file__), *sys.argv[1:]], env=env).returncode)


class Farm:
    def __init__(self, work):
        self.work = work
        self.data, self.state = os.path.join(work, "data"), os.path.join(work, "state")
        self.env = dict(os.environ, FASTCTR_CGROUP_PARENT="self", FASTCTR_DEFAULT_NETWORK="bridge",
                        FASTCTR_NO_SERVER="1")
        self.server = None

    def served_farm(self, count, concurrency):
        """The `none` job through a warm server of the farm's own."""
        sock = os.path.join(self.work, "serve.sock")
        self.server = subprocess.Popen([CLI, "--data-root", self.data, "--state-root", self.state, "serve",
                                        "--socket", sock], env=self.env, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL)
        while not os.path.exists(sock):
            assert self.server.poll() is None, "fastctr serve did not start"
            time.sleep(0.02)
        env = dict(self.env, FASTCTR_SOCKET=sock)
        env.pop("FASTCTR_NO_SERVER")

        def job(i):
            return subprocess.run([CLI, "--data-root", self.data, "--state-root", self.state, "run", "--rm",
                                   "--network", "none", "bb:1", "true"], stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, env=env, timeout=300)
        try:
            return run_jobs(job, count, concurrency)
        finally:
            self.stop_server()

    def stop_server(self):
        if self.server is not None:
            self.server.terminate()
            self.server.wait(60)
            self.server = None

    def fastctr(self, *args, timeout=300):
        return subprocess.run([CLI, "--data-root", self.data, "--state-root", self.state, *args],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, env=self.env,
                              timeout=timeout)

    def setup(self):
        from fastctr.runtime.bundle import make_rootfs
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        self.rootfs = make_rootfs(os.path.join(self.work, "rootfs"))
        tar = os.path.join(self.work, "rootfs.tar")
        with tarfile.open(tar, "w") as t:
            t.add(self.rootfs, arcname=".")
        p = self.fastctr("import", tar, "bb:1")
        assert p.returncode == 0, p.stderr
        for net in ("farmnet", "farmnet2"):
            assert self.fastctr("network", "create", net).returncode == 0

    # ------------------------------------------------------------ jobs
    def job_run(self, network):
        def job(i):
            return self.fastctr("run", "--rm", "--network", network, "bb:1", "true")
        return job

    def job_mixed(self, i):
        """What a farm does at once, on the default bridge and on a user
        network: short runs, detached ones (some publishing a port) removed
        or stopped while running, connected to and disconnected from a
        second network, and listings of it all."""
        net = ("bridge", "farmnet")[(i // 6) % 2]
        kind = i % 6
        if kind in (0, 1):
            return self.fastctr("run", "--rm", "--network", net, "bb:1", "true")
        if kind == 3:
            return self._list_and_inspect()
        publish = ["-p", "80"] if kind == 2 else []
        p = self.fastctr("run", "-d", "--network", net, *publish, "bb:1", "sleep", "30")
        if p.returncode != 0:
            return p
        cid = p.stdout.strip()
        p = self.fastctr("inspect", "--format", "{{.State.Status}}", cid)
        if p.returncode != 0 or p.stdout.strip() != "running":
            return _failed(p, f"inspect of a running container: {p.stdout.strip()!r} {p.stderr.strip()}")
        if kind == 4:
            p = self.fastctr("stop", "-t", "0", cid)
            if p.returncode != 0:
                return p
        if kind == 5:
            other = "farmnet2" if net == "farmnet" else "farmnet"
            for step in ("connect", "disconnect"):
                p = self.fastctr("network", step, other, cid)
                if p.returncode != 0:
                    return p
        return self.fastctr("rm", "-f", cid)

    def rm_storm(self, count, concurrency):
        """`ps -aq | xargs -P N -n 1 rm -f` over running containers, which
        their monitors clean up at the same moment."""
        started, failures = run_jobs(lambda i: self.fastctr("run", "-d", "--network", ("bridge", "farmnet")[i % 2],
                                                            "bb:1", "sleep", "60"), count, concurrency)
        ids = self.fastctr("ps", "-a", "-q").stdout.split()
        seconds, more = run_jobs(lambda i: self.fastctr("rm", "-f", ids[i]), len(ids), concurrency)
        return started + seconds, failures + more

    def _list_and_inspect(self):
        p = self.fastctr("ps", "-a")
        if p.returncode != 0:
            return p
        ids = [line.split()[0] for line in p.stdout.splitlines()[1:] if line.split()]
        if not ids:
            return p
        p = self.fastctr("inspect", "--format", "{{.Id}}", *ids[:3])
        # Containers listed a moment ago may be gone now: inspect says so for
        # those (as Docker does) and shows the others; anything else fails.
        gone = ("no such container", "no such object")  # Docker's words for either
        other = [line for line in p.stderr.splitlines() if not any(g in line.lower() for g in gone)]
        return _failed(p, other[-1]) if other else _ok(p)

    def bundle(self, name):
        from fastctr.runtime.bundle import make_bundle
        path = os.path.join(self.work, name)
        if not os.path.exists(path):
            spec = make_bundle(path, args=["/bin/true"], rootfs=self.rootfs)
            with open(os.path.join(path, "config.json"), "w") as f:
                json.dump(spec, f)
        return path

    def job_oci(self, runtime):
        root = os.path.join(self.work, runtime + "-state")
        bundle = self.bundle("bundle")
        cmd = {"runc": ["runc"], "crun": ["crun"], "fastctr-runc": [RUNC_CLI]}[runtime]

        def job(i):
            return subprocess.run([*cmd, "--root", root, "run", "--bundle", bundle, f"farm-{runtime}-{i}"],
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        return job

    def api_farm(self, count, concurrency):
        """`count` containers through Engine.run in `concurrency` forked
        workers, timed from the moment every worker has its Engine."""
        return api_workers(lambda: _api_engine(self.data, self.state), _api_job, count, concurrency)

    # ------------------------------------------------------------ checks
    def leftovers(self):
        left = {}
        ids = self.fastctr("ps", "-a", "-q").stdout.split()
        if ids:
            left["containers"] = len(ids)
        links = [n for n in os.listdir("/sys/class/net") if n.startswith("fv")]
        if links:
            left["veths"] = len(links)
        rules = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
        dnat = rules.count("dnat to")
        if dnat:
            left["dnat rules"] = dnat
        with open("/proc/self/mountinfo") as f:
            mounts = [line for line in f if self.work in line]
        if mounts:
            left["mounts"] = len(mounts)
        cdir = os.path.join(self.data, "containers")
        dirs = os.listdir(cdir) if os.path.isdir(cdir) else []
        if dirs:
            left["container dirs"] = len(dirs)
        cgroups = _container_cgroups()
        if cgroups:
            left["cgroups"] = len(cgroups)
        addresses = sum(len(n.get("endpoints", {})) for n in json.loads(
            self.fastctr("network", "inspect", "bridge", "farmnet", "farmnet2").stdout or "[]"))
        if addresses:
            left["addresses"] = addresses
        return left

    def teardown(self):
        ids = self.fastctr("ps", "-a", "-q").stdout.split()
        if ids:
            self.fastctr("rm", "-f", *ids)
        for net in ("farmnet", "farmnet2", "bridge"):
            self.fastctr("network", "rm", net)
        subprocess.run([sys.executable, "-c", "from fastctr.net import netd; netd.stop()"], env=self.env)


def _container_cgroups():
    """fastctr-made cgroups below ours, in every hierarchy."""
    from fastctr.runtime.cgroups import CgroupV1, own_cgroups
    own, found = own_cgroups(), []
    mounts = dict(CgroupV1.hierarchies_of_host())
    if os.path.exists("/sys/fs/cgroup/unified/cgroup.procs"):
        mounts[""] = "/sys/fs/cgroup/unified"
    elif os.path.exists("/sys/fs/cgroup/cgroup.procs"):
        mounts[""] = "/sys/fs/cgroup"
    for name, mnt in mounts.items():
        base = os.path.join(mnt, own.get(name.split(",")[0], "/").lstrip("/"))
        for _, dirnames, _ in os.walk(base):
            found += [d for d in dirnames if d.startswith("fastctr-")]
    return found


def _failed(p, message):
    return subprocess.CompletedProcess(p.args, p.returncode or 1, p.stdout, message)


def _ok(p):
    return subprocess.CompletedProcess(p.args, 0, p.stdout, p.stderr)


def _api_engine(data, state):
    from fastctr.engine import Engine
    return Engine(data_root=data, state_root=state, cgroup_parent="self", default_network="none")


def _api_job(engine, null):
    from fastctr.engine import RunOptions
    status = engine.run("bb:1", RunOptions(cmd=["true"], rm=True, network="none"), stdio=(-1, null, null))
    return None if status == 0 else f"exit {status}"


def api_workers(make_engine, job, count, concurrency):
    """Fork `concurrency` workers; each makes its engine, says so, then runs
    jobs while there are tokens in a shared pipe (a read of one byte is
    atomic) and reports one line per job (a short write is atomic too).
    Returns (seconds from the last worker ready to the last job done,
    Counter of failure messages)."""
    tokens_r, tokens_w = os.pipe()
    results_r, results_w = os.pipe()
    pids = []
    for _ in range(concurrency):
        pid = os.fork()
        if pid == 0:
            os.close(tokens_w)
            os.close(results_r)
            _api_worker(make_engine, job, tokens_r, results_w)
        pids.append(pid)
    os.close(tokens_r)
    os.close(results_w)
    failures = collections.Counter()
    with os.fdopen(results_r, "r") as results:
        for _ in range(concurrency):
            line = results.readline()
            if line != "ready\n":
                failures[line.strip() or "worker died before it was ready"] += 1
        start = time.monotonic()
        os.write(tokens_w, b"x" * count)  # a pipe holds 64 KiB: the workers read as the parent writes
        os.close(tokens_w)
        for line in results:
            if line != "ok\n":
                failures[line.strip()[:160]] += 1
        seconds = time.monotonic() - start
    for pid in pids:
        os.waitpid(pid, 0)
    return seconds, failures


def _api_worker(make_engine, job, tokens, results):
    code = 0
    try:
        engine = make_engine()
        null = os.open(os.devnull, os.O_WRONLY)
        os.write(results, b"ready\n")
        while os.read(tokens, 1):
            try:
                error = job(engine, null)
            except Exception as e:  # every failure is counted by its message
                error = f"{type(e).__name__}: {e}"
            os.write(results, b"ok\n" if error is None else (" ".join(error.split())[:200] + "\n").encode())
    except BaseException as e:
        os.write(results, f"worker failed: {type(e).__name__}: {e}\n".encode()[:250])
        code = 1
    finally:
        os._exit(code)


def run_jobs(job, count, concurrency):
    failures = collections.Counter()
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        for p in pool.map(job, range(count)):
            if p.returncode != 0:
                failures[(p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1][:160]] += 1
    return time.monotonic() - start, failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("-j", type=int, default=32)
    ap.add_argument("--modes", default="none,bridge,mixed,rm-storm,api,served,fastctr-runc,runc,crun")
    args = ap.parse_args()
    reexec_in_netns()
    work = tempfile.mkdtemp(prefix="fastctr-farm-", dir="/var/tmp")
    os.chmod(work, 0o755)
    farm = Farm(work)
    bad = False
    try:
        farm.setup()
        print(f"{'mode':<14}{'containers':>11}{'seconds':>9}{'per second':>12}{'failed':>8}  left")
        for mode in args.modes.split(","):
            if mode in ("runc", "crun") and not shutil.which(mode):
                print(f"{mode:<14} skipped: not installed")
                continue
            if mode == "crun" and os.path.exists("/sys/fs/cgroup/unified/cgroup.procs"):
                # crun 1.8 refuses a hybrid hierarchy; we are in a private mount namespace.
                subprocess.run(["umount", "/sys/fs/cgroup/unified"], check=False)
            if mode == "rm-storm":
                seconds, failures = farm.rm_storm(args.n, args.j)
            elif mode == "api":
                seconds, failures = farm.api_farm(args.n, args.j)
            elif mode == "served":
                seconds, failures = farm.served_farm(args.n, args.j)
            else:
                job = {"none": farm.job_run("none"), "bridge": farm.job_run("bridge"),
                       "mixed": farm.job_mixed}.get(mode) or farm.job_oci(mode)
                seconds, failures = run_jobs(job, args.n, args.j)
            left = farm.leftovers()
            bad |= bool(failures) or bool(left)
            print(f"{mode:<14}{args.n:>11}{seconds:>9.1f}{args.n / seconds:>12.1f}{sum(failures.values()):>8}  "
                  f"{left or '-'}", flush=True)
            for message, n in failures.most_common(8):
                print(f"    {n} x {message}")
    finally:
        farm.stop_server()
        farm.teardown()
        shutil.rmtree(work, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
