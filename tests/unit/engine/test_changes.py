"""`diff`'s change list (fastctr.engine.changes) from overlay layers made by
hand: whiteouts, opaque directories (and directories made again below
one), a file replaced by a directory, Docker's order; and the same for two
full trees (vfs)."""
import os
import stat

import pytest

from fastctr.engine.changes import ImageView, overlay_changes, tree_changes

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="whiteouts and trusted.* xattrs need root")


def _write(path, text="x", mtime=1_000_000_000):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.utime(path, (mtime, mtime))


def _whiteout(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.mknod(path, stat.S_IFCHR | 0o600, 0)


def _opaque(path):
    os.makedirs(path, exist_ok=True)
    os.setxattr(path, "trusted.overlay.opaque", b"y")


@pytest.fixture
def layers(tmp_path):
    base, top = str(tmp_path / "l0"), str(tmp_path / "l1")
    for rel in ("etc/a", "etc/b", "etc/ssl/cert", "usr/bin/tool", "var/log/old", "opt/x/y"):
        _write(os.path.join(base, rel))
    _whiteout(os.path.join(top, "var/log/old"))   # the image itself deleted it
    _write(os.path.join(top, "usr/bin/extra"))
    return ImageView([top, base]), str(tmp_path / "upper")


def test_whiteouts_opaque_directories_and_order(layers):
    image, upper = layers
    _opaque(os.path.join(upper, "etc"))               # rm -rf /etc; mkdir /etc; ...
    _write(os.path.join(upper, "etc/a"), "changed")   # made again, different: C
    os.makedirs(os.path.join(upper, "etc/ssl"))       # made again, but its old contents are gone
    _whiteout(os.path.join(upper, "usr/bin/tool"))
    _whiteout(os.path.join(upper, "var/log/old"))     # not in the image: nothing to report
    _write(os.path.join(upper, "opt/x"))              # a directory replaced by a file
    _write(os.path.join(upper, "new/deep/file"))
    assert overlay_changes(upper, image) == [
        ("C", "/etc"), ("C", "/etc/a"), ("D", "/etc/b"), ("C", "/etc/ssl"), ("D", "/etc/ssl/cert"), ("A", "/new"),
        ("A", "/new/deep"), ("A", "/new/deep/file"), ("C", "/opt"), ("C", "/opt/x"), ("C", "/usr"), ("C", "/usr/bin"),
        ("D", "/usr/bin/tool")]  # /var/log/old: gone in the image already


def test_unchanged_copies_and_init_mount_points_are_not_changes(layers):
    image, upper = layers
    _write(os.path.join(upper, "etc/b"))  # copied up, same size and time: unchanged, as Docker compares
    os.makedirs(os.path.join(upper, "proc"))
    _write(os.path.join(upper, "etc/hosts"), "")
    assert overlay_changes(upper, image) == []


def test_full_trees(tmp_path):
    old, new = str(tmp_path / "old"), str(tmp_path / "new")
    for rel in ("a/x", "a/y", "b"):
        _write(os.path.join(old, rel))
    _write(os.path.join(new, "a/x"))
    _write(os.path.join(new, "a/z"))
    _write(os.path.join(new, "b"), "longer")
    os.makedirs(os.path.join(new, "dev"))
    assert tree_changes(new, old) == [("C", "/a"), ("D", "/a/y"), ("A", "/a/z"), ("C", "/b")]
