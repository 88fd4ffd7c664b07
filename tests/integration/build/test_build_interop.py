"""What `fastctr build` makes is usable by other tools (issue 17).

One Dockerfile (a RUN that makes files and deletes two of the base's, a COPY
of a context directory with a subdirectory, and the config instructions) is
built by fastctr, then:

- `fastctr save`d in both archive formats, copied by skopeo into an OCI
  layout and unpacked by umoci: the same tree as fastctr's own container
  shows, and `runc run` of umoci's bundle prints what `fastctr run` prints;
- built again by `buildah bud --layers` from the same base: the same tree,
  config and layer count;
- `fastctr push`ed to docker-registry on 127.0.0.1 and read back by skopeo:
  the same config (so the same history) and layers.

runc runs with a temp --root and its cgroup below ours (a relative
cgroupsPath is relative to runc's own cgroup in each hierarchy), buildah in a
private storage with chroot isolation (othertools.private_buildah)."""
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import types

import pytest

from othertools import (LIST, assert_same_tree, buildah_can_run, container_listing, host_listing, private_buildah,
                        registry)  # noqa: F401 (registry: a fixture)

DOCKERFILE = """\
FROM bb:1
LABEL org.example.built-by=test
ENV GREETING=hello WHO="the builders"
WORKDIR /app
COPY tree/ ./tree/
RUN mkdir -p made/sub && echo "$GREETING" > made/sub/run.txt && busybox chmod 0640 made/sub/run.txt \\
 && busybox ln -s sub/run.txt made/link && busybox rm /bin/grep /etc/group
EXPOSE 8080/tcp
STOPSIGNAL SIGTERM
CMD ["sh", "-c", "echo \\"$GREETING, $WHO, from $(pwd)\\"; cat made/link tree/a.txt tree/sub/b.txt"]
"""
CONTEXT = {"tree/a.txt": ("a\n", 0o644), "tree/sub/b.txt": ("b in sub\n", 0o600),
           "tree/sub/run.sh": ("#!/bin/sh\necho run\n", 0o755)}
OUTPUT = "hello, the builders, from /app\nhello\na\nb in sub\n"
# The files the build made or copied, whose contents are compared too.
MADE = ["/app/made/sub/run.txt", "/app/tree/a.txt", "/app/tree/sub/b.txt", "/app/tree/sub/run.sh"]
DELETED = ["/bin/grep", "/etc/group"]
CONFIG_FIELDS = ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Labels", "Volumes", "StopSignal"]


def need(*tools):
    packages = {"skopeo": "skopeo", "umoci": "umoci", "runc": "runc", "buildah": "buildah",
                "docker-registry": "docker-registry"}
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install {' '.join(packages[t] for t in missing)})")


def sh(*cmd, timeout=120):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"{' '.join(cmd)}: {p.stderr}"
    return p.stdout


def write_context(root):
    os.makedirs(root)
    with open(os.path.join(root, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE)
    for rel, (text, mode) in CONTEXT.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
    for d in ("tree", "tree/sub"):
        os.chmod(os.path.join(root, d), 0o755)


def ok(p):
    assert p.returncode == 0, p.stderr
    return p.stdout


def umoci_unpack(source, layout, bundle):
    """skopeo copy `source` (transport:path...) to an OCI layout, umoci unpack it (as root): the bundle."""
    sh("skopeo", "--insecure-policy", "copy", "-q", source, f"oci:{layout}:img")
    sh("umoci", "unpack", "--image", f"{layout}:img", bundle)
    return bundle


def layout_image(layout, tag="img"):
    """(manifest, config) of the image tagged `tag` in an OCI layout."""
    def blob(digest):
        with open(os.path.join(layout, "blobs", "sha256", digest.removeprefix("sha256:")), "rb") as f:
            return f.read()
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    [desc] = [m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]
    manifest = json.loads(blob(desc["digest"]))
    return manifest, json.loads(blob(manifest["config"]["digest"])), blob


def file_digests(root, paths):
    out = {}
    for p in paths:
        with open(os.path.join(root, p.lstrip("/")), "rb") as f:
            out[p] = hashlib.sha256(f.read()).hexdigest()
    return out


@pytest.fixture(scope="module")
def built(fcli, tmp_path_factory):
    """interop:1 built by fastctr, saved in both formats, with what its own container shows."""
    need("skopeo", "umoci")
    tmp = tmp_path_factory.mktemp("interop")
    os.chmod(tmp, 0o755)
    ctx = str(tmp / "ctx")
    write_context(ctx)
    ok(fcli("build", "--progress", "plain", "-t", "interop:1", ctx, timeout=300))
    got = types.SimpleNamespace(tmp=tmp, ctx=ctx, archives={})
    for fmt in ("docker-archive", "oci-archive"):
        got.archives[fmt] = str(tmp / f"{fmt}.tar")
        ok(fcli("save", "--format", fmt, "-o", got.archives[fmt], "interop:1"))
    got.listing = container_listing(ok(fcli("run", "--rm", "interop:1", "sh", "-c", LIST)))
    sums = ok(fcli("run", "--rm", "interop:1", "busybox", "sha256sum", *MADE))
    got.digests = {path: digest for digest, path in (line.split() for line in sums.splitlines())}
    got.output = ok(fcli("run", "--rm", "interop:1"))
    got.inspect = json.loads(ok(fcli("image", "inspect", "interop:1")))[0]
    return got


def test_fastctr_runs_what_the_dockerfile_says(built):
    entries, links = built.listing
    assert built.output == OUTPUT
    assert not set(DELETED) & set(entries)
    assert entries["/app/made/sub/run.txt"][0] & 0o7777 == 0o640 and links["/app/made/link"] == "sub/run.txt"
    assert entries["/app/tree/sub/b.txt"][0] & 0o7777 == 0o600 and entries["/app/tree/sub"][0] & 0o7777 == 0o755


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_umoci_unpacks_the_saved_image_to_the_containers_tree(built, fmt, tmp_path):
    source = f"{fmt}:{built.archives[fmt]}"
    bundle = umoci_unpack(source, str(tmp_path / "layout"), str(tmp_path / "bundle"))
    rootfs = os.path.join(bundle, "rootfs")
    assert_same_tree(*built.listing, rootfs)
    assert file_digests(rootfs, MADE) == built.digests
    assert not any(os.path.lexists(os.path.join(rootfs, p.lstrip("/"))) for p in DELETED)
    # No whiteout survived as a file.
    assert not [p for p in host_listing(rootfs)[0] if os.path.basename(p).startswith(".wh.")]


def _runc_cgroups(name):
    """runc's cgroup directories called `name`, in any hierarchy."""
    found = []
    for dirpath, dirnames, _ in os.walk("/sys/fs/cgroup"):
        found += [os.path.join(dirpath, d) for d in dirnames if d == name]
    return found


def test_runc_runs_the_umoci_bundle_as_fastctr_runs_the_image(built, tmp_path):
    need("runc")
    bundle = umoci_unpack(f"docker-archive:{built.archives['docker-archive']}", str(tmp_path / "layout"),
                          str(tmp_path / "bundle"))
    with open(os.path.join(bundle, "config.json")) as f:
        spec = json.load(f)
    name = f"fctr-test-runc-{os.getpid()}"
    # Relative: below runc's own cgroup in every hierarchy, as fastctr's `self` parent.
    spec["linux"]["cgroupsPath"] = name
    spec["process"]["terminal"] = False
    assert {"type": "network"} in spec["linux"]["namespaces"]  # a new, empty network namespace
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(spec, f)
    root = str(tmp_path / "runc-root")
    try:
        p = subprocess.run(["runc", "--root", root, "run", "--bundle", bundle, name], capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert (p.returncode, p.stdout) == (0, built.output), p.stderr
    finally:
        subprocess.run(["runc", "--root", root, "delete", "--force", name], capture_output=True)
    assert _runc_cgroups(name) == []
    assert not os.path.exists(root) or os.listdir(root) == []


# ---------------------------------------------------------------- buildah builds the same Dockerfile

@pytest.fixture(scope="module")
def buildah_built(built, fcli):
    """The Dockerfile built by `buildah bud --layers` on bb:1 (from `fastctr save`), pushed to an OCI layout."""
    before = sorted(os.listdir("/var/lib/containers")) if os.path.isdir("/var/lib/containers") else None
    with private_buildah() as (buildah, tmp):
        base = os.path.join(tmp, "bb.tar")
        ok(fcli("save", "-o", base, "bb:1"))
        p = buildah("pull", f"docker-archive:{base}")
        assert p.returncode == 0, f"buildah pull: {p.stderr}"
        base_id = p.stdout.split()[-1]
        assert buildah("tag", base_id, "bb:1").returncode == 0
        buildah_can_run(buildah, "bb:1")
        # Chroot isolation takes no --network but the namespace buildah runs in:
        # an empty one of our own is `--network none`.
        p = buildah("bud", "--isolation", "chroot", "--pull=never", "--layers", "-q", "-t", "localhost/interop:1",
                    built.ctx, timeout=300, wrap=("unshare", "--net"))
        assert p.returncode == 0, f"buildah bud: {p.stderr}"
        layout = os.path.join(tmp, "oci")
        p = buildah("push", "-q", "localhost/interop:1", f"oci:{layout}:img")
        assert p.returncode == 0, f"buildah push: {p.stderr}"
        manifest, config, _ = layout_image(layout)
        bundle = os.path.join(tmp, "bundle")
        sh("umoci", "unpack", "--image", f"{layout}:img", bundle)
        yield types.SimpleNamespace(manifest=manifest, config=config, rootfs=os.path.join(bundle, "rootfs"))
    after = sorted(os.listdir("/var/lib/containers")) if os.path.isdir("/var/lib/containers") else None
    assert after == before, "buildah wrote to /var/lib/containers"


@pytest.fixture(scope="module")
def fastctr_unpacked(built, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fastctr-unpacked")
    source = f"oci-archive:{built.archives['oci-archive']}"
    sh("skopeo", "--insecure-policy", "copy", "-q", source, f"oci:{tmp / 'layout'}:img")
    manifest, config, _ = layout_image(str(tmp / "layout"))
    sh("umoci", "unpack", "--image", f"{tmp / 'layout'}:img", str(tmp / "bundle"))
    return types.SimpleNamespace(manifest=manifest, config=config, rootfs=str(tmp / "bundle" / "rootfs"))


# What buildah 1.28's chroot-isolated RUN leaves in its layer: the stubs of
# the mounts it made (containers/buildah#4242, open).  BuildKit removes its
# stubs after each RUN (executor/stubs.go, MountStubsCleaner), as fastctr does.
BUILDAH_STUBS = {"/dev", "/proc", "/sys", "/run", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf"}


def test_buildah_makes_the_same_tree(buildah_built, fastctr_unpacked):
    want, want_links = host_listing(fastctr_unpacked.rootfs)
    got, got_links = host_listing(buildah_built.rootfs)
    stubs = {p for p in BUILDAH_STUBS if p in got and p not in want and got[p][3] == 0}
    differ = {p: (want.get(p), got.get(p)) for p in (set(want) | set(got)) - stubs if want.get(p) != got.get(p)}
    assert not differ, f"fastctr, buildah: {differ}"
    assert got_links == want_links
    assert file_digests(buildah_built.rootfs, MADE) == file_digests(fastctr_unpacked.rootfs, MADE)


def test_buildah_makes_the_same_config(buildah_built, fastctr_unpacked):
    mine, theirs = fastctr_unpacked.config["config"], dict(buildah_built.config["config"])
    # buildah marks its images with its version; Docker and BuildKit add no label.
    theirs["Labels"] = {k: v for k, v in theirs.get("Labels", {}).items() if k != "io.buildah.version"}
    assert {f: mine.get(f) for f in CONFIG_FIELDS} == {f: theirs.get(f) for f in CONFIG_FIELDS}


def test_buildah_makes_a_layer_per_step_but_workdir(buildah_built, fastctr_unpacked):
    """COPY and RUN: a layer each in both.  WORKDIR /app: a layer in fastctr
    as in BuildKit (dispatchWorkdir's Mkdir FileOp, committed withLayer),
    none in buildah, whose COPY layer makes /app instead."""
    theirs, mine = buildah_built, fastctr_unpacked
    assert len(theirs.config["rootfs"]["diff_ids"]) == len(theirs.manifest["layers"])
    assert len(mine.config["rootfs"]["diff_ids"]) == len(mine.manifest["layers"])
    assert len(mine.manifest["layers"]) == len(theirs.manifest["layers"]) + 1
    workdir = [h for h in mine.config["history"] if h["created_by"] == "WORKDIR /app"]
    assert [bool(h.get("empty_layer")) for h in workdir] == [False]


# ---------------------------------------------------------------- through a registry

def test_pushed_image_reads_back_through_skopeo_with_the_same_config_and_layers(built, fcli, registry, tmp_path):
    ref = f"127.0.0.1:{registry}/interop/built:1"
    ok(fcli("tag", "interop:1", ref))
    pushed = ok(fcli("push", ref))
    digest = pushed.split("digest: ")[1].split()[0]
    layout = str(tmp_path / "pulled")
    sh("skopeo", "--insecure-policy", "copy", "-q", "--src-tls-verify=false", f"docker://{ref}", f"oci:{layout}:img")
    manifest, config, blob = layout_image(layout)
    # The registry holds fastctr's config byte for byte: its digest is the image ID.
    raw_config = sh("skopeo", "inspect", "--tls-verify=false", "--config", "--raw", f"docker://{ref}")
    assert "sha256:" + hashlib.sha256(raw_config.encode()).hexdigest() == built.inspect["Id"]
    # skopeo's docker-to-OCI conversion writes the config again (Go's field
    # order): the same JSON, times included (BuildKit's RFC3339Nano form).
    assert config == json.loads(raw_config)
    assert config["rootfs"]["diff_ids"] == built.inspect["RootFS"]["Layers"]
    steps = [(h["created_by"], bool(h.get("empty_layer"))) for h in config["history"]
             if h.get("comment") == "buildkit.dockerfile.v0"]
    assert steps == [
        ("LABEL org.example.built-by=test", True),
        ('ENV GREETING=hello WHO=the builders', True),
        ("WORKDIR /app", False),
        ("COPY tree/ ./tree/ # buildkit", False),
        (steps[4][0], False),
        ("EXPOSE map[8080/tcp:{}]", True),
        ("STOPSIGNAL SIGTERM", True),
        ('CMD ["sh" "-c" "echo \\"$GREETING, $WHO, from $(pwd)\\"; cat made/link tree/a.txt tree/sub/b.txt"]', True),
    ]
    assert steps[4][0].startswith('RUN /bin/sh -c mkdir -p made/sub && echo "$GREETING"')
    # One layer per non-empty history entry, each blob the layer its diff_id names.
    assert len(manifest["layers"]) == sum(not h.get("empty_layer") for h in config["history"])
    for desc, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"]):
        data = blob(desc["digest"])
        raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == diff_id
        assert f"{diff_id[7:19]}: Pushed" in pushed  # Docker's lines: diff IDs
    # The registry names the manifest by the digest fastctr printed, and
    # skopeo copied its layer blobs as they are.
    raw_manifest = sh("skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{ref}")
    assert "sha256:" + hashlib.sha256(raw_manifest.encode()).hexdigest() == digest
    assert [d["digest"] for d in json.loads(raw_manifest)["layers"]] == [d["digest"] for d in manifest["layers"]]
    ok(fcli("rmi", ref))
