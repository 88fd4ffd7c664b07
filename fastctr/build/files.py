"""COPY and ADD: a layer written straight from the sources, no container.

The entries are planned first (destination path -> what goes there), then
written sorted into one uncompressed PAX tar whose digest is the layer's
diff ID.  Docker's rules: a directory source copies its contents; several
sources, or a destination ending in `/` or naming a directory of the image,
make the destination a directory; missing parents are made (0755, root);
context files belong to root unless --chown, files of a stage or image keep
their owners; --chmod sets the mode of what is copied; ADD unpacks a local
tar archive (plain, gzip, bzip2, xz, zstd) into the destination and
downloads a URL (mode 0600).  Times are the sources' own, clamped to
SOURCE_DATE_EPOCH when it is set, so the same content gives the same
digest."""
import io
import os
import stat

from fastctr.build.context import BuildError, clean, walk

ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


class Entry:
    """What goes at one destination path."""

    def __init__(self, view=None, rel=None, st=None, mode=None, uid=0, gid=0, mtime=0, kind="file",
                 data=None, member=None, archive=None):
        self.view, self.rel, self.st = view, rel, st
        self.mode, self.uid, self.gid, self.mtime, self.kind = mode, uid, gid, mtime, kind
        self.data, self.member, self.archive = data, member, archive


class Plan:
    """Destination path (relative to /, no leading slash) -> Entry."""

    def __init__(self, image_view, owner=None, chmod=None, keep_owners=False):
        self.entries = {}
        self.archives = []  # (archive path, destination directory)
        self.image = image_view
        self.owner, self.chmod, self.keep_owners = owner, chmod, keep_owners

    def ensure_parents(self, dest):
        """The missing directories above dest, as Docker makes them."""
        parts = dest.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            path = "/".join(parts[:i])
            if path in self.entries:
                continue
            st = self.image.lstat(path) if self.image else None
            if st is not None and stat.S_ISDIR(st.st_mode):
                continue  # the image's own: left as it is
            if st is not None:
                raise BuildError(f"cannot copy to /{dest}: /{path} is not a directory")
            self.entries[path] = Entry(mode=0o755, kind="dir")

    def add_tree(self, view, src, dest, exclude=None):
        """src (a file or directory of view) at dest: a directory's contents."""
        st = view.lstat(src)
        links = {}
        for rel, est in walk(view, src):
            inner = rel[len(src):].lstrip("/") if src else rel
            if exclude is not None and inner and exclude.excluded(inner, stat.S_ISDIR(est.st_mode)):
                continue
            target = f"{dest}/{inner}".strip("/") if inner else dest
            if not target or not inner and stat.S_ISDIR(est.st_mode) and self._image_dir(target):
                continue  # the root, or a directory of the image the contents go into: left as it is
            self.ensure_parents(target)
            self.entries[target] = self._entry(view, rel, est, links, target)
        return st

    def _image_dir(self, path):
        st = self.image.lstat(path) if self.image else None
        return st is not None and stat.S_ISDIR(st.st_mode)

    def _entry(self, view, rel, st, links, target):
        kind = _kind(st)
        uid, gid = (st.st_uid, st.st_gid) if self.keep_owners else (0, 0)
        if self.owner is not None:
            uid, gid = self.owner
        mode = stat.S_IMODE(st.st_mode) if self.chmod is None else self.chmod
        entry = Entry(view, rel, st, mode, uid, gid, st.st_mtime_ns // 10**9, kind)
        if kind == "file" and st.st_nlink > 1:
            first = links.setdefault((st.st_dev, st.st_ino), target)
            if first != target:
                entry.kind, entry.data = "hardlink", first
        return entry

    def add_archive(self, path, dest):
        """ADD of a local archive: its members below dest (streamed at write)."""
        self.add_dir(dest)
        self.archives.append((path, dest))

    def add_bytes(self, dest, data, mode, mtime):
        self.ensure_parents(dest)
        uid, gid = self.owner if self.owner is not None else (0, 0)
        self.entries[dest] = Entry(mode=mode if self.chmod is None else self.chmod, uid=uid, gid=gid,
                                   mtime=mtime, kind="bytes", data=data)

    def add_dir(self, dest, mode=0o755, mtime=0):
        if dest and dest not in self.entries:
            st = self.image.lstat(dest) if self.image else None
            if st is not None and stat.S_ISDIR(st.st_mode):
                return
            self.ensure_parents(dest)
            uid, gid = self.owner if self.owner is not None else (0, 0)
            self.entries[dest] = Entry(mode=mode, uid=uid, gid=gid, mtime=mtime, kind="dir")


def plan_copy(image_view, sources, dest, *, workdir="/", owner=None, chmod=None, keep_owners=False,
              add=False, exclude=None, parents=False):
    """Docker's COPY/ADD placement of sources [(view, rel)] at dest -> Plan."""
    dest_rel = clean(dest if dest.startswith("/") else f"{workdir or '/'}/{dest}")
    plan = Plan(image_view, owner, chmod, keep_owners)
    into_dir = dest.endswith("/") or dest in (".", "") or plan._image_dir(dest_rel)
    if len(sources) > 1 and not into_dir:
        raise BuildError("When using COPY with more than one source file, the destination must be a "
                         "directory and end with a /")
    for view, rel in sources:
        st = view.lstat(rel)
        if stat.S_ISDIR(st.st_mode):
            plan.add_tree(view, rel, f"{dest_rel}/{rel}".strip("/") if parents else dest_rel, exclude)
        elif add and hasattr(view, "ignore") and stat.S_ISREG(st.st_mode) and is_archive(view.host_path(rel)):
            plan.add_archive(view.host_path(rel), dest_rel)
        else:
            name = rel if parents else rel.rpartition("/")[2]
            plan.add_tree(view, rel, f"{dest_rel}/{name}".strip("/") if into_dir or parents else dest_rel)
    return plan


def plan_mkdir(image_view, path, owner, mtime):
    """WORKDIR's `mkdir -p` of path (absolute) -> Plan: each missing
    directory 0755 and owned by owner (uid, gid) or root, as BuildKit's
    mkdir with parents; nothing when path is a directory already.  Symlinks
    among the existing parts are followed inside the root (/var/run -> /run)."""
    plan = Plan(image_view, owner)
    uid, gid = owner if owner is not None else (0, 0)
    todo, done, hops = clean(path).split("/")[::-1], [], 0
    while todo:
        part = todo.pop()
        if part in ("", "."):
            continue
        if part == "..":
            done = done[:-1]
            continue
        sub = "/".join(done + [part])
        st = image_view.lstat(sub) if image_view and sub not in plan.entries else None
        if st is not None and stat.S_ISLNK(st.st_mode) and hops < 40:
            hops += 1
            target = image_view.readlink(sub)
            done = [] if target.startswith("/") else done
            todo += target.split("/")[::-1]
            continue
        if st is not None and not stat.S_ISDIR(st.st_mode):
            raise BuildError(f"cannot make WORKDIR {path}: /{sub} is not a directory")
        if st is None and sub not in plan.entries:
            plan.entries[sub] = Entry(mode=0o755, uid=uid, gid=gid, mtime=mtime, kind="dir")
        done.append(part)
    return plan


def parse_owner(spec, image_view):
    """--chown user[:group], names looked up in the image's /etc/passwd and
    /etc/group; a user alone gives its number as the group too (Docker)."""
    user, _, group = spec.partition(":")
    uid = _lookup(user, image_view, "etc/passwd", "user")
    gid = uid if not group else _lookup(group, image_view, "etc/group", "group")
    return uid, gid


def _lookup(name, view, rel, what):
    if name.isdigit():
        return int(name)
    path = view.host_path(rel) if view is not None and view.lstat(rel) is not None else None
    if path:
        with open(path, errors="replace") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) > 2 and fields[0] == name and fields[2].isdigit():
                    return int(fields[2])
    raise BuildError(f"unable to convert uid/gid chown string to host mapping: can't find {what} {name!r} "
                     f"in /{rel}")


def parse_chmod(spec):
    try:
        mode = int(spec, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o7777:
        raise BuildError(f"invalid chmod parameter: {spec!r}: an octal mode such as 0755")
    return mode


def _kind(st):
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if stat.S_ISLNK(st.st_mode):
        return "symlink"
    if stat.S_ISREG(st.st_mode):
        return "file"
    if stat.S_ISFIFO(st.st_mode):
        return "fifo"
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return "device"
    raise BuildError(f"cannot copy a socket: {st}")


def is_archive(path):
    import tarfile
    with open(path, "rb") as f:
        head = f.read(512)
    if any(head.startswith(m) for m in ARCHIVE_MAGIC):
        try:
            open_archive(path).next()
            return True
        except (tarfile.TarError, OSError, EOFError, ValueError):
            return False
    return len(head) >= 262 and head[257:262] == b"ustar"


def open_archive(path):
    """A tar archive of any compression fastctr reads, as a stream."""
    import tarfile
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"\x28\xb5\x2f\xfd"):
        from fastctr.image.layers import _import_zstd
        zstd = _import_zstd()
        reader = zstd.ZstdDecompressor().stream_reader(open(path, "rb"))
        return tarfile.open(fileobj=reader, mode="r|")
    return tarfile.open(path, mode="r|*")


# ------------------------------------------------------------------ output

class _Digest:
    def __init__(self, out):
        import hashlib  # OpenSSL's, for whole layers; loaded (~4 ms) only when one is written
        self.out, self.sha, self.size = out, hashlib.sha256(), 0

    def write(self, data):
        self.sha.update(data)
        self.size += len(data)
        return self.out.write(data)


def write(plan, out, mtime_max=None):
    """The plan as a layer tar -> its diff ID: entries sorted by path, then
    the members of ADD's archives in their own order."""
    # here, not at the top: a fully cached build writes no layer and needs no tarfile (~5 ms)
    from fastctr.image.layers import open_layer_writer
    sink = _Digest(out)
    with open_layer_writer(sink) as tar:
        for path in sorted(plan.entries):
            _write_entry(tar, path, plan.entries[path], mtime_max)
        for archive, dest in plan.archives:
            _write_members(tar, archive, dest, plan.owner, mtime_max)
    return "sha256:" + sink.sha.hexdigest()


def _info(path, entry, mtime_max):
    import tarfile
    info = tarfile.TarInfo(path)
    info.mode, info.uid, info.gid = entry.mode, entry.uid, entry.gid
    info.mtime = entry.mtime if mtime_max is None else min(entry.mtime, int(mtime_max))
    info.uname = info.gname = ""
    return info


def _write_entry(tar, path, entry, mtime_max):
    import tarfile
    info = _info(path, entry, mtime_max)
    if entry.kind == "dir":
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    elif entry.kind == "symlink":
        info.type, info.linkname = tarfile.SYMTYPE, entry.view.readlink(entry.rel)
        tar.addfile(info)
    elif entry.kind == "hardlink":
        info.type, info.linkname = tarfile.LNKTYPE, entry.data
        tar.addfile(info)
    elif entry.kind == "bytes":
        info.size = len(entry.data)
        tar.addfile(info, io.BytesIO(entry.data))
    elif entry.kind == "fifo":
        info.type = tarfile.FIFOTYPE
        tar.addfile(info)
    elif entry.kind == "device":
        st = entry.st
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        tar.addfile(info)
    else:
        with open(entry.view.host_path(entry.rel), "rb") as f:
            info.size = os.fstat(f.fileno()).st_size
            tar.addfile(info, f)


def _write_members(tar, archive_path, dest, owner, mtime_max):
    import tarfile
    archive = open_archive(archive_path)
    try:
        for member in archive:
            if not member.name.strip("/."):
                continue
            info = tarfile.TarInfo(f"{dest}/{clean(member.name)}".strip("/"))
            info.type, info.mode = member.type, member.mode & 0o7777
            info.uid, info.gid = owner if owner is not None else (member.uid, member.gid)
            info.mtime = int(member.mtime) if mtime_max is None else min(int(member.mtime), int(mtime_max))
            info.uname = info.gname = ""
            info.devmajor, info.devminor = member.devmajor, member.devminor
            if member.islnk():
                info.linkname = f"{dest}/{clean(member.linkname)}".strip("/")
            elif member.issym():
                info.linkname = member.linkname
            if member.isreg():
                info.size = member.size
                tar.addfile(info, archive.extractfile(member))
            else:
                tar.addfile(info)
    except tarfile.TarError as e:
        raise BuildError(f"ADD {os.path.basename(archive_path)}: cannot read the archive: {e}") from None
    finally:
        archive.close()
