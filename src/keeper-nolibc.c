/*
 * crisp-keeper without a C library, for x86_64 and aarch64.  It behaves as
 * keeper-main.c does (same options, log lines, exit records and exit
 * statuses; see that file).  It is linked with -nostdlib -static, so a
 * running keeper maps no shared object.  An idle keeper measured 32 KiB RSS
 * against 1696 KiB for the libc build, nearly all of it libc and ld.so
 * (x86_64, Debian 12).  configure builds keeper-main.c on other
 * architectures.
 *
 * The headers below are used for constants and structure layouts only;
 * nothing is linked.  Every buffer is fixed: paths longer than PATH_BUF or
 * log lines longer than LOG_BUF are truncated (a truncated exit record path
 * fails to open and is logged).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "keeper-nolibc.c supports x86_64 and aarch64; configure builds keeper-main.c elsewhere"
#endif

#define MAX_DELAY_MS 600000
#define PATH_BUF 4096
#define LOG_BUF 4096
/* The kernel's sigset_t: one bit per signal, 64 signals (rt_sigprocmask(2)). */
#define KERNEL_SIGSET_SIZE 8
#define SIGNAL_BIT(sig) (1UL << ((sig) - 1))

#if defined(__x86_64__)
static long raw_syscall6(long nr, long a, long b, long c, long d, long e, long f)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;

    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

/* The kernel starts a process with argc at the stack pointer, then argv and envp. */
__asm__(".text\n"
        ".globl _start\n"
        ".type _start, @function\n"
        "_start:\n"
        "    xor %rbp, %rbp\n"
        "    mov %rsp, %rdi\n"
        "    and $-16, %rsp\n"
        "    call keeper_main\n"
        "    hlt\n");
#elif defined(__aarch64__)
static long raw_syscall6(long nr, long a, long b, long c, long d, long e, long f)
{
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;

    __asm__ volatile("svc #0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    return x0;
}

__asm__(".text\n"
        ".globl _start\n"
        ".type _start, %function\n"
        "_start:\n"
        "    mov x29, #0\n"
        "    mov x30, #0\n"
        "    mov x0, sp\n"
        "    bl keeper_main\n"
        "    brk #0\n");
#endif

#define sys0(nr) raw_syscall6((nr), 0, 0, 0, 0, 0, 0)
#define sys1(nr, a) raw_syscall6((nr), (long)(a), 0, 0, 0, 0, 0)
#define sys2(nr, a, b) raw_syscall6((nr), (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(nr, a, b, c) raw_syscall6((nr), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(nr, a, b, c, d) raw_syscall6((nr), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define sys5(nr, a, b, c, d, e)                                                                  \
    raw_syscall6((nr), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

/* The compiler may emit calls to these for structure copies and initializers. */
void *memset(void *dest, int c, size_t n);
void *memcpy(void *dest, const void *src, size_t n);

void *memset(void *dest, int c, size_t n)
{
    volatile unsigned char *d = dest;

    while (n--)
        *d++ = (unsigned char)c;
    return dest;
}

void *memcpy(void *dest, const void *src, size_t n)
{
    volatile unsigned char *d = dest;
    const unsigned char *s = src;

    while (n--)
        *d++ = *s++;
    return dest;
}

__attribute__((noreturn)) static void exit_group(int code)
{
    for (;;)
        sys1(SYS_exit_group, code);
}

static size_t str_len(const char *s)
{
    size_t n = 0;

    while (s[n])
        n++;
    return n;
}

static int str_eq(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

/* Returns the text after prefix when s starts with it, NULL otherwise. */
static const char *after_prefix(const char *s, const char *prefix)
{
    while (*prefix) {
        if (*s++ != *prefix++)
            return NULL;
    }
    return s;
}

/* A bounded string builder: appends stop at the capacity, keeping the terminating NUL. */
struct text {
    char *buf;
    size_t len, cap;
};

static void text_add(struct text *t, const char *s, size_t n)
{
    while (n-- && t->len + 1 < t->cap)
        t->buf[t->len++] = *s++;
    t->buf[t->len] = '\0';
}

static void text_str(struct text *t, const char *s)
{
    text_add(t, s, str_len(s));
}

static void text_char(struct text *t, char c)
{
    text_add(t, &c, 1);
}

/* Appends v in decimal, at least width digits with leading zeros. */
static void text_num(struct text *t, long long v, int width)
{
    char digits[24];
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    int n = 0;

    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (n < width && n < (int)sizeof(digits))
        digits[n++] = '0';
    if (v < 0)
        text_char(t, '-');
    while (n)
        text_char(t, digits[--n]);
}

/* Parses a decimal number from 0 to max; returns 0, or -1 when text is not one. */
static int parse_number(const char *text, unsigned long max, unsigned long *ret)
{
    unsigned long v = 0;

    if (!*text)
        return -1;
    for (; *text; text++) {
        if (*text < '0' || *text > '9')
            return -1;
        if (v > (max - (unsigned long)(*text - '0')) / 10)
            return -1;
        v = v * 10 + (unsigned long)(*text - '0');
    }
    *ret = v;
    return 0;
}

/* The logging of src/util/log.c (logfmt text or JSON lines on stderr), rebuilt on fixed buffers. */
enum level { LEVEL_ERROR, LEVEL_WARN, LEVEL_INFO, LEVEL_DEBUG, LEVEL_TRACE };
static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};
static int log_level = LEVEL_INFO;
static int log_json;

static const struct {
    int num;
    const char *text;
} errno_texts[] = {
    {EPERM, "Operation not permitted"},
    {ENOENT, "No such file or directory"},
    {ESRCH, "No such process"},
    {EINTR, "Interrupted system call"},
    {EIO, "Input/output error"},
    {EBADF, "Bad file descriptor"},
    {ECHILD, "No child processes"},
    {EAGAIN, "Resource temporarily unavailable"},
    {ENOMEM, "Cannot allocate memory"},
    {EACCES, "Permission denied"},
    {EEXIST, "File exists"},
    {ENOTDIR, "Not a directory"},
    {EISDIR, "Is a directory"},
    {EINVAL, "Invalid argument"},
    {EMFILE, "Too many open files"},
    {ENOSPC, "No space left on device"},
    {EROFS, "Read-only file system"},
    {ENAMETOOLONG, "File name too long"},
    {EDQUOT, "Disk quota exceeded"},
};

/* Appends strerror(3)'s text for the errors the keeper's calls return, "errno N" for others. */
static void text_errno(struct text *t, int num)
{
    for (size_t i = 0; i < sizeof(errno_texts) / sizeof(errno_texts[0]); i++) {
        if (errno_texts[i].num == num) {
            text_str(t, errno_texts[i].text);
            return;
        }
    }
    text_str(t, "errno ");
    text_num(t, num, 0);
}

static void text_escaped(struct text *t, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\') {
            text_char(t, '\\');
            text_char(t, (char)c);
        } else if (c == '\n') {
            text_str(t, "\\n");
        } else if (c == '\t') {
            text_str(t, "\\t");
        } else if (c == '\r') {
            text_str(t, "\\r");
        } else if (c < 0x20 || c == 0x7f) {
            text_str(t, log_json ? "\\u00" : "\\x");
            text_char(t, hex[c >> 4]);
            text_char(t, hex[c & 15]);
        } else {
            text_char(t, (char)c);
        }
    }
}

/* Appends key=value (text) or "key":"value" (JSON); a text value is quoted as log.c does. */
static void text_field(struct text *t, const char *key, const char *value, int force_quote)
{
    int quote = force_quote || !*value;

    for (const char *p = value; *p && !quote; p++)
        quote = *p == ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == '\t' || *p == '\n';
    if (log_json) {
        text_str(t, t->len > 1 ? ",\"" : "\"");
        text_str(t, key);
        text_str(t, "\":\"");
        text_escaped(t, value);
        text_char(t, '"');
        return;
    }
    if (t->len)
        text_char(t, ' ');
    text_str(t, key);
    text_char(t, '=');
    if (quote) {
        text_char(t, '"');
        text_escaped(t, value);
        text_char(t, '"');
    } else {
        text_str(t, value);
    }
}

/* Appends the UTC time as log.c writes it: 2006-01-02T15:04:05.000000Z. */
static void text_timestamp(struct text *t, const struct timespec *now)
{
    /* Days to civil date: Howard Hinnant's days_from_civil inverse, proleptic Gregorian. */
    long long days = now->tv_sec / 86400, secs = now->tv_sec % 86400;
    long long z = days + 719468, era = z / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    long long day = doy - (153 * mp + 2) / 5 + 1;
    long long month = mp < 10 ? mp + 3 : mp - 9;
    long long year = yoe + era * 400 + (month <= 2);

    text_num(t, year, 4);
    text_char(t, '-');
    text_num(t, month, 2);
    text_char(t, '-');
    text_num(t, day, 2);
    text_char(t, 'T');
    text_num(t, secs / 3600, 2);
    text_char(t, ':');
    text_num(t, secs / 60 % 60, 2);
    text_char(t, ':');
    text_num(t, secs % 60, 2);
    text_char(t, '.');
    text_num(t, now->tv_nsec / 1000, 6);
    text_char(t, 'Z');
}

/*
 * Writes one log line with message msg; with err_msg, adds the err, errno and
 * error fields of log.c's error objects (errnum 0: err alone).
 */
static void log_line(int level, const char *msg, const char *err_msg, int errnum)
{
    char line[LOG_BUF], stamp[40], num[16], error[64];
    struct text t = {line, 0, sizeof(line) - 2}; /* room for the closing brace and newline */
    struct text ts = {stamp, 0, sizeof(stamp)};
    struct timespec now = {0, 0};

    if (level > log_level)
        return;
    sys2(SYS_clock_gettime, CLOCK_REALTIME, &now);
    text_timestamp(&ts, &now);
    line[0] = '\0';
    if (log_json)
        text_char(&t, '{');
    text_field(&t, "time", stamp, 0);
    text_field(&t, "level", level_names[level], 0);
    text_field(&t, "msg", msg, 1);
    if (err_msg) {
        text_field(&t, "err", err_msg, 1);
        if (errnum) {
            struct text tn = {num, 0, sizeof(num)}, te = {error, 0, sizeof(error)};

            text_num(&tn, errnum, 0);
            text_errno(&te, errnum);
            text_field(&t, "errno", num, 0);
            text_field(&t, "error", error, 1);
        }
    }
    t.cap += 2;
    if (log_json)
        text_char(&t, '}');
    text_char(&t, '\n');
    sys3(SYS_write, 2, line, t.len);
}

static int64_t monotonic_ms(void)
{
    struct timespec ts = {0, 0};

    sys2(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct keeper {
    const char *state_dir;
    unsigned long restart_delay_ms;
    long reactor;
    const char *crispd_path;
    char **reactor_argv; /* ARGV0 --reactor-process ARG... */
    char **envp;
    unsigned long signals; /* blocked and read from the signalfd */
};

static void usage_error(const char *what, const char *value)
{
    char buf[512];
    struct text t = {buf, 0, sizeof(buf)};

    text_str(&t, "crisp-keeper: ");
    text_str(&t, what);
    if (value) {
        text_str(&t, " '");
        text_str(&t, value);
        text_char(&t, '\'');
    }
    text_char(&t, '\n');
    sys3(SYS_write, 2, buf, t.len);
}

/*
 * Parses the command line into k.  Options take "--name=value" or "--name
 * value", as getopt_long(3) accepts them in keeper-main.c.  The reactor's
 * argument vector reuses argv's slots.  Returns 0, or -1 after printing why.
 */
static int parse_args(long argc, char **argv, struct keeper *k)
{
    static const char *const names[] = {"--state-dir",  "--restart-delay", "--reactor-pid",
                                        "--log-level", "--log-format"};
    long i = 1;

    for (; i < argc; i++) {
        const char *value = NULL;
        size_t opt = sizeof(names) / sizeof(names[0]);
        unsigned long v;

        if (str_eq(argv[i], "--")) {
            i++;
            break;
        }
        for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
            const char *rest = after_prefix(argv[i], names[n]);

            if (rest && (*rest == '=' || !*rest)) {
                opt = n;
                value = *rest == '=' ? rest + 1 : NULL;
                break;
            }
        }
        if (opt == sizeof(names) / sizeof(names[0])) {
            usage_error("unrecognized option", argv[i]);
            return -1;
        }
        if (!value) {
            if (i + 1 >= argc) {
                usage_error("option requires an argument:", argv[i]);
                return -1;
            }
            value = argv[++i];
        }

        switch (opt) {
        case 0:
            k->state_dir = value;
            break;
        case 1:
            if (parse_number(value, MAX_DELAY_MS, &v) < 0) {
                usage_error("invalid --restart-delay: expected a number from 0 to 600000:",
                            value);
                return -1;
            }
            k->restart_delay_ms = v;
            break;
        case 2:
            if (parse_number(value, INT32_MAX, &v) < 0) {
                usage_error("invalid --reactor-pid: expected a number from 0 to 2147483647:",
                            value);
                return -1;
            }
            k->reactor = (long)v;
            break;
        case 3:
            log_level = -1;
            for (int l = LEVEL_ERROR; l <= LEVEL_TRACE; l++) {
                if (str_eq(value, level_names[l]))
                    log_level = l;
            }
            if (str_eq(value, "warning"))
                log_level = LEVEL_WARN;
            if (log_level < 0) {
                usage_error("invalid --log-level", value);
                return -1;
            }
            break;
        case 4:
            if (!str_eq(value, "text") && !str_eq(value, "json")) {
                usage_error("invalid --log-format", value);
                return -1;
            }
            log_json = str_eq(value, "json");
            break;
        }
    }
    if (!k->state_dir || k->reactor <= 0 || argc - i < 2) {
        usage_error("--state-dir, --reactor-pid and the crispd command line are required; "
                    "crisp-keeper is started by crispd only",
                    NULL);
        return -1;
    }

    /* argv[i] is CRISPD and argv[i + 1] ARGV0: shift ARGV0 into CRISPD's slot and put
     * --reactor-process in its own, leaving ARG... and the terminating NULL in place. */
    k->crispd_path = argv[i];
    argv[i] = argv[i + 1];
    argv[i + 1] = (char *)"--reactor-process";
    k->reactor_argv = argv + i;
    return 0;
}

/* Forks and executes a new reactor; returns its pid, or a negative errno when clone(2) failed. */
static long start_reactor(struct keeper *k)
{
    char msg[PATH_BUF + 64];
    struct text t = {msg, 0, sizeof(msg)};
    long pid = sys5(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    long r;

    if (pid != 0)
        return pid;
    /* The reactor sets up its own signal handling. */
    sys4(SYS_rt_sigprocmask, SIG_UNBLOCK, &k->signals, 0, KERNEL_SIGSET_SIZE);
    r = sys3(SYS_execve, k->crispd_path, k->reactor_argv, k->envp);
    text_str(&t, "keeper: executing the reactor '");
    text_str(&t, k->crispd_path);
    text_str(&t, "' failed: ");
    text_errno(&t, (int)-r);
    log_line(LEVEL_ERROR, msg, NULL, 0);
    exit_group(127);
}

/* The start time of pid in clock ticks since boot (/proc/PID/stat field 22), 0 when unreadable. */
static unsigned long long proc_start_time(long pid)
{
    char path[64], buf[1024];
    struct text t = {path, 0, sizeof(path)};
    unsigned long long start = 0;
    long fd, n;
    char *p = NULL;
    int field = 2;

    text_str(&t, "/proc/");
    text_num(&t, pid, 0);
    text_str(&t, "/stat");
    fd = sys4(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    n = sys3(SYS_read, fd, buf, sizeof(buf) - 1);
    sys1(SYS_close, fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';

    /* The command name (field 2) may hold spaces and ')': fields restart after the last ')'. */
    for (long i = 0; i < n; i++) {
        if (buf[i] == ')')
            p = buf + i;
    }
    if (!p)
        return 0;
    for (p++; *p && field < 22; p++) {
        if (*p == ' ')
            field++;
    }
    if (field != 22 || *p < '0' || *p > '9')
        return 0;
    for (; *p >= '0' && *p <= '9'; p++)
        start = start * 10 + (unsigned long long)(*p - '0');
    return start;
}

/*
 * Writes data to path through a temporary file, fsync(2) and rename(2), then
 * syncs the directory, as write_file_atomic() in src/util/fs.c does.
 * Returns 0, or a negative errno with *what naming the step that failed.
 */
static long write_record(const char *path, const char *tmp, const char *dir, const char *data,
                         size_t len, const char **what)
{
    long fd, r;

    *what = "create";
    fd = sys4(SYS_openat, AT_FDCWD, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return fd;
    while (len > 0) {
        r = sys3(SYS_write, fd, data, len);
        if (r == -EINTR)
            continue;
        if (r < 0)
            goto fail;
        data += r;
        len -= (size_t)r;
    }
    *what = "fsync";
    r = sys1(SYS_fsync, fd);
    if (r < 0)
        goto fail;
    sys1(SYS_close, fd);
    *what = "rename";
    r = sys4(SYS_renameat, AT_FDCWD, tmp, AT_FDCWD, path);
    if (r < 0) {
        sys3(SYS_unlinkat, AT_FDCWD, tmp, 0);
        return r;
    }
    *what = "fsync directory of";
    fd = sys4(SYS_openat, AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0)
        return fd;
    r = sys1(SYS_fsync, fd);
    sys1(SYS_close, fd);
    return r;

fail:
    sys1(SYS_close, fd);
    sys3(SYS_unlinkat, AT_FDCWD, tmp, 0);
    return r;
}

/* Reaps one orphaned pod or container process and writes its exit record. */
static void record_exit(const struct keeper *k, long pid)
{
    char dir[PATH_BUF], path[PATH_BUF], tmp[PATH_BUF + 32], data[64], msg[PATH_BUF + 128];
    struct text td = {dir, 0, sizeof(dir)}, tp = {path, 0, sizeof(path)};
    struct text tt = {tmp, 0, sizeof(tmp)}, tx = {data, 0, sizeof(data)};
    struct text tm = {msg, 0, sizeof(msg)};
    unsigned long long start = proc_start_time(pid); /* readable while it is a zombie */
    struct timespec now = {0, 0};
    const char *what = "";
    int status = 0, code;
    long r;

    if (sys4(SYS_wait4, pid, &status, WNOHANG, 0) <= 0)
        return;
    code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    sys2(SYS_clock_gettime, CLOCK_REALTIME, &now);

    text_str(&td, k->state_dir);
    text_str(&td, "/exits");
    text_str(&tp, dir);
    text_char(&tp, '/');
    text_num(&tp, pid, 0);
    text_char(&tp, '-');
    text_num(&tp, (long long)start, 0);
    text_str(&tt, path);
    text_str(&tt, ".tmp-");
    text_num(&tt, sys0(SYS_getpid), 0);
    text_num(&tx, code, 0);
    text_char(&tx, ' ');
    text_num(&tx, (long long)now.tv_sec * 1000000000LL + now.tv_nsec, 0);
    text_char(&tx, '\n');

    r = write_record(path, tmp, dir, data, tx.len, &what);
    if (r >= 0)
        return;
    text_str(&tm, what);
    text_str(&tm, " '");
    text_str(&tm, str_eq(what, "create") || str_eq(what, "fsync") ? tmp : path);
    text_char(&tm, '\'');
    if (str_eq(what, "rename")) {
        text_str(&tm, " to '");
        text_str(&tm, path);
        text_char(&tm, '\'');
    }
    {
        char head[128];
        struct text th = {head, 0, sizeof(head)};

        text_str(&th, "keeper: recording the exit of process ");
        text_num(&th, pid, 0);
        text_str(&th, " failed; its exit code is lost");
        log_line(LEVEL_WARN, head, msg, (int)-r);
    }
}

/*
 * Reaps every child that has exited.  Returns the time to restart the
 * reactor at when it died (or restart_at unchanged); exits the keeper when
 * the reactor stopped for good.
 */
static int64_t reap_children(struct keeper *k, int stopping, int64_t restart_at)
{
    for (;;) {
        siginfo_t child;
        int status = 0;
        char msg[160];
        struct text t = {msg, 0, sizeof(msg)};

        memset(&child, 0, sizeof(child));
        if (sys5(SYS_waitid, P_ALL, 0, &child, WEXITED | WNOHANG | WNOWAIT, 0) < 0 ||
            child.si_pid == 0)
            return restart_at;
        if (child.si_pid != k->reactor) {
            record_exit(k, child.si_pid);
            continue;
        }

        sys4(SYS_wait4, k->reactor, &status, 0, 0);
        k->reactor = -1;
        if (stopping || (WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            /* Pods and containers stay: they move up to init with the keeper gone. */
            exit_group(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
        }
        text_str(&t, "keeper: reactor exited with ");
        text_str(&t, WIFEXITED(status) ? "status " : "signal ");
        text_num(&t, WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), 0);
        text_str(&t, "; restarting it in ");
        text_num(&t, (long long)k->restart_delay_ms, 0);
        text_str(&t, " ms");
        log_line(LEVEL_ERROR, msg, NULL, 0);
        restart_at = monotonic_ms() + (int64_t)k->restart_delay_ms;
    }
}

/* Logs "keeper PID WHAT reactor REACTOR" at info level. */
static void log_reactor(const char *what, long reactor)
{
    char msg[96];
    struct text t = {msg, 0, sizeof(msg)};

    text_str(&t, "keeper ");
    text_num(&t, sys0(SYS_getpid), 0);
    text_char(&t, ' ');
    text_str(&t, what);
    text_str(&t, " reactor ");
    text_num(&t, reactor, 0);
    log_line(LEVEL_INFO, msg, NULL, 0);
}

static void log_errno(const char *what, long r)
{
    char msg[160];
    struct text t = {msg, 0, sizeof(msg)};

    text_str(&t, what);
    text_str(&t, " failed: ");
    text_errno(&t, (int)-r);
    log_line(LEVEL_ERROR, msg, NULL, 0);
}

static int run(struct keeper *k)
{
    int64_t restart_at = -1;
    int stopping = 0;
    long sfd, r;

    /* crispd set both before it forked the reactor; set again in case another program
     * started this one. */
    r = sys5(SYS_prctl, PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    if (r < 0) {
        log_errno("keeper: becoming child subreaper", r);
        return 1;
    }
    k->signals = SIGNAL_BIT(SIGCHLD) | SIGNAL_BIT(SIGTERM) | SIGNAL_BIT(SIGINT) |
                 SIGNAL_BIT(SIGHUP);
    sfd = sys4(SYS_signalfd4, -1, &k->signals, KERNEL_SIGSET_SIZE, SFD_CLOEXEC);
    r = sfd < 0 ? sfd : sys4(SYS_rt_sigprocmask, SIG_BLOCK, &k->signals, 0, KERNEL_SIGSET_SIZE);
    if (r < 0) {
        log_errno("keeper: setting up signals", r);
        return 1;
    }
    log_reactor("started", k->reactor);
    /* A reactor that died before this program ran left a SIGCHLD pending, which the
     * signalfd reports; reaping here as well costs nothing. */
    restart_at = reap_children(k, stopping, restart_at);

    for (;;) {
        struct pollfd pfd = {.fd = (int)sfd, .events = POLLIN};
        struct signalfd_siginfo info;
        struct timespec timeout, *tp = NULL;

        if (restart_at >= 0) {
            int64_t left = restart_at - monotonic_ms();

            if (left < 0)
                left = 0;
            timeout.tv_sec = left / 1000;
            timeout.tv_nsec = left % 1000 * 1000000;
            tp = &timeout;
        }
        if (sys5(SYS_ppoll, &pfd, 1, tp, 0, 0) == 0) {
            /* The restart delay has passed. */
            restart_at = -1;
            k->reactor = start_reactor(k);
            if (k->reactor < 0) {
                log_errno("keeper: fork the reactor process", k->reactor);
                return 1;
            }
            log_reactor("restarted", k->reactor);
            continue;
        }
        if (sys3(SYS_read, sfd, &info, sizeof(info)) != (long)sizeof(info))
            continue;

        if (info.ssi_signo == SIGHUP) {
            if (k->reactor > 0)
                sys2(SYS_kill, k->reactor, SIGHUP);
            continue;
        }
        if (info.ssi_signo != SIGCHLD) {
            stopping = 1;
            if (k->reactor <= 0)
                return 0; /* between a crash and the restart: nothing to wait for */
            sys2(SYS_kill, k->reactor, info.ssi_signo);
            continue;
        }
        restart_at = reap_children(k, stopping, restart_at);
    }
}

/* Entry point called by _start with the initial stack pointer: argc, argv[], NULL, envp[]. */
__attribute__((noreturn, used)) void keeper_main(long *initial_sp);

void keeper_main(long *initial_sp)
{
    long argc = initial_sp[0];
    char **argv = (char **)(initial_sp + 1);
    struct keeper k = {.restart_delay_ms = 1000, .envp = argv + argc + 1};

    if (parse_args(argc, argv, &k) < 0)
        exit_group(2);
    exit_group(run(&k));
}
