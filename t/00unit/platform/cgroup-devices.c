/*
 * Unit tests of the device rules: access letters, v1 lines, the reduction
 * to default and exceptions, and the v2 BPF program, run by a small
 * interpreter of the instructions the generator emits.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>

#include "platform/cgroup.h"
#include "../tap.h"

#define ANY (-1)

/* Run prog on one request the way the kernel's BPF_PROG_TYPE_CGROUP_DEVICE hook does. */
static int run_program(const struct bpf_insn *prog, size_t n, int type, int access,
                       uint32_t major, uint32_t minor, int *ret_verdict)
{
    uint32_t ctx[3] = {(uint32_t)type | ((uint32_t)access << 16), major, minor};
    uint64_t reg[11] = {0};
    size_t pc = 0;

    reg[1] = (uint64_t)(uintptr_t)ctx;
    while (pc < n) {
        const struct bpf_insn *i = &prog[pc++];
        uint64_t src = BPF_SRC(i->code) == BPF_X ? reg[i->src_reg] : (uint64_t)(uint32_t)i->imm;

        switch (i->code) {
        case BPF_LDX | BPF_MEM | BPF_W:
            if (reg[i->src_reg] != (uint64_t)(uintptr_t)ctx || i->off < 0 || i->off > 8)
                return -1;
            reg[i->dst_reg] = ctx[i->off / 4];
            break;
        case BPF_ALU | BPF_AND | BPF_K:
            reg[i->dst_reg] = (uint32_t)(reg[i->dst_reg] & src);
            break;
        case BPF_ALU | BPF_RSH | BPF_K:
            reg[i->dst_reg] = (uint32_t)reg[i->dst_reg] >> src;
            break;
        case BPF_ALU | BPF_MOV | BPF_K:
        case BPF_ALU | BPF_MOV | BPF_X:
            reg[i->dst_reg] = (uint32_t)src;
            break;
        case BPF_JMP | BPF_JNE | BPF_K:
        case BPF_JMP | BPF_JNE | BPF_X:
            if (reg[i->dst_reg] != src)
                pc += (size_t)i->off;
            break;
        case BPF_JMP | BPF_EXIT:
            *ret_verdict = (int)reg[0];
            return 0;
        default:
            return -1;
        }
    }
    return -1;
}

static int verdict(const struct cgroup_device_rule *rules, size_t n, char type, const char *access,
                   uint32_t major, uint32_t minor)
{
    void *prog = NULL;
    size_t n_insns = 0;
    unsigned int bits = 0;
    int acc = 0, v = -1;

    if (cgroup_devices_bpf(rules, n, &prog, &n_insns, NULL) < 0 ||
        cgroup_device_access_parse(access, &bits, NULL) < 0) {
        free(prog);
        return -1;
    }
    acc = (bits & CGROUP_DEVICE_READ ? BPF_DEVCG_ACC_READ : 0) |
          (bits & CGROUP_DEVICE_WRITE ? BPF_DEVCG_ACC_WRITE : 0) |
          (bits & CGROUP_DEVICE_MKNOD ? BPF_DEVCG_ACC_MKNOD : 0);
    if (run_program(prog, n_insns, type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK, acc,
                    major, minor, &v) < 0)
        v = -1;
    free(prog);
    return v;
}

static void test_access_parse(void)
{
    struct err *e = NULL;
    unsigned int bits = 0;

    is_int(cgroup_device_access_parse("rwm", &bits, NULL), 0, "access 'rwm' parses");
    is_int(bits, CGROUP_DEVICE_ALL, "access 'rwm' is every bit");
    is_int(cgroup_device_access_parse("mr", &bits, NULL), 0, "access 'mr' parses");
    is_int(bits, CGROUP_DEVICE_READ | CGROUP_DEVICE_MKNOD, "access 'mr' is read and mknod");
    is_int(cgroup_device_access_parse("rx", &bits, &e), -1, "access 'rx' is rejected");
    is_int(e ? err_grpc_status(e) : 0, GRPC_STATUS_INVALID_ARGUMENT, "access 'rx' is INVALID_ARGUMENT");
    is_str(e ? e->msg : "", "invalid device permissions 'rx': only the letters r, w and m are allowed",
           "access 'rx' error names the value");
    err_free(e);
    e = NULL;
    is_int(cgroup_device_access_parse("", &bits, &e), -1, "empty access is rejected");
    err_free(e);
}

static void test_format(void)
{
    static const char *const expected[] = {
        "a *:* rwm", "c *:* m",   "b *:* m",   "c 1:3 rwm", "c 1:5 rwm",   "c 1:7 rwm",  "c 1:8 rwm",
        "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm",
    };

    is_int(cgroup_n_default_device_rules, 13, "containerd's default has 13 rules");
    for (size_t i = 0; i < cgroup_n_default_device_rules && i < 13; i++) {
        char *line = cgroup_device_rule_format(&cgroup_default_device_rules[i]);

        is_str(line, expected[i], "default rule %zu formats as expected", i);
        free(line);
    }
    is_int(cgroup_default_device_rules[0].allow, 0, "the first default rule denies");
}

static void test_reduce(void)
{
    const struct cgroup_device_rule rules[] = {
        {true, 'c', 1, 3, CGROUP_DEVICE_READ},
        {false, 'a', ANY, ANY, CGROUP_DEVICE_ALL},
        {true, 'c', 1, 5, CGROUP_DEVICE_READ},
        {true, 'c', 1, 5, CGROUP_DEVICE_WRITE},
        {true, 'b', 8, ANY, CGROUP_DEVICE_ALL},
        {false, 'b', 8, ANY, CGROUP_DEVICE_WRITE | CGROUP_DEVICE_MKNOD},
        {true, 'c', 10, 200, CGROUP_DEVICE_READ},
        {false, 'c', 10, 200, CGROUP_DEVICE_READ},
    };
    const struct cgroup_device_rule bad[] = {{true, 'a', 1, ANY, CGROUP_DEVICE_ALL}};
    struct cgroup_device_rule *list = NULL;
    struct err *e = NULL;
    bool allow = true;
    size_t n = 99;

    is_int(cgroup_devices_reduce(rules, 8, &allow, &list, &n, NULL), 0, "rules reduce");
    is_int(allow, 0, "default after 'a' deny is deny");
    is_int(n, 2, "two exceptions remain");
    if (n == 2) {
        is_int(list[0].major * 1000 + list[0].minor, 1005, "first exception is c 1:5");
        is_int(list[0].access, CGROUP_DEVICE_READ | CGROUP_DEVICE_WRITE, "c 1:5 access merged");
        is_int(list[1].type, 'b', "second exception is a block device");
        is_int(list[1].access, CGROUP_DEVICE_READ, "b 8:* keeps only read");
    }
    free(list);
    list = NULL;

    is_int(cgroup_devices_reduce(bad, 1, &allow, &list, &n, &e), -1, "'a 1:*' is rejected");
    is_int(e ? err_grpc_status(e) : 0, GRPC_STATUS_INVALID_ARGUMENT, "'a 1:*' is INVALID_ARGUMENT");
    err_free(e);
}

static void test_program_defaults(void)
{
    const struct cgroup_device_rule *d = cgroup_default_device_rules;
    size_t n = cgroup_n_default_device_rules;

    is_int(verdict(d, n, 'c', "r", 1, 3), 1, "default: read /dev/null allowed");
    is_int(verdict(d, n, 'c', "rw", 1, 9), 1, "default: read-write /dev/urandom allowed");
    is_int(verdict(d, n, 'c', "rw", 136, 7), 1, "default: /dev/pts/7 allowed");
    is_int(verdict(d, n, 'c', "rw", 10, 200), 1, "default: /dev/net/tun allowed");
    is_int(verdict(d, n, 'c', "r", 1, 11), 0, "default: read /dev/kmsg denied");
    is_int(verdict(d, n, 'c', "r", 1, 1), 0, "default: read /dev/mem denied");
    is_int(verdict(d, n, 'b', "r", 8, 0), 0, "default: read block 8:0 denied");
    is_int(verdict(d, n, 'c', "m", 1, 11), 1, "default: mknod of c 1:11 allowed");
    is_int(verdict(d, n, 'b', "m", 8, 0), 1, "default: mknod of b 8:0 allowed");
    is_int(verdict(d, n, 'c', "rm", 1, 11), 0, "default: read and mknod of c 1:11 denied");
    is_int(verdict(d, n, 'b', "r", 1, 3), 0, "default: block 1:3 is not /dev/null");
}

static void test_program_requested(void)
{
    struct cgroup_device_rule rules[16];
    size_t n = cgroup_n_default_device_rules;

    memcpy(rules, cgroup_default_device_rules, n * sizeof(rules[0]));
    rules[n++] = (struct cgroup_device_rule){true, 'c', 1, 11, CGROUP_DEVICE_READ};
    rules[n++] = (struct cgroup_device_rule){true, 'b', 7, 0, CGROUP_DEVICE_ALL};

    is_int(verdict(rules, n, 'c', "r", 1, 11), 1, "requested 'r': read c 1:11 allowed");
    is_int(verdict(rules, n, 'c', "w", 1, 11), 0, "requested 'r': write c 1:11 denied");
    is_int(verdict(rules, n, 'c', "rw", 1, 11), 0, "requested 'r': read-write c 1:11 denied");
    is_int(verdict(rules, n, 'b', "rw", 7, 0), 1, "requested 'rwm': b 7:0 allowed");
    is_int(verdict(rules, n, 'b', "rw", 7, 1), 0, "requested b 7:0: b 7:1 denied");

    {
        const struct cgroup_device_rule all[] = {{true, 'a', ANY, ANY, CGROUP_DEVICE_ALL}};
        void *prog = NULL;
        size_t n_insns = 0;

        is_int(verdict(all, 1, 'b', "rwm", 8, 0), 1, "privileged: b 8:0 allowed");
        is_int(verdict(all, 1, 'c', "rw", 1, 1), 1, "privileged: c 1:1 allowed");
        is_int(cgroup_devices_bpf(all, 1, &prog, &n_insns, NULL), 0, "privileged program builds");
        /* The prologue's 6 loads and shifts, then "r0 = 1; exit". */
        is_int(n_insns, 8, "privileged program is 8 instructions");
        free(prog);
    }
}

int main(void)
{
    test_access_parse();
    test_format();
    test_reduce();
    test_program_defaults();
    test_program_requested();
    return tap_done();
}
