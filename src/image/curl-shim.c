#include "config.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include <curl/curl.h>

#include "image/curl-shim.h"

/* Functions without variable arguments: X(return type, name, parameters, arguments). */
#define CURL_FUNCTIONS(X)                                                                          \
    X(const char *, curl_easy_strerror, (CURLcode code), (code))                                  \
    X(char *, curl_easy_escape, (CURL * curl, const char *string, int length),                    \
      (curl, string, length))                                                                      \
    X(CURLcode, curl_easy_pause, (CURL * curl, int bitmask), (curl, bitmask))                     \
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

/*
 * Functions returning void, with variable arguments, or that count the
 * handles alive: resolved here, defined below.  curl_global_cleanup is
 * resolved for curl_shim_unload() only.
 */
#define CURL_OTHER_FUNCTIONS(Y)                                                                    \
    Y(CURL *, curl_easy_init, (void))                                                             \
    Y(CURLM *, curl_multi_init, (void))                                                           \
    Y(CURLMcode, curl_multi_cleanup, (CURLM * multi))                                             \
    Y(void, curl_global_cleanup, (void))                                                          \
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
    size_t live_easy, live_multi; /* handles created and not yet cleaned up */
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

/* The number of threads of this process (entries of /proc/self/task), 0 when unreadable. */
static size_t count_threads(void)
{
    DIR *dir = opendir("/proc/self/task");
    struct dirent *entry;
    size_t n = 0;

    if (!dir)
        return 0;
    while ((entry = readdir(dir)))
        n += entry->d_name[0] != '.';
    closedir(dir);
    return n;
}

int curl_shim_unload(void)
{
    void *handle = lib.handle;

    if (!handle || lib.live_easy || lib.live_multi)
        return 0;
    /*
     * libcurl's threaded resolver detaches a thread still blocked in
     * getaddrinfo(3) when its transfer is cleaned up (destroy_async_data in
     * lib/asyn-thread.c), and that thread would return into unmapped code.
     * The reactor runs no other thread, so any second thread keeps the library.
     */
    if (count_threads() != 1)
        return 0;
    /* Frees libcurl's global state and its TLS backend's, so nothing refers to them after. */
    lib.curl_global_cleanup();
    memset(&lib, 0, sizeof(lib));
    dlclose(handle);
    return 1;
}

bool curl_shim_loaded(void)
{
    return lib.handle != NULL;
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

CURL *(curl_easy_init)(void)
{
    CURL *curl = lib.curl_easy_init();

    if (curl)
        lib.live_easy++;
    return curl;
}

void(curl_easy_cleanup)(CURL *curl)
{
    if (!curl)
        return;
    lib.curl_easy_cleanup(curl);
    lib.live_easy--;
}

CURLM *(curl_multi_init)(void)
{
    CURLM *multi = lib.curl_multi_init();

    if (multi)
        lib.live_multi++;
    return multi;
}

CURLMcode(curl_multi_cleanup)(CURLM *multi)
{
    CURLMcode r;

    if (!multi)
        return CURLM_BAD_HANDLE;
    r = lib.curl_multi_cleanup(multi);
    if (r == CURLM_OK)
        lib.live_multi--;
    return r;
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
