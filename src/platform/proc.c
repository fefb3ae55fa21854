#include "config.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sched.h>

#include <event2/event.h>

#include "platform/platform.h"
#include "platform/proc.h"
#include "util/xalloc.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

struct proc_watch {
    struct event *ev;
    pid_t pid;
    int pidfd;
    proc_exit_fn cb;
    void *data;
};

/*
 * crispd blocks SIGTERM, SIGINT and SIGHUP (read through a signalfd) and
 * ignores SIGPIPE; a child must not pass either on through execve.
 */
static void reset_signals(void)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigset_t none;

    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL);
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

pid_t proc_clone(uint64_t flags, int *ret_pidfd, struct err **err)
{
    return proc_clone_into(flags, -1, ret_pidfd, err);
}

pid_t proc_clone_into(uint64_t flags, int cgroup_fd, int *ret_pidfd, struct err **err)
{
    struct clone_args args;
    int pidfd = -1;
    long pid;

    memset(&args, 0, sizeof(args));
    args.flags = flags | CLONE_PIDFD;
    args.pidfd = (uint64_t)(uintptr_t)&pidfd;
    args.exit_signal = SIGCHLD;
    if (cgroup_fd >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = (uint64_t)cgroup_fd;
    }

    pid = syscall(SYS_clone3, &args, sizeof(args));
    if (pid < 0)
        return err_sys(err, "clone3");
    if (pid == 0) {
        reset_signals();
        return 0;
    }

    *ret_pidfd = pidfd;
    return (pid_t)pid;
}

int proc_signal(int pidfd, int sig, struct err **err)
{
    if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0) {
        if (errno == ESRCH)
            return 0;
        return err_sys(err, "send signal %d through pidfd", sig);
    }
    return 0;
}

static void on_pidfd_readable(evutil_socket_t fd, short what, void *arg)
{
    struct proc_watch *w = arg;
    siginfo_t info;
    int code = 0, sig = 0;

    (void)fd;
    (void)what;
    memset(&info, 0, sizeof(info));
    if (waitid((idtype_t)P_PIDFD, (id_t)w->pidfd, &info, WEXITED | WNOHANG) < 0) {
        if (errno != ECHILD)
            return;
        /* Not our child (or already reaped elsewhere): report an unknown status. */
        code = -1;
    } else if (info.si_pid == 0) {
        /* Spurious wake-up: the process has not exited yet. */
        event_add(w->ev, NULL);
        return;
    } else if (info.si_code == CLD_EXITED) {
        code = info.si_status;
    } else {
        sig = info.si_status;
        code = 128 + sig;
    }

    w->cb(w->data, w->pid, code, sig);
}

struct proc_watch *proc_watch_new(struct event_base *base, pid_t pid, int pidfd, proc_exit_fn cb,
                                  void *data)
{
    struct proc_watch *w = xzalloc(sizeof(*w));

    w->pid = pid;
    w->pidfd = pidfd;
    w->cb = cb;
    w->data = data;
    w->ev = event_new(base, pidfd, EV_READ, on_pidfd_readable, w);
    if (!w->ev)
        abort();
    event_add(w->ev, NULL);
    return w;
}

void proc_watch_free(struct proc_watch *w)
{
    if (!w)
        return;
    event_free(w->ev);
    free(w);
}
