#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "platform/internal.h"
#include "util/xalloc.h"

int sync_pair(int fds[2], struct err **err)
{
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0)
        return err_sys(err, "create sync socket pair");
    return 0;
}

int sync_recv(int fd, struct sync_msg *msg)
{
    ssize_t n;

    memset(msg, 0, sizeof(*msg));
    do {
        n = recv(fd, msg, sizeof(*msg) - 1, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (n == 0)
        return 0;
    if ((size_t)n < offsetof(struct sync_msg, text) ||
        (msg->kind != SYNC_READY && msg->kind != SYNC_ERROR))
        return -EPROTO;
    return 1;
}

struct err *sync_msg_err(const struct sync_msg *msg)
{
    struct err *e = NULL;

    if (msg->status)
        err_status(&e, (enum grpc_status)msg->status, "%s", msg->text);
    else
        err_errno(&e, msg->errnum, "%s", msg->text);
    return e;
}

void child_fail(int sync_fd, const struct err *e, int code)
{
    struct sync_msg msg;
    size_t len;

    memset(&msg, 0, sizeof(msg));
    msg.kind = SYNC_ERROR;
    msg.errnum = e ? e->errnum : 0;
    msg.status = e ? e->status : GRPC_STATUS_INTERNAL;
    snprintf(msg.text, sizeof(msg.text), "%s", e ? e->msg : "container set-up failed");
    len = offsetof(struct sync_msg, text) + strlen(msg.text);
    (void)send(sync_fd, &msg, len, MSG_NOSIGNAL);
    _exit(code);
}

int child_send_ready(int sync_fd, struct err **err)
{
    struct sync_msg msg;

    memset(&msg, 0, sizeof(msg));
    msg.kind = SYNC_READY;
    if (send(sync_fd, &msg, offsetof(struct sync_msg, text), MSG_NOSIGNAL) < 0)
        return err_sys(err, "send ready message");
    return 0;
}

void child_reset_signals(void)
{
    struct sigaction sa;
    sigset_t all;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        (void)sigaction(sig, &sa, NULL);
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;

    return (x > y) - (x < y);
}

#define MAX_KEEP_FDS 16

int child_close_fds(int *keep[], size_t n_keep, struct err **err)
{
    int sorted[MAX_KEEP_FDS];
    unsigned int next = 3;

    if (n_keep > MAX_KEEP_FDS)
        return err_status(err, GRPC_STATUS_INTERNAL, "too many fds to keep: %zu", n_keep);

    for (size_t i = 0; i < n_keep; i++) {
        if (*keep[i] >= 0 && *keep[i] < 3) {
            int fd = fcntl(*keep[i], F_DUPFD_CLOEXEC, 3);

            if (fd < 0)
                return err_sys(err, "move fd %d above stdio", *keep[i]);
            *keep[i] = fd;
        }
        sorted[i] = *keep[i];
    }
    qsort(sorted, n_keep, sizeof(sorted[0]), cmp_int);

    for (size_t i = 0; i < n_keep; i++) {
        if (sorted[i] < (int)next)
            continue;
        if (sorted[i] > (int)next && close_range(next, (unsigned int)sorted[i] - 1, 0) < 0)
            return err_sys(err, "close inherited fds");
        next = (unsigned int)sorted[i] + 1;
    }
    if (close_range(next, ~0U, 0) < 0)
        return err_sys(err, "close inherited fds");
    return 0;
}
