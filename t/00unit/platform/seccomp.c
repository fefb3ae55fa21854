/* The seccomp profile parser, the built-in default profile and rule conditions. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/capability.h>

#include <seccomp.h>

#include "platform/internal.h"
#include "platform/platform.h"
#include "../tap.h"

static struct seccomp_profile *parse(const char *text, struct err **err)
{
    return seccomp_profile_parse(text, strlen(text), "test.json", err);
}

static void test_valid(void)
{
    static const char text[] =
        "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 13,"
        " \"architectures\": [\"SCMP_ARCH_X86_64\", \"SCMP_ARCH_AARCH64\"],"
        " \"syscalls\": ["
        "  {\"names\": [\"read\", \"write\"], \"action\": \"SCMP_ACT_ALLOW\"},"
        "  {\"name\": \"mkdir\", \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 1},"
        "  {\"names\": [\"personality\"], \"action\": \"SCMP_ACT_ALLOW\","
        "   \"args\": [{\"index\": 0, \"value\": 8, \"valueTwo\": 0, \"op\": \"SCMP_CMP_EQ\"}]},"
        "  {\"names\": [\"kill\"], \"action\": \"SCMP_ACT_KILL\"},"
        "  {\"names\": [\"mount\"], \"action\": \"SCMP_ACT_ALLOW\","
        "   \"includes\": {\"caps\": [\"CAP_SYS_ADMIN\"], \"arches\": [\"amd64\"]}}]}";
    struct seccomp_profile *p = parse(text, NULL);
    uint32_t arches[SECCOMP_MAX_ARCHES];

    ok(p != NULL, "OCI and Docker fields parse");
    if (!p)
        return;
    is_int(p->default_action, SCMP_ACT_ERRNO(13), "default action carries errno 13");
    is_int(p->n_arches, 2, "two architectures");
    is_int(p->arches[0], SCMP_ARCH_X86_64, "first architecture is x86_64");
    is_int(p->arches[1], SCMP_ARCH_AARCH64, "second architecture is aarch64");
    is_int(p->n_rules, 5, "five rules");
    is_str(p->rules[0].names[1], "write", "names list is kept in order");
    is_int(p->rules[0].action, SCMP_ACT_ALLOW, "allow action");
    is_str(p->rules[1].names[0], "mkdir", "single name field");
    is_int(p->rules[1].action, SCMP_ACT_ERRNO(EPERM), "errnoRet 1 is EPERM");
    is_int(p->rules[2].n_args, 1, "one argument condition");
    is_int(p->rules[2].args[0].op, SCMP_CMP_EQ, "argument op");
    is_int((long long)p->rules[2].args[0].value, 8, "argument value");
    is_int(p->rules[3].action, SCMP_ACT_KILL_THREAD, "SCMP_ACT_KILL kills the thread");
    ok(seccomp_rule_applies(&p->rules[4], "amd64", UINT64_C(1) << CAP_SYS_ADMIN),
       "mount applies with CAP_SYS_ADMIN on amd64");
    ok(!seccomp_rule_applies(&p->rules[4], "amd64", 0), "mount needs CAP_SYS_ADMIN");
    ok(!seccomp_rule_applies(&p->rules[4], "arm64", UINT64_C(1) << CAP_SYS_ADMIN),
       "mount does not apply on arm64");
    is_int(seccomp_profile_arches(p, SCMP_ARCH_X86_64, arches, SECCOMP_MAX_ARCHES), 2,
           "without archMap the architectures list is used");
    seccomp_profile_free(p);
}

static void test_invalid(void)
{
    static const struct {
        const char *text;
        const char *message;
    } cases[] = {
        {"", "line"},
        {"[]", "expected a JSON object"},
        {"{}", "defaultAction: action is missing"},
        {"{\"defaultAction\": \"SCMP_ACT_NOPE\"}", "unknown action 'SCMP_ACT_NOPE'"},
        {"{\"defaultAction\": \"SCMP_ACT_NOTIFY\"}", "SCMP_ACT_NOTIFY"},
        {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 5000}", "out of range"},
        {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_VAX\"]}",
         "unknown architecture 'SCMP_ARCH_VAX'"},
        {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": {}}", "syscalls is not an array"},
        {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"action\": "
         "\"SCMP_ACT_ALLOW\"}]}",
         "syscalls[0]: names is missing"},
        {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"]}]}",
         "syscalls[0]: action is missing"},
        {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], "
         "\"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 6, \"value\": 1, \"op\": "
         "\"SCMP_CMP_EQ\"}]}]}",
         "index is not an integer from 0 to 5"},
        {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], "
         "\"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0, \"op\": \"SCMP_CMP_XX\"}]}]}",
         "unknown op 'SCMP_CMP_XX'"},
        {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], "
         "\"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"caps\": [\"CAP_NOPE\"]}}]}",
         "unknown capability 'CAP_NOPE'"},
        {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"defaultAction\": \"SCMP_ACT_ALLOW\"}",
         "duplicate"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct err *e = NULL;
        struct seccomp_profile *p = parse(cases[i].text, &e);

        ok(!p, "case %zu is rejected", i);
        is_int(err_grpc_status(e), GRPC_STATUS_INVALID_ARGUMENT, "case %zu is INVALID_ARGUMENT", i);
        ok(e && strstr(e->msg, "'test.json'") && strstr(e->msg, cases[i].message),
           "case %zu names the file and '%s': %s", i, cases[i].message, e ? e->msg : "");
        seccomp_profile_free(p);
        err_free(e);
    }
}

static const struct seccomp_rule *find_rule(const struct seccomp_profile *p, const char *name,
                                            size_t from)
{
    for (size_t i = from; i < p->n_rules; i++) {
        for (char **n = p->rules[i].names; *n; n++) {
            if (strcmp(*n, name) == 0)
                return &p->rules[i];
        }
    }
    return NULL;
}

static void test_default_profile(void)
{
    struct seccomp_profile *p = seccomp_profile_default();
    const uint64_t sys_admin = UINT64_C(1) << CAP_SYS_ADMIN;
    const struct seccomp_rule *r;
    uint32_t arches[SECCOMP_MAX_ARCHES];
    size_t n, personality = 0;

    is_int(p->default_action, SCMP_ACT_ERRNO(EPERM), "default action is EPERM");
    n = seccomp_profile_arches(p, SCMP_ARCH_X86_64, arches, SECCOMP_MAX_ARCHES);
    is_int(n, 3, "x86_64 covers three architectures");
    is_int(arches[1], SCMP_ARCH_X86, "x86_64 covers x86");
    is_int(arches[2], SCMP_ARCH_X32, "x86_64 covers x32");
    n = seccomp_profile_arches(p, SCMP_ARCH_AARCH64, arches, SECCOMP_MAX_ARCHES);
    is_int(n, 2, "aarch64 covers two architectures");
    is_int(arches[1], SCMP_ARCH_ARM, "aarch64 covers arm");

    r = find_rule(p, "read", 0);
    ok(r && r->action == SCMP_ACT_ALLOW && !r->n_args, "read is allowed");
    ok(!find_rule(p, "kexec_load", 0), "kexec_load is not allowed");
    r = find_rule(p, "mount", 0);
    ok(r && seccomp_rule_applies(r, "amd64", sys_admin) && !seccomp_rule_applies(r, "amd64", 0),
       "mount is allowed only with CAP_SYS_ADMIN");
    r = find_rule(p, "arch_prctl", 0);
    ok(r && seccomp_rule_applies(r, "amd64", 0) && !seccomp_rule_applies(r, "arm64", 0),
       "arch_prctl only on amd64");

    for (r = find_rule(p, "personality", 0); r; r = find_rule(p, "personality", r - p->rules + 1))
        personality++;
    is_int(personality, 5, "personality has five allowed values");

    for (r = find_rule(p, "clone", 0); r; r = find_rule(p, "clone", r - p->rules + 1)) {
        if (r->n_args && r->args[0].index == 0)
            break;
    }
    ok(r != NULL, "clone has an argument rule on its flags");
    if (r) {
        is_int(r->args[0].op, SCMP_CMP_MASKED_EQ, "clone flags are masked");
        is_int((long long)r->args[0].value, 0x7E020000LL, "clone mask is the namespace flags");
        ok(seccomp_rule_applies(r, "amd64", 0), "clone flag rule applies without CAP_SYS_ADMIN");
        ok(!seccomp_rule_applies(r, "amd64", sys_admin), "and not with it");
    }
    r = find_rule(p, "clone3", find_rule(p, "clone3", 0) - p->rules + 1);
    ok(r && r->action == SCMP_ACT_ERRNO(ENOSYS), "clone3 fails with ENOSYS without CAP_SYS_ADMIN");
    seccomp_profile_free(p);
}

static void test_filter_build(void)
{
    struct seccomp_profile *p = seccomp_profile_default();
    void *filter = seccomp_filter_build(p, caps_default(), NULL);

    ok(filter != NULL, "libseccomp builds the default profile");
    seccomp_filter_free(filter);
    filter = seccomp_filter_build(p, UINT64_MAX, NULL);
    ok(filter != NULL, "libseccomp builds the default profile with every capability");
    seccomp_filter_free(filter);
    seccomp_profile_free(p);
}

static void test_load_file(void)
{
    struct err *e = NULL;

    ok(!seccomp_profile_load("/nonexistent/profile.json", &e), "missing file fails");
    is_int(err_grpc_status(e), GRPC_STATUS_INVALID_ARGUMENT, "missing file is INVALID_ARGUMENT");
    ok(e && strstr(e->msg, "'/nonexistent/profile.json'"), "message names the file: %s",
       e ? e->msg : "");
    err_free(e);
    e = NULL;
    ok(!seccomp_profile_load("relative.json", &e), "relative path fails");
    err_free(e);
}

int main(void)
{
    test_valid();
    test_invalid();
    test_default_profile();
    test_filter_build();
    test_load_file();
    return tap_done();
}
