/*
 * Internals of the gRPC server shared by grpc.c (listener, shutdown),
 * grpc-conn.c (connections and the nghttp2 session) and grpc-call.c (calls
 * and responses).
 */
#ifndef CRISP_REACTOR_GRPC_INTERNAL_H
#define CRISP_REACTOR_GRPC_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <nghttp2/nghttp2.h>

#include "reactor/grpc.h"
#include "reactor/grpc-wire.h"

/* SETTINGS_MAX_CONCURRENT_STREAMS advertised to every client. */
#define GRPC_MAX_CONCURRENT_STREAMS 1000

/*
 * Header bytes accepted per request, counted as RFC 9113 section 6.5.2
 * does: name + value + 32 per field.
 */
#define GRPC_MAX_HEADER_LIST_SIZE (64u * 1024)

/* Request bytes one connection may hold in unfinished or undispatched messages. */
#define GRPC_MAX_CONN_BUFFERED (4 * (size_t)GRPC_MAX_REQUEST_SIZE)

/* Connections served at once; more are closed as soon as they are accepted. */
#define GRPC_MAX_CONNECTIONS 1024

/* Output held per connection before it stops producing frames and stops reading. */
#define GRPC_OUTPUT_HIGH_WATER (256u * 1024)

struct event;
struct evbuffer;

struct grpc_server {
    struct event_base *base;
    int listen_fd;
    struct event *accept_ev;
    struct event *accept_resume_ev; /* re-enables accepting after EMFILE and the like */
    grpc_dispatch_fn dispatch;
    void *data;

    struct grpc_conn *conns;
    unsigned n_conns;
    uint64_t next_conn_id;
    struct grpc_call *orphans; /* live calls whose connection is gone */
    unsigned n_calls;          /* live call objects, on connections or orphaned */

    bool shutting_down;
    bool freeing;
    void (*done)(void *data);
    void *done_data;
    struct event *grace_ev;
    struct event *done_ev;
};

struct grpc_conn {
    struct grpc_server *server;
    struct grpc_conn *prev, *next;
    uint64_t id;
    int fd;
    struct event *read_ev;
    struct event *write_ev;
    bool reading; /* read_ev is added */
    nghttp2_session *session;
    struct evbuffer *out; /* frames packed by nghttp2, not yet written to fd */
    struct grpc_call *calls;
    size_t buffered; /* request bytes held by this connection's calls */
    unsigned busy;   /* depth of this connection's own callbacks on the stack */
    bool closing;    /* free once busy drops to 0 */
};

struct grpc_call {
    unsigned refs; /* one for the nghttp2 stream, one for the handler once dispatched */
    struct grpc_server *server; /* NULL once the server is freed */
    struct grpc_conn *conn;     /* NULL once the connection is gone */
    struct grpc_call *prev, *next;
    int32_t stream_id;
    struct timespec start;

    /* Request. */
    char *path;
    char *content_type;
    char *encoding;
    char *timeout;
    size_t header_bytes;
    bool method_post;
    struct grpc_decoder decoder;
    uint8_t *request;
    size_t request_len;
    size_t buffered_bytes; /* this call's share of conn->buffered */
    bool have_request;
    bool request_done; /* the client sent END_STREAM */
    struct event *deadline_ev;

    /* Life cycle. */
    bool stream_ref;    /* the stream still holds its reference */
    bool dispatched;    /* the handler holds a reference */
    bool handler_ended; /* the handler has ended the call */
    bool ended;         /* the status is decided; nothing more is sent after it */
    bool cancelled;
    void (*cancel_cb)(void *data);
    void *cancel_data;

    /* Response. */
    bool headers_sent;
    bool eof;             /* the data provider ends with the trailers once out is empty */
    bool reset_after_end; /* send RST_STREAM(NO_ERROR) after END_STREAM: the request is unread */
    bool accept_encoding; /* add grpc-accept-encoding to the status */
    struct evbuffer *out; /* response messages not yet taken by nghttp2 */
    enum grpc_status status;
    char *message;
};

/* grpc-call.c */
struct grpc_call *call_new(struct grpc_conn *conn, int32_t stream_id);
void call_unref(struct grpc_call *c);
void call_on_header(struct grpc_call *c, const char *name, size_t namelen, const char *value,
                    size_t valuelen);
void call_on_headers_done(struct grpc_call *c);
void call_on_data(struct grpc_call *c, const uint8_t *data, size_t len);
void call_on_request_done(struct grpc_call *c);
void call_on_stream_close(struct grpc_call *c, uint32_t error_code);
void call_detach(struct grpc_call *c);
void call_end(struct grpc_call *c, enum grpc_status status, const char *message, bool by_handler);

/* grpc-conn.c */
struct grpc_conn *conn_new(struct grpc_server *s, int fd, struct err **err);
void conn_free(struct grpc_conn *conn);
void conn_kick(struct grpc_conn *conn);
void conn_goaway(struct grpc_conn *conn);

/* grpc.c */
void server_check_done(struct grpc_server *s);

#endif
