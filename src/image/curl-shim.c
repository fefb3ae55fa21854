#include "config.h"

#include <dlfcn.h>
#include <stdarg.h>

#include <curl/curl.h>

#include "image/curl-shim.h"

/* Functions without variable arguments: X(return type, name, parameters, arguments). */
#define CURL_FUNCTIONS(X)                                                                          \
    X(CURL *, curl_easy_init, (void), ())                                                         \
    X(const char *, curl_easy_strerror, (CURLcode code), (code))                                  \
    X(char *, curl_easy_escape, (CURL * curl, const char *string, int length),                    \
      (curl, string, length))                                                                      \
    X(CURLM *, curl_multi_init, (void), ())                                                       \
    X(CURLMcode, curl_multi_cleanup, (CURLM * multi), (multi))                                    \
    X(CURLMcode, curl_multi_add_handle, (CURLM * multi, CURL * curl), (multi, curl))              \
    X(CURLMcode, curl_multi_remove_handle, (CURLM * multi, CURL * curl), (multi, curl))           \
    X(CURLMcode, curl_multi_assign, (CURLM * multi, curl_socket_t fd, void *data),                \
      (multi, fd, data))                                                                           \
    X(CURLMsg *, curl_multi_info_read, (CURLM * multi, int *msgs_in_queue),                       \
      (multi, msgs_in_queue))                                                                      \
    X(CURLMcode, curl_multi_socket_action,                                                         \
      (CURLM * multi, curl_socket_t fd, int ev_bitmask, int *running_handles),                     \
      (multi, fd, ev_bitmask, running_handles))                                                    \
    X(struct curl_slist *, curl_slist_append, (struct curl_slist * list, const char *string),     \
      (list, string))

/* Functions returning void, or with variable arguments: resolved here, defined below. */
#define CURL_OTHER_FUNCTIONS(Y)                                                                    \
    Y(void, curl_easy_cleanup, (CURL * curl))                                                     \
    Y(void, curl_free, (void *p))                                                                 \
    Y(void, curl_slist_free_all, (struct curl_slist * list))                                      \
    Y(CURLcode, curl_easy_setopt, (CURL * curl, CURLoption option, ...))                          \
    Y(CURLcode, curl_easy_getinfo, (CURL * curl, CURLINFO info, ...))                             \
    Y(CURLMcode, curl_multi_setopt, (CURLM * multi, CURLMoption option, ...))

#define DECLARE_POINTER(ret, name, params, args) ret(*name) params;
#define DECLARE_OTHER_POINTER(ret, name, params) ret(*name) params;

static struct {
    void *handle;
    CURL_FUNCTIONS(DECLARE_POINTER)
    CURL_OTHER_FUNCTIONS(DECLARE_OTHER_POINTER)
} lib;

int curl_shim_load(struct err **err)
{
    void *handle;

    if (lib.handle)
        return 0;
    handle = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!handle)
        return err_status(err, GRPC_STATUS_FAILED_PRECONDITION, "load libcurl: %s", dlerror());

#define RESOLVE(name)                                                                              \
    do {                                                                                           \
        *(void **)&lib.name = dlsym(handle, #name);                                                \
        if (!lib.name) {                                                                           \
            dlclose(handle);                                                                       \
            return err_status(err, GRPC_STATUS_FAILED_PRECONDITION,                                \
                              "load libcurl: '%s' has no function %s", CURL_SONAME, #name);        \
        }                                                                                          \
    } while (0);
#define RESOLVE_FUNCTION(ret, name, params, args) RESOLVE(name)
#define RESOLVE_OTHER_FUNCTION(ret, name, params) RESOLVE(name)
    CURL_FUNCTIONS(RESOLVE_FUNCTION)
    CURL_OTHER_FUNCTIONS(RESOLVE_OTHER_FUNCTION)

    lib.handle = handle;
    return 0;
}

/*
 * The forwarding definitions, with the prototypes of curl/curl.h.  The
 * names are in parentheses because curl.h defines curl_easy_setopt and
 * others as type-checking macros under GCC.
 */
#define DEFINE_FORWARD(ret, name, params, args)                                                    \
    ret(name) params                                                                               \
    {                                                                                              \
        return lib.name args;                                                                      \
    }
CURL_FUNCTIONS(DEFINE_FORWARD)

void(curl_easy_cleanup)(CURL *curl)
{
    lib.curl_easy_cleanup(curl);
}

void(curl_free)(void *p)
{
    lib.curl_free(p);
}

void(curl_slist_free_all)(struct curl_slist *list)
{
    lib.curl_slist_free_all(list);
}

/*
 * An option's number determines the type of its one argument (CURLOPTTYPE_* in
 * curl.h); libcurl reads it the same way.  Object and function pointers
 * are passed on as void *, which has their size and calling convention on
 * every ABI crisp builds for.
 */
CURLcode(curl_easy_setopt)(CURL *curl, CURLoption option, ...)
{
    CURLcode r;
    va_list ap;

    va_start(ap, option);
    if (option < CURLOPTTYPE_OBJECTPOINT)
        r = (lib.curl_easy_setopt)(curl, option, va_arg(ap, long));
    else if (option < CURLOPTTYPE_OFF_T)
        r = (lib.curl_easy_setopt)(curl, option, va_arg(ap, void *));
    else if (option < CURLOPTTYPE_BLOB)
        r = (lib.curl_easy_setopt)(curl, option, va_arg(ap, curl_off_t));
    else
        r = (lib.curl_easy_setopt)(curl, option, va_arg(ap, void *));
    va_end(ap);
    return r;
}

CURLMcode(curl_multi_setopt)(CURLM *multi, CURLMoption option, ...)
{
    CURLMcode r;
    va_list ap;

    va_start(ap, option);
    if (option < CURLOPTTYPE_OBJECTPOINT)
        r = (lib.curl_multi_setopt)(multi, option, va_arg(ap, long));
    else if (option < CURLOPTTYPE_OFF_T)
        r = (lib.curl_multi_setopt)(multi, option, va_arg(ap, void *));
    else
        r = (lib.curl_multi_setopt)(multi, option, va_arg(ap, curl_off_t));
    va_end(ap);
    return r;
}

/* Every CURLINFO takes a pointer to where the value is stored. */
CURLcode(curl_easy_getinfo)(CURL *curl, CURLINFO info, ...)
{
    CURLcode r;
    va_list ap;

    va_start(ap, info);
    r = (lib.curl_easy_getinfo)(curl, info, va_arg(ap, void *));
    va_end(ap);
    return r;
}
