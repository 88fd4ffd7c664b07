"""What the OCI runtimes share: the image unpacked once as a root
filesystem, one bundle per (runtime, spawner) whose config.json is
make_bundle's (every namespace, net and cgroup included) with a cgroup below
the bench's own, and the removal of the cgroups they leave."""
import json
import os
import time

from fastctr.runtime.bundle import make_bundle
from fastctr.runtime.cgroups import CgroupV1, own_cgroups
from fastctr.runtime.defaults import default_spec

# The limits every runtime's container gets (the API's RunOptions too), so
# each one writes a cgroup with limits as a CI job's container has.
PIDS_LIMIT = 1024
MEMORY_LIMIT = 256 * 1024 * 1024


def unpack_image(store, image, rootfs):
    """The image's layers applied in order into rootfs (whiteouts delete)."""
    from fastctr.image.layers import apply_layer
    os.makedirs(rootfs, mode=0o755)
    for digest in image["layer_blobs"]:
        blob = store.blob_path(digest)
        if not os.path.exists(blob):
            raise FileNotFoundError(f"layer blob {digest} is not in the store")
        apply_layer(blob, rootfs, mode="apply")
    # The spec's mount points made now: runtimes that make them on the way
    # (crun) race each other at --concurrency on the one shared root.
    for m in default_spec(args=["true"])["mounts"]:
        os.makedirs(os.path.join(rootfs, m["destination"].lstrip("/")), mode=0o755, exist_ok=True)
    return rootfs


def cgroup_prefix():
    """A cgroupsPath prefix below our own cgroup for runtimes that take one
    path for every hierarchy: our memory (v1) or unified (v2) cgroup."""
    own = own_cgroups()
    return (own.get("memory") or own.get("") or "/").rstrip("/")


def write_bundle(path, rootfs, args, env, cgroups_path):
    def edit(spec):
        spec["process"]["args"] = list(args)
        if env:
            spec["process"]["env"] = list(env)
        spec["linux"]["cgroupsPath"] = cgroups_path
        res = spec["linux"].setdefault("resources", {})
        res["pids"] = {"limit": PIDS_LIMIT}
        res["memory"] = {"limit": MEMORY_LIMIT}
    spec = make_bundle(path, args=args, rootfs=rootfs)
    edit(spec)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(spec, f)
    return path


def cgroup_roots():
    """Every cgroup tree of the host: v1 hierarchies and the unified one."""
    roots = list(CgroupV1.hierarchies_of_host().values())
    for unified in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        if os.path.exists(os.path.join(unified, "cgroup.procs")):
            if unified not in roots:
                roots.append(unified)
            break
    return roots


def own_cgroup_dirs():
    """Our own cgroup's directory in each tree (each hierarchy its own path)."""
    own = own_cgroups()
    dirs = {os.path.join(mnt, own.get(names.split(",")[0], "/").lstrip("/")).rstrip("/")
            for names, mnt in CgroupV1.hierarchies_of_host().items()}
    for unified in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        if os.path.exists(os.path.join(unified, "cgroup.procs")):
            dirs.add(os.path.join(unified, own.get("", "/").lstrip("/")).rstrip("/"))
            break
    return dirs


class CgroupSweep:
    """Removes, at the end, the cgroups the runtimes made for `relpaths`
    (below our own cgroup, the parents a v1 runtime made too), but none
    that existed before and never our own."""

    def __init__(self):
        self.before = set()
        self.leaves = []
        self.own = own_cgroup_dirs()

    def expect(self, relpath):
        """A cgroup a runtime will make at relpath (from each tree's root)."""
        self.leaves.append(relpath.strip("/"))
        for root in cgroup_roots():
            parts = relpath.strip("/").split("/")
            for i in range(1, len(parts) + 1):
                p = os.path.join(root, *parts[:i])
                if os.path.isdir(p):
                    self.before.add(p)

    def remove(self):
        left = []
        for root in cgroup_roots():
            for rel in self.leaves:
                parts = rel.split("/")
                while parts:
                    p = os.path.join(root, *parts)
                    if p in self.before or p in self.own:
                        break
                    if os.path.isdir(p) and not _remove_cgroup(p):  # the runtime may have removed the leaf
                        left.append(p)
                        break
                    parts.pop()
        return left


def _remove_cgroup(path):
    """rmdir, after killing what a killed runtime left running there."""
    for attempt in range(50):
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            try:
                for pid in open(os.path.join(path, "cgroup.procs")).read().split():
                    os.kill(int(pid), 9)
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
    return False
