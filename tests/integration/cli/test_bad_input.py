"""Malformed input from outside gets one clear line naming the file or flag,
the documented exit code, and no traceback; the store stays as it was."""
import json
import os
import subprocess

import pytest

import imagetools as it
from conftest import RUNC_CLI


def one_line_error(p, *words, code=125):
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("text", ['{"ociVersion": "1.0.2" "root": {}}', '{"a":1,}', '[1 2]', '"unterminated'])
def test_runc_config_that_is_not_json_names_the_file(bundle, state_root, text):
    """Before: `SystemError: <_json.Scanner object> returned NULL without setting an exception`."""
    b = bundle(["/bin/true"])
    with open(os.path.join(b, "config.json"), "w") as f:
        f.write(text)
    p = subprocess.run(RUNC_CLI + ["--root", state_root, "run", "--bundle", b, "bad-json"], capture_output=True,
                       text=True, timeout=60, cwd="/", stdin=subprocess.DEVNULL)
    one_line_error(p, os.path.join(b, "config.json"), "not valid JSON", code=1)
    assert not os.path.exists(os.path.join(state_root, "bad-json"))


def test_docker_archive_whose_manifest_lists_a_non_object(fcli, tmp_path):
    """Before: `TypeError: string indices must be integers`."""
    good = tmp_path / "good.tar"
    it.write_docker_archive(str(good), [it.busybox_layer()], repo_tags=("bad:1",))
    bad = tmp_path / "bad.tar"
    import tarfile
    with tarfile.open(good) as src, tarfile.open(bad, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()
            if m.name == "manifest.json":
                data = json.dumps(json.loads(data) + ["string"]).encode()
                m.size = len(data)
            import io
            dst.addfile(m, io.BytesIO(data))
    images = fcli("images", "-q").stdout
    one_line_error(fcli("load", "-i", str(bad)), "manifest.json image 2", "must be an object", code=1)
    assert fcli("images", "-q").stdout == images
    assert fcli("inspect", "bad:1").returncode != 0  # checked whole before the first image went in


@pytest.mark.parametrize("args, words", [
    (["run", "--rm", "-p", "80:http", "bb:1", "true"], ["-p 80:http"]),
    (["run", "--rm", "--env-file", "/nonexistent/env", "bb:1", "true"], ["--env-file /nonexistent/env"]),
    (["run", "--rm", "--security-opt", "seccomp=/nonexistent.json", "bb:1", "true"], ["/nonexistent.json"]),
])
def test_bad_flags_are_one_line_errors_with_125(fcli, args, words):
    one_line_error(fcli(*args), *words)


@pytest.mark.parametrize("args, words", [
    (["inspect", "--format", "{{.Nope}}", "bb:1"], ["Nope"]),
    (["inspect", "--format", "{{index .Config 1 2}}", "bb:1"], []),
])
def test_bad_templates_are_one_line_errors_with_1(fcli, args, words):
    one_line_error(fcli(*args), *words, code=1)  # Docker's CLI: an error outside run/create/exec exits 1


def test_env_file_that_is_not_utf8(fcli, tmp_path):
    env = tmp_path / "env"
    env.write_bytes(b"A=1\nB=\xff\xfe\n")
    one_line_error(fcli("run", "--rm", "--env-file", str(env), "bb:1", "true"), str(env), "not UTF-8")


def test_seccomp_profile_that_is_not_json(fcli, tmp_path):
    profile = tmp_path / "p.json"
    profile.write_text('{"defaultAction": "SCMP_ACT_ERRNO",')
    one_line_error(fcli("run", "--rm", "--security-opt", f"seccomp={profile}", "bb:1", "true"), str(profile),
                   "JSON")


def test_corrupt_state_file_is_named(cli, bundle, state_root):
    b = bundle(["/bin/sleep", "10"])
    cli("create", "--bundle", b, "corrupt")
    state = os.path.join(state_root, "corrupt", "state.json")
    with open(state) as f:
        good = f.read()
    with open(state, "w") as f:
        f.write(good[: len(good) // 2])
    p = cli("state", "corrupt", check=False)
    one_line_error(p, "corrupt", state, code=1)
    with open(state, "w") as f:
        f.write(good)
    cli("delete", "--force", "corrupt")
