#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "platform/crilog.h"
#include "platform/platform.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

/* ---- pure formatting ---- */

void cri_log_stream_init(struct cri_log_stream *s, const char *name)
{
    s->name = name;
    s->len = 0;
}

static void append_record(struct strbuf *out, const char *timestamp, const char *stream, char tag,
                          const char *content, size_t len)
{
    strbuf_append(out, timestamp);
    strbuf_add(out, " ", 1);
    strbuf_append(out, stream);
    strbuf_printf(out, " %c ", tag);
    strbuf_add(out, content, len);
    strbuf_add(out, "\n", 1);
}

void cri_log_feed(struct cri_log_stream *s, const char *timestamp, const char *data, size_t len,
                  struct strbuf *out)
{
    while (len > 0) {
        const char *nl;
        size_t seg, take;

        if (s->len == CRI_LOG_MAX_RECORD) {
            /* The buffered part fills a record: a newline next ends the line there. */
            if (data[0] == '\n') {
                append_record(out, timestamp, s->name, 'F', s->buf, s->len);
                data++;
                len--;
            } else {
                append_record(out, timestamp, s->name, 'P', s->buf, s->len);
            }
            s->len = 0;
            continue;
        }

        nl = memchr(data, '\n', len);
        seg = nl ? (size_t)(nl - data) : len;
        if (nl && seg <= CRI_LOG_MAX_RECORD - s->len) {
            if (s->len == 0) {
                append_record(out, timestamp, s->name, 'F', data, seg);
            } else {
                memcpy(s->buf + s->len, data, seg);
                append_record(out, timestamp, s->name, 'F', s->buf, s->len + seg);
                s->len = 0;
            }
            data += seg + 1;
            len -= seg + 1;
            continue;
        }

        take = CRI_LOG_MAX_RECORD - s->len;
        if (take > seg)
            take = seg;
        memcpy(s->buf + s->len, data, take);
        s->len += take;
        data += take;
        len -= take;
    }
}

void cri_log_finish(struct cri_log_stream *s, const char *timestamp, struct strbuf *out)
{
    if (s->len == 0)
        return;
    append_record(out, timestamp, s->name, 'P', s->buf, s->len);
    s->len = 0;
}

void cri_log_format_time(const struct timespec *ts, char buf[CRI_LOG_TIME_SIZE])
{
    struct tm tm;
    size_t n;

    gmtime_r(&ts->tv_sec, &tm);
    n = strftime(buf, CRI_LOG_TIME_SIZE, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, CRI_LOG_TIME_SIZE - n, ".%09ldZ", ts->tv_nsec);
}

/* ---- the pump ---- */

/* Bytes read per wake-up and stream, fed to the formatter in slices of FEED_SLICE. */
#define READ_CHUNK 32768
#define FEED_SLICE 1024

struct log_source {
    struct log_pump *pump;
    struct event *ev;
    int fd;
    bool eof;
    bool peek;              /* a pipe: read by peeking, edge-triggered */
    struct cri_log_stream stream;
};

struct log_pump {
    char *path;
    int log_fd;
    int inotify_fd;        /* watches the open log file for a rename or removal */
    int watch;             /* the inotify watch descriptor of the open file, or -1 */
    struct event *inotify_ev;
    struct log_source out;
    struct log_source err;
    struct strbuf records;
    void (*done)(void *data);
    void *data;
    bool done_called;
};

static void now_timestamp(char buf[CRI_LOG_TIME_SIZE])
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    cri_log_format_time(&ts, buf);
}

/*
 * Append the pending records to the log file.  A failed write drops them:
 * the pipes must keep draining or the container blocks on a full pipe.
 */
static void write_records(struct log_pump *p)
{
    const char *buf = p->records.buf;
    size_t len = p->records.len;

    while (len > 0 && p->log_fd >= 0) {
        ssize_t n = write(p->log_fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        buf += n;
        len -= (size_t)n;
    }
    strbuf_reset(&p->records);
}

static void feed_chunk(struct log_source *src, const char *data, size_t len)
{
    char timestamp[CRI_LOG_TIME_SIZE];

    now_timestamp(timestamp);
    while (len > 0) {
        size_t slice = len < FEED_SLICE ? len : FEED_SLICE;

        cri_log_feed(&src->stream, timestamp, data, slice, &src->pump->records);
        write_records(src->pump);
        data += slice;
        len -= slice;
    }
}

static void finish_source(struct log_source *src)
{
    char timestamp[CRI_LOG_TIME_SIZE];

    if (src->ev)
        event_del(src->ev);
    if (src->fd >= 0)
        close_and_reset(&src->fd);
    src->eof = true;
    now_timestamp(timestamp);
    cri_log_finish(&src->stream, timestamp, &src->pump->records);
    write_records(src->pump);
}

static void end_of_stream(struct log_source *src)
{
    struct log_pump *p = src->pump;

    finish_source(src);
    if (p->out.eof && p->err.eof && !p->done_called) {
        p->done_called = true;
        /* done may free p: touch nothing after it. */
        if (p->done)
            p->done(p->data);
    }
}

/*
 * The scratch pipe tee() copies waiting output into, so that the pump can
 * look at it before it consumes it.  One serves every pump: it is emptied
 * right after each tee().
 */
static int scratch[2] = {-1, -1};

/* Copy up to cap bytes waiting in fd into buf without consuming them; -1 with errno as tee(). */
static ssize_t peek_pipe(int fd, char *buf, size_t cap)
{
    ssize_t n, got = 0;

    if (scratch[0] < 0 && pipe2(scratch, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    n = tee(fd, scratch[1], cap, SPLICE_F_NONBLOCK);
    if (n <= 0)
        return n;
    while (got < n) {
        ssize_t r = read(scratch[0], buf + got, (size_t)(n - got));

        if (r <= 0)
            abort(); /* tee() just put n bytes there */
        got += r;
    }
    return n;
}

static bool writers_gone(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP);
}

/* Consume len bytes that peek_pipe() showed, and log them. */
static void consume(struct log_source *src, const char *data, size_t len)
{
    char sink[READ_CHUNK];
    size_t left = len;

    while (left > 0) {
        ssize_t n = read(src->fd, sink, left < sizeof(sink) ? left : sizeof(sink));

        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            break;
        }
        left -= (size_t)n;
    }
    feed_chunk(src, data, len - left);
}

enum pump_step {
    STEP_MORE,     /* consumed something; more may wait */
    STEP_WAIT,     /* nothing to do until the next write */
    STEP_DONE,     /* the stream ended */
    STEP_NOT_PIPE, /* tee() does not work on this fd */
};

/*
 * One step of logging what waits in the pipe, leaving an unfinished line in
 * the pipe rather than in crispd's memory: if crispd dies, the next one
 * reads it again, so no output is lost.
 */
static enum pump_step peek_step(struct log_source *src)
{
    char chunk[READ_CHUNK];
    ssize_t n = peek_pipe(src->fd, chunk, sizeof(chunk));
    const char *nl;

    if (n < 0 && errno == EINVAL)
        return STEP_NOT_PIPE;
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (!writers_gone(src->fd))
            return STEP_WAIT;
        end_of_stream(src);
        return STEP_DONE;
    }
    if (n <= 0) {
        end_of_stream(src);
        return STEP_DONE;
    }

    nl = memrchr(chunk, '\n', (size_t)n);
    if (nl)
        consume(src, chunk, (size_t)(nl - chunk) + 1);
    else if ((size_t)n > CRI_LOG_MAX_RECORD)
        /* No newline in the next record's worth and a byte more: a P record for sure. */
        consume(src, chunk, CRI_LOG_MAX_RECORD);
    else if (writers_gone(src->fd))
        /* The last output of the stream, without a newline. */
        consume(src, chunk, (size_t)n);
    else
        return STEP_WAIT; /* the rest of the line is still to come */
    return STEP_MORE;
}

/* Returns false to fall back to plain reads (fd is no pipe), true when done for this wake-up. */
static bool pump_by_peeking(struct log_source *src)
{
    for (int round = 0; round < 8; round++) {
        switch (peek_step(src)) {
        case STEP_MORE:
            continue;
        case STEP_NOT_PIPE:
            return false;
        default:
            return true;
        }
    }
    /* More may wait: edge-triggered, so come back on the next loop iteration. */
    event_active(src->ev, EV_READ, 0);
    return true;
}

void log_pump_flush(struct log_pump *p)
{
    struct log_source *sources[] = {&p->out, &p->err};

    for (size_t i = 0; i < 2; i++) {
        struct log_source *src = sources[i];

        /* Bounded: a pipe holds at most 1 MiB, which 64 steps cover many times over. */
        for (int step = 0; step < 64 && src->peek && !src->eof; step++) {
            if (p->done_called || peek_step(src) != STEP_MORE)
                break;
        }
    }
}

static void on_pipe_readable(evutil_socket_t fd, short what, void *arg)
{
    struct log_source *src = arg;
    char chunk[READ_CHUNK];
    ssize_t n;

    (void)what;
    if (src->peek && pump_by_peeking(src))
        return;
    src->peek = false;

    n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0) {
        feed_chunk(src, chunk, (size_t)n);
        /* Edge-triggered: read on until EAGAIN, one chunk per loop iteration. */
        event_active(src->ev, EV_READ, 0);
        return;
    }

    /* End of file, or a read error that ends the stream all the same. */
    end_of_stream(src);
}

static int open_log(const char *path, struct err **err)
{
    _cleanup_free_ char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    struct stat st;
    int fd;

    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir_p(dir, 0755, err) < 0)
            return -1;
    }
    /* O_NONBLOCK: a FIFO at the path must fail (ENXIO) instead of blocking the reactor. */
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0640);
    if (fd < 0 && errno == ENXIO)
        return err_errno(err, EINVAL, "log file '%s' is not a regular file", path);
    if (fd < 0)
        return err_sys(err, "open log file '%s'", path);
    if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode))) {
        close(fd);
        return err_errno(err, EINVAL, "log file '%s' is not a regular file", path);
    }
    /* O_NONBLOCK changes nothing for a regular file: clear it so the flags read plain. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

/* Watch the file now open at p->path, so a rename or removal behind crisp's back reopens it. */
static void watch_log(struct log_pump *p)
{
    if (p->inotify_fd < 0)
        return;
    /* The old file's watch goes first; after a removal the kernel has dropped it already. */
    if (p->watch >= 0)
        inotify_rm_watch(p->inotify_fd, p->watch);
    /* A failed watch only loses the automatic reopen. */
    p->watch = inotify_add_watch(p->inotify_fd, p->path, IN_MOVE_SELF | IN_DELETE_SELF | IN_ATTRIB);
}

static void on_log_moved(evutil_socket_t fd, short what, void *arg)
{
    struct log_pump *p = arg;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool reopen = false;
    struct stat st;
    ssize_t n;

    (void)what;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (char *at = buf; at < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)at;

            if (ev->wd == p->watch && (ev->mask & (IN_MOVE_SELF | IN_DELETE_SELF)))
                reopen = true;
            /* An unlink shows as IN_ATTRIB (link count) while the file is still open. */
            if (ev->wd == p->watch && (ev->mask & IN_ATTRIB) && p->log_fd >= 0 &&
                fstat(p->log_fd, &st) == 0 && st.st_nlink == 0)
                reopen = true;
            at += sizeof(*ev) + ev->len;
        }
    }
    if (reopen)
        log_pump_reopen(p, NULL);
}

static int source_init(struct log_pump *p, struct log_source *src, struct event_base *base,
                       int fd, const char *name, struct err **err)
{
    src->pump = p;
    src->fd = fd;
    cri_log_stream_init(&src->stream, name);
    if (fd < 0) {
        src->eof = true;
        return 0;
    }
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
        return err_sys(err, "set %s pipe non-blocking", name);
    /*
     * Peeking leaves an unfinished line in the pipe, which would keep a
     * level-triggered event firing: wait for the next write instead.
     * Linux wakes edge-triggered pipe readers on every write.
     */
    src->peek = true;
    src->ev = event_new(base, fd, EV_READ | EV_PERSIST | EV_ET, on_pipe_readable, src);
    if (!src->ev)
        abort();
    event_add(src->ev, NULL);
    return 0;
}

struct log_pump *log_pump_new(struct event_base *base, const char *path, int stdout_fd,
                              int stderr_fd, void (*done)(void *data), void *data,
                              struct err **err)
{
    struct log_pump *p = xzalloc(sizeof(*p));

    p->watch = -1;
    p->path = xstrdup(path);
    p->done = done;
    p->data = data;
    p->out.pump = p->err.pump = p;
    p->out.fd = p->err.fd = -EBADF;
    p->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (p->inotify_fd >= 0) {
        p->inotify_ev = event_new(base, p->inotify_fd, EV_READ | EV_PERSIST, on_log_moved, p);
        if (!p->inotify_ev)
            abort();
        event_add(p->inotify_ev, NULL);
    }
    p->log_fd = open_log(path, err);
    if (p->log_fd >= 0)
        watch_log(p);
    if (p->log_fd < 0 || source_init(p, &p->out, base, stdout_fd, "stdout", err) < 0 ||
        source_init(p, &p->err, base, stderr_fd, "stderr", err) < 0) {
        /* The pipes are taken over even on failure. */
        if (p->out.fd < 0 && stdout_fd >= 0)
            close(stdout_fd);
        if (p->err.fd < 0 && stderr_fd >= 0)
            close(stderr_fd);
        log_pump_free(p);
        return NULL;
    }
    return p;
}

int log_pump_reopen(struct log_pump *p, struct err **err)
{
    int fd = open_log(p->path, err);

    if (fd < 0)
        return -1;
    if (p->log_fd >= 0)
        close(p->log_fd);
    p->log_fd = fd;
    watch_log(p);
    return 0;
}

static void source_done(struct log_source *src)
{
    if (!src->eof && src->pump->log_fd >= 0 && src->fd >= 0) {
        char timestamp[CRI_LOG_TIME_SIZE];

        now_timestamp(timestamp);
        cri_log_finish(&src->stream, timestamp, &src->pump->records);
        write_records(src->pump);
    }
    if (src->ev)
        event_free(src->ev);
    if (src->fd >= 0)
        close(src->fd);
}

void log_pump_free(struct log_pump *p)
{
    if (!p)
        return;
    source_done(&p->out);
    source_done(&p->err);
    if (p->log_fd >= 0)
        close(p->log_fd);
    if (p->inotify_ev)
        event_free(p->inotify_ev);
    if (p->inotify_fd >= 0)
        close(p->inotify_fd);
    strbuf_done(&p->records);
    free(p->path);
    free(p);
}
