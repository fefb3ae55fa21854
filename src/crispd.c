/*
 * crispd: the crisp CRI runtime daemon.  Parses options and the
 * configuration file, opens the stores, serves CRI over gRPC on a Unix
 * socket from one libevent reactor, and shuts down cleanly on SIGTERM or
 * SIGINT, leaving pods and containers running.
 */
#include "config.h"

#include <sys/resource.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "handlers/handlers.h"
#include "image/image.h"
#include "keeper.h"
#include "reactor/grpc.h"
#include "store/store.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

#define DEFAULT_SOCKET "/run/crisp/crisp.sock"
#define DEFAULT_ROOT "/var/lib/crisp"
#define DEFAULT_STATE "/run/crisp"
/* Fixed, not under the install prefix: the place operators and image builders look. */
#define DEFAULT_CONFIG "/etc/crisp/crisp.json"
#define DEFAULT_GRACE_MS 5000
/* containerd's default for containers: 1048576 soft and hard. */
#define DEFAULT_RLIMIT_NOFILE 1048576

static const char usage_text[] =
    "Usage: crispd [OPTION]...\n"
    "Serve the Kubernetes Container Runtime Interface (CRI) on a Unix socket.\n"
    "\n"
    "  -s, --socket=PATH            gRPC socket to listen on (default " DEFAULT_SOCKET ")\n"
    "  -r, --root=DIR               images, layers and pod and container records\n"
    "                               (default " DEFAULT_ROOT ")\n"
    "  -S, --state-dir=DIR          per-boot state (default " DEFAULT_STATE ")\n"
    "  -c, --config=FILE            JSON configuration file (default " DEFAULT_CONFIG ";\n"
    "                               a missing default file is fine)\n"
    "  -l, --log-level=LEVEL        error, warn, info, debug or trace (default info)\n"
    "      --log-format=FORMAT      text (logfmt) or json (default text)\n"
    "      --insecure-registry=HOST registry reached without TLS checks or over plain HTTP,\n"
    "                               as host or host:port;\n"
    "                               may be given more than once\n"
    "      --pause-binary=PATH      the crisp-pause program (default: next to crispd, else\n"
    "                               " CRISP_LIBEXECDIR "/crisp-pause)\n"
    "      --shutdown-grace=MS      time in-flight calls get to finish on SIGTERM\n"
    "                               (default 5000)\n"
    "      --restart-delay=MS       time the keeper waits before it restarts a reactor\n"
    "                               process that died (default 1000)\n"
    "      --no-keeper              run without the keeper process: a crash of crispd then\n"
    "                               loses the exit codes of containers that end meanwhile\n"
    "  -h, --help                   show this help and exit\n"
    "  -V, --version                show the version and exit\n"
    "\n"
    "Configuration file keys (options given on the command line win; see README.md):\n"
    "  socket, root, state_dir, log_level, log_format, pause_binary (strings),\n"
    "  insecure_registries (array of strings), shutdown_grace_ms (number),\n"
    "  image_pull_progress_timeout_s (number: a registry transfer that receives no\n"
    "  bytes for this many seconds is cancelled; default 300),\n"
    "  max_concurrent_downloads (number: layer blobs one pull downloads at a time,\n"
    "  1 to 256, default 3), registries (object keyed by host[:port], each with\n"
    "  insecure, ca_file, mirrors and auth), cgroup_driver (\"cgroupfs\" or\n"
    "  \"systemd\": the form of cgroup_parent), pids_limit (number: pids.max of every\n"
    "  container, -1 for unlimited), rlimit_nofile (number: containers' soft and hard\n"
    "  RLIMIT_NOFILE, default 1048576 or crispd's own hard limit when that is lower).\n"
    "  An unknown key is an error.\n";

enum {
    OPT_LOG_FORMAT = 256,
    OPT_INSECURE,
    OPT_PAUSE,
    OPT_GRACE,
    OPT_RESTART_DELAY,
    OPT_NO_KEEPER,
    OPT_REACTOR_PROCESS,
};

struct options {
    struct crisp_config config;
    char *log_level;
    char *log_format;
    bool config_given;
    bool config_loaded;
    bool no_keeper;
    bool reactor_process; /* started by crisp-keeper: run the daemon, no keeper */
    unsigned restart_delay_ms;
};

static void strv_add(char ***v, const char *s)
{
    size_t n = 0;

    while (*v && (*v)[n])
        n++;
    *v = xrealloc(*v, (n + 2) * sizeof(**v));
    (*v)[n] = xstrdup(s);
    (*v)[n + 1] = NULL;
}

static void set_if_unset(char **dst, json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));

    if (!*dst && v)
        *dst = xstrdup(v);
}

/* Reject keys crispd does not know and values of the wrong JSON type. */
static int check_config_keys(json_t *root, const char *path, struct err **err)
{
    static const struct {
        const char *key;
        json_type type;
    } known[] = {
        {"socket", JSON_STRING},
        {"root", JSON_STRING},
        {"state_dir", JSON_STRING},
        {"log_level", JSON_STRING},
        {"log_format", JSON_STRING},
        {"pause_binary", JSON_STRING},
        {"insecure_registries", JSON_ARRAY},
        {"shutdown_grace_ms", JSON_INTEGER},
        {"image_pull_progress_timeout_s", JSON_INTEGER},
        {"max_concurrent_downloads", JSON_INTEGER},
        {"registries", JSON_OBJECT},
        {"cgroup_driver", JSON_STRING},
        {"pids_limit", JSON_INTEGER},
        {"rlimit_nofile", JSON_INTEGER},
    };
    const char *key;
    json_t *value;

    json_object_foreach(root, key, value) {
        size_t i;

        for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
            if (strcmp(known[i].key, key) == 0)
                break;
        }
        if (i == sizeof(known) / sizeof(known[0]))
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "config file '%s': unknown key '%s' (crispd --help lists the keys)",
                              path, key);
        if (json_typeof(value) != known[i].type)
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "config file '%s': '%s' must be %s", path, key,
                              known[i].type == JSON_STRING    ? "a string"
                              : known[i].type == JSON_ARRAY   ? "an array of strings"
                              : known[i].type == JSON_INTEGER ? "an integer"
                                                              : "an object");
        if (known[i].type == JSON_ARRAY) {
            size_t j;
            json_t *item;

            json_array_foreach(value, j, item) {
                if (!json_is_string(item))
                    return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                                      "config file '%s': '%s' item %zu must be a string", path,
                                      key, j);
            }
        }
    }
    return 0;
}

/* Read the JSON configuration file; values already set by options are kept. */
static int load_config_file(struct options *o, struct err **err)
{
    struct crisp_config *c = &o->config;
    json_error_t jerr;
    json_t *root, *list, *grace, *timeout, *downloads, *registries, *nofile;

    root = json_load_file(c->config_path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (!o->config_given && access(c->config_path, F_OK) < 0 && errno == ENOENT)
            return 0;
        if (jerr.line < 1)
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "config file '%s': %s",
                              c->config_path, jerr.text);
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "config file '%s' line %d: %s",
                          c->config_path, jerr.line, jerr.text);
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "config file '%s': expected a JSON object", c->config_path);
    }
    if (check_config_keys(root, c->config_path, err) < 0) {
        json_decref(root);
        return -1;
    }
    o->config_loaded = true;

    set_if_unset(&c->socket_path, root, "socket");
    set_if_unset(&c->root_dir, root, "root");
    set_if_unset(&c->state_dir, root, "state_dir");
    set_if_unset(&c->pause_path, root, "pause_binary");
    set_if_unset(&o->log_level, root, "log_level");
    set_if_unset(&o->log_format, root, "log_format");
    list = json_object_get(root, "insecure_registries");
    if (json_is_array(list)) {
        size_t i;
        json_t *item;

        json_array_foreach(list, i, item) {
            if (json_is_string(item))
                strv_add(&c->insecure_registries, json_string_value(item));
        }
    }
    timeout = json_object_get(root, "image_pull_progress_timeout_s");
    if (timeout && (!json_is_integer(timeout) || json_integer_value(timeout) <= 0 ||
                    json_integer_value(timeout) > 86400)) {
        json_decref(root);
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "config file '%s': image_pull_progress_timeout_s must be a number of "
                          "seconds from 1 to 86400",
                          c->config_path);
    }
    if (timeout)
        c->image_pull_progress_timeout_s = (unsigned)json_integer_value(timeout);
    downloads = json_object_get(root, "max_concurrent_downloads");
    if (downloads && (!json_is_integer(downloads) || json_integer_value(downloads) < 1 ||
                      json_integer_value(downloads) > MAX_CONCURRENT_DOWNLOADS_MAX)) {
        json_decref(root);
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "config file '%s': max_concurrent_downloads must be a number from 1 "
                          "to %u",
                          c->config_path, MAX_CONCURRENT_DOWNLOADS_MAX);
    }
    if (downloads)
        c->max_concurrent_downloads = (unsigned)json_integer_value(downloads);
    registries = json_object_get(root, "registries");
    if (registries && registry_hosts_parse(registries, &c->registry_hosts,
                                           &c->n_registry_hosts, err) < 0) {
        json_decref(root);
        return err_wrap(err, "config file '%s'", c->config_path);
    }
    grace = json_object_get(root, "shutdown_grace_ms");
    if (json_is_integer(grace) && !c->shutdown_grace_ms)
        c->shutdown_grace_ms = (unsigned)json_integer_value(grace);
    if (handlers_load_cgroup_config(c, root, err) < 0) {
        json_decref(root);
        return err_wrap(err, "config file '%s'", c->config_path);
    }
    nofile = json_object_get(root, "rlimit_nofile");
    if (nofile && (!json_is_integer(nofile) || json_integer_value(nofile) < 1)) {
        json_decref(root);
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "config file '%s': rlimit_nofile is not a positive integer",
                          c->config_path);
    }
    if (nofile)
        c->rlimit_nofile = (uint64_t)json_integer_value(nofile);
    json_decref(root);
    return 0;
}

/* The helper program name beside crispd, else in CRISP_LIBEXECDIR.  Caller frees. */
static char *default_helper_path(const char *name)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    if (n > 0) {
        char *slash;

        exe[n] = '\0';
        slash = strrchr(exe, '/');
        if (slash) {
            _cleanup_free_ char *beside = NULL;

            *slash = '\0';
            beside = path_join(exe, name);
            if (access(beside, X_OK) == 0)
                return TAKE_PTR(beside);
        }
    }
    return path_join(CRISP_LIBEXECDIR, name);
}

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'},
        {"root", required_argument, NULL, 'r'},
        {"state-dir", required_argument, NULL, 'S'},
        {"config", required_argument, NULL, 'c'},
        {"log-level", required_argument, NULL, 'l'},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"insecure-registry", required_argument, NULL, OPT_INSECURE},
        {"pause-binary", required_argument, NULL, OPT_PAUSE},
        {"shutdown-grace", required_argument, NULL, OPT_GRACE},
        {"restart-delay", required_argument, NULL, OPT_RESTART_DELAY},
        {"no-keeper", no_argument, NULL, OPT_NO_KEEPER},
        /* Internal: crisp-keeper passes it to the reactor processes it starts. */
        {"reactor-process", no_argument, NULL, OPT_REACTOR_PROCESS},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct crisp_config *c = &o->config;
    int opt;

    while ((opt = getopt_long(argc, argv, "s:r:S:c:l:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 's':
            free(c->socket_path);
            c->socket_path = xstrdup(optarg);
            break;
        case 'r':
            free(c->root_dir);
            c->root_dir = xstrdup(optarg);
            break;
        case 'S':
            free(c->state_dir);
            c->state_dir = xstrdup(optarg);
            break;
        case 'c':
            free(c->config_path);
            c->config_path = xstrdup(optarg);
            o->config_given = true;
            break;
        case 'l':
            free(o->log_level);
            o->log_level = xstrdup(optarg);
            break;
        case OPT_LOG_FORMAT:
            free(o->log_format);
            o->log_format = xstrdup(optarg);
            break;
        case OPT_INSECURE:
            strv_add(&c->insecure_registries, optarg);
            break;
        case OPT_PAUSE:
            free(c->pause_path);
            c->pause_path = xstrdup(optarg);
            break;
        case OPT_GRACE: {
            char *end;
            unsigned long ms = strtoul(optarg, &end, 10);

            if (!optarg[0] || *end || ms > 600000) {
                fprintf(stderr, "crispd: invalid --shutdown-grace '%s': expected milliseconds "
                                "from 0 to 600000\n", optarg);
                return 2;
            }
            c->shutdown_grace_ms = (unsigned)ms;
            break;
        }
        case OPT_RESTART_DELAY: {
            char *end;
            unsigned long ms = strtoul(optarg, &end, 10);

            if (!optarg[0] || *end || ms > 600000) {
                fprintf(stderr, "crispd: invalid --restart-delay '%s': expected milliseconds "
                                "from 0 to 600000\n", optarg);
                return 2;
            }
            o->restart_delay_ms = (unsigned)ms;
            break;
        }
        case OPT_NO_KEEPER:
            o->no_keeper = true;
            break;
        case OPT_REACTOR_PROCESS:
            o->reactor_process = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case 'V':
            printf("crispd %s\n", PACKAGE_VERSION);
            return 0;
        default:
            fputs("Try 'crispd --help' for more information.\n", stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "crispd: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return -1;
}

static void options_done(struct options *o)
{
    struct crisp_config *c = &o->config;

    free(c->socket_path);
    free(c->root_dir);
    free(c->state_dir);
    free(c->config_path);
    free(c->pause_path);
    free(c->unpack_path);
    strv_free(c->insecure_registries);
    registry_hosts_free(c->registry_hosts, c->n_registry_hosts);
    free(o->log_level);
    free(o->log_format);
}

static int finish_config(struct options *o, struct err **err)
{
    struct crisp_config *c = &o->config;
    enum log_level level = LOG_LEVEL_INFO;
    enum log_format format = LOG_FORMAT_TEXT;

    if (!c->config_path)
        c->config_path = xstrdup(DEFAULT_CONFIG);
    if (load_config_file(o, err) < 0)
        return -1;
    if (!c->socket_path)
        c->socket_path = xstrdup(DEFAULT_SOCKET);
    if (!c->root_dir)
        c->root_dir = xstrdup(DEFAULT_ROOT);
    if (!c->state_dir)
        c->state_dir = xstrdup(DEFAULT_STATE);
    if (!c->pause_path)
        c->pause_path = default_helper_path("crisp-pause");
    c->unpack_path = default_helper_path("crisp-unpack");
    if (!c->shutdown_grace_ms)
        c->shutdown_grace_ms = DEFAULT_GRACE_MS;
    if (!c->rlimit_nofile)
        c->rlimit_nofile = DEFAULT_RLIMIT_NOFILE;
    {
        /* Raising the hard limit needs CAP_SYS_RESOURCE; stay within crispd's own. */
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
            c->rlimit_nofile > rl.rlim_max)
            c->rlimit_nofile = rl.rlim_max;
    }
    if (o->log_level && log_level_parse(o->log_level, &level) < 0)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "invalid log level '%s': expected error, warn, info, debug or trace",
                          o->log_level);
    if (o->log_format && log_format_parse(o->log_format, &format) < 0)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "invalid log format '%s': expected text or json", o->log_format);
    log_setup(level, format);
    if (access(c->pause_path, X_OK) < 0)
        return err_sys(err, "pause binary '%s' is not executable", c->pause_path);
    if (access(c->unpack_path, X_OK) < 0)
        return err_sys(err, "layer unpack program '%s' is not executable", c->unpack_path);
    return 0;
}

struct daemon {
    struct crisp crisp;
    struct grpc_server *server;
    struct event *signal_ev;
    bool shutting_down;
};

static void on_shutdown_done(void *data)
{
    struct daemon *d = data;

    event_base_loopbreak(d->crisp.base);
}

static void on_signal(evutil_socket_t fd, short what, void *data)
{
    struct daemon *d = data;
    struct signalfd_siginfo info;

    (void)what;
    while (read(fd, &info, sizeof(info)) == sizeof(info)) {
        if (info.ssi_signo == SIGHUP) {
            log_info("SIGHUP received; crispd has nothing to reload yet");
            continue;
        }
        if (d->shutting_down)
            continue;
        d->shutting_down = true;
        log_info("signal %u received; stopping (pods and containers keep running)",
                 info.ssi_signo);
        grpc_server_shutdown(d->server, d->crisp.config->shutdown_grace_ms, on_shutdown_done, d);
    }
}

static int setup_signals(struct daemon *d, struct err **err)
{
    sigset_t set;
    int fd;

    /* A client that hangs up must not kill the daemon with SIGPIPE. */
    if (sigaction(SIGPIPE, &(struct sigaction){.sa_handler = SIG_IGN}, NULL) < 0)
        return err_sys(err, "ignore SIGPIPE");

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return err_sys(err, "block signals");
    fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return err_sys(err, "signalfd");
    d->signal_ev = event_new(d->crisp.base, fd, EV_READ | EV_PERSIST, on_signal, d);
    event_add(d->signal_ev, NULL);
    return 0;
}

static int run(struct options *o, struct err **err)
{
    struct crisp_config *c = &o->config;
    struct daemon d = {0};
    _cleanup_free_ char *records = NULL;
    _cleanup_free_ char *images = NULL;
    int listen_fd, r = -1;

    d.crisp.config = c;
    if (!o->no_keeper) {
        pid_t keeper = getppid();

        /* A reactor whose keeper is gone stops, because no process would restart it or reap. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
            return err_sys(err, "set the parent-death signal");
        if (getppid() != keeper)
            return err_status(err, GRPC_STATUS_UNAVAILABLE, "the keeper process is gone");
    }
    if (mkdir_p(c->root_dir, 0711, err) < 0 || mkdir_p(c->state_dir, 0711, err) < 0)
        return -1;
    if (o->config_loaded)
        log_info("configuration read from '%s'", c->config_path);

    d.crisp.base = event_base_new();
    if (!d.crisp.base)
        return err_status(err, GRPC_STATUS_INTERNAL, "create the libevent base");

    records = path_join(c->root_dir, "records");
    images = path_join(c->root_dir, "images");
    if (store_open(records, &d.crisp.store, err) < 0 || store_load(d.crisp.store, err) < 0)
        goto out;
    if (image_store_open(images, &d.crisp.images, err) < 0)
        goto out;
    image_store_set_helper(d.crisp.images, d.crisp.base, c->unpack_path);
    handlers_recover(&d.crisp);

    if (setup_signals(&d, err) < 0)
        goto out;

    listen_fd = grpc_listen_unix(c->socket_path, 0660, err);
    if (listen_fd < 0)
        goto out;
    d.server = grpc_server_new(d.crisp.base, listen_fd, handlers_dispatch, &d.crisp, err);
    if (!d.server)
        goto out;

    log_info("crispd %s serving CRI on '%s' (root '%s', state '%s')", PACKAGE_VERSION,
             c->socket_path, c->root_dir, c->state_dir);
    event_base_dispatch(d.crisp.base);
    unlink(c->socket_path);
    log_info("crispd stopped");
    r = 0;

out:
    if (d.server)
        grpc_server_free(d.server);
    if (d.signal_ev) {
        close(event_get_fd(d.signal_ev));
        event_free(d.signal_ev);
    }
    if (d.crisp.store)
        handlers_detach(&d.crisp);
    store_free(d.crisp.store);
    image_store_free(d.crisp.images);
    event_base_free(d.crisp.base);
    return r;
}

/*
 * Hold an exclusive lock on <root>/crispd.lock for as long as this crispd
 * runs, so a second one on the same root fails instead of sharing it.  The
 * fd is not close-on-exec: crisp-keeper keeps the lock through its exec
 * and hands it to every reactor it starts.
 */
static int take_root_lock(const struct crisp_config *c, struct err **err)
{
    _cleanup_free_ char *path = path_join(c->root_dir, "crispd.lock");
    int fd;

    if (mkdir_p(c->root_dir, 0711, err) < 0)
        return -1;
    fd = open(path, O_RDWR | O_CREAT, 0600);
    if (fd < 0)
        return err_sys(err, "open lock file '%s'", path);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int saved = errno;

        close(fd);
        if (saved == EWOULDBLOCK)
            return err_status(err, GRPC_STATUS_FAILED_PRECONDITION,
                              "another crispd runs on root directory '%s' (it holds '%s'); "
                              "stop it or choose another --root",
                              c->root_dir, path);
        return err_errno(err, saved, "lock '%s'", path);
    }
    return 0; /* the fd stays open until crispd exits */
}

/* Fork the reactor and execute crisp-keeper, unless --no-keeper is set.  Returns 0 in the reactor. */
static int start_keeper(const struct options *o, char **argv, struct err **err)
{
    _cleanup_free_ char *keeper_path = NULL;
    struct keeper_args a = {
        .state_dir = o->config.state_dir,
        .restart_delay_ms = o->restart_delay_ms,
        .log_level = o->log_level,
        .log_format = o->log_format,
    };

    if (o->no_keeper || o->reactor_process)
        return 0;
    keeper_path = default_helper_path("crisp-keeper");
    if (access(keeper_path, X_OK) < 0)
        return err_sys(err, "keeper program '%s' is not executable", keeper_path);
    a.keeper_path = keeper_path;
    return keeper_start(&a, argv, err);
}

int main(int argc, char **argv)
{
    struct options o = {.restart_delay_ms = 1000};
    _cleanup_err_ struct err *e = NULL;
    int r;

    r = parse_options(argc, argv, &o);
    if (r >= 0) {
        options_done(&o);
        return r;
    }

    if (finish_config(&o, &e) < 0 ||
        (!o.reactor_process && take_root_lock(&o.config, &e) < 0) ||
        start_keeper(&o, argv, &e) < 0 || run(&o, &e) < 0) {
        _cleanup_free_ char *text = err_text(e);

        log_error("crispd failed: %s", text);
        options_done(&o);
        return 1;
    }
    options_done(&o);
    return 0;
}
