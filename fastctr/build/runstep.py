"""RUN as a step: its command line (exec form, shell form through the
stage's SHELL, heredocs), flags (--mount, --network, --security), cache key
and history line; the container work is fastctr.build.run's."""
import os

from fastctr import jsonfast as json
from fastctr.build import cache
from fastctr.build import config as meta
from fastctr.build.state import PROXY_ARGS
from fastctr.build.context import BuildError

NETWORKS = ("default", "none", "host")


def command(inst, shell):
    """The argv RUN runs.  `RUN <<EOF` alone runs the heredoc as the shell's
    script (or, with a #! line, as a file of its own); a heredoc after a
    command goes to the shell with it, which reads it as a here-document."""
    if inst.json_form:
        return list(inst.args), None
    text = " ".join(inst.args)
    if inst.heredocs:
        words = text.split()
        if len(inst.heredocs) == 1 and len(words) == 1 and words[0].lstrip("<-").strip("'\"") == \
                inst.heredocs[0].name:
            body = inst.heredocs[0].content
            if body.startswith("#!"):
                return None, body  # a script file: run.py writes it and runs it
            return list(shell) + [body], None
        for doc in inst.heredocs:
            text += "\n" + doc.content + doc.name
    return list(shell) + [text], None


def run(stage_run, state, inst, n):
    b = stage_run.b
    cfg = state.config.get("config") or {}
    shell = cfg.get("Shell") or meta.DEFAULT_SHELL
    network = inst.flag("network") or "default"
    if network not in NETWORKS:
        raise BuildError(f"RUN --network={network}: one of {', '.join(NETWORKS)}")
    security = inst.flag("security")
    if security and security != "sandbox":
        raise BuildError(f"RUN --security={security} is not allowed: fastctr build runs steps sandboxed")
    from fastctr.build import run as runner
    mounts = runner.parse_mounts(inst.flag_all("mount"))
    argv, script = command(inst, shell)
    if script is not None:
        mounts, argv = _script_mount(b, script, mounts)
    args = stage_run.run_args(state)
    shown_args = {k: v for k, v in args.items() if k not in PROXY_ARGS}
    prefix = f"|{len(shown_args)} " + " ".join(f"{k}={v}" for k, v in sorted(shown_args.items())) + " " \
        if shown_args else ""
    created_by = f"RUN {prefix}{' '.join(argv)} # buildkit"
    key = cache.step_key(state.id, json.dumps(["RUN", argv, inst.flag_all("mount"), network, script or ""]),
                         [f"{k}={v}" for k, v in shown_args.items()])
    hit = stage_run.cached(key)
    if hit is not None:
        return hit, True
    build_network = b.options.network if network == "default" else network
    if build_network == "default":
        build_network = None
    env = [f"{k}={v}" for k, v in sorted(args.items())]
    tar_path, diff_id = runner.run(b, state, argv, env, mounts, build_network, b.progress, n)
    try:
        return stage_run.commit(state, key, tar_path, diff_id, created_by), False
    finally:
        from fastctr.image.store import rmtree
        rmtree(os.path.dirname(tar_path))


def _script_mount(builder, script, mounts):
    """A #! heredoc: written to a file bound read-only at /dev/pipes/, run as it."""
    import hashlib
    from fastctr.build import run as runner
    from fastctr.build.cache import cache_mount_root
    root = os.path.join(os.path.dirname(cache_mount_root(builder.engine.store)), "scripts")
    os.makedirs(root, exist_ok=True)
    name = hashlib.sha256(script.encode()).hexdigest()[:16]
    path = os.path.join(root, name)
    with open(path, "w") as f:
        f.write(script)
    os.chmod(path, 0o755)
    m = runner.Mount(f"type=bind,target=/dev/pipes/{name}")
    m.host = path
    return mounts + [m], [f"/dev/pipes/{name}"]
