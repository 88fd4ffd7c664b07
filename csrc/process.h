/* The last steps of a container process before execve: its user, groups
 * and capabilities, no_new_privs, working directory, umask, the executable
 * looked up, the fds it keeps, the seccomp filter.  Shared by the spawned
 * child (spawn.c) and the pooled waiter (poolwait.c); no malloc, failures
 * through fctr_child_fail (sync.h). */
#ifndef FASTCTR_PROCESS_H
#define FASTCTR_PROCESS_H

#include <stddef.h>
#include <sys/types.h>

#include "fastctr.h"

int fctr_set_resgid(gid_t gid);
int fctr_set_resuid(uid_t uid);

/* User, groups, capabilities, no_new_privs, cwd, umask: in that order. */
void fctr_become_user(const struct fctr_plan *plan, int in_userns);

/* execvp's search; a missing or non-executable command fails (127/126). */
void fctr_find_executable(const struct fctr_plan *plan, char *out, size_t outlen);

/* fds 3.. close-on-exec but the preserved ones and exec_fd. */
void fctr_close_extra_fds(const struct fctr_plan *plan);

/* The plan's seccomp program, if any. */
void fctr_load_seccomp(const struct fctr_plan *plan);

#endif
