"""`fastctr diff` and `fastctr cp`: a container's files (loaded only for them)."""
import sys

from fastctr.cli.common import _engine, parse
from fastctr.cliargs import UsageError


def cmd_diff(g, args):
    _, pos = parse(args, {})
    if len(pos) != 1:
        raise UsageError("diff needs exactly one container (see 'fastctr diff --help')")
    out = sys.stdout
    for kind, path in _engine(g).diff(pos[0]):
        out.write(f"{kind} {path}\n")


COMMANDS = {"diff": cmd_diff, "container_diff": cmd_diff}
