/* fastctr / fastctr-runc launcher: start the Python CLI without `site`.
 *
 * containerd runs the runtime binary several times per container, and on
 * many machines site-packages .pth files cost far more than fastctr itself
 * (here ~100 ms of ~115).  This executable sits next to the interpreter in
 * bin/, finds <prefix>/lib/pythonX.Y/site-packages, and runs
 *   python -S -c "<put site-packages on sys.path; run the CLI>" ARGS...
 * The current directory is dropped from sys.path (-c puts it first): run in
 * a source tree, the CLI must still import the installed package.
 * Where that directory does not exist it falls back to a normal start.
 * FASTCTR_T0_NS (CLOCK_MONOTONIC, just before the exec) is where a traced
 * command's first stage, the interpreter and imports, starts (fastctr/trace.py).
 * fastctr.launch.run imports the CLI with the garbage collector off and
 * exits without the interpreter's finalization when nothing needs it
 * (together ~10 ms of a cold `fastctr run`).
 * Built with FCTR_SERVER_CLIENT (the `fastctr` launcher, not fastctr-runc,
 * whose shim must be the parent of what it creates), it first hands the
 * command to a running `fastctr serve` (csrc/client.c). */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef FCTR_SERVER_CLIENT
#include "client.h"
#endif

#ifndef FCTR_PY_VERSION
#error "FCTR_PY_VERSION must be set, e.g. \"3.11\""
#endif
#ifndef FCTR_CLI_MODULE
#define FCTR_CLI_MODULE "fastctr.runtime.runc_cli"
#endif
#ifndef FCTR_CLI_NAME
#define FCTR_CLI_NAME "fastctr-runc"
#endif

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int main(int argc, char **argv)
{
    struct timespec ts;
    char t0[32];
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(t0, sizeof t0, "%llu", (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec);
    setenv("FASTCTR_T0_NS", t0, 1);
#ifdef FCTR_SERVER_CLIENT
    int status = fastctr_client(argc, argv);
    if (status != FASTCTR_CLIENT_COLD)
        return status;
#endif
    char self[PATH_MAX], python[PATH_MAX + 32], site[PATH_MAX + 64], code[2 * PATH_MAX + 256];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        perror("fastctr: readlink /proc/self/exe");
        return 125;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    *slash = '\0'; /* self is now bin/ */
    snprintf(python, sizeof python, "%s/python" FCTR_PY_VERSION, self);
    if (access(python, X_OK) != 0)
        snprintf(python, sizeof python, "%s/python3", self);
    char *prefix_end = strrchr(self, '/');
    if (prefix_end)
        *prefix_end = '\0'; /* self is now the prefix */
    snprintf(site, sizeof site, "%s/lib/python" FCTR_PY_VERSION "/site-packages", self);

    char **args = calloc((size_t)argc + 5, sizeof(char *));
    if (!args)
        return 125;
    int i = 0;
    args[i++] = python;
    if (is_dir(site)) {
        args[i++] = "-S";
        snprintf(code, sizeof code,
                 "import sys; sys.argv[0] = '" FCTR_CLI_NAME "'; "
                 "sys.path[:] = [r'''%s'''] + [p for p in sys.path if p]; "
                 "from fastctr.launch import run; run('" FCTR_CLI_MODULE "')", site);
    } else {
        snprintf(code, sizeof code,
                 "import sys; sys.argv[0] = '" FCTR_CLI_NAME "'; sys.path[:] = [p for p in sys.path if p]; "
                 "from fastctr.launch import run; run('" FCTR_CLI_MODULE "')");
    }
    args[i++] = "-c";
    args[i++] = code;
    for (int a = 1; a < argc; a++)
        args[i++] = argv[a];
    args[i] = NULL;
    execv(python, args);
    fprintf(stderr, "fastctr: cannot run %s: ", python);
    perror(NULL);
    return 125;
}
