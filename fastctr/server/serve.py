"""`fastctr serve`: warm up, listen, serve until SIGTERM or SIGINT.

Warm means: the modules every command needs are imported (and frozen out
of the garbage collector's scans, so workers do not copy their pages just
to look at them), the default seccomp profile is resolved and compiled,
and nothing that must not cross a fork (a SQLite connection, a lock) is
open.  Stopping closes the socket and removes its file; workers that are
still running finish their commands on their own."""
import gc
import os
import sys

from fastctr.server import listener
from fastctr.server.commands import CommandProtocol

# What the commands of a container's life import (seen in sys.modules after
# run, ps, logs, inspect, rm, images and friends).
WARM_MODULES = (
    "fastctr.engine", "fastctr.engine.core", "fastctr.engine.supervise", "fastctr.engine.attach",
    "fastctr.engine.tty", "fastctr.engine.runflags", "fastctr.engine.mounts", "fastctr.engine.logs",
    "fastctr.engine.networking", "fastctr.engine.imageops", "fastctr.runtime.lifecycle", "fastctr.runtime.spec",
    "fastctr.runtime.seccomp", "fastctr.runtime.cgroups", "fastctr.image.store", "fastctr.image.drivers",
    "fastctr.net.rtnl", "fastctr.net.ipam", "fastctr.events", "fastctr.engine.kept", "fastctr.engine.pool",
)


def default_socket(state_root=None):
    root = state_root or os.environ.get("FASTCTR_STATE_ROOT") or "/run/fastctr"
    return os.path.join(root, listener.SOCKET_NAME)


def warm(extra_modules=()):
    """Import what commands need and compile the default seccomp filter."""
    import importlib
    gc.disable()
    try:
        for name in WARM_MODULES + tuple(extra_modules):
            try:
                importlib.import_module(name)
            except ImportError:  # a module this build does not have: a cold import later
                pass
        from fastctr.engine import security
        from fastctr.runtime import seccomp
        profile = security.seccomp_spec(None, security.capabilities([], [], False))
        seccomp.bpf_for(profile, None)
    finally:
        gc.collect()
        gc.freeze()
        gc.enable()


def serve(run_command, socket_path=None, group=None, pools=(), engine_settings=None, warm_modules=(),
          parked_specs=(), spare=1, out=sys.stderr):
    """Serve `fastctr` commands (run_command(argv) -> status) until
    SIGTERM/SIGINT; returns the exit status of `fastctr serve`.  pools:
    "IMAGE[=N]" strings, containers kept ready for `run` (see parked);
    engine_settings: the Engine arguments of the server's own roots;
    parked_specs: more kinds of parked workers (fastctr.server.parked.Spec);
    spare: workers forked ahead for any command (the fork and the first
    touches of the copied memory off the command's clock)."""
    _stdio_open()
    gid = listener.group_id(group)
    specs = pool_specs(pools, engine_settings or {}) + list(parked_specs) + spare_specs(spare, engine_settings or {})
    warm(warm_modules)
    loop = listener.Loop()
    activated = listener.activated_sockets()
    path = socket_path or default_socket()
    sockets = activated or [listener.bind_socket(path, gid)]
    bound = None if activated else os.stat(path)
    parking = None
    if specs:
        from fastctr.server.parked import Parking
        parking = Parking(loop, run_command, specs)
        parking.fill()
    protocol = CommandProtocol(loop, run_command, parking)
    listeners = [listener.Listener(loop, s, protocol, listener.Access(gid), _name(s, path)) for s in sockets]
    _notify_ready()
    print(f"fastctr: serving on {path} (pid {os.getpid()})", file=out, flush=True)
    try:
        loop.run()
    finally:
        for each in listeners:
            each.close()
        protocol.close()
        if parking:
            parking.close()
        loop.close()
        if bound is not None:
            _remove_own_socket(path, bound)
    return 0


def spare_specs(count, engine_settings):
    """Workers forked ahead for any command, each with an Engine of the
    server's own settings kept for a command with the same ones (its store
    open: ~2 ms of a run)."""
    from fastctr.server.parked import Spec

    def prepare():
        from fastctr.engine import Engine, kept
        kept.keep(Engine(**engine_settings), **engine_settings)
    return [Spec("spare", count, prepare, lambda request, peer: True, None)] if count > 0 else []


def pool_specs(pools, engine_settings):
    """A parked-worker Spec per --pool IMAGE[=N] (N: 2 when not given)."""
    from fastctr.server.parked import Spec
    specs = []
    for value in pools:
        image, _, count = value.partition("=")
        if not image or count and (not count.isdigit() or int(count) < 1):
            raise listener.ServerError(f"invalid --pool {value!r}: IMAGE or IMAGE=N with N at least 1")
        specs.append(Spec(f"pool {image}", int(count or 2), _pool_prepare(image, engine_settings),
                          _pool_fits(image), _pool_drain))
    return specs


def _pool_prepare(image, engine_settings):
    def prepare():
        from fastctr.engine import Engine, kept, pool
        engine = Engine(**engine_settings)
        pool.prepare(engine, image, 1)
        kept.keep(engine, **engine_settings)  # the command's own engine, if its settings are the same
    return prepare


def _pool_drain():
    from fastctr.engine import pool
    pool.drain()


def _pool_fits(image):
    """Worth a parked worker: a `run` naming the image, from a client in the
    server's own cgroups (a pooled container's cgroup is below the parent
    as the server resolved it).  The run itself decides the rest."""
    own = _read("/proc/self/cgroup")

    def fits(request, peer):
        if "run" not in request.argv or image not in request.argv:
            return False
        return _read(f"/proc/{peer.pid}/cgroup") == own
    return fits


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _name(sock, default):
    name = sock.getsockname()
    return name if isinstance(name, str) and name else default


def _stdio_open():
    """0-2 open (on /dev/null if not): a descriptor a client sends must
    never land on them in the server."""
    for fd in range(3):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open("/dev/null", os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def _remove_own_socket(path, bound):
    """Unlink the socket unless another server has bound it since."""
    try:
        st = os.stat(path)
        if (st.st_dev, st.st_ino) == (bound.st_dev, bound.st_ino):
            os.unlink(path)
    except OSError:
        pass


def _notify_ready():
    """systemd Type=notify: READY=1 once the socket accepts."""
    address = os.environ.pop("NOTIFY_SOCKET", None)
    if not address:
        return
    import socket
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        try:
            s.sendto(b"READY=1", address)
        except OSError:
            pass
