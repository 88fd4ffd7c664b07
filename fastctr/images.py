"""Getting images in: `load` (docker save archives, OCI archives and OCI
image-layout directories, told apart by their contents), `import` of a plain
root filesystem tar, and the built-in hello-world image."""
import contextlib
import hashlib
import json
import os
import shutil
import tarfile
import tempfile

from fastctr.store import StoreError, chain_ids, now, sha256_file, validate_name

INDEX_TYPES = {"application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json"}
HELLO_NAME = "hello-world:latest"


def host_platform():
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
            "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}.get(machine, machine)


def install_image(store, driver, config_bytes, layer_blobs, manifest=None, names=()):
    """Unpack the layers (bottom first) and record the image.

    On failure every layer this call created is removed again, so the
    store is left as it was."""
    try:
        config = json.loads(config_bytes)
        diff_ids = config["rootfs"]["diff_ids"]
    except (ValueError, KeyError, TypeError):
        raise StoreError("image config is not valid JSON with rootfs.diff_ids") from None
    if len(diff_ids) != len(layer_blobs):
        raise StoreError(f"image config lists {len(diff_ids)} layers but the image has {len(layer_blobs)}")
    names = [validate_name(n) for n in names]
    chain = chain_ids(diff_ids)
    made, new_blobs = [], []
    try:
        blob_digests, size = [], 0
        for i, blob in enumerate(layer_blobs):
            parent = chain[i - 1] if i else None
            if driver.ensure_layer(chain[i], diff_ids[i], parent, blob):
                made.append(chain[i])
            digest = sha256_file(blob)
            if not store.has_blob(digest):
                new_blobs.append(digest)
            store.put_blob_file(blob, digest)
            blob_digests.append(digest)
            row = store.layer_row(driver.name, chain[i])
            size += row[3] or 0
        image_id = store.put_blob_bytes(config_bytes)
        store.add_image(image_id, config_bytes, manifest, blob_digests, size, names)
        return image_id
    except BaseException:
        keep = store.referenced_chain_ids()
        for chain_id in reversed(made):
            if chain_id not in keep:
                driver.remove_layer(chain_id)
        used = store.referenced_blobs()
        for digest in new_blobs:
            if digest not in used:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(store.blob_path(digest))
        raise


# ------------------------------------------------------------------- load

def load(store, driver, path):
    """Load every image in PATH; returns [(image_id, [names])]."""
    if os.path.isdir(path):
        return _load_dir(store, driver, path)
    if not os.path.exists(path):
        raise StoreError(f"{path}: no such file or directory")
    with _unpacked_archive(store, path) as tmp:
        return _load_dir(store, driver, tmp)


def _load_dir(store, driver, path):
    if os.path.exists(os.path.join(path, "manifest.json")):
        return _load_docker_archive(store, driver, path)
    if os.path.exists(os.path.join(path, "index.json")):
        return _load_oci_layout(store, driver, path)
    raise StoreError(f"{path}: neither a docker save archive (manifest.json) nor an OCI layout (index.json)")


@contextlib.contextmanager
def _unpacked_archive(store, path):
    # Unpacked next to the store so blobs can be hard-linked into it.
    os.makedirs(store.root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="load-", dir=store.root)
    try:
        try:
            with tarfile.open(path, "r:*") as tar:
                # The 'data' filter refuses absolute names, '..', links out of
                # the directory and device files in the outer archive.
                tar.extractall(tmp, filter="data")
        except (tarfile.TarError, EOFError, OSError, ValueError) as e:
            raise StoreError(f"{path}: not a readable image archive: {e}") from None
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _inside(base, rel):
    full = os.path.realpath(os.path.join(base, rel))
    if not full.startswith(os.path.realpath(base) + os.sep):
        raise StoreError(f"archive entry {rel!r} points outside the archive")
    return full


def _load_docker_archive(store, driver, path):
    try:
        with open(os.path.join(path, "manifest.json"), "rb") as f:
            entries = json.load(f)
    except ValueError:
        raise StoreError("manifest.json of the archive is not valid JSON") from None
    out = []
    for entry in entries:
        with open(_inside(path, entry["Config"]), "rb") as f:
            config_bytes = f.read()
        blobs = [_inside(path, layer) for layer in entry.get("Layers", [])]
        names = entry.get("RepoTags") or []
        image_id = install_image(store, driver, config_bytes, blobs, names=names)
        out.append((image_id, [validate_name(n) for n in names]))
    return out


def _read_blob(layout, descriptor):
    digest = descriptor["digest"]
    path = _inside(layout, os.path.join("blobs", *digest.split(":", 1)))
    if sha256_file(path) != digest:
        raise StoreError(f"blob {digest} of the OCI layout does not match its digest")
    return path


def _pick_manifest(layout, descriptor):
    """Follow nested indexes down to one manifest for this host's platform."""
    while descriptor.get("mediaType") in INDEX_TYPES:
        with open(_read_blob(layout, descriptor), "rb") as f:
            index = json.load(f)
        manifests = index.get("manifests") or []
        arch = host_platform()
        match = [m for m in manifests if (m.get("platform") or {}).get("architecture") == arch]
        if not manifests:
            raise StoreError("an image index in the layout lists no manifests")
        descriptor = (match or manifests)[0]
    return descriptor


def _ref_name(descriptor):
    ann = descriptor.get("annotations") or {}
    full = ann.get("io.containerd.image.name")
    if full:
        return full
    ref = ann.get("org.opencontainers.image.ref.name")
    # A bare tag ("latest") names no repository: the image loads by ID only.
    if ref and ("/" in ref or ":" in ref):
        return ref
    return None


def _load_oci_layout(store, driver, path):
    with open(os.path.join(path, "index.json"), "rb") as f:
        index = json.load(f)
    out = []
    for top in index.get("manifests") or []:
        descriptor = _pick_manifest(path, top)
        with open(_read_blob(path, descriptor), "rb") as f:
            manifest_bytes = f.read()
        manifest = json.loads(manifest_bytes)
        with open(_read_blob(path, manifest["config"]), "rb") as f:
            config_bytes = f.read()
        blobs = [_read_blob(path, layer) for layer in manifest.get("layers") or []]
        name = _ref_name(top)
        image_id = install_image(store, driver, config_bytes, blobs, manifest=manifest,
                                 names=[name] if name else [])
        out.append((image_id, [validate_name(name)] if name else []))
    return out


# ------------------------------------------------------------------- pull

def pull(store, driver, text, auth=None, progress=None, platform=None):
    """Pull a reference from a registry into the store; returns the image ID.
    Blobs the store already has are not downloaded again."""
    from fastctr import registry
    ref = registry.Reference.parse(text)
    os.makedirs(store.root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="pull-", dir=store.root)
    try:
        layout = os.path.join(tmp, "layout")
        registry.pull_to_layout(ref, layout, auth=auth, platform=platform, have_blob=store.has_blob,
                                progress=progress)
        (image_id, _), = _load_oci_layout(store, driver, layout)
        store.tag(image_id, _pull_name(ref))
        return image_id
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _pull_name(ref):
    """docker.io/library/busybox:latest is known as busybox:latest, as in Docker."""
    name = ref.repository
    if ref.host != "docker.io":
        name = f"{ref.netloc}/{name}"
    elif name.startswith("library/"):
        name = name[len("library/"):]
    return f"{name}:{ref.tag}" if ref.tag else f"{name}@{ref.digest}"


# ----------------------------------------------------------------- import

def _diff_id(path):
    """sha256 of the uncompressed tar stream (gzip, zstd or plain)."""
    with open(path, "rb") as f:
        magic = f.read(4)
        f.seek(0)
        if magic[:2] == b"\x1f\x8b":
            import gzip
            stream = gzip.GzipFile(fileobj=f)
        elif magic == b"\x28\xb5\x2f\xfd":
            import zstandard
            stream = zstandard.ZstdDecompressor().stream_reader(f)
        else:
            stream = f
        h = hashlib.sha256()
        try:
            while True:
                b = stream.read(1 << 20)
                if not b:
                    break
                h.update(b)
        except (OSError, EOFError) as e:
            raise StoreError(f"{path}: corrupt compressed stream: {e}") from None
    return "sha256:" + h.hexdigest()


def import_rootfs(store, driver, tar_path, name=None, changes=None):
    """A one-layer image from a root filesystem tar (plain or compressed)."""
    if not os.path.isfile(tar_path):
        raise StoreError(f"{tar_path}: no such file")
    diff_id = _diff_id(tar_path)
    config = {
        "created": now(), "architecture": host_platform(), "os": "linux",
        "config": changes or {}, "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": now(), "created_by": f"fastctr import {os.path.basename(tar_path)}"}],
    }
    config_bytes = json.dumps(config, separators=(",", ":")).encode()
    return install_image(store, driver, config_bytes, [tar_path], names=[name] if name else [])


def ensure_hello_world(store, driver):
    """The built-in hello-world image, made from the static /hello program
    built at install time (fastctr/data/hello)."""
    try:
        return store.resolve(HELLO_NAME)
    except LookupError:
        pass
    program = os.path.join(os.path.dirname(__file__), "data", "hello")
    if not os.path.exists(program):
        raise StoreError(f"the hello-world program is missing from the installation ({program})")
    os.makedirs(store.root, exist_ok=True)
    fd, tar_path = tempfile.mkstemp(prefix="hello-", suffix=".tar", dir=store.root)
    os.close(fd)
    try:
        with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
            info = tar.gettarinfo(program, arcname="hello")
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = 0o755
            info.mtime = 0
            with open(program, "rb") as f:
                tar.addfile(info, f)
        return import_rootfs(store, driver, tar_path, HELLO_NAME, changes={"Cmd": ["/hello"]})
    finally:
        os.unlink(tar_path)
