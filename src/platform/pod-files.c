/*
 * The files a pod's containers share, kept in the pod's state directory as
 * containerd's CRI plugin keeps them in its sandbox directory: resolv.conf,
 * hosts, hostname and a tmpfs for /dev/shm.  The container set-up binds
 * them in place (see the handlers' pod settings).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform/platform.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

/* Host files copied into a pod are small, so a larger one is rejected rather than read whole. */
#define HOST_FILE_MAX_SIZE (1024 * 1024)

static void append_joined(struct strbuf *sb, const char *first, char **items, size_t n,
                          const char *sep)
{
    strbuf_append(sb, first);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            strbuf_append(sb, sep);
        strbuf_append(sb, items[i]);
    }
    strbuf_append(sb, "\n");
}

char *pod_resolv_conf_render(const struct pod_dns *dns)
{
    struct strbuf sb = STRBUF_INIT;

    if (!dns)
        return NULL;
    if (dns->n_searches > 0)
        append_joined(&sb, "search ", dns->searches, dns->n_searches, " ");
    if (dns->n_servers > 0)
        append_joined(&sb, "nameserver ", dns->servers, dns->n_servers, "\nnameserver ");
    if (dns->n_options > 0)
        append_joined(&sb, "options ", dns->options, dns->n_options, " ");
    if (!sb.len) {
        strbuf_done(&sb);
        return NULL;
    }
    return strbuf_take(&sb);
}

/* Copy the host file src to dst (mode 0644). */
static int copy_host_file(const char *src, const char *dst, struct err **err)
{
    _cleanup_free_ char *data = NULL;
    size_t len = 0;

    if (read_file(src, HOST_FILE_MAX_SIZE, &data, &len, err) < 0)
        return err_wrap(err, "copy the host's '%s' into the pod", src);
    return write_file_atomic(dst, data, len, 0644, err);
}

static int write_text(const char *dir, const char *name, const char *text, struct err **err)
{
    _cleanup_free_ char *path = path_join(dir, name);

    return write_file_atomic(path, text, strlen(text), 0644, err);
}

static int write_hostname(const struct pod_files *f, struct err **err)
{
    _cleanup_free_ char *text = NULL;
    char host[HOST_NAME_MAX + 1];

    if (f->hostname && f->hostname[0]) {
        text = xasprintf("%s\n", f->hostname);
    } else {
        if (gethostname(host, sizeof(host)) < 0)
            return err_sys(err, "get the host's hostname");
        host[sizeof(host) - 1] = '\0';
        text = xasprintf("%s\n", host);
    }
    return write_text(f->state_dir, POD_FILE_HOSTNAME, text, err);
}

static int write_resolv_conf(const struct pod_files *f, struct err **err)
{
    _cleanup_free_ char *path = path_join(f->state_dir, POD_FILE_RESOLV_CONF);
    _cleanup_free_ char *text = pod_resolv_conf_render(f->dns);

    if (!text)
        return copy_host_file(f->host_resolv_conf, path, err);
    return write_file_atomic(path, text, strlen(text), 0644, err);
}

static int mount_shm(const struct pod_files *f, struct err **err)
{
    _cleanup_free_ char *path = path_join(f->state_dir, POD_FILE_SHM);
    _cleanup_free_ char *options = xasprintf("mode=1777,size=%llu",
                                             (unsigned long long)POD_SHM_SIZE);

    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return err_sys(err, "create directory '%s'", path);
    if (mount("shm", path, "tmpfs", MS_NOEXEC | MS_NOSUID | MS_NODEV, options) < 0)
        return err_sys(err, "mount tmpfs for the pod's /dev/shm on '%s'", path);
    return 0;
}

int platform_pod_files_setup(const struct pod_files *f, struct err **err)
{
    _cleanup_free_ char *hosts = path_join(f->state_dir, POD_FILE_HOSTS);

    if (write_hostname(f, err) < 0 || copy_host_file(f->host_hosts, hosts, err) < 0 ||
        write_resolv_conf(f, err) < 0)
        return -1;
    if (!f->host_ipc && mount_shm(f, err) < 0)
        return -1;
    return 0;
}

int platform_pod_files_cleanup(const char *state_dir, struct err **err)
{
    _cleanup_free_ char *path = path_join(state_dir, POD_FILE_SHM);

    /* EINVAL is not a mount point (host IPC, or already unmounted), ENOENT never created. */
    if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        return err_sys(err, "unmount the pod's /dev/shm at '%s'", path);
    return 0;
}
