"""The metadata instructions: how each one changes the image config, and
the history line BuildKit writes for it (`docker history` reads these).

ENV, LABEL, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL, CMD, ENTRYPOINT,
SHELL, HEALTHCHECK, ONBUILD and MAINTAINER change the config only: their
history entries are `empty_layer` (but for WORKDIR other than /, which also
makes its directory, a layer: fastctr.build.steps).  Values are substituted (ENV, LABEL,
WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL) with the stage's environment;
CMD, ENTRYPOINT and HEALTHCHECK are not (their shell does it), as Docker."""
import posixpath
import re

from fastctr import jsonfast as json
from fastctr.build.context import BuildError

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHELL = ["/bin/sh", "-c"]
METADATA = {"ENV", "LABEL", "WORKDIR", "USER", "EXPOSE", "VOLUME", "STOPSIGNAL", "CMD", "ENTRYPOINT", "SHELL",
            "HEALTHCHECK", "ONBUILD", "MAINTAINER"}


def go_list(words):
    """Go's %v of a []string (BuildKit's history of SHELL, VOLUME)."""
    return "[" + " ".join(words) + "]"


def quoted_list(words):
    """BuildKit's history of CMD and ENTRYPOINT: ["a" "b"]."""
    return "[" + " ".join(json.dumps(w) for w in words) + "]"


def command_words(inst, shell):
    """CMD, ENTRYPOINT, RUN: the exec form as written, the shell form run
    by the stage's SHELL."""
    if inst.json_form:
        return list(inst.args)
    return list(shell) + [" ".join(inst.args)]


def set_env(cfg, pairs):
    env = list(cfg.get("Env") or [])
    for key, value in pairs:
        env = [e for e in env if e.split("=", 1)[0] != key] + [f"{key}={value}"]
    cfg["Env"] = env


def env_dict(cfg):
    return dict(e.split("=", 1) if "=" in e else (e, "") for e in cfg.get("Env") or [])


def apply(inst, image_config, env, escape, cmd_set):
    """One metadata instruction onto image_config (the whole image config,
    changed in place) -> its history line."""
    from fastctr.build import dockerfile
    cfg = image_config.setdefault("config", {})
    op = inst.cmd
    shell = cfg.get("Shell") or DEFAULT_SHELL
    if op == "ENV":
        pairs = dockerfile.key_values(inst, env, escape)
        set_env(cfg, pairs)
        return "ENV " + " ".join(f"{k}={v}" for k, v in pairs)
    if op == "LABEL":
        pairs = dockerfile.key_values(inst, env, escape)
        cfg["Labels"] = dict(cfg.get("Labels") or {}, **dict(pairs))
        return "LABEL " + " ".join(f"{k}={v}" for k, v in pairs)
    if op == "WORKDIR":
        path = dockerfile.expand(_one(inst), env, escape)
        cfg["WorkingDir"] = posixpath.normpath(posixpath.join(cfg.get("WorkingDir") or "/", path))
        return f"WORKDIR {cfg['WorkingDir']}"
    if op == "USER":
        cfg["User"] = dockerfile.expand(_one(inst), env, escape)
        return f"USER {cfg['User']}"
    if op == "STOPSIGNAL":
        cfg["StopSignal"] = _signal(dockerfile.expand(_one(inst), env, escape))
        return f"STOPSIGNAL {cfg['StopSignal']}"
    if op == "EXPOSE":
        ports = dict(cfg.get("ExposedPorts") or {})
        for word in _words(inst, env, escape):
            for port in _ports(word):
                ports[port] = {}
        cfg["ExposedPorts"] = ports
        return "EXPOSE " + "map[" + " ".join(f"{p}:{{}}" for p in sorted(ports)) + "]"
    if op == "VOLUME":
        words = _words(inst, env, escape)
        if not words or any(not w for w in words):
            raise BuildError("VOLUME specified can not be an empty string")
        cfg["Volumes"] = dict(cfg.get("Volumes") or {}, **{w: {} for w in words})
        return f"VOLUME {go_list(words)}"
    if op in ("CMD", "ENTRYPOINT"):
        words = command_words(inst, shell)
        if op == "CMD":
            cfg["Cmd"] = words
            cmd_set["yes"] = True
        else:
            cfg["Entrypoint"] = words
            if not cmd_set:
                cfg["Cmd"] = None  # a new ENTRYPOINT drops an inherited CMD (Docker)
        return f"{op} {quoted_list(words)}"
    if op == "SHELL":
        if not inst.json_form or not inst.args:
            raise BuildError("SHELL requires the arguments to be in JSON form")
        cfg["Shell"] = list(inst.args)
        return f"SHELL {go_list(inst.args)}"
    if op == "HEALTHCHECK":
        cfg["Healthcheck"] = healthcheck(inst, shell)
        return "HEALTHCHECK " + inst.original.split(None, 1)[1] if " " in inst.original else "HEALTHCHECK"
    if op == "ONBUILD":
        trigger = inst.args[0] if inst.args else ""
        cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [trigger]
        return f"ONBUILD {trigger}"
    if op == "MAINTAINER":
        image_config["author"] = " ".join(inst.args)
        return f"MAINTAINER {image_config['author']}"
    raise BuildError(f"unknown instruction: {op}")


def _one(inst):
    text = " ".join(inst.args).strip()
    if not text:
        raise BuildError(f"{inst.cmd} requires exactly one argument")
    return text


def _words(inst, env, escape):
    """VOLUME's and EXPOSE's words: split as written, then each expanded (Docker)."""
    from fastctr.build import dockerfile
    if inst.cmd == "EXPOSE":
        return [x for w in inst.words for x in dockerfile.expand_words(w, env, escape)]
    return [dockerfile.expand(w, env, escape) for w in inst.words]


def _ports(word):
    """EXPOSE's words as `run --expose` reads them (80, 53/udp, 8000-8002)."""
    from fastctr.engine.netflags import parse_expose
    from fastctr.errors import ConfigError
    try:
        return parse_expose([word])
    except ConfigError:
        raise BuildError(f"invalid containerPort: {word}") from None


def _signal(text):
    import signal
    if text.isdigit() and 0 < int(text) < 65:
        return text
    name = text.upper() if text.upper().startswith("SIG") else "SIG" + text.upper()
    if not hasattr(signal, name) and not re.fullmatch(r"SIGRTM(IN|AX)([+-]\d+)?", name):
        raise BuildError(f"failed to process \"{text}\": invalid signal")
    return text


def duration_ns(text, flag):
    """A Go duration (1m30s, 500ms) in nanoseconds, as `run --health-*` reads it."""
    from fastctr.cliargs import UsageError
    from fastctr.engine.health import parse_duration
    try:
        return parse_duration(text, flag)
    except UsageError as e:
        raise BuildError(str(e)) from None  # a Dockerfile's error: exit 1, not a flag's 125


def healthcheck(inst, shell):
    """HEALTHCHECK NONE | [--interval --timeout --start-period --start-interval --retries] CMD ..."""
    args = list(inst.args)
    if args and args[0].upper() == "NONE":
        if len(args) > 1 or inst.flags:
            raise BuildError("HEALTHCHECK NONE takes no arguments")
        return {"Test": ["NONE"]}
    inner = getattr(inst, "inner", None)
    if inner is None or inner.cmd != "CMD":
        raise BuildError("Unknown type in HEALTHCHECK (try CMD)")
    test = ["CMD"] + list(inner.args) if inner.json_form else ["CMD-SHELL", " ".join(inner.args)]
    out = {"Test": test}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                      ("start-interval", "StartInterval")):
        value = inst.flag(flag)
        if value:
            out[key] = duration_ns(value, f"--{flag}")
    retries = inst.flag("retries")
    if retries:
        if not retries.isdigit() or int(retries) < 1:
            raise BuildError("--retries cannot be 0 or negative")
        out["Retries"] = int(retries)
    return out
