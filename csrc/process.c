/* The last steps of a container process before execve (see process.h).
 * Runs in the cloned child or in the pooled waiter: no malloc, no stdio
 * streams; failures go through fctr_child_fail. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "process.h"
#include "sync.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static void set_capabilities(const struct fctr_plan *plan)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2];
    for (int i = 0; i < 2; i++) {
        data[i].effective = (uint32_t)(plan->cap_effective >> (32 * i));
        data[i].permitted = (uint32_t)(plan->cap_permitted >> (32 * i));
        data[i].inheritable = (uint32_t)(plan->cap_inheritable >> (32 * i));
    }
    if (syscall(SYS_capset, &hdr, data) < 0)
        fctr_child_fail(FCTR_STAGE_PROCESS, errno, "capset");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        fctr_child_fail(FCTR_STAGE_PROCESS, errno, "clear ambient capabilities");
    /* The kernel only admits ambient capabilities that are both permitted
     * and inheritable; runc's default spec lists others, and runc skips
     * them too. */
    uint64_t ambient = plan->cap_ambient & plan->cap_permitted & plan->cap_inheritable;
    for (int cap = 0; cap < 64; cap++)
        if ((ambient >> cap) & 1)
            if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
                fctr_child_fail(FCTR_STAGE_PROCESS, errno, "raise ambient capability %d", cap);
}

static void drop_bounding(const struct fctr_plan *plan)
{
    for (int cap = 0; cap < 64; cap++) {
        if ((plan->cap_bounding >> cap) & 1)
            continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno == EINVAL)
                break; /* past the kernel's last capability */
            fctr_child_fail(FCTR_STAGE_PROCESS, errno, "drop capability %d from bounding set", cap);
        }
    }
}

/* Without no_new_privs the filter must go in while we still hold
 * CAP_SYS_ADMIN, i.e. before switch_user(); with it, as late as possible
 * (right before execve), so that the profile constrains only the command. */
void fctr_load_seccomp(const struct fctr_plan *plan)
{
    if (!plan->seccomp_len)
        return;
    struct sock_fprog prog = {
        .len = (unsigned short)(plan->seccomp_len / sizeof(struct sock_filter)),
        .filter = (struct sock_filter *)plan->seccomp_bpf,
    };
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
        fctr_child_fail(FCTR_STAGE_SECCOMP, errno, "seccomp(SET_MODE_FILTER) of %u instructions",
                        (unsigned)prog.len);
}

/* The raw system calls, not glibc's wrappers: in a process with threads
 * (an Engine used from a thread pool) the wrappers make every thread glibc
 * knows of change ids too, by signalling each and waiting for it.  Our
 * clone()d child has one thread but inherited the parent's thread list:
 * it waited forever for threads it does not have (seen: Runtime.run from
 * 16 threads hung in setresgid).  The child's only thread is the one to
 * change. */
static int set_groups(size_t n, const gid_t *groups)
{
    return (int)syscall(SYS_setgroups, n, groups);
}

int fctr_set_resgid(gid_t gid)
{
    return (int)syscall(SYS_setresgid, gid, gid, gid);
}

int fctr_set_resuid(uid_t uid)
{
    return (int)syscall(SYS_setresuid, uid, uid, uid);
}

static void switch_user(const struct fctr_plan *plan, int in_userns)
{
    if (plan->set_caps)
        drop_bounding(plan);
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        fctr_child_fail(FCTR_STAGE_PROCESS, errno, "keep capabilities");
    if (set_groups((size_t)plan->n_groups, plan->groups) < 0 &&
        !(errno == EPERM && in_userns && plan->n_groups == 0))
        fctr_child_fail(FCTR_STAGE_PROCESS, errno, "setgroups");
    if (fctr_set_resgid(plan->gid) < 0)
        fctr_child_fail(FCTR_STAGE_PROCESS, errno, "setgid %u", (unsigned)plan->gid);
    if (fctr_set_resuid(plan->uid) < 0)
        fctr_child_fail(FCTR_STAGE_PROCESS, errno, "setuid %u", (unsigned)plan->uid);
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        fctr_child_fail(FCTR_STAGE_PROCESS, errno, "reset keep capabilities");
    if (plan->set_caps)
        set_capabilities(plan);
}

/* execvp's search, done before `start` so that a missing or non-executable
 * command is reported by create, with 127 and 126 told apart. */
void fctr_find_executable(const struct fctr_plan *plan, char *out, size_t outlen)
{
    const char *name = plan->exec_path ? plan->exec_path : plan->argv[0];
    struct stat st;
    if (plan->exec_path || strchr(name, '/')) {
        if (snprintf(out, outlen, "%s", name) >= (int)outlen)
            fctr_child_fail(FCTR_STAGE_EXEC, ENAMETOOLONG, "executable %s", name);
        if (stat(out, &st) < 0)
            fctr_child_fail(FCTR_STAGE_EXEC, errno, "executable %s", name);
        if (!S_ISREG(st.st_mode) || access(out, X_OK) < 0)
            fctr_child_fail(FCTR_STAGE_EXEC, S_ISDIR(st.st_mode) ? EISDIR : EACCES, "executable %s", name);
        return;
    }
    const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (const char *const *e = plan->envp; *e; e++)
        if (strncmp(*e, "PATH=", 5) == 0)
            path = *e + 5;
    int denied = 0;
    for (const char *p = path; ; ) {
        const char *end = strchrnul(p, ':');
        int dirlen = (int)(end - p);
        if (snprintf(out, outlen, "%.*s%s%s", dirlen, p, dirlen ? "/" : "", name) < (int)outlen &&
            stat(out, &st) == 0 && S_ISREG(st.st_mode)) {
            if (access(out, X_OK) == 0)
                return;
            denied = 1;
        }
        if (!*end)
            break;
        p = end + 1;
    }
    fctr_child_fail(FCTR_STAGE_EXEC, denied ? EACCES : ENOENT, "executable file `%s` not found in $PATH", name);
}

/* The user's identity and place: what a pooled child learns when taken. */
void fctr_become_user(const struct fctr_plan *plan, int in_userns)
{
    switch_user(plan, in_userns);
    if (plan->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        fctr_child_fail(FCTR_STAGE_PROCESS, errno, "set no_new_privs");
    if (plan->cwd && chdir(plan->cwd) < 0)
        fctr_child_fail(FCTR_STAGE_PROCESS, errno, "chdir %s", plan->cwd);
    umask(plan->umask >= 0 ? (mode_t)plan->umask : 022);
}

void fctr_close_extra_fds(const struct fctr_plan *plan)
{
    unsigned int first = 3 + (unsigned)plan->preserve_fds;
    for (unsigned int fd = 3; fd < first; fd++)
        fcntl((int)fd, F_SETFD, 0);
    /* A script run through execveat needs its fd open after exec. */
    if (plan->exec_fd >= 0)
        fcntl(plan->exec_fd, F_SETFD, 0);
    /* CLOEXEC rather than close: our sync socket and fifo fd live until exec. */
    if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        for (int fd = (int)first; fd < 1024; fd++)
            fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    if (plan->exec_fd >= (int)first)
        fcntl(plan->exec_fd, F_SETFD, 0);
}
