"""Build secrets: `--secret id=ID[,src=PATH|env=VAR][,type=file|env]` on the
command line, `RUN --mount=type=secret,id=ID[,target=PATH][,env=VAR]
[,required=true][,mode=0400][,uid=0][,gid=0]` in the Dockerfile.

A secret reaches only the RUN that mounts it: as a read-only file (a copy
with the mount's mode and owner, in the step's own directory, removed with
it) and/or in that RUN's environment.  It is never part of a layer, the
history or the cache key (BuildKit's rules: a changed secret does not
rebuild a cached step)."""
import os

from fastctr.build.context import BuildError

DEFAULT_DIR = "/run/secrets"


class Source:
    """One --secret of the command line: where its value is read."""

    def __init__(self, ident, kind, where):
        self.id, self.kind, self.where = ident, kind, where

    def value(self):
        """The secret's bytes, or None when its source is not there."""
        if self.kind == "env":
            value = os.environ.get(self.where)
            return None if value is None else os.fsencode(value)
        with open(self.where, "rb") as f:
            return f.read()


def parse_flag(spec):
    """One --secret value -> Source; ValueError with buildx's words when malformed."""
    fields = {}
    for part in spec.split(","):
        key, eq, value = part.partition("=")
        key = key.strip().lower()
        if not eq:
            raise ValueError(f"invalid field {part!r} must be a key=value pair")
        if key not in ("id", "src", "source", "env", "type"):
            raise ValueError(f"unexpected key {key!r} in {part!r}")
        fields["src" if key == "source" else key] = value
    kind = fields.get("type")
    if kind not in (None, "file", "env"):
        raise ValueError(f"unsupported secret type {kind!r}")
    ident = fields.get("id") or fields.get("env") or ""
    if not ident:
        raise ValueError(f"secret {spec!r}: an id is required")
    if kind == "env" or kind is None and "env" in fields:
        return Source(ident, "env", fields.get("env") or ident)
    if kind is None and "src" not in fields and ident in os.environ:
        return Source(ident, "env", ident)  # `--secret id=TOKEN`: the variable TOKEN, as buildx
    path = os.path.abspath(fields.get("src") or ident)
    if not os.path.isfile(path):
        raise ValueError(f"secret {ident}: failed to stat {path}: no such file")
    return Source(ident, "file", path)


def parse_flags(specs):
    out = {}
    for spec in specs:
        source = parse_flag(spec)
        out[source.id] = source
    return out


class SecretMount:
    """One RUN --mount=type=secret."""

    def __init__(self, mount):
        opts = mount.opts
        self.spec = mount.spec
        self.env = opts.get("env") or None
        target = mount.target
        self.id = opts.get("id") or (os.path.basename(target.rstrip("/")) if target else "")
        if not self.id:
            raise BuildError(f"RUN --mount {mount.spec}: a secret needs an id or a target")
        if not target and not self.env:
            target = f"{DEFAULT_DIR}/{self.id}"
        self.target = target
        self.required = opts.get("required", "false") == "true"
        try:
            self.mode = int(opts.get("mode", "0400"), 8)
            self.uid, self.gid = int(opts.get("uid", "0")), int(opts.get("gid", "0"))
        except ValueError:
            raise BuildError(f"RUN --mount {mount.spec}: mode is octal, uid and gid are numbers") from None

    def value(self, sources):
        """The secret's bytes; None for a missing one that is not required."""
        source = sources.get(self.id)
        value = source.value() if source else None
        if value is None and self.required:
            raise BuildError(f"secret {self.id} not found: give it with --secret id={self.id},src=PATH "
                             f"(or env=VAR)")
        return value

    def write(self, value, tmp, n):
        """The file the mount binds: a copy of the value with its mode and owner."""
        path = os.path.join(tmp, f"secret{n}")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), "wb") as f:
            f.write(value)
            os.fchown(f.fileno(), self.uid, self.gid)
            os.fchmod(f.fileno(), self.mode)
        return path
