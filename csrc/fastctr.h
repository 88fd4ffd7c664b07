/* fastctr: the C hot path, from clone() to execve().
 *
 * Python resolves an OCI config into one flat, validated plan; fctr_spawn()
 * turns it into a process.  Nothing here allocates after clone(): the child
 * of a (possibly multi-threaded) Python process may only use its own stack,
 * the plan (read-only) and raw system calls.
 */
#ifndef FASTCTR_H
#define FASTCTR_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/resource.h>

/* Stages reported with an error, so that a message says where it failed. */
enum fctr_stage {
    FCTR_STAGE_PREPARE = 1, /* parent, before clone */
    FCTR_STAGE_CLONE,
    FCTR_STAGE_CGROUP,
    FCTR_STAGE_IDMAP,
    FCTR_STAGE_NAMESPACE,
    FCTR_STAGE_MOUNT,
    FCTR_STAGE_PIVOT,
    FCTR_STAGE_DEVICE,
    FCTR_STAGE_CONSOLE,
    FCTR_STAGE_SYSCTL,
    FCTR_STAGE_PROCESS, /* hostname, rlimits, oom, user, caps, cwd */
    FCTR_STAGE_WAIT_START,
    FCTR_STAGE_EXEC,
    FCTR_STAGE_SECCOMP,
};

enum fctr_mount_kind {
    FCTR_MOUNT = 1,   /* mount(2) of a file system or a bind mount */
    FCTR_MKNOD,       /* device node; bind mount of source when mknod is refused */
    FCTR_SYMLINK,     /* source = link target */
    FCTR_REMOUNT,     /* change the flags of an existing mount at dest */
    FCTR_MKDIR,       /* make sure dest exists as a directory */
};

struct fctr_mount_op {
    int kind;
    const char *source;   /* host path for binds; fs source otherwise */
    const char *dest;     /* container path, resolved inside the rootfs */
    const char *fstype;
    const char *data;
    unsigned long flags;       /* MS_* except propagation */
    unsigned long propagation; /* MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE [|MS_REC] */
    int source_is_dir;         /* bind target is created as a dir (1) or a file (0) */
    mode_t mode;               /* mknod */
    dev_t dev;                 /* mknod */
    uid_t uid;
    gid_t gid;
    int recursive_ro;          /* "rro": the bind and every mount below it read-only (mount_setattr) */
};

struct fctr_rlimit {
    int resource;
    rlim_t soft, hard;
};

struct fctr_sysctl {
    const char *path; /* /proc/sys/... */
    const char *value;
};

#define FCTR_MAX_JOIN 8
#define FCTR_NO_PROCESS (-2)

struct fctr_plan {
    /* namespaces */
    int new_ns_flags;                     /* CLONE_NEW* to create */
    int n_join;
    const char *join_paths[FCTR_MAX_JOIN]; /* namespaces to enter with setns */
    int join_types[FCTR_MAX_JOIN];
    const char *uid_map, *gid_map;        /* written by the parent; NULL = none */

    /* cgroups: a v2 directory fd (CLONE_INTO_CGROUP, else the parent writes
     * the pid), and v1 `tasks` fds the child writes "0" to (joins itself) */
    int cgroup_dirfd;
    int n_cgroup_tasks;
    const int *cgroup_tasks_fds;

    /* root file system; NULL rootfs = stay in the current root (exec) */
    const char *rootfs;
    /* Optional file system to mount on rootfs first, inside the container's
     * mount namespace (an image's overlay: nothing to unmount on the host).
     * rootfs_mount_cwd: directory the relative lowerdir names start from. */
    const char *rootfs_fstype, *rootfs_mount_data, *rootfs_mount_cwd;
    unsigned long root_propagation; /* applied to / before anything else */
    unsigned long rootfs_propagation; /* applied to the new / after pivot, 0 = none */
    int rootfs_readonly;
    int no_pivot;
    int n_mounts;
    const struct fctr_mount_op *mounts;
    int n_masked;
    const char *const *masked_paths;
    int n_readonly;
    const char *const *readonly_paths;
    int n_sysctls;
    const struct fctr_sysctl *sysctls;

    /* process */
    const char *hostname, *domainname;
    int loopback_up;   /* bring `lo` up in a new network namespace */
    int n_rlimits;
    const struct fctr_rlimit *rlimits;
    int set_oom_score_adj, oom_score_adj;
    uid_t uid;
    gid_t gid;
    int n_groups;
    const gid_t *groups;
    int umask; /* -1 = leave */
    int set_caps;
    uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
    int no_new_privs;
    /* classic BPF program (struct sock_filter[], compiled from the profile in
     * Python), loaded last; NULL = none */
    const void *seccomp_bpf;
    size_t seccomp_len; /* bytes */
    const char *cwd;
    const char *exec_path; /* executable to run; NULL = look argv[0] up in PATH */
    const char *const *argv;
    const char *const *envp;
    int exec_fd;       /* >= 0: fexecve this fd instead of looking up argv[0];
                          FCTR_NO_PROCESS: set up, wait for start, never exec */

    /* stdio and terminal */
    int stdio_fds[3];  /* dup2'ed onto 0, 1, 2; -1 = inherit */
    int console_sock;  /* connected unix socket: receives the pty master */
    unsigned short console_rows, console_cols; /* 0 = leave the pty's size */
    int preserve_fds;  /* fds 3 .. 3+n-1 survive exec */

    /* create/start split: block on open(O_WRONLY) of fifo until `start` */
    int fifo_dirfd;
    const char *fifo_name;
    int setsid;

    /* A pooled container (fastctr.engine.pool): set up to the user change,
     * then wait on the sync socket for an EXEC message (struct fctr_exec)
     * that brings the command, its user and its stdio.  Dies with the
     * thread that spawned it (PR_SET_PDEATHSIG) until it is taken. */
    int pool_wait;
    int pool_exec_fd; /* >= 0: exec this program (csrc/poolwait.c) to wait */
};

/* What a pooled container receives when it is taken: the final process.
 * argv/envp NULL-terminated; stdio_fds[i] < 0 closes fd i. */
struct fctr_exec {
    const char *const *argv;
    const char *const *envp;
    const char *cwd;
    uid_t uid;
    gid_t gid;
    int n_groups;
    const gid_t *groups;
    int umask; /* -1 = 022 */
    int set_caps;
    uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
    int setsid;
    int stdio_fds[3];
    int no_new_privs;
    const void *seccomp_bpf; /* with no_new_privs: loaded right before execve */
    size_t seccomp_len;
};

struct fctr_error {
    int stage;
    int err;          /* errno */
    char msg[512];    /* names the syscall and the path */
};

/* Where the time of a spawn went: marks (stage, CLOCK_MONOTONIC ns), each
 * ending its stage where the previous one ended.  The child takes its own
 * and sends them with READY (or ERROR); the parent adds the one before
 * clone (stage PREPARE) and, once it sees the exec happen (EOF on the
 * close-on-exec socket), EXEC; with a fifo, WAIT_START when READY came. */
#define FCTR_MAX_MARKS 24
struct fctr_mark {
    int stage;
    uint64_t ns;
};
struct fctr_times {
    int n;
    struct fctr_mark marks[FCTR_MAX_MARKS];
};

/* Spawn the container process.  Returns 0 and its pid (in the caller's PID
 * namespace) on success.  Without a fifo it returns once execve() succeeded;
 * with one, once the process waits for `start`.  On failure returns -1 with
 * *err filled and no process left behind.  `times` (NULL: not wanted)
 * receives the marks, also of a failed spawn up to its failing stage. */
int fctr_spawn(const struct fctr_plan *plan, pid_t *pid_out, struct fctr_error *err, struct fctr_times *times);

/* fctr_spawn of a plan with pool_wait: returns once the process waits for
 * its EXEC message, with the parent's end of the sync socket in *sock_out. */
int fctr_spawn_pooled(const struct fctr_plan *plan, pid_t *pid_out, int *sock_out, struct fctr_error *err,
                      struct fctr_times *times);

/* Send a waiting pooled process its final process (csrc/pool.c) and wait
 * until it has exec'd (0) or failed (-1, *err filled: stage exec for 126
 * and 127).  The socket stays the caller's to close. */
int fctr_pool_exec(int sock, const struct fctr_exec *req, struct fctr_error *err, struct fctr_times *times);

const char *fctr_stage_name(int stage);

#endif
