#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "reactor/grpc-wire.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

void grpc_decoder_init(struct grpc_decoder *d, size_t max_len)
{
    memset(d, 0, sizeof(*d));
    d->max_len = max_len;
}

void grpc_decoder_done(struct grpc_decoder *d)
{
    free(d->msg);
    d->msg = NULL;
    d->msg_cap = 0;
}

static enum grpc_decode_event decoder_check_prefix(struct grpc_decoder *d)
{
    d->flags = d->prefix[0];
    d->msg_len = (uint32_t)d->prefix[1] << 24 | (uint32_t)d->prefix[2] << 16 |
                 (uint32_t)d->prefix[3] << 8 | (uint32_t)d->prefix[4];

    if (d->flags & ~GRPC_FLAG_COMPRESSED)
        return GRPC_DECODE_BAD_FLAGS;
    if (d->flags & GRPC_FLAG_COMPRESSED)
        return GRPC_DECODE_COMPRESSED;
    if (d->msg_len > d->max_len)
        return GRPC_DECODE_TOO_LARGE;

    d->msg_have = 0;
    return GRPC_DECODE_MORE;
}

/* Make room for n more payload bytes: double the buffer, but never past msg_len. */
static void decoder_reserve(struct grpc_decoder *d, size_t n)
{
    size_t need = d->msg_have + n, cap = d->msg_cap;

    if (need <= cap)
        return;
    cap = cap ? cap * 2 : 4096;
    if (cap < need)
        cap = need;
    if (cap > d->msg_len)
        cap = d->msg_len;
    d->msg = xrealloc(d->msg, cap);
    d->msg_cap = cap;
}

enum grpc_decode_event grpc_decoder_feed(struct grpc_decoder *d, const uint8_t *data, size_t len,
                                         size_t *ret_consumed)
{
    size_t used = 0;

    if (d->prefix_len < GRPC_PREFIX_SIZE) {
        size_t n = GRPC_PREFIX_SIZE - d->prefix_len;
        enum grpc_decode_event ev;

        if (n > len)
            n = len;
        memcpy(d->prefix + d->prefix_len, data, n);
        d->prefix_len += n;
        used = n;
        if (d->prefix_len < GRPC_PREFIX_SIZE) {
            *ret_consumed = used;
            return GRPC_DECODE_MORE;
        }

        ev = decoder_check_prefix(d);
        if (ev != GRPC_DECODE_MORE) {
            *ret_consumed = used;
            return ev;
        }
    }

    if (d->msg_have < d->msg_len && used < len) {
        size_t n = d->msg_len - d->msg_have;

        if (n > len - used)
            n = len - used;
        decoder_reserve(d, n);
        memcpy(d->msg + d->msg_have, data + used, n);
        d->msg_have += n;
        used += n;
    }

    *ret_consumed = used;
    return d->msg_have == d->msg_len ? GRPC_DECODE_MESSAGE : GRPC_DECODE_MORE;
}

uint8_t *grpc_decoder_take(struct grpc_decoder *d, size_t *ret_len)
{
    uint8_t *msg = d->msg;

    *ret_len = d->msg_len;
    d->msg = NULL;
    d->msg_have = 0;
    d->msg_len = 0;
    d->msg_cap = 0;
    d->prefix_len = 0;
    d->flags = 0;
    return msg;
}

bool grpc_decoder_in_message(const struct grpc_decoder *d)
{
    return d->prefix_len > 0;
}

void grpc_prefix_write(uint8_t out[GRPC_PREFIX_SIZE], uint32_t len)
{
    out[0] = 0;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

int grpc_timeout_parse(const char *value, size_t len, uint64_t *ret_usec)
{
    /* TimeoutValue is at most 8 digits (PROTOCOL-HTTP2.md), so no unit overflows 64 bits. */
    uint64_t n = 0;
    size_t digits = len - 1;

    if (len < 2 || digits > 8)
        return -1;
    for (size_t i = 0; i < digits; i++) {
        if (value[i] < '0' || value[i] > '9')
            return -1;
        n = n * 10 + (uint64_t)(value[i] - '0');
    }

    switch (value[digits]) {
    case 'H':
        n *= 3600ULL * 1000000;
        break;
    case 'M':
        n *= 60ULL * 1000000;
        break;
    case 'S':
        n *= 1000000;
        break;
    case 'm':
        n *= 1000;
        break;
    case 'u':
        break;
    case 'n':
        n = (n + 999) / 1000;
        break;
    default:
        return -1;
    }

    *ret_usec = n;
    return 0;
}

char *grpc_message_encode(const char *message)
{
    static const char hex[] = "0123456789ABCDEF";
    struct strbuf b = STRBUF_INIT;

    for (const unsigned char *p = (const unsigned char *)message; *p; p++) {
        if (*p >= 0x20 && *p <= 0x7e && *p != '%') {
            strbuf_add(&b, p, 1);
        } else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 0x0f]};

            strbuf_add(&b, esc, sizeof(esc));
        }
    }
    return strbuf_take(&b);
}
