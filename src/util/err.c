#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/xalloc.h"

static int err_vset(struct err **err, int errnum, int status, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static int err_vset(struct err **err, int errnum, int status, const char *fmt, va_list ap)
{
    struct err *e;

    if (!err)
        return -1;
    if (*err)
        err_free(*err);

    e = xzalloc(sizeof(*e));
    e->errnum = errnum;
    e->status = status;
    e->msg = xvasprintf(fmt, ap);
    *err = e;
    return -1;
}

int err_sys(struct err **err, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    err_vset(err, saved, 0, fmt, ap);
    va_end(ap);
    errno = saved;
    return -1;
}

int err_errno(struct err **err, int errnum, const char *fmt, ...)
{
    va_list ap;

    if (errnum < 0)
        errnum = -errnum;
    va_start(ap, fmt);
    err_vset(err, errnum, 0, fmt, ap);
    va_end(ap);
    return -1;
}

int err_status(struct err **err, enum grpc_status status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    err_vset(err, 0, status, fmt, ap);
    va_end(ap);
    return -1;
}

int err_wrap(struct err **err, const char *fmt, ...)
{
    char *prefix, *msg;
    va_list ap;

    if (!err || !*err)
        return -1;

    va_start(ap, fmt);
    prefix = xvasprintf(fmt, ap);
    va_end(ap);

    msg = xasprintf("%s: %s", prefix, (*err)->msg);
    free(prefix);
    free((*err)->msg);
    (*err)->msg = msg;
    return -1;
}

int err_move(struct err **dst, struct err **src)
{
    if (!dst) {
        err_free(*src);
        *src = NULL;
        return -1;
    }
    if (*dst)
        err_free(*dst);
    *dst = *src;
    *src = NULL;
    return -1;
}

void err_free(struct err *e)
{
    if (!e)
        return;
    free(e->msg);
    free(e);
}

char *err_text(const struct err *e)
{
    if (!e)
        return xstrdup("unknown error");
    if (e->errnum)
        return xasprintf("%s: %s", e->msg, strerror(e->errnum));
    return xstrdup(e->msg);
}

enum grpc_status grpc_status_from_errno(int errnum)
{
    switch (errnum) {
    case 0:
        return GRPC_STATUS_OK;
    case ENOENT:
    case ESRCH:
        return GRPC_STATUS_NOT_FOUND;
    case EEXIST:
        return GRPC_STATUS_ALREADY_EXISTS;
    case EINVAL:
    case ENAMETOOLONG:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case EOPNOTSUPP:
    case ENOSYS:
        return GRPC_STATUS_UNIMPLEMENTED;
    case EPERM:
    case EACCES:
        return GRPC_STATUS_PERMISSION_DENIED;
    case ETIMEDOUT:
        return GRPC_STATUS_DEADLINE_EXCEEDED;
    case ECANCELED:
        return GRPC_STATUS_CANCELLED;
    case EBUSY:
        return GRPC_STATUS_FAILED_PRECONDITION;
    case ENOSPC:
    case EMSGSIZE:
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case ECONNREFUSED:
    case ECONNRESET:
    case EHOSTUNREACH:
    case ENETUNREACH:
        return GRPC_STATUS_UNAVAILABLE;
    default:
        return GRPC_STATUS_INTERNAL;
    }
}

enum grpc_status err_grpc_status(const struct err *e)
{
    if (!e)
        return GRPC_STATUS_UNKNOWN;
    if (e->status)
        return e->status;
    if (e->errnum)
        return grpc_status_from_errno(e->errnum);
    return GRPC_STATUS_INTERNAL;
}

const char *grpc_status_name(int status)
{
    static const char *const names[] = {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    };

    if (status < 0 || (size_t)status >= sizeof(names) / sizeof(names[0]))
        return "UNKNOWN";
    return names[status];
}
