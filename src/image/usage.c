/*
 * Disk usage of the image store for ImageFsInfo, measured in a child
 * process because a walk over every layer file would block the reactor.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "image/image.h"
#include "image/internal.h"
#include "platform/platform.h"
#include "platform/proc.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

/* "<bytes> <inodes>\n" or "!<message>" fits in this. */
#define USAGE_MESSAGE_MAX 512

struct image_usage_job {
    struct proc_watch *watch;
    int pidfd;
    int msg_fd;
    char *root;
    image_usage_fn cb;
    void *data;
};

/* ---- the child: a walk that counts each inode once ---- */

struct inode_set {
    uint64_t *keys; /* open addressing; 0 is empty */
    size_t cap;
    size_t n;
};

static struct inode_set seen;
static uint64_t total_bytes;
static uint64_t total_inodes;

static uint64_t inode_key(const struct stat *st)
{
    /* A mix of device and inode number; a collision only undercounts one file. */
    uint64_t k = ((uint64_t)st->st_dev * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)st->st_ino;

    return k ? k : 1;
}

/* Insert key; false when it was already there. */
static bool inode_set_add(struct inode_set *set, uint64_t key)
{
    size_t i;

    if ((set->n + 1) * 2 > set->cap) {
        struct inode_set bigger = {.cap = set->cap ? set->cap * 2 : 1024};

        bigger.keys = xnew(uint64_t, bigger.cap);
        for (size_t j = 0; j < set->cap; j++) {
            if (set->keys[j])
                inode_set_add(&bigger, set->keys[j]);
        }
        free(set->keys);
        *set = bigger;
    }
    for (i = key % set->cap; set->keys[i]; i = (i + 1) % set->cap) {
        if (set->keys[i] == key)
            return false;
    }
    set->keys[i] = key;
    set->n++;
    return true;
}

static int count_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (type == FTW_NS)
        return 0;
    /* Only files with several links need remembering to be counted once. */
    if (st->st_nlink > 1 && !S_ISDIR(st->st_mode) && !inode_set_add(&seen, inode_key(st)))
        return 0;
    total_bytes += (uint64_t)st->st_blocks * 512;
    total_inodes++;
    return 0;
}

static _Noreturn void child_main(const char *root, int msg_fd)
{
    char msg[USAGE_MESSAGE_MAX];
    int len;

    if (nftw(root, count_entry, 64, FTW_PHYS | FTW_MOUNT) < 0)
        len = snprintf(msg, sizeof(msg), "!walk '%s': %s", root, strerror(errno));
    else
        len = snprintf(msg, sizeof(msg), "%" PRIu64 " %" PRIu64 "\n", total_bytes, total_inodes);
    if (len > 0 && write(msg_fd, msg, (size_t)len) < 0)
        _exit(2);
    _exit(0);
}

/* ---- the parent ---- */

static void job_free(struct image_usage_job *j)
{
    proc_watch_free(j->watch);
    if (j->pidfd >= 0)
        close(j->pidfd);
    if (j->msg_fd >= 0)
        close(j->msg_fd);
    free(j->root);
    free(j);
}

static void on_child_exit(void *data, pid_t pid, int exit_code, int sig)
{
    struct image_usage_job *j = data;
    _cleanup_err_ struct err *e = NULL;
    struct image_store_usage usage = {.mountpoint = j->root};
    char buf[USAGE_MESSAGE_MAX + 1];
    struct timespec now;
    ssize_t n;

    (void)pid;
    n = read(j->msg_fd, buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    if (n > 1 && buf[0] == '!')
        err_status(&e, GRPC_STATUS_INTERNAL, "measure the image store: %s", buf + 1);
    else if (exit_code != 0 || sig ||
             sscanf(buf, "%" SCNu64 " %" SCNu64, &usage.used_bytes, &usage.inodes_used) != 2)
        err_status(&e, GRPC_STATUS_INTERNAL,
                   "measure the image store: the child exited with status %d, signal %d",
                   exit_code, sig);
    clock_gettime(CLOCK_REALTIME, &now);
    usage.timestamp_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    j->cb(j->data, e ? NULL : &usage, e);
    job_free(j);
}

struct image_usage_job *image_store_usage_start(struct image_store *s, struct event_base *base,
                                                image_usage_fn cb, void *data, struct err **err)
{
    struct image_usage_job *j;
    int pipe_fds[2];
    int pidfd = -1;
    pid_t pid;

    if (pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return err_sys(err, "create pipe"), NULL;
    pid = proc_clone(0, &pidfd, err);
    if (pid < 0) {
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return NULL;
    }
    if (pid == 0) {
        /*
         * Keep only the message pipe: the walk may take long, and a copy of
         * a layer's blob pipe held here would keep its crisp-unpack from
         * seeing the end of the blob until the walk ends.
         */
        if (dup2(pipe_fds[1], 3) < 0 || close_range(4, ~0U, 0) < 0)
            _exit(2);
        child_main(store_root(s), 3);
    }
    close(pipe_fds[1]);

    j = xzalloc(sizeof(*j));
    j->pidfd = pidfd;
    j->msg_fd = pipe_fds[0];
    j->root = xstrdup(store_root(s));
    j->cb = cb;
    j->data = data;
    j->watch = proc_watch_new(base, pid, pidfd, on_child_exit, j);
    return j;
}
