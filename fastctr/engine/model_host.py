"""HostConfig of Docker's ContainerJSON, every key Docker prints, in its order
and with its defaults, from the container's record and its OCI bundle.

The resource fields are read back from the bundle's linux.resources (what
the container really gets), so a flag that sets them shows without a change
here.  Keys of the record this reads when other parts of the engine set
them: restart_policy (Docker's dict, or "on-failure:3"), log_config (Docker's
dict) or log_driver/log_opts, dns, dns_search, dns_options, extra_hosts,
group_add, volumes_from, links, cgroup_parent, pid_mode, ipc_mode, uts_mode,
cgroupns_mode, userns_mode, cidfile, mount_texts (the --mount values),
runtime; and "request"
(fastctr.engine.options.docker_request) for what only the flags know."""
UNLIMITED = 2 ** 64 - 1  # an rlimit's RLIM_INFINITY, -1 in Docker's Ulimits
DOCKER_SHM_SIZE = 64 << 20


def host_config(c, spec, cgroup_version):
    cfg, req = c["config"], c["config"].get("request") or {}
    proc, linux = spec.get("process") or {}, spec.get("linux") or {}
    res = linux.get("resources") or {}
    modes = _namespace_modes(cfg, linux.get("namespaces") or [])
    doc = {
        "Binds": req.get("Binds"), "ContainerIDFile": cfg.get("cidfile") or "", "LogConfig": _log_config(cfg),
        "NetworkMode": _network_mode(cfg), "PortBindings": _sorted(req.get("PortBindings") or {}),
        "RestartPolicy": restart_policy(cfg), "AutoRemove": bool(cfg.get("rm")), "VolumeDriver": "",
        "VolumesFrom": cfg.get("volumes_from") or None, "ConsoleSize": req.get("ConsoleSize") or [0, 0],
        "CapAdd": cfg.get("cap_add") or None, "CapDrop": cfg.get("cap_drop") or None,
        "CgroupnsMode": modes["cgroup"], "Dns": cfg.get("dns") or [], "DnsOptions": cfg.get("dns_options") or [],
        "DnsSearch": cfg.get("dns_search") or [], "ExtraHosts": cfg.get("extra_hosts") or None,
        "GroupAdd": cfg.get("group_add") or None, "IpcMode": modes["ipc"], "Cgroup": "",
        "Links": cfg.get("links") or None, "OomScoreAdj": proc.get("oomScoreAdj", 0), "PidMode": modes["pid"],
        "Privileged": bool(cfg.get("privileged")), "PublishAllPorts": bool(req.get("PublishAllPorts")),
        "ReadonlyRootfs": bool((spec.get("root") or {}).get("readonly")),
        "SecurityOpt": cfg.get("security_opt") or None,
    }
    if req.get("Tmpfs"):
        doc["Tmpfs"] = _sorted(req["Tmpfs"])
    doc.update({"UTSMode": modes["uts"], "UsernsMode": cfg.get("userns_mode") or "", "ShmSize": _shm_size(spec.get("mounts") or [])})
    if linux.get("sysctl"):
        doc["Sysctls"] = _sorted(linux["sysctl"])
    doc.update({"Runtime": cfg.get("runtime") or "runc", "Isolation": ""})
    doc.update(_resources(res, req, cfg, proc, cgroup_version))
    mounts = [_mount_spec(m) for m in cfg.get("mount_texts") or []]
    if mounts:
        doc["Mounts"] = mounts
    doc["MaskedPaths"] = linux.get("maskedPaths") or None
    doc["ReadonlyPaths"] = linux.get("readonlyPaths") or None
    if cfg.get("init"):
        doc["Init"] = True
    return doc


def _sorted(d):
    """Go prints a map's keys in order."""
    return {k: d[k] for k in sorted(d)}


def _log_config(cfg):
    if isinstance(cfg.get("log_config"), dict):
        return cfg["log_config"]
    return {"Type": cfg.get("log_driver") or "json-file", "Config": _sorted(cfg.get("log_opts") or {})}


def _network_mode(cfg):
    mode = cfg.get("network_mode")
    if mode in (None, "private"):
        return "none"
    if mode.startswith("container:") and cfg.get("network_peer"):
        return "container:" + cfg["network_peer"]  # Docker keeps the ID: a rename must not break it
    return mode


def restart_policy(cfg):
    policy = cfg.get("restart_policy") or cfg.get("restart")
    if isinstance(policy, dict):
        return {"Name": policy.get("Name", "no"), "MaximumRetryCount": policy.get("MaximumRetryCount", 0)}
    name, _, count = (policy or "no").partition(":")
    return {"Name": name, "MaximumRetryCount": int(count) if count.isdigit() else 0}


def _namespace_modes(cfg, namespaces):
    """Docker's PidMode/IpcMode/UTSMode/CgroupnsMode: "host" where the
    container has no namespace of its own, else what was asked for."""
    ns = {n["type"]: n for n in namespaces}

    def mode(kind, key, private):
        if cfg.get(key):
            return cfg[key]
        if kind not in ns:
            return "host"
        return private
    return {"pid": mode("pid", "pid_mode", ""), "ipc": mode("ipc", "ipc_mode", "private"),
            "uts": mode("uts", "uts_mode", ""), "cgroup": mode("cgroup", "cgroupns_mode", "private")}


def _shm_size(mounts):
    from fastctr.engine.resources import parse_size
    for m in mounts:
        if m.get("destination") == "/dev/shm":
            for o in m.get("options") or []:
                if o.startswith("size="):
                    return parse_size(o[5:], "size")
    return DOCKER_SHM_SIZE


def _resources(res, req, cfg, proc, cgroup_version):
    cpu, mem, blkio = res.get("cpu") or {}, res.get("memory") or {}, res.get("blockIO") or {}
    period, quota, nano = cpu.get("period", 0), cpu.get("quota", 0), req.get("NanoCpus", 0)
    if nano and period == 100000 and quota == nano * 100000 // 1_000_000_000:
        period = quota = 0  # --cpus: Docker shows NanoCpus alone
    else:
        nano = 0
    pids = (res.get("pids") or {}).get("limit", 0)
    swappiness = mem.get("swappiness")
    oom_disable = mem.get("disableOOMKiller")
    if oom_disable is None and cgroup_version == 1:
        oom_disable = False  # Docker's default where the kernel has the switch (cgroup v1)
    return {
        "CpuShares": cpu.get("shares", 0), "Memory": mem.get("limit", 0), "NanoCpus": nano,
        "CgroupParent": cfg.get("cgroup_parent") or "", "BlkioWeight": blkio.get("weight", 0),
        "BlkioWeightDevice": [{"Path": _device_path(d), "Weight": d.get("weight", 0)}
                              for d in blkio.get("weightDevice") or []],
        "BlkioDeviceReadBps": _throttle(blkio.get("throttleReadBpsDevice")),
        "BlkioDeviceWriteBps": _throttle(blkio.get("throttleWriteBpsDevice")),
        "BlkioDeviceReadIOps": _throttle(blkio.get("throttleReadIOPSDevice")),
        "BlkioDeviceWriteIOps": _throttle(blkio.get("throttleWriteIOPSDevice")),
        "CpuPeriod": period, "CpuQuota": quota, "CpuRealtimePeriod": cpu.get("realtimePeriod", 0),
        "CpuRealtimeRuntime": cpu.get("realtimeRuntime", 0), "CpusetCpus": cpu.get("cpus", ""),
        "CpusetMems": cpu.get("mems", ""), "Devices": [_device(d) for d in req.get("Devices") or []],
        "DeviceCgroupRules": req.get("DeviceCgroupRules") or cfg.get("device_cgroup_rules") or None, "DeviceRequests": None,
        "MemoryReservation": mem.get("reservation", 0), "MemorySwap": mem.get("swap", 0),
        "MemorySwappiness": swappiness if swappiness is not None and swappiness >= 0 else None,
        "OomKillDisable": oom_disable, "PidsLimit": pids if pids > 0 else None,
        "Ulimits": sorted((_ulimit(r) for r in proc.get("rlimits") or []), key=lambda u: u["Name"]),
        "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
    }


def _device_path(d):
    """The block device of a major:minor, as the user named it (/dev/sda)."""
    try:
        with open(f"/sys/dev/block/{d.get('major')}:{d.get('minor')}/uevent") as f:
            for line in f:
                if line.startswith("DEVNAME="):
                    return "/dev/" + line.strip()[8:]
    except OSError:
        pass
    return f"{d.get('major')}:{d.get('minor')}"


def _throttle(devices):
    return [{"Path": _device_path(d), "Rate": d.get("rate", 0)} for d in devices or []]


def _device(text):
    """--device HOST[:CONTAINER][:PERMISSIONS] as Docker's DeviceMapping."""
    parts = text.split(":")
    host = parts[0]
    perms = parts[-1] if len(parts) > 1 and parts[-1] and set(parts[-1]) <= set("rwm") else "rwm"
    target = parts[1] if len(parts) > 1 and parts[1].startswith("/") else host
    return {"PathOnHost": host, "PathInContainer": target, "CgroupPermissions": perms}


def _ulimit(rlimit):
    def value(n):
        return -1 if n == UNLIMITED else n
    name = rlimit["type"][len("RLIMIT_"):].lower()
    return {"Name": name, "Hard": value(rlimit.get("hard", 0)), "Soft": value(rlimit.get("soft", 0))}


def _mount_spec(text):
    """A --mount value as Docker's mount.Mount (HostConfig.Mounts)."""
    fields = {}
    for item in text.split(","):
        key, eq, value = item.partition("=")
        fields[key.strip()] = value if eq else "true"
    out = {"Type": fields.get("type", "volume")}
    source = fields.get("source") or fields.get("src")
    if source:
        out["Source"] = source
    out["Target"] = fields.get("target") or fields.get("destination") or fields.get("dst") or ""
    if fields.get("readonly", fields.get("ro", "false")) in ("true", "1"):
        out["ReadOnly"] = True
    if out["Type"] == "bind" and fields.get("bind-propagation"):
        out["BindOptions"] = {"Propagation": fields["bind-propagation"]}
    if out["Type"] == "volume" and fields.get("volume-nocopy"):
        out["VolumeOptions"] = {"NoCopy": fields["volume-nocopy"] in ("true", "1")}
    if out["Type"] == "tmpfs":
        tmpfs = {}
        if fields.get("tmpfs-size"):
            from fastctr.engine.resources import parse_size
            tmpfs["SizeBytes"] = parse_size(fields["tmpfs-size"], "tmpfs-size")
        if fields.get("tmpfs-mode"):
            tmpfs["Mode"] = int(fields["tmpfs-mode"], 8)
        if tmpfs:
            out["TmpfsOptions"] = tmpfs
    return out
