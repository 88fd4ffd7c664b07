"""`fastctr serve`: its options; the server is fastctr.server's."""
import sys

from fastctr.cli.common import flags, nargs, parse

SERVE = flags("--socket=", "--group=", "--pool=", "--spare=")


def cmd_serve(g, args):
    o, pos = parse(args, SERVE)
    nargs(pos, 0, 0)
    spare = o.get("spare", "1")
    if not spare.isdigit():
        from fastctr.cliargs import UsageError
        raise UsageError(f"invalid argument {spare!r} for \"--spare\" flag: a number of workers")
    from fastctr.cli.commands import main
    from fastctr.server import serve
    from fastctr.server.listener import ServerError
    try:
        return serve.serve(main, socket_path=o.get("socket") or serve.default_socket(g.get("state_root")),
                           group=o.get("group"), pools=o.get("pool") or [], engine_settings=_engine_settings(g),
                           spare=int(spare))
    except ServerError as e:
        print(f"fastctr: {e}", file=sys.stderr)
        return 1


def _engine_settings(g):
    """The Engine of the server's own global flags (as cli.common._engine makes it)."""
    import os
    return {"data_root": g.get("data_root"), "state_root": g.get("state_root"), "driver": g.get("driver"),
            "cgroup_parent": g.get("cgroup_parent") or os.environ.get("FASTCTR_CGROUP_PARENT")}


COMMANDS = {"serve": cmd_serve}
