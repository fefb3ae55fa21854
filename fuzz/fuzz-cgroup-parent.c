/*
 * libFuzzer target: cgroup_parent from a RunPodSandbox request, in both
 * driver forms.  The first byte picks the driver.  A parent that is
 * accepted must give an absolute path without ".." components, so no
 * pod can place its cgroup outside the hierarchy.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "platform/cgroup.h"
#include "util/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether the absolute path has a ".." component. */
static int has_dotdot(const char *path)
{
    for (const char *c = path; (c = strchr(c, '/')); c++) {
        if (c[1] == '.' && c[2] == '.' && (c[3] == '/' || c[3] == '\0'))
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum cgroup_driver driver;
    struct err *e = NULL;
    char *parent, *path = NULL;

    if (size < 1)
        return 0;
    driver = data[0] & 1 ? CGROUP_DRIVER_SYSTEMD : CGROUP_DRIVER_CGROUPFS;
    parent = xstrndup((const char *)data + 1, size - 1);
    if (cgroup_parent_path(parent, driver, &path, &e) == 0) {
        if (path[0] != '/' || has_dotdot(path))
            abort();
        free(path);
    } else {
        err_free(e);
    }
    free(parent);
    return 0;
}
