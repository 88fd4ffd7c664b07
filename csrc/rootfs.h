/* The root file system half of the child: built from the plan's mount
 * operations, pivoted into, masked and protected.  Runs in the cloned child:
 * no malloc, no stdio streams; failures go through fctr_child_fail (sync.h). */
#ifndef FASTCTR_ROOTFS_H
#define FASTCTR_ROOTFS_H

#include "fastctr.h"

#define FCTR_PROC_FD_PATH 32

/* Build the root file system, pivot into it, mask and protect paths. */
void fctr_setup_rootfs(const struct fctr_plan *plan);

#endif
