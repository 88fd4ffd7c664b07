/* The container's root file system: mount operations resolved safely inside
 * the rootfs, then pivot_root (or MS_MOVE + chroot), masked and read-only
 * paths.  Runs in the cloned child only. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "rootfs.h"
#include "sync.h"

static void fd_path(char out[FCTR_PROC_FD_PATH], int fd)
{
    snprintf(out, FCTR_PROC_FD_PATH, "/proc/self/fd/%d", fd);
}

/* Open path relative to rootfd as if rootfd were "/": absolute symlinks and
 * ".." cannot leave the rootfs, so a hostile image cannot redirect a mount
 * onto the host. */
static int open_in_root(int rootfd, const char *rel, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    while (*rel == '/')
        rel++;
    if (*rel == '\0')
        return fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
    int fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
    if (fd < 0 && errno == ENOSYS)
        fd = openat(rootfd, rel, flags | O_CLOEXEC); /* kernel < 5.6 */
    return fd;
}

static void split_parent(const char *path, char *parent, const char **base)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    const char *slash = memrchr(path, '/', n);
    size_t plen = slash ? (size_t)(slash - path) : 0;
    memcpy(parent, path, plen);
    parent[plen] = '\0';
    *base = slash ? slash + 1 : path;
}

static int ensure_in_root(int rootfd, const char *dest, int want_dir);

/* An O_PATH fd on the parent of dest, created when missing, usable as the
 * dirfd of mkdirat/mknodat/symlinkat; *base is set to the last component. */
static int parent_dir_in_root(int rootfd, const char *dest, char parent[PATH_MAX], const char **base)
{
    if (strlen(dest) >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    split_parent(dest, parent, base);
    return ensure_in_root(rootfd, parent, 1);
}

/* O_PATH fd of dest inside the rootfs, created (as a directory or an empty
 * file) with its missing parents when it does not exist. */
static int ensure_in_root(int rootfd, const char *dest, int want_dir)
{
    int fd = open_in_root(rootfd, dest, O_PATH);
    if (fd >= 0 || errno != ENOENT)
        return fd;
    char parent[PATH_MAX];
    const char *base;
    int dfd = parent_dir_in_root(rootfd, dest, parent, &base);
    if (dfd < 0)
        return -1;
    int rc;
    if (want_dir) {
        rc = mkdirat(dfd, base, 0755);
        if (rc < 0 && errno == EEXIST)
            rc = 0;
    } else {
        rc = openat(dfd, base, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (rc >= 0)
            rc = close(rc);
    }
    close(dfd);
    if (rc < 0)
        return -1;
    return open_in_root(rootfd, dest, O_PATH);
}

/* Per-mount flags that a bind remount must keep: in a user namespace the
 * kernel refuses to clear nosuid/nodev/noexec/atime flags it locked. */
static unsigned long locked_flags(const char *path)
{
    struct statvfs sv;
    unsigned long f = 0;
    if (statvfs(path, &sv) < 0)
        return 0;
    if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
    return f;
}

static void remount_bind(const char *path, unsigned long flags, const char *what)
{
    unsigned long f = MS_BIND | MS_REMOUNT | flags | locked_flags(path);
    if (mount(NULL, path, NULL, f, NULL) < 0)
        fctr_child_fail(FCTR_STAGE_MOUNT, errno, "remount %s with flags 0x%lx", what, flags);
}

#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

/* "rro": the mount at pp and every mount below it read-only, in one call
 * (a remount only changes the top one). */
static void set_recursive_ro(const char *pp, const char *what)
{
    struct { uint64_t attr_set, attr_clr, propagation, userns_fd; } attr = {MOUNT_ATTR_RDONLY, 0, 0, 0};
    if (syscall(SYS_mount_setattr, AT_FDCWD, pp, AT_RECURSIVE, &attr, sizeof attr) < 0)
        fctr_child_fail(FCTR_STAGE_MOUNT, errno, "mount_setattr %s recursively read-only", what);
}

static int reopen_dest(int rootfd, const struct fctr_mount_op *op, char pp[FCTR_PROC_FD_PATH])
{
    /* The fd taken before mount() names the covered directory; look the
     * path up again to reach the new mount on top of it. */
    int fd = open_in_root(rootfd, op->dest, O_PATH);
    if (fd < 0)
        fctr_child_fail(FCTR_STAGE_MOUNT, errno, "open %s after mounting it", op->dest);
    fd_path(pp, fd);
    return fd;
}

static int try_mount_fs(const struct fctr_mount_op *op, const char *target)
{
    if (mount(op->source, target, op->fstype, op->flags, op->data) == 0)
        return 0;
    int saved = errno;
    /* devpts refuses a gid that is not mapped into a user namespace. */
    if (saved == EINVAL && op->fstype && strcmp(op->fstype, "devpts") == 0 && op->data &&
        strstr(op->data, "gid=")) {
        char data[256];
        size_t n = 0;
        for (const char *p = op->data; *p && n + 1 < sizeof data;) {
            const char *end = strchrnul(p, ',');
            if (strncmp(p, "gid=", 4) != 0) {
                size_t len = (size_t)(end - p);
                if (n + len + 2 >= sizeof data)
                    break;
                if (n)
                    data[n++] = ',';
                memcpy(data + n, p, len);
                n += len;
            }
            p = *end ? end + 1 : end;
        }
        data[n] = '\0';
        if (mount(op->source, target, op->fstype, op->flags, data) == 0)
            return 0;
    }
    /* sysfs needs a network namespace of our own; without one, as runc
     * does, bind the host's read-only instead. */
    if (saved == EPERM && op->fstype && strcmp(op->fstype, "sysfs") == 0) {
        if (mount("/sys", target, NULL, MS_BIND | MS_REC, NULL) == 0)
            return 1;
    }
    errno = saved;
    return -1;
}

static void do_mount(int rootfd, const struct fctr_mount_op *op)
{
    int is_bind = (op->flags & MS_BIND) != 0;
    int fd = ensure_in_root(rootfd, op->dest, is_bind ? op->source_is_dir : 1);
    if (fd < 0)
        fctr_child_fail(FCTR_STAGE_MOUNT, errno, "create mount point %s", op->dest);
    char pp[FCTR_PROC_FD_PATH];
    fd_path(pp, fd);
    unsigned long extra = 0;
    if (is_bind) {
        if (mount(op->source, pp, NULL, MS_BIND | (op->flags & MS_REC), NULL) < 0)
            fctr_child_fail(FCTR_STAGE_MOUNT, errno, "bind mount %s on %s", op->source, op->dest);
        extra = op->flags & ~(MS_BIND | MS_REC);
    } else {
        int rc = try_mount_fs(op, pp);
        if (rc < 0)
            fctr_child_fail(FCTR_STAGE_MOUNT, errno, "mount %s (%s) on %s", op->source ? op->source : "none",
                            op->fstype ? op->fstype : "?", op->dest);
        if (rc == 1)
            extra = MS_RDONLY | (op->flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC));
    }
    close(fd);
    if (extra) {
        fd = reopen_dest(rootfd, op, pp);
        remount_bind(pp, extra, op->dest);
        if (is_bind && op->recursive_ro)
            set_recursive_ro(pp, op->dest);
        close(fd);
    }
    if (op->propagation) {
        fd = reopen_dest(rootfd, op, pp);
        if (mount(NULL, pp, NULL, op->propagation, NULL) < 0)
            fctr_child_fail(FCTR_STAGE_MOUNT, errno, "set propagation of %s", op->dest);
        close(fd);
    }
}

static void do_mknod(int rootfd, const struct fctr_mount_op *op)
{
    char parent[PATH_MAX];
    const char *base;
    int dfd = parent_dir_in_root(rootfd, op->dest, parent, &base);
    if (dfd < 0)
        fctr_child_fail(FCTR_STAGE_DEVICE, errno, "open parent of %s", op->dest);
    if (mknodat(dfd, base, op->mode, op->dev) == 0) {
        if (fchmodat(dfd, base, op->mode & 07777, 0) < 0 ||
            fchownat(dfd, base, op->uid, op->gid, AT_SYMLINK_NOFOLLOW) < 0)
            fctr_child_fail(FCTR_STAGE_DEVICE, errno, "set owner and mode of %s", op->dest);
        close(dfd);
        return;
    }
    int saved = errno;
    close(dfd);
    if (saved == EEXIST)
        return;
    /* In a user namespace mknod is refused: bind the host's node instead. */
    if (saved != EPERM || op->source == NULL)
        fctr_child_fail(FCTR_STAGE_DEVICE, saved, "mknod %s", op->dest);
    struct fctr_mount_op bind = *op;
    bind.flags = MS_BIND;
    bind.source_is_dir = 0;
    bind.propagation = 0;
    do_mount(rootfd, &bind);
}

static void do_symlink(int rootfd, const struct fctr_mount_op *op)
{
    char parent[PATH_MAX];
    const char *base;
    int dfd = parent_dir_in_root(rootfd, op->dest, parent, &base);
    if (dfd < 0)
        fctr_child_fail(FCTR_STAGE_DEVICE, errno, "open parent of %s", op->dest);
    if (symlinkat(op->source, dfd, base) < 0 && errno != EEXIST)
        fctr_child_fail(FCTR_STAGE_DEVICE, errno, "symlink %s -> %s", op->dest, op->source);
    close(dfd);
}

static void do_remount(int rootfd, const struct fctr_mount_op *op)
{
    char pp[FCTR_PROC_FD_PATH];
    int fd = reopen_dest(rootfd, op, pp);
    if (op->flags & MS_BIND)
        remount_bind(pp, op->flags & ~MS_BIND, op->dest);
    else if (mount(NULL, pp, NULL, MS_REMOUNT | op->flags, op->data) < 0)
        fctr_child_fail(FCTR_STAGE_MOUNT, errno, "remount %s", op->dest);
    close(fd);
}

static void run_op(int rootfd, const struct fctr_mount_op *op)
{
    switch (op->kind) {
    case FCTR_MOUNT: do_mount(rootfd, op); break;
    case FCTR_MKNOD: do_mknod(rootfd, op); break;
    case FCTR_SYMLINK: do_symlink(rootfd, op); break;
    case FCTR_REMOUNT: do_remount(rootfd, op); break;
    case FCTR_MKDIR: {
        int fd = ensure_in_root(rootfd, op->dest, 1);
        if (fd < 0)
            fctr_child_fail(FCTR_STAGE_MOUNT, errno, "mkdir %s", op->dest);
        close(fd);
        break;
    }
    default:
        fctr_child_fail(FCTR_STAGE_MOUNT, EINVAL, "unknown mount operation %d", op->kind);
    }
}

static void enter_root(const struct fctr_plan *plan, int rootfd)
{
    if (fchdir(rootfd) < 0)
        fctr_child_fail(FCTR_STAGE_PIVOT, errno, "chdir %s", plan->rootfs);
    if (!plan->no_pivot) {
        if (syscall(SYS_pivot_root, ".", ".") == 0) {
            /* The old root now sits on top of the new one: make it a slave so
             * its unmount cannot propagate to the host, then detach it. */
            if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
                fctr_child_fail(FCTR_STAGE_PIVOT, errno, "make old root rslave");
            if (umount2(".", MNT_DETACH) < 0)
                fctr_child_fail(FCTR_STAGE_PIVOT, errno, "detach old root");
            if (chdir("/") < 0)
                fctr_child_fail(FCTR_STAGE_PIVOT, errno, "chdir /");
            return;
        }
        /* EINVAL: the root is on rootfs/initramfs, which cannot be pivoted. */
        if (errno != EINVAL)
            fctr_child_fail(FCTR_STAGE_PIVOT, errno, "pivot_root %s", plan->rootfs);
    }
    if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
        fctr_child_fail(FCTR_STAGE_PIVOT, errno, "move %s to /", plan->rootfs);
    if (chroot(".") < 0 || chdir("/") < 0)
        fctr_child_fail(FCTR_STAGE_PIVOT, errno, "chroot %s", plan->rootfs);
}

/* Hide kernel interfaces that leak host data or allow attacks (/proc/kcore,
 * /proc/keys, /sys/firmware...): an empty read-only tmpfs over directories,
 * /dev/null over files. */
static void mask_paths(const struct fctr_plan *plan)
{
    for (int i = 0; i < plan->n_masked; i++) {
        const char *p = plan->masked_paths[i];
        struct stat st;
        if (stat(p, &st) < 0) {
            if (errno == ENOENT)
                continue;
            fctr_child_fail(FCTR_STAGE_MOUNT, errno, "stat masked path %s", p);
        }
        int rc = S_ISDIR(st.st_mode) ? mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0")
                                     : mount("/dev/null", p, NULL, MS_BIND, NULL);
        if (rc < 0)
            fctr_child_fail(FCTR_STAGE_MOUNT, errno, "mask %s", p);
    }
}

static void readonly_paths(const struct fctr_plan *plan)
{
    for (int i = 0; i < plan->n_readonly; i++) {
        const char *p = plan->readonly_paths[i];
        if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
            if (errno == ENOENT)
                continue;
            fctr_child_fail(FCTR_STAGE_MOUNT, errno, "bind read-only path %s", p);
        }
        remount_bind(p, MS_RDONLY | MS_REC, p);
    }
}

static void write_sysctls(const struct fctr_plan *plan)
{
    for (int i = 0; i < plan->n_sysctls; i++) {
        const struct fctr_sysctl *s = &plan->sysctls[i];
        int fd = open(s->path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            fctr_child_fail(FCTR_STAGE_SYSCTL, errno, "open %s", s->path);
        size_t len = strlen(s->value);
        if (write(fd, s->value, len) != (ssize_t)len)
            fctr_child_fail(FCTR_STAGE_SYSCTL, errno, "write %s", s->path);
        close(fd);
    }
}

void fctr_setup_rootfs(const struct fctr_plan *plan)
{
    /* Nothing we mount may propagate back to the host. */
    if (mount(NULL, "/", NULL, plan->root_propagation, NULL) < 0)
        fctr_child_fail(FCTR_STAGE_MOUNT, errno, "set propagation of /");
    if (plan->rootfs_fstype) {
        /* overlayfs resolves relative lowerdir names from the cwd: short
         * names keep 100+ layers inside mount(2)'s one-page data limit. */
        if (plan->rootfs_mount_cwd && chdir(plan->rootfs_mount_cwd) < 0)
            fctr_child_fail(FCTR_STAGE_MOUNT, errno, "chdir %s", plan->rootfs_mount_cwd);
        if (mount(plan->rootfs_fstype, plan->rootfs, plan->rootfs_fstype, 0, plan->rootfs_mount_data) < 0)
            fctr_child_fail(FCTR_STAGE_MOUNT, errno, "mount %s root file system on %s", plan->rootfs_fstype,
                            plan->rootfs);
    } else if (mount(plan->rootfs, plan->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) {
        /* pivot_root needs the new root to be a mount point. */
        fctr_child_fail(FCTR_STAGE_MOUNT, errno, "bind rootfs %s", plan->rootfs);
    }
    int rootfd = open(plan->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        fctr_child_fail(FCTR_STAGE_MOUNT, errno, "open rootfs %s", plan->rootfs);
    for (int i = 0; i < plan->n_mounts; i++)
        run_op(rootfd, &plan->mounts[i]);
    fctr_child_mark(FCTR_STAGE_MOUNT);
    enter_root(plan, rootfd);
    close(rootfd);
    fctr_child_mark(FCTR_STAGE_PIVOT);
    if (plan->rootfs_propagation && mount(NULL, "/", NULL, plan->rootfs_propagation, NULL) < 0)
        fctr_child_fail(FCTR_STAGE_MOUNT, errno, "set rootfs propagation");
    write_sysctls(plan);
    mask_paths(plan);
    readonly_paths(plan);
    if (plan->rootfs_readonly)
        remount_bind("/", MS_RDONLY, "/ read-only");
    fctr_child_mark(FCTR_STAGE_MOUNT); /* masks and read-only paths */
}
