"""--log-driver json-file|none and --log-opt, as Docker's json-file driver.

json-file options: max-size (go-units sizes, binary: 10m = 10 MiB) and
max-file (default 1), applied by the container's monitor (csrc/monitor.c
rotates <container dir>/container-json.log to .1, .2 ...), and labels /
env / env-regex, the container labels and environment variables whose
values `logs --details` shows before each line.  `none` keeps no log
(`logs` then fails as Docker's: the driver does not support reading).
Docker's other drivers (syslog, journald, local, gelf, fluentd...) need
their daemons: they fail with 125.  Imported only when the flags are
used."""
import re

from fastctr.cliargs import UsageError

DRIVERS = ("json-file", "none")
OTHER_DRIVERS = ("local", "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "etwlogs", "gcplogs",
                 "logentries")
JSON_FILE_OPTS = ("max-size", "max-file", "labels", "labels-regex", "env", "env-regex", "tag")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(text):
    """go-units RAMInBytes: 10m, 1.5g, 512k, 100 (bytes)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?) ?([kmgtp]?)(?:i?b)?", text.strip().lower())
    if not m:
        raise UsageError(f"invalid value for max-size: {text!r} (use a size such as 10m)")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def log_record(opts):
    """The record's log_driver and log_opts ({key: value}), checked."""
    driver = opts.log_driver or "json-file"
    if driver in OTHER_DRIVERS:
        raise UsageError(f"--log-driver {driver}: fastctr has only the json-file and none log drivers")
    if driver not in DRIVERS:
        raise UsageError(f"--log-driver {driver}: no log driver named '{driver}' is registered")
    options = {}
    for item in opts.log_opts:
        key, eq, value = item.partition("=")
        if not eq:
            raise UsageError(f"invalid log opt {item!r}: use KEY=VALUE")
        if driver == "none" or key not in JSON_FILE_OPTS:
            raise UsageError(f"unknown log opt '{key}' for {driver} log driver")
        options[key] = value
    if "max-size" in options and parse_size(options["max-size"]) <= 0:
        raise UsageError("max-size must be a positive number")
    if "max-file" in options:
        try:
            files = int(options["max-file"])
        except ValueError:
            raise UsageError(f"invalid value for max-file: {options['max-file']!r}") from None
        if files < 1:
            raise UsageError("max-file cannot be less than 1")
        if files > 1 and "max-size" not in options:
            raise UsageError("max-file can only be set when max-size is set")
    return {"log_driver": driver, "log_opts": options}


def monitor_arguments(config, log_path):
    """(monitor options, its LOG_FILE argument: empty for none)."""
    if config.get("log_driver") == "none":
        return [], ""
    options = config.get("log_opts") or {}
    out = []
    if "max-size" in options:
        out += ["--log-max-size", str(parse_size(options["max-size"])),
                "--log-max-file", str(int(options.get("max-file", "1")))]
    return out, log_path


def rotated_paths(log_path, config):
    """The log's files, oldest first."""
    files = int((config.get("log_opts") or {}).get("max-file", "1"))
    return [f"{log_path}.{i}" for i in range(files - 1, 0, -1)] + [log_path]


def details(c):
    """`logs --details`: the attributes Docker's json-file adds to each line
    (the labels and environment variables named by labels=/env=...)."""
    import os
    options = (c["config"].get("log_opts") or {})
    attrs = {}
    labels = c.get("labels") or {}
    for key in filter(None, options.get("labels", "").split(",")):
        if key in labels:
            attrs[key] = labels[key]
    if options.get("labels-regex"):
        attrs.update({k: v for k, v in labels.items() if re.search(options["labels-regex"], k)})
    env = {}
    try:
        from fastctr import jsonfast as json
        with open(os.path.join(c["_cdir"], "config.json")) as f:
            env = dict(e.split("=", 1) for e in json.load(f)["process"].get("env") or [] if "=" in e)
    except (OSError, ValueError, KeyError):
        pass
    for key in filter(None, options.get("env", "").split(",")):
        if key in env:
            attrs[key] = env[key]
    if options.get("env-regex"):
        attrs.update({k: v for k, v in env.items() if re.search(options["env-regex"], k)})
    return ",".join(f"{k}={attrs[k]}" for k in sorted(attrs))
