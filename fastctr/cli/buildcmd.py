"""`fastctr build` and `fastctr builder prune`: docker build's flags; the
builder is fastctr.build's.  Exit 1 on a failed build (Docker's), 125 on a
flag error; progress on stderr, the image ID on stdout with -q."""
import os
import sys

from fastctr.cli.common import _engine, flags, nargs, parse

BUILD = flags("-t/--tag=", "-f/--file=", "--build-arg=", "--target=", "--no-cache", "--pull", "--network=",
              "--label=", "-q/--quiet", "--iidfile=", "--progress=", "--platform=", "--rm", "--force-rm",
              "--squash", "--secret=", "-o/--output=")
MULTI = {"tag", "build_arg", "label", "secret"}
PROGRESS = ("auto", "plain", "tty", "quiet")
NETWORKS = ("default", "none", "host", "bridge")


def cmd_build(g, args):
    from fastctr import cliargs
    o, pos = cliargs.parse(args, BUILD, multi=MULTI, help=True)
    context_arg = nargs(pos, 1, 1)[0]
    options, quiet, iidfile = _options(o)
    from fastctr.build import builder as builder_mod
    from fastctr.build import context as context_mod
    from fastctr.build import dockerfile, progress
    engine = _engine(g)
    stdin_used = context_arg == "-" or o.get("file") == "-"
    if context_arg == "-" and o.get("file") == "-":
        from fastctr.cliargs import UsageError
        raise UsageError("invalid argument: can't use stdin for both build context and dockerfile")
    _interruptible()
    ctx, stdin_dockerfile = context_mod.open_context(context_arg, engine.store, sys.stdin.buffer)
    report = progress.Progress(sys.stderr, quiet=quiet)
    try:
        text, display, path = _dockerfile(o, ctx, stdin_dockerfile, stdin_used and context_arg != "-")
        ctx.use_ignore(path)
        parsed = dockerfile.parse(text, display)
        n = report.vertex("[internal] load build definition from " + display)
        report.line(n, f"transferring dockerfile: {len(text.encode())}B done")
        report.done(n)
        b = builder_mod.Builder(engine, ctx, parsed, options, report)
        b.lines = text.splitlines()
        try:
            image_id = b.build()
        except builder_mod.BuildError as e:
            _summary(report, b, e)
            raise
    finally:
        ctx.close()
    if iidfile:
        with open(iidfile, "w") as f:
            f.write(image_id)
    if quiet and image_id:
        print(image_id)
    return 0


def _interruptible():
    """SIGTERM and SIGHUP end a build as Ctrl-C does: through the clean-up
    of the step that runs (its container removed, its layer not written)."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)


def _options(o):
    from fastctr.build.builder import Options
    from fastctr.cliargs import UsageError
    mode = o.get("progress") or "auto"
    if mode not in PROGRESS:
        raise UsageError(f"invalid --progress {mode!r}: one of {', '.join(PROGRESS)}")
    network = o.get("network") or "default"
    if network not in NETWORKS:
        raise UsageError(f"invalid --network {network!r}: fastctr build takes none, host, bridge or default")
    if o.get("rm") is False:
        raise UsageError("--rm=false is not supported: a step's container is always removed")
    if o.get("squash"):
        raise UsageError("--squash is not supported: every instruction is its own layer")
    args = {}
    for item in o.get("build_arg") or []:
        key, eq, value = item.partition("=")
        if not eq:
            if key not in os.environ:
                continue  # Docker: a name alone takes the environment's value, or nothing
            value = os.environ[key]
        args[key] = value
    labels = dict(item.partition("=")[::2] for item in o.get("label") or [])
    from fastctr.image.store import validate_name
    try:  # before anything is built, as Docker checks -t
        tags = [validate_name(t) for t in o.get("tag") or []]
    except ValueError as e:
        raise UsageError(f"invalid argument for \"-t, --tag\" flag: {e}") from None
    from fastctr.build.secrets import parse_flags
    try:
        secrets = parse_flags(o.get("secret") or [])
    except ValueError as e:
        raise UsageError(f"invalid argument for \"--secret\" flag: {e}") from None
    from fastctr.build import output
    try:
        out = output.parse(o["output"]) if o.get("output") else ("image", None)
    except ValueError as e:
        raise UsageError(f"invalid argument for \"-o, --output\" flag: {e}") from None
    if out[0] != "image" and (tags or o.get("iidfile")):
        raise UsageError(f"-t and --iidfile name an image: --output type={out[0]} makes none")
    options = Options(tags=tags, build_args=args, target=o.get("target"), secrets=secrets, output=out,
                      no_cache=bool(o.get("no_cache")), pull=bool(o.get("pull")),
                      network=None if network == "default" else network, labels=labels,
                      platform=o.get("platform"))
    return options, bool(o.get("quiet")) or mode == "quiet", o.get("iidfile")


def _dockerfile(o, ctx, stdin_text, dockerfile_from_stdin):
    """(text, the name errors use, its path or None): -f, stdin, or CONTEXT/Dockerfile."""
    from fastctr.build.context import BuildError
    name = o.get("file")
    if dockerfile_from_stdin:
        return sys.stdin.read(), "Dockerfile", None
    if stdin_text is not None:
        return stdin_text, "Dockerfile", None
    if name:
        path = name if os.path.isabs(name) or os.path.exists(name) else os.path.join(ctx.root, name)
    else:
        path = os.path.join(ctx.root, "Dockerfile")
        if not os.path.exists(path) and os.path.exists(os.path.join(ctx.root, "dockerfile")):
            path = os.path.join(ctx.root, "dockerfile")
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(), os.path.basename(path), path
    except FileNotFoundError:
        raise BuildError(f"failed to solve: failed to read dockerfile: open {os.path.basename(path)}: "
                         f"no such file or directory") from None


def _summary(report, b, e):
    from fastctr.build.steps import StepError
    if isinstance(e, StepError):
        report.failure(b.dockerfile.path, e.inst.line, e.inst.end_line, b.lines, e.title, str(e.cause))


def cmd_builder_prune(g, args):
    o, pos = parse(args, flags("-a/--all", "-f/--force", "--filter=", "--keep-storage="))
    nargs(pos, 0, 0)
    until_ns, keep_bytes = _prune_limits(o.get("filter") or [], o.get("keep_storage"))
    from fastctr.build import cache
    from fastctr.cli import units
    count, freed = cache.prune(_engine(g).store, everything=bool(o.get("all")), until_ns=until_ns,
                               keep_bytes=keep_bytes)
    if count:
        print(f"Deleted build cache objects: {count}")
    print(f"Total reclaimed space: {units.human_size(freed, 4)}")


def _prune_limits(filters, keep_storage):
    """--filter until=WHEN (what was not used since) and --keep-storage SIZE
    -> (Unix time in ns or None, bytes or None)."""
    from fastctr.cliargs import UsageError
    until_ns = None
    for item in filters:
        key, eq, value = item.partition("=")
        if key != "until" or not eq:
            raise UsageError(f"invalid filter {item!r}: fastctr's builder prune filters by until=DURATION|TIME only")
        from fastctr.cli.events import parse_time_ns
        until_ns = parse_time_ns(value, "--filter until")
    keep_bytes = None
    if keep_storage is not None:
        from fastctr.engine.resources import parse_size
        from fastctr.errors import ConfigError
        try:
            keep_bytes = parse_size(keep_storage, "--keep-storage")
        except ConfigError as e:
            raise UsageError(str(e)) from None
    return until_ns, keep_bytes


COMMANDS = {"build": cmd_build, "builder_prune": cmd_builder_prune}
