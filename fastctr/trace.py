"""Where the time of one container start goes: named stages, in order.

    trace.enable(); trace.reset()
    Engine(...).run("busybox", opts)
    trace.stages()      # [("store", 1.2), ("image", 0.8), ..., ("teardown", 2.1)]

A stage is the time since the previous mark (mark_at: up to a given
CLOCK_MONOTONIC instant, e.g. one the container's child took in C), so the
stages add up to the total.  Off unless FASTCTR_TRACE=1, FASTCTR_TRACE_JSON
or enable(): then mark() is one global test.  The bottom layer: imports
nothing of fastctr but jsonfast (for the JSON line)."""
import os
import time


def _asked_for():
    return bool(os.environ.get("FASTCTR_TRACE") not in (None, "", "0") or os.environ.get("FASTCTR_TRACE_JSON"))


_on = _asked_for()
_stages = {}       # stage -> ms; a stage marked twice adds up (dicts keep the first one's place)
_last_ns = None    # the previous mark; None: the origin
_failed = None     # the stage a failing start failed in
_main_ns = None    # when the CLI's main() began, kept while tracing is still off
_command = None    # the CLI command whose stages report() shows
# The launcher (csrc/launcher.c) sets it just before it execs Python; taken
# out of the environment so that processes we start do not inherit a stale one.
_T0_NS = os.environ.pop("FASTCTR_T0_NS", None)


def from_environ():
    """As a fresh process would start: off or on as the environment says,
    the launcher's start time taken from it, nothing recorded (a server's
    worker, forked from a process that read another environment)."""
    global _on, _T0_NS, _main_ns, _command
    _on = _asked_for()
    _T0_NS = os.environ.pop("FASTCTR_T0_NS", None)
    _main_ns = _command = None
    _stages.clear()
    reset()


def enabled():
    return _on


def enable(command=None):
    """Tracing on from here; marks made before while it was off are lost,
    except the CLI's start (see cli_began).  `command`: the CLI command
    that report() names."""
    global _on, _command
    _on = True
    _command = command or _command
    if _main_ns is not None and not _stages:
        mark_at("imports", _main_ns)


def disable():
    global _on, _command
    _on = False
    _command = None


def reset():
    """Forget the stages; the next stage counts from now."""
    global _last_ns, _failed
    _stages.clear()
    _last_ns = time.monotonic_ns()
    _failed = None


def origin_ns():
    """The process's start on CLOCK_MONOTONIC: the launcher's exec when it
    told us, else the kernel's start time of this process (10 ms ticks)."""
    now = time.monotonic_ns()
    if _T0_NS and _T0_NS.isdigit() and 0 <= now - int(_T0_NS) < 600 * 10**9:
        return int(_T0_NS)
    try:
        with open("/proc/self/stat", "rb") as f:
            ticks = int(f.read().rsplit(b")", 1)[1].split()[19])
        since_start = time.clock_gettime_ns(time.CLOCK_BOOTTIME) - ticks * 10**9 // os.sysconf("SC_CLK_TCK")
        return now - max(since_start, 0)
    except (OSError, ValueError, IndexError):
        return now


def cli_began():
    """main() of a CLI starts: the interpreter and imports are over.  Kept
    while off, since `--trace` only turns tracing on once the options are read."""
    global _main_ns
    _main_ns = time.monotonic_ns()
    if _on and not _stages:
        mark_at("imports", _main_ns)


def mark(stage):
    """The time since the previous mark is `stage`."""
    if _on:
        mark_at(stage, time.monotonic_ns())


def mark_at(stage, ns):
    """`stage` lasted from the previous mark to CLOCK_MONOTONIC `ns`."""
    global _last_ns
    if not _on:
        return
    if _last_ns is None:
        _last_ns = origin_ns()
    _stages[stage] = _stages.get(stage, 0.0) + max(ns - _last_ns, 0) / 1e6
    _last_ns = max(ns, _last_ns)


def add(stage, ms):
    """A stage measured elsewhere (not counted from the previous mark)."""
    if _on:
        _stages[stage] = _stages.get(stage, 0.0) + ms


def failed(stage):
    """The start failed in `stage` (the stages recorded end there)."""
    global _failed
    if _on:
        _failed = stage


def failed_stage():
    return _failed


def forked():
    """In a forked process that reports back to its parent (the starter of
    a detached container): from here on its own stages only."""
    if _on:
        _stages.clear()
        mark("fork")


def snapshot():
    """What a forked process sends back: its stages and its last mark."""
    return {"stages": stages(), "end_ns": _last_ns, "failed": _failed} if _on else None


def merge(snap):
    """A forked process's stages, as if they had been taken here."""
    global _last_ns, _failed
    if not (_on and snap):
        return
    for stage, ms in snap["stages"]:
        add(stage, ms)
    _last_ns = max(snap["end_ns"] or 0, _last_ns or 0)
    _failed = snap.get("failed") or _failed


def stages():
    return list(_stages.items())


def total_ms():
    return sum(_stages.values())


def table():
    """The aligned table: stage, ms, % of the total."""
    total = total_ms()
    width = max([len(s) for s in _stages] + [len("total")])
    lines = [f"{'stage':<{width}} {'ms':>9} {'%':>6}"]
    for stage, ms in _stages.items():
        pct = 100.0 * ms / total if total else 0.0
        note = "  <- failed here" if stage == _failed else ""
        lines.append(f"{stage:<{width}} {ms:9.2f} {pct:6.1f}{note}")
    lines.append(f"{'total':<{width}} {total:9.2f} {100.0 if total else 0.0:6.1f}")
    return "\n".join(lines)


def json_line(command):
    # Not the json package: its import (re, enum) costs ~10 ms, which every
    # traced start would pay and `fastctr bench --json` would count.
    from fastctr.jsonfast import dumps
    doc = {"command": command, "total_ms": round(total_ms(), 3),
           "stages": [{"stage": s, "ms": round(ms, 3)} for s, ms in _stages.items()]}
    if _failed:
        doc["failed"] = _failed
    return dumps(doc)


def report(command=None, out=None):
    """After a traced CLI command (the one given to enable()): the table on
    stderr and, with FASTCTR_TRACE_JSON=FILE, one line appended to FILE in
    one write.  Nothing when tracing is off or no command was traced."""
    command = command or _command
    if not (_on and command):
        return
    mark("exit")  # what is left: returning to main, the error message
    import sys
    out = out or sys.stderr
    out.write(f"fastctr trace: {command}\n{table()}\n")
    out.flush()
    path = os.environ.get("FASTCTR_TRACE_JSON")
    if not path:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, (json_line(command) + "\n").encode())
        finally:
            os.close(fd)
    except OSError as e:
        out.write(f"fastctr: cannot write the trace to {path}: {e.strerror}\n")
