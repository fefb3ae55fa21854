/* Capability names and the sets caps_compute() derives from a CRI Capability message. */
#include "config.h"

#include <stdint.h>
#include <string.h>
#include <sys/capability.h>

#include "platform/platform.h"
#include "../tap.h"

#define BIT(n) (UINT64_C(1) << (n))

static void test_names(void)
{
    static const struct {
        const char *name;
        int cap;
    } good[] = {
        {"CAP_CHOWN", CAP_CHOWN},       {"chown", CAP_CHOWN},
        {"Net_Admin", CAP_NET_ADMIN},   {"cap_sys_admin", CAP_SYS_ADMIN},
        {"SYS_PTRACE", CAP_SYS_PTRACE}, {"cAp_KiLl", CAP_KILL},
    };
    static const char *const bad[] = {"",       "CAP_",   "CAP_BOGUS", "12",
                                      "CAP_12", "chown ", "all",       "cap_chown,cap_kill"};
    struct err *e = NULL;
    int cap;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        cap = -1;
        is_int(caps_parse_name(good[i].name, &cap, NULL), 0, "'%s' parses", good[i].name);
        is_int(cap, good[i].cap, "'%s' is capability %d", good[i].name, good[i].cap);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        is_int(caps_parse_name(bad[i], &cap, &e), -1, "'%s' is rejected", bad[i]);
        is_int(err_grpc_status(e), GRPC_STATUS_INVALID_ARGUMENT, "'%s' is INVALID_ARGUMENT",
               bad[i]);
        ok(e && strstr(e->msg, bad[i]), "message names '%s': %s", bad[i], e ? e->msg : "");
        err_free(e);
        e = NULL;
    }
}

static void test_default(void)
{
    struct caps_request req;
    struct ctr_caps caps;

    is_int(__builtin_popcountll(caps_default()), 14, "default set has 14 capabilities");
    is_int((long long)caps_default(), 0xa80425fbLL, "default set is containerd's (0xa80425fb)");

    memset(&req, 0, sizeof(req));
    req.root_user = true;
    is_int(caps_compute(&req, &caps, NULL), 0, "empty request computes");
    is_int((long long)caps.bounding, 0xa80425fbLL, "root: bounding is the default set");
    is_int((long long)caps.effective, 0xa80425fbLL, "root: effective is the default set");
    is_int((long long)caps.permitted, 0xa80425fbLL, "root: permitted is the default set");
    is_int((long long)caps.inheritable, 0, "root: inheritable is empty");
    is_int((long long)caps.ambient, 0, "root: ambient is empty");

    req.root_user = false;
    is_int(caps_compute(&req, &caps, NULL), 0, "non-root request computes");
    is_int((long long)caps.bounding, 0xa80425fbLL, "non-root: bounding is the default set");
    is_int((long long)caps.effective, 0, "non-root: effective is empty");
}

static void test_add_drop(void)
{
    char *add[] = {(char *)"NET_ADMIN", (char *)"cap_sys_ptrace"};
    char *drop[] = {(char *)"CAP_CHOWN", (char *)"net_raw", (char *)"sys_ptrace"};
    char *all[] = {(char *)"all"};
    char *kill[] = {(char *)"KILL"};
    char *ambient[] = {(char *)"CAP_NET_BIND_SERVICE"};
    char *bogus[] = {(char *)"CAP_BOGUS"};
    struct caps_request req;
    struct ctr_caps caps;
    struct err *e = NULL;

    memset(&req, 0, sizeof(req));
    req.root_user = true;
    req.add = add;
    req.n_add = 2;
    req.drop = drop;
    req.n_drop = 3;
    is_int(caps_compute(&req, &caps, NULL), 0, "add and drop compute");
    is_int((long long)caps.bounding,
           (long long)((caps_default() | BIT(CAP_NET_ADMIN)) & ~BIT(CAP_CHOWN) & ~BIT(CAP_NET_RAW)),
           "added NET_ADMIN, dropped CHOWN and NET_RAW, drop wins over add");

    req.drop = all;
    req.n_drop = 1;
    req.add = kill;
    req.n_add = 1;
    is_int(caps_compute(&req, &caps, NULL), 0, "drop ALL, add KILL computes");
    is_int((long long)caps.bounding, (long long)BIT(CAP_KILL), "drop ALL then add KILL");

    req.add = all;
    req.drop = kill;
    is_int(caps_compute(&req, &caps, NULL), 0, "add ALL, drop KILL computes");
    ok(caps.bounding & BIT(CAP_SYS_ADMIN), "add ALL gives CAP_SYS_ADMIN");
    ok(!(caps.bounding & BIT(CAP_KILL)), "add ALL, drop KILL lacks CAP_KILL");

    memset(&req, 0, sizeof(req));
    req.ambient = ambient;
    req.n_ambient = 1;
    is_int(caps_compute(&req, &caps, NULL), 0, "ambient computes");
    is_int((long long)caps.ambient, (long long)BIT(CAP_NET_BIND_SERVICE), "ambient set");
    is_int((long long)caps.inheritable, (long long)BIT(CAP_NET_BIND_SERVICE),
           "inheritable holds the ambient capability");
    is_int((long long)caps.effective, (long long)BIT(CAP_NET_BIND_SERVICE),
           "non-root effective is the ambient set");

    req.add = bogus;
    req.n_add = 1;
    is_int(caps_compute(&req, &caps, &e), -1, "unknown added capability fails");
    is_int(err_grpc_status(e), GRPC_STATUS_INVALID_ARGUMENT,
           "unknown capability is INVALID_ARGUMENT");
    ok(e && strstr(e->msg, "'CAP_BOGUS'"), "message names it: %s", e ? e->msg : "");
    err_free(e);
}

int main(void)
{
    test_names();
    test_default();
    test_add_drop();
    return tap_done();
}
