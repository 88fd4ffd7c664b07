/* Pooled containers: the EXEC message that turns a waiting, fully set-up
 * container process (plan.pool_wait, see spawn.c) into the command of a
 * `run`.  Both ends live here: fctr_pool_exec in the parent, and
 * fctr_child_receive_exec in the cloned child, which may not malloc (it
 * maps its own memory) and reports through sync.c.
 *
 * Wire format, on the spawn's SOCK_SEQPACKET socket:
 *   parent -> child  struct exec_head, with the stdio fds (SCM_RIGHTS)
 *   parent -> child  the payload in datagrams of at most CHUNK bytes: the
 *                    seccomp program (with no_new_privs: loaded last),
 *                    gid_t groups[n_groups], cwd NUL, argv NUL..., env NUL...
 *   child  -> parent READY (about to exec) or ERROR, then EOF at execve
 *                    (the child's end is close-on-exec), as in spawn.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sync.h"

#define CHUNK 65536
#define MAX_PAYLOAD (64u << 20)
#define MAX_STRINGS (1u << 20)

struct exec_head {
    int type; /* MSG_EXEC */
    uint32_t len, argc, envc, n_groups, seccomp_len;
    uint32_t uid, gid;
    int umask, set_caps, setsid, no_new_privs;
    uint64_t caps[5]; /* bounding, effective, permitted, inheritable, ambient */
    int present;      /* bit i: stdio fd i travels with the head, in order */
};

union fd_control {
    char buf[CMSG_SPACE(3 * sizeof(int))];
    struct cmsghdr align;
};

/* ---------------------------------------------------------------- child */

static int received_fds(struct msghdr *mh, int *fds)
{
    int n = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < count && n < 3; i++)
            memcpy(&fds[n++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }
    return n;
}

static const char *next_string(char **p, const char *end)
{
    char *s = *p;
    char *nul = s < end ? memchr(s, '\0', (size_t)(end - s)) : NULL;
    if (!nul)
        fctr_child_fail(FCTR_STAGE_PROCESS, EPROTO, "malformed exec request from the engine");
    *p = nul + 1;
    return s;
}

static void receive_payload(char *data, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(fctr_child_sock, data + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            _exit(1); /* the engine went away mid-request */
        got += (size_t)n;
    }
}

static void parse_payload(struct fctr_plan *t, const struct exec_head *h, char *mem, size_t ptrs)
{
    const char **argv = (const char **)mem;
    const char **envp = argv + h->argc + 1;
    char *data = mem + ptrs, *end = data + h->len;
    size_t groups_len = (size_t)h->n_groups * sizeof(gid_t);
    if ((size_t)h->seccomp_len + groups_len > h->len || h->seccomp_len % 8)
        fctr_child_fail(FCTR_STAGE_PROCESS, EPROTO, "malformed exec request from the engine");
    if (h->seccomp_len) {
        t->seccomp_bpf = data;
        t->seccomp_len = h->seccomp_len;
        data += h->seccomp_len;
    }
    t->no_new_privs = h->no_new_privs;
    t->groups = (const gid_t *)data;
    t->n_groups = (int)h->n_groups;
    char *p = data + groups_len;
    t->cwd = next_string(&p, end);
    for (uint32_t i = 0; i < h->argc; i++)
        argv[i] = next_string(&p, end);
    for (uint32_t i = 0; i < h->envc; i++)
        envp[i] = next_string(&p, end);
    argv[h->argc] = envp[h->envc] = NULL;
    t->argv = argv;
    t->envp = envp;
}

static void take_stdio(int present, const int *fds, int nfds)
{
    int k = 0;
    for (int i = 0; i < 3; i++) {
        if (!(present & (1 << i))) {
            close(i); /* the caller had none: neither has the command */
            continue;
        }
        if (k >= nfds)
            fctr_child_fail(FCTR_STAGE_PROCESS, EPROTO, "exec request without its stdio fd %d", i);
        if (dup2(fds[k], i) < 0)
            fctr_child_fail(FCTR_STAGE_PROCESS, errno, "dup2 stdio %d", i);
        close(fds[k++]);
    }
}

void fctr_child_receive_exec(struct fctr_plan *t)
{
    struct exec_head h;
    union fd_control u;
    struct iovec iov = {.iov_base = &h, .iov_len = sizeof h};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    ssize_t n;
    do
        n = recvmsg(fctr_child_sock, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof h || h.type != MSG_EXEC)
        _exit(1); /* drained (EOF) or the engine is gone: nothing ran, nobody to tell */
    int fds[3];
    int nfds = received_fds(&mh, fds);
    if (h.len > MAX_PAYLOAD || h.argc < 1 || h.argc > MAX_STRINGS || h.envc > MAX_STRINGS)
        fctr_child_fail(FCTR_STAGE_PROCESS, EPROTO, "exec request out of bounds (%u bytes)", h.len);
    size_t ptrs = ((size_t)h.argc + h.envc + 2) * sizeof(char *);
    char *mem = mmap(NULL, ptrs + h.len + 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        fctr_child_fail(FCTR_STAGE_PROCESS, errno, "map %u bytes for the exec request", h.len);
    receive_payload(mem + ptrs, h.len);
    parse_payload(t, &h, mem, ptrs);
    t->exec_path = NULL;
    t->exec_fd = -1;
    t->uid = h.uid;
    t->gid = h.gid;
    t->umask = h.umask;
    t->set_caps = h.set_caps;
    t->cap_bounding = h.caps[0];
    t->cap_effective = h.caps[1];
    t->cap_permitted = h.caps[2];
    t->cap_inheritable = h.caps[3];
    t->cap_ambient = h.caps[4];
    /* Taken: from now on it lives as a normal run's process does, past
     * the death of whoever started it. */
    if (prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) < 0)
        fctr_child_fail(FCTR_STAGE_PROCESS, errno, "clear the parent-death signal");
    take_stdio(h.present, fds, nfds);
    if (h.setsid)
        setsid();
}

/* --------------------------------------------------------------- parent */

static size_t payload_size(const struct fctr_exec *req, uint32_t *argc, uint32_t *envc)
{
    size_t len = req->seccomp_len + (size_t)req->n_groups * sizeof(gid_t) + strlen(req->cwd) + 1;
    for (*argc = 0; req->argv[*argc]; (*argc)++)
        len += strlen(req->argv[*argc]) + 1;
    for (*envc = 0; req->envp[*envc]; (*envc)++)
        len += strlen(req->envp[*envc]) + 1;
    return len;
}

static char *put_string(char *p, const char *s)
{
    size_t n = strlen(s) + 1;
    memcpy(p, s, n);
    return p + n;
}

static char *build_payload(const struct fctr_exec *req, size_t len)
{
    char *buf = malloc(len ? len : 1);
    if (!buf)
        return NULL;
    memcpy(buf, req->seccomp_bpf, req->seccomp_len);
    char *p = buf + req->seccomp_len;
    memcpy(p, req->groups, (size_t)req->n_groups * sizeof(gid_t));
    p = put_string(p + (size_t)req->n_groups * sizeof(gid_t), req->cwd);
    for (int i = 0; req->argv[i]; i++)
        p = put_string(p, req->argv[i]);
    for (int i = 0; req->envp[i]; i++)
        p = put_string(p, req->envp[i]);
    return buf;
}

static int send_head(int sock, struct exec_head *h, const struct fctr_exec *req)
{
    union fd_control u;
    struct iovec iov = {.iov_base = h, .iov_len = sizeof *h};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    int fds[3], n = 0;
    for (int i = 0; i < 3; i++)
        if (req->stdio_fds[i] >= 0) {
            fds[n++] = req->stdio_fds[i];
            h->present |= 1 << i;
        }
    if (n) {
        memset(&u, 0, sizeof u);
        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE((size_t)n * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
        memcpy(CMSG_DATA(c), fds, (size_t)n * sizeof(int));
    }
    ssize_t r;
    do
        r = sendmsg(sock, &mh, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    return r == (ssize_t)sizeof *h ? 0 : -1;
}

static int send_payload(int sock, const char *buf, size_t len)
{
    for (size_t off = 0; off < len;) {
        size_t chunk = len - off < CHUNK ? len - off : CHUNK;
        ssize_t n = send(sock, buf + off, chunk, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

static int send_request(int sock, const struct fctr_exec *req, struct fctr_error *err)
{
    uint32_t argc, envc;
    size_t len = payload_size(req, &argc, &envc);
    if (len > MAX_PAYLOAD || argc < 1 || req->seccomp_len % 8) {
        fctr_set_error(err, FCTR_STAGE_PREPARE, argc < 1 ? EINVAL : E2BIG, "exec request of %zu bytes", len);
        return -1;
    }
    struct exec_head h = {.type = MSG_EXEC, .len = (uint32_t)len, .argc = argc, .envc = envc,
                          .n_groups = (uint32_t)req->n_groups, .uid = req->uid, .gid = req->gid,
                          .umask = req->umask, .set_caps = req->set_caps, .setsid = req->setsid,
                          .no_new_privs = req->no_new_privs, .seccomp_len = (uint32_t)req->seccomp_len,
                          .caps = {req->cap_bounding, req->cap_effective, req->cap_permitted,
                                   req->cap_inheritable, req->cap_ambient}};
    char *buf = build_payload(req, len);
    if (!buf) {
        fctr_set_error(err, FCTR_STAGE_PREPARE, ENOMEM, "exec request of %zu bytes", len);
        return -1;
    }
    int rc = send_head(sock, &h, req) < 0 || send_payload(sock, buf, len) < 0 ? -1 : 0;
    int saved = errno;
    free(buf);
    if (rc < 0) /* EPIPE: it died while it waited (killed, or its cgroup was) */
        fctr_set_error(err, FCTR_STAGE_CLONE, saved, "send the command to the pooled container process");
    return rc;
}

int fctr_pool_exec(int sock, const struct fctr_exec *req, struct fctr_error *err, struct fctr_times *times)
{
    struct fctr_times unused_times;
    if (!times)
        times = &unused_times;
    times->n = 0;
    uint64_t start = fctr_now_ns();
    fctr_times_add(times, FCTR_STAGE_PREPARE, start);
    memset(err, 0, sizeof *err);
    if (send_request(sock, req, err) < 0)
        return -1;
    int ready = 0;
    for (;;) {
        struct fctr_msg m;
        ssize_t n;
        do
            n = recv(sock, &m, sizeof m, 0);
        while (n < 0 && errno == EINTR);
        if (n == 0 && ready) { /* EOF after READY: the close-on-exec socket closed in execve */
            fctr_times_add(times, FCTR_STAGE_EXEC, fctr_now_ns());
            return 0;
        }
        if (n == 0) {
            fctr_set_error(err, FCTR_STAGE_CLONE, ECHILD, "pooled container process exited before its exec");
            return -1;
        }
        if (n != (ssize_t)sizeof m) {
            fctr_set_error(err, FCTR_STAGE_CLONE, n < 0 ? errno : EPROTO, "read from pooled container process");
            return -1;
        }
        for (int i = 0; i < m.times.n && i < FCTR_MAX_MARKS; i++)
            if (m.times.marks[i].ns > start)
                fctr_times_add(times, m.times.marks[i].stage, m.times.marks[i].ns);
        if (m.type == MSG_ERROR) {
            *err = m.err;
            err->msg[sizeof err->msg - 1] = '\0';
            return -1;
        }
        if (m.type != MSG_READY) {
            fctr_set_error(err, FCTR_STAGE_CLONE, EPROTO, "unexpected message %d from pooled container", m.type);
            return -1;
        }
        ready = 1;
    }
}
