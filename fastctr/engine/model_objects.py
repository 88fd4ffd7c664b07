"""Docker's ImageInspect and Volume objects (Engine API v1.51, docker 28),
made from the image store and the volume directories.  Imported only by
the inspect commands."""
import os
import time

from fastctr.errors import ConfigError



class NoSuchVolume(ConfigError, LookupError):
    pass


ZERO_TIME = "0001-01-01T00:00:00Z"
# Config keys docker 28 prints even when the image does not set them
# (moby's legacyConfigFields["current"]); the others only when set.
IMAGE_CONFIG_ALWAYS = {"Cmd": None, "Entrypoint": None, "Env": None, "Labels": None, "OnBuild": None, "User": "",
                       "Volumes": None, "WorkingDir": ""}


def image_inspect(engine, image_id):
    im = engine.store.image(image_id)
    cfg = im["config"]
    history = cfg.get("history") or []
    config = dict(IMAGE_CONFIG_ALWAYS, **(cfg.get("config") or {}))
    doc = {"Id": im["id"], "RepoTags": list(im["tags"]), "RepoDigests": list(im.get("digests") or []), "Parent": "",
           "Comment": cfg.get("comment") or (history[-1].get("comment", "") if history else "")}
    if cfg.get("created"):
        doc["Created"] = cfg["created"]
    doc.update({"DockerVersion": cfg.get("docker_version", ""), "Author": cfg.get("author", ""),
                "Config": {k: config[k] for k in sorted(config)}, "Architecture": cfg.get("architecture", "")})
    if cfg.get("variant"):
        doc["Variant"] = cfg["variant"]
    doc["Os"] = cfg.get("os", "")
    if cfg.get("os.version"):
        doc["OsVersion"] = cfg["os.version"]
    rootfs = cfg.get("rootfs") or {}
    doc.update({"Size": im["size"] or 0, "GraphDriver": _image_graph_driver(engine, im),
                "RootFS": {"Type": rootfs.get("type", "layers"), "Layers": list(rootfs.get("diff_ids") or [])},
                "Metadata": {"LastTagTime": ZERO_TIME}})
    if not doc["RootFS"]["Layers"]:
        del doc["RootFS"]["Layers"]  # omitempty
    return doc


def _image_graph_driver(engine, im):
    """Docker's overlay2 view of an image: its top layer is the upper
    directory, the ones below it the lower directories."""
    driver = engine.driver
    chain = engine._chain(im)
    if driver.name != "overlay2" or not chain:
        return {"Data": None, "Name": driver.name}
    top = driver.layer_dir(chain[-1])
    data = {}
    if len(chain) > 1:
        data["LowerDir"] = ":".join(os.path.join(driver.layer_dir(c), "diff") for c in reversed(chain[:-1]))
    data.update({"MergedDir": os.path.join(top, "merged"), "UpperDir": os.path.join(top, "diff"),
                 "WorkDir": os.path.join(top, "work")})
    return {"Data": data, "Name": driver.name}


def volume_doc(store, name):
    """Docker's Volume of the local driver."""
    from fastctr.engine.volumes import Volumes
    volumes = Volumes(store)
    if not name or "/" in name or not volumes.exists(name):
        raise NoSuchVolume(f"no such volume: {name}")
    created = os.stat(os.path.join(volumes.root, name)).st_mtime  # holds only _data: unchanged since made
    anonymous = len(name) == 64 and all(ch in "0123456789abcdef" for ch in name)
    return {"CreatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)), "Driver": "local",
            "Labels": {"com.docker.volume.anonymous": ""} if anonymous else {},
            "Mountpoint": volumes.data_path(name), "Name": name, "Options": None if anonymous else {},
            "Scope": "local"}
