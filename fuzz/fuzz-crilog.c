/*
 * Feed arbitrary chunks to the CRI log formatter and check that the
 * records are well formed and rejoin to the input: F records with a
 * newline after their content, P records without.  The first byte of each
 * chunk sets the chunk's length, so the fuzzer explores read boundaries.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "platform/crilog.h"
#include "util/strbuf.h"

#define TS "2026-12-04T22:10:00.123456789Z"

static struct cri_log_stream stream;

/* Check each record of out and append its content to joined. */
static void rejoin(const struct strbuf *out, struct strbuf *joined)
{
    static const char prefix[] = TS " stdout ";
    const char *p = out->buf, *end = out->buf + out->len;

    while (p < end) {
        const char *nl;
        size_t content;
        char tag;

        if ((size_t)(end - p) < sizeof(prefix) + 1 || memcmp(p, prefix, sizeof(prefix) - 1) != 0)
            abort();
        p += sizeof(prefix) - 1;
        tag = p[0];
        if ((tag != 'F' && tag != 'P') || p[1] != ' ')
            abort();
        p += 2;
        /* Content may contain any byte but a newline, and ends at the record's newline. */
        nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            abort();
        content = (size_t)(nl - p);
        if (content > CRI_LOG_MAX_RECORD)
            abort();
        strbuf_add(joined, p, content);
        if (tag == 'F')
            strbuf_add(joined, "\n", 1);
        p = nl + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct strbuf out = STRBUF_INIT, joined = STRBUF_INIT, input = STRBUF_INIT;
    size_t i = 0;

    cri_log_stream_init(&stream, "stdout");
    while (i < size) {
        /* Chunk length: the byte times 97 spans short reads and reads past 16 KiB. */
        size_t len = (size_t)data[i++] * 97 + 1;

        if (len > size - i)
            len = size - i;
        cri_log_feed(&stream, TS, (const char *)data + i, len, &out);
        strbuf_add(&input, data + i, len);
        i += len;
    }
    cri_log_finish(&stream, TS, &out);

    rejoin(&out, &joined);
    if (joined.len != input.len || (input.len && memcmp(joined.buf, input.buf, input.len) != 0))
        abort();

    strbuf_done(&out);
    strbuf_done(&joined);
    strbuf_done(&input);
    return 0;
}
