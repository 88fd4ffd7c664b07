"""The container lifecycle of the OCI runtime spec, as a library.

    rt = Runtime(root="/run/fastctr", cgroup_parent="self")
    rt.create("web", "/path/to/bundle")     # process waits before exec
    rt.start("web")
    rt.state("web")["status"]              # "running"
    rt.kill("web", signal.SIGTERM)
    rt.delete("web")

    status = rt.run("job", bundle)          # create + start + wait + delete

creating -> created -> running -> stopped; `paused` while frozen.  Every
failure of create/run removes what it had made: state dir, cgroup, process.
"""
import errno
import os
import _signal as signal  # constants only; `signal` imports enum
import time

from fastctr import trace
from fastctr.runtime import cgroups as cgroups_mod
from fastctr.runtime import spec as spec_mod
from fastctr.runtime import _core
from fastctr.errors import ConfigError, HookError, InvalidState
from fastctr.runtime.state import FIFO, StateStore, now_rfc3339, process_start_time, validate_id

OCI_VERSION = "1.1.0"
NO_PROCESS = -2  # csrc/fastctr.h FCTR_NO_PROCESS
NEWNET = spec_mod.NAMESPACES["network"]
PRE_START_HOOKS = ("prestart", "createRuntime", "createContainer", "startContainer")


def parse_signal(value):
    """'TERM', 'SIGTERM', '15' or an int -> signal number."""
    if isinstance(value, int):
        sig = value
    elif value.isdigit():
        sig = int(value)
    else:
        import signal as signals
        name = value.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        sig = signals.Signals[name] if name in signals.Signals.__members__ else None
        if sig is None:
            raise ConfigError(f"unknown signal {value!r}")
    if not 0 < int(sig) < signal.NSIG:
        raise ConfigError(f"signal {value!r} is out of range")
    return int(sig)


# Error texts of runc's: containerd's shim (go-runc) matches on some of them
# ("container not running", "does not exist") to tell a task that is
# already gone from a real failure, so they are runc's word for word.
NOT_RUNNING = "container not running"
NOT_PAUSED = "container not paused"
CANNOT_START = {"running": "cannot start an already running container",
                "paused": "cannot start a container in the paused state",
                "stopped": "cannot start a container that has stopped"}
CANNOT_EXEC = {"paused": "cannot exec in a paused container (use --ignore-paused to override)",
               "stopped": "cannot exec in a stopped container"}


class Container:
    """A handle on one container's recorded state."""

    def __init__(self, runtime, state, config=None):
        self.runtime = runtime
        self.st = state
        self._config = config  # the validated Config, when we made it

    @property
    def id(self):
        return self.st["id"]

    @property
    def pid(self):
        return self.st["pid"]

    def alive(self):
        pid = self.st.get("pid")
        # None == None must not pass for alive: a process gone before its
        # start time was read (`true`) would then live forever.
        now = process_start_time(pid) if pid else None
        return now is not None and self.st.get("start_time") in (None, now)

    @property
    def status(self):
        if not self.st.get("pid"):
            return "creating" if self.st.get("status") == "creating" else "stopped"
        if not self.alive():
            return "stopped"
        if self.cgroup and self.cgroup.is_frozen():
            return "paused"  # also a created one: runc pauses those too
        if os.path.exists(os.path.join(self.runtime.store.dir(self.id), FIFO)):
            return "created"
        return "running"

    @property
    def cgroup(self):
        d = self.st.get("cgroup")
        return cgroups_mod.from_json(d) if d else None

    def config(self):
        if self._config is None:
            self._config = spec_mod.Config(self.st["config"], self.st["bundle"])
        return self._config

    def oci_state(self):
        status = self.status
        out = {"ociVersion": OCI_VERSION, "id": self.id, "status": status,
               "bundle": self.st["bundle"], "annotations": self.st.get("annotations") or {}}
        out["pid"] = 0 if status == "stopped" else self.st["pid"]
        out["rootfs"] = self.st.get("rootfs", "")
        out["created"] = self.st.get("created", "")
        out["owner"] = ""
        return out


class Runtime:
    def __init__(self, root=None, cgroup_parent=None, cgroup_v2_root=None):
        self.store = StateStore(root or os.environ.get("FASTCTR_STATE_ROOT") or "/run/fastctr")
        self.cgroup_parent = cgroup_parent if cgroup_parent is not None else os.environ.get("FASTCTR_CGROUP_PARENT")
        self.cgroup_v2_root = cgroup_v2_root or os.environ.get("FASTCTR_CGROUP_V2_ROOT")

    # ---------------------------------------------------------- queries
    def get(self, cid):
        return Container(self, self.store.load(cid))

    def state(self, cid):
        return self.get(cid).oci_state()

    def status(self, cid):
        """state(cid)["status"], from the head of the state document."""
        return Container(self, self.store.load(cid, head=True)).status

    def list(self):
        out = []
        for cid in self.store.ids():
            try:
                out.append(self.get(cid))
            except (OSError, ValueError, LookupError):
                continue
        return out

    def ps(self, cid):
        c = self.get(cid)
        cg = c.cgroup
        return cg.pids() if cg else ([c.pid] if c.alive() else [])

    # ------------------------------------------------------------ create
    def create(self, cid, bundle, *, pid_file=None, console_socket=None, no_pivot=False,
               preserve_fds=0, stdio=(-1, -1, -1), wait_for_start=True, detach=True,
               rootfs_mount=None, loopback_up=False, netns=None, pooled=False):
        """Create the container; its process waits for start() before exec
        (or execs at once when wait_for_start is False).  Returns a Container.
        netns: the path of a network namespace made for it (the engine's,
        its network set up already), which its process joins instead of
        making one.  pooled: its process waits, set up to its user change,
        for fastctr.runtime.pooled.run; the Container's pool_sock is the
        sync socket that reaches it."""
        validate_id(cid)
        config = spec_mod.load_bundle(bundle)
        if wait_for_start is None:
            # run(): exec at once unless hooks must see the created container.
            wait_for_start = any(config.hooks.get(k) for k in PRE_START_HOOKS)
        cgroups_mod.validate_resources(config.resources)
        if config.process is None and not wait_for_start:
            raise ConfigError("config.json has no process to run")
        if config.process and config.process.terminal and console_socket is None and wait_for_start:
            raise ConfigError("process.terminal is set: --console-socket is required")
        trace.mark("spec")
        sdir = self.store.make_dir(cid)
        state = {"id": cid, "bundle": config.bundle, "rootfs": config.rootfs, "pid": 0,
                 "status": "creating", "created": now_rfc3339(), "config": config.raw,
                 "annotations": config.annotations, "cgroup": None}
        cg = None
        pid = 0
        sock = None
        try:
            self.store.write(cid, state)
            trace.mark("state")
            cg = cgroups_mod.create(cid, config.cgroups_path, self.cgroup_parent, config.resources,
                                    v2_root=self.cgroup_v2_root)
            trace.mark("cgroup")
            state["cgroup"] = cg.to_json()
            pid = self._spawn_init(config, cg, sdir, console_socket, no_pivot, preserve_fds, stdio,
                                   wait_for_start, detach, rootfs_mount, loopback_up, netns, pooled)
            if pooled:
                pid, sock = pid
            # Our child: a quick command may be a zombie already; its start time
            # is still its identity.
            state.update(pid=pid, start_time=process_start_time(pid, zombie=True), status="created")
            self.store.write(cid, state)
            container = Container(self, state, config)
            container.pool_sock = sock
            self._run_hooks(config, "prestart", container)
            self._run_hooks(config, "createRuntime", container)
            self._run_hooks(config, "createContainer", container, in_container=True)
            if pid_file:
                _write_atomic(pid_file, str(pid))
            trace.mark("state")
            return container
        except BaseException:
            if sock is not None:
                os.close(sock)
            self._abort_create(cid, pid, cg)
            trace.mark("teardown")
            raise

    def _spawn_init(self, config, cg, sdir, console_socket, no_pivot, preserve_fds, stdio,
                    wait_for_start, detach, rootfs_mount, loopback_up, netns=None, pooled=False):
        # Without `process` the container can be created but not started.
        process = config.process or spec_mod.Process({"args": ["(no process)"]})
        plan = config.plan(cgroup_mounts=cg.mounts_for_container(), process=process)
        if netns:
            _join_netns(plan, config, netns)
        if config.process is None:
            plan.exec_fd = NO_PROCESS
        plan.no_pivot = no_pivot
        if rootfs_mount:  # (fstype, data, cwd): mounted by the child, in its namespace
            plan.rootfs_fstype, plan.rootfs_mount_data, plan.rootfs_mount_cwd = rootfs_mount
        plan.loopback_up = loopback_up and bool(config.new_ns & NEWNET) and not netns
        plan.preserve_fds = preserve_fds
        plan.stdio = tuple(stdio)
        plan.setsid = detach
        plan.seccomp_bpf = self._seccomp_program(config)
        fds = []
        try:
            plan.cgroup_dirfd = cg.dirfd()
            fds.append(plan.cgroup_dirfd)
            plan.cgroup_tasks_fds = cg.tasks_fds()
            fds.extend(plan.cgroup_tasks_fds)
            if wait_for_start:
                os.mkfifo(os.path.join(sdir, FIFO), 0o622)
                os.chmod(os.path.join(sdir, FIFO), 0o622)  # mkfifo obeys the umask
                plan.fifo_dirfd = os.open(sdir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                plan.fifo_name = FIFO
                fds.append(plan.fifo_dirfd)
            if console_socket:
                plan.console_sock = _connect_console(console_socket)
                fds.append(plan.console_sock)
            trace.mark("plan")
            if pooled:  # stdio and session come when it is taken
                from fastctr.runtime.waiter import waiter_fd
                plan.pool_wait, plan.setsid, plan.pool_exec_fd = True, False, waiter_fd()
                return _core.spawn_pooled(plan)
            return _core.spawn(plan)
        finally:
            for fd in fds:
                if fd >= 0:
                    os.close(fd)

    def _abort_create(self, cid, pid, cg):
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _reap_or_wait(pid)
        if cg is not None:
            try:
                cg.kill()
                cg.remove()
            except OSError:
                pass
        self.store.remove(cid)

    # ------------------------------------------------------------- start
    def start(self, cid):
        lock = self.store.lock(cid)
        try:
            c = self.get(cid)
            status = c.status
            if status != "created":
                raise InvalidState(CANNOT_START.get(status, f"cannot start a container in the {status} state"))
            config = c.config()
            if config.process is None:
                # It can never run anything: stop it so delete needs no force.
                os.kill(c.pid, signal.SIGKILL)
                _reap_or_wait(c.pid, c.st.get("start_time"))
                raise InvalidState(f"container {cid!r} has no process to start (config.json sets none)")
            self._run_hooks(config, "startContainer", c, in_container=True)
            self._release_fifo(c)
        finally:
            os.close(lock)
        self._run_hooks(config, "poststart", c, fatal=False)
        return c

    def _release_fifo(self, c):
        path = self.store.fifo_path(c.id)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            import select
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            deadline = time.monotonic() + 10
            while True:
                if poller.poll(100) and os.read(fd, 1):
                    break
                if not c.alive():
                    raise InvalidState(f"container {c.id!r} exited before it could start")
                if time.monotonic() > deadline:
                    raise InvalidState(f"container {c.id!r} did not start within 10 s")
        finally:
            os.close(fd)
        os.unlink(path)

    # -------------------------------------------------------------- kill
    def kill(self, cid, sig=signal.SIGTERM, all=False):
        """Signal the init (`all`: every process in the container's cgroup).
        As runc: `all` on a stopped container signals whatever is left in its
        cgroup and succeeds, which containerd's shim relies on after a task
        exits; a plain kill of a stopped one is "container not running"."""
        sig = parse_signal(sig)
        c = self.get(cid)
        status = c.status
        if all and c.cgroup:
            c.cgroup.kill(sig)
        elif all and status == "stopped":
            return
        elif status in ("created", "running", "paused"):
            os.kill(c.pid, sig)
        else:
            raise InvalidState(NOT_RUNNING)
        if status == "paused" and sig == signal.SIGKILL:
            c.cgroup.freeze(False)  # a frozen task cannot die (cgroup v1), as runc thaws

    # ------------------------------------------------------------ delete
    def delete(self, cid, force=False):
        lock = self.store.lock(cid)
        try:
            c = self.get(cid)
            status = c.status
            # A created container never ran its command: runc deletes it
            # without --force, and containerd's shim deletes created tasks so.
            if status not in ("stopped", "creating", "created"):
                if not force:
                    raise InvalidState(f"cannot delete container {cid} that is not stopped: {status}")
                if c.cgroup:
                    c.cgroup.kill(signal.SIGKILL)
                try:
                    os.kill(c.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                _reap_or_wait(c.pid, c.st.get("start_time"))
            self._destroy(c)
        finally:
            os.close(lock)

    def _destroy(self, c):
        cg = c.cgroup
        if cg:
            if cg.pids():
                cg.kill(signal.SIGKILL)
            cg.remove()
        try:
            config = c.config()
        except ConfigError:
            config = None
        self.store.remove(c.id)
        if config:
            self._run_hooks(config, "poststop", c, fatal=False)

    # --------------------------------------------------------------- run
    def run(self, cid, bundle, *, stdio=(-1, -1, -1), no_pivot=False, console_socket=None,
            detach=False, preserve_fds=0, pid_file=None, rootfs_mount=None, loopback_up=False,
            netns=None, prestart=None, poststop=None, started=None, exited=None, new_session=False):
        """Create and start in one step; unless detached, wait for the exit
        and delete.  Returns the exit status (128+N for a signal), or the
        Container when detached.  new_session puts an attached process in a
        session of its own, away from our terminal's signals.  exited(c) is
        called once the process has ended, before its cgroup goes (to read
        what it recorded there, such as OOM kills)."""
        c = self.create(cid, bundle, stdio=stdio, no_pivot=no_pivot, console_socket=console_socket,
                        wait_for_start=True if prestart else None, detach=detach or new_session,
                        preserve_fds=preserve_fds,
                        pid_file=pid_file, rootfs_mount=rootfs_mount, loopback_up=loopback_up, netns=netns)
        if os.path.exists(self.store.fifo_path(cid)):
            try:
                if prestart:  # e.g. the engine's network: set up while the process waits
                    prestart(c)
                    trace.mark("network")
                self.start(cid)
                trace.mark("exec")  # the fifo released: the process execs
            except BaseException:
                self.delete(cid, force=True)
                if poststop:
                    poststop(c)
                raise
        else:
            self._run_hooks(c.config(), "poststart", c, fatal=False)
        if started:
            started(c)
        trace.mark("started")
        if detach:
            return c
        return self.wait_and_delete(c, exited, poststop)

    def wait_and_delete(self, c, exited=None, poststop=None):
        """The end of an attached run: wait for c's process, then delete c
        -> its exit status (also fastctr.runtime.pooled's)."""
        try:
            status = wait_status(c.pid)
            trace.mark("wait")
            if exited:
                exited(c)
        finally:
            lock = self.store.lock(c.id)
            try:
                self._destroy(c)
            finally:
                os.close(lock)
                if poststop:
                    poststop(c)
                trace.mark("teardown")
        return status

    # -------------------------------------------------------------- exec
    def exec(self, cid, process, *, detach=False, pid_file=None, console_socket=None,
             stdio=(-1, -1, -1), preserve_fds=0):
        """Run `process` (a spec.Process or its dict) inside the container.
        Returns the exit status, or the pid when detached."""
        if isinstance(process, dict):
            process = spec_mod.Process(process)
        c = self.get(cid)
        status = c.status
        if status not in ("created", "running"):  # a created container's namespaces exist: runc joins them
            raise InvalidState(CANNOT_EXEC.get(status, f"cannot exec in a {status} container"))
        config = c.config()
        plan = self._exec_plan(c, config, process)
        plan.stdio = tuple(stdio)
        plan.preserve_fds = preserve_fds
        fds = []
        try:
            cg = c.cgroup
            if cg:
                plan.cgroup_dirfd = cg.dirfd()
                fds.append(plan.cgroup_dirfd)
                plan.cgroup_tasks_fds = cg.tasks_fds()
                fds.extend(plan.cgroup_tasks_fds)
            if console_socket:
                plan.console_sock = _connect_console(console_socket)
                fds.append(plan.console_sock)
            pid = _core.spawn(plan)
        finally:
            for fd in fds:
                if fd >= 0:
                    os.close(fd)
        if pid_file:
            _write_atomic(pid_file, str(pid))
        if detach:
            return pid
        return wait_status(pid)

    def _exec_plan(self, c, config, process):
        from fastctr.runtime.plan import Plan
        plan = Plan(process.args, process.env)
        spec_mod.apply_process(plan, process)
        plan.joins = _container_namespaces(c.pid, config)
        plan.setsid = process.terminal
        plan.seccomp_bpf = self._seccomp_program(config)  # runc: the container's filter binds exec too
        return plan

    def _seccomp_program(self, config):
        """The BPF program of linux.seccomp, compiled once per profile and
        kept under the state root (a tmpfs: recompiled after a reboot)."""
        if not config.seccomp:
            return None
        from fastctr.runtime import seccomp
        return seccomp.bpf_for(config.seccomp, os.path.join(self.store.root, ".seccomp"))

    # ------------------------------------------------------ pause/resume
    def pause(self, cid):
        c = self.get(cid)
        if c.status not in ("running", "created"):
            raise InvalidState(NOT_RUNNING)
        c.cgroup.freeze(True)

    def resume(self, cid):
        c = self.get(cid)
        if c.status != "paused":
            raise InvalidState(NOT_PAUSED)
        c.cgroup.freeze(False)

    def update(self, cid, resources):
        """New limits for the container's cgroup (runc update)."""
        cgroups_mod.validate_resources(resources)
        c = self.get(cid)
        if c.status in ("stopped", "creating"):
            raise InvalidState(NOT_RUNNING)
        c.cgroup.apply(resources)

    # ------------------------------------------------------------- hooks
    def _run_hooks(self, config, kind, container, in_container=False, fatal=True):
        hooks = config.hooks.get(kind)
        if not hooks:
            return
        from fastctr.runtime import hooks as hooks_mod
        state = container.oci_state()
        if kind == "poststop":
            state["status"] = "stopped"
        for hook in hooks:
            try:
                if in_container:
                    hooks_mod.run_in_container(hook, state, _container_namespaces(container.pid, config),
                                               resolve_on_host=(kind == "createContainer"))
                else:
                    hooks_mod.run_on_host(hook, state)
            except HookError:
                if fatal:
                    raise
                # Spec: poststart/poststop failures are logged, not fatal.
                import sys
                print(f"fastctr: warning: {kind} hook {hook.path} failed", file=sys.stderr)


def _container_namespaces(pid, config):
    """(CLONE_NEW*, /proc/PID/ns/NAME) for every namespace the container has
    its own of (new or joined): entering them all puts a process inside."""
    out = []
    for kind, flag in spec_mod.NAMESPACES.items():
        if kind in config.ns_kinds:
            out.append((flag, f"/proc/{pid}/ns/{spec_mod.NS_PROC_NAMES[kind]}"))
    return out


def _connect_console(path):
    """A connected socket for the pty master: a path (runc's
    --console-socket) or a socket fd of ours, duplicated."""
    if isinstance(path, int):
        return os.dup(path)
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        raise ConfigError(f"cannot connect to console socket {path}: {e.strerror}") from None
    return s.detach()


def _write_atomic(path, text):
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def wait_status(pid):
    """waitpid -> shell-style exit status."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            return _wait_foreign(pid)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _wait_foreign(pid, start_time=None, timeout=None):
    """Wait for a process that is not our child to go away."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.0005
    while process_start_time(pid) is not None and (start_time is None or process_start_time(pid) == start_time):
        if deadline is not None and time.monotonic() > deadline:
            return -1
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
    return -1


def _reap_or_wait(pid, start_time=None):
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        _wait_foreign(pid, start_time, timeout=10)
    except OSError as e:
        if e.errno != errno.ECHILD:
            raise


def _join_netns(plan, config, path):
    """The process joins the network namespace at path instead of making
    its own; only where the config makes one, and no user namespace that
    would own it."""
    if not config.new_ns & NEWNET or config.new_ns & spec_mod.NAMESPACES["user"]:
        raise ConfigError("a prepared network namespace needs a config that makes a network and no user namespace")
    plan.new_ns_flags &= ~NEWNET
    plan.joins.append((NEWNET, path))
