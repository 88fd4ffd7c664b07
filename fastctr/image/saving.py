"""`fastctr save`: images out as one tar, in the layout docker 25+ writes.

docker-archive (the default) is an OCI image layout that also carries
Docker's legacy index, so both kinds of reader take it:

    blobs/sha256/<hex>   image configs, OCI manifests and the layers,
                         uncompressed (a layer's name is its DiffID)
    index.json           one manifest descriptor per name, annotated with
                         io.containerd.image.name and ...ref.name
    oci-layout
    manifest.json        [{"Config", "RepoTags", "Layers"}]: what `docker load`
                         and skopeo's docker-archive: read
    repositories         {"busybox": {"latest": <top layer>}} (legacy)

oci-archive (`--format oci-archive`, an extension of fastctr's: Docker has
no --format for save) is the plain OCI layout with the layers as stored
(usually gzip), for `skopeo ... oci-archive:` and other OCI tools.  The tar
is written as it is made; with -o it goes to a temporary name, renamed into
place only when complete."""
import contextlib
import gzip
import io
import json
import os
import shutil
import tarfile

from fastctr.errors import StoreError
from fastctr.image import tmpwork
from fastctr.image.store import sha256_file

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TYPES = {"gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
               "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
               "plain": "application/vnd.oci.image.layer.v1.tar"}
FORMATS = ("docker-archive", "oci-archive")


def selected(store, refs):
    """[(image_id, [names])] for save's arguments, in their order, each image
    once.  A repository without a tag means every tag of it (as Docker);
    an image ID saves the image without names."""
    chosen = {}
    for ref in refs:
        for image_id, name in _wanted(store, ref):
            names = chosen.setdefault(image_id, [])
            if name and name not in names:
                names.append(name)
    return list(chosen.items())


def _wanted(store, ref):
    """[(image_id, name or None)] that one argument of save stands for: a
    name first (as Docker reads it), else an image ID or ID prefix."""
    from fastctr.errors import ImageNotFound, InvalidReference
    from fastctr.image import reference
    try:
        parsed = reference.parse_normalized(ref)
    except InvalidReference:
        if not reference.is_image_id(ref):
            raise
        parsed = None
    if parsed and (parsed.tag or parsed.digest):
        key = parsed.docker_ref().familiar()
        if any(name == key for name, _ in store.names()):
            return [(store.resolve(key), None if "@" in key else key)]
    elif parsed:
        tagged = [(image_id, name) for name, image_id in store.names()
                  if "@" not in name and name.rsplit(":", 1)[0] == parsed.familiar_name]
        if tagged:
            return tagged
    if not reference.is_image_id(ref):
        raise ImageNotFound(ref)
    return [(store.resolve(ref), None)]


def save(store, refs, out, fmt="docker-archive"):
    if fmt not in FORMATS:
        raise StoreError(f"unsupported save format {fmt!r}: docker-archive or oci-archive")
    images = selected(store, refs)
    tmp = tmpwork.make_dir(store.tmp_dir(), "save")
    try:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            _Archive(store, tar, tmp, fmt == "docker-archive").write(images)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def save_to_file(store, refs, path, fmt="docker-archive"):
    """Write the archive to path, complete or not at all."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):  # made by no one but the user, as Docker leaves it
        raise StoreError(f"failed to save image: open {path}: no such file or directory")
    fd, tmp = tmpwork.make_file(directory, "save")
    try:
        with os.fdopen(fd, "wb") as f:
            save(store, refs, f, fmt)
        os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _compression(path):
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:2] == b"\x1f\x8b":
        return "gzip"
    if magic == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return "plain"


class _Archive:
    def __init__(self, store, tar, tmp, docker):
        self.store, self.tar, self.tmp, self.docker = store, tar, tmp, docker
        self.written = {}  # digest -> size of the blobs already in the archive
        self._dir("blobs")
        self._dir("blobs/sha256")

    def write(self, images):
        index, entries, repositories = [], [], {}
        for image_id, names in images:
            image = self.store.image(image_id)
            layers = self._layers(image)
            config = self._blob_file(self.store.blob_path(image_id), image_id)
            manifest = json.dumps({
                "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": image_id, "size": config},
                "layers": [{"mediaType": kind, "digest": digest, "size": size} for digest, size, kind in layers],
            }, separators=(",", ":")).encode()
            descriptor = {"mediaType": OCI_MANIFEST, "digest": self._blob_bytes(manifest), "size": len(manifest)}
            index += [dict(descriptor, annotations=_annotations(n)) for n in names] or [descriptor]
            entries.append({"Config": f"blobs/sha256/{image_id[7:]}", "RepoTags": names or None,
                            "Layers": [f"blobs/sha256/{d[7:]}" for d, _, _ in layers]})
            for name in names:
                repo, tag = name.rsplit(":", 1)
                if layers:
                    repositories.setdefault(repo, {})[tag] = layers[-1][0][7:]
        self._file("index.json", _json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index}))
        if self.docker:
            self._file("manifest.json", _json(entries))
        self._file("oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
        if self.docker and repositories:
            self._file("repositories", _json(repositories))

    def _layers(self, image):
        """[(digest, size, media type)]: uncompressed for a docker-archive."""
        out = []
        for blob, diff_id in zip(image["layer_blobs"], image["config"]["rootfs"]["diff_ids"]):
            path = self.store.blob_path(blob)
            kind = _compression(path)
            if self.docker and kind != "plain":
                if diff_id not in self.written:
                    path = self._decompressed(path, kind, diff_id)
                blob, kind = diff_id, "plain"
            out.append((blob, self._blob_file(path, blob), LAYER_TYPES[kind]))
        return out

    def _decompressed(self, path, kind, diff_id):
        dest = os.path.join(self.tmp, diff_id[7:])
        with open(path, "rb") as f, open(dest, "wb") as out:
            if kind == "gzip":
                stream = gzip.GzipFile(fileobj=f)
            else:
                import zstandard
                stream = zstandard.ZstdDecompressor().stream_reader(f)
            shutil.copyfileobj(stream, out, 1 << 20)
        if sha256_file(dest) != diff_id:
            raise StoreError(f"layer {diff_id} of the store does not match its DiffID: the store is damaged")
        return dest

    def _blob_file(self, path, digest):
        if digest in self.written:
            return self.written[digest]
        size = self.written[digest] = os.path.getsize(path)
        info = self._info(f"blobs/sha256/{digest[7:]}", size)
        with open(path, "rb") as f:
            self.tar.addfile(info, f)
        if os.path.dirname(path) == self.tmp:
            os.unlink(path)  # sent: its space back at once
        return size

    def _blob_bytes(self, data):
        import hashlib
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if digest not in self.written:
            self.written[digest] = len(data)
            self.tar.addfile(self._info(f"blobs/sha256/{digest[7:]}", len(data)), io.BytesIO(data))
        return digest

    def _file(self, name, data):
        self.tar.addfile(self._info(name, len(data)), io.BytesIO(data))

    def _dir(self, name):
        info = self._info(name, 0)
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        self.tar.addfile(info)

    @staticmethod
    def _info(name, size):
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, 0o644, 0
        return info


def _annotations(name):
    from fastctr.image import reference
    ref = reference.parse_normalized(name)
    return {"io.containerd.image.name": str(ref), "org.opencontainers.image.ref.name": ref.tag}


def _json(obj):
    return json.dumps(obj, separators=(",", ":")).encode()
