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
    "fastctr.net.rtnl", "fastctr.net.ipam", "fastctr.events",
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


def serve(run_command, socket_path=None, group=None, warm_modules=(), out=sys.stderr):
    """Serve `fastctr` commands (run_command(argv) -> status) until
    SIGTERM/SIGINT; returns the exit status of `fastctr serve`."""
    _stdio_open()
    gid = listener.group_id(group)
    warm(warm_modules)
    loop = listener.Loop()
    activated = listener.activated_sockets()
    path = socket_path or default_socket()
    sockets = activated or [listener.bind_socket(path, gid)]
    bound = None if activated else os.stat(path)
    protocol = CommandProtocol(loop, run_command)
    listeners = [listener.Listener(loop, s, protocol, listener.Access(gid), _name(s, path)) for s in sockets]
    _notify_ready()
    print(f"fastctr: serving on {path} (pid {os.getpid()})", file=out, flush=True)
    try:
        loop.run()
    finally:
        for each in listeners:
            each.close()
        protocol.close()
        loop.close()
        if bound is not None:
            _remove_own_socket(path, bound)
    return 0


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
