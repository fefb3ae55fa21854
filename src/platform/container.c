#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <event2/event.h>

#include "platform/cgroup.h"
#include "platform/internal.h"
#include "platform/platform.h"
#include "platform/proc.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* The pod's namespaces to join, opened by the parent from /proc/<pod_pid>/ns. */
struct pod_ns {
    int net;
    int ipc;
    int uts;
    int pid;
    int user;
};

/* A create or start in progress, from the request until cb runs. */
struct ctr_op {
    struct event *ev;
    struct proc_watch *watch;
    struct ctr_proc *proc;
    struct err *err;
    ctr_done_fn cb;
    void *data;
};

static void pod_ns_close(struct pod_ns *ns)
{
    close_and_reset(&ns->net);
    close_and_reset(&ns->ipc);
    close_and_reset(&ns->uts);
    close_and_reset(&ns->pid);
    close_and_reset(&ns->user);
}

static void ctr_op_free(struct ctr_op *op)
{
    if (op->ev)
        event_free(op->ev);
    proc_watch_free(op->watch);
    err_free(op->err);
    free(op);
}

/* ---- child ---- */

static int join_ns(int fd, int nstype, const char *name, struct err **err)
{
    if (fd >= 0 && setns(fd, nstype) < 0)
        return err_sys(err, "join the pod's %s namespace", name);
    return 0;
}

/*
 * Switch to the container's user.  With a security context the permitted
 * capabilities survive setuid() (PR_SET_KEEPCAPS) and are raised again, so
 * the bounding set can still be cut and seccomp loaded after it.
 */
static int set_user(const struct ctr_spec *spec, struct err **err)
{
    if (spec->security && caps_keep_on_setuid(true, err) < 0)
        return -1;
    if (setgroups(spec->n_groups, spec->groups) < 0)
        return err_sys(err, "set supplementary groups");
    if (setgid(spec->gid) < 0)
        return err_sys(err, "set group ID %u", (unsigned int)spec->gid);
    if (setuid(spec->uid) < 0)
        return err_sys(err, "set user ID %u", (unsigned int)spec->uid);
    if (spec->security &&
        (caps_keep_on_setuid(false, err) < 0 || caps_raise_permitted(err) < 0))
        return -1;
    return 0;
}

static int set_stdio(int stdout_fd, int stderr_fd, bool tty, struct err **err)
{
    int null_fd;

    if (tty) {
        /* The child is a session leader (setsid() above): the terminal becomes its own. */
        if (dup2(stdout_fd, 0) < 0)
            return err_sys(err, "set stdin to the terminal");
        if (ioctl(0, TIOCSCTTY, 0) < 0)
            return err_sys(err, "make the terminal the controlling terminal");
        if (dup2(stdout_fd, 1) < 0 || dup2(stdout_fd, 2) < 0)
            return err_sys(err, "set stdout and stderr to the terminal");
        return 0;
    }

    null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0)
        return err_sys(err, "open '/dev/null' for stdin");
    if (dup2(null_fd, 0) < 0)
        return err_sys(err, "set stdin to '/dev/null'");
    if (null_fd != 0)
        close(null_fd);
    if (stdout_fd >= 0 && dup2(stdout_fd, 1) < 0)
        return err_sys(err, "set stdout");
    if (stderr_fd >= 0 && dup2(stderr_fd, 2) < 0)
        return err_sys(err, "set stderr");
    return 0;
}

static int enter_cwd(const struct ctr_spec *spec, struct err **err)
{
    const char *cwd = spec->cwd && spec->cwd[0] ? spec->cwd : "/";

    if (cwd[0] != '/')
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "working directory '%s' is not absolute", cwd);
    if (mkdir_p(cwd, 0755, err) < 0)
        return -1;
    if (chdir(cwd) < 0)
        return err_sys(err, "change directory to '%s'", cwd);
    return 0;
}

/* Find name as the container sees it: a path when it has a '/', else looked up in PATH. */
static char *resolve_command(const char *name, char **envp)
{
    const char *path = DEFAULT_PATH;
    const char *dir;

    if (strchr(name, '/'))
        return xstrdup(name);
    for (char **e = envp; e && *e; e++) {
        if (strncmp(*e, "PATH=", 5) == 0)
            path = *e + 5;
    }
    for (dir = path;; dir++) {
        size_t len = strcspn(dir, ":");
        char *candidate = xasprintf("%.*s/%s", (int)len, len ? dir : ".", name);
        struct stat st;

        if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) && access(candidate, X_OK) == 0)
            return candidate;
        free(candidate);
        dir += len;
        if (!*dir)
            return NULL;
    }
}

/*
 * Confine the process in runc's order.  First cut the bounding set.
 * Without no_new_privs, load seccomp next, because the kernel then
 * requires CAP_SYS_ADMIN, which is still effective.  Then set the
 * capability sets.  confine_late() sets no_new_privs and loads seccomp
 * last.  Both take over filter.
 */
static int confine_early(const struct ctr_security *sec, void **filter, struct err **err)
{
    void *f = *filter;

    if (caps_drop_bounding(&sec->caps, err) < 0)
        return -1;
    if (f && !sec->no_new_privs) {
        *filter = NULL;
        if (seccomp_filter_load(f, err) < 0)
            return -1;
    }
    return caps_set(&sec->caps, err);
}

static int confine_late(const struct ctr_security *sec, void **filter, struct err **err)
{
    void *f = *filter;

    if (sec->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) < 0)
        return err_sys(err, "set no_new_privs");
    if (f) {
        *filter = NULL;
        return seccomp_filter_load(f, err);
    }
    return 0;
}

static void __attribute__((noreturn)) exec_command(const struct ctr_spec *spec, void *filter,
                                                   int sync_fd)
{
    struct err *e = NULL;
    char *path;

    if (spec->security && confine_early(spec->security, &filter, &e) < 0)
        child_fail(sync_fd, e, 127);
    if (!spec->argv || !spec->argv[0] || !spec->argv[0][0]) {
        err_status(&e, GRPC_STATUS_INVALID_ARGUMENT, "no command to run");
        child_fail(sync_fd, e, 127);
    }
    path = resolve_command(spec->argv[0], spec->envp);
    if (!path) {
        err_status(&e, GRPC_STATUS_UNKNOWN, "exec \"%s\": executable file not found in $PATH",
                   spec->argv[0]);
        child_fail(sync_fd, e, 127);
    }
    if (spec->security && confine_late(spec->security, &filter, &e) < 0)
        child_fail(sync_fd, e, 127);
    execve(path, spec->argv, spec->envp);
    err_sys(&e, "exec \"%s\"", path);
    child_fail(sync_fd, e, 127);
}

/* Limits and the seccomp filter, built now so that a bad profile fails the create. */
static int prepare_security(const struct ctr_spec *spec, void **ret_filter, struct err **err)
{
    const struct ctr_security *sec = spec->security;

    *ret_filter = NULL;
    if (!sec)
        return 0;
    if (security_set_limits(sec, err) < 0)
        return -1;
    if (sec->seccomp) {
        *ret_filter = seccomp_filter_build(sec->seccomp, sec->caps.bounding, err);
        if (!*ret_filter)
            return -1;
    }
    return 0;
}

static void __attribute__((noreturn)) ctr_child(const struct ctr_spec *spec, struct pod_ns *ns,
                                                int sync_fd)
{
    int stdout_fd = spec->stdout_fd, stderr_fd = spec->stderr_fd;
    int *keep[] = {&sync_fd, &stdout_fd, &stderr_fd, &ns->net, &ns->ipc, &ns->uts, &ns->user};
    struct err *e = NULL;
    void *filter = NULL;
    char start;
    ssize_t n;

    child_reset_signals();
    /* cgroup hook: join before set-up so that the set-up is accounted too. */
    if (cgroup_child_join(spec->cgroup_path, &e) < 0)
        child_fail(sync_fd, e, 1);
    (void)setsid();
    umask(022);
    if (child_close_fds(keep, ARRAY_SIZE(keep), &e) < 0)
        child_fail(sync_fd, e, 1);
    if (join_ns(ns->net, CLONE_NEWNET, "network", &e) < 0 ||
        join_ns(ns->ipc, CLONE_NEWIPC, "IPC", &e) < 0 ||
        join_ns(ns->uts, CLONE_NEWUTS, "UTS", &e) < 0)
        child_fail(sync_fd, e, 1);
    close_and_reset(&ns->net);
    close_and_reset(&ns->ipc);
    close_and_reset(&ns->uts);

    /*
     * Mounts and limits need host root; the user namespace is joined after
     * them, so the working directory is created by the container's root.
     */
    if (rootfs_setup(spec, ns->user, &e) < 0 || prepare_security(spec, &filter, &e) < 0 ||
        join_ns(ns->user, CLONE_NEWUSER, "user", &e) < 0 || enter_cwd(spec, &e) < 0 ||
        set_user(spec, &e) < 0 ||
        set_stdio(stdout_fd, stderr_fd, spec->tty, &e) < 0 || child_send_ready(sync_fd, &e) < 0)
        child_fail(sync_fd, e, 1);

    /* Parked: wait for platform_ctr_start(); end of file means the daemon gave up on us. */
    do {
        n = recv(sync_fd, &start, 1, 0);
    } while (n < 0 && errno == EINTR);
    if (n != 1)
        _exit(1);
    exec_command(spec, filter, sync_fd);
}

/* ---- parent ---- */

static int open_ns_of(pid_t pid, const char *name, int *ret_fd, struct err **err)
{
    char path[64];

    snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, name);
    *ret_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*ret_fd < 0)
        return err_sys(err, "open pod %s namespace '%s'", name, path);
    return 0;
}

static int open_pod_namespaces(const struct ctr_spec *spec, struct pod_ns *ns, struct err **err)
{
    ns->net = ns->ipc = ns->uts = ns->pid = ns->user = -EBADF;
    if (spec->pod_pid <= 0)
        return 0;
    pid_t pid_owner = spec->pid_ns_target > 0 ? spec->pid_ns_target : spec->pod_pid;

    if ((spec->join_pod_network && open_ns_of(spec->pod_pid, "net", &ns->net, err) < 0) ||
        (spec->join_pod_ipc && open_ns_of(spec->pod_pid, "ipc", &ns->ipc, err) < 0) ||
        open_ns_of(spec->pod_pid, "uts", &ns->uts, err) < 0 ||
        (spec->join_pod_pid && open_ns_of(pid_owner, "pid", &ns->pid, err) < 0) ||
        (spec->userns && open_ns_of(spec->pod_pid, "user", &ns->user, err) < 0))
        goto fail;
    /* The pidfds still name live processes, so no pid was reused while we opened. */
    if (syscall(SYS_pidfd_send_signal, spec->pod_pidfd, 0, NULL, 0) < 0) {
        err_sys(err, "pod process %d", (int)spec->pod_pid);
        goto fail;
    }
    if (spec->pid_ns_target > 0 &&
        syscall(SYS_pidfd_send_signal, spec->pid_ns_target_pidfd, 0, NULL, 0) < 0) {
        err_sys(err, "target process %d", (int)spec->pid_ns_target);
        goto fail;
    }
    return 0;

fail:
    pod_ns_close(ns);
    return -1;
}

/*
 * clone3() the set-up child.  To put it in the pod's PID namespace the
 * daemon (single-threaded) switches its pid_for_children there and back.
 */
static pid_t clone_in_pod(const struct ctr_spec *spec, struct pod_ns *ns, int *ret_pidfd,
                          struct err **err)
{
    _cleanup_close_ int own_pid_ns = -EBADF, cgroup_fd = -EBADF;
    uint64_t flags = CLONE_NEWNS;
    pid_t pid;

    if (!spec->join_pod_pid && !spec->host_pid)
        flags |= CLONE_NEWPID;
    if (cgroup_clone_fd(spec->cgroup_path, &cgroup_fd, err) < 0)
        return -1;
    if (ns->pid >= 0) {
        own_pid_ns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
        if (own_pid_ns < 0)
            return err_sys(err, "open own PID namespace");
        if (setns(ns->pid, CLONE_NEWPID) < 0)
            return err_sys(err, "enter the pod's PID namespace");
    }
    pid = proc_clone_into(flags, cgroup_fd, ret_pidfd, err);
    if (pid != 0 && own_pid_ns >= 0 && setns(own_pid_ns, CLONE_NEWPID) < 0)
        abort(); /* later children would all land in this pod: nothing sane is left */
    return pid;
}

static void on_setup_reaped(void *data, pid_t pid, int exit_code, int sig)
{
    struct ctr_op *op = data;

    (void)pid;
    if (!op->err && sig)
        err_status(&op->err, GRPC_STATUS_INTERNAL,
                   "container set-up process killed by signal %d", sig);
    else if (!op->err)
        err_status(&op->err, GRPC_STATUS_INTERNAL,
                   "container set-up process exited with code %d", exit_code);
    op->cb(op->data, NULL, op->err);
    /* Stop watching before the pidfd closes. */
    proc_watch_free(op->watch);
    op->watch = NULL;
    platform_ctr_free(op->proc);
    ctr_op_free(op);
}

static void on_create_sync(evutil_socket_t fd, short what, void *arg)
{
    struct ctr_op *op = arg;
    struct sync_msg msg;
    int r;

    (void)what;
    r = sync_recv(fd, &msg);
    if (r == -EAGAIN)
        return;
    if (r == 1 && msg.kind == SYNC_READY) {
        op->cb(op->data, op->proc, NULL);
        ctr_op_free(op);
        return;
    }

    if (r == 1)
        op->err = sync_msg_err(&msg);
    else if (r < 0)
        err_errno(&op->err, -r, "read container set-up message");
    /* Report only once the child is reaped: its mount namespace, and the overlay, are gone. */
    event_del(op->ev);
    op->watch =
        proc_watch_new(event_get_base(op->ev), op->proc->pid, op->proc->pidfd, on_setup_reaped, op);
}

static struct ctr_op *ctr_op_new(struct event_base *base, struct ctr_proc *proc,
                                 event_callback_fn on_sync, ctr_done_fn cb, void *data)
{
    struct ctr_op *op = xzalloc(sizeof(*op));

    op->proc = proc;
    op->cb = cb;
    op->data = data;
    op->ev = event_new(base, proc->sync_fd, EV_READ | EV_PERSIST, on_sync, op);
    if (!op->ev)
        abort();
    event_add(op->ev, NULL);
    return op;
}

int platform_ctr_create(struct event_base *base, const struct ctr_spec *spec, ctr_done_fn cb,
                        void *data, struct err **err)
{
    struct ctr_proc *proc;
    struct pod_ns ns;
    int fds[2];
    pid_t pid;

    if (!spec->bundle_dir || spec->bundle_dir[0] != '/')
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "container %s: bundle directory '%s' is not absolute", spec->id,
                          spec->bundle_dir ? spec->bundle_dir : "");
    if (open_pod_namespaces(spec, &ns, err) < 0)
        return err_wrap(err, "container %s", spec->id);
    if (sync_pair(fds, err) < 0) {
        pod_ns_close(&ns);
        return -1;
    }

    proc = xzalloc(sizeof(*proc));
    proc->sync_fd = fds[0];
    pid = clone_in_pod(spec, &ns, &proc->pidfd, err);
    if (pid == 0) {
        close(fds[0]);
        ctr_child(spec, &ns, fds[1]);
    }
    close(fds[1]);
    pod_ns_close(&ns);
    if (pid < 0) {
        close(proc->sync_fd);
        free(proc);
        return err_wrap(err, "start container %s", spec->id);
    }

    proc->pid = pid;
    ctr_op_new(base, proc, on_create_sync, cb, data);
    return 0;
}

static void on_start_sync(evutil_socket_t fd, short what, void *arg)
{
    struct ctr_op *op = arg;
    struct sync_msg msg;
    int r;

    (void)what;
    r = sync_recv(fd, &msg);
    if (r == -EAGAIN)
        return;
    if (r == 1 && msg.kind == SYNC_ERROR)
        op->err = sync_msg_err(&msg);
    else if (r < 0)
        err_errno(&op->err, -r, "read container start message");
    else if (r == 1)
        err_status(&op->err, GRPC_STATUS_INTERNAL, "unexpected container start message %d",
                   (int)msg.kind);

    /* End of file: execve closed the child's end.  The sync socket has served its purpose. */
    event_del(op->ev);
    close_and_reset(&op->proc->sync_fd);
    op->cb(op->data, op->proc, op->err);
    ctr_op_free(op);
}

int platform_ctr_start(struct event_base *base, struct ctr_proc *proc, ctr_done_fn cb, void *data,
                       struct err **err)
{
    if (proc->sync_fd < 0)
        return err_status(err, GRPC_STATUS_FAILED_PRECONDITION,
                          "container process %d was already started", (int)proc->pid);
    if (send(proc->sync_fd, "s", 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1)
        return err_sys(err, "send start to container process %d", (int)proc->pid);
    ctr_op_new(base, proc, on_start_sync, cb, data);
    return 0;
}

void platform_ctr_free(struct ctr_proc *proc)
{
    if (!proc)
        return;
    if (proc->sync_fd >= 0)
        close(proc->sync_fd);
    if (proc->pidfd >= 0)
        close(proc->pidfd);
    free(proc);
}

int platform_ctr_cleanup(const char *bundle_dir, struct err **err)
{
    if (unmount_under(bundle_dir, err) < 0 || rm_rf(bundle_dir, err) < 0)
        return err_wrap(err, "clean up container bundle '%s'", bundle_dir);
    return 0;
}
