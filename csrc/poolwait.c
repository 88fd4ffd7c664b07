/* fastctr-pool-wait: what a pooled container process (spawn.c with
 * plan.pool_exec_fd) becomes while it waits to be taken.
 *
 * The cloned child of the engine inherits a copy of the engine's address
 * space, which the kernel frees when the child execs: ~0.3 us per resident
 * page of the engine, 1-2 ms of a start from a 30-60 MB Python process.
 * The pooled child pays it off the start path by exec'ing this small
 * static program once it is set up (root file system, namespaces,
 * rlimits, the seccomp filter when it goes in before the user change);
 * taken, this program changes user and execs the command, which frees a
 * few pages.  It runs from a sealed memfd copy (the container cannot
 * write it through /proc/self/exe), with the sync socket on fd 3.
 *
 * argv: NAME 3 IN_USERNS(0|1) */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "process.h"
#include "sync.h"

int main(int argc, char **argv)
{
    if (argc != 3)
        return 125;
    fctr_child_sock = 3;
    int in_userns = argv[2][0] == '1';
    struct fctr_plan t;
    memset(&t, 0, sizeof t);
    t.exec_fd = -1;
    t.umask = -1;
    fctr_child_send(MSG_READY, 0); /* waiting: fctr_spawn_pooled returns */
    fctr_child_receive_exec(&t);
    fctr_child_mark(FCTR_STAGE_WAIT_START);
    fctr_become_user(&t, in_userns);
    char exe[PATH_MAX];
    fctr_find_executable(&t, exe, sizeof exe);
    fctr_close_extra_fds(&t); /* the sync socket too: EOF at execve tells it worked */
    fctr_child_mark(FCTR_STAGE_PROCESS);
    fctr_child_send(MSG_READY, 0);
    if (t.no_new_privs)
        fctr_load_seccomp(&t);
    execve(exe, (char *const *)t.argv, (char *const *)t.envp);
    fctr_child_fail(FCTR_STAGE_EXEC, errno, "execve %s", t.argv[0]);
}
