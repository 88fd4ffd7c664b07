/* The channel between fctr_spawn and the cloned child (see spawn.c for the
 * protocol), and the child's failure reports over it: (stage, errno,
 * message), or a line on the container's stderr when nobody listens any
 * more.  Both halves of the child (spawn.c, rootfs.c) report through here,
 * so neither calls into the other to fail. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sync.h"

int fctr_child_sock = -1; /* the child's end of the socketpair */
static struct fctr_times child_times; /* the child's own copy: the parent never writes it */

static const char *const stage_names[] = {
    [FCTR_STAGE_PREPARE] = "prepare",   [FCTR_STAGE_CLONE] = "clone",
    [FCTR_STAGE_CGROUP] = "cgroup",     [FCTR_STAGE_IDMAP] = "idmap",
    [FCTR_STAGE_NAMESPACE] = "namespace", [FCTR_STAGE_MOUNT] = "mount",
    [FCTR_STAGE_PIVOT] = "pivot_root",  [FCTR_STAGE_DEVICE] = "device",
    [FCTR_STAGE_CONSOLE] = "console",   [FCTR_STAGE_SYSCTL] = "sysctl",
    [FCTR_STAGE_PROCESS] = "process",   [FCTR_STAGE_WAIT_START] = "wait_start",
    [FCTR_STAGE_EXEC] = "exec",         [FCTR_STAGE_SECCOMP] = "seccomp",
};

const char *fctr_stage_name(int stage)
{
    if (stage > 0 && stage <= FCTR_STAGE_SECCOMP && stage_names[stage])
        return stage_names[stage];
    return "unknown";
}

uint64_t fctr_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void fctr_times_add(struct fctr_times *t, int stage, uint64_t ns)
{
    int i = t->n < FCTR_MAX_MARKS ? t->n++ : FCTR_MAX_MARKS - 1;
    t->marks[i].stage = stage;
    t->marks[i].ns = ns;
}

void fctr_child_mark(int stage)
{
    fctr_times_add(&child_times, stage, fctr_now_ns());
}

void fctr_set_error(struct fctr_error *e, int stage, int err, const char *fmt, ...)
{
    va_list ap;
    e->stage = stage;
    e->err = err;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

void fctr_child_fail(int stage, int err, const char *fmt, ...)
{
    struct fctr_msg m = {.type = MSG_ERROR};
    va_list ap;
    m.err.stage = stage;
    m.err.err = err;
    va_start(ap, fmt);
    vsnprintf(m.err.msg, sizeof m.err.msg, fmt, ap);
    va_end(ap);
    fctr_child_mark(stage);
    m.times = child_times;
    if (fctr_child_sock < 0 || send(fctr_child_sock, &m, sizeof m, MSG_NOSIGNAL) < 0) {
        /* After `create` returned nobody listens: tell the container's stderr. */
        char line[700];
        int n = snprintf(line, sizeof line, "fastctr: %s: %s: %s\n", fctr_stage_name(stage), m.err.msg,
                         strerror(err));
        if (n > 0 && write(2, line, (size_t)n) < 0) {
            /* nothing more we can do */
        }
    }
    int code = 1;
    if (stage == FCTR_STAGE_EXEC)
        code = err == ENOENT ? 127 : 126;
    _exit(code);
}

void fctr_child_send(int type, pid_t pid)
{
    struct fctr_msg m = {.type = type, .pid = pid};
    m.times = child_times;
    if (send(fctr_child_sock, &m, sizeof m, MSG_NOSIGNAL) < 0)
        _exit(1);
}

int fctr_child_wait(int type)
{
    struct fctr_msg m;
    ssize_t n;
    do
        n = recv(fctr_child_sock, &m, sizeof m, 0);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof m || m.type != type)
        _exit(1); /* the parent is gone or failed: give up silently */
    return m.pid;
}
