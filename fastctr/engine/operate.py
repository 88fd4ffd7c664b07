"""Commands on a running container: exec, pause/unpause, rename, top,
stats, update (the document behind `inspect` is fastctr.engine.model).

Mixed into fastctr.engine.Engine, like fastctr.supervise.Supervisor."""
import os
import time

from fastctr import jsonfast as json
from fastctr.errors import FastctrError
from fastctr.errors import ContainerNotRunning as NotRunning  # defined there, exported here too


class Operations:
    # ------------------------------------------------- the runtime of one
    def runtime_for(self, c):
        """The runtime that makes c's cgroup: one with its own --cgroup-parent
        is placed there, not below the engine's parent (as Docker's
        HostConfig.CgroupParent overrides dockerd's)."""
        parent = c["config"].get("cgroup_parent")
        if not parent:
            return self.runtime
        from fastctr.engine.cgroupflags import runtime_parent
        from fastctr.runtime.lifecycle import Runtime
        return Runtime(root=self.state_root, cgroup_parent=runtime_parent(parent))

    # -------------------------------------------------------------- exec
    def exec(self, ref, cmd, *, detach=False, interactive=False, tty=False, env=(), env_files=(), workdir=None,
             user=None, privileged=False, stdio=(0, 1, 2)):
        """Run `cmd` in every namespace and the cgroup of a running
        container.  Returns its exit status (None when detached)."""
        from fastctr.engine.options import merge_env, parse_env, RunOptions
        c = self._running(ref, "exec")
        spec = self.bundle_spec(c)
        proc = spec["process"]
        pid = self.runtime.state(c["id"])["pid"]
        if workdir is not None and not workdir.startswith("/"):
            raise FastctrError(f"the working directory '{workdir}' is invalid, it needs to be an absolute path")
        extra_env = parse_env(RunOptions(env=env, env_files=env_files))
        process_user, home = self._exec_user(c, proc, user, pid)
        if home and c["config"].get("auto_home") and not any(e.startswith("HOME=") for e in extra_env):
            extra_env.insert(0, f"HOME={home}")  # the -u user's, as runc fills it in
        process = {"args": list(cmd), "cwd": workdir or proc.get("cwd", "/"), "terminal": bool(tty),
                   "env": merge_env(proc.get("env") or [], extra_env),
                   "user": process_user, "rlimits": proc.get("rlimits") or [],
                   "noNewPrivileges": bool(proc.get("noNewPrivileges")),
                   "capabilities": proc.get("capabilities")}
        if tty:
            from fastctr.engine.tty import terminal_size
            size = terminal_size()
            if size:
                process["consoleSize"] = {"height": size[0], "width": size[1]}
            if not any(e.startswith("TERM=") for e in process["env"]):
                process["env"].append("TERM=xterm")
        if privileged:
            from fastctr.engine.security import capabilities
            every = capabilities([], [], privileged=True)
            process["capabilities"] = {k: every for k in ("bounding", "effective", "permitted")}
        from fastctr import events
        exec_id = os.urandom(32).hex()
        what = ": " + " ".join(process["args"])  # moby names the command in the action
        for action in ("exec_create", "exec_start"):
            events.container(self.store.root, c, action + what, execID=exec_id)
        if detach:
            return self._exec_detached(c, process)
        status = -1
        try:
            if tty:
                status = self._exec_tty(c, process, interactive, stdio)
                return status
            stdin = stdio[0] if interactive else os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
            try:
                status = self.runtime.exec(c["id"], process, stdio=(stdin, stdio[1], stdio[2]))
                return status
            finally:
                if not interactive:
                    os.close(stdin)
        finally:
            events.container(self.store.root, c, "exec_die", execID=exec_id, exitCode=status)

    def _exec_detached(self, c, process):
        """exec -d: from a short-lived fork, so that the process (its child)
        is reparented at once and is never a zombie of a long-lived caller."""
        from fastctr.engine.supervise import error_from_wire, error_to_wire
        null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        report_r, report_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - ends in _exit
            os.close(report_r)
            try:
                self.runtime.exec(c["id"], process, detach=True, stdio=(null, null, null))
            except BaseException as e:
                os.write(report_w, json.dumps(error_to_wire(e)).encode())
            os._exit(0)
        os.close(null)
        os.close(report_w)
        with os.fdopen(report_r, "rb") as f:
            report = f.read()
        os.waitpid(pid, 0)
        if report:
            raise error_from_wire(json.loads(report))
        return None

    def _exec_tty(self, c, process, interactive, stdio):
        from fastctr.engine import tty
        from fastctr.runtime.lifecycle import wait_status
        ours, theirs = tty.console_pair()
        try:
            pid = self.runtime.exec(c["id"], process, detach=True, console_socket=theirs.fileno())
        finally:
            theirs.close()
        master = pidfd = -1
        try:
            master = tty.receive_master(ours)
            pidfd = os.pidfd_open(pid)
            with tty.RawMode(stdio[0] if interactive else -1):
                tty.relay(master, pidfd, stdio[0], stdio[1], interactive=interactive)
        finally:
            ours.close()
            for fd in (master, pidfd):
                if fd >= 0:
                    os.close(fd)
        return wait_status(pid)

    def _exec_user(self, c, proc, user, pid):
        """(process.user, $HOME or None) of exec [-u USER]: USER looked up in
        the container's files as they are now, with the container's
        --group-add, as the daemon's getUser does."""
        if not user:
            return proc.get("user") or {"uid": 0, "gid": 0}, None
        from fastctr.engine.options import group_add_ids, lookup_user, _read_text

        def read(rel):
            return _read_text(f"/proc/{pid}/root/{rel}")
        found = lookup_user(user, read)
        return found.spec(group_add_ids(c["config"].get("group_add") or [], read)), found.home

    def _running(self, ref, what):
        c = self.container(ref)
        status = self.live_status(c)
        if status == "paused":
            raise NotRunning(f"container {c['name']} is paused, unpause the container before {what}")
        if status != "running":
            raise NotRunning(f"container {c['name']} is not running")
        return c

    def bundle_spec(self, c):
        with open(os.path.join(self._cdir(c), "config.json"), "rb") as f:
            return json.load(f)

    # ---------------------------------------------------- pause/unpause
    def pause(self, ref):
        from fastctr import events
        c = self._running(ref, "pause")
        self.runtime.pause(c["id"])
        events.container(self.store.root, c, "pause")
        return c

    def unpause(self, ref):
        c = self.container(ref)
        if self.live_status(c) != "paused":
            raise NotRunning(f"container {c['name']} is not paused")
        self.runtime.resume(c["id"])
        from fastctr import events
        events.container(self.store.root, c, "unpause")
        return c

    # ------------------------------------------------------------ rename
    def rename(self, ref, new_name):
        from fastctr.errors import NameInUse
        from fastctr.engine.options import validate_name
        c = self.container(ref)
        validate_name(new_name)
        try:
            with self.store.transaction() as db:
                db.execute("UPDATE containers SET name = ? WHERE id = ?", (new_name, c["id"]))
        except Exception as e:
            if "UNIQUE" in str(e):
                raise NameInUse(f"the container name {new_name!r} is already in use") from None
            raise
        from fastctr import events
        events.container(self.store.root, dict(c, name=new_name), "rename", oldName="/" + c["name"])
        return c

    # --------------------------------------------------------------- top
    def top(self, ref):
        """(header, rows) of the container's processes, as `ps -ef`."""
        import psutil
        c = self._running_or_paused(ref)
        rows = []
        for pid in sorted(self.runtime.ps(c["id"])):
            try:
                p = psutil.Process(pid)
                with p.oneshot():
                    cpu = p.cpu_times()
                    secs = int(cpu.user + cpu.system)
                    rows.append([p.username(), str(pid), str(p.ppid()),
                                 time.strftime("%H:%M", time.localtime(p.create_time())),
                                 f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}",
                                 " ".join(p.cmdline()) or f"[{p.name()}]"])
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return ["UID", "PID", "PPID", "STIME", "TIME", "CMD"], rows

    def _running_or_paused(self, ref):
        c = self.container(ref)
        if self.live_status(c) not in ("running", "paused"):
            raise NotRunning(f"container {c['name']} is not running")
        return c

    # ------------------------------------------------------------- stats
    def stats_sample(self, c):
        """One reading of the container's counters (cgroup files and the
        network devices of its namespace)."""
        from fastctr.errors import ContainerNotFound
        try:
            rc = self.runtime.get(c["id"])
            cg = rc.cgroup
            sample = cg.stats() if cg else {}
            sample["net_rx"], sample["net_tx"] = _net_bytes(rc.pid)
        except (ContainerNotFound, OSError):
            return None  # it ended (or was removed) while we read it
        sample["time_ns"] = time.monotonic_ns()
        sample["host_cpu_ns"] = _host_cpu_ns()
        return sample

    # ------------------------------------------------------------ update
    def update(self, ref, opts):
        """New limits for a container: applied to its cgroup if it runs and
        kept in its bundle for the next start."""
        from fastctr.engine import resources
        c = self.container(ref)
        spec = self.bundle_spec(c)
        delta = {"process": {}, "mounts": [], "linux": {"resources": {}}}
        resources.apply(delta, opts)
        res = delta["linux"]["resources"]
        if not res:
            raise FastctrError("update needs at least one limit (see fastctr update --help)")
        if self.live_status(c) in ("running", "paused"):
            cg = self.runtime.get(c["id"]).cgroup
            cg.update(res)
        current = spec["linux"].setdefault("resources", {})
        for key, value in res.items():
            current[key] = dict(current.get(key) or {}, **value) if isinstance(value, dict) else value
        _write_json(os.path.join(self._cdir(c), "config.json"), spec)
        cfs = (opts.cpus, opts.cpu_period, opts.cpu_quota)
        if any(v is not None for v in cfs) and c["config"].get("request") is not None:
            # inspect shows --cpus as NanoCpus, --cpu-period/--cpu-quota as themselves
            nano = int(float(opts.cpus) * 1e9) if opts.cpus is not None else 0
            self._set_config(c["id"], request=dict(c["config"]["request"], NanoCpus=nano))
        return c

    # -------------------------------------------------------------- diff
    def diff(self, ref):
        """[(A|C|D, path)]: the container's changes to its image's files."""
        from fastctr.engine import changes
        from fastctr.image.drivers import Overlay2
        c = self.container(ref)
        driver = self.driver_for_container(c)
        chain = self._chain(self.store.image(c["image_id"]))
        if isinstance(driver, Overlay2):
            layers = [os.path.join(driver.layer_dir(chain_id), "diff") for chain_id in reversed(chain)]
            return changes.overlay_changes(driver.upper(c["id"]), changes.ImageView(layers))
        return changes.tree_changes(os.path.join(driver.container_dir(c["id"]), "rootfs"),
                                    driver.layer_dir(chain[-1]) if chain else None)



def _net_bytes(pid):
    """Received and sent bytes of every interface but lo in the namespace of
    `pid` (/proc/PID/net/dev is that of the process's network namespace)."""
    rx = tx = 0
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            lines = f.read().splitlines()[2:]
    except OSError:
        return 0, 0
    for line in lines:
        name, _, data = line.partition(":")
        fields = data.split()
        if name.strip() != "lo" and len(fields) >= 9:
            rx += int(fields[0])
            tx += int(fields[8])
    return rx, tx


def _host_cpu_ns():
    """All CPUs' busy and idle time since boot, in ns (Docker's system
    usage, the denominator of CPU %)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    return sum(int(x) for x in fields) * (1_000_000_000 // os.sysconf("SC_CLK_TCK"))


def _write_json(path, doc):
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.rename(tmp, path)


def cpu_percent(prev, cur):
    """Docker's formula: container share of the host's CPU time, times the
    number of CPUs (so one busy core is 100%)."""
    if not prev or not cur or prev.get("cpu_ns") is None or cur.get("cpu_ns") is None:
        return 0.0
    used = cur["cpu_ns"] - prev["cpu_ns"]
    system = cur["host_cpu_ns"] - prev["host_cpu_ns"]
    if used <= 0 or system <= 0:
        return 0.0
    return used / system * (os.cpu_count() or 1) * 100.0
