#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"
#include "util/xalloc.h"

void strbuf_grow(struct strbuf *b, size_t extra)
{
    size_t need = b->len + extra + 1;

    if (need <= b->cap)
        return;
    if (b->cap * 2 > need)
        need = b->cap * 2;
    if (need < 64)
        need = 64;
    b->buf = xrealloc(b->buf, need);
    b->cap = need;
}

void strbuf_add(struct strbuf *b, const void *data, size_t len)
{
    strbuf_grow(b, len);
    if (len)
        memcpy(b->buf + b->len, data, len);
    b->len += len;
    b->buf[b->len] = '\0';
}

void strbuf_append(struct strbuf *b, const char *s)
{
    strbuf_add(b, s, strlen(s));
}

void strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;

    strbuf_grow(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void append_escaped(struct strbuf *b, const char *s, int json)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            strbuf_append(b, "\\\"");
            break;
        case '\\':
            strbuf_append(b, "\\\\");
            break;
        case '\n':
            strbuf_append(b, "\\n");
            break;
        case '\t':
            strbuf_append(b, "\\t");
            break;
        case '\r':
            strbuf_append(b, "\\r");
            break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                if (json)
                    strbuf_printf(b, "\\u%04x", *p);
                else
                    strbuf_printf(b, "\\x%02x", *p);
            } else {
                strbuf_add(b, p, 1);
            }
        }
    }
}

void strbuf_append_quoted(struct strbuf *b, const char *s)
{
    strbuf_append(b, "\"");
    append_escaped(b, s, 0);
    strbuf_append(b, "\"");
}

void strbuf_append_json_string(struct strbuf *b, const char *s)
{
    strbuf_append(b, "\"");
    append_escaped(b, s, 1);
    strbuf_append(b, "\"");
}

void strbuf_reset(struct strbuf *b)
{
    b->len = 0;
    if (b->buf)
        b->buf[0] = '\0';
}

void strbuf_done(struct strbuf *b)
{
    free(b->buf);
    b->buf = NULL;
    b->len = b->cap = 0;
}

char *strbuf_take(struct strbuf *b)
{
    char *s = b->buf ? b->buf : xstrdup("");

    b->buf = NULL;
    b->len = b->cap = 0;
    return s;
}
