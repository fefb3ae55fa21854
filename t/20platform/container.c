/*
 * Pods and containers on the real kernel (root): a pause process in new
 * namespaces, containers on a busybox rootfs joined to it, their logs,
 * exit codes and set-up errors.  Skips (77) when not root or without
 * overlayfs or a static /bin/busybox.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "platform/cgroup.h"
#include "platform/platform.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"
#include "../00unit/tap.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define HOSTNAME "crisp-test-pod"

static struct event_base *base;
static char tmp[] = "/tmp/crisp-platform.XXXXXX";
static char *lower_bottom, *lower_top, *host_dir;
static struct pod_proc pod = {-1, -1};
static char **env;

/* ---- running the loop until a callback has fired ---- */

static bool timed_out;

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    timed_out = true;
}

/* Run the loop until *flag is set or 10 s pass; return whether *flag got set. */
static bool run_until(const bool *flag)
{
    struct timeval tv = {10, 0};
    struct event *timer = evtimer_new(base, on_timeout, NULL);

    timed_out = false;
    evtimer_add(timer, &tv);
    while (!*flag && !timed_out)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(timer);
    return *flag;
}

/* ---- fixtures ---- */

/* A NULL-terminated vector of copies of the arguments, which end with NULL. */
static char **strv_new(const char *first, ...)
{
    char **v = xnew(char *, 1);
    size_t n = 0;
    va_list ap;

    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *)) {
        v = xrealloc(v, (n + 2) * sizeof(*v));
        v[n++] = xstrdup(s);
    }
    va_end(ap);
    v[n] = NULL;
    return v;
}

static int write_text(const char *dir, const char *name, const char *text)
{
    char *path = path_join(dir, name);
    int r = write_file_atomic(path, text, strlen(text), 0644, NULL);

    free(path);
    return r;
}

/* Two layers: busybox with its applets below, a small /etc on top overriding /etc/motd. */
static bool make_layers(void)
{
    static const char *const applets[] = {"sh", "echo", "cat", "ls", "hostname", "sleep",
                                          "touch", "id", NULL};
    char *bin, *busybox;
    bool good = true;

    lower_bottom = path_join(tmp, "layers/bottom");
    lower_top = path_join(tmp, "layers/top");
    bin = path_join(lower_bottom, "bin");
    busybox = path_join(bin, "busybox");
    good = mkdir_p(bin, 0755, NULL) == 0 && mkdir_p(lower_top, 0755, NULL) == 0;
    if (good) {
        char *data = NULL;
        size_t len = 0;

        good = read_file("/bin/busybox", 16 << 20, &data, &len, NULL) == 0 &&
               write_file_atomic(busybox, data, len, 0755, NULL) == 0;
        free(data);
    }
    for (int i = 0; good && applets[i]; i++) {
        char *link = path_join(bin, applets[i]);

        good = symlink("busybox", link) == 0;
        free(link);
    }
    if (good) {
        char *etc_bottom = path_join(lower_bottom, "etc");
        char *etc_top = path_join(lower_top, "etc");

        good = mkdir_p(etc_bottom, 0755, NULL) == 0 && mkdir_p(etc_top, 0755, NULL) == 0 &&
               write_text(etc_bottom, "passwd", "root:x:0:0:root:/root:/bin/sh\n") == 0 &&
               write_text(etc_bottom, "motd", "bottom\n") == 0 &&
               write_text(etc_top, "motd", "top\n") == 0;
        free(etc_bottom);
        free(etc_top);
    }
    host_dir = path_join(tmp, "host");
    good = good && mkdir_p(host_dir, 0755, NULL) == 0 &&
           write_text(host_dir, "file", "from host\n") == 0;
    free(bin);
    free(busybox);
    return good;
}

static char *pause_path(void)
{
    const char *dir = getenv("CRISP_BUILDDIR");

    return path_join(dir && dir[0] ? dir : CRISP_TEST_BUILDDIR, "crisp-pause");
}

/* Lines of the host's mount table whose mount point contains needle. */
static int host_mounts_containing(const char *needle)
{
    char *text = NULL;
    size_t len = 0;
    int count = 0;

    if (read_file("/proc/self/mountinfo", 1 << 22, &text, &len, NULL) < 0)
        return -1;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strstr(line, needle))
            count++;
    }
    free(text);
    return count;
}

static char *ns_link(pid_t pid, const char *type)
{
    char path[64], target[128];
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, type);
    n = readlink(path, target, sizeof(target) - 1);
    if (n < 0)
        return xstrdup("(unreadable)");
    target[n] = '\0';
    return xstrdup(target);
}

/* ---- pod ---- */

static bool pod_done;
static struct err *pod_err;

static void on_pod_started(void *data, const struct pod_proc *proc, const struct err *e)
{
    (void)data;
    pod_done = true;
    if (proc)
        pod = *proc;
    if (e)
        pod_err = xmemdup(e, sizeof(*e)), pod_err->msg = xstrdup(e->msg);
}

/* In a forked child: join pid's UTS and network namespaces, report hostname and lo flags. */
static void probe_pod(pid_t pid, char *hostname, size_t size, int *lo_flags)
{
    int pipefd[2];
    pid_t child;

    *lo_flags = -1;
    hostname[0] = '\0';
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return;
    child = fork();
    if (child == 0) {
        char path[64], name[256] = "";
        struct ifreq ifr;
        int fd, sock, flags = -1;

        snprintf(path, sizeof(path), "/proc/%d/ns/uts", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0 && setns(fd, CLONE_NEWUTS) == 0)
            gethostname(name, sizeof(name) - 1);
        snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        sock = -1;
        if (fd >= 0 && setns(fd, CLONE_NEWNET) == 0)
            sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        memset(&ifr, 0, sizeof(ifr));
        strcpy(ifr.ifr_name, "lo");
        if (sock >= 0 && ioctl(sock, SIOCGIFFLAGS, &ifr) == 0)
            flags = ifr.ifr_flags;
        if (write(pipefd[1], &flags, sizeof(flags)) < 0 || write(pipefd[1], name, 256) < 0)
            _exit(1);
        _exit(0);
    }
    close(pipefd[1]);
    if (read(pipefd[0], lo_flags, sizeof(*lo_flags)) != sizeof(*lo_flags) ||
        read(pipefd[0], hostname, size) <= 0)
        hostname[0] = '\0';
    hostname[size - 1] = '\0';
    close(pipefd[0]);
    waitpid(child, NULL, 0);
}

static bool test_pod(void)
{
    char *pause = pause_path();
    struct pod_spec spec = {
        .id = "pod1",
        .hostname = HOSTNAME,
        .pod_pid_namespace = true,
        .pause_path = pause,
        .state_dir = tmp,
    };
    struct err *e = NULL;
    char hostname[256];
    int lo_flags;

    ok(platform_pod_start(base, &spec, on_pod_started, NULL, &e) == 0, "pod: start request");
    ok(!pod_done, "pod: callback does not run before start returns");
    ok(run_until(&pod_done), "pod: callback runs");
    ok(pod_err == NULL, "pod: pause started: %s", pod_err ? pod_err->msg : "no error");
    free(pause);
    if (pod.pid <= 0)
        return false;

    for (int i = 0; i < 4; i++) {
        static const char *const types[] = {"net", "uts", "ipc", "pid"};
        char *mine = ns_link(getpid(), types[i]), *theirs = ns_link(pod.pid, types[i]);

        ok(strcmp(mine, theirs) != 0, "pod: pause has its own %s namespace (%s)", types[i],
           theirs);
        free(mine);
        free(theirs);
    }
    {
        char *mine = ns_link(getpid(), "mnt"), *theirs = ns_link(pod.pid, "mnt");

        is_str(theirs, mine, "pod: pause shares the host mount namespace");
        free(mine);
        free(theirs);
    }

    probe_pod(pod.pid, hostname, sizeof(hostname), &lo_flags);
    is_str(hostname, HOSTNAME, "pod: hostname is the requested one");
    ok(lo_flags >= 0 && (lo_flags & IFF_UP), "pod: loopback is up (flags %#x)", lo_flags);
    return true;
}

static void test_pod_bad_pause(void)
{
    struct pod_spec spec = {
        .id = "pod-bad",
        .hostname = HOSTNAME,
        .pause_path = "/nonexistent/crisp-pause",
        .state_dir = tmp,
    };
    struct err *e = NULL;

    pod_done = false;
    ok(platform_pod_start(base, &spec, on_pod_started, NULL, &e) == 0,
       "pod with missing pause: start request");
    ok(run_until(&pod_done), "pod with missing pause: callback runs");
    ok(pod_err && strstr(pod_err->msg, "exec pause binary '/nonexistent/crisp-pause'"),
       "pod with missing pause: error names the binary (%s)", pod_err ? pod_err->msg : "none");
    is_int(pod_err ? pod_err->errnum : 0, ENOENT, "pod with missing pause: errno is ENOENT");
    if (pod_err) {
        free(pod_err->msg);
        free(pod_err);
    }
    pod_err = NULL;
}

/* ---- containers ---- */

struct ctr_run {
    const char *name;
    char *bundle;
    bool created, started, exited, log_done;
    struct ctr_proc *proc;
    char *create_err, *start_err;
    int exit_code, signal;
    struct proc_watch *watch;
    struct log_pump *pump;
    char *log_path;
};

static void on_created(void *data, struct ctr_proc *proc, const struct err *e)
{
    struct ctr_run *run = data;

    run->created = true;
    run->proc = proc;
    if (e)
        run->create_err = err_text(e);
}

static void on_started(void *data, struct ctr_proc *proc, const struct err *e)
{
    struct ctr_run *run = data;

    (void)proc;
    run->started = true;
    if (e)
        run->start_err = err_text(e);
}

static void on_exited(void *data, pid_t pid, int exit_code, int sig)
{
    struct ctr_run *run = data;

    (void)pid;
    run->exited = true;
    run->exit_code = exit_code;
    run->signal = sig;
}

static void on_log_done(void *data)
{
    ((struct ctr_run *)data)->log_done = true;
}

static void spec_init(struct ctr_spec *spec, struct ctr_run *run, char **argv)
{
    static char *lowers[3];

    if (!env)
        env = strv_new("PATH=/usr/bin:/bin", "FOO=bar", NULL);
    lowers[0] = lower_top;
    lowers[1] = lower_bottom;
    lowers[2] = NULL;
    memset(spec, 0, sizeof(*spec));
    spec->id = run->name;
    run->bundle = path_join(tmp, run->name);
    spec->bundle_dir = run->bundle;
    spec->lowerdirs = lowers;
    spec->argv = argv;
    spec->envp = env;
    spec->cwd = "/";
    spec->hostname = HOSTNAME;
    spec->pod_pid = pod.pid;
    spec->pod_pidfd = pod.pidfd;
    spec->join_pod_network = true;
    spec->join_pod_ipc = true;
    spec->stdout_fd = -1;
    spec->stderr_fd = -1;
}

/* Create with stdout/stderr piped into a log pump; return whether it is parked. */
static bool create(struct ctr_run *run, struct ctr_spec *spec)
{
    int out[2], errp[2];
    struct err *e = NULL;

    run->log_path = xasprintf("%s/logs/%s.log", tmp, run->name);
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
        return false;
    spec->stdout_fd = out[1];
    spec->stderr_fd = errp[1];
    ok(platform_ctr_create(base, spec, on_created, run, &e) == 0, "%s: create request",
       run->name);
    close(out[1]);
    close(errp[1]);
    run->pump = log_pump_new(base, run->log_path, out[0], errp[0], on_log_done, run, &e);
    ok(run->pump != NULL, "%s: log pump starts", run->name);
    ok(run_until(&run->created), "%s: create callback runs", run->name);
    if (run->proc)
        run->watch = proc_watch_new(base, run->proc->pid, run->proc->pidfd, on_exited, run);
    err_free(e);
    return run->proc != NULL;
}

static void start_and_wait(struct ctr_run *run)
{
    struct err *e = NULL;

    ok(platform_ctr_start(base, run->proc, on_started, run, &e) == 0, "%s: start request",
       run->name);
    ok(run_until(&run->started), "%s: start callback runs", run->name);
    ok(run_until(&run->exited), "%s: exit is seen", run->name);
    ok(run_until(&run->log_done), "%s: log pump reaches end of file", run->name);
    err_free(e);
}

/* The log's records of one stream, without timestamps; each timestamp's format is checked. */
static char *log_stream(struct ctr_run *run, const char *stream, bool *stamps_ok)
{
    struct strbuf out = STRBUF_INIT;
    char *text = NULL;
    size_t len = 0, slen = strlen(stream);

    *stamps_ok = true;
    if (read_file(run->log_path, 1 << 20, &text, &len, NULL) < 0)
        return strbuf_take(&out);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        int year, mon, day, hour, min, sec, nsec_len = 0;
        char z = 0;

        if (sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d.%*9[0-9]%n%c", &year, &mon, &day, &hour, &min,
                   &sec, &nsec_len, &z) != 7 ||
            nsec_len != 29 || z != 'Z' || line[30] != ' ')
            *stamps_ok = false;
        if (strlen(line) > 31 && strncmp(line + 31, stream, slen) == 0 && line[31 + slen] == ' ') {
            strbuf_append(&out, line + 32 + slen);
            strbuf_add(&out, "\n", 1);
        }
    }
    free(text);
    return strbuf_take(&out);
}

static void run_done(struct ctr_run *run)
{
    struct err *e = NULL;

    proc_watch_free(run->watch);
    log_pump_free(run->pump);
    platform_ctr_free(run->proc);
    ok(platform_ctr_cleanup(run->bundle, &e) == 0, "%s: cleanup succeeds", run->name);
    ok(access(run->bundle, F_OK) < 0 && errno == ENOENT, "%s: cleanup removes the bundle",
       run->name);
    is_int(host_mounts_containing(run->bundle), 0, "%s: nothing mounted under the bundle",
           run->name);
    err_free(e);
    free(run->bundle);
    free(run->log_path);
    free(run->create_err);
    free(run->start_err);
}

static void test_echo_container(void)
{
    _cleanup_strv_free_ char **argv = strv_new("sh", "-c",
                    "echo out; echo err >&2; hostname; cat /proc/self/uid_map; ls /; echo $FOO",
                    NULL);
    struct ctr_run run = {.name = "echo"};
    struct ctr_spec spec;
    char *text, *mine, *theirs;
    bool stamps_ok;

    spec_init(&spec, &run, argv);
    if (!create(&run, &spec)) {
        ok(0, "echo: created: %s", run.create_err ? run.create_err : "no process");
        run_done(&run);
        return;
    }

    for (int i = 0; i < 3; i++) {
        static const char *const types[] = {"net", "uts", "ipc"};

        mine = ns_link(pod.pid, types[i]);
        theirs = ns_link(run.proc->pid, types[i]);
        is_str(theirs, mine, "echo: container joins the pod's %s namespace", types[i]);
        free(mine);
        free(theirs);
    }
    mine = ns_link(getpid(), "mnt");
    theirs = ns_link(run.proc->pid, "mnt");
    ok(strcmp(mine, theirs) != 0, "echo: container has its own mount namespace");
    free(mine);
    free(theirs);
    ok(host_mounts_containing(run.bundle) == 0, "echo: rootfs overlay is not in the host table");

    start_and_wait(&run);
    is_str(run.start_err, NULL, "echo: start reports no error");
    is_int(run.exit_code, 0, "echo: exit code 0");
    is_int(run.signal, 0, "echo: no signal");

    text = log_stream(&run, "stdout", &stamps_ok);
    is_str(text,
           "F out\nF " HOSTNAME "\nF          0          0 4294967295\n"
           "F bin\nF dev\nF etc\nF proc\nF sys\nF bar\n",
           "echo: stdout log records");
    free(text);
    text = log_stream(&run, "stderr", &stamps_ok);
    is_str(text, "F err\n", "echo: stderr log records");
    free(text);
    ok(stamps_ok, "echo: every record has an RFC 3339 nanosecond UTC timestamp");
    is_int(host_mounts_containing(run.bundle), 0, "echo: no rootfs mount left after exit");
    run_done(&run);
}

/* Joins the pod's PID namespace, reads a read-only bind mount and the top layer's /etc/motd. */
static void test_pod_pid_and_mounts(void)
{
    _cleanup_strv_free_ char **argv = strv_new("sh", "-c",
                    "cat /proc/1/comm /etc/motd /data/file /etc/hostname; "
                    "touch /data/new 2>/dev/null || echo read-only; pwd; id -u",
                    NULL);
    struct ctr_mount mounts[1];
    struct ctr_run run = {.name = "podpid"};
    struct ctr_spec spec;
    bool stamps_ok;
    char *text;

    spec_init(&spec, &run, argv);
    mounts[0] = (struct ctr_mount){host_dir, "/data", true, MOUNT_PROPAGATION_PRIVATE};
    spec.mounts = mounts;
    spec.n_mounts = 1;
    spec.join_pod_pid = true;
    spec.cwd = "/work/dir";
    spec.uid = 1000;
    spec.gid = 1000;
    if (!create(&run, &spec)) {
        ok(0, "podpid: created: %s", run.create_err ? run.create_err : "no process");
        run_done(&run);
        return;
    }
    {
        char *mine = ns_link(pod.pid, "pid"), *theirs = ns_link(run.proc->pid, "pid");

        is_str(theirs, mine, "podpid: container joins the pod's PID namespace");
        free(mine);
        free(theirs);
    }
    start_and_wait(&run);
    is_int(run.exit_code, 0, "podpid: exit code 0");
    text = log_stream(&run, "stdout", &stamps_ok);
    is_str(text,
           "F crisp-pause\nF top\nF from host\nF " HOSTNAME "\nF read-only\nF /work/dir\n"
           "F 1000\n",
           "podpid: pause is PID 1, top layer wins, bind is read-only, cwd and uid set");
    free(text);
    ok(access(lower_top, F_OK) == 0, "podpid: layers stay in place");
    run_done(&run);
}

/*
 * 200 layers whose joined "lowerdir=" string is over 4 KiB, more than
 * mount(2) takes in one page: mounted with one "lowerdir+" per layer.
 */
/* Whether the running kernel's release is major.minor or newer. */
static bool kernel_at_least(int major, int minor)
{
    struct utsname u;
    int got_major = 0, got_minor = 0;

    if (uname(&u) < 0 || sscanf(u.release, "%d.%d", &got_major, &got_minor) != 2)
        return false;
    return got_major > major || (got_major == major && got_minor >= minor);
}

static void test_many_layers(void)
{
    _cleanup_strv_free_ char **argv = strv_new("cat", "/etc/motd", NULL);
    char **lowers = xnew(char *, 203);
    struct ctr_run run = {.name = "manylayers"};
    struct ctr_spec spec;
    size_t joined = 0;
    bool stamps_ok;
    char *text;

    spec_init(&spec, &run, argv);
    lowers[0] = xstrdup(lower_top);
    for (int i = 1; i <= 200; i++) {
        lowers[i] = xasprintf("%s/layers/empty-layer-with-a-long-name-%03d", tmp, i);
        mkdir_p(lowers[i], 0755, NULL);
        joined += strlen(lowers[i]) + 1;
    }
    lowers[201] = xstrdup(lower_bottom);
    lowers[202] = NULL;
    spec.lowerdirs = lowers;
    ok(joined > 4096, "manylayers: joined lowerdir is %zu bytes, over a page", joined);
    if (!kernel_at_least(6, 8)) {
        /* No "lowerdir+" before Linux 6.8: the joined option string is too long. */
        ok(!create(&run, &spec) && run.create_err &&
               strstr(run.create_err, "this kernel does not support \"lowerdir+\""),
           "manylayers: rejected without lowerdir+: %s",
           run.create_err ? run.create_err : "no error");
        run_done(&run);
        strv_free(lowers);
        return;
    }
    if (!create(&run, &spec)) {
        ok(0, "manylayers: created: %s", run.create_err ? run.create_err : "no process");
        run_done(&run);
        strv_free(lowers);
        return;
    }
    start_and_wait(&run);
    is_int(run.exit_code, 0, "manylayers: exit code 0");
    text = log_stream(&run, "stdout", &stamps_ok);
    is_str(text, "F top\n", "manylayers: topmost layer wins across 202 layers");
    free(text);
    run_done(&run);
    strv_free(lowers);
}

static void test_missing_command(void)
{
    _cleanup_strv_free_ char **argv = strv_new("no-such-command", NULL);
    struct ctr_run run = {.name = "nocmd"};
    struct ctr_spec spec;

    spec_init(&spec, &run, argv);
    if (!create(&run, &spec)) {
        ok(0, "nocmd: created: %s", run.create_err ? run.create_err : "no process");
        run_done(&run);
        return;
    }
    start_and_wait(&run);
    is_str(run.start_err, "exec \"no-such-command\": executable file not found in $PATH",
           "nocmd: start reports executable file not found");
    is_int(run.exit_code, 127, "nocmd: exit code 127");
    run_done(&run);
}

static void test_missing_host_path(void)
{
    _cleanup_strv_free_ char **argv = strv_new("true", NULL);
    struct ctr_mount mounts[1] = {{"/nonexistent/crisp-src", "/data", false,
                                   MOUNT_PROPAGATION_PRIVATE}};
    struct ctr_run run = {.name = "nosrc"};
    struct ctr_spec spec;

    spec_init(&spec, &run, argv);
    spec.mounts = mounts;
    spec.n_mounts = 1;
    ok(!create(&run, &spec), "nosrc: create fails");
    is_str(run.create_err,
           "bind mount host path '/nonexistent/crisp-src': No such file or directory",
           "nosrc: error names the host path");
    ok(run.proc == NULL, "nosrc: no process is handed out");
    is_int(host_mounts_containing(run.bundle), 0, "nosrc: nothing left mounted");
    run_done(&run);
}

static void test_exit_code(void)
{
    _cleanup_strv_free_ char **argv = strv_new("sh", "-c", "exit 3", NULL);
    struct ctr_run run = {.name = "exit3"};
    struct ctr_spec spec;

    spec_init(&spec, &run, argv);
    if (!create(&run, &spec)) {
        ok(0, "exit3: created: %s", run.create_err ? run.create_err : "no process");
        run_done(&run);
        return;
    }
    start_and_wait(&run);
    is_int(run.exit_code, 3, "exit3: exit code 3");
    is_int(run.signal, 0, "exit3: no signal");
    run_done(&run);
}

/* cgroup v2 only: the container is cloned into its cgroup (CLONE_INTO_CGROUP) before set-up. */
static void test_cgroup(void)
{
    _cleanup_strv_free_ char **argv = strv_new("cat", "/proc/self/cgroup", NULL);
    _cleanup_free_ char *parent = xasprintf("/crisp-platform-test-%d", (int)getpid());
    _cleanup_free_ char *path = xasprintf("%s/cgroup", parent);
    _cleanup_free_ char *expected = xasprintf("F 0::%s\n", path);
    struct cgroup_resources res = {.memory_limit = 64 * 1024 * 1024, .pids_limit = 16};
    struct ctr_run run = {.name = "cgroup"};
    struct ctr_spec spec;
    struct err *e = NULL;
    bool stamps_ok;
    char *text;

    if (cgroup_version() != 2)
        return;
    is_int(cgroup_create(path, &res, &e), 0, "cgroup: create container cgroup");
    spec_init(&spec, &run, argv);
    spec.cgroup_path = path;
    if (!create(&run, &spec)) {
        ok(0, "cgroup: created: %s", run.create_err ? run.create_err : "no process");
    } else {
        start_and_wait(&run);
        is_int(run.exit_code, 0, "cgroup: exit code 0");
        text = log_stream(&run, "stdout", &stamps_ok);
        is_str(text, expected, "cgroup: /proc/self/cgroup inside the container");
        free(text);
    }
    run_done(&run);
    is_int(cgroup_remove(parent, true, &e), 0, "cgroup: remove container cgroup");
    err_free(e);
}

static void test_sigkill(void)
{
    _cleanup_strv_free_ char **argv = strv_new("sleep", "100", NULL);
    struct ctr_run run = {.name = "killed"};
    struct ctr_spec spec;
    struct err *e = NULL;

    spec_init(&spec, &run, argv);
    if (!create(&run, &spec)) {
        ok(0, "killed: created: %s", run.create_err ? run.create_err : "no process");
        run_done(&run);
        return;
    }
    ok(platform_ctr_start(base, run.proc, on_started, &run, &e) == 0, "killed: start request");
    ok(run_until(&run.started), "killed: start callback runs");
    is_str(run.start_err, NULL, "killed: start reports no error");
    ok(proc_signal(run.proc->pidfd, SIGKILL, &e) == 0, "killed: send SIGKILL");
    ok(run_until(&run.exited), "killed: exit is seen");
    is_int(run.exit_code, 137, "killed: exit code 137");
    is_int(run.signal, SIGKILL, "killed: signal 9");
    ok(run_until(&run.log_done), "killed: log pump reaches end of file");
    err_free(e);
    run_done(&run);
}

static void stop_pod(void)
{
    siginfo_t info;
    struct err *e = NULL;

    if (pod.pid <= 0)
        return;
    ok(proc_signal(pod.pidfd, SIGKILL, &e) == 0, "pod: stop pause");
    memset(&info, 0, sizeof(info));
    ok(waitid((idtype_t)P_PIDFD, (id_t)pod.pidfd, &info, WEXITED) == 0 &&
           info.si_pid == pod.pid,
       "pod: pause reaped");
    close(pod.pidfd);
    err_free(e);
}

int main(void)
{
    struct stat st;
    char *text = NULL;
    size_t len;

    if (geteuid() != 0) {
        printf("1..0 # SKIP needs root for namespaces and mounts\n");
        return 77;
    }
    if (read_file("/proc/filesystems", 1 << 16, &text, &len, NULL) < 0 ||
        !strstr(text, "overlay") || stat("/bin/busybox", &st) < 0) {
        printf("1..0 # SKIP needs overlayfs and /bin/busybox\n");
        free(text);
        return 77;
    }
    free(text);

    base = event_base_new();
    ok(mkdtemp(tmp) != NULL, "make temp dir");
    ok(make_layers(), "build busybox layers");

    if (test_pod()) {
        test_echo_container();
        test_pod_pid_and_mounts();
        test_many_layers();
        test_missing_command();
        test_missing_host_path();
        test_exit_code();
        test_cgroup();
        test_sigkill();
    }
    test_pod_bad_pause();
    stop_pod();

    rm_rf(tmp, NULL);
    free(lower_bottom);
    free(lower_top);
    free(host_dir);
    strv_free(env);
    event_base_free(base);
    return tap_done();
}
