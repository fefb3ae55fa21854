/*
 * Parse arbitrary bytes as a seccomp profile.  A profile that parses must
 * hold what the parser promises: names in every rule, errno values and
 * argument indexes within range, and arches the evaluation can list.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include <seccomp.h>

#include "platform/internal.h"
#include "platform/platform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct err *e = NULL;
    struct seccomp_profile *p = seccomp_profile_parse((const char *)data, size, "fuzz", &e);
    uint32_t arches[SECCOMP_MAX_ARCHES + 1];

    if (!p) {
        if (!e)
            abort();
        err_free(e);
        return 0;
    }
    if (p->n_rules > SECCOMP_MAX_RULES || p->n_arches > SECCOMP_MAX_ARCHES ||
        seccomp_profile_arches(p, SCMP_ARCH_X86_64, arches, SECCOMP_MAX_ARCHES + 1) >
            SECCOMP_MAX_ARCHES + 1)
        abort();
    for (size_t i = 0; i < p->n_rules; i++) {
        const struct seccomp_rule *r = &p->rules[i];

        if (!r->names || !r->names[0] || r->n_args > SECCOMP_MAX_ARGS)
            abort();
        for (size_t k = 0; k < r->n_args; k++) {
            if (r->args[k].index >= SECCOMP_MAX_ARGS)
                abort();
        }
        (void)seccomp_rule_applies(r, "amd64", UINT64_MAX);
    }
    seccomp_profile_free(p);
    return 0;
}
