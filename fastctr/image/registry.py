"""Pull images from an OCI distribution (registry v2) into an OCI image layout.

Standard library only, and no compiled parts: `fastctr pull` must work
wherever Python does.  The result is a plain OCI image layout

    layout_dir/oci-layout
    layout_dir/index.json          one manifest, annotated with the tag
    layout_dir/blobs/sha256/<hex>  manifest, config and layers

that the image store imports.  Every byte is checked against its digest
before it gets its final name, and a failed pull leaves the layout directory
as it found it (it does not even create it), so a layout that has an
index.json is always complete and verified.

One cohesive thing (hence its length): references, auth, the HTTP client and
the verified layout it writes are one protocol.
"""
import base64
import contextlib
import dataclasses
import hashlib
import http.client
import ipaddress
import json
import os
import re
import shutil
import ssl
import tempfile
import urllib.parse

from fastctr.errors import RegistryError, AuthError, RegistryNotFound as NotFound  # defined there, exported here too

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
REF_NAME = "org.opencontainers.image.ref.name"

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"  # where references to docker.io are served

TIMEOUT = 60              # seconds without progress on one socket operation
MAX_MANIFEST = 4 << 20    # manifests are small; a huge one is an attack on memory
MAX_REDIRECTS = 5
CHUNK = 1 << 20


# ---------------------------------------------------------------- references

# The grammar of github.com/distribution/reference.
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN_COMPONENT = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?")
_TAG = re.compile(r"\w[\w.-]{0,127}", re.ASCII)
_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
_ANY_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_MAX_NAME = 255


@dataclasses.dataclass(frozen=True)
class Reference:
    """HOST[:PORT]/NAME[/NAME...][:TAG][@sha256:HEX], normalised like Docker."""

    host: str
    repository: str
    tag: str | None = None
    digest: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text):
        if not isinstance(text, str) or not text:
            raise RegistryError(f"invalid reference {text!r}: empty")
        if any(c.isspace() for c in text):
            raise RegistryError(f"invalid reference {text!r}: contains whitespace")
        name, at, digest = text.partition("@")
        digest = _check_digest(text, digest) if at else None
        name, tag = _split_tag(text, name)
        host, port, path = _split_host(text, name)
        repository = _check_repository(text, host, path)
        if tag is None and digest is None:
            tag = "latest"
        return cls(host=host, port=port, repository=repository, tag=tag, digest=digest)

    @property
    def netloc(self):
        """host[:port] as it appears in a URL (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.port else host

    def __str__(self):
        out = f"{self.netloc}/{self.repository}"
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def _bad_reference(text, why):
    return RegistryError(f"invalid reference {text!r}: {why}")


def _check_digest(text, digest):
    if _SHA256.fullmatch(digest):
        return digest
    if _ANY_DIGEST.fullmatch(digest) and not digest.startswith("sha256:"):
        raise _bad_reference(text, f"unsupported digest algorithm {digest.split(':')[0]!r}")
    raise _bad_reference(text, "digest must be sha256: and 64 lowercase hex digits")


def _split_tag(text, name):
    # A colon after the last slash starts the tag; one before it is a port.
    colon = name.rfind(":")
    if colon <= name.rfind("/"):
        return name, None
    tag = name[colon + 1:]
    if not _TAG.fullmatch(tag):
        raise _bad_reference(text, f"invalid tag {tag!r}")
    return name[:colon], tag


def _split_host(text, name):
    first, slash, rest = name.partition("/")
    # Docker's rule: the first component names a registry only if it cannot
    # be a repository name: it has a '.' or ':', or is 'localhost'.  (Docker
    # also takes one with capitals for a host; we call that a mistyped
    # repository, which is the likelier reading and the clearer error.)
    is_host = slash and ("." in first or ":" in first or first == "localhost")
    if not is_host:
        return DOCKER_HUB, None, name
    host, port = _parse_host_port(text, first)
    return host, port, rest


def _parse_host_port(text, hostport):
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d+))?", hostport)
    if m:
        try:
            ipaddress.IPv6Address(m.group(1))
        except ValueError:
            raise _bad_reference(text, f"invalid IPv6 address {m.group(1)!r}") from None
        host, port = m.group(1), m.group(2)
    else:
        host, colon, port = hostport.partition(":")
        if not all(_DOMAIN_COMPONENT.fullmatch(c) for c in host.split(".")):
            raise _bad_reference(text, f"invalid registry host {host!r}")
        if colon and not port:
            raise _bad_reference(text, "empty port")
    if port is None or port == "":
        return host, None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise _bad_reference(text, f"invalid port {port!r}")
    return host, int(port)


def _check_repository(text, host, path):
    if not path:
        raise _bad_reference(text, "no repository name")
    for component in path.split("/"):
        if not _PATH_COMPONENT.fullmatch(component):
            if _PATH_COMPONENT.fullmatch(component.lower()):
                raise _bad_reference(text, "repository name must be lowercase")
            raise _bad_reference(text, f"invalid repository name component {component!r}")
    if host == DOCKER_HUB and "/" not in path:
        path = "library/" + path  # Docker Hub's official images
    if len(path) > _MAX_NAME:
        raise _bad_reference(text, f"repository name longer than {_MAX_NAME} characters")
    return path


# ---------------------------------------------------------------- platforms

# os.uname().machine -> (GOARCH, variant): the names registries index by.
_UNAME_TO_GOARCH = {
    "x86_64": ("amd64", None), "amd64": ("amd64", None),
    "i386": ("386", None), "i486": ("386", None), "i586": ("386", None), "i686": ("386", None),
    "aarch64": ("arm64", None), "arm64": ("arm64", None), "aarch64_be": ("arm64", None),
    "armv8l": ("arm", "v7"),  # a 32-bit userland on a 64-bit core
    "armv7l": ("arm", "v7"), "armv7": ("arm", "v7"), "armv6l": ("arm", "v6"), "armv5tel": ("arm", "v5"),
    "ppc64le": ("ppc64le", None), "ppc64": ("ppc64", None), "s390x": ("s390x", None),
    "riscv64": ("riscv64", None), "mips64": ("mips64", None), "mips": ("mips", None),
    "loongarch64": ("loong64", None),
}
_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "i386": "386", "armhf": "arm",
                 "armel": "arm"}


def host_platform():
    """This machine's platform as a registry names it: {"os", "architecture", "variant"}."""
    machine = os.uname().machine
    arch, variant = _UNAME_TO_GOARCH.get(machine, (machine, None))
    return {"os": "linux", "architecture": arch, "variant": variant}


def _wanted_platform(platform):
    """None, "arch", "os/arch", "os/arch/variant" or a dict -> normalised dict."""
    if platform is None:
        return host_platform()
    if isinstance(platform, dict):
        want = {"os": platform.get("os", "linux"), "architecture": platform.get("architecture"),
                "variant": platform.get("variant")}
    else:
        parts = str(platform).split("/")
        if len(parts) == 1:
            parts.insert(0, "linux")
        if len(parts) not in (2, 3) or not all(parts):
            raise RegistryError(f"invalid platform {platform!r}: want OS/ARCH[/VARIANT]")
        want = {"os": parts[0], "architecture": parts[1], "variant": parts[2] if len(parts) == 3 else None}
    want["architecture"] = _ARCH_ALIASES.get(want["architecture"], want["architecture"])
    if not want["architecture"]:
        raise RegistryError(f"invalid platform {platform!r}: no architecture")
    return want


def _variant_rank(want, arch, have):
    """How well an image variant suits the wanted one (lower is better); None: unusable."""
    if arch == "arm64":  # v8 is arm64's only common variant; registries often omit it
        want, have = want or "v8", have or "v8"
    if not want or want == have:
        return 0
    if arch == "arm" and have and want[1:].isdigit() and have[1:].isdigit():
        # An ARMv7 CPU also runs v6 and v5 code, like containerd's matcher.
        gap = int(want[1:]) - int(have[1:])
        return gap if gap > 0 else None
    return None


def _index_entries(index, ref):
    entries = index.get("manifests") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise RegistryError(f"the index of {ref} is malformed: manifests must be a list of descriptors")
    return entries


def _platform_of(entry):
    p = entry.get("platform") or {}
    return p if isinstance(p, dict) else {}


def _pick_platform(index, want, ref):
    best = None
    for entry in _index_entries(index, ref):
        p = _platform_of(entry)
        if p.get("os") != want["os"] or p.get("architecture") != want["architecture"]:
            continue
        rank = _variant_rank(want["variant"], want["architecture"], p.get("variant"))
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, entry)
    if best is None:
        raise RegistryError(f"no image for {_platform_str(want)} in {ref}; available: "
                            f"{', '.join(_available(index)) or 'none'}")
    return best[1]


def _platform_str(p):
    return "/".join(str(x) for x in (p.get("os"), p.get("architecture"), p.get("variant")) if x)


def _available(index):
    names = (_platform_str(_platform_of(e)) for e in index.get("manifests") or [])
    return sorted({n for n in names if n and "unknown" not in n})  # unknown/unknown: attestations


# ---------------------------------------------------------------- HTTP

def default_insecure(host):
    """Plain HTTP for loopback registries only, like Docker's default."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _one_line(text, limit=300):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


def _parse_challenge(header):
    """'Bearer realm="x",service="y",scope="a:b:pull,push"' -> ("bearer", {...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    for m in re.finditer(r'([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))', rest):
        value = m.group(2) if m.group(2) is not None else m.group(3)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
    return scheme.lower(), params


def _registry_message(body):
    """The registry's {"errors": [{"code", "message"}]} as one line, or ''."""
    try:
        errors = json.loads(body).get("errors") or []
        return "; ".join(_one_line(f"{e.get('code', '')}: {e.get('message', '')}".strip(": ")) for e in errors)
    except (ValueError, AttributeError, TypeError):
        return ""


def _read(resp, limit, what, some=False):
    """resp.read/read1 with network failures as RegistryError (a disk's stay OSError)."""
    try:
        return resp.read1(limit) if some else resp.read(limit)
    except (OSError, http.client.HTTPException) as e:
        raise RegistryError(f"{what}: download failed: {_one_line(e) or type(e).__name__}") from e


def _error_body(resp):
    """The start of an error response, for its message; b"" if even that fails."""
    try:
        return resp.read(65536)
    except (OSError, http.client.HTTPException):
        return b""


def _basic(auth):
    user, password = auth
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class _Client:
    """HTTP to one registry for one repository; remembers the authorization that worked.

    One connection per request: pulls are a handful of large transfers, and
    a fresh connection cannot be confused by a half-read earlier response."""

    def __init__(self, ref, auth, insecure):
        if insecure is None:
            insecure = default_insecure(ref.host)
        host = DOCKER_HUB_API if ref.host == DOCKER_HUB else ref.netloc
        self.base = f"{'http' if insecure else 'https'}://{host}"
        self.ref = ref
        self.auth = auth
        self.authorization = None
        self.actions = "pull"  # what a token asks for when the challenge names no scope
        self._tls = None

    @contextlib.contextmanager
    def get(self, path, what, accept=()):
        """GET base+path; yield the 200 response.  404 -> NotFound naming `what`."""
        headers = {"Accept": ", ".join(accept)} if accept else {}
        conn, resp = self._authorized_get(self.base + path, headers, what)
        try:
            yield resp
        finally:
            conn.close()

    def _authorized_get(self, url, headers, what):
        refreshed = False
        while True:
            conn, resp = self._follow(url, headers, what)
            if resp.status != 401:
                return conn, self._check(conn, resp, what)
            challenge = resp.getheader("WWW-Authenticate", "")
            body = _error_body(resp)
            conn.close()
            if refreshed:  # the credentials we just got were not enough
                raise self._denied(body)
            self.authorization = self._answer(challenge, body)
            refreshed = True

    def _follow(self, url, headers, what):
        """GET url, following redirects (registries send blobs to storage)."""
        origin = urllib.parse.urlsplit(url)[:2]
        for _ in range(MAX_REDIRECTS + 1):
            send = dict(headers)
            # Credentials are for the registry, never for the storage it redirects to.
            if self.authorization and urllib.parse.urlsplit(url)[:2] == origin:
                send["Authorization"] = self.authorization
            conn, resp = self._request(url, send)
            location = resp.getheader("Location")
            if resp.status not in (301, 302, 303, 307, 308) or not location:
                return conn, resp
            conn.close()
            url = urllib.parse.urljoin(url, location)
        raise RegistryError(f"{what}: too many redirects from {self.ref.netloc}")

    def send(self, method, url, what, headers=None, body=None, ok=(200, 201, 202, 204)):
        """One request to the registry (url: a path or a full URL), a 401
        answered once with our credentials; returns the response, its body
        read.  `body`: bytes or the path of a file (reopened for a retry)."""
        url = url if "://" in url else self.base + url
        refreshed = False
        while True:
            send = dict(headers or {})
            if self.authorization:
                send["Authorization"] = self.authorization
            conn, resp = self._request(url, send, method, body)
            try:
                data = _read(resp, MAX_MANIFEST, what)
            finally:
                conn.close()
            if resp.status in ok:
                resp.body = data
                return resp
            if resp.status != 401 or refreshed:
                if resp.status == 401:
                    raise self._denied(data)
                message = _registry_message(data) or f"HTTP {resp.status} {resp.reason}"
                if resp.status == 404:
                    raise NotFound(f"{what}: {message}")
                if resp.status == 403:
                    raise AuthError(f"{what}: denied: {message}")
                raise RegistryError(f"{what}: {self.ref.netloc} answered {message}")
            self.authorization = self._answer(resp.getheader("WWW-Authenticate", ""), data)
            refreshed = True

    def _request(self, url, headers, method="GET", body=None):
        parts = urllib.parse.urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
            raise RegistryError(f"unsupported URL {_one_line(url, 120)!r} from {self.ref.netloc}")
        # The port always explicit: http.client would read "::1" as host ":" port 1.
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(parts.hostname, port or 443, timeout=TIMEOUT,
                                               context=self._tls_context())
        else:
            conn = http.client.HTTPConnection(parts.hostname, port or 80, timeout=TIMEOUT)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            if isinstance(body, str):  # a file: streamed, with its length
                with open(body, "rb") as f:
                    conn.request(method, target, body=f, headers={"User-Agent": "fastctr",
                                                                  "Content-Length": str(os.fstat(f.fileno()).st_size),
                                                                  **headers})
            else:
                conn.request(method, target, body=body, headers={"User-Agent": "fastctr", **headers})
            return conn, conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise RegistryError(f"cannot reach {parts.netloc}: {_one_line(e) or type(e).__name__}") from e

    def _tls_context(self):
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def _check(self, conn, resp, what):
        if resp.status == 200:
            return resp
        message = _registry_message(_error_body(resp)) or f"HTTP {resp.status} {resp.reason}"
        conn.close()
        if resp.status == 404:
            raise NotFound(f"{what} not found: {message}")
        if resp.status == 403:
            raise AuthError(f"access to {self.ref} denied: {message}")
        raise RegistryError(f"{what}: {self.ref.netloc} answered {message}")

    def _denied(self, body):
        message = _registry_message(body) or "HTTP 401"
        who = f"as {self.auth[0]!r}" if self.auth else "anonymously"
        verb = {"pull": "pull", "pull,push": "push to"}.get(self.actions, "log in to")
        return AuthError(f"cannot {verb} {self.ref if self.ref.repository else self.ref.netloc} {who}: {message}")

    def _answer(self, challenge, body):
        """The Authorization header that answers a 401's WWW-Authenticate."""
        scheme, params = _parse_challenge(challenge)
        if scheme == "bearer" and params.get("realm"):
            return "Bearer " + self._token(params)
        if scheme == "basic":
            if not self.auth:
                raise AuthError(f"{self.ref.netloc} requires a username and password")
            return _basic(self.auth)
        raise self._denied(body)

    def _token(self, params):
        """GET a token from the challenge's realm (Docker's token protocol)."""
        default_scope = f"repository:{self.ref.repository}:{self.actions}" if self.ref.repository else None
        query = {"service": params.get("service"), "scope": params.get("scope") or default_scope}
        realm = params["realm"]
        sep = "&" if urllib.parse.urlsplit(realm).query else "?"
        url = realm + sep + urllib.parse.urlencode({k: v for k, v in query.items() if v})
        headers = {"Authorization": _basic(self.auth)} if self.auth else {}
        conn, resp = self._request(url, headers)
        try:
            body = _read(resp, 65536, f"token from {urllib.parse.urlsplit(realm).netloc}")
        finally:
            conn.close()
        if resp.status in (401, 403):
            raise self._denied(body)
        if resp.status != 200:
            raise AuthError(f"token server {urllib.parse.urlsplit(realm).netloc} answered HTTP {resp.status}")
        try:
            answer = json.loads(body)
            token = answer.get("token") or answer.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not token or not isinstance(token, str):
            raise AuthError(f"token server {urllib.parse.urlsplit(realm).netloc} sent no token")
        return token


# ---------------------------------------------------------------- the layout

def _check_descriptor(desc, what):
    """Validate a descriptor from the registry before its digest names a file."""
    if not isinstance(desc, dict):
        raise RegistryError(f"{what}: malformed descriptor")
    digest, size = desc.get("digest"), desc.get("size")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise RegistryError(f"{what}: unsupported digest {_one_line(digest, 80)!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RegistryError(f"{what}: invalid size for {digest}")
    return digest, size


@contextlib.contextmanager
def _removed_on_error(path):
    try:
        yield
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        raise


class _Layout:
    """blobs/sha256/ plus rollback: a failed pull removes what it created."""

    def __init__(self, root):
        self.root = root
        self.blobs = os.path.join(root, "blobs", "sha256")
        self.created = []  # the files this pull made
        missing, d = [], os.path.abspath(self.blobs)
        while not os.path.isdir(d):
            missing.append(d)
            d = os.path.dirname(d)
        os.makedirs(self.blobs, exist_ok=True)
        self.created_dirs = missing  # deepest first: the order to remove them

    def path(self, digest):
        return os.path.join(self.blobs, digest.split(":", 1)[1])

    def present(self, digest, size):
        """A blob already here (renamed into place only once verified)."""
        try:
            return os.stat(self.path(digest)).st_size == size
        except FileNotFoundError:
            return False

    def _temp_name(self, digest):
        fd, tmp = tempfile.mkstemp(prefix=f".{digest[7:19]}-", suffix=".partial", dir=self.blobs)
        os.close(fd)
        return tmp

    def _commit(self, tmp, digest):
        final = self.path(digest)
        os.replace(tmp, final)
        self.created.append(final)

    @contextlib.contextmanager
    def writing(self, digest):
        """Yield a file for blob `digest`; it gets its name only if the block succeeds."""
        tmp = self._temp_name(digest)
        with _removed_on_error(tmp), open(tmp, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())  # a blob's name promises its content, even after a crash
        self._commit(tmp, digest)

    def link_from(self, src, digest):
        """Hard-link (or copy, across filesystems) a blob we already have."""
        tmp = self._temp_name(digest)
        with _removed_on_error(tmp):
            os.unlink(tmp)  # os.link will not replace; the name stays ours, in our directory
            try:
                os.link(src, tmp)
            except OSError:
                shutil.copyfile(src, tmp)
            self._commit(tmp, digest)

    def write_json(self, name, obj):
        final = os.path.join(self.root, name)
        existed = os.path.exists(final)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}-", dir=self.root)
        with _removed_on_error(tmp):
            with os.fdopen(fd, "w") as f:
                json.dump(obj, f, separators=(",", ":"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        if not existed:
            self.created.append(final)

    def rollback(self):
        for path in self.created:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        for d in self.created_dirs:
            with contextlib.suppress(OSError):  # not empty: someone else uses it too
                os.rmdir(d)


def _stream_blob(client, layout, digest, size, progress):
    """Download one blob, verifying size and sha256 as bytes arrive."""
    what = f"blob {digest} of {client.ref.repository}"
    with layout.writing(digest) as out, client.get(f"/v2/{client.ref.repository}/blobs/{digest}", what) as resp:
        h, done = hashlib.sha256(), 0
        if progress:
            progress(digest, 0, size)
        # read1: whatever has arrived, so progress moves on a slow link.  +1: notice an overlong blob.
        while chunk := _read(resp, min(CHUNK, size - done + 1), what, some=True):
            done += len(chunk)
            if done > size:
                raise RegistryError(f"{what} is larger than its {size} bytes")
            h.update(chunk)
            out.write(chunk)
            if progress:
                progress(digest, done, size)
        if done != size:
            raise RegistryError(f"{what} ended after {done} of {size} bytes")
        if "sha256:" + h.hexdigest() != digest:
            raise RegistryError(f"{what} does not match its digest (got sha256:{h.hexdigest()})")


def _size_or_none(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def _get_blob(client, layout, desc, what, have_blob, progress):
    digest, size = _check_descriptor(desc, what)
    if layout.present(digest, size):
        return digest
    local = have_blob(digest) if have_blob else None
    if local and _size_or_none(local) == size:  # a size check is cheap; rehashing is not
        layout.link_from(local, digest)
    else:
        _stream_blob(client, layout, digest, size, progress)
    return digest


def _fetch_manifest(client, reference, expect_digest=None):
    """GET a manifest; return (bytes, parsed, media type, digest), verified."""
    sep = "@" if reference.startswith("sha256:") else ":"
    what = f"manifest {client.ref.netloc}/{client.ref.repository}{sep}{reference}"
    path = f"/v2/{client.ref.repository}/manifests/{reference}"
    with client.get(path, what, accept=INDEX_TYPES + MANIFEST_TYPES) as resp:
        body = _read(resp, MAX_MANIFEST + 1, what)
        content_type = resp.getheader("Content-Type", "").split(";")[0].strip()
        claimed = resp.getheader("Docker-Content-Digest")
    if len(body) > MAX_MANIFEST:
        raise RegistryError(f"{what} is larger than {MAX_MANIFEST} bytes")
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    for want in (expect_digest, claimed if claimed and claimed.startswith("sha256:") else None):
        if want and want != digest:
            raise RegistryError(f"{what} does not match digest {want} (got {digest})")
    manifest, media_type = parse_manifest(body, content_type, what)
    return body, manifest, media_type, digest


def parse_manifest(body, content_type, what):
    """A manifest or index as a registry sent it -> (document, media type)."""
    try:
        manifest = json.loads(body)
    except ValueError:
        raise RegistryError(f"{what} is not JSON") from None
    if not isinstance(manifest, dict):
        raise RegistryError(f"{what} is not a JSON object")
    return manifest, _media_type(content_type, manifest, what)


def _media_type(content_type, manifest, what):
    # The header is authoritative; the body's field covers registries that send application/json.
    for candidate in (content_type, manifest.get("mediaType")):
        if candidate in INDEX_TYPES + MANIFEST_TYPES:
            return candidate
    if "manifests" in manifest:
        return OCI_INDEX
    if manifest.get("schemaVersion") == 2 and "config" in manifest:
        return OCI_MANIFEST
    raise RegistryError(f"{what} has unsupported type {content_type or manifest.get('mediaType')!r} "
                        "(Docker schema 1 images are not supported)")


def _resolve(client, ref, platform):
    """The image manifest for ref, through an index if there is one.

    Returns (bytes, manifest, media type, digest, platform or None, index digest or None)."""
    body, manifest, media_type, digest = _fetch_manifest(client, ref.digest or ref.tag, ref.digest)
    if media_type not in INDEX_TYPES:
        return body, manifest, media_type, digest, None, None
    entry = _pick_platform(manifest, _wanted_platform(platform), ref)
    child_digest, size = _check_descriptor(entry, f"index of {ref}")
    child = _fetch_manifest(client, child_digest, child_digest)
    if len(child[0]) != size:
        raise RegistryError(f"manifest {child_digest} of {ref} is not {size} bytes as its index says")
    if child[2] not in MANIFEST_TYPES:
        raise RegistryError(f"{ref}: the index entry for {_platform_str(_platform_of(entry))} is not an image")
    return (*child, entry.get("platform"), digest)


def pull_to_layout(ref, layout_dir, *, auth=None, insecure=None, platform=None, have_blob=None, progress=None,
                   have_layer=None):
    """Pull `ref` (a Reference or its text) into an OCI image layout at layout_dir.

    Returns {"reference", "manifest_digest", "config_digest", "layers",
    "media_type", "index_digest"} (index_digest: the multi-platform index the
    manifest was chosen from, else None)."""
    if not isinstance(ref, Reference):
        ref = Reference.parse(ref)
    client = _Client(ref, auth, insecure)
    body, manifest, media_type, digest, chosen_platform, index_digest = _resolve(client, ref, platform)
    layout = _Layout(layout_dir)
    try:
        config_digest = _get_blob(client, layout, manifest.get("config"), f"config of {ref}", have_blob, None)
        layers = [_get_blob(client, layout, desc, f"layer of {ref}", have_layer or have_blob, progress)
                  for desc in _layer_list(manifest, ref)]
        _write_manifest(layout, body, digest)
        descriptor = {"mediaType": media_type, "digest": digest, "size": len(body)}
        if chosen_platform:
            descriptor["platform"] = chosen_platform
        if ref.tag:
            descriptor["annotations"] = {REF_NAME: ref.tag}
        layout.write_json("oci-layout", {"imageLayoutVersion": "1.0.0"})
        layout.write_json("index.json", {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]})
    except BaseException:
        layout.rollback()
        raise
    return {"reference": str(ref), "manifest_digest": digest, "config_digest": config_digest,
            "layers": layers, "media_type": media_type, "index_digest": index_digest}


def list_tags(ref, *, auth=None, insecure=None):
    """Every tag of ref's repository: the registry's tags/list, page after page
    (its Link: <...>; rel="next" header)."""
    client = _Client(ref, auth, insecure)
    url, tags, what = f"/v2/{ref.repository}/tags/list", [], f"tags of {ref.netloc}/{ref.repository}"
    for _ in range(10000):  # a registry that links in a circle must not hold us forever
        resp = client.send("GET", url, what, ok=(200,))
        try:
            page = json.loads(resp.body).get("tags") or []
        except (ValueError, AttributeError):
            raise RegistryError(f"{what}: the registry's answer is not a tag list") from None
        tags += [t for t in page if isinstance(t, str) and _TAG.fullmatch(t) and t not in tags]
        link = re.match(r'\s*<([^>]+)>\s*;\s*rel="?next"?', resp.getheader("Link") or "")
        if not link:
            return tags
        url = urllib.parse.urljoin(client.base + "/", link.group(1))
    raise RegistryError(f"{what}: too many pages")


def _layer_list(manifest, ref):
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        raise RegistryError(f"manifest of {ref} has no layer list")
    return layers


def _write_manifest(layout, body, digest):
    if not layout.present(digest, len(body)):
        with layout.writing(digest) as out:
            out.write(body)


# ---------------------------------------------------------------- progress

def _human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def progress_bar(stream):
    """A progress callback printing one line per layer: 'a1b2c3d4e5f6: 3.1 MiB / 4.0 MiB'.

    The line is rewritten in place with carriage returns and ended when the
    layer is complete.  On anything but a terminal it prints nothing, so
    callers can pass it unconditionally."""
    if not stream.isatty():
        return lambda digest, done, total: None
    return _ProgressLines(stream)


class _ProgressLines:
    def __init__(self, stream):
        self.stream = stream
        self.open_digest = None  # the layer whose line is not finished yet
        self.shown = None        # its text as last written

    def __call__(self, digest, done, total):
        if self.open_digest not in (None, digest):
            self.stream.write("\n")  # keep the unfinished line of another layer
            self.open_digest = None
        text = f"{digest.split(':')[-1][:12]}: {_human(done)} / {_human(total)}"
        finished = done >= total
        if digest == self.open_digest and text == self.shown and not finished:
            return  # nothing visible changed: spare the terminal
        self.stream.write("\r" + text + ("\n" if finished else ""))
        self.stream.flush()
        self.open_digest, self.shown = (None, None) if finished else (digest, text)
