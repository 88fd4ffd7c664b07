"""The user's terminal and a container's pty: raw mode, the relay between
them, window size (SIGWINCH) and the detach keys (Ctrl-P Ctrl-Q).

The pty master is made inside the container (its own devpts instance) by
csrc/spawn.c and arrives over a socketpair, as runc's --console-socket."""
import os
import select
import signal

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"


def parse_detach_keys(spec):
    """Docker's format: comma-separated `ctrl-X` or single characters;
    empty disables detaching."""
    from fastctr.errors import ConfigError
    out = bytearray()
    for key in filter(None, (spec or "").split(",")):
        if len(key) == 1:
            out.append(ord(key))
        elif key.lower().startswith("ctrl-") and len(key) == 6:
            c = key[5].lower()
            code = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}.get(c)
            if code is None and "a" <= c <= "z":
                code = ord(c) - ord("a") + 1
            if code is None:
                raise ConfigError(f"invalid detach key {key!r}")
            out.append(code)
        else:
            raise ConfigError(f"invalid detach keys {spec!r}: use e.g. ctrl-p,ctrl-q")
    return bytes(out)


def console_pair():
    """(our end, the end for the spawn) of the console socketpair."""
    import socket
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return ours, theirs


def receive_master(sock):
    """The pty master the container's process sent us."""
    import socket
    _, fds, _, _ = socket.recv_fds(sock, 64, 1)
    if not fds:
        raise OSError(5, "the container sent no pty master")
    os.set_blocking(fds[0], True)
    return fds[0]


def window_size(fd):
    """(rows, columns) of the terminal at fd, or None."""
    try:
        cols, rows = os.get_terminal_size(fd)
    except OSError:
        return None
    return rows, cols


def terminal_size():
    """(rows, columns) of our terminal (stdin, else stdout), or None."""
    return window_size(0) or window_size(1)


def copy_window_size(master, from_fd=0):
    import fcntl
    import termios
    try:
        size = fcntl.ioctl(from_fd, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(master, termios.TIOCSWINSZ, size)
    except OSError:
        pass  # not a terminal: the pty keeps its default size


class RawMode:
    """The user's terminal in raw mode (keys reach the container as typed,
    Ctrl-C included), restored on exit.  Nothing happens when stdin is not a
    terminal."""

    def __init__(self, fd=0):
        self.fd = fd
        self.saved = None

    def __enter__(self):
        if os.isatty(self.fd):
            import termios
            import tty
            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            import termios
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)


class _DetachMatcher:
    """Holds back bytes that may begin the detach sequence."""

    def __init__(self, keys):
        self.keys = keys
        self.held = b""

    def feed(self, data):
        """-> (bytes to forward, whether the sequence was typed)."""
        if not self.keys:
            return data, False
        out = bytearray()
        for b in data:
            candidate = self.held + bytes([b])
            if self.keys.startswith(candidate):
                self.held = candidate
                if candidate == self.keys:
                    return bytes(out), True
            else:
                out += candidate
                self.held = b""
        return bytes(out), False


def relay(master, pid_fd, stdin_fd=0, stdout_fd=1, interactive=True):
    """Copy the user's input to the pty (exec -it) and its output back until
    the process behind pid_fd has exited, after its last output."""
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    old_wakeup = signal.set_wakeup_fd(wake_w)
    old_winch = signal.signal(signal.SIGWINCH, lambda *_: None)
    copy_window_size(master, stdin_fd if os.isatty(stdin_fd) else stdout_fd)
    poll = select.poll()
    poll.register(master, select.POLLIN)
    poll.register(pid_fd, select.POLLIN)
    poll.register(wake_r, select.POLLIN)
    if interactive:
        poll.register(stdin_fd, select.POLLIN)
    try:
        while True:
            for fd, _ in _poll(poll):
                if fd == wake_r:
                    os.read(wake_r, 512)
                    copy_window_size(master, stdin_fd if os.isatty(stdin_fd) else stdout_fd)
                elif fd == master:
                    if not _pump(master, stdout_fd):
                        poll.unregister(master)
                elif fd == pid_fd:
                    _drain(master, stdout_fd)
                    return
                else:
                    data = os.read(stdin_fd, 65536)
                    if not data:
                        poll.unregister(stdin_fd)  # the user's EOF; the process sees it as Ctrl-D
                        _write_all(master, b"\x04")
                        continue
                    _write_all(master, data)
    finally:
        signal.signal(signal.SIGWINCH, old_winch)
        signal.set_wakeup_fd(old_wakeup)
        os.close(wake_r)
        os.close(wake_w)


def _poll(poll):
    try:
        return poll.poll()
    except InterruptedError:
        return []


def _pump(master, out):
    try:
        data = os.read(master, 65536)
    except OSError:  # EIO: every slave closed
        return False
    if not data:
        return False
    _write_all(out, data)
    return True


def _drain(master, out):
    """Output written just before the exit is still in the pty."""
    os.set_blocking(master, False)
    try:
        while _pump(master, out):
            pass
    except BlockingIOError:
        pass
    finally:
        os.set_blocking(master, True)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        view = view[n:]
