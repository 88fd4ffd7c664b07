"""What every `fastctr` command shares: the global flags, the option parser
with its tables, the engine made from the global flags, Docker's way of
acting on several containers, and number and size formats."""
import os
import sys
import time

from fastctr import cliargs
from fastctr.cliargs import UsageError
from fastctr.engine import resources as resource_flags
from fastctr.engine import security as security_flags
from fastctr.engine import options as environment_flags

GLOBAL = {"--data-root": ("data_root", True), "--state-root": ("state_root", True),
          "--storage-driver": ("driver", True), "--cgroup-parent": ("cgroup_parent", True)}
MULTI = {"env", "env_files", "volumes", "mounts", "tmpfs", "labels", "publish"} | resource_flags.MULTI \
    | security_flags.MULTI | environment_flags.MULTI
LISTS = {"-a": ("all", False), "--all": ("all", False), "-q": ("quiet", False), "--quiet": ("quiet", False),
         "--format": ("format", True), "-f": ("force", False), "--force": ("force", False),
         "-i": ("input", True), "--input": ("input", True), "--no-trunc": ("no_trunc", False)}


def parse(argv, table, stop_at_positional=False):
    return cliargs.parse(argv, table, stop_at_positional, multi=MULTI)


def _engine(g):
    from fastctr.engine import Engine
    return Engine(data_root=g.get("data_root"), state_root=g.get("state_root"), driver=g.get("driver"),
                  cgroup_parent=g.get("cgroup_parent") or os.environ.get("FASTCTR_CGROUP_PARENT"))


def _each(g, refs, action):
    """Docker's multi-container commands: go on after a failure, print each
    container that worked; 125 if any failed."""
    from fastctr.errors import FastctrError
    engine, status = _engine(g), 0
    for ref in refs:
        try:
            result = action(engine, ref)
            print(result if isinstance(result, str) else ref)
        except (FastctrError, OSError) as e:
            print(f"fastctr: {e}", file=sys.stderr)
            status = 125
    return status


def _number(value, flag):
    if value is None:
        return None
    try:
        n = float(value)
    except ValueError:
        raise UsageError(f"invalid value for {flag}: {value!r}") from None
    if n < 0:
        raise UsageError(f"invalid value for {flag}: {value!r}")
    return n


def _size(n):
    n = n or 0
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.3g}{unit}"
        n /= 1000
    return f"{n:.3g}TB"


def human_ago(ts):
    try:
        t = time.mktime(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    except (TypeError, ValueError):
        return ""
    secs = max(0, int(time.time() - t))
    for unit, n in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if secs >= n:
            return f"{secs // n} {unit} ago"
    return f"{secs} seconds ago"
