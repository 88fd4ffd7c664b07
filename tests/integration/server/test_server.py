"""`fastctr serve` and the thin client (csrc/client.c): real servers on
sockets of their own, real containers, real signals and terminals.

That a command went through the server is seen from outside: its client
process stays the small launcher (/proc/PID/exe is `fastctr`) instead of
becoming Python, and the server has the worker as its child."""
import grp
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import imagetools as it  # noqa: E402
from ptytools import Pty  # noqa: E402

LAUNCHER = os.path.join(os.path.dirname(sys.executable), "fastctr")
PYTHON = os.path.realpath(sys.executable)


class Server:
    """A `fastctr serve` on its own socket, data and state roots; its
    events (FASTCTR_SERVER_DEBUG) in self.debug."""

    def __init__(self, roots, *extra):
        self.roots = roots
        self.socket = os.path.join(roots.state, "fastctr.sock")
        self.debug = os.path.join(roots.state, f"debug-{time.monotonic_ns()}")
        self.env = dict(os.environ, FASTCTR_CGROUP_PARENT="self", FASTCTR_DEFAULT_NETWORK="none")
        self.env.pop("FASTCTR_SOCKET", None)  # the CI pass's server is not ours
        self.env.pop("FASTCTR_NO_SERVER", None)
        self.proc = subprocess.Popen(roots.argv + ["serve", *extra], env=dict(self.env, FASTCTR_SERVER_DEBUG=self.debug),
                                     cwd="/",
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while not self.accepts():
            assert self.proc.poll() is None, self.proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the server did not listen"
            time.sleep(0.05)

    def accepts(self):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(self.socket)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def ready_events(self):
        try:
            with open(self.debug) as f:
                return [line.split() for line in f if line.startswith("ready ")]
        except FileNotFoundError:
            return []

    def children(self):
        return [pid for pid in _pids() if _ppid(pid) == self.proc.pid]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        status = self.proc.wait(30)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return status


class Roots:
    def __init__(self):
        self.data = tempfile.mkdtemp(prefix="fastctr-test-data-", dir="/var/tmp")
        self.state = tempfile.mkdtemp(prefix="fastctr-test-state-")
        os.chmod(self.data, 0o755)
        os.chmod(self.state, 0o755)
        self.argv = [LAUNCHER, "--data-root", self.data, "--state-root", self.state]


@pytest.fixture(scope="module")
def roots():
    r = Roots()
    it.write_oci_layout(os.path.join(r.data, "layout"), [it.busybox_layer()], ref_name="bb:1")
    env = dict(os.environ, FASTCTR_NO_SERVER="1")
    subprocess.run(r.argv + ["load", "-q", "-i", os.path.join(r.data, "layout")], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    yield r
    left = subprocess.run(r.argv + ["ps", "-aq"], env=env, capture_output=True, text=True).stdout.split()
    if left:
        subprocess.run(r.argv + ["rm", "-f", *left], env=env, capture_output=True)
    import shutil
    shutil.rmtree(r.data, ignore_errors=True)
    shutil.rmtree(r.state, ignore_errors=True)
    assert not left, f"containers left behind: {left}"


@pytest.fixture
def server(roots):
    """No spare worker: its children are the workers of running commands."""
    s = Server(roots, "--spare", "0")
    yield s
    assert s.stop() == 0
    assert not os.path.exists(s.socket), "the socket outlived its server"
    assert not s.children(), "workers outlived their commands"


def _pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError):
        return None


def fastctr(server, *args, env=None, **kw):
    if "input" not in kw:
        kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("capture_output", True)
    return subprocess.run(server.roots.argv + list(args), env=env or server.env, cwd="/", timeout=60, text=True, **kw)


def start(server, *args, env=None, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(server.roots.argv + list(args), env=env or server.env, cwd="/", text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def wait_for(predicate, timeout=20, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def served(proc):
    """The client of a running command stayed the launcher (not Python)."""
    return os.path.realpath(f"/proc/{proc.pid}/exe") == os.path.realpath(LAUNCHER)


def ready(proc):
    line = proc.stdout.readline()
    assert line.strip() == "ready", (line, proc.stderr.read() if proc.poll() is not None else "")


# ---------------------------------------------------------------- the path itself

def test_a_command_goes_through_the_server_and_the_cold_path_stays(server):
    p = start(server, "run", "--rm", "bb:1", "sh", "-c", "echo ready; sleep 1")
    ready(p)
    assert served(p)
    assert server.children(), "no worker of the server runs the command"
    assert p.wait(30) == 0
    for cold in (dict(server.env, FASTCTR_NO_SERVER="1"), None):
        argv = ["run", "--rm", "bb:1", "sh", "-c", "echo ready; sleep 1"]
        p = start(server, *(argv if cold else ["--no-server"] + argv), env=cold)
        ready(p)
        assert os.path.realpath(f"/proc/{p.pid}/exe") == PYTHON, "--no-server / FASTCTR_NO_SERVER went to the server"
        assert p.wait(30) == 0


def test_a_client_in_a_network_namespace_of_its_own_starts_cold_there(server):
    """The command acts where its client is: in the client's own network
    namespace (here bridge and veth of the default network would go), not in
    the server's."""
    script = ('ip link set lo up; exec "$0" "$@"')
    p = subprocess.Popen(["unshare", "--net", "--mount", "--propagation", "private", "sh", "-c", script,
                          *server.roots.argv, "run", "--rm", "bb:1", "sh", "-c", "echo ready; sleep 1"],
                         env=server.env, cwd="/", text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    ready(p)
    assert os.path.realpath(f"/proc/{p.pid}/exe") == PYTHON, "a client of another namespace was served"
    assert os.readlink(f"/proc/{p.pid}/ns/net") != os.readlink("/proc/self/ns/net")
    assert p.wait(30) == 0, p.stderr.read()
    p.stdout.close()
    p.stderr.close()


@pytest.mark.parametrize("command, status", [
    (["true"], 0), (["sh", "-c", "exit 3"], 3), (["nosuchcommand"], 127), (["/etc"], 126),
])
def test_exit_codes_as_cold(server, command, status):
    warm = fastctr(server, "run", "--rm", "bb:1", *command)
    cold = fastctr(server, "run", "--rm", "bb:1", *command, env=dict(server.env, FASTCTR_NO_SERVER="1"))
    assert warm.returncode == cold.returncode == status, (warm.stderr, cold.stderr)
    assert warm.stderr == cold.stderr


def test_usage_error_and_unknown_command_exit_as_cold(server):
    assert fastctr(server, "run", "--no-such-flag", "bb:1").returncode == 125
    p = fastctr(server, "frobnicate")
    assert p.returncode == 1 and "unknown command" in p.stderr


def test_stdin_stdout_stderr_are_the_clients(server):
    p = fastctr(server, "run", "--rm", "-i", "bb:1", "sh", "-c", "tr a-z A-Z; echo to-err >&2",
                input="hello\nworld\n")
    assert (p.returncode, p.stdout, p.stderr) == (0, "HELLO\nWORLD\n", "to-err\n")


def test_environment_and_working_directory_are_the_clients(server, tmp_path):
    (tmp_path / "env.list").write_text("FROM_FILE=yes\n")
    env = dict(server.env, GREETING="hi there")
    p = subprocess.run(server.roots.argv + ["run", "--rm", "-e", "GREETING", "--env-file", "env.list", "bb:1",
                                            "sh", "-c", "echo $GREETING $FROM_FILE"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert (p.returncode, p.stdout) == (0, "hi there yes\n"), p.stderr


def test_containers_go_below_the_clients_cgroup(server):
    """--cgroup-parent self is the client's cgroup, as in a cold start
    (not the server's: the test runs in a cgroup of its own)."""
    p = start(server, "run", "--rm", "bb:1", "sh", "-c", "echo ready; cat /proc/1/cgroup; sleep 0.5")
    ready(p)
    out, _ = p.communicate(timeout=30)
    with open("/proc/self/cgroup") as f:
        ours = {line.split(":")[1]: line.split(":")[2].strip() for line in f}
    theirs = {line.split(":")[1]: line.split(":")[2].strip() for line in out.splitlines() if line.count(":") >= 2}
    for controller in ("memory", "pids"):
        if ours.get(controller, "/") != "/" and theirs.get(controller, "/") != "/":  # v1, no cgroup namespace
            assert theirs[controller].startswith(ours[controller].rstrip("/") + "/fastctr-"), (ours, theirs)


# ---------------------------------------------------------------- signals

@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 7), (signal.SIGINT, 8), (signal.SIGUSR1, 9)])
def test_signals_to_the_client_reach_the_container(server, sig, status):
    script = "trap 'exit 7' TERM; trap 'exit 8' INT; trap 'exit 9' USR1; echo ready; while :; do sleep 0.05; done"
    p = start(server, "run", "--rm", "bb:1", "sh", "-c", script)
    ready(p)
    time.sleep(0.2)
    p.send_signal(sig)
    assert p.wait(30) == status, p.stderr.read()


def test_a_killed_client_leaves_no_container(server):
    """The worker takes the hang-up as a cold run takes its terminal's: the
    container gets SIGHUP, and when it ends, --rm removes it."""
    p = start(server, "run", "--rm", "--name", "orphan", "bb:1", "sh", "-c",
              "trap 'exit 1' HUP; echo ready; while :; do sleep 0.05; done")
    ready(p)
    p.kill()
    p.wait()
    wait_for(lambda: fastctr(server, "ps", "-aq").stdout == "", what="the container to go")
    wait_for(lambda: not server.children(), what="the worker to end")
    p.stdout.close()
    p.stderr.close()


# ---------------------------------------------------------------- a terminal through the client

def test_run_it_through_the_client_raw_mode_size_and_detach(server):
    t = Pty(server.roots.argv + ["run", "-it", "--name", "tty", "bb:1", "sh"], server.env)
    try:
        t.send("stty size; echo one=$((0+1))\n")
        t.expect("30 100")
        t.expect("one=1")
        assert served(t.proc)
        t.resize(40, 120)
        os.kill(t.proc.pid, signal.SIGWINCH)  # as the kernel does for the terminal's foreground group
        time.sleep(0.3)
        t.send("stty size\n")
        t.expect("40 120")
        t.send("\x10\x11")  # Ctrl-P Ctrl-Q: detached, still running
        assert t.wait() == 0
    finally:
        t.close()
    assert fastctr(server, "inspect", "-f", "{{.State.Status}}", "tty").stdout.strip() == "running"
    assert fastctr(server, "rm", "-f", "tty").returncode == 0


# ---------------------------------------------------------------- who may connect

def test_a_user_not_allowed_is_refused_with_one_line(roots):
    """SO_PEERCRED decides, not only the socket's mode: uid 65534 is refused
    until it is a member of the server's --group."""
    client = _world_executable_client()
    s = Server(roots, "--group", "0")
    try:
        os.chmod(s.socket, 0o666)  # as a too-open socket unit would make it
        argv = [client] + roots.argv[1:]
        p = subprocess.run(argv + ["ps"], env=s.env, cwd="/", capture_output=True, text=True, timeout=60,
                           user=65534, group=65534, extra_groups=[])
        assert p.returncode == 125
        assert p.stderr.count("\n") == 1 and "permission denied" in p.stderr and "uid 65534" in p.stderr
        member = subprocess.run(argv + ["ps", "-a"], env=s.env, cwd="/", capture_output=True, text=True,
                                timeout=60, user=65534, group=65534, extra_groups=[0])
        assert member.returncode == 0 and member.stdout.startswith("CONTAINER ID"), member.stderr
    finally:
        import shutil
        shutil.rmtree(os.path.dirname(client))
        assert s.stop() == 0


def _world_executable_client():
    """The launcher where uid 65534 may run it (/root, where the interpreter
    may live, and pytest's temporary root are 0700); as a client it needs
    nothing beside it."""
    import shutil
    d = tempfile.mkdtemp(prefix="fastctr-test-client-", dir="/tmp")
    os.chmod(d, 0o755)
    shutil.copy(LAUNCHER, os.path.join(d, "fastctr"))
    return os.path.join(d, "fastctr")


def test_socket_mode_is_0600_and_0660_with_group(roots):
    s = Server(roots)
    try:
        assert os.stat(s.socket).st_mode & 0o777 == 0o600
    finally:
        s.stop()
    s = Server(roots, "--group", "0")
    try:
        st = os.stat(s.socket)
        assert (st.st_mode & 0o777, st.st_gid) == (0o660, 0)
    finally:
        s.stop()


def test_a_second_server_on_the_same_socket_is_refused(server):
    p = subprocess.run(server.roots.argv + ["serve"], env=server.env, cwd="/", capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 1 and "already listens" in p.stderr
    assert server.accepts()


# ---------------------------------------------------------------- the server going away

def test_server_killed_while_idle_loses_nothing(roots):
    s = Server(roots)
    cold_env = dict(s.env, FASTCTR_NO_SERVER="1")
    p = fastctr(s, "run", "-d", "--name", "keeps", "bb:1", "sh", "-c", "echo up; sleep 60")
    assert p.returncode == 0, p.stderr
    s.proc.kill()
    s.proc.wait()
    t0 = time.monotonic()
    first = fastctr(s, "ps", "--format", "{{.Names}} {{.Status}}")  # a stale socket: cold at once
    assert first.returncode == 0 and first.stdout.startswith("keeps Up"), first.stderr
    assert time.monotonic() - t0 < 10
    wait_for(lambda: "up" in fastctr(s, "logs", "keeps", env=cold_env).stdout, what="the log")
    s2 = Server(roots)  # replaces the stale socket
    try:
        assert fastctr(s2, "stop", "-t", "1", "keeps").returncode == 0
        assert fastctr(s2, "rm", "keeps").returncode == 0
    finally:
        s.proc.stdout.close()
        s.proc.stderr.close()
        assert s2.stop() == 0


def test_server_killed_during_a_run_the_command_finishes(roots):
    s = Server(roots)
    try:
        p = start(s, "run", "--rm", "bb:1", "sh", "-c", "echo ready; sleep 1; echo done")
        ready(p)
        s.proc.kill()
        s.proc.wait()
        out, err = p.communicate(timeout=30)
        assert (p.returncode, out) == (0, "done\n"), err
        assert fastctr(s, "ps", "-aq").stdout == ""
    finally:
        s.proc.stdout.close()
        s.proc.stderr.close()
        if os.path.exists(s.socket):
            os.unlink(s.socket)


def test_a_killed_worker_makes_the_client_exit_125(server):
    p = start(server, "run", "--rm", "--name", "victim", "bb:1", "sh", "-c", "echo ready; sleep 60")
    ready(p)
    workers = server.children()
    assert len(workers) == 1
    pid = int(fastctr(server, "inspect", "-f", "{{.State.Pid}}", "victim").stdout)
    os.kill(workers[0], signal.SIGKILL)
    assert p.wait(30) == 125
    # As after a cold run killed the same way, its container runs on, orphaned: ended here and
    # reaped by init before rm -f (on cgroup v1 a zombie keeps its cgroup busy until it is reaped).
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), what="the orphaned container to be reaped")
    assert fastctr(server, "rm", "-f", "victim").returncode == 0
    assert "killed by signal 9" in p.stderr.read()  # (the container held the pipe open)
    p.stdout.close()
    p.stderr.close()


# ---------------------------------------------------------------- parked workers

PARKING_SERVER = """
import os, sys
from fastctr.cli.commands import main
from fastctr.server import serve
from fastctr.server.parked import Spec
marks = sys.argv[2]

def prepare():
    with open(os.path.join(marks, str(os.getpid())), "w") as f:
        f.write("prepared")

def after():
    os.unlink(os.path.join(marks, str(os.getpid())))

fits = lambda request, peer: "version" in request.argv
sys.exit(serve.serve(main, socket_path=sys.argv[1], parked_specs=[Spec("test", 2, prepare, fits, after)]))
"""


def test_parked_workers_take_fitting_commands_clean_up_and_are_replaced(roots, tmp_path):
    """What a parked worker prepared is gone when its command ends, a new
    worker is parked in its place, and stopping the server dismisses them."""
    marks = tmp_path / "marks"
    marks.mkdir()
    sock = str(tmp_path / "p.sock")
    env = dict(os.environ, FASTCTR_CGROUP_PARENT="self")
    env.pop("FASTCTR_SOCKET", None)
    server = subprocess.Popen([sys.executable, "-c", PARKING_SERVER, sock, str(marks)], env=env, cwd="/",
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: len(os.listdir(marks)) == 2, what="two parked workers")
        first = set(os.listdir(marks))
        env["FASTCTR_SOCKET"] = sock
        p = subprocess.run(roots.argv + ["version", "--format", "{{.Client.Version}}"], env=env, cwd="/",
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and p.stdout.strip(), p.stderr
        wait_for(lambda: len(os.listdir(marks)) == 2 and set(os.listdir(marks)) != first,
                 what="the used worker to clean up and a new one to be parked")
        assert len(first & set(os.listdir(marks))) == 1
        p = subprocess.run(roots.argv + ["ps", "-a"], env=env, cwd="/", capture_output=True, text=True, timeout=60)
        assert p.returncode == 0  # not for a parked worker: a fork as always
        assert len(first & set(os.listdir(marks))) == 1
    finally:
        server.terminate()
        assert server.wait(60) == 0, server.stderr.read()
        server.stderr.close()
    assert os.listdir(marks) == [], "dismissed parked workers did not clean up"
    assert not [pid for pid in _pids() if _ppid(pid) == server.pid]


def test_a_spare_worker_takes_a_command_and_another_is_forked(roots):
    s = Server(roots)  # one spare by default
    try:
        wait_for(lambda: len(s.children()) == 1, what="the spare worker")
        (spare,) = s.children()
        p = start(s, "run", "--rm", "bb:1", "sh", "-c", "echo ready; sleep 1")
        ready(p)
        assert spare in s.children() and len(s.children()) == 2  # it runs the command; a new one waits
        assert [c for c in _pids() if _ppid(c) == spare], "the spare worker does not run the container"
        assert p.wait(30) == 0
        wait_for(lambda: spare not in s.children() and len(s.children()) == 1, what="the worker to end")
    finally:
        p.stdout.close()
        p.stderr.close()
        assert s.stop() == 0
    assert not s.children()


# ---------------------------------------------------------------- serve --pool

def _pool_markers(roots):
    d = os.path.join(roots.data, "pool")
    return set(os.listdir(d)) if os.path.isdir(d) else set()


def _pooled_ready(server, count):
    """`count` parked workers, each with its pooled container's process,
    all of them ready (their READY seen by the server)."""
    workers = [w for w in server.children() if [p for p in _pids() if _ppid(p) == w]]
    ready = {int(e[-1]) for e in server.ready_events()}
    return len(workers) == count and set(workers) <= ready and len(_pool_markers(server.roots)) == count


def pool_server(roots):
    return Server(roots, "--pool", "bb:1=1", "--spare", "0")


def test_a_pooled_container_is_taken_refilled_and_torn_down_at_stop(roots):
    s = pool_server(roots)
    try:
        wait_for(lambda: _pooled_ready(s, 1), what="a pooled container")
        (pooled,) = _pool_markers(roots)
        p = fastctr(s, "run", "--rm", "bb:1", "sh", "-c", "hostname; echo out; echo err >&2; exit 3")
        assert (p.returncode, p.stdout, p.stderr) == (3, f"{pooled[:12]}\nout\n", "err\n")  # it was the pooled one
        wait_for(lambda: _pooled_ready(s, 1) and pooled not in _pool_markers(roots), what="the pool refilled")
        (refill,) = _pool_markers(roots)
        assert fastctr(s, "ps", "-aq").stdout == ""
        p = fastctr(s, "run", "--rm", "-e", "A=b", "-w", "/tmp", "-u", "1000:1000", "bb:1", "sh", "-c",
                    "echo $A $(pwd) $(id -u):$(id -g) $(hostname)")
        assert (p.returncode, p.stdout) == (0, f"b /tmp 1000:1000 {refill[:12]}\n"), p.stderr
        assert refill not in _pool_markers(roots)
    finally:
        assert s.stop() == 0
    assert _pool_markers(roots) == set(), "pooled containers outlived serve"
    assert not s.children()


def test_a_run_the_pool_does_not_fit_takes_the_normal_path(roots):
    s = pool_server(roots)
    try:
        wait_for(lambda: _pooled_ready(s, 1), what="a pooled container")
        (pooled,) = _pool_markers(roots)
        p = fastctr(s, "run", "--rm", "-h", "elsewhere", "--memory", "64m", "bb:1", "sh", "-c",
                    "hostname; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || "
                    "cat /sys/fs/cgroup/memory.max")
        assert p.returncode == 0, p.stderr
        assert p.stdout.split()[0] == "elsewhere" and str(64 << 20) in p.stdout
        wait_for(lambda: _pooled_ready(s, 1) and pooled not in _pool_markers(roots), what="a new pooled container")
        wait_for(lambda: fastctr(s, "ps", "-aq").stdout == "", what="the run's container to go")
    finally:
        assert s.stop() == 0
    assert _pool_markers(roots) == set()


def test_a_bad_pool_option_is_one_line_and_exit_1(roots):
    p = subprocess.run(roots.argv + ["serve", "--socket", os.path.join(roots.state, "bad.sock"), "--pool", "bb:1=0"],
                       env=dict(os.environ, FASTCTR_NO_SERVER="1"), capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and p.stderr.strip().count("\n") == 0 and "--pool" in p.stderr
    assert not os.path.exists(os.path.join(roots.state, "bad.sock"))


# ---------------------------------------------------------------- systemd

def test_socket_activation_and_ready_notification(roots, tmp_path):
    """As fastctr.socket and fastctr.service run it: the listening socket
    comes as fd 3 with LISTEN_PID/LISTEN_FDS, READY=1 goes to NOTIFY_SOCKET,
    and at the end the socket file (systemd's) is left alone."""
    path = str(tmp_path / "activated.sock")
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listening.bind(path)
    listening.listen(16)
    notify_path = str(tmp_path / "notify")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(10)
    env = dict(os.environ, FASTCTR_NO_SERVER="1", LISTEN_FDS="1", NOTIFY_SOCKET=notify_path,
               FASTCTR_CGROUP_PARENT="self")
    fd = listening.fileno()
    server = subprocess.Popen(["sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh", *roots.argv, "serve", "--spare", "0"],
                              env=env, cwd="/", pass_fds=[3], preexec_fn=lambda: os.dup2(fd, 3),
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert notify.recv(64) == b"READY=1"
        client_env = dict(os.environ, FASTCTR_SOCKET=path)
        client_env.pop("FASTCTR_NO_SERVER", None)
        p = start_in(client_env, roots, "run", "--rm", "bb:1", "sh", "-c", "echo ready; sleep 0.5")
        ready(p)
        assert served(p)
        assert p.wait(30) == 0
        p.stdout.close()
        p.stderr.close()
    finally:
        server.terminate()
        assert server.wait(30) == 0, server.stderr.read()
        server.stderr.close()
        listening.close()
        notify.close()
    assert os.path.exists(path), "the server removed systemd's socket"


def start_in(env, roots, *args):
    return subprocess.Popen(roots.argv + list(args), env=env, cwd="/", text=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
