/*
 * The cgroup v2 code on a cgroup v2 kernel (root): pod and container
 * cgroups with limits as the kernel shows them, CLONE_INTO_CGROUP, the
 * device program, the memory.events OOM watch and removal.  Skips
 * unless /sys/fs/cgroup is a cgroup2 mount; scripts/test-cgroup2-vm runs
 * it in a virtual machine that has one.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "platform/cgroup.h"
#include "platform/proc.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"
#include "../00unit/tap.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define MIB (1024 * 1024)

static char root[64], pod[96], pause_leaf[128], ctr[128];
static char tmp[] = "/tmp/crisp-cgroup-v2.XXXXXX";
static struct event_base *base;

/* A child process parked in a cgroup until its pipe closes. */
struct sleeper {
    pid_t pid;
    int pidfd;
    int pipe_write_fd;
};

/* Contents of the interface file of the cgroup at path, without the final newline (caller frees). */
static char *read_cgroup_file(const char *path, const char *file)
{
    _cleanup_free_ char *full = xasprintf("/sys/fs/cgroup%s/%s", path, file);
    char *text = NULL;
    size_t len;

    if (read_file(full, 1 << 16, &text, &len, NULL) < 0)
        return xstrdup("(unreadable)");
    if (len > 0 && text[len - 1] == '\n')
        text[len - 1] = '\0';
    return text;
}

static void is_file(const char *path, const char *file, const char *expected)
{
    _cleanup_free_ char *got = read_cgroup_file(path, file);

    is_str(got, expected, "%s/%s is '%s'", path, file, expected);
}

static bool has_controller(const char *path, const char *name)
{
    _cleanup_free_ char *list = read_cgroup_file(path, "cgroup.controllers");
    size_t len = strlen(name);

    for (char *p = list; (p = strstr(p, name)); p += len) {
        if ((p == list || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0'))
            return true;
    }
    return false;
}

static bool cgroup_exists(const char *path)
{
    _cleanup_free_ char *dir = xasprintf("/sys/fs/cgroup%s", path);
    struct stat st;

    return stat(dir, &st) == 0;
}

/* Clone a child into the cgroup at path (CLONE_INTO_CGROUP) that runs fn and exits with its result. */
static pid_t clone_into(const char *path, int (*fn)(void *), void *arg, int *ret_pidfd)
{
    _cleanup_close_ int fd = -EBADF;
    struct err *e = NULL;
    pid_t pid;

    if (cgroup_clone_fd(path, &fd, &e) < 0) {
        diag("%s", e->msg);
        err_free(e);
        return -1;
    }
    pid = proc_clone_into(0, fd, ret_pidfd, &e);
    if (pid == 0)
        _exit(fn(arg));
    if (pid < 0) {
        diag("%s", e->msg);
        err_free(e);
    }
    return pid;
}

/* Wait for the child behind pidfd: its exit code, 128 + the signal that killed it, or -1. */
static int wait_child(int pidfd)
{
    siginfo_t info;

    memset(&info, 0, sizeof(info));
    if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED) < 0)
        return -1;
    close(pidfd);
    return info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
}

/* Run fn in a child in the cgroup at path; returns what wait_child() returns. */
static int run_in(const char *path, int (*fn)(void *), void *arg)
{
    int pidfd;

    if (clone_into(path, fn, arg, &pidfd) < 0)
        return -1;
    return wait_child(pidfd);
}

/* Wait until every write end of the pipe fds is closed; the child closes its own copy first. */
static int read_until_eof(void *arg)
{
    const int *fds = arg;
    char c;

    close(fds[1]);
    while (read(fds[0], &c, 1) > 0)
        ;
    return 0;
}

static bool start_sleeper(const char *path, struct sleeper *s)
{
    int fds[2];

    if (pipe2(fds, O_CLOEXEC) < 0)
        return false;
    /* The child runs without execve, so it keeps both ends despite O_CLOEXEC. */
    s->pid = clone_into(path, read_until_eof, fds, &s->pidfd);
    close(fds[0]);
    s->pipe_write_fd = fds[1];
    return s->pid > 0;
}

/* The line of /proc/<pid>/cgroup, "0::<path>" on v2, without the newline (caller frees). */
static char *proc_cgroup(pid_t pid)
{
    _cleanup_free_ char *file = xasprintf("/proc/%d/cgroup", (int)pid);
    char *text = NULL;
    size_t len;

    if (read_file(file, 4096, &text, &len, NULL) < 0)
        return xstrdup("(unreadable)");
    if (len > 0 && text[len - 1] == '\n')
        text[len - 1] = '\0';
    return text;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}

/* ---- limits ---- */

static void test_limits(struct sleeper *in_pause)
{
    static const struct cgroup_unified unified[] = {{"memory.high", "50331648"}};
    static const struct cgroup_hugepage hugepages[] = {{"2MB", 4 * MIB}};
    bool two_cpus = sysconf(_SC_NPROCESSORS_ONLN) >= 2;
    bool hugetlb = has_controller("", "hugetlb");
    struct cgroup_resources res = {
        .cpu_shares = 512,
        .cpu_quota = 50000,
        .cpu_period = 100000,
        .cpuset_cpus = two_cpus ? "1" : "0",
        .cpuset_mems = "0",
        .memory_limit = 64 * MIB,
        .memory_swap_limit = 96 * MIB,
        .pids_limit = 100,
        .hugepages = hugepages,
        .n_hugepages = hugetlb ? 1 : 0,
        .unified = unified,
        .n_unified = 1,
    };
    _cleanup_free_ char *pause_path = cgroup_pod_process_path(pod);
    _cleanup_free_ char *in_pause_cgroup = NULL, *pod_controllers = NULL, *pod_subtree = NULL;
    _cleanup_free_ char *expected_line = NULL;
    struct err *e = NULL;

    is_str(pause_path, pause_leaf, "pause cgroup of the pod is the leaf 'pause'");
    is_int(cgroup_create(pod, NULL, &e), 0, "create pod cgroup %s", pod);
    is_int(cgroup_create(pause_leaf, NULL, &e), 0, "create pause cgroup %s", pause_leaf);
    ok(start_sleeper(pause_leaf, in_pause), "start a process in the pause cgroup");
    in_pause_cgroup = proc_cgroup(in_pause->pid);
    expected_line = xasprintf("0::%s", pause_leaf);
    is_str(in_pause_cgroup, expected_line, "process cloned into the pause cgroup");

    /* The pod cgroup has a process below it, so enabling controllers for its children must work. */
    is_int(cgroup_create(ctr, &res, &e), 0, "create container cgroup with limits");
    if (e) {
        diag("%s", e->msg);
        err_free(e);
        e = NULL;
    }
    pod_controllers = read_cgroup_file(pod, "cgroup.controllers");
    pod_subtree = read_cgroup_file(pod, "cgroup.subtree_control");
    is_str(pod_subtree, pod_controllers, "pod cgroup enables all its controllers below it");
    ok(has_controller(pod, "memory") && has_controller(pod, "cpu") &&
           has_controller(pod, "cpuset") && has_controller(pod, "pids"),
       "pod cgroup has cpu, cpuset, memory and pids");

    is_file(ctr, "cpu.weight", "20");
    is_file(ctr, "cpu.max", "50000 100000");
    is_file(ctr, "cpuset.cpus", two_cpus ? "1" : "0");
    is_file(ctr, "cpuset.mems", "0");
    is_file(ctr, "memory.max", "67108864");
    is_file(ctr, "memory.swap.max", "33554432");
    is_file(ctr, "memory.high", "50331648");
    is_file(ctr, "pids.max", "100");
    if (hugetlb)
        is_file(ctr, "hugetlb.2MB.max", "4194304");
    else
        diag("no hugetlb controller: hugetlb.2MB.max not checked");

    /* Unlimited values, then memory plus swap equal to memory. */
    res = (struct cgroup_resources){
        .cpu_quota = -1,
        .cpu_period = 100000,
        .memory_limit = -1,
        .memory_swap_limit = -1,
        .pids_limit = -1,
    };
    is_int(cgroup_update(ctr, &res, &e), 0, "update to unlimited");
    is_file(ctr, "cpu.max", "max 100000");
    is_file(ctr, "memory.max", "max");
    is_file(ctr, "memory.swap.max", "max");
    is_file(ctr, "pids.max", "max");
    is_file(ctr, "cpu.weight", "20");

    res = (struct cgroup_resources){.memory_limit = 32 * MIB, .memory_swap_limit = 32 * MIB};
    is_int(cgroup_update(ctr, &res, &e), 0, "update memory with swap equal to memory");
    is_file(ctr, "memory.max", "33554432");
    is_file(ctr, "memory.swap.max", "0");
    if (e) {
        diag("%s", e->msg);
        err_free(e);
    }
}

static void test_create_failure(void)
{
    _cleanup_free_ char *path = xasprintf("%s/bad-cpuset", pod);
    struct cgroup_resources res = {.cpuset_cpus = "4095"};
    struct err *e = NULL;

    is_int(cgroup_create(path, &res, &e), -1, "cpuset of a missing CPU is rejected");
    is_int(e ? e->status : 0, GRPC_STATUS_INVALID_ARGUMENT, "missing CPU is INVALID_ARGUMENT");
    ok(e && strstr(e->msg, "cpuset.cpus"), "error names cpuset.cpus: %s", e ? e->msg : "none");
    ok(!cgroup_exists(path), "failed create leaves no cgroup");
    err_free(e);
}

/* ---- CLONE_INTO_CGROUP and joining ---- */

static void test_placement(struct sleeper *in_ctr)
{
    _cleanup_free_ char *mine_before = proc_cgroup(getpid()), *mine_after = NULL;
    _cleanup_free_ char *line = NULL, *procs = NULL, *moved = NULL, *expected = NULL;
    _cleanup_free_ char *pid_text = NULL;
    struct sleeper other;
    struct err *e = NULL;

    ok(start_sleeper(ctr, in_ctr), "clone a process into the container cgroup");
    line = proc_cgroup(in_ctr->pid);
    expected = xasprintf("0::%s", ctr);
    is_str(line, expected, "/proc/<pid>/cgroup of the cloned process");
    procs = read_cgroup_file(ctr, "cgroup.procs");
    pid_text = xasprintf("%d", (int)in_ctr->pid);
    is_str(procs, pid_text, "cgroup.procs lists only the cloned process");

    is_int(cgroup_child_join(ctr, &e), 0, "child join is a no-op on v2");
    mine_after = proc_cgroup(getpid());
    is_str(mine_after, mine_before, "child join leaves the caller where it was");

    /* cgroup_enter() moves an existing process. */
    ok(start_sleeper(pause_leaf, &other), "start a second process in the pause cgroup");
    is_int(cgroup_enter(ctr, other.pid, &e), 0, "move it into the container cgroup");
    moved = proc_cgroup(other.pid);
    is_str(moved, expected, "/proc/<pid>/cgroup after cgroup_enter");
    close(other.pipe_write_fd);
    is_int(wait_child(other.pidfd), 0, "moved process exits");
    if (e) {
        diag("%s", e->msg);
        err_free(e);
    }
}

/* ---- devices ---- */

struct open_request {
    const char *path;
    int flags;
};

static int open_errno(void *arg)
{
    const struct open_request *r = arg;
    int fd = open(r->path, r->flags | O_CLOEXEC);

    return fd < 0 ? errno : 0;
}

struct mknod_request {
    const char *path;
    mode_t type;
    dev_t dev;
};

static int mknod_errno(void *arg)
{
    const struct mknod_request *r = arg;

    return mknod(r->path, r->type | 0600, r->dev) < 0 ? errno : 0;
}

static void test_devices(void)
{
    _cleanup_free_ char *path = xasprintf("%s/devices", pod);
    _cleanup_free_ char *mem = xasprintf("%s/mem", tmp), *loop = xasprintf("%s/loop0", tmp);
    static const struct open_request allowed[] = {
        {"/dev/null", O_RDWR},   {"/dev/zero", O_RDWR},   {"/dev/full", O_RDWR},
        {"/dev/random", O_RDONLY}, {"/dev/urandom", O_RDONLY},
    };
    struct open_request kmsg = {"/dev/kmsg", O_RDONLY}, mem_open = {mem, O_RDONLY};
    struct mknod_request mem_node = {mem, S_IFCHR, makedev(1, 1)};
    struct mknod_request loop_node = {loop, S_IFBLK, makedev(7, 0)};
    struct err *e = NULL;

    is_int(cgroup_create(path, NULL, &e), 0, "create device test cgroup");
    is_int(cgroup_devices_apply(path, cgroup_default_device_rules, cgroup_n_default_device_rules,
                                &e),
           0, "attach the default device rules");
    if (e) {
        diag("%s", e->msg);
        err_free(e);
        e = NULL;
    }
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        is_int(run_in(path, open_errno, (void *)&allowed[i]), 0, "%s opens", allowed[i].path);
    is_int(run_in(path, open_errno, &kmsg), EPERM, "/dev/kmsg is denied with EPERM");
    is_int(run_in(path, mknod_errno, &mem_node), 0, "mknod of c 1:1 is allowed");
    is_int(run_in(path, open_errno, &mem_open), EPERM, "the made c 1:1 node is denied with EPERM");
    is_int(run_in(path, mknod_errno, &loop_node), 0, "mknod of b 7:0 is allowed");
    is_int(open_errno(&mem_open), 0, "c 1:1 opens outside the device cgroup");
    is_int(cgroup_remove(path, false, &e), 0, "remove device test cgroup");
}

/* ---- OOM ---- */

static int allocate_past_limit(void *arg)
{
    size_t total = *(size_t *)arg;

    for (size_t done = 0; done < total; done += MIB) {
        char *p = malloc(MIB);

        if (!p)
            return 2;
        memset(p, 0xa5, MIB);
    }
    return 0;
}

static void on_oom(void *data)
{
    int *count = data;

    (*count)++;
    event_base_loopbreak(base);
}

static void test_oom(void)
{
    _cleanup_free_ char *path = xasprintf("%s/oom", pod);
    struct cgroup_resources res = {.memory_limit = 16 * MIB, .memory_swap_limit = 16 * MIB};
    struct cgroup_oom_watch *watch;
    struct timeval limit = {10, 0};
    size_t total = 64 * MIB;
    uint64_t kills = 99;
    struct err *e = NULL;
    int reported = 0, pidfd;

    is_int(cgroup_create(path, &res, &e), 0, "create OOM test cgroup, 16 MiB and no swap");
    is_int(cgroup_oom_kills(path, &kills, &e), 0, "read oom_kill of the new cgroup");
    is_int(kills, 0, "no OOM kill yet");
    watch = cgroup_oom_watch_new(base, path, on_oom, &reported, &e);
    ok(watch != NULL, "watch memory.events: %s", e ? e->msg : "no error");

    ok(clone_into(path, allocate_past_limit, &total, &pidfd) > 0, "start a child allocating 64 MiB");
    is_int(wait_child(pidfd), 128 + SIGKILL, "child is killed with SIGKILL");
    if (reported == 0) {
        event_base_loopexit(base, &limit);
        event_base_dispatch(base);
    }
    is_int(reported, 1, "the watch reports one OOM event");
    is_int(cgroup_oom_kills(path, &kills, &e), 0, "read oom_kill again");
    is_int(kills, 1, "memory.events counts one OOM kill");

    cgroup_oom_watch_free(watch);
    is_int(cgroup_remove(path, false, &e), 0, "remove OOM test cgroup");
    if (e) {
        diag("%s", e->msg);
        err_free(e);
    }
}

/* ---- removal ---- */

static void test_remove(struct sleeper *in_pause, struct sleeper *in_ctr)
{
    struct err *e = NULL;
    int r = -1;

    is_int(cgroup_remove(ctr, false, &e), -1, "remove without kill while a process remains");
    is_int(e ? e->errnum : 0, EBUSY, "remove without kill fails with EBUSY");
    ok(cgroup_exists(ctr), "container cgroup is still there");
    err_free(e);
    e = NULL;

    /* cgroup.kill and SIGKILL are asynchronous: the caller retries while processes exit. */
    for (int i = 0; i < 50; i++) {
        err_free(e);
        e = NULL;
        r = cgroup_remove(root, true, &e);
        if (r == 0 || !e || e->errnum != EBUSY)
            break;
        sleep_ms(20);
    }
    is_int(r, 0, "remove with kill: %s", e ? e->msg : "no error");
    ok(!cgroup_exists(root), "test cgroup tree is gone");
    is_int(wait_child(in_ctr->pidfd), 128 + SIGKILL, "container process was killed");
    is_int(wait_child(in_pause->pidfd), 128 + SIGKILL, "pause cgroup process was killed");
    close(in_ctr->pipe_write_fd);
    close(in_pause->pipe_write_fd);
    err_free(e);
    e = NULL;
    is_int(cgroup_remove(root, true, &e), 0, "removing a missing cgroup succeeds");
}

int main(void)
{
    struct sleeper in_pause = {-1, -1, -1}, in_ctr = {-1, -1, -1};

    if (geteuid() != 0 || cgroup_version() != 2) {
        printf("1..0 # SKIP needs root and cgroup v2 at /sys/fs/cgroup\n");
        return 0;
    }
    snprintf(root, sizeof(root), "/crisp-v2-test-%d", (int)getpid());
    snprintf(pod, sizeof(pod), "%s/pod", root);
    snprintf(pause_leaf, sizeof(pause_leaf), "%s/pause", pod);
    snprintf(ctr, sizeof(ctr), "%s/ctr", pod);
    base = event_base_new();
    ok(mkdtemp(tmp) != NULL, "make temp dir");

    test_limits(&in_pause);
    test_create_failure();
    test_placement(&in_ctr);
    test_devices();
    test_oom();
    test_remove(&in_pause, &in_ctr);

    rm_rf(tmp, NULL);
    event_base_free(base);
    return tap_done();
}
