"""Load and validate an OCI runtime-spec config.json before any side effect.

`load_bundle()` returns a Config whose fields are checked and normalised;
`Config.plan()` turns it into the flat Plan the C spawn path executes.
Every problem is a ConfigError with a one-line message naming the field."""
import os
import stat

from fastctr import jsonfast as json
from fastctr.runtime import plan as P
from fastctr.errors import ConfigError

NAMESPACES = {
    "cgroup": P.CLONE_NEWCGROUP, "ipc": P.CLONE_NEWIPC, "mount": P.CLONE_NEWNS,
    "network": P.CLONE_NEWNET, "pid": P.CLONE_NEWPID, "user": P.CLONE_NEWUSER,
    "uts": P.CLONE_NEWUTS,
}
NS_PROC_NAMES = {"cgroup": "cgroup", "ipc": "ipc", "mount": "mnt", "network": "net",
                 "pid": "pid", "user": "user", "uts": "uts"}

CAPABILITIES = [
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
    "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
    "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
    "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
    "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
    "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
]
CAP_BITS = {"CAP_" + name: i for i, name in enumerate(CAPABILITIES)}

RLIMITS = {name: i for i, name in enumerate([
    "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE",
    "RLIMIT_RSS", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS",
    "RLIMIT_LOCKS", "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE",
    "RLIMIT_RTPRIO", "RLIMIT_RTTIME"])}

# option -> (flags to clear, flags to set)
MOUNT_FLAGS = {
    "ro": (0, P.MS_RDONLY), "rw": (P.MS_RDONLY, 0),
    "nosuid": (0, P.MS_NOSUID), "suid": (P.MS_NOSUID, 0),
    "nodev": (0, P.MS_NODEV), "dev": (P.MS_NODEV, 0),
    "noexec": (0, P.MS_NOEXEC), "exec": (P.MS_NOEXEC, 0),
    "sync": (0, P.MS_SYNCHRONOUS), "async": (P.MS_SYNCHRONOUS, 0),
    "dirsync": (0, P.MS_DIRSYNC), "remount": (0, P.MS_REMOUNT),
    "mand": (0, P.MS_MANDLOCK), "nomand": (P.MS_MANDLOCK, 0),
    "atime": (P.MS_NOATIME, 0), "noatime": (0, P.MS_NOATIME),
    "diratime": (P.MS_NODIRATIME, 0), "nodiratime": (0, P.MS_NODIRATIME),
    "relatime": (0, P.MS_RELATIME), "norelatime": (P.MS_RELATIME, 0),
    "strictatime": (0, P.MS_STRICTATIME), "nostrictatime": (P.MS_STRICTATIME, 0),
    "lazytime": (0, P.MS_LAZYTIME), "nolazytime": (P.MS_LAZYTIME, 0),
    "bind": (0, P.MS_BIND), "rbind": (0, P.MS_BIND | P.MS_REC),
    "rro": (0, P.MS_RDONLY),  # and every submount too: Mount.recursive_ro
}
PROPAGATION = {
    "private": P.MS_PRIVATE, "rprivate": P.MS_PRIVATE | P.MS_REC,
    "shared": P.MS_SHARED, "rshared": P.MS_SHARED | P.MS_REC,
    "slave": P.MS_SLAVE, "rslave": P.MS_SLAVE | P.MS_REC,
    "unbindable": P.MS_UNBINDABLE, "runbindable": P.MS_UNBINDABLE | P.MS_REC,
}
IGNORED_OPTIONS = {"tmpcopyup", "defaults"}

DEFAULT_DEVICES = [  # created in every container's /dev, as runc does
    ("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
    ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0),
]
DEV_SYMLINKS = [("/dev/fd", "/proc/self/fd"), ("/dev/stdin", "/proc/self/fd/0"),
                ("/dev/stdout", "/proc/self/fd/1"), ("/dev/stderr", "/proc/self/fd/2"),
                ("/dev/ptmx", "pts/ptmx")]

IPC_SYSCTLS = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
               "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}
MAX_ID = 2**32 - 1


def _field(obj, key, kind, where, default=None, required=False):
    if obj is None or key not in obj or obj[key] is None:
        if required:
            raise ConfigError(f"{where}.{key} is required")
        return default
    value = obj[key]
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}.{key} must be of type {names}, not {type(value).__name__}")
    return value


def _id(value, where):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise ConfigError(f"{where} must be an integer between 0 and {MAX_ID}")
    return value


def _abs(path, where):
    if not isinstance(path, str) or not path.startswith("/"):
        raise ConfigError(f"{where} must be an absolute path, got {path!r}")
    return os.path.normpath(path)


def parse_mount_options(options, where):
    """Return (flags, propagation, data string) for an OCI options list."""
    flags = propagation = 0
    data = []
    for opt in options:
        if not isinstance(opt, str):
            raise ConfigError(f"{where}: option {opt!r} is not a string")
        if opt in MOUNT_FLAGS:
            clear, set_ = MOUNT_FLAGS[opt]
            flags = (flags & ~clear) | set_
        elif opt in PROPAGATION:
            propagation = PROPAGATION[opt]
        elif opt not in IGNORED_OPTIONS:
            data.append(opt)
    return flags, propagation, ",".join(data) or None


class Mount:
    __slots__ = ("dest", "type", "source", "flags", "propagation", "data", "is_bind", "recursive_ro")

    def __init__(self, raw, bundle, index):
        where = f"mounts[{index}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where} must be an object")
        self.dest = _abs(_field(raw, "destination", str, where, required=True), f"{where}.destination")
        self.type = _field(raw, "type", str, where, default="")
        source = _field(raw, "source", str, where, default=None)
        options = _field(raw, "options", list, where, default=[])
        self.flags, self.propagation, self.data = parse_mount_options(options, where)
        # runc's "rro" (recursively read-only, mount_setattr: Linux 5.12), for binds; "rw" after it undoes it.
        self.recursive_ro = int(any(o == "rro" for o in options) and
                                [o for o in options if o in ("rro", "ro", "rw")][-1] == "rro")
        self.is_bind = bool(self.flags & P.MS_BIND) or self.type == "bind"
        if self.is_bind:
            self.flags |= P.MS_BIND
            if not source:
                raise ConfigError(f"{where}: bind mount of {self.dest} needs a source")
            source = os.path.join(bundle, source)
            if not os.path.exists(source):
                raise ConfigError(f"{where}: bind source {source} does not exist")
        elif not self.type:
            raise ConfigError(f"{where}: mount of {self.dest} needs a type")
        self.source = source


class Hook:
    __slots__ = ("path", "args", "env", "timeout")

    def __init__(self, raw, where):
        if not isinstance(raw, dict):
            raise ConfigError(f"{where} must be an object")
        self.path = _abs(_field(raw, "path", str, where, required=True), f"{where}.path")
        self.args = _field(raw, "args", list, where, default=[self.path])
        self.env = _field(raw, "env", list, where, default=[])
        self.timeout = _field(raw, "timeout", int, where, default=None)
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigError(f"{where}.timeout must be positive")

    def to_json(self):
        d = {"path": self.path, "args": self.args, "env": self.env}
        if self.timeout:
            d["timeout"] = self.timeout
        return d


HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer",
              "poststart", "poststop")


class Process:
    """process: what runs in the container (also the input of `exec`)."""

    def __init__(self, raw, where="process"):
        if not isinstance(raw, dict):
            raise ConfigError(f"{where} must be an object")
        self.terminal = _field(raw, "terminal", bool, where, default=False)
        self.args = _field(raw, "args", list, where, default=None)
        if not self.args:
            raise ConfigError(f"{where}.args must name the command to run")
        if not all(isinstance(a, str) for a in self.args):
            raise ConfigError(f"{where}.args must be strings")
        self.env = _field(raw, "env", list, where, default=[])
        for e in self.env:
            if not isinstance(e, str) or "=" not in e:
                raise ConfigError(f"{where}.env entry {e!r} is not KEY=VALUE")
        self.cwd = _abs(_field(raw, "cwd", str, where, default="/"), f"{where}.cwd")
        user = _field(raw, "user", dict, where, default={})
        self.uid = _id(user.get("uid", 0), f"{where}.user.uid")
        self.gid = _id(user.get("gid", 0), f"{where}.user.gid")
        self.umask = user.get("umask")
        if self.umask is not None and (not isinstance(self.umask, int) or not 0 <= self.umask <= 0o777):
            raise ConfigError(f"{where}.user.umask must be between 0 and 0777")
        self.groups = [_id(g, f"{where}.user.additionalGids") for g in user.get("additionalGids") or []]
        self.caps = self._capabilities(_field(raw, "capabilities", dict, where), where)
        self.rlimits = self._rlimits(_field(raw, "rlimits", list, where, default=[]), where)
        self.no_new_privs = _field(raw, "noNewPrivileges", bool, where, default=False)
        self.oom_score_adj = _field(raw, "oomScoreAdj", int, where, default=None)
        if self.oom_score_adj is not None and not -1000 <= self.oom_score_adj <= 1000:
            raise ConfigError(f"{where}.oomScoreAdj must be between -1000 and 1000")
        size = _field(raw, "consoleSize", dict, where, default=None)
        self.console_size = None
        if size:
            self.console_size = tuple(_field(size, k, int, f"{where}.consoleSize", default=0) & 0xFFFF
                                      for k in ("height", "width"))

    @staticmethod
    def _capabilities(raw, where):
        if raw is None:
            return None
        last = _last_cap()
        sets = []
        for kind in ("bounding", "effective", "permitted", "inheritable", "ambient"):
            bits = 0
            for name in raw.get(kind) or []:
                if name not in CAP_BITS:
                    raise ConfigError(f"{where}.capabilities.{kind}: unknown capability {name!r}")
                if CAP_BITS[name] <= last:  # newer than this kernel: ignored like runc
                    bits |= 1 << CAP_BITS[name]
            sets.append(bits)
        return tuple(sets)

    @staticmethod
    def _rlimits(raw, where):
        out, seen = [], set()
        for i, rl in enumerate(raw):
            w = f"{where}.rlimits[{i}]"
            kind = _field(rl, "type", str, w, required=True)
            if kind not in RLIMITS:
                raise ConfigError(f"{w}: unknown rlimit type {kind!r}")
            if kind in seen:
                raise ConfigError(f"{w}: rlimit {kind} given twice")
            seen.add(kind)
            soft, hard = _field(rl, "soft", int, w, required=True), _field(rl, "hard", int, w, required=True)
            if soft > hard:
                raise ConfigError(f"{w}: soft limit {soft} exceeds hard limit {hard}")
            out.append((RLIMITS[kind], soft & (2**64 - 1), hard & (2**64 - 1)))
        return out


_last_cap_cache = []


def _last_cap():
    if not _last_cap_cache:
        try:
            with open("/proc/sys/kernel/cap_last_cap") as f:
                _last_cap_cache.append(int(f.read()))
        except OSError:
            _last_cap_cache.append(len(CAPABILITIES) - 1)
    return _last_cap_cache[0]


def _id_mappings(raw, where):
    out = []
    for i, m in enumerate(raw or []):
        w = f"{where}[{i}]"
        if not isinstance(m, dict):
            raise ConfigError(f"{w} must be an object")
        c = _id(m.get("containerID"), f"{w}.containerID")
        h = _id(m.get("hostID"), f"{w}.hostID")
        s = _id(m.get("size"), f"{w}.size")
        if s == 0:
            raise ConfigError(f"{w}.size must be positive")
        out.append((c, h, s))
    return out


class Device:
    TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}

    def __init__(self, raw, where):
        self.path = _abs(_field(raw, "path", str, where, required=True), f"{where}.path")
        kind = _field(raw, "type", str, where, required=True)
        if kind not in self.TYPES:
            raise ConfigError(f"{where}.type must be one of c, b, u, p")
        self.type = kind
        self.major = _field(raw, "major", int, where, default=0)
        self.minor = _field(raw, "minor", int, where, default=0)
        if kind != "p" and ("major" not in raw or "minor" not in raw):
            raise ConfigError(f"{where}: device {self.path} needs major and minor")
        self.mode = _field(raw, "fileMode", int, where, default=0o666) & 0o7777
        self.uid = _id(raw.get("uid", 0), f"{where}.uid")
        self.gid = _id(raw.get("gid", 0), f"{where}.gid")

    def op(self):
        return P.MountOp(P.OP_MKNOD, self.path, source=self.path if self.type != "p" else None,
                         mode=self.TYPES[self.type] | self.mode, dev=os.makedev(self.major, self.minor),
                         uid=self.uid, gid=self.gid)


class Config:
    """A validated OCI config.  `raw` keeps the document for state and hooks."""

    def __init__(self, raw, bundle):
        if not isinstance(raw, dict):
            raise ConfigError("config.json must hold a JSON object")
        self.raw = raw
        self.bundle = bundle
        self.oci_version = _field(raw, "ociVersion", str, "config", required=True)
        root = _field(raw, "root", dict, "config", required=True)
        path = _field(root, "path", str, "root", required=True)
        self.rootfs = os.path.normpath(os.path.join(bundle, path))
        if not os.path.isdir(self.rootfs):
            raise ConfigError(f"root.path {self.rootfs} is not a directory")
        self.readonly = _field(root, "readonly", bool, "root", default=False)
        process = raw.get("process")
        self.process = Process(process) if process is not None else None
        self.hostname = _field(raw, "hostname", str, "config", default=None)
        self.domainname = _field(raw, "domainname", str, "config", default=None)
        self.mounts = [Mount(m, bundle, i) for i, m in enumerate(_field(raw, "mounts", list, "config", default=[]))]
        self.annotations = _field(raw, "annotations", dict, "config", default={})
        self.hooks = self._hooks(_field(raw, "hooks", dict, "config", default={}))
        self._linux(_field(raw, "linux", dict, "config", default={}))

    @staticmethod
    def _hooks(raw):
        hooks = {}
        for kind, items in raw.items():
            if kind not in HOOK_KINDS:
                raise ConfigError(f"hooks: unknown hook kind {kind!r}")
            if not isinstance(items, list):
                raise ConfigError(f"hooks.{kind} must be a list")
            hooks[kind] = [Hook(h, f"hooks.{kind}[{i}]") for i, h in enumerate(items)]
        return hooks

    def _linux(self, linux):
        self.new_ns = 0
        self.joins = []  # (flag, path)
        for i, ns in enumerate(_field(linux, "namespaces", list, "linux", default=[])):
            where = f"linux.namespaces[{i}]"
            kind = _field(ns, "type", str, where, required=True)
            if kind not in NAMESPACES:
                raise ConfigError(f"{where}: unknown or unsupported namespace type {kind!r}")
            flag = NAMESPACES[kind]
            if self.new_ns & flag or any(f == flag for f, _ in self.joins):
                raise ConfigError(f"{where}: namespace {kind} listed twice")
            path = _field(ns, "path", str, where, default=None)
            if path:
                if not os.path.exists(path):
                    raise ConfigError(f"{where}: namespace path {path} does not exist")
                self.joins.append((flag, path))
            else:
                self.new_ns |= flag
        self.ns_kinds = {k for k, f in NAMESPACES.items() if self.new_ns & f or any(j == f for j, _ in self.joins)}
        self.uid_mappings = _id_mappings(_field(linux, "uidMappings", list, "linux"), "linux.uidMappings")
        self.gid_mappings = _id_mappings(_field(linux, "gidMappings", list, "linux"), "linux.gidMappings")
        if self.new_ns & P.CLONE_NEWUSER:
            if not self.uid_mappings or not self.gid_mappings:
                raise ConfigError("a new user namespace needs linux.uidMappings and linux.gidMappings")
        elif self.uid_mappings or self.gid_mappings:
            raise ConfigError("linux.uidMappings need a new user namespace in linux.namespaces")
        if self.hostname and "uts" not in self.ns_kinds:
            raise ConfigError("hostname needs a private uts namespace")
        if self.domainname and "uts" not in self.ns_kinds:
            raise ConfigError("domainname needs a private uts namespace")
        if "mount" not in self.ns_kinds:
            raise ConfigError("linux.namespaces must include a mount namespace")
        self.devices = [Device(d, f"linux.devices[{i}]") for i, d in
                        enumerate(_field(linux, "devices", list, "linux", default=[]))]
        self.cgroups_path = _field(linux, "cgroupsPath", str, "linux", default=None)
        self.resources = _field(linux, "resources", dict, "linux", default={})
        self.masked_paths = [_abs(p, "linux.maskedPaths") for p in _field(linux, "maskedPaths", list, "linux", default=[])]
        self.readonly_paths = [_abs(p, "linux.readonlyPaths") for p in _field(linux, "readonlyPaths", list, "linux", default=[])]
        prop = _field(linux, "rootfsPropagation", str, "linux", default=None)
        if prop is not None and prop not in PROPAGATION:
            raise ConfigError(f"linux.rootfsPropagation: unknown propagation {prop!r}")
        self.rootfs_propagation = PROPAGATION.get(prop, 0)
        self.sysctls = self._sysctls(_field(linux, "sysctl", dict, "linux", default={}))
        self.seccomp = _field(linux, "seccomp", dict, "linux", default=None)

    def _sysctls(self, raw):
        out = []
        for key, value in raw.items():
            if not isinstance(value, str):
                raise ConfigError(f"linux.sysctl.{key} must be a string")
            if key in IPC_SYSCTLS or key.startswith("fs.mqueue."):
                need = "ipc"
            elif key.startswith("net."):
                need = "network"
            elif key in ("kernel.hostname", "kernel.domainname"):
                need = "uts"
            else:
                raise ConfigError(f"linux.sysctl: {key} is not namespaced and cannot be set in a container")
            if need not in self.ns_kinds:
                raise ConfigError(f"linux.sysctl: {key} needs a private {need} namespace")
            out.append(("/proc/sys/" + key.replace(".", "/"), value))
        return out

    # ------------------------------------------------------------ the plan
    def plan(self, cgroup_mounts=(), process=None):
        """The Plan for the container's init; cgroup_mounts are (source, dest)
        binds replacing a `cgroup` mount on cgroup v1."""
        process = process or self.process
        pl = P.Plan(process.args, process.env)
        pl.new_ns_flags = self.new_ns
        pl.joins = list(self.joins)
        if self.uid_mappings:
            pl.uid_map = "".join(f"{c} {h} {s}\n" for c, h, s in self.uid_mappings)
            pl.gid_map = "".join(f"{c} {h} {s}\n" for c, h, s in self.gid_mappings)
        pl.rootfs = self.rootfs
        pl.rootfs_readonly = self.readonly
        pl.rootfs_propagation = self.rootfs_propagation
        pl.mounts = self._mount_ops(cgroup_mounts, process.terminal)
        pl.masked_paths = self.masked_paths
        pl.readonly_paths = self.readonly_paths
        pl.sysctls = self.sysctls
        pl.hostname = self.hostname
        pl.domainname = self.domainname
        apply_process(pl, process)
        return pl

    def _mount_ops(self, cgroup_mounts, terminal):
        ops = []
        dev_is_bind = False
        for m in self.mounts:
            if m.type == "cgroup" and cgroup_mounts:
                ops.extend(self._cgroup_ops(m, cgroup_mounts))
                continue
            if m.dest == "/dev" and m.is_bind:
                dev_is_bind = True
            fstype = None if m.is_bind else m.type
            source_is_dir = 1
            if m.is_bind:
                source_is_dir = int(os.path.isdir(m.source))
            ops.append(P.MountOp(P.OP_MOUNT, m.dest, source=m.source or m.type or "none", fstype=fstype,
                                 data=m.data, flags=m.flags, propagation=m.propagation,
                                 source_is_dir=source_is_dir, recursive_ro=m.recursive_ro))
        if not dev_is_bind:
            ops.extend(self._dev_ops(terminal))
        return ops

    def _cgroup_ops(self, m, cgroup_mounts):
        ro = m.flags & P.MS_RDONLY
        flags = P.MS_NOSUID | P.MS_NODEV | P.MS_NOEXEC | ro
        if cgroup_mounts[0][1] is None:
            # cgroup v2: a fresh cgroup2 mount shows the namespace's root,
            # which is the container's cgroup; without a cgroup namespace it
            # would show the host's whole tree, so bind the container's dir.
            if "cgroup" in self.ns_kinds:
                return [P.MountOp(P.OP_MOUNT, m.dest, source="cgroup2", fstype="cgroup2", flags=flags)]
            return [P.MountOp(P.OP_MOUNT, m.dest, source=cgroup_mounts[0][0], flags=P.MS_BIND | P.MS_REC | flags)]
        # cgroup v1, as runc: a tmpfs with one bind per hierarchy of the
        # container's own cgroup, then the tmpfs made read-only if asked.
        ops = [P.MountOp(P.OP_MOUNT, m.dest, source="tmpfs", fstype="tmpfs", data="mode=755",
                         flags=P.MS_NOSUID | P.MS_NODEV | P.MS_NOEXEC)]
        for source, name in cgroup_mounts:
            ops.append(P.MountOp(P.OP_MOUNT, os.path.join(m.dest, name), source=source,
                                 flags=P.MS_BIND | P.MS_REC | P.MS_NOSUID | P.MS_NODEV | P.MS_NOEXEC | ro))
        if ro:
            ops.append(P.MountOp(P.OP_REMOUNT, m.dest, flags=P.MS_RDONLY | P.MS_NOSUID | P.MS_NODEV | P.MS_NOEXEC))
        return ops

    def _dev_ops(self, terminal):
        ops = []
        given = {d.path for d in self.devices}
        for path, major, minor in DEFAULT_DEVICES:
            if path not in given:
                ops.append(P.MountOp(P.OP_MKNOD, path, source=path, mode=stat.S_IFCHR | 0o666,
                                     dev=os.makedev(major, minor)))
        ops.extend(d.op() for d in self.devices)
        for link, target in DEV_SYMLINKS:
            ops.append(P.MountOp(P.OP_SYMLINK, link, source=target))
        if any(m.dest == "/proc" for m in self.mounts):
            ops.append(P.MountOp(P.OP_SYMLINK, "/dev/core", source="/proc/kcore"))
        return ops


def apply_process(pl, process):
    pl.argv = process.args
    pl.env = process.env
    pl.cwd = process.cwd
    pl.uid, pl.gid, pl.groups, pl.umask = process.uid, process.gid, process.groups, process.umask
    pl.caps = process.caps
    pl.rlimits = process.rlimits
    pl.no_new_privs = process.no_new_privs
    pl.console_size = process.console_size if process.terminal else None
    pl.oom_score_adj = process.oom_score_adj


def load_bundle(bundle):
    """Read and validate BUNDLE/config.json."""
    bundle = os.path.abspath(bundle)
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw = json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path} is not valid JSON: {e}") from None
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    return Config(raw, bundle)
