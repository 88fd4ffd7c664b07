"""The flat plan handed to the C spawn path (see csrc/fastctr.h).

Everything in a Plan is resolved and validated: C only executes it."""

# Values from <sched.h>, <sys/mount.h> and csrc/fastctr.h.
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

OP_MOUNT, OP_MKNOD, OP_SYMLINK, OP_REMOUNT, OP_MKDIR = 1, 2, 3, 4, 5


class MountOp:
    __slots__ = ("kind", "source", "dest", "fstype", "data", "flags", "propagation",
                 "source_is_dir", "mode", "dev", "uid", "gid", "recursive_ro")

    def __init__(self, kind, dest, source=None, fstype=None, data=None, flags=0,
                 propagation=0, source_is_dir=1, mode=0, dev=0, uid=0, gid=0, recursive_ro=0):
        self.kind = kind
        self.dest = dest
        self.source = source
        self.fstype = fstype
        self.data = data
        self.flags = flags
        self.propagation = propagation
        self.source_is_dir = source_is_dir
        self.mode = mode
        self.dev = dev
        self.uid = uid
        self.gid = gid
        self.recursive_ro = recursive_ro

    def __repr__(self):
        return f"MountOp({self.kind}, {self.dest!r}, source={self.source!r}, fstype={self.fstype!r})"


class Plan:
    """Defaults describe `exec` in the current root with nothing changed."""

    __slots__ = ("new_ns_flags", "joins", "uid_map", "gid_map", "cgroup_dirfd",
                 "cgroup_tasks_fds", "rootfs", "rootfs_fstype", "rootfs_mount_data",
                 "rootfs_mount_cwd", "loopback_up", "root_propagation", "rootfs_propagation",
                 "rootfs_readonly", "no_pivot", "mounts", "masked_paths", "readonly_paths",
                 "sysctls", "hostname", "domainname", "rlimits", "oom_score_adj", "uid",
                 "gid", "groups", "umask", "caps", "no_new_privs", "seccomp_bpf", "cwd", "exec_path", "argv", "env",
                 "exec_fd", "stdio", "console_sock", "console_size", "preserve_fds", "fifo_dirfd",
                 "fifo_name", "setsid", "pool_wait", "pool_exec_fd")

    def __init__(self, argv, env):
        self.argv = argv
        self.env = env
        self.new_ns_flags = 0
        self.joins = []
        self.uid_map = self.gid_map = None
        self.cgroup_dirfd = -1
        self.cgroup_tasks_fds = []
        self.rootfs = None
        self.rootfs_fstype = self.rootfs_mount_data = self.rootfs_mount_cwd = None
        self.loopback_up = False
        self.root_propagation = MS_REC | MS_SLAVE
        self.rootfs_propagation = 0
        self.rootfs_readonly = False
        self.no_pivot = False
        self.mounts = []
        self.masked_paths = []
        self.readonly_paths = []
        self.sysctls = []
        self.hostname = self.domainname = None
        self.rlimits = []
        self.oom_score_adj = None
        self.uid = self.gid = 0
        self.groups = []
        self.umask = None
        self.caps = None  # (bounding, effective, permitted, inheritable, ambient)
        self.no_new_privs = False
        self.seccomp_bpf = None  # bytes of struct sock_filter[]
        self.cwd = "/"
        self.exec_fd = -1
        self.exec_path = None
        self.stdio = (-1, -1, -1)
        self.console_sock = -1
        self.console_size = None  # (rows, columns)
        self.preserve_fds = 0
        self.fifo_dirfd = -1
        self.fifo_name = None
        self.setsid = False
        self.pool_wait = False  # a pooled container: waits for pool_exec (csrc/pool.c)
        self.pool_exec_fd = -1  # ... as this program (csrc/poolwait.c), when >= 0
