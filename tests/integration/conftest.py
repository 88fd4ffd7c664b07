"""Fixtures for tests that run real containers as root.

Every container cgroup nests below this process's own cgroup (the `self`
cgroup parent) and every test checks that it left no cgroup, mount or
state directory behind."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from fastctr.runtime.bundle import make_bundle, make_rootfs
from fastctr.runtime.cgroups import CgroupV1, own_cgroups
from fastctr.runtime.lifecycle import Runtime


def _cgroup_dirs():
    """Every fastctr-made cgroup directory below our own cgroups.  Where our
    own cgroup is a hierarchy's root (on a shared host v1's cpu, pids... and
    the unified tree), what is below it belongs to every session: there a
    directory counts only if one of the same name is below a hierarchy where
    we have a cgroup of our own (memory, say), so that other test runs'
    containers are neither taken for our leaks nor killed."""
    own = own_cgroups()
    isolated, shared = set(), []
    unified = "/sys/fs/cgroup/unified" if os.path.exists("/sys/fs/cgroup/unified/cgroup.procs") else "/sys/fs/cgroup"
    trees = [(mnt, own.get(name.split(",")[0], "/")) for name, mnt in CgroupV1.hierarchies_of_host().items()]
    trees.append((unified, own.get("", "/")))
    for mnt, rel in trees:
        for dirpath, dirnames, _ in os.walk(os.path.join(mnt, rel.lstrip("/"))):
            for d in dirnames:
                if "fastctr" in d or "fctr-test" in d:
                    if rel.strip("/"):
                        isolated.add((d, os.path.join(dirpath, d)))
                    else:
                        shared.append((d, os.path.join(dirpath, d)))
    if not any(rel.strip("/") for _, rel in trees):  # no cgroup of our own anywhere: all is ours to judge
        return {path for _, path in shared}
    names = {d for d, _ in isolated}
    return {path for _, path in isolated} | {path for d, path in shared if d in names}


def _mounts():
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


@pytest.fixture(scope="session")
def rootfs():
    # Not below pytest's 0700 temp root: a user-namespaced container's root
    # maps to an unprivileged host uid that must be able to reach it.
    d = tempfile.mkdtemp(prefix="fastctr-test-rootfs-", dir="/tmp")
    os.chmod(d, 0o755)
    yield make_rootfs(os.path.join(d, "rootfs"))
    shutil.rmtree(d)


@pytest.fixture
def state_root(tmp_path):
    d = tmp_path / "state"
    return str(d)


@pytest.fixture
def rt(state_root):
    return Runtime(root=state_root, cgroup_parent="self")


SERVED = bool(os.environ.get("FASTCTR_SOCKET"))  # the server pass: `fastctr` commands go through fastctr serve


def killed_by_sigkill(p):
    """A `fastctr` command killed with SIGKILL (FASTCTR_CRASH_AT): the process
    itself cold; through a server, its worker, of which the client says so
    and exits 125."""
    if SERVED:
        return p.returncode == 125 and "killed by signal 9" in p.stderr
    return p.returncode == -9


@pytest.fixture(scope="session", autouse=True)
def server_pass_uses_its_server():
    """In the server pass (tests/server_pass.sh) every `fastctr` command goes
    through one `fastctr serve`: it must listen when the tests begin and still
    be there when they end."""
    path = os.environ.get("FASTCTR_SOCKET")
    if not path:
        yield
        return
    import socket

    def listening():
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(path)
                return True
            except OSError:
                return False
    assert listening(), f"no fastctr server listens on {path}"
    yield
    assert listening(), f"the fastctr server on {path} went away during the tests"


@pytest.fixture(scope="session", autouse=True)
def machine_network_untouched():
    """No test may change the machine's own network namespace: networking
    tests run fastctr inside namespaces they make themselves."""
    def snapshot():
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout \
            if shutil.which("nft") else ""
        return sorted(os.listdir("/sys/class/net")), tables
    before = snapshot()
    yield
    assert snapshot() == before, "the machine's own network namespace was changed"


@pytest.fixture(autouse=True)
def no_leaks(state_root):
    links_before = sorted(os.listdir("/sys/class/net"))
    cg_before, mounts_before = _cgroup_dirs(), _mounts()
    yield
    assert sorted(os.listdir("/sys/class/net")) == links_before, "a link appeared in the machine's namespace"
    leaked_cg = _cgroup_dirs() - cg_before
    leaked_mounts = _mounts() - mounts_before
    # .seccomp: compiled filters, a cache that is meant to outlive containers
    left = sorted(set(os.listdir(state_root)) - {".seccomp"}) if os.path.isdir(state_root) else []
    for d in sorted(leaked_cg, reverse=True):
        try:  # a failed test may leave its container running: end it by pid
            for pid in open(os.path.join(d, "cgroup.procs")).read().split():
                os.kill(int(pid), 9)
            time.sleep(0.1)
            os.rmdir(d)
        except OSError:
            pass
    assert not leaked_cg, f"leaked cgroups: {leaked_cg}"
    assert not leaked_mounts, f"leaked mounts: {leaked_mounts}"
    assert not left, f"leaked state: {left}"


class Bundles:
    """Factory of bundles sharing one busybox rootfs."""

    def __init__(self, tmp_path, rootfs):
        self.tmp = tmp_path
        self.rootfs = rootfs
        self.n = 0
        os.chmod(tmp_path, 0o755)

    def __call__(self, args, edit=None, **changes):
        self.n += 1
        path = str(self.tmp / f"bundle{self.n}")
        spec = make_bundle(path, args=args, rootfs=self.rootfs, **changes)
        if edit:
            edit(spec)
            with open(os.path.join(path, "config.json"), "w") as f:
                json.dump(spec, f)
        return path


@pytest.fixture
def bundle(tmp_path, rootfs):
    return Bundles(tmp_path, rootfs)


@pytest.fixture
def run_capture(rt, bundle, tmp_path):
    """Run args in a fresh container; return (exit status, combined output)."""
    counter = [0]

    def run(args, edit=None, **changes):
        counter[0] += 1
        b = bundle(args, edit=edit, **changes)
        out = tmp_path / f"out{counter[0]}"
        with open(out, "w+b") as f:
            status = rt.run(f"fctr-test-{os.getpid()}-{counter[0]}", b, stdio=(-1, f.fileno(), f.fileno()))
            f.seek(0)
            return status, f.read().decode()
    return run


# The installed launcher (csrc/launcher.c) next to this interpreter.
_LAUNCHER = os.path.join(os.path.dirname(sys.executable), "fastctr-runc")
RUNC_CLI = [_LAUNCHER] if os.path.exists(_LAUNCHER) else [sys.executable, "-m", "fastctr.runtime.runc_cli"]


@pytest.fixture
def cli(state_root):
    """Run fastctr-runc with our state root and cgroup parent."""
    def run(*args, check=True, **kw):
        cmd = RUNC_CLI + ["--root", state_root, "--cgroup-parent", "self", *args]
        kw.setdefault("cwd", "/")  # not the source tree: import the installed package
        # Files, not pipes: `create` hands its stdio to the container, and a
        # pipe would stay open as long as the container runs.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=60, **kw)
            out.seek(0)
            err.seek(0)
            p.stdout, p.stderr = out.read().decode(), err.read().decode()
        if check and p.returncode != 0:
            raise AssertionError(f"{args} failed ({p.returncode}): {p.stderr}")
        return p
    return run


@pytest.fixture(scope="module")
def fcli():
    """`fastctr` with its own data and state roots, bb:1 (busybox) loaded and
    container cgroups below ours; at the end no container may be left."""
    import imagetools as it
    data = tempfile.mkdtemp(prefix="fastctr-test-data-", dir="/var/tmp")
    os.chmod(data, 0o755)
    state = tempfile.mkdtemp(prefix="fastctr-test-state-")
    it.write_oci_layout(os.path.join(data, "layout"), [it.busybox_layer()], ref_name="bb:1")
    cli = os.path.join(os.path.dirname(sys.executable), "fastctr")

    def run(*args, timeout=120, env=None, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        # Files, not pipes: a detached container's monitor must not hold our pipe.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.run([cli, "--data-root", data, "--state-root", state, *args], stdout=out, stderr=err,
                               cwd="/", timeout=timeout, env=env or run.env, **kw)
            out.seek(0)
            err.seek(0)
            p.stdout, p.stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        return p
    run.argv = [cli, "--data-root", data, "--state-root", state]
    run.env = dict(os.environ, FASTCTR_CGROUP_PARENT="self")
    run("load", "-i", os.path.join(data, "layout"))
    yield run
    left = run("ps", "-a", "-q").stdout.split()
    if left:
        run("rm", "-f", *left)
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(state, ignore_errors=True)
    assert not left, f"containers left behind: {left}"


@pytest.fixture
def world(tmp_path):
    """A data directory with busybox as bb:1, for tests that run the CLI
    themselves inside their own network namespace (tests/integration/net).
    Here, not in a conftest of that directory: a second conftest module
    would shadow this one for `from conftest import RUNC_CLI`."""
    import imagetools as it
    d = tempfile.mkdtemp(prefix="fastctr-test-net-", dir="/var/tmp")
    os.chmod(d, 0o755)
    it.write_oci_layout(os.path.join(d, "layout"), [it.busybox_layer()], ref_name="bb:1")
    yield d
    shutil.rmtree(d, ignore_errors=True)
