/*
 * The cgroup v2 device program on the running kernel: attach containerd's
 * default rules to a new cgroup2 directory and open devices from a child
 * in it.  Runs on a v2 host and on a v1 host with the hybrid
 * /sys/fs/cgroup/unified mount; skips (77) elsewhere or without root.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/magic.h>

#include "platform/cgroup-internal.h"
#include "../00unit/tap.h"

/* Open path in a child that joined dir; returns 0 or the errno of the open. */
static int open_in_cgroup(const char *dir, const char *path, int flags)
{
    pid_t pid = fork();
    int status;

    if (pid == 0) {
        char procs[4096], value[32];
        int fd;

        snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
        snprintf(value, sizeof(value), "%d", (int)getpid());
        if (cgroup_write_file(procs, value) < 0)
            _exit(255);
        fd = open(path, flags | O_CLOEXEC);
        _exit(fd < 0 ? errno : 0);
    }
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static const char *cgroup2_root(void)
{
    static const char *const candidates[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
    struct statfs sfs;

    for (size_t i = 0; i < 2; i++) {
        if (statfs(candidates[i], &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
            return candidates[i];
    }
    return NULL;
}

int main(void)
{
    const char *root = cgroup2_root();
    struct err *e = NULL;
    char dir[4096];

    if (geteuid() != 0 || !root) {
        printf("1..0 # SKIP needs root and a cgroup2 mount\n");
        return 77;
    }
    snprintf(dir, sizeof(dir), "%s/crisp-devices-test-%d", root, (int)getpid());
    if (mkdir(dir, 0755) < 0) {
        printf("1..0 # SKIP cannot create cgroup '%s': %s\n", dir, strerror(errno));
        return 77;
    }

    is_int(cgroup_devices_attach(dir, cgroup_default_device_rules, cgroup_n_default_device_rules,
                                 &e),
           0, "default rules attach to '%s'", dir);
    if (e)
        diag("%s", e->msg);
    is_int(open_in_cgroup(dir, "/dev/null", O_RDWR), 0, "/dev/null opens read-write");
    is_int(open_in_cgroup(dir, "/dev/zero", O_RDONLY), 0, "/dev/zero opens");
    is_int(open_in_cgroup(dir, "/dev/kmsg", O_RDONLY), EPERM, "/dev/kmsg is denied with EPERM");

    err_free(e);
    if (rmdir(dir) < 0)
        diag("cannot remove '%s': %s", dir, strerror(errno));
    return tap_done();
}
