#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

static enum log_level max_level = LOG_LEVEL_INFO;
static enum log_format output_format = LOG_FORMAT_TEXT;

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};

void log_setup(enum log_level level, enum log_format format)
{
    max_level = level;
    output_format = format;
}

bool log_enabled(enum log_level level)
{
    return level <= max_level;
}

int log_level_parse(const char *name, enum log_level *ret_level)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *ret_level = (enum log_level)i;
            return 0;
        }
    }
    if (strcmp(name, "warning") == 0) {
        *ret_level = LOG_LEVEL_WARN;
        return 0;
    }
    return -1;
}

int log_format_parse(const char *name, enum log_format *ret_format)
{
    if (strcmp(name, "text") == 0)
        *ret_format = LOG_FORMAT_TEXT;
    else if (strcmp(name, "json") == 0)
        *ret_format = LOG_FORMAT_JSON;
    else
        return -1;
    return 0;
}

/* Append key=value; the value is quoted when it holds spaces, quotes or '='. */
static void append_field(struct strbuf *b, const char *key, const char *value, bool force_quote)
{
    bool quote = force_quote || value[0] == '\0' || strpbrk(value, " \"=\\\t\n") != NULL;

    if (output_format == LOG_FORMAT_JSON) {
        strbuf_printf(b, "%s\"%s\":", b->len > 1 ? "," : "", key);
        strbuf_append_json_string(b, value);
        return;
    }

    strbuf_printf(b, "%s%s=", b->len ? " " : "", key);
    if (quote)
        strbuf_append_quoted(b, value);
    else
        strbuf_append(b, value);
}

void log_emit(enum log_level level, const struct err *e, const struct log_ids *ids,
              const char *fmt, ...)
{
    struct strbuf b = STRBUF_INIT;
    char stamp[64], *msg;
    struct timespec now;
    struct tm tm;
    va_list ap;

    if (!log_enabled(level))
        return;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000);

    va_start(ap, fmt);
    msg = xvasprintf(fmt, ap);
    va_end(ap);

    if (output_format == LOG_FORMAT_JSON)
        strbuf_append(&b, "{");
    append_field(&b, "time", stamp, false);
    append_field(&b, "level", level_names[level], false);
    append_field(&b, "msg", msg, true);
    if (e) {
        append_field(&b, "err", e->msg, true);
        if (e->errnum) {
            char num[16];

            snprintf(num, sizeof(num), "%d", e->errnum);
            append_field(&b, "errno", num, false);
            append_field(&b, "error", strerror(e->errnum), true);
        }
    }
    if (ids) {
        if (ids->rpc)
            append_field(&b, "rpc", ids->rpc, false);
        if (ids->stream)
            append_field(&b, "stream", ids->stream, false);
        if (ids->pod_id)
            append_field(&b, "pod_id", ids->pod_id, false);
        if (ids->container_id)
            append_field(&b, "container_id", ids->container_id, false);
        if (ids->image)
            append_field(&b, "image", ids->image, false);
    }
    if (output_format == LOG_FORMAT_JSON)
        strbuf_append(&b, "}");
    strbuf_append(&b, "\n");

    fwrite(b.buf, 1, b.len, stderr);
    fflush(stderr);
    free(msg);
    strbuf_done(&b);
}
