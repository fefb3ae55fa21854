/* Pod resolv.conf rendering, the files of a pod's state directory, and sysctl checks. */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "platform/platform.h"
#include "util/fs.h"
#include "util/xalloc.h"
#include "../tap.h"

static void test_resolv_conf(void)
{
    char server0[] = "10.96.0.10", server1[] = "fd00::a";
    char search0[] = "ns.svc.cluster.local", search1[] = "svc.cluster.local";
    char option0[] = "ndots:5", option1[] = "timeout:2";
    char *servers[] = {server0, server1};
    char *searches[] = {search0, search1};
    char *options[] = {option0, option1};
    struct pod_dns all = {servers, 2, searches, 2, options, 2};
    struct pod_dns only_servers = {servers, 1, NULL, 0, NULL, 0};
    struct pod_dns only_options = {NULL, 0, NULL, 0, options, 1};
    struct pod_dns empty = {0};
    char *text;

    text = pod_resolv_conf_render(&all);
    is_str(text,
           "search ns.svc.cluster.local svc.cluster.local\n"
           "nameserver 10.96.0.10\nnameserver fd00::a\n"
           "options ndots:5 timeout:2\n",
           "resolv.conf: search, then one nameserver line each, then options");
    free(text);
    text = pod_resolv_conf_render(&only_servers);
    is_str(text, "nameserver 10.96.0.10\n", "resolv.conf: servers only");
    free(text);
    text = pod_resolv_conf_render(&only_options);
    is_str(text, "options ndots:5\n", "resolv.conf: options only");
    free(text);
    ok(pod_resolv_conf_render(&empty) == NULL, "resolv.conf: empty DNSConfig renders nothing");
    ok(pod_resolv_conf_render(NULL) == NULL, "resolv.conf: no DNSConfig renders nothing");
}

static char *read_text(const char *dir, const char *name)
{
    char *path = path_join(dir, name), *data = NULL;
    size_t len;

    if (read_file(path, 65536, &data, &len, NULL) < 0)
        data = NULL;
    free(path);
    return data;
}

static void test_files(void)
{
    char dir[] = "/tmp/crisp-pod-files-XXXXXX";
    char server[] = "192.0.2.53";
    char *servers[] = {server};
    struct pod_dns dns = {servers, 1, NULL, 0, NULL, 0};
    struct pod_files f = {.state_dir = dir, .hostname = "web-0", .dns = &dns, .host_ipc = true};
    char *hosts_src, *resolv_src, *text, host[256] = "";
    struct err *e = NULL;

    if (!mkdtemp(dir)) {
        ok(0, "files: create a temporary directory");
        return;
    }
    hosts_src = path_join(dir, "host-hosts");
    resolv_src = path_join(dir, "host-resolv");
    write_file_atomic(hosts_src, "127.0.0.1 localhost\n10.0.0.1 node\n", 34, 0644, NULL);
    write_file_atomic(resolv_src, "nameserver 127.0.0.53\n", 22, 0644, NULL);
    f.host_hosts = hosts_src;
    f.host_resolv_conf = resolv_src;

    is_int(platform_pod_files_setup(&f, &e), 0, "files: set up with DNS and a hostname");
    text = read_text(dir, POD_FILE_HOSTNAME);
    is_str(text, "web-0\n", "files: hostname is the pod's");
    free(text);
    text = read_text(dir, POD_FILE_HOSTS);
    is_str(text, "127.0.0.1 localhost\n10.0.0.1 node\n", "files: hosts is the host's copy");
    free(text);
    text = read_text(dir, POD_FILE_RESOLV_CONF);
    is_str(text, "nameserver 192.0.2.53\n", "files: resolv.conf from the DNSConfig");
    free(text);
    ok(access(dir, F_OK) == 0 && read_text(dir, POD_FILE_SHM) == NULL,
       "files: no shm directory for host IPC");

    f.hostname = "";
    f.dns = NULL;
    is_int(platform_pod_files_setup(&f, &e), 0, "files: set up without DNS or hostname");
    gethostname(host, sizeof(host) - 1);
    text = read_text(dir, POD_FILE_HOSTNAME);
    {
        char *expected = xasprintf("%s\n", host);

        is_str(text, expected, "files: hostname is the host's when the pod has none");
        free(expected);
    }
    free(text);
    text = read_text(dir, POD_FILE_RESOLV_CONF);
    is_str(text, "nameserver 127.0.0.53\n", "files: resolv.conf is the host's copy");
    free(text);
    is_int(platform_pod_files_cleanup(dir, &e), 0, "files: cleanup without a mount succeeds");

    f.host_hosts = "/nonexistent/hosts";
    is_int(platform_pod_files_setup(&f, &e), -1, "files: missing host hosts file fails");
    ok(e && strstr(e->msg, "/nonexistent/hosts"), "files: message names the file: %s",
       e ? e->msg : "");
    err_free(e);

    rm_rf(dir, NULL);
    free(hosts_src);
    free(resolv_src);
}

static void test_sysctl_check(void)
{
    static const struct {
        const char *key;
        bool host_network;
        bool host_ipc;
        bool allowed;
    } cases[] = {
        {"kernel.shm_rmid_forced", false, false, true},
        {"kernel.shmmax", false, false, true},
        {"kernel.msgmax", false, false, true},
        {"kernel.sem", false, false, true},
        {"fs.mqueue.msg_max", false, false, true},
        {"kernel.shmmax", false, true, false},
        {"fs.mqueue.msg_max", true, true, false},
        {"kernel.shmmax", true, false, true},
        {"net.ipv4.ip_forward", false, false, true},
        {"net/ipv4/ip_forward", false, true, true},
        {"net.ipv4.ip_forward", true, false, false},
        {"kernel.domainname", false, false, true},
        {"kernel.domainname", true, false, false},
        {"kernel.hostname", false, false, false},
        {"kernel.pid_max", false, false, false},
        {"vm.swappiness", false, false, false},
        {"kernel.shm", false, false, false},
        {"net", false, false, false},
        {"", false, false, false},
        {"net..ipv4", false, false, false},
        {"net.ipv4.", false, false, false},
        {".net.ipv4", false, false, false},
        {"net/../../etc/passwd", false, false, false},
        {"net.ipv4.conf.all.forwarding x", false, false, false},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct err *e = NULL;
        int r = sysctl_check(cases[i].key, "1", cases[i].host_network, cases[i].host_ipc, &e);
        const char *where = cases[i].host_network ? (cases[i].host_ipc ? "host net+ipc" : "host net")
                            : cases[i].host_ipc  ? "host ipc"
                                                 : "pod namespaces";

        if (cases[i].allowed) {
            is_int(r, 0, "sysctl '%s' allowed with %s", cases[i].key, where);
        } else {
            is_int(r, -1, "sysctl '%s' rejected with %s", cases[i].key, where);
            is_int(err_grpc_status(e), GRPC_STATUS_INVALID_ARGUMENT,
                   "sysctl '%s' rejection is INVALID_ARGUMENT", cases[i].key);
            ok(e && strstr(e->msg, cases[i].key), "message names '%s': %s", cases[i].key,
               e ? e->msg : "");
        }
        err_free(e);
    }
}

static void test_sysctl_value_limit(void)
{
    char *value = xzalloc(SYSCTL_VALUE_MAX + 2);
    struct err *e = NULL;

    memset(value, '1', SYSCTL_VALUE_MAX);
    is_int(sysctl_check("kernel.sem", value, false, false, NULL), 0,
           "sysctl value of SYSCTL_VALUE_MAX bytes is allowed");
    value[SYSCTL_VALUE_MAX] = '1';
    is_int(sysctl_check("kernel.sem", value, false, false, &e), -1,
           "sysctl value over SYSCTL_VALUE_MAX bytes is rejected");
    is_int(err_grpc_status(e), GRPC_STATUS_INVALID_ARGUMENT, "long value is INVALID_ARGUMENT");
    err_free(e);
    free(value);
}

static void test_sysctl_paths(void)
{
    static const struct {
        const char *key;
        const char *dotted;
        const char *path;
    } cases[] = {
        {"kernel.shmmax", "kernel.shmmax", "/proc/sys/kernel/shmmax"},
        {"net.ipv4.ip_forward", "net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward"},
        {"net/ipv4/ip_forward", "net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward"},
        {"net/ipv4/conf/eth0.100/forwarding", "net.ipv4.conf.eth0/100.forwarding",
         "/proc/sys/net/ipv4/conf/eth0.100/forwarding"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *dotted = sysctl_key_normalize(cases[i].key);
        char *path = sysctl_proc_path(cases[i].key);

        ok(strcmp(dotted, cases[i].dotted) == 0, "sysctl '%s' normalizes to '%s' (got '%s')",
           cases[i].key, cases[i].dotted, dotted);
        ok(strcmp(path, cases[i].path) == 0, "sysctl '%s' is written to '%s' (got '%s')",
           cases[i].key, cases[i].path, path);
        free(dotted);
        free(path);
    }
}

int main(void)
{
    test_resolv_conf();
    test_files();
    test_sysctl_check();
    test_sysctl_value_limit();
    test_sysctl_paths();
    return tap_done();
}
