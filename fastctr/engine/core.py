"""Containers from images: the engine behind `fastctr run/create/start/rm/ps`.

An engine container is a row in the store, a writable layer from the storage
driver and an OCI bundle (config.json) made from the image config merged
with Docker's flags; fastctr.runtime runs that bundle."""
import os
import sys

from fastctr import events, trace
from fastctr import jsonfast as json
from fastctr.image import drivers as drivers_mod
from fastctr.errors import ConfigError, ContainerNotFoundError, FastctrError, NameInUse, crash_point
from fastctr.image.store import Store, chain_ids, ignore_missing, now
from fastctr.engine.imageops import ImageOps
from fastctr.engine.operate import Operations
from fastctr.engine.options import (docker_request, finish_bundle, for_platform, generate_name, make_spec, parse_env,
                                    parse_labels, parse_network, run_flag_record, user_mounts, validate_name,
                                    bundle_document, host_names, _read_text, etc_texts, net_flag_record)
from fastctr.engine.supervise import SignalProxy, Supervisor

NAME_ATTEMPTS = 20  # generated names drawn before a run gives up (35,000 to draw from)


# ------------------------------------------------------------- the engine

class Engine(Supervisor, Operations, ImageOps):
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
        self._net = None

    @property
    def driver(self):
        if self._driver is None:
            self._driver = drivers_mod.driver_for(self.store, self._driver_name)
        return self._driver

    @property
    def runtime(self):
        from fastctr.runtime.lifecycle import Runtime
        return Runtime(root=self.state_root, cgroup_parent=self.cgroup_parent)

    # ----------------------------------------------------------- images
    def resolve_image(self, ref, pull="missing", quiet=False, platform=None):
        """The image `run`/`create` use; pulled first when --pull says so
        (the registry code is imported only then)."""
        if pull not in ("missing", "always", "never"):
            raise ConfigError(f"invalid pull option: '{pull}': must be one of \"always\", \"missing\" or \"never\"")
        if pull != "always":
            try:
                return self.store.resolve(ref)
            except LookupError:
                pass
        if self._hello_world(ref):
            from fastctr.image import loading as images  # made on first use from the installed program
            return images.ensure_hello_world(self.store, self.driver)
        from fastctr.engine import imagepull
        return imagepull.for_run(self, ref, pull, quiet=quiet, platform=platform)

    @staticmethod
    def _hello_world(ref):
        return ref in ("hello-world", "hello-world:latest", "library/hello-world", "docker.io/library/hello-world",
                       "docker.io/library/hello-world:latest")

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
        cidfile = None
        if opts.cidfile:  # before anything, as the docker CLI: refused when it exists
            from fastctr.engine.runflags import CidFile
            cidfile = CidFile(opts.cidfile)
        try:
            with self.lock(cid):
                c = self._create(image_ref, opts, cid)
            crash_point("create:returned")
            if cidfile:
                cidfile.write(cid)
        except BaseException:  # also Ctrl-C after the record was made: the caller never learnt its ID
            if cidfile:
                cidfile.discard()
            self._discard_unreturned(cid)
            raise
        return c

    def _discard_unreturned(self, cid):
        """What a create that failed or was interrupted left: a finished
        record (its layer, bundle and anonymous volumes) or only its lock."""
        row = self.store.db.execute("SELECT config FROM containers WHERE id = ?", (cid,)).fetchone()
        if row is None:
            ignore_missing(os.unlink, os.path.join(self.store.root, "locks", cid))
            return
        with self.lock(cid):
            self._remove_files(cid)
            self._remove_volumes(json.loads(row[0] or "{}").get("anonymous_volumes"))

    def _create(self, image_ref, opts, cid):
        if opts.image_record is not None:  # fastctr.build's step: its state, not in the images table
            image_id, image = opts.image_record["id"], opts.image_record
        else:
            image_id = self.resolve_image(image_ref, getattr(opts, "pull", "missing"), quiet=opts.quiet,
                                          platform=opts.platform)
            image = self.store.image(image_id)
            image_id, image = for_platform(self, image_ref, image_id, image, opts)  # --platform
        if opts.name:
            validate_name(opts.name)
        extra = run_flag_record(self, image_ref, image, opts)  # issue 14 flags, checked before anything exists
        chain = self._ensure_layers(image)
        parse_env(opts)  # flag errors before anything exists
        from fastctr.engine.resources import parse_int  # --stop-timeout: seconds before SIGKILL, -1 = forever
        stop_timeout = None if opts.stop_timeout is None else parse_int(opts.stop_timeout, "--stop-timeout", -1)
        if opts.detach_keys is not None:
            from fastctr.engine.tty import parse_detach_keys
            parse_detach_keys(opts.detach_keys)
        image_health = (image["config"].get("config") or {}).get("Healthcheck")
        if opts.log_driver or opts.log_opts or opts.restart is not None or opts.health or image_health:
            from fastctr.engine.lifeflags import records  # --restart, --health-*, --log-*
            extra.update(records(opts, image_health))
        ports = self._port_mappings(image["config"], opts)
        if opts.network is None:
            # Publishing needs a bridge even when the default is none.
            opts.network = "bridge" if ports else self.default_network
        network = parse_network(opts)
        if ports and network[0] != "net":
            raise ConfigError(f"ports cannot be published with --network {opts.network}")
        peer = self._network_peer(network[1]) if network[0] == "container" else None
        attach = self.net.network_record(network[1])["name"] if network[0] == "net" else None
        net_extra = net_flag_record(self, opts, network)  # --add-host, --dns, --ip, --expose...
        anonymous = []
        self._insert_row(cid, opts.name, image_id, parse_labels(opts.labels))
        try:
            trace.mark("store")
            crash_point("create:recorded")
            rootfs, rootfs_mount = self.driver.prepare_container(cid, chain, volatile=opts.rm)
            trace.mark("image")
            crash_point("create:layer")
            used_volumes, anonymous = self._resolve_volumes(opts, image["config"], cid, chain)
            spec = make_spec(image["config"], opts, cid, self._image_file_reader(chain, rootfs))
            cdir = self.driver.container_dir(cid)
            if peer:
                spec["hostname"] = peer["config"].get("hostname", spec["hostname"])
            self._write_etc_files(cdir, spec, network, peer, net_extra)
            finish_bundle(self.driver, opts, spec, cid, chain, rootfs, cdir)  # -w made, --ipc shareable
            with open(os.path.join(cdir, "config.json"), "w") as f:
                json.dump(bundle_document(spec), f)
            record = self._record(image_ref, image, opts, spec, rootfs_mount, peer, attach, ports, stop_timeout,
                                  used_volumes, anonymous, extra, net_extra)
            with self.store.transaction() as db:
                db.execute("UPDATE containers SET status = 'created', config = ? WHERE id = ?",
                           (json.dumps(record), cid))
            trace.mark("spec")
        except BaseException:
            self._remove_files(cid)
            self._remove_volumes(anonymous)
            raise
        c = self._row(cid)
        events.container(self.store.root, c, "create")
        trace.mark("store")
        return c

    def _record(self, image_ref, image, opts, spec, rootfs_mount, peer, attach, ports, stop_timeout, used_volumes,
                anonymous, extra, net_extra):
        """The container's record (its row's config), also a pooled one's (fastctr.engine.pool)."""
        record = {"rootfs_mount": rootfs_mount, "rm": opts.rm, "image": image_ref,
                  "command": spec["process"]["args"],
                  "hostname": spec["hostname"], "network_peer": peer["id"] if peer else None,
                  "networks": [attach] if attach else [],
                  "ports": [m.key() for m in ports],
                  "stop_signal": opts.stop_signal or (image["config"].get("config") or {}).get("StopSignal"),
                  "stop_timeout": stop_timeout, "network_mode": opts.network, "tty": bool(opts.tty),
                  "interactive": bool(opts.interactive),
                  "init": bool(opts.init), "privileged": bool(opts.privileged), "cap_add": opts.cap_add,
                  "cap_drop": opts.cap_drop, "security_opt": opts.security_opt,
                  "volumes": used_volumes, "anonymous_volumes": anonymous, "cgroup_parent": opts.cgroup_parent}
        record.update(extra)  # issue 14's process environment and namespace flags: options.run_flag_record
        record.update(net_extra)
        record["user_mounts"] = user_mounts(opts)  # the binds and volumes --volumes-from takes
        # Docker's view of the request, which `inspect` shows (fastctr.engine.model).
        record["request"] = docker_request(opts, image["config"], spec, os.path.join(self.store.root, "volumes"),
                                           anonymous)
        return record

    def _insert_row(self, cid, name, image_id, labels, record=None):
        """The container's row, status `creating` (`running` with its
        record: a taken pooled one's, fastctr.engine.pool).  A name the
        user gave that is taken fails; a generated one that is taken
        (another run drew it at the same moment) is drawn again."""
        for _ in range(1 if name else NAME_ATTEMPTS):
            try_name = name or generate_name()
            try:
                t = now()
                with self.store.transaction() as db:
                    db.execute("INSERT INTO containers (id, name, image_id, driver, created, status, labels, config, "
                               "started) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               (cid, try_name, image_id, self.driver.name, t,
                                "creating" if record is None else "running", json.dumps(labels),
                                None if record is None else json.dumps(record), None if record is None else t))
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
        if not image_volumes and not opts.mounts and not opts.volumes_from and \
                all(os.path.isabs(v.split(":")[0]) and ":" in v for v in opts.volumes):
            return [], []  # binds only: the start path imports nothing more
        from fastctr.engine import volumes
        store = volumes.Volumes(self.store)
        used, made, fresh = [], [], []
        if opts.mounts or opts.volumes_from:  # fastctr.engine.mounts: opts.oci_mounts from them
            from fastctr.engine import mounts
            resolved = mounts.resolve(self, store, opts)
            opts.oci_mounts, used, made, fresh = resolved.mounts, resolved.used, resolved.made, resolved.fresh
        targets = [m["destination"] for m in opts.oci_mounts or []] + [t.partition(":")[0] for t in opts.tmpfs]
        try:
            opts.volumes, used_v, made_v, fresh_v = volumes.resolve(store, opts.volumes, image_volumes, targets)
        except BaseException:
            self._remove_volumes(made)
            raise
        used, made, fresh = used_v + used, made_v + made, fresh_v + fresh
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
            from fastctr.engine import volumes
            store = volumes.Volumes(self.store)
            for name in names:
                if store.exists(name):
                    store.remove(name, force=True)

    # ------------------------------------------------------- networking
    @property
    def net(self):
        """The networking glue, made on first use (fastctr.engine.networking)."""
        if self._net is None:
            from fastctr.engine.networking import Networking
            self._net = Networking(self)
        return self._net

    @property
    def ipam(self):
        return self.net.ipam

    def create_network(self, name, subnet=None, gateway=None):
        return self.net.create_network(name, subnet=subnet, gateway=gateway)

    def remove_network(self, name):
        return self.net.remove_network(name)

    def connect(self, network_name, ref, aliases=(), ip=None):
        """network connect: one more network for a running container."""
        return self.net.connect(network_name, ref, aliases, ip)

    def disconnect(self, network_name, ref):
        return self.net.disconnect(network_name, ref)

    @staticmethod
    def _port_mappings(image_config, opts):
        if not opts.publish and not opts.publish_all:
            return []  # the start path without -p imports no network module
        from fastctr.net import ports
        mappings = [m for spec in opts.publish for m in ports.parse_publish(spec)]
        if opts.publish_all:  # as Docker: a port -p publishes keeps only that binding
            given = {(m.container_port, m.proto) for m in mappings}
            mappings += [m for m in ports.exposed_ports(image_config, opts.expose) if m.key()[2:] not in given]
        return ports.check_conflicts(mappings)

    def _network_peer(self, ref):
        """The container whose network namespace `container:REF` joins."""
        peer = self.container(ref)
        if self.live_status(peer) != "running":
            raise ConfigError(f"--network container:{ref}: container {peer['name']} is not running")
        return peer

    def _write_etc_files(self, cdir, spec, network, peer, net_extra):
        """/etc/hostname, hosts, resolv.conf in every container (options.etc_texts)."""
        hostname = spec["hostname"]
        own = host_names(hostname, spec.get("domainname"))
        files = dict(zip(("hosts", "resolv.conf"), etc_texts(network[0], net_extra, own)), hostname=f"{hostname}\n")
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
        if c["config"].get("tty") or not c["config"].get("rm"):
            # Docker logs attached containers too: one that outlives this command (no --rm) runs under
            # its monitor (its json log, its --restart policy) and we attach.  A --rm one, whose log
            # would go with it, keeps the direct path: only `logs` while it runs misses its output.
            events.container(self.store.root, c, "attach")
            c, client = self.start_detached(c["id"], attach=True)
            crash_point("start:running")
            return self.attach(c["id"], client=client, stdin=stdin, detach_keys=detach_keys, stdio=stdio,
                               sig_proxy=sig_proxy)
        if c["status"] not in ("created", "exited"):
            raise FastctrError(f"container {c['name']} is {c['status']}")
        cdir = self._cdir(c)
        mount = c["config"].get("rootfs_mount")
        self._join_peers(cdir, c["config"])
        # The starter, for `dead` if it is killed before the process runs.
        self._set_status(c["id"], "running", started=now(), starter=self._starter_identity())
        events.container(self.store.root, c, "attach")
        trace.mark("store")
        status = 125
        netns, detached = None, []

        def poststop(container):
            detached.append(self.net.detach(c))

        def prestart(container):
            crash_point("start:spawned")

        proxy = SignalProxy() if sig_proxy else None

        def started(container):
            events.container(self.store.root, c, "start")
            crash_point("start:running")
            if proxy:
                proxy.target(container.pid)
        oom = {}

        def exited(container):  # before its cgroup goes: the kernel counted OOM kills there
            cg = container.cgroup
            if cg and cg.oom_kills():
                oom["oom_killed"] = True
        try:
            if c["config"].get("networks"):  # first, in a namespace the process joins: no hold before its exec
                netns = self.net.prepared(c, cdir)
                trace.mark("network")
            status = self.runtime_for(c).run(c["id"], cdir, stdio=stdio, rootfs_mount=tuple(mount) if mount else None,
                                             loopback_up=True, new_session=bool(proxy), netns=netns and netns.path,
                                             # Without one the process execs at once: no fifo round trip.
                                             prestart=prestart if "FASTCTR_CRASH_AT" in os.environ else None,
                                             poststop=poststop if netns else None, started=started, exited=exited)
            return status
        except Exception as e:
            status = getattr(e, "exit_code", 125)  # 126/127 when the command could not run
            oom["error"] = getattr(e, "strerror", None) or str(e)  # inspect's State.Error
            raise
        finally:
            if netns:
                netns.close()
                if not detached:  # the process never ran: no poststop
                    self.net.detach(c)
            if proxy:
                proxy.restore()
            if c["config"].get("oom_killed") and not oom.get("oom_killed"):
                oom["oom_killed"] = False  # as Docker: OOMKilled and Error tell of the last run
            if c["config"].get("error") and "error" not in oom:
                oom["error"] = ""
            self._set_status(c["id"], "exited", finished=now(), exit_code=status, **oom)
            if oom.get("oom_killed"):
                events.container(self.store.root, c, "oom")
            events.container(self.store.root, c, "die", exitCode=status)
            trace.mark("teardown")

    def _join_peers(self, cdir, config):
        """--network/--pid/--ipc container:X: X's namespaces as they are now
        (and --ipc shareable's /dev/shm mounted, as after a reboot)."""
        if config.get("network_peer") or config.get("namespace_peers") or config.get("ipc_mode") == "shareable":
            from fastctr.engine.runflags import join_peers
            join_peers(self, cdir, config)

    def run(self, image_ref, opts, stdio=(-1, -1, -1), sig_proxy=False):
        """Attached: the exit status.  Detached (opts.detach): the container
        record, once its process runs under its monitor."""
        pool = sys.modules.get("fastctr.engine.pool")  # imported only where pools were prepared
        if pool is not None and pool.has_offers():
            status = pool.run(self, image_ref, opts, stdio, sig_proxy)  # None: nothing offered fits
            if status is not None:
                return status
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
                trace.mark("teardown")

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

    def live_status(self, c, runtime=None):
        """The recorded status, corrected by the runtime's view: `dead` for
        what a killed command left half-made."""
        if c["status"] == "creating":
            return "creating" if self._lock_held(c["id"]) else "dead"
        if c["status"] == "restarting":  # its waiter sleeps the back-off (fastctr.engine.restart)
            return "restarting" if self._starter_alive(c) else "exited"
        if c["status"] != "running":
            return c["status"]
        from fastctr.errors import ContainerNotFound
        try:
            status = (runtime or self.runtime).status(c["id"])
        except ContainerNotFound:
            return "exited"
        if status == "created":  # waiting for its starter: dead if that was killed
            return "running" if self._starter_alive(c) else "dead"
        return {"running": "running", "paused": "paused"}.get(status, "exited")

    def prune_containers(self):
        """Remove every container that is not running (Docker's container
        prune), with what killed commands left half-made; their IDs.  What
        pooled containers of dead processes left goes too (fastctr.engine.pool)."""
        from fastctr.engine import pool
        pool.sweep(self)
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
            status = self.live_status(c)
            if status in ("running", "restarting") and not force:
                raise FastctrError(f"container {c['name']} is {status}: stop it first or use -f")
            if status == "restarting":
                from fastctr.engine.restart import end_waiter
                end_waiter(self, c)
            try:
                self.runtime.delete(c["id"], force=True)
            except ContainerNotFound:
                pass
            self._wait_monitor(c)  # it writes exit.json into the directory we remove
            if c["config"].get("networks") or c["config"].get("ports"):
                self.net.detach(c)  # idempotent: a clean-up may have done it
            if c["status"] == "running":  # ended (or ended here) before its clean-up told of it
                record = self.exit_record(c) or {}
                events.container(self.store.root, c, "die", exitCode=record.get("exit_code", 137))
            self._remove_files(c["id"])
            events.container(self.store.root, c, "destroy")
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
        if os.path.ismount(os.path.join(driver.container_dir(cid), "shm")):  # --ipc shareable's tmpfs
            from fastctr.engine.runflags import release_shm
            release_shm(driver.container_dir(cid))
        if not os.path.exists(os.path.join(self.store.root, "pool", cid)):  # a pool's own: it removes them
            driver.remove_container(cid)
        with self.store.transaction() as db:
            db.execute("DELETE FROM containers WHERE id = ?", (cid,))
        try:
            os.unlink(os.path.join(self.store.root, "locks", cid))
        except FileNotFoundError:
            pass

    def ps(self, all=False):
        from fastctr.engine.listing import containers
        return containers(self, all)
