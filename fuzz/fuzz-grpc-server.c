/*
 * Fuzz target: the bytes a client sends on the gRPC socket.  They go into
 * one end of a socketpair, and the other end is a connection of the real
 * server.  The client side then half-closes and drains the replies until
 * the server closes the connection.  The dispatch callback replies with an
 * empty message on "/e", streams two messages on "/s" and fails any other
 * path with NOT_FOUND.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "proto/api.pb-c.h"
#include "reactor/grpc.h"
#include "util/log.h"

/* Inputs up to this size fit the socket buffer, so one write() delivers them. */
#define FUZZ_MAX_INPUT (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct peer {
    struct event_base *base;
    bool eof;
};

static void dispatch(void *data, struct grpc_call *call)
{
    Runtime__V1__VersionResponse resp = RUNTIME__V1__VERSION_RESPONSE__INIT;
    const char *path = grpc_call_path(call);

    (void)data;

    if (strcmp(path, "/e") == 0) {
        grpc_call_reply(call, &resp.base);
    } else if (strcmp(path, "/s") == 0) {
        grpc_call_send(call, &resp.base);
        resp.runtime_name = (char *)"second";
        grpc_call_send(call, &resp.base);
        grpc_call_finish(call, GRPC_STATUS_OK, NULL);
    } else {
        grpc_call_finish(call, GRPC_STATUS_NOT_FOUND, "no such method");
    }
}

static void on_peer_read(evutil_socket_t fd, short what, void *arg)
{
    struct peer *p = arg;
    uint8_t buf[16384];
    ssize_t n;

    (void)what;

    do {
        n = read(fd, buf, sizeof(buf));
    } while (n > 0);
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        p->eof = true;
        event_base_loopbreak(p->base);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct timeval limit = {5, 0};
    struct peer p = {0};
    struct grpc_server *s;
    struct event *ev;
    struct err *e = NULL;
    int sv[2];

    if (size > FUZZ_MAX_INPUT)
        return 0;
    log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);

    p.base = event_base_new();
    s = grpc_server_new(p.base, -1, dispatch, NULL, &e);
    if (!p.base || !s || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    if (grpc_server_add_connection(s, sv[0], &e) < 0)
        abort();

    if (size > 0 && write(sv[1], data, size) != (ssize_t)size)
        abort();
    shutdown(sv[1], SHUT_WR);

    ev = event_new(p.base, sv[1], EV_READ | EV_PERSIST, on_peer_read, &p);
    event_add(ev, NULL);
    event_base_loopexit(p.base, &limit);
    event_base_dispatch(p.base);

    /* The server must close the connection once the client's bytes and EOF are read. */
    if (!p.eof)
        abort();

    event_free(ev);
    close(sv[1]);
    grpc_server_free(s);
    event_base_free(p.base);
    return 0;
}
