/* libFuzzer target: the "registries" object of crispd's configuration file. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    struct registry_host *hosts = NULL;
    struct err *e = NULL;
    size_t n = 0;

    if (!root)
        return 0;
    if (registry_hosts_parse(root, &hosts, &n, &e) == 0) {
        /* Every host is a key of the object, with at most 64 mirrors (REGISTRY_MIRRORS_MAX). */
        if (n != json_object_size(root))
            abort();
        for (size_t i = 0; i < n; i++) {
            size_t mirrors = 0;

            if (!hosts[i].host || !json_object_get(root, hosts[i].host))
                abort();
            while (hosts[i].mirrors && hosts[i].mirrors[mirrors])
                mirrors++;
            if (mirrors > 64)
                abort();
        }
        registry_hosts_free(hosts, n);
    } else if (!e || !e->msg) {
        /* A failure always explains itself. */
        abort();
    }
    err_free(e);
    json_decref(root);
    return 0;
}
