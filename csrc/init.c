/* fastctr-init: the tiny init of `fastctr run --init` (the part tini plays
 * for `docker run --init`).
 *
 *   init [--] CMD [ARGS...]
 *
 * It runs CMD as its only child and then does the two jobs a program not
 * written to be PID 1 leaves undone:
 *   - signals: PID 1 of a PID namespace ignores every signal it has no
 *     handler for, so `docker stop` would only ever work by SIGKILL for a
 *     shell or a plain program run as PID 1.  Init takes every signal and
 *     forwards it to CMD, which then gets the default behaviour it expects.
 *   - zombies: orphans are re-parented to PID 1 (or to the nearest child
 *     subreaper); init waits for all of them so none stays a zombie.
 * It exits when CMD exits, with CMD's exit code, or 128+N if CMD was killed
 * by signal N; the kernel then kills whatever is left in the namespace.
 * Exit codes of its own: 127 (CMD not found), 126 (CMD not executable),
 * 2 (usage), 1 (fork failed).
 *
 * Linked statically: it is bind-mounted into images that may have no libc. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    sigset_t all, orig;
    siginfo_t si;
    int status, take_tty;
    pid_t child, pid;

    argv++;
    argc--;
    if (argc > 0 && strcmp(argv[0], "--") == 0) {
        argv++;
        argc--;
    }
    if (argc < 1) {
        fputs("usage: init [--] CMD [ARGS...]\n", stderr);
        return 2;
    }

    /* Outside a PID namespace of its own (e.g. in tests, or a container
     * sharing the host's PID namespace) orphans would go to the real init;
     * as a subreaper they come to us instead.  Failure only costs reaping. */
    if (getpid() != 1)
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

    /* Block everything before fork, so that no signal is lost between fork
     * and the first sigwaitinfo: they wait as pending until we collect them.
     * Blocked SIGTTIN/SIGTTOU also keep init (and the child until it execs)
     * from being stopped when it touches a terminal it no longer owns. */
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &orig);

    /* With a terminal that we own (our process group is its foreground),
     * CMD gets a process group of its own and the terminal's foreground:
     * then ^C/^Z/^\ from the tty reach CMD once, instead of both CMD and
     * init (which would forward them a second time), and a shell as CMD can
     * do job control.  Without one, CMD stays in our group, like a plain
     * fork.  Checked here rather than in the child so that running init in
     * the background of an interactive shell never steals its terminal. */
    take_tty = isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp();

    child = fork();
    if (child < 0) {
        fprintf(stderr, "init: fork: %s\n", strerror(errno));
        return 1;
    }
    if (child == 0) {
        if (take_tty) {
            setpgid(0, 0);
            /* Allowed from a background group because SIGTTOU is blocked. */
            tcsetpgrp(STDIN_FILENO, getpgrp());
        }
        /* Init installs no handlers, so the dispositions are already the
         * ones we were started with (the engine resets them to default);
         * only the mask needs undoing.  exec keeps the mask, so this must
         * happen here. */
        sigprocmask(SIG_SETMASK, &orig, NULL);
        execvp(argv[0], argv);
        int err = errno;
        fprintf(stderr, "init: exec %s: %s\n", argv[0], strerror(err));
        _exit(err == ENOENT ? 127 : 126);
    }

    for (;;) {
        int sig = sigwaitinfo(&all, &si);
        if (sig < 0)
            continue; /* EINTR, e.g. after being stopped and continued */
        if (sig != SIGCHLD) {
            /* To CMD alone, not its group: what CMD's own children get is
             * CMD's business, exactly as if CMD were PID 1 itself. */
            kill(child, sig);
            continue;
        }
        /* Standard signals do not queue: one SIGCHLD may stand for many
         * exits, so reap until nothing is left to reap right now. */
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            if (pid != child)
                continue;
            if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
            return WEXITSTATUS(status);
        }
    }
}
