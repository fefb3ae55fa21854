/*
 * Error objects.  A function that can fail for more than one reason takes
 * `struct err **err` last, returns a negative value (or NULL) on failure and
 * fills *err; on success it leaves *err untouched.  The message names the
 * operation and the object; the errno text is appended only when printed.
 */
#ifndef CRISP_UTIL_ERR_H
#define CRISP_UTIL_ERR_H

/* gRPC status codes (grpc/doc/statuscodes.md). */
enum grpc_status {
    GRPC_STATUS_OK = 0,
    GRPC_STATUS_CANCELLED = 1,
    GRPC_STATUS_UNKNOWN = 2,
    GRPC_STATUS_INVALID_ARGUMENT = 3,
    GRPC_STATUS_DEADLINE_EXCEEDED = 4,
    GRPC_STATUS_NOT_FOUND = 5,
    GRPC_STATUS_ALREADY_EXISTS = 6,
    GRPC_STATUS_PERMISSION_DENIED = 7,
    GRPC_STATUS_RESOURCE_EXHAUSTED = 8,
    GRPC_STATUS_FAILED_PRECONDITION = 9,
    GRPC_STATUS_ABORTED = 10,
    GRPC_STATUS_OUT_OF_RANGE = 11,
    GRPC_STATUS_UNIMPLEMENTED = 12,
    GRPC_STATUS_INTERNAL = 13,
    GRPC_STATUS_UNAVAILABLE = 14,
    GRPC_STATUS_DATA_LOSS = 15,
    GRPC_STATUS_UNAUTHENTICATED = 16,
};

struct err {
    int errnum; /* errno of the failing system call, 0 when there is none */
    int status; /* gRPC status to report, 0 to derive it from errnum */
    char *msg;
};

/* Fill *err with the current errno and a formatted message; return -1. */
int err_sys(struct err **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Fill *err with an explicit errno value (for calls that return -errno). */
int err_errno(struct err **err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fill *err with a gRPC status and a message (no errno); return -1. */
int err_status(struct err **err, enum grpc_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the message in *err with context ("context: message"); return -1. */
int err_wrap(struct err **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Move *src into *dst (freeing any error already in *dst); return -1. */
int err_move(struct err **dst, struct err **src);

void err_free(struct err *e);
static inline void err_freep(struct err **e)
{
    if (*e)
        err_free(*e);
}
#define _cleanup_err_ __attribute__((cleanup(err_freep)))

/* The full text: message, then ": strerror(errnum)" when errnum is set.  Caller frees. */
char *err_text(const struct err *e);

/* The gRPC status that reports e: its explicit status, else one mapped from errnum. */
enum grpc_status err_grpc_status(const struct err *e);

/* Map an errno value to a gRPC status; unmapped values give INTERNAL. */
enum grpc_status grpc_status_from_errno(int errnum);

/* The canonical upper-case name of a gRPC status, "UNKNOWN" for unknown values. */
const char *grpc_status_name(int status);

#endif
