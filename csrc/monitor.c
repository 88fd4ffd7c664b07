/* fastctr-monitor: the per-container supervisor of a detached container.
 *
 *   monitor EXIT_FILE LOG_FILE PID OUT_FD ERR_FD -- CLEANUP_ARGV...
 *
 * The process that created the container (a fork of the `fastctr` command,
 * made a child subreaper) execs this program, so the container's init stays
 * its child and its exit status can be collected with waitpid, as conmon
 * does for podman.  While the container runs it copies the container's
 * stdout and stderr pipes into LOG_FILE as Docker's json-file lines
 *   {"log":"text\n","stream":"stdout","time":"2026-11-28T16:07:15.123456789Z"}
 * When the container's init exits it drains the pipes, writes EXIT_FILE
 *   {"exit_code":N,"finished_at":SECONDS.NANOS}
 * (atomically: tmp + rename) and execs CLEANUP_ARGV (`fastctr container
 * cleanup ID`), which releases the network, the cgroup and the mounts.
 *
 * It is linked statically and allocates nothing after start-up: an idle
 * monitor is a few pages of memory, blocked in poll(). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Docker splits lines longer than 16 KiB into partial records. */
#define LINE_MAX_BYTES 16384
#define DRAIN_SECONDS 2

struct stream {
    const char *name;
    int fd;
    size_t used;
    char buf[LINE_MAX_BYTES];
};

static int log_fd = -1;
/* One record: escaping can at most sextuple a byte (\u00XX). */
static char record[LINE_MAX_BYTES * 6 + 128];

static size_t json_escape(char *out, const char *in, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c == '\t') {
            out[o++] = '\\';
            out[o++] = 't';
        } else if (c == '\r') {
            out[o++] = '\\';
            out[o++] = 'r';
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(out + o, "\\u00", 4);
            o += 4;
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;  /* UTF-8 passes through; readers replace invalid bytes */
        }
    }
    return o;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;  /* a full disk loses log lines, never the container */
        }
        p += w;
        n -= (size_t)w;
    }
}

static void emit(struct stream *s, const char *text, size_t n)
{
    struct timespec ts;
    struct tm tm;
    char when[64];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    size_t o = (size_t)snprintf(record, sizeof record, "{\"log\":\"");
    o += json_escape(record + o, text, n);
    o += (size_t)snprintf(record + o, sizeof record - o, "\",\"stream\":\"%s\",\"time\":\"%s.%09ldZ\"}\n",
                          s->name, when, ts.tv_nsec);
    write_all(log_fd, record, o);
}

/* Emit every complete line; keep the rest unless the buffer is full. */
static void flush_lines(struct stream *s, int final)
{
    size_t start = 0;
    for (size_t i = 0; i < s->used; i++) {
        if (s->buf[i] == '\n') {
            emit(s, s->buf + start, i + 1 - start);
            start = i + 1;
        }
    }
    if (start < s->used && (final || (start == 0 && s->used == sizeof s->buf))) {
        emit(s, s->buf + start, s->used - start);
        start = s->used;
    }
    memmove(s->buf, s->buf + start, s->used - start);
    s->used -= start;
}

/* Returns 0 at end of stream. */
static int pump(struct stream *s)
{
    ssize_t n = read(s->fd, s->buf + s->used, sizeof s->buf - s->used);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 1;
    if (n <= 0) {
        flush_lines(s, 1);
        close(s->fd);
        s->fd = -1;
        return 0;
    }
    s->used += (size_t)n;
    flush_lines(s, 0);
    return 1;
}

static void write_exit_file(const char *path, int status)
{
    char tmp[4096], text[128];
    struct timespec ts;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    clock_gettime(CLOCK_REALTIME, &ts);
    int n = snprintf(text, sizeof text, "{\"exit_code\":%d,\"finished_at\":%lld.%09ld}\n", code,
                     (long long)ts.tv_sec, ts.tv_nsec);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    write_all(fd, text, (size_t)n);
    fsync(fd);
    close(fd);
    rename(tmp, path);
}

/* Reap everything; returns 1 once the container's init has been reaped. */
static int reap(pid_t init, int *status)
{
    int found = 0, st;
    pid_t p;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
        if (p == init) {
            *status = st;
            found = 1;
        }
    }
    return found;
}

int main(int argc, char **argv)
{
    if (argc < 8 || strcmp(argv[6], "--") != 0) {
        fprintf(stderr, "usage: %s EXIT_FILE LOG_FILE PID OUT_FD ERR_FD -- CLEANUP...\n", argv[0]);
        return 2;
    }
    const char *exit_file = argv[1];
    pid_t init = (pid_t)atoi(argv[3]);
    struct stream streams[2] = {{.name = "stdout", .fd = atoi(argv[4])},
                                {.name = "stderr", .fd = atoi(argv[5])}};
    log_fd = open(argv[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);

    /* Its session is its own: terminal signals never reach it.  SIGCHLD
     * arrives through a signalfd, so poll() is the only place it waits. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    prctl(PR_SET_CHILD_SUBREAPER, 1);

    int status = 0, exited = reap(init, &status), open_streams = 2;
    struct timespec deadline = {0};
    while (open_streams > 0) {
        struct pollfd pfd[3] = {{.fd = streams[0].fd, .events = POLLIN},
                                {.fd = streams[1].fd, .events = POLLIN},
                                {.fd = exited ? -1 : sfd, .events = POLLIN}};
        int timeout = -1;
        if (exited) {
            /* Daemons outside a private PID namespace may keep the pipes
             * open after init is gone: drain for a moment, not forever. */
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (deadline.tv_sec == 0) {
                deadline = now;
                deadline.tv_sec += DRAIN_SECONDS;
            }
            timeout = (int)((deadline.tv_sec - now.tv_sec) * 1000 + (deadline.tv_nsec - now.tv_nsec) / 1000000);
            if (timeout <= 0)
                break;
        }
        if (poll(pfd, 3, timeout) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++)
            if (streams[i].fd >= 0 && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                open_streams -= !pump(&streams[i]);
        if (!exited && (pfd[2].revents & POLLIN)) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) > 0)
                ;
            exited = reap(init, &status);
        }
    }
    while (!exited) {  /* both pipes closed early (the process closed them) */
        int st;
        pid_t p = waitpid(-1, &st, 0);
        if (p < 0 && errno != EINTR)
            break;
        if (p == init) {
            status = st;
            exited = 1;
        }
    }
    for (int i = 0; i < 2; i++)
        if (streams[i].fd >= 0)
            flush_lines(&streams[i], 1);
    write_exit_file(exit_file, status);
    if (log_fd >= 0)
        close(log_fd);
    sigprocmask(SIG_UNBLOCK, &mask, NULL);
    execv(argv[7], argv + 7);
    return 127;
}
