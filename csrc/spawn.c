/* fctr_spawn: clone the container process, talk to it over a SOCK_SEQPACKET
 * socketpair until it execs, and turn any failure into (stage, errno, msg).
 *
 * Protocol (one fixed-size struct per datagram):
 *   child  -> parent  PID     an intermediate process reports the real child
 *   child  -> parent  HELLO   namespaces exist: map ids, put me in my v2 cgroup
 *   parent -> child   GO      done: join the v1 cgroups, set up the root
 *                             file system
 *   child  -> parent  READY   set up; about to exec or to wait for `start`
 *   child  -> parent  ERROR   (stage, errno, message); the child exits
 * The child's end is close-on-exec, so EOF after READY means execve worked.
 * A pooled child (plan.pool_wait) sends READY once set up to its user
 * change and waits for EXEC (csrc/pool.c), then goes on as any other.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "process.h"
#include "rootfs.h"
#include "sync.h"

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

/* Python may have handlers installed (its C handler writes to a wakeup fd
 * the child shares) and ignores SIGPIPE; the container starts clean. */
static void reset_signals(void)
{
    struct sigaction sa = {.sa_handler = SIG_DFL};
    sigset_t all;
    for (int s = 1; s < NSIG; s++)
        sigaction(s, &sa, NULL); /* fails harmlessly for SIGKILL/SIGSTOP/RT */
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
}

static pid_t do_clone(uint64_t flags, int cgroup_fd, int *used_cgroup)
{
    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.flags = flags;
    /* With CLONE_PARENT clone3 wants exit_signal 0: the child inherits the
     * caller's (SIGCHLD) and reports to the caller's parent. */
    ca.exit_signal = (flags & CLONE_PARENT) ? 0 : SIGCHLD;
    if (cgroup_fd >= 0) {
        ca.flags |= CLONE_INTO_CGROUP;
        ca.cgroup = (uint64_t)cgroup_fd;
    }
    pid_t pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
    if (pid >= 0 || (errno != ENOSYS && errno != E2BIG)) {
        *used_cgroup = cgroup_fd >= 0;
        return pid;
    }
    *used_cgroup = 0;
    /* Kernel < 5.3 (no clone3) or < 5.7 (no CLONE_INTO_CGROUP). */
    return (pid_t)syscall(SYS_clone, (unsigned long)flags | SIGCHLD, NULL, NULL, NULL, 0);
}

/* ---------------------------------------------------------------- child */

static void join_namespaces(const struct fctr_plan *plan, const int *ns_fds)
{
    /* The user namespace first: it grants the capabilities to enter the rest. */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < plan->n_join; i++) {
            int is_user = plan->join_types[i] == CLONE_NEWUSER;
            if (is_user != (pass == 0))
                continue;
            if (setns(ns_fds[i], plan->join_types[i]) < 0)
                fctr_child_fail(FCTR_STAGE_NAMESPACE, errno, "setns %s", plan->join_paths[i]);
        }
    }
}

static void setup_console(const struct fctr_plan *plan)
{
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        fctr_child_fail(FCTR_STAGE_CONSOLE, errno, "open /dev/ptmx");
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
        fctr_child_fail(FCTR_STAGE_CONSOLE, errno, "unlock pty");
    /* process.consoleSize: the size must be right before the command runs
     * (a shell reads it once at start), not when the caller gets the master. */
    if (plan->console_rows && plan->console_cols) {
        struct winsize ws = {.ws_row = plan->console_rows, .ws_col = plan->console_cols};
        if (ioctl(master, TIOCSWINSZ, &ws) < 0)
            fctr_child_fail(FCTR_STAGE_CONSOLE, errno, "set pty window size");
    }
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0)
        fctr_child_fail(FCTR_STAGE_CONSOLE, errno, "open pty peer");
    if (fchown(slave, plan->uid, plan->gid) < 0 || fchmod(slave, 0620) < 0)
        fctr_child_fail(FCTR_STAGE_CONSOLE, errno, "chown pty peer");
    unsigned int ptn = 0;
    if (ioctl(master, TIOCGPTN, &ptn) == 0) {
        char pts[64];
        snprintf(pts, sizeof pts, "/dev/pts/%u", ptn);
        int fd = open("/dev/console", O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            close(fd);
            if (mount(pts, "/dev/console", NULL, MS_BIND, NULL) < 0)
                fctr_child_fail(FCTR_STAGE_CONSOLE, errno, "bind %s on /dev/console", pts);
        }
    }
    char name[] = "/dev/ptmx";
    struct iovec iov = {.iov_base = name, .iov_len = sizeof name - 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &master, sizeof(int));
    if (sendmsg(plan->console_sock, &mh, MSG_NOSIGNAL) < 0)
        fctr_child_fail(FCTR_STAGE_CONSOLE, errno, "send pty master to console socket");
    close(master);
    close(plan->console_sock);
    if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0)
        fctr_child_fail(FCTR_STAGE_CONSOLE, errno, "make pty the controlling terminal");
    for (int i = 0; i < 3; i++)
        if (dup2(slave, i) < 0)
            fctr_child_fail(FCTR_STAGE_CONSOLE, errno, "dup2 pty onto %d", i);
    if (slave > 2)
        close(slave);
}

static void write_proc_self(const char *file, int value)
{
    char path[64], buf[32];
    snprintf(path, sizeof path, "/proc/self/%s", file);
    int n = snprintf(buf, sizeof buf, "%d", value);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, buf, (size_t)n) != n)
        fctr_child_fail(FCTR_STAGE_PROCESS, errno, "write %s", path);
    close(fd);
}


static void wait_for_start(const struct fctr_plan *plan)
{
    /* Opening a FIFO for writing blocks until `start` opens it for reading.
     * The fd on the state directory was taken before pivot_root. */
    int fd = openat(plan->fifo_dirfd, plan->fifo_name, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        fctr_child_fail(FCTR_STAGE_WAIT_START, errno, "open exec fifo");
    if (write(fd, "0", 1) != 1)
        fctr_child_fail(FCTR_STAGE_WAIT_START, errno, "write exec fifo");
    close(fd);
    close(plan->fifo_dirfd);
}

/* A new network namespace has `lo` down; bring it up as Docker does. */
static void loopback_up(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fctr_child_fail(FCTR_STAGE_PROCESS, errno, "socket for loopback");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        fctr_child_fail(FCTR_STAGE_PROCESS, errno, "get flags of lo");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        fctr_child_fail(FCTR_STAGE_PROCESS, errno, "bring lo up");
    close(fd);
}

static void prepare_process(const struct fctr_plan *plan)
{
    if (plan->loopback_up)
        loopback_up();
    if (plan->hostname && sethostname(plan->hostname, strlen(plan->hostname)) < 0)
        fctr_child_fail(FCTR_STAGE_PROCESS, errno, "sethostname %s", plan->hostname);
    if (plan->domainname && setdomainname(plan->domainname, strlen(plan->domainname)) < 0)
        fctr_child_fail(FCTR_STAGE_PROCESS, errno, "setdomainname %s", plan->domainname);
    if (plan->console_sock >= 0)
        setup_console(plan);
    for (int i = 0; i < 3; i++)
        if (plan->stdio_fds[i] >= 0 && plan->stdio_fds[i] != i && dup2(plan->stdio_fds[i], i) < 0)
            fctr_child_fail(FCTR_STAGE_PROCESS, errno, "dup2 stdio %d", i);
    if (plan->setsid && plan->console_sock < 0)
        setsid();
    for (int i = 0; i < plan->n_rlimits; i++) {
        struct rlimit rl = {plan->rlimits[i].soft, plan->rlimits[i].hard};
        if (setrlimit(plan->rlimits[i].resource, &rl) < 0)
            fctr_child_fail(FCTR_STAGE_PROCESS, errno, "setrlimit %d", plan->rlimits[i].resource);
    }
    if (!plan->no_new_privs && plan->exec_fd != FCTR_NO_PROCESS && plan->seccomp_len) {
        fctr_child_mark(FCTR_STAGE_PROCESS);
        fctr_load_seccomp(plan);
        fctr_child_mark(FCTR_STAGE_SECCOMP);
    }
}


/* A pooled child keeps nothing of its spawner but the sync socket while
 * it waits: an fd of the engine (a client's pipe, a socket) held open for
 * minutes would keep its reader from ever seeing EOF. */
static void close_all_but_sync_socket(void)
{
    unsigned int sock = (unsigned int)fctr_child_sock;
    if ((sock > 3 && syscall(SYS_close_range, 3, sock - 1, 0) < 0) ||
        syscall(SYS_close_range, sock + 1, ~0U, 0) < 0) {
        for (int fd = 3; fd < 1024; fd++)
            if (fd != fctr_child_sock)
                close(fd);
    }
}

/* Become the pool waiter (csrc/poolwait.c): the sync socket on fd 3, the
 * program on 4 (gone at exec), nothing else. */
__attribute__((noreturn))
static void exec_pool_waiter(const struct fctr_plan *plan, int in_userns)
{
    int sock = fcntl(fctr_child_sock, F_DUPFD_CLOEXEC, 10);
    int prog = fcntl(plan->pool_exec_fd, F_DUPFD_CLOEXEC, 10);
    if (sock < 0 || prog < 0 || dup2(sock, 3) < 0 || dup3(prog, 4, O_CLOEXEC) < 0)
        fctr_child_fail(FCTR_STAGE_PROCESS, errno, "move fds for the pool waiter");
    fctr_child_sock = 3;
    if (syscall(SYS_close_range, 5, ~0U, 0) < 0)
        for (int fd = 5; fd < 1024; fd++)
            close(fd);
    char *argv[] = {"fastctr-pool-wait", "3", in_userns ? "1" : "0", NULL};
    char *envp[] = {NULL};
    syscall(SYS_execveat, 4, "", argv, envp, AT_EMPTY_PATH);
    fctr_child_fail(FCTR_STAGE_PROCESS, errno, "exec the pool waiter");
}

/* Everything is set up but the user change: tell the parent, wait until a
 * `run` takes us; *taken is the plan with that run's process. */
static const struct fctr_plan *wait_to_be_taken(const struct fctr_plan *plan, struct fctr_plan *taken, int in_userns)
{
    if (plan->pool_exec_fd >= 0)
        exec_pool_waiter(plan, in_userns);
    close_all_but_sync_socket();
    fctr_child_mark(FCTR_STAGE_PROCESS);
    fctr_child_send(MSG_READY, 0);
    *taken = *plan;
    fctr_child_receive_exec(taken);
    fctr_child_mark(FCTR_STAGE_WAIT_START);
    return taken;
}

static void become_root_in_userns(void)
{
    /* The ids are mapped now; become the namespace's root if it has one. */
    if (fctr_set_resgid(0) < 0 && errno != EINVAL)
        fctr_child_fail(FCTR_STAGE_IDMAP, errno, "setresgid 0 in user namespace");
    if (fctr_set_resuid(0) < 0 && errno != EINVAL)
        fctr_child_fail(FCTR_STAGE_IDMAP, errno, "setresuid 0 in user namespace");
}

/* Each v1 hierarchy's `tasks` file, opened by the parent: writing "0" moves
 * the calling thread only, which the kernel does without taking the global
 * cgroup_threadgroup_rwsem for writing.  Writing a pid to cgroup.procs
 * takes it, and the first such write after a quiet spell waits for an RCU
 * grace period (6-15 ms here, more under load; runc pays it on every
 * create).  The container process has a single thread, so moving that
 * thread moves the process. */
static void join_v1_cgroups(const struct fctr_plan *plan)
{
    for (int i = 0; i < plan->n_cgroup_tasks; i++)
        if (write(plan->cgroup_tasks_fds[i], "0", 1) != 1)
            fctr_child_fail(FCTR_STAGE_CGROUP, errno, "join cgroup v1 hierarchy %d (write 0 to its tasks file)",
                            i + 1);
}

static void unshare_cgroup_namespace(const struct fctr_plan *plan)
{
    if ((plan->new_ns_flags & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0)
        fctr_child_fail(FCTR_STAGE_NAMESPACE, errno, "unshare cgroup namespace");
}

__attribute__((noreturn))
static void container_main(const struct fctr_plan *plan)
{
    int in_userns = (plan->new_ns_flags & CLONE_NEWUSER) != 0;
    for (int i = 0; i < plan->n_join; i++)
        in_userns |= plan->join_types[i] == CLONE_NEWUSER;

    fctr_child_send(MSG_HELLO, 0);
    /* After GO we are in our v2 cgroup (clone3 or the parent put us there);
     * we join the v1 ones ourselves.  Then the cgroup namespace is made,
     * before the root file system: a cgroup mount shows the namespace's
     * root, which must be our own cgroup, not the host's (a mount made
     * outside shows up as "/.." and the host's tree). */
    fctr_child_wait(MSG_GO);
    fctr_child_mark(FCTR_STAGE_NAMESPACE); /* the parent's part: id maps, the v2 move */
    join_v1_cgroups(plan);
    fctr_child_mark(FCTR_STAGE_CGROUP);
    if (plan->new_ns_flags & CLONE_NEWUSER)
        become_root_in_userns();
    unshare_cgroup_namespace(plan);
    fctr_child_mark(FCTR_STAGE_NAMESPACE);
    if (plan->set_oom_score_adj)
        write_proc_self("oom_score_adj", plan->oom_score_adj);
    umask(0);
    if (plan->rootfs)
        fctr_setup_rootfs(plan);
    prepare_process(plan);
    struct fctr_plan taken;
    if (plan->pool_wait)
        plan = wait_to_be_taken(plan, &taken, in_userns);
    fctr_become_user(plan, in_userns);

    char exe[PATH_MAX];
    if (plan->exec_fd == FCTR_NO_PROCESS) {
        /* A config without `process` is created; `start` refuses it. */
        fctr_close_extra_fds(plan);
        fctr_child_send(MSG_READY, 0);
        if (plan->fifo_dirfd >= 0)
            wait_for_start(plan);
        _exit(1);
    }
    if (plan->exec_fd < 0)
        fctr_find_executable(plan, exe, sizeof exe);
    fctr_close_extra_fds(plan);
    /* The last mark the parent gets: a filter loaded after it (no_new_privs)
     * counts in the parent's "exec". */
    fctr_child_mark(FCTR_STAGE_PROCESS);
    fctr_child_send(MSG_READY, 0);
    if (plan->fifo_dirfd >= 0)
        wait_for_start(plan);
    if (plan->no_new_privs)
        fctr_load_seccomp(plan);
    if (plan->exec_fd >= 0)
        syscall(SYS_execveat, plan->exec_fd, "", plan->argv, plan->envp, AT_EMPTY_PATH);
    else
        execve(exe, (char *const *)plan->argv, (char *const *)plan->envp);
    fctr_child_fail(FCTR_STAGE_EXEC, errno, "execve %s", plan->argv[0]);
}

/* Entered right after clone(): join namespaces, create the ones clone did
 * not, and fork again when a PID namespace must be entered (setns on a PID
 * namespace only applies to children). */
__attribute__((noreturn))
static void child_entry(const struct fctr_plan *plan, const int *ns_fds, int unshare_flags, int refork)
{
    fctr_child_mark(FCTR_STAGE_CLONE);
    reset_signals();
    /* Untaken, a pooled process dies with the thread that made it (a
     * killed server worker leaves no waiting container behind). */
    if (plan->pool_wait && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        fctr_child_fail(FCTR_STAGE_PROCESS, errno, "set the parent-death signal");
    /* Entering a PID namespace that already has processes (exec, or
     * --pid container:X): until execve they could open /proc/PID/exe, our
     * host binary (CVE-2019-5736).  Non-dumpable denies that to anyone
     * without CAP_SYS_PTRACE; execve makes the process dumpable again. */
    for (int i = 0; i < plan->n_join; i++)
        if (plan->join_types[i] == CLONE_NEWPID && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
            fctr_child_fail(FCTR_STAGE_NAMESPACE, errno, "prctl(PR_SET_DUMPABLE, 0)");
    join_namespaces(plan, ns_fds);
    for (int i = 0; i < plan->n_join; i++)
        close(ns_fds[i]);
    if (unshare_flags && unshare(unshare_flags) < 0)
        fctr_child_fail(FCTR_STAGE_NAMESPACE, errno, "unshare 0x%x", unshare_flags);
    if (refork) {
        int unused;
        uint64_t flags = CLONE_PARENT | (uint64_t)(plan->new_ns_flags & CLONE_NEWPID);
        pid_t pid = do_clone(flags, -1, &unused);
        if (pid < 0)
            fctr_child_fail(FCTR_STAGE_CLONE, errno, "clone into the joined PID namespace");
        if (pid > 0) {
            fctr_child_send(MSG_PID, pid);
            _exit(0);
        }
    }
    container_main(plan);
}

/* --------------------------------------------------------------- parent */

static int write_all_fd(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int write_id_map(pid_t pid, const char *file, const char *map, struct fctr_error *err)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", pid, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write_all_fd(fd, map, strlen(map)) < 0) {
        fctr_set_error(err, FCTR_STAGE_IDMAP, errno, "write %s", path);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static int map_ids(const struct fctr_plan *plan, pid_t pid, struct fctr_error *err)
{
    if (plan->new_ns_flags & CLONE_NEWUSER) {
        if (plan->uid_map && write_id_map(pid, "uid_map", plan->uid_map, err) < 0)
            return -1;
        if (plan->gid_map && write_id_map(pid, "gid_map", plan->gid_map, err) < 0)
            return -1;
    }
    return 0;
}

/* The v2 cgroup, unless clone3 put the child there already. */
static int join_v2_cgroup(const struct fctr_plan *plan, pid_t pid, int in_cgroup, struct fctr_error *err)
{
    if (plan->cgroup_dirfd < 0 || in_cgroup)
        return 0;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%d", pid);
    int fd = openat(plan->cgroup_dirfd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, buf, (size_t)n) != n) {
        fctr_set_error(err, FCTR_STAGE_CGROUP, errno, "write pid %d to cgroup.procs", pid);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static void reap(pid_t pid)
{
    while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
        ;
}

static int recv_msg(int sock, struct fctr_msg *m)
{
    ssize_t n;
    do
        n = recv(sock, m, sizeof *m, 0);
    while (n < 0 && errno == EINTR);
    return (int)n;
}

/* Drive the child through the protocol.  Returns 0 once it is ready. */
static int release_child(const struct fctr_plan *plan, int sock, pid_t pid, int in_cgroup, struct fctr_error *err)
{
    if (map_ids(plan, pid, err) < 0)
        return -1;
    /* The child makes its cgroup namespace right after GO: be in the v2
     * cgroup by then.  (It joins the v1 hierarchies itself.) */
    if (join_v2_cgroup(plan, pid, in_cgroup, err) < 0)
        return -1;
    struct fctr_msg m = {.type = MSG_GO};
    if (send(sock, &m, sizeof m, MSG_NOSIGNAL) < 0) {
        fctr_set_error(err, FCTR_STAGE_CLONE, errno, "signal container process");
        return -1;
    }
    return 0;
}

/* The child's marks after the `*seen` ones already taken (an ERROR after
 * READY repeats those). */
static void times_extend(struct fctr_times *t, const struct fctr_times *child, int *seen)
{
    for (int i = *seen; i < child->n && i < FCTR_MAX_MARKS; i++)
        fctr_times_add(t, child->marks[i].stage, child->marks[i].ns);
    if (child->n > *seen)
        *seen = child->n;
}

static int supervise(const struct fctr_plan *plan, int sock, pid_t first, int refork, int in_cgroup, pid_t *pid,
                     struct fctr_error *err, struct fctr_times *times)
{
    int ready = 0;
    /* After a refork the grandchild's HELLO may overtake the intermediate's
     * PID message: configure nothing until the real pid is known. */
    int need_pid = refork, hello_pending = 0, seen = 0;
    *pid = first;
    for (;;) {
        struct fctr_msg m;
        int n = recv_msg(sock, &m);
        if (n == 0)
            break;
        if (n != (int)sizeof m) {
            fctr_set_error(err, FCTR_STAGE_CLONE, n < 0 ? errno : EPROTO, "read from container process");
            return -1;
        }
        switch (m.type) {
        case MSG_PID:
            reap(first);
            *pid = m.pid;
            need_pid = 0;
            if (hello_pending && release_child(plan, sock, *pid, in_cgroup, err) < 0)
                return -1;
            break;
        case MSG_HELLO:
            if (need_pid)
                hello_pending = 1;
            else if (release_child(plan, sock, *pid, in_cgroup, err) < 0)
                return -1;
            break;
        case MSG_READY:
            ready = 1;
            times_extend(times, &m.times, &seen);
            if (plan->fifo_dirfd >= 0 || plan->pool_wait) {
                fctr_times_add(times, FCTR_STAGE_WAIT_START, fctr_now_ns());
                return 0;
            }
            break;
        case MSG_ERROR:
            times_extend(times, &m.times, &seen);
            *err = m.err;
            err->msg[sizeof err->msg - 1] = '\0';
            return -1;
        default:
            fctr_set_error(err, FCTR_STAGE_CLONE, EPROTO, "unexpected message %d from container process", m.type);
            return -1;
        }
    }
    if (ready) { /* EOF after READY: the close-on-exec socket closed in execve */
        fctr_times_add(times, FCTR_STAGE_EXEC, fctr_now_ns());
        return 0;
    }
    int status = 0;
    pid_t r;
    do
        r = waitpid(*pid, &status, __WALL);
    while (r < 0 && errno == EINTR);
    *pid = 0;
    if (r > 0 && WIFSIGNALED(status))
        fctr_set_error(err, FCTR_STAGE_CLONE, ECHILD, "container process killed by signal %d during setup",
                  WTERMSIG(status));
    else
        fctr_set_error(err, FCTR_STAGE_CLONE, ECHILD, "container process exited during setup");
    return -1;
}

static int open_join_fds(const struct fctr_plan *plan, int *fds, struct fctr_error *err)
{
    for (int i = 0; i < plan->n_join; i++) {
        fds[i] = open(plan->join_paths[i], O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0) {
            fctr_set_error(err, FCTR_STAGE_NAMESPACE, errno, "open namespace %s", plan->join_paths[i]);
            while (i-- > 0)
                close(fds[i]);
            return -1;
        }
    }
    return 0;
}

static int spawn(const struct fctr_plan *plan, pid_t *pid_out, int *sock_out, struct fctr_error *err,
                 struct fctr_times *times)
{
    int ns_fds[FCTR_MAX_JOIN];
    int sv[2];
    struct fctr_times unused_times;
    if (!times)
        times = &unused_times;
    times->n = 0;
    fctr_times_add(times, FCTR_STAGE_PREPARE, fctr_now_ns());
    memset(err, 0, sizeof *err);
    if (plan->n_join > FCTR_MAX_JOIN || !plan->argv || !plan->argv[0] || !plan->envp) {
        fctr_set_error(err, FCTR_STAGE_PREPARE, EINVAL, "invalid spawn plan");
        return -1;
    }
    if (open_join_fds(plan, ns_fds, err) < 0)
        return -1;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        fctr_set_error(err, FCTR_STAGE_PREPARE, errno, "socketpair");
        for (int i = 0; i < plan->n_join; i++)
            close(ns_fds[i]);
        return -1;
    }

    int joins_pid = 0;
    for (int i = 0; i < plan->n_join; i++)
        joins_pid |= plan->join_types[i] == CLONE_NEWPID;
    /* Without joins one clone creates every namespace.  With joins, enter
     * them first so new namespaces are owned by the joined user namespace. */
    int new_flags = plan->new_ns_flags & ~CLONE_NEWCGROUP;
    int refork = joins_pid || (plan->n_join && (new_flags & CLONE_NEWUSER) && (new_flags & CLONE_NEWPID));
    uint64_t clone_flags;
    int unshare_flags;
    if (plan->n_join == 0) {
        clone_flags = (uint64_t)new_flags;
        unshare_flags = 0;
    } else if (!refork) {
        clone_flags = (uint64_t)(new_flags & CLONE_NEWPID);
        unshare_flags = new_flags & ~CLONE_NEWPID;
    } else {
        clone_flags = 0;
        unshare_flags = new_flags & ~CLONE_NEWPID;
    }

    int in_cgroup = 0;
    /* CLONE_INTO_CGROUP only with the final child: an intermediate would
     * put the wrong process there. */
    pid_t child = do_clone(clone_flags, refork ? -1 : plan->cgroup_dirfd, &in_cgroup);
    if (child == 0) {
        close(sv[0]);
        fctr_child_sock = sv[1];
        child_entry(plan, ns_fds, unshare_flags, refork);
    }
    int saved = errno;
    close(sv[1]);
    for (int i = 0; i < plan->n_join; i++)
        close(ns_fds[i]);
    if (child < 0) {
        fctr_set_error(err, FCTR_STAGE_CLONE, saved, "clone3 flags 0x%llx", (unsigned long long)clone_flags);
        fctr_times_add(times, FCTR_STAGE_CLONE, fctr_now_ns());
        close(sv[0]);
        return -1;
    }
    pid_t pid;
    int rc = supervise(plan, sv[0], child, refork, in_cgroup, &pid, err, times);
    if (rc == 0 && sock_out)
        *sock_out = sv[0];
    else
        close(sv[0]);
    if (rc < 0) {
        if (times->n == 0 || times->marks[times->n - 1].stage != err->stage)
            fctr_times_add(times, err->stage, fctr_now_ns()); /* a failure on the parent's side */
        if (pid > 0) {
            kill(pid, SIGKILL);
            reap(pid);
        }
        if (child != pid)
            reap(child);
        return -1;
    }
    *pid_out = pid;
    return 0;
}

int fctr_spawn(const struct fctr_plan *plan, pid_t *pid_out, struct fctr_error *err, struct fctr_times *times)
{
    if (plan->pool_wait) {
        fctr_set_error(err, FCTR_STAGE_PREPARE, EINVAL, "a pooled plan needs fctr_spawn_pooled");
        return -1;
    }
    return spawn(plan, pid_out, NULL, err, times);
}

int fctr_spawn_pooled(const struct fctr_plan *plan, pid_t *pid_out, int *sock_out, struct fctr_error *err,
                      struct fctr_times *times)
{
    if (!plan->pool_wait || plan->fifo_dirfd >= 0 || plan->n_join || plan->exec_fd != -1 || plan->preserve_fds ||
        plan->console_sock >= 0) {
        fctr_set_error(err, FCTR_STAGE_PREPARE, EINVAL, "invalid pooled spawn plan");
        return -1;
    }
    return spawn(plan, pid_out, sock_out, err, times);
}
