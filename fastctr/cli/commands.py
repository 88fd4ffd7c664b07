"""fastctr: the Docker-like command line.

Thin commands over fastctr.engine; every failure of fastctr itself is one
line on stderr and exit status 125 (Docker's contract); `run` returns the
command's own status, 126 when it cannot be invoked and 127 when it is not
found.  Imports are lazy: this runs on every container start."""
from fastctr import jsonfast as json  # the json package costs ~25 ms to import
import os
import sys

from fastctr import __version__
from fastctr.cli.common import GLOBAL, LISTS, _each, _engine, _number, parse
from fastctr.cliargs import UsageError
from fastctr.engine import resources as resource_flags
from fastctr.engine import security as security_flags
from fastctr.engine import options as environment_flags

USAGE = """usage: fastctr [--data-root DIR] [--state-root DIR] [--storage-driver overlay2|vfs]
               [--cgroup-parent PATH] COMMAND [OPTIONS]

commands:
  run [OPTIONS] IMAGE [COMMAND [ARG...]]   create and run a container
  create [OPTIONS] IMAGE [COMMAND...]      create a container
  start [-a] [-i] CONTAINER...              start containers in the background (-a: attached)
  attach [--no-stdin] [--detach-keys K] CONTAINER   to a running container (Ctrl-P Ctrl-Q detaches)
  exec [-d] [-i] [-t] [-e K=V] [-w DIR] [-u USER] [--privileged] CONTAINER CMD...
  pause | unpause CONTAINER...              freeze / thaw every process (freezer cgroup)
  rename CONTAINER NEW_NAME
  top CONTAINER                             its processes
  stats [--no-stream] [-a] [--format F] [CONTAINER...]   CPU %, memory, net and block I/O, pids
  update [--cpus N] [-m SIZE] [--pids-limit N] [--cpu-rt-runtime N] ... CONTAINER...   change limits, also while running
  stop [-t SECONDS] [-s SIGNAL] CONTAINER...  stop signal, then SIGKILL after -t (10)
  restart [-t SECONDS] CONTAINER...         stop, then start again
  kill [-s SIGNAL] CONTAINER...             send a signal (SIGKILL)
  wait CONTAINER...                         block until they exit; print exit codes
  logs [-f] [--tail N] [-t] [--since T] [--until T] CONTAINER   output of a detached container
  rm [-f] [-v] CONTAINER...                 remove containers (-v: and their anonymous volumes)
  container prune                           remove stopped and half-made containers
  system prune                              containers, unused networks, unnamed images
  ps [-a] [-q] [--format json|table|TEMPLATE]   list containers ({{.ID}}, {{.Names}}, ...)
  images [-q] [--format json|table]         list images
  rmi [-f] IMAGE...                         remove images
  tag IMAGE NAME[:TAG]                      name an image
  inspect [-f TEMPLATE] IMAGE|CONTAINER...  JSON description, or -f '{{.State.OOMKilled}}'
  volume create [NAME] | ls | rm NAME... | prune
  system df                                 disk use of images, containers and volumes
  history IMAGE                             layers of an image
  load -i PATH                              docker save / OCI archive or OCI layout
  pull [-q] [--platform P] [-u USER -p PASSWORD] REF   from a registry (v2)
  import ROOTFS.tar [NAME[:TAG]]            image from a root filesystem tar
  image prune                               remove unnamed images no container uses
  network create [--subnet CIDR] [--gateway IP] NAME | ls | inspect NAME | rm NAME
  network connect NETWORK CONTAINER | disconnect NETWORK CONTAINER
  export [-o FILE] CONTAINER                the container's file system as a tar
  diff CONTAINER                            its changed files: A added, C changed, D deleted
  commit [-m MSG] CONTAINER [NAME[:TAG]]    image from a container's changes
  info                                      storage driver, cgroups, kernel, features
  version
run/create options: --name N, --rm, -e/--env K=V, --env-file F, -w/--workdir D,
  -u/--user U[:G], --entrypoint CMD, -h/--hostname H, -v/--volume [SRC|NAME:]DST[:ro],
  --mount type=bind|tmpfs,..., --tmpfs DST[:OPTS], --read-only, -l/--label K=V,
  -d/--detach, -i/--interactive, -t/--tty, --detach-keys K, --sig-proxy=false, --init,
  --cap-add CAP, --cap-drop CAP, --privileged, --device HOST[:CONTAINER][:rwm],
  --security-opt no-new-privileges|seccomp=unconfined|seccomp=PROFILE.json, --stop-signal SIG,
  --stop-timeout SECONDS, --cpus N, --cpu-period, --cpu-quota, -c/--cpu-shares,
  --cpuset-cpus, --cpuset-mems, -m/--memory, --memory-swap, --memory-reservation,
  --pids-limit, --blkio-weight, --ulimit NAME=SOFT[:HARD], --shm-size, --sysctl K=V, --oom-score-adj,
  --oom-kill-disable, --memory-swappiness 0..100, --device-read-bps/--device-write-bps DEV:RATE,
  --device-read-iops/--device-write-iops DEV:N, --blkio-weight-device DEV:W, --device-cgroup-rule 'c 1:3 rwm',
  --cpu-rt-period, --cpu-rt-runtime, --cgroup-parent PATH,
  --network none|host|container:NAME|bridge|NETWORK (default: bridge; FASTCTR_DEFAULT_NETWORK),
  -p [HOST-IP:]HOST-PORT:CONTAINER-PORT[/udp], -P (publishing implies --network bridge)
"""

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
       "--pull": ("pull", True)}
RUN.update(resource_flags.FLAGS)  # --cpus, -m, --ulimit...: fastctr.resources
RUN.update(security_flags.FLAGS)  # --cap-add, --privileged, --security-opt, --device
RUN.update(environment_flags.FLAGS)  # --group-add, --pid, --ipc, --cidfile, -a...: fastctr.engine.options
def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    from fastctr.errors import CommandNotExecutable, CommandNotFound
    try:
        g, rest = parse(argv, GLOBAL, stop_at_positional=True)
        if not rest or rest[0] in ("-h", "--help", "help"):
            print(USAGE)
            return 0 if rest else 125
        cmd, args = rest[0], rest[1:]
        if cmd in ("image", "network", "container", "system", "volume") and args:
            cmd, args = f"{cmd}_{args[0]}", args[1:]
        handler = COMMANDS.get(cmd)
        if handler is None:
            from fastctr.cli import objects  # images, volumes, networks, system
            handler = objects.COMMANDS.get(cmd)
        if handler is None and cmd in ("cp", "diff", "container_cp", "container_diff"):
            from fastctr.cli import files
            handler = files.COMMANDS[cmd]
        if handler is None:
            raise UsageError(f"unknown command {cmd!r} (see fastctr --help)")
        return handler(g, args) or 0
    except UsageError as e:
        print(f"fastctr: {e}", file=sys.stderr)
        return 125
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
        return 125


def _run_options(args):
    from fastctr.engine import RunOptions
    opts, pos = parse(args, RUN, stop_at_positional=True)
    if not pos:
        raise UsageError("requires an IMAGE argument")
    return pos[0], RunOptions(cmd=pos[1:], **opts)


def cmd_run(g, args):
    image, opts = _run_options(args)
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
    image, opts = _run_options(args)
    print(_engine(g).create(image, opts)["id"])


def cmd_start(g, args):
    o, pos = parse(args, {"-a": ("attach", False), "--attach": ("attach", False), "-i": ("interactive", False),
                          "--interactive": ("interactive", False), "--detach-keys": ("detach_keys", True)})
    if o.get("attach") or o.get("interactive"):
        if len(pos) != 1:
            raise UsageError("start -a needs one container")
        status = _engine(g).start(pos[0], sig_proxy=True, stdin=bool(o.get("interactive")),
                                  detach_keys=o.get("detach_keys"))
        return 0 if status is None else status  # None: detached with the detach keys
    if not pos:
        raise UsageError("start needs at least one container")
    return _each(g, pos, lambda engine, ref: engine.start_detached(ref))


def cmd_attach(g, args):
    o, pos = parse(args, {"--no-stdin": ("no_stdin", False), "--detach-keys": ("detach_keys", True),
                          "--sig-proxy": ("sig_proxy", False)})
    if len(pos) != 1:
        raise UsageError("attach needs one container")
    status = _engine(g).attach(pos[0], stdin=not o.get("no_stdin"), detach_keys=o.get("detach_keys"))
    return 0 if status is None else status


def cmd_stop(g, args):
    o, pos = parse(args, {"-t": ("time", True), "--time": ("time", True), "-s": ("signal", True),
                          "--signal": ("signal", True)})
    if not pos:
        raise UsageError("stop needs at least one container")
    timeout = _number(o.get("time"), "-t")
    return _each(g, pos, lambda engine, ref: engine.stop(ref, timeout=timeout, sig=o.get("signal")))


def cmd_restart(g, args):
    o, pos = parse(args, {"-t": ("time", True), "--time": ("time", True)})
    if not pos:
        raise UsageError("restart needs at least one container")
    timeout = _number(o.get("time"), "-t")

    def restart(engine, ref):
        engine.stop(ref, timeout=timeout)
        engine.start_detached(ref)
    return _each(g, pos, restart)


def cmd_kill(g, args):
    o, pos = parse(args, {"-s": ("signal", True), "--signal": ("signal", True)})
    if not pos:
        raise UsageError("kill needs at least one container")
    return _each(g, pos, lambda engine, ref: engine.kill(ref, o.get("signal") or "SIGKILL"))


def cmd_wait(g, args):
    _, pos = parse(args, {})
    if not pos:
        raise UsageError("wait needs at least one container")
    return _each(g, pos, lambda engine, ref: str(engine.wait(ref)))


def cmd_container_cleanup(g, args):
    """Called by a container's monitor when its process has exited."""
    _, pos = parse(args, {})
    if len(pos) != 1:
        raise UsageError("container cleanup needs one container")
    _engine(g).cleanup(pos[0])


def cmd_logs(g, args):
    o, pos = parse(args, {"-f": ("follow", False), "--follow": ("follow", False), "--tail": ("tail", True),
                          "-n": ("tail", True), "-t": ("timestamps", False), "--timestamps": ("timestamps", False),
                          "--since": ("since", True), "--until": ("until", True)})
    if len(pos) != 1:
        raise UsageError("logs needs one container")
    from fastctr.engine import logs
    engine = _engine(g)
    c = engine.container(pos[0])
    tail = None if o.get("tail") in (None, "all") else int(_number(o["tail"], "--tail"))
    logs.show(engine, c, follow=bool(o.get("follow")), tail=tail, timestamps=bool(o.get("timestamps")),
              since=logs.parse_time(o.get("since"), "--since"), until=logs.parse_time(o.get("until"), "--until"))


EXEC = {"-d": ("detach", False), "--detach": ("detach", False), "-i": ("interactive", False),
        "--interactive": ("interactive", False), "-t": ("tty", False), "--tty": ("tty", False),
        "-e": ("env", True), "--env": ("env", True), "-w": ("workdir", True), "--workdir": ("workdir", True),
        "-u": ("user", True), "--user": ("user", True), "--privileged": ("privileged", False),
        "--env-file": ("env_files", True)}


def cmd_exec(g, args):
    o, pos = parse(args, EXEC, stop_at_positional=True)
    if len(pos) < 2:
        raise UsageError("exec needs a CONTAINER and a COMMAND")
    status = _engine(g).exec(pos[0], pos[1:], detach=bool(o.get("detach")), interactive=bool(o.get("interactive")),
                             tty=bool(o.get("tty")), env=o.get("env") or [], env_files=o.get("env_files") or [],
                             workdir=o.get("workdir"),
                             user=o.get("user"), privileged=bool(o.get("privileged")))
    return status or 0


def cmd_pause(g, args):
    _, pos = parse(args, {})
    if not pos:
        raise UsageError("pause needs at least one container")
    return _each(g, pos, lambda engine, ref: engine.pause(ref) and ref)


def cmd_unpause(g, args):
    _, pos = parse(args, {})
    if not pos:
        raise UsageError("unpause needs at least one container")
    return _each(g, pos, lambda engine, ref: engine.unpause(ref) and ref)


def cmd_rename(g, args):
    _, pos = parse(args, {})
    if len(pos) != 2:
        raise UsageError("rename needs CONTAINER and NEW_NAME")
    _engine(g).rename(pos[0], pos[1])


def cmd_top(g, args):
    _, pos = parse(args, {})
    if len(pos) != 1:
        raise UsageError("top needs one container")
    header, rows = _engine(g).top(pos[0])
    from fastctr.cli import template
    for line in template._align(["\t".join(header)] + ["\t".join(r) for r in rows]):
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
    if not pos:
        raise UsageError("update needs at least one container")
    opts = RunOptions(**o)
    return _each(g, pos, lambda engine, ref: engine.update(ref, opts) and ref)


_UPDATABLE = {"cpus", "cpu_period", "cpu_quota", "cpu_shares", "cpuset_cpus", "cpuset_mems", "memory",
              "memory_swap", "memory_reservation", "pids_limit", "blkio_weight", "cpu_rt_period", "cpu_rt_runtime"}


def cmd_rm(g, args):
    o, pos = parse(args, dict(LISTS, **{"-v": ("volumes", False), "--volumes": ("volumes", False)}))
    if not pos:
        raise UsageError("rm needs at least one container")
    engine, status = _engine(g), 0
    for ref in pos:
        try:
            engine.rm(ref, force=bool(o.get("force")), volumes=bool(o.get("volumes")))
            print(ref)
        except Exception as e:
            from fastctr.errors import FastctrError
            if not isinstance(e, (FastctrError, OSError)):
                raise
            print(f"fastctr: {e}", file=sys.stderr)
            status = 125
    return status


def cmd_ps(g, args):
    from fastctr.cli.common import human_ago
    o, _ = parse(args, LISTS)
    engine = _engine(g)
    rows = engine.ps(all=bool(o.get("all")))
    if o.get("quiet"):
        for c in rows:
            print(c["id"][:12])
        return
    if o.get("format") == "json":
        for c in rows:
            print(json.dumps({"ID": c["id"], "Names": c["name"], "Image": c["config"].get("image", c["image_id"]),
                              "Status": c["status"], "ExitCode": c["exit_code"], "Created": c["created"],
                              "Labels": c["labels"]}))
        return
    from fastctr.cli import template
    fmt = o.get("format") or "table"
    if fmt == "table":  # Docker's columns
        fmt = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
    for line in template.table(fmt, [_ps_row(c, human_ago) for c in rows]):
        print(line)


def _ps_row(c, human_ago):
    status = {"running": "Up", "created": "Created", "paused": "Up (Paused)", "dead": "Dead",
              "creating": "Creating"}.get(c["status"], f"Exited ({c['exit_code']})")
    command = " ".join(c["config"].get("command") or [])
    command = '"' + (command if len(command) <= 20 else command[:19] + "…") + '"'
    return {"ID": c["id"][:12], "Image": str(c["config"].get("image", c["image_id"][7:19])), "Command": command,
            "RunningFor": human_ago(c["created"]), "CreatedAt": c["created"], "Status": status,
            "State": c["status"], "Names": c["name"], "Labels": c["labels"],
            "Ports": ", ".join(f"{p[0] or '0.0.0.0'}:{p[1]}->{p[2]}/{p[3]}" for p in c["config"].get("ports") or [])}


def cmd_version(g, args):
    print(f"fastctr version {__version__}")


COMMANDS = {name[4:]: fn for name, fn in globals().items() if name.startswith("cmd_")}

if __name__ == "__main__":
    sys.exit(main())
