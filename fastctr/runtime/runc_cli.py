"""fastctr-runc: a runc-compatible command line over fastctr.runtime.

containerd's shim (go-runc) drives runc with global --root/--log/
--log-format and these subcommands; errors go to stderr and, as JSON lines
{"level":"error","msg":...}, to the log file where the shim looks for them.
Kept import-light: a CLI invocation is on every container's start path."""
from fastctr import jsonfast as json  # the json package costs ~25 ms to import
import os
import sys

from fastctr import __version__, cliargs
from fastctr.cliargs import UsageError

USAGE = """usage: fastctr-runc [--root DIR] [--log FILE] [--log-format text|json] COMMAND [OPTIONS] ID

commands: create, start, run, state, kill, delete, exec, ps, list, pause, resume,
          update, spec, features
"""

# option name -> (destination, takes a value)
GLOBAL_OPTS = {"--root": ("root", True), "--log": ("log", True), "--log-format": ("log_format", True),
               "--debug": ("debug", False), "--systemd-cgroup": ("systemd_cgroup", False),
               "--criu": ("criu", True), "--rootless": ("rootless", True),
               "--cgroup-parent": ("cgroup_parent", True)}
CREATE_OPTS = {"--bundle": ("bundle", True), "-b": ("bundle", True), "--pid-file": ("pid_file", True),
               "--console-socket": ("console_socket", True), "--no-pivot": ("no_pivot", False),
               "--no-new-keyring": ("no_new_keyring", False), "--preserve-fds": ("preserve_fds", True),
               "--detach": ("detach", False), "-d": ("detach", False), "--keep": ("keep", False),
               "--no-subreaper": ("no_subreaper", False)}
EXEC_OPTS = {"--process": ("process", True), "-p": ("process", True), "--detach": ("detach", False),
             "-d": ("detach", False), "--pid-file": ("pid_file", True), "--console-socket": ("console_socket", True),
             "--tty": ("tty", False), "-t": ("tty", False), "--cwd": ("cwd", True), "--env": ("env", True),
             "-e": ("env", True), "--user": ("user", True), "-u": ("user", True),
             "--additional-gids": ("gids", True), "-g": ("gids", True), "--cap": ("cap", True), "-c": ("cap", True),
             "--no-new-privs": ("no_new_privs", False), "--preserve-fds": ("preserve_fds", True),
             "--process-label": ("label", True), "--apparmor": ("apparmor", True)}
MULTI = {"env", "cap", "gids"}
COMMANDS = {
    "create": CREATE_OPTS, "run": CREATE_OPTS, "start": {}, "state": {},
    "kill": {"--all": ("all", False), "-a": ("all", False)},
    "delete": {"--force": ("force", False), "-f": ("force", False)},
    "exec": EXEC_OPTS,
    "ps": {"--format": ("format", True), "-f": ("format", True)},
    "list": {"--format": ("format", True), "-f": ("format", True), "--quiet": ("quiet", False), "-q": ("quiet", False)},
    "pause": {}, "resume": {},
    "update": {"--resources": ("resources", True), "-r": ("resources", True)},
    "spec": {"--bundle": ("bundle", True), "-b": ("bundle", True), "--rootless": ("rootless", False)},
    "features": {},
}


def parse(argv, table, stop_at_positional=False):
    return cliargs.parse(argv, table, stop_at_positional, multi=MULTI)


class Log:
    def __init__(self, path, fmt):
        self.path, self.json = path, fmt == "json"

    def error(self, msg):
        print(f"fastctr-runc: {msg}", file=sys.stderr)
        if not self.path:
            return
        import time
        t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        line = json.dumps({"level": "error", "msg": msg, "time": t}) if self.json else \
            f'time="{t}" level=error msg="{msg}"'
        try:
            with open(self.path, "a") as f:
                f.write(line + "\n")
        except OSError:
            pass


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("--version", "-v", "version"):
        print(f"runc version {__version__} (fastctr)\ncommit: fastctr-{__version__}\nspec: 1.1.0")
        return 0
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    log = Log(None, "text")
    try:
        gopts, rest = parse(argv, GLOBAL_OPTS, stop_at_positional=True)
        log = Log(gopts.get("log"), gopts.get("log_format", "text"))
        if gopts.get("systemd_cgroup"):
            raise UsageError("--systemd-cgroup: the systemd cgroup driver is not supported; use cgroupfs "
                             "(containerd: SystemdCgroup = false; kubelet: cgroupDriver: cgroupfs)")
        if not rest:
            raise UsageError("no command given")
        cmd, args = rest[0], rest[1:]
        if cmd not in COMMANDS:
            raise UsageError(f"unknown command {cmd!r}")
        opts, pos = parse(args, COMMANDS[cmd], stop_at_positional=(cmd == "exec"))
        return globals()["cmd_" + cmd](gopts, opts, pos) or 0
    except UsageError as e:
        log.error(f"{e}\n{USAGE}".rstrip())
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # every error becomes one line: the shim reads it
        from fastctr.errors import FastctrError
        if not isinstance(e, (FastctrError, OSError, ValueError)):
            raise
        log.error(str(e))
        return getattr(e, "exit_code", 1) if cmd in ("run", "exec") else 1


def _runtime(g):
    from fastctr.runtime.lifecycle import Runtime
    return Runtime(root=g.get("root"), cgroup_parent=g.get("cgroup_parent"))


def _one_id(pos, cmd):
    if len(pos) != 1:
        raise UsageError(f"{cmd} needs exactly one container id")
    return pos[0]


def cmd_create(g, o, pos):
    _runtime(g).create(_one_id(pos, "create"), o.get("bundle", "."), pid_file=o.get("pid_file"),
                       console_socket=o.get("console_socket"), no_pivot=bool(o.get("no_pivot")),
                       preserve_fds=int(o.get("preserve_fds", 0)))


def cmd_run(g, o, pos):
    detach = bool(o.get("detach"))
    result = _runtime(g).run(_one_id(pos, "run"), o.get("bundle", "."), pid_file=o.get("pid_file"),
                             console_socket=o.get("console_socket"), no_pivot=bool(o.get("no_pivot")),
                             preserve_fds=int(o.get("preserve_fds", 0)), detach=detach)
    return 0 if detach else result


def cmd_start(g, o, pos):
    _runtime(g).start(_one_id(pos, "start"))


def cmd_state(g, o, pos):
    print(json.dumps(_runtime(g).state(_one_id(pos, "state")), indent=2))


def cmd_kill(g, o, pos):
    if not 1 <= len(pos) <= 2:
        raise UsageError("kill needs a container id and an optional signal")
    _runtime(g).kill(pos[0], pos[1] if len(pos) == 2 else "TERM", all=bool(o.get("all")))


def cmd_delete(g, o, pos):
    from fastctr.errors import ContainerNotFound
    cid = _one_id(pos, "delete")
    try:
        _runtime(g).delete(cid, force=bool(o.get("force")))
    except ContainerNotFound:
        if not o.get("force"):
            raise


def cmd_exec(g, o, pos):
    """As runc: a container that cannot take the process (missing, paused,
    stopped) is 255 and "exec failed: ..."; the command's own failure to
    run is 127 (not found) or 126 (not executable)."""
    from fastctr.errors import ContainerNotFound, InvalidState
    try:
        return _exec(g, o, pos)
    except (ContainerNotFound, InvalidState) as e:
        e.args = (f"exec failed: {e}",)
        e.exit_code = 255
        raise


def _exec(g, o, pos):
    if not pos:
        raise UsageError("exec needs a container id")
    rt = _runtime(g)
    cid, cmdline = pos[0], pos[1:]
    if o.get("process"):
        process = json.load_path(o["process"], "--process")
        if not isinstance(process, dict):
            from fastctr.errors import DocumentError
            raise DocumentError(f"--process {o['process']}: must be a JSON object")
    else:
        if not cmdline:
            raise UsageError("exec needs --process or a command")
        process = dict(rt.get(cid).st["config"].get("process") or {})
        process["args"] = cmdline
        process["terminal"] = bool(o.get("tty"))
        if o.get("cwd"):
            process["cwd"] = o["cwd"]
        if o.get("env"):
            process["env"] = list(process.get("env") or []) + o["env"]
        if o.get("user"):
            uid, _, gid = o["user"].partition(":")
            process["user"] = {"uid": int(uid), "gid": int(gid or 0)}
        if o.get("gids"):
            process.setdefault("user", {})["additionalGids"] = [int(x) for x in o["gids"]]
        if o.get("cap"):
            caps = dict(process.get("capabilities") or {})
            for k in ("bounding", "effective", "permitted", "ambient"):
                caps[k] = list(caps.get(k) or []) + o["cap"]
            process["capabilities"] = caps
        if o.get("no_new_privs"):
            process["noNewPrivileges"] = True
    detach = bool(o.get("detach"))
    result = rt.exec(cid, process, detach=detach, pid_file=o.get("pid_file"),
                     console_socket=o.get("console_socket"), preserve_fds=int(o.get("preserve_fds", 0)))
    return 0 if detach else result


def cmd_ps(g, o, pos):
    pids = _runtime(g).ps(_one_id(pos, "ps"))
    if o.get("format") == "json":
        print(json.dumps(pids))
    else:
        print("PID")
        for pid in pids:
            print(pid)


def cmd_list(g, o, pos):
    items = [c.oci_state() for c in _runtime(g).list()]
    if o.get("quiet"):
        for s in items:
            print(s["id"])
    elif o.get("format") == "json":
        print(json.dumps(items))
    else:
        print(f"{'ID':<24}{'PID':<10}{'STATUS':<10}{'BUNDLE':<40}CREATED")
        for s in items:
            print(f"{s['id']:<24}{s['pid']:<10}{s['status']:<10}{s['bundle']:<40}{s['created']}")


def cmd_pause(g, o, pos):
    _runtime(g).pause(_one_id(pos, "pause"))


def cmd_resume(g, o, pos):
    _runtime(g).resume(_one_id(pos, "resume"))


def cmd_update(g, o, pos):
    cid = _one_id(pos, "update")
    src = o.get("resources")
    if not src:
        raise UsageError("update needs --resources FILE (or - for stdin)")
    if src == "-":
        try:
            res = json.load(sys.stdin)
        except ValueError as e:
            from fastctr.errors import DocumentError
            raise DocumentError(f"--resources -: not valid JSON: {e}") from None
    else:
        res = json.load_path(src, "--resources")
    _runtime(g).update(cid, res)


def cmd_spec(g, o, pos):
    from fastctr.runtime.defaults import default_spec
    path = os.path.join(o.get("bundle", "."), "config.json")
    if os.path.exists(path):
        raise UsageError(f"{path} already exists; remove it first")
    with open(path, "w") as f:
        json.dump(default_spec(rootless=bool(o.get("rootless"))), f, indent=2)


def cmd_features(g, o, pos):
    from fastctr.runtime import spec
    features = {
        "ociVersionMin": "1.0.0", "ociVersionMax": "1.1.0",
        "hooks": list(spec.HOOK_KINDS),
        "mountOptions": sorted(set(spec.MOUNT_FLAGS) | set(spec.PROPAGATION)),
        "linux": {
            "namespaces": sorted(spec.NAMESPACES),
            "capabilities": sorted(spec.CAP_BITS),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {"enabled": False}, "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"org.opencontainers.runc.version": __version__},
    }
    print(json.dumps(features, indent=2))


if __name__ == "__main__":
    sys.exit(main())
