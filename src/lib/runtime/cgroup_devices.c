/* Device rules in the kernel's terms: cgroup v1 devices.allow/deny lines, and for cgroup v2 a
 * BPF_PROG_TYPE_CGROUP_DEVICE program that walks the rules from the last to the first. */
#include "cgroup_devices.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../util/cleanup.h"

_Static_assert((int)TUG_DEV_MKNOD == (int)BPF_DEVCG_ACC_MKNOD &&
                   (int)TUG_DEV_READ == (int)BPF_DEVCG_ACC_READ &&
                   (int)TUG_DEV_WRITE == (int)BPF_DEVCG_ACC_WRITE,
               "tug's access bits are the kernel's");

void tug_device_access_text(unsigned access, char buf[4])
{
    size_t n = 0;
    if (access & TUG_DEV_READ)
        buf[n++] = 'r';
    if (access & TUG_DEV_WRITE)
        buf[n++] = 'w';
    if (access & TUG_DEV_MKNOD)
        buf[n++] = 'm';
    buf[n] = '\0';
}

static void number_text(long long v, char buf[24])
{
    if (v < 0)
        snprintf(buf, 24, "*");
    else
        snprintf(buf, 24, "%lld", v);
}

size_t tug_device_rule_v1(const tug_device_rule *r, char lines[2][64])
{
    char acc[4], maj[24], min[24];
    tug_device_access_text(r->access, acc);
    number_text(r->major, maj);
    number_text(r->minor, min);
    if (r->type != 'a') {
        snprintf(lines[0], 64, "%c %s:%s %s", r->type, maj, min, acc);
        return 1;
    }
    /* The kernel reads "a" as every device with every access, whatever follows it. */
    if (r->major < 0 && r->minor < 0 && (r->access & TUG_DEV_RWM) == TUG_DEV_RWM) {
        snprintf(lines[0], 64, "a");
        return 1;
    }
    snprintf(lines[0], 64, "c %s:%s %s", maj, min, acc);
    snprintf(lines[1], 64, "b %s:%s %s", maj, min, acc);
    return 2;
}

/* ---- the v2 program ------------------------------------------------------------------------ */

enum { R_RET = 0, R_CTX = 1, R_ACCESS = 2, R_TYPE = 3, R_MAJOR = 4, R_MINOR = 5 };

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
    return (struct bpf_insn){.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
}
#define LDX_W(dst, off) insn(BPF_LDX | BPF_W | BPF_MEM, dst, R_CTX, off, 0)
#define MOV_REG(dst, src) insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0)
#define MOV_IMM(dst, imm) insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm)
#define AND_IMM(dst, imm) insn(BPF_ALU64 | BPF_AND | BPF_K, dst, 0, 0, imm)
#define RSH_IMM(dst, imm) insn(BPF_ALU64 | BPF_RSH | BPF_K, dst, 0, 0, imm)
#define JNE_IMM(dst, imm) insn(BPF_JMP | BPF_JNE | BPF_K, dst, 0, 0, imm)
#define JEQ_IMM(dst, imm) insn(BPF_JMP | BPF_JEQ | BPF_K, dst, 0, 0, imm)
#define EXIT_INSN() insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

#define MAX_BLOCK 8 /* three tests, three for the access, the verdict */

/* One rule: tests that jump past the block when the access is not the rule's, then its verdict.
 * Returns the block's length; *ret_always says it has no test (rules before it cannot count). */
static size_t emit_rule(struct bpf_insn *out, const tug_device_rule *r, bool *ret_always)
{
    struct bpf_insn b[MAX_BLOCK];
    size_t n = 0, jumps[4], nj = 0;
    if (r->type != 'a') {
        jumps[nj++] = n;
        b[n++] = JNE_IMM(R_TYPE, r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
    }
    if (r->major >= 0) {
        jumps[nj++] = n;
        b[n++] = JNE_IMM(R_MAJOR, (int32_t)r->major);
    }
    if (r->minor >= 0) {
        jumps[nj++] = n;
        b[n++] = JNE_IMM(R_MINOR, (int32_t)r->minor);
    }
    unsigned acc = r->access & TUG_DEV_RWM;
    if (acc != TUG_DEV_RWM) {
        /* An allow rule covers an access when it holds all its bits; a deny rule when any. */
        b[n++] = MOV_REG(R_RET, R_ACCESS);
        b[n++] = AND_IMM(R_RET, r->allow ? (int32_t)(~acc & 0xffff) : (int32_t)acc);
        jumps[nj++] = n;
        b[n++] = r->allow ? JNE_IMM(R_RET, 0) : JEQ_IMM(R_RET, 0);
    }
    b[n++] = MOV_IMM(R_RET, r->allow ? 1 : 0);
    b[n++] = EXIT_INSN();
    for (size_t j = 0; j < nj; j++)
        b[jumps[j]].off = (int16_t)(n - jumps[j] - 1);
    memcpy(out, b, n * sizeof(*b));
    *ret_always = nj == 0;
    return n;
}

int tug_device_bpf_build(const tug_device_rule *rules, size_t n, struct bpf_insn **ret_prog,
                         size_t *ret_len, tug_error **err)
{
    for (size_t i = 0; i < n; i++) {
        const tug_device_rule *r = &rules[i];
        /* the program compares with 32-bit immediates the kernel sign-extends */
        if (r->major > INT32_MAX || r->minor > INT32_MAX)
            return tug_error_set(err, EINVAL, "device rule %zu: %lld:%lld is out of range", i,
                                 r->major, r->minor);
        if ((r->type != 'a' && r->type != 'c' && r->type != 'b') || (r->access & TUG_DEV_RWM) == 0)
            return tug_error_set(err, EINVAL, "device rule %zu: bad type or access", i);
    }
    size_t cap = 6 + (n + 1) * MAX_BLOCK;
    struct bpf_insn *p = calloc(cap, sizeof(*p));
    if (p == NULL)
        return tug_error_set(err, ENOMEM, "device program");
    size_t len = 0;
    /* access_type is (access << 16) | type */
    p[len++] = LDX_W(R_ACCESS, offsetof(struct bpf_cgroup_dev_ctx, access_type));
    p[len++] = MOV_REG(R_TYPE, R_ACCESS);
    p[len++] = AND_IMM(R_TYPE, 0xffff);
    p[len++] = RSH_IMM(R_ACCESS, 16);
    p[len++] = LDX_W(R_MAJOR, offsetof(struct bpf_cgroup_dev_ctx, major));
    p[len++] = LDX_W(R_MINOR, offsetof(struct bpf_cgroup_dev_ctx, minor));
    bool always = false;
    for (size_t i = n; i-- > 0 && !always;)
        len += emit_rule(p + len, &rules[i], &always);
    if (!always) {
        p[len++] = MOV_IMM(R_RET, 0);
        p[len++] = EXIT_INSN();
    }
    *ret_prog = p;
    *ret_len = len;
    return 0;
}

/* ---- loading and attaching ----------------------------------------------------------------- */

static int bpf_call(int cmd, union bpf_attr *attr)
{
    return (int)syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

static uint64_t ptr_u64(const void *p)
{
    return (uint64_t)(uintptr_t)p;
}

int tug_device_bpf_load(const struct bpf_insn *prog, size_t len, tug_error **err)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    a.insns = ptr_u64(prog);
    a.insn_cnt = (uint32_t)len;
    a.license = ptr_u64("Apache-2.0");
    int fd = bpf_call(BPF_PROG_LOAD, &a); /* bpf fds are always close-on-exec */
    if (fd >= 0)
        return fd;
    /* Again with the verifier's log, for a message that says why. */
    int e = errno;
    size_t log_size = 16384;
    cleanup_free char *log = calloc(1, log_size);
    if (log != NULL) {
        a.log_level = 1;
        a.log_buf = ptr_u64(log);
        a.log_size = (uint32_t)log_size;
        fd = bpf_call(BPF_PROG_LOAD, &a);
        if (fd >= 0)
            return fd;
        e = errno;
        size_t l = strlen(log);
        while (l > 0 && log[l - 1] == '\n')
            log[--l] = '\0';
        char *last = strrchr(log, '\n');
        return tug_error_set(err, e, "load the device cgroup program (%s)",
                             last   ? last + 1
                             : *log ? log
                                    : "no verifier log");
    }
    return tug_error_set(err, e, "load the device cgroup program");
}

int tug_device_bpf_attach(int dfd, const struct bpf_insn *prog, size_t len, tug_error **err)
{
    cleanup_close int pfd = tug_device_bpf_load(prog, len, err);
    if (pfd < 0)
        return -1;
    /* The kernel holds at most 64 programs per attach point (BPF_CGROUP_MAX_PROGS). */
    uint32_t old[64];
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.query.target_fd = (uint32_t)dfd;
    a.query.attach_type = BPF_CGROUP_DEVICE;
    a.query.prog_ids = ptr_u64(old);
    a.query.prog_cnt = 64;
    if (bpf_call(BPF_PROG_QUERY, &a) < 0)
        return tug_error_set(err, errno, "list the group's device programs");
    uint32_t n_old = a.query.prog_cnt;
    memset(&a, 0, sizeof(a));
    a.target_fd = (uint32_t)dfd;
    a.attach_bpf_fd = (uint32_t)pfd;
    a.attach_type = BPF_CGROUP_DEVICE;
    a.attach_flags = BPF_F_ALLOW_MULTI;
    if (bpf_call(BPF_PROG_ATTACH, &a) < 0)
        return tug_error_set(err, errno, "attach the device cgroup program");
    /* Only now the old ones go: at no moment is the group without a policy. */
    for (uint32_t i = 0; i < n_old; i++) {
        memset(&a, 0, sizeof(a));
        a.prog_id = old[i];
        cleanup_close int ofd = bpf_call(BPF_PROG_GET_FD_BY_ID, &a);
        if (ofd < 0 && errno == ENOENT)
            continue;
        if (ofd < 0)
            return tug_error_set(err, errno, "open device program %u", old[i]);
        memset(&a, 0, sizeof(a));
        a.target_fd = (uint32_t)dfd;
        a.attach_bpf_fd = (uint32_t)ofd;
        a.attach_type = BPF_CGROUP_DEVICE;
        if (bpf_call(BPF_PROG_DETACH, &a) < 0 && errno != ENOENT)
            return tug_error_set(err, errno, "detach device program %u", old[i]);
    }
    return 0;
}
