"""fastctr's Python API as a bench runtime: one container per call of
run_once, in this process (concurrency 1) or in worker processes (python -m
fastctr.bench.worker; one per spawner, so that N spawners are N processes
as N CLI spawners are, not threads sharing one interpreter lock).

Worker protocol, one JSON object a line: the settings first on stdin, then
one container name a line; each answered on stdout with the sample.  Stdin
closed: the worker exits.  SIGINT: the running container is removed (the
engine's own --rm path), then the worker exits."""
import json
import os
import signal
import sys
import time

from fastctr.bench.oci import MEMORY_LIMIT, PIDS_LIMIT
from fastctr.engine import Engine, RunOptions


def tracer():
    """fastctr.trace (the trace contract), or None before it exists."""
    try:
        from fastctr import trace
    except ImportError:
        return None
    trace.enable()
    return trace


def make_engine(settings):
    return Engine(data_root=settings.get("data_root"), state_root=settings.get("state_root"),
                  driver=settings.get("driver"), cgroup_parent=settings.get("cgroup_parent"),
                  default_network=settings.get("network"))


def run_options(settings, name=None):
    return RunOptions(cmd=settings["command"], rm=True, network=settings["network"], name=name,
                      pids_limit=str(PIDS_LIMIT), memory=str(MEMORY_LIMIT))


def refill(engine, settings):
    """fastctr-pooled: one pooled container (fastctr.engine.pool) made with
    the options of the runs, ready for the next sample; off its clock, as a
    server refills its pools in the background."""
    from fastctr.engine import pool
    if not pool.offered():
        pool.prepare(engine, settings["image"], 1, opts=run_options(settings))


def run_once(engine, settings, name, trace):
    """One container to completion: {"latency_ms", "stages"} or, when it
    failed, {"error"} as well.  A pooled worker (settings["pool"]) takes its
    pooled container and makes the next one after the sample."""
    opts = run_options(settings, name)
    if trace:
        trace.reset()
    t0 = time.perf_counter_ns()
    error = None
    try:
        status = engine.run(settings["image"], opts)
        if status != 0:
            error = f"exit status {status}"
    except (OSError, ValueError) as e:
        error = str(e)
    except Exception as e:
        from fastctr.errors import FastctrError
        if not isinstance(e, FastctrError):
            raise
        error = str(e)
    sample = {"latency_ms": (time.perf_counter_ns() - t0) / 1e6,
              "stages": [{"stage": s, "ms": round(ms, 3)} for s, ms in trace.stages()] if trace else []}
    if settings.get("pool") and not error:
        from fastctr.engine import pool
        if pool.offered():
            error = "the run did not take the pooled container"
        refill(engine, settings)
    if error:
        sample["error"] = error
    return sample


def _interrupted(signum, frame):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the engine's clean-up of this container runs to its end
    raise KeyboardInterrupt


def main():
    signal.signal(signal.SIGINT, _interrupted)
    settings = json.loads(sys.stdin.readline())
    engine, trace = make_engine(settings), (tracer() if os.environ.get("FASTCTR_BENCH_TRACE") else None)
    out = sys.stdout
    if settings.get("pool"):
        from fastctr.engine import pool
        import atexit
        atexit.register(pool.drain)
        refill(engine, settings)
    try:
        for line in sys.stdin:
            out.write(json.dumps(run_once(engine, settings, line.strip(), trace)) + "\n")
            out.flush()
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    os.environ.setdefault("FASTCTR_CGROUP_PARENT", "self")
    sys.exit(main())
