#include "config.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "platform/cgroup.h"
#include "platform/internal.h"
#include "platform/platform.h"
#include "platform/proc.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* A pause process on its way up, from clone3() until cb runs. */
struct pod_start {
    struct event *ev;
    struct proc_watch *watch;
    struct pod_proc proc;
    int sync_fd;
    struct err *err;
    pod_started_fn cb;
    void *data;
};

static void pod_start_free(struct pod_start *ps)
{
    if (ps->ev)
        event_free(ps->ev);
    proc_watch_free(ps->watch);
    if (ps->sync_fd >= 0)
        close(ps->sync_fd);
    err_free(ps->err);
    free(ps);
}

/* ---- child ---- */

static int loopback_up(struct err **err)
{
    _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;

    if (fd < 0)
        return err_sys(err, "create socket to configure loopback");
    memset(&ifr, 0, sizeof(ifr));
    strncpy(ifr.ifr_name, "lo", sizeof(ifr.ifr_name) - 1);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        return err_sys(err, "get flags of interface 'lo'");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        return err_sys(err, "bring interface 'lo' up");
    return 0;
}

static int stdio_to_null(struct err **err)
{
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

    if (fd < 0)
        return err_sys(err, "open '/dev/null'");
    for (int i = 0; i < 3; i++) {
        if (dup2(fd, i) < 0)
            return err_sys(err, "duplicate '/dev/null' to fd %d", i);
    }
    if (fd > 2)
        close(fd);
    return 0;
}

/*
 * In a new user namespace: wait until the parent has written the ID maps
 * and moved us into the cgroup (we are no longer host root), then become
 * the namespace's root.  setgroups stays allowed, because a privileged
 * parent wrote gid_map, so containers can set supplementary groups.
 */
static int become_userns_root(int sync_fd, struct err **err)
{
    char go;
    ssize_t n;

    do {
        n = recv(sync_fd, &go, 1, 0);
    } while (n < 0 && errno == EINTR);
    if (n != 1)
        _exit(1); /* the parent gave up and reports the error itself */
    if (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
        return err_sys(err, "become root of the pod's user namespace");
    return 0;
}

static void __attribute__((noreturn)) pod_child(const struct pod_spec *spec, int sync_fd)
{
    char *argv[] = {(char *)"crisp-pause", NULL};
    char *envp[] = {NULL};
    int *keep[] = {&sync_fd};
    struct err *e = NULL;

    child_reset_signals();
    if (spec->userns && become_userns_root(sync_fd, &e) < 0)
        child_fail(sync_fd, e, 1);
    if (!spec->userns && cgroup_child_join(spec->cgroup_path, &e) < 0) /* cgroup hook */
        child_fail(sync_fd, e, 1);
    (void)setsid();
    if (child_close_fds(keep, ARRAY_SIZE(keep), &e) < 0 || stdio_to_null(&e) < 0)
        child_fail(sync_fd, e, 1);
    if (spec->hostname && spec->hostname[0] &&
        sethostname(spec->hostname, strlen(spec->hostname)) < 0) {
        err_sys(&e, "set hostname '%s'", spec->hostname);
        child_fail(sync_fd, e, 1);
    }
    if (!spec->host_network && loopback_up(&e) < 0)
        child_fail(sync_fd, e, 1);
    /* The child is in the pod's network and IPC namespaces, which /proc/sys shows. */
    for (size_t i = 0; i < spec->n_sysctls; i++) {
        if (sysctl_write(spec->sysctls[i].key, spec->sysctls[i].value, &e) < 0)
            child_fail(sync_fd, e, 1);
    }

    /* Last, since setting the hostname and sysctls above needs root. */
    if (spec->has_user &&
        (setgroups(spec->n_groups, spec->groups) < 0 || setresgid(spec->gid, spec->gid, spec->gid) < 0 ||
         setresuid(spec->uid, spec->uid, spec->uid) < 0)) {
        err_sys(&e, "run the pause process as user %u, group %u", (unsigned)spec->uid,
                (unsigned)spec->gid);
        child_fail(sync_fd, e, 1);
    }

    execve(spec->pause_path, argv, envp);
    err_sys(&e, "exec pause binary '%s'", spec->pause_path);
    child_fail(sync_fd, e, 127);
}

/* ---- parent ---- */

static void on_pause_reaped(void *data, pid_t pid, int exit_code, int sig)
{
    struct pod_start *ps = data;

    (void)pid;
    if (!ps->err && sig)
        err_status(&ps->err, GRPC_STATUS_INTERNAL,
                   "pause process killed by signal %d during start-up", sig);
    else if (!ps->err)
        err_status(&ps->err, GRPC_STATUS_INTERNAL,
                   "pause process exited with code %d during start-up", exit_code);
    ps->cb(ps->data, NULL, ps->err);
    /* Stop watching before the pidfd closes. */
    proc_watch_free(ps->watch);
    ps->watch = NULL;
    close(ps->proc.pidfd);
    pod_start_free(ps);
}

/* True when the child has already exited (its status stays for the watch to reap). */
static bool child_exited(int pidfd)
{
    siginfo_t info;

    memset(&info, 0, sizeof(info));
    if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED | WNOHANG | WNOWAIT) < 0)
        return true;
    return info.si_pid != 0;
}

static void on_pod_sync(evutil_socket_t fd, short what, void *arg)
{
    struct pod_start *ps = arg;
    struct sync_msg msg;
    int r;

    (void)what;
    r = sync_recv(fd, &msg);
    if (r == -EAGAIN)
        return;

    /* End of file without an error: execve closed the child's end, pause runs. */
    if (r == 0 && !child_exited(ps->proc.pidfd)) {
        ps->cb(ps->data, &ps->proc, NULL);
        pod_start_free(ps);
        return;
    }

    if (r == 1 && msg.kind == SYNC_ERROR)
        ps->err = sync_msg_err(&msg);
    else if (r < 0)
        err_errno(&ps->err, -r, "read pause start-up message");
    event_del(ps->ev);
    ps->watch = proc_watch_new(event_get_base(ps->ev), ps->proc.pid, ps->proc.pidfd,
                               on_pause_reaped, ps);
}

static uint64_t pod_clone_flags(const struct pod_spec *spec)
{
    uint64_t flags = CLONE_NEWUTS;

    if (spec->userns)
        flags |= CLONE_NEWUSER;

    if (!spec->host_ipc)
        flags |= CLONE_NEWIPC;
    if (!spec->host_network)
        flags |= CLONE_NEWNET;
    if (spec->pod_pid_namespace)
        flags |= CLONE_NEWPID;
    return flags;
}

static int write_proc_file(pid_t pid, const char *name, const char *text, struct err **err)
{
    char path[64];
    _cleanup_close_ int fd = -EBADF;
    size_t len = strlen(text);

    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return err_sys(err, "open '%s'", path);
    /* The kernel takes a whole map in one write(2) only. */
    if (write(fd, text, len) != (ssize_t)len)
        return err_sys(err, "write '%s'", path);
    return 0;
}

/*
 * Write the ID maps of the pause's new user namespace and, because the
 * child is no longer host root once mapped, move it into its cgroup here
 * (on v2 clone3 already put it there).  Then let it go on.
 */
static int setup_userns(const struct pod_spec *spec, pid_t pid, int sync_fd, struct err **err)
{
    _cleanup_free_ char *uids = id_map_format(spec->userns->uids, spec->userns->n_uids);
    _cleanup_free_ char *gids = id_map_format(spec->userns->gids, spec->userns->n_gids);

    if (write_proc_file(pid, "uid_map", uids, err) < 0 ||
        write_proc_file(pid, "gid_map", gids, err) < 0)
        return err_wrap(err, "set up the user namespace of pod %s", spec->id);
    if (spec->cgroup_path && cgroup_version() == 1 && cgroup_enter(spec->cgroup_path, pid, err) < 0)
        return -1;
    if (send(sync_fd, "g", 1, MSG_NOSIGNAL) != 1)
        return err_sys(err, "send go to pause process %d", (int)pid);
    return 0;
}

int platform_pod_start(struct event_base *base, const struct pod_spec *spec, pod_started_fn cb,
                       void *data, struct err **err)
{
    _cleanup_close_ int cgroup_fd = -EBADF;
    struct pod_start *ps;
    int fds[2];
    pid_t pid;

    if (!spec->pause_path || !spec->pause_path[0])
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "pod %s: pause binary path is empty",
                          spec->id);
    if (cgroup_clone_fd(spec->cgroup_path, &cgroup_fd, err) < 0 || sync_pair(fds, err) < 0)
        return -1;

    ps = xzalloc(sizeof(*ps));
    ps->cb = cb;
    ps->data = data;
    ps->sync_fd = fds[0];

    pid = proc_clone_into(pod_clone_flags(spec), cgroup_fd, &ps->proc.pidfd, err);
    if (pid == 0) {
        close(fds[0]);
        pod_child(spec, fds[1]);
    }
    close(fds[1]);
    if (pid < 0) {
        pod_start_free(ps);
        return err_wrap(err, "start pause process for pod %s", spec->id);
    }

    ps->proc.pid = pid;
    ps->ev = event_new(base, ps->sync_fd, EV_READ | EV_PERSIST, on_pod_sync, ps);
    if (!ps->ev)
        abort();
    if (spec->userns && setup_userns(spec, pid, ps->sync_fd, &ps->err) < 0) {
        /* Report once the child is reaped, as for a failure inside it. */
        (void)proc_signal(ps->proc.pidfd, SIGKILL, NULL);
        ps->watch = proc_watch_new(base, pid, ps->proc.pidfd, on_pause_reaped, ps);
        return 0;
    }
    event_add(ps->ev, NULL);
    return 0;
}
