"""Detached containers: start under a monitor, stop, wait, clean up.

`run -d` forks the command twice (so the monitor is nobody's zombie); the
grandchild creates and starts the container, which makes the container's
init its child, and then execs csrc/monitor.c.  The monitor keeps the log,
reaps the init, writes `exit.json` and execs `fastctr container cleanup
ID`.  Everything that can end a container (the monitor's clean-up, rm,
stop, prune) ends in Supervisor._cleanup under the container's lock, and
that function is idempotent, so whichever comes first does the work."""
import os
import sys
import time

from fastctr import events, trace
from fastctr import jsonfast as json
from fastctr.errors import FastctrError

EXIT_FILE = "exit.json"
LOG_FILE = "container-json.log"
ATTACH_SOCKET = "attach.sock"


def _monitor_program():
    from fastctr import data_path
    return data_path("monitor")


def _cli_argv():
    """How the monitor calls us back: the site-less launcher when installed."""
    launcher = os.path.join(os.path.dirname(sys.executable), "fastctr")
    if os.access(launcher, os.X_OK):
        return [launcher]
    return [sys.executable, "-m", "fastctr.cli.commands"]


def error_to_wire(e):
    return {"type": type(e).__name__, "message": str(e), "errno": getattr(e, "errno", None),
            "strerror": getattr(e, "strerror", None), "stage": getattr(e, "stage", None),
            "exit_code": getattr(e, "exit_code", 125)}


def error_from_wire(d):
    from fastctr import errors
    cls = getattr(errors, d["type"], None)
    if isinstance(cls, type) and issubclass(cls, errors.SpawnError):
        e = cls(d["errno"], d["strerror"])
        e.stage = d["stage"]
        return e
    if d["errno"] and d["strerror"]:
        return OSError(d["errno"], d["strerror"])
    e = FastctrError(d["message"])
    e.exit_code = d["exit_code"] or 125
    return e


class Supervisor:
    """Mixed into Engine: the parts of the lifecycle that outlive a command."""

    # ------------------------------------------------------------ paths
    def _cdir(self, c):
        return self.driver_for_container(c).container_dir(c["id"])

    def exit_record(self, c):
        try:
            with open(os.path.join(self._cdir(c), EXIT_FILE)) as f:
                return json.loads(f.read())
        except (OSError, ValueError):
            return None

    def _fill_from_exit_record(self, c):
        """exit code and finish time of an exited container whose clean-up
        has not recorded them yet, from the monitor's exit.json."""
        record = self.exit_record(c) or {}
        if c["exit_code"] is None:
            c["exit_code"] = record.get("exit_code")
        if c["finished"] is None and record.get("finished_at"):
            c["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record["finished_at"]))

    def log_path(self, c):
        return os.path.join(self._cdir(c), LOG_FILE)

    def lock(self, cid):
        """An exclusive lock on one container, held by whoever changes its
        life (start, clean-up, rm); released by the kernel if we die."""
        import fcntl
        d = os.path.join(self.store.root, "locks")
        os.makedirs(d, exist_ok=True)
        fd = os.open(os.path.join(d, cid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return _Locked(fd)

    def _lock_held(self, cid):
        """Whether a live command holds the container's lock."""
        import fcntl
        path = os.path.join(self.store.root, "locks", cid)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    @staticmethod
    def _starter_identity():
        """Who is starting a container, recorded with its `running` status.
        Not a lock: the container's process would inherit it until its exec,
        so a killed starter would leave it held by a process waiting forever.
        For a detached container the starter becomes its monitor."""
        from fastctr.runtime.state import process_start_time
        me = os.getpid()
        return [me, process_start_time(me)]

    def _starter_alive(self, c):
        return _alive(self._row(c["id"])["config"].get("starter"))

    # ------------------------------------------------------------ start
    def attach_path(self, c):
        return os.path.join(self._cdir(c), ATTACH_SOCKET)

    def start_detached(self, ref, attach=False):
        """Start a created container in the background under its monitor;
        returns the container once its process runs.  With attach, returns
        (container, attach.Client) connected before the process started, so
        that none of its output is missed."""
        from fastctr.engine import attach as attach_mod
        c = self.container(ref)
        if self.live_status(c) not in ("created", "exited"):
            raise FastctrError(f"container {c['name']} is {self.live_status(c)}")
        cdir = self._cdir(c)
        try:
            os.unlink(os.path.join(cdir, EXIT_FILE))  # of a previous run
        except FileNotFoundError:
            pass
        if c["config"].get("restart_policy"):  # moby: a start resets the restart manager
            self._set_config(c["id"], restart_count=0, manually_stopped=None, restart_delay_ms=None)
        # The socket exists before the fork: a client connected now is in its
        # backlog, and the monitor accepts before it reads any output.
        listen_fd = attach_mod.listen(self.attach_path(c))
        client = None
        try:
            client = attach_mod.Client(self.attach_path(c)) if attach else None
            report_r, report_w = os.pipe()
            trace.mark("store")
            pid = os.fork()
        except BaseException:
            os.close(listen_fd)
            if client:
                client.close()
            raise
        if pid == 0:  # pragma: no cover - the child ends in exec or _exit
            os.close(report_r)
            self._monitor_child(c, cdir, report_w, listen_fd)
        os.close(report_w)
        os.close(listen_fd)
        try:
            data = b""
            while True:
                chunk = os.read(report_r, 65536)
                if not chunk:
                    break
                data += chunk
        finally:
            os.close(report_r)
            os.waitpid(pid, 0)
        try:
            if not data:
                raise FastctrError(f"container {c['name']}: the monitor died while starting it")
            report = json.loads(data.decode())
            trace.merge(report.get("trace"))
            if "error" in report:
                raise error_from_wire(report["error"])
        except BaseException:
            if client:
                client.close()
            raise
        return (self._row(c["id"]), client) if attach else self._row(c["id"])

    def _monitor_child(self, c, cdir, report_w, listen_fd):
        """In the fork: detach, start the container, become its monitor."""
        status = 125
        try:
            os.setsid()
            if os.fork():
                os._exit(0)  # the grandchild is reparented: no zombie for the caller
            self.store.forget_connections()  # sqlite connections do not survive fork
            trace.forked()
            null = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1, 2):  # the caller's terminal or pipes are not ours
                os.dup2(null, fd)
            exec_monitor, pid = self._start_monitored(c, cdir, listen_fd, null)
            os.write(report_w, json.dumps({"ok": True, "pid": pid, "trace": trace.snapshot()}).encode())
            exec_monitor()
        except BaseException as e:
            try:
                os.write(report_w, json.dumps({"error": error_to_wire(e), "trace": trace.snapshot()}).encode())
            except BaseException:
                pass
            status = getattr(e, "exit_code", 125)
        os._exit(status if isinstance(status, int) else 125)

    def _start_monitored(self, c, cdir, listen_fd, null):
        """Start the container's process with its stdio for a monitor ->
        (the function that execs this process into the monitor, the pid)."""
        if c["config"].get("tty"):
            container, options, out_r, err_r = self._start_with_pty(c, cdir)
        else:
            container, options, out_r, err_r = self._start_with_pipes(c, cdir, null)
        health = c["config"].get("healthcheck")
        if health:
            from fastctr.engine import health as health_mod
            if health_mod.active(health):
                options = options + health_mod.monitor_option(health)
        os.set_inheritable(listen_fd, True)
        callback = [*_cli_argv(), "--data-root", self.store.root, "--state-root", self.runtime.store.root]
        if self.cgroup_parent:  # a restart makes the cgroup again, where the first start did
            callback += ["--cgroup-parent", self.cgroup_parent]
        log_path = self.log_path(c)
        if c["config"].get("log_driver") or c["config"].get("log_opts"):
            from fastctr.engine import logopts  # --log-driver none, --log-opt max-size=...
            more, log_path = logopts.monitor_arguments(c["config"], log_path)
            options = options + more
        argv = [_monitor_program(), *options, "--attach", str(listen_fd), os.path.join(cdir, EXIT_FILE),
                log_path, str(container.pid),
                str(out_r), str(err_r), "--", *callback, "container", "cleanup", c["id"]]
        return (lambda: os.execv(argv[0], argv)), container.pid

    def prepare_monitor_start(self, c):
        """A restart, from the monitor's clean-up (a detached process
        already): start the process again -> the function that execs the
        monitor (fastctr.engine.restart)."""
        from fastctr.engine import attach as attach_mod
        cdir = self._cdir(c)
        try:
            os.unlink(os.path.join(cdir, EXIT_FILE))
        except FileNotFoundError:
            pass
        listen_fd = attach_mod.listen(self.attach_path(c))
        null = os.open("/dev/null", os.O_RDWR)
        return self._start_monitored(c, cdir, listen_fd, null)[0]

    def _start_with_pipes(self, c, cdir, null):
        """stdout and stderr (and stdin for -i) through pipes to the monitor."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        options, stdin = [], null
        if c["config"].get("interactive"):
            stdin, in_w = os.pipe()
            os.set_inheritable(in_w, True)
            options = ["--stdin", str(in_w)]
        container = self._start_for_monitor(c, cdir, (stdin, out_w, err_w))
        for fd in (out_w, err_w) + ((stdin,) if stdin != null else ()):
            os.close(fd)
        os.set_inheritable(out_r, True)
        os.set_inheritable(err_r, True)
        return container, options, out_r, err_r

    def _start_with_pty(self, c, cdir):
        """-t: the pty master (made in the container) goes to the monitor."""
        from fastctr.engine import tty
        ours, theirs = tty.console_pair()
        try:
            container = self._start_for_monitor(c, cdir, (-1, -1, -1), console_socket=theirs.fileno())
            theirs.close()
            master = tty.receive_master(ours)
        finally:
            ours.close()
            theirs.close()
        os.set_inheritable(master, True)
        return container, ["--tty"], master, -1

    def _start_for_monitor(self, c, cdir, stdio, console_socket=None):
        mount = c["config"].get("rootfs_mount")
        self._join_peers(cdir, c["config"])
        attach = (lambda ct: self.net.attach(c, cdir, ct.pid)) if c["config"].get("networks") else None
        self._set_status(c["id"], "running", started=now_seconds(), detached=True,
                         starter=self._starter_identity(),  # this process, soon the monitor
                         **({"error": ""} if c["config"].get("error") else {}))  # of the last start only
        if c["config"].get("healthcheck"):
            from fastctr.engine import health
            health.reset(self, c)
        try:
            container = self.runtime_for(c).run(c["id"], cdir, stdio=stdio, detach=True,
                                                console_socket=console_socket,
                                                rootfs_mount=tuple(mount) if mount else None, loopback_up=True,
                                                prestart=attach,
                                                poststop=(lambda ct: self.net.detach(c)) if attach else None)
        except BaseException as e:
            self._set_status(c["id"], "exited", finished=now_seconds(), exit_code=getattr(e, "exit_code", 125),
                             error=getattr(e, "strerror", None) or str(e))  # inspect's State.Error
            raise
        events.container(self.store.root, c, "start")
        return container

    # ------------------------------------------------------------ attach
    def attach(self, ref, *, stdin=True, detach_keys=None, stdio=(0, 1, 2), client=None, sig_proxy=False):
        """Our stdio to a detached container's, through its monitor, until
        it exits (its exit code) or the detach keys are typed (None).  With
        sig_proxy (Docker's default, not with a tty) the signals we get go
        to the container's process; without, Ctrl-C ends only us."""
        from fastctr.engine import attach as attach_mod
        from fastctr.engine import tty
        c = self.container(ref)
        if client is None and self.live_status(c) != "running":
            raise FastctrError(f"cannot attach to container {c['name']}: it is {self.live_status(c)}")
        if client is None and not c["config"].get("detached"):
            raise FastctrError(f"cannot attach to container {c['name']}: it runs in the foreground of "
                               "another command (attach works with containers of run -d or -t)")
        keys = tty.parse_detach_keys(tty.DEFAULT_DETACH_KEYS if detach_keys is None else detach_keys)
        if client is None:  # `fastctr attach` (a run's own attach is recorded before its start)
            events.container(self.store.root, c, "attach")
        stdio = tuple(fd if fd >= 0 else i for i, fd in enumerate(stdio))  # -1: ours
        cfg = c["config"]
        proxy = SignalProxy() if sig_proxy and not cfg.get("tty") else None
        if proxy:
            try:
                proxy.target(self.runtime.state(c["id"])["pid"])
            except LookupError:
                pass  # it has ended already: the monitor tells us how
        try:
            outcome, code = self._attach_streams(c, attach_mod, keys, stdin, stdio, client)
        finally:
            if proxy:
                proxy.restore()
        if outcome == attach_mod.DETACHED:
            return None
        if outcome == attach_mod.LOST:
            code = self.wait(c["id"])
        if cfg.get("rm") or not cfg.get("restart_policy"):  # as Docker's run: once its exit is recorded (--rm: gone)
            self._wait_handled(c["id"], bool(cfg.get("rm")))
        return code

    def _attach_streams(self, c, attach_mod, keys, stdin, stdio, client):
        cfg = c["config"]
        return attach_mod.attach(self.attach_path(c), tty=bool(cfg.get("tty")),
                                          interactive=stdin and bool(cfg.get("interactive")), stdin_fd=stdio[0],
                                 stdout_fd=stdio[1], stderr_fd=stdio[2], detach_keys=keys, client=client)

    def _wait_handled(self, cid, removed, timeout=10.0):  # as Docker's run/wait: once the exit is recorded
        for _ in range(int(timeout / 0.005)):  # the clean-up is the monitor's own process (exec)
            row = self.store.db.execute("SELECT status, config FROM containers WHERE id = ?", (cid,)).fetchone()
            if not row or not removed and row[0] != "running":
                return  # status and OOMKilled written (--rm: the row gone)
            if not _alive(json.loads(row[1]).get("starter")):
                return  # no monitor: no clean-up is coming
            time.sleep(0.005)

    # ---------------------------------------------------------- clean-up
    def cleanup(self, ref):
        """After the container's process has ended: network, cgroup, state;
        removal for --rm.  Safe to call any number of times."""
        from fastctr.errors import ContainerNotFoundError
        try:
            c = self.container(ref)
        except ContainerNotFoundError:
            return None
        with self.lock(c["id"]):
            return self._cleanup_locked(c["id"])

    def monitor_exited(self, ref):
        """The monitor's callback: clean up, then restart the container if
        its --restart policy says so (fastctr.engine.restart)."""
        from fastctr.errors import ContainerNotFoundError
        try:
            c = self.container(ref)
        except ContainerNotFoundError:
            return
        if not c["config"].get("restart_policy"):
            self.cleanup(c["id"])
            return
        from fastctr.engine import restart
        with self.lock(c["id"]):
            delay = restart.decide(self, c["id"]) if self._cleanup_locked(c["id"]) is not None else None
        if delay is not None:
            restart.after_exit(self, c["id"], delay)

    def _cleanup_locked(self, cid):
        from fastctr.errors import ContainerNotFoundError
        from fastctr.errors import ContainerNotFound
        try:
            c = self._row(cid)
        except ContainerNotFoundError:
            return None  # removed meanwhile (rm -f)
        if c["status"] == "running" and (self._runtime_alive(cid) or self._restarted_by_another(c)):
            return c  # still running (or running again): nothing to clean
        oom = self._oom_killed(cid)
        if c["config"].get("networks") or c["config"].get("ports"):
            self.net.detach(c)
        try:
            self.runtime.delete(cid, force=True)
        except ContainerNotFound:
            pass
        if c["status"] == "running":
            record = self.exit_record(c) or {}
            finished = record.get("finished_at")
            # OOMKilled of the last run only, as Docker's; with the status, so no reader sees one without the other
            changed = {"oom_killed": oom} if oom != bool(c["config"].get("oom_killed")) else {}
            self._set_status(cid, "exited", exit_code=record.get("exit_code", -1),
                             finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(finished))
                             if finished else now_seconds(), **changed)
            if oom:
                events.container(self.store.root, c, "oom")
            events.container(self.store.root, c, "die", exitCode=record.get("exit_code", -1))
        if c["config"].get("rm"):
            self._remove_files(cid)
            events.container(self.store.root, c, "destroy")
            self._remove_volumes(c["config"].get("anonymous_volumes"))
        return c

    def _restarted_by_another(self, c):
        """A monitor's late clean-up must not undo a restart: the container
        then has a new starter, alive, that is not this process."""
        starter = c["config"].get("starter")
        return bool(starter) and starter[0] != os.getpid() and self._starter_alive(c)

    def _runtime_alive(self, cid):
        from fastctr.errors import ContainerNotFound
        try:
            return self.runtime.state(cid)["status"] in ("running", "created", "paused")
        except ContainerNotFound:
            return False

    def _oom_killed(self, cid):
        from fastctr.errors import ContainerNotFound
        try:
            cg = self.runtime.get(cid).cgroup
        except (ContainerNotFound, OSError, ValueError):
            return False
        try:
            return bool(cg and cg.oom_kills())
        except (OSError, AttributeError):
            return False

    # ------------------------------------------------------ stop / wait
    def stop(self, ref, timeout=None, sig=None):
        """The stop signal, then SIGKILL after `timeout` seconds."""
        c = self.container(ref)
        if c["config"].get("restart_policy"):  # stopped for good: no restart
            from fastctr.engine import restart
            c = restart.cancel(self, c, "stop")
        if self._runtime_alive(c["id"]):
            if timeout is None:
                timeout = c["config"].get("stop_timeout")
            timeout = 10 if timeout is None else float(timeout)
            timeout = float("inf") if timeout < 0 else timeout
            sig = sig or c["config"].get("stop_signal") or "SIGTERM"
            self._signal(c, sig)
            if not self._wait_gone(c["id"], timeout):
                self._signal(c, "SIGKILL")
                self._wait_gone(c["id"], 10)
        self._wait_monitor(c)
        self.cleanup(c["id"])
        self._wait_monitor_gone(c)
        events.container(self.store.root, c, "stop")
        return c

    def _wait_monitor_gone(self, c, timeout=10.0):
        """After stop, the monitor's own clean-up (its last act) is over too: a restart races with nothing."""
        starter = c["config"].get("starter") if c["config"].get("detached") else None
        deadline = time.monotonic() + timeout
        while _alive(starter) and time.monotonic() < deadline:
            time.sleep(0.005)

    def kill(self, ref, sig="SIGKILL"):
        c = self.container(ref)
        if c["config"].get("restart_policy"):
            from fastctr.engine import restart
            c = restart.cancel(self, c, "kill")
            if c["status"] == "restarting":
                return c  # moby: the monitor is told, nothing to signal
        if not self._runtime_alive(c["id"]):
            raise FastctrError(f"container {c['name']} is not running")
        self._signal(c, sig)
        return c

    def _signal(self, c, sig):
        """A paused container is thawed after the signal, as Docker does:
        a frozen process cannot act on it (not even on SIGKILL)."""
        from fastctr.errors import ContainerNotFound, InvalidState
        try:
            self.runtime.kill(c["id"], sig)
            events.container(self.store.root, c, "kill", signal=_signal_number(sig))
            if self.runtime.state(c["id"])["status"] == "paused":
                self.runtime.resume(c["id"])
        except (ContainerNotFound, InvalidState, ProcessLookupError):
            pass

    def _wait_gone(self, cid, timeout):
        """Until the container's init has exited (a pidfd becomes readable)."""
        import select
        from fastctr.errors import ContainerNotFound
        try:
            pid = self.runtime.state(cid)["pid"]
            fd = os.pidfd_open(pid)
        except (ContainerNotFound, ProcessLookupError, OSError):
            return True
        try:
            if not self._runtime_alive(cid):
                return True
            p = select.poll()
            p.register(fd, select.POLLIN)
            return bool(p.poll(None if timeout == float("inf") else int(timeout * 1000)))
        finally:
            os.close(fd)

    def _wait_monitor(self, c, timeout=5.0):
        """A monitored container is over when its monitor wrote exit.json."""
        deadline = time.monotonic() + timeout
        while c["config"].get("detached") and self.exit_record(c) is None and time.monotonic() < deadline:
            if not self._starter_alive(c):  # the monitor is the process that started it
                return
            time.sleep(0.01)

    def wait(self, ref):
        """Block until the container has exited (as Docker's: its exit recorded); its exit code."""
        c = self.container(ref)
        while self._runtime_alive(c["id"]):
            self._wait_gone(c["id"], 3600)
        self._wait_monitor(c)
        if not c["config"].get("restart_policy"):
            self._wait_handled(c["id"], False)
        row = self.store.db.execute("SELECT status, exit_code FROM containers WHERE id = ?", (c["id"],)).fetchone()
        if row and row[0] == "exited" and row[1] is not None:
            return row[1]
        record = self.exit_record(c)
        return record["exit_code"] if record else -1


class _Locked:
    """A held flock; leaving (more than once is fine) releases it."""

    def __init__(self, fd):
        self.fd = fd

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)


def _alive(starter):  # a recorded [pid, start time] still names the process it was recorded of
    from fastctr.runtime.state import process_start_time
    return bool(starter) and process_start_time(starter[0]) == starter[1]


def _signal_number(sig):
    """moby's kill event names the signal by number."""
    if isinstance(sig, int) or str(sig).isdigit():
        return int(sig)
    import _signal
    name = str(sig).upper()
    return getattr(_signal, name if name.startswith("SIG") else "SIG" + name, 0)


def now_seconds():
    from fastctr.image.store import now
    return now()


class SignalProxy:
    """Docker's --sig-proxy: what the command receives goes to the container.
    Installed before the spawn: a signal that comes before the process
    exists is held and delivered once it does."""
    SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM")

    def __init__(self):
        import _signal as signal  # `signal` imports enum: ~1.5 ms of every run
        self.pid = None
        self.pending = []
        self.saved = {}
        for name in self.SIGNALS:
            signum = getattr(signal, name)
            self.saved[signum] = signal.signal(signum, self._forward)

    def _forward(self, signum, frame):
        if self.pid is None:
            self.pending.append(signum)
            return
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def target(self, pid):
        self.pid = pid
        while self.pending:
            self._forward(self.pending.pop(0), None)

    def restore(self):
        import _signal as signal
        for signum, handler in self.saved.items():
            signal.signal(signum, handler)
        self.saved = {}
