"""How each runtime starts one container for the bench, and how what it
leaves is removed.  Every child process gets its own process group, so the
terminal's Ctrl-C reaches the bench alone, which ends them itself (see
runner) and then sweeps: containers by name, state directories, cgroups."""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

from fastctr.bench import oci
from fastctr.bench.worker import make_engine, run_once, tracer

NAMES = ("fastctr-api", "fastctr-pooled", "fastctr", "fastctr-served", "fastctr-served-pool", "fastctr-runc", "runc",
         "crun", "youki", "bwrap")
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HYBRID_UNIFIED = "/sys/fs/cgroup/unified"


class Skip(Exception):
    """The runtime is missing or cannot work here: reported, not run."""


class Failure(Exception):
    """A container of the runtime failed while the bench ran."""


def launcher(name):
    """An installed fastctr launcher next to this interpreter (not a shim on PATH)."""
    path = os.path.join(os.path.dirname(sys.executable), name)
    return path if os.access(path, os.X_OK) else None


class Children:
    """A runtime's child processes in flight, for Ctrl-C."""

    def __init__(self):
        self.procs, self.lock = set(), threading.Lock()

    def start(self, argv, **kw):
        p = subprocess.Popen(argv, process_group=0, **kw)
        with self.lock:
            self.procs.add(p)
        return p

    def finished(self, p):
        with self.lock:
            self.procs.discard(p)

    def kill(self, sig=signal.SIGKILL):
        with self.lock:
            procs = list(self.procs)
        for p in procs:
            try:
                os.killpg(p.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass


def _last_line(f, fallback, prefix=""):
    """The error a runtime printed last (of the lines starting with prefix)."""
    f.seek(0)
    lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines() if ln.strip().startswith(prefix)]
    return lines[-1] if lines else fallback


class Runtime:
    name = ""
    third_party = True  # its first container failing means "cannot work here", not a failure of ours

    def __init__(self, ctx):
        self.ctx = ctx
        self.children = Children()
        self.errs = []

    def unavailable(self):
        """Why it cannot run (cheap checks, before anything runs), or None."""
        return None

    def prepare(self, slots):
        """Set up `slots` spawners; raise Skip when that cannot be done."""
        self.errs = [open(os.path.join(self.ctx.work, f"err-{self.name}-{i}"), "w+b") for i in range(slots)]

    def run(self, slot, seq):
        """Start one container to completion: {"latency_ms", "stages"}."""
        raise NotImplementedError

    error_prefix = ""  # fastctr's own: its errors start "fastctr:", after them comes the trace's table

    def timed(self, slot, argv, env=None):
        err = self.errs[slot]
        err.seek(0)
        err.truncate()
        t0 = time.perf_counter_ns()
        p = self.children.start(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env)
        try:
            status = p.wait()
        finally:
            self.children.finished(p)
        ms = (time.perf_counter_ns() - t0) / 1e6
        if status != 0:
            raise Failure(_last_line(err, f"exit status {status}", self.error_prefix))
        return ms

    def interrupt(self):
        self.children.kill()

    def close(self):
        for f in self.errs:
            f.close()
        self.errs = []

    def sweep(self):
        """Remove what is left (after Ctrl-C or a failure)."""


class FastctrApi(Runtime):
    """Engine.run in this process, or in one worker process per spawner."""
    name = "fastctr-api"
    third_party = False
    always_workers = False

    def settings(self):
        return self.ctx.api_settings()

    def prepare(self, slots):
        self.engine = self.trace = None
        self.workers, self.interrupted = [], set()
        settings = self.settings()
        if slots == 1 and not self.always_workers:
            self.engine, self.trace = make_engine(settings), (tracer() if self.ctx.traced else None)
            return
        for _ in range(slots):
            w = self.children.start([sys.executable, "-m", "fastctr.bench.worker"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True, cwd="/",
                                    env=dict(os.environ, FASTCTR_BENCH_TRACE="1" if self.ctx.traced else ""))
            w.stdin.write(json.dumps(settings) + "\n")
            w.stdin.flush()
            self.workers.append(w)

    def run(self, slot, seq):
        name = self.ctx.container_name(self.name, seq)
        if self.engine is not None:
            sample = run_once(self.engine, self.settings(), name, self.trace)
        else:
            w = self.workers[slot]
            w.stdin.write(name + "\n")
            w.stdin.flush()
            line = w.stdout.readline()
            if not line:
                raise Failure(f"worker process ended (status {w.wait()})")
            sample = json.loads(line)
        if "error" in sample:
            raise Failure(sample["error"])
        return sample

    def interrupt(self):
        # Once: the worker's engine removes its running container itself,
        # which a second SIGINT would break off.
        for w in self.workers:
            if w not in self.interrupted:
                self.interrupted.add(w)
                try:
                    os.kill(w.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass

    def close(self):
        for w in self.workers:
            try:
                w.stdin.close()
            except OSError:
                pass
        for w in self.workers:
            try:
                w.wait(timeout=30)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()
            self.children.finished(w)
            w.stdout.close()
        self.workers = []


class FastctrPooled(FastctrApi):
    """Engine.run taking a pooled container (fastctr.engine.pool), made with
    the runs' options and replaced after each sample, off its clock.  In
    worker processes also for one spawner: a pool serves every Engine.run
    of its process, and the in-process fastctr-api's runs must not take it."""
    name = "fastctr-pooled"
    always_workers = True

    def unavailable(self):
        if self.ctx.network != "none":
            return "pooled containers have --network none"
        return None

    def settings(self):
        return dict(self.ctx.api_settings(), pool=True)


class FastctrCli(Runtime):
    """The cold CLI: `fastctr run --rm --network N IMAGE CMD`, one process per container."""
    name = "fastctr"
    third_party = False
    error_prefix = "fastctr:"

    def unavailable(self):
        if not launcher("fastctr"):
            return f"no fastctr launcher next to {sys.executable}"
        return None

    def prepare(self, slots):
        super().prepare(slots)
        self.traces = [os.path.join(self.ctx.work, f"trace-{self.name}-{i}.jsonl") for i in range(slots)]
        self.read_to = [0] * slots

    def run(self, slot, seq):
        ctx = self.ctx
        argv = [launcher("fastctr")] + ctx.global_flags() + ["run", "--rm", "--network", ctx.network, "--name",
                                                             ctx.container_name(self.name, seq), ctx.image_ref]
        env = self.environment()
        if ctx.traced:
            env["FASTCTR_TRACE_JSON"] = self.traces[slot]
        ms = self.timed(slot, argv + list(ctx.command), env)
        return {"latency_ms": ms, "stages": self._stages(slot) if ctx.traced else []}

    def environment(self):
        """Cold: never through a `fastctr serve` that may listen here."""
        return dict(os.environ, FASTCTR_CGROUP_PARENT=self.ctx.cgroup_parent, FASTCTR_NO_SERVER="1")

    def _stages(self, slot):
        """The stages of the line the command appended (the trace contract)."""
        try:
            with open(self.traces[slot], "rb") as f:
                f.seek(self.read_to[slot])
                data = f.read()
        except FileNotFoundError:
            return []
        self.read_to[slot] += len(data)
        lines = [ln for ln in data.decode(errors="replace").splitlines() if ln.strip()]
        try:
            return json.loads(lines[-1]).get("stages", []) if lines else []
        except ValueError:
            return []


class FastctrServed(FastctrCli):
    """The same command through a warm `fastctr serve` of the bench's own
    (its socket in the bench's work directory, stopped at the end)."""
    name = "fastctr-served"

    def prepare(self, slots):
        super().prepare(slots)
        import tempfile  # a short path: a socket's must fit in 108 bytes, the work directory's may not
        self.socket_dir = tempfile.mkdtemp(prefix="fastctr-bench-sock-", dir="/tmp")
        self.socket = os.path.join(self.socket_dir, "serve.sock")
        self.server_log = open(os.path.join(self.ctx.work, "serve.log"), "w+b")
        argv = [launcher("fastctr")] + self.ctx.global_flags() + ["serve", "--socket", self.socket] + self.serve_flags()
        self.server = self.children.start(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=self.server_log, env=super().environment())
        deadline = time.monotonic() + 30
        while not os.path.exists(self.socket):
            if self.server.poll() is not None or time.monotonic() > deadline:
                self._stop_server()
                raise Skip(_last_line(self.server_log, "the server did not start", "fastctr:"))
            time.sleep(0.02)

    def serve_flags(self):
        return []

    def environment(self):
        env = super().environment()
        env.pop("FASTCTR_NO_SERVER")
        env["FASTCTR_SOCKET"] = self.socket
        return env

    def _stop_server(self):
        server, self.server = getattr(self, "server", None), None
        if server is None:
            return
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        self.children.finished(server)

    def sweep(self):
        self._stop_server()
        if getattr(self, "socket_dir", None):
            shutil.rmtree(self.socket_dir, ignore_errors=True)
            self.socket_dir = None

    def close(self):
        self.sweep()
        if getattr(self, "server_log", None):
            self.server_log.close()
            self.server_log = None
        super().close()


class FastctrServedPool(FastctrServed):
    """The CLI through a `fastctr serve --pool IMAGE=2`: each sample takes a
    pooled container (fastctr.engine.pool), made by a parked worker; before
    each one (off the clock) the pool is given the time to refill."""
    name = "fastctr-served-pool"
    POOL = 2

    def unavailable(self):
        if self.ctx.network != "none":
            return "pooled containers have --network none"
        return super().unavailable()

    def serve_flags(self):
        return ["--pool", f"{self.ctx.image_ref}={self.POOL}"]

    def markers(self):
        root = self.ctx.data_root or os.environ.get("FASTCTR_ROOT") or "/var/lib/fastctr"
        try:
            return set(os.listdir(os.path.join(root, "pool")))
        except FileNotFoundError:
            return set()

    def run(self, slot, seq):
        deadline = time.monotonic() + 10
        while len(self.markers()) < self.POOL and time.monotonic() < deadline:
            time.sleep(0.005)
        before = self.markers()
        sample = super().run(slot, seq)
        deadline = time.monotonic() + 5  # a taken container's marker goes once its worker cleaned up
        while before <= self.markers():
            if time.monotonic() > deadline:
                raise Failure("the run did not take a pooled container")
            time.sleep(0.005)
        return sample


class Oci(Runtime):
    """An OCI runtime's `run --bundle B ID`: the same bundle for each of
    runc, crun, youki and fastctr-runc (one per spawner: its own cgroup)."""

    def __init__(self, ctx, name):
        super().__init__(ctx)
        self.name = name
        self.third_party = name != "fastctr-runc"
        self.shells = []

    def binary(self):
        return launcher("fastctr-runc") if self.name == "fastctr-runc" else shutil.which(self.name)

    def hides_unified(self):
        """crun (1.x) refuses a hybrid hierarchy: it runs in a private mount
        namespace where /sys/fs/cgroup/unified is unmounted."""
        return self.name == "crun" and os.path.exists(os.path.join(HYBRID_UNIFIED, "cgroup.procs"))

    def unavailable(self):
        if not self.binary():
            where = f"next to {sys.executable}" if self.name == "fastctr-runc" else "on PATH"
            return f"not installed ({self.name} not found {where})"
        if self.hides_unified() and not shutil.which("unshare"):
            return "a hybrid cgroup host: crun needs unshare (util-linux) to hide /sys/fs/cgroup/unified"
        return None

    def prepare(self, slots):
        super().prepare(slots)
        # The bundle's cgroupsPath as runc takes it: not below a parent that
        # FASTCTR_CGROUP_PARENT would give fastctr-runc.
        self.env = {k: v for k, v in os.environ.items() if k != "FASTCTR_CGROUP_PARENT"}
        rootfs = self.ctx.rootfs()
        self.state = os.path.join(self.ctx.work, f"state-{self.name}")
        self.bundles = []
        for i in range(slots):
            cgroups_path = f"{oci.cgroup_prefix()}/{self.ctx.prefix}-{self.name}-{i}"
            self.ctx.cgroups.expect(cgroups_path)
            path = os.path.join(self.ctx.work, f"bundle-{self.name}-{i}")
            self.bundles.append(oci.write_bundle(path, rootfs, self.ctx.oci_args, self.ctx.oci_env, cgroups_path))
        if self.hides_unified():
            for i in range(slots):  # one by one: close() ends those started if the next one fails
                self.shells.append(self._start_shell(i))

    def _start_shell(self, slot):
        """A long-lived shell in a mount namespace without the unified
        hierarchy runs each container, so no unshare is timed."""
        script = ('umount "$4" || exit 1; echo ready; while read id; do '
                  '"$0" --root "$1" run --bundle "$2" "$id" </dev/null >/dev/null 2>"$3"; echo $?; done')
        p = self.children.start(["unshare", "-m", "--propagation", "private", "sh", "-c", script, self.binary(),
                                 self.state, self.bundles[slot], self.errs[slot].name, HYBRID_UNIFIED],
                                env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        if p.stdout.readline().strip() != "ready":
            p.stdin.close()
            p.stdout.close()
            status = p.wait()
            self.children.finished(p)
            raise Skip(f"cannot hide {HYBRID_UNIFIED} in a private mount namespace (status {status})")
        return p

    def run(self, slot, seq):
        cid = self.ctx.container_name(self.name, seq)
        if self.shells:
            return {"latency_ms": self._run_in_shell(slot, cid), "stages": []}
        argv = [self.binary(), "--root", self.state, "run", "--bundle", self.bundles[slot], cid]
        return {"latency_ms": self.timed(slot, argv, self.env), "stages": []}

    def _run_in_shell(self, slot, cid):
        shell = self.shells[slot]
        t0 = time.perf_counter_ns()
        shell.stdin.write(cid + "\n")
        shell.stdin.flush()
        status = shell.stdout.readline().strip()
        ms = (time.perf_counter_ns() - t0) / 1e6
        if status != "0":
            with open(self.errs[slot].name, "rb") as f:
                raise Failure(_last_line(f, f"exit status {status or 'unknown: the shell ended'}"))
        return ms

    def close(self):
        for shell in self.shells:
            try:
                shell.stdin.close()
            except OSError:
                pass
            shell.wait()
            shell.stdout.close()
            self.children.finished(shell)
        self.shells = []
        super().close()

    def sweep(self):
        state = getattr(self, "state", None)
        if not state or not os.path.isdir(state):
            return
        if os.listdir(state):
            cmd = ('"$0" --root "$1" list -q 2>/dev/null | while read id; do '
                   '"$0" --root "$1" delete -f "$id" >/dev/null 2>&1; done')
            argv = ["sh", "-c", cmd, self.binary(), state]
            if self.hides_unified():
                argv = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                        f'umount {HYBRID_UNIFIED} && exec "$@"', "sh"] + argv
            subprocess.run(argv, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)
        shutil.rmtree(state, ignore_errors=True)


class Bwrap(Runtime):
    """bubblewrap: every namespace, the same root filesystem; no cgroup."""
    name = "bwrap"

    def unavailable(self):
        return None if shutil.which("bwrap") else "not installed (bwrap not found on PATH)"

    def prepare(self, slots):
        super().prepare(slots)
        self.argv = [shutil.which("bwrap"), "--unshare-all", "--bind", self.ctx.rootfs(), "/", "--proc", "/proc",
                     "--dev", "/dev"]
        self.env = {"PATH": CONTAINER_PATH}

    def run(self, slot, seq):
        return {"latency_ms": self.timed(slot, self.argv + list(self.ctx.oci_args), self.env), "stages": []}


def make(ctx, name):
    if name == "fastctr-api":
        return FastctrApi(ctx)
    if name == "fastctr-pooled":
        return FastctrPooled(ctx)
    if name == "fastctr":
        return FastctrCli(ctx)
    if name == "fastctr-served":
        return FastctrServed(ctx)
    if name == "fastctr-served-pool":
        return FastctrServedPool(ctx)
    if name == "bwrap":
        return Bwrap(ctx)
    return Oci(ctx, name)
