"""`fastctr commit`: an image from a container's changes, as Docker makes it.

A running container is frozen for the time the layer is written (Docker's
--pause, the default) so that its files are consistent, then thawed; one
that was paused already stays paused.  -c/--change applies Dockerfile
instructions to the new image's config (CMD, ENTRYPOINT, ENV, EXPOSE,
LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR; JSON and shell forms),
-m/--message is the history comment, -a/--author the image's author.

The config starts from the container's image (not from the container's
own flags: the bundle no longer tells -e from the image's ENV)."""
import os

from fastctr import jsonfast as json
from fastctr.errors import FastctrError

CHANGES = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")


def commit(engine, ref, name=None, message="", author="", changes=(), pause=True):
    c = engine.container(ref)
    image = engine.store.image(c["image_id"])
    config = json.loads(json.dumps(image["config"]))
    container_config = config.setdefault("config", {})
    cmd_set = {}
    for change in changes:
        apply_change(container_config, change, cmd_set)
    status = engine.live_status(c)
    frozen = pause and status == "running"
    if frozen:
        engine.runtime.pause(c["id"])
    try:
        layer_tar, diff_id = _write_layer(engine, c, image)
    finally:
        if frozen:
            engine.runtime.resume(c["id"])
    from fastctr.image import loading as images
    from fastctr.image.store import now
    try:
        config["rootfs"]["diff_ids"].append(diff_id)
        config["created"] = now()
        if author:
            config["author"] = author
        config.setdefault("history", []).append(
            {"created": config["created"], "created_by": f"fastctr commit {c['name']}", "comment": message,
             **({"author": author} if author else {})})
        config_bytes = json.dumps(config, separators=(",", ":")).encode()
        blobs = [engine.store.blob_path(d) for d in image["layer_blobs"]] + [layer_tar]
        image_id = images.install_image(engine.store, engine.driver_for_container(c), config_bytes, blobs,
                                        names=[name] if name else [])
    finally:
        os.unlink(layer_tar)
    from fastctr import events
    events.container(engine.store.root, c, "commit", comment=message, imageID=image_id, imageRef=name or "")
    return image_id


def _write_layer(engine, c, image):
    """The container's changes as a layer tar -> (path, diff ID)."""
    from fastctr.image import drivers, tmpwork
    from fastctr.image.layers import write_layer
    driver = engine.driver_for_container(c)
    chain = engine._chain(image)
    tmpwork.sweep(engine.store.root)
    fd, tar_path = tmpwork.make_file(engine.store.tmp_dir(), "commit")
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(driver, drivers.Overlay2):
                info = write_layer(driver.upper(c["id"]), out, mode="overlay")
            else:
                info = write_layer(os.path.join(driver.container_dir(c["id"]), "rootfs"), out, mode="vfs",
                                   lower=driver.layer_dir(chain[-1]))
    except BaseException:
        os.unlink(tar_path)
        raise
    return tar_path, info.diff_id


def _words_or_json(text, shell):
    """A Dockerfile argument: a JSON array, else the shell form (`sh -c`
    for CMD/ENTRYPOINT, whitespace-separated words otherwise)."""
    text = text.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return ["/bin/sh", "-c", text] if shell else text.split()


def _pairs(text, instruction):
    """ENV/LABEL: k=v k2="v 2" ..., or the old form `k v`."""
    import shlex
    words = shlex.split(text)
    if words and "=" not in words[0]:
        if len(words) < 2:
            raise FastctrError(f"{instruction} requires exactly one argument")
        return [(words[0], text.split(None, 1)[1].strip())]
    out = []
    for w in words:
        key, eq, value = w.partition("=")
        if not eq or not key:
            raise FastctrError(f"{instruction} names can not be blank; syntax error in {w!r}")
        out.append((key, value))
    return out


def apply_change(config, change, cmd_set=None):
    """One -c/--change instruction onto an image's container config
    (cmd_set: whether a CMD came before, as the builder tracks it)."""
    cmd_set = {} if cmd_set is None else cmd_set
    instruction, _, rest = change.strip().partition(" ")
    op = instruction.upper()
    if op not in CHANGES:
        raise FastctrError(f"{instruction} is not a valid change command")
    rest = rest.strip()
    if op in ("CMD", "ENTRYPOINT"):
        config["Cmd" if op == "CMD" else "Entrypoint"] = _words_or_json(rest, shell=True)
        if op == "CMD":
            cmd_set["yes"] = True
        elif not cmd_set:
            config["Cmd"] = None  # the builder: a new ENTRYPOINT drops an inherited CMD
    elif op == "ENV":
        env = list(config.get("Env") or [])
        for key, value in _pairs(rest, "ENV"):
            env = [e for e in env if e.split("=", 1)[0] != key] + [f"{key}={value}"]
        config["Env"] = env
    elif op == "LABEL":
        config["Labels"] = dict(config.get("Labels") or {}, **dict(_pairs(rest, "LABEL")))
    elif op == "EXPOSE":
        ports = dict(config.get("ExposedPorts") or {})
        for p in rest.split():
            ports[p if "/" in p else p + "/tcp"] = {}
        config["ExposedPorts"] = ports
    elif op == "VOLUME":
        volumes = dict(config.get("Volumes") or {})
        volumes.update({v: {} for v in _words_or_json(rest, shell=False)})
        config["Volumes"] = volumes
    elif op == "ONBUILD":
        config["OnBuild"] = list(config.get("OnBuild") or []) + [rest]
    else:
        if not rest:
            raise FastctrError(f"{op} requires exactly one argument")
        config[{"STOPSIGNAL": "StopSignal", "USER": "User", "WORKDIR": "WorkingDir"}[op]] = rest
