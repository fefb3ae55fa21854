#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keeper.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

char *keeper_exits_dir(const char *state_dir)
{
    return path_join(state_dir, "exits");
}

uint64_t proc_start_time(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long long start = 0;
    _cleanup_close_ int fd = -EBADF;
    ssize_t n;
    char *p;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return 0;
    buf[n] = '\0';

    /* The command name (field 2) may hold spaces and ')': fields restart after the last ')'. */
    p = strrchr(buf, ')');
    if (!p)
        return 0;
    /* After ')' come field 3 (state) ... field 22 (starttime): field N follows the
     * (N - 2)th space after ')', so skip 20 separators. */
    for (int field = 2; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    if (!p || sscanf(p + 1, "%llu", &start) != 1)
        return 0;
    return start;
}

char *keeper_exit_record_path(const char *state_dir, pid_t pid, uint64_t start_time)
{
    _cleanup_free_ char *dir = keeper_exits_dir(state_dir);

    return xasprintf("%s/%d-%llu", dir, (int)pid, (unsigned long long)start_time);
}

int keeper_take_exit(const char *state_dir, pid_t pid, uint64_t start_time, int *ret_exit_code,
                     int64_t *ret_finished_at)
{
    _cleanup_free_ char *path = keeper_exit_record_path(state_dir, pid, start_time);
    _cleanup_free_ char *text = NULL;
    long long finished = 0;
    int code = 0;

    if (read_file(path, 256, &text, NULL, NULL) < 0)
        return 0;
    if (sscanf(text, "%d %lld", &code, &finished) != 2)
        return 0;
    unlink(path);
    *ret_exit_code = code;
    *ret_finished_at = finished;
    return 1;
}


/* The argument vector of crisp-keeper; see keeper-main.c for its options.  Caller frees. */
static char **keeper_argv(const struct keeper_args *a, pid_t reactor, const char *crispd_path,
                          char **argv)
{
    size_t argc = 0, n = 0;
    char **v;

    while (argv[argc])
        argc++;
    v = xcalloc(argc + 16, sizeof(*v));
    v[n++] = xstrdup("crisp-keeper");
    v[n++] = xasprintf("--state-dir=%s", a->state_dir);
    v[n++] = xasprintf("--restart-delay=%u", a->restart_delay_ms);
    v[n++] = xasprintf("--reactor-pid=%d", (int)reactor);
    if (a->log_level)
        v[n++] = xasprintf("--log-level=%s", a->log_level);
    if (a->log_format)
        v[n++] = xasprintf("--log-format=%s", a->log_format);
    v[n++] = xstrdup("--");
    v[n++] = xstrdup(crispd_path);
    for (size_t i = 0; i < argc; i++)
        v[n++] = xstrdup(argv[i]);
    return v;
}

int keeper_start(const struct keeper_args *a, char **argv, struct err **err)
{
    _cleanup_free_ char *exits = keeper_exits_dir(a->state_dir);
    char crispd_path[PATH_MAX];
    char **keeper_args;
    ssize_t n;
    sigset_t set;
    pid_t reactor;

    n = readlink("/proc/self/exe", crispd_path, sizeof(crispd_path) - 1);
    if (n < 0)
        return err_sys(err, "read the path of crispd from '/proc/self/exe'");
    crispd_path[n] = '\0';
    if (mkdir_p(exits, 0700, err) < 0)
        return -1;
    /* Set before the fork, so an orphan of the reactor is reparented to this pid even before
     * crisp-keeper runs.  The setting survives execve(2). */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        return err_sys(err, "become child subreaper");

    /* Blocked until crisp-keeper reads them from its signalfd: the mask and any pending
     * signal (a SIGCHLD from a reactor that died early) survive the execve(2). */
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return err_sys(err, "block signals");

    reactor = fork();
    if (reactor < 0)
        return err_sys(err, "fork the reactor process");
    if (reactor == 0) {
        /* The reactor sets up its own signal handling. */
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        return 0;
    }

    keeper_args = keeper_argv(a, reactor, crispd_path, argv);
    execv(a->keeper_path, keeper_args);
    err_sys(err, "execute the keeper '%s'", a->keeper_path);
    strv_free(keeper_args);
    /* Without a keeper there must be no reactor either: the caller exits with the error. */
    kill(reactor, SIGKILL);
    waitpid(reactor, NULL, 0);
    return -1;
}
