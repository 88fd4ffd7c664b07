"""The cgroup flags of `run`/`create` that few containers use -> the OCI spec:
--oom-kill-disable, --memory-swappiness, --device-read-bps/-write-bps/
-read-iops/-write-iops, --blkio-weight-device, --device-cgroup-rule,
--cpu-rt-period/--cpu-rt-runtime and --cgroup-parent.

Each is checked against this host before anything is made, so that a limit
the kernel cannot apply fails at once with a clear error (exit 125), not at
start.  Two are Docker's exceptions, done as Docker does them: cgroup v2 has
no OOM-killer switch and no swappiness, and dockerd warns and discards
--oom-kill-disable and --memory-swappiness there (its warning is printed).
Loaded only when one of these flags is used: not on the start path."""
import os
import re
import stat
import sys

from fastctr.errors import ConfigError

CGROUP_RULE = re.compile(r"^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$")  # docker/cli's check
_RATE_HELP = ("The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. "
              "Unit is optional and can be kb, mb, or gb")


def warn(text):
    """Docker's CLI prints the daemon's warnings so, on stderr."""
    print(f"WARNING: {text}", file=sys.stderr)


def _host_v2():
    from fastctr.runtime.cgroups import host_version
    return host_version() == 2


# --device-read-bps ... -> their OCI linux.resources.blockIO keys
DEVICE_LIMITS = {"device_read_bps": "throttleReadBpsDevice", "device_write_bps": "throttleWriteBpsDevice",
                 "device_read_iops": "throttleReadIOPSDevice", "device_write_iops": "throttleWriteIOPSDevice"}


def apply(spec, opts, parse_int, parse_size):
    """The flags into spec; parse_int and parse_size are those of
    fastctr.engine.resources, handed over (it imports this module)."""
    res = spec["linux"].setdefault("resources", {})
    v2 = _host_v2()
    _memory(res, opts, v2, parse_int)
    _block_io(res, opts, v2, parse_size)
    for rule in getattr(opts, "device_cgroup_rules", None) or []:
        res.setdefault("devices", []).append(parse_cgroup_rule(rule))
    _realtime(res, opts, v2, parse_int)
    if getattr(opts, "cgroup_parent", None):
        check_parent(opts.cgroup_parent)


def _memory(res, opts, v2, parse_int):
    mem = {}
    if getattr(opts, "oom_kill_disable", False):
        if v2:
            warn("Your kernel does not support OomKillDisable. OomKillDisable discarded.")
        else:
            mem["disableOOMKiller"] = True
            if not (res.get("memory") or {}).get("limit"):
                warn("OOM killer is disabled for the container, but no memory limit is set, "
                     "this can result in the system running out of resources.")
    swappiness = getattr(opts, "memory_swappiness", None)
    if swappiness is not None and str(swappiness) != "-1":  # -1: the default, as Docker's
        n = parse_int(swappiness, "--memory-swappiness")
        if not 0 <= n <= 100:
            raise ConfigError(f"invalid value for --memory-swappiness: {n} (valid memory swappiness range is 0-100)")
        if v2:
            warn("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. "
                 "Memory swappiness discarded.")
        else:
            mem["swappiness"] = n
    if mem:
        res["memory"] = dict(res.get("memory") or {}, **mem)


def block_device(path, flag):
    """(major, minor) of the host's block device at path."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise ConfigError(f"{flag} {path}: {e.strerror}") from None
    if not stat.S_ISBLK(st.st_mode):
        raise ConfigError(f"{flag} {path}: not a block device")
    return os.major(st.st_rdev), os.minor(st.st_rdev)


def _device_and_value(text, flag):
    path, sep, value = text.partition(":")
    if not sep or not path:
        raise ConfigError(f"invalid {flag} {text!r}: bad format (use DEVICE-PATH:VALUE)")
    if not path.startswith("/dev/"):
        raise ConfigError(f"invalid {flag} {text!r}: bad format for device path (it must be below /dev/)")
    return path, value


def parse_rate(text, flag, parse_size):
    """--device-read-bps /dev/sda:1mb -> {major, minor, rate} (bytes or I/Os per second)."""
    path, value = _device_and_value(text, flag)
    try:
        rate = int(value) if flag.endswith("iops") else parse_size(value, flag)
        if rate < 0:
            raise ValueError
    except (ValueError, ConfigError):
        help_ = "The correct format is <device-path>:<number>. Number must be a positive integer" \
            if flag.endswith("iops") else _RATE_HELP
        raise ConfigError(f"invalid rate for device: {text}. {help_}") from None
    major, minor = block_device(path, flag)
    return {"major": major, "minor": minor, "rate": rate}


def parse_weight_device(text):
    path, value = _device_and_value(text, "--blkio-weight-device")
    try:
        weight = int(value)
    except ValueError:
        weight = -1
    if weight != 0 and not 10 <= weight <= 1000:
        raise ConfigError(f"invalid weight for device: {text} (10 to 1000, or 0)")
    major, minor = block_device(path, "--blkio-weight-device")
    return {"major": major, "minor": minor, "weight": weight}


def _scheduler(major, minor):
    """The active I/O scheduler of a disk (of its disk, for a partition)."""
    base = os.path.realpath(f"/sys/dev/block/{major}:{minor}")
    for d in (base, os.path.dirname(base)):
        try:
            with open(os.path.join(d, "queue", "scheduler")) as f:
                text = f.read()
        except OSError:
            continue
        m = re.search(r"\[(\S+)\]", text)
        return m.group(1) if m else text.strip() or "none"
    return "none"


def _cfq_weights():
    """Whether the v1 blkio hierarchy has the CFQ era's blkio.weight_device."""
    from fastctr.runtime.cgroups import CgroupV1
    for name, mnt in CgroupV1.hierarchies_of_host().items():
        if "blkio" in name.split(","):
            return os.path.exists(os.path.join(mnt, "blkio.weight_device"))
    return False


def _block_io(res, opts, v2, parse_size):
    bio = {}
    for name, key in DEVICE_LIMITS.items():
        values = getattr(opts, name, None) or []
        flag = "--" + name.replace("_", "-")
        if values:
            bio[key] = [parse_rate(v, flag, parse_size) for v in values]
    weights = [parse_weight_device(v) for v in getattr(opts, "blkio_weight_device", None) or []]
    for wd in weights:
        # Only BFQ (and the CFQ of kernels before 5.0) keeps a weight per cgroup and device.
        sched = _scheduler(wd["major"], wd["minor"])
        if sched != "bfq" and (v2 or not _cfq_weights()):
            raise ConfigError(f"--blkio-weight-device {wd['major']}:{wd['minor']}: the device's I/O scheduler is "
                              f"{sched}, which keeps no per-cgroup weights; only bfq does (select it in "
                              f"/sys/dev/block/{wd['major']}:{wd['minor']}/queue/scheduler)")
    if weights:
        bio["weightDevice"] = weights
    if bio:
        res["blockIO"] = dict(res.get("blockIO") or {}, **bio)


def parse_cgroup_rule(text):
    """'c 1:3 rwm' -> an OCI linux.resources.devices allow rule."""
    m = CGROUP_RULE.match(text)
    if not m:
        raise ConfigError(f"invalid device cgroup format '{text}' (e.g. 'c 1:3 rwm', 'b 8:* r')")
    kind, major, minor, access = m.groups()
    rule = {"allow": True, "type": kind, "access": access}
    if major != "*":
        rule["major"] = int(major)
    if minor != "*":
        rule["minor"] = int(minor)
    return rule


def _realtime(res, opts, v2, parse_int):
    period, runtime = getattr(opts, "cpu_rt_period", None), getattr(opts, "cpu_rt_runtime", None)
    if period is None and runtime is None:
        return
    cpu = {}
    if period is not None:
        cpu["realtimePeriod"] = parse_int(period, "--cpu-rt-period", 1, 1000000)
    if runtime is not None:
        cpu["realtimeRuntime"] = parse_int(runtime, "--cpu-rt-runtime", -1, 1000000)
    if period is not None and runtime is not None and cpu["realtimeRuntime"] > cpu["realtimePeriod"]:
        raise ConfigError("cpu real-time runtime cannot be higher than cpu real-time period")
    if v2:
        raise ConfigError("--cpu-rt-period/--cpu-rt-runtime: the kernel does not support CPU real-time scheduler "
                          "on cgroup v2 (no real-time group scheduling there)")
    if not _rt_group_sched():
        raise ConfigError("--cpu-rt-period/--cpu-rt-runtime: the kernel does not support CPU real-time scheduler "
                          "(no cpu.rt_runtime_us: it is built without CONFIG_RT_GROUP_SCHED)")
    res["cpu"] = dict(res.get("cpu") or {}, **cpu)


def _rt_group_sched():
    from fastctr.runtime.cgroups import CgroupV1
    for name, mnt in CgroupV1.hierarchies_of_host().items():
        if "cpu" in name.split(","):
            return os.path.exists(os.path.join(mnt, "cpu.rt_runtime_us"))
    return False


def check_parent(parent):
    if ":" in parent:
        raise ConfigError(f"--cgroup-parent {parent!r}: systemd slices are not supported (fastctr manages "
                          "cgroups itself, as Docker's cgroupfs driver: give a path)")
    parts = [p for p in parent.split("/") if p]
    if not parts or ".." in parts or "." in parts:
        raise ConfigError(f"--cgroup-parent {parent!r}: not a usable cgroup path")


def container_path(parent, cid):
    """linux.cgroupsPath for a container below --cgroup-parent: absolute
    from the hierarchies' root, or relative to fastctr's own cgroup (as
    Docker's cgroupfs driver places them); see runtime_parent."""
    check_parent(parent)
    path = "/".join(p for p in parent.split("/") if p) + f"/fastctr-{cid}"
    return "/" + path if parent.startswith("/") else path


def runtime_parent(parent):
    """The runtime's cgroup parent for container_path's path."""
    return "/" if parent.startswith("/") else "self"
