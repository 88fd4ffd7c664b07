"""Getting images in: `load` (docker save archives, OCI archives and OCI
image-layout directories, told apart by their contents), `import` of a plain
root filesystem tar, and the built-in hello-world image."""
import contextlib
import hashlib
import json
import os
import shutil
import tarfile

from fastctr.image import tmpwork
from fastctr.errors import crash_point
from fastctr.image.store import StoreError, chain_ids, now, sha256_file, validate_name

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
    _check_config(config)
    for diff_id in _strings(diff_ids, "image config: rootfs.diff_ids"):
        _digest({"digest": diff_id}, "image config: rootfs.diff_ids")
    if len(diff_ids) != len(layer_blobs):
        raise StoreError(f"image config lists {len(diff_ids)} layers but the image has {len(layer_blobs)}")
    names = [validate_name(n) for n in names]
    chain = chain_ids(diff_ids)
    made, new_blobs = [], []
    # Shared until the image row refers to the new layers and blobs (or they
    # are rolled back): a prune meanwhile would take them as unreferenced.
    with tmpwork.ImportLock(store.root):
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
            crash_point("image:layers")
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


# The image config fields containers are made from, and their JSON types:
# checked when an image comes in, so a bad one never fails a later `run`.
_CONFIG_FIELDS = {"Env": "strings", "Cmd": "strings", "Entrypoint": "strings", "WorkingDir": str, "User": str,
                  "Volumes": dict, "ExposedPorts": dict, "Labels": dict, "StopSignal": str, "Shell": "strings"}


def _check_config(config):
    _expect(config, dict, "image config")
    run_config = config.get("config") or {}
    _expect(run_config, dict, "image config: config")
    for key, kind in _CONFIG_FIELDS.items():
        value = run_config.get(key)
        if value is None:
            continue
        if kind == "strings":
            _strings(value, f"image config: config.{key}")
        else:
            _expect(value, kind, f"image config: config.{key}")
    if config.get("created") is not None:  # kept in the store's images table: a timestamp's text
        _expect(config["created"], str, "image config: created")
    for entry in _expect(config.get("history") or [], list, "image config: history"):
        _expect(entry, dict, "each entry of image config: history")


# ------------------------------------------------------------------ prune

def prune_unreferenced(store):
    """Remove the temporary work of dead commands, then layers and blobs
    that no image refers to (what a load or pull killed between unpacking
    and recording its image left); bytes freed.  The second part waits for
    no one: while an import runs it is skipped, and the next prune does it."""
    _, freed = tmpwork.sweep(store.root)
    lock = tmpwork.ImportLock(store.root, exclusive=True)
    if not lock.acquire(wait=False):
        return freed
    try:
        from fastctr.image import drivers
        keep = store.referenced_chain_ids()
        for name, cls in drivers.DRIVERS.items():
            freed += _prune_layers(store, cls(store), keep)
        keep_blobs = {d.partition(":")[2] for d in store.referenced_blobs()}
        blobs = os.path.join(store.root, "blobs", "sha256")
        for n in _listdir(blobs):
            if _is_hex_id(n) and n not in keep_blobs:
                freed += tmpwork.tree_size(os.path.join(blobs, n))
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(blobs, n))
    finally:
        lock.release()
    return freed


def _prune_layers(store, driver, keep):
    freed = 0
    for row in store.layer_rows(driver.name):
        if row[0] not in keep:
            freed += tmpwork.tree_size(driver.layer_dir(row[0]))
            driver.remove_layer(row[0])
    known = {row[0].partition(":")[2] for row in store.layer_rows(driver.name)}
    for n in _listdir(driver.base):  # unpacked and renamed, killed before its row
        if _is_hex_id(n) and n not in known:
            freed += tmpwork.tree_size(os.path.join(driver.base, n))
            tmpwork.remove(os.path.join(driver.base, n))
    links = os.path.join(driver.base, "l")
    for n in _listdir(links):
        if not os.path.exists(os.path.join(links, n)):  # its layer is gone
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(links, n))
    return freed


def _listdir(path):
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _is_hex_id(name):
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


# ------------------------------------------------------------------- load

def load(store, driver, path):
    """Load every image in PATH; returns [(image_id, [names])]."""
    tmpwork.sweep(store.root)  # what a killed load before us left
    if os.path.isdir(path):
        return _load_dir(store, driver, path)
    if not os.path.exists(path):
        raise StoreError(f"{path}: no such file or directory")
    with _unpacked_archive(store, path) as tmp:
        return _load_dir(store, driver, tmp)


def load_stream(store, driver, stream):
    """`load` from standard input: the archive is spooled to temporary work
    (tar members must be read in any order), then loaded as a file."""
    tmpwork.sweep(store.root)
    fd, spool = tmpwork.make_file(store.tmp_dir(), "stdin")
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)
        if os.path.getsize(spool) == 0:
            raise StoreError("requested load from stdin, but stdin is empty")
        return load(store, driver, spool)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(spool)


def _load_dir(store, driver, path):
    if os.path.exists(os.path.join(path, "manifest.json")):
        return _load_docker_archive(store, driver, path)
    if os.path.exists(os.path.join(path, "index.json")):
        return _load_oci_layout(store, driver, path)
    raise StoreError(f"{path}: neither a docker save archive (manifest.json) nor an OCI layout (index.json)")


@contextlib.contextmanager
def _unpacked_archive(store, path):
    # Unpacked next to the store so blobs can be hard-linked into it.
    tmp = tmpwork.make_dir(store.tmp_dir(), "load")
    try:
        try:
            with tarfile.open(path, "r:*") as tar:
                # The 'data' filter refuses absolute names, '..', links out of
                # the directory and device files in the outer archive.
                tar.extractall(tmp, filter="data")
        except (tarfile.TarError, EOFError, OSError, ValueError) as e:
            raise StoreError(f"{path}: not a readable image archive: {e}") from None
        crash_point("load:unpacked")
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _inside(base, rel):
    full = os.path.realpath(os.path.join(base, rel))
    if not full.startswith(os.path.realpath(base) + os.sep):
        raise StoreError(f"archive entry {rel!r} points outside the archive")
    return full


# Archives come from anywhere: every field is checked for its type before it
# is used, so a malformed one is a one-line StoreError, never a TypeError.

def _json_member(base, rel, what):
    path = _inside(base, rel)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise StoreError(f"{what}: the archive has no {rel}") from None
    except OSError as e:
        raise StoreError(f"{what}: cannot read {rel}: {e.strerror}") from None
    try:
        return json.loads(data), data
    except ValueError as e:
        raise StoreError(f"{what} ({rel}) is not valid JSON: {e}") from None


def _expect(value, kind, what):
    if not isinstance(value, kind):
        names = {dict: "an object", list: "a list", str: "a string"}
        raise StoreError(f"{what} must be {names.get(kind, kind.__name__)}, not {type(value).__name__}")
    return value


def _strings(value, what):
    for item in _expect(value, list, what):
        _expect(item, str, f"each of {what}")
    return value


def _digest(descriptor, what):
    digest = _expect(_expect(descriptor, dict, what).get("digest"), str, f"{what}: digest")
    algo, _, hexd = digest.partition(":")
    if algo != "sha256" or len(hexd) != 64 or not all(c in "0123456789abcdef" for c in hexd):
        raise StoreError(f"{what}: invalid digest {digest!r}")
    return digest


def _load_docker_archive(store, driver, path):
    entries, _ = _json_member(path, "manifest.json", "manifest.json of the archive")
    if not _expect(entries, list, "manifest.json of the archive"):
        raise StoreError("manifest.json of the archive lists no images")
    wanted = []  # every entry checked before the first image is installed
    for n, entry in enumerate(entries):
        where = f"manifest.json image {n + 1}"
        _expect(entry, dict, where)
        config = _expect(entry.get("Config"), str, f"{where}: Config")
        layers = _strings(entry.get("Layers") or [], f"{where}: Layers")
        names = [validate_name(n) for n in _strings(entry.get("RepoTags") or [], f"{where}: RepoTags")]
        _, config_bytes = _json_member(path, config, f"{where}: config")
        wanted.append((config_bytes, [_layer_member(path, layer, where) for layer in layers], names))
    return [(install_image(store, driver, config_bytes, blobs, names=names), names)
            for config_bytes, blobs, names in wanted]


def _layer_member(base, rel, where):
    path = _inside(base, rel)
    if not os.path.isfile(path):
        raise StoreError(f"{where}: layer {rel} is not a file in the archive")
    return path


def _read_blob(layout, descriptor, what="descriptor"):
    digest = _digest(descriptor, what)
    path = _inside(layout, os.path.join("blobs", *digest.split(":", 1)))
    if not os.path.isfile(path):
        raise StoreError(f"blob {digest} is missing from the OCI layout")
    if sha256_file(path) != digest:
        raise StoreError(f"blob {digest} of the OCI layout does not match its digest")
    return path


def _json_blob(layout, descriptor, what):
    path = _read_blob(layout, descriptor, what)
    with open(path, "rb") as f:
        data = f.read()
    try:
        return _expect(json.loads(data), dict, what), data
    except ValueError as e:
        raise StoreError(f"{what} {descriptor['digest']} is not valid JSON: {e}") from None


def _pick_manifest(layout, descriptor):
    """Follow nested indexes down to one manifest for this host's platform."""
    while isinstance(descriptor.get("mediaType"), str) and descriptor["mediaType"] in INDEX_TYPES:
        index, _ = _json_blob(layout, descriptor, "image index")
        manifests = _expect(index.get("manifests") or [], list, "image index: manifests")
        if not manifests:
            raise StoreError("an image index in the layout lists no manifests")
        arch = host_platform()
        match = [m for m in manifests
                 if isinstance(m, dict) and isinstance(m.get("platform"), dict)
                 and m["platform"].get("architecture") == arch]
        descriptor = _expect((match or manifests)[0], dict, "image index: manifest descriptor")
    return descriptor


def _ref_name(descriptor):
    ann = descriptor.get("annotations") or {}
    if not isinstance(ann, dict):
        return None
    full = ann.get("io.containerd.image.name")
    if full and isinstance(full, str):
        return full
    ref = ann.get("org.opencontainers.image.ref.name")
    # A bare tag ("latest") names no repository: the image loads by ID only.
    if ref and isinstance(ref, str) and ("/" in ref or ":" in ref):
        return ref
    return None


def _load_oci_layout(store, driver, path):
    index, _ = _json_member(path, "index.json", "index.json of the OCI layout")
    _expect(index, dict, "index.json of the OCI layout")
    out = []
    for n, top in enumerate(_expect(index.get("manifests") or [], list, "index.json: manifests")):
        _expect(top, dict, f"index.json: manifest {n + 1}")
        descriptor = _pick_manifest(path, top)
        manifest, _ = _json_blob(path, descriptor, "image manifest")
        _, config_bytes = _json_blob(path, _expect(manifest.get("config"), dict, "image manifest: config"),
                                     "image config")
        layers = _expect(manifest.get("layers") or [], list, "image manifest: layers")
        blobs = [_read_blob(path, layer, f"image manifest: layer {i + 1}") for i, layer in enumerate(layers)]
        name = _ref_name(top)
        image_id = install_image(store, driver, config_bytes, blobs, manifest=manifest,
                                 names=[name] if name else [])
        out.append((image_id, [validate_name(name)] if name else []))
    return out


# ------------------------------------------------------------------- pull

def pull(store, driver, text, auth=None, progress=None, platform=None, report=None, insecure=None):
    """Pull a reference from a registry into the store; returns the image ID.
    Blobs the store already has are not downloaded again.  `report`: a
    fastctr.image.progress.PullReport (Docker's lines); `auth`: (user,
    password), else the credentials `fastctr login` saved for the registry."""
    from fastctr.image import reference, registry
    ref = reference.parse_normalized(text).with_default_tag()
    wire = registry.Reference.parse(str(ref))
    if auth is None:
        from fastctr.image import credentials
        auth = credentials.lookup(wire.netloc)
    if report:
        report.begin(ref)
        progress = report
    before = _image_of(store, ref)
    tmpwork.sweep(store.root)
    tmp = tmpwork.make_dir(store.tmp_dir(), "pull")
    try:
        layout = os.path.join(tmp, "layout")
        result = registry.pull_to_layout(wire, layout, auth=auth, platform=platform, insecure=insecure,
                                         have_blob=store.has_blob, have_layer=_have_blob(store, report),
                                         progress=progress)
        crash_point("pull:downloaded")
        (image_id, _), = _load_oci_layout(store, driver, layout)
        names = [f"{ref.familiar_name}@{result['index_digest'] or result['manifest_digest']}"]
        if ref.tag:
            names.insert(0, ref.familiar())
        for name in names:
            store.tag(image_id, name)
        if report:
            report.installed(result["index_digest"] or result["manifest_digest"], ref.familiar(), str(ref),
                             new=before != image_id)
        return image_id
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remote_tags(text, auth=None, insecure=None):
    """The tags a registry has for the repository `text` names (pull -a)."""
    from fastctr.image import reference, registry
    ref = reference.parse_normalized(text)
    wire = registry.Reference.parse(f"{ref.name}:latest")
    if auth is None:
        from fastctr.image import credentials
        auth = credentials.lookup(wire.netloc)
    return registry.list_tags(wire, auth=auth, insecure=insecure)


def _image_of(store, ref):
    try:
        return store.resolve(ref.familiar())
    except LookupError:
        return None


def _have_blob(store, report):
    def have(digest):
        path = store.has_blob(digest)
        if path and report:
            report.exists(digest)
        return path
    return have


def _pull_name(ref):
    """docker.io/library/busybox:latest is known as busybox:latest, as in Docker."""
    from fastctr.image import reference
    text = f"{ref.netloc}/{ref.repository}" + (f":{ref.tag}" if ref.tag else "") + \
        (f"@{ref.digest}" if ref.digest else "")
    return reference.canonical(text)


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
    tmpwork.sweep(store.root)
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
    from fastctr import data_path
    program = data_path("hello")
    if not os.path.exists(program):
        raise StoreError(f"the hello-world program is missing from the installation ({program})")
    fd, tar_path = tmpwork.make_file(store.tmp_dir(), "hello")
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
