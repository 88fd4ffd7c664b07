"""fastctr.registry against a real registry and against small fakes.

The real one is Debian's docker-registry (distribution v2) on 127.0.0.1,
fed by skopeo from OCI layouts written here by hand (umoci's `insert`
writes truncated tar streams in Debian's version).  The fakes, http.server
on 127.0.0.1, do what a real registry won't: serve corrupt blobs, ask for
Bearer tokens or Basic credentials, redirect blobs to another origin.
Nothing here talks to any address but loopback."""
import base64
import contextlib
import gzip
import hashlib
import http.client
import http.server
import io
import json
import os
import shutil
import tempfile
import subprocess
import tarfile
import threading
import types
import urllib.parse

import pytest

from othertools import docker_registry, free_port
from fastctr.image.registry import (DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, REF_NAME, AuthError, NotFound, Reference,
                              RegistryError, default_insecure, host_platform, progress_bar, pull_to_layout)

LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
BUSYBOX = shutil.which("busybox")


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- building images

def make_layer(files):
    """{path: bytes | ("symlink", target)} -> (gzipped tar, diff_id); parents made too."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({os.path.dirname(p) for p in files if os.path.dirname(p)})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, content in files.items():
            info = tarfile.TarInfo(path)
            if isinstance(content, tuple):
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, content[1], 0o777
                tar.addfile(info)
            else:
                info.size, info.mode = len(content), 0o755
                tar.addfile(info, io.BytesIO(content))
    raw = buf.getvalue()
    # mtime=0: the same files always give the same digest.  Level 1: speed.
    return gzip.compress(raw, compresslevel=1, mtime=0), sha256(raw)


def image_blobs(arch, layers):
    """(config bytes, manifest bytes, {digest: bytes}) of an image of `layers` (from make_layer)."""
    config = json.dumps({"architecture": arch, "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff for _, diff in layers]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": LAYER_GZIP, "digest": sha256(gz), "size": len(gz)} for gz, _ in layers],
    }).encode()
    blobs = {sha256(gz): gz for gz, _ in layers}
    blobs[sha256(config)] = config
    return config, manifest, blobs


class HandLayout:
    """An OCI image layout written by hand, for skopeo to push."""

    def __init__(self, root):
        self.root = root
        os.makedirs(os.path.join(root, "blobs", "sha256"))
        with open(os.path.join(root, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.tags = []

    def blob(self, data, media_type):
        with open(os.path.join(self.root, "blobs", "sha256", sha256(data)[7:]), "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": sha256(data), "size": len(data)}

    def image(self, arch, layers):
        """Write an image's blobs; return its manifest descriptor (with platform)."""
        config, manifest, blobs = image_blobs(arch, layers)
        for data in blobs.values():
            self.blob(data, "")
        desc = self.blob(manifest, OCI_MANIFEST)
        desc["platform"] = {"architecture": arch, "os": "linux"}
        return desc

    def tag(self, desc, name):
        self.tags.append({**desc, "annotations": {REF_NAME: name}})
        with open(os.path.join(self.root, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.tags}, f)


# ---------------------------------------------------------------- the real registry

def skopeo_push(port, layout, tag, dest, *extra):
    cmd = ["skopeo", "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false", "--dest-no-creds",
           *extra, f"oci:{layout}:{tag}", f"docker://127.0.0.1:{port}/{dest}"]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"{' '.join(cmd)}: {p.stderr}"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    missing = [tool for tool in ("docker-registry", "skopeo", "busybox") if not shutil.which(tool)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install docker-registry skopeo busybox-static)")
    tmp = tmp_path_factory.mktemp("registry")
    with docker_registry(tmp) as port:
        yield push_test_images(port, tmp)


def push_test_images(port, tmp):
    """Push the test images; return what the registry holds and the digests it should have."""
    got = types.SimpleNamespace(port=port)
    with open(BUSYBOX, "rb") as f:
        got.busybox = f.read()
    busybox_layer = make_layer({"bin/busybox": got.busybox, "bin/sh": ("symlink", "busybox")})
    files_layer = make_layer({"etc/hostname": b"fastctr\n", "etc/motd": b"pulled by fastctr\n"})
    single = HandLayout(str(tmp / "single"))
    got.manifest = single.image("amd64", [busybox_layer, files_layer])
    single.tag(got.manifest, "latest")
    _, _, got.blobs = image_blobs("amd64", [busybox_layer, files_layer])
    skopeo_push(port, single.root, "latest", "test/busybox:latest")
    skopeo_push(port, single.root, "latest", "test/busybox:v2s2", "--format", "v2s2")

    # Two platforms sharing a base layer, each with a small layer of its own.
    shared = make_layer({"etc/os-release": b"ID=fastctr-test\n"})
    multi = HandLayout(str(tmp / "multi"))
    got.per_arch = {}
    for arch in ("amd64", "arm64"):
        own = make_layer({"etc/arch": arch.encode() + b"\n"})
        got.per_arch[arch] = {"manifest": multi.image(arch, [shared, own]), "own_layer": sha256(own[0])}
    got.shared_layer = sha256(shared[0])
    index = multi.blob(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                   "manifests": [v["manifest"] for v in got.per_arch.values()]}).encode(), OCI_INDEX)
    got.index_digest = index["digest"]
    multi.tag(index, "multi")
    skopeo_push(port, multi.root, "multi", "test/multi:multi", "--all")
    return got


def check_layout(root, result):
    """index.json names the manifest; every blob has the content its name says; nothing else."""
    with open(os.path.join(root, "oci-layout")) as f:
        assert json.load(f) == {"imageLayoutVersion": "1.0.0"}
    with open(os.path.join(root, "index.json")) as f:
        index = json.load(f)
    [desc] = index["manifests"]
    assert desc["digest"] == result["manifest_digest"] and desc["mediaType"] == result["media_type"]
    blob_dir = os.path.join(root, "blobs", "sha256")
    names = sorted(os.listdir(blob_dir))
    for name in names:
        with open(os.path.join(blob_dir, name), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == name
    wanted = {result["manifest_digest"], result["config_digest"], *result["layers"]}
    assert names == sorted(d[7:] for d in wanted)
    assert sorted(os.listdir(root)) == ["blobs", "index.json", "oci-layout"]
    return desc


def blob(root, digest):
    with open(os.path.join(root, "blobs", "sha256", digest[7:]), "rb") as f:
        return f.read()


def recorder():
    calls = []

    def progress(digest, done, total):
        calls.append((digest, done, total))
    progress.calls = calls
    return progress


def test_pull_by_tag_writes_a_verified_layout(registry, tmp_path):
    progress = recorder()
    ref = f"127.0.0.1:{registry.port}/test/busybox"
    result = pull_to_layout(ref, str(tmp_path / "img"), progress=progress)
    assert result["reference"] == ref + ":latest"
    assert result["manifest_digest"] == registry.manifest["digest"]  # skopeo kept our manifest as it was
    assert result["media_type"] == OCI_MANIFEST and result["index_digest"] is None
    desc = check_layout(str(tmp_path / "img"), result)
    assert desc["annotations"] == {REF_NAME: "latest"} and desc["size"] == registry.manifest["size"]
    assert set(result["layers"]) | {result["config_digest"]} == set(registry.blobs)
    # The busybox binary survives the trip.
    with tarfile.open(fileobj=io.BytesIO(blob(str(tmp_path / "img"), result["layers"][0]))) as tar:
        assert tar.extractfile("bin/busybox").read() == registry.busybox
    # Progress for layers only, ending at the full size of each.
    finals = {d: (done, total) for d, done, total in progress.calls}
    assert set(finals) == set(result["layers"])
    assert all(done == total == len(registry.blobs[d]) for d, (done, total) in finals.items())


def test_pull_again_into_the_same_layout_downloads_nothing(registry, tmp_path):
    ref = f"127.0.0.1:{registry.port}/test/busybox:latest"
    first = pull_to_layout(ref, str(tmp_path / "img"))
    progress = recorder()
    assert pull_to_layout(ref, str(tmp_path / "img"), progress=progress) == first
    assert progress.calls == []
    check_layout(str(tmp_path / "img"), first)


def test_pull_by_digest(registry, tmp_path):
    digest = registry.manifest["digest"]
    result = pull_to_layout(f"127.0.0.1:{registry.port}/test/busybox@{digest}", str(tmp_path / "img"))
    assert result["manifest_digest"] == digest
    desc = check_layout(str(tmp_path / "img"), result)
    assert "annotations" not in desc  # no tag to name it by, as skopeo does
    # With both, the digest decides and the tag names it.
    result = pull_to_layout(f"127.0.0.1:{registry.port}/test/busybox:mine@{digest}", str(tmp_path / "img2"))
    assert check_layout(str(tmp_path / "img2"), result)["annotations"] == {REF_NAME: "mine"}


def test_docker_schema2_manifest_kept_as_received(registry, tmp_path):
    result = pull_to_layout(f"127.0.0.1:{registry.port}/test/busybox:v2s2", str(tmp_path / "img"))
    assert result["media_type"] == DOCKER_MANIFEST
    check_layout(str(tmp_path / "img"), result)
    manifest = json.loads(blob(str(tmp_path / "img"), result["manifest_digest"]))
    assert manifest["mediaType"] == DOCKER_MANIFEST
    assert result["layers"] == [d["digest"] for d in manifest["layers"]]


def test_multi_arch_resolves_to_this_host(registry, tmp_path):
    ref = f"127.0.0.1:{registry.port}/test/multi:multi"
    arch = host_platform()["architecture"]
    if arch not in registry.per_arch:
        with pytest.raises(RegistryError, match="linux/amd64, linux/arm64"):
            pull_to_layout(ref, str(tmp_path / "img"))
        return
    result = pull_to_layout(ref, str(tmp_path / "img"))
    assert result["manifest_digest"] == registry.per_arch[arch]["manifest"]["digest"]
    assert result["index_digest"] == registry.index_digest
    desc = check_layout(str(tmp_path / "img"), result)
    assert desc["platform"] == {"architecture": arch, "os": "linux"}
    assert json.loads(blob(str(tmp_path / "img"), result["config_digest"]))["architecture"] == arch


def test_explicit_platform_and_have_blob_share_the_base_layer(registry, tmp_path):
    ref = f"127.0.0.1:{registry.port}/test/multi:multi"
    first = pull_to_layout(ref, str(tmp_path / "amd64"), platform="linux/amd64")
    first_blobs = os.path.join(tmp_path, "amd64", "blobs", "sha256")
    asked = []

    def have_blob(digest):
        asked.append(digest)
        path = os.path.join(first_blobs, digest[7:])
        return path if os.path.exists(path) else None

    progress = recorder()
    second = pull_to_layout(ref, str(tmp_path / "arm64"), platform="arm64", have_blob=have_blob, progress=progress)
    assert second["manifest_digest"] == registry.per_arch["arm64"]["manifest"]["digest"]
    assert second["layers"] == [registry.shared_layer, registry.per_arch["arm64"]["own_layer"]]
    assert first["layers"][0] == registry.shared_layer
    downloaded = {d for d, _, _ in progress.calls}
    assert downloaded == {registry.per_arch["arm64"]["own_layer"]}  # the shared layer came from have_blob
    assert registry.shared_layer in asked
    check_layout(str(tmp_path / "arm64"), second)
    linked = os.path.join(tmp_path, "arm64", "blobs", "sha256", registry.shared_layer[7:])
    assert os.stat(linked).st_ino == os.stat(os.path.join(first_blobs, registry.shared_layer[7:])).st_ino


def test_platform_missing_from_the_index_names_the_available_ones(registry, tmp_path):
    with pytest.raises(RegistryError) as e:
        pull_to_layout(f"127.0.0.1:{registry.port}/test/multi:multi", str(tmp_path / "img"), platform="linux/s390x")
    assert "linux/s390x" in str(e.value) and "available: linux/amd64, linux/arm64" in str(e.value)
    assert not (tmp_path / "img").exists()


@pytest.mark.parametrize("name", ["test/busybox:nope", "test/nothing:latest",
                                  "test/busybox@sha256:" + "0" * 64])
def test_unknown_tag_repository_or_digest_is_not_found(registry, tmp_path, name):
    with pytest.raises(NotFound) as e:
        pull_to_layout(f"127.0.0.1:{registry.port}/{name}", str(tmp_path / "img"))
    assert "\n" not in str(e.value) and e.value.exit_code == 125
    assert not (tmp_path / "img").exists()


def test_nothing_listening_is_a_registry_error(tmp_path):
    with pytest.raises(RegistryError, match="cannot reach 127.0.0.1"):
        pull_to_layout(f"127.0.0.1:{free_port()}/test/x", str(tmp_path / "img"))


# ---------------------------------------------------------------- references

@pytest.mark.parametrize("text, host, port, repository, tag, digest", [
    ("busybox", "docker.io", None, "library/busybox", "latest", None),
    ("user/app:1.0", "docker.io", None, "user/app", "1.0", None),
    ("localhost/app", "localhost", None, "app", "latest", None),
    ("localhost:5000/a/b/c:v2", "localhost", 5000, "a/b/c", "v2", None),
    ("registry.example.com/team/app_x-y.z", "registry.example.com", None, "team/app_x-y.z", "latest", None),
    ("127.0.0.1:5000/x@sha256:" + "a" * 64, "127.0.0.1", 5000, "x", None, "sha256:" + "a" * 64),
    ("[::1]:5000/x:t@sha256:" + "b" * 64, "::1", 5000, "x", "t", "sha256:" + "b" * 64),
])
def test_reference_parse(text, host, port, repository, tag, digest):
    ref = Reference.parse(text)
    assert (ref.host, ref.port, ref.repository, ref.tag, ref.digest) == (host, port, repository, tag, digest)
    assert Reference.parse(str(ref)) == ref


@pytest.mark.parametrize("text", [
    "", "UPPER/case", "host.io/Repo", "a b", "x:", "x:-tag", "x@sha256:abc", "x@md5:" + "a" * 32,
    "host:99999/x", "host:/x", "bad_host.io/x", "x//y", "-x/y", "[::1/x", "[zz::1]:5000/x",
    "x:" + "t" * 129, "reg.io/",
])
def test_bad_references_are_one_line_registry_errors(text):
    with pytest.raises(RegistryError) as e:
        Reference.parse(text)
    assert str(e.value).startswith("invalid reference") and "\n" not in str(e.value)


def test_plain_http_only_for_loopback():
    assert all(default_insecure(h) for h in ("localhost", "127.0.0.1", "127.3.2.1", "::1"))
    assert not any(default_insecure(h) for h in ("registry.example.com", "10.0.0.1", "::2", "localhost.io"))


# ---------------------------------------------------------------- fake registries

TOKEN = "tok-123"


class FakeRegistry(http.server.ThreadingHTTPServer):
    """routes: path -> (content type, body) or ("redirect", url); auth: None, "basic" or "bearer"."""

    daemon_threads = True

    def __init__(self, auth=None, token_field="token"):
        super().__init__(("127.0.0.1", 0), FakeHandler)
        self.routes, self.storage, self.requests = {}, {}, []
        self.auth, self.token_field = auth, token_field
        self.credentials = base64.b64encode(b"alice:secret").decode()

    @property
    def netloc(self):
        return f"127.0.0.1:{self.server_address[1]}"

    def add_image(self, repo, tag, layers, blob_bytes=None, redirect_blobs=False):
        """Serve an image; blob_bytes(digest, data) may swap what a blob's GET returns."""
        config, manifest, blobs = image_blobs("amd64", layers)
        self.routes[f"/v2/{repo}/manifests/{tag}"] = (OCI_MANIFEST, manifest)
        self.routes[f"/v2/{repo}/manifests/{sha256(manifest)}"] = (OCI_MANIFEST, manifest)
        for digest, data in blobs.items():
            data = blob_bytes(digest, data) if blob_bytes else data
            if redirect_blobs:  # another origin, as storage is: same server, other name
                self.storage[f"/storage/{digest[7:]}"] = data
                url = f"http://localhost:{self.server_address[1]}/storage/{digest[7:]}?sig=x"
                self.routes[f"/v2/{repo}/blobs/{digest}"] = ("redirect", url)
            else:
                self.routes[f"/v2/{repo}/blobs/{digest}"] = ("application/octet-stream", data)
        return sha256(manifest), sha256(config)


class FakeHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server
        path = urllib.parse.urlsplit(self.path).path
        srv.requests.append((self.headers["Host"], self.path, self.headers.get("Authorization")))
        if path == "/token":
            return self.token()
        if path in srv.storage:
            return self.send(200, "application/octet-stream", srv.storage[path])
        if not self.authorized():
            return
        kind, body = srv.routes.get(path, (None, None))
        if kind == "redirect":
            return self.send(307, None, b"", Location=body)
        if kind is None:
            return self.send(404, "application/json", b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"nope"}]}')
        self.send(200, kind, body)

    def authorized(self):
        srv, got = self.server, self.headers.get("Authorization")
        if srv.auth is None or got == {"basic": f"Basic {srv.credentials}", "bearer": f"Bearer {TOKEN}"}[srv.auth]:
            return True
        if srv.auth == "basic":
            challenge = 'Basic realm="fake"'
        else:
            challenge = (f'Bearer realm="http://{srv.netloc}/token",service="fake-registry",'
                         f'scope="repository:test/auth:pull"')
        self.send(401, "application/json", b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                  **{"WWW-Authenticate": challenge})
        return False

    def token(self):
        srv = self.server
        if self.headers.get("Authorization") != f"Basic {srv.credentials}":
            return self.send(401, "application/json", b'{"details":"bad credentials"}')
        self.send(200, "application/json", json.dumps({srv.token_field: TOKEN}).encode())

    def send(self, status, content_type, body, **headers):
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def fake_registry(**kw):
    srv = FakeRegistry(**kw)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


SMALL = [make_layer({"etc/a": b"a" * 5000}), make_layer({"etc/b": b"b" * 3000})]


def flip_last_byte(data):
    return data[:-1] + bytes([data[-1] ^ 0xFF])


@pytest.mark.parametrize("corrupt, message", [
    (flip_last_byte, "does not match its digest"),
    (lambda data: data[:-5], "ended after"),
    (lambda data: data + b"more", "larger than"),
])
@pytest.mark.parametrize("dir_exists", [False, True])
def test_corrupt_blob_is_rejected_and_leaves_nothing(tmp_path, corrupt, message, dir_exists):
    bad_layer = sha256(SMALL[1][0])
    layout = tmp_path / "img"
    if dir_exists:
        layout.mkdir()
    with fake_registry() as srv:
        srv.add_image("test/bad", "latest", SMALL,
                      blob_bytes=lambda digest, data: corrupt(data) if digest == bad_layer else data)
        with pytest.raises(RegistryError, match=message) as e:
            pull_to_layout(f"{srv.netloc}/test/bad", str(layout))
    assert not isinstance(e.value, NotFound)
    # The config and first layer were good and written; the failure took them back.
    assert (list(layout.iterdir()) == []) if dir_exists else not layout.exists()


def test_manifest_must_match_the_requested_digest(tmp_path):
    with fake_registry() as srv:
        digest, _ = srv.add_image("test/img", "latest", SMALL)
        wrong = "sha256:" + "1" * 64
        srv.routes[f"/v2/test/img/manifests/{wrong}"] = srv.routes[f"/v2/test/img/manifests/{digest}"]
        with pytest.raises(RegistryError, match="does not match digest"):
            pull_to_layout(f"{srv.netloc}/test/img@{wrong}", str(tmp_path / "img"))
    assert not (tmp_path / "img").exists()


@pytest.mark.parametrize("token_field", ["token", "access_token"])
def test_bearer_token_flow_and_blob_redirects(tmp_path, token_field):
    with fake_registry(auth="bearer", token_field=token_field) as srv:
        manifest_digest, _ = srv.add_image("test/auth", "latest", SMALL, redirect_blobs=True)
        result = pull_to_layout(f"{srv.netloc}/test/auth", str(tmp_path / "img"), auth=("alice", "secret"))
    assert result["manifest_digest"] == manifest_digest
    check_layout(str(tmp_path / "img"), result)
    token_requests = [(p, a) for _, p, a in srv.requests if p.startswith("/token")]
    assert len(token_requests) == 1  # one token serves the whole pull
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(token_requests[0][0]).query)
    assert query == {"service": ["fake-registry"], "scope": ["repository:test/auth:pull"]}
    assert token_requests[0][1] == f"Basic {srv.credentials}"
    storage = [(host, auth) for host, p, auth in srv.requests if p.startswith("/storage/")]
    assert len(storage) == 3 and all(h.startswith("localhost:") for h, _ in storage)
    assert all(auth is None for _, auth in storage)  # the token stays with the registry
    registry_auth = {a for h, p, a in srv.requests if p.startswith("/v2/test/")}
    assert registry_auth == {None, f"Bearer {TOKEN}"}  # anonymous first, then the token


@pytest.mark.parametrize("auth", [("alice", "wrong"), ("bob", "secret"), None])
def test_bearer_bad_credentials_are_auth_errors(tmp_path, auth):
    with fake_registry(auth="bearer") as srv:
        srv.add_image("test/auth", "latest", SMALL)
        with pytest.raises(AuthError) as e:
            pull_to_layout(f"{srv.netloc}/test/auth", str(tmp_path / "img"), auth=auth)
    assert "\n" not in str(e.value) and e.value.exit_code == 125
    assert "wrong" not in str(e.value) and "secret" not in str(e.value)  # no password in messages
    assert not (tmp_path / "img").exists()


def test_basic_auth(tmp_path):
    with fake_registry(auth="basic") as srv:
        srv.add_image("test/auth", "latest", SMALL)
        ref = f"{srv.netloc}/test/auth"
        check_layout(str(tmp_path / "ok"), pull_to_layout(ref, str(tmp_path / "ok"), auth=("alice", "secret")))
        with pytest.raises(AuthError, match="requires a username and password"):
            pull_to_layout(ref, str(tmp_path / "anon"))
        with pytest.raises(AuthError, match="as 'alice'"):
            pull_to_layout(ref, str(tmp_path / "bad"), auth=("alice", "wrong"))
    assert not (tmp_path / "anon").exists() and not (tmp_path / "bad").exists()


# ---------------------------------------------------------------- progress

class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_draws_one_line_per_layer():
    out = FakeTerminal()
    show = progress_bar(out)
    a, b = "sha256:" + "a1b2c3d4e5f6" + "0" * 52, "sha256:" + "0123456789ab" + "f" * 52
    mib = 1 << 20
    for done in (0, 3 * mib + 100 * 1024, 3 * mib + 100 * 1024 + 1, 4 * mib):
        show(a, done, 4 * mib)
    show(b, 10, 2000)
    show(b, 2000, 2000)
    assert out.getvalue() == ("\ra1b2c3d4e5f6: 0 B / 4.0 MiB\ra1b2c3d4e5f6: 3.1 MiB / 4.0 MiB"
                              "\ra1b2c3d4e5f6: 4.0 MiB / 4.0 MiB\n"
                              "\r0123456789ab: 10 B / 2.0 KiB\r0123456789ab: 2.0 KiB / 2.0 KiB\n")


def test_progress_bar_is_silent_off_a_terminal():
    out = io.StringIO()
    progress_bar(out)("sha256:" + "a" * 64, 1, 2)
    assert out.getvalue() == ""


# ------------------------------------------------- through the store and CLI

def test_fastctr_pull_then_run(registry, tmp_path, state_root):
    """`fastctr pull` from the loopback registry, then a container from it;
    a second pull of an image sharing blobs downloads none of them again."""
    import sys
    cli = os.path.join(os.path.dirname(sys.executable), "fastctr")
    data_root = tempfile.mkdtemp(prefix="fastctr-test-pull-", dir="/var/tmp")
    env = dict(os.environ, FASTCTR_CGROUP_PARENT="self")
    def fastctr(*args):
        return subprocess.run([cli, "--data-root", data_root, "--state-root", state_root, *args], cwd="/",
                              capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
    try:
        ref = f"127.0.0.1:{registry.port}/test/busybox:latest"
        p = fastctr("pull", ref)
        assert p.returncode == 0, p.stderr
        assert p.stdout.splitlines()[-1] == ref
        p = fastctr("run", "--rm", ref, "/bin/sh", "-c", "cat /etc/motd")
        assert (p.returncode, p.stdout) == (0, "pulled by fastctr\n"), p.stderr
        blobs = os.path.join(data_root, "blobs", "sha256")
        before = {n: os.stat(os.path.join(blobs, n)).st_ino for n in os.listdir(blobs)}
        assert fastctr("pull", "-q", f"127.0.0.1:{registry.port}/test/busybox:v2s2").returncode == 0
        after = {n: os.stat(os.path.join(blobs, n)).st_ino for n in os.listdir(blobs)}
        assert all(after[n] == ino for n, ino in before.items())  # shared blobs kept, not fetched again
        assert fastctr("pull", f"127.0.0.1:{registry.port}/test/nothing:here").returncode == 1
    finally:
        shutil.rmtree(data_root, ignore_errors=True)
