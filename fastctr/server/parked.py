"""Workers forked ahead of their commands, each parked with something ready.

`fastctr serve --pool IMAGE=N` keeps N parked workers per image; each has
prepared a pooled container (fastctr.engine.pool: namespaces, root
filesystem, cgroup, its init waiting before exec) as its own child, so that
the worker can wait for it as a cold `run` waits for its container.  A
`run` of that image is handed to a parked worker instead of a fresh fork:
the CLI's run takes the pooled container when the options fit and starts
normally when they do not.  Whatever the command did, once the client has
its exit status the worker removes what it prepared and did not use (and
what a taken container left), and the server parks a new one in its place.

The hand-over is one message on the worker's own socket: the client's
connection and stdio descriptors (SCM_RIGHTS), the peer's pid and the
request as the client sent it.  The end of that socket is the worker's
signal to leave (the server stops): it removes what it prepared and exits."""
import os
import socket
import struct
import sys
import time

from fastctr.server import protocol, worker

_HANDOFF = struct.Struct("<iI")  # peer pid, payload length
READY = b"R"
RETRY_SECONDS = 1.0


class Spec:
    """What a kind of parked worker prepares, and which requests it takes."""

    def __init__(self, name, count, prepare, fits, after):
        self.name, self.count = name, count
        self.prepare = prepare  # in the parked child, before it is ready
        self.fits = fits        # fits(request, peer) in the server: worth handing it over?
        self.after = after      # in the child, after its command (or when told to leave)


class Parked:
    def __init__(self, parking, spec):
        self.parking, self.spec = parking, spec
        self.ready = False
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.pid = os.fork()
        if self.pid == 0:
            ours.close()
            _park(parking.run_command, theirs, spec)
        theirs.close()
        self.sock = ours
        self.pidfd = os.pidfd_open(self.pid)
        parking.loop.add(self.sock.fileno(), self._readable)

    def _readable(self):
        try:
            data = self.sock.recv(16)
        except OSError:
            data = b""
        if data == READY:
            self.ready = True
            _debug(f"ready {self.spec.name} {self.pid}")
            return
        self.parking.lost(self)  # it could not prepare, or it died

    def hand_over(self, conn, request, peer):
        """Give it the command: (its pid, its pidfd), now the session's."""
        loop = self.parking.loop
        loop.remove(self.sock.fileno())
        fds = [conn.fileno(), *request.fds]
        payload = request.raw
        message = _HANDOFF.pack(peer.pid, len(payload)) + payload
        socket.send_fds(self.sock, [message[:65536]], fds)
        if len(message) > 65536:
            self.sock.sendall(message[65536:])
        self.sock.close()
        return self.pid, self.pidfd

    def dismiss(self):
        """The server stops: the worker removes what it prepared and exits."""
        self.parking.loop.remove(self.sock.fileno())
        self.sock.close()

    def reap(self, timeout):
        """Wait for a dismissed worker (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.02)
        else:
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
        os.close(self.pidfd)


class Parking:
    def __init__(self, loop, run_command, specs):
        self.loop, self.run_command, self.specs = loop, run_command, list(specs)
        self.parked = {spec.name: [] for spec in self.specs}
        self.retry_at = {}
        loop.ticks.append(self.fill)

    def fill(self):
        """Park workers up to each spec's count (a spec whose worker failed
        waits RETRY_SECONDS before the next try)."""
        now = time.monotonic()
        for spec in self.specs:
            if self.retry_at.get(spec.name, 0) > now:
                continue
            while len(self.parked[spec.name]) < spec.count:
                self.parked[spec.name].append(Parked(self, spec))

    def take(self, request, peer):
        for spec in self.specs:
            ready = [p for p in self.parked[spec.name] if p.ready]
            if ready and spec.fits(request, peer):
                self.parked[spec.name].remove(ready[0])
                self.fill()
                return ready[0]
        return None

    def lost(self, parked):
        self.loop.remove(parked.sock.fileno())
        parked.sock.close()
        os.waitpid(parked.pid, 0)
        os.close(parked.pidfd)
        self.parked[parked.spec.name].remove(parked)
        self.retry_at[parked.spec.name] = time.monotonic() + RETRY_SECONDS

    def close(self, timeout=30):
        everyone = [p for group in self.parked.values() for p in group]
        for p in everyone:
            p.dismiss()
        for p in everyone:
            p.reap(timeout)
        for group in self.parked.values():
            group.clear()


def _debug(line):
    """FASTCTR_SERVER_DEBUG=FILE: the server's events, a line each (tests
    wait for a parked worker's readiness there)."""
    path = os.environ.get("FASTCTR_SERVER_DEBUG")
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def _park(run_command, sock, spec):
    """The parked child: prepare, say READY, wait for a command (never returns)."""
    worker.detach_from_server({sock.fileno()})
    try:
        if spec.prepare:
            spec.prepare()
        sock.send(READY)
    except BaseException as e:
        print(f"fastctr serve: cannot prepare {spec.name}: {e}", file=sys.stderr, flush=True)
        _leave(spec)
    try:
        msg, fds, _, _ = socket.recv_fds(sock, 65536, 4)
    except OSError:
        msg, fds = b"", []
    if not msg or len(fds) != 4:  # dismissed: the server stops
        _leave(spec)
    peer_pid, length = _HANDOFF.unpack(msg[:_HANDOFF.size])
    payload = msg[_HANDOFF.size:]
    while len(payload) < length:
        chunk = sock.recv(length - len(payload))
        if not chunk:
            _leave(spec)
        payload += chunk
    sock.close()
    conn = socket.socket(fileno=fds[0])
    request = protocol.parse(payload, fds[1:])
    worker.serve_one(run_command, conn, request, peer_pid, after=spec.after)


def _leave(spec):
    try:
        if spec.after:
            spec.after()
    finally:
        os._exit(0)
