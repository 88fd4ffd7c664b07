# Declarations of csrc/fastctr.h for the Cython binding.
from libc.stdint cimport uint64_t

cdef extern from "sys/types.h":
    ctypedef int pid_t
    ctypedef unsigned int uid_t
    ctypedef unsigned int gid_t
    ctypedef unsigned int mode_t
    ctypedef unsigned long dev_t

cdef extern from "sys/resource.h":
    ctypedef unsigned long rlim_t

cdef extern from "fastctr.h" nogil:
    enum:
        FCTR_MAX_JOIN
        FCTR_MAX_MARKS

    struct fctr_mount_op:
        int kind
        const char *source
        const char *dest
        const char *fstype
        const char *data
        unsigned long flags
        unsigned long propagation
        int source_is_dir
        mode_t mode
        dev_t dev
        uid_t uid
        gid_t gid
        int recursive_ro

    struct fctr_rlimit:
        int resource
        rlim_t soft
        rlim_t hard

    struct fctr_sysctl:
        const char *path
        const char *value

    struct fctr_plan:
        int new_ns_flags
        int n_join
        const char *join_paths[8]
        int join_types[8]
        const char *uid_map
        const char *gid_map
        int cgroup_dirfd
        int n_cgroup_tasks
        const int *cgroup_tasks_fds
        const char *rootfs
        const char *rootfs_fstype
        const char *rootfs_mount_data
        const char *rootfs_mount_cwd
        unsigned long root_propagation
        unsigned long rootfs_propagation
        int rootfs_readonly
        int no_pivot
        int n_mounts
        const fctr_mount_op *mounts
        int n_masked
        const char *const *masked_paths
        int n_readonly
        const char *const *readonly_paths
        int n_sysctls
        const fctr_sysctl *sysctls
        const char *hostname
        const char *domainname
        int loopback_up
        int n_rlimits
        const fctr_rlimit *rlimits
        int set_oom_score_adj
        int oom_score_adj
        uid_t uid
        gid_t gid
        int n_groups
        const gid_t *groups
        int umask
        int set_caps
        uint64_t cap_bounding
        uint64_t cap_effective
        uint64_t cap_permitted
        uint64_t cap_inheritable
        uint64_t cap_ambient
        int no_new_privs
        const void *seccomp_bpf
        size_t seccomp_len
        const char *cwd
        const char *exec_path
        const char *const *argv
        const char *const *envp
        int exec_fd
        int stdio_fds[3]
        int console_sock
        unsigned short console_rows
        unsigned short console_cols
        int preserve_fds
        int fifo_dirfd
        const char *fifo_name
        int setsid
        int pool_wait
        int pool_exec_fd

    struct fctr_exec:
        const char *const *argv
        const char *const *envp
        const char *cwd
        uid_t uid
        gid_t gid
        int n_groups
        const gid_t *groups
        int umask
        int set_caps
        uint64_t cap_bounding
        uint64_t cap_effective
        uint64_t cap_permitted
        uint64_t cap_inheritable
        uint64_t cap_ambient
        int setsid
        int stdio_fds[3]
        int no_new_privs
        const void *seccomp_bpf
        size_t seccomp_len

    struct fctr_error:
        int stage
        int err
        char msg[512]

    struct fctr_mark:
        int stage
        uint64_t ns

    struct fctr_times:
        int n
        fctr_mark marks[24]

    int fctr_spawn(const fctr_plan *plan, pid_t *pid_out, fctr_error *err, fctr_times *times)
    int fctr_spawn_pooled(const fctr_plan *plan, pid_t *pid_out, int *sock_out, fctr_error *err, fctr_times *times)
    int fctr_pool_exec(int sock, const fctr_exec *req, fctr_error *err, fctr_times *times)
    const char *fctr_stage_name(int stage)
