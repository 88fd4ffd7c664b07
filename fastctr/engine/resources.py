"""Docker's resource flags -> the OCI spec (linux.resources, process.rlimits,
process.oomScoreAdj, linux.sysctl, the /dev/shm size).  Each bad value is a
ConfigError naming the flag, raised before anything is created."""
import os

from fastctr.errors import ConfigError

FLAGS = {"--cpus": ("cpus", True), "--cpu-period": ("cpu_period", True), "--cpu-quota": ("cpu_quota", True),
         "-c": ("cpu_shares", True), "--cpu-shares": ("cpu_shares", True), "--cpuset-cpus": ("cpuset_cpus", True),
         "--cpuset-mems": ("cpuset_mems", True), "-m": ("memory", True), "--memory": ("memory", True),
         "--memory-swap": ("memory_swap", True), "--memory-reservation": ("memory_reservation", True),
         "--pids-limit": ("pids_limit", True), "--blkio-weight": ("blkio_weight", True),
         "--ulimit": ("ulimits", True), "--shm-size": ("shm_size", True), "--sysctl": ("sysctls", True),
         "--oom-score-adj": ("oom_score_adj", True), "--oom-kill-disable": ("oom_kill_disable", False),
         "--memory-swappiness": ("memory_swappiness", True), "--device-read-bps": ("device_read_bps", True),
         "--device-write-bps": ("device_write_bps", True), "--device-read-iops": ("device_read_iops", True),
         "--device-write-iops": ("device_write_iops", True), "--blkio-weight-device": ("blkio_weight_device", True),
         "--device-cgroup-rule": ("device_cgroup_rules", True), "--cpu-rt-period": ("cpu_rt_period", True),
         "--cpu-rt-runtime": ("cpu_rt_runtime", True), "--cgroup-parent": ("cgroup_parent", True)}
# Applied by fastctr.engine.cgroupflags, imported only when one is used.
DEVICE_LIMITS = ("device_read_bps", "device_write_bps", "device_read_iops", "device_write_iops")
MULTI = {"ulimits", "sysctls", "blkio_weight_device", "device_cgroup_rules"} | set(DEVICE_LIMITS)
CGROUP_FLAGS = ("oom_kill_disable", "memory_swappiness", "blkio_weight_device", "device_cgroup_rules",
                "cpu_rt_period", "cpu_rt_runtime", "cgroup_parent") + DEVICE_LIMITS
MIN_MEMORY = 6 * 1024 * 1024  # Docker's minimum for -m
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
RLIMITS = {"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss",
           "rtprio", "rttime", "sigpending", "stack", "as"}


def parse_size(value, flag):
    """1024, 512k, 64m, 1g (binary units, as Docker) -> bytes."""
    text = str(value).strip().lower()
    if text.endswith("b") and len(text) > 1 and text[-2] in "kmgt":
        text = text[:-1]
    unit = text[-1:] if text[-1:] in _UNITS and not text[-1:].isdigit() else ""
    number = text[:-1] if unit else text
    try:
        n = float(number)
    except ValueError:
        raise ConfigError(f"invalid size for {flag}: {value!r}") from None
    if n < 0:
        raise ConfigError(f"invalid size for {flag}: {value!r}")
    return int(n * _UNITS[unit])


def parse_int(value, flag, low=None, high=None):
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"invalid value for {flag}: {value!r}") from None
    if (low is not None and n < low) or (high is not None and n > high):
        allowed = f"at least {low}" if high is None else f"allowed {low}..{high}"
        raise ConfigError(f"invalid value for {flag}: {value} ({allowed})")
    return n


def _cpuset(value, flag):
    ok = value and all(part and all(p.isdigit() for p in part.split("-", 1)) for part in value.split(","))
    if not ok:
        raise ConfigError(f"invalid value for {flag}: {value!r} (e.g. 0-3,5)")
    return value


def apply(spec, opts):
    """Put the resource flags of `opts` (RunOptions) into the spec."""
    res = spec["linux"].setdefault("resources", {})
    cpu, mem = {}, {}
    if opts.cpus is not None:
        try:
            cpus = float(opts.cpus)
        except ValueError:
            raise ConfigError(f"invalid value for --cpus: {opts.cpus!r}") from None
        if not 0.01 <= cpus <= os.cpu_count():
            raise ConfigError(f"invalid value for --cpus: {opts.cpus} (range 0.01..{os.cpu_count()})")
        if opts.cpu_quota is not None or opts.cpu_period is not None:
            raise ConfigError("conflicting options: --cpus and --cpu-period/--cpu-quota")
        cpu.update(period=100000, quota=int(cpus * 100000))
    if opts.cpu_period is not None:
        cpu["period"] = parse_int(opts.cpu_period, "--cpu-period", 1000, 1000000)
    if opts.cpu_quota is not None:
        cpu["quota"] = parse_int(opts.cpu_quota, "--cpu-quota", -1)
        if 0 <= cpu["quota"] < 1000:
            raise ConfigError("invalid value for --cpu-quota: at least 1000 (1 ms)")
    if opts.cpu_shares is not None:
        cpu["shares"] = parse_int(opts.cpu_shares, "--cpu-shares", 2, 262144)
    if opts.cpuset_cpus is not None:
        cpu["cpus"] = _cpuset(opts.cpuset_cpus, "--cpuset-cpus")
    if opts.cpuset_mems is not None:
        cpu["mems"] = _cpuset(opts.cpuset_mems, "--cpuset-mems")
    if opts.memory is not None:
        mem["limit"] = parse_size(opts.memory, "--memory")
        if mem["limit"] < MIN_MEMORY:
            raise ConfigError("invalid value for --memory: the minimum is 6m")
    if opts.memory_swap is not None:
        if "limit" not in mem:
            raise ConfigError("--memory-swap needs --memory")
        swap = -1 if str(opts.memory_swap) == "-1" else parse_size(opts.memory_swap, "--memory-swap")
        if swap != -1 and swap < mem["limit"]:
            raise ConfigError("--memory-swap must be at least --memory (it is memory plus swap)")
        mem["swap"] = swap
    if opts.memory_reservation is not None:
        mem["reservation"] = parse_size(opts.memory_reservation, "--memory-reservation")
    if cpu:
        res["cpu"] = cpu
    if mem:
        res["memory"] = mem
    if opts.pids_limit is not None:
        limit = parse_int(opts.pids_limit, "--pids-limit")
        if limit > 0:
            res["pids"] = {"limit": limit}
    if opts.blkio_weight is not None:
        res["blockIO"] = {"weight": parse_int(opts.blkio_weight, "--blkio-weight", 10, 1000)}
    if any(getattr(opts, name, None) for name in CGROUP_FLAGS):
        from fastctr.engine import cgroupflags  # rarely used: not on the start path
        cgroupflags.apply(spec, opts, parse_int, parse_size)
    if opts.oom_score_adj is not None:
        spec["process"]["oomScoreAdj"] = parse_int(opts.oom_score_adj, "--oom-score-adj", -1000, 1000)
    if opts.ulimits:
        spec["process"]["rlimits"] = [_ulimit(u) for u in opts.ulimits]
    if opts.sysctls:
        spec["linux"]["sysctl"] = dict(_sysctl(s) for s in opts.sysctls)
    if opts.shm_size is not None:
        size = parse_size(opts.shm_size, "--shm-size")
        if size <= 0:
            raise ConfigError("invalid value for --shm-size: must be more than 0")
        for m in spec["mounts"]:
            if m["destination"] == "/dev/shm":
                m["options"] = [o for o in m["options"] if not o.startswith("size=")] + [f"size={size}"]


def _ulimit(text):
    name, eq, values = text.partition("=")
    if not eq or name not in RLIMITS:
        raise ConfigError(f"invalid --ulimit {text!r}: use NAME=SOFT[:HARD] with NAME one of {', '.join(sorted(RLIMITS))}")
    soft, _, hard = values.partition(":")
    soft_n = parse_int(soft, "--ulimit", -1)
    hard_n = parse_int(hard or soft, "--ulimit", -1)
    if soft_n > hard_n >= 0:
        raise ConfigError(f"invalid --ulimit {text!r}: the soft limit is above the hard limit")
    limit = lambda n: 2 ** 64 - 1 if n == -1 else n  # noqa: E731 - unlimited
    return {"type": "RLIMIT_" + name.upper(), "soft": limit(soft_n), "hard": limit(hard_n)}


def _sysctl(text):
    key, eq, value = text.partition("=")
    if not eq or not key:
        raise ConfigError(f"invalid --sysctl {text!r}: use KEY=VALUE")
    return key, value
