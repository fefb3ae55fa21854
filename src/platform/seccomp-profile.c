/*
 * Seccomp profiles in the OCI runtime-spec (config.json "linux.seccomp")
 * and Docker JSON formats, parsed into struct seccomp_profile.  Pure: the
 * parser touches no file and no kernel, so it is unit-tested and fuzzed.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <seccomp.h>

#include "platform/internal.h"
#include "platform/platform.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define ARCH_NAME_MAX 32

/* Parse state: where errors are reported. */
struct parser {
    const char *origin;
    struct err **err;
};

static int fail(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parser *ps, const char *fmt, ...)
{
    _cleanup_free_ char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = xvasprintf(fmt, ap);
    va_end(ap);
    return err_status(ps->err, GRPC_STATUS_INVALID_ARGUMENT, "seccomp profile '%s': %s", ps->origin,
                      msg);
}

static void rule_done(struct seccomp_rule *r)
{
    strv_free(r->names);
    strv_free(r->includes.arches);
    strv_free(r->excludes.arches);
}

void seccomp_profile_free(struct seccomp_profile *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_rules; i++)
        rule_done(&p->rules[i]);
    free(p->rules);
    free(p);
}

static int parse_errno(struct parser *ps, json_t *v, const char *where, uint32_t *ret)
{
    json_int_t n;

    if (!v) {
        *ret = EPERM;
        return 0;
    }
    if (!json_is_integer(v))
        return fail(ps, "%s: errnoRet is not an integer", where);
    n = json_integer_value(v);
    if (n < 0 || n > SECCOMP_MAX_ERRNO)
        return fail(ps, "%s: errnoRet %lld is out of range 0-%d", where, (long long)n,
                    SECCOMP_MAX_ERRNO);
    *ret = (uint32_t)n;
    return 0;
}

/* Translate "SCMP_ACT_*" with its errnoRet into libseccomp's action value. */
static int parse_action(struct parser *ps, json_t *action, json_t *errno_ret, const char *where,
                        uint32_t *ret)
{
    const char *name = json_string_value(action);
    uint32_t value;

    if (!name)
        return fail(ps, "%s: action is missing or not a string", where);
    if (parse_errno(ps, errno_ret, where, &value) < 0)
        return -1;
    if (strcmp(name, "SCMP_ACT_ALLOW") == 0)
        *ret = SCMP_ACT_ALLOW;
    else if (strcmp(name, "SCMP_ACT_ERRNO") == 0)
        *ret = SCMP_ACT_ERRNO(value);
    else if (strcmp(name, "SCMP_ACT_KILL") == 0 || strcmp(name, "SCMP_ACT_KILL_THREAD") == 0)
        *ret = SCMP_ACT_KILL_THREAD;
    else if (strcmp(name, "SCMP_ACT_KILL_PROCESS") == 0)
        *ret = SCMP_ACT_KILL_PROCESS;
    else if (strcmp(name, "SCMP_ACT_TRAP") == 0)
        *ret = SCMP_ACT_TRAP;
    else if (strcmp(name, "SCMP_ACT_TRACE") == 0)
        *ret = SCMP_ACT_TRACE(value);
    else if (strcmp(name, "SCMP_ACT_LOG") == 0)
        *ret = SCMP_ACT_LOG;
    else if (strcmp(name, "SCMP_ACT_NOTIFY") == 0)
        return fail(ps, "%s: action SCMP_ACT_NOTIFY needs a listener, which crisp does not have",
                    where);
    else
        return fail(ps, "%s: unknown action '%s'", where, name);
    return 0;
}

/* "SCMP_ARCH_X86_64" (or "x86_64") to SCMP_ARCH_X86_64. */
static int parse_arch(struct parser *ps, json_t *v, const char *where, uint32_t *ret)
{
    const char *name = json_string_value(v);
    char lower[ARCH_NAME_MAX];
    size_t i;

    if (!name)
        return fail(ps, "%s: architecture is not a string", where);
    if (strncmp(name, "SCMP_ARCH_", 10) == 0)
        name += 10;
    for (i = 0; name[i] && i < sizeof(lower) - 1; i++)
        lower[i] = (char)tolower((unsigned char)name[i]);
    lower[i] = '\0';
    *ret = name[i] ? 0 : seccomp_arch_resolve_name(lower);
    if (*ret == 0)
        return fail(ps, "%s: unknown architecture '%s'", where, json_string_value(v));
    return 0;
}

static int parse_arch_list(struct parser *ps, json_t *list, const char *where, uint32_t *out,
                           size_t *n)
{
    size_t i;
    json_t *v;

    *n = 0;
    if (!list)
        return 0;
    if (!json_is_array(list))
        return fail(ps, "%s is not an array", where);
    if (json_array_size(list) > SECCOMP_MAX_ARCHES)
        return fail(ps, "%s has more than %d entries", where, SECCOMP_MAX_ARCHES);
    json_array_foreach (list, i, v) {
        if (parse_arch(ps, v, where, &out[i]) < 0)
            return -1;
        *n = i + 1;
    }
    return 0;
}

static int parse_arch_map(struct parser *ps, json_t *list, struct seccomp_profile *p)
{
    size_t i;
    json_t *v;

    if (!list)
        return 0;
    if (!json_is_array(list))
        return fail(ps, "archMap is not an array");
    if (json_array_size(list) > SECCOMP_MAX_ARCHES)
        return fail(ps, "archMap has more than %d entries", SECCOMP_MAX_ARCHES);
    json_array_foreach (list, i, v) {
        struct seccomp_arch_map *m = &p->arch_map[i];

        if (!json_is_object(v))
            return fail(ps, "archMap[%zu] is not an object", i);
        if (parse_arch(ps, json_object_get(v, "architecture"), "archMap", &m->arch) < 0 ||
            parse_arch_list(ps, json_object_get(v, "subArchitectures"), "archMap subArchitectures",
                            m->subs, &m->n_subs) < 0)
            return -1;
        p->n_arch_map = i + 1;
    }
    return 0;
}

/* A JSON array of strings (at most max) as a NULL-terminated vector; NULL when absent. */
static int parse_strings(struct parser *ps, json_t *list, size_t max, const char *where,
                         char ***ret)
{
    char **v;
    size_t i;
    json_t *s;

    *ret = NULL;
    if (!list)
        return 0;
    if (!json_is_array(list))
        return fail(ps, "%s is not an array", where);
    if (json_array_size(list) > max)
        return fail(ps, "%s has more than %zu entries", where, max);
    v = xcalloc(json_array_size(list) + 1, sizeof(*v));
    json_array_foreach (list, i, s) {
        if (!json_is_string(s) || !json_string_length(s)) {
            strv_free(v);
            return fail(ps, "%s[%zu] is not a non-empty string", where, i);
        }
        v[i] = xstrdup(json_string_value(s));
    }
    *ret = v;
    return 0;
}

static int parse_op(struct parser *ps, json_t *v, const char *where, int *ret)
{
    static const struct {
        const char *name;
        int op;
    } ops[] = {
        {"SCMP_CMP_NE", SCMP_CMP_NE},
        {"SCMP_CMP_LT", SCMP_CMP_LT},
        {"SCMP_CMP_LE", SCMP_CMP_LE},
        {"SCMP_CMP_EQ", SCMP_CMP_EQ},
        {"SCMP_CMP_GE", SCMP_CMP_GE},
        {"SCMP_CMP_GT", SCMP_CMP_GT},
        {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
    };
    const char *name = json_string_value(v);

    for (size_t i = 0; name && i < ARRAY_SIZE(ops); i++) {
        if (strcmp(name, ops[i].name) == 0) {
            *ret = ops[i].op;
            return 0;
        }
    }
    return fail(ps, "%s: unknown op '%s'", where, name ? name : "(not a string)");
}

static int parse_u64(struct parser *ps, json_t *v, const char *what, const char *where,
                     uint64_t *ret)
{
    /* JSON integers beyond INT64_MAX do not reach jansson; masks above it are written negative. */
    if (!v) {
        *ret = 0;
        return 0;
    }
    if (!json_is_integer(v))
        return fail(ps, "%s: %s is not an integer", where, what);
    *ret = (uint64_t)json_integer_value(v);
    return 0;
}

static int parse_args(struct parser *ps, json_t *list, const char *where, struct seccomp_rule *r)
{
    size_t i;
    json_t *a;

    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list))
        return fail(ps, "%s: args is not an array", where);
    if (json_array_size(list) > SECCOMP_MAX_ARGS)
        return fail(ps, "%s: more than %d args", where, SECCOMP_MAX_ARGS);
    json_array_foreach (list, i, a) {
        struct seccomp_arg *arg = &r->args[i];
        json_t *index = json_object_get(a, "index");

        if (!json_is_object(a))
            return fail(ps, "%s: args[%zu] is not an object", where, i);
        if (!json_is_integer(index) || json_integer_value(index) < 0 ||
            json_integer_value(index) >= SECCOMP_MAX_ARGS)
            return fail(ps, "%s: args[%zu].index is not an integer from 0 to %d", where, i,
                        SECCOMP_MAX_ARGS - 1);
        arg->index = (unsigned int)json_integer_value(index);
        if (parse_u64(ps, json_object_get(a, "value"), "value", where, &arg->value) < 0 ||
            parse_u64(ps, json_object_get(a, "valueTwo"), "valueTwo", where, &arg->value_two) < 0 ||
            parse_op(ps, json_object_get(a, "op"), where, &arg->op) < 0)
            return -1;
        r->n_args = i + 1;
    }
    return 0;
}

static int parse_cond(struct parser *ps, json_t *o, const char *what, const char *where,
                      struct seccomp_cond *c)
{
    _cleanup_strv_free_ char **caps = NULL;
    _cleanup_free_ char *label = NULL;

    if (!o || json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return fail(ps, "%s: %s is not an object", where, what);
    label = xasprintf("%s: %s.arches", where, what);
    if (parse_strings(ps, json_object_get(o, "arches"), SECCOMP_MAX_ARCHES, label, &c->arches) < 0)
        return -1;
    free(label);
    label = xasprintf("%s: %s.caps", where, what);
    if (parse_strings(ps, json_object_get(o, "caps"), SECCOMP_MAX_CAPS, label, &caps) < 0)
        return -1;
    for (char **s = caps; s && *s; s++) {
        int cap;

        if (caps_parse_name(*s, &cap, NULL) < 0)
            return fail(ps, "%s: unknown capability '%s'", label, *s);
        c->caps |= UINT64_C(1) << cap;
    }
    return 0;
}

static int parse_rule(struct parser *ps, json_t *o, size_t index, struct seccomp_rule *r)
{
    char where[32];
    json_t *name;

    snprintf(where, sizeof(where), "syscalls[%zu]", index);
    if (!json_is_object(o))
        return fail(ps, "%s is not an object", where);
    name = json_object_get(o, "name");
    if (name) {
        if (!json_is_string(name) || !json_string_length(name))
            return fail(ps, "%s: name is not a non-empty string", where);
        r->names = xcalloc(2, sizeof(*r->names));
        r->names[0] = xstrdup(json_string_value(name));
    } else if (parse_strings(ps, json_object_get(o, "names"), SECCOMP_MAX_NAMES, where, &r->names) <
               0) {
        return -1;
    }
    if (!r->names || !r->names[0])
        return fail(ps, "%s: names is missing or empty", where);
    if (parse_action(ps, json_object_get(o, "action"), json_object_get(o, "errnoRet"), where,
                     &r->action) < 0 ||
        parse_args(ps, json_object_get(o, "args"), where, r) < 0 ||
        parse_cond(ps, json_object_get(o, "includes"), "includes", where, &r->includes) < 0 ||
        parse_cond(ps, json_object_get(o, "excludes"), "excludes", where, &r->excludes) < 0)
        return -1;
    return 0;
}

static int parse_rules(struct parser *ps, json_t *list, struct seccomp_profile *p)
{
    size_t i;
    json_t *o;

    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list))
        return fail(ps, "syscalls is not an array");
    if (json_array_size(list) > SECCOMP_MAX_RULES)
        return fail(ps, "syscalls has more than %d entries", SECCOMP_MAX_RULES);
    p->rules = xcalloc(json_array_size(list) ? json_array_size(list) : 1, sizeof(*p->rules));
    json_array_foreach (list, i, o) {
        p->n_rules = i + 1;
        if (parse_rule(ps, o, i, &p->rules[i]) < 0)
            return -1;
    }
    return 0;
}

struct seccomp_profile *seccomp_profile_parse(const char *text, size_t len, const char *origin,
                                              struct err **err)
{
    struct parser ps = {.origin = origin ? origin : "(inline)", .err = err};
    struct seccomp_profile *p;
    json_error_t jerr;
    json_t *root;

    if (len > SECCOMP_PROFILE_MAX_SIZE) {
        fail(&ps, "%zu bytes exceed the limit of %d", len, SECCOMP_PROFILE_MAX_SIZE);
        return NULL;
    }
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        fail(&ps, "line %d: %s", jerr.line, jerr.text);
        return NULL;
    }
    p = xzalloc(sizeof(*p));
    if (!json_is_object(root)) {
        fail(&ps, "expected a JSON object");
        goto fail;
    }
    if (parse_action(&ps, json_object_get(root, "defaultAction"),
                     json_object_get(root, "defaultErrnoRet"), "defaultAction",
                     &p->default_action) < 0 ||
        parse_arch_list(&ps, json_object_get(root, "architectures"), "architectures", p->arches,
                        &p->n_arches) < 0 ||
        parse_arch_map(&ps, json_object_get(root, "archMap"), p) < 0 ||
        parse_rules(&ps, json_object_get(root, "syscalls"), p) < 0)
        goto fail;
    json_decref(root);
    return p;

fail:
    json_decref(root);
    seccomp_profile_free(p);
    return NULL;
}

struct seccomp_profile *seccomp_profile_load(const char *path, struct err **err)
{
    _cleanup_free_ char *text = NULL;
    size_t len;

    if (!path || path[0] != '/') {
        err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "seccomp profile path '%s' is not absolute",
                   path ? path : "");
        return NULL;
    }
    if (read_file(path, SECCOMP_PROFILE_MAX_SIZE, &text, &len, err) < 0) {
        /* Whatever went wrong, the caller named a profile that cannot be used. */
        (*err)->status = GRPC_STATUS_INVALID_ARGUMENT;
        err_wrap(err, "seccomp profile '%s'", path);
        return NULL;
    }
    return seccomp_profile_parse(text, len, path, err);
}

struct seccomp_profile *seccomp_profile_default(void)
{
    struct seccomp_profile *p;
    struct err *e = NULL;

    p = seccomp_profile_parse(seccomp_default_json, strlen(seccomp_default_json), "RuntimeDefault",
                              &e);
    if (!p)
        abort(); /* the built-in text is tested by t/00unit/platform/seccomp */
    return p;
}

/* ---- evaluation ---- */

static bool strv_contains(char **v, const char *s)
{
    for (; v && *v; v++) {
        if (strcmp(*v, s) == 0)
            return true;
    }
    return false;
}

bool seccomp_rule_applies(const struct seccomp_rule *rule, const char *go_arch, uint64_t caps)
{
    if (rule->includes.arches && !strv_contains(rule->includes.arches, go_arch))
        return false;
    if (rule->excludes.arches && strv_contains(rule->excludes.arches, go_arch))
        return false;
    if ((rule->includes.caps & caps) != rule->includes.caps)
        return false;
    if (rule->excludes.caps & caps)
        return false;
    return true;
}

size_t seccomp_profile_arches(const struct seccomp_profile *p, uint32_t native, uint32_t *ret,
                              size_t max)
{
    size_t n = 0;

    if (p->n_arch_map) {
        for (size_t i = 0; i < p->n_arch_map; i++) {
            if (p->arch_map[i].arch != native)
                continue;
            if (n < max)
                ret[n++] = native;
            for (size_t k = 0; k < p->arch_map[i].n_subs && n < max; k++)
                ret[n++] = p->arch_map[i].subs[k];
        }
        return n;
    }
    for (size_t i = 0; i < p->n_arches && n < max; i++)
        ret[n++] = p->arches[i];
    return n;
}
