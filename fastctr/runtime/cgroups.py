"""cgroups: one directory per container, on cgroup v1 or v2.

`Cgroups.for_host()` picks the backend the machine uses; both implement
create / apply / tasks_fds / dirfd / pids / freeze / kill / remove.  A container's
path comes from linux.cgroupsPath; with a cgroup *parent* (the `self`
parent nests below the caller's own cgroup, as tests must) every path,
absolute or not, is placed under it.

Longer than the house's 600 lines as one cohesive thing: the two backends
share the resource checks and path rules above them, and the engine and
the runtime see only their common interface."""
import errno
import os
import _signal as signal  # constants only; `signal` imports enum
import time

from fastctr.errors import ConfigError

CGROUP_ROOT = "/sys/fs/cgroup"

# Devices every container may use whatever its rules say (runc's list).
DEFAULT_ALLOWED_DEVICES = [
    "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:8 rwm", "c 1:7 rwm", "c 5:0 rwm", "c 1:5 rwm",
    "c 1:9 rwm", "c 5:1 rwm", "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm",
]


def _write(path, value):
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, str(value).encode())
    except OSError as e:
        raise OSError(e.errno, f"write {value!r} to {path}: {e.strerror}") from None
    finally:
        os.close(fd)


def _write_rules(d, entries):
    """(file, rule) in order, one write each (the kernel takes one rule per
    write) through one open file per name: a container's ~20 device rules
    were as many opens and closes."""
    fds = {}
    try:
        for file, entry in entries:
            path = os.path.join(d, file)
            if file not in fds:
                fds[file] = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fds[file], entry.encode())
            except OSError as e:
                raise OSError(e.errno, f"write {entry!r} to {path}: {e.strerror}") from None
    finally:
        for fd in fds.values():
            os.close(fd)


def _read(path):
    # os.read, not open(): a third of the time, and `ps` reads the freezer
    # state of every running container.
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = [os.read(fd, 65536)]
        while chunks[-1]:
            chunks.append(os.read(fd, 65536))
    finally:
        os.close(fd)
    return b"".join(chunks).decode()


def _oom_kill_count(path):
    try:
        for line in _read(path).splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _int_or_none(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None  # missing file, or "max"


def _stat_field(text, key):
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return None


def _blkio_bytes(text):
    read = write = 0
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1] == "Read":
            read += int(fields[2])
        elif len(fields) == 3 and fields[1] == "Write":
            write += int(fields[2])
    return read, write


_own_text = None  # set_own_cgroups_text: whose cgroups "self" means, if not this process's


def set_own_cgroups_text(text):
    """Let "self" mean the cgroups in `text` (a /proc/PID/cgroup): a
    server's worker acts for its client, whose cgroup a cold start of the
    same command would have been in."""
    global _own_text
    _own_text = text


def own_cgroups():
    """{controller or '' for v2: path} of the calling process (or of the
    client it acts for, see set_own_cgroups_text)."""
    out = {}
    for line in (_own_text or _read("/proc/self/cgroup")).splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            out[c] = path
    return out


def _num(res, key, where):
    v = res.get(key)
    if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
        raise ConfigError(f"linux.resources.{where}.{key} must be an integer")
    return v


def validate_resources(res):
    """Type-check linux.resources before anything is created."""
    if not isinstance(res, dict):
        raise ConfigError("linux.resources must be an object")
    for section, keys in (("cpu", ("shares", "quota", "period", "realtimeRuntime", "realtimePeriod")),
                          ("memory", ("limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness")),
                          ("pids", ("limit",)), ("blockIO", ("weight", "leafWeight"))):
        sub = res.get(section) or {}
        if not isinstance(sub, dict):
            raise ConfigError(f"linux.resources.{section} must be an object")
        for k in keys:
            _num(sub, k, section)
    bio = res.get("blockIO") or {}
    w = bio.get("weight")
    if w is not None and w != 0 and not 10 <= w <= 1000:
        raise ConfigError("linux.resources.blockIO.weight must be between 10 and 1000")
    for i, d in enumerate(res.get("devices") or []):
        if not isinstance(d, dict) or not isinstance(d.get("allow"), bool):
            raise ConfigError(f"linux.resources.devices[{i}].allow must be a boolean")
        if d.get("type", "a") not in ("a", "b", "c"):
            raise ConfigError(f"linux.resources.devices[{i}].type must be a, b or c")
        access = d.get("access", "rwm")
        if not isinstance(access, str) or not access or set(access) - set("rwm"):
            raise ConfigError(f"linux.resources.devices[{i}].access must be letters of rwm")


def _container_relpath(cgroups_path, cid, parent):
    if cgroups_path:
        if ":" in cgroups_path and not cgroups_path.startswith("/"):
            raise ConfigError(f"linux.cgroupsPath {cgroups_path!r}: systemd slices are not supported")
        rel = cgroups_path.strip("/")
    else:
        rel = f"fastctr-{cid}"
    if not rel or ".." in rel.split("/"):
        raise ConfigError(f"linux.cgroupsPath {cgroups_path!r} is not a usable cgroup path")
    return rel if parent is None else os.path.join(parent.strip("/"), rel)


def _makedirs(path, made, on_new=None):
    """mkdir -p that adds each directory it makes to made, top first.  Each
    goes in before its mkdir: a Ctrl-C raised as the mkdir returns (Python
    checks for signals after a C call) must not lose one.  The clean-up's
    rmdir takes a missing one."""
    made.append(path)
    try:  # the common case: only the leaf is missing
        os.mkdir(path)
    except OSError as e:
        made.pop()  # not made
        if not isinstance(e, FileNotFoundError):
            raise
    else:
        if on_new:
            on_new(path)
        return
    for attempt in range(20):
        missing = []
        p = path
        while not os.path.isdir(p):
            missing.append(p)
            p = os.path.dirname(p)
        try:
            for d in reversed(missing):
                made.append(d)
                try:
                    os.mkdir(d)
                except FileExistsError:
                    made.pop()  # another container's, made meanwhile
                    continue
                except OSError:
                    made.pop()
                    raise
                if on_new:
                    on_new(d)
            return
        except FileNotFoundError:
            # Another container's removal took a parent it had made (empty
            # for a moment) between our look and our mkdir: look again.
            if attempt == 19:
                raise


def _rmdir_retry(path, timeout=2.0):
    """rmdir a cgroup; its last tasks may still be exiting (EBUSY)."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise OSError(e.errno, f"remove cgroup {path}: {e.strerror}") from None
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _rmdir_tree(path):
    """rmdir a container's cgroup and the cgroups made below it (a privileged
    container may make its own), deepest first."""
    for dirpath, dirnames, _ in os.walk(path, topdown=False):
        for d in dirnames:
            _rmdir_retry(os.path.join(dirpath, d))
    _rmdir_retry(path)


class CgroupV1:
    version = 1

    def __init__(self, hierarchies, paths, made=()):
        self.hierarchies = hierarchies  # name -> mount point
        self.paths = paths              # name -> container cgroup dir
        self.made = list(made)          # dirs we created, top first

    _hierarchies = None

    @classmethod
    def hierarchies_of_host(cls):
        # Mounted hierarchies do not change under a running engine; parse
        # mountinfo once per process (it grows with the host's mounts).
        if cls._hierarchies is None:
            cls._hierarchies = cls._read_hierarchies()
        return dict(cls._hierarchies)

    @staticmethod
    def _read_hierarchies():
        out = {}
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                sep = fields.index("-")
                if fields[sep + 1] != "cgroup":
                    continue
                opts = [o for o in fields[sep + 3].split(",") if o not in ("rw", "ro")]
                names = [o for o in opts if o in KNOWN_V1 or o.startswith("name=")]
                if names:
                    out[",".join(names)] = fields[4]
        return out

    @classmethod
    def create(cls, cid, cgroups_path, parent, resources):
        hierarchies = cls.hierarchies_of_host()
        own = own_cgroups() if parent == "self" else {}
        paths, made = {}, []
        try:
            for name, mnt in hierarchies.items():
                base = own.get(name.split(",")[0], "/") if parent == "self" else parent
                rel = _container_relpath(cgroups_path, cid, base)
                path = os.path.join(mnt, rel)
                hook = _copy_cpuset if "cpuset" in name.split(",") else None
                _makedirs(path, made, hook)
                paths[name] = path
            unified = hybrid_unified_mount()
            if unified:
                # A hybrid host's cgroup2 tree (no controllers): runc joins the
                # same relative path there, so the container's 0:: line names
                # its own cgroup (systemd and containerd read it), not the root.
                base = own.get("", "/") if parent == "self" else parent
                path = os.path.join(unified, _container_relpath(cgroups_path, cid, base))
                _makedirs(path, made)
                paths["unified"] = path
            cg = cls(hierarchies, paths, made)
            cg.apply(resources)
            return cg
        except BaseException:
            for d in reversed(made):
                try:
                    _rmdir_retry(d, timeout=0.5)
                except OSError:
                    pass
            raise

    def _dir(self, controller):
        if controller in self.paths:  # a hierarchy of its own (`ps` asks every container for its freezer)
            return self.paths[controller]
        for name, path in self.paths.items():
            if controller in name.split(","):
                return path
        return None

    def _set(self, controller, file, value):
        d = self._dir(controller)
        if d is None:
            raise ConfigError(f"cgroup controller {controller} is not available on this machine")
        _write(os.path.join(d, file), value)

    def apply(self, res):
        cpu = res.get("cpu") or {}
        if cpu.get("shares"):
            self._set("cpu", "cpu.shares", cpu["shares"])
        if cpu.get("period"):
            self._set("cpu", "cpu.cfs_period_us", cpu["period"])
        if cpu.get("quota") is not None:
            self._set("cpu", "cpu.cfs_quota_us", cpu["quota"])
        if cpu.get("realtimePeriod") or cpu.get("realtimeRuntime") is not None:
            self._apply_realtime(cpu.get("realtimePeriod"), cpu.get("realtimeRuntime"))
        if cpu.get("cpus"):
            self._set("cpuset", "cpuset.cpus", cpu["cpus"])
        if cpu.get("mems"):
            self._set("cpuset", "cpuset.mems", cpu["mems"])
        self._apply_memory(res.get("memory") or {})
        pids = res.get("pids") or {}
        if pids.get("limit") is not None:
            self._set("pids", "pids.max", pids["limit"] if pids["limit"] > 0 else "max")
        self._apply_blkio(res.get("blockIO") or {})
        if res.get("devices") is not None:
            self._apply_devices(res["devices"])
        for hp in res.get("hugepageLimits") or []:
            self._set("hugetlb", f"hugetlb.{hp['pageSize']}.limit_in_bytes", hp["limit"])
        net = res.get("network") or {}
        if net.get("classID") is not None:
            self._set("net_cls", "net_cls.classid", net["classID"])
        for prio in net.get("priorities") or []:
            self._set("net_prio", "net_prio.ifpriomap", f"{prio['name']} {prio['priority']}")
        if res.get("unified"):
            raise ConfigError("linux.resources.unified needs cgroup v2")

    def _apply_realtime(self, period, runtime):
        """cpu.rt_period_us/rt_runtime_us.  A cgroup can give its children no
        more real-time runtime than it has itself, and a new one has none:
        the parents made here for this container get the same budget first
        (what dockerd --cpu-rt-runtime does for its parent cgroups).  A
        parent that existed already must have it."""
        d = self._dir("cpu")
        if d is None:
            raise ConfigError("cgroup controller cpu is not available on this machine")
        if not os.path.exists(os.path.join(d, "cpu.rt_runtime_us")):
            raise ConfigError("the kernel does not support CPU real-time scheduler (no cpu.rt_runtime_us: "
                              "CONFIG_RT_GROUP_SCHED is off)")
        parents = [p for p in self.made if p != d and d.startswith(p + "/")]
        for path in parents + [d]:
            if period:
                _write_rt(path, "cpu.rt_period_us", period, runtime is not None)
            if runtime is not None:
                _write_rt(path, "cpu.rt_runtime_us", runtime)
            if period and runtime is not None:  # the period again, refused before the runtime fitted in it
                _write_rt(path, "cpu.rt_period_us", period)

    def _apply_memory(self, mem):
        limit, swap = mem.get("limit"), mem.get("swap")
        if limit is not None:
            limit = -1 if limit < 0 else limit
        if swap is not None and limit is not None and swap != -1 and swap < limit:
            raise ConfigError("linux.resources.memory.swap must not be below memory.limit")
        if limit is not None:
            try:
                self._set("memory", "memory.limit_in_bytes", limit)
            except OSError:
                # Lowering below the current memsw limit is refused: swap first.
                if swap is None:
                    raise
                self._set("memory", "memory.memsw.limit_in_bytes", swap)
        if swap is not None:
            path = os.path.join(self._dir("memory") or "", "memory.memsw.limit_in_bytes")
            if os.path.exists(path):
                _write(path, swap)
        if mem.get("reservation") is not None:
            self._set("memory", "memory.soft_limit_in_bytes", mem["reservation"])
        if mem.get("swappiness") is not None:
            sw = mem["swappiness"]
            if not 0 <= sw <= 100:
                raise ConfigError("linux.resources.memory.swappiness must be between 0 and 100")
            self._set("memory", "memory.swappiness", sw)
        if mem.get("kernel") is not None:
            # Kernel >= 6.x accepts and ignores this; older ones enforce it.
            self._set("memory", "memory.kmem.limit_in_bytes", mem["kernel"])
        if mem.get("kernelTCP") is not None:
            self._set("memory", "memory.kmem.tcp.limit_in_bytes", mem["kernelTCP"])
        if mem.get("disableOOMKiller"):
            self._set("memory", "memory.oom_control", 1)

    def _apply_blkio(self, bio):
        d = self._dir("blkio")
        if bio.get("weight"):
            if os.path.exists(os.path.join(d or "", "blkio.weight")):
                self._set("blkio", "blkio.weight", bio["weight"])
            else:
                self._set("blkio", "blkio.bfq.weight", bio["weight"])
        if bio.get("leafWeight"):
            self._set("blkio", "blkio.leaf_weight", bio["leafWeight"])
        # CFQ's file, else BFQ's (kernels >= 5.0 have only BFQ), as runc picks them.
        weight_device = "blkio.weight_device" if os.path.exists(os.path.join(d or "", "blkio.weight_device")) \
            else "blkio.bfq.weight_device"
        for wd in bio.get("weightDevice") or []:
            if wd.get("weight"):
                _set_device_weight(lambda line: self._set("blkio", weight_device, line), wd)
            if wd.get("leafWeight"):
                self._set("blkio", "blkio.leaf_weight_device", f"{wd['major']}:{wd['minor']} {wd['leafWeight']}")
        for key, file in (("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
                          ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
                          ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
                          ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device")):
            for t in bio.get(key) or []:
                self._set("blkio", file, f"{t['major']}:{t['minor']} {t['rate']}")

    def _apply_devices(self, rules):
        entries = []
        for rule in rules:
            kind = rule.get("type", "a")
            major, minor = rule.get("major"), rule.get("minor")
            maj = "*" if major is None or major < 0 else major
            mnr = "*" if minor is None or minor < 0 else minor
            access = rule.get("access", "rwm")
            entry = "a" if kind == "a" and maj == "*" and mnr == "*" else f"{kind} {maj}:{mnr} {access}"
            entries.append(("devices.allow" if rule["allow"] else "devices.deny", entry))
        entries += [("devices.allow", entry) for entry in DEFAULT_ALLOWED_DEVICES]
        d = self._dir("devices")
        if d is None:
            raise ConfigError("cgroup controller devices is not available on this machine")
        _write_rules(d, entries)

    def tasks_fds(self):
        """The v1 hierarchies' `tasks` files, for the new process to write
        "0" to: moving itself, a thread, takes no global lock (a pid written
        to cgroup.procs waits for an RCU grace period; see csrc/spawn.c)."""
        return [os.open(os.path.join(p, "tasks"), os.O_WRONLY | os.O_CLOEXEC)
                for name, p in self.paths.items() if name != "unified"]

    def dirfd(self):
        """A hybrid host's cgroup2 directory, for clone3(CLONE_INTO_CGROUP)."""
        p = self.paths.get("unified")
        return os.open(p, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC) if p else -1

    def mounts_for_container(self):
        """(host dir, name under /sys/fs/cgroup) binds for a `cgroup` mount."""
        return [(path, name.replace("name=", "")) for name, path in self.paths.items()]

    def oom_kills(self):
        """Processes the OOM killer ended in this cgroup (kernel >= 4.13)."""
        d = self._dir("memory")
        return _oom_kill_count(os.path.join(d, "memory.oom_control")) if d else 0

    def update(self, res):
        """Change limits of a running container (`fastctr update`)."""
        self.apply(res)

    def stats(self):
        """Usage counters for `fastctr stats`: cpu_ns, memory, memory_limit,
        pids, io_read, io_write (bytes); None where a controller is missing."""
        def read(controller, file):
            d = self._dir(controller)
            try:
                return _read(os.path.join(d, file)) if d else None
            except OSError:
                return None
        limit = _int_or_none(read("memory", "memory.limit_in_bytes"))
        usage = _int_or_none(read("memory", "memory.usage_in_bytes"))
        inactive = _stat_field(read("memory", "memory.stat"), "total_inactive_file") or 0
        io = _blkio_bytes(read("blkio", "blkio.throttle.io_service_bytes"))
        return {"cpu_ns": _int_or_none(read("cpuacct", "cpuacct.usage")),
                "memory": None if usage is None else max(usage - inactive, 0),
                "memory_limit": None if limit is None or limit >= 1 << 62 else limit,
                "pids": _int_or_none(read("pids", "pids.current")), "io_read": io[0], "io_write": io[1]}

    def pids(self):
        d = self._dir("pids") or self._dir("memory") or next(iter(self.paths.values()))
        try:
            return [int(x) for x in _read(os.path.join(d, "cgroup.procs")).split()]
        except FileNotFoundError:
            return []

    def freeze(self, frozen):
        d = self._dir("freezer")
        if d is None:
            raise ConfigError("the freezer cgroup controller is not available")
        state = "FROZEN" if frozen else "THAWED"
        _write(os.path.join(d, "freezer.state"), state)
        for _ in range(1000):
            if _read(os.path.join(d, "freezer.state")).strip() == state:
                return
            time.sleep(0.001)

    def is_frozen(self):
        d = self._dir("freezer")
        try:
            return d is not None and _read(os.path.join(d, "freezer.state")).strip() == "FROZEN"
        except OSError:
            return False

    def kill(self, sig=signal.SIGKILL):
        """Signal every process; for SIGKILL freeze first so none can fork."""
        frozen = False
        if sig == signal.SIGKILL and self._dir("freezer"):
            try:
                self.freeze(True)
                frozen = True
            except OSError:
                pass
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if frozen:
            self.freeze(False)

    def remove(self):
        for path in self.paths.values():
            _rmdir_tree(path)
        for d in reversed(self.made):
            if d not in self.paths.values():
                try:
                    os.rmdir(d)
                except OSError:
                    pass  # shared with another container, or not empty

    def to_json(self):
        return {"version": 1, "paths": self.paths, "made": self.made}

    @classmethod
    def from_json(cls, d):
        return cls({}, d["paths"], d.get("made", ()))


def _write_rt(path, file, value, may_fail=False):
    try:
        _write(os.path.join(path, file), value)
    except OSError as e:
        if may_fail:
            return
        if e.errno != errno.EINVAL:
            raise
        parent = os.path.dirname(path)
        try:
            budget = _read(os.path.join(parent, "cpu.rt_runtime_us")).strip()
        except OSError:
            budget = "?"
        raise ConfigError(f"cannot set {file} {value} in {path}: more real-time runtime than its parent cgroup "
                          f"{parent} grants (its cpu.rt_runtime_us is {budget}, shared by its children)") from None


def _set_device_weight(write, wd):
    line = f"{wd['major']}:{wd['minor']} {wd['weight']}"
    try:
        write(line)
    except OSError as e:
        if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOENT):
            raise
        raise ConfigError(f"cannot set the I/O weight of device {wd['major']}:{wd['minor']}: "
                          f"{os.strerror(e.errno)} (only the bfq I/O scheduler keeps per-cgroup device weights; "
                          f"see /sys/dev/block/{wd['major']}:{wd['minor']}/queue/scheduler)") from None


KNOWN_V1 = {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
            "hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "misc"}


def _copy_cpuset(path):
    # A new v1 cpuset is empty and takes no tasks until cpus/mems are set.
    # Its parent may be one that another start has just made and not filled
    # yet (two making the same parents at once): fill that first, from its own.
    parent = os.path.dirname(path)
    for f in ("cpuset.cpus", "cpuset.mems"):
        value = _read(os.path.join(parent, f)).strip()
        if not value and os.path.exists(os.path.join(os.path.dirname(parent), f)):
            _copy_cpuset(parent)
            value = _read(os.path.join(parent, f)).strip()
        _write(os.path.join(path, f), value or "\n")


LEAF = "leaf"  # where the processes of a parent cgroup move so that it can have children


def _enable_below(d, controllers, may_move):
    """+controllers in d's subtree_control.  cgroup v2 refuses (EBUSY) while
    d itself holds processes ("no internal processes"): then they move into
    a leaf child of d first, as engines do under systemd (our caller's own
    cgroup, with --cgroup-parent self), and the write is tried again."""
    path = os.path.join(d, "cgroup.subtree_control")
    line = " ".join("+" + c for c in sorted(controllers))
    try:
        _write(path, line)
        return
    except OSError as e:
        if e.errno != errno.EBUSY or not may_move:
            raise
    leaf = os.path.join(d, LEAF)
    try:
        os.makedirs(leaf, exist_ok=True)
        for _ in range(10):  # processes may fork meanwhile: move until none is left
            pids = _read(os.path.join(d, "cgroup.procs")).split()
            if not pids:
                break
            for pid in pids:
                try:
                    _write(os.path.join(leaf, "cgroup.procs"), pid)
                except ProcessLookupError:
                    pass
        _write(path, line)
    except OSError as e:
        raise ConfigError(f"cgroup {d} holds processes, so cgroup v2 cannot enable {', '.join(sorted(controllers))} "
                          f"for containers below it, and moving them into {leaf} failed ({e.strerror}): "
                          "give a --cgroup-parent whose cgroup has no processes of its own") from None


class CgroupV2:
    version = 2

    def __init__(self, root, path, made=()):
        self.root = root
        self.path = path
        self.made = list(made)

    @classmethod
    def create(cls, cid, cgroups_path, parent, resources, root=CGROUP_ROOT):
        base = own_cgroups().get("", "/") if parent == "self" else parent
        rel = _container_relpath(cgroups_path, cid, base)
        path = os.path.join(root, rel)
        needed = _v2_controllers(resources)
        made = []
        try:
            _makedirs(path, made)
            cg = cls(root, path, made)
            cg._enable(needed)
            cg.apply(resources)
            return cg
        except BaseException:
            for d in reversed(made):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
            raise

    def _enable(self, needed):
        """Enable the controllers the resources need in every ancestor."""
        if not needed:
            return
        rel = os.path.relpath(self.path, self.root).split("/")
        d = self.root
        for part in rel:
            available = set(_read(os.path.join(d, "cgroup.controllers")).split())
            missing = needed - available
            if missing:
                raise ConfigError(f"cgroup v2 controllers {', '.join(sorted(missing))} are not available in {d}")
            enabled = set(_read(os.path.join(d, "cgroup.subtree_control")).split())
            todo = needed - enabled
            if todo:
                _enable_below(d, todo, d != self.root)
            d = os.path.join(d, part)

    def _set(self, file, value):
        _write(os.path.join(self.path, file), value)

    def apply(self, res):
        cpu = res.get("cpu") or {}
        if cpu.get("shares"):
            self._set("cpu.weight", 1 + ((cpu["shares"] - 2) * 9999) // 262142)
        if cpu.get("quota") is not None or cpu.get("period"):
            quota = cpu.get("quota")
            quota = "max" if quota is None or quota < 0 else quota
            self._set("cpu.max", f"{quota} {cpu.get('period') or 100000}")
        if cpu.get("cpus"):
            self._set("cpuset.cpus", cpu["cpus"])
        if cpu.get("mems"):
            self._set("cpuset.mems", cpu["mems"])
        mem = res.get("memory") or {}
        limit = mem.get("limit")
        if limit is not None:
            self._set("memory.max", "max" if limit < 0 else limit)
        if mem.get("reservation") is not None:
            self._set("memory.low", mem["reservation"])
        if mem.get("swap") is not None:
            swap = mem["swap"]
            if swap == -1 or limit is None or limit < 0:
                self._set("memory.swap.max", "max" if swap == -1 else swap)
            elif swap < limit:
                raise ConfigError("linux.resources.memory.swap must not be below memory.limit")
            else:
                self._set("memory.swap.max", swap - limit)
        pids = res.get("pids") or {}
        if pids.get("limit") is not None:
            self._set("pids.max", pids["limit"] if pids["limit"] > 0 else "max")
        bio = res.get("blockIO") or {}
        if bio.get("weight"):
            self._set("io.weight", 1 + (bio["weight"] - 10) * 9999 // 990)
            if os.path.exists(os.path.join(self.path, "io.bfq.weight")):  # BFQ takes blkio's own scale, as runc
                self._set("io.bfq.weight", bio["weight"])
        for wd in bio.get("weightDevice") or []:
            if wd.get("weight"):  # per device: BFQ's io.bfq.weight takes "MAJ:MIN WEIGHT" lines (>= 5.4)
                _set_device_weight(lambda line: self._set("io.bfq.weight", line), wd)
        if cpu.get("realtimePeriod") or cpu.get("realtimeRuntime") is not None:
            raise ConfigError("linux.resources.cpu.realtimePeriod/realtimeRuntime: cgroup v2 has no real-time "
                              "group scheduling")
        for hp in res.get("hugepageLimits") or []:
            self._set(f"hugetlb.{hp['pageSize']}.max", hp["limit"])
        for key, name in (("throttleReadBpsDevice", "rbps"), ("throttleWriteBpsDevice", "wbps"),
                          ("throttleReadIOPSDevice", "riops"), ("throttleWriteIOPSDevice", "wiops")):
            for t in bio.get(key) or []:
                self._set("io.max", f"{t['major']}:{t['minor']} {name}={t['rate']}")
        for key, value in (res.get("unified") or {}).items():
            if "/" in key or key.startswith("cgroup."):
                raise ConfigError(f"linux.resources.unified: {key!r} cannot be set")
            self._set(key, value)
        if res.get("devices") is not None:
            from fastctr.runtime import devices  # an eBPF program: v2 has no devices.allow
            devices.attach(self.path, res["devices"])

    def tasks_fds(self):
        return []

    def dirfd(self):
        return os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def mounts_for_container(self):
        return [(self.path, None)]  # None: the unified hierarchy, see spec._cgroup_ops

    def oom_kills(self):
        return _oom_kill_count(os.path.join(self.path, "memory.events"))

    def update(self, res):
        self._enable(_v2_controllers(res))  # a limit the container was made without
        self.apply(res)

    def stats(self):
        def read(file):
            try:
                return _read(os.path.join(self.path, file))
            except OSError:
                return None
        usec = _stat_field(read("cpu.stat"), "usage_usec")
        usage = _int_or_none(read("memory.current"))
        inactive = _stat_field(read("memory.stat"), "inactive_file") or 0
        limit = _int_or_none(read("memory.max"))
        rd = wr = 0
        for line in (read("io.stat") or "").splitlines():
            fields = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
            rd += int(fields.get("rbytes", 0))
            wr += int(fields.get("wbytes", 0))
        return {"cpu_ns": None if usec is None else usec * 1000,
                "memory": None if usage is None else max(usage - inactive, 0), "memory_limit": limit,
                "pids": _int_or_none(read("pids.current")), "io_read": rd, "io_write": wr}

    def pids(self):
        try:
            return [int(x) for x in _read(os.path.join(self.path, "cgroup.procs")).split()]
        except FileNotFoundError:
            return []

    def freeze(self, frozen):
        self._set("cgroup.freeze", 1 if frozen else 0)
        want = "frozen 1" if frozen else "frozen 0"
        for _ in range(1000):
            if want in _read(os.path.join(self.path, "cgroup.events")):
                return
            time.sleep(0.001)

    def is_frozen(self):
        try:
            return _read(os.path.join(self.path, "cgroup.freeze")).strip() == "1"
        except OSError:
            return False

    def kill(self, sig=signal.SIGKILL):
        kill_file = os.path.join(self.path, "cgroup.kill")
        if sig == signal.SIGKILL and os.path.exists(kill_file):
            _write(kill_file, 1)
            return
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def remove(self):
        _rmdir_tree(self.path)
        for d in reversed(self.made):
            if d != self.path:
                try:
                    os.rmdir(d)
                except OSError:
                    pass

    def to_json(self):
        return {"version": 2, "root": self.root, "path": self.path, "made": self.made}

    @classmethod
    def from_json(cls, d):
        return cls(d["root"], d["path"], d.get("made", ()))


def _v2_controllers(res):
    needed = set()
    cpu = res.get("cpu") or {}
    if cpu.get("shares") or cpu.get("quota") is not None or cpu.get("period"):
        needed.add("cpu")
    if cpu.get("cpus") or cpu.get("mems"):
        needed.add("cpuset")
    if any(v is not None for v in (res.get("memory") or {}).values()):
        needed.add("memory")
    if (res.get("pids") or {}).get("limit") is not None:
        needed.add("pids")
    if any((res.get("blockIO") or {}).values()):
        needed.add("io")
    if res.get("hugepageLimits"):
        needed.add("hugetlb")
    for key in res.get("unified") or {}:
        needed.add(key.split(".", 1)[0])
    return needed


_unified = []


def hybrid_unified_mount():
    """/sys/fs/cgroup/unified when the host is hybrid (v1 controllers plus
    an empty cgroup2 tree there), else None; looked up once per process."""
    if not _unified:
        path = os.path.join(CGROUP_ROOT, "unified")
        _unified.append(path if os.path.exists(os.path.join(path, "cgroup.procs")) else None)
    return _unified[0]


def host_version():
    """2 when /sys/fs/cgroup is the unified hierarchy, else 1."""
    return 2 if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")) else 1


def create(cid, cgroups_path, parent, resources, v2_root=None):
    """Create the container's cgroup with its resources applied.

    v2_root forces the v2 backend at that mount (used for a hybrid host's
    /sys/fs/cgroup/unified)."""
    validate_resources(resources)
    if v2_root or host_version() == 2:
        return CgroupV2.create(cid, cgroups_path, parent, resources, root=v2_root or CGROUP_ROOT)
    return CgroupV1.create(cid, cgroups_path, parent, resources)


def from_json(d):
    return CgroupV2.from_json(d) if d["version"] == 2 else CgroupV1.from_json(d)
