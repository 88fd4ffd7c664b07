"""`--output`/`-o`: the built stage's files, not an image (BuildKit's
local and tar exporters, as `docker build -o` uses them to take artifacts
out of a build).

`-o DIR` or `type=local,dest=DIR` writes the files into DIR (made if
missing; what is there is overwritten, a symlink in the way replaced, never
followed); `type=tar,dest=FILE|-` writes them as one tar.  Owners, modes
and times are the image's; a hard link becomes a copy.  `type=docker` or
`type=image` is the default: the image in the store."""
import os
import stat

from fastctr.build.context import walk

KINDS = ("local", "tar", "docker", "image")
_NODES = (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO)  # written as they are; a socket is left out


def parse(spec):
    """An --output value -> (kind, dest); ValueError when it cannot work."""
    if spec == "-":
        return "tar", "-"  # docker build -o - > files.tar
    if "=" not in spec:
        fields = {"type": "local", "dest": spec}
    else:
        fields = {}
        for part in spec.split(","):
            key, eq, value = part.partition("=")
            if not eq:
                raise ValueError(f"invalid value {part!r}: want key=value")
            fields[key.strip()] = value
    kind = fields.pop("type", "local")
    if kind not in KINDS:
        raise ValueError(f"output type {kind!r} is not supported ({', '.join(KINDS)} are)")
    dest = fields.pop("dest", None)
    if fields:
        raise ValueError(f"output type {kind}: unknown {', '.join(sorted(fields))}")
    if kind in ("docker", "image"):
        return "image", None
    if not dest:
        raise ValueError(f"output type {kind} needs dest=PATH")
    return kind, dest


def export(view, kind, dest, stdout):
    """The view's files to dest (a directory or, for tar, a file or "-":
    stdout) -> bytes of file content written."""
    if kind == "local":
        return _to_directory(view, dest)
    if dest == "-":
        return _to_tar(view, stdout)
    with open(dest, "wb") as f:
        return _to_tar(view, f)


def _to_directory(view, dest):
    os.makedirs(dest, exist_ok=True)
    size, dirs = 0, []
    for rel, st in walk(view, ""):
        if not rel:
            continue
        out = os.path.join(dest, rel)
        if stat.S_ISDIR(st.st_mode):
            _clear(out, keep_dir=True)
            os.makedirs(out, exist_ok=True)
            dirs.append((out, st))
            continue
        _clear(out, keep_dir=False)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(view.readlink(rel), out)
        elif stat.S_ISREG(st.st_mode):
            import shutil
            shutil.copyfile(view.host_path(rel), out, follow_symlinks=False)
            size += st.st_size
        elif stat.S_IFMT(st.st_mode) in _NODES:
            os.mknod(out, st.st_mode, st.st_rdev)
        else:
            continue
        _own(out, st)
    for out, st in reversed(dirs):  # last: writing children changed their times
        _own(out, st)
    return size


def _clear(path, keep_dir):
    """What is at path and cannot take the entry goes (a symlink always)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if keep_dir:
            return
        import shutil
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _own(path, st):
    os.lchown(path, st.st_uid, st.st_gid)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(path, stat.S_IMODE(st.st_mode))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _to_tar(view, out):
    import tarfile
    size = 0
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as tar:
        for rel, st in walk(view, ""):
            if not rel:
                continue
            info = tarfile.TarInfo(rel)
            info.mode, info.uid, info.gid, info.mtime = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime
            if stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
            elif stat.S_ISLNK(st.st_mode):
                info.type, info.linkname = tarfile.SYMTYPE, view.readlink(rel)
            elif stat.S_ISREG(st.st_mode):
                info.size = st.st_size
                with open(view.host_path(rel), "rb") as f:
                    tar.addfile(info, f)
                size += st.st_size
                continue
            elif stat.S_IFMT(st.st_mode) in _NODES:
                info.type = (tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE)[_NODES.index(stat.S_IFMT(st.st_mode))]
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            else:
                continue
            tar.addfile(info)
    out.flush()
    return size
