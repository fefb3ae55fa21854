/* CRI log records: the pure formatter, then the pump on real pipes and files. */
#include "config.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "platform/crilog.h"
#include "platform/platform.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"
#include "../tap.h"

#define TS "2026-12-04T22:10:00.123456789Z"

static struct cri_log_stream stream;

static char *feed(const char *name, const char *const *chunks, bool finish)
{
    struct strbuf out = STRBUF_INIT;

    cri_log_stream_init(&stream, name);
    for (; *chunks; chunks++)
        cri_log_feed(&stream, TS, *chunks, strlen(*chunks), &out);
    if (finish)
        cri_log_finish(&stream, TS, &out);
    return strbuf_take(&out);
}

static void test_short_line(void)
{
    const char *chunks[] = {"hello\n", NULL};
    char *out = feed("stdout", chunks, true);

    is_str(out, TS " stdout F hello\n", "short line is one F record");
    free(out);
}

static void test_two_lines_one_read(void)
{
    const char *chunks[] = {"one\ntwo\n", NULL};
    char *out = feed("stdout", chunks, true);

    is_str(out, TS " stdout F one\n" TS " stdout F two\n", "two lines in one read");
    free(out);
}

static void test_line_across_reads(void)
{
    const char *first[] = {"hel", NULL};
    const char *both[] = {"hel", "lo wor", "ld\nnext", NULL};
    char *out = feed("stdout", first, false);

    is_str(out, "", "unfinished line writes nothing yet");
    is_int(stream.len, 3, "unfinished line stays buffered");
    free(out);

    out = feed("stdout", both, false);
    is_str(out, TS " stdout F hello world\n", "line split across reads rejoins in one F record");
    is_int(stream.len, 4, "start of the next line stays buffered");
    free(out);
}

static void test_empty_line(void)
{
    const char *chunks[] = {"\n", NULL};
    char *out = feed("stdout", chunks, true);

    is_str(out, TS " stdout F \n", "empty line is an F record with empty content");
    free(out);
}

static void test_stderr_name(void)
{
    const char *chunks[] = {"oops\n", NULL};
    char *out = feed("stderr", chunks, true);

    is_str(out, TS " stderr F oops\n", "stderr records name their stream");
    free(out);
}

static void test_trailing_data_at_eof(void)
{
    const char *chunks[] = {"done\ntail", NULL};
    char *out = feed("stdout", chunks, true);

    is_str(out, TS " stdout F done\n" TS " stdout P tail\n", "data without newline at EOF is P");
    is_int(stream.len, 0, "finish empties the buffer");
    free(out);
}

/* Split out into records; check each header and return the tags and the rejoined content. */
static bool parse_records(const char *out, const char *name, struct strbuf *tags,
                          struct strbuf *content)
{
    size_t prefix = strlen(TS) + 1 + strlen(name) + 1;

    while (*out) {
        const char *nl;

        if (strncmp(out, TS " ", strlen(TS) + 1) != 0 ||
            strncmp(out + strlen(TS) + 1, name, strlen(name)) != 0)
            return false;
        out += prefix;
        if ((out[0] != 'F' && out[0] != 'P') || out[1] != ' ')
            return false;
        strbuf_add(tags, out, 1);
        out += 2;
        nl = strchr(out, '\n');
        if (!nl)
            return false;
        strbuf_add(content, out, (size_t)(nl - out));
        if (tags->buf[tags->len - 1] == 'F')
            strbuf_add(content, "\n", 1);
        out = nl + 1;
    }
    return true;
}

static void test_long_line(void)
{
    size_t n = 40 * 1024;
    char *line = xmalloc(n + 2);
    struct strbuf out = STRBUF_INIT, tags = STRBUF_INIT, content = STRBUF_INIT;

    for (size_t i = 0; i < n; i++)
        line[i] = (char)('a' + i % 26);
    line[n] = '\n';
    line[n + 1] = '\0';

    cri_log_stream_init(&stream, "stdout");
    /* Three reads of uneven size, as a pipe delivers them. */
    cri_log_feed(&stream, TS, line, 5000, &out);
    cri_log_feed(&stream, TS, line + 5000, 30000, &out);
    cri_log_feed(&stream, TS, line + 35000, n + 1 - 35000, &out);
    cri_log_finish(&stream, TS, &out);

    ok(parse_records(out.buf, "stdout", &tags, &content), "40 KiB line records are well formed");
    is_str(tags.buf, "PPF", "40 KiB line is P, P, F");
    is_int(strchr(out.buf, '\n') - out.buf, (long)(strlen(TS) + strlen(" stdout P ") + 16384),
           "first record carries 16 KiB");
    is_int(content.len, n + 1, "rejoined length equals the line");
    ok(memcmp(content.buf, line, n + 1) == 0, "40 KiB line rejoins byte for byte");

    strbuf_done(&out);
    strbuf_done(&tags);
    strbuf_done(&content);
    free(line);
}

static void test_exact_record_size(void)
{
    char *line = xmalloc(CRI_LOG_MAX_RECORD + 2);
    struct strbuf out = STRBUF_INIT, tags = STRBUF_INIT, content = STRBUF_INIT;

    memset(line, 'x', CRI_LOG_MAX_RECORD);
    line[CRI_LOG_MAX_RECORD] = '\n';

    cri_log_stream_init(&stream, "stdout");
    cri_log_feed(&stream, TS, line, CRI_LOG_MAX_RECORD, &out);
    is_int(out.len, 0, "full buffer waits for the next byte");
    cri_log_feed(&stream, TS, line + CRI_LOG_MAX_RECORD, 1, &out);
    ok(parse_records(out.buf, "stdout", &tags, &content), "16 KiB line record is well formed");
    is_str(tags.buf, "F", "line of exactly 16 KiB is one F record");
    is_int(content.len, CRI_LOG_MAX_RECORD + 1, "16 KiB line content is whole");

    strbuf_reset(&out);
    strbuf_reset(&tags);
    cri_log_feed(&stream, TS, line, CRI_LOG_MAX_RECORD, &out);
    cri_log_finish(&stream, TS, &out);
    ok(parse_records(out.buf, "stdout", &tags, &content), "16 KiB tail record is well formed");
    is_str(tags.buf, "P", "16 KiB without newline at EOF is one P record");

    strbuf_done(&out);
    strbuf_done(&tags);
    strbuf_done(&content);
    free(line);
}

static void test_format_time(void)
{
    struct timespec ts = {1796422200, 123456789};
    struct timespec epoch = {0, 5};
    char buf[CRI_LOG_TIME_SIZE];

    cri_log_format_time(&ts, buf);
    is_str(buf, "2026-12-04T22:10:00.123456789Z", "time is RFC 3339 UTC with nanoseconds");
    cri_log_format_time(&epoch, buf);
    is_str(buf, "1970-01-01T00:00:00.000000005Z", "nanoseconds keep their leading zeros");
}

/* ---- pump ---- */

static bool pump_done;

static void on_pump_done(void *data)
{
    (void)data;
    pump_done = true;
}

/* Strip each record's timestamp after checking its shape; return the rest. */
static char *strip_timestamps(const char *text)
{
    struct strbuf out = STRBUF_INIT;

    while (*text) {
        const char *nl = strchr(text, '\n');
        size_t len = nl ? (size_t)(nl - text) : strlen(text);
        bool shaped = len > 31 && text[4] == '-' && text[7] == '-' && text[10] == 'T' &&
                      text[13] == ':' && text[16] == ':' && text[19] == '.' && text[29] == 'Z' &&
                      text[30] == ' ';

        if (!shaped) {
            strbuf_append(&out, "BAD TIMESTAMP: ");
            strbuf_add(&out, text, len);
        } else {
            strbuf_add(&out, text + 31, len - 31);
        }
        strbuf_add(&out, "\n", 1);
        text += nl ? len + 1 : len;
    }
    return strbuf_take(&out);
}

static void test_pump(void)
{
    char dir[] = "/tmp/crilog-test.XXXXXX";
    struct event_base *base = event_base_new();
    struct err *e = NULL;
    struct log_pump *p;
    int out_pipe[2], err_pipe[2];
    char *path, *rotated, *text = NULL, *records;
    size_t len;

    ok(mkdtemp(dir) != NULL, "pump: make temp dir");
    path = xasprintf("%s/pods/ctr/0.log", dir);
    rotated = xasprintf("%s/pods/ctr/0.log.1", dir);
    ok(pipe2(out_pipe, O_CLOEXEC) == 0 && pipe2(err_pipe, O_CLOEXEC) == 0, "pump: make pipes");

    p = log_pump_new(base, path, out_pipe[0], err_pipe[0], on_pump_done, NULL, &e);
    ok(p != NULL, "pump: new creates the missing log directory");

    ok(write(out_pipe[1], "first\nhalf", 10) == 10, "pump: write stdout");
    event_base_loop(base, EVLOOP_NONBLOCK);
    ok(rename(path, rotated) == 0, "pump: rotate the log file");
    ok(log_pump_reopen(p, &e) == 0, "pump: reopen after rotation");
    ok(write(out_pipe[1], " line\n", 6) == 6, "pump: write rest of stdout line");
    ok(write(err_pipe[1], "bad\nend", 7) == 7, "pump: write stderr");
    close(out_pipe[1]);
    close(err_pipe[1]);
    for (int i = 0; i < 100 && !pump_done; i++)
        event_base_loop(base, EVLOOP_ONCE);
    ok(pump_done, "pump: done runs after both pipes end");

    read_file(rotated, 1 << 20, &text, &len, &e);
    records = strip_timestamps(text ? text : "");
    is_str(records, "stdout F first\n", "pump: records before rotation stay in the old file");
    free(text);
    free(records);
    text = NULL;

    read_file(path, 1 << 20, &text, &len, &e);
    records = strip_timestamps(text ? text : "");
    is_str(records, "stdout F half line\nstderr F bad\nstderr P end\n",
           "pump: records after rotation go to the new file");
    free(text);
    free(records);

    {
        struct stat st;

        ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640, "pump: log file mode is 0640");
    }

    log_pump_free(p);
    err_free(e);
    rm_rf(dir, NULL);
    free(path);
    free(rotated);
    event_base_free(base);
}

int main(void)
{
    test_short_line();
    test_two_lines_one_read();
    test_line_across_reads();
    test_empty_line();
    test_stderr_name();
    test_trailing_data_at_eof();
    test_long_line();
    test_exact_record_size();
    test_format_time();
    test_pump();
    return tap_done();
}
