"""run/create flags of namespaces and files, against real containers:
--pid, --ipc, --uts, --cgroupns, --userns, --domainname, --cidfile,
--label-file, --platform, -a.  Each bad value: 125 and nothing left."""
import os

import pytest


@pytest.fixture
def fc(fcli):
    return fcli


def _out(p):
    assert p.returncode == 0, p.stderr
    return p.stdout


def _ns(kind, pid="self"):
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def _run(fc, *args):
    return _out(fc("run", "--rm", *args)).strip()


def test_pid_host_and_private(fc):
    assert _run(fc, "--pid", "host", "bb:1", "readlink", "/proc/self/ns/pid") == _ns("pid")
    assert _run(fc, "bb:1", "readlink", "/proc/self/ns/pid") != _ns("pid")


def test_ipc_host_private_and_none(fc):
    assert _run(fc, "--ipc", "host", "bb:1", "readlink", "/proc/self/ns/ipc") == _ns("ipc")
    assert _run(fc, "--ipc", "private", "bb:1", "readlink", "/proc/self/ns/ipc") != _ns("ipc")
    assert _run(fc, "--ipc", "none", "bb:1", "sh", "-c", "test -e /dev/shm; echo $?") == "1"


@pytest.fixture
def donors(fc):
    made = []

    def start(name, *flags):
        p = fc("run", "-d", "--name", name, *flags, "bb:1", "sh", "-c", "echo shared > /dev/shm/x; exec sleep 300")
        assert p.returncode == 0, p.stderr
        made.append(name)
        return name
    yield start
    if made:
        fc("rm", "-f", *made)


def _container_ns(fc, name, kind):
    return _out(fc("exec", name, "readlink", f"/proc/self/ns/{kind}")).strip()


def test_pid_and_ipc_of_another_container(fc, donors):
    donor = donors("ns-donor", "--ipc", "shareable", "--shm-size", "8m")
    out = _run(fc, "--pid", f"container:{donor}", "--ipc", f"container:{donor}", "bb:1", "sh", "-c",
               "cat /dev/shm/x; readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc; ps -o pid,args | grep '^ *1 ';"
               "grep ' /dev/shm ' /proc/self/mountinfo")
    lines = out.splitlines()
    assert lines[0] == "shared"
    assert lines[1] == _container_ns(fc, donor, "pid") and lines[2] == _container_ns(fc, donor, "ipc")
    assert lines[3].split() == ["1", "sleep", "300"]  # the donor's process is its pid 1
    donor_id = _out(fc("inspect", "-f", "{{.Id}}", donor)).strip()
    cid = _out(fc("create", "--pid", f"container:{donor}", "--ipc", f"container:{donor}", "bb:1", "true")).strip()
    try:  # Docker's HostConfig names the donor by its ID
        modes = _out(fc("inspect", "-f", "{{.HostConfig.PidMode}} {{.HostConfig.IpcMode}}", cid)).split()
        assert modes == [f"container:{donor_id}"] * 2
    finally:
        fc("rm", cid)
    fields = lines[4].split()
    assert fields[fields.index("-") + 1] == "tmpfs" and "size=8192k" in fields[-1].split(",")  # the donor's --shm-size


def test_ipc_of_a_private_container_is_refused(fc, donors):
    donor = donors("ns-private")
    p = fc("run", "--rm", "--name", "ns-joiner", "--ipc", f"container:{donor}", "bb:1", "true")
    assert p.returncode == 125 and "non-shareable IPC" in p.stderr
    assert "ns-joiner" not in fc("ps", "-a").stdout
    p = fc("run", "--rm", "--pid", "container:nosuchcontainer", "bb:1", "true")
    assert p.returncode == 125 and "no such container" in p.stderr.lower()


def test_uts_host(fc):
    out = _run(fc, "--uts", "host", "bb:1", "sh", "-c", 'hostname; echo "$HOSTNAME"; readlink /proc/self/ns/uts')
    assert out.splitlines() == [os.uname().nodename, os.uname().nodename, _ns("uts")]
    p = fc("run", "--rm", "--uts", "host", "-h", "other", "bb:1", "true")
    assert p.returncode == 125 and "conflicting options" in p.stderr


def _v2():
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def test_cgroupns_default_is_dockers_and_both_modes_work(fc):
    own = _ns("cgroup")
    default = _run(fc, "bb:1", "readlink", "/proc/self/ns/cgroup")
    assert (default != own) if _v2() else (default == own)  # private on cgroup v2, the host's on v1
    host = _out(fc("run", "--rm", "--cgroupns", "host", "bb:1", "sh", "-c",
                   "readlink /proc/self/ns/cgroup; cat /proc/self/cgroup")).splitlines()
    assert host[0] == own and any("/fastctr-" in line for line in host[1:])  # paths as the host sees them
    private = _out(fc("run", "--rm", "--cgroupns", "private", "bb:1", "sh", "-c",
                      "readlink /proc/self/ns/cgroup; cat /proc/self/cgroup")).splitlines()
    assert private[0] != own and not any("fastctr-" in line for line in private[1:])  # its own cgroup is /


@pytest.mark.parametrize("flags, message", [
    (["--pid", "bogus"], "--pid: invalid PID mode"),
    (["--pid", "container:"], "--pid: invalid PID mode"),
    (["--ipc", "container:"], "invalid IPC mode: container:"),
    (["--platform", "a/b/c/d"], "cannot parse platform specifier"),
    (["--ipc", "bogus"], "invalid IPC mode: bogus"),
    (["--uts", "private"], "--uts: invalid UTS mode"),
    (["--cgroupns", "bogus"], "--cgroupns: invalid CGROUP mode"),
    (["--userns", "private"], "--userns: invalid USER mode"),
    (["--uts", "host", "--domainname", "d.example"], "conflicting options"),
])
def test_bad_namespace_modes(fc, flags, message):
    p = fc("run", "--rm", "--name", "ns-bad", *flags, "bb:1", "true")
    assert p.returncode == 125 and message in p.stderr and len(p.stderr.splitlines()) == 1, p.stderr
    assert "ns-bad" not in fc("ps", "-a").stdout


def test_userns_host_is_the_default(fc):
    assert _run(fc, "--userns", "host", "bb:1", "readlink", "/proc/self/ns/user") == _ns("user")


def test_domainname_and_a_hostname_with_a_domain(fc):
    script = "cat /proc/sys/kernel/domainname; hostname; grep 127.0.1.1 /etc/hosts"
    out = _run(fc, "--domainname", "example.org", "-h", "web", "bb:1", "sh", "-c", script)
    assert out.splitlines() == ["example.org", "web", "127.0.1.1\tweb.example.org web"]
    out = _run(fc, "-h", "db.example.net", "bb:1", "sh", "-c", script)  # the whole name is the hostname
    assert out.splitlines() == ["(none)", "db.example.net", "127.0.1.1\tdb.example.net db"]


def test_cidfile(fc, tmp_path):
    path = tmp_path / "cid"
    cid = _out(fc("create", "--cidfile", str(path), "bb:1", "true")).strip()
    try:
        assert path.read_text() == cid
        p = fc("create", "--cidfile", str(path), "bb:1", "true")
        assert p.returncode == 125 and "container ID file found" in p.stderr
    finally:
        fc("rm", cid)
    assert path.exists()  # Docker leaves it
    other = tmp_path / "failed"
    p = fc("run", "--rm", "--cidfile", str(other), "--group-add", "nosuchgroup", "bb:1", "true")
    assert p.returncode == 125 and not other.exists()  # removed when no container was made


def test_label_file(fc, tmp_path):
    f = tmp_path / "labels"
    f.write_text("a=1\n# comment\n\nflag\n  spaced=x y\n")
    cid = _out(fc("create", "--label-file", str(f), "-l", "a=override", "bb:1", "true")).strip()
    try:
        import json
        labels = json.loads(_out(fc("inspect", "-f", "{{json .Config.Labels}}", cid)))
        assert labels == {"a": "override", "flag": "", "spaced": "x y"}
    finally:
        fc("rm", cid)
    p = fc("create", "--label-file", str(tmp_path / "missing"), "bb:1", "true")
    assert p.returncode == 125 and f"open {tmp_path / 'missing'}: no such file or directory" in p.stderr
    f.write_text("bad key=1\n")
    p = fc("create", "--label-file", str(f), "bb:1", "true")
    assert p.returncode == 125 and f"invalid env file ({f}): variable 'bad key' contains whitespaces" in p.stderr


def test_platform_is_checked_against_the_image(fc):
    assert fc("run", "--rm", "--platform", "linux/amd64", "bb:1", "true").returncode == 0  # imagetools' images
    assert fc("run", "--rm", "--platform", "x86_64", "bb:1", "true").returncode == 0  # normalized as Docker's
    p = fc("run", "--rm", "--name", "plat-bad", "--pull", "never", "--platform", "linux/arm64", "bb:1", "true")
    assert p.returncode == 125
    assert "image with reference bb:1 was found but does not match the specified platform: wanted linux/arm64, " \
           "actual: linux/amd64" in p.stderr  # dockerd 20.10's words
    assert "plat-bad" not in fc("ps", "-a").stdout
    p = fc("run", "--rm", "--pull", "never", "--platform", "linux/amd64/v9", "bb:1", "true")
    assert p.returncode == 125  # a variant the image does not have


def test_attach_only_some_streams(fc):
    script = "echo out; echo err >&2"
    p = fc("run", "--rm", "-a", "stdout", "bb:1", "sh", "-c", script)
    assert (p.returncode, p.stdout, p.stderr) == (0, "out\n", "")
    p = fc("run", "--rm", "-a", "STDERR", "bb:1", "sh", "-c", script)
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "err\n")
    p = fc("run", "--rm", "-i", "-a", "stdout", "bb:1", "cat", input=b"typed\n", stdin=None)
    assert (p.returncode, p.stdout) == (0, "")  # stdin not attached
    p = fc("run", "--rm", "-i", "-a", "stdin", "-a", "stdout", "bb:1", "cat", input=b"typed\n", stdin=None)
    assert (p.returncode, p.stdout) == (0, "typed\n")
    p = fc("run", "--rm", "-a", "bogus", "bb:1", "true")
    assert p.returncode == 125 and "valid streams are STDIN, STDOUT and STDERR" in p.stderr
    p = fc("run", "-d", "-a", "stdout", "bb:1", "true")
    assert p.returncode == 125 and "cannot specify both --attach and --detach" in p.stderr
    assert fc("ps", "-a", "-q").stdout == ""


def test_shareable_ipc_mount_goes_with_the_container(fc):
    """Its /dev/shm is a tmpfs on the host (as Docker's); created and
    removed without a start, nothing stays mounted (the leak check)."""
    cid = _out(fc("create", "--ipc", "shareable", "bb:1", "true")).strip()
    with open("/proc/self/mountinfo") as f:
        assert any(cid in line for line in f)
    assert fc("start", "-a", cid).returncode == 0
    assert fc("rm", cid).returncode == 0
    with open("/proc/self/mountinfo") as f:
        assert not any(cid in line for line in f)
