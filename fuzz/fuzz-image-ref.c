/* libFuzzer target: image reference parsing and normalization. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "util/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = xstrndup((const char *)data, size);
    struct image_ref ref = {0};
    struct err *e = NULL;

    if (image_ref_parse(s, &ref, &e) == 0) {
        char *normalized = image_ref_string(&ref);
        struct image_ref again = {0};
        char *twice;

        /* Normalizing is idempotent: the normalized string parses to itself. */
        if (image_ref_parse(normalized, &again, &e) < 0)
            abort();
        twice = image_ref_string(&again);
        if (strcmp(normalized, twice) != 0)
            abort();
        free(twice);
        free(normalized);
        image_ref_done(&again);
        image_ref_done(&ref);
    }
    err_free(e);
    free(s);
    return 0;
}
