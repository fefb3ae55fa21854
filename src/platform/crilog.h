/*
 * CRI container log format, as kubelet reads it (the CRI "Container Logs"
 * design): one record a line,
 *   <RFC 3339 UTC time with nanoseconds> <stdout|stderr> <F|P> <content>\n
 * F ends a line of the container's output; P is a part of a longer line
 * whose rest follows in later records.  Pure functions, used by the log
 * pump in crilog.c and by the unit test and fuzz target.
 */
#ifndef CRISP_PLATFORM_CRILOG_H
#define CRISP_PLATFORM_CRILOG_H

#include <stddef.h>
#include <time.h>

#include "util/strbuf.h"

/* Maximum content bytes of one record: longer lines are split into P records. */
#define CRI_LOG_MAX_RECORD 16384

/* Buffer size for cri_log_format_time(): "2026-12-04T22:10:00.123456789Z" and a NUL. */
#define CRI_LOG_TIME_SIZE 32

/* The unfinished line of one stream: at most CRI_LOG_MAX_RECORD bytes. */
struct cri_log_stream {
    const char *name; /* "stdout" or "stderr", not owned */
    size_t len;
    char buf[CRI_LOG_MAX_RECORD];
};

void cri_log_stream_init(struct cri_log_stream *s, const char *name);

/*
 * Append to out the records that data completes, each stamped with
 * timestamp; keep an unfinished line (up to CRI_LOG_MAX_RECORD bytes) in s.
 * A line of exactly CRI_LOG_MAX_RECORD bytes stays buffered until the next
 * byte shows whether it ends there (one F record) or goes on (P records).
 */
void cri_log_feed(struct cri_log_stream *s, const char *timestamp, const char *data, size_t len,
                  struct strbuf *out);

/* At end of stream: append the unfinished line, if any, as a P record without a newline of its own. */
void cri_log_finish(struct cri_log_stream *s, const char *timestamp, struct strbuf *out);

/* Format ts (CLOCK_REALTIME) as RFC 3339 UTC with nine fraction digits. */
void cri_log_format_time(const struct timespec *ts, char buf[CRI_LOG_TIME_SIZE]);

#endif
