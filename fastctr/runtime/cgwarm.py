"""Warm the cgroup v1 move of a container's process before it is made.

A write to a v1 cgroup.procs takes the kernel's global
cgroup_threadgroup_rwsem for writing; when no writer came lately, that first
waits for an RCU grace period (5-17 ms measured here; moves that follow
within about one more grace period are ~0.05 ms).  The spawn moves the new
process into every hierarchy, so each start paid one grace period.  warm()
makes a move that changes nothing (this process into the cgroup it is in
already) on a thread once the container's cgroups exist (the move holds
cgroup_mutex through its wait: a mkdir then would wait too), while the
plan is made and the process cloned: the spawn's moves come in its warm
window.
cgroup v2 needs none of this: clone3(CLONE_INTO_CGROUP) moves nothing."""
import os
import time

_procs = []      # our own cgroup.procs in one v1 hierarchy ([None]: none usable)
_last = [0.0]    # when the last warm move began
MIN_GAP = 0.02   # s: a warm move this recent serves the next spawn as well


def _own_procs_file():
    """Our cgroup.procs in the first v1 hierarchy; None on a v2-only host."""
    if not _procs:
        from fastctr.runtime.cgroups import CgroupV1, host_version, own_cgroups
        own, path = own_cgroups(), None
        hierarchies = {} if host_version() == 2 else CgroupV1.hierarchies_of_host()
        for name, mnt in hierarchies.items():
            rel = own.get(name.split(",")[0])
            if rel is not None:
                path = os.path.join(mnt, rel.lstrip("/"), "cgroup.procs")
                break
        _procs.append(path)
    return _procs[0]


def _move_into_own_cgroup(path, started):
    started.release()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)
    except OSError:
        pass  # only an optimisation: the spawn's own moves still work


def warm():
    """Start the grace period now, in the background (v1 hosts only)."""
    now = time.monotonic()
    if now - _last[0] < MIN_GAP:
        return
    path = _own_procs_file()
    if path is None:
        return
    _last[0] = now
    import _thread  # threading would cost ~8 ms of imports on the CLI's path
    started = _thread.allocate_lock()
    started.acquire()
    _thread.start_new_thread(_move_into_own_cgroup, (path, started))
    # As threading.Thread.start() does: return once the thread runs.  A
    # spawn's clone3 while the thread was still starting hung the caller.
    started.acquire()
