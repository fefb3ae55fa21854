/*
 * Linux platform layer: processes, namespaces, mounts and container set-up.
 * Knows nothing of protobuf or gRPC.  Asynchronous operations run their
 * blocking part in a child process and report through callbacks on the
 * libevent base they are given; the callback runs on the reactor, never
 * before the starting function has returned.
 */
#ifndef CRISP_PLATFORM_H
#define CRISP_PLATFORM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"

struct event_base;

/* ---- process watches (pidfd) ---- */

struct proc_watch;

/* Called once when the process exits, with its waitid() status already reaped. */
typedef void (*proc_exit_fn)(void *data, pid_t pid, int exit_code, int signal);

/* Watch pidfd (not owned) for the exit of pid; reap it and call cb. */
struct proc_watch *proc_watch_new(struct event_base *base, pid_t pid, int pidfd, proc_exit_fn cb,
                                  void *data);
/* Stop watching; cb will not be called. NULL is fine. */
void proc_watch_free(struct proc_watch *w);

/* Send sig to the process behind pidfd (pidfd_send_signal). */
int proc_signal(int pidfd, int sig, struct err **err);

/* ---- user namespaces ---- */

/* One range of a user namespace ID map: length IDs from container_id on are host_id on. */
struct id_map {
    uint32_t container_id;
    uint32_t host_id;
    uint32_t length;
};

/* The kernel's limit of ranges per uid_map or gid_map (Linux 4.15 and later). */
#define ID_MAP_MAX_RANGES 340

/* The ID maps of a pod's user namespace. */
struct userns_spec {
    const struct id_map *uids;
    size_t n_uids;
    const struct id_map *gids;
    size_t n_gids;
};

/*
 * Check one map: 1 to ID_MAP_MAX_RANGES ranges, none of length 0 or
 * running past 2^32 - 1, and no two overlapping in container or in host
 * IDs.  Fails with INVALID_ARGUMENT naming field ("...uids[1].length").
 */
int id_map_check(const struct id_map *map, size_t n, const char *field, struct err **err);

/* The map as /proc/PID/uid_map takes it: "container host length" lines (caller frees). */
char *id_map_format(const struct id_map *map, size_t n);

/* The host ID of container ID id, or -1 when map does not map it. */
int64_t id_map_to_host(const struct id_map *map, size_t n, uint32_t id);

/* ---- pod sandbox ---- */

struct pod_spec {
    const char *id;
    const char *hostname;    /* NULL or empty: keep the host's */
    bool host_network;       /* NamespaceMode NODE for network */
    bool host_ipc;           /* NamespaceMode NODE for IPC */
    bool pod_pid_namespace;  /* NamespaceMode POD for PID: pause is PID 1 of a new namespace */
    const char *pause_path;  /* the crisp-pause binary */
    const char *state_dir;   /* per-pod directory under the state dir */
    const char *cgroup_path; /* cgroup the pause process joins before execve, NULL: none */
    /*
     * NULL keeps the host's user namespace.  Else the pause process gets a
     * new one with these maps, owning its other new namespaces, and runs
     * as the namespace's root.
     */
    const struct userns_spec *userns;
    const struct pod_sysctl *sysctls; /* checked with sysctl_check(), set in the pod's namespaces */
    size_t n_sysctls;
    /*
     * LinuxSandboxSecurityContext run_as_user, run_as_group and
     * supplemental_groups: who the pause process runs as (inside the
     * pod's user namespace when it has one).  has_user false keeps root.
     */
    bool has_user;
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t n_groups;
};

/* One sysctl for the pod's namespaces (LinuxPodSandboxConfig.sysctls). */
struct pod_sysctl {
    const char *key;
    const char *value;
};

#define SYSCTL_KEY_MAX 256
#define SYSCTL_VALUE_MAX 4096

/*
 * Check that a pod may set the sysctl key, as runc decides: the IPC ones
 * (kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*) unless host_ipc, net.*
 * and kernel.domainname unless host_network; everything else is rejected.
 * Also rejects a malformed key or a value over SYSCTL_VALUE_MAX bytes.
 * Fails with INVALID_ARGUMENT naming the key.  Pure: no file access.
 */
int sysctl_check(const char *key, const char *value, bool host_network, bool host_ipc,
                 struct err **err);

/* The key with '.' separators ("net/ipv4/ip_forward" gives "net.ipv4.ip_forward"). */
char *sysctl_key_normalize(const char *key);

/* The /proc/sys file of a key checked by sysctl_check(). */
char *sysctl_proc_path(const char *key);

/*
 * Write value to the key's /proc/sys file, which shows the namespaces of
 * the calling process.  An unknown key or a rejected value fails with
 * INVALID_ARGUMENT.
 */
int sysctl_write(const char *key, const char *value, struct err **err);

struct pod_proc {
    pid_t pid;
    int pidfd;
};

/*
 * Called when the pause process runs (err NULL; proc is valid during the
 * call and its pidfd now belongs to the callee) or failed to start (proc
 * NULL; the child is already reaped).
 */
typedef void (*pod_started_fn)(void *data, const struct pod_proc *proc, const struct err *err);

/*
 * Start the pause process for a pod in new namespaces (network with loopback
 * up unless host_network, IPC, UTS with the hostname, PID when asked).
 * Returns -1 and fills *err when it cannot even fork; else cb reports.
 */
int platform_pod_start(struct event_base *base, const struct pod_spec *spec, pod_started_fn cb,
                       void *data, struct err **err);

/* ---- files shared by a pod's containers ---- */

/* Names of the files in the pod's state directory. */
#define POD_FILE_RESOLV_CONF "resolv.conf"
#define POD_FILE_HOSTS "hosts"
#define POD_FILE_HOSTNAME "hostname"
#define POD_FILE_SHM "shm"

/* Size of the pod's /dev/shm tmpfs: 64 MiB, containerd's defaultShmSize. */
#define POD_SHM_SIZE (64ULL * 1024 * 1024)

/* The CRI DNSConfig. */
struct pod_dns {
    char **servers;
    size_t n_servers;
    char **searches;
    size_t n_searches;
    char **options;
    size_t n_options;
};

/*
 * Render resolv.conf as containerd does: "search a b", one "nameserver"
 * line per server, "options x y", each line only when its list is not
 * empty.  Returns NULL when all three lists are empty (or dns is NULL).
 */
char *pod_resolv_conf_render(const struct pod_dns *dns);

struct pod_files {
    const char *state_dir;        /* the pod's state directory, which must exist */
    const char *hostname;         /* NULL or empty: the host's */
    const struct pod_dns *dns;    /* NULL: no DNSConfig */
    bool host_ipc;                /* IPC mode NODE: no tmpfs for /dev/shm */
    const char *host_hosts;       /* the host's hosts file, "/etc/hosts" */
    const char *host_resolv_conf; /* the host's resolver file, "/etc/resolv.conf" */
};

/*
 * Write the pod's files as containerd's CRI plugin does: hostname (the
 * pod's, else the host's), a copy of the host's hosts file, resolv.conf
 * from dns or else a copy of the host's, and, unless host_ipc, mount a
 * POD_SHM_SIZE tmpfs (mode 1777, nosuid, nodev, noexec) on
 * state_dir/shm.  On failure the caller undoes it with
 * platform_pod_files_cleanup() before removing the directory.
 */
int platform_pod_files_setup(const struct pod_files *files, struct err **err);

/* Unmount the pod's /dev/shm tmpfs; fine when it is not mounted. */
int platform_pod_files_cleanup(const char *state_dir, struct err **err);

/* ---- containers ---- */

enum mount_propagation {
    MOUNT_PROPAGATION_PRIVATE,
    MOUNT_PROPAGATION_RSLAVE,
    MOUNT_PROPAGATION_RSHARED,
};

struct ctr_mount {
    const char *host_path;
    const char *container_path;
    bool readonly;
    enum mount_propagation propagation;
};

/* ---- capabilities ---- */

/* Capability sets as bit masks: bit n is capability n (CAP_CHOWN is bit 0). */
struct ctr_caps {
    uint64_t bounding;
    uint64_t effective;
    uint64_t permitted;
    uint64_t inheritable;
    uint64_t ambient;
};

/* The CRI Capability message and what else decides a container's sets. */
struct caps_request {
    char **add;          /* names, with or without "CAP_", any case; "ALL" for every one */
    size_t n_add;
    char **drop;
    size_t n_drop;
    char **ambient;      /* add_ambient_capabilities */
    size_t n_ambient;
    bool privileged;     /* every capability crispd itself has; add and drop are ignored */
    bool root_user;      /* uid 0: non-root users get only the ambient set as effective */
};

/*
 * Containerd's default set of 14 capabilities: CAP_CHOWN, CAP_DAC_OVERRIDE,
 * CAP_FSETID, CAP_FOWNER, CAP_MKNOD, CAP_NET_RAW, CAP_SETGID, CAP_SETUID,
 * CAP_SETFCAP, CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL
 * and CAP_AUDIT_WRITE.
 */
uint64_t caps_default(void);

/* The effective set of the calling process (crispd), read with libcap. */
uint64_t caps_current(void);

/*
 * Parse one capability name ("CAP_NET_ADMIN", "net_admin", "Net_Admin") into
 * its number.  Fails with INVALID_ARGUMENT naming the capability when the
 * name is unknown to libcap or the running kernel.
 */
int caps_parse_name(const char *name, int *ret_cap, struct err **err);

/*
 * Compute a container's sets the way containerd's CRI plugin does.  The
 * start is the default set, or crispd's own set when privileged.  Then
 * come "ALL" in add, "ALL" in drop, the named additions and the named
 * drops, in that order.  Ambient capabilities join every set, and
 * inheritable contains only the ambient ones.
 * Fails with INVALID_ARGUMENT for an unknown name and FAILED_PRECONDITION
 * for a named capability crispd's own bounding set lacks.
 */
int caps_compute(const struct caps_request *req, struct ctr_caps *ret, struct err **err);

/* ---- seccomp ---- */

/* A parsed seccomp profile (OCI or Docker JSON format); see seccomp_profile_parse(). */
struct seccomp_profile;

#define SECCOMP_PROFILE_MAX_SIZE (1024 * 1024)

/*
 * Parse a seccomp profile in the OCI runtime-spec or Docker JSON format:
 * defaultAction, defaultErrnoRet, architectures, archMap, and syscalls
 * with names (or name), action, errnoRet, args and includes/excludes by
 * arches and caps.  A pure function: no file or kernel access.  origin
 * names the source in error messages.  Fails with INVALID_ARGUMENT.
 */
struct seccomp_profile *seccomp_profile_parse(const char *text, size_t len, const char *origin,
                                              struct err **err);

/* Read and parse the profile file at path (at most SECCOMP_PROFILE_MAX_SIZE bytes). */
struct seccomp_profile *seccomp_profile_load(const char *path, struct err **err);

/*
 * The built-in RuntimeDefault profile, equivalent to containerd's and
 * moby's default: an allowlist with EPERM for everything else, clone
 * namespace flags and personality arguments filtered, more allowed with
 * CAP_SYS_ADMIN and the like.  Never NULL.
 */
struct seccomp_profile *seccomp_profile_default(void);

void seccomp_profile_free(struct seccomp_profile *p);

/* ---- containers ---- */

/* A device node to create in the container (CRI Device). */
struct ctr_device {
    const char *host_path;
    const char *container_path;
};

/* Confinement settings of a container; see struct ctr_spec.security. */
struct ctr_security {
    struct ctr_caps caps;
    bool no_new_privs;
    bool privileged;                        /* all host devices, read-write /sys */
    const struct seccomp_profile *seccomp;  /* NULL: unconfined */
    char **masked_paths;                    /* NULL-terminated, NULL for none */
    char **readonly_paths;                  /* NULL-terminated, NULL for none */
    const struct ctr_device *devices;
    size_t n_devices;
    bool set_oom_score_adj;
    int oom_score_adj;                      /* failures with EPERM or EACCES are ignored */
    uint64_t rlimit_nofile;                 /* soft and hard RLIMIT_NOFILE; 0 keeps crispd's */
};

struct ctr_spec {
    const char *id;
    const char *bundle_dir;   /* per-container directory: holds upper/, work/, rootfs/ */
    char **lowerdirs;         /* image layer directories, topmost first, NULL-terminated */
    char **argv;              /* NULL-terminated, argv[0] resolved against PATH of envp */
    char **envp;              /* NULL-terminated */
    const char *cwd;          /* "/" when empty */
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    size_t n_groups;
    struct ctr_mount *mounts; /* one on /dev/shm replaces the default tmpfs there */
    size_t n_mounts;
    bool readonly_rootfs;
    /* for /etc/hostname, NULL to skip; a mount in mounts on /etc/hostname wins */
    const char *hostname;

    /* Namespaces of the pod to join: pause's pid and pidfd (pidfd guards against reuse). */
    pid_t pod_pid;
    int pod_pidfd;
    bool join_pod_network;    /* false when the pod uses the host network */
    bool join_pod_ipc;
    bool join_pod_pid;        /* PID mode POD; else a new PID namespace unless host_pid */
    bool host_pid;
    /*
     * With join_pod_pid: the PID namespace of this process (PID mode
     * TARGET, a container of the pod) instead of the pause's; 0 for none.
     * Its pidfd guards against the pid being reused.
     */
    pid_t pid_ns_target;
    int pid_ns_target_pidfd;
    /*
     * The pod's user namespace maps, NULL for the host's.  The process
     * joins the pause's user namespace after its mounts are set up; the
     * image layers and bind mounts are idmapped with it.
     */
    const struct userns_spec *userns;

    int stdout_fd;            /* write ends for the process, duplicated into it */
    int stderr_fd;
    /*
     * stdout_fd is the slave of a pseudo-terminal: it becomes stdin too and
     * the controlling terminal of the process's new session.
     */
    bool tty;

    const char *cgroup_path;  /* existing cgroup the process joins before set-up, NULL: none */
    /*
     * Capabilities, seccomp, masked paths and the like; NULL keeps root's
     * full capability set and no seccomp filter (the platform tests).
     */
    const struct ctr_security *security;
};

/*
 * A container process: set up (mounts, pivot_root, namespaces) and parked
 * before execve until platform_ctr_start().  The owner frees it with
 * platform_ctr_free(), which never kills the process.
 */
struct ctr_proc {
    pid_t pid;
    int pidfd;
    int sync_fd;   /* internal: the parent's end of the sync socket */
};

typedef void (*ctr_done_fn)(void *data, struct ctr_proc *proc, const struct err *err);

/*
 * Create the process; cb gets the parked process, owned by the callee, or
 * NULL and the set-up error once the child is reaped.  Everything is
 * mounted inside the child's own mount namespace, so a failed create
 * leaves no mount behind.  Returns -1 without calling cb when the pod's
 * namespaces cannot be opened or the child cannot be cloned.
 */
int platform_ctr_create(struct event_base *base, const struct ctr_spec *spec, ctr_done_fn cb,
                        void *data, struct err **err);

/*
 * Let the parked process execve; cb reports success or the exec error
 * (e.g. executable file not found), after which the process exits with
 * code 127 for the owner's proc_watch to reap.
 */
int platform_ctr_start(struct event_base *base, struct ctr_proc *proc, ctr_done_fn cb, void *data,
                       struct err **err);

/*
 * Close proc's fds and free it; NULL is fine.  Nothing is mounted on the
 * host side: the rootfs overlay lives in the container's mount namespace
 * and goes away with its last process.
 */
void platform_ctr_free(struct ctr_proc *proc);

/*
 * Remove a container's bundle directory, detaching (MNT_DETACH) anything
 * mounted under it first.  Blocks on the removal of the upper directory.
 */
int platform_ctr_cleanup(const char *bundle_dir, struct err **err);

/* ---- CRI container log files ---- */

struct log_pump;

/*
 * Read the container's stdout and stderr pipes (read ends, taken over even
 * on failure; -1 for none) and append CRI log lines to path
 * ("<RFC 3339 nanosecond time> <stream> <F|P> <line>"), creating its
 * directory and the file (mode 0640) when missing.  Lines over 16 KiB are
 * split into P records.  done runs once both pipes reach end-of-file and
 * everything is written; it may free the pump.
 */
struct log_pump *log_pump_new(struct event_base *base, const char *path, int stdout_fd,
                              int stderr_fd, void (*done)(void *data), void *data,
                              struct err **err);
/*
 * Log everything that waits in the pipes now, and end the streams whose
 * writers are all gone.  Call it when the container's process has exited,
 * before reporting the exit, so its last output is in the file by then.
 * Must not be used with a done callback that frees the pump.
 */
void log_pump_flush(struct log_pump *p);
/* Reopen the log file at its path (after a rotation). */
int log_pump_reopen(struct log_pump *p, struct err **err);
/* Stop, flush what was read, close. */
void log_pump_free(struct log_pump *p);

#endif
