#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "handlers/resources.h"
#include "handlers/rpc.h"
#include "image/image.h"
#include "keeper.h"
#include "platform/platform.h"
#include "store/store.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

struct crisp *handlers_crisp;

static struct event *exit_record_sweep;

/* How often and how long to look for the keeper's exit record of an adopted process. */
#define EXIT_RECORD_POLL_MS 20
#define EXIT_RECORD_POLLS 250

/* A pidfd for pid if it is still the process that started at start_time, else -1. */
static int adopt_pidfd(pid_t pid, uint64_t start_time)
{
    int fd;

    if (pid <= 0)
        return -1;
    fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return -1;
    if (start_time && proc_start_time(pid) != start_time) {
        close(fd);
        return -1;
    }
    return fd;
}

static void on_adopted_pause_exit(void *data, pid_t pid, int exit_code, int signal)
{
    struct sandbox *sb = data;

    (void)pid;
    (void)exit_code;
    (void)signal;
    proc_watch_free(sb->watch);
    sb->watch = NULL;
    close_and_reset(&sb->pidfd);
    sb->pid = 0;
    sb->state = SANDBOX_NOTREADY;
    store_save_sandbox(handlers_crisp->store, sb, NULL);
    waiters_notify(&sb->stop_waiters, NULL);
}

/* Mark c exited with what the keeper recorded, or as unknown when it recorded nothing. */
static void finish_adopted(struct container *c, bool have_record, int exit_code,
                           int64_t finished_at)
{
    c->pid = 0;
    if (have_record)
        container_exited(c, exit_code, finished_at, NULL, NULL);
    else
        container_exited(c, 255, now_ns(), "Unknown",
                         "the container ended while crispd was not running and no keeper "
                         "recorded its exit code");
}

/* Look for the exit record the keeper writes once it has reaped the adopted process. */
static void on_record_poll(evutil_socket_t fd, short what, void *data)
{
    struct container *c = data;
    int64_t finished = 0;
    int code = 0;
    bool found;

    (void)fd;
    (void)what;
    found = keeper_take_exit(handlers_crisp->config->state_dir, c->pid, c->start_time, &code,
                             &finished);
    if (found || ++c->exit_polls >= EXIT_RECORD_POLLS) {
        event_free(c->stop_timer);
        c->stop_timer = NULL;
        finish_adopted(c, found, code, finished);
        return;
    }
    evtimer_add(c->stop_timer, &(struct timeval){.tv_usec = EXIT_RECORD_POLL_MS * 1000});
}

/* An adopted process is not crispd's child: its exit code comes from the keeper's record. */
static void on_adopted_container_exit(void *data, pid_t pid, int exit_code, int signal)
{
    struct container *c = data;
    pid_t adopted = c->pid;

    (void)pid;
    (void)exit_code;
    (void)signal;
    container_unwatch(c);
    c->pid = adopted; /* the exit record is named after it */
    if (c->log)
        log_pump_flush(c->log);

    /* The poll lives in the stop timer slot, so removing the container frees it. */
    c->exit_polls = 0;
    c->stop_timer = evtimer_new(handlers_crisp->base, on_record_poll, c);
    on_record_poll(-1, 0, c);
}

static void recover_sandbox(struct crisp *crisp, struct sandbox *sb)
{
    int fd = sb->state == SANDBOX_READY ? adopt_pidfd(sb->pid, sb->start_time) : -1;

    sb->state_dir = xasprintf("%s/pods/%s", crisp->config->state_dir, sb->id);
    if (fd < 0) {
        sb->state = SANDBOX_NOTREADY;
        sb->pid = 0;
    } else {
        sb->pidfd = fd;
        sb->watch = proc_watch_new(crisp->base, sb->pid, fd, on_adopted_pause_exit, sb);
    }
    store_save_sandbox(crisp->store, sb, NULL);
}

static void recover_container(struct crisp *crisp, struct container *c)
{
    _cleanup_err_ struct err *e = NULL;
    int64_t finished = 0;
    int code = 0, fd;

    if (c->state != CONTAINER_RUNNING && c->state != CONTAINER_CREATED)
        return;

    /* Whatever the process wrote while crispd was down waits in the FIFOs. */
    if (c->state == CONTAINER_RUNNING && container_open_log(crisp, c, &e) < 0)
        log_warn_err(e, "reopening the output of container %s failed; its log stops here", c->id);

    fd = c->state == CONTAINER_RUNNING ? adopt_pidfd(c->pid, c->start_time) : -1;
    if (fd >= 0) {
        c->pidfd = fd;
        c->watch = proc_watch_new(crisp->base, c->pid, fd, on_adopted_container_exit, c);
        return;
    }

    if (c->state == CONTAINER_CREATED) {
        /* A parked process exits when its sync socket closes: it never ran. */
        c->pid = 0;
        container_exited(c, 255, now_ns(), "Unknown",
                         "the created container's process did not survive the restart of "
                         "crispd; remove the container and create it again");
        return;
    }
    if (keeper_take_exit(crisp->config->state_dir, c->pid, c->start_time, &code, &finished))
        finish_adopted(c, true, code, finished);
    else
        finish_adopted(c, false, 0, 0);
}

/*
 * Exit records that no watch claimed belong to processes crispd no longer tracks
 * (parked processes of CREATED containers, pause processes of removed
 * pods).  A record is claimed within seconds of its writing, so one older
 * than a minute is stale.  Run at start-up and every minute after.
 */
#define EXIT_RECORD_MAX_AGE_S 60

static void drop_stale_exit_records(evutil_socket_t fd, short what, void *data)
{
    _cleanup_free_ char *dir = keeper_exits_dir(handlers_crisp->config->state_dir);
    _cleanup_closedir_ DIR *d = opendir(dir);
    time_t now = time(NULL);
    struct dirent *de;

    (void)fd;
    (void)what;
    (void)data;
    if (!d)
        return;
    while ((de = readdir(d))) {
        struct stat st;

        if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, 0) < 0)
            continue;
        if (now - st.st_mtime > EXIT_RECORD_MAX_AGE_S)
            unlinkat(dirfd(d), de->d_name, 0);
    }
}

/*
 * Roll back the creates a crash interrupted: the client never got their
 * ids, and would get ALREADY_EXISTS when it retries.  Whatever ran in
 * their cgroups is killed with the cgroups.
 */
static void roll_back_creates(struct crisp *crisp)
{
    struct container **ctrs;
    struct sandbox **sbs;
    size_t n;

    ctrs = store_containers(crisp->store, &n);
    for (size_t i = n; i-- > 0;) {
        struct container *c = ctrs[i];
        struct sandbox *sb;

        if (!c->creating)
            continue;
        sb = store_find_sandbox(crisp->store, c->sandbox_id, NULL);
        if (sb) {
            memcpy(c->sandbox_id, sb->id, sizeof(c->sandbox_id));
            container_cgroup_remove(crisp, c);
        }
        log_info("removing container %s: crispd stopped before its create finished", c->id);
        platform_ctr_cleanup(c->dir, NULL);
        store_remove_container(crisp->store, c, NULL);
        ctrs = store_containers(crisp->store, &n);
    }

    sbs = store_sandboxes(crisp->store, &n);
    for (size_t i = n; i-- > 0;) {
        struct sandbox *sb = sbs[i];

        if (!sb->creating)
            continue;
        log_info("removing pod sandbox %s: crispd stopped before its create finished", sb->id);
        sandbox_release(crisp, sb, NULL);
        sbs = store_sandboxes(crisp->store, &n);
    }
}

/*
 * Bring the loaded records in line with what runs: pods and containers
 * still running (checked by pid and start time, so a reused pid is not
 * taken for them) are watched again and their output pumped again;
 * containers that ended meanwhile get the exit code the keeper recorded.
 */
void handlers_recover(struct crisp *crisp)
{
    struct sandbox **sbs;
    struct container **ctrs;
    size_t n;

    handlers_crisp = crisp;

    sbs = store_sandboxes(crisp->store, &n);
    for (size_t i = 0; i < n; i++)
        recover_sandbox(crisp, sbs[i]);
    roll_back_creates(crisp);

    ctrs = store_containers(crisp->store, &n);
    for (size_t i = 0; i < n; i++) {
        _cleanup_err_ struct err *e = NULL;

        /* Every container keeps its image's layers, running or not, until it is removed. */
        if (ctrs[i]->image_id && image_store_hold(crisp->images, ctrs[i]->image_id, &e) < 0)
            log_warn_err(e, "container %s: its image's layers are not held", ctrs[i]->id);
    }
    image_store_drop_stale_holds(crisp->images);

    for (size_t i = 0; i < n; i++)
        recover_container(crisp, ctrs[i]);

    drop_stale_exit_records(-1, 0, NULL);
    exit_record_sweep = event_new(crisp->base, -1, EV_PERSIST, drop_stale_exit_records, NULL);
    event_add(exit_record_sweep, &(struct timeval){.tv_sec = EXIT_RECORD_MAX_AGE_S});
}

void handlers_detach(struct crisp *crisp)
{
    struct sandbox **sbs;
    struct container **ctrs;
    size_t n;

    if (exit_record_sweep) {
        event_free(exit_record_sweep);
        exit_record_sweep = NULL;
    }

    ctrs = store_containers(crisp->store, &n);
    for (size_t i = 0; i < n; i++) {
        container_unwatch(ctrs[i]);
        log_pump_free(ctrs[i]->log);
        ctrs[i]->log = NULL;
    }

    sbs = store_sandboxes(crisp->store, &n);
    for (size_t i = 0; i < n; i++) {
        proc_watch_free(sbs[i]->watch);
        sbs[i]->watch = NULL;
        close_and_reset(&sbs[i]->pidfd);
    }
}
