/*
 * The gRPC server: the listening socket, accepting connections, and the
 * graceful shutdown.  Connections are in grpc-conn.c, calls in grpc-call.c.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "reactor/grpc-internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Connections accepted per wake-up of the listening socket. */
#define ACCEPTS_PER_WAKEUP 16

/* Pause after accept(2) fails for lack of fds or memory, so the loop does not spin. */
#define ACCEPT_PAUSE_MS 1000

/* Remove path if it is a socket left by an earlier run; fail if it is anything else. */
/* Whether something accepts connections on the socket file at path (a live daemon). */
static bool socket_in_use(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || strlen(path) >= sizeof(addr.sun_path))
        return false;
    memcpy(addr.sun_path, path, strlen(path) + 1);
    /* A stale socket file refuses the connection; a live one accepts it. */
    return connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
}

static int remove_stale_socket(const char *path, struct err **err)
{
    struct stat st;

    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return err_sys(err, "stat '%s'", path);
    }
    if (!S_ISSOCK(st.st_mode))
        return err_errno(err, EEXIST,
                         "'%s' exists and is not a socket: remove it or choose another path", path);
    if (socket_in_use(path))
        return err_errno(err, EADDRINUSE,
                         "socket '%s' is in use: another server listens on it", path);
    if (unlink(path) < 0)
        return err_sys(err, "remove stale socket '%s'", path);
    return 0;
}

int grpc_listen_unix(const char *path, mode_t mode, struct err **err)
{
    _cleanup_close_ int fd = -EBADF;
    _cleanup_free_ char *dir = NULL;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    char *slash;

    if (strlen(path) >= sizeof(addr.sun_path))
        return err_errno(err, ENAMETOOLONG, "socket path '%s' is longer than %zu bytes", path,
                         sizeof(addr.sun_path) - 1);
    memcpy(addr.sun_path, path, strlen(path) + 1);

    dir = xstrdup(path);
    slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir_p(dir, 0755, err) < 0)
            return err_wrap(err, "create directory for socket '%s'", path);
    }
    if (remove_stale_socket(path, err) < 0)
        return -1;

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_sys(err, "create socket for '%s'", path);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        return err_sys(err, "bind '%s'", path);
    if (chmod(path, mode) < 0)
        return err_sys(err, "chmod '%s' to %04o", path, (unsigned)mode);
    if (listen(fd, SOMAXCONN) < 0)
        return err_sys(err, "listen on '%s'", path);
    return TAKE_FD(fd);
}

static void server_accept_pause(struct grpc_server *s)
{
    const struct timeval tv = {.tv_sec = ACCEPT_PAUSE_MS / 1000,
                               .tv_usec = (ACCEPT_PAUSE_MS % 1000) * 1000};

    event_del(s->accept_ev);
    evtimer_add(s->accept_resume_ev, &tv);
}

static void server_on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
    struct grpc_server *s = arg;

    (void)fd;
    (void)what;

    if (!s->shutting_down)
        event_add(s->accept_ev, NULL);
}

static void server_on_accept(evutil_socket_t fd, short what, void *arg)
{
    struct grpc_server *s = arg;

    (void)what;

    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        _cleanup_err_ struct err *e = NULL;
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (cfd < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                return;
            err_sys(&e, "accept gRPC connection");
            log_warn_err(e, "not accepting gRPC connections for %d ms", ACCEPT_PAUSE_MS);
            server_accept_pause(s);
            return;
        }
        if (s->n_conns >= GRPC_MAX_CONNECTIONS) {
            log_warn("gRPC connection rejected: %u connections are open already", s->n_conns);
            close(cfd);
            continue;
        }
        if (!conn_new(s, cfd, &e))
            log_warn_err(e, "gRPC connection dropped");
    }
}

static void server_on_done(evutil_socket_t fd, short what, void *arg)
{
    struct grpc_server *s = arg;
    void (*done)(void *data) = s->done;

    (void)fd;
    (void)what;

    if (!done)
        return;
    s->done = NULL;
    if (s->grace_ev)
        event_del(s->grace_ev);
    log_debug("gRPC server shut down");
    done(s->done_data);
}

void server_check_done(struct grpc_server *s)
{
    if (s->shutting_down && !s->freeing && s->done && s->n_calls == 0 && s->n_conns == 0)
        event_active(s->done_ev, EV_TIMEOUT, 0);
}

static void server_on_grace_expired(evutil_socket_t fd, short what, void *arg)
{
    struct grpc_server *s = arg;

    (void)fd;
    (void)what;

    if (s->n_calls > 0 || s->n_conns > 0)
        log_warn("gRPC shutdown grace period over: cancelling %u calls and closing %u connections",
                 s->n_calls, s->n_conns);
    /* A timer callback: no connection callback is on the stack. */
    while (s->conns)
        conn_free(s->conns);
    event_active(s->done_ev, EV_TIMEOUT, 0);
}

static void server_close_listener(struct grpc_server *s)
{
    if (s->accept_ev)
        event_del(s->accept_ev);
    if (s->accept_resume_ev)
        event_del(s->accept_resume_ev);
    close_and_reset(&s->listen_fd);
}

struct grpc_server *grpc_server_new(struct event_base *base, int listen_fd,
                                    grpc_dispatch_fn dispatch, void *data, struct err **err)
{
    struct grpc_server *s = xzalloc(sizeof(*s));

    s->base = base;
    s->listen_fd = listen_fd < 0 ? -EBADF : listen_fd;
    s->dispatch = dispatch;
    s->data = data;
    s->done_ev = event_new(base, -1, 0, server_on_done, s);
    s->grace_ev = evtimer_new(base, server_on_grace_expired, s);
    s->accept_resume_ev = evtimer_new(base, server_on_accept_resume, s);
    if (!s->done_ev || !s->grace_ev || !s->accept_resume_ev)
        goto fail;

    if (s->listen_fd >= 0) {
        s->accept_ev = event_new(base, s->listen_fd, EV_READ | EV_PERSIST, server_on_accept, s);
        if (!s->accept_ev || event_add(s->accept_ev, NULL) < 0)
            goto fail;
    }
    return s;

fail:
    err_status(err, GRPC_STATUS_INTERNAL, "set up events for the gRPC server on fd %d", listen_fd);
    grpc_server_free(s);
    return NULL;
}

int grpc_server_add_connection(struct grpc_server *s, int fd, struct err **err)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        err_sys(err, "make gRPC connection fd %d non-blocking", fd);
        close(fd);
        return -1;
    }
    if (!conn_new(s, fd, err))
        return -1;
    return 0;
}

void grpc_server_shutdown(struct grpc_server *s, unsigned grace_ms, void (*done)(void *data),
                          void *data)
{
    const struct timeval tv = {.tv_sec = grace_ms / 1000, .tv_usec = (grace_ms % 1000) * 1000};

    log_debug("gRPC server shutting down: %u calls in flight, %u connections, grace %u ms",
              s->n_calls, s->n_conns, grace_ms);
    s->shutting_down = true;
    s->done = done;
    s->done_data = data;
    server_close_listener(s);

    for (struct grpc_conn *conn = s->conns; conn; conn = conn->next)
        conn_goaway(conn);
    evtimer_add(s->grace_ev, &tv);
    server_check_done(s);
}

void grpc_server_free(struct grpc_server *s)
{
    if (!s)
        return;

    s->freeing = true;
    server_close_listener(s);
    while (s->conns)
        conn_free(s->conns);

    /* Calls the handlers still hold outlive the server: ending them later sends nothing. */
    while (s->orphans) {
        struct grpc_call *c = s->orphans;

        s->orphans = c->next;
        c->prev = c->next = NULL;
        c->server = NULL;
        if (c->deadline_ev) {
            event_free(c->deadline_ev);
            c->deadline_ev = NULL;
        }
    }

    if (s->accept_ev)
        event_free(s->accept_ev);
    if (s->accept_resume_ev)
        event_free(s->accept_resume_ev);
    if (s->grace_ev)
        event_free(s->grace_ev);
    if (s->done_ev)
        event_free(s->done_ev);
    free(s);
}
