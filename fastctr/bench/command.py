"""`fastctr bench`, the whole run: check the options (and --plot's
matplotlib) before anything runs, resolve the image as `run` does, prepare
each runtime (or say why it is skipped), run the rounds, print the table,
write --json and --plot; and at the end, also after Ctrl-C, remove every
container, state directory, bundle and cgroup made on the way."""
import json
import os
import shutil
import signal
import sys
import tempfile

from fastctr.bench import oci, runtimes as rts, stats
from fastctr.bench.runner import Rounds
from fastctr.errors import UsageError

EXIT_FAILED = 1  # a runtime failed during the run
EXIT_INTERRUPTED = 130


class BenchError(Exception):
    """Bad input or an unusable setup: one line, exit 125, nothing run."""


def positive(value, flag, least):
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"invalid value for {flag}: {value!r} (a whole number)") from None
    if n < least:
        raise UsageError(f"invalid value for {flag}: {value!r} (at least {least})")
    return n


def chosen_runtimes(text):
    if not text:
        return list(rts.NAMES)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in rts.NAMES]
    if unknown or not names:
        raise UsageError(f"unknown runtime {unknown[0] if unknown else text!r} for --runtimes "
                         f"(known: {', '.join(rts.NAMES)})")
    return list(dict.fromkeys(names))


class Context:
    """What every runtime of one bench shares."""

    def __init__(self, opts, command):
        self.count = positive(opts.get("count", 10), "--count", 1)
        self.warmup = positive(opts.get("warmup", 2), "--warmup", 0)
        self.concurrency = positive(opts.get("concurrency", 1), "--concurrency", 1)
        self.network = opts.get("network") or "none"
        if self.network not in ("none", "bridge"):
            raise UsageError(f"invalid value for --network: {self.network!r} (none or bridge)")
        self.names = chosen_runtimes(opts.get("runtimes"))
        self.image_ref = opts.get("image") or "busybox"
        self.command = list(command) or ["true"]
        self.json_path, self.plot_path = opts.get("json"), opts.get("plot")
        self.traced = bool(self.json_path)  # stage times only when they are written
        self.data_root, self.state_root = opts.get("data_root"), opts.get("state_root")
        self.driver = opts.get("driver")
        self.cgroup_parent = opts.get("cgroup_parent") or os.environ.get("FASTCTR_CGROUP_PARENT") or "self"
        self.prefix = f"fastctr-bench-{os.getpid()}"
        self.work = None
        self.cgroups = oci.CgroupSweep()
        self._rootfs = None

    def settings(self):
        return {"image": self.image_ref, "command": self.command, "network": self.network, "count": self.count,
                "warmup": self.warmup, "concurrency": self.concurrency, "runtimes": self.names}

    def api_settings(self):
        return {"image": self.image_ref, "command": self.command, "network": self.network,
                "data_root": self.data_root, "state_root": self.state_root, "driver": self.driver,
                "cgroup_parent": self.cgroup_parent}

    def global_flags(self):
        out = []
        for flag, value in (("--data-root", self.data_root), ("--state-root", self.state_root),
                            ("--storage-driver", self.driver), ("--cgroup-parent", self.cgroup_parent)):
            if value:
                out += [flag, value]
        return out

    def container_name(self, runtime, seq):
        return f"{self.prefix}-{runtime}-{seq}"

    def engine(self):
        from fastctr.bench.worker import make_engine
        return make_engine(self.api_settings())

    def resolve_image(self):
        """The image, pulled when missing (as `run` does); its OCI process."""
        from fastctr.engine import RunOptions
        from fastctr.engine.options import command_of
        engine = self.engine()
        try:
            self.image = engine.store.image(engine.resolve_image(self.image_ref, pull="missing"))
        except Exception as e:
            from fastctr.errors import FastctrError
            if not isinstance(e, (FastctrError, OSError, LookupError, ValueError)):
                raise
            raise BenchError(f"cannot get image {self.image_ref!r}: {e}") from None
        cfg = self.image["config"].get("config") or {}
        entrypoint, cmd = command_of(cfg, RunOptions(cmd=self.command))
        self.oci_args = entrypoint + cmd
        self.oci_env = cfg.get("Env") or [f"PATH={rts.CONTAINER_PATH}"]
        self.store = engine.store

    def rootfs(self):
        """The image unpacked once for the OCI runtimes and bubblewrap."""
        if self._rootfs is None:
            try:
                self._rootfs = oci.unpack_image(self.store, self.image, os.path.join(self.work, "rootfs"))
            except (OSError, ValueError) as e:
                self._rootfs = e
        if isinstance(self._rootfs, Exception):
            raise rts.Skip(f"cannot unpack the image as a root filesystem: {self._rootfs}")
        return self._rootfs


def check_plot(path):
    if path is None:
        return
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise BenchError("--plot needs matplotlib: pip install 'fastctr[plot]'") from None


def bench(opts, command, out=None):
    """The bench; returns its exit status."""
    out = out or sys.stdout
    ctx = Context(opts, command)
    check_plot(ctx.plot_path)
    ctx.resolve_image()
    ctx.work = tempfile.mkdtemp(prefix=f"{ctx.prefix}-", dir=os.environ.get("TMPDIR", "/tmp"))
    os.chmod(ctx.work, 0o755)
    chosen = [rts.make(ctx, n) for n in ctx.names]
    skipped, ready = [], []
    old = {s: signal.signal(s, _interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    rounds, interrupted = None, False
    try:
        for rt in chosen:
            why = rt.unavailable()
            try:
                if why:
                    raise rts.Skip(why)
                rt.prepare(ctx.concurrency)
                ready.append(rt)
            except rts.Skip as e:
                skipped.append((rt.name, str(e)))
                rt.close()
        rounds = Rounds(ready, ctx.count, ctx.warmup, ctx.concurrency)
        rounds.run()
    except KeyboardInterrupt:
        interrupted = True
        if rounds:
            rounds.stop(ready)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the clean-up runs to its end
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            cleanup(ctx, chosen, rounds)
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
    if interrupted:
        print("fastctr bench: interrupted; removed what it made", file=sys.stderr)
        return EXIT_INTERRUPTED
    return report(ctx, rounds, skipped, out)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def cleanup(ctx, chosen, rounds):
    if rounds:
        rounds.close()
    for rt in chosen:
        rt.close()
    for rt in chosen:
        rt.sweep()
    remove_containers(ctx)
    left = ctx.cgroups.remove()
    shutil.rmtree(ctx.work, ignore_errors=True)
    if left:
        print(f"fastctr bench: could not remove cgroups: {' '.join(left)}", file=sys.stderr)


def remove_containers(ctx):
    """fastctr's containers of this bench that a Ctrl-C (or a killed CLI) left."""
    engine = ctx.engine()
    for c in engine.ps(all=True):
        if (c.get("name") or "").startswith(ctx.prefix + "-"):
            try:
                engine.rm(c["id"], force=True)
            except Exception as e:  # go on with the others; say which one stays
                print(f"fastctr bench: could not remove container {c['name']}: {e}", file=sys.stderr)


def report(ctx, rounds, skipped, out):
    skipped = skipped + rounds.skipped
    by_runtime = {}
    for s in rounds.samples:
        by_runtime.setdefault(s["runtime"], []).append(s["latency_ms"])
    throughput = ctx.concurrency > 1
    summaries = [(n, stats.summarize(by_runtime[n], rounds.wall[n] if throughput else None))
                 for n in ctx.names if n in by_runtime and n not in dict(rounds.failed)]
    m = stats.machine()
    lines = [stats.machine_line(m), header(ctx)] + stats.table(summaries, skipped, rounds.failed, throughput)
    out.write("\n".join(lines) + "\n")
    out.flush()
    results = result_rows(ctx, summaries, skipped, rounds.failed)
    if ctx.json_path:
        write_json(ctx.json_path, stats.document(ctx.settings(), m, results, rounds.samples))
    if ctx.plot_path and summaries:
        from fastctr.bench import plot
        plot.write(ctx.plot_path, summaries, by_runtime, stats.machine_line(m) + "\n" + header(ctx))
    return EXIT_FAILED if rounds.failed else 0


def header(ctx):
    net = f"network {ctx.network}" + (" (OCI runtimes and bwrap: an empty network namespace)"
                                      if ctx.network == "bridge" else "")
    return (f"image {ctx.image_ref}, command {' '.join(ctx.command)}, {net}, {ctx.count} containers per runtime "
            f"after {ctx.warmup} warm-up round(s), concurrency {ctx.concurrency}")


def result_rows(ctx, summaries, skipped, failed):
    rows = {n: {"runtime": n, "status": "ok", "summary": s} for n, s in summaries}
    rows.update({n: {"runtime": n, "status": "skipped", "reason": why} for n, why in skipped})
    rows.update({n: {"runtime": n, "status": "failed", "reason": why} for n, why in failed})
    return [rows[n] for n in ctx.names if n in rows]


def write_json(path, doc):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)
