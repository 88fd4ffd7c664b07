"""--secret values and RUN --mount=type=secret options, parsed as buildx
and BuildKit do."""
import os

import pytest

from fastctr.build.context import BuildError
from fastctr.build.run import Mount
from fastctr.build.secrets import parse_flag


def test_a_file_secret_by_src_or_source(tmp_path):
    path = tmp_path / "tok"
    path.write_bytes(b"v")
    for key in ("src", "source"):
        s = parse_flag(f"id=tok,{key}={path}")
        assert (s.id, s.kind, s.where, s.value()) == ("tok", "file", str(path), b"v")


def test_an_env_secret_and_id_alone_takes_the_variable_when_set(monkeypatch, tmp_path):
    monkeypatch.setenv("MY_TOKEN", "x")
    assert parse_flag("id=a,env=MY_TOKEN").value() == b"x"
    assert parse_flag("env=MY_TOKEN").id == "MY_TOKEN"
    assert parse_flag("id=MY_TOKEN").kind == "env"
    assert parse_flag("id=MY_TOKEN,type=env").where == "MY_TOKEN"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plain").write_text("f")
    assert parse_flag("id=plain").kind == "file"  # no such variable: the file of that name


@pytest.mark.parametrize("spec,message", [
    ("src=/etc/hostname", "an id is required"),
    ("id", "must be a key=value pair"),
    ("id=a,what=b", "unexpected key 'what'"),
    ("id=a,type=ssh", "unsupported secret type 'ssh'"),
    ("id=a,src=/nonexistent", "failed to stat /nonexistent"),
])
def test_malformed_flags(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_flag(spec)


def test_mount_defaults_and_options():
    m = Mount("type=secret,id=npmrc")
    assert (m.target, m.secret.mode, m.secret.uid, m.secret.required, m.secret.env) == \
        ("/run/secrets/npmrc", 0o400, 0, False, None)
    m = Mount("type=secret,target=/root/.npmrc,mode=0644,uid=1000,gid=1000,required=true")
    assert (m.secret.id, m.target, m.secret.mode, m.secret.gid, m.secret.required) == \
        (".npmrc", "/root/.npmrc", 0o644, 1000, True)
    m = Mount("type=secret,id=tok,env=TOKEN")
    assert (m.target, m.secret.env) == (None, "TOKEN")  # env alone: no file
    with pytest.raises(BuildError, match="needs an id or a target"):
        Mount("type=secret")
    with pytest.raises(BuildError, match="mode is octal"):
        Mount("type=secret,id=a,mode=rw")


def test_a_missing_secret_is_skipped_unless_required():
    assert Mount("type=secret,id=a").secret.value({}) is None
    with pytest.raises(BuildError, match="secret a not found"):
        Mount("type=secret,id=a,required=true").secret.value({})


def test_the_copy_has_the_mounts_mode_and_owner(tmp_path):
    m = Mount("type=secret,id=a,mode=0440,uid=12,gid=34")
    path = m.secret.write(b"value", str(tmp_path), 0)
    st = os.stat(path)
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid, open(path, "rb").read()) == (0o440, 12, 34, b"value")
