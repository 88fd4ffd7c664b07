"""Parsers of outside input, as fuzz targets.

Each target takes bytes and feeds them to one parser the way fastctr does
when a user or a registry hands it that input.  A target may reject its
input only with fastctr's own one-line errors (FastctrError, UsageError):
any other exception is a bug (a traceback for the user).  `seeds()` gives
valid inputs for each target, the fuzzer's starting corpus.

Used by harness.py (atheris, coverage-guided) and by test_fuzz.py, which
also replays regressions/<target>/* (inputs that once failed)."""
import io
import json
import os
import tarfile
import tempfile

from fastctr.cliargs import UsageError
from fastctr.errors import FastctrError

EXPECTED = (FastctrError, UsageError)
_work = None


def work():
    """A scratch directory and store for this process (made on first use)."""
    global _work
    if _work is None:
        # Below the test's own directory when test_fuzz runs us: libFuzzer
        # ends the process with exit() at its time limit, so no clean-up here runs.
        d = tempfile.mkdtemp(prefix="fastctr-fuzz-", dir=os.environ.get("FASTCTR_FUZZ_WORK") or "/var/tmp")
        from fastctr.image.store import Store
        from fastctr.image.drivers import Vfs
        store = Store(os.path.join(d, "data"))
        _work = {"dir": d, "store": store, "driver": Vfs(store), "n": 0}
    return _work


def cleanup():
    global _work
    if _work is not None:
        import shutil
        _work["store"].close()
        shutil.rmtree(_work["dir"], ignore_errors=True)
        _work = None


def _scratch(name):
    w = work()
    w["n"] += 1
    path = os.path.join(w["dir"], f"{name}-{w['n']}")
    return path


def _text(data):
    return data.decode("utf-8", "replace")


# ------------------------------------------------------------------ images

def _tar(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1700000000, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _sha(data):
    import hashlib
    return "sha256:" + hashlib.sha256(data).hexdigest()


LAYER = _tar([("etc/hostname", b"fuzz\n"), ("etc/motd", b"hello\n")])
_LAYER_DIFF = _sha(LAYER)


def _config(diff_ids=None):
    return json.dumps({"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
                       "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"], "WorkingDir": "/"},
                       "rootfs": {"type": "layers", "diff_ids": diff_ids or [_LAYER_DIFF]},
                       "history": [{"created_by": "fuzz"}]}).encode()


def docker_archive(manifest=None, config=None):
    config = config if config is not None else _config()
    manifest = manifest if manifest is not None else json.dumps(
        [{"Config": "config.json", "RepoTags": ["fuzz:1"], "Layers": ["layer/layer.tar"]}]).encode()
    return _tar([("layer/layer.tar", LAYER), ("config.json", config), ("manifest.json", manifest)])


def oci_archive(index=None):
    default_index, blobs = _oci_parts()
    index = index if index is not None else default_index
    return _tar([("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index)] + blobs)


def _oci_parts():
    config = _config()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": _sha(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                       "digest": _sha(LAYER), "size": len(LAYER)}]}).encode()
    index = json.dumps(
        {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                            "digest": _sha(manifest), "size": len(manifest),
                                            "annotations": {"org.opencontainers.image.ref.name": "fuzz:2"}}]}
    ).encode()
    return index, [(f"blobs/sha256/{_sha(b)[7:]}", b) for b in (config, manifest, LAYER)]


def _load(archive_bytes):
    from fastctr.image import loading as images
    w = work()
    path = _scratch("archive") + ".tar"
    with open(path, "wb") as f:
        f.write(archive_bytes)
    try:
        for image_id, _ in images.load(w["store"], w["driver"], path):
            _forget(image_id)
    finally:
        os.unlink(path)


def _forget(image_id):
    """Remove a loaded image again, so every input starts from an empty store."""
    from fastctr.image import loading as images
    w = work()
    w["store"].delete_image_row(image_id)
    images.prune_unreferenced(w["store"])


def target_archive(data):
    _load(data)


def target_docker_manifest(data):
    _load(docker_archive(manifest=data))


def target_image_config(data):
    _load(docker_archive(config=data))


def target_oci_index(data):
    _load(oci_archive(index=data))


# ---------------------------------------------------------- runtime inputs

def target_bundle_config(data):
    from fastctr.runtime import cgroups, spec
    bundle = _scratch("bundle")
    os.makedirs(os.path.join(bundle, "rootfs"))
    with open(os.path.join(bundle, "config.json"), "wb") as f:
        f.write(data)
    config = spec.load_bundle(bundle)
    cgroups.validate_resources(config.resources)
    if config.process is not None:
        config.plan()


def target_state_file(data):
    from fastctr.runtime.state import StateStore
    root = _scratch("state")
    os.makedirs(os.path.join(root, "c1"))
    with open(os.path.join(root, "c1", "state.json"), "wb") as f:
        f.write(data)
    StateStore(root).load("c1")


def target_seccomp_profile(data):
    from fastctr.runtime import seccomp
    path = _scratch("profile")
    with open(path, "wb") as f:
        f.write(data)
    profile = seccomp.load_profile(path)
    seccomp.to_oci(profile, ["CAP_SYS_ADMIN"])


def target_jsonfast(data):
    """The start path's JSON: rejects with ValueError only, and agrees with
    the json package on what it accepts."""
    from fastctr import jsonfast
    try:
        got = jsonfast.loads(data)
    except ValueError:
        try:  # (json.loads guesses UTF-16/32 from the bytes; fastctr reads UTF-8 only, as RFC 8259 says)
            json.loads(data.decode("utf-8"))
        except ValueError:
            return
        raise AssertionError("jsonfast rejected what json accepts")
    assert json.dumps(got, sort_keys=True) == json.dumps(json.loads(data), sort_keys=True)
    assert jsonfast.dumps(got, indent=2) == json.dumps(got, indent=2)  # runc state's output


# ------------------------------------------------------ flags and registry

def target_publish(data):
    from fastctr.net import ports
    ports.parse_publish(_text(data))


def target_template(data):
    from fastctr.cli import template
    doc = {"Id": "abc", "State": {"Status": "running", "Pid": 7, "OOMKilled": False},
           "Config": {"Cmd": ["sh", "-c", "x"], "Labels": {"a": "b"}}, "Names": ["/x"]}
    template.render(_text(data), doc)
    template.table(_text(data), [doc, doc])


def target_env_file(data):
    from fastctr.engine import RunOptions, parse_env
    path = _scratch("env")
    with open(path, "wb") as f:
        f.write(data)
    parse_env(RunOptions(env_files=[path]))


def target_reference(data):
    from fastctr.image.registry import Reference
    Reference.parse(_text(data))


def target_registry_manifest(data):
    """A manifest or index body as a registry sends it, through the checks
    a pull makes before any digest names a file."""
    from fastctr.image import registry
    ref = registry.Reference.parse("127.0.0.1:5000/fuzz/image:latest")
    manifest, media_type = registry.parse_manifest(data, "", "manifest of fuzz")
    if media_type in registry.INDEX_TYPES:
        entry = registry._pick_platform(manifest, registry._wanted_platform(None), ref)
        registry._check_descriptor(entry, "index of fuzz")
        return
    registry._check_descriptor(manifest.get("config"), "config of fuzz")
    for desc in registry._layer_list(manifest, ref):
        registry._check_descriptor(desc, "layer of fuzz")


def target_auth_challenge(data):
    from fastctr.image import registry
    registry._parse_challenge(_text(data))
    registry._registry_message(data)


TARGETS = {name[len("target_"):]: fn for name, fn in globals().items() if name.startswith("target_")}
NEEDS_ROOT = {"archive", "docker_manifest", "image_config", "oci_index"}  # layers keep their owners


def seeds(name):
    """Valid inputs of a target (the fuzzer mutates these)."""
    bundle = {"ociVersion": "1.0.2", "root": {"path": "rootfs"},
              "process": {"args": ["/bin/sh"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}},
              "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
              "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}],
                        "resources": {"memory": {"limit": 1 << 26}, "pids": {"limit": 10}},
                        "maskedPaths": ["/proc/kcore"]}}
    state = {"ociVersion": "1.0.2", "id": "c1", "status": "created", "pid": 1, "bundle": "/b", "start_time": 1}
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
               "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"digest": "sha256:" + "a" * 64, "size": 10, "mediaType":
                            "application/vnd.oci.image.manifest.v1+json",
                            "platform": {"architecture": "amd64", "os": "linux"}}]}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"digest": "sha256:" + "b" * 64, "size": 5},
                "layers": [{"digest": "sha256:" + "c" * 64, "size": 7}]}
    return {
        "archive": [docker_archive(), oci_archive()],
        "docker_manifest": [json.dumps([{"Config": "config.json", "RepoTags": ["fuzz:1"],
                                         "Layers": ["layer/layer.tar"]}]).encode()],
        "image_config": [_config()],
        "oci_index": [_oci_parts()[0]],
        "bundle_config": [json.dumps(bundle).encode()],
        "state_file": [json.dumps(state).encode()],
        "seccomp_profile": [json.dumps(profile).encode()],
        "jsonfast": [b'{"a": [1, 2.5, "x", null, true], "b": {"c": "\\u00e9"}}', b"[]", b'"s"'],
        "publish": [b"8080:80", b"127.0.0.1:8000-8002:80-82/udp", b"80"],
        "template": [b"{{.State.Status}} {{json .Config.Cmd}} {{index .Config.Labels \"a\"}}",
                     b"table {{.Id}}\t{{upper .Id}}", b"{{printf \"%q\" .Id}} {{'x'}} {{\"\\x41\\101\"}}"],
        "env_file": [b"# comment\nA=1\nB\n\nC=x=y\n"],
        "reference": [b"busybox", b"127.0.0.1:5000/a/b:tag", b"docker.io/library/debian@sha256:" + b"d" * 64],
        "registry_manifest": [json.dumps(index).encode(), json.dumps(manifest).encode()],
        "auth_challenge": [b'Bearer realm="http://127.0.0.1/token",service="r",scope="repository:a:pull"',
                           b'{"errors": [{"code": "DENIED", "message": "no"}]}'],
    }[name]


def run(name, data):
    """One input through one target; True if it was accepted or cleanly
    rejected.  Anything else propagates."""
    try:
        TARGETS[name](data)
    except EXPECTED:
        pass
    return True
