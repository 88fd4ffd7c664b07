"""`fastctr serve`: its options; the server is fastctr.server's."""
import sys

from fastctr.cli.common import flags, nargs, parse

SERVE = flags("--socket=", "--group=")


def cmd_serve(g, args):
    o, pos = parse(args, SERVE)
    nargs(pos, 0, 0)
    from fastctr.cli.commands import main
    from fastctr.server import serve
    from fastctr.server.listener import ServerError
    try:
        return serve.serve(main, socket_path=o.get("socket") or serve.default_socket(g.get("state_root")),
                           group=o.get("group"))
    except ServerError as e:
        print(f"fastctr: {e}", file=sys.stderr)
        return 1


COMMANDS = {"serve": cmd_serve}
