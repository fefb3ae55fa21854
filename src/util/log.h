/*
 * Logging: one logfmt (or JSON) line per event on stderr:
 *   time=<UTC RFC 3339, microseconds> level=<level> msg="..." [err="..." errno=N]
 *   [rpc=.. stream=.. pod_id=.. container_id=.. image=..]
 * Modules below reactor/ and handlers/ log at debug level only.
 */
#ifndef CRISP_UTIL_LOG_H
#define CRISP_UTIL_LOG_H

#include <stdbool.h>

#include "util/err.h"

enum log_level {
    LOG_LEVEL_ERROR,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_TRACE,
};

enum log_format {
    LOG_FORMAT_TEXT,
    LOG_FORMAT_JSON,
};

/* Object identifiers attached to a log line; any member may be NULL. */
struct log_ids {
    const char *rpc;
    const char *stream;
    const char *pod_id;
    const char *container_id;
    const char *image;
};

void log_setup(enum log_level level, enum log_format format);
bool log_enabled(enum log_level level);

/* Parse "error", "warn", "info", "debug" or "trace"; return -1 for anything else. */
int log_level_parse(const char *name, enum log_level *ret_level);
int log_format_parse(const char *name, enum log_format *ret_format);

void log_emit(enum log_level level, const struct err *e, const struct log_ids *ids,
              const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_error(...) log_emit(LOG_LEVEL_ERROR, NULL, NULL, __VA_ARGS__)
#define log_warn(...) log_emit(LOG_LEVEL_WARN, NULL, NULL, __VA_ARGS__)
#define log_info(...) log_emit(LOG_LEVEL_INFO, NULL, NULL, __VA_ARGS__)
#define log_debug(...) log_emit(LOG_LEVEL_DEBUG, NULL, NULL, __VA_ARGS__)

#define log_error_err(e, ...) log_emit(LOG_LEVEL_ERROR, (e), NULL, __VA_ARGS__)
#define log_warn_err(e, ...) log_emit(LOG_LEVEL_WARN, (e), NULL, __VA_ARGS__)
#define log_debug_err(e, ...) log_emit(LOG_LEVEL_DEBUG, (e), NULL, __VA_ARGS__)

#ifdef DEBUGBUILD
#define trace(...) log_emit(LOG_LEVEL_TRACE, NULL, NULL, __VA_ARGS__)
#else
#define trace(...)                                                                                 \
    do {                                                                                           \
    } while (0)
#endif

#endif
