"""Container state on disk: one directory per container under the state root.

state.json is written to a temporary file and renamed, so readers never see
half a state.  It records the pid *and* the process start time: after the
container dies its pid may be reused, and a pid alone would then name a
stranger."""
import fcntl
import os
import time

from fastctr import jsonfast as json
from fastctr.errors import ConfigError, ContainerExists, ContainerNotFound, DocumentError

DEFAULT_ROOT = "/run/fastctr"
FIFO = "exec.fifo"
# Written after every other member: the OCI config is most of the file, and
# a status (`ps` asks one per running container) parses only what is before.
_LAST = ("config", "annotations")
HEAD_BYTES = 4096
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def validate_id(cid):
    # No '/', and no leading '.': an id is a directory name under the root.
    if not isinstance(cid, str) or not 0 < len(cid) <= 1024 or cid[0] == "." or not _ID_CHARS.issuperset(cid):
        raise ConfigError(f"invalid container id {cid!r}: use letters, digits, '_', '+', '-' and '.'")
    return cid


def process_start_time(pid, zombie=False):
    """Start time in clock ticks since boot, or None if pid is gone or (unless
    `zombie`: to record the identity of a child that has already exited) a
    zombie."""
    try:  # os.read, not open(): `ps` asks this of every running container
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
        try:
            data = os.read(fd, 4096)  # a few hundred bytes, made in one read
        finally:
            os.close(fd)
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm may contain spaces and parens: split after the last ')'.
    fields = data[data.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X") and not zombie:
        return None
    return int(fields[19])


def now_rfc3339():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


class StateStore:
    def __init__(self, root=DEFAULT_ROOT):
        self.root = os.path.abspath(root)

    def dir(self, cid):
        return os.path.join(self.root, validate_id(cid))

    def make_dir(self, cid):
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        d = self.dir(cid)
        try:
            os.mkdir(d, 0o711)
        except FileExistsError:
            raise ContainerExists(cid) from None
        return d

    def write(self, cid, state):
        d = self.dir(cid)
        tmp = os.path.join(d, ".state.json.tmp")
        state = dict({k: v for k, v in state.items() if k not in _LAST}, **{k: state[k] for k in _LAST if k in state})
        # json.dumps, not json.dump: dump encodes in pure Python, ~30x slower.
        data = json.dumps(state, separators=(",", ":")).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(d, "state.json"))

    def load(self, cid, head=False):
        """The state of container cid; with head, only the members that
        come before its config (pid, start_time, status, cgroup...): what a
        status needs, at a tenth of the parsing.  A state whose head is not
        complete (written before this layout) is loaded whole."""
        path = os.path.join(self.dir(cid), "state.json")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ContainerNotFound(cid) from None
        try:
            # The head is the first ~2.5 KiB: a status reads one page of the file.
            chunks = [os.read(fd, HEAD_BYTES if head else 1 << 16)]
            if head:
                state = json.head(chunks[0], "config")  # a prefix: ASCII, as dumps writes it
                if state is not None and "cgroup" in state:
                    return state
            while chunks[-1]:
                chunks.append(os.read(fd, 1 << 16))
        finally:
            os.close(fd)
        data = b"".join(chunks)
        if head:
            state = json.head(data, "config")
            if state is not None and "cgroup" in state:
                return state
        try:
            state = json.loads(data)
        except ValueError as e:
            raise DocumentError(f"state of container {cid!r} ({path}) is corrupt: {e}") from None
        if not isinstance(state, dict):
            raise DocumentError(f"state of container {cid!r} ({path}) is corrupt: not a JSON object")
        return state

    def remove(self, cid):
        d = self.dir(cid)
        # Flat directory of our own files; shutil would cost an import.
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            return
        for name in names:
            try:
                os.unlink(os.path.join(d, name))
            except FileNotFoundError:
                pass
        try:
            os.rmdir(d)
        except FileNotFoundError:
            pass

    def ids(self):
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if os.path.exists(os.path.join(self.root, n, "state.json")))

    def lock(self, cid):
        """An exclusive lock on one container, held until the fd is closed."""
        try:
            fd = os.open(self.dir(cid), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ContainerNotFound(cid) from None
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def fifo_path(self, cid):
        return os.path.join(self.dir(cid), FIFO)
