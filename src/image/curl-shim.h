/*
 * libcurl, loaded with dlopen(3) when the first pull starts.  libcurl and
 * the 23 shared objects it depends on (TLS, Kerberos, LDAP, SSH, IDN) are
 * 3.7 MiB RSS (measured as in archive-shim.h) that an idle crispd, which
 * has pulled nothing, does not map.
 * curl-shim.c defines the libcurl functions that registry.c calls, with
 * libcurl's own names and prototypes, and forwards them to the loaded
 * library.  crispd is not linked with -lcurl.
 */
#ifndef CRISP_IMAGE_CURL_SHIM_H
#define CRISP_IMAGE_CURL_SHIM_H

#include <stdbool.h>

#include "util/err.h"

/*
 * Load libcurl (CURL_SONAME) and resolve every function the shim forwards.
 * Must succeed before any of them is called.  Returns 0, also when it is
 * already loaded, or -1 with a FAILED_PRECONDITION error naming the library
 * or the missing symbol.
 */
int curl_shim_load(struct err **err);

/*
 * Unload libcurl: curl_global_cleanup(), then dlclose(3), which also
 * unloads the shared objects only libcurl needed, except those marked
 * nodelete (p11-kit and libffi on Debian 12).  Does nothing while an easy or multi
 * handle created through the shim is alive: every transfer of a pull lives
 * in its registry's multi handle, so a pull in flight keeps libcurl loaded.
 * Does nothing either while the process runs more than one thread (a
 * resolver thread libcurl detached may still run).  The caller must hold no
 * slist or string from libcurl.  Returns 1 when it unloaded the library, 0
 * otherwise.  curl_shim_load() loads it again.
 */
int curl_shim_unload(void);

/* Whether libcurl is loaded. */
bool curl_shim_loaded(void);

#endif
