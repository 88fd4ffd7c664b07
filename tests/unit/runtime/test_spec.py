"""Config validation: every bad input is a ConfigError naming the field,
raised before anything exists.  No root needed."""
import json
import os

import pytest

from fastctr.runtime import plan as P
from fastctr.runtime.defaults import default_spec
from fastctr.errors import ConfigError
from fastctr.runtime.spec import Config, load_bundle, parse_mount_options


@pytest.fixture
def bundle(tmp_path):
    (tmp_path / "rootfs").mkdir()
    return str(tmp_path)


def config(bundle, edit):
    spec = default_spec(args=["true"], terminal=False)
    edit(spec)
    return Config(spec, bundle)


def test_default_spec_is_valid(bundle):
    c = config(bundle, lambda s: None)
    assert c.rootfs == os.path.join(bundle, "rootfs")
    assert c.new_ns & P.CLONE_NEWPID and c.new_ns & P.CLONE_NEWNS
    assert c.process.args == ["true"]


@pytest.mark.parametrize("edit, message", [
    (lambda s: s["linux"]["namespaces"].append({"type": "time2"}), "unknown or unsupported namespace type 'time2'"),
    (lambda s: s["linux"]["namespaces"].append({"type": "pid"}), "namespace pid listed twice"),
    (lambda s: s["root"].update(path="/nonexistent/rootfs"), "is not a directory"),
    (lambda s: s["root"].update(path="../../../../nonexistent"), "is not a directory"),
    (lambda s: s["process"].update(args=[]), "process.args must name the command"),
    (lambda s: s["process"].update(cwd="relative"), "process.cwd must be an absolute path"),
    (lambda s: s["process"]["user"].update(uid=-1), "process.user.uid must be an integer"),
    (lambda s: s["process"]["user"].update(gid="0"), "process.user.gid must be an integer"),
    (lambda s: s["process"].update(env=["NOEQUALS"]), "is not KEY=VALUE"),
    (lambda s: s["process"]["capabilities"]["bounding"].append("CAP_BOGUS"), "unknown capability 'CAP_BOGUS'"),
    (lambda s: s["process"]["rlimits"].append({"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}), "unknown rlimit type"),
    (lambda s: s["process"]["rlimits"].__setitem__(0, {"type": "RLIMIT_NOFILE", "soft": 2, "hard": 1}), "exceeds hard"),
    (lambda s: s["process"].update(oomScoreAdj=5000), "oomScoreAdj must be between"),
    (lambda s: s["mounts"].append({"destination": "rel/path", "type": "tmpfs"}), "must be an absolute path"),
    (lambda s: s["mounts"].append({"destination": "/x", "type": "bind", "source": "/does/not/exist"}), "does not exist"),
    (lambda s: s["mounts"].append({"destination": "/x"}), "needs a type"),
    (lambda s: s["linux"]["namespaces"].remove({"type": "uts"}), "hostname needs a private uts namespace"),
    (lambda s: s["linux"]["namespaces"].append({"type": "user"}), "needs linux.uidMappings"),
    (lambda s: s["linux"].update(uidMappings=[{"containerID": 0, "hostID": 1000, "size": 1}]), "need a new user namespace"),
    (lambda s: s["linux"].update(sysctl={"kernel.panic": "1"}), "not namespaced"),
    (lambda s: s["linux"].update(rootfsPropagation="sideways"), "unknown propagation"),
    (lambda s: s["linux"]["namespaces"].append({"type": "net", "path": "/proc/1/ns/net"}), "unknown or unsupported"),
    (lambda s: s["linux"]["namespaces"].remove({"type": "network"}) or
     s["linux"]["namespaces"].append({"type": "network", "path": "/no/such/ns"}), "does not exist"),
    (lambda s: s.update(hooks={"prestart": [{"path": "relative"}]}), "hooks.prestart[0].path must be an absolute path"),
    (lambda s: s.update(hooks={"bogus": []}), "unknown hook kind"),
    (lambda s: s.pop("ociVersion"), "ociVersion is required"),
    (lambda s: s["linux"].update(devices=[{"path": "/dev/x", "type": "q"}]), "type must be one of"),
])
def test_bad_config_is_refused(bundle, edit, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        config(bundle, edit)


def test_load_bundle_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_bundle(str(tmp_path))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_bundle(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps([1, 2]))
    with pytest.raises(ConfigError, match="JSON object"):
        load_bundle(str(tmp_path))


def test_mount_options():
    flags, prop, data = parse_mount_options(["ro", "nosuid", "rbind", "rslave", "mode=755", "size=1k"], "m")
    assert flags == P.MS_RDONLY | P.MS_NOSUID | P.MS_BIND | P.MS_REC
    assert prop == P.MS_SLAVE | P.MS_REC
    assert data == "mode=755,size=1k"
    flags, _, _ = parse_mount_options(["ro", "rw"], "m")
    assert flags == 0


def test_plan_has_devices_and_symlinks(bundle):
    plan = config(bundle, lambda s: None).plan()
    kinds = {(op.kind, op.dest) for op in plan.mounts}
    for dev in ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"):
        assert (P.OP_MKNOD, dev) in kinds
    for link in ("/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/ptmx"):
        assert (P.OP_SYMLINK, link) in kinds
    assert plan.masked_paths and "/proc/kcore" in plan.masked_paths
    assert "/proc/sys" in plan.readonly_paths


def test_capabilities_become_bitmasks(bundle):
    c = config(bundle, lambda s: None)
    bounding = c.process.caps[0]
    assert bounding == (1 << 29) | (1 << 5) | (1 << 10)  # AUDIT_WRITE, KILL, NET_BIND_SERVICE
