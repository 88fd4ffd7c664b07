"""The process a container runs, as Docker makes it: $HOME from the passwd
entry, the supplementary groups of /etc/group and --group-add, -w made
when missing; and the same for `exec` (126/127, --env-file, -u,
--privileged).  bb:1 has root, app (1000, home /home/app, member of staff
50) and the groups root, app and staff."""
import pytest


@pytest.fixture
def fc(fcli):
    return fcli


def _out(p):
    assert p.returncode == 0, p.stderr
    return p.stdout


def _groups(text):
    line = next(x for x in text.splitlines() if x.startswith("Groups:"))
    return sorted(int(g) for g in line.split()[1:])


SHOW = 'echo "$HOME"; grep Groups: /proc/self/status; id -u; id -g'


@pytest.mark.parametrize("user, home, groups, ids", [
    (None, "/root", [0], "0 0"),
    ("app", "/home/app", [50, 1000], "1000 1000"),
    ("1000", "/home/app", [50, 1000], "1000 1000"),  # a uid with a passwd entry: its name's groups
    ("1000:0", "/home/app", [0], "1000 0"),  # an explicit group: no supplementary ones (as runc's user package)
    ("app:staff", "/home/app", [50], "1000 50"),
    ("4321", "/", [0], "4321 0"),  # no passwd entry: HOME is /
])
def test_home_and_groups_of_the_user(fc, user, home, groups, ids):
    flags = ["-u", user] if user else []
    lines = _out(fc("run", "--rm", *flags, "bb:1", "sh", "-c", SHOW)).splitlines()
    assert lines[0] == home
    assert _groups(lines[1]) == groups
    assert " ".join(lines[2:]) == ids


def test_image_user_and_home_set_with_e(fc, tmp_path):
    import imagetools as it
    layout = str(tmp_path / "layout")
    it.write_oci_layout(layout, [it.busybox_layer()], ref_name="bbuser:1", User="app")
    assert fc("load", "-i", layout).returncode == 0
    try:
        lines = _out(fc("run", "--rm", "bbuser:1", "sh", "-c", SHOW)).splitlines()
        assert lines[0] == "/home/app" and _groups(lines[1]) == [50, 1000]
        assert _out(fc("run", "--rm", "-e", "HOME=/mine", "bbuser:1", "sh", "-c", 'echo "$HOME"')) == "/mine\n"
    finally:
        fc("rmi", "bbuser:1")


def test_group_add(fc):
    out = _out(fc("run", "--rm", "-u", "4321", "--group-add", "staff", "--group-add", "777", "bb:1", "sh", "-c",
                  "grep Groups: /proc/self/status"))
    assert _groups(out) == [0, 50, 777]
    # A group the user is already in is listed once (`id` as Docker shows it).
    out = _out(fc("run", "--rm", "-u", "1000", "--group-add", "staff", "bb:1", "id"))
    assert out.count("50(staff)") == 1, out


def test_group_add_unknown_name_fails_and_leaves_nothing(fc):
    p = fc("run", "--rm", "--name", "ga-bad", "--group-add", "nosuchgroup", "bb:1", "true")
    assert p.returncode == 125
    assert "unable to find group nosuchgroup" in p.stderr
    assert "ga-bad" not in fc("ps", "-a").stdout


def test_workdir_is_made_owned_by_root(fc):
    out = _out(fc("run", "--rm", "-u", "app", "-w", "/made/here", "bb:1", "sh", "-c",
                  "pwd; stat -c '%u:%g %a' /made /made/here"))
    assert out.splitlines() == ["/made/here", "0:0 755", "0:0 755"]


def test_workdir_in_the_writable_layer_not_the_image(fc):
    assert fc("create", "--name", "wd1", "-w", "/wd/new", "bb:1", "true").returncode == 0
    try:
        # A new container of the same image does not see the directory.
        assert fc("run", "--rm", "bb:1", "test", "-e", "/wd").returncode == 1
        assert fc("start", "-a", "wd1").returncode == 0
    finally:
        fc("rm", "-f", "wd1")


def test_workdir_errors(fc):
    p = fc("run", "--rm", "-w", "relative", "bb:1", "true")
    assert p.returncode == 125 and "needs to be an absolute path" in p.stderr
    p = fc("run", "--rm", "--name", "wd-file", "-w", "/etc/passwd", "bb:1", "true")
    assert p.returncode == 125 and "Cannot mkdir: /etc/passwd is not a directory" in p.stderr
    assert "wd-file" not in fc("ps", "-a").stdout


def test_workdir_through_a_symlink_stays_in_the_container(fc, tmp_path):
    import imagetools as it
    outside = tmp_path / "outside"
    layout = str(tmp_path / "layout")
    it.write_oci_layout(layout, [it.busybox_layer(), it.tar_bytes([("escape", "symlink", str(outside))])],
                        ref_name="bblink:1")
    assert fc("load", "-i", layout).returncode == 0
    try:
        # The link's target is taken inside the container's root, not the host's.
        out = _out(fc("run", "--rm", "-w", "/escape/sub", "bblink:1", "sh", "-c", "pwd; test -d /escape/sub"))
        assert out == f"{outside}/sub\n"
        assert not outside.exists()
    finally:
        fc("rmi", "bblink:1")


# ------------------------------------------------------------------ exec

@pytest.fixture
def running(fc):
    p = fc("run", "-d", "--name", "penv", "-u", "app", "--group-add", "777", "bb:1", "sleep", "300")
    assert p.returncode == 0, p.stderr
    yield "penv"
    fc("rm", "-f", "penv")


def test_exec_user_home_and_groups(fc, running):
    lines = _out(fc("exec", running, "sh", "-c", SHOW)).splitlines()
    assert lines[0] == "/home/app" and _groups(lines[1]) == [50, 777, 1000]
    lines = _out(fc("exec", "-u", "root", running, "sh", "-c", SHOW)).splitlines()
    assert lines[0] == "/root" and _groups(lines[1]) == [0, 777]  # the container's --group-add too, as Docker's
    lines = _out(fc("exec", "-u", "4321", running, "sh", "-c", SHOW)).splitlines()
    assert lines[0] == "/" and lines[2] == "4321"
    assert _out(fc("exec", "-u", "root", "-e", "HOME=/h", running, "sh", "-c", 'echo "$HOME"')) == "/h\n"


def test_exec_missing_and_not_executable_commands(fc, running):
    p = fc("exec", running, "nosuchcommand")
    assert p.returncode == 127, p.stderr
    p = fc("exec", running, "/etc/passwd")
    assert p.returncode == 126, p.stderr
    p = fc("exec", running, "/etc")
    assert p.returncode == 126, p.stderr
    p = fc("exec", "-u", "nosuchuser", running, "true")
    assert p.returncode == 125 and "unable to find user nosuchuser" in p.stderr


def test_exec_env_file_and_pass_through(fc, running, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("A=1\n# a comment\n\nFROM_CALLER\n")
    env = dict(fc.env, FROM_CALLER="passed", ALSO="too")
    p = fc("exec", "--env-file", str(env_file), "-e", "ALSO", "-e", "B=2", running, "sh", "-c",
           'echo "$A $FROM_CALLER $ALSO $B"', env=env)
    assert _out(p) == "1 passed too 2\n"
    p = fc("exec", "--env-file", str(tmp_path / "missing"), running, "true")
    assert p.returncode == 125


def test_exec_privileged_has_every_capability(fc, running):
    def cap_eff(*flags):
        out = _out(fc("exec", *flags, "-u", "root", running, "grep", "CapEff:", "/proc/self/status"))
        return int(out.split()[1], 16)
    with open("/proc/self/status") as f:  # every capability this host's bounding set has
        bounding = int(next(x for x in f if x.startswith("CapBnd:")).split()[1], 16)
    assert cap_eff("--privileged") == bounding
    assert cap_eff() != cap_eff("--privileged")
