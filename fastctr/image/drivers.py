"""Storage drivers: how layers are kept and how a container's root is made.

overlay2 (default): each layer unpacked once into <root>/overlay2/<id>/diff
  with overlayfs whiteouts; a container is those diffs stacked read-only plus
  its own upper and work directories.  Every layer also gets a short link
  name in <root>/overlay2/l/, and the overlay is mounted with relative names
  from that directory so the mount data of 120+ layers fits one page.  The
  mount is made by the container's own process, in its mount namespace.
vfs: each layer is a full copy of its parent with the layer applied, and a
  container a full copy of its image: slower and bigger, works anywhere."""
import errno
import os

from fastctr.errors import crash_point
from fastctr.image.store import StoreError, ignore_missing as _ignore_missing, rmtree as _rmtree

PAGE_LIMIT = 4096  # mount(2) copies at most one page of option data


def copy_tree(src, dest):
    import subprocess
    # cp -a keeps ownership, modes, times, hard links, xattrs and devices.
    subprocess.run(["cp", "-a", "--reflink=auto", src + "/.", dest], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Driver:
    name = ""

    def __init__(self, store):
        self.store = store
        self.base = os.path.join(store.root, self.name)

    def layer_dir(self, chain_id):
        return os.path.join(self.base, chain_id.split(":", 1)[1])

    def has_layer(self, chain_id):
        return self.store.layer_row(self.name, chain_id) is not None and os.path.isdir(self.layer_dir(chain_id))

    def _tmp(self):
        from fastctr.image import tmpwork  # named for its owner: swept if we are killed
        os.makedirs(self.base, mode=0o700, exist_ok=True)
        return tmpwork.make_dir(self.base, "layer")

    def _install(self, tmp, chain_id):
        """Rename an unpacked layer into place; False if another process won
        (tmp is the caller's to remove then)."""
        try:
            os.rename(tmp, self.layer_dir(chain_id))
            return True
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            return False

    def ensure_layer(self, chain_id, diff_id, parent, blob):
        """Unpack blob as layer chain_id unless present; True if we made it."""
        from fastctr.image.layers import apply_layer
        from fastctr.image.tmpwork import ImportLock
        if self.has_layer(chain_id):
            return False
        with ImportLock(self.store.root):  # a layer without its row yet: prune must wait
            tmp = self._tmp()
            try:
                target = self._prepare_unpack(tmp, parent)
                info = apply_layer(blob, target, mode=self.unpack_mode)
                if info.diff_id != diff_id:
                    raise StoreError(f"layer {info.digest} unpacks to {info.diff_id}, but the image expects "
                                     f"{diff_id}")
                link = self._finish_unpack(tmp)
                crash_point("layer:unpacked")
            except BaseException:
                _rmtree(tmp)
                raise
            made = lost = False
            try:
                made = self._install(tmp, chain_id)
                lost = not made
                if lost:
                    _rmtree(tmp)
                crash_point("layer:installed")
                if made:
                    self._after_install(chain_id, link)
                self.store.add_layer_row(self.name, chain_id, diff_id, parent, info.content_size, link)
            except BaseException:
                # Interrupted before its row: a layer we put in place is nobody's, so it goes.  A
                # Ctrl-C raised as the rename returned leaves made unset, but our tmp gone.
                if made or not lost and not os.path.lexists(tmp):
                    self._take_back(chain_id, link)
                elif os.path.lexists(tmp):
                    _rmtree(tmp)
                raise
        return made

    def _take_back(self, chain_id, link):
        if link:
            _ignore_missing(os.unlink, os.path.join(self.base, "l", link))
        self.remove_layer(chain_id)

    def remove_layer(self, chain_id):
        row = self.store.layer_row(self.name, chain_id)
        if row and row[4]:
            _ignore_missing(os.unlink, os.path.join(self.base, "l", row[4]))
        _rmtree(self.layer_dir(chain_id))
        self.store.delete_layer_row(self.name, chain_id)

    def container_dir(self, cid):
        return os.path.join(self.store.root, "containers", cid)

    def remove_container(self, cid):
        _rmtree(self.container_dir(cid))

    # hooks for subclasses
    unpack_mode = "overlay"

    def _prepare_unpack(self, tmp, parent):
        raise NotImplementedError

    def _finish_unpack(self, tmp):
        return None

    def _after_install(self, chain_id, link):
        pass


class Overlay2(Driver):
    name = "overlay2"
    unpack_mode = "overlay"

    def _prepare_unpack(self, tmp, parent):
        os.mkdir(os.path.join(tmp, "diff"), 0o755)
        return os.path.join(tmp, "diff")

    def _finish_unpack(self, tmp):
        link = os.urandom(13).hex().upper()  # 26 characters, like Docker's
        with open(os.path.join(tmp, "link"), "w") as f:
            f.write(link)
        return link

    def _after_install(self, chain_id, link):
        links = os.path.join(self.base, "l")
        os.makedirs(links, mode=0o700, exist_ok=True)
        try:
            os.symlink(os.path.join("..", chain_id.split(":", 1)[1], "diff"), os.path.join(links, link))
        except FileExistsError:
            pass

    def remove_layer(self, chain_id):
        from fastctr.image import initlayer
        initlayer.remove(self, chain_id)  # of the images whose top layer this is
        super().remove_layer(chain_id)

    def _lowerdir(self, chain):
        links = []
        for chain_id in reversed(chain):  # overlayfs wants the top layer first
            row = self.store.layer_row(self.name, chain_id)
            if row is None:
                raise StoreError(f"layer {chain_id} is missing from the overlay2 store")
            links.append("l/" + row[4])
        return ":".join(links)

    def prepare_container(self, cid, chain, volatile=False):
        """Make the writable layer; return (rootfs, rootfs_mount) where the
        mount is done by the container process (fastctr.plan)."""
        cdir = self.container_dir(cid)
        for d in ("upper", "work", "rootfs"):
            os.makedirs(os.path.join(cdir, d), mode=0o755 if d != "work" else 0o700, exist_ok=True)
        data = self.mount_data(cid, chain, volatile)
        return os.path.join(cdir, "rootfs"), ("overlay", data, self.base)

    def mount_data(self, cid, chain, volatile=False):
        cdir = self.container_dir(cid)
        from fastctr.image import initlayer  # its mount points: none made per container (initlayer.py)
        lower = f"{initlayer.lowerdir(self, chain)}:{self._lowerdir(chain)}" if chain else self._lowerdir(chain)
        data = f"lowerdir={lower},upperdir={cdir}/upper,workdir={cdir}/work"
        if volatile and _kernel_at_least(5, 10):  # no syncs for a throw-away layer
            data += ",volatile"
        if len(data) >= PAGE_LIMIT:
            raise StoreError(f"image has too many layers ({len(chain)}) for one overlay mount")
        return data

    def upper(self, cid):
        return os.path.join(self.container_dir(cid), "upper")

    def mounted(self, cid, chain):
        """The merged view on the host, for export; unmounted after."""
        return _TemporaryOverlay(os.path.join(self.container_dir(cid), "rootfs"), self.mount_data(cid, chain),
                                 self.base)

    @staticmethod
    def supported(root):
        """Try one tiny overlay mount on the data root's file system."""
        if "overlay" not in open("/proc/filesystems").read():
            return False
        probe = os.path.join(root, f"overlay-probe-{os.getpid()}")
        try:
            for d in ("lower", "upper", "work", "merged"):
                os.makedirs(os.path.join(probe, d))
            _mount_overlay(f"lowerdir={probe}/lower,upperdir={probe}/upper,workdir={probe}/work",
                           os.path.join(probe, "merged"), None)
            _umount(os.path.join(probe, "merged"))
            return True
        except OSError:
            return False
        finally:
            _rmtree(probe)


class Vfs(Driver):
    name = "vfs"
    unpack_mode = "apply"

    def _prepare_unpack(self, tmp, parent):
        if parent:
            copy_tree(self.layer_dir(parent), tmp)
        os.chmod(tmp, 0o755)
        return tmp

    def prepare_container(self, cid, chain, volatile=False):
        cdir = self.container_dir(cid)
        rootfs = os.path.join(cdir, "rootfs")
        os.makedirs(rootfs, mode=0o755, exist_ok=True)
        if chain:
            copy_tree(self.layer_dir(chain[-1]), rootfs)
        return rootfs, None

    def mounted(self, cid, chain):
        return _AlreadyThere(os.path.join(self.container_dir(cid), "rootfs"))


DRIVERS = {"overlay2": Overlay2, "vfs": Vfs}


class _TemporaryOverlay:
    def __init__(self, target, data, cwd):
        self.target, self.data, self.cwd = target, data, cwd

    def __enter__(self):
        _mount_overlay(self.data, self.target, self.cwd)
        return self.target

    def __exit__(self, *exc):
        _umount(self.target)
        return False


class _AlreadyThere:
    def __init__(self, path):
        self.path = path

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        return False


def _kernel_at_least(major, minor):
    parts = os.uname().release.split(".")
    try:
        return (int(parts[0]), int(parts[1].split("-")[0])) >= (major, minor)
    except (ValueError, IndexError):
        return False


def _mount_overlay(data, target, cwd):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    old = os.getcwd()
    if cwd:
        os.chdir(cwd)
    try:
        if libc.mount(b"overlay", target.encode(), b"overlay", 0, data.encode()) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"mount overlay on {target}: {os.strerror(e)}")
    finally:
        os.chdir(old)


def _umount(target):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(target.encode(), 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"unmount {target}: {os.strerror(e)}")


def driver_for(store, name=None):
    """The driver named, the one the store was made with, or overlay2 when
    the data root's file system supports it, else vfs."""
    db = store.db
    row = db.execute("SELECT value FROM meta WHERE key = 'driver'").fetchone()
    if name is None:
        name = os.environ.get("FASTCTR_STORAGE_DRIVER") or (row[0] if row else None)
    if name is None:
        name = "overlay2" if Overlay2.supported(store.root) else "vfs"
    if name not in DRIVERS:
        raise StoreError(f"unknown storage driver {name!r}: use overlay2 or vfs")
    if row is None:
        db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('driver', ?)", (name,))
    return DRIVERS[name](store)
