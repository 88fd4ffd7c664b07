"""Benchmark fixtures: one busybox bundle for every runtime, state and
cgroups kept below this process's own cgroup and removed afterwards."""
import itertools
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from fastctr.runtime.bundle import make_bundle
from fastctr.runtime.cgroups import CgroupV1, own_cgroups

_counter = itertools.count()

# Docker's default network is a bridge made on first use.  Outside a network
# namespace of their own, tests and benchmarks must not make one in the
# machine's namespace: they run with dockerd's `--bridge=none` equivalent,
# and the network tests ask for bridges inside `unshare --net` explicitly.
os.environ["FASTCTR_DEFAULT_NETWORK"] = "none"


def unique(prefix):
    return f"{prefix}-{os.getpid()}-{next(_counter)}"


def cgroup_prefix():
    """A cgroupsPath prefix below our own cgroup for runtimes (runc, crun)
    that take one path for every hierarchy: our memory (v1) or unified (v2)
    cgroup, the one that is not the root on a delegated machine."""
    own = own_cgroups()
    return (own.get("memory") or own.get("") or "/").rstrip("/")


@pytest.fixture(scope="session")
def workdir():
    d = tempfile.mkdtemp(prefix="fastctr-bench-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)
    _remove_empty_cgroup_parents()


def _remove_empty_cgroup_parents():
    prefix = cgroup_prefix()
    if prefix in ("", "/"):
        return
    for mnt in CgroupV1.hierarchies_of_host().values():
        path = os.path.join(mnt, prefix.lstrip("/"))
        parts = prefix.strip("/").split("/")
        own = own_cgroups()
        while parts:
            p = os.path.join(mnt, *parts)
            if any(os.path.join(mnt, v.lstrip("/")) == p for v in own.values()):
                break  # never remove our own cgroup
            try:
                os.rmdir(p)
            except OSError:
                break
            parts.pop()


@pytest.fixture(scope="session")
def true_bundle(workdir):
    """/bin/true with all of runc's default namespaces plus cgroup."""
    path = os.path.join(workdir, "bundle")
    spec = make_bundle(path, args=["/bin/true"])
    spec["linux"]["cgroupsPath"] = cgroup_prefix() + "/fastctr-bench-ref"
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(spec, f)
    return path


def have(tool):
    return shutil.which(tool) is not None


def needs_hidden_unified():
    """crun 1.8 refuses a hybrid hierarchy unless /sys/fs/cgroup/unified is
    hidden in a private mount namespace."""
    return os.path.exists("/sys/fs/cgroup/unified/cgroup.procs")
