"""`fastctr build`: real builds on bb:1 (busybox), each RUN a real container.

Every test builds in the module's own data root (fcli); the checks read the
built image by running it, by inspect and history, and by its layers."""
import io
import json
import os
import signal
import subprocess
import tarfile
import time

import pytest


@pytest.fixture(scope="module")
def fc(fcli):
    return fcli


def context(tmp_path, dockerfile, files=None, name="ctx"):
    root = tmp_path / name
    root.mkdir()
    (root / "Dockerfile").write_text(dockerfile)
    for rel, content in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return str(root)


def build(fc, ctx, *flags, ok=True):
    p = fc("build", "--progress", "plain", *flags, ctx, timeout=300)
    if ok:
        assert p.returncode == 0, p.stderr
    return p


def out(fc, image, *cmd):
    p = fc("run", "--rm", image, *cmd)
    assert p.returncode == 0, p.stderr
    return p.stdout


def inspect(fc, image):
    p = fc("image", "inspect", image)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)[0]


def nothing_left(fc):
    assert fc("ps", "-a", "-q").stdout == ""
    data = fc.argv[2]
    tmp = os.path.join(data, "tmp")
    assert not os.path.isdir(tmp) or os.listdir(tmp) == []
    assert unrecorded_layers(data) == []


def unrecorded_layers(data):
    """Layer directories of the store that its layers table does not list
    (a half-made layer), and overlay2 links that lead nowhere."""
    import sqlite3
    db = sqlite3.connect(f"file:{data}/fastctr.db?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT driver, chain_id FROM layers").fetchall()
    finally:
        db.close()
    left = []
    for driver in ("overlay2", "vfs"):
        base = os.path.join(data, driver)
        known = {chain_id.partition(":")[2] for d, chain_id in rows if d == driver}
        names = os.listdir(base) if os.path.isdir(base) else []
        left += [f"{driver}/{n}" for n in names if len(n) == 64 and n not in known]
        links = os.path.join(base, "l")
        for n in os.listdir(links) if os.path.isdir(links) else []:
            if not os.path.exists(os.path.join(links, n)):
                left.append(f"{driver}/l/{n}")
    return left


def test_a_dockerfile_of_every_common_instruction_builds_a_runnable_image(fc, tmp_path):
    ctx = context(tmp_path, """\
FROM bb:1
LABEL org.example.kind=test other="two words"
ENV GREETING=hello WHO=world
WORKDIR /app
COPY greet.sh ./
RUN chmod 755 greet.sh && echo "built $GREETING" > built.txt
USER 65534:65534
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGINT
ENTRYPOINT ["/app/greet.sh"]
CMD ["arg"]
""", {"greet.sh": "#!/bin/sh\necho \"$GREETING $WHO $1 $(id -u) $(pwd)\"\ncat /app/built.txt\n"})
    p = build(fc, ctx, "-t", "every:1")
    assert "#" in p.stderr and "[2/12] LABEL" in p.stderr and "writing image sha256:" in p.stderr
    assert out(fc, "every:1") == "hello world arg 65534 /app\nbuilt hello\n"
    cfg = inspect(fc, "every:1")["Config"]
    assert cfg["Labels"] == {"org.example.kind": "test", "other": "two words"}
    assert "GREETING=hello" in cfg["Env"] and any(e.startswith("PATH=") for e in cfg["Env"])
    assert cfg["WorkingDir"] == "/app" and cfg["User"] == "65534:65534"
    assert set(cfg["ExposedPorts"]) == {"8080/tcp", "53/udp"} and cfg["Volumes"] == {"/data": {}}
    assert cfg["StopSignal"] == "SIGINT" and cfg["Entrypoint"] == ["/app/greet.sh"] and cfg["Cmd"] == ["arg"]
    hist = fc("history", "--no-trunc", "--format", "{{.CreatedBy}}", "every:1").stdout.splitlines()
    assert hist[0] == 'CMD ["arg"]' and hist[-1 - 0].startswith("") and \
        any(h.startswith("RUN /bin/sh -c chmod 755 greet.sh") for h in hist)
    assert any(h == "COPY greet.sh ./ # buildkit" for h in hist)
    nothing_left(fc)


def test_layers_one_per_filesystem_instruction_and_empty_layer_history(fc, tmp_path):
    ctx = context(tmp_path, "FROM bb:1\nENV A=1\nRUN echo x > /x\nCOPY f /f\nCMD [\"sh\"]\n", {"f": "f"})
    build(fc, ctx, "-t", "layers:1")
    base = inspect(fc, "bb:1")
    im = inspect(fc, "layers:1")
    assert len(im["RootFS"]["Layers"]) == len(base["RootFS"]["Layers"]) + 2
    p = fc("image", "save", "layers:1", "-o", str(tmp_path / "s.tar"))
    assert p.returncode == 0, p.stderr
    with tarfile.open(tmp_path / "s.tar") as t:
        manifest = json.load(t.extractfile("manifest.json"))
        config = json.load(t.extractfile(manifest[0]["Config"]))
    steps = config["history"][len(json.loads(json.dumps(base.get("History", []))) or []):]
    mine = [h for h in config["history"] if h.get("comment") == "buildkit.dockerfile.v0"]
    assert [bool(h.get("empty_layer")) for h in mine] == [True, False, False, True]
    assert steps is not None


def test_workdir_makes_its_directory_as_a_layer_as_buildkit(fc, tmp_path):
    """BuildKit's WORKDIR is a mkdir -p (0755, owned by the USER): a layer
    even when the directory is there (an empty one), none for WORKDIR /."""
    ctx = context(tmp_path, """\
FROM bb:1
WORKDIR /
WORKDIR /srv/new
WORKDIR /tmp
USER app
WORKDIR /home/app/data/deep
CMD ["pwd"]
""")
    build(fc, ctx, "-t", "workdir:1")
    base = inspect(fc, "bb:1")
    im = inspect(fc, "workdir:1")
    assert len(im["RootFS"]["Layers"]) == len(base["RootFS"]["Layers"]) + 3
    assert out(fc, "workdir:1") == "/home/app/data/deep\n"
    listing = out(fc, "workdir:1", "stat", "-c", "%n %a %u:%g", "/srv", "/srv/new", "/home/app/data",
                  "/home/app/data/deep", "/tmp")
    assert listing.splitlines() == ["/srv 755 0:0", "/srv/new 755 0:0", "/home/app/data 755 1000:1000",
                                    "/home/app/data/deep 755 1000:1000", "/tmp 1777 0:0"]
    p = fc("image", "save", "workdir:1", "-o", str(tmp_path / "w.tar"))
    assert p.returncode == 0, p.stderr
    with tarfile.open(tmp_path / "w.tar") as t:
        manifest = json.load(t.extractfile("manifest.json"))
        config = json.load(t.extractfile(manifest[0]["Config"]))
        with tarfile.open(fileobj=t.extractfile(manifest[0]["Layers"][-2])) as layer:
            assert layer.getnames() == []  # WORKDIR /tmp: there already
    mine = [(h["created_by"], bool(h.get("empty_layer"))) for h in config["history"]
            if h.get("comment") == "buildkit.dockerfile.v0"]
    assert mine == [("WORKDIR /", True), ("WORKDIR /srv/new", False), ("WORKDIR /tmp", False),
                    ("USER app", True), ("WORKDIR /home/app/data/deep", False), ('CMD ["pwd"]', True)]
    assert "CACHED" in build(fc, ctx, "-t", "workdir:2").stderr
    assert inspect(fc, "workdir:2")["Id"] == im["Id"]
    fc("rmi", "workdir:1", "workdir:2")


def test_the_cache_reuses_steps_and_one_changed_file_rebuilds_from_the_step_that_reads_it(fc, tmp_path):
    ctx = context(tmp_path, """\
FROM bb:1
RUN echo one > /one
COPY a.txt /a.txt
RUN cat /a.txt > /copy-of-a
COPY b.txt /b.txt
RUN date +%s%N > /stamp
""", {"a.txt": "a1", "b.txt": "b1"})
    first = build(fc, ctx, "-t", "cached:1")
    assert "CACHED" not in first.stderr
    id1 = inspect(fc, "cached:1")["Id"]
    second = build(fc, ctx, "-t", "cached:2")
    assert second.stderr.count("CACHED") == 5, second.stderr
    assert inspect(fc, "cached:2")["Id"] == id1  # a fully cached build is the same image
    with open(os.path.join(ctx, "b.txt"), "w") as f:
        f.write("b2")
    third = build(fc, ctx, "-t", "cached:3")
    assert third.stderr.count("CACHED") == 3, third.stderr  # RUN, COPY a, RUN: cached; COPY b and after: not
    assert out(fc, "cached:3", "cat", "/b.txt", "/copy-of-a") == "b2a1"
    fourth = build(fc, ctx, "--no-cache", "-t", "cached:4")
    assert "CACHED" not in fourth.stderr
    p = fc("builder", "prune", "-f")
    assert p.returncode == 0 and "Total reclaimed space" in p.stdout
    assert "CACHED" not in build(fc, ctx, "-t", "cached:5").stderr
    for t in ("1", "2", "3", "4", "5"):
        fc("rmi", f"cached:{t}")


def test_builder_prune_until_and_keep_storage(fc, tmp_path):
    ctx = context(tmp_path, "FROM bb:1\nRUN echo 1 > /one\nRUN head -c 20000 /dev/zero > /big\nRUN echo 3 > /three\n")
    assert fc("builder", "prune", "-f").returncode == 0  # the module's other builds' rows
    build(fc, ctx, "-t", "prune:1")
    fc("rmi", "prune:1")

    def prune(*flags):
        p = fc("builder", "prune", "-f", *flags)
        assert p.returncode == 0, p.stderr
        return p.stdout

    assert "Deleted" not in prune("--filter", "until=1h")  # all used just now
    assert "Deleted" not in prune("--keep-storage", "1g")  # all fits
    # Keep 10 kB: the least recently used rows go first until the rest fits (the 20 kB step's too)
    assert prune("--keep-storage", "10k").startswith("Deleted build cache objects: 2\n")
    later = str(int(time.time()) + 3600)
    assert prune("--filter", f"until={later}").startswith("Deleted build cache objects: 1\n")
    assert "CACHED" not in build(fc, ctx).stderr
    for bad in (["--filter", "type=regular"], ["--filter", "until=soon"], ["--keep-storage", "lots"]):
        p = fc("builder", "prune", "-f", *bad)
        assert p.returncode == 125 and p.stderr.startswith("fastctr: invalid"), p.stderr  # then docker's "See..."
    prune("-a")


def test_a_multi_stage_build_keeps_only_what_was_copied_from_the_builder(fc, tmp_path):
    ctx = context(tmp_path, """\
FROM bb:1 AS builder
RUN mkdir /out && echo artifact > /out/app && echo junk > /builder-only
FROM bb:1 AS unused
RUN exit 9
FROM scratch AS final
COPY --from=builder /out/app /app
COPY --from=bb:1 /bin/busybox /bin/busybox
CMD ["/bin/busybox", "cat", "/app"]
""")
    p = build(fc, ctx, "-t", "multi:1")
    assert "exit 9" not in p.stderr  # a stage the target does not need is not built
    assert out(fc, "multi:1") == "artifact\n"
    p = fc("run", "--rm", "multi:1", "/bin/busybox", "ls", "/")
    assert sorted(p.stdout.split()) == sorted(["app", "bin", "dev", "etc", "proc", "sys"]) or \
        "builder-only" not in p.stdout
    assert "builder-only" not in p.stdout
    assert len(inspect(fc, "multi:1")["RootFS"]["Layers"]) == 2
    bound = context(tmp_path, "FROM bb:1 AS builder\nRUN mkdir /out && echo made > /out/app\n"
                    "FROM bb:1\nRUN --mount=type=bind,from=builder,source=/out,target=/in cat /in/app > /seen\n",
                    name="bound")
    build(fc, bound, "-t", "multi:bound")
    assert out(fc, "multi:bound", "sh", "-c", "cat /seen; test -e /in || echo no-in") == "made\nno-in\n"
    p = build(fc, ctx, "--target", "builder", "-t", "multi:builder")
    assert out(fc, "multi:builder", "cat", "/builder-only") == "junk\n"
    p = build(fc, ctx, "--target", "nope", ok=False)
    assert p.returncode == 1 and 'target stage "nope" could not be found' in p.stderr


def test_args_substitution_and_build_args(fc, tmp_path):
    ctx = context(tmp_path, """\
ARG BASE=bb:1
FROM ${BASE}
ARG BASE
ARG WHO=nobody
ARG EMPTY
ENV DIR=/srv/${WHO} FALLBACK=${EMPTY:-default} SET=${WHO:+yes}
WORKDIR $DIR
RUN echo "$WHO $BASE" > who && pwd > where
""")
    build(fc, ctx, "--build-arg", "WHO=alice", "-t", "args:1")
    assert out(fc, "args:1", "cat", "who", "where") == "alice bb:1\n/srv/alice\n"
    env = inspect(fc, "args:1")["Config"]["Env"]
    assert "FALLBACK=default" in env and "SET=yes" in env and not any(e.startswith("WHO=") for e in env)
    hist = fc("history", "--no-trunc", "--format", "{{.CreatedBy}}", "args:1").stdout
    assert "RUN |2 BASE=bb:1 WHO=alice /bin/sh -c" in hist
    p = build(fc, ctx, "--build-arg", "UNUSED=1", "-t", "args:2")
    assert "UNUSED" in p.stderr  # Docker's warning about a build arg no ARG consumed


def test_dockerignore_with_exceptions_and_copy_forms(fc, tmp_path):
    ctx = context(tmp_path, """\
FROM bb:1
COPY . /ctx/
COPY *.md /docs/
COPY --chown=65534:65534 --chmod=0640 conf/ /etc/conf/
COPY ["sub dir/file one", "/spaced"]
RUN find /ctx /docs /etc/conf | sort > /list && stat -c '%u:%g %a %n' /etc/conf/app.conf >> /list
""", {"keep.md": "k", "other.md": "o", "secret.key": "s", "logs/a.log": "a", "logs/important.log": "i",
      "conf/app.conf": "c", "sub dir/file one": "1"})
    with open(os.path.join(ctx, ".dockerignore"), "w") as f:
        f.write("# comment\n*.key\nlogs\n!logs/important.log\nother.md\n")
    build(fc, ctx, "-t", "ignore:1")
    listing = out(fc, "ignore:1", "cat", "/list", "/spaced")
    assert "/ctx/secret.key" not in listing and "/ctx/logs/a.log" not in listing
    assert "/ctx/logs/important.log" in listing and "/ctx/keep.md" in listing and "/docs/other.md" not in listing
    assert "/docs/keep.md" in listing and "65534:65534 640 /etc/conf/app.conf" in listing
    assert listing.endswith("1")


def test_heredocs_in_run_and_copy(fc, tmp_path):
    ctx = context(tmp_path, """\
# syntax=docker/dockerfile:1
FROM bb:1
ENV NAME=heredoc
RUN <<EOF
echo first > /h1
echo "second $NAME" >> /h1
EOF
COPY <<EOF /etc/greeting
hello $NAME
EOF
COPY <<'EOF' /etc/literal
hello $NAME
EOF
RUN cat <<EOT > /h2
from a command
EOT
""")
    build(fc, ctx, "-t", "heredoc:1")
    assert out(fc, "heredoc:1", "cat", "/h1", "/etc/greeting", "/etc/literal", "/h2") == \
        "first\nsecond heredoc\nhello heredoc\nhello $NAME\nfrom a command\n"


def test_add_extracts_local_archives_and_refuses_urls_offline(fc, tmp_path):
    import gzip
    import io
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w") as t:
        data = b"inside the archive\n"
        info = tarfile.TarInfo("pkg/readme")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    import bz2
    import lzma
    import zstandard
    raw = payload.getvalue()
    ctx = context(tmp_path, "FROM bb:1\nADD files.tar.gz /opt/\nADD plain.txt /opt/plain.txt\n"
                  "ADD f.tar /t/\nADD f.tar.bz2 /b/\nADD f.tar.xz /x/\nADD f.tar.zst /z/\n",
                  {"files.tar.gz": gzip.compress(raw), "plain.txt": "plain", "f.tar": raw,
                   "f.tar.bz2": bz2.compress(raw), "f.tar.xz": lzma.compress(raw),
                   "f.tar.zst": zstandard.ZstdCompressor().compress(raw)})
    build(fc, ctx, "-t", "add:1")
    assert out(fc, "add:1", "cat", "/opt/pkg/readme", "/opt/plain.txt") == "inside the archive\nplain"
    assert out(fc, "add:1", "cat", "/t/pkg/readme", "/b/pkg/readme", "/x/pkg/readme", "/z/pkg/readme") == \
        "inside the archive\n" * 4
    ctx2 = context(tmp_path, "FROM bb:1\nADD http://127.0.0.1:9/file.txt /f\n", name="ctx2")
    p = build(fc, ctx2, ok=False)
    assert p.returncode == 1 and "ADD http://127.0.0.1:9/file.txt: cannot download it" in p.stderr
    nothing_left(fc)


def test_run_changes_become_whiteouts_opaque_directories_and_hard_links(fc, tmp_path):
    ctx = context(tmp_path, """\
FROM bb:1
RUN mkdir -p /d/sub && echo 1 > /d/sub/old && echo keep > /keep && echo gone > /gone
RUN rm /gone && rm -rf /d && mkdir -p /d && echo new > /d/new && ln /keep /keep-link
""")
    build(fc, ctx, "-t", "wh:1")
    assert out(fc, "wh:1", "sh", "-c", "ls /d; test -e /gone || echo no-gone; stat -c %h /keep") == \
        "new\nno-gone\n2\n"
    p = fc("image", "save", "wh:1", "-o", str(tmp_path / "wh.tar"))
    assert p.returncode == 0
    with tarfile.open(tmp_path / "wh.tar") as t:
        manifest = json.load(t.extractfile("manifest.json"))
        top = tarfile.open(fileobj=t.extractfile(manifest[0]["Layers"][-1]))
        names = {m.name: m for m in top}
    assert ".wh.gone" in names and "d/.wh..wh..opq" in names
    assert names["keep-link"].islnk() or names["keep"].islnk()


def test_run_mounts_cache_and_bind(fc, tmp_path):
    ctx = context(tmp_path, """\
FROM bb:1
RUN --mount=type=cache,target=/cache --mount=type=bind,source=src,target=/src \\
    cat /src/input >> /cache/log && cp /cache/log /result && ls /src > /seen
""", {"src/input": "line\n"})
    build(fc, ctx, "-t", "mnt:1")
    assert out(fc, "mnt:1", "cat", "/result", "/seen") == "line\ninput\n"
    build(fc, ctx, "--no-cache", "-t", "mnt:2")
    assert out(fc, "mnt:2", "cat", "/result") == "line\nline\n"  # the cache mount outlived the first build
    assert out(fc, "mnt:2", "sh", "-c", "test -e /cache || test -e /src || echo clean") == "clean\n"


def test_onbuild_triggers_run_in_the_child_and_healthcheck_shell_and_user(fc, tmp_path):
    parent = context(tmp_path, """\
FROM bb:1
ONBUILD RUN echo triggered > /onbuild
SHELL ["/bin/sh", "-e", "-c"]
HEALTHCHECK --interval=5s --retries=2 CMD true
""", name="parent")
    build(fc, parent, "-t", "onbuild:parent")
    cfg = inspect(fc, "onbuild:parent")["Config"]
    assert cfg["OnBuild"] == ["RUN echo triggered > /onbuild"] and cfg["Shell"] == ["/bin/sh", "-e", "-c"]
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000, "Retries": 2}
    child = context(tmp_path, "FROM onbuild:parent\nRUN cat /onbuild > /seen\n", name="child")
    build(fc, child, "-t", "onbuild:child")
    assert out(fc, "onbuild:child", "cat", "/seen") == "triggered\n"
    assert not inspect(fc, "onbuild:child")["Config"].get("OnBuild")


def test_quiet_iidfile_stdin_dockerfile_and_file_flag(fc, tmp_path):
    ctx = context(tmp_path, "FROM bb:1\nRUN echo q > /q\n", {"other.Dockerfile": "FROM bb:1\nRUN echo o > /o\n"})
    p = build(fc, ctx, "-q", "--iidfile", str(tmp_path / "iid"))
    assert p.stdout.startswith("sha256:") and p.stdout.count("\n") == 1 and p.stderr == ""
    assert (tmp_path / "iid").read_text() == p.stdout.strip()
    p = build(fc, ctx, "-f", "other.Dockerfile", "-t", "file:1")
    assert out(fc, "file:1", "cat", "/o") == "o\n"
    p = fc("build", "-q", "-t", "stdin:1", "-", input=b"FROM bb:1\nRUN echo s > /s\n", stdin=None)
    assert p.returncode == 0, p.stderr
    assert out(fc, "stdin:1", "cat", "/s") == "s\n"


def test_source_date_epoch_gives_identical_layers_and_image(fc, tmp_path):
    ctx = context(tmp_path, "FROM bb:1\nCOPY f /f\nRUN echo x > /x && touch /x\n", {"f": "same"})
    env = dict(fc.env, SOURCE_DATE_EPOCH="1700000000")
    ids = []
    for tag in ("sde:1", "sde:2"):
        p = fc("build", "--no-cache", "-q", "-t", tag, ctx, env=env)
        assert p.returncode == 0, p.stderr
        ids.append(p.stdout.strip())
    assert ids[0] == ids[1]
    assert inspect(fc, "sde:1")["Created"].startswith("2023-11-14T22:13:20")


@pytest.mark.parametrize("dockerfile,files,message", [
    ("FROM bb:1\nFROBNICATE x\n", {}, "Dockerfile:2: unknown instruction: FROBNICATE"),
    ("FROM bb:1\nCOPY --bogus=1 a /a\n", {"a": "a"}, "unknown flag: --bogus"),
    ("FROM bb:1\nCOPY missing.txt /x\n", {}, "missing.txt"),
    ("FROM bb:1\nCOPY ../outside /x\n", {}, "outside the build context"),
    # a name no stage has is an image (a loopback registry that is not there: nothing leaves the machine)
    ("FROM bb:1\nCOPY --from=127.0.0.1:9/nostage /x /x\n", {}, "127.0.0.1:9/nostage: no stage of this name"),
    ("FROM 127.0.0.1:9/nobase\n", {}, "127.0.0.1:9/nobase: no stage of this name"),
    ("RUN true\n", {}, "Dockerfile:1"),
])
def test_errors_name_the_file_line_or_source_and_leave_nothing(fc, tmp_path, dockerfile, files, message):
    ctx = context(tmp_path, dockerfile, files)
    before = fc("images", "-q").stdout
    p = build(fc, ctx, "-t", "broken:1", ok=False)
    assert p.returncode == 1, p.stderr
    assert message in p.stderr, p.stderr
    assert fc("images", "-q").stdout == before
    nothing_left(fc)


def test_a_failing_run_shows_its_output_status_and_step_and_tags_nothing(fc, tmp_path):
    ctx = context(tmp_path, "FROM bb:1\nRUN echo before\nRUN echo to-stdout; echo to-stderr >&2; exit 3\n")
    p = build(fc, ctx, "-t", "fails:1", ok=False)
    assert p.returncode == 1
    assert "to-stdout" in p.stderr and "to-stderr" in p.stderr
    assert "did not complete successfully: exit code: 3" in p.stderr
    assert "[3/3] RUN echo to-stdout" in p.stderr and "Dockerfile:3" in p.stderr
    assert fc("image", "inspect", "fails:1").returncode != 0
    nothing_left(fc)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_build_leaves_no_container_mount_or_tag(fc, tmp_path, sig):
    ctx = context(tmp_path, "FROM bb:1\nRUN echo started; sleep 60\n")
    with open(tmp_path / "log", "wb") as log:
        proc = subprocess.Popen([*fc.argv, "build", "--progress", "plain", "-t", "intr:1", ctx], stdout=log,
                                stderr=subprocess.STDOUT, env=fc.env)
        deadline = time.monotonic() + 60
        # The RUN's output, not its step's header (which holds the word too): the container runs.
        while b"started\n" not in (tmp_path / "log").read_bytes() and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == 130
    assert fc("image", "inspect", "intr:1").returncode != 0
    nothing_left(fc)


@pytest.mark.parametrize("point", ["create:recorded", "create:returned", "start:running", "layer:unpacked",
                                   "layer:installed"])
def test_a_ctrl_c_at_each_point_of_a_step_leaves_nothing(fc, tmp_path, point):
    # The step's container made, running, its layer unpacked, put in place:
    # a Ctrl-C at each (sent by the build to itself there) leaves nothing.
    ctx = context(tmp_path, f"FROM bb:1\nRUN echo {point} > /point\n")
    p = fc("build", "--progress", "plain", "-t", "intr:2", ctx,
           env=dict(fc.env, FASTCTR_CRASH_AT=point, FASTCTR_CRASH_SIGNAL="INT"))
    assert p.returncode == 130, p.stdout + p.stderr
    assert fc("image", "inspect", "intr:2").returncode != 0
    nothing_left(fc)


def test_secrets_reach_only_the_run_that_mounts_them(fc, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("s3cr3t-file\n")
    ctx = context(tmp_path, "FROM bb:1\n"
                  "RUN --mount=type=secret,id=token cat /run/secrets/token > /seen-file; "
                  "stat -c %a /run/secrets/token > /mode\n"
                  "RUN --mount=type=secret,id=api,env=API_TOKEN,required=true echo \"$API_TOKEN\" > /seen-env\n"
                  "RUN --mount=type=secret,id=token,target=/etc/app.key,mode=0440,uid=65534 "
                  "stat -c '%a %u' /etc/app.key > /key\n"
                  "RUN --mount=type=secret,id=absent test ! -e /run/secrets/absent && echo none > /absent\n")
    p = fc("build", "--progress", "plain", "-t", "sec:1", "--secret", f"id=token,src={secret}",
           "--secret", "id=api,env=MY_API", ctx, env=dict(fc.env, MY_API="s3cr3t-env"))
    assert p.returncode == 0, p.stderr
    assert out(fc, "sec:1", "cat", "/seen-file", "/mode", "/seen-env", "/key", "/absent") == \
        "s3cr3t-file\n400\ns3cr3t-env\n440 65534\nnone\n"
    # Mount points and the directories made for them are not in the image, nor the values in its metadata
    assert out(fc, "sec:1", "sh", "-c", "test -e /run/secrets || test -e /etc/app.key || echo clean") == "clean\n"
    assert "s3cr3t" not in fc("history", "--no-trunc", "sec:1").stdout + fc("image", "inspect", "sec:1").stdout
    # A changed secret does not rebuild a cached step (BuildKit's rule: it is not part of the key)
    secret.write_text("changed")
    p = fc("build", "--progress", "plain", "-t", "sec:2", "--secret", f"id=token,src={secret}",
           "--secret", "id=api,env=MY_API", ctx, env=dict(fc.env, MY_API="other"))
    assert p.returncode == 0 and p.stderr.count("CACHED") == 4, p.stderr


@pytest.mark.parametrize("flag,message", [
    ("src=/etc/hostname", "an id is required"),
    ("id=a,src=/nonexistent/secret", "failed to stat /nonexistent/secret"),
    ("id=a,bogus=1", "unexpected key 'bogus'"),
])
def test_a_bad_secret_flag_is_a_usage_error(fc, tmp_path, flag, message):
    ctx = context(tmp_path, "FROM bb:1\nRUN true\n")
    p = fc("build", "--secret", flag, ctx)
    assert p.returncode == 125 and message in p.stderr, p.stderr
    nothing_left(fc)


def test_a_required_secret_not_given_fails_the_step_and_leaves_nothing(fc, tmp_path):
    ctx = context(tmp_path, "FROM bb:1\nRUN --mount=type=secret,id=nope,required=true true\n")
    p = build(fc, ctx, "-t", "nosecret:1", ok=False)
    assert p.returncode == 1 and "secret nope not found" in p.stderr, p.stderr
    assert fc("image", "inspect", "nosecret:1").returncode != 0
    nothing_left(fc)


def test_output_writes_the_targets_files_to_a_directory_or_a_tar_and_no_image(fc, tmp_path):
    ctx = context(tmp_path, "FROM bb:1 AS build\n"
                  "RUN mkdir /out && echo artifact > /out/app && ln -s app /out/link && chmod 750 /out/app && "
                  "chown 12:34 /out/app\n"
                  "FROM scratch\nCOPY --from=build /out /\n")
    images = fc("images", "-q").stdout
    dest = tmp_path / "out"
    build(fc, ctx, "-o", str(dest))
    assert sorted(os.listdir(dest)) == ["app", "link"] and os.readlink(dest / "link") == "app"
    st = os.lstat(dest / "app")
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid, (dest / "app").read_text()) == (0o750, 12, 34, "artifact\n")
    build(fc, ctx, "-o", f"type=tar,dest={tmp_path / 'out.tar'}")
    with tarfile.open(tmp_path / "out.tar") as tar:
        assert sorted(tar.getnames()) == ["app", "link"] and tar.extractfile("app").read() == b"artifact\n"
    p = subprocess.run([*fc.argv, "build", "-q", "-o", "-", ctx], capture_output=True, env=fc.env, timeout=120)
    assert p.returncode == 0, p.stderr
    with tarfile.open(fileobj=io.BytesIO(p.stdout)) as tar:
        assert sorted(tar.getnames()) == ["app", "link"]
    # A whiteout is an absence, not a file; a symlink in the way is replaced, not followed
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "out2").mkdir()
    os.symlink(outside, tmp_path / "out2" / "bin")
    build(fc, context(tmp_path, "FROM bb:1\nRUN rm /bin/ls\n", name="ctx2"), "-o", str(tmp_path / "out2"))
    assert os.path.isfile(tmp_path / "out2/bin/sh") and not os.path.lexists(tmp_path / "out2/bin/ls")
    assert os.listdir(outside) == []
    assert fc("images", "-q").stdout == images  # no image was made
    for bad in (["-t", "x:1", "-o", str(dest)], ["-o", "type=registry,dest=x"], ["-o", "type=tar"]):
        p = fc("build", *bad, ctx)
        assert p.returncode == 125 and "--output" in p.stderr, p.stderr
    nothing_left(fc)


def test_workdir_makes_its_directory_owned_by_the_user_even_when_nothing_uses_it(fc, tmp_path):
    # BuildKit's MkdirAll chowns every directory it makes, parents too
    # (tonistiigi/fsutil copy.MkdirAll), and commits a layer even for /tmp,
    # which is there (an empty one: docker/buildx#1910).
    ctx = context(tmp_path, "FROM bb:1\nUSER 65534\nWORKDIR /srv/app\nWORKDIR /tmp\n")
    build(fc, ctx, "-t", "wd:1")
    assert out(fc, "wd:1", "stat", "-c", "%u %a", "/srv/app", "/srv") == "65534 755\n65534 755\n"
    layers = inspect(fc, "wd:1")["RootFS"]["Layers"]
    assert len(layers) == len(inspect(fc, "bb:1")["RootFS"]["Layers"]) + 2
    # Sizes as Docker's: a layer of directories only is 0B (its files' bytes, not its tar's)
    sizes = fc("history", "--format", "{{.Size}}", "wd:1").stdout.split()
    assert sizes[:2] == ["0B", "0B"], sizes
    assert inspect(fc, "wd:1")["Size"] == inspect(fc, "bb:1")["Size"]


def test_platforms_escape_directive_stdin_dockerfile_and_run_network(fc, tmp_path):
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    ctx = context(tmp_path, f"""\
# escape=`
FROM --platform=linux/{arch} bb:1
RUN --network=none echo one `
    two > /words && cat /proc/net/dev | grep -c : > /links
COPY f /f
""", {"f": "f"})
    build(fc, ctx, "--platform", f"linux/{arch}", "-t", "plat:1")
    assert out(fc, "plat:1", "cat", "/words", "/links", "/f") == "one two\n1\nf"  # only lo in its netns
    other = "arm64" if arch != "arm64" else "amd64"
    plain = context(tmp_path, "FROM bb:1\n", name="plain")  # FROM --platform wins over build --platform
    p = build(fc, plain, "--platform", f"linux/{other}", ok=False)
    assert p.returncode == 1 and other in p.stderr
    p = fc("build", "-q", "-f", "-", ctx, input=b"FROM bb:1\nCOPY f /from-stdin\n", stdin=None)
    assert p.returncode == 0, p.stderr
    assert out(fc, p.stdout.strip(), "cat", "/from-stdin") == "f"
    p = build(fc, ctx, "--network", "bogus", ok=False)
    assert p.returncode == 125 and "--network" in p.stderr


def test_proxy_args_reach_run_without_an_arg_and_stay_out_of_the_history(fc, tmp_path):
    ctx = context(tmp_path, "FROM bb:1\nRUN echo \"proxy=$HTTP_PROXY\" > /p\n")
    build(fc, ctx, "--build-arg", "HTTP_PROXY=http://127.0.0.1:3128", "-t", "proxy:1")
    assert out(fc, "proxy:1", "cat", "/p") == "proxy=http://127.0.0.1:3128\n"
    history = fc("history", "--no-trunc", "proxy:1").stdout
    assert "3128" not in history and "HTTP_PROXY" not in inspect(fc, "proxy:1")["Config"]["Env"]


def test_a_dockerfiles_own_dockerignore_wins_over_the_contexts(fc, tmp_path):
    ctx = context(tmp_path, "FROM bb:1\n", {"app/App.Dockerfile": "FROM bb:1\nCOPY . /c/\n",
                                            "app/App.Dockerfile.dockerignore": "b.txt\n",
                                            ".dockerignore": "a.txt\n", "a.txt": "a", "b.txt": "b"})
    build(fc, ctx, "-f", os.path.join(ctx, "app", "App.Dockerfile"), "-t", "ownignore:1")
    listing = out(fc, "ownignore:1", "ls", "/c")
    assert "a.txt" in listing.split() and "b.txt" not in listing.split()


def test_a_bad_tag_is_refused_before_anything_is_built(fc, tmp_path):
    ctx = context(tmp_path, "FROM bb:1\nRUN echo never > /x\n")
    p = build(fc, ctx, "-t", "Bad:Tag", ok=False)
    assert p.returncode == 125 and "must be lowercase" in p.stderr and "RUN" not in p.stderr
