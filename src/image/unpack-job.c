/*
 * The reactor's side of layer unpacking: run crisp-unpack for one layer
 * and report when it exits.  posix_spawn(3) starts it with a vfork-style
 * clone in glibc.  Unlike a fork of the reactor, that copies no page tables
 * and leaves the reactor no copy-on-write faults, and the helper's memory
 * contains none of the reactor's pages.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image/unpack.h"
#include "platform/platform.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

extern char **environ;

struct unpack_job {
    struct proc_watch *watch;
    int pidfd;
    int msg_fd;     /* read end of the pipe the child reports its error on */
    char *tmp_dir;
    char *blob_tmp; /* the blob file a streamed download writes, removed on failure */
    struct event_base *base;
    char *helper_path; /* runs again to remove tmp_dir after a failure */
    unpack_done_fn cb;
    void *data;
};

static void job_free(struct unpack_job *j)
{
    proc_watch_free(j->watch);
    if (j->pidfd >= 0)
        close(j->pidfd);
    if (j->msg_fd >= 0)
        close(j->msg_fd);
    free(j->tmp_dir);
    free(j->blob_tmp);
    free(j->helper_path);
    free(j);
}

/* Remove what a failed or killed child leaves behind. */
static void job_clean(struct unpack_job *j)
{
    if (j->tmp_dir)
        unpack_remove_tree(j->base, j->helper_path, j->tmp_dir);
    if (j->blob_tmp && unlink(j->blob_tmp) < 0 && errno != ENOENT)
        log_warn("image: remove '%s': %s", j->blob_tmp, strerror(errno));
}

/* Turn a failed helper's end into an error: its message on msg_fd, else the status or signal. */
static void helper_error(int msg_fd, int exit_code, int sig, struct err **err)
{
    char buf[UNPACK_MESSAGE_MAX + 2];
    ssize_t n = read(msg_fd, buf, sizeof(buf) - 1);

    if (n >= 2) {
        buf[n] = '\0';
        err_status(err, (enum grpc_status)buf[0], "%s", buf + 1);
    } else if (sig) {
        err_status(err, GRPC_STATUS_INTERNAL, "layer unpack process killed by signal %d", sig);
    } else {
        err_status(err, GRPC_STATUS_INTERNAL, "layer unpack process exited with status %d",
                   exit_code);
    }
}

static void on_child_exit(void *data, pid_t pid, int exit_code, int sig)
{
    struct unpack_job *j = data;
    _cleanup_err_ struct err *e = NULL;

    (void)pid;
    if (!j->cb) {
        job_clean(j);
        job_free(j);
        return;
    }
    if (exit_code != 0 || sig) {
        helper_error(j->msg_fd, exit_code, sig, &e);
        job_clean(j);
    }
    j->cb(j->data, e);
    job_free(j);
}

/* A copy of fd at 10 or above, so that the child's dup2 onto 0 and 3 never meets it there. */
static int fd_above_stdio(int fd, struct err **err)
{
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 10);

    if (copy < 0)
        return err_sys(err, "duplicate fd %d", fd);
    return copy;
}

static pid_t spawn_helper(const char *helper_path, char *const argv[], int stdin_fd, int msg_fd,
                          struct err **err)
{
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    sigset_t none, all;
    pid_t pid = -1;
    int r;

    sigemptyset(&none);
    sigfillset(&all);
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    if (stdin_fd >= 0)
        posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
    else
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, msg_fd, 3);
    /*
     * Not every fd of the reactor is close-on-exec: libcurl's multi handle
     * makes its wake-up socket pair without the flag.
     */
    posix_spawn_file_actions_addclosefrom_np(&actions, 4);
    /* The reactor blocks the signals its signalfd reads and ignores SIGPIPE. */
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    r = posix_spawn(&pid, helper_path, &actions, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (r != 0) {
        errno = r;
        return err_sys(err, "start '%s'", helper_path);
    }
    return pid;
}

/*
 * Start crisp-unpack with argv, standard input stdin_fd (-1: /dev/null) and
 * a message pipe on fd 3.  Returns its pidfd, with the pipe's read end in
 * *ret_msg_fd, or -1.
 */
static int start_helper(const char *helper_path, char *const argv[], int stdin_fd,
                        int *ret_msg_fd, pid_t *ret_pid, struct err **err)
{
    _cleanup_close_ int msg_r = -EBADF, msg_w = -EBADF, stdin_copy = -EBADF;
    int fds[2];
    pid_t pid;
    int pidfd;

    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return err_sys(err, "create pipe");
    msg_r = fds[0];
    msg_w = fd_above_stdio(fds[1], err);
    close(fds[1]);
    if (msg_w < 0)
        return -1;
    if (stdin_fd >= 0) {
        stdin_copy = fd_above_stdio(stdin_fd, err);
        if (stdin_copy < 0)
            return -1;
    }
    pid = spawn_helper(helper_path, argv, stdin_copy, msg_w, err);
    if (pid < 0)
        return -1;
    pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
        /* Out of fds or memory: without a pidfd the child cannot be watched, so kill and reap it. */
        err_sys(err, "pidfd_open %d", (int)pid);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    *ret_msg_fd = TAKE_FD(msg_r);
    *ret_pid = pid;
    return pidfd;
}

struct unpack_job *unpack_start(struct event_base *base, const char *helper_path,
                                const struct unpack_spec *spec, unpack_done_fn cb, void *data,
                                struct err **err)
{
    char size[24];
    char *argv[] = {
        (char *)"crisp-unpack",
        (char *)(spec->blob_pipe >= 0 ? "--stream" : "--stored"),
        (char *)spec->blob_path,
        (char *)(spec->blob_digest ? spec->blob_digest : ""),
        size,
        (char *)(spec->tmp_dir ? spec->tmp_dir : ""),
        (char *)(spec->diff_id ? spec->diff_id : ""),
        NULL,
    };
    struct unpack_job *j;
    int msg_fd;
    pid_t pid;
    int pidfd;

    snprintf(size, sizeof(size), "%llu", (unsigned long long)spec->blob_size);
    pidfd = start_helper(helper_path, argv, spec->blob_pipe, &msg_fd, &pid, err);
    if (pidfd < 0)
        return NULL;

    j = xzalloc(sizeof(*j));
    j->pidfd = pidfd;
    j->msg_fd = msg_fd;
    j->tmp_dir = spec->tmp_dir ? xstrdup(spec->tmp_dir) : NULL;
    j->blob_tmp = spec->blob_pipe >= 0 ? xstrdup(spec->blob_path) : NULL;
    j->base = base;
    j->helper_path = xstrdup(helper_path);
    j->cb = cb;
    j->data = data;
    j->watch = proc_watch_new(base, pid, pidfd, on_child_exit, j);
    return j;
}

/* A crisp-unpack --remove that no caller waits for: its end is logged, then it is freed. */
struct remove_job {
    struct proc_watch *watch;
    int pidfd;
    int msg_fd;
    char *path;
};

static void on_remove_exit(void *data, pid_t pid, int exit_code, int sig)
{
    struct remove_job *j = data;
    _cleanup_err_ struct err *e = NULL;

    if (exit_code == 0 && !sig) {
        log_debug("image: removed '%s' (crisp-unpack pid %d)", j->path, (int)pid);
    } else {
        helper_error(j->msg_fd, exit_code, sig, &e);
        log_warn_err(e, "image: removing '%s' failed (crisp-unpack pid %d)", j->path, (int)pid);
    }
    proc_watch_free(j->watch);
    close(j->pidfd);
    close(j->msg_fd);
    free(j->path);
    free(j);
}

int unpack_remove(struct event_base *base, const char *helper_path, const char *path,
                  struct err **err)
{
    char *argv[] = {(char *)"crisp-unpack", (char *)"--remove", (char *)path, NULL};
    struct remove_job *j;
    int msg_fd;
    pid_t pid;
    int pidfd;

    pidfd = start_helper(helper_path, argv, -1, &msg_fd, &pid, err);
    if (pidfd < 0)
        return -1;
    log_debug("image: removing '%s' in crisp-unpack pid %d", path, (int)pid);
    j = xzalloc(sizeof(*j));
    j->pidfd = pidfd;
    j->msg_fd = msg_fd;
    j->path = xstrdup(path);
    j->watch = proc_watch_new(base, pid, pidfd, on_remove_exit, j);
    return 0;
}

void unpack_remove_tree(struct event_base *base, const char *helper_path, const char *path)
{
    _cleanup_err_ struct err *e = NULL;

    if (unpack_remove(base, helper_path, path, &e) == 0)
        return;
    log_warn_err(e, "image: remove '%s' in this process", path);
    if (rm_rf(path, NULL) < 0)
        log_warn("image: remove '%s' failed", path);
}

void unpack_cancel(struct unpack_job *j)
{
    if (!j)
        return;
    j->cb = NULL;
    proc_signal(j->pidfd, SIGKILL, NULL);
}

void unpack_kill(struct unpack_job *j)
{
    if (j)
        proc_signal(j->pidfd, SIGKILL, NULL);
}
