"""`fastctr cp`: files between a container and the host, with Docker's
archive semantics (docker/cli cp.go, moby's archive.CopyTo):

  SRC a file:  DEST missing -> a file DEST (DEST/ missing: "no such directory");
               DEST a file -> overwritten; DEST a directory -> DEST/basename(SRC)
  SRC a dir:   DEST missing -> made, with SRC's contents; DEST a file ->
               "cannot copy directory"; DEST a directory -> DEST/basename(SRC),
               or SRC's contents into DEST when SRC ends in /.
  SRC/ that is not a directory: "not a directory".  `-` is a tar stream on
  stdin (into the directory DEST) or stdout.  -L follows a symlink SRC.
  Into a container files belong to its root unless -a keeps their owners;
  out of one, to the caller.

A running container is reached through /proc/PID/root, so its volumes and
binds are seen as it sees them; a stopped one through its root mounted by
the storage driver (as export does).  Paths in the container are resolved
one component at a time against its root, symlinks included, so none leads
out of it; what is written there is unpacked by fastctr.image.layers, which
never follows a symlink."""
import os
import stat
import tarfile
import tempfile

from fastctr.errors import FastctrError


class CopyError(FastctrError):
    pass


def resolve_in_root(root, path, follow_last):
    """The container path that `path` names, symlinks resolved as inside
    the container (an absolute target starts again at its root, '..' stops
    there); the last component is followed only if follow_last."""
    return resolve(lambda cpath: root + cpath if cpath != "/" else root, path, follow_last)


def resolve(host_of, path, follow_last):
    """resolve_in_root, with host_of(container path) -> the host path where
    it is (the container's root, or a volume's directory)."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    out, links = [], 0
    while parts:
        name = parts.pop(0)
        if name == "..":
            if out:
                out.pop()
            continue
        host = host_of("/" + "/".join(out + [name]))
        try:
            st = os.lstat(host)
        except FileNotFoundError:
            if parts:
                raise
            out.append(name)
            break
        if stat.S_ISLNK(st.st_mode) and (parts or follow_last):
            links += 1
            if links > 40:
                raise OSError(40, f"too many levels of symbolic links: {path}")
            target = os.readlink(host)
            if target.startswith("/"):
                out = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        if parts and not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(20, f"not a directory: {'/' + '/'.join(out + [name])}")
        out.append(name)
    return "/" + "/".join(out)


class ContainerRoot:
    """The container's file system as host paths while in use: a running
    container's as it sees it (/proc/PID/root); a stopped one's root
    mounted by the storage driver, with its volumes and binds where the
    container has them (Docker mounts them for cp too)."""

    def __init__(self, engine, c):
        self.engine, self.c, self._mounted, self.binds = engine, c, None, []
        self.mounts, self.readonly_root, self._lock = [], False, None

    def __enter__(self):
        c = self.c
        try:
            spec = self.engine.bundle_spec(c)
        except (OSError, ValueError):
            spec = {}
        self.readonly_root = bool((spec.get("root") or {}).get("readonly"))
        # (destination, source or None, read-only), the deepest first: the deepest mount wins
        self.mounts = sorted(((os.path.normpath(m["destination"]), m.get("source") if _is_bind(m) else None,
                               bool({"ro", "rro"} & set(m.get("options") or []))) for m in spec.get("mounts") or []),
                             key=lambda m: len(m[0]), reverse=True)
        if self.engine.live_status(c) in ("running", "paused"):
            self.root = f"/proc/{self.engine.runtime.state(c['id'])['pid']}/root"
            return self
        # Stopped: its lock keeps rm and a clean-up away while its root is mounted here.
        self._lock = self.engine.lock(c["id"])
        try:
            if self.engine.live_status(c) in ("running", "paused"):  # started meanwhile
                self._lock.__exit__()
                self._lock = None
                return self.__enter__()
            driver = self.engine.driver_for_container(c)
            self._mounted = driver.mounted(c["id"], self.engine._chain(self.engine.store.image(c["image_id"])))
            self.root = self._mounted.__enter__()
        except BaseException:
            self._lock.__exit__()
            raise
        self.binds = [(dest, source) for dest, source, _ in self.mounts if source]
        return self

    def check_writable(self, cpath, name):
        """Docker's refusals before anything is written: a read-only volume
        or bind, or a read-only root file system outside of them."""
        for dest, _, readonly in self.mounts:
            if cpath == dest or cpath.startswith(dest + "/"):
                if readonly:
                    raise CopyError(f"mounted volume is marked read-only: {dest} in container {name}")
                return
        if self.readonly_root:
            raise CopyError(f"container rootfs is marked read-only: {name}")

    def __exit__(self, *exc):
        try:
            if self._mounted is not None:
                self._mounted.__exit__(*exc)
        finally:
            if self._lock is not None:
                self._lock.__exit__()
        return False

    def host(self, cpath):
        for dest, source in self.binds:
            if cpath == dest or cpath.startswith(dest + "/"):
                return source + cpath[len(dest):]
        return self.root + cpath if cpath != "/" else self.root

    def resolve(self, path, follow_last=False):
        return resolve(self.host, path, follow_last)

    def open_dir(self, cpath):
        """An O_PATH fd of directory cpath (resolved), opened one component
        at a time without following symlinks: one the container swapped in
        since resolve() cannot lead what is written out of it."""
        base, rest = self.root, cpath
        for dest, source in self.binds:
            if cpath == dest or cpath.startswith(dest + "/"):
                base, rest = source, cpath[len(dest):]
                break
        fd = os.open(base, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for name in [p for p in rest.split("/") if p]:
                child = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def unpack(self, tar_file, cpath):
        """Unpack tar_file into container directory cpath."""
        fd = self.open_dir(cpath)
        try:
            _unpack(tar_file, f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)


def _is_bind(mount):
    options = mount.get("options") or []
    return mount.get("type") == "bind" or "bind" in options or "rbind" in options


def _contents_only(path):
    return path == "." or path.endswith("/.")


def _add_tree(tar, host_path, arcname, owner):
    """host_path (not followed) and what is below it, as arcname..."""
    info = tar.gettarinfo(host_path, arcname or ".")
    info.mtime = int(info.mtime)  # whole seconds, as Docker's archives (no PAX record for the fraction)
    if owner is not None:
        info.uid, info.gid, info.uname, info.gname = owner[0], owner[1], "", ""
    if arcname:
        _add_info(tar, info, host_path)
    if info.isdir():
        for name in sorted(os.listdir(host_path), key=os.fsencode):
            child = os.path.join(host_path, name)
            if stat.S_ISSOCK(os.lstat(child).st_mode):
                continue  # a tar cannot carry it
            _add_tree(tar, child, f"{arcname}/{name}" if arcname else name, owner)


def _add_info(tar, info, host_path):
    if info.isreg():
        with open(host_path, "rb") as f:
            tar.addfile(info, f)
    else:
        tar.addfile(info)


def write_tar(out, host_path, arcname, owner=None):
    """A tar of host_path named arcname (its contents only when arcname is
    ''); its size as Go's archive/tar writes it (Docker reports that size):
    without the padding of Python's to a whole 10 KiB record."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        _add_tree(tar, host_path, arcname, owner)
        size = tar.offset + 2 * tarfile.BLOCKSIZE  # the two zero blocks that end it
    return size


def _destination(dst_host, dst_text, src_is_dir, src_text):
    """(directory to unpack into, name SRC gets there, or '' for its contents)."""
    contents = _contents_only(src_text)
    # Followed: a local DEST as docker/cli follows it; in a container DEST is resolved already
    # (its root, /proc/PID/root, is itself a symlink).
    if os.path.isdir(dst_host):
        return dst_host, "" if (src_is_dir and contents) else os.path.basename(src_text.rstrip("/")) or ""
    if os.path.lexists(dst_host):
        if src_is_dir:
            raise CopyError(f"cannot copy directory: {dst_text} is not a directory")
        return os.path.dirname(dst_host), os.path.basename(dst_host)
    if dst_text.endswith("/") and not src_is_dir:
        raise CopyError(f"no such directory: {dst_text}")
    parent = os.path.dirname(dst_host.rstrip("/"))
    if not os.path.isdir(parent):
        raise CopyError(f"no such file or directory: {os.path.dirname(dst_text.rstrip('/')) or '/'}")
    return parent, os.path.basename(dst_host.rstrip("/"))


def _unpack(tar_file, into):
    from fastctr.image.layers import apply_layer
    tar_file.seek(0)
    apply_layer(tar_file, into, mode="apply")


def _check_source(host, text, what):
    """lstat of the source: never followed here (in a container's root a
    symlink would be followed on the host)."""
    try:
        st = os.lstat(host)
    except FileNotFoundError:
        raise CopyError(what) from None
    if (text.endswith("/") or _contents_only(text)) and not stat.S_ISDIR(st.st_mode):
        raise CopyError(f"not a directory: {text}")
    return stat.S_ISDIR(st.st_mode)


def copy_from(engine, ref, src, dest, follow=False, stdout=None):
    """CONTAINER:SRC to host path dest (or a tar to stdout when dest is '-');
    the number of bytes of the tar moved."""
    c = engine.container(ref)
    missing = f"Could not find the file {src} in container {c['name']}"
    # SRC/ and SRC/. name the directory a symlink points to, as -L does.
    follow_last = follow or src.endswith("/") or _contents_only(src)
    with ContainerRoot(engine, c) as root:
        try:
            cpath = root.resolve(src, follow_last=follow_last)
        except (FileNotFoundError, NotADirectoryError):
            raise CopyError(missing) from None
        host = root.host(cpath)
        is_dir = _check_source(host, src, missing)
        if dest == "-":
            write_tar(stdout, host, "." if _contents_only(src) else os.path.basename(cpath) or ".")
            return None
        with tempfile.TemporaryFile() as tmp:
            dest_abs = os.path.abspath(dest) + ("/" if dest.endswith("/") else "")
            # Named as SRC is, also with -L (Docker's rebase to the link's name).
            into, new_name = _destination(dest_abs, dest, is_dir, src)
            size = write_tar(tmp, host, new_name, owner=(os.geteuid(), os.getegid()))
            _unpack(tmp, into)
            return size


def copy_to(engine, ref, src, dest, archive=False, follow=False, stdin=None):
    """Host path src (or a tar on stdin when src is '-') to CONTAINER:dest."""
    c = engine.container(ref)
    owner = None if archive else (0, 0)
    with ContainerRoot(engine, c) as root:
        try:
            cdest = root.resolve(dest, follow_last=True)
        except (FileNotFoundError, NotADirectoryError):
            raise CopyError(f"Could not find the file {os.path.dirname(dest.rstrip('/')) or '/'} in container "
                            f"{c['name']}") from None
        root.check_writable(cdest, c["name"])
        dst_host = root.host(cdest) + ("/" if dest.endswith("/") and cdest != "/" else "")
        with tempfile.TemporaryFile() as tmp:
            if src == "-":
                if not os.path.isdir(root.host(cdest)):
                    raise CopyError(f'destination "{c["name"]}:{dest}" must be a directory')
                _retar(stdin, tmp, owner)
                root.unpack(tmp, cdest)
                return None  # Docker: "content size not available for stdin"
            host_src = os.path.realpath(src) if follow or src.endswith("/") or _contents_only(src) else src
            is_dir = _check_source(host_src, src, f"lstat {src}: no such file or directory")
            into, new_name = _destination(dst_host, dest, is_dir, src)
            size = write_tar(tmp, host_src, new_name, owner=owner)
            root.unpack(tmp, cdest if into.rstrip("/") == root.host(cdest) else os.path.dirname(cdest))
            return size


def _retar(stream, out, owner):
    """The tar on stdin, with its members owned by owner (None: as they are)."""
    with tarfile.open(fileobj=stream, mode="r|*") as src, \
            tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as dst:
        for member in src:
            if owner is not None:
                member.uid, member.gid, member.uname, member.gname = owner[0], owner[1], "", ""
            dst.addfile(member, src.extractfile(member) if member.isreg() else None)
