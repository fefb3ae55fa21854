/*
 * Device access of a container's cgroup: the rules, their reduction to a
 * default and exceptions, the v1 devices.allow lines and the cgroup v2
 * BPF_PROG_TYPE_CGROUP_DEVICE program, assembled by hand as runc and crun do.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>

#include "platform/cgroup-internal.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#define ANY (-1)

const struct cgroup_device_rule cgroup_default_device_rules[] = {
    {false, 'a', ANY, ANY, CGROUP_DEVICE_ALL},
    {true, 'c', ANY, ANY, CGROUP_DEVICE_MKNOD},
    {true, 'b', ANY, ANY, CGROUP_DEVICE_MKNOD},
    {true, 'c', 1, 3, CGROUP_DEVICE_ALL},   /* /dev/null */
    {true, 'c', 1, 5, CGROUP_DEVICE_ALL},   /* /dev/zero */
    {true, 'c', 1, 7, CGROUP_DEVICE_ALL},   /* /dev/full */
    {true, 'c', 1, 8, CGROUP_DEVICE_ALL},   /* /dev/random */
    {true, 'c', 1, 9, CGROUP_DEVICE_ALL},   /* /dev/urandom */
    {true, 'c', 5, 0, CGROUP_DEVICE_ALL},   /* /dev/tty */
    {true, 'c', 5, 1, CGROUP_DEVICE_ALL},   /* /dev/console */
    {true, 'c', 5, 2, CGROUP_DEVICE_ALL},   /* /dev/ptmx */
    {true, 'c', 136, ANY, CGROUP_DEVICE_ALL}, /* /dev/pts/N */
    {true, 'c', 10, 200, CGROUP_DEVICE_ALL}, /* /dev/net/tun */
};
const size_t cgroup_n_default_device_rules = ARRAY_SIZE(cgroup_default_device_rules);

int cgroup_device_access_parse(const char *text, unsigned int *ret, struct err **err)
{
    unsigned int access = 0;

    for (const char *p = text; *p; p++) {
        switch (*p) {
        case 'r':
            access |= CGROUP_DEVICE_READ;
            break;
        case 'w':
            access |= CGROUP_DEVICE_WRITE;
            break;
        case 'm':
            access |= CGROUP_DEVICE_MKNOD;
            break;
        default:
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "invalid device permissions '%s': only the letters r, w and m "
                              "are allowed",
                              text);
        }
    }
    if (!access)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "device permissions are empty: expected some of r, w and m");
    *ret = access;
    return 0;
}

static void format_number(char *buf, size_t size, int64_t n)
{
    if (n == ANY)
        snprintf(buf, size, "*");
    else
        snprintf(buf, size, "%" PRId64, n);
}

char *cgroup_device_rule_format(const struct cgroup_device_rule *rule)
{
    char major[24], minor[24], access[4];
    size_t len = 0;

    format_number(major, sizeof(major), rule->major);
    format_number(minor, sizeof(minor), rule->minor);
    if (rule->access & CGROUP_DEVICE_READ)
        access[len++] = 'r';
    if (rule->access & CGROUP_DEVICE_WRITE)
        access[len++] = 'w';
    if (rule->access & CGROUP_DEVICE_MKNOD)
        access[len++] = 'm';
    access[len] = '\0';
    return xasprintf("%c %s:%s %s", rule->type, major, minor, access);
}

static int check_rule(const struct cgroup_device_rule *rule, struct err **err)
{
    bool wildcard = rule->major == ANY && rule->minor == ANY;

    if (rule->type != 'a' && rule->type != 'c' && rule->type != 'b')
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "invalid device type '%c': expected a, c or b", rule->type);
    if (rule->type == 'a' && !wildcard)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "device type 'a' stands for every device and takes no numbers");
    if (rule->major < ANY || rule->major > UINT32_MAX || rule->minor < ANY ||
        rule->minor > UINT32_MAX)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "device number %" PRId64 ":%" PRId64 " is out of range", rule->major,
                          rule->minor);
    if (!rule->access || (rule->access & ~CGROUP_DEVICE_ALL))
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "invalid device access bits 0x%x", rule->access);
    return 0;
}

static struct cgroup_device_rule *find_exception(struct cgroup_device_rule *list, size_t n,
                                                 const struct cgroup_device_rule *rule)
{
    for (size_t i = 0; i < n; i++) {
        if (list[i].type == rule->type && list[i].major == rule->major &&
            list[i].minor == rule->minor)
            return &list[i];
    }
    return NULL;
}

int cgroup_devices_reduce(const struct cgroup_device_rule *rules, size_t n, bool *ret_default_allow,
                          struct cgroup_device_rule **ret_exceptions, size_t *ret_n,
                          struct err **err)
{
    _cleanup_free_ struct cgroup_device_rule *list = NULL;
    bool default_allow = false;
    size_t n_list = 0;

    if (n > CGROUP_MAX_DEVICE_RULES)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "%zu device rules exceed the limit of %d", n, CGROUP_MAX_DEVICE_RULES);
    list = xcalloc(n + 1, sizeof(*list));
    for (size_t i = 0; i < n; i++) {
        const struct cgroup_device_rule *rule = &rules[i];
        struct cgroup_device_rule *found;

        if (check_rule(rule, err) < 0)
            return -1;
        /* As the v1 controller does, "a" sets the default and drops every exception. */
        if (rule->type == 'a') {
            default_allow = rule->allow;
            n_list = 0;
            continue;
        }
        found = find_exception(list, n_list, rule);
        if (rule->allow != default_allow) {
            if (found)
                found->access |= rule->access;
            else
                list[n_list++] = *rule;
            continue;
        }
        /* A rule that agrees with the default removes its bits from a matching exception. */
        if (!found)
            continue;
        found->access &= ~rule->access;
        if (!found->access) {
            memmove(found, found + 1, (size_t)(&list[n_list] - (found + 1)) * sizeof(*found));
            n_list--;
        }
    }
    *ret_default_allow = default_allow;
    *ret_exceptions = TAKE_PTR(list);
    *ret_n = n_list;
    return 0;
}

/* ---- the BPF program ---- */

struct program {
    struct bpf_insn *insns;
    size_t n;
    size_t cap;
};

static void emit(struct program *p, struct bpf_insn insn)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->insns = xrealloc(p->insns, p->cap * sizeof(*p->insns));
    }
    p->insns[p->n++] = insn;
}

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
    struct bpf_insn i;

    memset(&i, 0, sizeof(i));
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    return i;
}

/* Jump offsets are patched once the end of the rule is known. */
#define JUMP_TO_NEXT_RULE INT16_MAX

static void emit_jne_imm(struct program *p, uint8_t reg, int32_t value)
{
    emit(p, insn(BPF_JMP | BPF_JNE | BPF_K, reg, 0, JUMP_TO_NEXT_RULE, value));
}

/*
 * Registers after the prologue, as in runc: R2 the device type, R3 the
 * requested access, R4 the major and R5 the minor number, all from
 * struct bpf_cgroup_dev_ctx at R1.
 */
static void emit_prologue(struct program *p)
{
    emit(p, insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, 0, 0));
    emit(p, insn(BPF_ALU | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xffff));
    emit(p, insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_3, BPF_REG_1, 0, 0));
    emit(p, insn(BPF_ALU | BPF_RSH | BPF_K, BPF_REG_3, 0, 0, 16));
    emit(p, insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_4, BPF_REG_1, 4, 0));
    emit(p, insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_5, BPF_REG_1, 8, 0));
}

static int32_t bpf_access(unsigned int access)
{
    int32_t bits = 0;

    if (access & CGROUP_DEVICE_READ)
        bits |= BPF_DEVCG_ACC_READ;
    if (access & CGROUP_DEVICE_WRITE)
        bits |= BPF_DEVCG_ACC_WRITE;
    if (access & CGROUP_DEVICE_MKNOD)
        bits |= BPF_DEVCG_ACC_MKNOD;
    return bits;
}

static void emit_return(struct program *p, bool allow)
{
    emit(p, insn(BPF_ALU | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, allow ? 1 : 0));
    emit(p, insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
}

static void emit_rule(struct program *p, const struct cgroup_device_rule *rule)
{
    size_t start = p->n;

    emit_jne_imm(p, BPF_REG_2, rule->type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK);
    if (rule->access != CGROUP_DEVICE_ALL) {
        /* The request matches when its access bits are a subset of the rule's: R3 & bits == R3. */
        emit(p, insn(BPF_ALU | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_3, 0, 0));
        emit(p, insn(BPF_ALU | BPF_AND | BPF_K, BPF_REG_1, 0, 0, bpf_access(rule->access)));
        emit(p, insn(BPF_JMP | BPF_JNE | BPF_X, BPF_REG_1, BPF_REG_3, JUMP_TO_NEXT_RULE, 0));
    }
    if (rule->major != ANY)
        emit_jne_imm(p, BPF_REG_4, (int32_t)(uint32_t)rule->major);
    if (rule->minor != ANY)
        emit_jne_imm(p, BPF_REG_5, (int32_t)(uint32_t)rule->minor);
    emit_return(p, rule->allow);

    for (size_t i = start; i < p->n; i++) {
        if (BPF_CLASS(p->insns[i].code) == BPF_JMP && p->insns[i].off == JUMP_TO_NEXT_RULE)
            p->insns[i].off = (int16_t)(p->n - i - 1);
    }
}

int cgroup_devices_bpf(const struct cgroup_device_rule *rules, size_t n, void **ret_insns,
                       size_t *ret_n_insns, struct err **err)
{
    _cleanup_free_ struct cgroup_device_rule *exceptions = NULL;
    struct program p = {0};
    bool default_allow;
    size_t n_exceptions;

    if (cgroup_devices_reduce(rules, n, &default_allow, &exceptions, &n_exceptions, err) < 0)
        return -1;
    emit_prologue(&p);
    /* Exceptions never overlap in verdict (all differ from the default), so order is free. */
    for (size_t i = 0; i < n_exceptions; i++)
        emit_rule(&p, &exceptions[i]);
    emit_return(&p, default_allow);
    *ret_insns = p.insns;
    *ret_n_insns = p.n;
    return 0;
}

/* ---- loading and attaching (cgroup v2) ---- */

static int bpf_call(int cmd, union bpf_attr *attr)
{
    return (int)syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

int cgroup_devices_attach(const char *dir, const struct cgroup_device_rule *rules, size_t n,
                          struct err **err)
{
    _cleanup_free_ void *insns = NULL;
    _cleanup_close_ int dirfd = -EBADF, progfd = -EBADF;
    char log[4096] = "";
    union bpf_attr attr;
    size_t n_insns;

    if (cgroup_devices_bpf(rules, n, &insns, &n_insns, err) < 0)
        return -1;
    dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return err_sys(err, "open cgroup '%s'", dir);

    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (uint64_t)(uintptr_t)insns;
    attr.insn_cnt = (uint32_t)n_insns;
    attr.license = (uint64_t)(uintptr_t) "GPL";
    attr.log_buf = (uint64_t)(uintptr_t)log;
    attr.log_size = sizeof(log);
    attr.log_level = 1;
    progfd = bpf_call(BPF_PROG_LOAD, &attr);
    if (progfd < 0 && errno == ENOSPC) {
        /* The verifier log did not fit; load again without one for the plain error. */
        attr.log_buf = 0;
        attr.log_size = 0;
        attr.log_level = 0;
        progfd = bpf_call(BPF_PROG_LOAD, &attr);
    }
    if (progfd < 0) {
        log[strcspn(log, "\n")] = '\0';
        return err_sys(err, "load the device access program (%zu instructions)%s%s", n_insns,
                       log[0] ? ": " : "", log);
    }
    /* bpf() creates its fds close-on-exec. */
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t)dirfd;
    attr.attach_bpf_fd = (uint32_t)progfd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    if (bpf_call(BPF_PROG_ATTACH, &attr) < 0)
        return err_sys(err, "attach the device access program to cgroup '%s'", dir);
    /* The attachment keeps the program loaded until the cgroup is removed. */
    return 0;
}
