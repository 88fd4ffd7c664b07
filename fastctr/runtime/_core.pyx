# cython: language_level=3
"""The one call from Python into C: spawn a container process from a Plan.

The Plan (fastctr.plan.Plan) is already validated; this module only lays it
out as a C struct, keeping every string alive for the duration of the call.
Besides it only setns(2) and unshare(2), which Python 3.11's os lacks, and
a netlink socket with its interface lookup (fastctr.net.rtnl).
"""
from libc.stdlib cimport calloc, free
from libc.errno cimport errno, ENODEV
from libc.string cimport memcpy, memset

from fastctr.runtime._core cimport *

from fastctr import trace
from fastctr.errors import spawn_error

# fctr_stage_name() -> the trace's stage words (fastctr/trace.py)
_TRACE_NAMES = {"prepare": "plan", "cgroup": "cgroup_join", "idmap": "namespaces", "namespace": "namespaces", "mount": "mounts",
                "device": "mounts", "sysctl": "mounts", "pivot_root": "pivot", "console": "process",
                "wait_start": "ready"}


cdef class _Arena:
    """Owns the C memory and the bytes objects a fctr_plan points into."""
    cdef list keep
    cdef list blocks

    def __cinit__(self):
        self.keep = []
        self.blocks = []

    def __dealloc__(self):
        cdef size_t p
        for p in self.blocks:
            free(<void *>p)

    cdef const char *s(self, object value) except? NULL:
        if value is None:
            return NULL
        if isinstance(value, str):
            value = (<str>value).encode()
        self.keep.append(value)
        return <const char *>(<bytes>value)

    cdef void *alloc(self, size_t n, size_t size) except NULL:
        cdef void *p = calloc(n + 1, size)
        if p == NULL:
            raise MemoryError()
        self.blocks.append(<size_t>p)
        return p

    cdef const char **strv(self, object items) except NULL:
        cdef const char **v = <const char **>self.alloc(len(items), sizeof(char *))
        for i, item in enumerate(items):
            v[i] = self.s(item)
        return v


cdef void _fill_mounts(fctr_plan *c, object plan, _Arena arena) except *:
    cdef fctr_mount_op *ops = <fctr_mount_op *>arena.alloc(len(plan.mounts), sizeof(fctr_mount_op))
    for i, op in enumerate(plan.mounts):
        ops[i].kind = op.kind
        ops[i].source = arena.s(op.source)
        ops[i].dest = arena.s(op.dest)
        ops[i].fstype = arena.s(op.fstype)
        ops[i].data = arena.s(op.data)
        ops[i].flags = op.flags
        ops[i].propagation = op.propagation
        ops[i].source_is_dir = op.source_is_dir
        ops[i].mode = op.mode
        ops[i].dev = op.dev
        ops[i].uid = op.uid
        ops[i].gid = op.gid
        ops[i].recursive_ro = op.recursive_ro
    c.mounts = ops
    c.n_mounts = len(plan.mounts)


cdef void _fill_process(fctr_plan *c, object plan, _Arena arena) except *:
    cdef fctr_rlimit *rl = <fctr_rlimit *>arena.alloc(len(plan.rlimits), sizeof(fctr_rlimit))
    for i, (res, soft, hard) in enumerate(plan.rlimits):
        rl[i].resource = res
        rl[i].soft = soft
        rl[i].hard = hard
    c.rlimits = rl
    c.n_rlimits = len(plan.rlimits)
    cdef gid_t *groups = <gid_t *>arena.alloc(len(plan.groups), sizeof(gid_t))
    for i, g in enumerate(plan.groups):
        groups[i] = g
    c.groups = groups
    c.n_groups = len(plan.groups)
    c.hostname = arena.s(plan.hostname)
    c.domainname = arena.s(plan.domainname)
    c.loopback_up = plan.loopback_up
    c.set_oom_score_adj = plan.oom_score_adj is not None
    c.oom_score_adj = plan.oom_score_adj or 0
    c.uid = plan.uid
    c.gid = plan.gid
    c.umask = -1 if plan.umask is None else plan.umask
    c.set_caps = plan.caps is not None
    if plan.caps is not None:
        c.cap_bounding, c.cap_effective, c.cap_permitted, c.cap_inheritable, c.cap_ambient = plan.caps
    c.no_new_privs = plan.no_new_privs
    if plan.seccomp_bpf:
        c.seccomp_bpf = <const void *>arena.s(plan.seccomp_bpf)
        c.seccomp_len = len(plan.seccomp_bpf)
    c.cwd = arena.s(plan.cwd)
    c.exec_path = arena.s(plan.exec_path)
    c.argv = arena.strv(plan.argv)
    c.envp = arena.strv(plan.env)
    c.exec_fd = plan.exec_fd
    for i in range(3):
        c.stdio_fds[i] = plan.stdio[i]
    c.console_sock = plan.console_sock
    if plan.console_size:
        c.console_rows, c.console_cols = plan.console_size
    c.preserve_fds = plan.preserve_fds
    c.fifo_dirfd = plan.fifo_dirfd
    c.fifo_name = arena.s(plan.fifo_name)
    c.setsid = plan.setsid


cdef int _fill_plan(fctr_plan *c, object plan, _Arena arena) except -1:
    memset(c, 0, sizeof(fctr_plan))
    if len(plan.joins) > FCTR_MAX_JOIN:
        raise ValueError("too many namespaces to join")
    c.new_ns_flags = plan.new_ns_flags
    c.n_join = len(plan.joins)
    for i, (nstype, path) in enumerate(plan.joins):
        c.join_types[i] = nstype
        c.join_paths[i] = arena.s(path)
    c.uid_map = arena.s(plan.uid_map)
    c.gid_map = arena.s(plan.gid_map)
    c.cgroup_dirfd = plan.cgroup_dirfd
    cdef int *tasks = <int *>arena.alloc(len(plan.cgroup_tasks_fds), sizeof(int))
    for i, fd in enumerate(plan.cgroup_tasks_fds):
        tasks[i] = fd
    c.cgroup_tasks_fds = tasks
    c.n_cgroup_tasks = len(plan.cgroup_tasks_fds)
    c.rootfs = arena.s(plan.rootfs)
    c.rootfs_fstype = arena.s(plan.rootfs_fstype)
    c.rootfs_mount_data = arena.s(plan.rootfs_mount_data)
    c.rootfs_mount_cwd = arena.s(plan.rootfs_mount_cwd)
    c.root_propagation = plan.root_propagation
    c.rootfs_propagation = plan.rootfs_propagation
    c.rootfs_readonly = plan.rootfs_readonly
    c.no_pivot = plan.no_pivot
    _fill_mounts(c, plan, arena)
    c.masked_paths = arena.strv(plan.masked_paths)
    c.n_masked = len(plan.masked_paths)
    c.readonly_paths = arena.strv(plan.readonly_paths)
    c.n_readonly = len(plan.readonly_paths)
    cdef fctr_sysctl *sc = <fctr_sysctl *>arena.alloc(len(plan.sysctls), sizeof(fctr_sysctl))
    for i, (path, value) in enumerate(plan.sysctls):
        sc[i].path = arena.s(path)
        sc[i].value = arena.s(value)
    c.sysctls = sc
    c.n_sysctls = len(plan.sysctls)
    _fill_process(c, plan, arena)
    c.pool_wait = plan.pool_wait
    c.pool_exec_fd = plan.pool_exec_fd
    return 0


def spawn(plan):
    """Spawn the process described by `plan`; return its pid.

    Raises a fastctr.errors.SpawnError (an OSError subclass matching errno)
    naming the stage and the syscall/path that failed."""
    cdef fctr_plan c
    cdef fctr_error err
    cdef pid_t pid = 0
    cdef _Arena arena = _Arena()
    _fill_plan(&c, plan, arena)
    cdef int rc
    cdef fctr_times times
    times.n = 0
    with nogil:
        rc = fctr_spawn(&c, &pid, &err, &times)
    _after(rc, &err, &times)
    return pid


def spawn_pooled(plan):
    """Spawn a pooled container process (plan.pool_wait): it is set up to
    its user change and waits -> (pid, the sync socket's fd, ours to close),
    for pool_exec."""
    cdef fctr_plan c
    cdef fctr_error err
    cdef pid_t pid = 0
    cdef int sock = -1
    cdef _Arena arena = _Arena()
    _fill_plan(&c, plan, arena)
    cdef int rc
    cdef fctr_times times
    times.n = 0
    with nogil:
        rc = fctr_spawn_pooled(&c, &pid, &sock, &err, &times)
    _after(rc, &err, &times)
    return pid, sock


def pool_exec(int sock, argv, env, cwd, uid, gid, groups, umask, caps, setsid, stdio, no_new_privs=False,
              seccomp_bpf=None):
    """The final process for a waiting pooled container: returns once it
    exec'd; SpawnError as spawn's (stage exec: 126/127) when it could not.
    stdio: three fds to become its 0, 1, 2 (-1: none).  seccomp_bpf: with
    no_new_privs, the program it loads right before execve."""
    cdef fctr_exec req
    cdef fctr_error err
    cdef fctr_times times
    cdef _Arena arena = _Arena()
    memset(&req, 0, sizeof(req))
    req.argv = arena.strv(argv)
    req.envp = arena.strv(env)
    req.cwd = arena.s(cwd)
    req.uid = uid
    req.gid = gid
    cdef gid_t *gids = <gid_t *>arena.alloc(len(groups), sizeof(gid_t))
    for i, g in enumerate(groups):
        gids[i] = g
    req.groups = gids
    req.n_groups = len(groups)
    req.umask = -1 if umask is None else umask
    req.set_caps = caps is not None
    if caps is not None:
        req.cap_bounding, req.cap_effective, req.cap_permitted, req.cap_inheritable, req.cap_ambient = caps
    req.setsid = bool(setsid)
    for i in range(3):
        req.stdio_fds[i] = stdio[i]
    req.no_new_privs = bool(no_new_privs)
    if seccomp_bpf:
        req.seccomp_bpf = <const void *>arena.s(seccomp_bpf)
        req.seccomp_len = len(seccomp_bpf)
    cdef int rc
    times.n = 0
    with nogil:
        rc = fctr_pool_exec(sock, &req, &err, &times)
    _after(rc, &err, &times)


cdef int _after(int rc, fctr_error *err, fctr_times *times) except -1:
    if trace.enabled():
        _trace_marks(times, err.stage if rc < 0 else 0)
    if rc < 0:
        raise spawn_error(fctr_stage_name(err.stage).decode(), err.err, err.msg.decode(errors="replace"))
    return 0


cdef void _trace_marks(fctr_times *times, int failed_stage) except *:
    """The spawn's stages (each ends at its mark) into fastctr.trace."""
    for i in range(min(times.n, FCTR_MAX_MARKS)):
        name = fctr_stage_name(times.marks[i].stage).decode()
        trace.mark_at(_TRACE_NAMES.get(name, name), times.marks[i].ns)
    if failed_stage:
        name = fctr_stage_name(failed_stage).decode()
        trace.failed(_TRACE_NAMES.get(name, name))


cdef extern from "sched.h" nogil:
    int c_setns "setns"(int fd, int nstype)
    int c_unshare "unshare"(int flags)


def setns(int fd, int nstype, path=""):
    """setns(2) of the calling thread (os.setns is Python 3.12's; ctypes
    costs ~4 ms to import).  OSError with errno, naming the call and path."""
    if c_setns(fd, nstype) != 0:
        import os
        err = errno
        raise OSError(err, f"setns {path}: {os.strerror(err)}", path or None)


def unshare(int flags):
    """unshare(2) of the calling thread (os.unshare is Python 3.12's)."""
    if c_unshare(flags) != 0:
        import os
        err = errno
        raise OSError(err, f"unshare 0x{flags:x}: {os.strerror(err)}")


cdef extern from "sys/socket.h" nogil:
    enum:
        AF_NETLINK
        SOCK_RAW
        SOCK_CLOEXEC
    int c_socket "socket"(int domain, int type, int protocol)

cdef extern from "linux/netlink.h" nogil:
    enum:
        NETLINK_ROUTE

cdef extern from "sys/ioctl.h" nogil:
    int c_ioctl "ioctl"(int fd, unsigned long request, void *arg)

cdef extern from "net/if.h" nogil:
    enum:
        IFNAMSIZ
    struct ifreq:
        char ifr_name[16]
        int ifr_ifindex

cdef extern from "linux/sockios.h" nogil:
    enum:
        SIOCGIFINDEX


def rtnetlink_socket():
    """The fd of a NETLINK_ROUTE socket (close-on-exec) of the calling
    thread's network namespace, spoken to with os.write and os.read: the
    socket module costs ~0.4 ms to import on every start on a bridge."""
    fd = c_socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)
    if fd < 0:
        import os
        err = errno
        raise OSError(err, f"netlink socket: {os.strerror(err)}")
    return fd


def ifindex(int fd, name):
    """The index of interface `name` in the network namespace of socket fd
    (any socket answers SIOCGIFINDEX for its namespace); None: no such one."""
    cdef ifreq req
    cdef bytes raw = name.encode()
    if len(raw) >= IFNAMSIZ:
        return None
    memset(&req, 0, sizeof(req))
    memcpy(req.ifr_name, <const char *>raw, len(raw))
    if c_ioctl(fd, SIOCGIFINDEX, &req) != 0:
        import os
        err = errno
        if err == ENODEV:
            return None
        raise OSError(err, f"interface {name}: {os.strerror(err)}")
    return req.ifr_ifindex
