/* fastctr-monitor: the per-container supervisor of a detached container.
 *
 *   monitor [--tty] [--stdin FD] [--attach FD] EXIT_FILE LOG_FILE PID OUT_FD ERR_FD -- CLEANUP_ARGV...
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
 * Options (Docker's attach, `run -it`, `run -dit`):
 *   --tty        OUT_FD is the container's pty master (read: output, logged
 *                as "stdout"; write: input); ERR_FD is -1.  -1 means "no
 *                such stream" for either.
 *   --stdin FD   the write end of the container's stdin pipe (-i, no tty).
 *   --attach FD  a listening AF_UNIX stream socket; up to MAX_CLIENTS
 *                clients at once (more are closed at once).
 *   --log-max-size BYTES, --log-max-file N
 *                Docker's json-file rotation: once LOG_FILE holds BYTES it
 *                becomes LOG_FILE.1 (LOG_FILE.1 becomes .2 ... up to N-1)
 *                and a new LOG_FILE starts; with N = 1 it is emptied.
 *                An empty LOG_FILE argument: no log (--log-driver none).
 *   --health INTERVAL_MS:START_PERIOD_MS:START_INTERVAL_MS
 *                Docker's health check: while the container runs, every
 *                interval (START_INTERVAL_MS during the first
 *                START_PERIOD_MS when it is not 0) it runs CLEANUP_ARGV
 *                with `--probe` appended (`fastctr container cleanup ID
 *                --probe`: one probe, its result in health.json), never two
 *                at once; the next waits for the end of the last.  A probe
 *                still running when the container exits is killed.
 * Every message on an attach connection is framed: 1 byte type, 4 bytes
 * big-endian payload length, the payload.
 *   monitor -> client: 1 stdout data, 2 stderr data, 3 exit (the exit code
 *                      in ASCII decimal; sent after the output was drained
 *                      and EXIT_FILE written, then the monitor hangs up).
 *   client -> monitor: 0 stdin data, 4 resize (rows, cols: u16 BE each;
 *                      TIOCSWINSZ on the master with --tty), 5 stdin EOF
 *                      (closes the stdin pipe; ignored with --tty, where
 *                      Ctrl-D is a byte like any other).
 * A client sees the output from when it attached.  A client that hangs up
 * is dropped (that is detaching: the client recognises the detach keys), as
 * is one that does not keep up: output is sent without blocking, so neither
 * the log nor the container ever waits for a client.  Input is written
 * without blocking too: while the container does not read it, the monitor
 * stops reading the clients.
 *
 * It is linked statically and allocates nothing after start-up: an idle
 * monitor is a few pages of memory, blocked in poll(). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* Docker splits lines longer than 16 KiB into partial records. */
#define LINE_MAX_BYTES 16384
#define DRAIN_SECONDS 2
#define MAX_CLIENTS 16
#define CLIENT_SNDBUF (1 << 20)
#define EXIT_SEND_MS 1000

enum { MSG_STDIN = 0, MSG_STDOUT = 1, MSG_STDERR = 2, MSG_EXIT = 3, MSG_RESIZE = 4, MSG_EOF = 5 };

struct stream {
    const char *name;
    int fd;
    int type;  /* the message type its data travels in */
    size_t used;
    char *buf;  /* LINE_MAX_BYTES of line_bufs */
};

/* An attached client: where it is in the frame it is sending us.  Zero is
 * an empty slot, so that the table costs nothing until a client comes. */
struct client {
    int used, fd;
    unsigned char hdr[5], ctl[4];
    unsigned hdr_len, ctl_len;
    uint32_t left;  /* payload bytes of the current frame still to come */
};

static int log_fd = -1, log_max_file = 1;
static const char *log_path;
static long long log_max_size, log_size;
/* One record: escaping can at most sextuple a byte (\u00XX). */
static char record[LINE_MAX_BYTES * 6 + 128];

static int tty_mode, stdin_fd = -1, listen_fd = -1;
static long health_every_ms, health_start_period_ms, health_start_every_ms;
static pid_t probe_pid;
static struct timespec run_started, next_probe;
static char **probe_argv;
static struct stream streams[2];
/* Apart from the streams: an idle monitor writes the streams' fields but no
 * byte of these, so their pages are never made (8 KiB less each). */
static char line_bufs[2][LINE_MAX_BYTES];
static struct client clients[MAX_CLIENTS];
/* Bytes read from one client (in_client) and not yet handled: they wait
 * here while the container's input is full. */
static unsigned char inbuf[16384];
static size_t in_off, in_len;
static int in_client = -1;

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

static void rotate_log(void)
{
    char from[4200], to[4200];
    if (log_max_file <= 1) {
        if (ftruncate(log_fd, 0) == 0)
            log_size = 0;
        return;
    }
    for (int i = log_max_file - 1; i >= 1; i--) {
        if (i == 1)
            snprintf(from, sizeof from, "%s", log_path);
        else
            snprintf(from, sizeof from, "%s.%d", log_path, i - 1);
        snprintf(to, sizeof to, "%s.%d", log_path, i);
        rename(from, to);  /* a file not there yet is no error */
    }
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd >= 0) {
        close(log_fd);
        log_fd = fd;
        log_size = 0;
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
    if (log_fd < 0)
        return;
    write_all(log_fd, record, o);
    log_size += (long long)o;
    if (log_max_size > 0 && log_size >= log_max_size)
        rotate_log();
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
    if (start < s->used && (final || (start == 0 && s->used == LINE_MAX_BYTES))) {
        emit(s, s->buf + start, s->used - start);
        start = s->used;
    }
    memmove(s->buf, s->buf + start, s->used - start);
    s->used -= start;
}

/* ------------------------------------------------------------ clients */

static void drop_client(int i)
{
    close(clients[i].fd);
    memset(&clients[i], 0, sizeof clients[i]);
    if (in_client == i) {  /* its unread input goes with it */
        in_client = -1;
        in_off = in_len = 0;
    }
}

/* One frame, whole or not at all: a client that cannot take it at once is
 * dropped (a partial frame would break the stream).  wait_ms > 0 allows
 * that long for room (only the exit message waits). */
static void send_frame(int i, int type, const char *data, size_t n, int wait_ms)
{
    unsigned char hdr[5] = {(unsigned char)type, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                            (unsigned char)(n >> 8), (unsigned char)n};
    struct iovec iov[2] = {{hdr, sizeof hdr}, {(void *)data, n}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = n ? 2 : 1};
    ssize_t w;
    for (;;) {
        w = sendmsg(clients[i].fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN && wait_ms > 0) {
            struct pollfd p = {.fd = clients[i].fd, .events = POLLOUT};
            if (poll(&p, 1, wait_ms) > 0 && (p.revents & POLLOUT)) {
                wait_ms = 0;
                continue;
            }
        }
        break;
    }
    if (w != (ssize_t)(sizeof hdr + n))
        drop_client(i);
}

static void broadcast(int type, const char *data, size_t n)
{
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (clients[i].used)
            send_frame(i, type, data, n, 0);
}

/* Every connection waiting in the backlog (the listener is non-blocking). */
static void accept_clients(void)
{
    int fd;
    while ((fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0 || errno == EINTR || errno == ECONNABORTED) {
        if (fd < 0)
            continue;
        int i = 0;
        while (i < MAX_CLIENTS && clients[i].used)
            i++;
        if (i == MAX_CLIENTS) {
            close(fd);  /* full */
            continue;
        }
        int size = CLIENT_SNDBUF;
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
        clients[i].used = 1;
        clients[i].fd = fd;
    }
}

/* Where the clients' input goes: the pty master, or the stdin pipe. */
static int input_fd(void)
{
    return tty_mode ? streams[0].fd : stdin_fd;
}

/* -> bytes consumed (written or dropped); 0 when the container's input is
 * full for now. */
static size_t write_input(const unsigned char *p, size_t n)
{
    int fd = input_fd();
    if (fd < 0 || n == 0)
        return n;
    ssize_t w = write(fd, p, n);
    if (w >= 0)
        return (size_t)w;
    if (errno == EAGAIN || errno == EINTR)
        return 0;
    if (!tty_mode) {  /* EPIPE: nobody reads the container's stdin any more */
        close(stdin_fd);
        stdin_fd = -1;
    }
    return n;
}

static void end_frame(struct client *c)
{
    if (c->hdr[0] == MSG_EOF && !tty_mode && stdin_fd >= 0) {
        close(stdin_fd);
        stdin_fd = -1;
    } else if (c->hdr[0] == MSG_RESIZE && tty_mode && c->ctl_len == 4 && streams[0].fd >= 0) {
        struct winsize ws = {.ws_row = (unsigned short)(c->ctl[0] << 8 | c->ctl[1]),
                             .ws_col = (unsigned short)(c->ctl[2] << 8 | c->ctl[3])};
        ioctl(streams[0].fd, TIOCSWINSZ, &ws);
    }
    c->hdr_len = c->ctl_len = 0;
}

/* Handle inbuf[in_off..in_len), read from in_client.  Leaves the rest in
 * place (in_client stays set) when the container's input is full. */
static void handle_input(void)
{
    struct client *c = &clients[in_client];
    while (in_off < in_len) {
        if (c->hdr_len < sizeof c->hdr) {
            c->hdr[c->hdr_len++] = inbuf[in_off++];
            if (c->hdr_len == sizeof c->hdr) {
                c->left = (uint32_t)c->hdr[1] << 24 | (uint32_t)c->hdr[2] << 16 | (uint32_t)c->hdr[3] << 8 | c->hdr[4];
                if (c->left == 0)
                    end_frame(c);
            }
            continue;
        }
        size_t n = in_len - in_off;
        if (n > c->left)
            n = c->left;
        if (c->hdr[0] == MSG_STDIN) {
            size_t w = write_input(inbuf + in_off, n);
            in_off += w;
            c->left -= (uint32_t)w;
            if (c->left == 0)
                end_frame(c);
            if (w < n)
                return;  /* full: wait for POLLOUT */
            continue;
        }
        for (size_t k = 0; k < n && c->ctl_len < sizeof c->ctl; k++)
            c->ctl[c->ctl_len++] = inbuf[in_off + k];
        in_off += n;
        c->left -= (uint32_t)n;
        if (c->left == 0)
            end_frame(c);
    }
    in_off = in_len = 0;
    in_client = -1;
}

static void read_client(int i)
{
    ssize_t n = recv(clients[i].fd, inbuf, sizeof inbuf, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {  /* hung up: detached */
        drop_client(i);
        return;
    }
    in_client = i;
    in_off = 0;
    in_len = (size_t)n;
    handle_input();
}

/* ------------------------------------------------------------ streams */

/* Returns 0 at end of stream. */
static int pump(struct stream *s)
{
    ssize_t n = read(s->fd, s->buf + s->used, LINE_MAX_BYTES - s->used);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 1;
    if (n <= 0) {  /* EOF, or EIO: a pty master whose slaves are all closed */
        flush_lines(s, 1);
        close(s->fd);
        s->fd = -1;
        return 0;
    }
    broadcast(s->type, s->buf + s->used, (size_t)n);
    s->used += (size_t)n;
    flush_lines(s, 0);
    return 1;
}

static int exit_code(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void write_exit_file(const char *path, int code)
{
    char tmp[4096], text[128];
    struct timespec ts;
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

static long ms_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)((now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000);
}

/* The next probe, one interval from now (the start interval early on). */
static void schedule_probe(void)
{
    long every = health_every_ms;
    if (health_start_period_ms > 0 && health_start_every_ms > 0 && ms_since(&run_started) < health_start_period_ms)
        every = health_start_every_ms;
    clock_gettime(CLOCK_MONOTONIC, &next_probe);
    next_probe.tv_sec += every / 1000;
    next_probe.tv_nsec += (every % 1000) * 1000000;
    if (next_probe.tv_nsec >= 1000000000) {
        next_probe.tv_sec++;
        next_probe.tv_nsec -= 1000000000;
    }
}

/* -> ms until the next probe is due (0: now), -1 without health checks or
 * while one runs. */
static int probe_wait_ms(void)
{
    if (!health_every_ms || probe_pid > 0)
        return -1;
    long left = -ms_since(&next_probe);
    return left < 0 ? 0 : (int)(left > 1 << 30 ? 1 << 30 : left);
}

static void start_probe(const sigset_t *blocked)
{
    pid_t p = fork();
    if (p == 0) {
        sigprocmask(SIG_UNBLOCK, blocked, NULL);  /* the probe waits for its own children */
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        execv(probe_argv[0], probe_argv);
        _exit(127);
    }
    if (p > 0)
        probe_pid = p;
    else
        schedule_probe();  /* no fork now: try again an interval later */
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
        } else if (p == probe_pid) {
            probe_pid = 0;
            schedule_probe();
        }
    }
    return found;
}

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [--tty] [--stdin FD] [--attach FD] EXIT_FILE LOG_FILE PID OUT_FD ERR_FD -- CLEANUP...\n",
            prog);
}

/* -> fd, or -1 when it is not open. */
static int own_fd(int fd, int nonblock)
{
    if (fd < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)  /* the clean-up inherits none of them */
        return -1;
    if (nonblock)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

int main(int argc, char **argv)
{
    int a = 1;
    while (a < argc && strncmp(argv[a], "--", 2) == 0 && argv[a][2] != '\0') {
        if (strcmp(argv[a], "--tty") == 0) {
            tty_mode = 1;
            a++;
        } else if (strcmp(argv[a], "--stdin") == 0 && a + 1 < argc) {
            stdin_fd = atoi(argv[a + 1]);
            a += 2;
        } else if (strcmp(argv[a], "--attach") == 0 && a + 1 < argc) {
            listen_fd = atoi(argv[a + 1]);
            a += 2;
        } else if (strcmp(argv[a], "--log-max-size") == 0 && a + 1 < argc) {
            log_max_size = atoll(argv[a + 1]);
            a += 2;
        } else if (strcmp(argv[a], "--log-max-file") == 0 && a + 1 < argc) {
            log_max_file = atoi(argv[a + 1]);
            a += 2;
        } else if (strcmp(argv[a], "--health") == 0 && a + 1 < argc) {
            if (sscanf(argv[a + 1], "%ld:%ld:%ld", &health_every_ms, &health_start_period_ms,
                       &health_start_every_ms) != 3 || health_every_ms <= 0) {
                usage(argv[0]);
                return 2;
            }
            a += 2;
        } else {
            usage(argv[0]);
            return 2;
        }
    }
    if (argc - a < 7 || strcmp(argv[a + 5], "--") != 0) {
        usage(argv[0]);
        return 2;
    }
    char **args = argv + a;
    const char *exit_file = args[0];
    pid_t init = (pid_t)atoi(args[2]);
    streams[0].buf = line_bufs[0];
    streams[1].buf = line_bufs[1];
    streams[0].name = "stdout";
    streams[0].fd = atoi(args[3]);
    streams[0].type = MSG_STDOUT;
    streams[1].name = "stderr";
    streams[1].fd = atoi(args[4]);
    streams[1].type = MSG_STDERR;
    log_path = args[1];
    if (log_path[0]) {
        log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        struct stat st;
        if (log_fd >= 0 && fstat(log_fd, &st) == 0)
            log_size = (long long)st.st_size;  /* a restart appends to the same log */
    }
    /* The master is written too: never wait on a container that does not
     * read its input.  The stdin pipe likewise. */
    streams[0].fd = own_fd(streams[0].fd, tty_mode);
    streams[1].fd = own_fd(streams[1].fd, 0);
    stdin_fd = own_fd(stdin_fd, 1);
    listen_fd = own_fd(listen_fd, 1);

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
    clock_gettime(CLOCK_MONOTONIC, &run_started);
    if (health_every_ms) {  /* CLEANUP_ARGV --probe: made once, here */
        int n = argc - (a + 6);
        probe_argv = calloc((size_t)n + 2, sizeof *probe_argv);
        if (probe_argv) {
            memcpy(probe_argv, argv + a + 6, (size_t)n * sizeof *probe_argv);
            probe_argv[n] = "--probe";
            schedule_probe();
        } else {
            health_every_ms = 0;
        }
    }

    int status = 0, exited = reap(init, &status), open_streams = (streams[0].fd >= 0) + (streams[1].fd >= 0);
    struct timespec deadline = {0};
    enum { P_OUT, P_ERR, P_SIG, P_LISTEN, P_INPUT, P_CLIENTS, P_N = P_CLIENTS + MAX_CLIENTS };
    /* Until the output has ended and the init has exited, with a short
     * drain after the exit when the output outlives it. */
    while (open_streams > 0 || !exited) {
        if (in_client >= 0 && input_fd() < 0)
            handle_input();  /* the input went away: drop what waits for it */
        struct pollfd pfd[P_N];
        pfd[P_OUT] = (struct pollfd){.fd = streams[0].fd, .events = POLLIN};
        pfd[P_ERR] = (struct pollfd){.fd = streams[1].fd, .events = POLLIN};
        pfd[P_SIG] = (struct pollfd){.fd = exited ? -1 : sfd, .events = POLLIN};
        pfd[P_LISTEN] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
        pfd[P_INPUT] = (struct pollfd){.fd = in_client >= 0 ? input_fd() : -1, .events = POLLOUT};
        for (int i = 0; i < MAX_CLIENTS; i++)  /* not read while input waits */
            pfd[P_CLIENTS + i] = (struct pollfd){.fd = clients[i].used && in_client < 0 ? clients[i].fd : -1,
                                                 .events = POLLIN};
        int timeout = exited ? -1 : probe_wait_ms();
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
        if (poll(pfd, P_N, timeout) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (!exited && probe_wait_ms() == 0)
            start_probe(&mask);
        /* New clients first: one that connected before some output was
         * written gets that output (the CLI connects, then lets the
         * container run). */
        if (listen_fd >= 0 && (pfd[P_LISTEN].revents & POLLIN))
            accept_clients();
        else if (listen_fd >= 0 && (pfd[P_LISTEN].revents & (POLLERR | POLLNVAL))) {
            close(listen_fd);  /* broken: no more attaching, but no busy loop */
            listen_fd = -1;
        }
        for (int i = 0; i < 2; i++)
            if (streams[i].fd >= 0 && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)))
                open_streams -= !pump(&streams[i]);
        if (!exited && (pfd[P_SIG].revents & POLLIN)) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) > 0)
                ;
            exited = reap(init, &status);
        }
        if (in_client >= 0 && (pfd[P_INPUT].revents & (POLLOUT | POLLHUP | POLLERR | POLLNVAL)))
            handle_input();
        for (int i = 0; i < MAX_CLIENTS; i++)
            if (clients[i].used && in_client < 0 && pfd[P_CLIENTS + i].fd == clients[i].fd &&
                (pfd[P_CLIENTS + i].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)))
                read_client(i);
    }
    while (!exited) {  /* poll failed: wait for the init in waitpid */
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
        if (streams[i].fd >= 0) {
            flush_lines(&streams[i], 1);
            close(streams[i].fd);
        }
    if (probe_pid > 0) {  /* its container is gone: so is what it probed */
        kill(probe_pid, SIGKILL);
        while (waitpid(probe_pid, NULL, 0) < 0 && errno == EINTR)
            ;
        probe_pid = 0;
    }
    int code = exit_code(status);
    write_exit_file(exit_file, code);
    if (log_fd >= 0)
        close(log_fd);
    if (listen_fd >= 0)
        close(listen_fd);  /* from now on, connecting is refused */
    /* Every client learns the exit code (a slow one gets a moment, all of
     * them together), then the monitor hangs up. */
    char text[16];
    int n = snprintf(text, sizeof text, "%d", code);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (clients[i].used) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            int spent = (int)((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
            send_frame(i, MSG_EXIT, text, (size_t)n, spent < EXIT_SEND_MS ? EXIT_SEND_MS - spent : 0);
            if (clients[i].used)
                drop_client(i);
        }
    }
    sigprocmask(SIG_UNBLOCK, &mask, NULL);
    execv(args[6], args + 6);
    return 127;
}
