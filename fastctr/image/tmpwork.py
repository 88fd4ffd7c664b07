"""Temporary work in the data root that a killed command cannot leak.

A farm kills interrupted jobs at any moment, `fastctr load` and `pull`
included.  Everything such a command makes before it is complete (an
unpacked archive, a half-unpacked layer, a blob being copied in) is named

    tmp-<kind>-<pid>-<start time>-<random>

in the directory where it will be renamed into place, so the rename stays on
one file system.  The pid and its start time (as containers record them)
name the owner even after the pid is reused: an entry whose owner is gone is
dead work, and `sweep` removes it.  Commands that make temporary work sweep
first, so the next `load` after a killed one reclaims what it left; `system
prune` and `image prune` do too, and `system df` counts it."""
import errno
import os

from fastctr.image.store import PREFIX, rmtree, temp_name


def make_dir(parent, kind):
    """A new private directory in parent, owned by this process."""
    os.makedirs(parent, mode=0o711, exist_ok=True)
    path = os.path.join(parent, temp_name(kind))
    os.mkdir(path, 0o700)
    return path


def make_file(parent, kind):
    """(fd, path) of a new file in parent, owned by this process."""
    os.makedirs(parent, mode=0o711, exist_ok=True)
    path = os.path.join(parent, temp_name(kind))
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), path


def owner_alive(name):
    """Whether the process that made entry `name` still runs.  Names of
    earlier versions (tmp-<pid>-<hex>, <blob>.tmp-<pid>) carry no start
    time: their owner counts as alive while any process has that pid."""
    from fastctr.runtime.state import process_start_time
    fields = name[len(PREFIX):].split("-") if name.startswith(PREFIX) else []
    if len(fields) == 4 and fields[1].isdigit():
        return str(process_start_time(int(fields[1]))) == fields[2]
    if len(fields) == 2 and fields[0].isdigit():  # tmp-<pid>-<hex>
        return process_start_time(int(fields[0])) is not None
    tail = name.rpartition(".tmp-")[2]
    if ".tmp-" in name and tail.isdigit():  # <blob digest>.tmp-<pid>
        return process_start_time(int(tail)) is not None
    return True  # not ours to judge


def is_temp(name):
    return name.startswith(PREFIX) or ".tmp-" in name


def places(root):
    """The directories temporary work of the data root is made in."""
    return [os.path.join(root, d) for d in ("tmp", "overlay2", "vfs", os.path.join("blobs", "sha256"))]


def entries(root):
    """[(path, alive)] of every temporary entry under the data root."""
    out = []
    for parent in places(root):
        try:
            names = os.listdir(parent)
        except (FileNotFoundError, NotADirectoryError):
            continue
        out += [(os.path.join(parent, n), owner_alive(n)) for n in names if is_temp(n)]
    return out


def sweep(root):
    """Remove the temporary work of dead processes; (entries, bytes) freed."""
    count = size = 0
    for path, alive in entries(root):
        if alive:
            continue
        freed = tree_size(path)
        try:
            remove(path)
        except OSError as e:
            if e.errno != errno.ENOENT:  # another sweep was first
                raise
            continue
        count, size = count + 1, size + freed
    return count, size


def remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        rmtree(path)
    else:
        os.unlink(path)


def usage(root):
    """{"live": (entries, bytes), "dead": (entries, bytes)} for system df."""
    out = {"live": [0, 0], "dead": [0, 0]}
    for path, alive in entries(root):
        row = out["live" if alive else "dead"]
        row[0] += 1
        row[1] += tree_size(path)
    return {k: tuple(v) for k, v in out.items()}


def tree_size(path):
    """Disk use below path (du): files that vanish meanwhile count nothing."""
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    if not os.path.isdir(path) or os.path.islink(path):
        return st.st_blocks * 512
    total = st.st_blocks * 512
    for dirpath, dirnames, files in os.walk(path):
        for name in files + dirnames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                pass
    return total


class ImportLock:
    """Held shared by every command that adds layers or blobs to the store
    (they are unreferenced until its image is recorded), and exclusively by
    the prune that removes unreferenced ones: pruning never takes what a
    live import is about to use.  The kernel drops it when a holder dies."""

    def __init__(self, root, exclusive=False):
        self.path = os.path.join(root, "locks", "imports")
        self.exclusive = exclusive
        self.fd = -1

    def acquire(self, wait=True):
        import fcntl
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        flags = (fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH) | (0 if wait else fcntl.LOCK_NB)
        try:
            fcntl.flock(self.fd, flags)
        except BlockingIOError:
            self.release()
            return False
        return True

    def release(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
        return False
