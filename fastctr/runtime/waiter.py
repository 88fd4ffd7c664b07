"""The pool waiter (csrc/poolwait.c): the small program a pooled
container's process execs while it waits to be taken (fastctr.runtime.pooled),
so that its exec of the command does not pay for freeing its copy of the
engine's address space."""
import os

MFD_EXEC = 0x0010  # <linux/memfd.h>: executable where vm.memfd_noexec would refuse it
_waiter = {}  # pid -> fd of the sealed copy of csrc/poolwait.c


def waiter_fd():
    """The pool waiter (csrc/poolwait.c) as a sealed memfd of this process,
    which a pooled process execs to wait: -1 when it is not installed (it
    then waits as the engine's clone, whose exec of the command costs the
    freeing of the engine's address space)."""
    fd = _waiter.get(os.getpid())
    if fd is None:
        fd = _waiter[os.getpid()] = _sealed_copy()
    return fd


def _sealed_copy():
    import fcntl
    from fastctr import data_path
    try:
        with open(data_path("pool-wait"), "rb") as f:
            program = f.read()
    except FileNotFoundError:
        return -1
    flags = os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING
    try:
        fd = os.memfd_create("fastctr-pool-wait", flags | MFD_EXEC)
    except OSError:  # before Linux 6.3
        fd = os.memfd_create("fastctr-pool-wait", flags)
    os.write(fd, program)
    # Sealed: a container cannot change it through /proc/self/exe (CVE-2019-5736).
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
    return fd
