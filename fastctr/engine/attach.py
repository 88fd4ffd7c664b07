"""Attaching to a detached container: the client of its monitor's socket.

csrc/monitor.c accepts up to 16 clients on <container dir>/attach.sock.
Every message is framed: 1 byte type, 4 bytes big-endian payload length,
the payload.
  monitor -> client: STDOUT, STDERR (output from when the client attached),
                     EXIT (the exit code in ASCII decimal, after the last
                     output; then the monitor hangs up).
  client -> monitor: STDIN, RESIZE (rows, cols: u16 BE each), EOF (closes
                     the container's stdin pipe; ignored with a tty).
Detaching is hanging up: the detach keys are recognised here, never sent."""
import os
import struct

from fastctr.errors import AttachRefused as NotRunning  # defined there, exported here too

STDIN, STDOUT, STDERR, EXIT, RESIZE, EOF = range(6)
EXITED, DETACHED, LOST = "exited", "detached", "lost"
DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p, ctrl-q
_HEADER = struct.Struct(">BI")


def _frame(kind, payload=b""):
    return _HEADER.pack(kind, len(payload)) + bytes(payload)


def listen(path):
    """The monitor's listening socket at path (a stale one is replaced),
    readable by its owner only; returns an inheritable fd."""
    import _socket  # `socket` costs ~20 ms of imports (enums) on every run -d
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        with _addressable(path) as address:
            sock.bind(address)
        os.chmod(path, 0o600)  # before listen(): nobody can connect yet
        sock.listen(16)
    except BaseException:
        sock.close()
        raise
    fd = sock.detach()
    os.set_inheritable(fd, True)
    return fd


class _addressable:
    """A unix socket address for `path`: itself, or through /proc/self/fd
    of its directory when it is longer than sun_path's 108 bytes (a
    container directory below a long data root), as conmon does."""

    def __init__(self, path):
        self.path = path
        self.dirfd = -1

    def __enter__(self):
        if len(os.fsencode(self.path)) < 100:
            return self.path
        self.dirfd = os.open(os.path.dirname(self.path) or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        return f"/proc/self/fd/{self.dirfd}/{os.path.basename(self.path)}"

    def __exit__(self, *exc):
        if self.dirfd >= 0:
            os.close(self.dirfd)


class Client:
    """One connection to a monitor.  Output arrives as frames (read_frame);
    input goes with send_stdin, send_resize and send_eof."""

    def __init__(self, path=None):
        self.sock = None
        self._in = bytearray()
        if path is not None:
            self.connect(path)

    def connect(self, path):
        import socket
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            with _addressable(path) as address:
                sock.connect(address)
        except (FileNotFoundError, ConnectionRefusedError) as e:
            sock.close()
            raise NotRunning(f"cannot attach: the container is not running ({path}: {e.strerror})") \
                from None
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        return self

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------ input
    def send_stdin(self, data):
        if data:
            self.sock.sendall(_frame(STDIN, data))

    def send_resize(self, rows, cols):
        self.sock.sendall(_frame(RESIZE, struct.pack(">HH", rows & 0xFFFF, cols & 0xFFFF)))

    def send_eof(self):
        self.sock.sendall(_frame(EOF))

    # ----------------------------------------------------------- output
    def _buffered_frame(self):
        if len(self._in) < _HEADER.size:
            return None
        kind, n = _HEADER.unpack_from(self._in)
        if len(self._in) < _HEADER.size + n:
            return None
        payload = bytes(self._in[_HEADER.size:_HEADER.size + n])
        del self._in[:_HEADER.size + n]
        return kind, payload

    def _recv(self):
        """One read into the buffer; False at the end of the connection."""
        try:
            data = self.sock.recv(262144)
        except ConnectionResetError:
            return False
        self._in += data
        return bool(data)

    def read_frame(self):
        """The next (type, payload); None once the monitor has hung up."""
        while True:
            frame = self._buffered_frame()
            if frame is not None:
                return frame
            if not self._recv():
                return None

    def _frames(self):
        """After poll: one read, then the complete frames it finished (a
        list), or None when the connection has ended."""
        try:
            alive = self._recv()
        except BlockingIOError:
            alive = True
        frames = []
        while (frame := self._buffered_frame()) is not None:
            frames.append(frame)
        return frames if alive or frames else None


def attach(path, *, tty, interactive, stdin_fd=0, stdout_fd=1, stderr_fd=2, detach_keys=DEFAULT_DETACH_KEYS,
           client=None):
    """`fastctr attach` / `run -it` after the container was started under
    its monitor: copy its output to ours and (interactive) our input to it
    until it exits -> ("exited", code), the detach keys are typed ->
    ("detached", None), or the monitor hangs up -> ("lost", None)."""
    from fastctr.engine.tty import RawMode, _DetachMatcher
    client = client or Client(path)  # `run -it` connects before the container starts
    try:
        with RawMode(stdin_fd if interactive and tty else -1):
            return _loop(client, tty, interactive, stdin_fd, stdout_fd, stderr_fd, _DetachMatcher(detach_keys))
    finally:
        client.close()


def _loop(client, tty, interactive, stdin_fd, stdout_fd, stderr_fd, matcher):
    import select
    import signal
    import threading
    from fastctr.engine.tty import _write_all, window_size

    sock = client.sock
    sock.setblocking(False)
    out = bytearray()  # frames for the monitor, sent as it takes them
    size_fd = stdin_fd if os.isatty(stdin_fd) else stdout_fd
    sized = tty and os.isatty(size_fd)
    winch = sized and threading.current_thread() is threading.main_thread()  # signals: main thread only

    def queue_size():
        size = window_size(size_fd)
        if size is not None:
            out.extend(_frame(RESIZE, struct.pack(">HH", *size)))

    wake_r = wake_w = None
    if winch:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        old_wakeup = signal.set_wakeup_fd(wake_w)
        old_winch = signal.signal(signal.SIGWINCH, lambda *_: None)
    if sized:
        queue_size()
    poll = select.poll()
    reading_stdin = interactive
    sending = True  # False once the monitor stopped taking input
    try:
        while True:
            poll.register(sock, select.POLLIN | (select.POLLOUT if out and sending else 0))
            if wake_r is not None:
                poll.register(wake_r, select.POLLIN)
            if reading_stdin and not out:  # the monitor's pace is ours
                poll.register(stdin_fd, select.POLLIN)
            else:
                _unregister(poll, stdin_fd)
            try:
                events = poll.poll()
            except InterruptedError:
                continue
            for fd, ev in events:
                if fd == wake_r:
                    try:
                        os.read(wake_r, 512)
                    except BlockingIOError:
                        pass
                    queue_size()
                elif fd == stdin_fd:
                    try:
                        data = os.read(stdin_fd, 65536)
                    except BlockingIOError:
                        continue
                    if not data:
                        reading_stdin = False
                        if not tty:  # with a tty, Ctrl-D is a byte and EOF means nothing
                            out.extend(_frame(EOF))
                        continue
                    data, detach = matcher.feed(data)
                    if data:
                        out.extend(_frame(STDIN, data))
                    if detach:
                        _flush(sock, out)
                        return DETACHED, None
                elif fd == sock.fileno():
                    if ev & select.POLLOUT and out and sending:
                        try:
                            del out[:sock.send(out)]
                        except BlockingIOError:
                            pass
                        except OSError:  # it hung up: what it sent is still to read
                            sending = reading_stdin = False
                            out.clear()
                    if ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                        frames = client._frames()
                        if frames is None:
                            return LOST, None
                        for kind, payload in frames:
                            if kind == STDOUT:
                                _write_all(stdout_fd, payload)
                            elif kind == STDERR:
                                _write_all(stderr_fd, payload)
                            elif kind == EXIT:
                                return EXITED, int(payload or b"0")
    finally:
        if wake_r is not None:
            signal.signal(signal.SIGWINCH, old_winch)
            signal.set_wakeup_fd(old_wakeup)
            os.close(wake_r)
            os.close(wake_w)


def _unregister(poll, fd):
    try:
        poll.unregister(fd)
    except KeyError:
        pass


def _flush(sock, out):
    """Before detaching: the input typed so far, if the monitor takes it
    within a moment."""
    import select
    import time
    deadline = time.monotonic() + 1.0
    while out:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([], [sock], [], left)[1]:
            return
        try:
            del out[:sock.send(out)]
        except BlockingIOError:
            pass
        except OSError:
            return
