"""Image references as Docker reads and writes them (distribution/reference).

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path-component [ "/" path-component ]*
    domain     := host [ ":" port ]        host: a DNS name or [IPv6]

parse_normalized() is Go's ParseNormalizedNamed: `busybox`, `library/busybox`
and `docker.io/library/busybox` are one repository, because a first
component is a registry only if it has a '.' or ':', is `localhost` or has
capitals; otherwise the repository is on Docker Hub, and a one-component
name there is an official image under `library/`.  familiar() is Go's
FamiliarString, the form Docker shows: `busybox:latest`, `myuser/app:1`,
`quay.io/x/y:1`, `localhost:5000/a:b`.

The image store keys its tags by canonical(): the familiar form with the
tag ("latest" when none is given), or with the digest for a digest
reference; so whatever a user types, one image has one name, and listing
it needs no further work."""
import re

from fastctr.errors import InvalidReference  # defined there, exported here too

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
MAX_NAME = 255

# The grammar of distribution/reference's regexp.go, piece by piece.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = _ALNUM + r"(?:" + _SEPARATOR + _ALNUM + r")*"
_REMOTE_NAME = _PATH_COMPONENT + r"(?:/" + _PATH_COMPONENT + r")*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = _DOMAIN_COMPONENT + r"(?:\." + _DOMAIN_COMPONENT + r")*"
_HOST = r"(?:" + _DOMAIN_NAME + r"|\[(?:[a-fA-F0-9:]+)\])"
_DOMAIN = _HOST + r"(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"

_REFERENCE = re.compile(r"((?:" + _DOMAIN + r"/)?" + _REMOTE_NAME + r")(?::(" + _TAG + r"))?(?:@(" + _DIGEST + r"))?",
                        re.ASCII)
_NAME = re.compile(r"(?:(" + _DOMAIN + r")/)?(" + _REMOTE_NAME + r")", re.ASCII)
_IDENTIFIER = re.compile(r"[a-f0-9]{64}")
_DIGEST_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}


class Ref:
    """A parsed, normalised reference: domain ("docker.io", "localhost:5000"),
    path ("library/busybox"), tag and digest (either may be None)."""

    __slots__ = ("domain", "path", "tag", "digest")

    def __init__(self, domain, path, tag=None, digest=None):
        self.domain, self.path, self.tag, self.digest = domain, path, tag, digest

    def __eq__(self, other):
        return isinstance(other, Ref) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def _key(self):
        return (self.domain, self.path, self.tag, self.digest)

    def __repr__(self):
        return f"Ref({str(self)!r})"

    @property
    def name(self):
        """The full repository name: docker.io/library/busybox."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self):
        """The repository as Docker shows it: busybox, myuser/app, quay.io/x/y."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        rest = self.path[len(OFFICIAL_PREFIX):] if self.path.startswith(OFFICIAL_PREFIX) else None
        return rest if rest and "/" not in rest else self.path

    def _suffix(self):
        return (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def __str__(self):
        return self.name + self._suffix()

    def familiar(self):
        return self.familiar_name + self._suffix()

    def with_default_tag(self):
        """Docker's TagNameOnly: a bare name means :latest."""
        return self if self.tag or self.digest else Ref(self.domain, self.path, DEFAULT_TAG)

    def docker_ref(self):
        """Docker's ParseDockerRef: tagged or digested; with both the digest wins."""
        if self.digest:
            return Ref(self.domain, self.path, None, self.digest) if self.tag else self
        return self.with_default_tag()


def parse(text):
    """distribution's Parse: the reference as written, not normalised."""
    if not text:
        raise InvalidReference("invalid reference format: repository name must have at least one component")
    m = _REFERENCE.fullmatch(text)
    if m is None:
        if text.lower() != text and _REFERENCE.fullmatch(text.lower()):
            raise InvalidReference("invalid reference format: repository name must be lowercase")
        raise InvalidReference("invalid reference format")
    name, tag, digest = m.groups()
    domain, path = _NAME.fullmatch(name).groups()
    if len(path) > MAX_NAME:
        raise InvalidReference(f"invalid reference format: repository name must not be more than {MAX_NAME} "
                               "characters")
    if digest is not None:
        _check_digest(digest)
    return Ref(domain or "", path, tag, digest)


def _check_digest(digest):
    algorithm, _, hexd = digest.partition(":")
    if algorithm not in _DIGEST_HEX:
        raise InvalidReference("unsupported digest algorithm")
    if len(hexd) != _DIGEST_HEX[algorithm]:
        raise InvalidReference("invalid checksum digest length")
    if hexd.lower() != hexd:
        raise InvalidReference("invalid checksum digest format")


def split_docker_domain(name):
    """(domain, remainder) of a name as Docker reads it; remainder keeps any tag."""
    first, slash, rest = name.partition("/")
    if not slash:
        return DEFAULT_DOMAIN, OFFICIAL_PREFIX + name
    if first == "localhost" or "." in first or ":" in first or first.lower() != first:
        domain, rest = first, rest
    else:
        domain, rest = DEFAULT_DOMAIN, name
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in rest:
        rest = OFFICIAL_PREFIX + rest
    return domain, rest


def parse_normalized(text):
    """Go's ParseNormalizedNamed: any way of writing a reference -> its Ref."""
    if not isinstance(text, str):
        raise InvalidReference("invalid reference format")
    if _IDENTIFIER.fullmatch(text):
        raise InvalidReference(f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = split_docker_domain(text)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise InvalidReference(f"invalid reference format: repository name ({remote}) must be lowercase")
    ref = parse(f"{domain}/{remainder}")
    return Ref(domain, ref.path, ref.tag, ref.digest)


def canonical(text):
    """The store's key for a reference: familiar name with its tag (or digest)."""
    return parse_normalized(text).docker_ref().familiar()


def is_image_id(text):
    """A full or shortened image ID ("sha256:" optional), as opposed to a name."""
    hexd = text[7:] if text.startswith("sha256:") else text
    return bool(hexd) and len(hexd) <= 64 and all(c in "0123456789abcdef" for c in hexd)


def match_familiar(pattern, name):
    """`docker images --filter reference=PATTERN`: a shell-style PATTERN
    matched against the familiar name with its tag, or against the name
    alone (as Docker's reference filter does; `*` does not cross '/')."""
    pattern_re = _glob(pattern)
    repo = name.split("@", 1)[0]
    colon = repo.rfind(":")
    bare = repo[:colon] if colon > repo.rfind("/") else repo
    return bool(pattern_re.fullmatch(name) or pattern_re.fullmatch(bare))


def _glob(pattern):
    """Go's path.Match, which Docker's filter uses: '*' and '?' stop at '/'."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:end]
                out.append("[" + ("^" + body[1:] if body.startswith("^") else body).replace("\\", "\\\\") + "]")
                i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out))
