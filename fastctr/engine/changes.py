"""`fastctr diff`: what a container changed in its file system, as Docker
reports it (A added, C changed, D deleted), against its image.

Docker (archive.ChangesDirs) compares the container's tree with its image's:
an entry in both is changed when its mode, owner, device number or file
capability differ or, for what is not a directory, its size or mtime; a
directory with a change below it is changed too.  Here only the writable
layer is walked: overlay2's upper directory (a whiteout, character device
0:0, is a deletion; an opaque directory hides every image entry below it)
looked up against the image's layers, or for vfs the container's full copy
against the image's.  Order: depth first, names sorted, a directory before
what is inside it (Docker's walk order)."""
import os
import stat

OPAQUE = "trusted.overlay.opaque"
# What Docker puts in a container's init layer (below its writable layer, so
# never in `docker diff`): mount points the runtime makes here too.
INIT_PATHS = {"/dev", "/proc", "/sys", "/.dockerenv", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf",
              "/etc/mtab"}
INIT_PARENTS = {"/etc"}


def _init_path(path):
    return path in INIT_PATHS or path.startswith(("/dev/", "/proc/", "/sys/"))


def _lstat(path):
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _whiteout(st):
    return st is not None and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(path):
    try:
        return os.getxattr(path, OPAQUE, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _capability(path):
    try:
        return os.getxattr(path, "security.capability", follow_symlinks=False)
    except OSError:
        return None


def _differs(old_path, old, new_path, new):
    if (stat.S_IFMT(old.st_mode), stat.S_IMODE(old.st_mode), old.st_uid, old.st_gid, old.st_rdev) != \
            (stat.S_IFMT(new.st_mode), stat.S_IMODE(new.st_mode), new.st_uid, new.st_gid, new.st_rdev):
        return True
    if not stat.S_ISDIR(new.st_mode):
        # Docker's sameFsTime: equal, or the same second with one side lacking nanoseconds (from a tar)
        same_time = old.st_mtime_ns == new.st_mtime_ns or (
            old.st_mtime_ns // 10**9 == new.st_mtime_ns // 10**9 and 0 in (old.st_mtime_ns % 10**9, new.st_mtime_ns % 10**9))
        if not same_time or old.st_size != new.st_size:
            return True
    return _capability(old_path) != _capability(new_path)


class ImageView:
    """Look-ups in an image's file system through its overlay layers (top
    first), honouring their whiteouts and opaque directories."""

    def __init__(self, layer_dirs):
        self.layers = layer_dirs

    def find(self, rel):
        """(host path, lstat) of rel in the image, or None."""
        parts = rel.split("/")
        for layer in self.layers:
            hidden_below = False
            for i in range(1, len(parts)):
                anc = os.path.join(layer, *parts[:i])
                st = _lstat(anc)
                if st is None:
                    break
                if _whiteout(st) or not stat.S_ISDIR(st.st_mode):
                    return None  # deleted here, or replaced by a file: nothing below it
                if _opaque(anc):
                    hidden_below = True
            else:
                path = os.path.join(layer, rel)
                st = _lstat(path)
                if st is not None:
                    return None if _whiteout(st) else (path, st)
            if hidden_below:
                return None
        return None

    def names(self, rel):
        """The entries of directory rel in the image."""
        seen, gone = set(), set()
        parts = rel.split("/")
        for layer in self.layers:
            stop = False
            for i in range(1, len(parts)):
                anc = os.path.join(layer, *parts[:i])
                st = _lstat(anc)
                if st is None:
                    break
                if _whiteout(st) or not stat.S_ISDIR(st.st_mode):
                    return seen
                stop = stop or _opaque(anc)
            d = os.path.join(layer, rel)
            st = _lstat(d)
            if st is not None:
                if _whiteout(st) or not stat.S_ISDIR(st.st_mode):
                    return seen
                for name in os.listdir(d):
                    if name not in seen and name not in gone:
                        (gone if _whiteout(_lstat(os.path.join(d, name))) else seen).add(name)
                stop = stop or _opaque(d)
            if stop:
                return seen
        return seen


def _sorted(names):
    return sorted(names, key=os.fsencode)


def overlay_changes(upper, image):
    """[(kind, path)] from an overlay upper directory against ImageView image."""
    out = []
    _walk_upper(upper, "", image, out, hidden=False)
    return _order(out)


def _walk_upper(upper, rel, image, out, hidden):
    """Changes below directory rel of upper into out; True if there were
    any.  hidden: an opaque directory here or above hides the image's
    entries below rel, so those not made again are deleted."""
    d = os.path.join(upper, rel)
    start = len(out)
    names = os.listdir(d)
    for name in _sorted(names):
        child = f"{rel}/{name}" if rel else name
        path = os.path.join(upper, child)
        st = os.lstat(path)
        old = image.find(child)
        if _init_path("/" + child) and old is None:
            continue
        if _whiteout(st):
            if old is not None:
                out.append(("D", "/" + child))
            continue
        if old is None:
            out.append(("A", "/" + child))
        elif _differs(old[0], old[1], path, st):
            out.append(("C", "/" + child))
        if stat.S_ISDIR(st.st_mode):
            mark = len(out)
            child_hidden = hidden or _opaque(path)
            changed = _walk_upper(upper, child, image, out, child_hidden)
            if child_hidden and old is not None and stat.S_ISDIR(old[1].st_mode):
                gone = [("D", f"/{child}/{n}") for n in _sorted(image.names(child) - set(names_of(path)))]
                out.extend(gone)
                changed = changed or bool(gone)
            if changed and old is not None and out[mark - 1:mark] != [("C", "/" + child)]:
                out.insert(mark, ("C", "/" + child))
            _drop_bare_init_parent(out, mark, "/" + child, changed)
    return len(out) > start


def _drop_bare_init_parent(out, mark, path, changed):
    """/etc made only to hold the init files: in Docker's init layer too."""
    if path in INIT_PARENTS and not changed and out[mark - 1:mark] == [("A", path)]:
        del out[mark - 1]


def names_of(path):
    return [n for n in os.listdir(path) if not _whiteout(_lstat(os.path.join(path, n)))]


def _order(changes):
    """Depth first, names sorted, each directory before its contents."""
    return sorted(changes, key=lambda c: [os.fsencode(p) for p in c[1].split("/")])


def tree_changes(new_root, old_root):
    """[(kind, path)] between two full trees (vfs: the container's copy and
    its image's); old_root None: an image without layers."""
    out = []
    _compare(new_root, old_root, "", out)
    return _order(out)


def _compare(new_root, old_root, rel, out):
    new_dir = os.path.join(new_root, rel)
    old_dir = os.path.join(old_root, rel) if old_root else None
    new_names = set(os.listdir(new_dir))
    old_names = set(os.listdir(old_dir)) if old_dir and os.path.isdir(old_dir) else set()
    start = len(out)
    for name in _sorted(new_names | old_names):
        child = f"{rel}/{name}" if rel else name
        if name not in new_names:
            out.append(("D", "/" + child))
            continue
        new_path = os.path.join(new_root, child)
        st = os.lstat(new_path)
        old = _lstat(os.path.join(old_root, child)) if name in old_names else None
        if _init_path("/" + child) and old is None:
            continue
        if old is None:
            out.append(("A", "/" + child))
        elif _differs(os.path.join(old_root, child), old, new_path, st):
            out.append(("C", "/" + child))
        if stat.S_ISDIR(st.st_mode):
            mark = len(out)
            keep_old = old_root if old is not None and stat.S_ISDIR(old.st_mode) else None
            changed = _compare(new_root, keep_old, child, out)
            if changed and old is not None and out[mark - 1:mark] != [("C", "/" + child)]:
                out.insert(mark, ("C", "/" + child))
            _drop_bare_init_parent(out, mark, "/" + child, changed)
    return len(out) > start
