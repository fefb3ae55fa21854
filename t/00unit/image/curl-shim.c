/* curl-shim: libcurl is loaded on demand and unloaded only when no handle is alive. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "../tap.h"
#include "image/curl-shim.h"

/* Whether this process maps a file whose path contains name (/proc/self/maps). */
static int maps_library(const char *name)
{
    FILE *f = fopen("/proc/self/maps", "re");
    char line[4096];
    int found = 0;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        found = found || strstr(line, name) != NULL;
    fclose(f);
    return found;
}

int main(void)
{
    struct err *e = NULL;
    CURL *easy;
    CURLM *multi;
    char *escaped;

    is_int(curl_shim_unload(), 0, "unload before any load does nothing");
    is_int(curl_shim_loaded(), 0, "libcurl is not loaded at start");
    is_int(maps_library("libcurl"), 0, "libcurl is not mapped at start");

    is_int(curl_shim_load(&e), 0, "load libcurl");
    is_int(curl_shim_loaded(), 1, "libcurl is loaded");
    is_int(maps_library("libcurl"), 1, "libcurl is mapped after the load");

    easy = curl_easy_init();
    ok(easy != NULL, "curl_easy_init returns a handle");
    is_int(curl_shim_unload(), 0, "unload with an easy handle alive does nothing");
    is_int(curl_shim_loaded(), 1, "libcurl stays loaded with an easy handle alive");
    curl_easy_cleanup(easy);

    multi = curl_multi_init();
    ok(multi != NULL, "curl_multi_init returns a handle");
    is_int(curl_shim_unload(), 0, "unload with a multi handle alive does nothing");
    is_int(curl_multi_cleanup(multi), CURLM_OK, "curl_multi_cleanup succeeds");

    is_int(curl_shim_unload(), 1, "unload with no handle alive unloads libcurl");
    is_int(curl_shim_loaded(), 0, "libcurl is not loaded after the unload");
    is_int(maps_library("libcurl"), 0, "libcurl is not mapped after the unload");

    is_int(curl_shim_load(&e), 0, "load libcurl again");
    escaped = curl_easy_escape(NULL, "a b", 0);
    is_str(escaped, "a%20b", "the reloaded library escapes a string");
    curl_free(escaped);
    is_int(curl_shim_unload(), 1, "unload again");
    is_int(maps_library("libcurl"), 0, "libcurl is not mapped after the second unload");

    err_free(e);
    return tap_done();
}
