#include "config.h"

#include <string.h>
#include <sys/random.h>
#include <stdlib.h>

#include "util/id.h"

void hex_encode(const unsigned char *data, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 0xf];
    }
    out[2 * len] = '\0';
}

void id_generate(char out[ID_LEN + 1])
{
    unsigned char raw[ID_LEN / 2];
    size_t got = 0;

    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);

        if (n < 0)
            abort();
        got += (size_t)n;
    }
    hex_encode(raw, sizeof(raw), out);
}

bool id_is_valid_prefix(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > ID_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}
