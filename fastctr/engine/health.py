"""Docker's health checks: --health-* flags, the image's HEALTHCHECK, the
probe, and the state in <container dir>/health.json.

No daemon runs the probe: the container's C monitor (csrc/monitor.c,
--health) forks `fastctr container cleanup ID --probe` at each interval
(never two at once), so an idle healthy container costs its monitor's
timer and nothing else; the probe is a short-lived exec into the
container.  health.json is Docker's Health object
  {"Status": "starting"|"healthy"|"unhealthy", "FailingStreak": N,
   "Log": [{"Start", "End", "ExitCode", "Output"}]  (the last 5)}
written atomically; `inspect` shows it as State.Health and `ps` as
(healthy) / (unhealthy) / (health: starting).  A --rm container run in the
foreground has no monitor: it is not probed."""
import os
import re
import time

from fastctr import jsonfast as json
from fastctr.cliargs import UsageError

FILE = "health.json"
DEFAULTS = {"Interval": 30 * 10**9, "Timeout": 30 * 10**9, "Retries": 3, "StartPeriod": 0,
            "StartInterval": 5 * 10**9}
MAX_LOG = 5
MAX_OUTPUT = 4096
OPTIONS = ("health_cmd", "health_interval", "health_timeout", "health_retries", "health_start_period",
           "health_start_interval", "no_healthcheck")  # RunOptions.health's keys
_GO_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def parse_duration(text, flag):
    """Go's time.ParseDuration -> ns."""
    if text in ("0", ""):
        return 0
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise UsageError(f'invalid argument "{text}" for "{flag}" flag: time: invalid duration "{text}"')
    return sign * int(sum(float(n) * _GO_UNITS[u] for n, u in parts))


def from_flags(opts):
    """The HealthConfig the flags ask for (None: none given), checked as the
    docker CLI and the daemon check it."""
    given = {k: opts.health.get(k) for k in OPTIONS}
    settings = {k: v for k, v in given.items() if k != "no_healthcheck" and v is not None}
    if given["no_healthcheck"]:
        if settings:
            raise UsageError("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not settings:
        return None
    config = {}
    if given["health_cmd"]:
        config["Test"] = ["CMD-SHELL", given["health_cmd"]]
    for key, flag, field in (("health_interval", "--health-interval", "Interval"),
                             ("health_timeout", "--health-timeout", "Timeout"),
                             ("health_start_period", "--health-start-period", "StartPeriod"),
                             ("health_start_interval", "--health-start-interval", "StartInterval")):
        if given[key] is not None:
            ns = parse_duration(given[key], flag)
            if ns < 0:
                raise UsageError(f"{flag} cannot be negative")
            if 0 < ns < 10**6:
                raise UsageError(f"{field} in Healthcheck cannot be less than 1ms")
            config[field] = ns
    if given["health_retries"] is not None:
        try:
            retries = int(given["health_retries"])
        except ValueError:
            raise UsageError(f'invalid argument "{given["health_retries"]}" for "--health-retries" flag: '
                             "strconv.ParseInt: parsing: invalid syntax") from None
        if retries < 0:
            raise UsageError("--health-retries cannot be negative")
        config["Retries"] = retries
    return config


def health_record(opts, image_config):
    """The record's `healthcheck`: the flags merged over the image's."""
    config = merge(from_flags(opts), image_config)
    return {"healthcheck": config} if config else {}


def merge(flags_config, image_config):
    """moby's merge: what the flags leave unset comes from the image's."""
    if flags_config is None:
        return dict(image_config) if image_config else None
    out = dict(flags_config)
    for key, value in (image_config or {}).items():
        if not out.get(key):
            out[key] = value
    return out


def active(config):
    test = (config or {}).get("Test") or []
    return bool(test) and test[0] != "NONE"


def setting(config, key):
    return (config or {}).get(key) or DEFAULTS[key]


def monitor_option(config):
    """--health INTERVAL_MS:START_PERIOD_MS:START_INTERVAL_MS for the monitor."""
    ms = [max(1, setting(config, "Interval") // 10**6), (config.get("StartPeriod") or 0) // 10**6,
          max(1, setting(config, "StartInterval") // 10**6) if config.get("StartPeriod") else 0]
    return ["--health", ":".join(str(x) for x in ms)]


# ------------------------------------------------------------------ state

def path(engine, c):
    return os.path.join(engine._cdir(c), FILE)


def read(engine, c):
    try:
        with open(path(engine, c)) as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None


def _write(file, state):
    tmp = f"{file}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(state))
    os.rename(tmp, file)


def reset(engine, c):
    """At each start: starting again (Docker keeps the log)."""
    if not active(c["config"].get("healthcheck")):
        return
    old = read(engine, c) or {}
    _write(path(engine, c), {"Status": "starting", "FailingStreak": 0, "Log": old.get("Log") or []})


def ps_suffix(engine, c):
    state = read(engine, c) if active(c["config"].get("healthcheck")) else None
    if not state:
        return None
    return "health: starting" if state.get("Status") == "starting" else state.get("Status")


def _rfc3339(ns):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


# ------------------------------------------------------------------ probe

def probe(engine, ref):
    """One probe of a running container, from its monitor: run the test,
    record the result as Docker's health monitor does."""
    c = engine.container(ref)
    config = c["config"].get("healthcheck")
    if not active(config) or engine.live_status(c) != "running":
        return
    start = time.time_ns()
    code, output = _run(engine, c, config)
    result = {"Start": _rfc3339(start), "End": _rfc3339(time.time_ns()), "ExitCode": code, "Output": output}
    state = read(engine, c) or {"Status": "starting", "FailingStreak": 0, "Log": []}
    before = state.get("Status")
    if code == 0:
        state["FailingStreak"] = 0
        state["Status"] = "healthy"
    else:
        from fastctr.engine.restart import _seconds
        in_start_period = before == "starting" and \
            start // 10**9 - _seconds(c["started"]) < (config.get("StartPeriod") or 0) / 10**9
        if not in_start_period:
            state["FailingStreak"] = state.get("FailingStreak", 0) + 1
            if state["FailingStreak"] >= setting(config, "Retries"):
                state["Status"] = "unhealthy"
    state["Log"] = (state.get("Log") or [])[-(MAX_LOG - 1):] + [result]
    _write(path(engine, c), state)
    if state["Status"] != before:
        from fastctr import events
        events.container(engine.store.root, c, "health_status: " + state["Status"])


def _command(config):
    test = config["Test"]
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", test[1]]
    return list(test[1:]) if test[0] == "CMD" else list(test)


def _run(engine, c, config):
    """The test as an exec in the container -> (exit code, output); -1 and
    Docker's message when it outlives the timeout."""
    import select
    from fastctr.runtime.lifecycle import wait_status
    timeout = setting(config, "Timeout") / 10**9
    spec = engine.bundle_spec(c)
    proc = spec["process"]
    process = {"args": _command(config), "cwd": proc.get("cwd", "/"), "terminal": False, "env": proc.get("env") or [],
               "user": proc.get("user") or {"uid": 0, "gid": 0}, "rlimits": proc.get("rlimits") or [],
               "noNewPrivileges": bool(proc.get("noNewPrivileges")), "capabilities": proc.get("capabilities")}
    out_r, out_w = os.pipe()
    null = os.open("/dev/null", os.O_RDONLY)
    try:
        pid = engine.runtime_for(c).exec(c["id"], process, detach=True, stdio=(null, out_w, out_w))
    except Exception as e:
        os.close(out_w)
        os.close(out_r)
        return getattr(e, "exit_code", 1) or 1, str(e)
    finally:
        os.close(null)
    os.close(out_w)
    data, deadline = b"", time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([out_r], [], [], left)[0]:
                os.kill(pid, 9)
                wait_status(pid)
                return -1, f"Health check exceeded timeout ({_go_duration(setting(config, 'Timeout'))})"
            chunk = os.read(out_r, 65536)
            if not chunk:
                break
            data += chunk[:MAX_OUTPUT]
    finally:
        os.close(out_r)
    return wait_status(pid), data[:MAX_OUTPUT].decode("utf-8", "replace")


def _go_duration(ns):
    s = ns / 10**9
    return f"{s:g}s" if s < 60 else f"{int(s // 60)}m{s % 60:g}s"
