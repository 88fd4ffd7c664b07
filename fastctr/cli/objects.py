"""`fastctr` commands about what is not one container: images (images, rmi,
tag, inspect, history, load, pull, import, export, commit, prune), volumes,
networks and the system (prune, df, info).  Imported only for them."""
from fastctr import events
import os
import sys

from fastctr.cli import networks  # network create|ls|rm|prune, port
from fastctr.cli import units
from fastctr.cli.common import _each, _engine, flags, nargs, parse
from fastctr.cliargs import UsageError
from fastctr.errors import FastctrError


def cmd_images(g, args):
    from fastctr.cli import imagelist
    o, pos = parse(args, imagelist.IMAGES_FLAGS)  # -a: fastctr makes no intermediate images to hide
    imagelist.images(_engine(g).store, o, nargs(pos, 0, 1))


def cmd_rmi(g, args):
    o, pos = parse(args, flags("-f/--force"))
    nargs(pos, 1)
    engine = _engine(g)
    for ref in pos:
        for line in engine.rmi(ref, force=bool(o.get("force"))):
            print(line)


def cmd_tag(g, args):
    _, pos = parse(args, {})
    nargs(pos, 2, 2)
    engine = _engine(g)
    image_id = engine.store.resolve(pos[0])
    events.image(engine.store.root, image_id, "tag", engine.store.tag(image_id, pos[1]))


INSPECT_FLAGS = flags("-f/--format=")
INSPECT_KINDS = ("container", "image", "network", "volume")


def cmd_inspect(g, args):
    """Docker's objects by name or ID: a container, else an image, a network,
    a volume (docker's order), or only the --type given."""
    o, pos = parse(args, dict(INSPECT_FLAGS, **flags("--type=", "-s/--size")))
    nargs(pos, 1)
    kind = o.get("type")
    if kind is not None and kind not in INSPECT_KINDS:
        raise UsageError(f"inspect --type {kind!r}: fastctr has objects of type {', '.join(INSPECT_KINDS)}")
    engine = _engine(g)
    return _print_objects(pos, o.get("format"), lambda ref: _find_object(engine, ref, kind, bool(o.get("size"))))


class _NoSuchObject(Exception):
    pass


def _find_object(engine, ref, kind, size=False):
    from fastctr.engine import model, model_net, model_objects
    from fastctr.errors import NetworkError, StoreError
    finders = (("container", lambda: model.container_json(engine, engine.container(ref), size=size)),
               ("image", lambda: model_objects.image_inspect(engine, engine.store.resolve(ref))),
               ("network", lambda: model_net.network_resource(engine, ref)),
               ("volume", lambda: model_objects.volume_doc(engine.store, ref)))
    for name, find in finders:
        if kind and name != kind:
            continue
        try:
            doc = find()
        except (LookupError, NetworkError, StoreError) as e:
            if "ambiguous" in str(e):
                raise _NoSuchObject(f"Error: {e}") from None
            if kind:
                raise _NoSuchObject(f"Error: No such {kind}: {ref}") from None
            continue
        if size and name != "container":
            print(f"WARNING: --size ignored for {name}", file=sys.stderr)
        return doc
    raise _NoSuchObject(f"Error: No such object: {ref}")


def _print_objects(refs, fmt, find):
    """As docker's inspect: every object found is printed (JSON, or one
    line each of -f TEMPLATE), the missing ones are named on stderr, and
    the command fails if any was missing."""
    docs, missing = [], []
    for ref in refs:
        try:
            docs.append(find(ref))
        except _NoSuchObject as e:
            missing.append(str(e))
    if not fmt or fmt == "json":
        import json as go_like  # Go's encoder keeps non-ASCII text as it is
        print(go_like.dumps(docs, indent=None if fmt else 4, separators=(",", ":") if fmt else None,
                            ensure_ascii=False))
    else:
        from fastctr.cli import template
        print("\n".join(template.render(fmt, doc) for doc in docs))
    for line in missing:
        print(line, file=sys.stderr)
    return 1 if missing else 0


def cmd_container_inspect(g, args):
    o, pos = parse(args, dict(INSPECT_FLAGS, **flags("-s/--size")))
    nargs(pos, 1)
    engine = _engine(g)
    return _print_objects(pos, o.get("format"),
                          lambda ref: _find_object(engine, ref, "container", bool(o.get("size"))))


def cmd_image_inspect(g, args):
    o, pos = parse(args, INSPECT_FLAGS)
    nargs(pos, 1)
    engine = _engine(g)
    return _print_objects(pos, o.get("format"), lambda ref: _find_object(engine, ref, "image"))


def cmd_history(g, args):
    from fastctr.cli import imagelist
    o, pos = parse(args, imagelist.HISTORY_FLAGS)
    imagelist.history(_engine(g), nargs(pos, 1, 1)[0], o)


def cmd_image_history(g, args):
    return cmd_history(g, args)


def cmd_load(g, args):
    o, pos = parse(args, flags("-i/--input=", "-q/--quiet"))  # -q: there is no progress to hide
    nargs(pos, 0, 0)
    path = o.get("input") or "-"
    from fastctr.image import loading as images
    engine = _engine(g)
    before = dict(engine.store.names())
    if path == "-":
        if sys.stdin.isatty():
            raise FastctrError("requested load from stdin, but stdin is empty")  # Docker's CLI: exit 1
        loaded = images.load_stream(engine.store, engine.driver, sys.stdin.buffer)
    else:
        loaded = images.load(engine.store, engine.driver, path)
    for image_id, names in loaded:
        events.image(engine.store.root, image_id, "load")
        for n in names:
            if before.get(n, image_id) != image_id:  # the name moved to the loaded image, as in Docker
                print(f"The image {n} already exists, renaming the old one with ID {before[n]} to empty string")
            print(f"Loaded image: {n}")
        if not names:
            print(f"Loaded image ID: {image_id}")


def cmd_pull(g, args):
    o, pos = parse(args, {"-q": ("quiet", False), "--quiet": ("quiet", False), "--platform": ("platform", True),
                          "-u": ("user", True), "--username": ("user", True),
                          "-p": ("password", True), "--password": ("password", True),
                          "-a": ("all_tags", False), "--all-tags": ("all_tags", False)})
    nargs(pos, 1, 1)
    from fastctr.image import loading as images, progress, reference
    given = reference.parse_normalized(pos[0])
    auth = (o["user"], o.get("password", "")) if o.get("user") else None
    engine = _engine(g)
    if o.get("all_tags"):
        if given.tag or given.digest:
            raise FastctrError("tag can't be used with --all-tags/-a")
        refs = [f"{given.name}:{tag}" for tag in images.remote_tags(pos[0], auth=auth)]
    else:
        refs = [pos[0]]
    for text in refs:
        ref = reference.parse_normalized(text).with_default_tag()
        images.pull(engine.store, engine.driver, text, auth=auth, platform=o.get("platform"),
                    report=progress.PullReport(sys.stdout, quiet=bool(o.get("quiet"))))
        events.image(engine.store.root, ref.familiar(), "pull", ref.familiar_name)
    print(given if o.get("all_tags") else given.with_default_tag())


def cmd_import(g, args):
    _, pos = parse(args, {})
    nargs(pos, 1, 2)
    from fastctr.image import loading as images
    engine = _engine(g)
    image_id = images.import_rootfs(engine.store, engine.driver, pos[0], pos[1] if len(pos) == 2 else None)
    events.image(engine.store.root, image_id, "import")
    print(image_id)


def cmd_container_prune(g, args):
    o, pos = parse(args, flags("-f/--force"))
    nargs(pos, 0, 0)
    removed, freed = _prune_containers(_engine(g))
    _prune_report("Containers", removed)
    print(f"Total reclaimed space: {units.human_size(freed, 4)}")


def _prune_containers(engine):
    """The stopped containers removed, and the bytes their writable layers held."""
    from fastctr.cli.listing import _files_size
    sizes = {}
    for c in engine.ps(all=True):
        if c["status"] not in ("running", "paused"):
            try:
                sizes[c["id"]] = _files_size(engine._cdir(c) + ("/upper" if c["driver"] == "overlay2" else ""))
            except OSError:
                sizes[c["id"]] = 0
    removed = engine.prune_containers()
    return removed, sum(sizes.get(cid, 0) for cid in removed)


def _prune_report(kind, names):
    """Docker's `Deleted Containers:` block, a blank line after it; nothing
    when nothing went."""
    if names:
        print(f"Deleted {kind}:")
        for name in names:
            print(name)
        print()


def cmd_system_prune(g, args):
    """Stopped and half-made containers, unused user networks, unnamed
    images nobody uses (-a: every image no container uses)."""
    o, pos = parse(args, {"-f": ("force", False), "--force": ("force", False), "-a": ("all", False),
                          "--all": ("all", False)})
    nargs(pos, 0, 0)
    engine = _engine(g)
    removed, freed = _prune_containers(engine)
    _prune_report("Containers", removed)
    from fastctr.net.ipam import DEFAULT_NETWORK
    nets = []
    for net in engine.ipam.networks():
        if net["name"] != DEFAULT_NETWORK and not engine.ipam.network(net["name"])["endpoints"]:
            engine.remove_network(net["name"])
            nets.append(net["name"])
    _prune_report("Networks", nets)
    cmd_image_prune(g, ["--all"] if o.get("all") else [], freed=freed)


def cmd_volume_create(g, args):
    _, pos = parse(args, {})
    nargs(pos, 0, 1)
    from fastctr.engine.volumes import Volumes
    print(Volumes(_engine(g).store).create(pos[0] if pos else None))


def cmd_volume_ls(g, args):
    o, pos = parse(args, flags("-q/--quiet"))
    nargs(pos, 0, 0)
    from fastctr.engine.volumes import Volumes
    volumes = Volumes(_engine(g).store)
    if not o.get("quiet"):
        print("DRIVER    VOLUME NAME")
    for name in volumes.names():
        print(name if o.get("quiet") else f"local     {name}")


def cmd_volume_inspect(g, args):
    o, pos = parse(args, INSPECT_FLAGS)
    nargs(pos, 1)
    engine = _engine(g)
    return _print_objects(pos, o.get("format"), lambda ref: _find_object(engine, ref, "volume"))


def cmd_volume_rm(g, args):
    o, pos = parse(args, flags("-f/--force"))
    nargs(pos, 1)
    from fastctr.engine.volumes import Volumes
    return _each(g, pos, lambda engine, name: Volumes(engine.store).remove(name, force=bool(o.get("force"))))


def cmd_volume_prune(g, args):
    """Volumes no container uses (Docker prunes the anonymous ones; -a all)."""
    o, pos = parse(args, flags("-a/--all", "-f/--force"))
    nargs(pos, 0, 0)
    from fastctr.cli.listing import _files_size
    from fastctr.engine.volumes import Volumes
    volumes = Volumes(_engine(g).store)
    removed, freed = [], 0
    for name in volumes.names():
        anonymous = len(name) == 64 and all(c in "0123456789abcdef" for c in name)
        if (anonymous or o.get("all")) and not volumes.users(name):
            size = _files_size(volumes.data_path(name))
            volumes.remove(name)
            removed.append(name)
            freed += size
    _prune_report("Volumes", removed)
    print(f"Total reclaimed space: {units.human_size(freed, 4)}")


DF_DEFAULT = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
DF_HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}


def cmd_system_df(g, args):
    o, pos = parse(args, flags("--format=", "-v/--verbose"))
    nargs(pos, 0, 0)
    if o.get("verbose"):
        raise UsageError("system df -v is not supported")
    from fastctr.cli import template
    from fastctr.cli.listing import _files_size
    from fastctr.engine.volumes import Volumes
    engine = _engine(g)
    store = engine.store
    images = [store.image(i) for i in store.image_ids()]
    containers = engine.ps(all=True)
    used_images = {c["image_id"] for c in containers}
    active = {c["id"] for c in containers if c["status"] in ("running", "paused")}
    sizes = {}
    for c in containers:
        try:
            sizes[c["id"]] = _files_size(engine._cdir(c) + ("/upper" if c["driver"] == "overlay2" else ""))
        except OSError:
            sizes[c["id"]] = 0
    volumes = Volumes(store)
    vol_sizes = {n: _files_size(volumes.data_path(n)) for n in volumes.names()}  # Docker's: files, not blocks
    vol_used = {n for n in vol_sizes if volumes.users(n)}
    rows = [_df_row("Images", len(images), len([i for i in images if i["id"] in used_images]),
                    sum(i["size"] or 0 for i in images),
                    sum(i["size"] or 0 for i in images if i["id"] not in used_images)),
            _df_row("Containers", len(containers), len(active), sum(sizes.values()),
                    sum(n for cid, n in sizes.items() if cid not in active)),
            _df_row("Local Volumes", len(vol_sizes), len(vol_used), sum(vol_sizes.values()),
                    sum(n for name, n in vol_sizes.items() if name not in vol_used)),
            _df_row("Build Cache", 0, 0, 0, 0, percent=False)]
    from fastctr.image import tmpwork
    temp = tmpwork.usage(store.root)
    if temp["live"][0] or temp["dead"][0]:  # loads and pulls under way, or killed (prune reclaims those)
        rows.append(_df_row("Temporary", temp["live"][0] + temp["dead"][0], temp["live"][0],
                            temp["live"][1] + temp["dead"][1], temp["dead"][1]))
    for line in template.table(o.get("format") or "table", rows, DF_HEADERS, default=DF_DEFAULT,
                               missing="*formatter.diskUsageContext"):
        print(line)


def _df_row(kind, total, active, size, reclaimable, percent=True):
    """A line of Docker's system df: sizes in go-units HumanSize, the
    reclaimable part with its percentage when there is any size."""
    text = units.human_size(reclaimable, 4)
    if percent and size > 0:
        text += f" ({reclaimable * 100 // size}%)"
    return {"Type": kind, "TotalCount": str(total), "Active": str(active), "Size": units.human_size(size, 4),
            "Reclaimable": text}


def cmd_image_prune(g, args, freed=0):
    """Unnamed images no container uses (-a: every image no container uses),
    reported as Docker's prune does (`deleted:` lines, the space freed; for
    system prune also what `freed` its containers held)."""
    o, pos = parse(args, {"-f": ("force", False), "--force": ("force", False), "-a": ("all", False),
                          "--all": ("all", False)})
    nargs(pos, 0, 0)
    from fastctr.image import loading as images
    engine = _engine(g)
    store = engine.store
    lines = []
    for image_id in store.image_ids():
        im = store.image(image_id)
        if (o.get("all") or not im["tags"] and not im["digests"]) and not store.containers_using(image_id):
            for line in engine.rmi(image_id):
                word, _, rest = line.partition(" ")
                lines.append(word.lower() + " " + rest)  # prune words them untagged:/deleted:
            freed += im["size"] or 0
    _prune_report("Images", lines)
    freed += images.prune_unreferenced(store)  # what killed loads and pulls left
    print(f"Total reclaimed space: {units.human_size(freed, 4)}")


def cmd_info(g, args):
    from fastctr.cli import sysinfo, version
    o, pos = parse(args, sysinfo.INFO_FLAGS)
    nargs(pos, 0, 0)
    from fastctr.runtime import cgroups
    from fastctr.image import drivers
    engine = _engine(g)
    extra = {  # fastctr's own, after Docker's keys
        "BackingFilesystem": _fs_type(engine.store.root),
        "Networking": {"ip_forward": _read_sysctl("net/ipv4/ip_forward"),
                       "nftables": bool(_which("nft")),
                       "networks": [n["name"] for n in engine.ipam.networks()]},
        "Features": {"overlay2": drivers.Overlay2.supported(engine.store.root),
                     "clone3_into_cgroup": cgroups.host_version() == 2,
                     "user_namespaces": os.path.exists("/proc/self/ns/user")},
    }
    sysinfo.show_info(engine, extra, version.build_id(), o.get("format"))


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
    nargs(pos, 1, 1)
    engine = _engine(g)
    if o.get("output"):
        tmp = o["output"] + ".tmp"
        with open(tmp, "wb") as f:
            engine.export(pos[0], f)
        os.rename(tmp, o["output"])
    elif sys.stdout.isatty():
        raise FastctrError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    else:
        engine.export(pos[0], sys.stdout.buffer)


def cmd_commit(g, args):
    from fastctr import cliargs
    o, pos = cliargs.parse(args, {"-m": ("message", True), "--message": ("message", True),
                                  "-a": ("author", True), "--author": ("author", True),
                                  "-c": ("changes", True), "--change": ("changes", True),
                                  "-p": ("pause", False), "--pause": ("pause", False)},
                           multi={"changes"}, help=True)
    nargs(pos, 1, 2)
    print(_engine(g).commit(pos[0], pos[1] if len(pos) == 2 else None, o.get("message", ""),
                            author=o.get("author", ""), changes=o.get("changes") or [],
                            pause=o.get("pause", True) is not False))


def cmd_events(g, args):
    from fastctr.cli import events
    return events.command(_engine(g).store.root, args)


def cmd_system_events(g, args):
    return cmd_events(g, args)


def cmd_network_inspect(g, args):
    o, pos = parse(args, dict(INSPECT_FLAGS, **flags("-v/--verbose")))
    nargs(pos, 1)
    engine = _engine(g)
    return _print_objects(pos, o.get("format"), lambda ref: _find_object(engine, ref, "network"))


def cmd_network_connect(g, args):
    return networks.connect(g, args)


def cmd_network_disconnect(g, args):
    _, pos = parse(args, {})
    nargs(pos, 2, 2)
    _engine(g).disconnect(pos[0], pos[1])


# Docker's management forms: `fastctr image ls` is `fastctr images`, and so on.
def cmd_image_ls(g, args):
    return cmd_images(g, args)


def cmd_image_list(g, args):
    return cmd_images(g, args)


def cmd_image_rm(g, args):
    return cmd_rmi(g, args)


def cmd_image_remove(g, args):
    return cmd_rmi(g, args)


def cmd_image_tag(g, args):
    return cmd_tag(g, args)


def cmd_image_pull(g, args):
    return cmd_pull(g, args)


def cmd_image_load(g, args):
    return cmd_load(g, args)


def cmd_image_import(g, args):
    return cmd_import(g, args)


COMMANDS = {name[4:]: fn for name, fn in globals().items() if name.startswith("cmd_")}
from fastctr.cli import imagecmds  # noqa: E402  save, push, login, logout, the image management forms
COMMANDS.update(imagecmds.COMMANDS)
COMMANDS.update({name[4:]: getattr(networks, name) for name in dir(networks) if name.startswith("cmd_")})
