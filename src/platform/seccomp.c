/*
 * Turn a parsed seccomp profile into a libseccomp filter the way runc
 * does.  System calls unknown to this libseccomp are skipped, and rules
 * whose action is the default action are left out.  A rule whose
 * conditions repeat an argument index becomes one rule per condition (any
 * may match) instead of one rule with all of them.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <seccomp.h>

#include "platform/internal.h"
#include "platform/platform.h"
#include "util/cleanup.h"

/* Go's names for the architectures, which the Docker format's includes/excludes use. */
static const char *go_arch_name(uint32_t arch)
{
    switch (arch) {
    case SCMP_ARCH_X86_64:
        return "amd64";
    case SCMP_ARCH_X86:
        return "386";
    case SCMP_ARCH_X32:
        return "x32";
    case SCMP_ARCH_AARCH64:
        return "arm64";
    case SCMP_ARCH_ARM:
        return "arm";
    case SCMP_ARCH_PPC64LE:
        return "ppc64le";
    case SCMP_ARCH_S390X:
        return "s390x";
    case SCMP_ARCH_RISCV64:
        return "riscv64";
    default:
        return "unknown";
    }
}

static bool repeats_index(const struct seccomp_rule *r)
{
    for (size_t i = 0; i < r->n_args; i++) {
        for (size_t k = i + 1; k < r->n_args; k++) {
            if (r->args[i].index == r->args[k].index)
                return true;
        }
    }
    return false;
}

static struct scmp_arg_cmp to_cmp(const struct seccomp_arg *a)
{
    struct scmp_arg_cmp c;

    c.arg = a->index;
    c.op = (enum scmp_compare)a->op;
    c.datum_a = a->value;
    c.datum_b = a->value_two;
    return c;
}

static int add_syscall(scmp_filter_ctx ctx, const struct seccomp_rule *r, const char *name, int nr,
                       struct err **err)
{
    struct scmp_arg_cmp cmp[SECCOMP_MAX_ARGS];
    int rc;

    if (r->n_args && repeats_index(r)) {
        for (size_t i = 0; i < r->n_args; i++) {
            cmp[0] = to_cmp(&r->args[i]);
            rc = seccomp_rule_add_array(ctx, r->action, nr, 1, cmp);
            if (rc < 0)
                return err_errno(err, -rc, "add seccomp rule for '%s'", name);
        }
        return 0;
    }
    for (size_t i = 0; i < r->n_args; i++)
        cmp[i] = to_cmp(&r->args[i]);
    rc = seccomp_rule_add_array(ctx, r->action, nr, (unsigned int)r->n_args, cmp);
    if (rc < 0)
        return err_errno(err, -rc, "add seccomp rule for '%s'", name);
    return 0;
}

static int add_arches(scmp_filter_ctx ctx, const struct seccomp_profile *p, struct err **err)
{
    uint32_t arches[SECCOMP_MAX_ARCHES + 1];
    size_t n = seccomp_profile_arches(p, seccomp_arch_native(), arches, ARRAY_SIZE(arches));

    for (size_t i = 0; i < n; i++) {
        int rc = seccomp_arch_add(ctx, arches[i]);

        if (rc < 0 && rc != -EEXIST)
            return err_errno(err, -rc, "add seccomp architecture %#x", (unsigned int)arches[i]);
    }
    return 0;
}

void *seccomp_filter_build(const struct seccomp_profile *p, uint64_t caps, struct err **err)
{
    const char *arch = go_arch_name(seccomp_arch_native());
    scmp_filter_ctx ctx = seccomp_init(p->default_action);
    int rc;

    if (!ctx) {
        err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "seccomp default action %#x is invalid",
                   (unsigned int)p->default_action);
        return NULL;
    }
    /* By default libseccomp sets no_new_privs on load, but the CRI request decides it. */
    rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    if (rc < 0) {
        err_errno(err, -rc, "clear the seccomp no_new_privs attribute");
        goto fail;
    }
    if (add_arches(ctx, p, err) < 0)
        goto fail;
    for (size_t i = 0; i < p->n_rules; i++) {
        const struct seccomp_rule *r = &p->rules[i];

        if (r->action == p->default_action || !seccomp_rule_applies(r, arch, caps))
            continue;
        for (char **name = r->names; *name; name++) {
            int nr = seccomp_syscall_resolve_name(*name);

            /* A name this libseccomp does not know cannot be called by number either way. */
            if (nr == __NR_SCMP_ERROR)
                continue;
            if (add_syscall(ctx, r, *name, nr, err) < 0)
                goto fail;
        }
    }
    return ctx;

fail:
    seccomp_release(ctx);
    return NULL;
}

int seccomp_filter_load(void *filter, struct err **err)
{
    int rc = seccomp_load(filter);

    seccomp_release(filter);
    if (rc < 0)
        return err_errno(err, -rc, "load the seccomp filter");
    return 0;
}

void seccomp_filter_free(void *filter)
{
    if (filter)
        seccomp_release(filter);
}
