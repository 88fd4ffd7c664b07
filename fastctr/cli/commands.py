"""fastctr: the Docker-like command line.

Thin commands over fastctr.engine; every failure of fastctr itself is one
line on stderr and exit status 125 (Docker's contract); `run` returns the
command's own status, 126 when it cannot be invoked and 127 when it is not
found.  Imports are lazy: this runs on every container start."""
import os
import sys

from fastctr import trace
from fastctr.cli.common import GLOBAL, _each, _engine, _number, flags, nargs, parse
from fastctr.cliargs import ArgumentCountError, HelpRequested, UsageError
from fastctr.engine import resources as resource_flags
from fastctr.engine import security as security_flags
from fastctr.engine import options as environment_flags

RUN = {"--name": ("name", True), "--rm": ("rm", False), "-e": ("env", True), "--env": ("env", True),
       "--env-file": ("env_files", True), "-w": ("workdir", True), "--workdir": ("workdir", True),
       "-u": ("user", True), "--user": ("user", True), "--entrypoint": ("entrypoint", True),
       "-h": ("hostname", True), "--hostname": ("hostname", True), "-v": ("volumes", True),
       "--volume": ("volumes", True), "--mount": ("mounts", True), "--tmpfs": ("tmpfs", True),
       "--read-only": ("read_only", False), "-l": ("labels", True), "--label": ("labels", True),
       "--network": ("network", True), "--net": ("network", True), "-p": ("publish", True),
       "--publish": ("publish", True), "-P": ("publish_all", False), "--publish-all": ("publish_all", False),
       "-d": ("detach", False), "--detach": ("detach", False), "--stop-signal": ("stop_signal", True),
       "-i": ("interactive", False), "--interactive": ("interactive", False), "-t": ("tty", False),
       "--tty": ("tty", False), "--init": ("init", False), "--sig-proxy": ("sig_proxy", False),
       "--detach-keys": ("detach_keys", True), "--stop-timeout": ("stop_timeout", True),
       "--pull": ("pull", True), "--restart": ("restart", True), "--log-driver": ("log_driver", True),
       "--log-opt": ("log_opts", True), "--trace": ("trace", False)}
RUN.update(resource_flags.FLAGS)  # --cpus, -m, --ulimit...: fastctr.resources
RUN.update({"--health-cmd": ("health_cmd", True), "--health-interval": ("health_interval", True),
            "--health-timeout": ("health_timeout", True), "--health-retries": ("health_retries", True),
            "--health-start-period": ("health_start_period", True),
            "--health-start-interval": ("health_start_interval", True),
            "--no-healthcheck": ("no_healthcheck", False)})  # fastctr.engine.health
RUN.update(security_flags.FLAGS)  # --cap-add, --privileged, --security-opt, --device
RUN.update(environment_flags.FLAGS)  # --group-add, --pid, --ipc, --cidfile, -a...: fastctr.engine.options
# The network flags (fastctr.engine.netflags); --dns-opt and --net-alias are Docker's old spellings.
RUN.update({"--add-host": ("add_hosts", True), "--dns": ("dns", True), "--dns-search": ("dns_search", True),
            "--dns-option": ("dns_options", True), "--dns-opt": ("dns_options", True),
            "--network-alias": ("network_aliases", True), "--net-alias": ("network_aliases", True),
            "--ip": ("ip", True), "--mac-address": ("mac_address", True), "--expose": ("expose", True)})
GROUPS = ("builder", "container", "image", "network", "system", "volume")  # Docker's management commands
# Where else `cmd_NAME` handlers live (imported on demand, in this order).  buildcmd
# first: it imports nothing more, and a build then skips the others (~10 ms).
HANDLER_MODULES = ("fastctr.cli.buildcmd", "fastctr.cli.objects", "fastctr.cli.files", "fastctr.cli.benchcmd",
                   "fastctr.cli.servecmd")
# Docker's CLI: every failure of `run` exits 125; `create` and `exec` exit 125
# when their options are wrong and 1 when the daemon refuses (no such image,
# name in use, container not running), as every other command does.
RUN_LIKE = ("run",)
OPTIONS_125 = ("create", "exec")


def main(argv=None):
    trace.cli_began()
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    finally:
        trace.report()  # after run/create/start with --trace or FASTCTR_TRACE=1 (see _traced); else nothing


def _main(argv):
    from fastctr.errors import CommandNotExecutable, CommandNotFound
    words, name, args = [], "", []
    try:
        g, rest = parse(argv, GLOBAL, stop_at_positional=True)
        if g.get("version"):
            return _print_version()
        words, name, args = _resolve(rest)
        if name is None or args == ["--help"] and rest[:1] == ["help"]:
            # `fastctr container` alone: the docker CLI writes that usage on stderr (exit 0)
            return _help(words, name, to_stderr=rest[1:] == [] and rest[:1] != ["help"] and bool(words))
        return handler(name)(g, args) or 0
    except HelpRequested as e:
        if not words and "-h" in argv and "--help" not in argv:
            print("Flag shorthand -h has been deprecated, use --help", file=sys.stderr)  # docker -h says so
        return _help(words, name, e.table)
    except UsageError as e:
        return _usage_error(e, words)
    except CommandNotFound as e:
        print(f"fastctr: {e.strerror}: executable file not found", file=sys.stderr)
        return 127
    except CommandNotExecutable as e:
        print(f"fastctr: {e.strerror}: permission denied", file=sys.stderr)
        return 126
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        from fastctr.errors import FastctrError
        if not isinstance(e, (FastctrError, OSError, ValueError)):
            raise
        print(f"fastctr: {e}", file=sys.stderr)
        from fastctr.errors import ConfigError
        return 125 if name in RUN_LIKE or name in OPTIONS_125 and isinstance(e, ConfigError) else 1


def _resolve(rest):
    """(the command words as typed, the handler's name, its arguments);
    a None name: help for the words (`fastctr`, `fastctr help X`, `fastctr container`)."""
    if not rest:
        return [], None, []
    if rest[0] == "help":  # `fastctr help [GROUP] [COMMAND]`
        words, name, _ = _resolve([w for w in rest[1:] if not w.startswith("-")][:2])
        return words, name, ["--help"]
    cmd, args = rest[0], rest[1:]
    if cmd not in GROUPS:
        if "_" in cmd or handler(cmd) is None:  # image_prune: a handler's name, not a command
            raise UnknownCommand([cmd])
        return [cmd], cmd, args
    from fastctr.cli import groups
    if not args or args[0] in ("--help", "-h"):
        return [cmd], None, []
    target = groups.GROUPS[cmd].get(args[0])
    if target is None or handler(target) is None:
        raise UnknownCommand([cmd, args[0]])
    return [cmd, args[0]], target, args[1:]


class UnknownCommand(UsageError):
    def __init__(self, words):
        super().__init__("unknown command: " + " ".join(["fastctr"] + words))
        self.words = words


def handler(name):
    """The `cmd_NAME` function of a command, or None."""
    fn = COMMANDS.get(name)
    if fn is None:
        import importlib
        for module in HANDLER_MODULES:
            fn = importlib.import_module(module).COMMANDS.get(name)
            if fn:
                break
    return fn


def handlers():
    names = set(COMMANDS)
    import importlib
    for module in HANDLER_MODULES:
        names |= set(importlib.import_module(module).COMMANDS)
    return names


def _help(words, name, table=None, to_stderr=False):
    """Usage on stdout, exit 0: of fastctr, of a group, or of one command
    (`fastctr help CMD` asks the command for its option table)."""
    from fastctr.cli import usage
    if not words:
        usage.top(handlers())
    elif name is None:
        usage.group(words[0], handlers(), out=sys.stderr if to_stderr else None)
    else:
        if table is None:
            try:
                handler(name)({}, ["--help"])
            except HelpRequested as e:
                table = e.table
        usage.command(words, name, table or {})
    return 0


def _usage_error(e, words):
    """Docker's CLI: a flag error exits 125, a wrong number of arguments or an
    unknown command 1; the second line says where the usage is."""
    path = " ".join(["fastctr"] + words)
    if isinstance(e, UnknownCommand):
        hint = " ".join(["fastctr"] + e.words[:-1])
        print(f"fastctr: {e}\nSee '{hint} --help'.", file=sys.stderr)
        return 1
    if isinstance(e, ArgumentCountError):
        print(f"fastctr: '{path}' {e}\nSee '{path} --help'.", file=sys.stderr)
        return 1
    print(f"fastctr: {e}\nSee '{path} --help'.", file=sys.stderr)
    return 125


def _print_version():
    from fastctr.cli import version
    print(version.line())
    return 0


def _run_options(args, command):
    from fastctr.engine import RunOptions
    opts, pos = parse(args, RUN, stop_at_positional=True)
    nargs(pos, 1)
    _traced(command, opts.pop("trace", False))
    return pos[0], RunOptions(cmd=pos[1:], **opts)


def _traced(command, flag):
    """A start traced (--trace, FASTCTR_TRACE): its stages are shown when main returns."""
    if flag or trace.enabled():
        trace.enable(command)
        trace.mark("options")


def cmd_run(g, args):
    image, opts = _run_options(args, "run")
    if opts.detach:
        print(_engine(g).run(image, opts)["id"])
        return 0
    if opts.tty:
        stdio = _attached_stdio(opts.attach, True, (0, 1, 2)) if opts.attach else (0, 1, 2)
        status = _engine(g).run(image, opts, stdio=stdio)
        return 0 if status is None else status  # None: detached with the detach keys
    # Docker: without -i the container's stdin is empty, not our terminal.
    stdio = _attached_stdio(opts.attach, opts.interactive, (0, -1, -1))
    return _engine(g).run(image, opts, stdio=stdio, sig_proxy=opts.sig_proxy is not False)


def _attached_stdio(attach, interactive, attached):
    """-a/--attach: the streams not attached are /dev/null (all are without
    -a, stdin only with -i); `attached` are the fds of the attached ones."""
    streams = ("stdin", "stdout", "stderr")
    if attach:
        from fastctr.engine.runflags import attach_streams
        streams = attach_streams(attach)
    null = -1
    stdio = []
    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        if name in streams and (fd or interactive):
            stdio.append(attached[fd])
        else:
            if null < 0:
                null = os.open("/dev/null", os.O_RDWR)
            stdio.append(null)
    return tuple(stdio)


def cmd_create(g, args):
    image, opts = _run_options(args, "create")
    print(_engine(g).create(image, opts)["id"])


def cmd_start(g, args):
    o, pos = parse(args, {"-a": ("attach", False), "--attach": ("attach", False), "-i": ("interactive", False),
                          "--interactive": ("interactive", False), "--detach-keys": ("detach_keys", True),
                          "--trace": ("trace", False)})
    _traced("start", o.get("trace"))
    if o.get("attach") or o.get("interactive"):
        nargs(pos, 1, 1)
        status = _engine(g).start(pos[0], sig_proxy=True, stdin=bool(o.get("interactive")),
                                  detach_keys=o.get("detach_keys"))
        return 0 if status is None else status  # None: detached with the detach keys
    nargs(pos, 1)
    return _each(g, pos, lambda engine, ref: engine.start_detached(ref))


def cmd_attach(g, args):
    o, pos = parse(args, {"--no-stdin": ("no_stdin", False), "--detach-keys": ("detach_keys", True),
                          "--sig-proxy": ("sig_proxy", False)})
    nargs(pos, 1, 1)
    status = _engine(g).attach(pos[0], stdin=not o.get("no_stdin"), detach_keys=o.get("detach_keys"),
                               sig_proxy=o.get("sig_proxy", True) is not False)
    return 0 if status is None else status


# --time: the docker CLI's older name of --timeout, still accepted
STOP_FLAGS = {"-t": ("time", True), "--timeout": ("time", True), "--time": ("time", True), "-s": ("signal", True),
              "--signal": ("signal", True)}


def cmd_stop(g, args):
    o, pos = parse(args, STOP_FLAGS)
    nargs(pos, 1)
    timeout = _number(o.get("time"), "-t")
    return _each(g, pos, lambda engine, ref: engine.stop(ref, timeout=timeout, sig=o.get("signal")))


def cmd_restart(g, args):
    o, pos = parse(args, STOP_FLAGS)
    nargs(pos, 1)
    timeout = _number(o.get("time"), "-t")

    def restart(engine, ref):
        from fastctr import events
        engine.stop(ref, timeout=timeout, sig=o.get("signal"))
        events.container(engine.store.root, engine.start_detached(ref), "restart")
    return _each(g, pos, restart)


def cmd_kill(g, args):
    o, pos = parse(args, {"-s": ("signal", True), "--signal": ("signal", True)})
    nargs(pos, 1)
    return _each(g, pos, lambda engine, ref: engine.kill(ref, o.get("signal") or "SIGKILL"))


def cmd_wait(g, args):
    _, pos = parse(args, {})
    nargs(pos, 1)
    return _each(g, pos, lambda engine, ref: str(engine.wait(ref)))


def cmd_container_cleanup(g, args):
    """Called by a container's monitor when its process has exited."""
    o, pos = parse(args, {"--probe": ("probe", False)})  # --probe: a health check, at the monitor's interval
    nargs(pos, 1, 1)
    engine = _engine(g)
    if not os.path.exists(os.path.join(engine.store.root, "fastctr.db")):
        return 0  # its data root was removed: no record to clean up, and none to make anew
    if o.get("probe"):
        from fastctr.engine import health
        return health.probe(engine, pos[0])
    engine.monitor_exited(pos[0])


def cmd_logs(g, args):
    o, pos = parse(args, {"-f": ("follow", False), "--follow": ("follow", False), "--tail": ("tail", True),
                          "-n": ("tail", True), "-t": ("timestamps", False), "--timestamps": ("timestamps", False),
                          "--since": ("since", True), "--until": ("until", True), "--details": ("details", False)})
    nargs(pos, 1, 1)
    from fastctr.engine import logs
    engine = _engine(g)
    c = engine.container(pos[0])
    tail = None if o.get("tail") in (None, "all") else int(_number(o["tail"], "--tail"))
    logs.show(engine, c, follow=bool(o.get("follow")), tail=tail, timestamps=bool(o.get("timestamps")),
              since=logs.parse_time(o.get("since"), "--since"), until=logs.parse_time(o.get("until"), "--until"),
              details=bool(o.get("details")))


EXEC = {"-d": ("detach", False), "--detach": ("detach", False), "-i": ("interactive", False),
        "--interactive": ("interactive", False), "-t": ("tty", False), "--tty": ("tty", False),
        "-e": ("env", True), "--env": ("env", True), "-w": ("workdir", True), "--workdir": ("workdir", True),
        "-u": ("user", True), "--user": ("user", True), "--privileged": ("privileged", False),
        "--env-file": ("env_files", True)}


def cmd_exec(g, args):
    o, pos = parse(args, EXEC, stop_at_positional=True)
    nargs(pos, 2)
    status = _engine(g).exec(pos[0], pos[1:], detach=bool(o.get("detach")), interactive=bool(o.get("interactive")),
                             tty=bool(o.get("tty")), env=o.get("env") or [], env_files=o.get("env_files") or [],
                             workdir=o.get("workdir"),
                             user=o.get("user"), privileged=bool(o.get("privileged")))
    return status or 0


def cmd_pause(g, args):
    _, pos = parse(args, {})
    nargs(pos, 1)
    return _each(g, pos, lambda engine, ref: engine.pause(ref) and ref)


def cmd_unpause(g, args):
    _, pos = parse(args, {})
    nargs(pos, 1)
    return _each(g, pos, lambda engine, ref: engine.unpause(ref) and ref)


def cmd_rename(g, args):
    _, pos = parse(args, {})
    nargs(pos, 2, 2)
    _engine(g).rename(pos[0], pos[1])


def cmd_top(g, args):
    _, pos = parse(args, {})
    nargs(pos, 1, 1)
    header, rows = _engine(g).top(pos[0])
    from fastctr.cli import template
    for line in template.tabwriter(["\t".join(header)] + ["\t".join(r) for r in rows], minwidth=20):  # docker top's
        print(line)


def cmd_stats(g, args):
    o, pos = parse(args, {"--no-stream": ("no_stream", False), "-a": ("all", False), "--all": ("all", False),
                          "--format": ("format", True)})
    from fastctr.cli import stats
    return stats.show(_engine(g), pos, stream=not o.get("no_stream"), all=bool(o.get("all")),
                      fmt=o.get("format"))


def cmd_update(g, args):
    from fastctr.engine import RunOptions
    table = {k: v for k, v in resource_flags.FLAGS.items() if v[0] in _UPDATABLE}
    o, pos = parse(args, table)
    nargs(pos, 1)
    opts = RunOptions(**o)
    return _each(g, pos, lambda engine, ref: engine.update(ref, opts) and ref)


_UPDATABLE = {"cpus", "cpu_period", "cpu_quota", "cpu_shares", "cpuset_cpus", "cpuset_mems", "memory",
              "memory_swap", "memory_reservation", "pids_limit", "blkio_weight", "cpu_rt_period", "cpu_rt_runtime"}


def cmd_rm(g, args):
    o, pos = parse(args, flags("-f/--force", "-v/--volumes"))
    nargs(pos, 1)
    from fastctr.engine import ContainerNotFoundError
    engine, status = _engine(g), 0
    for ref in pos:
        try:
            engine.rm(ref, force=bool(o.get("force")), volumes=bool(o.get("volumes")))
            print(ref)
        except ContainerNotFoundError as e:
            print(f"fastctr: {e}", file=sys.stderr)
            if o.get("force") and "ambiguous" not in str(e):  # Docker (28.2): rm -f of a missing one is no error
                continue
            status = 1
        except Exception as e:
            from fastctr.errors import FastctrError
            if not isinstance(e, (FastctrError, OSError)):
                raise
            print(f"fastctr: {e}", file=sys.stderr)
            status = 1
    return status


def cmd_ps(g, args):
    from fastctr.cli import listing
    o, pos = parse(args, listing.PS_FLAGS)
    nargs(pos, 0, 0)
    listing.ps(_engine(g), o)


def cmd_version(g, args):
    from fastctr.cli import sysinfo, version
    o, pos = parse(args, sysinfo.VERSION_FLAGS)
    nargs(pos, 0, 0)
    sysinfo.show_version(version.build_id(), o.get("format"))


COMMANDS = {name[4:]: fn for name, fn in globals().items() if name.startswith("cmd_")}

if __name__ == "__main__":
    sys.exit(main())
