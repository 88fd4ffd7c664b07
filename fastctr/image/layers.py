"""Apply and produce OCI/Docker image layer tarballs, exactly and safely.

apply_layer() unpacks a (gzip, zstd or plain) layer tar into a directory,
either as one overlayfs layer (whiteouts become 0:0 character devices and
opaque directories get trusted.overlay.opaque=y) or on top of the merged
lower layers (whiteouts delete).  write_layer() produces a layer from an
overlayfs upper directory or from a (changed, original) pair of full trees;
export_tree() tars a whole tree.

Safety: a layer is untrusted input.  Every path is resolved one component at
a time from a directory fd with O_NOFOLLOW, so no symlink in dest (including
one the layer itself just created) is ever followed, and every operation on
the final component is the no-follow variant.  Names are refused, never
"fixed": an absolute name or one that climbs out with '..' is an error.

Only the standard library is needed; zstd layers need the `zstandard`
package, imported when the first zstd layer is met.

One cohesive thing (hence its length): applying, checking and writing a
layer share one model of a tar member and of whiteouts.
"""
from __future__ import annotations

import dataclasses
import errno
import gzip
import hashlib
import os
import shutil
import stat
import tarfile
import zlib

from fastctr.errors import LayerError  # defined there, exported here too

__all__ = ["LayerError", "LayerInfo", "apply_layer", "write_layer", "export_tree"]

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
AUFS_META_PREFIX = ".wh..wh."       # aufs bookkeeping (.wh..wh.plnk, ...), never content
OPAQUE_XATTR = "trusted.overlay.opaque"
OVERLAY_XATTR_PREFIX = "trusted.overlay."
PAX_XATTR_PREFIX = "SCHILY.xattr."
SECURITY_XATTR_PREFIX = "security."
CAPABILITY_XATTR = "security.capability"

_CHUNK = 1 << 20
_NS = 10 ** 9
_DIR_PATH_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_READ_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# xattrs a filesystem or an LSM may refuse on some inodes (user.* on a symlink,
# no xattr support at all): like Docker, such a refusal is not a broken layer.
_XATTR_REFUSED = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP)


@dataclasses.dataclass(frozen=True)
class LayerInfo:
    diff_id: str            # sha256 of the uncompressed tar stream
    digest: str             # sha256 of the bytes as given (compressed)
    size: int               # number of bytes as given
    uncompressed_size: int
    # What Docker calls the layer's size (images, history, inspect): the bytes
    # of its files and symlink targets, not of the tar (overlay2's directory.Size).
    content_size: int = 0


# ---------------------------------------------------------------------------
# Reading: digests, decompression, strict tar iteration
# ---------------------------------------------------------------------------

class _DigestReader:
    """Passes reads through, hashing and counting exactly the bytes consumed."""

    def __init__(self, raw):
        self._raw = raw
        self._sha = hashlib.sha256()
        self.size = 0

    def read(self, size=-1):
        data = self._raw.read(size)
        self._sha.update(data)
        self.size += len(data)
        return data

    def drain(self):
        while self.read(_CHUNK):
            pass

    def digest(self):
        return "sha256:" + self._sha.hexdigest()


class _PrefixedReader:
    """Gives back the magic bytes peeked from a stream, then the stream."""

    def __init__(self, prefix, raw):
        self._prefix = prefix
        self._raw = raw

    def read(self, size=-1):
        if not self._prefix:
            return self._raw.read(size)
        if size is None or size < 0:
            data, self._prefix = self._prefix + self._raw.read(), b""
            return data
        data, self._prefix = self._prefix[:size], self._prefix[size:]
        return data


class _GzipReader:
    """gzip.GzipFile whose corruption errors become LayerError."""

    def __init__(self, raw):
        self._gzip = gzip.GzipFile(fileobj=raw, mode="rb")

    def read(self, size=-1):
        try:
            return self._gzip.read(size)
        except (gzip.BadGzipFile, EOFError, zlib.error) as e:
            raise LayerError(f"corrupt or truncated gzip stream: {e}") from None


class _ZstdReader:
    """Streaming zstd decoder that notices a truncated frame.

    zstandard's stream_reader silently ends on truncated input, so frames are
    decoded with decompressobj, whose `eof` says whether a frame completed.
    Input is fed in small slices because zstd can expand ~32000x: this bounds
    what one call can produce (~32 MiB) on a decompression bomb."""

    _FEED = 1024

    def __init__(self, raw, zstd):
        self._raw = raw
        self._zstd = zstd
        self._dctx = zstd.ZstdDecompressor()
        self._frame = None
        self._input = b""
        self._out = b""
        self._pos = 0

    def read(self, size=-1):
        while self._pos >= len(self._out):
            if not self._decode_some():
                return b""
        end = len(self._out) if size is None or size < 0 else self._pos + size
        data = self._out[self._pos:end]
        self._pos += len(data)
        return data

    def _decode_some(self):
        if not self._input:
            self._input = memoryview(self._raw.read(_CHUNK))   # slices below copy nothing
            if not self._input:
                if self._frame is not None and not self._frame.eof:
                    raise LayerError("truncated zstd stream")
                return False
        if self._frame is None or self._frame.eof:
            self._frame = self._dctx.decompressobj()
        piece, self._input = self._input[:self._FEED], self._input[self._FEED:]
        try:
            self._out = self._frame.decompress(piece)
        except self._zstd.ZstdError as e:
            raise LayerError(f"corrupt zstd stream: {e}") from None
        self._pos = 0
        if self._frame.eof:
            # the next frame (or garbage, which its decoder will reject) starts here
            self._input = memoryview(self._frame.unused_data + bytes(self._input))
        return True


def _import_zstd():
    try:
        import zstandard
    except ImportError:
        raise LayerError("layer is zstd-compressed but the 'zstandard' package "
                         "is not installed (pip install zstandard)") from None
    return zstandard


def _read_upto(reader, size):
    data = b""
    while len(data) < size:
        more = reader.read(size - len(data))
        if not more:
            break
        data += more
    return data


def _decompressing(reader):
    """Wrap `reader` in the decoder its magic bytes call for."""
    magic = _read_upto(reader, 6)
    stream = _PrefixedReader(magic, reader)
    if magic.startswith(b"\x1f\x8b"):
        return _GzipReader(stream)
    if magic.startswith(b"\x28\xb5\x2f\xfd"):
        return _ZstdReader(stream, _import_zstd())
    if magic.startswith(b"BZh") or magic.startswith(b"\xfd7zXZ\x00"):
        raise LayerError("unsupported layer compression (bzip2/xz); "
                         "only gzip, zstd and plain tar are supported")
    return stream


class _StrictTarInfo(tarfile.TarInfo):
    """Records whether the last header read was the end-of-archive block.

    tarfile ends iteration silently on a garbage, partial or missing header
    after the first member; a layer cut at a header boundary, or with a
    corrupt header, must be an error instead."""

    @classmethod
    def fromtarfile(cls, tar):
        tar._fastctr_clean_end = False
        try:
            return super().fromtarfile(tar)
        except tarfile.EOFHeaderError:
            tar._fastctr_clean_end = True
            raise


def _for_each_member(stream, handle):
    """Call handle(tar, member) for each member, reading the tar as a stream."""
    current = None
    try:
        with tarfile.open(fileobj=stream, mode="r|", tarinfo=_StrictTarInfo,
                          encoding="utf-8", errors="surrogateescape") as tar:
            while (current := tar.next()) is not None:
                tar.members.clear()     # stream mode would keep every TarInfo alive
                handle(tar, current)
            if not getattr(tar, "_fastctr_clean_end", False):
                raise LayerError("truncated or corrupt tar: no end-of-archive "
                                 "block after the last entry")
    except tarfile.TarError as e:
        where = f" at entry {current.name!r}" if current is not None else ""
        raise LayerError(f"truncated or corrupt tar{where}: {e}") from None


def _open_source(source):
    if isinstance(source, (str, bytes, os.PathLike)):
        return open(source, "rb"), True
    return source, False


# ---------------------------------------------------------------------------
# Entry names and metadata
# ---------------------------------------------------------------------------

def _entry_path(name, label=None):
    """Components of a tar name inside dest; refuse names that leave it.

    '..' is resolved lexically: the result is walked without following any
    symlink, so lexical resolution can only land inside dest.  `label`
    starts the error message (default: the entry's own name)."""
    label = label or f"layer entry {name!r}"
    if "\x00" in name:
        raise LayerError(f"{label}: NUL byte in name")
    if name.startswith("/"):
        raise LayerError(f"{label}: absolute path refused")
    parts = []
    for comp in name.split("/"):
        if comp in ("", "."):
            continue
        if comp != "..":
            parts.append(comp)
        elif parts:
            parts.pop()
        else:
            raise LayerError(f"{label}: '..' escapes the destination")
    return tuple(parts)


def _classify(path):
    """'node', 'whiteout', 'opaque' or 'skip' (aufs metadata)."""
    if not path:
        return "node"
    if any(c.startswith(AUFS_META_PREFIX) for c in path[:-1]):
        return "skip"
    base = path[-1]
    if base == OPAQUE_MARKER:
        return "opaque"
    if base.startswith(AUFS_META_PREFIX):
        return "skip"
    if base.startswith(WHITEOUT_PREFIX):
        return "whiteout"
    return "node"


def _pax_time_ns(text):
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = text.lstrip("-").partition(".")
    return sign * (int(whole or "0") * _NS + int((frac + "0" * 9)[:9]))


def _member_times(member):
    """(atime_ns, mtime_ns), exact to the nanosecond when PAX carries them."""
    try:
        mtime = _pax_time_ns(member.pax_headers["mtime"])
    except (KeyError, ValueError):
        mtime = int(member.mtime) * _NS
    try:
        atime = _pax_time_ns(member.pax_headers["atime"])
    except (KeyError, ValueError):
        atime = mtime
    return atime, mtime


def _member_xattrs(member):
    xattrs = {}
    for key, value in member.pax_headers.items():
        if not key.startswith(PAX_XATTR_PREFIX):
            continue
        name = key[len(PAX_XATTR_PREFIX):]
        # A layer must not forge overlayfs metadata (redirect, metacopy,
        # opaque...): that could expose other layers' files.  Whiteouts are
        # the only way a layer speaks to overlayfs.
        if name and not name.startswith(OVERLAY_XATTR_PREFIX):
            xattrs[name] = value.encode("utf-8", "surrogateescape")
    return xattrs


def _is_layer_xattr(name):
    """Whether an on-disk xattr is layer content (not overlay/LSM bookkeeping)."""
    if name.startswith(OVERLAY_XATTR_PREFIX):
        return False
    return not name.startswith(SECURITY_XATTR_PREFIX) or name == CAPABILITY_XATTR


def _xattr_path(dir_fd, name):
    # os.*xattr take no dir_fd; this path resolves through our verified
    # directory fd, and the callers never follow the final component.
    return f"/proc/self/fd/{dir_fd}/{name}"


def _lstat(dir_fd, name):
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _open_subdir(dir_fd, name):
    """O_PATH fd of dir_fd/name if it is a real directory, None if absent.

    Returns the lstat result instead when the name is a symlink or another
    non-directory, so the caller can decide what to report."""
    try:
        return os.open(name, _DIR_PATH_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno not in (errno.ENOTDIR, errno.ELOOP):
            raise
        st = _lstat(dir_fd, name)
        if st is None:
            return None
        return st


# ---------------------------------------------------------------------------
# apply_layer
# ---------------------------------------------------------------------------

def apply_layer(source, dest, *, mode) -> LayerInfo:
    """Unpack layer `source` (path or binary file object) into directory `dest`.

    mode="overlay": dest is empty and becomes one overlayfs layer.
    mode="apply": dest holds the merged lower layers; whiteouts delete."""
    if mode not in ("overlay", "apply"):
        raise ValueError(f"mode must be 'overlay' or 'apply', not {mode!r}")
    if mode == "overlay" and os.listdir(dest):
        raise ValueError(f"mode='overlay' needs an empty destination: {dest}")
    raw, owned = _open_source(source)
    try:
        compressed = _DigestReader(raw)
        uncompressed = _DigestReader(_decompressing(compressed))
        root_fd = os.open(dest, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            applier = _Applier(root_fd, overlay=(mode == "overlay"))
            try:
                _for_each_member(uncompressed, applier.apply)
                applier.finish()
            finally:
                applier.close()
        finally:
            os.close(root_fd)
        # The diff_id covers the whole stream, padding after the end block too.
        uncompressed.drain()
        compressed.drain()
    finally:
        if owned:
            raw.close()
    return LayerInfo(diff_id=uncompressed.digest(), digest=compressed.digest(),
                     size=compressed.size, uncompressed_size=uncompressed.size,
                     content_size=applier.content_size)


class _Applier:
    """Applies tar members one by one under root_fd, never following symlinks."""

    def __init__(self, root_fd, *, overlay):
        self.root_fd = root_fd
        self.overlay = overlay
        self.layer_paths = set()        # entries of this layer (apply mode)
        self.layer_ancestors = set()    # their parent directories
        self.whiteouts = set()          # paths whited out by this layer (overlay mode)
        self.dir_times = {}             # path -> (atime_ns, mtime_ns), set at the end
        self.timed_prefixes = set()
        self._cached_parent = None      # (components, fd) of the last parent used
        self.content_size = 0           # file bytes and symlink targets (hard links count once)

    # -- dispatch ----------------------------------------------------------

    def apply(self, tar, member):
        path = _entry_path(member.name)
        kind = _classify(path)
        if kind == "node":
            self._apply_node(tar, member, path)
            if member.isreg():
                self.content_size += member.size
            elif member.issym():
                self.content_size += len(os.fsencode(member.linkname))
        elif kind == "whiteout":
            self._apply_whiteout(member, path)
        elif kind == "opaque":
            self._apply_opaque(member, path[:-1])

    def close(self):
        self._drop_cached_parent()

    def finish(self):
        """Set directory times last: creating children changed them."""
        for path, times in self.dir_times.items():
            parent_fd = self._open_dir(path[:-1], "", create=False, nondir_ok=True)
            if parent_fd is None:
                continue
            try:
                name = path[-1] if path else "."
                st = _lstat(parent_fd, name)
                if st is not None and stat.S_ISDIR(st.st_mode):
                    os.utime(name, ns=times, dir_fd=parent_fd, follow_symlinks=False)
            finally:
                os.close(parent_fd)

    # -- path resolution ---------------------------------------------------

    def _open_dir(self, components, entry, *, create, nondir_ok=False):
        """O_PATH fd of dest/components (caller closes), never via a symlink.

        A symlink anywhere on the way is a LayerError.  A missing directory
        is created when `create`, else None is returned; another
        non-directory gives None when `nondir_ok`, else LayerError."""
        fd = os.dup(self.root_fd)
        try:
            for i, comp in enumerate(components):
                sub = self._open_component(fd, components[:i + 1], entry, create)
                if sub is _NOT_A_DIR and not nondir_ok:
                    where = "/".join(components[:i + 1])
                    raise LayerError(f"layer entry {entry!r}: parent {where!r} is not a directory")
                os.close(fd)
                fd = None
                if sub is None or sub is _NOT_A_DIR:
                    return None
                fd = sub
            return fd
        except BaseException:
            if fd is not None:
                os.close(fd)
            raise

    def _open_component(self, fd, prefix, entry, create):
        """fd of one directory component, None if absent, or _NOT_A_DIR."""
        sub = _open_subdir(fd, prefix[-1])
        if isinstance(sub, os.stat_result):
            if stat.S_ISLNK(sub.st_mode):
                # The heart of the safety model: a layer may have just created
                # `x -> /etc`; writing through it would escape dest.
                raise LayerError(f"layer entry {entry!r}: parent {'/'.join(prefix)!r} "
                                 f"is a symlink; refusing to follow it")
            if not (create and self.overlay and prefix in self.whiteouts and stat.S_ISCHR(sub.st_mode)):
                return _NOT_A_DIR
            # this layer whited the name out and now puts files below it
            self._remove(fd, prefix[-1], prefix, sub)
            sub = None
        if sub is None and create:
            sub = self._make_dir(fd, prefix)
        return sub

    def _make_dir(self, parent_fd, path):
        """Create an implicit parent directory (a tar may omit parents)."""
        os.mkdir(path[-1], 0o755, dir_fd=parent_fd)
        os.chmod(path[-1], 0o755, dir_fd=parent_fd, follow_symlinks=False)  # not the umask's
        self._mark_new_dir(parent_fd, path[-1], path)
        fd = _open_subdir(parent_fd, path[-1])
        if not isinstance(fd, int):
            raise LayerError(f"directory {'/'.join(path)!r} changed while being created")
        return fd

    def _mark_new_dir(self, parent_fd, name, path):
        if self.overlay and path in self.whiteouts:
            # whiteout + directory in one layer = a directory replacing the
            # lower one, which for overlayfs is an opaque directory
            os.setxattr(_xattr_path(parent_fd, name), OPAQUE_XATTR, b"y", follow_symlinks=False)

    # -- regular entries ---------------------------------------------------

    def _apply_node(self, tar, member, path):
        if not path:
            return self._apply_root(member)
        _check_supported(member)
        link = self._hardlink_source(member, path) if member.islnk() else None
        try:
            parent_fd = self._parent_fd(path[:-1], member.name)
            if member.isdir():
                self._place_dir(member, parent_fd, path)
            else:
                self._place_nondir(tar, member, parent_fd, path, link)
        finally:
            if link is not None:
                os.close(link[0])
        self._record(path)

    def _apply_root(self, member):
        if not member.isdir():
            raise LayerError(f"layer entry {member.name!r}: the layer root must be a directory")
        self._set_metadata(self.root_fd, ".", (), member, existing=True)

    def _parent_fd(self, components, entry):
        """Borrowed fd of an entry's parent, created if missing.

        Tar entries come grouped by directory, so the last parent is kept.
        It stays valid because only _remove() can change which inode a path
        names (we never rename), and _remove() drops it when it removes that
        directory or an ancestor."""
        if self._cached_parent is None or self._cached_parent[0] != components:
            fd = self._open_dir(components, entry, create=True)
            self._drop_cached_parent()
            self._cached_parent = (components, fd)
        return self._cached_parent[1]

    def _drop_cached_parent(self):
        if self._cached_parent is not None:
            os.close(self._cached_parent[1])
            self._cached_parent = None

    def _place_dir(self, member, parent_fd, path):
        name = path[-1]
        existing = _lstat(parent_fd, name)
        if existing is not None and stat.S_ISDIR(existing.st_mode):
            # a directory over a directory merges: only its metadata changes
            self._set_metadata(parent_fd, name, path, member, existing=True)
            return
        if existing is not None:
            self._remove(parent_fd, name, path, existing)
        os.mkdir(name, 0o700, dir_fd=parent_fd)
        self._mark_new_dir(parent_fd, name, path)
        self._set_metadata(parent_fd, name, path, member, existing=False)

    def _place_nondir(self, tar, member, parent_fd, path, link):
        name = path[-1]
        try:
            self._create(tar, member, parent_fd, name, link)
        except FileExistsError:
            # Replace, never write into: the old inode may be a directory, a
            # symlink, or a hardlink shared with a lower layer's file.
            self._remove(parent_fd, name, path, os.stat(name, dir_fd=parent_fd, follow_symlinks=False))
            self._create(tar, member, parent_fd, name, link)

    def _create(self, tar, member, parent_fd, name, link):
        """Create a non-directory; FileExistsError (before writing) if taken."""
        if link is not None:
            self._link(member, link, parent_fd, name)
            return                      # a hardlink shares its target's metadata
        if member.isreg():
            fd = _write_file(tar, member, parent_fd, name)
            try:
                self._set_metadata(parent_fd, name, None, member, existing=False, fd=fd)
            finally:
                os.close(fd)
            return
        if member.issym():
            os.symlink(member.linkname, name, dir_fd=parent_fd)  # as-is: never resolved
        else:
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK if member.isblk() else stat.S_IFIFO
            device = os.makedev(member.devmajor, member.devminor) if kind != stat.S_IFIFO else 0
            os.mknod(name, kind | 0o600, device, dir_fd=parent_fd)
        self._set_metadata(parent_fd, name, None, member, existing=False)

    def _hardlink_source(self, member, path):
        """(dir fd, name) of an existing hardlink target inside dest.

        Validated before anything is written: the target must be relative,
        stay inside dest, not pass through a symlink, and already exist."""
        label = f"layer entry {member.name!r}: hardlink target {member.linkname!r}"
        target = _entry_path(member.linkname, label)
        if not target or target == path:
            raise LayerError(f"layer entry {member.name!r}: invalid hardlink target {member.linkname!r}")
        parent_fd = self._open_dir(target[:-1], member.name, create=False, nondir_ok=True)
        st = _lstat(parent_fd, target[-1]) if parent_fd is not None else None
        if st is None or stat.S_ISDIR(st.st_mode):
            if parent_fd is not None:
                os.close(parent_fd)
            problem = "does not exist" if st is None else "is a directory"
            raise LayerError(f"layer entry {member.name!r}: hardlink target {member.linkname!r} {problem}")
        return parent_fd, target[-1]

    def _link(self, member, link, parent_fd, name):
        src_fd, src_name = link
        try:
            os.link(src_name, name, src_dir_fd=src_fd, dst_dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            # the target lived under the path this entry just replaced
            raise LayerError(f"layer entry {member.name!r}: hardlink target {member.linkname!r} "
                             f"does not exist") from None

    def _set_metadata(self, parent_fd, name, path, member, *, existing, fd=None):
        """Owner, mode, xattrs and times, never following a symlink.

        Through `fd` when the caller holds one open (regular files), which
        also spares glibc's costly no-follow chmod emulation."""
        if fd is not None:
            target, kw, xattr_target, xattr_kw = fd, {}, fd, {}
        else:
            target, kw = name, {"dir_fd": parent_fd, "follow_symlinks": False}
            xattr_target, xattr_kw = _xattr_path(parent_fd, name), {"follow_symlinks": False}
        os.chown(target, member.uid, member.gid, **kw)
        if not member.issym():
            # after chown, which clears setuid/setgid; symlinks have no mode
            os.chmod(target, member.mode & 0o7777, **kw)
        # after chown too: chown drops security.capability
        _set_xattrs(xattr_target, _member_xattrs(member), sync=existing, **xattr_kw)
        times = _member_times(member)
        if member.isdir():
            self._defer_dir_times(path, times)
        else:
            os.utime(target, ns=times, **kw)

    def _defer_dir_times(self, path, times):
        self.dir_times[path] = times
        self.timed_prefixes.update(path[:i] for i in range(len(path)))

    def _record(self, path):
        if self.overlay:
            return                      # dest started empty: everything is this layer's
        self.layer_paths.add(path)
        for i in range(len(path) - 1, 0, -1):
            if path[:i] in self.layer_ancestors:
                break
            self.layer_ancestors.add(path[:i])

    def _remove(self, parent_fd, name, path, st):
        cached = self._cached_parent
        if cached is not None and cached[0][:len(path)] == path:
            self._drop_cached_parent()  # its directory (or an ancestor) is going away
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(name, dir_fd=parent_fd)   # fd-based: does not follow symlinks
            if path in self.timed_prefixes:
                for gone in [p for p in self.dir_times if p[:len(path)] == path]:
                    del self.dir_times[gone]
        else:
            os.unlink(name, dir_fd=parent_fd)
        self.dir_times.pop(path, None)

    # -- whiteouts -----------------------------------------------------------

    def _apply_whiteout(self, member, path):
        target = path[:-1] + (path[-1][len(WHITEOUT_PREFIX):],)
        if target[-1] in ("", ".", ".."):
            raise LayerError(f"layer entry {member.name!r}: whiteout names no file")
        parent_fd = self._open_dir(target[:-1], member.name, create=self.overlay, nondir_ok=True)
        if parent_fd is None:
            return                      # no such directory, or a non-directory: nothing to hide
        try:
            if self.overlay:
                self._overlay_whiteout(parent_fd, target, member)
            else:
                self._delete_lower(parent_fd, target[-1], target)
        finally:
            os.close(parent_fd)

    def _overlay_whiteout(self, parent_fd, target, member):
        name = target[-1]
        self.whiteouts.add(target)
        st = _lstat(parent_fd, name)
        if st is not None:
            # Dest started empty, so this is the layer's own entry: it already
            # hides the lower one, and a directory must also stop merging.
            if stat.S_ISDIR(st.st_mode):
                os.setxattr(_xattr_path(parent_fd, name), OPAQUE_XATTR, b"y", follow_symlinks=False)
            return
        os.mknod(name, stat.S_IFCHR, os.makedev(0, 0), dir_fd=parent_fd)
        os.chown(name, member.uid, member.gid, dir_fd=parent_fd, follow_symlinks=False)
        os.utime(name, ns=_member_times(member), dir_fd=parent_fd, follow_symlinks=False)

    def _delete_lower(self, parent_fd, name, path):
        """Remove what lower layers have at `path`; this layer's entries stay.

        OCI: a whiteout hides only lower layers' files, whatever the order of
        the entries in the tar; a directory of this layer keeps only what
        this layer put in it."""
        st = _lstat(parent_fd, name)
        if st is None:
            return
        if path in self.layer_paths or path in self.layer_ancestors:
            if stat.S_ISDIR(st.st_mode):
                self._delete_lower_children(parent_fd, name, path)
            return
        self._remove(parent_fd, name, path, st)

    def _delete_lower_children(self, parent_fd, name, path):
        fd = os.open(name, _DIR_READ_FLAGS, dir_fd=parent_fd)
        try:
            for child in os.listdir(fd):
                self._delete_lower(fd, child, path + (child,))
        finally:
            os.close(fd)

    def _apply_opaque(self, member, dir_path):
        fd = self._open_dir(dir_path, member.name, create=self.overlay, nondir_ok=True)
        if fd is None:
            return
        try:
            if self.overlay:
                os.setxattr(f"/proc/self/fd/{fd}", OPAQUE_XATTR, b"y")
            else:
                self._delete_lower_children(fd, ".", dir_path)
        finally:
            os.close(fd)


_NOT_A_DIR = object()     # _open_component: the component exists but is not a directory


def _check_supported(member):
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()
            or member.ischr() or member.isblk() or member.isfifo()):
        raise LayerError(f"layer entry {member.name!r}: unsupported tar entry type {member.type!r}")
    if member.issym() and "\x00" in member.linkname:
        raise LayerError(f"layer entry {member.name!r}: NUL byte in symlink target")


def _write_file(tar, member, parent_fd, name):
    """Create and fill a regular file; returns its fd, open for metadata."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name, flags, 0o600, dir_fd=parent_fd)
    try:
        written = 0
        source = tar.extractfile(member)
        while chunk := source.read(_CHUNK):
            written += _write_all(fd, chunk)
        if written != member.size:
            raise LayerError(f"layer entry {member.name!r}: truncated tar ({written} of {member.size} bytes)")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    return len(data)


def _set_xattrs(target, wanted, *, sync, **kw):
    if sync:
        # a directory entry over an existing directory carries its full set
        for old in os.listxattr(target, **kw):
            if old not in wanted and _is_layer_xattr(old):
                os.removexattr(target, old, **kw)
    for key, value in wanted.items():
        try:
            os.setxattr(target, key, value, **kw)
        except OSError as e:
            if e.errno not in _XATTR_REFUSED:
                raise


# ---------------------------------------------------------------------------
# write_layer / export_tree
# ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Change:
    path: tuple             # components; for a whiteout, the path whited out
    kind: str               # "node", "whiteout" or "opaque"
    st: os.stat_result | None


class _Plan:
    def __init__(self):
        self.changes = []
        self.first_link = {}    # (st_dev, st_ino) -> first path, for hardlinks
        self.mtime_max_ns = None

    def mtime(self, st):
        ns = st.st_mtime_ns
        return ns if self.mtime_max_ns is None else min(ns, self.mtime_max_ns)

    def note_link(self, path, st):
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            self.first_link.setdefault((st.st_dev, st.st_ino), path)


class _DigestWriter:
    def __init__(self, out):
        self._out = out
        self._sha = hashlib.sha256()
        self.size = 0

    def write(self, data):
        self._sha.update(data)
        self.size += len(data)
        self._out.write(data)
        return len(data)

    def digest(self):
        return "sha256:" + self._sha.hexdigest()


def write_layer(upper_dir, out, *, mode="overlay", lower=None, mtime_max=None) -> LayerInfo:
    """Write a container's changes as an uncompressed PAX layer tar to `out`.

    mode="overlay": upper_dir is an overlayfs upper directory.
    mode="vfs": upper_dir is the full container tree, `lower` the image's.
    mtime_max (seconds): later times are written as it (SOURCE_DATE_EPOCH)."""
    if mode not in ("overlay", "vfs"):
        raise ValueError(f"mode must be 'overlay' or 'vfs', not {mode!r}")
    if (mode == "vfs") != (lower is not None):
        raise ValueError("lower is required for mode='vfs' and only allowed there")
    with _DirFd(upper_dir) as upper_fd:
        plan = _Plan()
        plan.mtime_max_ns = None if mtime_max is None else int(mtime_max) * _NS
        if mode == "overlay":
            _plan_tree(upper_fd, (), plan, overlay=True)
        else:
            with _DirFd(lower) as lower_fd:
                _plan_vfs_root(upper_fd, lower_fd, plan)
        return _write_plan(upper_fd, plan, out, overlay=(mode == "overlay"))


def export_tree(root, out) -> None:
    """Write a plain PAX tar of the whole tree under `root` (no root entry)."""
    with _DirFd(root) as root_fd:
        plan = _Plan()
        _plan_tree(root_fd, (), plan, overlay=False)
        _write_plan(root_fd, plan, out, overlay=False)


class _DirFd:
    """A directory opened for reading, never through a final symlink."""

    def __init__(self, path, dir_fd=None):
        self._path = path
        self._dir_fd = dir_fd

    def __enter__(self):
        self.fd = os.open(self._path, _DIR_READ_FLAGS, dir_fd=self._dir_fd)
        return self.fd

    def __exit__(self, *exc):
        os.close(self.fd)


def _children(dir_fd):
    """(name, lstat) of the entries of a directory, sorted bytewise; no sockets
    (a tar cannot carry them, and they are meaningless in an image)."""
    result = []
    for name in sorted(os.listdir(dir_fd), key=os.fsencode):
        st = _lstat(dir_fd, name)
        if st is not None and not stat.S_ISSOCK(st.st_mode):
            result.append((name, st))
    return result


def _is_whiteout_device(st):
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)


def _check_representable(path):
    if path[-1].startswith(WHITEOUT_PREFIX):
        raise LayerError(f"cannot write {'/'.join(path)!r} to a layer: "
                         f"names starting with {WHITEOUT_PREFIX!r} mean whiteouts")


def _plan_tree(dir_fd, rel, plan, *, overlay):
    """Every entry below dir_fd; overlay=True turns upper-dir whiteouts into changes."""
    for name, st in _children(dir_fd):
        path = rel + (name,)
        if overlay and _is_whiteout_device(st):
            plan.changes.append(_Change(path, "whiteout", st))
            continue                    # kernel whiteouts may share one inode: no hardlink
        if overlay:
            _check_representable(path)
        plan.changes.append(_Change(path, "node", st))
        plan.note_link(path, st)
        if stat.S_ISDIR(st.st_mode):
            with _DirFd(name, dir_fd) as sub_fd:
                if overlay and _get_xattr(sub_fd, OPAQUE_XATTR) == b"y":
                    plan.changes.append(_Change(path, "opaque", st))
                _plan_tree(sub_fd, path, plan, overlay=overlay)


def _plan_vfs_root(upper_fd, lower_fd, plan):
    below = _plan_vfs_dir(upper_fd, lower_fd, (), plan)
    root_st, lower_st = os.fstat(upper_fd), os.fstat(lower_fd)
    if below or not _same_node(upper_fd, lower_fd, ".", root_st, lower_st):
        plan.changes.append(_Change((), "node", root_st))
    plan.changes.extend(below)


def _plan_vfs_dir(upper_fd, lower_fd, rel, plan):
    """Changes below one directory, parents listed before their children.

    A directory is listed when its metadata changed or anything below it
    did: applying children changes a directory's mtime, and only its own
    entry lets the applier restore it exactly."""
    upper = dict(_children(upper_fd))
    lower = dict(_children(lower_fd)) if lower_fd is not None else {}
    changes = []
    for name in sorted(upper.keys() | lower.keys(), key=os.fsencode):
        path, ust, lst = rel + (name,), upper.get(name), lower.get(name)
        if ust is None:
            changes.append(_Change(path, "whiteout", None))
            continue
        _check_representable(path)
        plan.note_link(path, ust)
        changed = lst is None or not _same_node(upper_fd, lower_fd, name, ust, lst)
        below = []
        if stat.S_ISDIR(ust.st_mode):
            below = _plan_vfs_subdir(upper_fd, lower_fd, name, path, lst, plan)
        if changed or below:
            changes.append(_Change(path, "node", ust))
        changes.extend(below)
    return changes


def _plan_vfs_subdir(upper_fd, lower_fd, name, path, lst, plan):
    with _DirFd(name, upper_fd) as sub_upper:
        if lst is None or not stat.S_ISDIR(lst.st_mode):
            return _plan_vfs_dir(sub_upper, None, path, plan)
        with _DirFd(name, lower_fd) as sub_lower:
            return _plan_vfs_dir(sub_upper, sub_lower, path, plan)


def _same_node(upper_fd, lower_fd, name, ust, lst):
    """Equal metadata means unchanged (content is not compared, like Docker)."""
    keys = ("st_mode", "st_uid", "st_gid", "st_mtime_ns")
    if any(getattr(ust, k) != getattr(lst, k) for k in keys):
        return False
    mode = ust.st_mode
    if not stat.S_ISDIR(mode) and ust.st_size != lst.st_size:
        return False
    if (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) and ust.st_rdev != lst.st_rdev:
        return False
    if stat.S_ISLNK(mode) and os.readlink(name, dir_fd=upper_fd) != os.readlink(name, dir_fd=lower_fd):
        return False
    return _layer_xattrs(_read_xattrs(upper_fd, name)) == _layer_xattrs(_read_xattrs(lower_fd, name))


def _get_xattr(fd, key):
    try:
        return os.getxattr(fd, key)
    except OSError as e:
        if e.errno in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP):
            return None
        raise


def _read_xattrs(dir_fd, name):
    path = _xattr_path(dir_fd, name)
    try:
        keys = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return {}
        raise
    values = {}
    for key in keys:
        try:
            values[key] = os.getxattr(path, key, follow_symlinks=False)
        except OSError as e:
            if e.errno != errno.ENODATA:        # removed meanwhile
                raise
    return values


def _layer_xattrs(xattrs):
    return {k: v for k, v in xattrs.items() if _is_layer_xattr(k)}


class LayerTarFile(tarfile.TarFile):
    """A layer's tar as Go's archive/tar (Docker, BuildKit) ends one: the two
    zero blocks and no padding to tarfile's 10240-byte records.  An empty
    layer is then the 1024 bytes whose diff ID (sha256:5f70bf18...) Docker
    and BuildKit know, and every layer is up to 9 kB shorter."""

    def close(self):
        if not self.closed and self.mode in ("a", "w", "x"):
            # close() pads (offset + 1024) to a whole record; from here that is a whole one already
            self.offset = -2 * tarfile.BLOCKSIZE
        super().close()


def open_layer_writer(out):
    """A streaming PAX writer of a layer's tar onto out."""
    return LayerTarFile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8",
                             errors="surrogateescape")


def _write_plan(root_fd, plan, out, *, overlay):
    sink = _DigestWriter(out)
    parents = _ParentCache(root_fd)
    try:
        with open_layer_writer(sink) as tar:
            for change in plan.changes:
                _write_change(tar, parents, change, plan, overlay)
    finally:
        parents.close()
    digest = sink.digest()
    return LayerInfo(diff_id=digest, digest=digest, size=sink.size, uncompressed_size=sink.size)


def _write_change(tar, parents, change, plan, overlay):
    path = change.path
    if change.kind == "whiteout":
        tar.addfile(_marker_info(path[:-1] + (WHITEOUT_PREFIX + path[-1],), change.st, plan))
    elif change.kind == "opaque":
        tar.addfile(_marker_info(path + (OPAQUE_MARKER,), change.st, plan))
    else:
        parent_fd = parents.open(path[:-1])
        _write_node(tar, parent_fd, path[-1] if path else ".", change, plan, overlay)


def _marker_info(path, st, plan):
    """A whiteout or opaque marker: an empty file owned like what it stands for."""
    info = tarfile.TarInfo("/".join(path))
    info.mode = 0o600
    if st is not None:
        info.uid, info.gid = st.st_uid, st.st_gid
        _set_info_mtime(info, plan.mtime(st))
    return info


def _set_info_mtime(info, mtime_ns):
    info.mtime = mtime_ns // _NS
    if mtime_ns % _NS:
        # tarfile would round through a float; PAX carries nanoseconds exactly
        sign, ns = ("-", -mtime_ns) if mtime_ns < 0 else ("", mtime_ns)
        info.pax_headers["mtime"] = f"{sign}{ns // _NS}.{ns % _NS:09d}".rstrip("0")


def _write_node(tar, parent_fd, name, change, plan, overlay):
    # the stat from planning: a file's size is re-read from its open fd
    path, st = change.path, change.st
    xattrs = _read_xattrs(parent_fd, name)
    if overlay:
        _check_overlay_xattrs(path, xattrs)
    info = tarfile.TarInfo("/".join(path) if path else ".")
    info.mode, info.uid, info.gid = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
    _set_info_mtime(info, plan.mtime(st))
    for key, value in _layer_xattrs(xattrs).items():
        info.pax_headers[PAX_XATTR_PREFIX + key] = value.decode("utf-8", "surrogateescape")
    first = plan.first_link.get((st.st_dev, st.st_ino)) if st.st_nlink > 1 else None
    if first is not None and first != path and not stat.S_ISDIR(st.st_mode):
        info.type, info.linkname = tarfile.LNKTYPE, "/".join(first)
        tar.addfile(info)
    elif stat.S_ISREG(st.st_mode):
        _write_file_entry(tar, info, parent_fd, name, st)
    else:
        _fill_special(info, st, parent_fd, name)
        tar.addfile(info)


def _check_overlay_xattrs(path, xattrs):
    # With redirect_dir or metacopy the upper entry is not self-contained
    # (its data or its real name live in a lower layer): a tar of the upper
    # dir would be silently wrong, so refuse.
    for key in ("trusted.overlay.redirect", "trusted.overlay.metacopy"):
        if key in xattrs:
            raise LayerError(f"cannot write {'/'.join(path)!r} to a layer: overlayfs {key} "
                             f"is not supported (mount without redirect_dir/metacopy)")


def _write_file_entry(tar, info, parent_fd, name, st):
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
    with os.fdopen(fd, "rb") as f:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            raise LayerError(f"{info.name!r} changed while the layer was written")
        info.size = now.st_size
        tar.addfile(info, f)


def _fill_special(info, st, parent_fd, name):
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=parent_fd)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    else:
        raise LayerError(f"cannot write {info.name!r} to a layer: unsupported file type")


class _ParentCache:
    """O_PATH fd of the last parent directory used (entries come grouped)."""

    def __init__(self, root_fd):
        self._root_fd = root_fd
        self._path = None
        self._fd = None

    def open(self, components):
        if components != self._path:
            self.close()
            self._fd = _walk_no_symlinks(self._root_fd, components)
            self._path = components
        return self._fd

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
        self._fd = self._path = None


def _walk_no_symlinks(root_fd, components):
    fd = os.dup(root_fd)
    for i, comp in enumerate(components):
        sub = _open_subdir(fd, comp)
        os.close(fd)
        if not isinstance(sub, int):
            raise LayerError(f"{'/'.join(components[:i + 1])!r} is no longer a directory")
        fd = sub
    return fd
