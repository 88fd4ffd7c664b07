"""Pooled containers: made ahead of time, taken by a `run` whose options fit
(issue 16's warm path; `fastctr serve --pool IMAGE[=N]` keeps them).

    from fastctr.engine import pool
    pool.prepare(engine, "busybox", count=4)   # four containers, waiting
    engine.run("busybox", RunOptions(cmd=["true"], rm=True, network="none"))   # takes one
    pool.drain()                               # the rest torn down

A pooled container is what `create` + `start` would make of the image
with the pool's options (default: `--rm --network none`), minus the row:
its writable layer, bundle and /etc files, its cgroup below the engine's
parent, all its namespaces and its root file system mounted; its process
(a child of the thread that called prepare) waits before the user change
(fastctr.runtime.pooled, csrc/pool.c).  Engine.run takes one when the run
differs from the pool's options only in what the process can still take
at that point (TAKE_TIME: command, entrypoint, environment, working
directory, user, name, labels, -i, -a) and the spec made for the run
equals the pooled one but for the process; then the row is written as a
normal run writes it, and the run goes on as a normal foreground `run
--rm` does (events, --sig-proxy, OOM, exit status, removal: what
Engine.start and rm do, without their look-ups).  Anything else takes
the normal path and leaves the pool as it was.  A taken container's
runtime state, empty cgroup and files are removed after the run returns,
by reclaim() (which prepare, refill and drain call).

The registry is this process's: a forked child sees no offers.  Untaken
containers are not in the store (`ps -a`, prune and rm never see them);
each has a marker `<data root>/pool/<cid>` naming its owner (pid and start
time), so that what a killed owner left (its processes die with it) is
swept by the next prepare() and by `container prune`/`system prune`."""
import os
import threading

from fastctr import events, trace
from fastctr import jsonfast as json
from fastctr.errors import ConfigError

# RunOptions a pooled container honours when it is taken; every other one
# must be the pool's own.
TAKE_TIME = frozenset({"cmd", "entrypoint", "env", "env_files", "workdir", "user", "name", "labels",
                       "interactive", "attach", "quiet", "sig_proxy", "pull"})
POOL_DIR = "pool"

_lock = threading.Lock()
_offered = []  # Pooled, oldest first
_claimed = set()  # IDs being taken: out of _offered, their row not written yet (sweep leaves them)
_spent = []  # Pooled taken and removed, whose files and empty cgroup are left to reclaim()


class Pooled:
    """One waiting container of this process."""

    def __init__(self, cid, key, image, image_ref, base, spec, chain, rootfs_mount, runtime, container, cdir,
                 marker):
        self.cid, self.key, self.image, self.image_id, self.image_ref = cid, key, image, image["id"], image_ref
        self.base, self.spec, self.chain, self.rootfs_mount = base, spec, chain, rootfs_mount
        self.runtime, self.container, self.cdir, self.marker = runtime, container, cdir, marker
        self.owner = os.getpid()

    @property
    def pid(self):
        return self.container.pid

    def __repr__(self):
        return f"Pooled({self.cid[:12]}, {self.image_ref!r}, pid {self.pid})"


# ------------------------------------------------------------ prepare

def prepare(engine, image_ref, count=1, opts=None):
    """Make `count` pooled containers of the image, with `opts` (RunOptions:
    default `--rm --network none`; it must keep --rm and a private network,
    no -d, -t or volumes) -> their IDs.  Sweeps what dead owners left first.
    Call it from a thread that lives as long as the pool (a worker's main
    thread): untaken containers die with the thread that made them (the
    kernel's parent-death signal is the creating thread's)."""
    from fastctr.engine.options import RunOptions
    reclaim()
    sweep(engine)
    base = opts or RunOptions(rm=True, network="none")
    _check_poolable(engine, base)
    image_id = engine.resolve_image(image_ref, base.pull, quiet=True)
    image = engine.store.image(image_id)
    if (image["config"].get("config") or {}).get("Volumes"):
        raise ConfigError(f"image {image_ref} has volumes (VOLUME): its containers cannot be pooled")
    chain = engine._ensure_layers(image)
    return [_prepare_one(engine, image_ref, image, chain, base).cid for _ in range(count)]


def refill(engine, image_ref, count, opts=None):
    """Top this process's offers of the image (made with `opts`) up to
    `count`, after removing what taken ones left -> the IDs made."""
    have = sum(1 for p in offered() if p.image_ref == image_ref and (opts is None or vars(p.base) == vars(opts)))
    if have >= count:
        reclaim()
        sweep(engine)
        return []
    return prepare(engine, image_ref, count - have, opts)


def _check_poolable(engine, base):
    network = base.network or engine.default_network
    if not base.rm or base.detach or base.tty or network not in ("none", "private"):
        raise ConfigError("pooled containers are `run --rm` ones in the foreground with --network none")
    if base.volumes or base.mounts or base.volumes_from or base.cidfile or base.publish or base.publish_all:
        raise ConfigError("pooled containers take no volumes, mounts, ports or --cidfile")
    if base.pid or (base.ipc or "").startswith("container:") or base.ipc == "shareable" or base.init:
        raise ConfigError("pooled containers join or share no other container's namespaces and have no --init")
    if base.cgroup_parent:
        raise ConfigError("pooled containers have the engine's cgroup parent")


def _prepare_one(engine, image_ref, image, chain, base):
    from fastctr.engine.options import bundle_document, finish_bundle, make_spec, parse_network
    cid = os.urandom(32).hex()
    marker = _write_marker(engine, cid)
    runtime, container = engine.runtime, None
    try:
        rootfs, rootfs_mount = engine.driver.prepare_container(cid, chain, volatile=True)
        spec = make_spec(image["config"], base, cid, engine._image_file_reader(chain, rootfs))
        cdir = engine.driver.container_dir(cid)
        engine._write_etc_files(cdir, spec, parse_network(base), None, {})  # their binds end spec["mounts"]
        finish_bundle(engine.driver, base, spec, cid, chain, rootfs, cdir)
        with open(os.path.join(cdir, "config.json"), "w") as f:
            json.dump(bundle_document(spec), f)
        etc = _etc_texts(base, spec)
        null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        try:
            container = runtime.create(cid, cdir, stdio=(null, null, null), wait_for_start=False, detach=False,
                                       rootfs_mount=tuple(rootfs_mount) if rootfs_mount else None,
                                       loopback_up=True, pooled=True)
        finally:
            os.close(null)
        _write_marker(engine, cid, cgroup=container.st["cgroup"])  # for a sweep once the state is gone
    except BaseException:
        if container is not None:
            from fastctr.runtime import pooled
            pooled.discard(runtime, container)
        _remove_files(engine.driver.container_dir(cid), marker)
        raise
    p = Pooled(cid, _engine_key(engine), image, image_ref, base, spec, chain, rootfs_mount, runtime, container,
               cdir, marker)
    p.etc, p.bundle, p.layers = etc, _bundle_template(spec), _layer_identity(engine, chain)
    with _lock:
        _offered.append(p)
    return p


def _layer_identity(engine, chain):
    """The inodes of the image's layer directories: an `rmi` and `load`
    meanwhile gives the same image ID new directories, while the pooled
    root file system still has the removed ones mounted."""
    out = []
    for chain_id in chain:
        try:
            out.append(os.stat(engine.driver.layer_dir(chain_id)).st_ino)
        except OSError:
            out.append(None)
    return out


def _bundle_template(spec):
    """config.json of the pooled spec cut where its process and annotations
    go, so that a run's is written without dumping the rest again (its
    seccomp profile is most of it: ~0.5 ms)."""
    from fastctr.engine.options import bundle_document
    mark = os.urandom(8).hex()
    text = json.dumps(dict(bundle_document(spec), process=mark + "p", annotations=mark + "a"))
    head, _, rest = text.partition(f'"{mark}p"')
    mid, _, tail = rest.partition(f'"{mark}a"')
    return head, mid, tail


def bundle_text(p, spec):
    """The run's config.json: the pooled one with the run's process and
    annotations (the rest of a run's spec is the pooled one's, _run_spec)."""
    head, mid, tail = p.bundle
    return head + json.dumps(spec["process"]) + mid + json.dumps(spec["annotations"]) + tail


def _etc_texts(opts, spec):
    """/etc/hosts and resolv.conf as a create would write them now (they
    follow the host's resolv.conf)."""
    from fastctr.engine.options import etc_texts, host_names, parse_network
    return etc_texts(parse_network(opts)[0], {}, host_names(spec["hostname"], spec.get("domainname")))


def _write_marker(engine, cid, cgroup=None):
    """The container's marker: its owner, where its state and files are,
    its cgroup once made (written again then, by rename: whole or old)."""
    from fastctr.runtime.state import process_start_time
    d = os.path.join(engine.store.root, POOL_DIR)
    os.makedirs(d, mode=0o700, exist_ok=True)
    path = os.path.join(d, cid)
    runtime = engine.runtime
    record = {"owner": [os.getpid(), process_start_time(os.getpid())], "state_root": runtime.store.root,
              "cgroup_parent": runtime.cgroup_parent, "driver": engine.driver.name, "cgroup": cgroup}
    with open(path + ".tmp", "w") as f:
        f.write(json.dumps(record))
    os.rename(path + ".tmp", path)
    return path


def _engine_key(engine):
    """What a run's engine must share with the pool's: data root, state
    root, storage driver and cgroup parent (an engine's never change)."""
    key = getattr(engine, "_pool_key", None)
    if key is None:
        runtime = engine.runtime
        key = engine._pool_key = (os.path.realpath(engine.store.root), os.path.realpath(runtime.store.root),
                                  engine.driver.name, runtime.cgroup_parent or "", runtime.cgroup_v2_root or "")
    return key


# --------------------------------------------------------------- take

def has_offers():
    return bool(_offered)


def offered():
    """This process's untaken pooled containers (Pooled), oldest first."""
    me = os.getpid()
    with _lock:
        return [p for p in _offered if p.owner == me]


def unfit(engine, opts, base):
    """Why `opts` cannot take a container pooled with `base`, or None."""
    mine, theirs = vars(opts), vars(base)
    for name, value in mine.items():
        if name in TAKE_TIME or name == "network":
            continue
        if theirs.get(name) != value:
            return f"--{name.replace('_', '-')} differs"
    if (opts.network or engine.default_network) != (base.network or engine.default_network):
        return "--network differs"
    if opts.pull == "always":
        return "--pull always"
    return None


def fits(engine, image_ref, opts):
    """The offered container a run of image_ref with opts would take, or
    None; it stays offered."""
    taken = _take(engine, image_ref, opts)
    if taken is None:
        return None
    _give_back(taken[0])
    return taken[0]


def _take(engine, image_ref, opts):
    """An offered container that `opts` fits, no longer offered, with the
    run's spec -> (Pooled, spec), or None."""
    if not _offered:
        return None
    try:
        image_id = engine.store.resolve(image_ref)
    except Exception:  # missing, ambiguous, malformed: the normal path says which
        return None
    key, me = _engine_key(engine), os.getpid()
    with _lock:
        candidates = [p for p in _offered if p.owner == me and p.key == key and p.image_id == image_id]
        p = next((p for p in candidates if unfit(engine, opts, p.base) is None), None)
        if p is None:
            return None
        _offered.remove(p)
        _claimed.add(p.cid)
    if _layer_identity(engine, p.chain) != p.layers:  # its image was removed and loaded again
        with _lock:
            _claimed.discard(p.cid)
            _spent.append(p)  # reclaim() ends it
        return _take(engine, image_ref, opts)
    try:
        spec = _run_spec(engine, p, opts)
    except BaseException:
        _give_back(p)
        raise
    if spec is None:
        _give_back(p)
        return None
    return p, spec


def _give_back(p):
    with _lock:
        _offered.insert(0, p)
        _claimed.discard(p.cid)


def _run_spec(engine, p, opts):
    """The run's spec: the pooled one with the run's process and labels
    (what make_spec makes of them: unfit saw to it that every other option
    is the pool's), or None when it cannot be had so: a working directory
    that the pool did not make must be in the image already, and /etc/hosts
    and resolv.conf must be what a create would write now."""
    from fastctr.engine.options import command_of, group_add_ids, parse_labels, process_env
    cfg = p.image["config"].get("config") or {}
    entrypoint, cmd = command_of(cfg, opts)
    if not entrypoint + cmd:
        raise ConfigError("no command specified: the image has no Entrypoint or Cmd")
    read = engine._image_file_reader(p.chain, p.cdir + "/rootfs")
    env, user, cwd = process_env(cfg, opts, p.spec["hostname"], read)
    process = dict(p.spec["process"], args=entrypoint + cmd, env=env, cwd=cwd,
                   user=user.spec(group_add_ids(opts.group_add, read)))
    spec = dict(p.spec, process=process, annotations=parse_labels(opts.labels))
    if cwd not in ("/", p.spec["process"]["cwd"]) and not _dir_in_image(engine, p, cwd):
        return None
    if _etc_texts(opts, spec) != p.etc:  # the host's resolver changed since
        return None
    return spec


def _dir_in_image(engine, p, path):
    if engine.driver.name != "overlay2":
        return os.path.isdir(os.path.join(p.cdir, "rootfs", path.lstrip("/"))) and ".." not in path.split("/")
    from fastctr.engine.runflags import _dir_in_layers
    return _dir_in_layers([engine.driver.layer_dir(c) + "/diff" for c in reversed(p.chain)], path)


# ---------------------------------------------------------------- run

def run(engine, image_ref, opts, stdio=(-1, -1, -1), sig_proxy=False):
    """Engine.run through a pooled container -> the exit status, or None
    when none fits (the caller then takes the normal path)."""
    taken = _take(engine, image_ref, opts)
    if taken is None:
        return None
    p, spec = taken
    trace.mark("pool")
    try:
        c = _record(engine, p, image_ref, opts, spec)
    except BaseException:
        _give_back(p)
        raise
    try:
        return _start(engine, p, c, spec, stdio, sig_proxy)
    finally:
        with _lock:
            _spent.append(p)
        trace.mark("teardown")


def _record(engine, p, image_ref, opts, spec):
    """The row of this run as create and start write it (status running,
    this process its starter): from here on the container is an ordinary
    one (a killed run leaves it for prune); its marker stays: its files
    and empty cgroup are the pool's to remove (reclaim, sweep)."""
    from fastctr.engine.options import parse_env, parse_labels, run_flag_record, validate_name
    image = p.image
    if opts.name:
        validate_name(opts.name)
    extra = run_flag_record(engine, image_ref, image, opts)
    parse_env(opts)
    image_health = (image["config"].get("config") or {}).get("Healthcheck")
    if image_health:
        from fastctr.engine.lifeflags import records
        extra.update(records(opts, image_health))
    if opts.network is None:
        opts.network = engine.default_network
    record = engine._record(image_ref, image, opts, spec, p.rootfs_mount, None, None, [], None, [], [], extra, {})
    record["starter"] = engine._starter_identity()
    name = engine._insert_row(p.cid, opts.name, p.image_id, parse_labels(opts.labels), record)
    with _lock:
        _claimed.discard(p.cid)
    trace.mark("store")
    return {"id": p.cid, "name": name, "image_id": p.image_id, "config": record, "labels": parse_labels(opts.labels)}


def _announce(engine, p, c, spec):
    """The run's bundle and its `create` and `attach` events: written once
    the command runs, while it runs (on another CPU), or after a failed
    exec, before its `die`."""
    with open(os.path.join(p.cdir, "config.json"), "w") as f:
        f.write(bundle_text(p, spec))
    events.container(engine.store.root, c, "create")
    events.container(engine.store.root, c, "attach")


def _start(engine, p, c, spec, stdio, sig_proxy):
    """What Engine.start and rm do for a foreground `run --rm` (events,
    --sig-proxy, OOM, 126/127, removal) for the taken container, whose
    row and handles are at hand: no look-ups, no `exited` status written
    for a row that goes at once."""
    from fastctr.engine.supervise import SignalProxy
    from fastctr.errors import crash_point
    from fastctr.runtime import pooled, spec as spec_mod
    root, status, oom, announced = engine.store.root, 125, False, []
    proxy = SignalProxy() if sig_proxy else None

    def started(container):
        if proxy:
            proxy.target(container.pid)
        announced.append(_announce(engine, p, c, spec))
        events.container(root, c, "start")
        crash_point("start:running")

    def exited(container):  # before its cgroup goes: the kernel counted OOM kills there
        nonlocal oom
        cg = container.cgroup
        oom = bool(cg and cg.oom_kills())
    try:
        status = pooled.run(p.runtime, p.container, spec_mod.Process(spec["process"]), stdio=stdio,
                            new_session=bool(proxy), started=started, exited=exited, keep=True,
                            prestart=(lambda ct: crash_point("start:spawned")) if "FASTCTR_CRASH_AT" in os.environ
                            else None)
        return status
    except Exception as e:
        status = getattr(e, "exit_code", 125)  # 126/127 when the command could not run
        raise
    finally:
        if proxy:
            proxy.restore()
        if not announced:
            _announce(engine, p, c, spec)
        if oom:
            events.container(root, c, "oom")
        events.container(root, c, "die", exitCode=status)
        _remove_row(engine, c)


def _remove_row(engine, c):
    """Engine.rm of the exited container: its row and lock under the lock,
    its `destroy` event; as rm, "no such container" when a concurrent
    `rm -f` was first."""
    from fastctr.errors import ContainerNotFoundError
    with engine.lock(c["id"]):
        with engine.store.transaction() as db:
            gone = db.execute("DELETE FROM containers WHERE id = ?", (c["id"],)).rowcount
        _unlink(os.path.join(engine.store.root, "locks", c["id"]))
    if not gone:
        raise ContainerNotFoundError(f"no such container: {c['id']}")
    events.container(engine.store.root, c, "destroy")


# ------------------------------------------------------- drain, sweep

def drain():
    """Tear down every untaken pooled container of this process (process,
    cgroup, state, files), and what taken ones left (reclaim).
    Idempotent; safe from atexit.  One that cannot be removed stops none
    of the others; the first error is raised at the end (its marker stays
    for a sweep)."""
    me = os.getpid()
    with _lock:
        mine = [p for p in _offered if p.owner == me]
        _offered[:] = [p for p in _offered if p.owner != me]
    try:
        _each(_discard, mine)
    finally:
        reclaim()


def _each(fn, items):
    first = None
    for item in items:
        try:
            fn(item)
        except Exception as e:
            first = first or e
    if first:
        raise first


def reclaim():
    """Remove the files and empty cgroups that this process's taken
    pooled containers left once removed (their run returned without
    waiting for that) -> how many.  What prepare and refill do first; a
    server calls it when idle."""
    me = os.getpid()
    with _lock:
        mine = [p for p in _spent if p.owner == me]
        _spent[:] = [p for p in _spent if p.owner != me]
    _each(_reclaim_one, mine)
    return len(mine)


def _reclaim_one(p):
    from fastctr.errors import ContainerNotFound
    try:
        p.runtime.delete(p.cid, force=True)  # its state and empty cgroup
    except ContainerNotFound:
        _remove_cgroup(p.container.st.get("cgroup"))  # deleted by an `rm -f` meanwhile
    _remove_files(p.cdir, p.marker)


def _remove_cgroup(record):
    if record:
        from fastctr.runtime import cgroups
        cg = cgroups.from_json(record)
        cg.kill()
        cg.remove()


def _discard(p):
    from fastctr.runtime import pooled
    try:
        pooled.discard(p.runtime, p.container)
    finally:
        _remove_files(p.cdir, p.marker)


def _remove_files(cdir, marker):
    from fastctr.image.store import ignore_missing, rmtree
    if os.path.isdir(cdir):
        rmtree(cdir)
    ignore_missing(os.unlink, marker)


def sweep(engine):
    """Remove what pooled containers left under the engine's data root
    that nobody will use any more -> their IDs: those of dead owners, and
    this process's own once taken and run (their files and empty cgroup,
    left by the run to be removed off its clock).  A container that has a
    row is running, or left for `rm`/prune: after that it is swept."""
    d = os.path.join(engine.store.root, POOL_DIR)
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        return []
    with _lock:
        busy = {p.cid for p in _offered} | _claimed
    swept = []
    for name in names:
        marker = os.path.join(d, name)
        record = _read_marker(marker)
        if name in busy or record is None or (record["owner"][0] != os.getpid() and _alive(record["owner"])):
            continue
        if name.endswith(".tmp"):  # a marker being rewritten when its owner died
            _unlink(marker)
        elif not engine.store.db.execute("SELECT 1 FROM containers WHERE id = ?", (name,)).fetchone():
            _sweep_one(engine, name, record)
            _unlink(marker)
            swept.append(name)
    return swept


def _unlink(path):
    from fastctr.image.store import ignore_missing
    ignore_missing(os.unlink, path)


def _read_marker(path):
    try:
        with open(path) as f:
            record = json.loads(f.read())
        return record if isinstance(record.get("owner"), list) else None
    except (OSError, ValueError, AttributeError):
        return None


def _alive(owner):
    from fastctr.runtime.state import process_start_time
    return process_start_time(owner[0]) == owner[1]


def _sweep_one(engine, cid, record):
    from fastctr.errors import ContainerNotFound
    from fastctr.image import drivers
    from fastctr.runtime.lifecycle import Runtime
    try:
        Runtime(root=record["state_root"], cgroup_parent=record.get("cgroup_parent")).delete(cid, force=True)
    except (ContainerNotFound, ValueError):
        pass
    _remove_cgroup(record.get("cgroup"))  # the state is gone after a run, the cgroup may not be
    driver = drivers.DRIVERS.get(record.get("driver"), type(engine.driver))(engine.store)
    driver.remove_container(cid)
