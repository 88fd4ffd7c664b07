"""The builder's pure parts: source resolution, COPY placement and its layer
tar, metadata instructions, RUN's command line.  No root, no container."""
import io
import os
import tarfile

import pytest

from fastctr.build import config as meta
from fastctr.build import dockerfile, files, runstep
from fastctr.build.context import BuildError, DirView, clean, content_digest, resolve
from fastctr.build.ignore import Ignore


@pytest.fixture
def ctx(tmp_path):
    for rel, text in {"a.txt": "a", "b.txt": "b", "dir/x": "x", "dir/sub/y": "y", "skip.log": "s"}.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    os.symlink("a.txt", tmp_path / "link")
    return tmp_path


def test_sources_resolve_inside_the_context_with_globs_and_ignores(ctx):
    view = DirView(str(ctx), Ignore(["*.log"]))
    assert resolve(view, "*.txt") == ["a.txt", "b.txt"]
    assert resolve(view, "./dir/../a.txt") == ["a.txt"]
    assert resolve(view, "link") == ["a.txt"]  # a symlink at the top is followed
    with pytest.raises(BuildError, match="not found"):
        resolve(view, "skip.log")  # excluded is absent
    with pytest.raises(BuildError, match="outside the build context"):
        clean("../etc/passwd")
    with pytest.raises(BuildError, match="no source files"):
        resolve(view, "*.none")


def test_content_digest_follows_content_not_times(ctx):
    view = DirView(str(ctx))
    before = content_digest(view, ["dir"])
    os.utime(ctx / "dir/x", (1, 1))
    assert content_digest(view, ["dir"]) == before
    (ctx / "dir/x").write_text("changed")
    assert content_digest(view, ["dir"]) != before


def _names(plan):
    out = io.BytesIO()
    files.write(plan, out)
    out.seek(0)
    return [(m.name, m.uid, oct(m.mode)) for m in tarfile.open(fileobj=out)]


def test_copy_placement_follows_dockers_rules(ctx):
    view = DirView(str(ctx))
    plan = files.plan_copy(None, [(view, "dir")], "/opt/d", workdir="/")
    assert [n for n, _, _ in _names(plan)] == ["opt", "opt/d", "opt/d/sub", "opt/d/sub/y", "opt/d/x"]
    plan = files.plan_copy(None, [(view, "a.txt")], "rel/", workdir="/app")
    assert [n for n, _, _ in _names(plan)] == ["app", "app/rel", "app/rel/a.txt"]
    plan = files.plan_copy(None, [(view, "a.txt")], "/renamed", workdir="/", owner=(7, 8), chmod=0o600)
    assert _names(plan) == [("renamed", 7, "0o600")]
    with pytest.raises(BuildError, match="must be a directory and end with a /"):
        files.plan_copy(None, [(view, "a.txt"), (view, "b.txt")], "/nodir", workdir="/")


def test_same_content_gives_the_same_layer_digest(ctx):
    view = DirView(str(ctx))
    first = files.write(files.plan_copy(None, [(view, "dir")], "/d"), io.BytesIO())
    os.utime(ctx / "dir/x", (2_000_000_000, 2_000_000_000))
    clamped = files.write(files.plan_copy(None, [(view, "dir")], "/d"), io.BytesIO(), mtime_max=1)
    assert first.startswith("sha256:") and clamped != first
    again = files.write(files.plan_copy(None, [(view, "dir")], "/d"), io.BytesIO(), mtime_max=1)
    assert again == clamped


def _inst(text):
    return dockerfile.parse("FROM scratch\n" + text).stages()[0].instructions[0]


def test_metadata_instructions_change_the_config_as_docker():
    cfg = {"config": {}}
    assert meta.apply(_inst("EXPOSE 80 53/udp 8000-8001"), cfg, {}, "\\", {}) == \
        "EXPOSE map[53/udp:{} 80/tcp:{} 8000/tcp:{} 8001/tcp:{}]"  # Go sorts the keys as strings
    assert meta.apply(_inst("ENV A=1 B=\"two words\""), cfg, {}, "\\", {}) == "ENV A=1 B=two words"
    assert meta.apply(_inst("WORKDIR app"), cfg, {}, "\\", {}) == "WORKDIR /app"
    meta.apply(_inst("WORKDIR ../srv"), cfg, {}, "\\", {})
    assert cfg["config"]["WorkingDir"] == "/srv"
    meta.apply(_inst("CMD run it"), cfg, {}, "\\", {})
    assert cfg["config"]["Cmd"] == ["/bin/sh", "-c", "run it"]
    meta.apply(_inst("ENTRYPOINT [\"/e\"]"), cfg, {}, "\\", {})
    assert cfg["config"]["Cmd"] is None  # a new ENTRYPOINT drops the CMD set before this stage
    hc = meta.healthcheck(_inst("HEALTHCHECK --interval=1m30s --timeout=500ms CMD [\"t\"]"), ["/bin/sh", "-c"])
    assert hc == {"Test": ["CMD", "t"], "Interval": 90 * 10**9, "Timeout": 5 * 10**8}
    with pytest.raises(BuildError, match="invalid containerPort"):
        meta.apply(_inst("EXPOSE eighty"), cfg, {}, "\\", {})
    with pytest.raises(BuildError, match="invalid signal"):
        meta.apply(_inst("STOPSIGNAL SIGNOPE"), cfg, {}, "\\", {})


def test_run_command_lines_exec_shell_and_heredocs():
    assert runstep.command(_inst('RUN ["a", "b"]'), ["/bin/sh", "-c"]) == (["a", "b"], None)
    assert runstep.command(_inst("RUN echo hi"), ["/bin/bash", "-c"]) == (["/bin/bash", "-c", "echo hi"], None)
    argv, script = runstep.command(_inst("RUN <<EOF\necho one\nEOF"), ["/bin/sh", "-c"])
    assert argv == ["/bin/sh", "-c", "echo one\n"] and script is None
    assert runstep.command(_inst("RUN <<EOF\n#!/bin/sh\necho x\nEOF"), ["/bin/sh", "-c"]) == \
        (None, "#!/bin/sh\necho x\n")
    argv, _ = runstep.command(_inst("RUN cat <<EOT > /f\nbody\nEOT"), ["/bin/sh", "-c"])
    assert argv == ["/bin/sh", "-c", "cat <<EOT > /f\nbody\nEOT"]
