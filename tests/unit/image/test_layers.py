"""Layer tars: apply exactly (every entry type and metadata), refuse unsafe
layers without writing outside dest, and round-trip write_layer/apply_layer.

Tars are built here with tarfile.  Most tests need root (chown, mknod,
trusted.* xattrs, security.capability); they are skipped otherwise."""
import gzip
import hashlib
import io
import os
import shutil
import stat
import struct
import sys
import tarfile

import pytest

from fastctr.image.layers import LayerError, LayerInfo, apply_layer, export_tree, write_layer

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
try:
    import zstandard
except ImportError:
    zstandard = None

MTIME = 1_700_000_000
# struct vfs_cap_data revision 2: CAP_NET_BIND_SERVICE permitted + effective
CAPABILITY = struct.pack("<IIIII", 0x02000001, 1 << 10, 0, 0, 0)


# -- building tars ---------------------------------------------------------

def entry(name, kind=tarfile.REGTYPE, data=b"", *, mode=0o644, uid=None, gid=None,
          mtime=MTIME, link="", dev=(0, 0), xattrs=None, pax=None):
    """A tar member; owned by whoever runs the tests unless told otherwise."""
    uid = os.geteuid() if uid is None else uid
    gid = os.getegid() if gid is None else gid
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid, info.mtime = kind, mode, uid, gid, mtime
    info.linkname = link
    info.devmajor, info.devminor = dev
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    for key, value in (xattrs or {}).items():
        info.pax_headers["SCHILY.xattr." + key] = value.decode("utf-8", "surrogateescape")
    info.pax_headers.update(pax or {})
    return info, data


def d(name, **kw):
    return entry(name, tarfile.DIRTYPE, mode=kw.pop("mode", 0o755), **kw)


def f(name, data=b"x", **kw):
    return entry(name, tarfile.REGTYPE, data, **kw)


def sym(name, target, **kw):
    return entry(name, tarfile.SYMTYPE, link=target, mode=0o777, **kw)


def hard(name, target):
    return entry(name, tarfile.LNKTYPE, link=target)


def wh(name):
    return entry(name, mode=0o600)


def make_tar(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, encoding="utf-8",
                      errors="surrogateescape") as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def apply(dest, entries, mode="apply", **kw):
    dest.mkdir(exist_ok=True)
    return apply_layer(io.BytesIO(make_tar(entries, **kw)), str(dest), mode=mode)


@pytest.fixture
def dest(tmp_path):
    return tmp_path / "dest"


@pytest.fixture
def outside(tmp_path):
    """A sentinel directory next to dest that no layer may touch."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret").write_text("keep")
    os.utime(out / "secret", ns=(1, 1))
    os.utime(out, ns=(1, 1))
    return out


def untouched(outside):
    return (sorted(os.listdir(outside)) == ["secret"]
            and (outside / "secret").read_text() == "keep"
            and os.lstat(outside / "secret").st_mtime_ns == 1
            and os.lstat(outside / "secret").st_mode & 0o7777 == 0o644
            and os.lstat(outside).st_mtime_ns == 1)


# -- comparing trees -------------------------------------------------------

def snapshot(root):
    """Everything a layer must reproduce: type, mode, owner, mtime, content,
    link target, device, layer xattrs, and which paths share an inode."""
    result, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames + ([] if dirpath != str(root) else ["."]):
            path = os.path.normpath(os.path.join(dirpath, name))
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            result[rel] = describe(path, st)
            if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
                inodes.setdefault(st.st_ino, set()).add(rel)
    groups = sorted(sorted(g) for g in inodes.values() if len(g) > 1)
    return result, groups


def describe(path, st):
    mode = st.st_mode
    if stat.S_ISREG(mode):
        extra = hashlib.sha256(open(path, "rb").read()).hexdigest()
    elif stat.S_ISLNK(mode):
        extra = os.readlink(path)
    else:
        extra = st.st_rdev if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else None
    xattrs = {k: os.getxattr(path, k, follow_symlinks=False)
              for k in os.listxattr(path, follow_symlinks=False)
              if not k.startswith(("trusted.overlay.", "security.selinux"))}
    return (stat.filemode(mode), st.st_uid, st.st_gid, st.st_mtime_ns, extra, xattrs)


# -- exact application -----------------------------------------------------

@needs_root
@pytest.mark.parametrize("mode", ["apply", "overlay"])
def test_every_entry_type_with_its_metadata(dest, mode):
    info = apply(dest, [
        d("bin", mode=0o750, uid=7, gid=8, mtime=MTIME + 1),
        f("bin/suid", b"#!x", mode=0o4755, uid=1000, gid=1000),
        f("bin/sgid", mode=0o2711, gid=50),
        d("tmp", mode=0o1777),
        f("frac", pax={"mtime": "1700000000.123456789"}),
        sym("rel", "bin/suid", uid=3, gid=4, mtime=MTIME + 5),
        sym("abs", "/etc/passwd"),
        sym("dangling", "../../nowhere"),
        hard("bin/again", "bin/suid"),
        entry("null", tarfile.CHRTYPE, dev=(1, 3), mode=0o666),
        entry("loop", tarfile.BLKTYPE, dev=(7, 0), mode=0o660, gid=6),
        entry("pipe", tarfile.FIFOTYPE, mode=0o620),
    ], mode)
    assert isinstance(info, LayerInfo)
    st = os.lstat(dest / "bin")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns) == (0o750, 7, 8, (MTIME + 1) * 10**9)
    st = os.lstat(dest / "bin/suid")
    assert (st.st_mode, st.st_uid, st.st_gid) == (stat.S_IFREG | 0o4755, 1000, 1000)
    assert (dest / "bin/suid").read_bytes() == b"#!x" and st.st_nlink == 2
    assert os.lstat(dest / "bin/again").st_ino == st.st_ino
    assert os.lstat(dest / "bin/sgid").st_mode == stat.S_IFREG | 0o2711
    assert os.lstat(dest / "tmp").st_mode == stat.S_IFDIR | 0o1777
    assert os.lstat(dest / "frac").st_mtime_ns == 1_700_000_000_123456789
    assert os.readlink(dest / "rel") == "bin/suid"
    st = os.lstat(dest / "rel")
    assert (st.st_uid, st.st_gid, st.st_mtime_ns) == (3, 4, (MTIME + 5) * 10**9)
    assert os.readlink(dest / "abs") == "/etc/passwd"
    assert os.readlink(dest / "dangling") == "../../nowhere"
    st = os.lstat(dest / "null")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3) and st.st_mode & 0o777 == 0o666
    st = os.lstat(dest / "loop")
    assert stat.S_ISBLK(st.st_mode) and st.st_rdev == os.makedev(7, 0) and st.st_gid == 6
    assert os.lstat(dest / "pipe").st_mode == stat.S_IFIFO | 0o620


@needs_root
def test_xattrs_user_and_capability_but_never_overlay(dest):
    apply(dest, [
        d("d", xattrs={"user.dir": b"1"}),
        f("d/ping", mode=0o755, uid=5, xattrs={"user.note": b"hi", "security.capability": CAPABILITY,
                                               "trusted.overlay.redirect": b"/etc"}),
    ])
    assert os.getxattr(dest / "d", "user.dir") == b"1"
    assert os.getxattr(dest / "d/ping", "user.note") == b"hi"
    # set after chown, which would have dropped it
    assert os.getxattr(dest / "d/ping", "security.capability") == CAPABILITY
    assert "trusted.overlay.redirect" not in os.listxattr(dest / "d/ping")


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_long_names_and_long_link_names(dest, fmt):
    deep = "/".join(["a" * 100, "b" * 120, "c" * 150])        # > 255 in total
    apply(dest, [f(deep + "/file", b"deep"), sym("s", deep + "/file"), hard("h", deep + "/file")], fmt=fmt)
    assert (dest / deep / "file").read_bytes() == b"deep"
    assert os.readlink(dest / "s") == deep + "/file"
    assert os.lstat(dest / "h").st_ino == os.lstat(dest / deep / "file").st_ino


def test_file_with_non_utf8_name(dest):
    apply(dest, [f("caf\udce9", b"latin1")])
    assert os.listdir(os.fsencode(dest)) == [b"caf\xe9"]


@needs_root
def test_overlay_whiteouts_become_devices_and_opaque_xattrs(dest):
    apply(dest, [d("etc"), wh("etc/.wh.gone"), d("opq"), wh("opq/.wh..wh..opq"),
                 f("opq/new"), wh("deep/er/.wh..wh..opq"), wh(".wh.top")], mode="overlay")
    for path in ("etc/gone", "top"):
        st = os.lstat(dest / path)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(dest / "opq", "trusted.overlay.opaque") == b"y"
    assert os.getxattr(dest / "deep/er", "trusted.overlay.opaque") == b"y"
    assert sorted(os.listdir(dest / "opq")) == ["new"]            # no marker file
    assert not any(".wh." in n for _, ds, fs in os.walk(dest) for n in ds + fs)


@needs_root
def test_overlay_whiteout_then_directory_is_an_opaque_directory(dest):
    apply(dest, [wh(".wh.a"), f("a/new"), wh(".wh.b"), d("b")], mode="overlay")
    for name in "ab":
        assert os.path.isdir(dest / name) and os.getxattr(dest / name, "trusted.overlay.opaque") == b"y"


def lower_tree(dest):
    apply(dest, [d("d"), f("d/old"), d("d/sub"), f("d/sub/old2"), f("gone"), d("gonedir"),
                 f("gonedir/x"), f("keep"), sym("link", "keep")])


@needs_root
@pytest.mark.parametrize("marker_first", [True, False])
def test_apply_whiteouts_delete_and_opaque_keeps_this_layers_entries(dest, marker_first):
    lower_tree(dest)
    marker, own = [wh("d/.wh..wh..opq")], [f("d/new", b"n"), d("d/sub"), f("d/sub/mine")]
    apply(dest, [wh(".wh.gone"), wh(".wh.gonedir"), wh(".wh.link"), wh(".wh.absent")]
          + (marker + own if marker_first else own + marker))
    assert sorted(os.listdir(dest)) == ["d", "keep"]
    assert sorted(os.listdir(dest / "d")) == ["new", "sub"]
    assert os.listdir(dest / "d/sub") == ["mine"]


@needs_root
@pytest.mark.parametrize("whiteout_first", [True, False])
def test_apply_whiteout_spares_this_layers_own_entries(dest, whiteout_first):
    lower_tree(dest)                       # gonedir/x comes from the lower layer
    own, whiteout = [f("gonedir/mine")], [wh(".wh.gonedir")]
    apply(dest, whiteout + own if whiteout_first else own + whiteout)
    assert os.listdir(dest / "gonedir") == ["mine"]


@needs_root
def test_type_changes_across_layers(dest):
    apply(dest, [f("p", b"file"), d("q"), f("q/child"), f("r")])
    apply(dest, [d("p"), f("p/inside", b"in"), f("q", b"now a file"), sym("r", "/etc")])
    assert (dest / "p/inside").read_bytes() == b"in" and (dest / "q").read_bytes() == b"now a file"
    assert os.readlink(dest / "r") == "/etc"
    apply(dest, [f("p", b"file again"), d("r"), f("r/passwd", b"mine")])
    assert (dest / "p").read_bytes() == b"file again"
    assert (dest / "r/passwd").read_bytes() == b"mine" and not os.path.islink(dest / "r")


@needs_root
def test_directory_over_directory_updates_metadata_and_keeps_children(dest):
    apply(dest, [d("d", mode=0o755), f("d/old")])
    apply(dest, [d("d", mode=0o700, uid=9, mtime=MTIME - 100)])
    st = os.lstat(dest / "d")
    assert (st.st_mode & 0o7777, st.st_uid, st.st_mtime_ns) == (0o700, 9, (MTIME - 100) * 10**9)
    assert os.listdir(dest / "d") == ["old"]


@needs_root
def test_replacing_a_hardlinked_file_leaves_the_other_link_alone(dest):
    apply(dest, [f("a", b"lower"), hard("b", "a")])
    apply(dest, [f("b", b"upper")])
    assert (dest / "a").read_bytes() == b"lower" and (dest / "b").read_bytes() == b"upper"


@needs_root
def test_symlinks_are_replaced_never_followed(dest, outside):
    target = str(outside / "secret")
    apply(dest, [sym("abs", target, mtime=5), sym("rel", "../outside/secret")])
    apply(dest, [f("abs", b"replaced", mode=0o600), d("rel", mode=0o700)])
    assert (dest / "abs").read_bytes() == b"replaced" and os.path.isdir(dest / "rel")
    assert untouched(outside)


def test_root_entry_sets_dest_metadata(dest):
    apply(dest, [d(".", mode=0o711, mtime=MTIME), f("x")])
    st = os.lstat(dest)
    assert (st.st_mode & 0o7777, st.st_mtime_ns) == (0o711, MTIME * 10**9)


# -- compression and digests -----------------------------------------------

def compress(kind, data):
    if kind == "gzip":
        return gzip.compress(data)
    if kind == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


@pytest.mark.parametrize("kind", ["plain", "gzip",
                                  pytest.param("zstd", marks=pytest.mark.skipif(
                                      zstandard is None, reason="zstandard not installed"))])
@pytest.mark.parametrize("as_path", [False, True])
def test_compression_and_digests(tmp_path, dest, kind, as_path):
    tar = make_tar([f("hello", b"world" * 1000)]) + b"\0" * 4096  # extra padding
    blob = compress(kind, tar)
    source = tmp_path / "layer"
    source.write_bytes(blob)
    dest.mkdir()
    info = apply_layer(str(source) if as_path else io.BytesIO(blob), str(dest), mode="apply")
    assert info == LayerInfo(diff_id="sha256:" + hashlib.sha256(tar).hexdigest(),
                             digest="sha256:" + hashlib.sha256(blob).hexdigest(),
                             size=len(blob), uncompressed_size=len(tar), content_size=5000)
    assert (dest / "hello").read_bytes() == b"world" * 1000


def test_content_size_counts_files_and_symlink_targets_as_docker_does(dest):
    # overlay2's directory.Size: file bytes, symlinks by their target's
    # length, a hard link once, directories and whiteouts nothing.
    info = apply(dest, [d("etc"), f("etc/a", b"12345"), hard("etc/b", "etc/a"), sym("etc/c", "a/bc"),
                        wh("etc/.wh.gone")], mode="overlay")
    assert info.content_size == 5 + 4
    assert info.uncompressed_size > 1024


@pytest.mark.skipif(zstandard is None, reason="zstandard not installed")
def test_zstd_multi_frame_and_streamed(dest):
    tar = make_tar([f("a", os.urandom(300_000)), f("b", b"b")])
    cctx = zstandard.ZstdCompressor()
    blob = cctx.compress(tar[:100_000]) + cctx.compress(tar[100_000:])
    dest.mkdir()
    info = apply_layer(io.BytesIO(blob), str(dest), mode="apply")
    assert info.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
    assert sorted(os.listdir(dest)) == ["a", "b"]


def test_missing_zstandard_is_a_clear_error(dest, monkeypatch):
    monkeypatch.setitem(sys.modules, "zstandard", None)
    dest.mkdir()
    with pytest.raises(LayerError, match="zstandard"):
        apply_layer(io.BytesIO(b"\x28\xb5\x2f\xfd" + b"\0" * 100), str(dest), mode="apply")


def test_empty_layer(dest):
    dest.mkdir()
    info = apply_layer(io.BytesIO(make_tar([])), str(dest), mode="overlay")
    assert info.uncompressed_size == 10240 and os.listdir(dest) == []


# -- unsafe and broken layers ----------------------------------------------

def escape_cases(outside):
    out = str(outside)
    return {
        "dotdot": [f("../evil")],
        "absolute": [f("/abs")],
        "dotdot-inside": [d("a"), f("a/../../evil")],
        "through-abs-symlink": [sym("x", out), f("x/file")],
        "through-dotdot-symlink": [sym("x", ".."), f("x/file")],
        "dir-through-symlink": [sym("x", out), d("x/sub")],
        "deep-through-symlink": [d("a"), sym("a/x", out), f("a/x/y/file")],
        "hardlink-absolute": [hard("pw", "/etc/passwd")],
        "hardlink-dotdot": [hard("pw", "../outside/secret")],
        "hardlink-through-symlink": [sym("x", out), hard("pw", "x/secret")],
        "hardlink-missing": [hard("pw", "nothing")],
        "hardlink-directory": [d("dir"), hard("pw", "dir")],
        "whiteout-through-symlink": [sym("x", out), wh("x/.wh.secret")],
        "opaque-through-symlink": [sym("x", out), wh("x/.wh..wh..opq")],
        "whiteout-dotdot": [d("a"), wh("a/.wh...")],
        "whiteout-escape": [wh("../outside/.wh.secret")],
    }


@needs_root
@pytest.mark.parametrize("mode", ["apply", "overlay"])
@pytest.mark.parametrize("case", list(escape_cases("/x")))
def test_unsafe_layers_are_refused_and_write_nothing_outside(dest, outside, mode, case):
    entries = escape_cases(outside)[case]
    with pytest.raises(LayerError) as err:
        apply(dest, entries, mode)
    assert entries[-1][0].name in str(err.value) and "\n" not in str(err.value)
    assert untouched(outside)


def test_layer_error_is_a_value_error():
    assert issubclass(LayerError, ValueError)


def corrupt_cases():
    tar = make_tar([f("a", b"A" * 3000), f("b", b"B" * 3000)])
    second = tar.index(b"b\0")            # header of the second entry
    garbage = bytearray(tar)
    garbage[second:second + 512] = b"\xff" * 512
    gz = gzip.compress(tar)
    flipped = bytearray(gz)
    flipped[len(gz) // 2] ^= 0xFF
    cases = {
        "cut-in-data": tar[:1500],
        "cut-at-header": tar[:second],
        "garbage-header": bytes(garbage),
        "not-a-tar": b"hello world" * 100,
        "empty": b"",
        "gzip-truncated": gz[: len(gz) - 20],
        "gzip-corrupt": bytes(flipped),
        "gzip-garbage": b"\x1f\x8b" + b"\x00" * 200,
        "gzip-trailing-junk": gz + b"junk",
        "xz": b"\xfd7zXZ\x00" + b"\0" * 50,
    }
    if zstandard is not None:
        zst = zstandard.ZstdCompressor().compress(tar)
        cases["zstd-truncated"] = zst[: len(zst) - 10]
        cases["zstd-corrupt"] = b"\x28\xb5\x2f\xfd" + b"\xff" * 200
        cases["zstd-trailing-junk"] = zst + b"junk"
    return cases


@pytest.mark.parametrize("case", list(corrupt_cases()))
def test_truncated_or_corrupt_layers_raise_layer_error(dest, case):
    dest.mkdir()
    with pytest.raises(LayerError) as err:
        apply_layer(io.BytesIO(corrupt_cases()[case]), str(dest), mode="apply")
    assert "\n" not in str(err.value)


def test_overlay_mode_needs_an_empty_dest(dest):
    dest.mkdir()
    (dest / "x").write_text("")
    with pytest.raises(ValueError, match="empty"):
        apply_layer(io.BytesIO(make_tar([])), str(dest), mode="overlay")


# -- write_layer / export_tree round trips ---------------------------------

def tar_names(blob):
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        return [(m.name, m.type) for m in tar]


@needs_root
def test_overlay_upper_round_trips_onto_lower(tmp_path):
    lower, upper, merged = tmp_path / "lower", tmp_path / "upper", tmp_path / "merged"
    base = [d("etc"), f("etc/conf", b"old"), f("gone"), d("opq"), f("opq/stale"), f("keep"), d("usr")]
    apply(lower, base)
    apply(merged, base)
    upper.mkdir()
    (upper / "etc").mkdir()
    (upper / "etc/conf").write_bytes(b"new")
    (upper / "etc/conf2").mkdir()
    os.link(upper / "etc/conf", upper / "etc/conf2/hard")
    os.mknod(upper / "gone", stat.S_IFCHR, os.makedev(0, 0))
    (upper / "opq").mkdir()
    os.setxattr(upper / "opq", "trusted.overlay.opaque", b"y")
    os.setxattr(upper / "etc", "trusted.overlay.origin", b"\0junk")
    (upper / "opq/fresh").write_bytes(b"f")
    (upper / "usr/bin").mkdir(parents=True)
    os.symlink("../../etc/conf", upper / "usr/bin/conf")
    (upper / "usr/bin/tool").write_bytes(b"t")
    os.chmod(upper / "usr/bin/tool", 0o4755)
    os.setxattr(upper / "usr/bin/tool", "security.capability", CAPABILITY)
    os.setxattr(upper / "usr/bin/tool", "user.x", b"1")

    out = io.BytesIO()
    info = write_layer(str(upper), out, mode="overlay")
    blob = out.getvalue()
    assert info.diff_id == info.digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert info.size == info.uncompressed_size == len(blob)
    assert tar_names(blob) == [
        ("etc", tarfile.DIRTYPE), ("etc/conf", tarfile.REGTYPE), ("etc/conf2", tarfile.DIRTYPE),
        ("etc/conf2/hard", tarfile.LNKTYPE), (".wh.gone", tarfile.REGTYPE), ("opq", tarfile.DIRTYPE),
        ("opq/.wh..wh..opq", tarfile.REGTYPE), ("opq/fresh", tarfile.REGTYPE), ("usr", tarfile.DIRTYPE),
        ("usr/bin", tarfile.DIRTYPE), ("usr/bin/conf", tarfile.SYMTYPE), ("usr/bin/tool", tarfile.REGTYPE)]
    assert write_layer(str(upper), io.BytesIO(), mode="overlay") == info     # deterministic

    apply_layer(io.BytesIO(blob), str(lower), mode="apply")
    assert sorted(os.listdir(lower)) == ["etc", "keep", "opq", "usr"]
    assert os.listdir(lower / "opq") == ["fresh"]
    assert (lower / "etc/conf").read_bytes() == b"new"
    assert os.lstat(lower / "etc/conf2/hard").st_ino == os.lstat(lower / "etc/conf").st_ino
    assert os.listxattr(lower / "etc") == []
    tool = os.lstat(lower / "usr/bin/tool")
    assert tool.st_mode == stat.S_IFREG | 0o4755
    assert os.getxattr(lower / "usr/bin/tool", "security.capability") == CAPABILITY
    assert os.getxattr(lower / "usr/bin/tool", "user.x") == b"1"

    layer_dir = tmp_path / "layer"          # and the same tar as an overlay layer
    layer_dir.mkdir()
    apply_layer(io.BytesIO(blob), str(layer_dir), mode="overlay")
    assert os.lstat(layer_dir / "gone").st_rdev == 0
    assert os.getxattr(layer_dir / "opq", "trusted.overlay.opaque") == b"y"
    assert snapshot(layer_dir / "usr") == snapshot(upper / "usr")


@needs_root
def test_vfs_diff_round_trips_onto_the_original(tmp_path):
    original, changed = tmp_path / "original", tmp_path / "changed"
    base = [d("etc"), f("etc/passwd", b"root"), f("etc/motd", b"hi"), d("var"), d("var/log"),
            f("var/log/a"), f("var/log/b"), f("bin", b"a file"), d("lib"), f("lib/x.so", b"so"),
            sym("lib/link", "x.so"), entry("null", tarfile.CHRTYPE, dev=(1, 3)), f("same", b"same"),
            f("data", b"12345678", mtime=MTIME), d("opt"), f("opt/app")]
    apply(original, base)
    apply(changed, base)
    (changed / "etc/passwd").write_bytes(b"root\nuser")            # content + mtime
    os.chmod(changed / "etc/motd", 0o600)
    os.chown(changed / "etc/motd", 1000, 1000)
    os.unlink(changed / "var/log/a")
    os.unlink(changed / "lib/link")
    os.symlink("y.so", changed / "lib/link")
    os.unlink(changed / "bin")
    (changed / "bin").mkdir()
    (changed / "bin/sh").write_bytes(b"sh")
    os.chmod(changed / "bin/sh", 0o4755)
    os.link(changed / "bin/sh", changed / "bin/ash")
    os.link(changed / "same", changed / "same2")                   # link to an unchanged file
    os.setxattr(changed / "lib/x.so", "user.tag", b"v")
    (changed / "data").write_bytes(b"87654321")                   # same size, new mtime
    os.utime(changed / "data", ns=(0, MTIME * 10**9 + 1))
    shutil.rmtree(changed / "var")
    (changed / "new/deep").mkdir(parents=True)
    os.mkfifo(changed / "new/deep/fifo")
    os.utime(changed / "new", ns=(0, 12345))
    shutil.rmtree(changed / "opt")
    os.symlink("/usr", changed / "opt")                            # directory -> symlink

    out = io.BytesIO()
    write_layer(str(changed), out, mode="vfs", lower=str(original))
    names = [n for n, _ in tar_names(out.getvalue())]
    assert "same" not in names and "lib/x.so" in names and ".wh.var" in names
    assert names.index("bin") < names.index("bin/ash") < names.index("bin/sh")
    apply_layer(io.BytesIO(out.getvalue()), str(original), mode="apply")
    assert snapshot(original) == snapshot(changed)


@needs_root
def test_an_empty_layer_is_the_1024_bytes_docker_and_buildkit_write(tmp_path):
    # Go's archive/tar ends with two zero blocks and no record padding; the
    # diff ID of that empty tar is the one Docker's and BuildKit's images carry.
    (tmp_path / "upper").mkdir()
    out = io.BytesIO()
    info = write_layer(str(tmp_path / "upper"), out, mode="overlay")
    assert out.getvalue() == b"\0" * 1024
    assert info.diff_id == "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"


def test_write_layer_refuses_what_a_tar_cannot_say(tmp_path):
    upper = tmp_path / "upper"
    upper.mkdir()
    (upper / ".wh.file").write_text("")
    with pytest.raises(LayerError, match="whiteout"):
        write_layer(str(upper), io.BytesIO())
    os.unlink(upper / ".wh.file")
    (upper / "moved").mkdir()
    os.setxattr(upper / "moved", "trusted.overlay.redirect", b"/old")
    with pytest.raises(LayerError, match="redirect"):
        write_layer(str(upper), io.BytesIO())


@needs_root
def test_export_tree_is_a_plain_tar_of_everything(tmp_path):
    root, copy = tmp_path / "root", tmp_path / "copy"
    apply(root, [d("a", mode=0o700, uid=3), f("a/f", b"data", mode=0o4750), hard("a/g", "a/f"),
                 sym("s", "a/f"), entry("dev", tarfile.CHRTYPE, dev=(0, 0))])
    (root / ".wh.literal").write_text("")          # only a layer gives .wh. a meaning
    out = io.BytesIO()
    export_tree(str(root), out)
    assert [n for n, _ in tar_names(out.getvalue())] == [".wh.literal", "a", "a/f", "a/g", "dev", "s"]
    copy.mkdir()
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        tar.extractall(copy, numeric_owner=True)   # a plain tar for any tool: .wh. is a file here
    os.utime(copy, ns=(0, os.lstat(root).st_mtime_ns))
    os.chmod(copy, os.lstat(root).st_mode & 0o7777)
    assert snapshot(copy)[0].keys() == snapshot(root)[0].keys()
    assert snapshot(copy)[0]["a/f"] == snapshot(root)[0]["a/f"]
