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


def prune(store, everything=False):
    """Remove the cache rows, then the layers and blobs nothing refers to
    any more (the store's own prune); with everything also the cache
    mounts.  (entries removed, bytes reclaimed)."""
    from fastctr.image import loading
    from fastctr.image.store import rmtree
    from fastctr.image.tmpwork import tree_size
    with store.transaction() as db:
        count = db.execute("SELECT COUNT(*) FROM build_cache").fetchone()[0]
        db.execute("DELETE FROM build_cache")
    freed = loading.prune_unreferenced(store)
    root = cache_mount_root(store)
    if everything and os.path.isdir(root):
        for name in os.listdir(root):
            freed += tree_size(os.path.join(root, name))
            rmtree(os.path.join(root, name))
            count += 1
    return count, freed


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
