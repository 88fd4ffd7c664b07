"""Push images to a registry (distribution v2) and check logins, as Docker does.

A push uploads each blob the registry does not have (HEAD, then POST and
one monolithic PUT), then PUTs a Docker schema2 manifest under the tag:
until that last step the repository shows nothing new, so a push that fails
half-way publishes nothing.  Layers are sent gzip-compressed, as Docker
sends them: a layer stored uncompressed is compressed into temporary work
first (deterministically, so a second push sends the same blob)."""
import gzip
import hashlib
import json
import os
import shutil

from fastctr.errors import RegistryError
from fastctr.image import registry, tmpwork

DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def _client(netloc_ref, auth, insecure, actions):
    client = registry._Client(netloc_ref, auth, insecure)
    client.actions = actions
    return client


def login(server, user, password, insecure=None):
    """Check credentials against server's /v2/ (Basic or a Bearer token, as the
    registry asks); AuthError if they are refused."""
    from fastctr.image import credentials
    host = credentials.server_key(server)
    host = registry.DOCKER_HUB if host == credentials.DOCKER_HUB_KEY else host
    wire = registry.Reference.parse(f"{host}/x")
    ref = registry.Reference(host=wire.host, port=wire.port, repository="")
    client = _client(ref, (user, password), insecure, "login")
    client.send("GET", "/v2/", f"login to {ref.netloc}", ok=(200,))


def push(store, text, auth=None, report=None, insecure=None):
    """Push the image named `text`; returns (manifest digest, size)."""
    from fastctr.image import credentials, reference
    ref = reference.parse_normalized(text).with_default_tag()
    if ref.digest:
        raise RegistryError(f"cannot push a digest reference ({ref.familiar()}): push a tag")
    try:
        image_id = store.resolve(ref.familiar())
    except LookupError:
        raise RegistryError(f"An image does not exist locally with the tag: {ref.familiar_name}") from None
    image = store.image(image_id)
    wire = registry.Reference.parse(str(ref))
    if auth is None:
        auth = credentials.lookup(wire.netloc)
    client = _client(wire, auth, insecure, "pull,push")
    if report:
        report.begin(ref)
    diff_ids = image["config"]["rootfs"]["diff_ids"]
    tmp = tmpwork.make_dir(store.tmp_dir(), "push")
    try:
        layers = [_layer_blob(store, digest, tmp) for digest in image["layer_blobs"]]
        for diff_id in diff_ids:
            if report:
                report.layer(diff_id, "Preparing")
        sources = _mount_sources(image, ref)
        for (path, digest, size), diff_id in zip(layers, diff_ids):
            state = "Layer already exists" if _exists(client, wire, digest) else \
                _upload(client, wire, path, digest, sources)
            if report:
                report.layer(diff_id, state)
        config_path = store.blob_path(image_id)
        if not _exists(client, wire, image_id):
            _upload(client, wire, config_path, image_id)
        body = _manifest(image_id, os.path.getsize(config_path), layers)
        resp = client.send("PUT", f"/v2/{wire.repository}/manifests/{ref.tag}", f"manifest of {ref.familiar()}",
                           headers={"Content-Type": registry.DOCKER_MANIFEST}, body=body, ok=(200, 201, 202))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    claimed = resp.getheader("Docker-Content-Digest")
    if claimed and claimed != digest:
        raise RegistryError(f"{wire.netloc} stored the manifest as {claimed}, not {digest}")
    store.tag(image_id, f"{ref.familiar_name}@{digest}")
    if report:
        report.done(ref.tag, digest, len(body))
    return digest, len(body)


def _manifest(config_digest, config_size, layers):
    doc = {"schemaVersion": 2, "mediaType": registry.DOCKER_MANIFEST,
           "config": {"mediaType": DOCKER_CONFIG, "size": config_size, "digest": config_digest},
           "layers": [{"mediaType": DOCKER_LAYER_GZIP, "size": size, "digest": digest}
                      for _, digest, size in layers]}
    return json.dumps(doc, indent=3).encode()


def _layer_blob(store, digest, tmp):
    """(path, digest, size) of the gzip blob to send for a stored layer blob."""
    path = store.blob_path(digest)
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:2] == b"\x1f\x8b":
        return path, digest, os.path.getsize(path)
    out = os.path.join(tmp, digest[7:] + ".gz")
    with open(path, "rb") as src, open(out, "wb") as raw:
        stream = src
        if magic == b"\x28\xb5\x2f\xfd":
            import zstandard
            stream = zstandard.ZstdDecompressor().stream_reader(src)
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            shutil.copyfileobj(stream, gz, 1 << 20)
    from fastctr.image.store import sha256_file
    return out, sha256_file(out), os.path.getsize(out)


def _exists(client, wire, digest):
    try:
        client.send("HEAD", f"/v2/{wire.repository}/blobs/{digest}", f"blob {digest}", ok=(200,))
        return True
    except registry.NotFound:
        return False


def _mount_sources(image, ref):
    """Repositories of the same registry that the image is also named in:
    they likely hold its blobs, which the registry can then link instead of
    receiving them again (Docker's cross-repository mount)."""
    from fastctr.image import reference
    out = []
    for name in image["digests"] + image["tags"]:
        other = reference.parse_normalized(name)
        if other.domain == ref.domain and other.path != ref.path and other.path not in out:
            out.append(other.path)
    return out


def _upload(client, wire, path, digest, sources=()):
    """A mount from another repository if the registry takes it; else POST
    for an upload URL, then all of the blob in one PUT."""
    import urllib.parse
    what = f"upload of {digest} to {wire.netloc}/{wire.repository}"
    for source in sources:
        query = urllib.parse.urlencode({"mount": digest, "from": source})
        resp = client.send("POST", f"/v2/{wire.repository}/blobs/uploads/?{query}", what, ok=(201, 202))
        if resp.status == 201:
            return f"Mounted from {source}"
        _cancel(client, resp)  # the registry opened an upload instead: not ours to keep
    resp = client.send("POST", f"/v2/{wire.repository}/blobs/uploads/", what, ok=(202,))
    location = resp.getheader("Location")
    if not location:
        raise RegistryError(f"{what}: the registry gave no upload location")
    url = urllib.parse.urljoin(client.base + "/", location)
    url += ("&" if urllib.parse.urlsplit(url).query else "?") + urllib.parse.urlencode({"digest": digest})
    client.send("PUT", url, what, headers={"Content-Type": "application/octet-stream"}, body=path, ok=(201, 204))
    return "Pushed"


def _cancel(client, resp):
    """DELETE an upload session we will not use (best effort)."""
    import urllib.parse
    location = resp.getheader("Location")
    if location:
        try:
            client.send("DELETE", urllib.parse.urljoin(client.base + "/", location), "upload", ok=(200, 202, 204, 404))
        except RegistryError:
            pass
