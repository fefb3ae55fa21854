/*
 * Pod sysctls: which keys a pod may set, and setting them from the pause
 * set-up child, which already runs in the pod's network and IPC
 * namespaces.  The rules are runc's (libcontainer/configs/validate): only
 * sysctls of a namespace the pod has its own copy of are allowed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "platform/platform.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

/* IPC namespace sysctls outside fs.mqueue.*, as runc lists them. */
static const char *const ipc_sysctls[] = {
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
    "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
};

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Letters, digits, '_', '-', '.' and '/', no empty or ".." component, no leading separator. */
static bool key_is_valid(const char *key)
{
    size_t len = strlen(key);
    const char *p = key;

    if (len == 0 || len > SYSCTL_KEY_MAX)
        return false;
    while (*p) {
        size_t n = strcspn(p, "./");

        if (n == 0 || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        for (size_t i = 0; i < n; i++) {
            char c = p[i];

            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-'))
                return false;
        }
        p += n;
        if (*p && !*++p)
            return false; /* trailing separator */
    }
    return true;
}

/*
 * Kubernetes and runc accept "net/ipv4/conf/eth0.100/forwarding" for a key
 * whose component contains a dot: when '/' comes before the first '.', the two
 * separators swap roles.
 */
static bool slash_separated(const char *key)
{
    size_t slash = strcspn(key, "/"), dot = strcspn(key, ".");

    return slash < dot;
}

char *sysctl_key_normalize(const char *key)
{
    char *dotted = xstrdup(key);

    if (!slash_separated(key))
        return dotted;
    for (char *p = dotted; *p; p++) {
        if (*p == '/')
            *p = '.';
        else if (*p == '.')
            *p = '/';
    }
    return dotted;
}

char *sysctl_proc_path(const char *key)
{
    char *path = xasprintf("/proc/sys/%s", key);

    if (slash_separated(key))
        return path;
    for (char *p = path + strlen("/proc/sys/"); *p; p++) {
        if (*p == '.')
            *p = '/';
    }
    return path;
}

int sysctl_check(const char *key, const char *value, bool host_network, bool host_ipc,
                 struct err **err)
{
    _cleanup_free_ char *dotted = NULL;

    if (!key_is_valid(key))
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "sysctl '%s': invalid name; expected dot- or slash-separated "
                          "components of letters, digits, '_' and '-'",
                          key);
    if (strlen(value) > SYSCTL_VALUE_MAX)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "sysctl '%s': value of %zu bytes exceeds the maximum of %d", key,
                          strlen(value), SYSCTL_VALUE_MAX);

    dotted = sysctl_key_normalize(key);
    for (size_t i = 0; i < sizeof(ipc_sysctls) / sizeof(ipc_sysctls[0]); i++) {
        if (strcmp(dotted, ipc_sysctls[i]) == 0)
            goto ipc;
    }
    if (starts_with(dotted, "fs.mqueue."))
        goto ipc;
    if (starts_with(dotted, "net.")) {
        if (host_network)
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "sysctl '%s' is not allowed in the host's network namespace", key);
        return 0;
    }
    /* A pod has a UTS namespace of its own unless it uses the host network. */
    if (strcmp(dotted, "kernel.domainname") == 0 && !host_network)
        return 0;
    if (strcmp(dotted, "kernel.hostname") == 0 && !host_network)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "sysctl '%s' is not allowed: set the pod's hostname instead", key);
    return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                      "sysctl '%s' is not in a separate kernel namespace of the pod", key);

ipc:
    if (host_ipc)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "sysctl '%s' is not allowed in the host's IPC namespace", key);
    return 0;
}

int sysctl_write(const char *key, const char *value, struct err **err)
{
    _cleanup_free_ char *path = sysctl_proc_path(key);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    size_t len = strlen(value);
    ssize_t n;

    if (fd < 0) {
        err_sys(err, "set sysctl '%s': open '%s'", key, path);
        goto invalid;
    }
    n = write(fd, value, len);
    if (n < 0) {
        err_sys(err, "set sysctl '%s' to '%s'", key, value);
        goto invalid;
    }
    if ((size_t)n != len) {
        err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                   "set sysctl '%s': wrote %zd of the %zu bytes of its value", key, n, len);
        return -1;
    }
    return 0;

invalid:
    /* An unknown key (ENOENT) or a value the kernel rejects (EINVAL) is the request's fault. */
    if (err && *err &&
        ((*err)->errnum == ENOENT || (*err)->errnum == EINVAL || (*err)->errnum == ERANGE))
        (*err)->status = GRPC_STATUS_INVALID_ARGUMENT;
    return -1;
}
