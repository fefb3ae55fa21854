/* Scope-bound cleanup attributes, after systemd's _cleanup_ idiom. */
#ifndef CRISP_UTIL_CLEANUP_H
#define CRISP_UTIL_CLEANUP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

/* Define NAME##p(type *p) that calls NAME(*p) when *p is set. */
#define DEFINE_CLEANUP_FUNC(type, func)                                                            \
    static inline void func##p(type *p)                                                            \
    {                                                                                              \
        if (*p)                                                                                    \
            func(*p);                                                                              \
    }

static inline void freep(void *p)
{
    free(*(void **)p);
}

static inline void closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}

static inline void fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

static inline void closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}

static inline void strv_free(char **v)
{
    if (!v)
        return;
    for (char **s = v; *s; s++)
        free(*s);
    free(v);
}
DEFINE_CLEANUP_FUNC(char **, strv_free)

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_closedir_ _cleanup_(closedirp)
#define _cleanup_strv_free_ _cleanup_(strv_freep)

/* Hand a pointer out of a cleanup scope: return its value and clear the variable. */
#define TAKE_PTR(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) _taken = (p);                                                                \
        (p) = NULL;                                                                                \
        _taken;                                                                                    \
    })

#define TAKE_FD(fd)                                                                                \
    ({                                                                                             \
        int _taken = (fd);                                                                         \
        (fd) = -EBADF;                                                                             \
        _taken;                                                                                    \
    })

/* Close fd if it is open and set it to -EBADF. */
static inline void close_and_reset(int *fd)
{
    closep(fd);
    *fd = -EBADF;
}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
