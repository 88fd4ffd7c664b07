"""--mount type=bind|volume|tmpfs with Docker's options, and --volumes-from,
against real containers (what /proc/self/mountinfo and the files say)."""
import os

import pytest


@pytest.fixture
def fc(fcli):
    return fcli


def _out(p):
    assert p.returncode == 0, p.stderr
    return p.stdout


def _mountinfo(fc, target, *flags):
    out = _out(fc("run", "--rm", *flags, "bb:1", "grep", f" {target} ", "/proc/self/mountinfo"))
    fields = out.split()
    return fields[5].split(","), fields[fields.index("-") + 1:]  # mount options, (fstype, source, super options)


@pytest.fixture
def src(tmp_path):
    d = tmp_path / "src"
    (d / "sub").mkdir(parents=True)
    (d / "f").write_text("hello\n")
    os.chmod(tmp_path, 0o755)
    return str(d)


@pytest.fixture
def volumes(fc):
    made = []
    yield made
    for name in made:
        fc("volume", "rm", name)


def test_bind_readonly_propagation_and_recursion(fc, src):
    opts, _ = _mountinfo(fc, "/b", "--mount", f"type=bind,source={src},target=/b,readonly")
    assert "ro" in opts
    p = fc("run", "--rm", "--mount", f"type=bind,src={src},dst=/b,ro=true", "bb:1", "sh", "-c",
           "cat /b/f; touch /b/new")
    assert p.stdout == "hello\n" and "Read-only file system" in p.stderr
    for flags in ("bind-propagation=rslave", "bind-recursive=disabled", "ro,bind-recursive=writable",
                  "consistency=delegated", "bind-nonrecursive"):
        assert _out(fc("run", "--rm", "--mount", f"type=bind,src={src},destination=/b,{flags}", "bb:1",
                       "cat", "/b/f")) == "hello\n"


def test_bind_create_src(fc, tmp_path):
    new = tmp_path / "made" / "here"
    assert _out(fc("run", "--rm", "--mount", f"type=bind,src={new},dst=/m,bind-create-src", "bb:1",
                   "sh", "-c", "echo x > /m/x; cat /m/x")) == "x\n"
    assert (new / "x").read_text() == "x\n"


def test_tmpfs_size_and_mode(fc):
    opts, (fstype, _, sopts) = _mountinfo(fc, "/t", "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770")
    assert fstype == "tmpfs" and {"nosuid", "nodev", "noexec"} <= set(opts)
    assert "size=1024k" in sopts.split(",") and "mode=1770" in sopts.split(",")


def test_named_volume_labels_readonly_and_subpath(fc, volumes):
    volumes.append("mf-named")
    assert fc("run", "--rm", "--mount", "type=volume,src=mf-named,dst=/v,volume-label=team=a", "bb:1", "sh", "-c",
              "mkdir /v/sub; echo data > /v/sub/d").returncode == 0
    assert "mf-named" in fc("volume", "ls").stdout
    p = fc("run", "--rm", "--mount", "source=mf-named,target=/v,readonly", "bb:1", "sh", "-c",
           "cat /v/sub/d; touch /v/e")
    assert p.stdout == "data\n" and "Read-only file system" in p.stderr
    assert _out(fc("run", "--rm", "--mount", "type=volume,src=mf-named,dst=/s,volume-subpath=sub", "bb:1",
                   "cat", "/s/d")) == "data\n"
    p = fc("run", "--rm", "--mount", "type=volume,src=mf-named,dst=/s,volume-subpath=missing", "bb:1", "true")
    assert p.returncode == 125 and "cannot access path" in p.stderr
    p = fc("run", "--rm", "--mount", "type=volume,src=mf-named,dst=/s,volume-subpath=../x", "bb:1", "true")
    assert p.returncode == 125


def test_anonymous_volume_copies_the_image_unless_nocopy(fc):
    assert "passwd" in _out(fc("run", "--rm", "--mount", "type=volume,dst=/etc", "bb:1", "ls", "/etc")).split()
    nocopy = _out(fc("run", "--rm", "--mount", "type=volume,dst=/etc,volume-nocopy", "bb:1", "ls", "/etc")).split()
    assert "passwd" not in nocopy and "hosts" in nocopy  # only the engine's own files, bound over it
    assert fc("volume", "ls", "-q").stdout.split() == []  # --rm took the anonymous volumes


def test_volume_opt_tmpfs_and_bind(fc, src, volumes):
    volumes.extend(["mf-tmpfs", "mf-bind"])
    _, (fstype, _, sopts) = _mountinfo(fc, "/tv", "--mount", "type=volume,src=mf-tmpfs,dst=/tv,volume-opt=type=tmpfs,"
                                       "volume-opt=device=tmpfs,volume-opt=o=size=2m")
    assert fstype == "tmpfs" and "size=2048k" in sopts.split(",")
    # The volume keeps its options: a later use without them is the same tmpfs, shared as Docker's.
    assert fc("run", "--rm", "--mount", "src=mf-tmpfs,dst=/tv", "bb:1", "sh", "-c", "echo kept > /tv/f").returncode == 0
    assert _out(fc("run", "--rm", "-v", "mf-tmpfs:/w", "bb:1", "cat", "/w/f")) == "kept\n"
    assert _out(fc("run", "--rm", "--mount", f"type=volume,src=mf-bind,dst=/bv,volume-opt=type=none,"
                   f"volume-opt=device={src},volume-opt=o=bind", "bb:1", "cat", "/bv/f")) == "hello\n"


@pytest.mark.parametrize("spec, message", [
    ("type=bind,src=/nonexistent-src,dst=/x", "bind source path does not exist: /nonexistent-src"),
    ("type=bind,dst=/x", "field Source must not be empty"),
    ("type=tmpfs,src=x,dst=/x", "field Source must not be specified"),
    ("type=bind,src=/tmp,dst=/x,tmpfs-size=1m", "cannot mix 'tmpfs-*' options with mount type 'bind'"),
    ("dst=/x,bind-propagation=rshared", "cannot mix 'bind-*' options with mount type 'volume'"),
    ("type=bind,src=/tmp,dst=/x,bind-recursive=writable", "'bind-recursive=writable' requires 'readonly'"),
    ("type=bind,src=/tmp,dst=/x,ro,bind-recursive=readonly", "requires 'bind-propagation=rprivate'"),
    ("dst=/x, ro", "invalid field ' ro' must be a key=value pair"),
    ("type=foo,dst=/x", "mount type unknown"),
    ("type=volume", "target is required"),
    ("type=volume,dst=relative", "mount path must be absolute"),
    ("type=volume,dst=/", "destination can't be '/'"),
    ("dst=/x,bogus=1", "unexpected key 'bogus' in 'bogus=1'"),
    ("dst=/x,ro=maybe", "invalid value for ro"),
    ("dst=/x,volume-driver=nfs", 'plugin "nfs" not found'),
    ("dst=/x,volume-opt=type=nfs,volume-opt=device=:/srv", "only tmpfs and bind"),
    ("dst=/x,volume-opt=device=/srv", 'missing required option: "type"'),
    ("dst=/x,volume-subpath=a", "must not set Subpath when using anonymous volumes"),
    ("type=bind,src=/tmp,dst=/x,bind-propagation=sideways", "invalid propagation mode: sideways"),
])
def test_bad_mounts_fail_and_leave_nothing(fc, spec, message):
    p = fc("run", "--rm", "--name", "mf-bad", "--mount", spec, "bb:1", "true")
    assert p.returncode == 125 and message in p.stderr and len(p.stderr.splitlines()) == 1, p.stderr
    assert "mf-bad" not in fc("ps", "-a").stdout
    assert fc("volume", "ls", "-q").stdout.split() == []


def test_volumes_from(fc, src, volumes):
    volumes.append("mf-from")
    assert fc("create", "--name", "mf-source", "-v", "mf-from:/v", "-v", f"{src}:/b:ro",
              "--mount", "type=volume,dst=/anon", "bb:1", "true").returncode == 0
    try:
        assert fc("run", "--rm", "-v", "mf-from:/v", "bb:1", "sh", "-c", "echo v > /v/d").returncode == 0
        p = fc("run", "--rm", "--volumes-from", "mf-source", "bb:1", "sh", "-c",
               "cat /v/d /b/f; test -d /anon && echo anon; touch /v/w && echo v-rw; touch /b/w")
        assert p.stdout == "v\nhello\nanon\nv-rw\n" and "Read-only file system" in p.stderr  # each mount's own mode
        p = fc("run", "--rm", "--volumes-from", "mf-source:ro", "bb:1", "touch", "/v/x")
        assert p.returncode == 1 and "Read-only file system" in p.stderr
        assert fc("run", "--rm", "--volumes-from", "mf-source:rw", "bb:1", "sh", "-c",
                  "touch /b/x && rm /b/x").returncode == 0
        p = fc("volume", "rm", "mf-from")
        assert p.returncode != 0  # in use by mf-source
        p = fc("run", "--rm", "--volumes-from", "mf-nosuch", "bb:1", "true")
        assert p.returncode == 125 and "no such container" in p.stderr.lower()
    finally:
        fc("rm", "-v", "mf-source")
    assert fc("volume", "ls", "-q").stdout.split() == ["mf-from"]


@pytest.fixture
def src_with_submount(tmp_path):
    """A bind source with a tmpfs mounted below it (unmounted after)."""
    import subprocess
    d = tmp_path / "outer"
    (d / "sub").mkdir(parents=True)
    os.chmod(tmp_path, 0o755)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(d / "sub")], check=True)
    yield str(d)
    subprocess.run(["umount", str(d / "sub")], check=True)


@pytest.mark.parametrize("flag", ["-v", "--mount"])
def test_read_only_binds_are_recursively_read_only(fc, src_with_submount, flag):
    """Docker 25+ on Linux 5.12+: the submounts of a read-only bind are
    read-only too (runc's rro), unless bind-recursive=writable."""
    spec = f"{src_with_submount}:/r:ro" if flag == "-v" else f"type=bind,src={src_with_submount},dst=/r,ro"
    p = fc("run", "--rm", flag, spec, "bb:1", "sh", "-c", "touch /r/top; touch /r/sub/below")
    assert p.returncode == 1
    assert "/r/top: Read-only" in p.stderr and "/r/sub/below: Read-only" in p.stderr
    p = fc("run", "--rm", "--mount", f"type=bind,src={src_with_submount},dst=/r,ro,bind-recursive=writable", "bb:1",
           "sh", "-c", "touch /r/sub/below && echo writable; touch /r/top")
    assert p.stdout == "writable\n" and "/r/top: Read-only" in p.stderr
    p = fc("run", "--rm", "--mount", f"type=bind,src={src_with_submount},dst=/r,ro,bind-recursive=readonly,"
           "bind-propagation=rprivate", "bb:1", "touch", "/r/sub/x")
    assert p.returncode == 1 and "Read-only" in p.stderr
