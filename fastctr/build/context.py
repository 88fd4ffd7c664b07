"""What COPY and ADD read: the build context, or another stage's or
image's file system, as one read-only view.

A view answers lstat, listdir, a host path to read and readlink for paths
relative to its root.  The context view is a directory (the CONTEXT
argument, or a tar from stdin unpacked into the store's temporary work)
minus what .dockerignore excludes.  A stage's or image's view is its layer
directories, top first, read through their whiteouts and opaque
directories (fastctr.engine.changes.ImageView): nothing is mounted.

Sources are resolved as Docker does: relative to the root whatever they
start with, wildcards per path component (Go's filepath.Match), nothing
outside the root, an excluded file is as absent as a missing one."""
import fnmatch
import os
import re
import stat

from fastctr.errors import FastctrError


class BuildError(FastctrError):
    """A build failed; the message names the step or file (exit 1)."""


class DirView:
    """A plain directory; `ignore` (fastctr.build.ignore.Ignore) hides entries."""

    def __init__(self, root, ignore=None):
        self.root = root
        self.ignore = ignore

    def host_path(self, rel):
        return os.path.join(self.root, rel) if rel else self.root

    def lstat(self, rel):
        if rel and self.ignore is not None and self._ignored(rel):
            return None
        try:
            return os.lstat(self.host_path(rel))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _ignored(self, rel):
        """Excluded, unless a directory an exception (`!`) may re-include something in."""
        st = None
        try:
            st = os.lstat(self.host_path(rel))
        except OSError:
            pass
        is_dir = st is not None and stat.S_ISDIR(st.st_mode)
        return self.ignore.excluded(rel, is_dir=is_dir) and not (is_dir and self.ignore.may_contain_included(rel))

    def listdir(self, rel):
        names = os.listdir(self.host_path(rel))
        if self.ignore is None:
            return sorted(names)
        return [name for name in sorted(names) if not self._ignored(f"{rel}/{name}" if rel else name)]

    def readlink(self, rel):
        return os.readlink(self.host_path(rel))


class LayersView:
    """An image's file system through its layer directories, top first."""

    def __init__(self, layer_dirs):
        from fastctr.engine.changes import ImageView
        self.view = ImageView(layer_dirs)
        self.layer_dirs = layer_dirs
        self._found = {}

    def _find(self, rel):
        if rel not in self._found:
            self._found[rel] = self.view.find(rel) if rel else _root_of(self.layer_dirs)
        return self._found[rel]

    def host_path(self, rel):
        found = self._find(rel)
        return found[0] if found else None

    def lstat(self, rel):
        found = self._find(rel)
        return found[1] if found else None

    def listdir(self, rel):
        return sorted(self.view.names(rel), key=os.fsencode)

    def readlink(self, rel):
        return os.readlink(self.host_path(rel))


def _root_of(layer_dirs):
    for d in layer_dirs:
        return d, os.lstat(d)
    return None


def clean(path):
    """A source path as Docker takes it: relative to the root, `..` kept
    inside it (a path that climbs out is refused)."""
    parts = []
    for part in path.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise BuildError(f"forbidden path outside the build context: {path}")
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


_GLOB = re.compile(r"[*?\[]")


def resolve(view, pattern, what="file"):
    """The paths a COPY/ADD source names in view (sorted), following a
    symlink at the top as Docker does; BuildError when nothing matches."""
    rel = clean(pattern)
    if not _GLOB.search(rel):
        rel = follow(view, rel)
        if view.lstat(rel) is None:
            raise BuildError(f"failed to compute cache key: \"/{rel}\": not found")
        return [rel]
    found = _glob(view, "", rel.split("/"))
    if not found:
        raise BuildError(f"failed to compute cache key: no source files were specified (\"{pattern}\" "
                         f"matches nothing)")
    return sorted(found)


def _glob(view, base, parts):
    st = view.lstat(base)
    if st is None or not stat.S_ISDIR(st.st_mode):
        return []
    head, rest = parts[0], parts[1:]
    pattern = head.replace("[^", "[!")
    if _GLOB.search(head):
        names = [n for n in view.listdir(base) if fnmatch.fnmatchcase(n, pattern)]
    else:
        names = [head] if view.lstat(_join(base, head)) is not None else []
    out = []
    for name in names:
        child = _join(base, name)
        out.extend(_glob(view, child, rest) if rest else [child])
    return out


def _join(base, name):
    return f"{base}/{name}" if base else name


def follow(view, rel, depth=0):
    """rel with a symlink at its end resolved inside the view's root."""
    st = view.lstat(rel)
    if st is None or not stat.S_ISLNK(st.st_mode):
        return rel
    if depth > 40:
        raise BuildError(f"too many levels of symbolic links: /{rel}")
    target = view.readlink(rel)
    parent = rel.rpartition("/")[0]
    joined = target if target.startswith("/") else _join(parent, target)
    try:
        return follow(view, clean(joined), depth + 1)
    except BuildError:
        return clean(joined.lstrip("/").split("/..")[0])  # climbs out: stays at the root, as a chroot would


def walk(view, rel):
    """rel and everything below it, parents first, names sorted: (rel, lstat)."""
    st = view.lstat(rel)
    if st is None:
        return
    yield rel, st
    if stat.S_ISDIR(st.st_mode):
        for name in view.listdir(rel):
            yield from walk(view, _join(rel, name))


def content_digest(view, sources):
    """A digest of what the sources hold (names, types, modes, owners,
    targets, file contents; not times): COPY/ADD's part of its cache key."""
    from fastctr.image.store import _sha256
    h = _sha256()
    for src in sources:
        for rel, st in walk(view, src):
            kind = stat.S_IFMT(st.st_mode)
            h.update(f"{rel}\0{kind}\0{stat.S_IMODE(st.st_mode)}\0{st.st_uid}:{st.st_gid}\0".encode())
            if stat.S_ISLNK(st.st_mode):
                h.update(view.readlink(rel).encode() + b"\0")
            elif stat.S_ISREG(st.st_mode):
                h.update(_file_digest(view.host_path(rel), st))
    return "sha256:" + h.hexdigest()


_FILE_DIGESTS = {}
_SMALL_FILE = 256 << 10  # below: CPython's own sha256, as fast as loading OpenSSL's would be


def _file_digest(path, st):
    key = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _FILE_DIGESTS:
        if st.st_size < _SMALL_FILE:
            from fastctr.image.store import _sha256 as sha256
        else:
            from hashlib import sha256  # OpenSSL's: several times faster on big files, ~4 ms to load
        h = sha256()
        with open(path, "rb") as f:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                h.update(chunk)
        _FILE_DIGESTS[key] = h.digest()
    return _FILE_DIGESTS[key]


# ------------------------------------------------------------- the context

class Context:
    """The build context: a directory, its .dockerignore, the Dockerfile."""

    def __init__(self, root, cleanup=None):
        self.root = root
        self._cleanup = cleanup
        self.view = DirView(root)

    def use_ignore(self, dockerfile_path):
        """.dockerignore, or <Dockerfile>.dockerignore beside the Dockerfile (BuildKit)."""
        from fastctr.build import ignore
        patterns = ignore.read_ignore(self.root, os.path.abspath(dockerfile_path) if dockerfile_path else None)
        if patterns:
            self.view = DirView(self.root, ignore.Ignore(patterns))

    def close(self):
        if self._cleanup:
            self._cleanup()
            self._cleanup = None


def open_context(arg, store, stdin):
    """CONTEXT as `fastctr build` takes it: a directory, or `-` (a tar
    archive, of any compression fastctr reads, or a Dockerfile) from stdin.
    -> (Context, the Dockerfile text read from stdin or None)."""
    if arg == "-":
        return _context_from_stdin(store, stdin)
    if re.match(r"^(https?|git)://|^git@|\.git$", arg):
        raise BuildError(f"unable to prepare context: remote build contexts are not supported: {arg}")
    if not os.path.exists(arg):
        raise BuildError(f"unable to prepare context: path \"{arg}\" not found")
    if not os.path.isdir(arg):
        raise BuildError(f"unable to prepare context: context must be a directory: {arg}")
    return Context(os.path.abspath(arg)), None


def _context_from_stdin(store, stdin):
    from fastctr.image import tmpwork
    from fastctr.image.store import rmtree
    data = stdin.read()
    work = tmpwork.make_dir(store.tmp_dir(), "build-context")
    try:
        if _is_archive(data):
            from fastctr.image.layers import apply_layer
            import io
            os.mkdir(os.path.join(work, "c"), 0o755)
            apply_layer(io.BytesIO(_plain_or_gzip_zstd(data)), os.path.join(work, "c"), mode="apply")
            return Context(os.path.join(work, "c"), lambda: rmtree(work)), None
        os.mkdir(os.path.join(work, "c"), 0o755)
        return Context(os.path.join(work, "c"), lambda: rmtree(work)), data.decode("utf-8", "replace")
    except BaseException:
        rmtree(work)
        raise


def _is_archive(data):
    if data[:2] == b"\x1f\x8b" or data[:3] == b"BZh" or data[:6] == b"\xfd7zXZ\x00" or \
            data[:4] == b"\x28\xb5\x2f\xfd":
        return True
    return len(data) >= 512 and data[257:262] == b"ustar"


def _plain_or_gzip_zstd(data):
    """bzip2 and xz undone here; the layer reader takes the rest."""
    if data[:3] == b"BZh":
        import bz2
        return bz2.decompress(data)
    if data[:6] == b"\xfd7zXZ\x00":
        import lzma
        return lzma.decompress(data)
    return data
