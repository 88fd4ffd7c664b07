"""`fastctr diff` and `fastctr cp`: a container's files (loaded only for them)."""
import os
import sys

from fastctr.cli.common import _engine, nargs, parse


def cmd_diff(g, args):
    _, pos = parse(args, {})
    nargs(pos, 1, 1)
    out = sys.stdout
    for kind, path in _engine(g).diff(pos[0]):
        out.write(f"{kind} {path}\n")


CP = {"-a": ("archive", False), "--archive": ("archive", False), "-L": ("follow", False),
      "--follow-link": ("follow", False), "-q": ("quiet", False), "--quiet": ("quiet", False)}


def _split(arg):
    """'NAME:PATH' -> (NAME, PATH); a local path (also one starting with / or
    ., which may hold a colon) -> (None, arg), as docker/cli splits them."""
    if arg.startswith(("/", ".")) or ":" not in arg or arg.startswith(":"):
        return None, arg
    name, _, path = arg.partition(":")
    return name, path or "/"


def cmd_cp(g, args):
    from fastctr.engine import copying
    from fastctr.errors import FastctrError
    o, pos = parse(args, CP)
    nargs(pos, 2, 2)
    (src_c, src), (dst_c, dst) = _split(pos[0]), _split(pos[1])
    try:
        if src_c and dst_c:
            raise copying.CopyError("copying between containers is not supported")
        if not (src_c or dst_c):
            raise copying.CopyError("must specify at least one container source")
        engine = _engine(g)
        if src_c:
            size = copying.copy_from(engine, src_c, src, dst, follow=bool(o.get("follow")),
                                     stdout=sys.stdout.buffer)
            where = dst
        else:
            size = copying.copy_to(engine, dst_c, src, dst, archive=bool(o.get("archive")),
                                   follow=bool(o.get("follow")), stdin=sys.stdin.buffer)
            where = f"{dst_c}:{dst}"
    except BrokenPipeError:
        # The reader of `cp CONTAINER:SRC -` stopped early (tar stops at its end blocks).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (FastctrError, OSError) as e:
        print(f"fastctr: {e}", file=sys.stderr)
        return 1  # Docker's CLI: an error of a command other than run/exec
    # Docker's CLI reports the size only to a terminal (-q or no terminal: quiet).
    if size is not None and not o.get("quiet") and sys.stderr.isatty():
        from fastctr.cli.common import _size
        print(f"Successfully copied {_size(size)} to {where}", file=sys.stderr)
    return 0


COMMANDS = {"diff": cmd_diff, "container_diff": cmd_diff, "cp": cmd_cp, "container_cp": cmd_cp}
