"""RUN: the command in a real container of the state so far, its changes
written as the step's layer.

The container is the engine's own (create, start, rm), made from the
builder's state (RunOptions.image_record: no image row), with the build's
network mode, the build args in its environment and the step's --mount
list: cache mounts (a directory kept under the store between builds), bind
mounts from the context or a stage (read-only unless rw, and then a copy
whose writes are dropped, as BuildKit's), tmpfs.  Its output is streamed to
the progress as it comes.  The layer is the diff of its writable layer
(overlay2's upper directory, or the vfs copy against its image), with the
mount points the step made for its mounts taken out first; the container
goes whatever happens."""
import contextlib
import os
import stat
import threading

from fastctr.build.context import BuildError, clean


class Mount:
    """One parsed --mount of RUN."""

    def __init__(self, spec):
        self.spec = spec
        self.opts = {}
        for part in spec.split(","):
            key, eq, value = part.partition("=")
            key = key.strip().lower()
            self.opts[key] = value if eq else "true"
        self.type = self.opts.get("type", "bind")
        self.target = self.opts.get("target") or self.opts.get("dst") or self.opts.get("destination")
        if self.type not in ("bind", "cache", "tmpfs", "secret"):
            raise BuildError(f"RUN --mount type={self.type} is not supported (bind, cache, tmpfs and secret are)")
        self.secret = None
        if self.type == "secret":
            from fastctr.build.secrets import SecretMount
            self.secret = SecretMount(self)
            self.target = self.secret.target
        elif not self.target:
            raise BuildError(f"RUN --mount {spec}: a target is required")
        self.source = self.opts.get("source") or self.opts.get("src") or ""
        self.origin = self.opts.get("from")
        self.rw = self.opts.get("rw", self.opts.get("readwrite", "false")) == "true" or \
            self.opts.get("ro", self.opts.get("readonly", "false")) == "false" and self.type == "cache"


def parse_mounts(specs):
    return [Mount(s) for s in specs]


def mount_flags(mounts, builder, tmp):
    """The engine's --mount and --tmpfs values for these mounts, and the
    environment the step's secrets add."""
    binds, tmpfs, env = [], [], []
    for n, m in enumerate(mounts):
        if getattr(m, "host", None):  # a file of the builder's own (a heredoc script)
            binds.append(f"type=bind,source={m.host},target={m.target},readonly")
            continue
        if m.secret:
            value = m.secret.value(builder.options.secrets)
            if value is None:
                continue  # optional and not given: the step runs without it, as BuildKit's
            if m.secret.env:
                env.append(f"{m.secret.env}={os.fsdecode(value)}")
            if m.target:
                binds.append(f"type=bind,source={m.secret.write(value, tmp, n)},target={m.target},readonly")
            continue
        if m.type == "tmpfs":
            size = m.opts.get("size")
            tmpfs.append(m.target + (f":size={size}" if size else ""))
            continue
        if m.type == "cache":
            source = _cache_dir(builder, m)
            readonly = m.opts.get("ro") == "true" or m.opts.get("readonly") == "true"
        else:
            source, readonly = _bind_source(builder, m, tmp), not m.rw
        binds.append(f"type=bind,source={source},target={m.target}" + (",readonly" if readonly else ""))
    return binds, tmpfs, env


def _cache_dir(builder, m):
    from fastctr.build.cache import cache_mount_root
    ident = m.opts.get("id") or m.target
    from fastctr.image.store import _sha256
    path = os.path.join(cache_mount_root(builder.engine.store), _sha256(ident.encode()).hexdigest()[:32])
    if not os.path.isdir(path):
        os.makedirs(path, exist_ok=True)
        os.chmod(path, int(m.opts.get("mode", "755"), 8))
        os.chown(path, int(m.opts.get("uid", "0")), int(m.opts.get("gid", "0")))
    return path


def _bind_source(builder, m, tmp):
    """The host directory a bind mount shows: the context's own (read-only),
    else a copy (a stage's files, or rw: writes dropped with the copy)."""
    view = builder.source_view(m.origin) if m.origin else builder.context.view
    rel = clean(m.source)
    st = view.lstat(rel)
    if st is None:
        raise BuildError(f"RUN --mount {m.spec}: source \"/{rel}\" not found")
    if not m.origin and not m.rw and view.ignore is None:
        return view.host_path(rel)
    return _materialize(view, rel, st, os.path.join(tmp, f"mount{len(os.listdir(tmp))}"))


def _materialize(view, rel, st, dest):
    import shutil
    from fastctr.build.context import walk
    for path, est in walk(view, rel):
        inner = path[len(rel):].lstrip("/") if rel else path
        out = os.path.join(dest, inner) if inner else dest
        if stat.S_ISDIR(est.st_mode):
            os.makedirs(out, exist_ok=True)
        elif stat.S_ISLNK(est.st_mode):
            os.symlink(view.readlink(path), out)
        elif stat.S_ISREG(est.st_mode):
            shutil.copy2(view.host_path(path), out)
        if not stat.S_ISLNK(est.st_mode):
            os.chmod(out, stat.S_IMODE(est.st_mode))
    return dest


def run(builder, state, argv, env, mounts, network, progress, step):
    """RUN argv on state -> (layer tar path, diff ID); the tar's directory
    is the caller's to remove.  BuildError when the command fails (its
    output shown already)."""
    from fastctr.engine.options import RunOptions
    from fastctr.image import tmpwork
    engine = builder.engine
    cfg = state.config.get("config") or {}
    tmp = tmpwork.make_dir(engine.store.tmp_dir(), "build-run")
    c = None
    try:
        binds, tmpfs, secret_env = mount_flags(mounts, builder, tmp)
        opts = RunOptions(cmd=argv, entrypoint="", env=env + secret_env, workdir=cfg.get("WorkingDir") or None,
                          user=cfg.get("User") or None, network=network, mounts=binds, tmpfs=tmpfs, rm=True,
                          quiet=True, image_record=state.image_record())
        with _interrupts_held():
            c = engine.create(None, opts)
        status = _start_streaming(engine, c, progress, step)
        if status != 0:
            raise BuildError(f"process \"{' '.join(argv)}\" did not complete successfully: exit code: {status}")
        _drop_mount_points(builder, engine, c, state, mounts)
        return _write_diff(builder, engine, c, state, tmp)
    except BaseException:
        from fastctr.image.store import rmtree
        rmtree(tmp)
        raise
    finally:
        if c is not None:
            engine.rm(c["id"], force=True)
        from fastctr.image.store import rmtree
        for name in os.listdir(tmp) if os.path.isdir(tmp) else ():
            if name != "layer.tar":
                rmtree(os.path.join(tmp, name))  # the mounts' copies: the caller removes tmp with the tar


@contextlib.contextmanager
def _interrupts_held():
    """Ctrl-C, SIGTERM and SIGHUP (the build's interrupts) held while the
    step's container is made, and passed on once its ID is ours to remove:
    between create's return and the assignment an interrupt would leave it
    behind.  Python-level handlers only, so no child inherits a mask."""
    import signal
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach only the main thread
        return
    caught = []
    held = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        handler = signal.getsignal(sig)
        if callable(handler):  # the interrupts raise: one left at its default or ignored stays so
            held[sig] = signal.signal(sig, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for sig, handler in held.items():
            signal.signal(sig, handler)
        if caught:
            held[caught[0]](caught[0], None)


def _start_streaming(engine, c, progress, step):
    """Start the container, its stdout and stderr read line by line into
    the progress while it runs -> exit status."""
    r, w = os.pipe()
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    reader = threading.Thread(target=_relay, args=(r, progress, step), daemon=True)
    reader.start()
    try:
        return engine.start(c["id"], stdio=(null, w, w))
    except BaseException:
        _kill(engine, c)  # interrupted: the container holds the pipe the reader waits on
        raise
    finally:
        os.close(w)
        os.close(null)
        reader.join()
        os.close(r)


def _kill(engine, c):
    try:
        engine.runtime.kill(c["id"], 9, all=True)
    except Exception:
        pass  # gone already


def _relay(fd, progress, step):
    pending = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            progress.output(step, line.decode("utf-8", "replace"))
    if pending:
        progress.output(step, pending.decode("utf-8", "replace"))


def _drop_mount_points(builder, engine, c, state, mounts):
    """A mount's target the image did not have is the step's mount point,
    not its content (BuildKit leaves them out too): empty ones go."""
    if not mounts:
        return  # most RUNs: no view of the state to make (its layers checked again, ~1 ms)
    root = _changes_root(engine, c)
    view = builder.state_view(state)
    for m in sorted((m for m in mounts if m.target), key=lambda m: -len(m.target)):
        rel = clean(m.target if m.target.startswith("/") else "/" + m.target)
        while rel and view.lstat(rel) is None:  # the mount point, then the parents made for it
            if not _remove_stub(os.path.join(root, rel)):
                break
            rel = os.path.dirname(rel)


def _remove_stub(path):
    """An empty directory or an empty file made as a mount point goes -> True."""
    try:
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode):
            os.rmdir(path)
        elif stat.S_ISREG(st.st_mode) and st.st_size == 0:
            os.unlink(path)
        else:
            return False
        return True
    except OSError:
        return False


def _changes_root(engine, c):
    from fastctr.image import drivers
    driver = engine.driver_for_container(c)
    if isinstance(driver, drivers.Overlay2):
        return driver.upper(c["id"])
    return os.path.join(driver.container_dir(c["id"]), "rootfs")


def _write_diff(builder, engine, c, state, tmp):
    from fastctr.image import drivers
    from fastctr.image.layers import write_layer
    driver = engine.driver_for_container(c)
    tar_path = os.path.join(tmp, "layer.tar")
    with open(tar_path, "wb") as out:
        if isinstance(driver, drivers.Overlay2):
            info = write_layer(driver.upper(c["id"]), out, mode="overlay", mtime_max=builder.epoch)
        else:
            chain = state.chain()
            lower = driver.layer_dir(chain[-1]) if chain else _empty_dir(tmp)
            info = write_layer(os.path.join(driver.container_dir(c["id"]), "rootfs"), out, mode="vfs",
                               lower=lower, mtime_max=builder.epoch)
    return tar_path, info.diff_id


def _empty_dir(tmp):
    path = os.path.join(tmp, "empty")
    os.makedirs(path, exist_ok=True)
    return path
