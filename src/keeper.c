#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "keeper.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
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
    /* After ')' come field 3 (state) ... field 22 (starttime): skip 19 separators. */
    for (int field = 3; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    if (!p || sscanf(p + 1, "%llu", &start) != 1)
        return 0;
    return start;
}

static char *exit_record_path(const char *state_dir, pid_t pid, uint64_t start_time)
{
    _cleanup_free_ char *dir = keeper_exits_dir(state_dir);

    return xasprintf("%s/%d-%llu", dir, (int)pid, (unsigned long long)start_time);
}

int keeper_take_exit(const char *state_dir, pid_t pid, uint64_t start_time, int *ret_exit_code,
                     int64_t *ret_finished_at)
{
    _cleanup_free_ char *path = exit_record_path(state_dir, pid, start_time);
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

/* ---- the keeper process ---- */

static pid_t start_reactor(sigset_t *blocked)
{
    pid_t pid = fork();

    if (pid == 0) {
        /* The reactor sets up its own signal handling. */
        sigprocmask(SIG_UNBLOCK, blocked, NULL);
        return 0;
    }
    return pid;
}

/* Reap one orphaned pod or container process and write its exit record. */
static void record_exit(const char *state_dir, pid_t pid)
{
    _cleanup_err_ struct err *e = NULL;
    uint64_t start = proc_start_time(pid); /* readable while it is a zombie */
    _cleanup_free_ char *path = exit_record_path(state_dir, pid, start);
    _cleanup_free_ char *text = NULL;
    struct timespec now;
    int status = 0, code;

    if (waitpid(pid, &status, WNOHANG) <= 0)
        return;
    code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    clock_gettime(CLOCK_REALTIME, &now);
    text = xasprintf("%d %lld\n", code, (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
    if (write_file_atomic(path, text, strlen(text), 0600, &e) < 0)
        log_warn_err(e, "keeper: recording the exit of process %d failed; its exit code is lost",
                     (int)pid);
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int keeper_run(const char *state_dir, unsigned restart_delay_ms, struct err **err)
{
    _cleanup_free_ char *exits = keeper_exits_dir(state_dir);
    _cleanup_close_ int sfd = -EBADF;
    int64_t restart_at = -1;
    bool stopping = false;
    int final_status = 0;
    sigset_t set;
    pid_t reactor;

    if (mkdir_p(exits, 0700, err) < 0)
        return -1;
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        return err_sys(err, "become child subreaper");

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return err_sys(err, "block signals");
    sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0)
        return err_sys(err, "signalfd");

    reactor = start_reactor(&set);
    if (reactor < 0)
        return err_sys(err, "fork the reactor process");
    if (reactor == 0) {
        close(TAKE_FD(sfd));
        return 0;
    }
    log_info("keeper %d started reactor %d", (int)getpid(), (int)reactor);

    for (;;) {
        struct pollfd pfd = {.fd = sfd, .events = POLLIN};
        struct signalfd_siginfo info;
        int timeout = -1;

        if (restart_at >= 0) {
            int64_t left = restart_at - monotonic_ms();

            timeout = left > 0 ? (int)left : 0;
        }
        if (poll(&pfd, 1, timeout) == 0) {
            /* The restart delay has passed. */
            restart_at = -1;
            reactor = start_reactor(&set);
            if (reactor == 0) {
                close(TAKE_FD(sfd));
                return 0;
            }
            if (reactor < 0) {
                log_error("keeper: fork the reactor process failed: %s", strerror(errno));
                exit(1);
            }
            log_info("keeper %d restarted reactor %d", (int)getpid(), (int)reactor);
            continue;
        }
        if (read(sfd, &info, sizeof(info)) != sizeof(info))
            continue;

        if (info.ssi_signo != SIGCHLD) {
            if (info.ssi_signo == SIGHUP) {
                if (reactor > 0)
                    kill(reactor, SIGHUP);
                continue;
            }
            stopping = true;
            if (reactor > 0)
                kill(reactor, (int)info.ssi_signo);
            else
                exit(0); /* between a crash and the restart: nothing to wait for */
            continue;
        }

        for (;;) {
            siginfo_t child;
            int status = 0;

            memset(&child, 0, sizeof(child));
            if (waitid(P_ALL, 0, &child, WEXITED | WNOHANG | WNOWAIT) < 0 || child.si_pid == 0)
                break;
            if (child.si_pid != reactor) {
                record_exit(state_dir, child.si_pid);
                continue;
            }

            waitpid(reactor, &status, 0);
            reactor = -1;
            final_status = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
            if (stopping || (WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
                /* Pods and containers stay: they move up to init with the keeper gone. */
                exit(final_status);
            }
            log_error("keeper: reactor exited with %s %d; restarting it in %u ms",
                      WIFEXITED(status) ? "status" : "signal",
                      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                      restart_delay_ms);
            restart_at = monotonic_ms() + restart_delay_ms;
        }
    }
}
