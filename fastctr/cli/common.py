"""What every `fastctr` command shares: the global flags, the option parser
with its tables, the engine made from the global flags, Docker's way of
acting on several containers, and number and size formats."""
import os
import sys

from fastctr import cliargs
from fastctr.cliargs import ArgumentCountError, UsageError
from fastctr.engine import resources as resource_flags
from fastctr.engine import security as security_flags
from fastctr.engine import options as environment_flags

GLOBAL = {"--data-root": ("data_root", True), "--state-root": ("state_root", True),
          "--storage-driver": ("driver", True), "--cgroup-parent": ("cgroup_parent", True),
          "-v": ("version", False), "--version": ("version", False),
          "--no-server": ("no_server", False)}  # csrc/client.c's: this command starts cold
MULTI = {"env", "env_files", "volumes", "mounts", "tmpfs", "labels", "publish", "filter", "log_opts", "pool"} | resource_flags.MULTI \
    | security_flags.MULTI | environment_flags.MULTI | set(environment_flags.NET_MULTI)


def flags(*specs):
    """An option table from Docker-style names: "-a/--all" is a switch,
    "--format=" takes a value; the destination is the long name."""
    table = {}
    for spec in specs:
        names = spec.rstrip("=").split("/")
        for name in names:
            table[name] = (names[-1].lstrip("-").replace("-", "_"), spec.endswith("="))
    return table


def parse(argv, table, stop_at_positional=False):
    return cliargs.parse(argv, table, stop_at_positional, multi=MULTI, help=True)


def nargs(pos, least, most=None):
    """Docker's check of a command's positional arguments (cli/required.go):
    `most` None is no upper bound; the CLI prefixes 'fastctr COMMAND'."""
    if least <= len(pos) and (most is None or len(pos) <= most):
        return pos
    if most == 0:
        raise ArgumentCountError("accepts no arguments")
    if most is None:
        raise ArgumentCountError(f"requires at least {least} {plural(least)}")
    if least == most:
        raise ArgumentCountError(f"requires {least} {plural(least)}")
    if least == 0:
        raise ArgumentCountError(f"requires at most {most} {plural(most)}")
    raise ArgumentCountError(f"requires at least {least} and at most {most} {plural(most)}")


def plural(n):
    return "argument" if n == 1 else "arguments"


def _engine(g):
    from fastctr.engine import kept
    return kept.made(data_root=g.get("data_root"), state_root=g.get("state_root"), driver=g.get("driver"),
                     cgroup_parent=g.get("cgroup_parent") or os.environ.get("FASTCTR_CGROUP_PARENT"))


def _each(g, refs, action):
    """Docker's multi-container commands: go on after a failure, print each
    container that worked; 1 if any failed (Docker's CLI)."""
    from fastctr.errors import FastctrError
    engine, status = _engine(g), 0
    for ref in refs:
        try:
            result = action(engine, ref)
            print(result if isinstance(result, str) else ref)
        except (FastctrError, OSError) as e:
            print(f"fastctr: {e}", file=sys.stderr)
            status = 1
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
