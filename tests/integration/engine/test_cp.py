"""`fastctr cp` with Docker's archive semantics, both ways, on running and
stopped containers: file/dir/dir-contents against a missing, file or
directory DEST, trailing-slash errors, `-` tar streams, -a owners, -L,
volumes, and symlinks in the container that point out of it (never
followed on the host)."""
import io
import os
import subprocess
import tarfile
import uuid

import pytest

SETUP = ("mkdir -p /src/sub && echo one > /src/a && echo two > /src/sub/b && ln -s a /src/link && "
         "ln -s / /tmp/out && ln -s ../../../../../../etc /tmp/up && ln -s /src/a /tmp/alink && mkdir /dst && "
         "echo old > /dst/file")


@pytest.fixture(scope="module")
def box(fcli):
    p = fcli("run", "-d", "--network", "none", "-v", "fctr-cp-vol:/data", "bb:1", "sh", "-c",
             SETUP + " && sleep 600")
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip()
    for _ in range(200):  # the setup has run once /dst/file is there
        if fcli("exec", cid, "test", "-f", "/dst/file").returncode == 0:
            break
    yield cid
    fcli("rm", "-f", "-v", cid)
    fcli("volume", "rm", "fctr-cp-vol")


@pytest.fixture
def host(tmp_path):
    d = tmp_path / "h"
    d.mkdir()
    (d / "f").write_text("hostfile\n")
    (d / "dir").mkdir()
    (d / "dir" / "x").write_text("x\n")
    os.chown(d / "f", 1234, 4321)
    return d


def sh(fcli, cid, script):
    p = fcli("exec", cid, "sh", "-c", script)
    assert p.returncode == 0, p.stderr
    return p.stdout


def cp(fcli, *args, **kw):
    return fcli("cp", *args, **kw)


def ok(p):
    assert p.returncode == 0, p.stderr
    return p


def fails(p, message):
    assert p.returncode == 1 and message in p.stderr, (p.returncode, p.stderr)
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr


# ------------------------------------------------------- out of a container

def test_out_file_to_new_name_into_dir_and_over_a_file(fcli, box, host):
    ok(cp(fcli, f"{box}:/src/a", str(host / "new")))
    assert (host / "new").read_text() == "one\n"
    ok(cp(fcli, f"{box}:/src/a", str(host / "dir")))
    assert (host / "dir" / "a").read_text() == "one\n"
    ok(cp(fcli, f"{box}:/src/sub/b", str(host / "f")))
    assert (host / "f").read_text() == "two\n"
    # Out of a container files belong to the caller.
    assert (os.stat(host / "f").st_uid, os.stat(host / "new").st_uid) == (os.geteuid(), os.geteuid())


def test_out_directory_new_into_and_contents(fcli, box, host):
    ok(cp(fcli, f"{box}:/src", str(host / "made")))  # missing DEST: made, with SRC's contents
    assert sorted(os.listdir(host / "made")) == ["a", "link", "sub"]
    ok(cp(fcli, f"{box}:/src", str(host / "dir")))  # an existing directory: DEST/src
    assert sorted(os.listdir(host / "dir")) == ["src", "x"]
    ok(cp(fcli, f"{box}:/src/.", str(host / "dir")))  # SRC/.: the contents into DEST
    assert sorted(os.listdir(host / "dir")) == ["a", "link", "src", "sub", "x"]
    assert os.readlink(host / "dir" / "link") == "a" and (host / "dir" / "sub" / "b").read_text() == "two\n"


def test_out_errors_leave_nothing(fcli, box, host):
    before = sorted(os.listdir(host))
    fails(cp(fcli, f"{box}:/nope", str(host / "n")), "Could not find the file /nope in container")
    fails(cp(fcli, f"{box}:/src/a/", str(host / "n")), "not a directory")
    fails(cp(fcli, f"{box}:/src", str(host / "f")), "cannot copy directory")
    fails(cp(fcli, f"{box}:/src/a", str(host / "n") + "/"), "no such directory")
    fails(cp(fcli, f"{box}:/src/a", str(host / "no" / "n")), "no such file or directory")
    fails(cp(fcli, "no-such-container:/x", str(host / "n")), "no-such-container")
    assert sorted(os.listdir(host)) == before


def test_out_to_stdout_is_a_tar_with_the_containers_owners(fcli, box):
    p = subprocess.run(fcli.argv + ["cp", f"{box}:/src", "-"], capture_output=True, env=fcli.env,
                       stdin=subprocess.DEVNULL, cwd="/")
    assert p.returncode == 0, p.stderr
    with tarfile.open(fileobj=io.BytesIO(p.stdout)) as t:
        assert sorted(t.getnames()) == ["src", "src/a", "src/link", "src/sub", "src/sub/b"]
        assert t.extractfile("src/a").read() == b"one\n" and t.getmember("src/link").linkname == "a"
        assert {(m.uid, m.gid) for m in t.getmembers()} == {(0, 0)}
    assert p.stderr == b""  # no summary without a terminal, as docker's


def test_symlinks_and_follow(fcli, box, host):
    ok(cp(fcli, f"{box}:/tmp/alink", str(host / "l1")))
    assert os.readlink(host / "l1") == "/src/a"  # without -L: the link itself
    ok(cp(fcli, "-L", f"{box}:/tmp/alink", str(host / "dir")))
    assert (host / "dir" / "alink").read_text() == "one\n"  # -L: its target, under the link's name


def test_symlinks_pointing_out_of_the_container_stay_in_it(fcli, box, host):
    hostname = sh(fcli, box, "cat /etc/hostname")
    ok(cp(fcli, f"{box}:/tmp/out/etc/hostname", str(host / "h1")))  # /tmp/out -> /
    assert (host / "h1").read_text() == hostname
    ok(cp(fcli, f"{box}:/tmp/up/passwd", str(host / "p1")))  # ../../../../etc: stops at the container's root
    assert (host / "p1").read_text() == sh(fcli, box, "cat /etc/passwd")
    name = f"fctr-cp-{uuid.uuid4().hex[:8]}"
    (host / name).write_text("in\n")
    ok(cp(fcli, str(host / name), f"{box}:/tmp/out/"))
    assert not os.path.exists("/" + name)
    assert sh(fcli, box, f"cat /{name}") == "in\n"
    ok(cp(fcli, str(host / name), f"{box}:/tmp/up/"))
    assert not os.path.exists("/etc/" + name)
    assert sh(fcli, box, f"cat /etc/{name}") == "in\n"


# ---------------------------------------------------------- into a container

def test_in_file_dir_and_contents_owned_by_root_unless_archive(fcli, box, host):
    ok(cp(fcli, str(host / "f"), f"{box}:/dst/newname"))
    ok(cp(fcli, str(host / "f"), f"{box}:/dst"))
    ok(cp(fcli, str(host / "f"), f"{box}:/dst/file"))
    ok(cp(fcli, "-a", str(host / "f"), f"{box}:/dst/kept"))
    ok(cp(fcli, str(host / "dir"), f"{box}:/dst"))
    ok(cp(fcli, str(host / "dir"), f"{box}:/made"))
    ok(cp(fcli, str(host / "dir") + "/.", f"{box}:/dst"))
    out = sh(fcli, box, "cd /dst && for f in newname f file kept dir/x x; do echo $f $(stat -c '%u:%g' $f) $(cat $f); done; "
                        "ls /made")
    assert out.splitlines() == ["newname 0:0 hostfile", "f 0:0 hostfile", "file 0:0 hostfile",
                                "kept 1234:4321 hostfile", "dir/x 0:0 x", "x 0:0 x", "x"]


def test_in_errors_leave_nothing(fcli, box, host):
    before = sh(fcli, box, "ls -R /dst")
    fails(cp(fcli, str(host / "nope"), f"{box}:/dst"), "no such file or directory")
    fails(cp(fcli, str(host / "f") + "/", f"{box}:/dst"), "not a directory")
    fails(cp(fcli, str(host / "dir"), f"{box}:/dst/file"), "cannot copy directory")
    fails(cp(fcli, str(host / "f"), f"{box}:/dst/none/"), "no such directory")
    fails(cp(fcli, str(host / "f"), f"{box}:/none/x"), "Could not find the file /none")
    fails(fcli("cp", "-", f"{box}:/dst/file"), "must be a directory")
    assert sh(fcli, box, "ls -R /dst") == before
    fails(cp(fcli, str(host / "f"), str(host / "g")), "must specify at least one container source")
    fails(cp(fcli, f"{box}:/a", f"{box}:/b"), "copying between containers is not supported")
    p = cp(fcli, "onlyone")
    assert p.returncode == 1 and "requires 2 arguments" in p.stderr


def test_in_from_stdin_tar(fcli, box, host, tmp_path):
    archive = tmp_path / "in.tar"
    with tarfile.open(archive, "w") as t:
        t.add(host / "dir", "tdir")
    with open(archive, "rb") as f:
        ok(fcli("cp", "-", f"{box}:/dst", stdin=f))
    assert sh(fcli, box, "stat -c '%u' /dst/tdir/x; cat /dst/tdir/x") == "0\nx\n"


def test_in_to_a_volume(fcli, box, host):
    ok(cp(fcli, str(host / "f"), f"{box}:/data/"))
    assert sh(fcli, box, "cat /data/f") == "hostfile\n"
    # In the volume, not in the container's layer: another container sees it.
    p = ok(fcli("run", "--rm", "--network", "none", "-v", "fctr-cp-vol:/v", "bb:1", "cat", "/v/f"))
    assert p.stdout == "hostfile\n"
    ok(cp(fcli, f"{box}:/data/f", str(host / "fromvol")))
    assert (host / "fromvol").read_text() == "hostfile\n"


def test_stopped_container_both_ways_volumes_included(fcli, host):
    p = ok(fcli("create", "--network", "none", "-v", "fctr-cp-stopped:/data", "bb:1", "true"))
    cid = p.stdout.strip()
    try:
        ok(cp(fcli, str(host / "dir"), f"{cid}:/indir"))
        ok(cp(fcli, f"{cid}:/indir/x", str(host / "back")))
        assert (host / "back").read_text() == "x\n"
        ok(cp(fcli, f"{cid}:/etc/passwd", str(host / "pw")))
        assert (host / "pw").read_text().startswith("root:x:0:0")
        # Into its volume, not into the layer below the mount point (Docker mounts volumes for cp).
        ok(cp(fcli, str(host / "f"), f"{cid}:/data/"))
        ok(cp(fcli, f"{cid}:/data/f", str(host / "vf")))
        assert (host / "vf").read_text() == "hostfile\n"
        p = ok(fcli("run", "--rm", "--network", "none", "-v", "fctr-cp-stopped:/v", "bb:1", "cat", "/v/f"))
        assert p.stdout == "hostfile\n"
        assert [c for c in fcli("diff", cid).stdout.splitlines() if not c.endswith("/data")] == \
            ["A /indir", "A /indir/x"]
    finally:
        fcli("rm", "-f", "-v", cid)
        fcli("volume", "rm", "fctr-cp-stopped")


def test_a_local_path_with_a_colon(fcli, box, host):
    # ./name:with:colon is a local path (docker/cli's rule: a path starting with . or /).
    odd = host / "a:b"
    odd.write_text("colon\n")
    cwd = os.getcwd()
    os.chdir(host)
    try:
        p = subprocess.run(fcli.argv + ["cp", "./a:b", f"{box}:/dst/"], capture_output=True, text=True,
                           env=fcli.env, stdin=subprocess.DEVNULL)
    finally:
        os.chdir(cwd)
    assert p.returncode == 0, p.stderr
    assert sh(fcli, box, "cat '/dst/a:b'") == "colon\n"


@pytest.mark.parametrize("running", [True, False])
def test_read_only_root_and_volumes_are_refused_as_docker_refuses_them(fcli, host, running):
    ro_dir = host / "rodir"
    ro_dir.mkdir()
    flags = ["--network", "none", "--read-only", "-v", "fctr-cp-ro:/data", "-v", f"{ro_dir}:/ro:ro",
             "--tmpfs", "/scratch"]
    p = ok(fcli("run", "-d", *flags, "bb:1", "sleep", "600") if running else fcli("create", *flags, "bb:1", "true"))
    cid = p.stdout.strip()
    try:
        fails(cp(fcli, str(host / "f"), f"{cid}:/tmp/"), "container rootfs is marked read-only")
        fails(cp(fcli, str(host / "f"), f"{cid}:/ro/"), "mounted volume is marked read-only")
        assert os.listdir(ro_dir) == []
        ok(cp(fcli, str(host / "f"), f"{cid}:/data/"))  # a volume: writable below a read-only root
        if running:
            ok(cp(fcli, str(host / "f"), f"{cid}:/scratch/"))
            assert sh(fcli, cid, "cat /data/f /scratch/f") == "hostfile\nhostfile\n"
        ok(cp(fcli, f"{cid}:/data/f", str(host / "back")))  # reading is fine
    finally:
        fcli("rm", "-f", "-v", cid)
        fcli("volume", "rm", "fctr-cp-ro")
