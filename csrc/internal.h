/* Shared between the spawn and rootfs halves of the child.  Everything here
 * runs in the cloned child: no malloc, no stdio streams. */
#ifndef FASTCTR_INTERNAL_H
#define FASTCTR_INTERNAL_H

#include "fastctr.h"

#define FCTR_PROC_FD_PATH 32

/* Send (stage, errno, message) to the parent and exit.  Never returns. */
__attribute__((noreturn, format(printf, 3, 4)))
void fctr_child_fail(int stage, int err, const char *fmt, ...);

/* Build the root file system, pivot into it, mask and protect paths. */
void fctr_setup_rootfs(const struct fctr_plan *plan);

#endif
