/*
 * Minimal TAP producer for C unit tests: the plan is printed at the end by
 * tap_done(), so nobody maintains counts.  Header-only; include it once per
 * test program.
 */
#ifndef CRISP_T_TAP_H
#define CRISP_T_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_count;
static int tap_failed;

static inline int tap_ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline int tap_ok(int cond, const char *fmt, ...)
{
    va_list ap;

    tap_count++;
    printf("%sok %d - ", cond ? "" : "not ", tap_count);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond)
        tap_failed++;
    fflush(stdout);
    return cond;
}

#define ok(cond, ...) tap_ok(!!(cond), __VA_ARGS__)

#define is_int(got, expected, ...)                                                                 \
    do {                                                                                           \
        long long _g = (long long)(got), _e = (long long)(expected);                               \
        if (!tap_ok(_g == _e, __VA_ARGS__))                                                        \
            printf("#   got: %lld\n#   expected: %lld\n", _g, _e);                                 \
    } while (0)

#define is_str(got, expected, ...)                                                                 \
    do {                                                                                           \
        const char *_g = (got), *_e = (expected);                                                  \
        int _same = (_g == NULL && _e == NULL) || (_g && _e && strcmp(_g, _e) == 0);              \
        if (!tap_ok(_same, __VA_ARGS__))                                                           \
            printf("#   got: '%s'\n#   expected: '%s'\n", _g ? _g : "(null)",                     \
                   _e ? _e : "(null)");                                                            \
    } while (0)

#define diag(...)                                                                                  \
    do {                                                                                           \
        printf("# ");                                                                              \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
    } while (0)

static inline int tap_done(void)
{
    printf("1..%d\n", tap_count);
    return tap_failed ? 1 : 0;
}

#endif
