"""Flag parsing and formatting that need no root: combined short flags,
--format templates, detach keys, capability and security-opt rules."""
import pytest

from fastctr import cliargs
from fastctr.engine import security, tty
from fastctr.cli import template
from fastctr.errors import ConfigError

TABLE = {"-i": ("interactive", False), "-t": ("tty", False), "-d": ("detach", False), "-e": ("env", True),
         "--sig-proxy": ("sig_proxy", False)}


def test_short_flags_combine_and_the_last_may_take_a_value():
    opts, pos = cliargs.parse(["-dit", "-ie", "A=1", "img", "-x"], TABLE, stop_at_positional=True)
    assert opts == {"detach": True, "interactive": True, "tty": True, "env": "A=1"} and pos == ["img", "-x"]
    with pytest.raises(cliargs.UsageError):
        cliargs.parse(["-eit"], TABLE)  # -e takes a value: only last in a bundle
    with pytest.raises(cliargs.UsageError):
        cliargs.parse(["-iz"], TABLE)


def test_boolean_flags_take_an_explicit_value():
    assert cliargs.parse(["--sig-proxy=false"], TABLE)[0] == {"sig_proxy": False}
    assert cliargs.parse(["--sig-proxy=true"], TABLE)[0] == {"sig_proxy": True}


def test_templates():
    doc = {"State": {"Status": "running", "OOMKilled": False}, "Config": {"Cmd": ["sh", "-c"]}, "Name": "/x"}
    assert template.render("{{.State.Status}} {{.State.OOMKilled}}", doc) == "running false"
    assert template.render("{{json .Config.Cmd}}|{{index .Config.Cmd 1}}|{{upper .Name}}", doc) == \
        '["sh","-c"]|-c|/X'  # compact, as the docker CLI's json
    lines = template.table("table {{.ID}}\\t{{.Names}}", [{"ID": "abc", "Names": "n"}])
    assert lines[0].split() == ["CONTAINER", "ID", "NAMES"] and lines[1].split() == ["abc", "n"]
    for bad in ("{{.Nope}}", "{{len}}", "{{frob .Name}}"):
        with pytest.raises(ConfigError):
            template.render(bad, doc)


def test_detach_keys():
    assert tty.parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert tty.parse_detach_keys("ctrl-x,x") == b"\x18x"
    assert tty.parse_detach_keys("") == b""
    for bad in ("ctrl-1", "alt-x", "ctrl-pq"):
        with pytest.raises(ConfigError):
            tty.parse_detach_keys(bad)
    m = tty._DetachMatcher(b"\x10\x11")
    assert m.feed(b"ab\x10") == (b"ab", False)
    assert m.feed(b"c") == (b"\x10c", False)  # not the sequence: the held byte goes through
    assert m.feed(b"\x10\x11") == (b"", True)


def test_capability_rules():
    docker = set(security.DOCKER_CAPS)
    assert set(security.capabilities([], [])) == docker
    assert set(security.capabilities(["net_admin"], ["CAP_KILL"])) == docker - {"CAP_KILL"} | {"CAP_NET_ADMIN"}
    assert security.capabilities(["CHOWN"], ["ALL"]) == ["CAP_CHOWN"]
    assert "CAP_SYS_ADMIN" in security.capabilities(["ALL"], []) and \
        "CAP_SYS_ADMIN" not in security.capabilities(["ALL"], ["SYS_ADMIN"])
    with pytest.raises(ConfigError):
        security.capabilities(["NOPE"], [])


def test_security_opts():
    assert security._security_opts(["no-new-privileges"]) == (True, None)
    assert security._security_opts(["no-new-privileges:false", "seccomp=unconfined"]) == (False, "unconfined")
    assert security._security_opts(["apparmor=unconfined", "label=disable"]) == (False, None)
    for bad in (["no-new-privileges=maybe"], ["apparmor=docker-default"], ["seccomp"], ["selinux"]):
        with pytest.raises(ConfigError):
            security._security_opts(bad)


def test_device_parsing():
    (node, rule), = security.parse_device("/dev/null:/dev/mynull:r")
    assert node["path"] == "/dev/mynull" and (node["type"], node["major"], node["minor"]) == ("c", 1, 3)
    assert rule == {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "r"}
    for bad in ("/dev/nonexistent", "dev/null", "/etc/hostname", "/dev/null:x:y:z"):
        with pytest.raises(ConfigError):
            security.parse_device(bad)
