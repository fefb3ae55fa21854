/* SHA-256 digests in the OCI "sha256:<hex>" form, and layer chain ids. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "image/internal.h"
#include "util/id.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

bool digest_is_valid(const char *s)
{
    if (strncmp(s, DIGEST_PREFIX, strlen(DIGEST_PREFIX)) != 0)
        return false;
    s += strlen(DIGEST_PREFIX);
    if (strlen(s) != 64)
        return false;
    for (; *s; s++) {
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    }
    return true;
}

char *digest_compute(const void *data, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];

    /* A failure of EVP_Digest with a built-in algorithm is treated like out of memory. */
    if (!EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL))
        abort();
    hex_encode(md, md_len, hex);
    return xasprintf(DIGEST_PREFIX "%s", hex);
}

char **chain_ids_compute(char *const *diff_ids, size_t n)
{
    char **chain = xnew(char *, n + 1);

    for (size_t i = 0; i < n; i++) {
        if (i == 0) {
            chain[i] = xstrdup(diff_ids[i]);
        } else {
            struct strbuf b = STRBUF_INIT;

            strbuf_printf(&b, "%s %s", chain[i - 1], diff_ids[i]);
            chain[i] = digest_compute(b.buf, b.len);
            strbuf_done(&b);
        }
    }
    return chain;
}
