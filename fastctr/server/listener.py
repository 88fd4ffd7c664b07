"""The server's socket layer: Unix sockets, who may use them, one loop.

A protocol (fastctr.server.commands today; the Docker Engine API later, on
a second socket over the same engine) is handed each accepted connection
whose peer is allowed, and registers what it wants to hear about in the
Loop.  The loop is single-threaded on purpose: the server forks a worker
per command, and a fork of a threaded process keeps locks other threads
held.

Who may connect: root, the server's own user, and with --group the members
of that group, checked on every connection with SO_PEERCRED (the socket's
mode says the same, but a socket unit or a hand-made chmod may say more)."""
import errno
import os
import selectors
import signal
import socket
import struct

from fastctr.errors import FastctrError

SOCKET_NAME = "fastctr.sock"
_UCRED = struct.Struct("3i")


class ServerError(FastctrError):
    """The server cannot start: the socket is in use, the group unknown..."""


class Peer:
    __slots__ = ("pid", "uid", "gid")

    def __init__(self, pid, uid, gid):
        self.pid, self.uid, self.gid = pid, uid, gid


def peer_of(conn):
    return Peer(*_UCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)))


def group_id(group):
    """A group name or number as a gid."""
    if group is None:
        return None
    if str(group).isdigit():
        return int(group)
    import grp
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ServerError(f"no such group: {group}") from None


class Access:
    def __init__(self, gid=None):
        self.gid = gid

    def allows(self, peer):
        if peer.uid in (0, os.geteuid()):
            return True
        return self.gid is not None and (peer.gid == self.gid or self.gid in _supplementary_groups(peer.pid))

    def refusal(self, peer, path):
        who = "root" if self.gid is None else f"root and the members of group {self.gid}"
        return f"fastctr: permission denied: uid {peer.uid} may not use the fastctr server at {path} (only {who})"


def _supplementary_groups(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Groups:"):
                    return {int(g) for g in line.split()[1:]}
    except OSError:
        pass
    return set()


def bind_socket(path, gid=None):
    """A listening socket at `path`: mode 0600, or 0660 and owned by group
    `gid`.  A stale socket (nobody listening) is replaced; a live one is an
    error."""
    _take_over_stale(path)
    os.makedirs(os.path.dirname(path) or ".", mode=0o711, exist_ok=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # no moment at which others could connect
    try:
        s.bind(path)
    except OSError as e:
        s.close()
        raise ServerError(f"cannot listen on {path}: {e.strerror or e}") from None
    finally:
        os.umask(old)
    if gid is not None:
        os.chown(path, -1, gid)
        os.chmod(path, 0o660)
    s.listen(512)
    return s


def _take_over_stale(path):
    try:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        finally:
            probe.close()
    except FileNotFoundError:
        return
    except ConnectionRefusedError:  # a socket left by a server that was killed
        os.unlink(path)
        return
    except OSError as e:
        if e.errno == errno.ENOTSOCK or e.errno == errno.ECONNREFUSED:
            raise ServerError(f"{path} exists and is not a server's socket") from None
        raise ServerError(f"cannot use {path}: {e.strerror}") from None
    raise ServerError(f"a fastctr server already listens on {path}")


def activated_sockets():
    """The listening sockets systemd passed (socket activation), if any."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return []
    count = int(os.environ.get("LISTEN_FDS", "0") or 0)
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)  # not for the workers' children
    return [socket.socket(fileno=3 + i) for i in range(count)]


class Loop:
    """One selector; callbacks by file descriptor; SIGTERM/SIGINT stop it."""

    def __init__(self):
        self.selector = selectors.DefaultSelector()
        self.running = True
        self.ticks = []  # called after every wake-up (at least once a second)
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self.wake_w)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop_signal)
        self.add(self.wake_r, self._drain_wakeups)

    def _stop_signal(self, signum, frame):
        self.running = False

    def _drain_wakeups(self):
        try:
            os.read(self.wake_r, 512)
        except BlockingIOError:
            pass

    def add(self, fd, callback):
        self.selector.register(fd, selectors.EVENT_READ, callback)

    def remove(self, fd):
        try:
            self.selector.unregister(fd)
        except (KeyError, ValueError):
            pass

    def run(self):
        while self.running:
            for key, _ in self.selector.select(timeout=1.0):
                key.data()
                if not self.running:
                    break
            for tick in self.ticks:
                tick()

    def close(self):
        signal.set_wakeup_fd(-1)
        self.selector.close()
        os.close(self.wake_r)
        os.close(self.wake_w)


class Listener:
    """A listening socket whose allowed connections go to `protocol`."""

    def __init__(self, loop, sock, protocol, access, path):
        self.loop, self.sock, self.protocol, self.access, self.path = loop, sock, protocol, access, path
        sock.setblocking(False)
        loop.add(sock.fileno(), self._accept)

    def _accept(self):
        for _ in range(64):  # what is queued, a bounded batch at a time
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # EMFILE and the like: the queue stays readable, so do not spin on it
                import time
                time.sleep(0.05)
                return
            peer = peer_of(conn)
            if not self.access.allows(peer):
                from fastctr.server import protocol
                try:
                    conn.send(protocol.deny(self.access.refusal(peer, self.path)), socket.MSG_NOSIGNAL)
                except OSError:
                    pass
                conn.close()
                continue
            self.protocol.connected(conn, peer)

    def close(self):
        self.loop.remove(self.sock.fileno())
        self.sock.close()
