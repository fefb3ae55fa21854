/*
 * libFuzzer target: the registry client's parsers of response headers, the
 * WWW-Authenticate challenge and the Content-Range value.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/internal.h"
#include "util/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *header = xstrndup((const char *)data, size);
    struct auth_challenge c = {0};
    struct err *e = NULL;

    if (auth_challenge_parse(header, &c, &e) == 0) {
        /* The scheme is a non-empty token, lowercased. */
        if (!c.scheme || !c.scheme[0])
            abort();
        for (const char *s = c.scheme; *s; s++) {
            if (*s >= 'A' && *s <= 'Z')
                abort();
        }
        auth_challenge_done(&c);
    } else if (!e || !e->msg) {
        abort();
    }
    err_free(e);
    {
        uint64_t first;

        /* Only a "bytes " range is accepted. */
        if (content_range_start(header, &first) == 0 && strncmp(header, "bytes ", 6) != 0)
            abort();
    }
    free(header);
    return 0;
}
