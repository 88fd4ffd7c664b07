"""Build test images by hand: OCI layouts, docker save archives, layers with
every whiteout/link/mode case.  Pure Python (tarfile), so the tests do not
depend on another engine; tests that use skopeo/umoci convert these."""
import gzip
import hashlib
import io
import json
import os
import tarfile

from fastctr.runtime.bundle import find_busybox


def tar_bytes(entries, fmt=tarfile.PAX_FORMAT):
    """entries: list of (name, kind, extra) -> uncompressed tar bytes.
    kind: 'file' (extra=bytes or (bytes, mode)), 'dir', 'symlink' (extra=target),
    'hardlink' (extra=target), 'whiteout', 'opaque', 'raw' (extra=TarInfo, data)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, kind, extra in entries:
            if kind == "raw":
                info, data = extra
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
                continue
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            data = None
            if kind == "file":
                data, mode = extra if isinstance(extra, tuple) else (extra, 0o644)
                info.size, info.mode = len(data), mode
            elif kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, extra or 0o755
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, extra
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, extra
            elif kind == "whiteout":  # name: the path to delete
                head, tail = os.path.split(name)
                info.name = os.path.join(head, ".wh." + tail)
            elif kind == "opaque":  # name: the directory whose lower content is hidden
                info.name = os.path.join(name, ".wh..wh..opq")
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def busybox_layer():
    with open(find_busybox(), "rb") as f:
        bb = f.read()
    entries = [("bin", "dir", None), ("bin/busybox", "file", (bb, 0o755))]
    for applet in ("sh", "ls", "cat", "echo", "id", "true", "false", "stat", "readlink", "test", "sleep",
                   "hostname", "pwd", "env", "touch", "mkdir", "find", "sort", "wc", "head", "ps", "grep"):
        entries.append((f"bin/{applet}", "symlink", "busybox"))
    entries += [("etc", "dir", None),
                ("etc/passwd", "file", b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"),
                ("etc/group", "file", b"root:x:0:\napp:x:1000:\nstaff:x:50:app\n"),
                ("tmp", "dir", 0o1777), ("root", "dir", 0o700), ("home", "dir", None),
                ("home/app", "dir", None)]
    return tar_bytes(entries)


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_blob(layout, data):
    digest = sha(data)
    path = os.path.join(layout, "blobs", "sha256", digest[7:])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return digest


def image_config(layer_tars, cmd=("/bin/sh",), env=None, **config):
    return {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
            "config": {"Cmd": list(cmd), "Env": env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                       **config},
            "rootfs": {"type": "layers", "diff_ids": [sha(t) for t in layer_tars]},
            "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"layer {i}"} for i in range(len(layer_tars))]}


def write_oci_layout(layout, layer_tars, ref_name="test:latest", compress=True, **config_kw):
    os.makedirs(layout, exist_ok=True)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    layers = []
    for t in layer_tars:
        data = gzip.compress(t, mtime=0) if compress else t
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compress else ""),
                       "digest": write_blob(layout, data), "size": len(data)})
    config = json.dumps(image_config(layer_tars, **config_kw)).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": write_blob(layout, config), "size": len(config)},
                           "layers": layers}).encode()
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": write_blob(layout, manifest),
            "size": len(manifest)}
    if ref_name:
        desc["annotations"] = {"org.opencontainers.image.ref.name": ref_name}
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [desc]}, f)
    return sha(config)


def write_docker_archive(path, layer_tars, repo_tags=("test:latest",), **config_kw):
    config = json.dumps(image_config(layer_tars, **config_kw)).encode()
    with tarfile.open(path, "w") as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        names = []
        for i, t in enumerate(layer_tars):
            names.append(f"layer{i}/layer.tar")
            add(names[-1], t)
        add(sha(config)[7:] + ".json", config)
        add("manifest.json", json.dumps([{"Config": sha(config)[7:] + ".json", "RepoTags": list(repo_tags),
                                          "Layers": names}]).encode())
    return sha(config)


def tar_directory(src, dest_tar):
    with tarfile.open(dest_tar, "w") as tar:
        for name in sorted(os.listdir(src)):
            tar.add(os.path.join(src, name), arcname=name)
