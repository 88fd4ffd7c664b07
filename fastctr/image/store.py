"""The image store under a data root (default /var/lib/fastctr).

    blobs/sha256/<hex>          content-addressed blobs, verified on entry
    <driver>/<chain-id hex>/    unpacked layers (see fastctr.drivers)
    containers/<id>/            a container's writable layer and bundle
    fastctr.db                  images, tags, layers, containers (SQLite, WAL)

Many fastctr commands may run at once: SQLite serialises the metadata, and
layer directories are unpacked into a temporary name and renamed into place,
so two imports of one layer cannot corrupt each other (the loser discards its
copy).  A failed import removes the layers it created: no half-imported
image is ever visible."""
import _thread
import errno
import os
import sys
import time

from fastctr import jsonfast as json
from fastctr.errors import ImageNotFound, AmbiguousImage, StoreError  # defined there, exported here too


def _import_sqlite():
    """The _sqlite3 C module, the cheap way: ~7 ms of a cold `fastctr run`
    here went to importing SQLite, and ~5 of those to functools (and the
    collections module under it), which the module's initialisation imports
    for one thing, functools.lru_cache, its statement cache.  It is handed
    the same C cache (_functools._lru_cache_wrapper) without the rest.

    The C module itself, not the `sqlite3` package around it: that adds
    adapters for datetime objects (importing datetime, ~3 ms), and the store
    keeps its times as text.  Its classes are the same."""
    if "functools" in sys.modules or "_sqlite3" in sys.modules:
        return _plain_import()
    import _functools
    lean = type(sys)("functools")
    lean.lru_cache = lambda maxsize=128, typed=False: (
        lambda fn: _functools._lru_cache_wrapper(fn, maxsize, typed, lambda *info: info))
    sys.modules["functools"] = lean
    try:
        import _sqlite3
        return _sqlite3
    except (ImportError, AttributeError):  # it wanted more of functools: import it properly
        pass
    finally:
        if sys.modules.get("functools") is lean:
            del sys.modules["functools"]
    return _plain_import()


def _plain_import():
    try:
        import _sqlite3
        return _sqlite3
    except ImportError:  # an interpreter that ships the module under another name
        import sqlite3
        return sqlite3


sqlite3 = _import_sqlite()

DEFAULT_ROOT = "/var/lib/fastctr"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS layers (
    driver TEXT NOT NULL, chain_id TEXT NOT NULL, diff_id TEXT NOT NULL, parent TEXT,
    size INTEGER, link TEXT, created TEXT, PRIMARY KEY (driver, chain_id));
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY, config TEXT NOT NULL, manifest TEXT, layer_blobs TEXT,
    size INTEGER, created TEXT, loaded TEXT);
CREATE TABLE IF NOT EXISTS tags (name TEXT PRIMARY KEY, image_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, image_id TEXT, driver TEXT,
    created TEXT, config TEXT, status TEXT, exit_code INTEGER, started TEXT, finished TEXT,
    labels TEXT);
CREATE TABLE IF NOT EXISTS build_cache (
    key TEXT PRIMARY KEY, config TEXT NOT NULL, layer_blobs TEXT, size INTEGER, created TEXT, used TEXT);
"""


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _sha256(data=b""):
    """CPython's built-in sha256: hashlib would load OpenSSL (~8 ms) on the
    start path, where only small strings (chain IDs) are hashed.  Looked up
    once: a failing import is not remembered, and on Python < 3.12 trying
    _sha2 first cost a path search (~70 us) per call."""
    global _builtin_sha256
    if _builtin_sha256 is None:
        try:
            from _sha2 import sha256  # Python >= 3.12
        except ImportError:
            from _sha256 import sha256
        _builtin_sha256 = sha256
    return _builtin_sha256(data)


_builtin_sha256 = None


def sha256_file(path, chunk=1 << 20):
    import hashlib  # OpenSSL's is much faster on whole blobs
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return "sha256:" + h.hexdigest()


def chain_ids(diff_ids):
    """OCI ChainID: ChainID(n) = sha256(ChainID(n-1) + " " + DiffID(n))."""
    out = []
    for d in diff_ids:
        out.append(d if not out else "sha256:" + _sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")
_TAG_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
TAG_FORM = "familiar-1"  # meta key tag_form: every stored name is reference.canonical() of itself


def _simple_key(ref):
    """The store key of an official image named plainly ('busybox',
    'debian:12'), without the reference module (the start path does not
    import re); None when the full grammar is needed."""
    name, colon, tag = ref.partition(":")
    if not name or not set(name) <= _NAME_CHARS or not name[0].isalnum() or not name[-1].isalnum():
        return None
    if "._" in name or "_." in name or ".." in name or "-." in name or ".-" in name or "-_" in name \
            or "_-" in name or "___" in name or (len(name) == 64 and all(c in "0123456789abcdef" for c in name)):
        return None
    if not colon:
        return name + ":latest"
    if not tag or len(tag) > 128 or not set(tag) <= _TAG_CHARS or tag[0] in ".-":
        return None
    return ref


def normalize_name(name):
    """Any way of writing a reference -> the store's key, the familiar form
    Docker shows: 'docker.io/library/busybox' -> 'busybox:latest'
    (fastctr.image.reference.canonical).  InvalidReference if it is none."""
    key = _simple_key(name)
    if key is not None:
        return key
    from fastctr.image import reference
    return reference.canonical(name)


def validate_name(name):
    """A name to give an image (tag, load, commit): its store key."""
    if isinstance(name, str) and name.startswith("sha256:"):
        from fastctr.errors import InvalidReference
        raise InvalidReference(f"invalid reference format: {name!r} is an image ID, not a name")
    return normalize_name(name)


class Store:
    def __init__(self, root=None):
        self.root = os.path.abspath(root or os.environ.get("FASTCTR_ROOT") or DEFAULT_ROOT)
        self._dbs = {}  # thread id -> connection: sqlite3 connections are per thread

    # -------------------------------------------------------- database
    @property
    def db(self):
        db = self._dbs.get(_thread.get_ident())
        if db is None:
            os.makedirs(self.root, mode=0o711, exist_ok=True)
            db = sqlite3.connect(os.path.join(self.root, "fastctr.db"), timeout=60, isolation_level=None)
            db.execute("PRAGMA busy_timeout = 60000")
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.executescript(SCHEMA)
            if db.execute("SELECT value FROM meta WHERE key = 'tag_form'").fetchone() != (TAG_FORM,):
                _migrate_tags(db)
            self._dbs[_thread.get_ident()] = db
        return db

    def transaction(self):
        return _Transaction(self.db)

    def forget_connections(self):
        """In a forked child: never touch the parent's sqlite connections
        (not even to close them); keep them referenced, open new ones."""
        self._forgotten = getattr(self, "_forgotten", []) + list(self._dbs.values())
        self._dbs = {}

    def close(self):
        """Close this thread's connection (each thread closes its own)."""
        db = self._dbs.pop(_thread.get_ident(), None)
        if db is not None:
            db.close()

    # ------------------------------------------------------------ blobs
    def blob_path(self, digest):
        algo, _, hexd = digest.partition(":")
        if algo != "sha256" or len(hexd) != 64 or not all(c in "0123456789abcdef" for c in hexd):
            raise StoreError(f"invalid digest {digest!r}")
        return os.path.join(self.root, "blobs", "sha256", hexd)

    def has_blob(self, digest):
        path = self.blob_path(digest)
        return path if os.path.exists(path) else None

    def put_blob_file(self, src, digest):
        """Add a file as blob `digest` after checking its content (hard link
        when possible, copy otherwise)."""
        actual = sha256_file(src)
        if actual != digest:
            raise StoreError(f"blob {digest} does not match its content (sha256 is {actual})")
        dest = self.blob_path(digest)
        if os.path.exists(dest):
            return dest
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        tmp = self._blob_tmp(dest)
        try:
            try:
                os.link(src, tmp)
            except OSError:
                _copy_file(src, tmp)
            os.rename(tmp, dest)
        except BaseException:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            raise
        return dest

    def put_blob_bytes(self, data):
        digest = "sha256:" + _sha256(data).hexdigest()
        dest = self.blob_path(digest)
        if not os.path.exists(dest):
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            tmp = self._blob_tmp(dest)
            with open(tmp, "wb") as f:
                f.write(data)
            os.rename(tmp, dest)
        return digest

    @staticmethod
    def _blob_tmp(dest):
        return os.path.join(os.path.dirname(dest), temp_name("blob"))  # owner in the name: swept if we die

    def tmp_dir(self):
        """Where commands make their temporary work (fastctr.tmpwork)."""
        return os.path.join(self.root, "tmp")

    # ----------------------------------------------------------- images
    def image_ids(self):
        return [r[0] for r in self.db.execute("SELECT id FROM images ORDER BY loaded DESC")]

    def image(self, image_id):
        """The image row; "tags" are its names (RepoTags), "digests" its
        repository digests (RepoDigests: busybox@sha256:...)."""
        row = self.db.execute("SELECT id, config, manifest, layer_blobs, size, created, loaded FROM images "
                              "WHERE id = ?", (image_id,)).fetchone()
        if row is None:
            raise ImageNotFound(image_id)
        names = [r[0] for r in self.db.execute("SELECT name FROM tags WHERE image_id = ? ORDER BY name", (image_id,))]
        return {"id": row[0], "config": json.loads(row[1]), "manifest": json.loads(row[2]) if row[2] else None,
                "layer_blobs": json.loads(row[3]) if row[3] else [], "size": row[4], "created": row[5],
                "loaded": row[6], "tags": [n for n in names if "@" not in n],
                "digests": [n for n in names if "@" in n]}

    def resolve(self, ref):
        """A name (any form of it), a full ID or a unique ID prefix
        ("sha256:" optional) -> image ID, as Docker looks images up."""
        if not ref or not isinstance(ref, str):
            raise ImageNotFound(ref)
        hexref = ref[7:] if ref.startswith("sha256:") else ref
        is_hex = bool(hexref) and len(hexref) <= 64 and all(c in "0123456789abcdef" for c in hexref)
        key = None
        if not ref.startswith("sha256:") and not (is_hex and len(hexref) == 64):
            try:
                key = normalize_name(ref)
            except ValueError:  # InvalidReference
                if not is_hex:
                    raise
                key = None
            row = self.db.execute("SELECT image_id FROM tags WHERE name = ?", (key,)).fetchone() if key else None
            if row:
                return row[0]
        if is_hex:
            rows = self.db.execute("SELECT id FROM images WHERE id LIKE ?", ("sha256:" + hexref + "%",)).fetchall()
            if len(rows) == 1:
                return rows[0][0]
            if len(rows) > 1:
                raise AmbiguousImage(f"image ID prefix {ref!r} is ambiguous: {len(rows)} images match")
        raise ImageNotFound(key or ref)  # Docker names a missing name as it looked for it: busybox:latest

    def add_image(self, image_id, config_bytes, manifest, layer_blobs, size, names=()):
        """Record an image whose layers are already unpacked; tag it."""
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO images (id, config, manifest, layer_blobs, size, created, loaded) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (image_id, config_bytes.decode(), json.dumps(manifest) if manifest else None,
                        json.dumps(layer_blobs), size, json.loads(config_bytes).get("created", ""), now()))
            for name in names:
                db.execute("INSERT OR REPLACE INTO tags (name, image_id) VALUES (?, ?)", (name, image_id))

    def tag(self, image_id, name):
        name = validate_name(name)
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO tags (name, image_id) VALUES (?, ?)", (name, image_id))
        return name

    def untag(self, name):
        try:
            key = normalize_name(name)
        except ValueError:  # a name stored before names were checked: by its text
            key = name
        with self.transaction() as db:
            return db.execute("DELETE FROM tags WHERE name = ?", (key,)).rowcount

    def names(self):
        """Every (name, image ID): tags and repository digests."""
        return self.db.execute("SELECT name, image_id FROM tags ORDER BY name").fetchall()

    def containers_using(self, image_id):
        return [r[0] for r in self.db.execute("SELECT name FROM containers WHERE image_id = ?", (image_id,))]

    def delete_image_row(self, image_id):
        with self.transaction() as db:
            db.execute("DELETE FROM tags WHERE image_id = ?", (image_id,))
            db.execute("DELETE FROM images WHERE id = ?", (image_id,))

    def referenced_chain_ids(self):
        """Chain IDs that some image still needs."""
        out = set()
        for (cfg,) in self.db.execute("SELECT config FROM images UNION ALL SELECT config FROM build_cache"):
            out.update(chain_ids(json.loads(cfg).get("rootfs", {}).get("diff_ids", [])))
        return out

    def referenced_blobs(self):
        out = set()
        for image_id, blobs in self.db.execute("SELECT id, layer_blobs FROM images"):
            out.add(image_id)  # the config blob
            out.update(json.loads(blobs or "[]"))
        for (blobs,) in self.db.execute("SELECT layer_blobs FROM build_cache"):  # fastctr.build's steps
            out.update(json.loads(blobs or "[]"))
        return out

    # ----------------------------------------------------------- layers
    def layer_row(self, driver, chain_id):
        return self.db.execute("SELECT chain_id, diff_id, parent, size, link FROM layers "
                               "WHERE driver = ? AND chain_id = ?", (driver, chain_id)).fetchone()

    def add_layer_row(self, driver, chain_id, diff_id, parent, size, link):
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO layers (driver, chain_id, diff_id, parent, size, link, created) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)", (driver, chain_id, diff_id, parent, size, link, now()))

    def delete_layer_row(self, driver, chain_id):
        with self.transaction() as db:
            db.execute("DELETE FROM layers WHERE driver = ? AND chain_id = ?", (driver, chain_id))

    def layer_rows(self, driver):
        return self.db.execute("SELECT chain_id, diff_id, parent, size, link FROM layers WHERE driver = ?",
                               (driver,)).fetchall()


def _migrate_tags(db):
    """Stores written before names were kept in their familiar form may hold
    'docker.io/library/busybox:latest' or a bare 'busybox': rename each to
    its key (a clash keeps the name already in that form)."""
    from fastctr.errors import InvalidReference
    with _Transaction(db):
        if db.execute("SELECT value FROM meta WHERE key = 'tag_form'").fetchone() == (TAG_FORM,):
            return  # another process did it meanwhile
        for name, image_id in db.execute("SELECT name, image_id FROM tags").fetchall():
            try:
                key = normalize_name(name)
            except InvalidReference:
                continue  # unreachable by any reference: left as it is, still listed
            if key != name:
                db.execute("INSERT OR IGNORE INTO tags (name, image_id) VALUES (?, ?)", (key, image_id))
                db.execute("DELETE FROM tags WHERE name = ?", (name,))
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('tag_form', ?)", (TAG_FORM,))


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT: writers queue instead of failing."""

    def __init__(self, db):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind, value, tb):
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
        return False


def _copy_file(src, dest):
    with open(src, "rb") as fi, open(dest, "wb") as fo:
        while True:
            b = fi.read(1 << 20)
            if not b:
                break
            fo.write(b)


# ------------------------------------------------- files of the data root
# Temporary work is named for its owner (see fastctr.image.tmpwork, which
# sweeps what dead owners left); here so that the store and the drivers,
# on every start path, need no other module for it.

PREFIX = "tmp-"
_owner = None  # (pid, "pid-start") of this process, recomputed after a fork


def _owner_tag():
    global _owner
    pid = os.getpid()
    if _owner is None or _owner[0] != pid:
        from fastctr.runtime.state import process_start_time
        _owner = (pid, f"{pid}-{process_start_time(pid)}")
    return _owner[1]


def temp_name(kind):
    return f"{PREFIX}{kind}-{_owner_tag()}-{os.urandom(4).hex()}"


def rmtree(path, attempts=5):
    """rm -rf without shutil (whose imports cost ~10 ms per CLI start);
    fwalk works on directory fds and never follows symlinks.  A file that
    appears while we remove (a late writer) costs another pass, not a
    failure."""
    for attempt in range(attempts):
        if not os.path.lexists(path):
            return
        # fwalk closes each dir_fd when it moves on: work inside the loop.
        for _, dirs, files, dir_fd in os.fwalk(path, topdown=False):
            for name in files:
                ignore_missing(os.unlink, name, dir_fd=dir_fd)
            for name in dirs:
                try:
                    os.rmdir(name, dir_fd=dir_fd)
                except NotADirectoryError:  # a symlink to a directory
                    os.unlink(name, dir_fd=dir_fd)
                except FileNotFoundError:
                    pass
                except OSError as e:
                    if e.errno != errno.ENOTEMPTY or attempt == attempts - 1:
                        raise
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except NotADirectoryError:
            os.unlink(path)
            return
        except OSError as e:
            if e.errno != errno.ENOTEMPTY or attempt == attempts - 1:
                raise


def ignore_missing(fn, *args, **kw):
    try:
        fn(*args, **kw)
    except FileNotFoundError:
        pass
