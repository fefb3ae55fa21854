/*
 * Tests of the gRPC server: the real server code on one end of a socketpair,
 * an nghttp2 client session on the other, both on one event_base.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "proto/api.pb-c.h"
#include "reactor/grpc.h"
#include "reactor/grpc-wire.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "../tap.h"

#define MAX_STREAMS 128

/* One request as the client sees it: what it sends and what comes back. */
struct stream {
    struct client *client;
    int32_t id;
    const uint8_t *body;
    size_t body_len;
    size_t body_off;
    bool body_end; /* END_STREAM after the body; otherwise the stream stays open */

    int http_status;
    bool trailers_only; /* grpc-status arrived in the response HEADERS */
    int grpc_status;    /* -1 while absent */
    char grpc_message[512];
    char accept_encoding[32];
    uint8_t *data;
    size_t data_len;
    bool closed;
    uint32_t error_code;
};

struct client {
    struct event_base *base;
    int fd;
    struct event *read_ev;
    struct event *write_ev;
    nghttp2_session *session;
    int open_streams;
    bool goaway;
    bool eof;
    const char *extra_header_value; /* sent as x-extra-1 and x-extra-2 when set */
};

/* Record of the handlers' actions, read by the checks. */
struct handler_state {
    struct event_base *base;
    int dispatched;
    int cancel_callbacks;
    struct grpc_call *held;
    bool held_was_cancelled;
    struct event *timer;
    bool done;
    bool replied_at_done;
    bool stop_on_dispatch;
};

static struct handler_state hs;

/* ---- the client ---- */

static ssize_t client_send(nghttp2_session *session, const uint8_t *data, size_t len, int flags,
                           void *user_data)
{
    struct client *cl = user_data;
    ssize_t n = send(cl->fd, data, len, MSG_NOSIGNAL);

    (void)session;
    (void)flags;

    if (n < 0)
        return errno == EAGAIN ? NGHTTP2_ERR_WOULDBLOCK : NGHTTP2_ERR_CALLBACK_FAILURE;
    return n;
}

static int client_on_header(nghttp2_session *session, const nghttp2_frame *frame,
                            const uint8_t *name, size_t namelen, const uint8_t *value,
                            size_t valuelen, uint8_t flags, void *user_data)
{
    struct stream *st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    char v[512];

    (void)namelen;
    (void)flags;
    (void)user_data;

    if (!st || frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    snprintf(v, sizeof(v), "%.*s", (int)valuelen, (const char *)value);
    if (strcmp((const char *)name, ":status") == 0)
        st->http_status = (int)strtol(v, NULL, 10);
    if (strcmp((const char *)name, "grpc-status") == 0) {
        st->grpc_status = (int)strtol(v, NULL, 10);
        st->trailers_only = frame->headers.cat == NGHTTP2_HCAT_RESPONSE;
    }
    if (strcmp((const char *)name, "grpc-message") == 0)
        snprintf(st->grpc_message, sizeof(st->grpc_message), "%s", v);
    if (strcmp((const char *)name, "grpc-accept-encoding") == 0)
        snprintf(st->accept_encoding, sizeof(st->accept_encoding), "%.31s", v);
    return 0;
}

static int client_on_data(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                          const uint8_t *data, size_t len, void *user_data)
{
    struct stream *st = nghttp2_session_get_stream_user_data(session, stream_id);

    (void)flags;
    (void)user_data;

    if (!st)
        return 0;
    st->data = xrealloc(st->data, st->data_len + len);
    memcpy(st->data + st->data_len, data, len);
    st->data_len += len;
    return 0;
}

static int client_on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame,
                                void *user_data)
{
    struct client *cl = user_data;

    (void)session;

    if (frame->hd.type == NGHTTP2_GOAWAY)
        cl->goaway = true;
    return 0;
}

static int client_on_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data)
{
    struct client *cl = user_data;
    struct stream *st = nghttp2_session_get_stream_user_data(session, stream_id);

    if (!st)
        return 0;
    st->closed = true;
    st->error_code = error_code;
    if (--cl->open_streams == 0)
        event_base_loopbreak(cl->base);
    return 0;
}

static ssize_t client_read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                                size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                                void *user_data)
{
    struct stream *st = source->ptr;
    size_t n = st->body_len - st->body_off;

    (void)session;
    (void)stream_id;
    (void)user_data;

    if (n > length)
        n = length;
    if (n > 0)
        memcpy(buf, st->body + st->body_off, n);
    st->body_off += n;
    if (st->body_off < st->body_len)
        return (ssize_t)n;
    if (st->body_end) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)n;
    }
    return n > 0 ? (ssize_t)n : NGHTTP2_ERR_DEFERRED;
}

static void client_pump(struct client *cl)
{
    if (nghttp2_session_send(cl->session) != 0)
        diag("client: nghttp2_session_send failed");
    if (nghttp2_session_want_write(cl->session))
        event_add(cl->write_ev, NULL);
    else
        event_del(cl->write_ev);
}

static void client_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct client *cl = arg;
    uint8_t buf[16384];
    ssize_t n;

    (void)what;

    n = read(fd, buf, sizeof(buf));
    if (n <= 0) {
        if (n < 0 && errno == EAGAIN)
            return;
        cl->eof = true;
        event_del(cl->read_ev);
        event_del(cl->write_ev);
        event_base_loopbreak(cl->base);
        return;
    }
    if (nghttp2_session_mem_recv(cl->session, buf, (size_t)n) < 0)
        diag("client: nghttp2_session_mem_recv failed");
    client_pump(cl);
}

static void client_on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    client_pump(arg);
}

static void client_init(struct client *cl, struct event_base *base, int fd)
{
    nghttp2_session_callbacks *cbs;
    nghttp2_option *opt;

    memset(cl, 0, sizeof(*cl));
    cl->base = base;
    cl->fd = fd;
    cl->read_ev = event_new(base, fd, EV_READ | EV_PERSIST, client_on_read, cl);
    cl->write_ev = event_new(base, fd, EV_WRITE | EV_PERSIST, client_on_write, cl);
    event_add(cl->read_ev, NULL);

    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_send_callback(cbs, client_send);
    nghttp2_session_callbacks_set_on_header_callback(cbs, client_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, client_on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, client_on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, client_on_close);
    /* Large enough for the oversized header test; nghttp2's default is 64 KiB. */
    nghttp2_option_new(&opt);
    nghttp2_option_set_max_send_header_block_length(opt, 256 * 1024);
    nghttp2_session_client_new2(&cl->session, cbs, cl, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(cl->session, NGHTTP2_FLAG_NONE, NULL, 0);
}

static void client_done(struct client *cl)
{
    nghttp2_session_del(cl->session);
    event_free(cl->read_ev);
    event_free(cl->write_ev);
    close(cl->fd);
}

/* Submit a POST of body to path; content_type and timeout may be NULL (left out). */
static void client_request(struct client *cl, struct stream *st, const char *path,
                           const char *content_type, const char *timeout, const uint8_t *body,
                           size_t body_len, bool body_end)
{
    nghttp2_nv nv[8];
    size_t n = 0;
    nghttp2_data_provider provider = {.source.ptr = st, .read_callback = client_read_body};

#define NV(name, value)                                                                            \
    nv[n++] = (nghttp2_nv){(uint8_t *)(name), (uint8_t *)(value), strlen(name), strlen(value),     \
                           NGHTTP2_NV_FLAG_NONE}
    NV(":method", "POST");
    NV(":scheme", "http");
    NV(":authority", "localhost");
    NV(":path", path);
    NV("te", "trailers");
    if (cl->extra_header_value) {
        NV("x-extra-1", cl->extra_header_value);
        NV("x-extra-2", cl->extra_header_value);
    }
    if (content_type)
        NV("content-type", content_type);
    if (timeout)
        NV("grpc-timeout", timeout);
#undef NV

    st->client = cl;
    st->grpc_status = -1;
    st->body = body;
    st->body_len = body_len;
    st->body_end = body_end;
    st->id = nghttp2_submit_request(cl->session, NULL, nv, n, &provider, st);
    cl->open_streams++;
    client_pump(cl);
}

static void stream_done(struct stream *st)
{
    free(st->data);
    st->data = NULL;
}

/* Run the loop until every stream is closed, a handler stops it, or 5 seconds pass. */
static void run_loop(struct event_base *base)
{
    const struct timeval limit = {5, 0};

    event_base_loopexit(base, &limit);
    event_base_dispatch(base);
}

/* ---- request and response messages ---- */

/* A gRPC message (prefix and packed VersionRequest) carrying version. */
static uint8_t *version_request(const char *version, size_t *ret_len)
{
    Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
    size_t size;
    uint8_t *buf;

    req.version = (char *)version;
    size = runtime__v1__version_request__get_packed_size(&req);
    buf = xmalloc(GRPC_PREFIX_SIZE + size);
    grpc_prefix_write(buf, (uint32_t)size);
    runtime__v1__version_request__pack(&req, buf + GRPC_PREFIX_SIZE);
    *ret_len = GRPC_PREFIX_SIZE + size;
    return buf;
}

/* Decode the single VersionResponse in a stream's DATA; NULL if the framing is off. */
static Runtime__V1__VersionResponse *version_response(const struct stream *st)
{
    uint32_t len;

    if (st->data_len < GRPC_PREFIX_SIZE || st->data[0] != 0)
        return NULL;
    len = (uint32_t)st->data[1] << 24 | (uint32_t)st->data[2] << 16 | (uint32_t)st->data[3] << 8 |
          st->data[4];
    if (len != st->data_len - GRPC_PREFIX_SIZE)
        return NULL;
    return runtime__v1__version_response__unpack(NULL, len, st->data + GRPC_PREFIX_SIZE);
}

/* ---- the handlers ---- */

static void on_cancel(void *data)
{
    struct handler_state *h = data;

    h->cancel_callbacks++;
    h->held_was_cancelled = h->held && grpc_call_is_cancelled(h->held);
}

static void reply_version(struct grpc_call *call, const char *runtime_name)
{
    Runtime__V1__VersionResponse resp = RUNTIME__V1__VERSION_RESPONSE__INIT;
    Runtime__V1__VersionRequest *req;
    const uint8_t *payload;
    size_t len;

    payload = grpc_call_request(call, &len);
    req = runtime__v1__version_request__unpack(NULL, len, payload);
    resp.version = req ? req->version : (char *)"unparsable";
    resp.runtime_name = (char *)runtime_name;
    grpc_call_reply(call, &resp.base);
    if (req)
        runtime__v1__version_request__free_unpacked(req, NULL);
}

static void on_later(evutil_socket_t fd, short what, void *arg)
{
    struct handler_state *h = arg;
    struct grpc_call *call = TAKE_PTR(h->held);

    (void)fd;
    (void)what;
    reply_version(call, "later");
}

static void send_stream(struct grpc_call *call)
{
    for (int i = 0; i < 3; i++) {
        Runtime__V1__VersionResponse resp = RUNTIME__V1__VERSION_RESPONSE__INIT;
        char name[16];

        snprintf(name, sizeof(name), "part%d", i);
        resp.runtime_name = name;
        grpc_call_send(call, &resp.base);
    }
    grpc_call_finish(call, GRPC_STATUS_OK, NULL);
}

static void dispatch(void *data, struct grpc_call *call)
{
    struct handler_state *h = data;
    const char *path = grpc_call_path(call);

    h->dispatched++;
    if (h->stop_on_dispatch)
        event_base_loopbreak(h->base);

    if (strcmp(path, "/test.Svc/Echo") == 0) {
        reply_version(call, "crisp");
    } else if (strcmp(path, "/test.Svc/Fail") == 0) {
        grpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                         "invalid name 'caf\xc3\xa9': 100% wrong");
    } else if (strcmp(path, "/test.Svc/Missing") == 0) {
        _cleanup_err_ struct err *e = NULL;

        err_errno(&e, ENOENT, "container 'abc'");
        grpc_call_fail(call, e);
    } else if (strcmp(path, "/test.Svc/Big") == 0) {
        char *big = xmalloc(1024 * 1024 + 1);

        memset(big, 'x', 1024 * 1024);
        big[1024 * 1024] = '\0';
        reply_version(call, big);
        free(big);
    } else if (strcmp(path, "/test.Svc/Stream") == 0) {
        send_stream(call);
    } else if (strcmp(path, "/test.Svc/Later") == 0) {
        const struct timeval tv = {0, 20000};

        h->held = call;
        h->timer = evtimer_new(h->base, on_later, h);
        evtimer_add(h->timer, &tv);
    } else if (strcmp(path, "/test.Svc/Hang") == 0) {
        h->held = call;
        grpc_call_on_cancel(call, on_cancel, h);
    } else {
        grpc_call_finish(call, GRPC_STATUS_UNIMPLEMENTED, "unknown method");
    }
}

/* ---- fixture ---- */

struct fixture {
    struct event_base *base;
    struct grpc_server *server;
    struct client client;
};

static void fixture_init(struct fixture *f)
{
    _cleanup_err_ struct err *e = NULL;
    int sv[2];

    f->base = event_base_new();
    memset(&hs, 0, sizeof(hs));
    hs.base = f->base;
    f->server = grpc_server_new(f->base, -1, dispatch, &hs, &e);
    if (!f->server || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    if (grpc_server_add_connection(f->server, sv[0], &e) < 0)
        abort();
    client_init(&f->client, f->base, sv[1]);
}

static void fixture_done(struct fixture *f)
{
    if (hs.timer)
        event_free(hs.timer);
    client_done(&f->client);
    grpc_server_free(f->server);
    event_base_free(f->base);
}

/* ---- tests ---- */

static void test_unary_ok(void)
{
    struct fixture f;
    struct stream st = {0};
    size_t len;
    _cleanup_free_ uint8_t *body = version_request("v1", &len);
    Runtime__V1__VersionResponse *resp;

    fixture_init(&f);
    client_request(&f.client, &st, "/test.Svc/Echo", "application/grpc", NULL, body, len, true);
    run_loop(f.base);

    ok(st.closed, "unary: stream closed");
    is_int(st.error_code, NGHTTP2_NO_ERROR, "unary: closed without error");
    is_int(st.http_status, 200, "unary: HTTP 200");
    is_int(st.grpc_status, 0, "unary: grpc-status 0");
    ok(!st.trailers_only, "unary: status in trailers");
    resp = version_response(&st);
    ok(resp != NULL, "unary: one VersionResponse in DATA");
    if (resp) {
        is_str(resp->version, "v1", "unary: request payload reached the handler");
        is_str(resp->runtime_name, "crisp", "unary: response payload");
        runtime__v1__version_response__free_unpacked(resp, NULL);
    }
    stream_done(&st);
    fixture_done(&f);
}

static void test_unary_content_type_proto(void)
{
    struct fixture f;
    struct stream st = {0};
    size_t len;
    _cleanup_free_ uint8_t *body = version_request("v1", &len);

    fixture_init(&f);
    client_request(&f.client, &st, "/test.Svc/Echo", "application/grpc+proto", NULL, body, len,
                   true);
    run_loop(f.base);
    is_int(st.grpc_status, 0, "content-type application/grpc+proto is accepted");
    stream_done(&st);
    fixture_done(&f);
}

static void test_fail_message(void)
{
    struct fixture f;
    struct stream st = {0}, st2 = {0};
    size_t len;
    _cleanup_free_ uint8_t *body = version_request("v1", &len);

    fixture_init(&f);
    client_request(&f.client, &st, "/test.Svc/Fail", "application/grpc", NULL, body, len, true);
    client_request(&f.client, &st2, "/test.Svc/Missing", "application/grpc", NULL, body, len, true);
    run_loop(f.base);

    is_int(st.http_status, 200, "failure: HTTP 200");
    is_int(st.grpc_status, GRPC_STATUS_INVALID_ARGUMENT, "failure: INVALID_ARGUMENT");
    ok(st.trailers_only, "failure: trailers-only response");
    is_int(st.data_len, 0, "failure: no DATA");
    is_str(st.grpc_message, "invalid name 'caf%C3%A9': 100%25 wrong",
           "failure: grpc-message is percent-encoded");

    is_int(st2.grpc_status, GRPC_STATUS_NOT_FOUND, "grpc_call_fail: ENOENT maps to NOT_FOUND");
    is_str(st2.grpc_message, "container 'abc': No such file or directory",
           "grpc_call_fail: message is the error text");
    stream_done(&st);
    stream_done(&st2);
    fixture_done(&f);
}

static void test_reply_later(void)
{
    struct fixture f;
    struct stream st = {0};
    size_t len;
    _cleanup_free_ uint8_t *body = version_request("v1alpha2", &len);
    Runtime__V1__VersionResponse *resp;

    fixture_init(&f);
    client_request(&f.client, &st, "/test.Svc/Later", "application/grpc", NULL, body, len, true);
    run_loop(f.base);

    is_int(st.grpc_status, 0, "later reply: grpc-status 0");
    resp = version_response(&st);
    ok(resp != NULL, "later reply: one message");
    if (resp) {
        is_str(resp->version, "v1alpha2", "later reply: request payload kept until the reply");
        is_str(resp->runtime_name, "later", "later reply: payload from the timer");
        runtime__v1__version_response__free_unpacked(resp, NULL);
    }
    stream_done(&st);
    fixture_done(&f);
}

static void test_concurrent_streams(void)
{
    struct fixture f;
    static struct stream st[100];
    uint8_t *bodies[100];
    int good = 0, matched = 0;

    fixture_init(&f);
    memset(st, 0, sizeof(st));
    for (int i = 0; i < 100; i++) {
        char version[16];
        size_t len;

        snprintf(version, sizeof(version), "req-%d", i);
        bodies[i] = version_request(version, &len);
        client_request(&f.client, &st[i], "/test.Svc/Echo", "application/grpc", NULL, bodies[i],
                       len, true);
    }
    run_loop(f.base);

    for (int i = 0; i < 100; i++) {
        Runtime__V1__VersionResponse *resp = version_response(&st[i]);
        char version[16];

        snprintf(version, sizeof(version), "req-%d", i);
        if (st[i].closed && st[i].grpc_status == 0)
            good++;
        if (resp && strcmp(resp->version, version) == 0)
            matched++;
        if (resp)
            runtime__v1__version_response__free_unpacked(resp, NULL);
        stream_done(&st[i]);
        free(bodies[i]);
    }
    is_int(hs.dispatched, 100, "100 streams: all dispatched");
    is_int(good, 100, "100 streams: all closed with grpc-status 0");
    is_int(matched, 100, "100 streams: each response matches its request");
    fixture_done(&f);
}

static void test_two_connections(void)
{
    struct fixture f;
    struct client second;
    struct stream a = {0}, b = {0};
    _cleanup_err_ struct err *e = NULL;
    size_t len_a, len_b;
    _cleanup_free_ uint8_t *body_a = version_request("conn-a", &len_a);
    _cleanup_free_ uint8_t *body_b = version_request("conn-b", &len_b);
    Runtime__V1__VersionResponse *resp_a, *resp_b;
    int sv[2];

    fixture_init(&f);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    is_int(grpc_server_add_connection(f.server, sv[0], &e), 0, "two connections: second added");
    client_init(&second, f.base, sv[1]);

    client_request(&f.client, &a, "/test.Svc/Echo", "application/grpc", NULL, body_a, len_a, true);
    client_request(&second, &b, "/test.Svc/Echo", "application/grpc", NULL, body_b, len_b, true);
    for (int i = 0; i < 3 && !(a.closed && b.closed); i++)
        run_loop(f.base);

    resp_a = version_response(&a);
    resp_b = version_response(&b);
    is_str(resp_a ? resp_a->version : NULL, "conn-a", "two connections: first reply");
    is_str(resp_b ? resp_b->version : NULL, "conn-b", "two connections: second reply");
    if (resp_a)
        runtime__v1__version_response__free_unpacked(resp_a, NULL);
    if (resp_b)
        runtime__v1__version_response__free_unpacked(resp_b, NULL);
    stream_done(&a);
    stream_done(&b);
    client_done(&second);
    fixture_done(&f);
}

static void test_big_response(void)
{
    struct fixture f;
    struct stream st = {0};
    size_t len, xs = 0;
    _cleanup_free_ uint8_t *body = version_request("v1", &len);
    Runtime__V1__VersionResponse *resp;

    fixture_init(&f);
    client_request(&f.client, &st, "/test.Svc/Big", "application/grpc", NULL, body, len, true);
    run_loop(f.base);

    is_int(st.grpc_status, 0, "1 MiB response: grpc-status 0");
    ok(st.data_len > 1024 * 1024, "1 MiB response: more than the 64 KiB window arrived");
    resp = version_response(&st);
    ok(resp != NULL, "1 MiB response: one message");
    if (resp) {
        for (const char *p = resp->runtime_name; *p; p++)
            xs += *p == 'x';
        is_int(strlen(resp->runtime_name), 1024 * 1024, "1 MiB response: field length");
        is_int(xs, 1024 * 1024, "1 MiB response: field content");
        runtime__v1__version_response__free_unpacked(resp, NULL);
    }
    stream_done(&st);
    fixture_done(&f);
}

static void test_stream_messages(void)
{
    struct fixture f;
    struct stream st = {0};
    size_t len, off = 0;
    _cleanup_free_ uint8_t *body = version_request("v1", &len);
    int parts = 0, named = 0;

    fixture_init(&f);
    client_request(&f.client, &st, "/test.Svc/Stream", "application/grpc", NULL, body, len, true);
    run_loop(f.base);

    is_int(st.grpc_status, 0, "server streaming: grpc-status 0");
    while (off + GRPC_PREFIX_SIZE <= st.data_len) {
        uint32_t n = (uint32_t)st.data[off + 1] << 24 | (uint32_t)st.data[off + 2] << 16 |
                     (uint32_t)st.data[off + 3] << 8 | st.data[off + 4];
        Runtime__V1__VersionResponse *resp;
        char name[16];

        if (off + GRPC_PREFIX_SIZE + n > st.data_len)
            break;
        resp = runtime__v1__version_response__unpack(NULL, n, st.data + off + GRPC_PREFIX_SIZE);
        snprintf(name, sizeof(name), "part%d", parts);
        if (resp && strcmp(resp->runtime_name, name) == 0)
            named++;
        if (resp)
            runtime__v1__version_response__free_unpacked(resp, NULL);
        parts++;
        off += GRPC_PREFIX_SIZE + n;
    }
    is_int(parts, 3, "server streaming: three messages");
    is_int(named, 3, "server streaming: messages in order");
    is_int(off, st.data_len, "server streaming: no trailing bytes");
    stream_done(&st);
    fixture_done(&f);
}

static void test_too_large(void)
{
    struct fixture f;
    struct stream st = {0};
    uint8_t prefix[GRPC_PREFIX_SIZE];

    fixture_init(&f);
    grpc_prefix_write(prefix, 17u * 1024 * 1024);
    client_request(&f.client, &st, "/test.Svc/Echo", "application/grpc", NULL, prefix,
                   sizeof(prefix), false);
    run_loop(f.base);

    is_int(st.grpc_status, GRPC_STATUS_RESOURCE_EXHAUSTED, "17 MiB prefix: RESOURCE_EXHAUSTED");
    ok(st.trailers_only, "17 MiB prefix: trailers-only response");
    is_str(st.grpc_message,
           "request message of 17825792 bytes is larger than the maximum of 16777216 bytes",
           "17 MiB prefix: message names both sizes");
    ok(st.closed, "17 MiB prefix: stream closed without the client ending it");
    is_int(hs.dispatched, 0, "17 MiB prefix: handler not called");
    stream_done(&st);
    fixture_done(&f);
}

static void test_compressed(void)
{
    struct fixture f;
    struct stream st = {0};
    size_t len;
    _cleanup_free_ uint8_t *body = version_request("v1", &len);

    fixture_init(&f);
    body[0] = GRPC_FLAG_COMPRESSED;
    client_request(&f.client, &st, "/test.Svc/Echo", "application/grpc", NULL, body, len, true);
    run_loop(f.base);

    is_int(st.grpc_status, GRPC_STATUS_UNIMPLEMENTED, "compressed: UNIMPLEMENTED");
    is_str(st.grpc_message,
           "compressed messages are not supported (grpc-encoding ''): send them uncompressed",
           "compressed: message says compression is not supported");
    is_str(st.accept_encoding, "identity", "compressed: grpc-accept-encoding identity");
    is_int(hs.dispatched, 0, "compressed: handler not called");
    stream_done(&st);
    fixture_done(&f);
}

static void test_message_count(void)
{
    struct fixture f;
    struct stream none = {0}, two = {0}, partial = {0};
    size_t len;
    _cleanup_free_ uint8_t *body = version_request("v1", &len);
    _cleanup_free_ uint8_t *double_body = xmalloc(2 * len);

    memcpy(double_body, body, len);
    memcpy(double_body + len, body, len);

    fixture_init(&f);
    client_request(&f.client, &none, "/test.Svc/Echo", "application/grpc", NULL, NULL, 0, true);
    client_request(&f.client, &two, "/test.Svc/Echo", "application/grpc", NULL, double_body,
                   2 * len, true);
    client_request(&f.client, &partial, "/test.Svc/Echo", "application/grpc", NULL, body, len - 1,
                   true);
    run_loop(f.base);

    is_int(none.grpc_status, GRPC_STATUS_INTERNAL, "no message: INTERNAL");
    is_str(none.grpc_message, "no request message for unary method /test.Svc/Echo",
           "no message: grpc-message");
    is_int(two.grpc_status, GRPC_STATUS_INTERNAL, "two messages: INTERNAL");
    is_str(two.grpc_message, "more than one request message for unary method /test.Svc/Echo",
           "two messages: grpc-message");
    is_int(partial.grpc_status, GRPC_STATUS_INTERNAL, "truncated message: INTERNAL");
    is_str(partial.grpc_message, "the request ended inside a message (3 of 4 bytes)",
           "truncated message: grpc-message");
    is_int(hs.dispatched, 0, "bad message counts: handler not called");
    stream_done(&none);
    stream_done(&two);
    stream_done(&partial);
    fixture_done(&f);
}

static void test_deadline(void)
{
    struct fixture f;
    struct stream st = {0};
    size_t len;
    _cleanup_free_ uint8_t *body = version_request("v1", &len);

    fixture_init(&f);
    client_request(&f.client, &st, "/test.Svc/Hang", "application/grpc", "50m", body, len, true);
    run_loop(f.base);

    is_int(st.grpc_status, GRPC_STATUS_DEADLINE_EXCEEDED, "grpc-timeout 50m: DEADLINE_EXCEEDED");
    is_str(st.grpc_message, "deadline exceeded (grpc-timeout 50m)",
           "grpc-timeout 50m: grpc-message");
    is_int(hs.cancel_callbacks, 1, "grpc-timeout 50m: cancel callback ran once");
    ok(hs.held_was_cancelled, "grpc-timeout 50m: call marked cancelled");
    ok(hs.held && grpc_call_is_cancelled(hs.held), "grpc-timeout 50m: call still valid");

    /* The handler's late reply sends nothing and releases the call. */
    reply_version(TAKE_PTR(hs.held), "too late");
    event_base_loop(f.base, EVLOOP_NONBLOCK);
    is_int(st.data_len, 0, "grpc-timeout 50m: late reply sent no DATA");
    is_int(hs.cancel_callbacks, 1, "grpc-timeout 50m: no second cancel");
    stream_done(&st);
    fixture_done(&f);
}

static void test_bad_timeout(void)
{
    struct fixture f;
    struct stream st = {0};
    size_t len;
    _cleanup_free_ uint8_t *body = version_request("v1", &len);

    fixture_init(&f);
    client_request(&f.client, &st, "/test.Svc/Echo", "application/grpc", "5s", body, len, true);
    run_loop(f.base);

    is_int(st.grpc_status, GRPC_STATUS_INTERNAL, "grpc-timeout 5s: INTERNAL");
    is_str(st.grpc_message,
           "invalid grpc-timeout '5s': expected 1 to 8 digits and a unit of H, M, S, m, u or n",
           "grpc-timeout 5s: grpc-message names the value");
    is_int(hs.dispatched, 0, "grpc-timeout 5s: handler not called");
    stream_done(&st);
    fixture_done(&f);
}

static void test_client_reset(void)
{
    struct fixture f;
    struct stream st = {0};
    size_t len;
    _cleanup_free_ uint8_t *body = version_request("v1", &len);

    fixture_init(&f);
    hs.stop_on_dispatch = true;
    client_request(&f.client, &st, "/test.Svc/Hang", "application/grpc", NULL, body, len, true);
    run_loop(f.base);
    is_int(hs.dispatched, 1, "RST_STREAM: call dispatched first");

    nghttp2_submit_rst_stream(f.client.session, NGHTTP2_FLAG_NONE, st.id, NGHTTP2_CANCEL);
    client_pump(&f.client);
    for (int i = 0; i < 100 && hs.cancel_callbacks == 0; i++)
        event_base_loop(f.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);

    is_int(hs.cancel_callbacks, 1, "RST_STREAM: cancel callback ran");
    ok(hs.held_was_cancelled, "RST_STREAM: call marked cancelled");
    is_int(st.http_status, 0, "RST_STREAM: no response sent");

    /* The connection still serves other calls after a late reply to the reset one. */
    {
        struct stream st2 = {0};

        reply_version(TAKE_PTR(hs.held), "too late");
        hs.stop_on_dispatch = false;
        client_request(&f.client, &st2, "/test.Svc/Echo", "application/grpc", NULL, body, len,
                       true);
        run_loop(f.base);
        is_int(st2.grpc_status, 0, "RST_STREAM: next call on the connection succeeds");
        is_int(st.http_status, 0, "RST_STREAM: late reply sent nothing");
        stream_done(&st2);
    }
    stream_done(&st);
    fixture_done(&f);
}

static void test_connection_lost(void)
{
    struct fixture f;
    struct stream hang = {0}, big = {0};
    size_t len;
    _cleanup_free_ uint8_t *body = version_request("v1", &len);

    fixture_init(&f);
    client_request(&f.client, &hang, "/test.Svc/Hang", "application/grpc", NULL, body, len, true);
    client_request(&f.client, &big, "/test.Svc/Big", "application/grpc", NULL, body, len, true);
    for (int i = 0; i < 100 && hs.dispatched < 2; i++)
        event_base_loop(f.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    is_int(hs.dispatched, 2, "connection lost: both calls dispatched");
    ok(!big.closed, "connection lost: 1 MiB response still in flight");

    /*
     * Most of the 1 MiB response is still queued in the server when the client
     * goes, so it sees EOF or EPIPE (never SIGPIPE, which would end this
     * test) and closes the connection.
     */
    event_del(f.client.read_ev);
    event_del(f.client.write_ev);
    shutdown(f.client.fd, SHUT_RDWR);
    for (int i = 0; i < 100 && hs.cancel_callbacks == 0; i++)
        event_base_loop(f.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);

    is_int(hs.cancel_callbacks, 1, "connection lost: cancel callback ran");
    ok(hs.held_was_cancelled, "connection lost: call marked cancelled");
    reply_version(TAKE_PTR(hs.held), "too late");
    stream_done(&hang);
    stream_done(&big);
    fixture_done(&f);
}

static void test_header_list_too_large(void)
{
    struct fixture f;
    struct stream st = {0}, next = {0};
    size_t len;
    _cleanup_free_ uint8_t *body = version_request("v1", &len);
    _cleanup_free_ char *value = xmalloc(36 * 1024 + 1);

    /*
     * Two fields of 36 KiB: each is below nghttp2's own limit for one field
     * (64 KiB, which fails the whole connection), together they pass the
     * server's 64 KiB header list limit, which resets only the stream.
     */
    for (size_t i = 0; i < 36 * 1024; i++)
        value[i] = (char)('!' + i % 90);
    value[36 * 1024] = '\0';

    fixture_init(&f);
    f.client.extra_header_value = value;
    client_request(&f.client, &st, "/test.Svc/Echo", "application/grpc", NULL, body, len, true);
    run_loop(f.base);
    f.client.extra_header_value = NULL;
    client_request(&f.client, &next, "/test.Svc/Echo", "application/grpc", NULL, body, len, true);
    run_loop(f.base);

    ok(st.closed, "72 KiB headers: stream closed");
    is_int(st.error_code, NGHTTP2_INTERNAL_ERROR, "72 KiB headers: RST_STREAM INTERNAL_ERROR");
    is_int(st.http_status, 0, "72 KiB headers: no response");
    is_int(next.grpc_status, 0, "72 KiB headers: next call succeeds");
    is_int(hs.dispatched, 1, "72 KiB headers: only the next call dispatched");
    stream_done(&st);
    stream_done(&next);
    fixture_done(&f);
}

static void test_content_type(void)
{
    struct fixture f;
    struct stream st = {0}, missing = {0};
    size_t len;
    _cleanup_free_ uint8_t *body = version_request("v1", &len);

    fixture_init(&f);
    client_request(&f.client, &st, "/test.Svc/Echo", "application/json", NULL, body, len, true);
    client_request(&f.client, &missing, "/test.Svc/Echo", NULL, NULL, body, len, true);
    run_loop(f.base);

    is_int(st.http_status, 415, "content-type application/json: HTTP 415");
    is_int(st.grpc_status, GRPC_STATUS_INTERNAL, "content-type application/json: INTERNAL");
    is_str(st.grpc_message, "invalid content-type 'application/json': expected application/grpc",
           "content-type application/json: grpc-message");
    is_int(missing.http_status, 415, "no content-type: HTTP 415");
    is_int(hs.dispatched, 0, "bad content-type: handler not called");
    stream_done(&st);
    stream_done(&missing);
    fixture_done(&f);
}

static void on_shutdown_done(void *data)
{
    struct handler_state *h = data;

    h->done = true;
    h->replied_at_done = h->dispatched > 0 && h->held == NULL;
    event_base_loopbreak(h->base);
}

static void test_shutdown_in_flight(void)
{
    struct fixture f;
    struct stream st = {0};
    size_t len;
    _cleanup_free_ uint8_t *body = version_request("v1", &len);

    fixture_init(&f);
    hs.stop_on_dispatch = true;
    client_request(&f.client, &st, "/test.Svc/Later", "application/grpc", NULL, body, len, true);
    run_loop(f.base);
    is_int(hs.dispatched, 1, "shutdown: call in flight");

    grpc_server_shutdown(f.server, 5000, on_shutdown_done, &hs);
    for (int i = 0; i < 3 && !hs.done; i++)
        run_loop(f.base);
    ok(hs.done, "shutdown: done ran");
    ok(hs.replied_at_done, "shutdown: done ran after the handler replied");

    /* The reply was written before the connection closed; the client reads it now. */
    for (int i = 0; i < 3 && !f.client.eof; i++)
        run_loop(f.base);
    ok(f.client.goaway, "shutdown: client got GOAWAY");
    is_int(st.grpc_status, 0, "shutdown: in-flight call ended with grpc-status 0");
    stream_done(&st);
    fixture_done(&f);
}

static void test_shutdown_grace(void)
{
    struct fixture f;
    struct stream st = {0};
    size_t len;
    _cleanup_free_ uint8_t *body = version_request("v1", &len);

    fixture_init(&f);
    hs.stop_on_dispatch = true;
    client_request(&f.client, &st, "/test.Svc/Hang", "application/grpc", NULL, body, len, true);
    run_loop(f.base);

    grpc_server_shutdown(f.server, 30, on_shutdown_done, &hs);
    for (int i = 0; i < 3 && !hs.done; i++)
        run_loop(f.base);

    ok(hs.done, "shutdown grace: done ran");
    is_int(hs.cancel_callbacks, 1, "shutdown grace: hanging call cancelled");
    ok(hs.held_was_cancelled, "shutdown grace: call marked cancelled");
    reply_version(TAKE_PTR(hs.held), "too late");
    stream_done(&st);
    fixture_done(&f);
}

static void test_listen_unix(void)
{
    _cleanup_err_ struct err *e = NULL;
    char dir[] = "/tmp/crisp-grpc-test-XXXXXX";
    _cleanup_free_ char *path = NULL, *sub = NULL;
    struct stat st;
    int fd, fd2, flags;

    if (!mkdtemp(dir))
        abort();
    sub = xasprintf("%s/run", dir);
    path = xasprintf("%s/crisp.sock", sub);

    fd = grpc_listen_unix(path, 0660, &e);
    ok(fd >= 0, "listen: socket created in a missing directory");
    ok(stat(path, &st) == 0 && S_ISSOCK(st.st_mode), "listen: path is a socket");
    is_int(st.st_mode & 07777, 0660, "listen: mode 0660");
    flags = fcntl(fd, F_GETFL);
    ok(flags >= 0 && (flags & O_NONBLOCK), "listen: non-blocking");
    ok((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0, "listen: close-on-exec");
    close(fd);

    fd2 = grpc_listen_unix(path, 0600, &e);
    ok(fd2 >= 0, "listen: stale socket replaced");
    close(fd2);
    unlink(path);

    fd2 = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    close(fd2);
    is_int(grpc_listen_unix(path, 0660, &e), -1, "listen: regular file at path is an error");
    ok(e && e->errnum == EEXIST, "listen: error is EEXIST");
    ok(stat(path, &st) == 0 && S_ISREG(st.st_mode), "listen: regular file left alone");

    unlink(path);
    rmdir(sub);
    rmdir(dir);
}

int main(void)
{
    log_setup(getenv("CRISP_TEST_DEBUG") ? LOG_LEVEL_TRACE : LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);

    test_unary_ok();
    test_unary_content_type_proto();
    test_fail_message();
    test_reply_later();
    test_concurrent_streams();
    test_two_connections();
    test_big_response();
    test_stream_messages();
    test_too_large();
    test_compressed();
    test_message_count();
    test_deadline();
    test_bad_timeout();
    test_client_reset();
    test_connection_lost();
    test_header_list_too_large();
    test_content_type();
    test_shutdown_in_flight();
    test_shutdown_grace();
    test_listen_unix();
    return tap_done();
}
