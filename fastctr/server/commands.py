"""The command protocol: one connection is one `fastctr` command.

A session reads the request (fastctr.server.protocol), forks a worker for
it (fastctr.server.worker) and then stays as the worker's relay: the bytes
the client sends are signals for the worker, the end of the stream while
the worker runs is a hang-up (the worker gets SIGHUP, as a cold command
would when its terminal goes).  The worker writes the exit status to the
client itself; the session only speaks when the worker was killed before
it could (DIED), so a client is never left waiting.  Workers are watched
through pidfds in the loop: no SIGCHLD handler, no polling."""
import os
import signal
import socket

from fastctr.server import protocol, worker

RECV = 1 << 16


class CommandProtocol:
    def __init__(self, loop, run_command, parking=None):
        """run_command(argv) -> status: the CLI's main.  parking: workers
        forked ahead (fastctr.server.parked), tried before a fork."""
        self.loop, self.run_command, self.parking = loop, run_command, parking
        self.sessions = set()

    def connected(self, conn, peer):
        session = Session(self, conn, peer)
        self.sessions.add(session)
        session.read()  # the client sends it all at once: usually complete already

    def close(self):
        """The server stops: workers go on alone (they hold their
        connections); only unfinished requests are dropped."""
        for session in list(self.sessions):
            if session.pid is None:
                session.finish()


class Session:
    def __init__(self, owner, conn, peer):
        self.owner, self.conn, self.peer = owner, conn, peer
        self.buf, self.fds, self.need = b"", [], None
        self.pid = self.pidfd = None
        self.hung_up = False
        conn.setblocking(False)
        owner.loop.add(conn.fileno(), self.read)

    def read(self):
        try:
            data, fds, _, _ = socket.recv_fds(self.conn, RECV, protocol.STDIO_FDS)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data, fds = b"", []
        if self.pid is not None:
            return self._relay(data)
        self.fds += fds
        if not data:
            return self.finish()  # gone before its request was whole
        self.buf += data
        try:
            if self.need is None and len(self.buf) >= protocol.HEADER.size:
                self.need = protocol.HEADER.size + protocol.payload_length(self.buf[:protocol.HEADER.size])
            if self.need is not None and len(self.buf) >= self.need:
                request = protocol.parse(self.buf[protocol.HEADER.size:self.need], self.fds)
                signals, self.buf = self.buf[self.need:], b""
                self._start(request)
                if signals:  # sent before the worker existed
                    self._relay(signals)
        except protocol.BadRequest as e:
            self._refuse(f"fastctr: bad request to the server: {e}")

    def _refuse(self, message):
        try:
            self.conn.send(protocol.deny(message), socket.MSG_NOSIGNAL)
        except OSError:
            pass
        self.finish()

    def _start(self, request):
        parked = self.owner.parking.take(request, self.peer) if self.owner.parking else None
        if parked:
            self.pid, self.pidfd = parked.hand_over(self.conn, request, self.peer)
        else:
            self.pid = worker.fork(self.owner, self.conn, request, self.peer)
            self.pidfd = os.pidfd_open(self.pid)
        for fd in self.fds:  # the worker has them now
            os.close(fd)
        self.fds = []
        self.owner.loop.add(self.pidfd, self._reap)

    def _relay(self, data):
        if not data:
            if not self.hung_up:
                self.hung_up = True
                self.owner.loop.remove(self.conn.fileno())
                self._signal(signal.SIGHUP)
            return
        for signum in data:
            if 0 < signum < signal.NSIG:
                self._signal(signum)

    def _signal(self, signum):
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def _reap(self):
        _, status = os.waitpid(self.pid, 0)
        if os.WIFSIGNALED(status) and not self.hung_up:
            try:
                self.conn.send(protocol.frame(b"DIED", os.WTERMSIG(status)), socket.MSG_NOSIGNAL)
            except OSError:
                pass
        self.finish()

    def finish(self):
        loop = self.owner.loop
        loop.remove(self.conn.fileno())
        self.conn.close()
        if self.pidfd is not None:
            loop.remove(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = None
        for fd in self.fds:
            os.close(fd)
        self.fds = []
        self.owner.sessions.discard(self)
