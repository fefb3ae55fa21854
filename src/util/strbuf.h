/* A growable byte buffer, always NUL-terminated. */
#ifndef CRISP_UTIL_STRBUF_H
#define CRISP_UTIL_STRBUF_H

#include <stddef.h>

struct strbuf {
    char *buf;
    size_t len;
    size_t cap;
};

#define STRBUF_INIT {NULL, 0, 0}

void strbuf_grow(struct strbuf *b, size_t extra);
void strbuf_add(struct strbuf *b, const void *data, size_t len);
void strbuf_append(struct strbuf *b, const char *s);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s inside double quotes with '"', '\\' and control characters escaped. */
void strbuf_append_quoted(struct strbuf *b, const char *s);
/* Append s as a JSON string literal. */
void strbuf_append_json_string(struct strbuf *b, const char *s);
/* Empty the buffer but keep its memory. */
void strbuf_reset(struct strbuf *b);
/* Free the memory. */
void strbuf_done(struct strbuf *b);
/* Hand the string to the caller (never NULL) and empty the buffer. */
char *strbuf_take(struct strbuf *b);

#endif
