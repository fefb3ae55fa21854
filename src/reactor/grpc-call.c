/*
 * gRPC calls (grpc/doc/PROTOCOL-HTTP2.md): the request headers and message
 * of one stream, its deadline and cancellation, and the response.  The
 * response is HEADERS, then DATA fed by an nghttp2 data provider, then the
 * status in trailers.  A call that ends before any message gets a
 * trailers-only response instead.
 *
 * A call holds one reference for its stream and, once dispatched, one for
 * its handler, so it outlives whichever of the two goes first.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "reactor/grpc-internal.h"

/*
 * Maximum grpc-message sent, before percent-encoding (which may triple it).
 * NOTE: an estimate of what clients accept: grpcio 1.51 rejected a 40 KB
 * message as too much metadata in the tests, and 2 KiB stays below that.
 */
#define GRPC_MAX_STATUS_MESSAGE 2048
#include "util/cleanup.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Header fields of a status: grpc-status, grpc-message, grpc-accept-encoding. */
struct status_fields {
    char code[16];
    char *message;
    nghttp2_nv nv[5];
    size_t n;
};

#define NV_LITERAL(name, value)                                                                    \
    ((nghttp2_nv){(uint8_t *)(name), (uint8_t *)(value), sizeof(name) - 1, sizeof(value) - 1,      \
                  NGHTTP2_NV_FLAG_NONE})

static nghttp2_nv nv_string(const char *name, const char *value)
{
    return (nghttp2_nv){(uint8_t *)name, (uint8_t *)value, strlen(name), strlen(value),
                        NGHTTP2_NV_FLAG_NONE};
}

static double call_elapsed_ms(const struct grpc_call *c)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - c->start.tv_sec) * 1e3 +
           (double)(now.tv_nsec - c->start.tv_nsec) / 1e6;
}

/* Level of the one log line of a call that ended with status. */
static enum log_level status_log_level(enum grpc_status status, bool by_handler)
{
    switch (status) {
    case GRPC_STATUS_UNKNOWN:
    case GRPC_STATUS_INTERNAL:
    case GRPC_STATUS_DATA_LOSS:
        /* Raised by the server itself, these mean a client that breaks the protocol. */
        return by_handler ? LOG_LEVEL_ERROR : LOG_LEVEL_DEBUG;
    case GRPC_STATUS_UNAVAILABLE:
    case GRPC_STATUS_DEADLINE_EXCEEDED:
        return LOG_LEVEL_WARN;
    default:
        return LOG_LEVEL_DEBUG;
    }
}

static void call_log_end(const struct grpc_call *c, bool by_handler)
{
    const struct log_ids ids = {.rpc = c->path};
    enum log_level level = status_log_level(c->status, by_handler);

    log_emit(level, NULL, &ids, "call ended: %s%s%s, %.3f ms", grpc_status_name(c->status),
             c->message[0] ? ": " : "", c->message, call_elapsed_ms(c));
}

static void call_link(struct grpc_call **list, struct grpc_call *c)
{
    c->prev = NULL;
    c->next = *list;
    if (*list)
        (*list)->prev = c;
    *list = c;
}

static void call_unlink(struct grpc_call **list, struct grpc_call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        *list = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

struct grpc_call *call_new(struct grpc_conn *conn, int32_t stream_id)
{
    struct grpc_call *c = xzalloc(sizeof(*c));

    c->refs = 1;
    c->stream_ref = true;
    c->server = conn->server;
    c->conn = conn;
    c->stream_id = stream_id;
    clock_gettime(CLOCK_MONOTONIC, &c->start);
    grpc_decoder_init(&c->decoder, GRPC_MAX_REQUEST_SIZE);
    c->out = evbuffer_new();
    if (!c->out)
        abort();

    call_link(&conn->calls, c);
    conn->server->n_calls++;
    trace("gRPC connection %llu: stream %d opened", (unsigned long long)conn->id, stream_id);
    return c;
}

static void call_free(struct grpc_call *c)
{
    struct grpc_server *s = c->server;

    if (c->conn) {
        c->conn->buffered -= c->buffered_bytes;
        call_unlink(&c->conn->calls, c);
    } else if (s) {
        call_unlink(&s->orphans, c);
    }

    if (c->deadline_ev)
        event_free(c->deadline_ev);
    evbuffer_free(c->out);
    grpc_decoder_done(&c->decoder);
    free(c->request);
    free(c->path);
    free(c->content_type);
    free(c->encoding);
    free(c->timeout);
    free(c->message);
    free(c);

    if (s) {
        s->n_calls--;
        server_check_done(s);
    }
}

void call_unref(struct grpc_call *c)
{
    if (--c->refs == 0)
        call_free(c);
}

/* Run and forget the cancel callback, keeping c alive while it runs. */
static void call_run_cancel_cb(struct grpc_call *c)
{
    void (*cb)(void *data) = c->cancel_cb;

    c->cancel_cb = NULL;
    if (!cb || !c->dispatched || c->handler_ended)
        return;
    c->refs++;
    cb(c->cancel_data);
    call_unref(c);
}

/* Cancel c without sending anything: the stream or the connection is gone. */
static void call_cancel(struct grpc_call *c, const char *reason)
{
    const struct log_ids ids = {.rpc = c->path};

    if (c->ended)
        return;
    c->ended = true;
    c->cancelled = true;
    if (c->deadline_ev)
        event_del(c->deadline_ev);
    log_emit(LOG_LEVEL_DEBUG, NULL, &ids, "call cancelled: %s, %.3f ms", reason,
             call_elapsed_ms(c));
    call_run_cancel_cb(c);
}

static void status_fields_build(struct status_fields *f, const struct grpc_call *c)
{
    snprintf(f->code, sizeof(f->code), "%d", (int)c->status);
    f->message = grpc_message_encode(c->message);
    f->n = 0;
    f->nv[f->n++] = nv_string("grpc-status", f->code);
    if (f->message[0])
        f->nv[f->n++] = nv_string("grpc-message", f->message);
    if (c->accept_encoding)
        f->nv[f->n++] = NV_LITERAL("grpc-accept-encoding", "identity");
}

/* Send the status in a single HEADERS frame with END_STREAM (a trailers-only response). */
static int call_submit_trailers_only(struct grpc_call *c, int http_status)
{
    struct status_fields f;
    nghttp2_nv nv[ARRAY_SIZE(f.nv) + 2];
    char http_code[16];
    size_t n = 0;
    int r;

    snprintf(http_code, sizeof(http_code), "%d", http_status);
    status_fields_build(&f, c);
    nv[n++] = nv_string(":status", http_code);
    nv[n++] = NV_LITERAL("content-type", "application/grpc");
    for (size_t i = 0; i < f.n; i++)
        nv[n++] = f.nv[i];

    r = nghttp2_submit_response(c->conn->session, c->stream_id, nv, n, NULL);
    free(f.message);
    return r;
}

static ssize_t call_read_data(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                              size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                              void *user_data)
{
    struct grpc_call *c = source->ptr;
    int n;

    (void)user_data;

    n = evbuffer_remove(c->out, buf, length);
    if (n < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (evbuffer_get_length(c->out) > 0 || !c->eof)
        return n > 0 ? n : NGHTTP2_ERR_DEFERRED;

    /* All messages are out: end the DATA and send the status as trailers. */
    {
        struct status_fields f;
        int r;

        status_fields_build(&f, c);
        r = nghttp2_submit_trailer(session, stream_id, f.nv, f.n);
        free(f.message);
        if (r != 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    return n;
}

/* Send the response HEADERS; DATA follows from c->out as it fills and the window allows. */
static int call_submit_headers(struct grpc_call *c)
{
    const nghttp2_nv nv[] = {
        NV_LITERAL(":status", "200"),
        NV_LITERAL("content-type", "application/grpc"),
    };
    nghttp2_data_provider provider = {.source.ptr = c, .read_callback = call_read_data};

    c->headers_sent = true;
    return nghttp2_submit_response(c->conn->session, c->stream_id, nv, ARRAY_SIZE(nv), &provider);
}

static void call_end_http(struct grpc_call *c, int http_status, enum grpc_status status,
                          const char *message, bool by_handler)
{
    int r;

    if (c->ended)
        return;
    c->ended = true;
    c->status = status;
    c->message = xstrdup(message ? message : "");
    if (strlen(c->message) > GRPC_MAX_STATUS_MESSAGE) {
        /*
         * Messages may quote request fields in full; nghttp2 refuses a header
         * block past its limit, which would leave the call without a status.
         */
        static const char mark[] = " ... (truncated)";

        memcpy(c->message + GRPC_MAX_STATUS_MESSAGE - sizeof(mark), mark, sizeof(mark));
    }
    if (c->deadline_ev)
        event_del(c->deadline_ev);
    call_log_end(c, by_handler);

    if (!c->conn || !c->stream_ref)
        return;
    if (!c->request_done)
        c->reset_after_end = true;
    if (c->headers_sent) {
        c->eof = true;
        /* Fails harmlessly when the data provider is not deferred: it is going to run anyway. */
        (void)nghttp2_session_resume_data(c->conn->session, c->stream_id);
        r = 0;
    } else {
        r = call_submit_trailers_only(c, http_status);
    }
    if (r != 0)
        nghttp2_submit_rst_stream(c->conn->session, NGHTTP2_FLAG_NONE, c->stream_id,
                                  NGHTTP2_INTERNAL_ERROR);
    conn_kick(c->conn);
}

void call_end(struct grpc_call *c, enum grpc_status status, const char *message, bool by_handler)
{
    call_end_http(c, 200, status, message, by_handler);
}

static void call_end_printf(struct grpc_call *c, int http_status, enum grpc_status status,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* End c from the server side (a protocol error of the client) with a formatted message. */
static void call_end_printf(struct grpc_call *c, int http_status, enum grpc_status status,
                            const char *fmt, ...)
{
    char *message;
    va_list ap;

    va_start(ap, fmt);
    message = xvasprintf(fmt, ap);
    va_end(ap);
    call_end_http(c, http_status, status, message, false);
    free(message);
}

static bool name_is(const char *name, size_t len, const char *literal)
{
    return strlen(literal) == len && memcmp(name, literal, len) == 0;
}

void call_on_header(struct grpc_call *c, const char *name, size_t namelen, const char *value,
                    size_t valuelen)
{
    char **slot = NULL;

    if (name_is(name, namelen, ":method"))
        c->method_post = valuelen == 4 && memcmp(value, "POST", 4) == 0;
    else if (name_is(name, namelen, ":path"))
        slot = &c->path;
    else if (name_is(name, namelen, "content-type"))
        slot = &c->content_type;
    else if (name_is(name, namelen, "grpc-encoding"))
        slot = &c->encoding;
    else if (name_is(name, namelen, "grpc-timeout"))
        slot = &c->timeout;

    if (slot) {
        free(*slot);
        *slot = xstrndup(value, valuelen);
    }
}

/* Whether a content-type names gRPC with the protobuf codec: application/grpc[+proto][;params]. */
static bool content_type_is_grpc(const char *type)
{
    static const char base[] = "application/grpc";
    const char *rest;

    if (!type || strncasecmp(type, base, sizeof(base) - 1) != 0)
        return false;
    rest = type + sizeof(base) - 1;
    if (strncasecmp(rest, "+proto", 6) == 0)
        rest += 6;
    return *rest == '\0' || *rest == ';';
}

static void call_on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct grpc_call *c = arg;

    (void)fd;
    (void)what;

    if (c->ended)
        return;
    c->refs++;
    call_end_printf(c, 200, GRPC_STATUS_DEADLINE_EXCEEDED, "deadline exceeded (grpc-timeout %s)",
                    c->timeout);
    c->cancelled = true;
    call_run_cancel_cb(c);
    call_unref(c);
}

static void call_arm_deadline(struct grpc_call *c, uint64_t usec)
{
    struct timeval tv = {
        .tv_sec = (time_t)(usec / 1000000),
        .tv_usec = (suseconds_t)(usec % 1000000),
    };

    c->deadline_ev = evtimer_new(c->server->base, call_on_deadline, c);
    if (!c->deadline_ev)
        abort();
    evtimer_add(c->deadline_ev, &tv);
}

void call_on_headers_done(struct grpc_call *c)
{
    uint64_t usec;

    if (c->ended)
        return;
    if (!c->method_post) {
        call_end_printf(c, 405, GRPC_STATUS_INTERNAL, "invalid HTTP method: gRPC requires POST");
        return;
    }
    if (!content_type_is_grpc(c->content_type)) {
        call_end_printf(c, 415, GRPC_STATUS_INTERNAL,
                        "invalid content-type '%s': expected application/grpc",
                        c->content_type ? c->content_type : "");
        return;
    }
    if (c->timeout) {
        if (grpc_timeout_parse(c->timeout, strlen(c->timeout), &usec) < 0) {
            call_end_printf(c, 200, GRPC_STATUS_INTERNAL,
                            "invalid grpc-timeout '%s': expected 1 to 8 digits and a unit of "
                            "H, M, S, m, u or n",
                            c->timeout);
            return;
        }
        call_arm_deadline(c, usec);
    }
}

/* Handle one decoder event; return false when it ended the call. */
static bool call_on_decode_event(struct grpc_call *c, enum grpc_decode_event ev)
{
    switch (ev) {
    case GRPC_DECODE_MORE:
        return true;
    case GRPC_DECODE_MESSAGE:
        c->request = grpc_decoder_take(&c->decoder, &c->request_len);
        c->have_request = true;
        return true;
    case GRPC_DECODE_TOO_LARGE:
        call_end_printf(c, 200, GRPC_STATUS_RESOURCE_EXHAUSTED,
                        "request message of %u bytes is larger than the maximum of %u bytes",
                        (unsigned)c->decoder.msg_len, GRPC_MAX_REQUEST_SIZE);
        return false;
    case GRPC_DECODE_COMPRESSED:
        c->accept_encoding = true;
        call_end_printf(c, 200, GRPC_STATUS_UNIMPLEMENTED,
                        "compressed messages are not supported (grpc-encoding '%s'): send them "
                        "uncompressed",
                        c->encoding ? c->encoding : "");
        return false;
    case GRPC_DECODE_BAD_FLAGS:
        call_end_printf(c, 200, GRPC_STATUS_INTERNAL,
                        "invalid message flags 0x%02x: only bit 0 (compressed) is defined",
                        c->decoder.flags);
        return false;
    }
    return false;
}

/* Bring the connection's count of buffered request bytes up to date with c. */
static void call_account(struct grpc_call *c)
{
    size_t bytes = c->decoder.msg_have + c->request_len;

    c->conn->buffered = c->conn->buffered - c->buffered_bytes + bytes;
    c->buffered_bytes = bytes;
}

void call_on_data(struct grpc_call *c, const uint8_t *data, size_t len)
{
    while (len > 0 && !c->ended) {
        enum grpc_decode_event ev;
        size_t used = 0;

        if (c->have_request) {
            call_end_printf(c, 200, GRPC_STATUS_INTERNAL,
                            "more than one request message for unary method %s",
                            c->path ? c->path : "");
            return;
        }

        ev = grpc_decoder_feed(&c->decoder, data, len, &used);
        data += used;
        len -= used;
        if (!call_on_decode_event(c, ev))
            return;
        call_account(c);

        if (c->conn->buffered > GRPC_MAX_CONN_BUFFERED) {
            call_end_printf(c, 200, GRPC_STATUS_RESOURCE_EXHAUSTED,
                            "the connection holds more than %zu bytes of requests",
                            GRPC_MAX_CONN_BUFFERED);
            return;
        }
    }
}

void call_on_request_done(struct grpc_call *c)
{
    c->request_done = true;
    if (c->ended)
        return;

    if (grpc_decoder_in_message(&c->decoder)) {
        call_end_printf(c, 200, GRPC_STATUS_INTERNAL,
                        "the request ended inside a message (%zu of %u bytes)", c->decoder.msg_have,
                        (unsigned)c->decoder.msg_len);
        return;
    }
    if (!c->have_request) {
        call_end_printf(c, 200, GRPC_STATUS_INTERNAL, "no request message for unary method %s",
                        c->path ? c->path : "");
        return;
    }

    trace("gRPC call %s dispatched", c->path);
    c->dispatched = true;
    c->refs++;
    c->server->dispatch(c->server->data, c);
}

void call_on_stream_close(struct grpc_call *c, uint32_t error_code)
{
    char reason[80];

    snprintf(reason, sizeof(reason), "the client reset the stream (%s)",
             nghttp2_http2_strerror(error_code));
    call_cancel(c, reason);
    c->stream_ref = false;
    call_unref(c);
}

void call_detach(struct grpc_call *c)
{
    struct grpc_conn *conn = c->conn;

    conn->buffered -= c->buffered_bytes;
    c->buffered_bytes = 0;
    call_unlink(&conn->calls, c);
    c->conn = NULL;
    call_link(&c->server->orphans, c);

    call_cancel(c, "the connection closed");
    if (c->stream_ref) {
        c->stream_ref = false;
        call_unref(c);
    }
}

const char *grpc_call_path(const struct grpc_call *c)
{
    return c->path ? c->path : "";
}

const uint8_t *grpc_call_request(const struct grpc_call *c, size_t *ret_len)
{
    static const uint8_t empty[1];

    *ret_len = c->request_len;
    return c->request ? c->request : empty;
}

bool grpc_call_is_cancelled(const struct grpc_call *c)
{
    return c->cancelled;
}

void grpc_call_on_cancel(struct grpc_call *c, void (*cb)(void *data), void *data)
{
    c->cancel_cb = cb;
    c->cancel_data = data;
}

static void free_packed(const void *data, size_t len, void *extra)
{
    (void)len;
    (void)extra;
    free((void *)data);
}

/* Queue buf (GRPC_PREFIX_SIZE bytes left free, then size bytes of message), taken over. */
static void call_queue_message(struct grpc_call *c, uint8_t *buf, size_t size)
{
    grpc_prefix_write(buf, (uint32_t)size);
    if (evbuffer_add_reference(c->out, buf, GRPC_PREFIX_SIZE + size, free_packed, NULL) < 0)
        abort();

    if (!c->headers_sent) {
        if (call_submit_headers(c) != 0) {
            nghttp2_submit_rst_stream(c->conn->session, NGHTTP2_FLAG_NONE, c->stream_id,
                                      NGHTTP2_INTERNAL_ERROR);
            call_cancel(c, "submitting the response failed");
        }
    } else {
        (void)nghttp2_session_resume_data(c->conn->session, c->stream_id);
    }
    conn_kick(c->conn);
}

void grpc_call_send(struct grpc_call *c, const ProtobufCMessage *msg)
{
    size_t size;
    uint8_t *buf;

    if (c->ended || !c->conn)
        return;

    size = protobuf_c_message_get_packed_size(msg);
    if (size > UINT32_MAX) {
        call_end_printf(c, 200, GRPC_STATUS_INTERNAL,
                        "response message of %zu bytes does not fit the 4-byte length prefix",
                        size);
        return;
    }
    buf = xmalloc(GRPC_PREFIX_SIZE + size);
    protobuf_c_message_pack(msg, buf + GRPC_PREFIX_SIZE);
    call_queue_message(c, buf, size);
}

void grpc_call_reply_packed(struct grpc_call *c, const uint8_t *data, size_t len)
{
    uint8_t *buf;

    if (!c->ended && c->conn && len <= UINT32_MAX) {
        buf = xmalloc(GRPC_PREFIX_SIZE + len);
        if (len)
            memcpy(buf + GRPC_PREFIX_SIZE, data, len);
        call_queue_message(c, buf, len);
    }
    grpc_call_finish(c, GRPC_STATUS_OK, NULL);
}

void grpc_call_finish(struct grpc_call *c, enum grpc_status status, const char *message)
{
    if (c->handler_ended)
        abort();
    call_end(c, status, message, true);
    c->handler_ended = true;
    call_unref(c);
}

void grpc_call_reply(struct grpc_call *c, const ProtobufCMessage *msg)
{
    grpc_call_send(c, msg);
    grpc_call_finish(c, GRPC_STATUS_OK, NULL);
}

void grpc_call_fail(struct grpc_call *c, const struct err *e)
{
    enum grpc_status status = err_grpc_status(e);
    char *text = err_text(e);

    /* An error object whose fields map to OK still reports a failure. */
    if (status == GRPC_STATUS_OK)
        status = GRPC_STATUS_UNKNOWN;
    grpc_call_finish(c, status, text);
    free(text);
}
