/* libFuzzer target: manifest, index and config parsing and the platform choice. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "image/internal.h"
#include "util/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct manifest m = {0};
    struct image_config c = {0};
    char **diff_ids = NULL;
    struct err *e = NULL;
    size_t n;

    if (manifest_parse((const char *)data, size, NULL, &m, &e) == 0) {
        if (m.kind == MANIFEST_KIND_INDEX) {
            struct platform host;

            platform_host(&host);
            manifest_choose_platform(&m, &host, &e);
        }
        manifest_done(&m);
    }
    err_free(e);
    e = NULL;
    if (image_config_parse((const char *)data, size, &c, &diff_ids, &n, &e) == 0) {
        char **chain = chain_ids_compute(diff_ids, n);

        strv_free(chain);
        strv_free(diff_ids);
        image_config_done(&c);
    }
    err_free(e);
    return 0;
}
