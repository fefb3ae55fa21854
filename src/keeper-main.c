/*
 * crisp-keeper: the process above crispd's reactor (see keeper.h).  crispd
 * forks the reactor and then executes this program in its own pid, so the
 * process that supervisors and users see maps libc only and none of the
 * reactor's libraries.  It is the child subreaper: it reaps the pods and
 * containers orphaned by a crash of the reactor, writes each exit status to
 * an exit record, restarts the reactor after a delay, forwards SIGTERM,
 * SIGINT and SIGHUP to it, and exits with the reactor's final status.
 *
 * Usage (only crispd runs it):
 *   crisp-keeper --state-dir=DIR --restart-delay=MS --reactor-pid=PID
 *                [--log-level=LEVEL] [--log-format=FORMAT] -- CRISPD ARGV0 ARG...
 * A new reactor is started as CRISPD with the argument vector
 * ARGV0 --reactor-process ARG...
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
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

#define MAX_DELAY_MS 600000

struct keeper {
    const char *state_dir;
    unsigned restart_delay_ms;
    pid_t reactor;
    const char *crispd_path;
    char **reactor_argv; /* ARGV0 --reactor-process ARG... */
    sigset_t signals;    /* blocked and read from the signalfd */
};

static int parse_uint(const char *name, const char *text, unsigned long max, unsigned long *ret)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(text, &end, 10);
    if (!text[0] || *end || errno || v > max) {
        fprintf(stderr, "crisp-keeper: invalid %s '%s': expected a number from 0 to %lu\n", name,
                text, max);
        return -1;
    }
    *ret = v;
    return 0;
}

/* Parse the command line into k; returns 0, or -1 after printing why. */
static int parse_args(int argc, char **argv, struct keeper *k)
{
    enum { OPT_STATE = 256, OPT_DELAY, OPT_PID, OPT_LEVEL, OPT_FORMAT };
    static const struct option longopts[] = {
        {"state-dir", required_argument, NULL, OPT_STATE},
        {"restart-delay", required_argument, NULL, OPT_DELAY},
        {"reactor-pid", required_argument, NULL, OPT_PID},
        {"log-level", required_argument, NULL, OPT_LEVEL},
        {"log-format", required_argument, NULL, OPT_FORMAT},
        {NULL, 0, NULL, 0},
    };
    enum log_level level = LOG_LEVEL_INFO;
    enum log_format format = LOG_FORMAT_TEXT;
    unsigned long v;
    int opt, n;

    while ((opt = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_STATE:
            k->state_dir = optarg;
            break;
        case OPT_DELAY:
            if (parse_uint("--restart-delay", optarg, MAX_DELAY_MS, &v) < 0)
                return -1;
            k->restart_delay_ms = (unsigned)v;
            break;
        case OPT_PID:
            if (parse_uint("--reactor-pid", optarg, INT32_MAX, &v) < 0)
                return -1;
            k->reactor = (pid_t)v;
            break;
        case OPT_LEVEL:
            if (log_level_parse(optarg, &level) < 0) {
                fprintf(stderr, "crisp-keeper: invalid --log-level '%s'\n", optarg);
                return -1;
            }
            break;
        case OPT_FORMAT:
            if (log_format_parse(optarg, &format) < 0) {
                fprintf(stderr, "crisp-keeper: invalid --log-format '%s'\n", optarg);
                return -1;
            }
            break;
        default:
            return -1;
        }
    }
    if (!k->state_dir || k->reactor <= 0 || argc - optind < 2) {
        fprintf(stderr, "crisp-keeper: --state-dir, --reactor-pid and the crispd command line "
                        "are required; crisp-keeper is started by crispd only\n");
        return -1;
    }
    log_setup(level, format);

    k->crispd_path = argv[optind];
    n = argc - optind - 1;
    k->reactor_argv = xcalloc((size_t)n + 2, sizeof(char *));
    k->reactor_argv[0] = argv[optind + 1];
    k->reactor_argv[1] = (char *)"--reactor-process";
    for (int i = 1; i < n; i++)
        k->reactor_argv[i + 1] = argv[optind + 1 + i];
    return 0;
}

/* Fork and execute a new reactor; returns its pid, or -1 when fork(2) failed. */
static pid_t start_reactor(struct keeper *k)
{
    pid_t pid = fork();

    if (pid != 0)
        return pid;
    /* The reactor sets up its own signal handling. */
    sigprocmask(SIG_UNBLOCK, &k->signals, NULL);
    execv(k->crispd_path, k->reactor_argv);
    log_error("keeper: executing the reactor '%s' failed: %s", k->crispd_path, strerror(errno));
    _exit(127);
}

/*
 * Write the exit record of an orphaned pod or container process, then reap
 * it.  The record comes first: while the zombie stays, a reactor that
 * checks the process finds it (same pid and start time) and waits for the
 * record, which by then exists.
 */
static void record_exit(const char *state_dir, const siginfo_t *child)
{
    _cleanup_err_ struct err *e = NULL;
    pid_t pid = child->si_pid;
    uint64_t start = proc_start_time(pid); /* readable while it is a zombie */
    _cleanup_free_ char *path = keeper_exit_record_path(state_dir, pid, start);
    _cleanup_free_ char *text = NULL;
    struct timespec now;
    int code = child->si_code == CLD_EXITED ? child->si_status : 128 + child->si_status;

    clock_gettime(CLOCK_REALTIME, &now);
    text = xasprintf("%d %lld\n", code, (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
    if (write_file_atomic(path, text, strlen(text), 0600, &e) < 0)
        log_warn_err(e, "keeper: recording the exit of process %d failed; its exit code is lost",
                     (int)pid);
    (void)waitpid(pid, NULL, WNOHANG);
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Reap every child that has exited.  Returns the time to restart the
 * reactor at when it died (or restart_at unchanged); exits the keeper when
 * the reactor stopped for good.
 */
static int64_t reap_children(struct keeper *k, bool stopping, int64_t restart_at)
{
    for (;;) {
        siginfo_t child;
        int status = 0;

        memset(&child, 0, sizeof(child));
        if (waitid(P_ALL, 0, &child, WEXITED | WNOHANG | WNOWAIT) < 0 || child.si_pid == 0)
            return restart_at;
        if (child.si_pid != k->reactor) {
            record_exit(k->state_dir, &child);
            continue;
        }

        waitpid(k->reactor, &status, 0);
        k->reactor = -1;
        if (stopping || (WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            /* Pods and containers stay: they move up to init with the keeper gone. */
            exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
        }
        log_error("keeper: reactor exited with %s %d; restarting it in %u ms",
                  WIFEXITED(status) ? "status" : "signal",
                  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                  k->restart_delay_ms);
        restart_at = monotonic_ms() + k->restart_delay_ms;
    }
}

static int run(struct keeper *k)
{
    _cleanup_close_ int sfd = -EBADF;
    int64_t restart_at = -1;
    bool stopping = false;

    /* crispd set both before it forked the reactor; set again in case another program
     * started this one. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
        log_error("keeper: becoming child subreaper failed: %s", strerror(errno));
        return 1;
    }
    sigemptyset(&k->signals);
    sigaddset(&k->signals, SIGCHLD);
    sigaddset(&k->signals, SIGTERM);
    sigaddset(&k->signals, SIGINT);
    sigaddset(&k->signals, SIGHUP);
    sfd = signalfd(-1, &k->signals, SFD_CLOEXEC);
    if (sfd < 0 || sigprocmask(SIG_BLOCK, &k->signals, NULL) < 0) {
        log_error("keeper: setting up signals failed: %s", strerror(errno));
        return 1;
    }
    log_info("keeper %d started reactor %d", (int)getpid(), (int)k->reactor);
    /* A reactor that died before this program ran left a SIGCHLD pending, which the
     * signalfd reports; reaping here as well costs nothing. */
    restart_at = reap_children(k, stopping, restart_at);

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
            k->reactor = start_reactor(k);
            if (k->reactor < 0) {
                log_error("keeper: fork the reactor process failed: %s", strerror(errno));
                return 1;
            }
            log_info("keeper %d restarted reactor %d", (int)getpid(), (int)k->reactor);
            continue;
        }
        if (read(sfd, &info, sizeof(info)) != sizeof(info))
            continue;

        if (info.ssi_signo == SIGHUP) {
            if (k->reactor > 0)
                kill(k->reactor, SIGHUP);
            continue;
        }
        if (info.ssi_signo != SIGCHLD) {
            stopping = true;
            if (k->reactor <= 0)
                return 0; /* between a crash and the restart: nothing to wait for */
            kill(k->reactor, (int)info.ssi_signo);
            continue;
        }
        restart_at = reap_children(k, stopping, restart_at);
    }
}

int main(int argc, char **argv)
{
    struct keeper k = {.restart_delay_ms = 1000};
    int r;

    if (parse_args(argc, argv, &k) < 0)
        return 2;
    r = run(&k);
    free(k.reactor_argv);
    return r;
}
