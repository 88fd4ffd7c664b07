"""The build cache: what each step made, found again by what went into it.

A step's key is a digest of its parent state (the image config so far, by
its digest), the instruction as it will run (after substitution, with its
flags), the build args it sees and, for COPY/ADD, the digest of the content
it reads.  The value is the state after the step: its image config (with
the history entry, so that a fully cached build gives the same image ID, as
BuildKit's does) and the layer blobs.  Rows live in the store's build_cache
table; the store counts their layers and blobs as referenced, so `rmi` and
`image prune` leave them, and `builder prune` removes them.

The layers of a cached state stay unpacked in the driver, so a hit costs one
row read, not an unpack."""
import os
import time

from fastctr import jsonfast as json
from fastctr.image.store import _sha256  # built in: hashlib loads OpenSSL (~4 ms) for a few short strings
# RFC 3339 with nanoseconds at a fixed width: the rows' order of use sorts as text
from fastctr.runtime.state import now_rfc3339 as _now


def step_key(parent_id, text, args=(), content=""):
    """The digest that names a step: parent state, instruction, args, content."""
    h = _sha256()
    for part in (parent_id, text, json.dumps(sorted(args)), content):
        h.update(part.encode() + b"\0")
    return "sha256:" + h.hexdigest()


def lookup(store, key):
    """The state a step with this key made before, or None."""
    row = store.db.execute("SELECT config, layer_blobs FROM build_cache WHERE key = ?", (key,)).fetchone()
    if row is None:
        return None
    with store.transaction() as db:
        db.execute("UPDATE build_cache SET used = ? WHERE key = ?", (_now(), key))
    return {"config": json.loads(row[0]), "layer_blobs": json.loads(row[1] or "[]")}


def record(store, key, config, layer_blobs, size):
    with store.transaction() as db:
        db.execute("INSERT OR REPLACE INTO build_cache (key, config, layer_blobs, size, created, used) "
                   "VALUES (?, ?, ?, ?, ?, ?)", (key, json.dumps(config), json.dumps(layer_blobs), size,
                                                 _now(), _now()))


def entries(store):
    return store.db.execute("SELECT key, size, created, used FROM build_cache").fetchall()


def cache_mount_root(store):
    """Where RUN --mount=type=cache directories live between builds."""
    return os.path.join(store.root, "build", "cache-mounts")


def prune(store, everything=False, until_ns=None, keep_bytes=None):
    """Remove cache rows, then the layers and blobs nothing refers to any
    more (the store's own prune); with everything also the cache mounts.
    until_ns keeps what was used since then (a mount: changed since then);
    keep_bytes removes the least recently used rows until the rest is no
    larger.  (entries removed, bytes reclaimed)."""
    from fastctr.image import loading
    from fastctr.image.store import rmtree
    from fastctr.image.tmpwork import tree_size
    with store.transaction() as db:
        rows = db.execute("SELECT key, size, used FROM build_cache ORDER BY used, key").fetchall()
        doomed = _doomed(rows, until_ns, keep_bytes)
        db.executemany("DELETE FROM build_cache WHERE key = ?", [(key,) for key in doomed])
    count = len(doomed)
    freed = loading.prune_unreferenced(store)
    root = cache_mount_root(store)
    if everything and os.path.isdir(root):
        for name in os.listdir(root):
            path = os.path.join(root, name)
            if until_ns is not None and os.stat(path).st_mtime_ns >= until_ns:
                continue
            freed += tree_size(path)
            rmtree(path)
            count += 1
    return count, freed


def _doomed(rows, until_ns, keep_bytes):
    """The keys to remove of rows (key, size, used), least recently used first."""
    if until_ns is None and keep_bytes is None:
        return [key for key, _, _ in rows]
    doomed = []
    if until_ns is not None:
        doomed = [key for key, _, used in rows if _epoch_ns(used) < until_ns]
    if keep_bytes is not None:
        gone = set(doomed)
        left = [(key, size or 0) for key, size, _ in rows if key not in gone]
        total = sum(size for _, size in left)
        for key, size in left:
            if total <= keep_bytes:
                break
            doomed.append(key)
            total -= size
    return doomed


def _epoch_ns(stamp):
    import calendar
    whole, _, frac = (stamp or "").rstrip("Z").partition(".")
    try:
        return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) * 10 ** 9 + int(frac.ljust(9, "0")[:9])
    except ValueError:
        return 0  # an unreadable time: as old as can be
