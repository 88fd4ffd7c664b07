import errno

import pytest

from fastctr.errors import CommandNotExecutable, CommandNotFound, SpawnError, spawn_error
from fastctr.runtime.runc_cli import COMMANDS, GLOBAL_OPTS, UsageError, main, parse
from fastctr.runtime.lifecycle import parse_signal
from fastctr.runtime.state import validate_id
from fastctr.errors import ConfigError


def test_spawn_errors_are_oserror_subclasses():
    e = spawn_error("mount", errno.ENOENT, "bind mount /a on /b")
    assert isinstance(e, FileNotFoundError) and isinstance(e, SpawnError)
    assert e.errno == errno.ENOENT and e.stage == "mount"
    assert "mount: bind mount /a on /b" in str(e)
    e = spawn_error("pivot_root", errno.EPERM, "pivot_root /x")
    assert isinstance(e, PermissionError) and e.stage == "pivot_root"
    assert isinstance(spawn_error("exec", errno.ENOENT, "x"), CommandNotFound)
    assert isinstance(spawn_error("exec", errno.EACCES, "x"), CommandNotExecutable)
    assert CommandNotFound.exit_code == 127 and CommandNotExecutable.exit_code == 126


def test_cli_parse():
    g, rest = parse(["--root", "/r", "--log=/l", "create", "--bundle", "b", "id"], GLOBAL_OPTS, stop_at_positional=True)
    assert g == {"root": "/r", "log": "/l"} and rest[0] == "create"
    o, pos = parse(rest[1:], COMMANDS["create"])
    assert o == {"bundle": "b"} and pos == ["id"]
    o, pos = parse(["-e", "A=1", "--env=B=2", "c1", "sh", "-c", "x"], COMMANDS["exec"], stop_at_positional=True)
    assert o == {"env": ["A=1", "B=2"]} and pos == ["c1", "sh", "-c", "x"]
    with pytest.raises(UsageError):
        parse(["--bogus"], COMMANDS["create"])


def test_cli_usage_errors_exit_nonzero(capsys, tmp_path):
    assert main(["--root", str(tmp_path), "delete"]) == 1
    assert main(["--root", str(tmp_path), "start"]) == 1
    assert main(["--root", str(tmp_path), "state", "nope"]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["--root", str(tmp_path), "frobnicate"]) == 1


def test_cli_version(capsys):
    assert main(["--version"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("runc version ") and lines[1].startswith("commit: ") and lines[2].startswith("spec: ")


def test_log_json(tmp_path):
    log = tmp_path / "log.json"
    assert main(["--root", str(tmp_path), "--log", str(log), "--log-format", "json", "state", "x"]) == 1
    import json
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and "does not exist" in entry["msg"]


def test_signals_and_ids():
    assert parse_signal("TERM") == 15 and parse_signal("SIGKILL") == 9 and parse_signal("10") == 10
    with pytest.raises(ConfigError):
        parse_signal("NOPE")
    for bad in ("", "../x", "a/b", ".hidden", "x" * 2000):
        with pytest.raises(ConfigError):
            validate_id(bad)
    assert validate_id("web-1.2_x") == "web-1.2_x"


def test_systemd_cgroup_driver_is_refused_not_ignored(capsys, tmp_path):
    assert main(["--root", str(tmp_path), "--systemd-cgroup", "state", "x"]) == 1
    assert "systemd cgroup driver is not supported" in capsys.readouterr().err
