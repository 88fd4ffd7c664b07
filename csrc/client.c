/* The thin client of `fastctr serve` (fastctr/server/protocol.py has the
 * wire format; keep the two in step).
 *
 * When a server listens on the socket, `fastctr` hands it the command
 * instead of starting Python: argv, environment, working directory, umask
 * and its stdin/stdout/stderr (SCM_RIGHTS).  The server forks a worker from
 * its warm state that runs the same command code with those descriptors, so
 * output goes straight to the user's terminal.  The client stays as a proxy
 * for signals and for the exit status:
 *   - INT, TERM, HUP, QUIT, WINCH, USR1, USR2, ALRM it receives are sent to
 *     the server (one byte each), which passes them to the worker;
 *   - it exits with the worker's status (an EXIT frame), or 125 when the
 *     worker died without one.
 * Anything short of a worker that began (a STRT frame) falls back to the
 * cold path: no socket, nobody listening (ECONNREFUSED after the server was
 * killed), a socket we may not open, or a server that closed the connection
 * before it forked.  Nothing was consumed from our stdin by then, so the
 * cold start does exactly what the warm one would have done. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <fcntl.h>

#include "client.h"

#define MAGIC "FCT1"
#define FRAME 8
#define DEFAULT_STATE_ROOT "/run/fastctr"
#define SOCKET_NAME "fastctr.sock"

extern char **environ;

static int server_fd = -1;

/* Global options of the CLI that take a value (fastctr/cli/common.py GLOBAL). */
static int takes_value(const char *opt)
{
    static const char *const with_value[] = {"--data-root", "--state-root", "--storage-driver",
                                             "--cgroup-parent", NULL};
    for (int i = 0; with_value[i]; i++)
        if (strcmp(opt, with_value[i]) == 0)
            return 1;
    return 0;
}

/* Commands that start cold: the server itself, and the monitor's callback
 * (`container cleanup ID`), which must run as the monitor's own process: it
 * is the container's recorded starter, and for a --restart policy it becomes
 * the next monitor by exec. */
static int served_command(int argc, char **argv, int i)
{
    if (strcmp(argv[i], "serve") == 0)
        return 0;
    return !(strcmp(argv[i], "container") == 0 && i + 1 < argc && strcmp(argv[i + 1], "cleanup") == 0);
}

/* The command word and --state-root among the global options; 0 when the
 * cold path is asked for (--no-server, or a command that must be cold). */
static int scan_globals(int argc, char **argv, const char **state_root)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || strcmp(a, "-") == 0)
            return served_command(argc, argv, i);
        if (strcmp(a, "--") == 0)
            return 1;
        if (strcmp(a, "--no-server") == 0)
            return 0;
        if (strncmp(a, "--state-root=", 13) == 0)
            *state_root = a + 13;
        else if (takes_value(a) && i + 1 < argc) {
            if (strcmp(a, "--state-root") == 0)
                *state_root = argv[i + 1];
            i++;
        }
    }
    return 1;
}

static int socket_path(int argc, char **argv, struct sockaddr_un *addr)
{
    const char *env = getenv("FASTCTR_NO_SERVER");
    if (env && *env && strcmp(env, "0") != 0)
        return -1;
    const char *root = getenv("FASTCTR_STATE_ROOT");
    if (!root || !*root)
        root = DEFAULT_STATE_ROOT;
    if (!scan_globals(argc, argv, &root))
        return -1;
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    const char *explicit_path = getenv("FASTCTR_SOCKET");
    int n = explicit_path && *explicit_path
                ? snprintf(addr->sun_path, sizeof addr->sun_path, "%s", explicit_path)
                : snprintf(addr->sun_path, sizeof addr->sun_path, "%s/" SOCKET_NAME, root);
    return n > 0 && (size_t)n < sizeof addr->sun_path ? 0 : -1;
}

/* A growing buffer of NUL-terminated strings: the request's payload. */
struct buf {
    char *p;
    size_t len, cap;
};

static int put(struct buf *b, const char *s)
{
    size_t n = strlen(s) + 1;
    if (b->len + n > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 8192) + n;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

/* cwd, umask (octal), argc, the arguments, then every environment entry. */
static int build_payload(struct buf *b, int argc, char **argv)
{
    char cwd[4096], num[32];
    mode_t mask = umask(0);
    umask(mask);
    if (!getcwd(cwd, sizeof cwd))
        cwd[0] = '\0'; /* the worker stays in / */
    int rc = put(b, cwd);
    snprintf(num, sizeof num, "%o", (unsigned)mask);
    rc |= put(b, num);
    snprintf(num, sizeof num, "%d", argc - 1);
    rc |= put(b, num);
    for (int i = 1; i < argc; i++)
        rc |= put(b, argv[i]);
    for (char **e = environ; *e; e++)
        rc |= put(b, *e);
    return rc;
}

/* fds 0-2 as the worker will have them; a closed one becomes /dev/null. */
static void stdio_fds(int fds[3])
{
    for (int i = 0; i < 3; i++) {
        fds[i] = i;
        if (fcntl(i, F_GETFD) < 0)
            fds[i] = open("/dev/null", O_RDWR | O_CLOEXEC);
    }
}

static int send_request(int fd, const struct buf *b)
{
    char header[FRAME];
    uint32_t len = (uint32_t)b->len;
    memcpy(header, MAGIC, 4);
    memcpy(header + 4, &len, 4); /* little-endian: x86-64 and arm64 */
    int fds[3];
    stdio_fds(fds);
    struct iovec iov[2] = {{header, FRAME}, {b->p, b->len}};
    char control[CMSG_SPACE(sizeof fds)];
    memset(control, 0, sizeof control);
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2, .msg_control = control, .msg_controllen = sizeof control};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(cm), fds, sizeof fds);
    size_t total = FRAME + b->len, sent = 0;
    ssize_t n;
    while ((n = sendmsg(fd, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    if (n < 0)
        return -1;
    for (sent = (size_t)n; sent < total; sent += (size_t)n) { /* the rest, without the fds */
        const char *from = sent < FRAME ? header + sent : b->p + (sent - FRAME);
        size_t left = sent < FRAME ? FRAME - sent : total - sent;
        while ((n = send(fd, from, left, MSG_NOSIGNAL)) < 0 && errno == EINTR)
            ;
        if (n <= 0)
            return -1;
    }
    return 0;
}

static void forward_signal(int sig)
{
    unsigned char byte = (unsigned char)sig;
    int saved = errno;
    if (server_fd >= 0)
        (void)!send(server_fd, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    errno = saved;
}

/* The signals relayed to the worker; handler SIG_DFL puts them back. */
static void forward_signals(void (*handler)(int))
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGUSR1, SIGUSR2, SIGALRM};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
}

/* Exactly n bytes; 0 at a clean end before any, -1 otherwise. */
static int read_full(int fd, void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return got == 0 && r == 0 ? 0 : -1;
        got += (size_t)r;
    }
    return 1;
}

/* Frames until the worker's status: FASTCTR_CLIENT_COLD before it began. */
static int await_status(int fd, const char *path)
{
    int started = 0;
    for (;;) {
        char frame[FRAME];
        int32_t value;
        if (read_full(fd, frame, FRAME) != 1) {
            if (!started)
                return FASTCTR_CLIENT_COLD;
            fprintf(stderr, "fastctr: the server at %s closed the connection before the command finished\n", path);
            return 125;
        }
        memcpy(&value, frame + 4, 4);
        if (memcmp(frame, "STRT", 4) == 0)
            started = 1;
        else if (memcmp(frame, "EXIT", 4) == 0)
            return value & 0xff;
        else if (memcmp(frame, "DIED", 4) == 0) {
            fprintf(stderr, "fastctr: the server's worker for this command was killed by signal %d\n", value);
            return 125;
        } else if (memcmp(frame, "DENY", 4) == 0 && value > 0 && value < 4096) {
            char text[4096];
            if (read_full(fd, text, (size_t)value) != 1)
                value = snprintf(text, sizeof text, "fastctr: the server at %s refused the connection", path);
            fprintf(stderr, "%.*s\n", (int)value, text);
            return 125;
        } else {
            fprintf(stderr, "fastctr: unexpected reply from the server at %s\n", path);
            return 125;
        }
    }
}

int fastctr_client(int argc, char **argv)
{
    struct sockaddr_un addr;
    if (socket_path(argc, argv, &addr) < 0)
        return FASTCTR_CLIENT_COLD;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return FASTCTR_CLIENT_COLD;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        close(fd);
        return FASTCTR_CLIENT_COLD;
    }
    struct buf b = {0};
    if (build_payload(&b, argc, argv) < 0) {
        free(b.p);
        close(fd);
        return FASTCTR_CLIENT_COLD;
    }
    int sent = send_request(fd, &b);
    free(b.p);
    if (sent < 0) { /* refused at once (a DENY is waiting), or gone: nothing began */
        int status = await_status(fd, addr.sun_path);
        close(fd);
        return status;
    }
    server_fd = fd;
    forward_signals(forward_signal);
    int status = await_status(fd, addr.sun_path);
    if (status == FASTCTR_CLIENT_COLD) {
        server_fd = -1;
        close(fd);
        forward_signals(SIG_DFL); /* the cold path installs its own */
    }
    return status;
}
