"""Containers from images: the engine behind `fastctr run/create/start/rm/ps`.

An engine container is a row in the store, a writable layer from the storage
driver and an OCI bundle (config.json) made from the image config merged
with Docker's flags; fastctr.runtime runs that bundle."""
import os
import time

from fastctr import jsonfast as json
from fastctr import drivers as drivers_mod
from fastctr.errors import ConfigError, FastctrError
from fastctr.faults import crash_point
from fastctr.store import Store, chain_ids, now
from fastctr.operate import Operations
from fastctr.supervise import Supervisor

DOCKER_MASKED = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                 "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                 "/sys/devices/virtual/powercap"]
DOCKER_READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
INIT_PATH = "/sbin/docker-init"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NAME_ATTEMPTS = 20  # generated names drawn before a run gives up (35,000 to draw from)


class ContainerNotFoundError(FastctrError, LookupError):
    exit_code = 125


class NameInUse(FastctrError):
    exit_code = 125


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
                     "oom_score_adj"):
            setattr(self, name, kw.get(name))  # resource flags: fastctr.resources
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
        for name in ("cap_add", "cap_drop", "security_opt", "devices"):
            setattr(self, name, list(kw.get(name) or []))  # fastctr.security


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


def _bind(src, dst, ro, where):
    if not os.path.isabs(src):
        raise ConfigError(f"{where}: {src!r}: named volumes are not supported yet; give an absolute host path")
    if not os.path.exists(src):
        raise ConfigError(f"{where}: bind source {src} does not exist")
    if not os.path.isabs(dst):
        raise ConfigError(f"{where}: container path {dst!r} must be absolute")
    return {"destination": dst, "type": "bind", "source": src, "options": ["rbind", "ro" if ro else "rw"]}


def parse_volume(spec):
    parts = spec.split(":")
    if len(parts) not in (2, 3):
        raise ConfigError(f"-v {spec}: use HOST-PATH:CONTAINER-PATH[:ro|rw]")
    opts = parts[2].split(",") if len(parts) == 3 else []
    if set(opts) - {"ro", "rw", "z", "Z"}:
        raise ConfigError(f"-v {spec}: unknown option {','.join(set(opts) - {'ro', 'rw', 'z', 'Z'})}")
    return _bind(parts[0], parts[1], "ro" in opts, f"-v {spec}")


def parse_mount(spec):
    fields = {}
    for item in spec.split(","):
        key, eq, value = item.partition("=")
        fields[key.strip()] = value if eq else "true"
    kind = fields.pop("type", "volume")
    target = fields.pop("target", None) or fields.pop("destination", None) or fields.pop("dst", None)
    if not target:
        raise ConfigError(f"--mount {spec}: target is required")
    readonly = fields.pop("readonly", fields.pop("ro", "false")) in ("true", "1", "")
    if kind == "bind":
        source = fields.pop("source", None) or fields.pop("src", None)
        if not source:
            raise ConfigError(f"--mount {spec}: a bind mount needs source")
        return _bind(source, target, readonly, f"--mount {spec}")
    if kind == "tmpfs":
        options = ["nosuid", "nodev"]
        if "tmpfs-size" in fields:
            options.append("size=" + fields.pop("tmpfs-size"))
        if "tmpfs-mode" in fields:
            options.append("mode=" + fields.pop("tmpfs-mode"))
        if readonly:
            options.append("ro")
        return {"destination": target, "type": "tmpfs", "source": "tmpfs", "options": options}
    raise ConfigError(f"--mount {spec}: type {kind!r} is not supported (use bind or tmpfs)")


def parse_tmpfs(spec):
    dst, _, opts = spec.partition(":")
    if not os.path.isabs(dst):
        raise ConfigError(f"--tmpfs {spec}: path must be absolute")
    options = ["nosuid", "nodev", "noexec"] + ([o for o in opts.split(",") if o] if opts else [])
    return {"destination": dst, "type": "tmpfs", "source": "tmpfs", "options": options}


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


def validate_name(name):
    ok = name and name[0].isalnum() and all(c.isalnum() or c in "_.-" for c in name)
    if not ok:
        raise ConfigError(f"invalid container name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")
    return name


# --------------------------------------------------------- user lookup

def _read_passwd_like(text):
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def resolve_user(spec, read_file):
    """'name', 'uid', 'name:group', 'uid:gid' -> (uid, gid, extra gids),
    names looked up in the image's /etc/passwd and /etc/group."""
    user, _, group = (spec or "").partition(":")
    passwd = _read_passwd_like(read_file("etc/passwd") or "")
    groups = _read_passwd_like(read_file("etc/group") or "")
    uid, gid, username = 0, None, None
    if user:
        if user.isdigit():
            uid = int(user)
            match = [p for p in passwd if len(p) > 3 and p[2] == user]
        else:
            match = [p for p in passwd if p[0] == user]
            if not match:
                raise ConfigError(f"unable to find user {user}: no matching entries in passwd file")
            uid = int(match[0][2])
        if match:
            username, gid = match[0][0], int(match[0][3])
    else:
        username = next((p[0] for p in passwd if len(p) > 3 and p[2] == "0"), "root")
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            match = [g for g in groups if g[0] == group]
            if not match:
                raise ConfigError(f"unable to find group {group}: no matching entries in group file")
            gid = int(match[0][2])
    gid = 0 if gid is None else gid
    extra = sorted({int(g[2]) for g in groups if len(g) > 3 and username and username in g[3].split(",")} - {gid})
    return uid, gid, extra


# ------------------------------------------------------------ the spec

def _init_program():
    return os.path.join(os.path.dirname(__file__), "data", "init")


def make_spec(image_config, opts, cid, read_file):
    cfg = image_config.get("config") or {}
    entrypoint = cfg.get("Entrypoint") or []
    cmd = cfg.get("Cmd") or []
    if opts.entrypoint is not None:
        entrypoint = [opts.entrypoint] if opts.entrypoint else []
        cmd = []  # Docker: --entrypoint clears the image's Cmd
    if opts.cmd:
        cmd = opts.cmd
    args = list(entrypoint) + list(cmd)
    if not args:
        raise ConfigError("no command specified: the image has no Entrypoint or Cmd")
    network = parse_network(opts)
    hostname = opts.hostname or (os.uname().nodename if network[0] == "host" else cid[:12])
    env = list(cfg.get("Env") or [])
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, DEFAULT_PATH)
    env.append(f"HOSTNAME={hostname}")
    if opts.tty:
        env.append("TERM=xterm")  # Docker's, for a -t container
    env = merge_env(env, parse_env(opts))
    uid, gid, extra = resolve_user(opts.user or cfg.get("User"), read_file)
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
    mounts += [parse_volume(v) for v in opts.volumes]
    mounts += [parse_mount(m) for m in opts.mounts]
    mounts += [parse_tmpfs(t) for t in opts.tmpfs]
    if opts.init:
        # Docker's place for it; read-only, so the container cannot replace it.
        mounts.append({"destination": INIT_PATH, "type": "bind", "source": _init_program(),
                       "options": ["rbind", "ro", "nosuid", "nodev"]})
        args = [INIT_PATH, "--"] + args
    spec = {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": bool(opts.tty), "user": {"uid": uid, "gid": gid, "additionalGids": extra},
            "args": args, "env": env, "cwd": opts.workdir or cfg.get("WorkingDir") or "/",
        },
        "root": {"path": "rootfs", "readonly": bool(opts.read_only)},
        "hostname": hostname,
        "mounts": mounts,
        "annotations": parse_labels(opts.labels),
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")
                           if t != "network" or parse_network(opts)[0] != "host"],
            "maskedPaths": list(DOCKER_MASKED), "readonlyPaths": list(DOCKER_READONLY),
        },
    }
    if opts.tty:
        from fastctr.tty import terminal_size
        size = terminal_size()
        if size:
            spec["process"]["consoleSize"] = {"height": size[0], "width": size[1]}
    from fastctr import resources, security
    resources.apply(spec, opts)
    security.apply(spec, opts)
    return spec


# ------------------------------------------------------------- the engine

class Engine(Supervisor, Operations):
    def __init__(self, data_root=None, state_root=None, driver=None, cgroup_parent=None,
                 default_network=None):
        self.store = Store(data_root)
        # Docker's default is its bridge; FASTCTR_DEFAULT_NETWORK=none is
        # dockerd's `--bridge=none` (and what tests outside a private
        # network namespace must use).
        self.default_network = (default_network or os.environ.get("FASTCTR_DEFAULT_NETWORK")
                                or "bridge")
        self._driver_name = driver
        self._driver = None
        self.state_root = state_root
        self.cgroup_parent = cgroup_parent

    @property
    def driver(self):
        if self._driver is None:
            self._driver = drivers_mod.driver_for(self.store, self._driver_name)
        return self._driver

    @property
    def runtime(self):
        from fastctr.runtime import Runtime
        return Runtime(root=self.state_root, cgroup_parent=self.cgroup_parent)

    # ----------------------------------------------------------- images
    def resolve_image(self, ref):
        try:
            return self.store.resolve(ref)
        except LookupError:
            if ref not in ("hello-world", "hello-world:latest"):
                raise
        from fastctr import images  # made on first use from the installed program
        return images.ensure_hello_world(self.store, self.driver)

    def _chain(self, image):
        return chain_ids(image["config"].get("rootfs", {}).get("diff_ids", []))

    def _ensure_layers(self, image):
        """Layers of an image loaded under another driver are unpacked from
        its blobs for this one."""
        chain = self._chain(image)
        diff_ids = image["config"]["rootfs"]["diff_ids"]
        for i, chain_id in enumerate(chain):
            if not self.driver.has_layer(chain_id):
                blob = self.store.blob_path(image["layer_blobs"][i])
                self.driver.ensure_layer(chain_id, diff_ids[i], chain[i - 1] if i else None, blob)
        return chain

    def _image_file_reader(self, chain, rootfs):
        def read(rel):
            if isinstance(self.driver, drivers_mod.Overlay2):
                for chain_id in reversed(chain):
                    path = os.path.join(self.driver.layer_dir(chain_id), "diff", rel)
                    if os.path.lexists(path):
                        return _read_text(path)
                return None
            return _read_text(os.path.join(rootfs, rel))
        return read

    # ------------------------------------------------------- containers
    def container(self, ref):
        db = self.store.db
        row = db.execute("SELECT id FROM containers WHERE id = ? OR name = ?", (ref, ref)).fetchone()
        if row is None and ref and all(c in "0123456789abcdef" for c in ref):
            rows = db.execute("SELECT id FROM containers WHERE id LIKE ?", (ref + "%",)).fetchall()
            if len(rows) > 1:
                raise ContainerNotFoundError(f"container ID prefix {ref!r} is ambiguous")
            row = rows[0] if rows else None
        if row is None:
            raise ContainerNotFoundError(f"no such container: {ref}")
        return self._row(row[0])

    def _row(self, cid):
        r = self.store.db.execute("SELECT id, name, image_id, driver, created, config, status, exit_code, "
                                  "started, finished, labels FROM containers WHERE id = ?", (cid,)).fetchone()
        if r is None:
            raise ContainerNotFoundError(f"no such container: {cid}")
        keys = ("id", "name", "image_id", "driver", "created", "config", "status", "exit_code", "started",
                "finished", "labels")
        d = dict(zip(keys, r))
        d["config"] = json.loads(d["config"]) if d["config"] else {}
        d["labels"] = json.loads(d["labels"]) if d["labels"] else {}
        return d

    def create(self, image_ref, opts):
        """Make the container: record, writable layer, bundle.  Nothing is
        left behind when any step fails; a command killed meanwhile leaves
        a row whose lock is free, which `ps -a` shows as dead and prune
        removes."""
        cid = os.urandom(32).hex()
        with self.lock(cid):
            return self._create(image_ref, opts, cid)

    def _create(self, image_ref, opts, cid):
        image_id = self.resolve_image(image_ref)
        image = self.store.image(image_id)
        if opts.name:
            validate_name(opts.name)
        chain = self._ensure_layers(image)
        parse_env(opts)  # flag errors before anything exists
        from fastctr.resources import parse_int  # --stop-timeout: seconds before SIGKILL, -1 = forever
        stop_timeout = None if opts.stop_timeout is None else parse_int(opts.stop_timeout, "--stop-timeout", -1)
        if opts.detach_keys is not None:
            from fastctr.tty import parse_detach_keys
            parse_detach_keys(opts.detach_keys)
        ports = self._port_mappings(image["config"], opts)
        if opts.network is None:
            # Publishing needs a bridge even when the default is none.
            opts.network = "bridge" if ports else self.default_network
        network = parse_network(opts)
        if ports and network[0] != "net":
            raise ConfigError(f"ports cannot be published with --network {opts.network}")
        peer = self._network_peer(network[1]) if network[0] == "container" else None
        attach = self._network_record(network[1])["name"] if network[0] == "net" else None
        self._insert_row(cid, opts.name, image_id, parse_labels(opts.labels))
        crash_point("create:recorded")
        anonymous = []
        try:
            rootfs, rootfs_mount = self.driver.prepare_container(cid, chain, volatile=opts.rm)
            crash_point("create:layer")
            used_volumes, anonymous = self._resolve_volumes(opts, image["config"], cid, chain)
            spec = make_spec(image["config"], opts, cid, self._image_file_reader(chain, rootfs))
            cdir = self.driver.container_dir(cid)
            if peer:
                spec["hostname"] = peer["config"].get("hostname", spec["hostname"])
            self._write_etc_files(cdir, spec, network, peer)
            with open(os.path.join(cdir, "config.json"), "w") as f:
                json.dump(spec, f)
            record = {"rootfs_mount": rootfs_mount, "rm": opts.rm, "image": image_ref,
                      "command": spec["process"]["args"],
                      "hostname": spec["hostname"], "network_peer": peer["id"] if peer else None,
                      "networks": [attach] if attach else [],
                      "ports": [m.key() for m in ports],
                      "stop_signal": opts.stop_signal or (image["config"].get("config") or {}).get("StopSignal"),
                      "stop_timeout": stop_timeout, "network_mode": opts.network, "tty": bool(opts.tty), "interactive": bool(opts.interactive),
                      "init": bool(opts.init), "privileged": bool(opts.privileged), "cap_add": opts.cap_add,
                      "cap_drop": opts.cap_drop, "security_opt": opts.security_opt,
                      "volumes": used_volumes, "anonymous_volumes": anonymous}
            with self.store.transaction() as db:
                db.execute("UPDATE containers SET status = 'created', config = ? WHERE id = ?",
                           (json.dumps(record), cid))
        except BaseException:
            self._remove_files(cid)
            self._remove_volumes(anonymous)
            raise
        return self._row(cid)

    def _insert_row(self, cid, name, image_id, labels):
        """The container's row, status `creating`.  A name the user gave
        that is taken fails; a generated one that is taken (another run
        drew it at the same moment) is drawn again."""
        from fastctr import names
        for _ in range(1 if name else NAME_ATTEMPTS):
            try_name = name or names.generate()
            try:
                with self.store.transaction() as db:
                    db.execute("INSERT INTO containers (id, name, image_id, driver, created, status, labels) "
                               "VALUES (?, ?, ?, ?, ?, 'creating', ?)",
                               (cid, try_name, image_id, self.driver.name, now(), json.dumps(labels)))
                return try_name
            except Exception as e:
                if "UNIQUE" not in str(e):
                    raise
        if name:
            raise NameInUse(f"the container name {name!r} is already in use")
        raise NameInUse(f"no free generated name after {NAME_ATTEMPTS} attempts: name the container with --name")

    def _resolve_volumes(self, opts, image_config, cid, chain):
        """Named and anonymous volumes of -v and of the image's VOLUME,
        made as needed and, when new, filled with the image's files there
        (as Docker does); opts.volumes then holds host paths only."""
        image_volumes = (image_config.get("config") or {}).get("Volumes")
        if not image_volumes and all(os.path.isabs(v.split(":")[0]) and ":" in v for v in opts.volumes):
            return [], []  # binds only: the start path imports nothing more
        from fastctr import volumes
        store = volumes.Volumes(self.store)
        targets = [parse_mount(m)["destination"] for m in opts.mounts] + [t.partition(":")[0] for t in opts.tmpfs]
        opts.volumes, used, made, fresh = volumes.resolve(store, opts.volumes, image_volumes, targets)
        try:
            self._copy_image_files(cid, chain, [(store.data_path(name), target) for name, target in fresh])
        except BaseException:
            self._remove_volumes(made)
            raise
        return used, made

    def _copy_image_files(self, cid, chain, pairs):
        if not pairs:
            return
        with self.driver.mounted(cid, chain) as root:
            for volume_dir, target in pairs:
                src = os.path.join(root, target.lstrip("/"))
                # Not through a symlink of the image: it could point anywhere on the host.
                if os.path.isdir(src) and not os.path.islink(src) and os.path.realpath(src).startswith(root + "/"):
                    drivers_mod.copy_tree(src, volume_dir)

    def _remove_volumes(self, names):
        if names:
            from fastctr import volumes
            store = volumes.Volumes(self.store)
            for name in names:
                if store.exists(name):
                    store.remove(name, force=True)

    # ------------------------------------------------------- networking
    @property
    def ipam(self):
        from fastctr.ipam import Ipam
        return Ipam(self.store)

    def _network_record(self, name):
        from fastctr.ipam import DEFAULT_NETWORK, NetworkError
        try:
            return self.ipam.network(name)
        except NetworkError:
            if name != DEFAULT_NETWORK:
                raise
        try:
            return self.create_network(DEFAULT_NETWORK)  # made on first use, like docker0
        except NetworkError:
            return self.ipam.network(DEFAULT_NETWORK)  # by a run started at the same time

    def create_network(self, name, subnet=None, gateway=None):
        from fastctr import netd, network
        net = self.ipam.create_network(name, subnet=subnet, gateway=gateway)
        try:
            netd.call("ensure_bridge", net=net)
            network.apply_nat(self.ipam)
        except BaseException:
            self.ipam.remove_network(name)
            netd.call("delete_bridge", net=net)
            raise
        return net

    def remove_network(self, name):
        from fastctr import netd, network
        net = self.ipam.remove_network(name)
        netd.call("delete_bridge", net=net)
        network.apply_nat(self.ipam)
        try:
            os.unlink(os.path.join(self.store.root, "locks", "network-" + net["name"]))
        except FileNotFoundError:
            pass
        return net

    @staticmethod
    def _port_mappings(image_config, opts):
        from fastctr import ports
        mappings = [m for spec in opts.publish for m in ports.parse_publish(spec)]
        if opts.publish_all:
            mappings += ports.exposed_ports(image_config)
        return ports.check_conflicts(mappings)

    def _attach(self, c, cdir, pid):
        """Give the created container an address and a veth on each network,
        and its published ports (checked free before it starts)."""
        from fastctr import netd, network
        from fastctr.ports import PortMapping
        ipam = self.ipam
        for i, name in enumerate(c["config"].get("networks") or []):
            net = self._network_record(name)
            address = ipam.allocate(name, c["id"])
            if i == 0 and c["config"].get("ports"):
                ipam.publish(c["id"], address, [PortMapping(*k) for k in c["config"]["ports"]])
                network.apply_nat(ipam)
            netd.call("attach", net=net, cid=c["id"], pid=pid, address=address, ifname=f"eth{i}")
            self._write_net_files(cdir, c, address)
            self._refresh_peer_hosts(name, exclude=c["id"])

    def connect(self, network_name, ref):
        """network connect: one more network for a running container."""
        from fastctr import netd
        c = self.container(ref)
        if self.live_status(c) != "running":
            raise FastctrError(f"container {c['name']} is not running")
        net = self._network_record(network_name)
        names = list(c["config"].get("networks") or [])
        if net["name"] in names:
            raise FastctrError(f"container {c['name']} is already on network {net['name']}")
        pid = self.runtime.state(c["id"])["pid"]
        address = self.ipam.allocate(net["name"], c["id"])
        try:
            netd.call("attach", net=net, cid=c["id"], pid=pid, address=address, ifname=f"eth{len(names)}")
        except BaseException:
            self.ipam.release(net["name"], c["id"])
            raise
        self._set_config(c["id"], networks=names + [net["name"]])
        self._refresh_peer_hosts(net["name"])
        return address

    def disconnect(self, network_name, ref):
        c = self.container(ref)
        net = self.ipam.network(network_name)
        names = list(c["config"].get("networks") or [])
        if net["name"] not in names:
            raise FastctrError(f"container {c['name']} is not on network {net['name']}")
        self._disconnect(net, c["id"])
        self.ipam.release(net["name"], c["id"])
        self._set_config(c["id"], networks=[n for n in names if n != net["name"]])
        self._refresh_peer_hosts(net["name"])

    def _detach(self, c):
        from fastctr import network
        from fastctr.ipam import NetworkError
        ipam = self.ipam
        try:
            c = self._row(c["id"])  # networks connected since the start count too
        except ContainerNotFoundError:
            pass
        if c["config"].get("ports"):
            ipam.unpublish(c["id"])
            network.apply_nat(ipam)
        for name in c["config"].get("networks") or []:
            try:
                net = ipam.network(name)
            except NetworkError:
                continue
            self._disconnect(net, c["id"], wait=False)
            ipam.release(name, c["id"])
            self._refresh_peer_hosts(name)

    @staticmethod
    def _disconnect(net, cid, wait=True):
        """Delete the host end of the container's veth.  The kernel deletes it
        with the container's namespace too, but asynchronously; when the
        container has exited nobody needs to wait for the helper to do it."""
        import _socket
        from fastctr import netd, network
        try:
            _socket.if_nametoindex(network.host_ifname(cid, net["id"]))
        except OSError:
            return
        netd.call("disconnect", wait=wait, net=net, cid=cid)

    def _peers(self, name, exclude=None):
        """name -> address of the containers on a user-defined network."""
        from fastctr.ipam import DEFAULT_NETWORK
        if name == DEFAULT_NETWORK:
            return {}  # as Docker: no name resolution on the default bridge
        out = {}
        for cid, address in self.ipam.network(name)["endpoints"].items():
            if cid != exclude:
                row = self.store.db.execute("SELECT name FROM containers WHERE id = ?", (cid,)).fetchone()
                if row:
                    out[row[0]] = address
        return out

    def _write_net_files(self, cdir, c, address):
        """The container's own resolv.conf and hosts, once it has an address."""
        from fastctr import network
        _rewrite_in_place(os.path.join(cdir, "resolv.conf"), network.resolv_conf())
        self._write_hosts(cdir, c, address)

    def _write_hosts(self, cdir, c, address):
        from fastctr import network
        hostname = c["config"].get("hostname") or c["id"][:12]
        peers = {}
        for name in c["config"].get("networks") or []:
            peers.update(self._peers(name, exclude=c["id"]))
        return _rewrite_in_place(os.path.join(cdir, "hosts"),
                                 network.hosts_file(hostname, address, peers, c["name"]))

    def _refresh_peer_hosts(self, name, exclude=None):
        """Keep every member's /etc/hosts current as containers come and go.
        Only user-defined networks resolve names (the default bridge does
        not, as in Docker), so a start on the bridge touches no other
        container's files.  One writer per network at a time, each writing
        what the store says then, so the last write is the newest; a member
        on its way out (row or files gone) is skipped."""
        from fastctr.ipam import DEFAULT_NETWORK, NetworkError
        if name == DEFAULT_NETWORK:
            return
        with self._network_lock(name):
            try:
                endpoints = self.ipam.network(name)["endpoints"]
            except NetworkError:
                return  # removed meanwhile
            for cid, address in endpoints.items():
                if cid == exclude:
                    continue
                try:
                    c = self._row(cid)
                except ContainerNotFoundError:
                    continue
                self._write_hosts(self.driver_for_container(c).container_dir(cid), c, address)

    def _network_lock(self, name):
        return self.lock("network-" + name)

    def _network_peer(self, ref):
        """The container whose network namespace `container:REF` joins."""
        peer = self.container(ref)
        if self.live_status(peer) != "running":
            raise ConfigError(f"--network container:{ref}: container {peer['name']} is not running")
        return peer

    def _write_etc_files(self, cdir, spec, network, peer):
        hostname = spec["hostname"]
        files = {"hostname": f"{hostname}\n",
                 "hosts": f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"}
        if network[0] == "host":
            files["hosts"] = _read_text("/etc/hosts") or files["hosts"]
            files["resolv.conf"] = _read_text("/etc/resolv.conf") or ""
        if network[0] == "net":
            files["resolv.conf"] = ""  # filled in when the container joins the network
        if peer:  # the joined container's own files: one network, one view of it
            peer_dir = self.driver_for_container(peer).container_dir(peer["id"])
            for name in ("hostname", "hosts", "resolv.conf"):
                if os.path.exists(os.path.join(peer_dir, name)):
                    files[name] = _read_text(os.path.join(peer_dir, name))
            spec["hostname"] = files["hostname"].strip() or hostname
        for name, text in files.items():
            path = os.path.join(cdir, name)
            with open(path, "w") as f:
                f.write(text)
            spec["mounts"].append({"destination": f"/etc/{name}", "type": "bind", "source": path,
                                   "options": ["rbind", "rprivate"]})

    def start(self, ref, stdio=(-1, -1, -1), sig_proxy=False, stdin=True, detach_keys=None):
        """Run a created container attached; returns its exit status.  With
        sig_proxy the signals we get are passed to it (Docker's
        --sig-proxy), and it is kept out of our terminal's process group so
        that Ctrl-C reaches it once.  A -t container is started under its
        monitor and attached to (stdin, detach_keys: see attach)."""
        c = self.container(ref)
        if c["config"].get("tty"):
            c, client = self.start_detached(c["id"], attach=True)
            return self.attach(c["id"], client=client, stdin=stdin, detach_keys=detach_keys, stdio=stdio)
        if c["status"] not in ("created", "exited"):
            raise FastctrError(f"container {c['name']} is {c['status']}")
        cdir = self._cdir(c)
        mount = c["config"].get("rootfs_mount")
        if c["config"].get("network_peer"):
            self._join_peer_network(cdir, c["config"]["network_peer"])
        # The starter, for `dead` if it is killed before the process runs.
        self._set_status(c["id"], "running", started=now(), starter=self._starter_identity())
        status = 125
        attach = (lambda container: self._attach(c, cdir, container.pid)) if c["config"].get("networks") else None

        def prestart(container):
            crash_point("start:spawned")
            if attach:
                attach(container)

        proxy = _SignalProxy() if sig_proxy else None

        def started(container):
            crash_point("start:running")
            if proxy:
                proxy.target(container.pid)
        try:
            status = self.runtime.run(c["id"], cdir, stdio=stdio, rootfs_mount=tuple(mount) if mount else None,
                                      loopback_up=True, new_session=bool(proxy),
                                      # Without one the process execs at once: no fifo round trip.
                                      prestart=prestart if attach or "FASTCTR_CRASH_AT" in os.environ else None,
                                      poststop=(lambda container: self._detach(c)) if attach else None,
                                      started=started)
            return status
        except Exception as e:
            status = getattr(e, "exit_code", 125)  # 126/127 when the command could not run
            raise
        finally:
            if proxy:
                proxy.restore()
            self._set_status(c["id"], "exited", finished=now(), exit_code=status)

    def _join_peer_network(self, cdir, peer_id):
        """Point the bundle at the peer's network namespace as it is now."""
        peer = self._network_peer(peer_id)
        pid = self.runtime.state(peer["id"])["pid"]
        path = os.path.join(cdir, "config.json")
        with open(path) as f:
            spec = json.load(f)
        namespaces = [n for n in spec["linux"]["namespaces"] if n["type"] != "network"]
        namespaces.append({"type": "network", "path": f"/proc/{pid}/ns/net"})
        spec["linux"]["namespaces"] = namespaces
        with open(path, "w") as f:
            json.dump(spec, f)

    def run(self, image_ref, opts, stdio=(-1, -1, -1), sig_proxy=False):
        """Attached: the exit status.  Detached (opts.detach): the container
        record, once its process runs under its monitor."""
        c = self.create(image_ref, opts)
        if opts.tty and not opts.detach:
            return self._run_with_tty(c, opts, stdio)
        if opts.detach:
            try:
                return self.start_detached(c["id"])
            except BaseException:
                if opts.rm:
                    self.rm(c["id"], force=True)
                raise
        try:
            return self.start(c["id"], stdio=stdio, sig_proxy=sig_proxy)
        finally:
            if opts.rm:
                self.rm(c["id"], force=True)

    def _run_with_tty(self, c, opts, stdio):
        """`run -t`: as Docker, a monitored container we attach to, so that
        the detach keys leave it running and its output is logged."""
        try:
            c, client = self.start_detached(c["id"], attach=True)
        except BaseException:
            if opts.rm:
                self.rm(c["id"], force=True)
            raise
        return self.attach(c["id"], client=client, detach_keys=opts.detach_keys, stdio=stdio)

    def _set_status(self, cid, status, started=None, finished=None, exit_code=None, **config_changes):
        """One transaction for the status columns and any config keys."""
        with self.store.transaction() as db:
            db.execute("UPDATE containers SET status = ?, started = COALESCE(?, started), "
                       "finished = COALESCE(?, finished), exit_code = COALESCE(?, exit_code) WHERE id = ?",
                       (status, started, finished, exit_code, cid))
            if config_changes:
                self._merge_config(db, cid, config_changes)

    def driver_for_container(self, c):
        if c["driver"] and c["driver"] != self.driver.name:
            return drivers_mod.DRIVERS[c["driver"]](self.store)
        return self.driver

    def live_status(self, c):
        """The recorded status, corrected by the runtime's view: `dead` for
        what a killed command left half-made."""
        if c["status"] == "creating":
            return "creating" if self._lock_held(c["id"]) else "dead"
        if c["status"] != "running":
            return c["status"]
        from fastctr.errors import ContainerNotFound
        try:
            status = self.runtime.state(c["id"])["status"]
        except ContainerNotFound:
            return "exited"
        if status == "created":  # waiting for its starter: dead if that was killed
            return "running" if self._starter_alive(c) else "dead"
        return {"running": "running", "paused": "paused"}.get(status, "exited")

    def prune_containers(self):
        """Remove every container that is not running (Docker's container
        prune), with what killed commands left half-made; their IDs."""
        removed = []
        for (cid,) in self.store.db.execute("SELECT id FROM containers").fetchall():
            try:
                c = self._row(cid)
                if self.live_status(c) in ("exited", "created", "dead"):
                    self.rm(cid, force=True)
                    removed.append(cid)
            except ContainerNotFoundError:
                continue
        return removed

    def rm(self, ref, force=False, volumes=False):
        c = self.container(ref)
        from fastctr.errors import ContainerNotFound
        with self.lock(c["id"]):
            c = self._row(c["id"])
            if self.live_status(c) == "running" and not force:
                raise FastctrError(f"container {c['name']} is running: stop it first or use -f")
            try:
                self.runtime.delete(c["id"], force=True)
            except ContainerNotFound:
                pass
            self._wait_monitor(c)  # it writes exit.json into the directory we remove
            if c["config"].get("networks") or c["config"].get("ports"):
                self._detach(c)  # idempotent: a clean-up may have done it
            self._remove_files(c["id"])
            if volumes or c["config"].get("rm"):  # Docker: --rm takes the anonymous volumes too
                self._remove_volumes(c["config"].get("anonymous_volumes"))
        return c

    def _set_config(self, cid, **changes):
        with self.store.transaction() as db:
            self._merge_config(db, cid, changes)

    @staticmethod
    def _merge_config(db, cid, changes):
        row = db.execute("SELECT config FROM containers WHERE id = ?", (cid,)).fetchone()
        config = dict(json.loads(row[0]) if row and row[0] else {}, **changes)
        db.execute("UPDATE containers SET config = ? WHERE id = ?", (json.dumps(config), cid))

    def _remove_files(self, cid):
        row = self.store.db.execute("SELECT driver FROM containers WHERE id = ?", (cid,)).fetchone()
        driver = drivers_mod.DRIVERS[row[0]](self.store) if row and row[0] else self.driver
        driver.remove_container(cid)
        with self.store.transaction() as db:
            db.execute("DELETE FROM containers WHERE id = ?", (cid,))
        try:
            os.unlink(os.path.join(self.store.root, "locks", cid))
        except FileNotFoundError:
            pass

    def ps(self, all=False):
        out = []
        for (cid,) in self.store.db.execute("SELECT id FROM containers ORDER BY created DESC").fetchall():
            try:
                c = self._row(cid)
            except ContainerNotFoundError:
                continue  # removed since the list was read: show what exists
            c["status"] = self.live_status(c)
            if c["status"] == "exited" and c["exit_code"] is None:
                c["exit_code"] = (self.exit_record(c) or {}).get("exit_code")  # clean-up pending
            if all or c["status"] in ("running", "paused"):
                out.append(c)
        return out

    # ------------------------------------------------- export / commit
    def export(self, ref, out):
        """The container's merged file system as a tar, to binary file `out`."""
        from fastctr.layers import export_tree
        c = self.container(ref)
        driver = self.driver_for_container(c)
        chain = self._chain(self.store.image(c["image_id"]))
        with driver.mounted(c["id"], chain) as root:
            export_tree(root, out)

    def commit(self, ref, name=None, message=""):
        """A new image: the container's image plus one layer of its changes
        (whiteouts for what it deleted)."""
        from fastctr import images, tmpwork
        from fastctr.layers import write_layer
        c = self.container(ref)
        if self.live_status(c) == "running":
            raise FastctrError(f"container {c['name']} is running: committing a running container is not supported")
        image = self.store.image(c["image_id"])
        driver = self.driver_for_container(c)
        chain = self._chain(image)
        tmpwork.sweep(self.store.root)
        fd, tar_path = tmpwork.make_file(self.store.tmp_dir(), "commit")
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(driver, drivers_mod.Overlay2):
                    info = write_layer(driver.upper(c["id"]), out, mode="overlay")
                else:
                    info = write_layer(os.path.join(driver.container_dir(c["id"]), "rootfs"), out, mode="vfs",
                                       lower=driver.layer_dir(chain[-1]))
            config = json.loads(json.dumps(image["config"]))
            config["rootfs"]["diff_ids"].append(info.diff_id)
            config["created"] = now()
            config.setdefault("history", []).append(
                {"created": config["created"], "created_by": f"fastctr commit {c['name']}", "comment": message})
            config_bytes = json.dumps(config, separators=(",", ":")).encode()
            blobs = [self.store.blob_path(d) for d in image["layer_blobs"]] + [tar_path]
            return images.install_image(self.store, driver, config_bytes, blobs, names=[name] if name else [])
        finally:
            os.unlink(tar_path)

    # ----------------------------------------------------------- images
    def rmi(self, ref, force=False):
        image_id = self.store.resolve(ref)
        image = self.store.image(image_id)
        users = self.store.containers_using(image_id)
        if users and not force:
            raise FastctrError(f"image {ref} is used by container(s) {', '.join(users)}: remove them or use -f")
        if users:
            # As Docker: a forced rmi of an image in use drops its names but
            # keeps the layers the containers are built on.
            for tag in image["tags"]:
                self.store.untag(tag)
            return [f"Untagged: {t}" for t in image["tags"]]
        by_name = ref in image["tags"] or (":" not in ref and ref + ":latest" in image["tags"])
        if by_name and len(image["tags"]) > 1:
            self.store.untag(ref)  # like Docker: drop one name, keep the image
            return [f"Untagged: {ref if ':' in ref else ref + ':latest'}"]
        out = [f"Untagged: {t}" for t in image["tags"]]
        self.store.delete_image_row(image_id)
        keep = self.store.referenced_chain_ids()
        for name in drivers_mod.DRIVERS:
            driver = drivers_mod.DRIVERS[name](self.store)
            for chain_id in reversed(self._chain(image)):
                if chain_id not in keep and self.store.layer_row(name, chain_id):
                    driver.remove_layer(chain_id)
        out.append(f"Deleted: {image_id}")
        return out


class _SignalProxy:
    """Docker's --sig-proxy: what the command receives goes to the container.
    Installed before the spawn: a signal that comes before the process
    exists is held and delivered once it does."""
    SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM")

    def __init__(self):
        import signal
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
        import signal
        for signum, handler in self.saved.items():
            signal.signal(signum, handler)
        self.saved = {}


def _rewrite_in_place(path, text):
    """New content for an existing file, in its inode: a container's bind
    mount of the file follows the inode, so a rename would leave the running
    container with the old file.  Written before it is cut to length, so a
    reader never sees it empty.  No O_CREAT: the file of a container being
    removed is skipped (False), never re-created in a directory on its way
    out, which would make that removal fail."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        data = text.encode()
        written = 0
        while written < len(data):
            written += os.pwrite(fd, data[written:], written)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)
    return True


def _read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def human_ago(ts):
    try:
        t = time.mktime(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    except (TypeError, ValueError):
        return ""
    secs = max(0, int(time.time() - t))
    for unit, n in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if secs >= n:
            return f"{secs // n} {unit} ago"
    return f"{secs} seconds ago"
