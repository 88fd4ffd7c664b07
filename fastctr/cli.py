"""fastctr: the Docker-like command line.

Thin commands over fastctr.engine; every failure of fastctr itself is one
line on stderr and exit status 125 (Docker's contract); `run` returns the
command's own status, 126 when it cannot be invoked and 127 when it is not
found.  Imports are lazy: this runs on every container start."""
from fastctr import jsonfast as json  # the json package costs ~25 ms to import
import os
import sys

from fastctr import __version__, cliargs
from fastctr import resources as resource_flags
from fastctr import security as security_flags
from fastctr.cliargs import UsageError

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
  update [--cpus N] [-m SIZE] [--pids-limit N] ... CONTAINER...   change limits, also while running
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
  --network none|host|container:NAME|bridge|NETWORK (default: bridge; FASTCTR_DEFAULT_NETWORK),
  -p [HOST-IP:]HOST-PORT:CONTAINER-PORT[/udp], -P (publishing implies --network bridge)
"""

GLOBAL = {"--data-root": ("data_root", True), "--state-root": ("state_root", True),
          "--storage-driver": ("driver", True), "--cgroup-parent": ("cgroup_parent", True)}
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
       "--detach-keys": ("detach_keys", True), "--stop-timeout": ("stop_timeout", True)}
RUN.update(resource_flags.FLAGS)  # --cpus, -m, --ulimit...: fastctr.resources
RUN.update(security_flags.FLAGS)  # --cap-add, --privileged, --security-opt, --device
MULTI = {"env", "env_files", "volumes", "mounts", "tmpfs", "labels", "publish"} | resource_flags.MULTI \
    | security_flags.MULTI
LISTS = {"-a": ("all", False), "--all": ("all", False), "-q": ("quiet", False), "--quiet": ("quiet", False),
         "--format": ("format", True), "-f": ("force", False), "--force": ("force", False),
         "-i": ("input", True), "--input": ("input", True), "--no-trunc": ("no_trunc", False)}


def parse(argv, table, stop_at_positional=False):
    return cliargs.parse(argv, table, stop_at_positional, multi=MULTI)


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


def _engine(g):
    from fastctr.engine import Engine
    return Engine(data_root=g.get("data_root"), state_root=g.get("state_root"), driver=g.get("driver"),
                  cgroup_parent=g.get("cgroup_parent") or os.environ.get("FASTCTR_CGROUP_PARENT"))


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
        status = _engine(g).run(image, opts)
        return 0 if status is None else status  # None: detached with the detach keys
    # Docker: without -i the container's stdin is empty, not our terminal.
    stdin = 0 if opts.interactive else os.open("/dev/null", os.O_RDONLY)
    return _engine(g).run(image, opts, stdio=(stdin, -1, -1), sig_proxy=opts.sig_proxy is not False)


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
    from fastctr import logs
    engine = _engine(g)
    c = engine.container(pos[0])
    tail = None if o.get("tail") in (None, "all") else int(_number(o["tail"], "--tail"))
    logs.show(engine, c, follow=bool(o.get("follow")), tail=tail, timestamps=bool(o.get("timestamps")),
              since=logs.parse_time(o.get("since"), "--since"), until=logs.parse_time(o.get("until"), "--until"))


EXEC = {"-d": ("detach", False), "--detach": ("detach", False), "-i": ("interactive", False),
        "--interactive": ("interactive", False), "-t": ("tty", False), "--tty": ("tty", False),
        "-e": ("env", True), "--env": ("env", True), "-w": ("workdir", True), "--workdir": ("workdir", True),
        "-u": ("user", True), "--user": ("user", True), "--privileged": ("privileged", False)}


def cmd_exec(g, args):
    o, pos = parse(args, EXEC, stop_at_positional=True)
    if len(pos) < 2:
        raise UsageError("exec needs a CONTAINER and a COMMAND")
    status = _engine(g).exec(pos[0], pos[1:], detach=bool(o.get("detach")), interactive=bool(o.get("interactive")),
                             tty=bool(o.get("tty")), env=o.get("env") or [], workdir=o.get("workdir"),
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
    from fastctr import template
    for line in template._align(["\t".join(header)] + ["\t".join(r) for r in rows]):
        print(line)


def cmd_stats(g, args):
    o, pos = parse(args, {"--no-stream": ("no_stream", False), "-a": ("all", False), "--all": ("all", False),
                          "--format": ("format", True)})
    from fastctr import stats
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
              "memory_swap", "memory_reservation", "pids_limit", "blkio_weight"}


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
    from fastctr.engine import human_ago
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
    from fastctr import template
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


def cmd_images(g, args):
    from fastctr.engine import human_ago
    o, _ = parse(args, LISTS)
    store = _engine(g).store
    rows = [store.image(i) for i in store.image_ids()]
    if o.get("quiet"):
        for im in rows:
            print(im["id"][7:19])
        return
    if o.get("format") == "json":
        for im in rows:
            print(json.dumps({"ID": im["id"], "RepoTags": im["tags"], "Size": im["size"], "Created": im["created"]}))
        return
    print(f"{'REPOSITORY':<30}{'TAG':<12}{'IMAGE ID':<15}{'CREATED':<18}SIZE")
    for im in rows:
        for tag in im["tags"] or ["<none>:<none>"]:
            repo, _, t = tag.rpartition(":")
            print(f"{repo:<30}{t:<12}{im['id'][7:19]:<15}{human_ago(im['created']):<18}{_size(im['size'])}")


def _size(n):
    n = n or 0
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.3g}{unit}"
        n /= 1000
    return f"{n:.3g}TB"


def cmd_rmi(g, args):
    o, pos = parse(args, LISTS)
    if not pos:
        raise UsageError("rmi needs at least one image")
    engine = _engine(g)
    for ref in pos:
        for line in engine.rmi(ref, force=bool(o.get("force"))):
            print(line)


def cmd_tag(g, args):
    _, pos = parse(args, {})
    if len(pos) != 2:
        raise UsageError("tag needs IMAGE and NAME[:TAG]")
    store = _engine(g).store
    store.tag(store.resolve(pos[0]), pos[1])


def cmd_inspect(g, args):
    o, pos = parse(args, {"--type": ("type", True), "-f": ("format", True), "--format": ("format", True)})
    if not pos:
        raise UsageError("inspect needs at least one object")
    kind = o.get("type")
    if kind not in (None, "container", "image"):
        raise UsageError(f"inspect --type must be container or image, not {kind!r}")
    engine, out, status = _engine(g), [], 0
    for ref in pos:
        try:
            out.append(_inspect_one(engine, ref, kind))
        except LookupError as e:  # as Docker: the others are still shown
            print(f"fastctr: {e}", file=sys.stderr)
            status = 125
    if o.get("format"):
        from fastctr import template
        for doc in out:
            print(template.render(o["format"], doc))
        return status
    print(json.dumps(out, indent=2))
    return status


def _inspect_one(engine, ref, kind):
    if kind != "container":
        try:
            return _inspect_image(engine, engine.store.resolve(ref))
        except LookupError:
            if kind == "image":
                raise
    return engine.inspect_container(engine.container(ref))


def _inspect_image(engine, image_id):
    im = engine.store.image(image_id)
    cfg = im["config"]
    return {"Id": im["id"], "RepoTags": im["tags"], "Created": im["created"], "Size": im["size"],
            "Architecture": cfg.get("architecture"), "Os": cfg.get("os"), "Config": cfg.get("config") or {},
            "RootFS": cfg.get("rootfs"), "History": cfg.get("history") or [],
            "GraphDriver": {"Name": engine.driver.name}}


def cmd_image_inspect(g, args):
    _, pos = parse(args, {})
    if not pos:
        raise UsageError("image inspect needs at least one image")
    engine = _engine(g)
    print(json.dumps([_inspect_image(engine, engine.store.resolve(r)) for r in pos], indent=2))


def cmd_history(g, args):
    _, pos = parse(args, LISTS)
    if len(pos) != 1:
        raise UsageError("history needs one image")
    store = _engine(g).store
    cfg = store.image(store.resolve(pos[0]))["config"]
    print(f"{'CREATED':<22}{'CREATED BY':<60}COMMENT")
    for h in reversed(cfg.get("history") or []):
        print(f"{h.get('created', ''):<22}{h.get('created_by', '')[:59]:<60}{h.get('comment', '')}")


def cmd_image_history(g, args):
    return cmd_history(g, args)


def cmd_load(g, args):
    o, pos = parse(args, LISTS)
    path = o.get("input") or (pos[0] if pos else None)
    if not path:
        raise UsageError("load needs -i PATH")
    from fastctr import images
    engine = _engine(g)
    for image_id, names in images.load(engine.store, engine.driver, path):
        if names:
            for n in names:
                print(f"Loaded image: {n}")
        else:
            print(f"Loaded image ID: {image_id}")


def cmd_pull(g, args):
    o, pos = parse(args, {"-q": ("quiet", False), "--quiet": ("quiet", False), "--platform": ("platform", True),
                          "-u": ("user", True), "--username": ("user", True),
                          "-p": ("password", True), "--password": ("password", True)})
    if len(pos) != 1:
        raise UsageError("pull needs one image reference")
    from fastctr import images, registry
    auth = (o["user"], o.get("password", "")) if o.get("user") else None
    progress = None if o.get("quiet") else registry.progress_bar(sys.stdout)
    engine = _engine(g)
    image_id = images.pull(engine.store, engine.driver, pos[0], auth=auth, progress=progress,
                           platform=o.get("platform"))
    if not o.get("quiet"):
        print(f"Digest: {image_id}")
    print(images._pull_name(registry.Reference.parse(pos[0])))


def cmd_import(g, args):
    _, pos = parse(args, {})
    if not 1 <= len(pos) <= 2:
        raise UsageError("import needs ROOTFS.tar [NAME[:TAG]]")
    from fastctr import images
    engine = _engine(g)
    print(images.import_rootfs(engine.store, engine.driver, pos[0], pos[1] if len(pos) == 2 else None))


def cmd_container_prune(g, args):
    parse(args, {"-f": ("force", False), "--force": ("force", False)})
    removed = _engine(g).prune_containers()
    for cid in removed:
        print(cid)
    print(f"Total containers removed: {len(removed)}")


def cmd_system_prune(g, args):
    """Stopped and half-made containers, unused user networks, unnamed
    images nobody uses."""
    parse(args, {"-f": ("force", False), "--force": ("force", False), "-a": ("all", False)})
    engine = _engine(g)
    removed = engine.prune_containers()
    print(f"Deleted containers: {len(removed)}")
    from fastctr.ipam import DEFAULT_NETWORK
    nets = 0
    for net in engine.ipam.networks():
        if net["name"] != DEFAULT_NETWORK and not engine.ipam.network(net["name"])["endpoints"]:
            engine.remove_network(net["name"])
            nets += 1
    print(f"Deleted networks: {nets}")
    cmd_image_prune(g, [])


def cmd_volume_create(g, args):
    _, pos = parse(args, {})
    if len(pos) > 1:
        raise UsageError("volume create takes at most one NAME")
    from fastctr.volumes import Volumes
    print(Volumes(_engine(g).store).create(pos[0] if pos else None))


def cmd_volume_ls(g, args):
    o, _ = parse(args, LISTS)
    from fastctr.volumes import Volumes
    volumes = Volumes(_engine(g).store)
    if not o.get("quiet"):
        print("DRIVER    VOLUME NAME")
    for name in volumes.names():
        print(name if o.get("quiet") else f"local     {name}")


def cmd_volume_rm(g, args):
    o, pos = parse(args, LISTS)
    if not pos:
        raise UsageError("volume rm needs at least one volume")
    from fastctr.volumes import Volumes
    return _each(g, pos, lambda engine, name: Volumes(engine.store).remove(name, force=bool(o.get("force"))))


def cmd_volume_prune(g, args):
    """Volumes no container uses (Docker prunes the anonymous ones; -a all)."""
    o, _ = parse(args, dict(LISTS, **{"-a": ("all", False)}))
    from fastctr.volumes import Volumes
    volumes = Volumes(_engine(g).store)
    for name in volumes.names():
        anonymous = len(name) == 64 and all(c in "0123456789abcdef" for c in name)
        if (anonymous or o.get("all")) and not volumes.users(name):
            volumes.remove(name)
            print(name)


def cmd_system_df(g, args):
    parse(args, {})
    from fastctr.volumes import Volumes, tree_size
    engine = _engine(g)
    store = engine.store
    images = [store.image(i) for i in store.image_ids()]
    used_images = {c["image_id"] for c in engine.ps(all=True)}
    containers = engine.ps(all=True)
    sizes = {c["id"]: tree_size(engine._cdir(c)) for c in containers}
    volumes = Volumes(store)
    vol_sizes = {n: volumes.size(n) for n in volumes.names()}
    vol_used = {n for n in vol_sizes if volumes.users(n)}
    rows = [("Images", len(images), len([i for i in images if i["id"] in used_images]),
             sum(i["size"] or 0 for i in images), sum(i["size"] or 0 for i in images if i["id"] not in used_images)),
            ("Containers", len(containers), len([c for c in containers if c["status"] in ("running", "paused")]),
             sum(sizes.values()),
             sum(s for cid, s in sizes.items() if cid not in {c["id"] for c in containers
                                                               if c["status"] in ("running", "paused")})),
            ("Local Volumes", len(vol_sizes), len(vol_used), sum(vol_sizes.values()),
             sum(s for n, s in vol_sizes.items() if n not in vol_used)),
            ("Build Cache", 0, 0, 0, 0)]
    from fastctr import tmpwork
    temp = tmpwork.usage(store.root)
    if temp["live"][0] or temp["dead"][0]:  # loads and pulls under way, or killed (prune reclaims those)
        rows.append(("Temporary", temp["live"][0] + temp["dead"][0], temp["live"][0],
                     temp["live"][1] + temp["dead"][1], temp["dead"][1]))
    print(f"{'TYPE':<16}{'TOTAL':<10}{'ACTIVE':<10}{'SIZE':<12}RECLAIMABLE")
    for kind, total, active, size, reclaimable in rows:
        print(f"{kind:<16}{total:<10}{active:<10}{_size(size):<12}{_size(reclaimable)}")


def cmd_image_prune(g, args):
    from fastctr import images
    engine = _engine(g)
    store = engine.store
    for image_id in store.image_ids():
        im = store.image(image_id)
        if not im["tags"] and not store.containers_using(image_id):
            for line in engine.rmi(image_id):
                print(line)
    freed = images.prune_unreferenced(store)  # what killed loads and pulls left
    print(f"Total reclaimed space: {_size(freed)}")


def cmd_info(g, args):
    from fastctr import cgroups, drivers
    engine = _engine(g)
    info = {
        "ServerVersion": __version__, "Driver": engine.driver.name, "DockerRootDir": engine.store.root,
        "BackingFilesystem": _fs_type(engine.store.root), "CgroupVersion": str(cgroups.host_version()),
        "KernelVersion": os.uname().release, "Architecture": os.uname().machine,
        "Images": len(engine.store.image_ids()), "Containers": len(engine.ps(all=True)),
        "Networking": {"ip_forward": _read_sysctl("net/ipv4/ip_forward"),
                       "nftables": bool(_which("nft")),
                       "networks": [n["name"] for n in engine.ipam.networks()]},
        "Features": {"overlay2": drivers.Overlay2.supported(engine.store.root),
                     "clone3_into_cgroup": cgroups.host_version() == 2,
                     "user_namespaces": os.path.exists("/proc/self/ns/user")},
    }
    print(json.dumps(info, indent=2))


def _read_sysctl(name):
    try:
        with open(f"/proc/sys/{name}") as f:
            return f.read().strip()
    except OSError:
        return None


def _which(tool):
    return any(os.access(os.path.join(d, tool), os.X_OK) for d in os.environ.get("PATH", "").split(":") if d)


def _fs_type(path):
    best, fstype = "", "unknown"
    with open("/proc/self/mounts") as f:
        for line in f:
            _, mnt, fs = line.split()[:3]
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                best, fstype = mnt, fs
    return fstype


def cmd_export(g, args):
    o, pos = parse(args, {"-o": ("output", True), "--output": ("output", True)})
    if len(pos) != 1:
        raise UsageError("export needs one container")
    engine = _engine(g)
    if o.get("output"):
        tmp = o["output"] + ".tmp"
        with open(tmp, "wb") as f:
            engine.export(pos[0], f)
        os.rename(tmp, o["output"])
    elif sys.stdout.isatty():
        raise UsageError("refusing to write a tar to a terminal: use -o FILE or a redirect")
    else:
        engine.export(pos[0], sys.stdout.buffer)


def cmd_commit(g, args):
    o, pos = parse(args, {"-m": ("message", True), "--message": ("message", True)})
    if not 1 <= len(pos) <= 2:
        raise UsageError("commit needs CONTAINER [NAME[:TAG]]")
    print(_engine(g).commit(pos[0], pos[1] if len(pos) == 2 else None, o.get("message", "")))


def cmd_network_create(g, args):
    o, pos = parse(args, {"--subnet": ("subnet", True), "--gateway": ("gateway", True),
                          "-d": ("driver", True), "--driver": ("driver", True)})
    if len(pos) != 1:
        raise UsageError("network create needs one NAME")
    if o.get("driver", "bridge") != "bridge":
        raise UsageError("only the bridge network driver is supported")
    print(_engine(g).create_network(pos[0], subnet=o.get("subnet"), gateway=o.get("gateway"))["id"])


def cmd_network_ls(g, args):
    o, _ = parse(args, LISTS)
    nets = _engine(g).ipam.networks()
    if o.get("quiet"):
        for n in nets:
            print(n["id"][:12])
        return
    print(f"{'NETWORK ID':<14}{'NAME':<20}{'SUBNET':<18}{'GATEWAY':<16}BRIDGE")
    for n in nets:
        print(f"{n['id'][:12]:<14}{n['name']:<20}{n['subnet']:<18}{n['gateway']:<16}{n['bridge']}")


def cmd_network_inspect(g, args):
    _, pos = parse(args, {})
    if not pos:
        raise UsageError("network inspect needs at least one network")
    ipam = _engine(g).ipam
    print(json.dumps([ipam.network(n) for n in pos], indent=2))


def cmd_network_rm(g, args):
    _, pos = parse(args, {})
    if not pos:
        raise UsageError("network rm needs at least one network")
    engine = _engine(g)
    for name in pos:
        engine.remove_network(name)
        print(name)


def cmd_network_connect(g, args):
    _, pos = parse(args, {})
    if len(pos) != 2:
        raise UsageError("network connect needs NETWORK CONTAINER")
    _engine(g).connect(pos[0], pos[1])


def cmd_network_disconnect(g, args):
    _, pos = parse(args, {})
    if len(pos) != 2:
        raise UsageError("network disconnect needs NETWORK CONTAINER")
    _engine(g).disconnect(pos[0], pos[1])


def cmd_version(g, args):
    print(f"fastctr version {__version__}")


COMMANDS = {name[4:]: fn for name, fn in globals().items() if name.startswith("cmd_")}

if __name__ == "__main__":
    sys.exit(main())
