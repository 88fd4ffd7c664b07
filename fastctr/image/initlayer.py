"""The init layer of an image's containers (Docker's `<id>-init` layer).

Every container of an image needs the same mount points: /proc, /dev,
/sys, and /etc/hostname, hosts and resolv.conf to bind its own files on.
Where the image lacks them, the container process made them in its
writable layer (a copy-up each) and removing the container took them away
again: here ~1 ms per directory operation, a dozen per container.  One
read-only layer per image holds them instead, below the writable one and
above the image's own; it is made on the first container's start and goes
with the image's top layer.  Only what the image lacks, or has as a
directory (which then keeps its owner and mode), is put there."""
import errno
import os
import stat

from fastctr.image.store import rmtree

DIRS = ("proc", "dev", "sys")
ETC_FILES = ("etc/hostname", "etc/hosts", "etc/resolv.conf")


def link_name(top_chain_id):
    return ("I" + top_chain_id.split(":", 1)[1][:25]).upper()  # 26 characters, as the layers' links


def init_dir(driver, top_chain_id):
    return driver.layer_dir(top_chain_id) + "-init"


def lowerdir(driver, chain):
    """The init layer's lowerdir entry (l/LINK), made on first use."""
    top = chain[-1]
    link = os.path.join(driver.base, "l", link_name(top))
    if not os.path.isdir(link):
        d = init_dir(driver, top)
        if not os.path.isdir(os.path.join(d, "diff")):
            _make(driver, chain, d)
        try:
            os.symlink(os.path.join("..", os.path.basename(d), "diff"), link)
        except FileExistsError:
            pass
    return "l/" + link_name(top)


def remove(driver, top_chain_id):
    try:
        os.unlink(os.path.join(driver.base, "l", link_name(top_chain_id)))
    except FileNotFoundError:
        pass
    rmtree(init_dir(driver, top_chain_id))


def _make(driver, chain, final):
    tmp = driver._tmp()
    try:
        diff = os.path.join(tmp, "diff")
        os.mkdir(diff, 0o755)
        for rel in DIRS + ("etc",):
            st = _in_image(driver, chain, rel)
            wanted = rel != "etc" or any(_in_image(driver, chain, f) is None for f in ETC_FILES)
            if wanted and (st is None or stat.S_ISDIR(st.st_mode)):
                _mkdir_like(os.path.join(diff, rel), st)
        if os.path.isdir(os.path.join(diff, "etc")):
            for rel in ETC_FILES:
                if _in_image(driver, chain, rel) is None:
                    os.close(os.open(os.path.join(diff, rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        os.rename(tmp, final)
    except OSError as e:
        rmtree(tmp)
        if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):  # another start made it first
            raise


def _mkdir_like(path, st):
    os.mkdir(path, 0o755)
    if st is not None:  # the merged directory shows the top layer's owner and mode: keep the image's
        os.chown(path, st.st_uid, st.st_gid)
        os.chmod(path, stat.S_IMODE(st.st_mode))


def _in_image(driver, chain, rel):
    """lstat of rel in the image's top-most layer that has it; None where
    the image does not have it (absent or whited out); a non-directory on
    the way (an /etc symlink) counts as there, as a file."""
    for chain_id in reversed(chain):
        try:
            st = os.lstat(os.path.join(driver.layer_dir(chain_id), "diff", rel))
        except FileNotFoundError:
            continue
        except NotADirectoryError:
            return os.lstat("/dev/null")  # stands for "not a directory"
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:  # an overlay whiteout
            return None
        return st
    return None
