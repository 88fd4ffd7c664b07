"""Pooled containers at the runtime level (issue 16's warm path).

    c = rt.create(cid, bundle, wait_for_start=False, pooled=True, stdio=(null,) * 3)
    ...                                    # its process waits, all set up
    status = pooled.run(rt, c, process, stdio=(0, 1, 2))

`create(pooled=True)` makes the whole container (state, cgroup, namespaces,
root file system, hostname, rlimits, the seccomp filter when it goes in
before the user change) and leaves its process waiting on the spawn's sync
socket (csrc/pool.c).  `run` hands it the final process: argv, environment,
working directory, user, groups, capabilities and stdio, which it applies
in the normal order (user, no_new_privs, cwd, umask, executable look-up,
seccomp when no_new_privs) before it execs; then it waits and deletes as
Runtime.run does.  Until it is taken the process dies with the thread
that created it (PR_SET_PDEATHSIG) or when its socket is closed."""
import os
import _signal as signal

from fastctr import trace
from fastctr.runtime import _core
from fastctr.runtime.lifecycle import _reap_or_wait, wait_status

def run(runtime, c, process, *, stdio=(-1, -1, -1), new_session=False, prestart=None, started=None,
        exited=None, keep=False):
    """Take the waiting container c with `process` (a spec.Process) ->
    its exit status, c deleted.  stdio -1: ours (the fd of the same
    number, none when it is closed).  The errors of a failed exec are
    spawn's (126/127), with c deleted.  keep: c (its state and empty
    cgroup) is left for the caller to delete off the start path."""
    sock, c.pool_sock = c.pool_sock, None
    try:
        if prestart:
            prestart(c)
        program = runtime._seccomp_program(c.config()) if process.no_new_privs else None
        _core.pool_exec(sock, process.args, process.env, process.cwd, process.uid, process.gid, process.groups,
                        process.umask, process.caps, new_session, _stdio(stdio), process.no_new_privs, program)
        trace.mark("exec")
    except BaseException:
        discard(runtime, c, sock)
        raise
    os.close(sock)
    if started:
        started(c)
    trace.mark("started")
    if not keep:
        return runtime.wait_and_delete(c, exited)
    try:
        status = wait_status(c.pid)
    except BaseException:  # interrupted: nothing runs on, as after Runtime.run
        discard(runtime, c)
        raise
    trace.mark("wait")
    if exited:
        exited(c)
    return status


def discard(runtime, c, sock=None):
    """End a pooled container that will not run (drained, or its exec
    failed): process, cgroup, state.  Idempotent."""
    if sock is None:
        sock, c.pool_sock = getattr(c, "pool_sock", None), None
    if sock is not None:
        os.close(sock)  # EOF: an untaken process exits by itself
    try:
        os.kill(c.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _reap_or_wait(c.pid, c.st.get("start_time"))
    from fastctr.errors import ContainerNotFound
    try:
        runtime.delete(c.id, force=True)
    except ContainerNotFound:
        pass


def _stdio(stdio):
    """-1 -> our own fd of that number when it is open (what a spawned
    process inherits), else -1: the process gets none."""
    out = []
    for i, fd in enumerate(stdio):
        if fd < 0:
            try:
                os.fstat(i)
                fd = i
            except OSError:
                fd = -1
        out.append(fd)
    return tuple(out)
