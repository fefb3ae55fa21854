/*
 * gRPC server over HTTP/2 (nghttp2) with prior knowledge, on a listening
 * socket driven by libevent.  It parses gRPC message framing, enforces the
 * request size limit, deadlines (grpc-timeout) and cancellation, and sends
 * responses with status trailers.  What a method does is up to the
 * dispatch callback.
 */
#ifndef CRISP_REACTOR_GRPC_H
#define CRISP_REACTOR_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <protobuf-c/protobuf-c.h>

#include "util/err.h"

struct event_base;
struct grpc_server;
struct grpc_call;

/* Largest request message accepted; larger ones get RESOURCE_EXHAUSTED. */
#define GRPC_MAX_REQUEST_SIZE (16u * 1024 * 1024)

/*
 * Called once per call when its request message has arrived in full.  The
 * handler must end the call exactly once, now or later, with
 * grpc_call_reply(), grpc_call_finish() or grpc_call_fail().
 */
typedef void (*grpc_dispatch_fn)(void *data, struct grpc_call *call);

/*
 * Create the listening Unix socket at path for grpc_server_new(): create the
 * parent directory (0755) if it is missing, remove a stale socket file (and
 * fail on anything else at path), bind, chmod to mode, listen.  Returns the
 * fd (non-blocking, close-on-exec), or -1 with *err filled.
 */
int grpc_listen_unix(const char *path, mode_t mode, struct err **err);

/*
 * Serve on listen_fd (a bound, listening, non-blocking socket, taken over),
 * or on no listener at all when listen_fd is negative: connections then
 * come only from grpc_server_add_connection().  dispatch runs on the loop
 * of base for each complete request.  Returns NULL with *err filled when
 * libevent cannot watch listen_fd (which is closed then).
 */
struct grpc_server *grpc_server_new(struct event_base *base, int listen_fd,
                                    grpc_dispatch_fn dispatch, void *data, struct err **err);

/*
 * Serve HTTP/2 on fd, an already connected stream socket (taken over; made
 * non-blocking here).  Tests and the fuzz target use it with one end of a
 * socketpair.  Returns 0, or -1 with *err filled (fd is closed then).
 */
int grpc_server_add_connection(struct grpc_server *s, int fd, struct err **err);

/*
 * Stop accepting connections (the listening fd is closed), send GOAWAY, and
 * call done once no call is in flight and every connection has sent what it
 * had and closed (on the next loop iteration if that is already so).  Calls
 * still open when grace_ms passes are cancelled and their connections
 * closed before done runs.  done runs from the event loop, never from
 * inside this function, and may free the server.
 */
void grpc_server_shutdown(struct grpc_server *s, unsigned grace_ms, void (*done)(void *data),
                          void *data);

/*
 * Close every connection (cancelling their calls) and free s.  Calls whose
 * handler has not ended them stay valid; ending them later sends nothing.
 * Must not be called from inside a dispatch or cancel callback.
 */
void grpc_server_free(struct grpc_server *s);

/* ":path" of the call, e.g. "/runtime.v1.RuntimeService/Version". */
const char *grpc_call_path(const struct grpc_call *c);

/* The request message payload (without the 5-byte gRPC prefix). */
const uint8_t *grpc_call_request(const struct grpc_call *c, size_t *ret_len);

/* Whether the client cancelled (RST_STREAM, connection loss) or the deadline passed. */
bool grpc_call_is_cancelled(const struct grpc_call *c);

/*
 * Register cb to run once if the call is cancelled before the handler ends
 * it (replacing any earlier registration).  The handler must still end the
 * call; ending a cancelled call sends nothing and releases it.  A call
 * cancelled before the registration never runs cb: check
 * grpc_call_is_cancelled() after an asynchronous step.  Calls are never
 * cancelled before dispatch returns control to the loop.
 */
void grpc_call_on_cancel(struct grpc_call *c, void (*cb)(void *data), void *data);

/* Send msg and status OK, then release the call. */
void grpc_call_reply(struct grpc_call *c, const ProtobufCMessage *msg);

/* Send an already packed message (len bytes of protobuf) and status OK, then release the call. */
void grpc_call_reply_packed(struct grpc_call *c, const uint8_t *data, size_t len);

/* Server streaming: send one message; the call stays open. */
void grpc_call_send(struct grpc_call *c, const ProtobufCMessage *msg);

/* End the call with status and message (may be NULL) in the trailers, then release it. */
void grpc_call_finish(struct grpc_call *c, enum grpc_status status, const char *message);

/* End the call with the status and text of e. */
void grpc_call_fail(struct grpc_call *c, const struct err *e);

#endif
