"""`fastctr diff` and `fastctr cp`: a container's files (loaded only for them)."""
import sys

from fastctr.cli.common import _engine, nargs, parse


def cmd_diff(g, args):
    _, pos = parse(args, {})
    nargs(pos, 1, 1)
    out = sys.stdout
    for kind, path in _engine(g).diff(pos[0]):
        out.write(f"{kind} {path}\n")


COMMANDS = {"diff": cmd_diff, "container_diff": cmd_diff}
