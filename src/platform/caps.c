/*
 * Capability sets of a container, computed as containerd's CRI plugin
 * computes them and applied in the set-up child with libcap.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "platform/internal.h"
#include "platform/platform.h"

#define CAP_NAME_MAX 64
#define BIT(n) (UINT64_C(1) << (n))

uint64_t caps_default(void)
{
    return BIT(CAP_CHOWN) | BIT(CAP_DAC_OVERRIDE) | BIT(CAP_FSETID) | BIT(CAP_FOWNER) |
           BIT(CAP_MKNOD) | BIT(CAP_NET_RAW) | BIT(CAP_SETGID) | BIT(CAP_SETUID) |
           BIT(CAP_SETFCAP) | BIT(CAP_SETPCAP) | BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_SYS_CHROOT) |
           BIT(CAP_KILL) | BIT(CAP_AUDIT_WRITE);
}

/* Number of capabilities of the running kernel (cap_max_bits()), at most 64. */
static int caps_known(void)
{
    int n = (int)cap_max_bits();

    return n > 64 ? 64 : n;
}

uint64_t caps_current(void)
{
    cap_t caps = cap_get_proc();
    uint64_t mask = 0;

    if (!caps)
        return 0;
    for (int c = 0; c < caps_known(); c++) {
        cap_flag_value_t v = CAP_CLEAR;

        if (cap_get_flag(caps, (cap_value_t)c, CAP_EFFECTIVE, &v) == 0 && v == CAP_SET)
            mask |= BIT(c);
    }
    cap_free(caps);
    return mask;
}

static uint64_t caps_bounding(void)
{
    uint64_t mask = 0;

    for (int c = 0; c < caps_known(); c++) {
        if (cap_get_bound((cap_value_t)c) == 1)
            mask |= BIT(c);
    }
    return mask;
}

int caps_parse_name(const char *name, int *ret_cap, struct err **err)
{
    char buf[CAP_NAME_MAX + 5];
    const char *bare = name;
    bool has_letter = false;
    cap_value_t v;

    if (strncasecmp(bare, "CAP_", 4) == 0)
        bare += 4;
    for (const char *p = bare; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_')
            goto unknown;
        has_letter |= isalpha((unsigned char)*p) != 0;
    }
    /* libcap also takes numbers ("12"); the CRI names capabilities only by name. */
    if (!has_letter || strlen(bare) > CAP_NAME_MAX)
        goto unknown;
    snprintf(buf, sizeof(buf), "cap_%s", bare);
    if (cap_from_name(buf, &v) < 0 || v < 0 || (int)v >= caps_known())
        goto unknown;
    *ret_cap = (int)v;
    return 0;

unknown:
    return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "unknown capability '%s'", name);
}

static bool is_all(const char *name)
{
    return strcasecmp(name, "ALL") == 0;
}

static bool has_all(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (is_all(names[i]))
            return true;
    }
    return false;
}

/* OR (or clear, when add is false) the named capabilities into *mask; "ALL" is skipped. */
static int apply_names(char **names, size_t n, bool add, uint64_t allowed, uint64_t *mask,
                       struct err **err)
{
    for (size_t i = 0; i < n; i++) {
        int c;

        if (is_all(names[i]))
            continue;
        if (caps_parse_name(names[i], &c, err) < 0)
            return -1;
        if (add && !(allowed & BIT(c)))
            return err_status(err, GRPC_STATUS_FAILED_PRECONDITION,
                              "capability '%s' is not in crispd's bounding set, so no container "
                              "can have it",
                              names[i]);
        if (add)
            *mask |= BIT(c);
        else
            *mask &= ~BIT(c);
    }
    return 0;
}

int caps_compute(const struct caps_request *req, struct ctr_caps *ret, struct err **err)
{
    uint64_t allowed = caps_bounding();
    uint64_t set = caps_default() & allowed, ambient = 0;

    if (req->privileged) {
        set = caps_current();
    } else {
        /*
         * "ALL" means every capability in crispd's bounding set.  Containerd
         * adds every capability of the kernel, so with runc the start fails
         * when the runtime's bounding set lacks one.
         */
        if (has_all(req->add, req->n_add))
            set = allowed;
        if (has_all(req->drop, req->n_drop))
            set = 0;
        if (apply_names(req->add, req->n_add, true, allowed, &set, err) < 0 ||
            apply_names(req->drop, req->n_drop, false, allowed, &set, err) < 0)
            return -1;
    }
    if (has_all(req->ambient, req->n_ambient))
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "add_ambient_capabilities takes capability names, not 'ALL'");
    if (apply_names(req->ambient, req->n_ambient, true, allowed, &ambient, err) < 0)
        return -1;

    memset(ret, 0, sizeof(*ret));
    ret->bounding = set | ambient;
    ret->permitted = set | ambient;
    ret->effective = req->root_user ? set | ambient : ambient;
    ret->inheritable = ambient;
    ret->ambient = ambient;
    return 0;
}

/* ---- child side ---- */

int caps_keep_on_setuid(bool keep, struct err **err)
{
    if (prctl(PR_SET_KEEPCAPS, keep ? 1L : 0L, 0L, 0L, 0L) < 0)
        return err_sys(err, "set PR_SET_KEEPCAPS");
    return 0;
}

int caps_raise_permitted(struct err **err)
{
    cap_t caps = cap_get_proc();
    int r = 0;

    if (!caps)
        return err_sys(err, "read own capabilities");
    for (int c = 0; c < caps_known(); c++) {
        cap_flag_value_t v = CAP_CLEAR;
        cap_value_t value = (cap_value_t)c;

        if (cap_get_flag(caps, value, CAP_PERMITTED, &v) == 0 && v == CAP_SET)
            cap_set_flag(caps, CAP_EFFECTIVE, 1, &value, CAP_SET);
    }
    if (cap_set_proc(caps) < 0)
        r = err_sys(err, "raise the effective capabilities");
    cap_free(caps);
    return r;
}

int caps_drop_bounding(const struct ctr_caps *caps, struct err **err)
{
    for (int c = 0; c < caps_known(); c++) {
        if (caps->bounding & BIT(c))
            continue;
        if (cap_get_bound((cap_value_t)c) == 1 && cap_drop_bound((cap_value_t)c) < 0)
            return err_sys(err, "drop capability %d from the bounding set", c);
    }
    return 0;
}

static void set_flags(cap_t t, cap_flag_t flag, uint64_t mask)
{
    for (int c = 0; c < caps_known(); c++) {
        cap_value_t value = (cap_value_t)c;

        if (mask & BIT(c))
            cap_set_flag(t, flag, 1, &value, CAP_SET);
    }
}

int caps_set(const struct ctr_caps *caps, struct err **err)
{
    cap_t t = cap_init();
    int r = 0;

    if (!t)
        return err_sys(err, "allocate a capability state");
    set_flags(t, CAP_EFFECTIVE, caps->effective);
    set_flags(t, CAP_PERMITTED, caps->permitted);
    set_flags(t, CAP_INHERITABLE, caps->inheritable);
    if (cap_set_proc(t) < 0)
        r = err_sys(err, "set capabilities");
    cap_free(t);
    if (r < 0)
        return r;

    if (cap_reset_ambient() < 0)
        return err_sys(err, "clear the ambient capabilities");
    for (int c = 0; c < caps_known(); c++) {
        if ((caps->ambient & BIT(c)) && cap_set_ambient((cap_value_t)c, CAP_SET) < 0)
            return err_sys(err, "raise ambient capability %d", c);
    }
    return 0;
}
