"""csrc/monitor.c with and without its attach options, and fastctr.attach,
with real processes: a forked child starts the "container" (/bin/sh) as its
own child, makes the attach socket and execs the installed monitor, as
fastctr's detached start does.  No container, no root needed."""
import fcntl
import json
import os
import signal
import socket
import struct
import termios
import threading
import time

import pytest

import fastctr
from fastctr.engine import attach

MONITOR = os.path.join(os.path.dirname(fastctr.__file__), "data", "monitor")
TIMEOUT = 10.0

pytestmark = pytest.mark.skipif(not os.access(MONITOR, os.X_OK), reason="the monitor is not built")


class Scenario:
    def __init__(self, d, monitor_pid, pid):
        self.dir = d
        self.monitor_pid = monitor_pid
        self.pid = pid  # the container's process, the monitor's child
        self.sock = os.path.join(d, "attach.sock")
        self.exit_file = os.path.join(d, "exit.json")
        self.log_file = os.path.join(d, "container-json.log")
        self.marker = os.path.join(d, "cleaned")
        self.status = None

    def client(self):
        c = attach.Client(self.sock)
        c.sock.settimeout(TIMEOUT)
        return c

    def touch(self, name):
        open(os.path.join(self.dir, name), "w").close()

    def running(self):
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False

    def wait(self, timeout=TIMEOUT):
        """The monitor's end (it execs the clean-up, which exits)."""
        deadline = time.monotonic() + timeout
        while self.status is None:
            pid, status = os.waitpid(self.monitor_pid, os.WNOHANG)
            if pid:
                self.status = status
                break
            if time.monotonic() > deadline:
                raise AssertionError("the monitor did not finish")
            time.sleep(0.01)
        return self.status

    def exit_record(self):
        with open(self.exit_file) as f:
            return json.load(f)

    def log(self):
        with open(self.log_file) as f:
            return [json.loads(line) for line in f]

    def kill(self):
        """Teardown: only the processes this scenario started."""
        if self.status is None:
            for pid in (self.pid, self.monitor_pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                self.wait(5)
            except (AssertionError, ChildProcessError):
                pass


@pytest.fixture
def start(tmp_path):
    started = []

    def run(script, *, tty=False, stdin=False, listen=True, options=()):
        d = str(tmp_path)
        report_r, report_w = os.pipe()
        monitor_pid = os.fork()
        if monitor_pid == 0:  # pragma: no cover - ends in exec or _exit
            try:
                _monitor_child(d, script, tty, stdin, listen, options, report_w)
            finally:
                os._exit(127)
        os.close(report_w)
        data = b""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:  # EOF: the monitor was exec'd (the pipe is close-on-exec)
            chunk = os.read(report_r, 64)
            if not chunk:
                break
            data += chunk
        os.close(report_r)
        s = Scenario(d, monitor_pid, int(data or b"0"))
        started.append(s)
        assert s.pid, "the scenario did not start"
        return s
    yield run
    for s in started:
        s.kill()


def _monitor_child(d, script, tty, stdin, listen, options, report_w):
    os.chdir(d)  # the scripts' files (stop) are relative
    null = os.open("/dev/null", os.O_RDWR)
    args = [MONITOR, *options]
    if tty:
        master, slave = os.openpty()
        pid = os.fork()
        if pid == 0:
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            os.execv("/bin/sh", ["sh", "-c", script])
        os.close(slave)
        os.set_inheritable(master, True)
        args += ["--tty"]
        out_err = [str(master), "-1"]
    else:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_r, in_w = os.pipe() if stdin else (null, None)
        pid = os.fork()
        if pid == 0:
            os.dup2(in_r, 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            os.execv("/bin/sh", ["sh", "-c", script])
        for fd in (out_w, err_w):
            os.close(fd)
        for fd in (out_r, err_r):
            os.set_inheritable(fd, True)
        if stdin:
            os.close(in_r)
            os.set_inheritable(in_w, True)
            args += ["--stdin", str(in_w)]
        out_err = [str(out_r), str(err_r)]
    if listen:
        args += ["--attach", str(attach.listen(os.path.join(d, "attach.sock")))]
    args += [os.path.join(d, "exit.json"), os.path.join(d, "container-json.log"), str(pid), *out_err,
             "--", "/bin/sh", "-c", f"touch {d}/cleaned"]
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.write(report_w, str(pid).encode())
    os.execv(MONITOR, args)


def _collect(client, until=None):
    """Frames until the exit frame (-> its code), `until` appears in the
    output (-> None), or the monitor hangs up (-> "lost")."""
    client.out = getattr(client, "out", b"")
    client.err = getattr(client, "err", b"")
    while True:
        frame = client.read_frame()
        if frame is None:
            return "lost"
        kind, payload = frame
        if kind == attach.STDOUT:
            client.out += payload
        elif kind == attach.STDERR:
            client.err += payload
        elif kind == attach.EXIT:
            return int(payload)
        if until is not None and until in client.out + client.err:
            return None


TICKS = 'while [ ! -e stop ]; do echo tick; sleep 0.05; done; echo bye; echo gone >&2; exit 7'


def test_without_options_unchanged(start):
    s = start("echo hello; echo oops >&2; printf 'no newline'; exit 5", listen=False)
    assert os.WIFEXITED(s.wait()) and os.WEXITSTATUS(s.wait()) == 0  # the clean-up's status
    assert s.exit_record()["exit_code"] == 5
    assert os.path.exists(s.marker)
    lines = [(r["stream"], r["log"]) for r in s.log()]
    assert ("stdout", "hello\n") in lines and ("stderr", "oops\n") in lines and ("stdout", "no newline") in lines
    assert not os.path.exists(s.sock)


def test_usage_error():
    import subprocess
    p = subprocess.run([MONITOR, "--bogus", "a", "b", "1", "3", "4", "--", "/bin/true"], capture_output=True)
    assert p.returncode == 2 and b"usage:" in p.stderr
    p = subprocess.run([MONITOR, "--tty", "a", "b", "1", "3", "4", "/bin/true"], capture_output=True)
    assert p.returncode == 2


def test_attach_pipes_stdout_stderr_exit(start):
    s = start(TICKS)
    with s.client() as c:
        assert _collect(c, until=b"tick") is None
        s.touch("stop")
        assert _collect(c) == 7
        assert c.out.endswith(b"tick\nbye\n") and c.err == b"gone\n"
        assert c.read_frame() is None  # the monitor hung up after the exit frame
    s.wait()
    assert s.exit_record()["exit_code"] == 7
    assert os.path.exists(s.marker)
    assert ("stderr", "gone\n") in [(r["stream"], r["log"]) for r in s.log()]


def test_stdin_line_and_eof(start):
    s = start("read x; echo got:$x; cat; echo cat-done", stdin=True)
    with s.client() as c:
        c.send_stdin(b"hello\n")
        assert _collect(c, until=b"got:hello\n") is None
        c.send_stdin(b"one ")
        c.send_stdin(b"two\n")
        assert _collect(c, until=b"one two\n") is None
        c.send_eof()
        assert _collect(c) == 0
        assert c.out == b"got:hello\none two\ncat-done\n"
    s.wait()
    assert s.exit_record()["exit_code"] == 0


def test_stdin_big_input_is_not_lost(start):
    """More input than a pipe holds: the monitor waits for the container,
    the output keeps flowing."""
    s = start("wc -c", stdin=True)
    data = b"x" * (1 << 20)
    with s.client() as c:
        for i in range(0, len(data), 100000):
            c.send_stdin(data[i:i + 100000])
        c.send_eof()
        assert _collect(c) == 0
        assert c.out.strip() == str(len(data)).encode()


def test_tty_output_input_resize(start):
    s = start("read x; echo got:$x; read y; stty size; exit 3", tty=True)
    with s.client() as c:
        c.send_stdin(b"hello\n")
        assert _collect(c, until=b"got:hello\r\n") is None
        c.send_eof()  # ignored with a tty
        c.send_resize(33, 77)
        c.send_stdin(b"\n")
        assert _collect(c) == 3
        assert b"33 77\r\n" in c.out
    s.wait()
    assert s.exit_record()["exit_code"] == 3
    assert "got:hello\r\n" in [r["log"] for r in s.log() if r["stream"] == "stdout"]


def test_tty_eio_ends_the_stream(start):
    s = start("echo last words", tty=True)
    s.wait()
    assert s.exit_record()["exit_code"] == 0
    assert [r["log"] for r in s.log()] == ["last words\r\n"]


def test_detach_and_reattach(start):
    s = start(TICKS)
    c = s.client()
    assert _collect(c, until=b"tick") is None
    c.close()  # detaching
    time.sleep(0.2)
    assert s.running()
    with s.client() as c2:
        assert _collect(c2, until=b"tick") is None
        s.touch("stop")
        assert _collect(c2) == 7
        assert c2.out.endswith(b"bye\n")
    s.wait()
    assert s.exit_record()["exit_code"] == 7


def test_two_clients(start):
    s = start(TICKS)
    with s.client() as a, s.client() as b:
        assert _collect(a, until=b"tick") is None
        assert _collect(b, until=b"tick") is None
        s.touch("stop")
        assert _collect(a) == 7 and _collect(b) == 7
        assert a.out.endswith(b"bye\n") and b.out.endswith(b"bye\n")
        assert a.err == b.err == b"gone\n"
    s.wait()


def test_seventeenth_client_is_refused(start):
    s = start("exec sleep 30")
    clients = [s.client() for _ in range(16)]
    try:
        extra = s.client()
        assert extra.read_frame() is None  # closed at once
        extra.close()
        assert s.running()
        clients.pop().close()
        time.sleep(0.1)
        again = s.client()  # a slot is free again
        clients.append(again)
        again.sock.settimeout(0.3)
        with pytest.raises(socket.timeout):
            again.read_frame()
    finally:
        for c in clients:
            c.close()
    os.kill(s.pid, signal.SIGKILL)
    s.wait()
    assert s.exit_record()["exit_code"] == 137


def test_slow_client_is_dropped_not_waited_for(start):
    s = start("head -c 8000000 /dev/zero | tr '\\0' x; echo; echo done", listen=True)
    c = s.client()  # never reads
    s.wait(30)
    assert s.exit_record()["exit_code"] == 0
    assert s.log()[-1]["log"] == "done\n"
    got = b""
    while True:
        chunk = c.sock.recv(1 << 20)
        if not chunk:
            break
        got += chunk
    c.close()
    assert 0 < len(got) < 8000000  # dropped part way, without an exit frame


def test_connect_refused_after_exit(start):
    s = start("exit 0")
    s.wait()
    with pytest.raises(attach.NotRunning, match="not running"):
        attach.Client(s.sock)
    with pytest.raises(OSError):
        attach.Client(os.path.join(s.dir, "missing.sock"))


def test_listen_replaces_stale_socket(tmp_path):
    path = str(tmp_path / "attach.sock")
    fd = attach.listen(path)
    os.close(fd)
    fd = attach.listen(path)  # stale path
    try:
        assert os.get_inheritable(fd)
        assert os.stat(path).st_mode & 0o777 == 0o600
        assert socket.socket(fileno=os.dup(fd)).getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    finally:
        os.close(fd)


def _pipe_stdio(data):
    r, w = os.pipe()
    os.write(w, data)
    return r, w


def test_attach_function_detach_keys(start, tmp_path):
    s = start("cat", stdin=True)
    stdin_r, stdin_w = _pipe_stdio(b"hello\n\x10\x11more\n")
    out = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT)
    try:
        assert attach.attach(s.sock, tty=False, interactive=True, stdin_fd=stdin_r, stdout_fd=out,
                             stderr_fd=out) == ("detached", None)
    finally:
        os.close(stdin_r)
        os.close(stdin_w)
    time.sleep(0.2)
    assert s.running()
    with s.client() as c:
        c.send_stdin(b"again\n")
        assert _collect(c, until=b"again\n") is None
        assert b"more" not in c.out  # what came after the detach keys was not sent
        c.send_eof()
        assert _collect(c) == 0
    s.wait()
    assert [r["log"] for r in s.log()] == ["hello\n", "again\n"]
    os.close(out)


def test_attach_function_until_exit(start, tmp_path):
    s = start("read x; echo got:$x; echo err >&2; cat; exit 4", stdin=True)
    stdin_r, stdin_w = _pipe_stdio(b"hi\nrest\n")
    os.close(stdin_w)  # then EOF: closes the container's stdin, so cat ends
    out = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT)
    err = os.open(tmp_path / "err", os.O_RDWR | os.O_CREAT)
    try:
        assert attach.attach(s.sock, tty=False, interactive=True, stdin_fd=stdin_r, stdout_fd=out,
                             stderr_fd=err) == ("exited", 4)
    finally:
        os.close(stdin_r)
    assert (tmp_path / "out").read_bytes() == b"got:hi\nrest\n"
    assert (tmp_path / "err").read_bytes() == b"err\n"
    s.wait()


def test_attach_function_tty_not_interactive(start, tmp_path):
    s = start('while [ ! -e stop ]; do echo tick; sleep 0.05; done; echo "size $(stty size)"', tty=True)
    out = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT)
    threading.Timer(0.3, s.touch, ("stop",)).start()
    assert attach.attach(s.sock, tty=True, interactive=False, stdin_fd=out, stdout_fd=out) == ("exited", 0)
    os.close(out)
    assert (tmp_path / "out").read_bytes().endswith(b"tick\r\nsize 0 0\r\n")


def test_attach_function_lost(start, tmp_path):
    s = start("exec sleep 30")
    out = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT)
    timer = threading.Timer(0.3, os.kill, (s.monitor_pid, signal.SIGKILL))
    timer.start()
    try:
        assert attach.attach(s.sock, tty=False, interactive=False, stdout_fd=out) == ("lost", None)
    finally:
        timer.cancel()
        os.close(out)


def _smaps_rollup(pid):
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


def test_idle_monitor_memory(start):
    """With the attach socket open and no client, an idle monitor touches
    no more memory of its own than before attach existed.  Its file pages
    (the static binary's text, ~0.8 MB here because the page cache maps
    large folios) are shared by every monitor, so Pss_Anon is the cost of
    one more container."""
    s = start("exec sleep 30")
    time.sleep(0.5)
    mem = _smaps_rollup(s.monitor_pid)
    print("idle monitor:", {k: mem.get(k) for k in ("Rss", "Pss", "Pss_Anon", "Pss_File")})
    assert mem["Pss_Anon"] < 200
    with s.client() as c:
        c.send_resize(10, 10)
        time.sleep(0.2)
    os.kill(s.pid, signal.SIGKILL)
    s.wait()
    assert s.exit_record()["exit_code"] == 137


def test_many_frames_in_one_read(start):
    """Frames split and joined arbitrarily on the wire."""
    s = start("read a; read b; echo $a-$b", stdin=True)
    with s.client() as c:
        wire = attach._frame(attach.STDIN, b"x\n") + attach._frame(attach.RESIZE, struct.pack(">HH", 1, 2)) \
            + attach._frame(attach.STDIN, b"y\n")
        for b in wire:  # one byte at a time
            c.sock.sendall(bytes([b]))
            time.sleep(0.001)
        assert _collect(c) == 0
        assert c.out == b"x-y\n"


def test_attach_function_from_a_terminal(start):
    """The user's terminal is a pty here: raw mode while attached (restored
    after), its size sent at the start and on SIGWINCH."""
    import select
    s = start("read x; stty size; read y; stty size; exit 2", tty=True)
    user_master, user_tty = os.openpty()
    fcntl.ioctl(user_master, termios.TIOCSWINSZ, struct.pack("HHHH", 20, 60, 0, 0))
    saved = termios.tcgetattr(user_tty)
    seen = bytearray()
    stop = threading.Event()
    modes = []

    def user():
        steps = [(0.3, lambda: (modes.append(termios.tcgetattr(user_tty)[3]), os.write(user_master, b"\n"))),
                 (0.3, lambda: (fcntl.ioctl(user_master, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 90, 0, 0)),
                                os.kill(os.getpid(), signal.SIGWINCH))),
                 (0.3, lambda: os.write(user_master, b"\n"))]
        deadline = time.monotonic()
        while not stop.is_set():
            if steps and time.monotonic() >= deadline + steps[0][0]:
                steps.pop(0)[1]()
                deadline = time.monotonic()
            if select.select([user_master], [], [], 0.02)[0]:
                try:
                    seen.extend(os.read(user_master, 4096))
                except OSError:
                    return
    t = threading.Thread(target=user)
    t.start()
    try:
        result = attach.attach(s.sock, tty=True, interactive=True, stdin_fd=user_tty, stdout_fd=user_tty)
        assert termios.tcgetattr(user_tty) == saved
    finally:
        time.sleep(0.1)
        stop.set()
        t.join(TIMEOUT)
        os.close(user_tty)
        os.close(user_master)
    assert result == ("exited", 2)
    assert modes and not modes[0] & termios.ICANON  # raw while attached
    assert saved[3] & termios.ICANON
    assert b"20 60\r\n" in seen and b"30 90\r\n" in seen
    s.wait()
