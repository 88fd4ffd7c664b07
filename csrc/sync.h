/* The parent <-> child channel of a spawn and the child's failure reports.
 * Everything here runs in the cloned child as well: no malloc, no stdio
 * streams. */
#ifndef FASTCTR_SYNC_H
#define FASTCTR_SYNC_H

#include <stdint.h>
#include <sys/types.h>

#include "fastctr.h"

enum { MSG_PID = 1, MSG_HELLO, MSG_GO, MSG_READY, MSG_ERROR, MSG_EXEC };

struct fctr_msg {
    int type;
    pid_t pid;
    struct fctr_error err;
    struct fctr_times times; /* the child's marks so far (READY, ERROR) */
};

/* The child's end of the socketpair, set in the child right after clone. */
extern int fctr_child_sock;

/* CLOCK_MONOTONIC in nanoseconds (the vDSO: no system call). */
uint64_t fctr_now_ns(void);

/* Append (stage, now) to t; a full list keeps its last slot current. */
void fctr_times_add(struct fctr_times *t, int stage, uint64_t ns);

/* The child ends `stage` now (its marks travel with READY and ERROR). */
void fctr_child_mark(int stage);

/* Send (stage, errno, message) to the parent and exit.  Never returns. */
__attribute__((noreturn, format(printf, 3, 4)))
void fctr_child_fail(int stage, int err, const char *fmt, ...);

/* One message from the child; a failed send ends the child. */
void fctr_child_send(int type, pid_t pid);

/* Wait for the parent's message `type` (anything else ends the child);
 * returns the message's pid field, which GO uses as a flag. */
int fctr_child_wait(int type);

/* A pooled child: wait for the parent's EXEC message (csrc/pool.c) and
 * fill the process fields of *taken (a copy of the plan) from it, the
 * received stdio dup'ed onto 0-2.  Failures end the child. */
void fctr_child_receive_exec(struct fctr_plan *taken);

/* Fill an error for the parent's side of a spawn. */
__attribute__((format(printf, 4, 5)))
void fctr_set_error(struct fctr_error *e, int stage, int err, const char *fmt, ...);

#endif
