/* Unit tests of the pure parts of cgroup.h: parent paths, shares to weight, rendered files. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "platform/cgroup.h"
#include "../tap.h"
#include "util/strbuf.h"

static void check_parent(const char *parent, enum cgroup_driver driver, const char *expected)
{
    struct err *e = NULL;
    char *path = NULL;
    int r = cgroup_parent_path(parent, driver, &path, &e);

    if (expected) {
        is_int(r, 0, "parent '%s' accepted", parent);
        is_str(path, expected, "parent '%s' maps to '%s'", parent, expected);
    } else {
        is_int(r, -1, "parent '%s' rejected", parent);
        is_int(e ? err_grpc_status(e) : 0, GRPC_STATUS_INVALID_ARGUMENT,
               "parent '%s' rejected with INVALID_ARGUMENT", parent);
    }
    free(path);
    err_free(e);
}

static void test_parent_paths(void)
{
    check_parent("/kubepods/burstable/pod123", CGROUP_DRIVER_CGROUPFS,
                 "/kubepods/burstable/pod123");
    check_parent("kubepods//burstable/", CGROUP_DRIVER_CGROUPFS, "/kubepods/burstable");
    check_parent("", CGROUP_DRIVER_CGROUPFS, "/crisp");
    check_parent("/", CGROUP_DRIVER_CGROUPFS, "/");
    check_parent("/kubepods/../etc", CGROUP_DRIVER_CGROUPFS, NULL);
    check_parent("/kubepods/./x", CGROUP_DRIVER_CGROUPFS, NULL);
    check_parent("/a..b/c.slice", CGROUP_DRIVER_CGROUPFS, "/a..b/c.slice");

    check_parent("kubepods-burstable-pod123.slice", CGROUP_DRIVER_SYSTEMD,
                 "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod123.slice");
    check_parent("kubepods.slice", CGROUP_DRIVER_SYSTEMD, "/kubepods.slice");
    check_parent("-.slice", CGROUP_DRIVER_SYSTEMD, "/");
    check_parent("", CGROUP_DRIVER_SYSTEMD, "/crisp.slice");
    check_parent("/kubepods/burstable", CGROUP_DRIVER_SYSTEMD, NULL);
    check_parent("kubepods--x.slice", CGROUP_DRIVER_SYSTEMD, NULL);
    check_parent("-kubepods.slice", CGROUP_DRIVER_SYSTEMD, NULL);
    check_parent("kubepods-.slice", CGROUP_DRIVER_SYSTEMD, NULL);
    check_parent(".slice", CGROUP_DRIVER_SYSTEMD, NULL);
    check_parent("kubepods", CGROUP_DRIVER_SYSTEMD, NULL);
    check_parent("a/b.slice", CGROUP_DRIVER_SYSTEMD, NULL);
}

static void test_shares_to_weight(void)
{
    is_int(cgroup_shares_to_weight(0), 0, "shares 0 (unset) gives no weight");
    is_int(cgroup_shares_to_weight(2), 1, "shares 2 give weight 1");
    is_int(cgroup_shares_to_weight(1), 1, "shares 1 are raised to 2, weight 1");
    is_int(cgroup_shares_to_weight(1024), 39, "shares 1024 give weight 39");
    is_int(cgroup_shares_to_weight(512), 20, "shares 512 give weight 20");
    is_int(cgroup_shares_to_weight(262144), 10000, "shares 262144 give weight 10000");
    is_int(cgroup_shares_to_weight(1000000), 10000, "shares above 262144 give weight 10000");
}

/* The writes as "file=value" lines, optional ones marked with '?'. */
static char *render(int version, const struct cgroup_resources *res, int *ret, struct err **err)
{
    struct cgroup_writes w = {0};
    struct strbuf b = STRBUF_INIT;

    *ret = cgroup_render(version, res, &w, err);
    for (size_t i = 0; i < w.n; i++)
        strbuf_printf(&b, "%s%s=%s\n", w.items[i].optional ? "?" : "", w.items[i].file,
                      w.items[i].value);
    cgroup_writes_done(&w);
    return strbuf_take(&b);
}

static void check_render(int version, const struct cgroup_resources *res, const char *expected,
                         const char *name)
{
    struct err *e = NULL;
    int r;
    char *text = render(version, res, &r, &e);

    is_int(r, 0, "v%d %s: rendered", version, name);
    is_str(text, expected, "v%d %s: files", version, name);
    free(text);
    err_free(e);
}

static void check_render_fails(int version, const struct cgroup_resources *res, const char *name)
{
    struct err *e = NULL;
    int r;
    char *text = render(version, res, &r, &e);

    is_int(r, -1, "v%d %s: rejected", version, name);
    is_int(e ? err_grpc_status(e) : 0, GRPC_STATUS_INVALID_ARGUMENT,
           "v%d %s: INVALID_ARGUMENT", version, name);
    is_str(text, "", "v%d %s: no writes", version, name);
    free(text);
    err_free(e);
}

static void test_render(void)
{
    static const struct cgroup_hugepage pages[] = {{"2MB", 4194304}};
    static const struct cgroup_unified unified[] = {{"memory.high", "8388608"},
                                                    {"pids.max", "7"}};
    struct cgroup_resources full = {
        .cpu_shares = 512,
        .cpu_quota = 50000,
        .cpu_period = 100000,
        .cpuset_cpus = "0",
        .cpuset_mems = "0",
        .memory_limit = 16777216,
        .memory_swap_limit = 33554432,
        .pids_limit = 64,
        .hugepages = pages,
        .n_hugepages = 1,
    };
    struct cgroup_resources res;

    check_render(1, &(struct cgroup_resources){0}, "", "nothing set");
    check_render(2, &(struct cgroup_resources){0}, "", "nothing set");

    check_render(1, &full,
                 "cpu.shares=512\ncpu.cfs_period_us=100000\ncpu.cfs_quota_us=50000\n"
                 "cpuset.cpus=0\ncpuset.mems=0\nmemory.limit_in_bytes=16777216\n"
                 "?memory.memsw.limit_in_bytes=33554432\npids.max=64\n"
                 "hugetlb.2MB.limit_in_bytes=4194304\n",
                 "every limit");
    check_render(2, &full,
                 "cpu.weight=20\ncpu.max=50000 100000\ncpuset.cpus=0\ncpuset.mems=0\n"
                 "?memory.swap.max=16777216\nmemory.max=16777216\npids.max=64\n"
                 "hugetlb.2MB.max=4194304\n",
                 "every limit");

    res = (struct cgroup_resources){.cpu_quota = -1};
    check_render(1, &res, "cpu.cfs_quota_us=-1\n", "unlimited quota");
    check_render(2, &res, "cpu.max=max\n", "unlimited quota");
    res = (struct cgroup_resources){.cpu_period = 20000};
    check_render(2, &res, "cpu.max=max 20000\n", "period only");

    res = (struct cgroup_resources){.memory_limit = 16777216, .memory_swap_limit = 16777216};
    check_render(1, &res, "memory.limit_in_bytes=16777216\n?memory.memsw.limit_in_bytes=16777216\n",
                 "swap equal to memory");
    check_render(2, &res, "?memory.swap.max=0\nmemory.max=16777216\n", "swap equal to memory");

    res = (struct cgroup_resources){.memory_limit = -1};
    check_render(1, &res, "memory.limit_in_bytes=-1\n?memory.memsw.limit_in_bytes=-1\n",
                 "unlimited memory");
    check_render(2, &res, "?memory.swap.max=max\nmemory.max=max\n", "unlimited memory");

    res = (struct cgroup_resources){.pids_limit = -1};
    check_render(1, &res, "pids.max=max\n", "unlimited pids");
    check_render(2, &res, "pids.max=max\n", "unlimited pids");

    res = (struct cgroup_resources){.memory_limit = 8388608, .unified = unified, .n_unified = 2};
    check_render(2, &res, "memory.max=8388608\nmemory.high=8388608\npids.max=7\n",
                 "unified keys last");
    check_render_fails(1, &res, "unified keys");

    res = (struct cgroup_resources){.unified = &(struct cgroup_unified){"cgroup.procs", "1"},
                                    .n_unified = 1};
    check_render_fails(2, &res, "unified cgroup.procs");
    res.unified = &(struct cgroup_unified){"../memory.max", "1"};
    check_render_fails(2, &res, "unified key with a slash");
    res.unified = &(struct cgroup_unified){"memorymax", "1"};
    check_render_fails(2, &res, "unified key without a dot");

    res = (struct cgroup_resources){.memory_limit = 33554432, .memory_swap_limit = 16777216};
    check_render_fails(2, &res, "swap below memory");
    res = (struct cgroup_resources){.memory_swap_limit = 16777216};
    check_render_fails(2, &res, "swap without memory");

    res = (struct cgroup_resources){.cpuset_cpus = "0\n1"};
    check_render_fails(1, &res, "cpuset with a newline");
    res = (struct cgroup_resources){.cpu_shares = -5};
    check_render_fails(2, &res, "negative shares");
    res = (struct cgroup_resources){.cpu_quota = -2};
    check_render_fails(1, &res, "quota below -1");
    res = (struct cgroup_resources){.hugepages = &(struct cgroup_hugepage){"2M/../x", 1},
                                    .n_hugepages = 1};
    check_render_fails(1, &res, "hugepage size with a slash");
}

int main(void)
{
    test_parent_paths();
    test_shares_to_weight();
    test_render();
    return tap_done();
}
