"""Docker's security flags -> the OCI spec: --cap-add/--cap-drop,
--privileged, --security-opt (no-new-privileges, seccomp) and --device.

Defaults are Docker's: its 14 capabilities, its masked and read-only paths
(set by make_spec) and its default seccomp profile (fastctr.seccomp)."""
import os
import stat

from fastctr.errors import ConfigError

FLAGS = {"--cap-add": ("cap_add", True), "--cap-drop": ("cap_drop", True), "--privileged": ("privileged", False),
         "--security-opt": ("security_opt", True), "--device": ("devices", True)}
MULTI = {"cap_add", "cap_drop", "security_opt", "devices"}
DOCKER_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
               "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
               "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
# Docker's walk of the host's /dev for --privileged skips these.
_PRIVILEGED_DEV_SKIP = {"/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/fd", "/dev/.lxc", "/dev/.lxd-mounts",
                        "/dev/console", "/dev/ptmx"}  # and /dev/ptmx: the link to pts/ptmx


def apply(spec, opts):
    """Set capabilities, no_new_privs, seccomp, devices and, for
    --privileged, lift the path and device restrictions."""
    privileged = bool(getattr(opts, "privileged", False))
    nnp, seccomp_opt = _security_opts(getattr(opts, "security_opt", None) or [])
    caps = capabilities(getattr(opts, "cap_add", None) or [], getattr(opts, "cap_drop", None) or [], privileged)
    process = spec["process"]
    process["capabilities"] = {k: list(caps) for k in ("bounding", "effective", "permitted")}
    if nnp:
        process["noNewPrivileges"] = True
    linux = spec["linux"]
    devices = [d for path in getattr(opts, "devices", None) or [] for d in parse_device(path)]
    if privileged:
        _lift_restrictions(spec)
        devices = _host_devices() + devices
    if devices:
        linux["devices"] = [d for d, _ in devices]
        linux["resources"]["devices"] += [rule for _, rule in devices]
    if not privileged and seccomp_opt != "unconfined":
        linux["seccomp"] = seccomp_spec(seccomp_opt, caps)


def _security_opts(values):
    nnp, seccomp_opt = False, None
    for value in values:
        key, _, arg = value.partition("=" if "=" in value else ":")  # Docker takes both
        if key == "no-new-privileges":
            if arg not in ("", "true", "false"):
                raise ConfigError(f"invalid --security-opt {value!r}: no-new-privileges takes true or false")
            nnp = arg != "false"
        elif key == "seccomp" and arg:
            seccomp_opt = arg
        elif (key, arg) in (("apparmor", "unconfined"), ("label", "disable")):
            pass  # fastctr applies no LSM profile: these ask for nothing
        else:
            raise ConfigError(f"invalid --security-opt {value!r} (supported: no-new-privileges[=true|false], "
                              "seccomp=unconfined|PROFILE.json)")
    return nnp, seccomp_opt


def _cap_name(name, flag):
    from fastctr.runtime.spec import CAP_BITS
    full = name.upper() if name.upper().startswith("CAP_") else "CAP_" + name.upper()
    if full != "CAP_ALL" and full not in CAP_BITS:
        raise ConfigError(f"invalid capability for {flag}: {name!r}")
    return full


def capabilities(add, drop, privileged=False):
    """Docker's rules: ALL in --cap-add grants every capability but the
    dropped ones; ALL in --cap-drop keeps only the added ones."""
    from fastctr.runtime.spec import CAPABILITIES, _last_cap
    bounding = _own_bounding_set()
    # "All" is what we can give: a runtime inside a restricted sandbox lacks some.
    every = ["CAP_" + name for i, name in enumerate(CAPABILITIES[:_last_cap() + 1]) if bounding >> i & 1]
    if privileged:
        return every
    add = {_cap_name(c, "--cap-add") for c in add}
    drop = {_cap_name(c, "--cap-drop") for c in drop}
    if "CAP_ALL" in add:
        base = set(every)
    elif "CAP_ALL" in drop:
        base = set()
    else:
        base = set(DOCKER_CAPS)
    base = (base | add) - drop if "CAP_ALL" not in drop else base | add
    return [c for c in every if c in base - {"CAP_ALL"}]


def _own_bounding_set():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    return ~0


_DEFAULT_SECCOMP = {}  # frozenset(caps) -> the default profile resolved for them (~1.3 ms each time)


def seccomp_spec(option, caps):
    """linux.seccomp for the default profile or a Docker-format file.  The
    default one is resolved once per set of capabilities in this process
    (the same dict each time: callers dump it, never change it)."""
    from fastctr.runtime import seccomp
    if option:
        return seccomp.to_oci(seccomp.load_profile(option), set(caps), checked=True)
    key = frozenset(caps)
    if key not in _DEFAULT_SECCOMP:
        _DEFAULT_SECCOMP[key] = seccomp.to_oci(seccomp.default_profile(), set(caps), checked=True)
    return _DEFAULT_SECCOMP[key]


def _lift_restrictions(spec):
    linux = spec["linux"]
    linux["maskedPaths"] = []
    linux["readonlyPaths"] = []
    linux["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
    for m in spec["mounts"]:
        if m["destination"] in ("/sys", "/sys/fs/cgroup"):
            m["options"] = [o for o in m["options"] if o != "ro"]


def parse_device(value):
    """--device HOST[:CONTAINER][:PERMISSIONS] -> [(linux.devices entry,
    cgroup rule)]; a directory brings every device below it."""
    parts = value.split(":")
    if len(parts) > 3 or not parts[0]:
        raise ConfigError(f"invalid --device {value!r}: expected HOST[:CONTAINER][:rwm]")
    perms = "rwm"
    if len(parts) > 1 and parts[-1] and set(parts[-1]) <= set("rwm") and not parts[-1].startswith("/"):
        perms = parts.pop()
    host = parts[0]
    target = parts[1] if len(parts) > 1 else host
    if not os.path.isabs(host) or not os.path.isabs(target):
        raise ConfigError(f"invalid --device {value!r}: paths must be absolute")
    try:
        st = os.stat(host)
    except OSError as e:
        raise ConfigError(f"--device {host}: {e.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        found = []
        for root, dirs, files in os.walk(host):
            for name in sorted(files):
                path = os.path.join(root, name)
                found += _device(path, target + path[len(host):], perms, quiet=True)
        if not found:
            raise ConfigError(f"--device {host}: no devices in the directory")
        return found
    out = _device(host, target, perms)
    if not out:
        raise ConfigError(f"--device {host}: not a character or block device")
    return out


def _device(host, target, perms, quiet=False):
    try:
        st = os.stat(host)
    except OSError:
        if quiet:
            return []
        raise
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        return []
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    node = {"path": target, "type": kind, "major": major, "minor": minor,
            "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}
    return [(node, {"allow": True, "type": kind, "major": major, "minor": minor, "access": perms})]


def _host_devices():
    out = []
    for root, dirs, files in os.walk("/dev"):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in _PRIVILEGED_DEV_SKIP]
        for name in files:
            path = os.path.join(root, name)
            if path not in _PRIVILEGED_DEV_SKIP and not os.path.islink(path):
                out += _device(path, path, "rwm", quiet=True)
    return out
