"""What a container is made of: Docker's run/create flags (RunOptions) and
their parsers, the container's user and names, and the OCI spec made from
an image config and those flags (make_spec).

Names: a generated one is ADJECTIVE_SURNAME as Docker makes them.  A farm
creates thousands of unnamed containers at once: with 128 adjectives and
276 surnames (35,000 names; Docker's name space has ~25,000) two
concurrent runs rarely draw the same name, and the engine draws again when
they do (the store's UNIQUE constraint is the judge, not a prior look-up)."""
import os

from fastctr.errors import ConfigError

DOCKER_MASKED = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                 "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                 "/sys/devices/virtual/powercap"]
DOCKER_READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
INIT_PATH = "/sbin/docker-init"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class RunOptions:
    """Docker's `run`/`create` flags, already split from the command line."""

    def __init__(self, **kw):
        self.name = kw.get("name")
        self.rm = kw.get("rm", False)
        self.env = list(kw.get("env") or [])
        self.env_files = list(kw.get("env_files") or [])
        self.workdir = kw.get("workdir")
        self.user = kw.get("user")
        self.entrypoint = kw.get("entrypoint")  # None = image's; "" = none
        self.hostname = kw.get("hostname")
        self.volumes = list(kw.get("volumes") or [])
        self.mounts = list(kw.get("mounts") or [])
        self.tmpfs = list(kw.get("tmpfs") or [])
        self.read_only = kw.get("read_only", False)
        self.labels = list(kw.get("labels") or [])
        self.cmd = list(kw.get("cmd") or [])
        self.network = kw.get("network")  # None: the engine's default network
        self.publish = list(kw.get("publish") or [])
        self.publish_all = kw.get("publish_all", False)
        self.detach = kw.get("detach", False)
        for name in ("cpus", "cpu_period", "cpu_quota", "cpu_shares", "cpuset_cpus", "cpuset_mems", "memory",
                     "memory_swap", "memory_reservation", "pids_limit", "blkio_weight", "shm_size",
                     "oom_score_adj", "oom_kill_disable", "memory_swappiness", "cpu_rt_period", "cpu_rt_runtime",
                     "cgroup_parent"):
            setattr(self, name, kw.get(name))  # resource flags: fastctr.resources
        for name in ("device_read_bps", "device_write_bps", "device_read_iops", "device_write_iops",
                     "blkio_weight_device", "device_cgroup_rules"):
            setattr(self, name, list(kw.get(name) or []))  # fastctr.engine.cgroupflags
        self.ulimits = list(kw.get("ulimits") or [])
        self.sysctls = list(kw.get("sysctls") or [])
        self.stop_signal = kw.get("stop_signal")
        self.privileged = kw.get("privileged", False)
        self.tty = kw.get("tty", False)
        self.interactive = kw.get("interactive", False)
        self.init = kw.get("init", False)
        self.sig_proxy = kw.get("sig_proxy", True)
        self.detach_keys = kw.get("detach_keys")
        self.stop_timeout = kw.get("stop_timeout")
        self.pull = kw.get("pull") or "missing"  # --pull missing|always|never
        self.restart, self.health = kw.get("restart"), {k: v for k, v in kw.items() if "health" in k}
        self.log_driver, self.log_opts = kw.get("log_driver"), list(kw.get("log_opts") or [])  # engine.logopts
        for name in ("cap_add", "cap_drop", "security_opt", "devices"):
            setattr(self, name, list(kw.get(name) or []))  # fastctr.security
        # The process environment and namespace flags (see FLAGS below).
        for name in ("pid", "ipc", "uts", "cgroupns", "userns", "cidfile", "domainname", "platform",
                     "ip", "mac_address"):
            setattr(self, name, kw.get(name))
        for name in ("group_add", "label_files", "volumes_from", "attach") + NET_MULTI:  # NET_MULTI: netflags
            setattr(self, name, list(kw.get(name) or []))
        self.quiet = kw.get("quiet", False)
        self.image_record = kw.get("image_record")  # an image dict (id, config, layer_blobs) instead of a ref
        self.oci_mounts = None  # --mount and --volumes-from made into OCI mounts (fastctr.engine.mounts)


# Docker's run/create flags of the process environment, namespaces and
# files, for the CLI's table (MULTI: the ones that may be repeated).
FLAGS = {"--group-add": ("group_add", True), "--pid": ("pid", True), "--ipc": ("ipc", True),
         "--uts": ("uts", True), "--cgroupns": ("cgroupns", True), "--userns": ("userns", True),
         "--cidfile": ("cidfile", True), "--label-file": ("label_files", True),
         "--volumes-from": ("volumes_from", True), "--domainname": ("domainname", True),
         "--platform": ("platform", True), "-q": ("quiet", False), "--quiet": ("quiet", False),
         "-a": ("attach", True), "--attach": ("attach", True)}
MULTI = {"group_add", "label_files", "volumes_from", "attach"}
NET_MULTI = ("add_hosts", "dns", "dns_search", "dns_options", "network_aliases", "expose")  # --add-host...: netflags


# ----------------------------------------------------------- flag parsing

def parse_env(opts):
    env = []
    for path in opts.env_files:
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError as e:
            raise ConfigError(f"--env-file {path}: {e.strerror}") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"--env-file {path}: not UTF-8 text (byte {e.start})") from None
        env += [line for line in (x.strip() for x in lines) if line and not line.startswith("#")]
    env += opts.env
    out = []
    for e in env:
        if "=" not in e:
            value = os.environ.get(e)  # `-e NAME` passes the caller's value, as Docker does
            if value is None:
                continue
            e = f"{e}={value}"
        if e.startswith("="):
            raise ConfigError(f"invalid environment variable {e!r}")
        out.append(e)
    return out


def merge_env(base, extra):
    """base with each KEY=VALUE of extra replacing base's KEY."""
    out = list(base)
    for e in extra:
        key = e.split("=", 1)[0]
        out = [x for x in out if x.split("=", 1)[0] != key] + [e]
    return out


def user_mounts(opts):
    """The binds of -v, --mount and --volumes-from, as the record keeps them."""
    return binds(opts.volumes, "parse_volume") + [m for m in opts.oci_mounts or [] if m["type"] == "bind"]


def binds(specs, parser):
    """-v or --tmpfs values as OCI mounts (fastctr.engine.binds, imported only for them)."""
    if not specs:
        return []
    from fastctr.engine import binds as module
    return [getattr(module, parser)(spec) for spec in specs]


def parse_labels(labels):
    out = {}
    for label in labels:
        key, _, value = label.partition("=")
        if not key:
            raise ConfigError(f"invalid label {label!r}")
        out[key] = value
    return out


def parse_network(opts):
    """-> ("private", None), ("host", None), ("container", NAME) or ("net", NETWORK)."""
    mode = opts.network
    if mode in (None, "none", "private"):
        return ("private", None)
    if mode == "host":
        if opts.hostname:
            raise ConfigError("conflicting options: --hostname and --network host")
        return ("host", None)
    if mode.startswith("container:") and len(mode) > len("container:"):
        if opts.hostname:
            raise ConfigError("conflicting options: --hostname and --network container:...")
        return ("container", mode.split(":", 1)[1])
    if not (mode[0].isalnum() and all(c.isalnum() or c in "_.-" for c in mode)):
        raise ConfigError(f"invalid network {mode!r}: use none, host, container:NAME, bridge or a network name")
    return ("net", mode)  # `bridge` or a user-defined network


def host_names(hostname, domainname=None):
    """The names of the container's own /etc/hosts line, as libnetwork
    writes them: the FQDN (hostname.domainname, or a hostname with dots)
    and the bare hostname."""
    fqdn = f"{hostname}.{domainname}" if domainname else hostname
    short = fqdn.split(".", 1)[0]
    return fqdn if short == fqdn else f"{fqdn} {short}"


def bundle_document(spec):
    """The spec as config.json holds it: with the host's UTS namespace
    (--uts host) the hostname is the host's own, not one to set."""
    if any(n["type"] == "uts" for n in spec["linux"]["namespaces"]):
        return spec
    return {k: v for k, v in spec.items() if k != "hostname"}


def _cgroup_v2():
    """Whether containers get v2 cgroups (FASTCTR_CGROUP_V2_ROOT: the runtime's v2 lane on a hybrid host)."""
    return bool(os.environ.get("FASTCTR_CGROUP_V2_ROOT")) or os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def parse_namespaces(opts, network):
    """linux.namespaces for --network, --pid, --ipc, --uts, --cgroupns and
    --userns, checked as Docker's CLI and daemon check them.  A
    `container:X` namespace is a new one here: the engine points it at X's
    process when it starts the container."""
    pid, ipc, uts = opts.pid or "", opts.ipc or "private", opts.uts or ""
    if pid not in ("", "host") and not (pid.startswith("container:") and len(pid) > 10):
        raise ConfigError("--pid: invalid PID mode")
    if ipc not in ("none", "private", "shareable", "host") and not (ipc.startswith("container:") and len(ipc) > 10):
        raise ConfigError(f"invalid IPC mode: {ipc}")
    if uts not in ("", "host"):
        raise ConfigError("--uts: invalid UTS mode")
    if uts == "host" and opts.hostname:
        raise ConfigError("conflicting options: hostname and the UTS mode")
    if opts.userns not in (None, "", "host"):
        # No daemon-wide remapping (dockerd --userns-remap) here: `host` is all Docker accepts per container.
        raise ConfigError("--userns: invalid USER mode")
    # Docker's default: a private cgroup namespace on cgroup v2, the host's on v1.
    cgroupns = opts.cgroupns or ("private" if _cgroup_v2() else "host")
    if cgroupns not in ("host", "private"):
        raise ConfigError("--cgroupns: invalid CGROUP mode")
    host = {"pid": pid == "host", "network": network[0] == "host", "ipc": ipc == "host", "uts": uts == "host",
            "cgroup": cgroupns == "host"}
    return [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup") if not host.get(t)]


def namespace_peers(opts):
    """{namespace type: container reference} of --pid/--ipc container:X."""
    return {kind: mode.split(":", 1)[1] for kind, mode in (("pid", opts.pid), ("ipc", opts.ipc))
            if mode and mode.startswith("container:") and len(mode) > len("container:")}


def run_flag_record(engine, image_ref, image, opts):
    """What the process environment and namespace flags add to the
    container's record, checked before anything exists."""
    cfg = image["config"].get("config") or {}
    env = list(cfg.get("Env") or []) + parse_env(opts)
    # As Docker's HostConfig/Config name them: IpcMode, PidMode, UTSMode, CgroupnsMode, UsernsMode,
    # GroupAdd, ContainerIDFile, VolumesFrom, Mounts (the --mount texts), Domainname.
    extra = {"auto_home": not any(e.startswith("HOME=") for e in env), "group_add": opts.group_add,
             "ipc_mode": opts.ipc or "private", "pid_mode": opts.pid or "", "uts_mode": opts.uts or "",
             "cgroupns_mode": opts.cgroupns or ("private" if _cgroup_v2() else "host"),
             "userns_mode": opts.userns or "", "cidfile": opts.cidfile or "", "volumes_from": opts.volumes_from,
             "mount_texts": opts.mounts, "domainname": opts.domainname or ""}
    if not (opts.label_files or opts.attach or namespace_peers(opts)):
        return extra  # the start path imports nothing more
    from fastctr.engine import runflags
    if opts.label_files:
        opts.labels = runflags.read_label_files(opts.label_files) + opts.labels
    extra["attach"] = sorted(runflags.attach_streams(opts.attach, opts.detach))
    extra["namespace_peers"] = runflags.resolve_peers(engine, namespace_peers(opts))
    extra.update({f"{kind}_mode": f"container:{cid}" for kind, cid in extra["namespace_peers"].items()})
    return extra


def for_platform(engine, image_ref, image_id, image, opts):
    """(ID, image) for --platform: a local image of another platform is
    pulled again for this one (fastctr.engine.runflags.platform_image)."""
    if not opts.platform:
        return image_id, image
    from fastctr.engine.runflags import platform_image
    image_id = platform_image(engine, image_ref, image, opts)
    return image_id, engine.store.image(image_id)


def finish_bundle(driver, opts, spec, cid, chain, rootfs, cdir):
    """What the bundle needs beyond the spec: a missing working directory
    made in the writable layer, --ipc shareable's /dev/shm."""
    if spec["process"]["cwd"] == "/" and opts.ipc != "shareable":
        return
    from fastctr.engine import runflags
    if spec["process"]["cwd"] != "/":
        runflags.make_workdir(driver, cid, chain, rootfs, spec["process"]["cwd"])
    if opts.ipc == "shareable":
        runflags.shareable_shm(spec, cdir)


def net_flag_record(engine, opts, network):
    """What the network flags add to the record: fastctr.engine.netflags."""
    if not (any(getattr(opts, n) for n in NET_MULTI) or opts.ip or opts.mac_address):
        return {}
    from fastctr.engine import netflags
    return netflags.record(engine, opts, network)


DOCKER_HOSTS = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
                "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")  # Docker's


def etc_texts(kind, record, names):
    """(hosts, resolv.conf) as Docker's (netflags), with its names on 127.0.1.1 until it has an address."""
    resolv = _read_text("/etc/resolv.conf") or ""
    hosts = (_read_text("/etc/hosts") or DOCKER_HOSTS) if kind == "host" else DOCKER_HOSTS
    own = None if kind == "host" else ("127.0.1.1", names.split())
    servers = [p[1] for p in (line.split() for line in resolv.splitlines()) if p[:1] == ["nameserver"] and p[1:]]
    if kind == "host" or record or not servers or any(s.startswith("127.") or s == "::1" for s in servers):
        from fastctr.engine import netflags  # flags, loopback resolvers to leave out, or none at all
        return netflags.etc_texts(kind, record, hosts, resolv, own)
    return hosts + f"{own[0]}\t{' '.join(own[1])}\n", resolv  # the start path's


def validate_name(name):
    ok = name and name[0].isalnum() and all(c.isalnum() or c in "_.-" for c in name)
    if not ok:
        raise ConfigError(f"invalid container name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")
    return name


# --------------------------------------------------------- user lookup
# As Docker (moby/sys/user GetExecUser, then the daemon's getUser): a
# numeric user or group matches by id only, a name by name; the
# supplementary groups of /etc/group come only with the implicit form
# (no `:GROUP`), for the name of the passwd entry matched (so `-u 1000`
# gets the groups of the entry with uid 1000); --group-add comes on top.

def _read_passwd_like(text):
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def _id_or_none(text, what, spec):
    if not text.isdigit():
        return None
    n = int(text)
    if n > 0x7FFFFFFF:
        raise ConfigError(f"unable to find {what} {spec}: numerical result out of range")
    return n


class ExecUser:
    """What the user of a container's process is: ids, groups and $HOME."""

    def __init__(self, uid, gid, sgids, home):
        self.uid, self.gid, self.sgids, self.home = uid, gid, sgids, home

    def spec(self, group_add=()):
        """The OCI process.user: the primary group first, as the daemon
        puts it, then /etc/group's and --group-add's, each once (as runc's user package)."""
        gids = list(dict.fromkeys([self.gid] + self.sgids + list(group_add)))
        return {"uid": self.uid, "gid": self.gid, "additionalGids": gids}


def lookup_user(spec, read_file):
    """'' / 'name' / 'uid' / 'name:group' / 'uid:gid' -> ExecUser, looked
    up in the image's /etc/passwd and /etc/group (read_file('etc/passwd'))."""
    user, _, group = (spec or "").partition(":")
    passwd = _read_passwd_like(read_file("etc/passwd") or "")
    uid, gid, home, name = 0, 0, "/", None
    wanted = _id_or_none(user, "user", user) if user else 0
    entries = [p for p in passwd if len(p) > 5 and p[2].isdigit() and p[3].isdigit()]
    match = [p for p in entries if (int(p[2]) == wanted if wanted is not None else p[0] == user)]
    if match:
        name, uid, gid, home = match[0][0], int(match[0][2]), int(match[0][3]), match[0][5] or "/"
    elif wanted is None:
        raise ConfigError(f"unable to find user {user}: no matching entries in passwd file")
    else:
        uid = wanted
    groups = _groups(read_file) if group or name else []
    sgids = []
    if group:
        gid = _group_id(group, groups)
    elif name:
        sgids = [g[1] for g in groups if name in g[2]]
    return ExecUser(uid, gid, sgids, home)


def _groups(read_file):
    """(name, gid, members) of the image's /etc/group."""
    out = []
    for g in _read_passwd_like(read_file("etc/group") or ""):
        if len(g) > 2 and g[2].isdigit():
            out.append((g[0], int(g[2]), g[3].split(",") if len(g) > 3 and g[3] else []))
    return out


def _group_id(group, groups):
    wanted = _id_or_none(group, "group", group)
    for name, gid, _ in groups:
        if (gid == wanted) if wanted is not None else (name == group):
            return gid
    if wanted is None:
        raise ConfigError(f"unable to find group {group}: no matching entries in group file")
    return wanted


def group_add_ids(names, read_file):
    """--group-add GROUP|GID: names from the image's /etc/group, numbers as
    they are; each once, in order."""
    if not names:
        return []
    groups = _groups(read_file)
    out = []
    for group in names:
        gid = _group_id(group, groups)
        if gid not in out:
            out.append(gid)
    return out


def resolve_user(spec, read_file):
    """'name', 'uid', 'name:group', 'uid:gid' -> (uid, gid, extra gids)."""
    u = lookup_user(spec, read_file)
    return u.uid, u.gid, u.sgids


# ------------------------------------------------------------ the spec

def command_of(cfg, opts):
    """(Entrypoint, Cmd) of the container: the image's, as the flags change them."""
    entrypoint = cfg.get("Entrypoint") or []
    cmd = cfg.get("Cmd") or []
    if opts.entrypoint is not None:
        entrypoint = [opts.entrypoint] if opts.entrypoint else []
        cmd = []  # Docker: --entrypoint clears the image's Cmd
    if opts.cmd:
        cmd = opts.cmd
    return list(entrypoint), list(cmd)


def process_env(cfg, opts, hostname, read_file):
    """(env, user, workdir) of the process: the image's as the flags change them (also fastctr.engine.pool's)."""
    env = list(cfg.get("Env") or [])
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, DEFAULT_PATH)
    env.append(f"HOSTNAME={hostname}")
    if opts.tty:
        env.append("TERM=xterm")  # Docker's, for a -t container
    env = merge_env(env, parse_env(opts))
    user = lookup_user(opts.user or cfg.get("User"), read_file)
    if not any(e.startswith("HOME=") for e in env):  # runc's rule: $HOME from passwd only when missing
        env = env + [f"HOME={user.home}"]
    workdir = opts.workdir or cfg.get("WorkingDir") or "/"
    if not workdir.startswith("/"):
        raise ConfigError(f"the working directory '{workdir}' is invalid, it needs to be an absolute path")
    return env, user, workdir


def make_spec(image_config, opts, cid, read_file):
    cfg = image_config.get("config") or {}
    entrypoint, cmd = command_of(cfg, opts)
    args = list(entrypoint) + list(cmd)
    if not args:
        raise ConfigError("no command specified: the image has no Entrypoint or Cmd")
    network = parse_network(opts)
    namespaces = parse_namespaces(opts, network)
    host_uts = not any(n["type"] == "uts" for n in namespaces)
    hostname = opts.hostname or (os.uname().nodename if network[0] == "host" or host_uts else cid[:12])
    env, user, workdir = process_env(cfg, opts, hostname, read_file)
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]},
    ]
    if opts.ipc == "none":  # Docker's none: a private namespace and no /dev/shm
        mounts.pop()
    elif opts.ipc == "host":
        mounts[-1] = {"destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind", "rprivate"]}
    mounts += binds(opts.volumes, "parse_volume")
    mounts += opts.oci_mounts or []  # --mount and --volumes-from, resolved by the engine (fastctr.engine.mounts)
    mounts += binds(opts.tmpfs, "parse_tmpfs")
    if opts.init:
        from fastctr import data_path  # Docker's place for it; read-only, so the container cannot replace it
        mounts.append({"destination": INIT_PATH, "type": "bind", "source": data_path("init"),
                       "options": ["rbind", "ro", "nosuid", "nodev"]})
        args = [INIT_PATH, "--"] + args
    spec = {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": bool(opts.tty), "user": user.spec(group_add_ids(opts.group_add, read_file)),
            "args": args, "env": env, "cwd": workdir,
        },
        "root": {"path": "rootfs", "readonly": bool(opts.read_only)},
        "hostname": hostname,
        "mounts": mounts,
        "annotations": parse_labels(opts.labels),
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": namespaces,
            "maskedPaths": list(DOCKER_MASKED), "readonlyPaths": list(DOCKER_READONLY),
        },
    }
    if opts.domainname:
        if host_uts:
            raise ConfigError("conflicting options: --domainname and --uts host")
        spec["domainname"] = opts.domainname
    if opts.tty:
        from fastctr.engine.tty import terminal_size
        size = terminal_size()
        if size:
            spec["process"]["consoleSize"] = {"height": size[0], "width": size[1]}
    from fastctr.engine import resources, security
    resources.apply(spec, opts)
    security.apply(spec, opts)
    if opts.cgroup_parent:
        from fastctr.engine import cgroupflags
        spec["linux"]["cgroupsPath"] = cgroupflags.container_path(opts.cgroup_parent, cid)
    return spec


# ------------------------------------- the request, as Docker records it

def docker_request(opts, image_config, spec, volumes_root, anonymous):
    """What Docker's ContainerJSON shows of the flags and only they know
    (the Cmd/Entrypoint split, attach flags, -p as given, -v as given...),
    kept in the container's record under "request" for fastctr.engine.model.
    `opts.volumes` already holds the host paths of the volumes."""
    cfg = image_config.get("config") or {}
    entrypoint, cmd = command_of(cfg, opts)
    env = list(cfg.get("Env") or [])
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, DEFAULT_PATH)
    binds, volumes = [], dict.fromkeys(cfg.get("Volumes") or {})
    for v in opts.volumes:
        src, _, rest = v.partition(":")
        name = os.path.basename(os.path.dirname(src)) if os.path.dirname(os.path.dirname(src)) == volumes_root else None
        if name in anonymous:
            volumes[rest.split(":")[0]] = None  # -v /path: Config.Volumes, as the image's VOLUME
        else:
            binds.append(f"{name}:{rest}" if name else v)
    exposed = dict.fromkeys(cfg.get("ExposedPorts") or {})
    bindings = {}
    if opts.publish:
        from fastctr.net.ports import parse_publish
        for m in (m for p in opts.publish for m in parse_publish(p)):
            bindings.setdefault(f"{m.container_port}/{m.proto}", []).append(
                {"HostIp": m.host_ip, "HostPort": str(m.host_port) if m.host_port else ""})
    exposed.update(dict.fromkeys(bindings))
    size = spec["process"].get("consoleSize") or {}
    attached = not opts.detach
    streams = {a.lower() for a in getattr(opts, "attach", None) or []}  # -a: only these
    if not streams:
        streams = {"stdin", "stdout", "stderr"} if attached and opts.interactive else \
            {"stdout", "stderr"} if attached else set()
    return {"Entrypoint": entrypoint or None, "Cmd": cmd or None, "Env": merge_env(env, parse_env(opts)),
            "User": opts.user or cfg.get("User") or "", "WorkingDir": opts.workdir or cfg.get("WorkingDir") or "",
            "AttachStdin": "stdin" in streams, "AttachStdout": "stdout" in streams, "AttachStderr": "stderr" in streams,
            "OpenStdin": bool(opts.interactive), "StdinOnce": bool(opts.interactive and "stdin" in streams),
            "ExposedPorts": sorted(exposed), "PortBindings": bindings, "PublishAllPorts": bool(opts.publish_all),
            "Binds": binds or None, "Volumes": sorted(volumes) or None,
            "Tmpfs": dict(t.partition(":")[::2] for t in opts.tmpfs), "Devices": list(opts.devices),
            "ConsoleSize": [size.get("height", 0), size.get("width", 0)],
            "DeviceCgroupRules": list(getattr(opts, "device_cgroup_rules", None) or []),
            "NanoCpus": int(float(opts.cpus) * 1e9) if opts.cpus is not None else 0}


def _read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


# ---------------------------------------------------------- generated names

ADJECTIVES = (
    "admiring", "adoring", "affectionate", "agile", "alert", "amazing", "ample", "ardent", "artful", "awesome",
    "blissful", "bold", "brave", "bright", "brisk", "busy", "calm", "candid", "careful", "charming", "cheerful",
    "clever", "cool", "cosmic", "crisp", "curious", "dapper", "daring", "dazzling", "deft", "determined", "devoted",
    "diligent", "dreamy", "eager", "earnest", "ecstatic", "elastic", "elated", "elegant", "eloquent", "epic",
    "exciting", "fervent", "festive", "fluent", "focused", "fond", "friendly", "frosty", "funny", "gallant",
    "generous", "gentle", "gifted", "gleaming", "glowing", "graceful", "grateful", "happy", "hardy", "hopeful",
    "humble", "inspiring", "intrepid", "jolly", "jovial", "keen", "kind", "laughing", "lively", "loving", "loyal",
    "lucid", "lucky", "magical", "mellow", "merry", "mindful", "modest", "musing", "mystic", "nice", "nifty",
    "nimble", "noble", "optimistic", "patient", "peaceful", "placid", "playful", "plucky", "polite", "practical",
    "proud", "quick", "quiet", "radiant", "relaxed", "resolute", "romantic", "serene", "sharp", "sleepy", "smart",
    "snappy", "sober", "spirited", "steady", "stoic", "sturdy", "sunny", "swift", "tender", "thoughtful", "tidy",
    "trusting", "upbeat", "valiant", "vibrant", "vigilant", "vigorous", "vivid", "warm", "wise", "witty",
    "youthful", "zealous",
)

SURNAMES = (
    "agnesi", "aho", "albattani", "allen", "almeida", "archimedes", "aryabhata", "austin", "babbage", "backus",
    "banach", "bardeen", "bartik", "bassi", "beaver", "bell", "bengio", "benz", "bhabha", "bhaskara", "blackwell",
    "bohr", "boole", "booth", "borg", "bose", "boyd", "brahmagupta", "brattain", "brown", "buck", "burnell",
    "cannon", "cantor", "carson", "cartwright", "cauchy", "cerf", "chandrasekhar", "chatelet", "chebyshev",
    "chomsky", "church", "clarke", "codd", "cohen", "colden", "conway", "cook", "copernicus", "cori", "cray",
    "curie", "darwin", "davinci", "dedekind", "descartes", "dewdney", "dhawan", "diffie", "dijkstra", "dirac",
    "driscoll", "dubinsky", "easley", "edison", "einstein", "elbakyan", "elgamal", "elion", "ellis", "engelbart",
    "erdos", "euclid", "euler", "faraday", "feistel", "fermat", "fermi", "feynman", "fibonacci", "floyd", "fourier",
    "franklin", "gagarin", "galileo", "galois", "ganguly", "gauss", "germain", "godel", "goldberg", "goldstine",
    "goldwasser", "goodall", "gould", "gray", "greider", "grothendieck", "haibt", "hamilton", "hamming", "haslett",
    "hawking", "heisenberg", "hellman", "hennessy", "hermite", "herschel", "hertz", "heyrovsky", "hilbert",
    "hinton", "hoare", "hodgkin", "hofstadter", "hollerith", "hoover", "hopper", "hubble", "huffman", "hugle",
    "huygens", "hypatia", "ishizaka", "jackson", "jacobi", "jang", "jemison", "jennings", "jepsen", "johnson",
    "joliot", "jones", "joule", "kahan", "kahn", "kalam", "kapitsa", "kare", "karp", "kay", "keldysh", "keller",
    "kelvin", "kepler", "kernighan", "khayyam", "khorana", "kilby", "kirch", "kleene", "knuth", "kolmogorov",
    "kowalevski", "lagrange", "lalande", "lamarr", "lamport", "lampson", "laplace", "leakey", "leavitt", "lecun",
    "lederberg", "lehmann", "leibniz", "lewin", "lichterman", "liskov", "lovelace", "lumiere", "mahavira",
    "margulis", "markov", "matsumoto", "maxwell", "mayer", "mccarthy", "mcclintock", "mclean", "mcnulty", "meitner",
    "mendel", "mendeleev", "merkle", "micali", "milner", "minsky", "mirzakhani", "montalcini", "moore", "morse",
    "moser", "murdock", "napier", "nash", "naur", "neumann", "newton", "nightingale", "nobel", "noether",
    "northcutt", "noyce", "nygaard", "ohm", "panini", "pascal", "pasteur", "patterson", "payne", "pearl", "perlman",
    "pike", "planck", "poincare", "poitras", "ptolemy", "rabin", "raman", "ramanujan", "rhodes", "ride", "riemann",
    "ritchie", "rivest", "robinson", "roentgen", "rubin", "saha", "sammet", "sanderson", "scott", "shamir",
    "shannon", "shaw", "shirley", "shockley", "sinoussi", "snyder", "solomon", "spence", "stallman", "stonebraker",
    "stroustrup", "sutherland", "swanson", "swartz", "swirles", "tarjan", "taussig", "tesla", "tharp", "thompson",
    "torvalds", "turing", "ullman", "vaughan", "villani", "volta", "wescoff", "wiener", "wilbur", "wiles", "wilkes",
    "williams", "wilson", "wing", "wirth", "wozniak", "wright", "wu", "yalow", "yonath", "zuse",
)


def generate_name():
    """A random ADJECTIVE_SURNAME."""
    a, b = int.from_bytes(os.urandom(4), "little"), int.from_bytes(os.urandom(4), "little")
    return f"{ADJECTIVES[a % len(ADJECTIVES)]}_{SURNAMES[b % len(SURNAMES)]}"
