/*
 * One HTTP/2 connection: read bytes, feed them to the nghttp2 server session,
 * pack what it wants to send into an output buffer, write it out.  Request
 * streams become grpc_call objects (grpc-call.c).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "reactor/grpc-internal.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Bytes read per read(2), and read(2) calls per wake-up. */
#define CONN_READ_CHUNK (16u * 1024)
#define CONN_READS_PER_WAKEUP 16

/* Buffer pieces handed to one sendmsg(2). */
#define CONN_WRITE_IOVECS 16

static void conn_close(struct grpc_conn *conn, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Mark conn closing and log why, once; it is freed when its callbacks have returned. */
static void conn_close(struct grpc_conn *conn, enum log_level level, const char *fmt, ...)
{
    char *reason;
    va_list ap;

    if (conn->closing)
        return;
    conn->closing = true;

    va_start(ap, fmt);
    reason = xvasprintf(fmt, ap);
    va_end(ap);
    log_emit(level, NULL, NULL, "gRPC connection %llu closed: %s", (unsigned long long)conn->id,
             reason);
    free(reason);
}

static struct grpc_call *stream_call(nghttp2_session *session, int32_t stream_id)
{
    return nghttp2_session_get_stream_user_data(session, stream_id);
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct grpc_conn *conn = user_data;
    struct grpc_call *c;

    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;

    c = call_new(conn, frame->hd.stream_id);
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, c);
    return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    struct grpc_call *c = stream_call(session, frame->hd.stream_id);

    (void)flags;
    (void)user_data;

    /* Request trailers (HCAT_HEADERS) carry nothing a unary call uses. */
    if (!c || frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;

    c->header_bytes += namelen + valuelen + 32;
    if (c->header_bytes > GRPC_MAX_HEADER_LIST_SIZE)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;

    call_on_header(c, (const char *)name, namelen, (const char *)value, valuelen);
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct grpc_call *c;

    (void)user_data;

    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    c = stream_call(session, frame->hd.stream_id);
    if (!c)
        return 0;

    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
        call_on_headers_done(c);
    if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
        call_on_request_done(c);
    return 0;
}

static int on_data_chunk_recv(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                              const uint8_t *data, size_t len, void *user_data)
{
    struct grpc_call *c = stream_call(session, stream_id);

    (void)flags;
    (void)user_data;

    if (c)
        call_on_data(c, data, len);
    return 0;
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct grpc_call *c;

    (void)user_data;

    if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    c = stream_call(session, frame->hd.stream_id);

    /*
     * The response is complete but the client is still sending a request
     * we will not read, so RST_STREAM(NO_ERROR) makes it stop (RFC 9113
     * section 8.1).
     */
    if (c && c->reset_after_end && !c->request_done)
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                  NGHTTP2_NO_ERROR);
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data)
{
    struct grpc_call *c = stream_call(session, stream_id);

    (void)user_data;

    if (c)
        call_on_stream_close(c, error_code);
    return 0;
}

/* The session copies the callbacks: free them right after nghttp2_session_server_new(). */
static nghttp2_session_callbacks *conn_callbacks_new(void)
{
    nghttp2_session_callbacks *cbs;

    if (nghttp2_session_callbacks_new(&cbs) != 0)
        abort();
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    return cbs;
}

static void conn_set_reading(struct grpc_conn *conn, bool on)
{
    if (conn->reading == on)
        return;
    if (on)
        event_add(conn->read_ev, NULL);
    else
        event_del(conn->read_ev);
    conn->reading = on;
}

/* Feed up to CONN_READS_PER_WAKEUP chunks of input to the session. */
static void conn_read(struct grpc_conn *conn)
{
    uint8_t buf[CONN_READ_CHUNK];

    for (int i = 0; i < CONN_READS_PER_WAKEUP && !conn->closing; i++) {
        ssize_t n = read(conn->fd, buf, sizeof(buf));
        ssize_t used;

        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            conn_close(conn, LOG_LEVEL_DEBUG, "read failed: %s", strerror(errno));
            return;
        }
        if (n == 0) {
            conn_close(conn, LOG_LEVEL_DEBUG, "the client closed the connection");
            return;
        }

        trace("gRPC connection %llu: read %zd bytes", (unsigned long long)conn->id, n);
        used = nghttp2_session_mem_recv(conn->session, buf, (size_t)n);
        if (used < 0) {
            conn_close(conn, LOG_LEVEL_WARN, "HTTP/2 protocol error: %s",
                       nghttp2_strerror((int)used));
            return;
        }
        if ((size_t)n < sizeof(buf))
            return;
    }
}

/*
 * Write what the socket takes from the output buffer.  sendmsg() with
 * MSG_NOSIGNAL, not write(), so a client that has gone away gives EPIPE
 * instead of killing the daemon with SIGPIPE.  Returns 0 (also when the
 * socket is full), or -1 with errno set.
 */
static int conn_write(struct grpc_conn *conn)
{
    struct evbuffer_iovec vec[CONN_WRITE_IOVECS];
    struct iovec iov[CONN_WRITE_IOVECS];
    struct msghdr msg = {.msg_iov = iov};
    int n = evbuffer_peek(conn->out, -1, NULL, vec, CONN_WRITE_IOVECS);
    ssize_t written;

    if (n > CONN_WRITE_IOVECS)
        n = CONN_WRITE_IOVECS;
    for (int i = 0; i < n; i++) {
        iov[i].iov_base = vec[i].iov_base;
        iov[i].iov_len = vec[i].iov_len;
    }
    msg.msg_iovlen = (size_t)n;

    written = sendmsg(conn->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (written < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    trace("gRPC connection %llu: wrote %zd bytes", (unsigned long long)conn->id, written);
    evbuffer_drain(conn->out, (size_t)written);
    return 0;
}

/*
 * Pack frames until the output buffer reaches its high-water mark, write
 * what the socket takes, and watch for writability (and stop reading) while
 * output is left.
 */
static void conn_flush(struct grpc_conn *conn)
{
    while (!conn->closing && evbuffer_get_length(conn->out) < GRPC_OUTPUT_HIGH_WATER) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(conn->session, &data);

        if (n < 0) {
            conn_close(conn, LOG_LEVEL_WARN, "HTTP/2 send failed: %s", nghttp2_strerror((int)n));
            return;
        }
        if (n == 0)
            break;
        evbuffer_add(conn->out, data, (size_t)n);
    }

    if (!conn->closing && evbuffer_get_length(conn->out) > 0 && conn_write(conn) < 0) {
        conn_close(conn, LOG_LEVEL_DEBUG, "write failed: %s", strerror(errno));
        return;
    }
    if (conn->closing)
        return;

    if (evbuffer_get_length(conn->out) > 0 || nghttp2_session_want_write(conn->session))
        event_add(conn->write_ev, NULL);
    else
        event_del(conn->write_ev);
    conn_set_reading(conn, evbuffer_get_length(conn->out) < GRPC_OUTPUT_HIGH_WATER);

    if (evbuffer_get_length(conn->out) == 0 && !nghttp2_session_want_read(conn->session) &&
        !nghttp2_session_want_write(conn->session))
        conn_close(conn, LOG_LEVEL_DEBUG, "the HTTP/2 session is over");
}

/* Free conn if it is closing and none of its callbacks is on the stack. */
static void conn_settle(struct grpc_conn *conn)
{
    struct grpc_server *s = conn->server;

    if (conn->busy > 0 || !conn->closing)
        return;
    conn_free(conn);
    server_check_done(s);
}

static void conn_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct grpc_conn *conn = arg;

    (void)fd;
    (void)what;

    conn->busy++;
    conn_read(conn);
    if (!conn->closing)
        conn_flush(conn);
    conn->busy--;
    conn_settle(conn);
}

static void conn_on_write(evutil_socket_t fd, short what, void *arg)
{
    struct grpc_conn *conn = arg;

    (void)fd;
    (void)what;

    conn->busy++;
    if (!conn->closing)
        conn_flush(conn);
    conn->busy--;
    conn_settle(conn);
}

/* Ask for a flush from the loop, unless one of conn's callbacks runs and flushes anyway. */
void conn_kick(struct grpc_conn *conn)
{
    if (conn->busy == 0)
        event_active(conn->write_ev, EV_WRITE, 0);
}

void conn_goaway(struct grpc_conn *conn)
{
    static const char reason[] = "server shutting down";
    int32_t last = nghttp2_session_get_last_proc_stream_id(conn->session);

    /*
     * Streams up to last are still served; the client retries later ones
     * on a new connection (RFC 9113 section 6.8).
     */
    nghttp2_submit_goaway(conn->session, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR,
                          (const uint8_t *)reason, sizeof(reason) - 1);
    conn_kick(conn);
}

static int conn_session_new(struct grpc_conn *conn, struct err **err)
{
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, GRPC_MAX_CONCURRENT_STREAMS},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, GRPC_MAX_HEADER_LIST_SIZE},
    };
    nghttp2_session_callbacks *cbs = conn_callbacks_new();
    int r;

    r = nghttp2_session_server_new(&conn->session, cbs, conn);
    nghttp2_session_callbacks_del(cbs);
    if (r != 0)
        return err_status(err, GRPC_STATUS_INTERNAL, "create HTTP/2 session: %s",
                          nghttp2_strerror(r));
    r = nghttp2_submit_settings(conn->session, NGHTTP2_FLAG_NONE, settings, ARRAY_SIZE(settings));
    if (r != 0)
        return err_status(err, GRPC_STATUS_INTERNAL, "submit HTTP/2 SETTINGS: %s",
                          nghttp2_strerror(r));
    return 0;
}

/* Free what conn owns.  Its calls must be detached already. */
static void conn_release(struct grpc_conn *conn)
{
    if (conn->read_ev)
        event_free(conn->read_ev);
    if (conn->write_ev)
        event_free(conn->write_ev);
    if (conn->fd >= 0)
        close(conn->fd);
    nghttp2_session_del(conn->session);
    if (conn->out)
        evbuffer_free(conn->out);
    free(conn);
}

struct grpc_conn *conn_new(struct grpc_server *s, int fd, struct err **err)
{
    struct grpc_conn *conn = xzalloc(sizeof(*conn));

    conn->server = s;
    conn->fd = fd;
    conn->id = ++s->next_conn_id;
    conn->out = evbuffer_new();
    conn->read_ev = event_new(s->base, fd, EV_READ | EV_PERSIST, conn_on_read, conn);
    conn->write_ev = event_new(s->base, fd, EV_WRITE | EV_PERSIST, conn_on_write, conn);
    if (!conn->out || !conn->read_ev || !conn->write_ev) {
        err_status(err, GRPC_STATUS_INTERNAL, "set up events for gRPC connection on fd %d", fd);
        conn_release(conn);
        return NULL;
    }
    if (conn_session_new(conn, err) < 0) {
        conn_release(conn);
        return NULL;
    }

    conn->next = s->conns;
    if (s->conns)
        s->conns->prev = conn;
    s->conns = conn;
    s->n_conns++;

    conn_set_reading(conn, true);
    conn_kick(conn);
    log_debug("gRPC connection %llu opened", (unsigned long long)conn->id);
    return conn;
}

/*
 * Free conn: close its fd and session, and detach its calls, which cancels
 * those the handler has not ended.  The caller makes sure that no callback
 * of conn is on the stack.
 */
void conn_free(struct grpc_conn *conn)
{
    struct grpc_server *s = conn->server;

    if (conn->prev)
        conn->prev->next = conn->next;
    else
        s->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    s->n_conns--;

    /*
     * Detach the calls before the session goes: each drops the stream's
     * reference, and a cancel callback may end its call at once.
     * nghttp2_session_del() runs no callbacks, so nothing reaches a
     * detached call through the session.
     */
    while (conn->calls)
        call_detach(conn->calls);
    conn_release(conn);
}
