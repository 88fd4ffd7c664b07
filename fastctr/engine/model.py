"""Docker's ContainerJSON (the Engine API's container object, v1.43 and
later), made from what the engine keeps: the container's row and record
(fastctr.engine.core `_create`, its "request" from
fastctr.engine.options.docker_request), its OCI bundle, its network records
and its exit record.  `inspect` prints it; the Engine API serves it.

Imported only by `inspect`: nothing on the start path pays for it."""
import os

from fastctr.engine.model_host import host_config

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time, Docker's "never"
STATES = {"creating": "created", "running": "running", "paused": "paused", "exited": "exited", "dead": "dead",
          "restarting": "restarting", "removing": "removing", "created": "created"}
SYSTEM_MOUNTS = {"/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"}


def container_json(engine, c, size=False):
    """The document of container row `c` (engine.container(ref))."""
    status = STATES.get(engine.live_status(c), "exited")
    spec = _bundle(engine, c)
    pid = _pid(engine, c) if status in ("running", "paused") else 0
    cdir = engine._cdir(c)
    image = _image(engine, c["image_id"])
    path, args = _command(c, spec)
    cfg = c["config"]
    doc = {
        "Id": c["id"], "Created": c["created"] or ZERO_TIME, "Path": path, "Args": args,
        "State": _state(engine, c, status, pid), "Image": c["image_id"],
        "ResolvConfPath": _existing(os.path.join(cdir, "resolv.conf")),
        "HostnamePath": _existing(os.path.join(cdir, "hostname")), "HostsPath": _existing(os.path.join(cdir, "hosts")),
        "LogPath": _log_path(engine, c), "Name": "/" + c["name"], "RestartCount": cfg.get("restart_count", 0),
        "Driver": c["driver"], "Platform": "linux", "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
        "ExecIDs": cfg.get("exec_ids") or None,
        "HostConfig": host_config(c, spec, _cgroup_version()),
        "GraphDriver": _graph_driver(engine, c, image, cdir),
    }
    if size:
        doc["SizeRw"], doc["SizeRootFs"] = _sizes(engine, c, image, cdir)
    doc["Mounts"] = mounts(engine, c, spec, cdir)
    doc["Config"] = _config(c, spec, image)
    from fastctr.engine.model_net import network_settings
    doc["NetworkSettings"] = network_settings(engine, c, pid, doc["Config"])
    return doc


# ------------------------------------------------------------- sources

def _bundle(engine, c):
    try:
        return engine.bundle_spec(c)
    except (OSError, ValueError):
        return {"process": {}, "linux": {}, "mounts": []}


def _pid(engine, c):
    try:
        return engine.runtime.state(c["id"])["pid"]
    except (LookupError, OSError):
        return 0


def _image(engine, image_id):
    try:
        return engine.store.image(image_id)
    except LookupError:
        return None


def _cgroup_version():
    from fastctr.runtime.cgroups import host_version
    return host_version()


def _existing(path):
    return path if os.path.exists(path) else ""


def _log_path(engine, c):
    """Where the json-file log is: detached containers' monitors keep one."""
    path = engine.log_path(c)
    if (c["config"].get("log_config") or {}).get("Type") == "none" or c["config"].get("log_driver") == "none":
        return ""
    return path if c["config"].get("detached") or os.path.exists(path) else ""


# ----------------------------------------------------------- the parts

def _command(c, spec):
    """Path and Args: the entrypoint and command, without --init's program."""
    req = c["config"].get("request")
    if req is not None:
        argv = (req.get("Entrypoint") or []) + (req.get("Cmd") or [])
    else:  # a container made before the record kept the request
        argv = list((spec.get("process") or {}).get("args") or [])
        if c["config"].get("init") and argv[:2] == ["/sbin/docker-init", "--"]:
            argv = argv[2:]
    return (argv[0] if argv else ""), argv[1:]


def _state(engine, c, status, pid):
    cfg = c["config"]
    exit_code, oom_killed, finished = 0, bool(cfg.get("oom_killed")), c["finished"]
    if status in ("exited", "dead", "restarting"):  # restarting: the exit code of the run that ended
        exit_code = c["exit_code"]
        if c["status"] == "running":  # ended, its monitor's clean-up still to come: what it will record
            record = engine.exit_record(c) or {}
            exit_code = record.get("exit_code", exit_code)
            oom_killed = engine._oom_killed(c["id"])
            if record.get("finished_at"):
                import time
                finished = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record["finished_at"]))
        elif exit_code is None:
            exit_code = (engine.exit_record(c) or {}).get("exit_code", 0)
    state = {"Status": status, "Running": status in ("running", "paused", "restarting"), "Paused": status == "paused",
             "Restarting": status == "restarting", "OOMKilled": oom_killed,
             "Dead": status == "dead", "Pid": pid, "ExitCode": exit_code or 0, "Error": cfg.get("error") or "",
             "StartedAt": c["started"] or ZERO_TIME, "FinishedAt": finished or ZERO_TIME}
    if cfg.get("healthcheck"):  # the probe's record (fastctr.engine.health)
        from fastctr.engine import health
        if health.active(cfg["healthcheck"]) and health.read(engine, c):
            state["Health"] = health.read(engine, c)
    return state


def _config(c, spec, image):
    """Config: the image's config merged with the flags, as Docker keeps it."""
    cfg, req = c["config"], c["config"].get("request") or {}
    proc = spec.get("process") or {}
    image_cfg = ((image or {}).get("config") or {}).get("config") or {}
    exposed = sorted(set(req.get("ExposedPorts") or []) | set(cfg.get("expose") or []))
    doc = {"Hostname": cfg.get("hostname") or spec.get("hostname", ""), "Domainname": cfg.get("domainname") or "",
           "User": req.get("User", _user_text(proc.get("user"))),
           "AttachStdin": req.get("AttachStdin", False), "AttachStdout": req.get("AttachStdout", True),
           "AttachStderr": req.get("AttachStderr", True)}
    if exposed:
        doc["ExposedPorts"] = {p: {} for p in exposed}  # sorted: Go prints maps so
    doc.update({"Tty": bool(cfg.get("tty")), "OpenStdin": req.get("OpenStdin", bool(cfg.get("interactive"))),
                "StdinOnce": req.get("StdinOnce", False), "Env": req.get("Env", proc.get("env") or []),
                "Cmd": req.get("Cmd", proc.get("args"))})
    health = cfg.get("healthcheck") or image_cfg.get("Healthcheck")
    if health:
        doc["Healthcheck"] = health
    labels = dict(image_cfg.get("Labels") or {}, **(c["labels"] or {}))
    doc.update({"Image": cfg.get("image", ""), "Volumes": {v: {} for v in req.get("Volumes") or []} or None,
                "WorkingDir": req.get("WorkingDir", ""), "Entrypoint": req.get("Entrypoint"),
                "OnBuild": image_cfg.get("OnBuild") or None, "Labels": {k: labels[k] for k in sorted(labels)}})
    if cfg.get("stop_signal"):
        doc["StopSignal"] = cfg["stop_signal"]
    if cfg.get("stop_timeout") is not None:
        doc["StopTimeout"] = cfg["stop_timeout"]
    return doc


def _user_text(user):
    if not user:
        return ""
    return f"{user.get('uid', 0)}:{user.get('gid', 0)}"


def mounts(engine, c, spec, cdir):
    """Docker's MountPoints: volumes, binds and --mount tmpfs (not --tmpfs,
    not the container's own /etc files or the system mounts)."""
    req = c["config"].get("request") or {}
    volumes_root = os.path.join(engine.store.root, "volumes")
    modes = _bind_modes(req.get("Binds") or [])
    tmpfs = set(req.get("Tmpfs") or {})
    out = []
    for m in spec.get("mounts") or []:
        dest, source, options = m.get("destination", ""), m.get("source", ""), m.get("options") or []
        if dest in SYSTEM_MOUNTS or dest == "/sbin/docker-init" or source.startswith(cdir + "/"):
            continue
        rw = not {"ro", "rro"} & set(options)  # rro: recursively read-only (Docker 25+)
        if m.get("type") == "tmpfs":
            if dest not in tmpfs:
                out.append({"Type": "tmpfs", "Source": "", "Destination": dest, "Mode": "", "RW": rw,
                            "Propagation": ""})
        elif m.get("type") == "bind" or "bind" in options or "rbind" in options:
            if os.path.dirname(os.path.dirname(source)) == volumes_root:
                out.append({"Type": "volume", "Name": os.path.basename(os.path.dirname(source)), "Source": source,
                            "Destination": dest, "Driver": "local", "Mode": modes.get(dest) or "z", "RW": rw,
                            "Propagation": ""})
            else:
                propagation = next((o for o in options if o in ("rprivate", "private", "rshared", "shared",
                                                               "rslave", "slave")), "rprivate")
                out.append({"Type": "bind", "Source": source, "Destination": dest, "Mode": modes.get(dest, ""),
                            "RW": rw, "Propagation": propagation})
    return out


def _bind_modes(binds):
    """destination -> the mode text of -v SRC:DST[:MODE]."""
    out = {}
    for b in binds:
        parts = b.split(":")
        if len(parts) >= 2:
            out[parts[1]] = parts[2] if len(parts) > 2 else ""
    return out


def _graph_driver(engine, c, image, cdir):
    data = {"ID": c["id"]}
    if c["driver"] == "overlay2":
        driver = engine.driver_for_container(c)
        lower = _layer_dirs(engine, driver, image)
        if lower:
            data["LowerDir"] = ":".join(lower)
        data.update({"MergedDir": os.path.join(cdir, "rootfs"), "UpperDir": os.path.join(cdir, "upper"),
                     "WorkDir": os.path.join(cdir, "work")})
    return {"Data": data, "Name": c["driver"] or ""}


def _layer_dirs(engine, driver, image):
    """The image's layers' diff directories, top first (overlay's order)."""
    if image is None:
        return []
    return [os.path.join(driver.layer_dir(chain_id), "diff") for chain_id in reversed(engine._chain(image))]


def _sizes(engine, c, image, cdir):
    from fastctr.image.tmpwork import tree_size
    upper = os.path.join(cdir, "upper" if c["driver"] == "overlay2" else "rootfs")
    rw = tree_size(upper) if os.path.isdir(upper) else 0
    return rw, rw + ((image or {}).get("size") or 0)
