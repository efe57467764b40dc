/* Capabilities and seccomp with docker's defaults.
 *
 * Capabilities go through capget/capset and prctl directly. The default seccomp policy is the
 * one docker ships: an allowlist answering EPERM, widened by the capabilities a container keeps.
 * It compiles to BPF once per capability set; the program is cached on disk and a later start only
 * reads the file and hands it to the kernel, with no libseccomp work at all. */
#include "security.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "../util/cleanup.h"
#include "../util/fs.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#ifndef CAP_CHECKPOINT_RESTORE
#define CAP_CHECKPOINT_RESTORE 40
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#define BIT(cap) (UINT64_C(1) << (cap))

/* ---- capabilities ---------------------------------------------------------------------------- */

static const char *const cap_names[] = {
    [CAP_CHOWN] = "CAP_CHOWN",
    [CAP_DAC_OVERRIDE] = "CAP_DAC_OVERRIDE",
    [CAP_DAC_READ_SEARCH] = "CAP_DAC_READ_SEARCH",
    [CAP_FOWNER] = "CAP_FOWNER",
    [CAP_FSETID] = "CAP_FSETID",
    [CAP_KILL] = "CAP_KILL",
    [CAP_SETGID] = "CAP_SETGID",
    [CAP_SETUID] = "CAP_SETUID",
    [CAP_SETPCAP] = "CAP_SETPCAP",
    [CAP_LINUX_IMMUTABLE] = "CAP_LINUX_IMMUTABLE",
    [CAP_NET_BIND_SERVICE] = "CAP_NET_BIND_SERVICE",
    [CAP_NET_BROADCAST] = "CAP_NET_BROADCAST",
    [CAP_NET_ADMIN] = "CAP_NET_ADMIN",
    [CAP_NET_RAW] = "CAP_NET_RAW",
    [CAP_IPC_LOCK] = "CAP_IPC_LOCK",
    [CAP_IPC_OWNER] = "CAP_IPC_OWNER",
    [CAP_SYS_MODULE] = "CAP_SYS_MODULE",
    [CAP_SYS_RAWIO] = "CAP_SYS_RAWIO",
    [CAP_SYS_CHROOT] = "CAP_SYS_CHROOT",
    [CAP_SYS_PTRACE] = "CAP_SYS_PTRACE",
    [CAP_SYS_PACCT] = "CAP_SYS_PACCT",
    [CAP_SYS_ADMIN] = "CAP_SYS_ADMIN",
    [CAP_SYS_BOOT] = "CAP_SYS_BOOT",
    [CAP_SYS_NICE] = "CAP_SYS_NICE",
    [CAP_SYS_RESOURCE] = "CAP_SYS_RESOURCE",
    [CAP_SYS_TIME] = "CAP_SYS_TIME",
    [CAP_SYS_TTY_CONFIG] = "CAP_SYS_TTY_CONFIG",
    [CAP_MKNOD] = "CAP_MKNOD",
    [CAP_LEASE] = "CAP_LEASE",
    [CAP_AUDIT_WRITE] = "CAP_AUDIT_WRITE",
    [CAP_AUDIT_CONTROL] = "CAP_AUDIT_CONTROL",
    [CAP_SETFCAP] = "CAP_SETFCAP",
    [CAP_MAC_OVERRIDE] = "CAP_MAC_OVERRIDE",
    [CAP_MAC_ADMIN] = "CAP_MAC_ADMIN",
    [CAP_SYSLOG] = "CAP_SYSLOG",
    [CAP_WAKE_ALARM] = "CAP_WAKE_ALARM",
    [CAP_BLOCK_SUSPEND] = "CAP_BLOCK_SUSPEND",
    [CAP_AUDIT_READ] = "CAP_AUDIT_READ",
    [CAP_PERFMON] = "CAP_PERFMON",
    [CAP_BPF] = "CAP_BPF",
    [CAP_CHECKPOINT_RESTORE] = "CAP_CHECKPOINT_RESTORE",
};

uint64_t tug_caps_default(void)
{
    return BIT(CAP_CHOWN) | BIT(CAP_DAC_OVERRIDE) | BIT(CAP_FSETID) | BIT(CAP_FOWNER) |
           BIT(CAP_MKNOD) | BIT(CAP_NET_RAW) | BIT(CAP_SETGID) | BIT(CAP_SETUID) |
           BIT(CAP_SETFCAP) | BIT(CAP_SETPCAP) | BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_SYS_CHROOT) |
           BIT(CAP_KILL) | BIT(CAP_AUDIT_WRITE);
}

/* The highest capability the running kernel knows. */
static int cap_last(void)
{
    static int cached = -1;
    int last = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (last >= 0)
        return last;

    char buf[32];
    cleanup_close int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (n > 0) {
        buf[n] = '\0';
        char *end;
        long v = strtol(buf, &end, 10);
        if (end != buf && v >= 0 && v < 64)
            last = (int)v;
    }
    if (last < 0) {
        /* No /proc (yet): ask the bounding set, which answers EINVAL past the last one. */
        last = 0;
        while (last < 63 && prctl(PR_CAPBSET_READ, last + 1, 0, 0, 0) >= 0)
            last++;
    }
    __atomic_store_n(&cached, last, __ATOMIC_RELAXED);
    return last;
}

uint64_t tug_caps_all(void)
{
    int last = cap_last();
    return last >= 63 ? UINT64_MAX : BIT(last + 1) - 1;
}

const char *tug_caps_name(int cap)
{
    if (cap < 0 || (size_t)cap >= TUG_ARRAY_SIZE(cap_names))
        return NULL;
    return cap_names[cap];
}

int tug_caps_parse(const char *name, int *ret_cap, bool *ret_all, tug_error **err)
{
    if (name == NULL || *name == '\0')
        return tug_error_user(err, "empty capability name");
    if (strcasecmp(name, "ALL") == 0) {
        if (ret_cap)
            *ret_cap = -1;
        if (ret_all)
            *ret_all = true;
        return 0;
    }
    const char *bare = strncasecmp(name, "CAP_", 4) == 0 ? name + 4 : name;
    for (size_t i = 0; i < TUG_ARRAY_SIZE(cap_names); i++) {
        if (cap_names[i] != NULL && strcasecmp(cap_names[i] + 4, bare) == 0) {
            if (ret_cap)
                *ret_cap = (int)i;
            if (ret_all)
                *ret_all = false;
            return 0;
        }
    }
    return tug_error_user(err, "unknown capability \"%s\"", name);
}

typedef struct {
    uint64_t effective, permitted, inheritable;
} cap_sets;

static int caps_get(cap_sets *ret)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capget, &hdr, data) < 0)
        return -1;
    ret->effective = data[0].effective | (uint64_t)data[1].effective << 32;
    ret->permitted = data[0].permitted | (uint64_t)data[1].permitted << 32;
    ret->inheritable = data[0].inheritable | (uint64_t)data[1].inheritable << 32;
    return 0;
}

static int caps_set(const cap_sets *s)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
        data[i].effective = (uint32_t)(s->effective >> (32 * i));
        data[i].permitted = (uint32_t)(s->permitted >> (32 * i));
        data[i].inheritable = (uint32_t)(s->inheritable >> (32 * i));
    }
    return (int)syscall(SYS_capset, &hdr, data);
}

int tug_caps_apply(uint64_t keep, tug_error **err)
{
    cap_sets cur;
    if (caps_get(&cur) < 0)
        return tug_error_set(err, errno, "read capabilities");
    /* Dropping from the bounding set takes CAP_SETPCAP in the effective set, which a switch to a
     * non-root uid cleared; raise everything still permitted first. */
    cur.effective = cur.permitted;
    if (caps_set(&cur) < 0)
        return tug_error_set(err, errno, "raise effective capabilities");

    int last = cap_last();
    for (int cap = 0; cap <= last; cap++) {
        if (keep & BIT(cap))
            continue;
        int in_bounding = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (in_bounding <= 0)
            continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            const char *name = tug_caps_name(cap);
            return tug_error_set(err, errno, "drop %s from the bounding set",
                                 name ? name : "capability");
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return tug_error_set(err, errno, "clear ambient capabilities");

    /* A capability the process itself lacks cannot be granted; it is left out. Inheritable stays
     * empty as in docker since CVE-2022-24769. */
    uint64_t want = keep & tug_caps_all() & cur.permitted;
    cap_sets next = {.effective = want, .permitted = want, .inheritable = 0};
    if (caps_set(&next) < 0)
        return tug_error_set(err, errno, "set capabilities");
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        return tug_error_set(err, errno, "reset keep-capabilities");
    return 0;
}

int tug_caps_prepare_setuid(tug_error **err)
{
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        return tug_error_set(err, errno, "keep capabilities across setuid");
    return 0;
}

/* ---- BPF programs ---------------------------------------------------------------------------- */

/* A whole filter is at most BPF_MAXINSNS instructions. */
#define BPF_PROG_MAX_BYTES (BPF_MAXINSNS * sizeof(struct sock_filter))

static int bpf_load(const struct sock_filter *insns, size_t len, unsigned int flags,
                    tug_error **err)
{
    struct sock_fprog prog = {.len = (unsigned short)len, .filter = (struct sock_filter *)insns};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) == 0)
        return 0;
    if (errno == ENOSYS && flags == 0 &&
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0)
        return 0;
    if (errno == EACCES)
        return tug_error_set(err, EACCES,
                             "load seccomp filter (set no_new_privs or keep CAP_SYS_ADMIN)");
    return tug_error_set(err, errno, "load seccomp filter");
}

/* The prologue: a few hand-written instructions ahead of the libseccomp program, per
 * architecture the filter covers (a "window" of syscall numbers).
 *
 * Syscall numbers above the newest one the profile names, up to a ceiling where an architecture's
 * special ranges start, answer ENOSYS rather than the default EPERM, so a C library trying a
 * syscall newer than the profile falls back to the old one, as runc arranges.
 *
 * The default profile also refuses socket(AF_ALG) and socket(AF_VSOCK) here. The kernel reads
 * the family as a 32-bit int; libseccomp compares all 64 bits, so a family with junk in the upper
 * half would slip past its "greater than 40". The prologue compares the low word only. */
typedef struct {
    uint32_t scmp_arch;
    uint32_t audit_arch; /* what the kernel reports in seccomp_data.arch */
    uint32_t floor, ceiling;
    uint32_t max;
    bool seen;
    int socket_nr; /* direct socket(2), -1 if none */
} nr_window;

static void window_for(uint32_t scmp_arch, nr_window *w)
{
    *w = (nr_window){.scmp_arch = scmp_arch, .audit_arch = scmp_arch, .ceiling = UINT32_MAX};
    if (scmp_arch == SCMP_ARCH_X86_64) {
        w->ceiling = 0x40000000; /* the x32 syscall bit */
    } else if (scmp_arch == SCMP_ARCH_X32) {
        w->audit_arch = AUDIT_ARCH_X86_64;
        w->floor = 0x40000000;
        w->ceiling = 0x40000200; /* x32's own compat syscalls start at 512 */
    } else if (scmp_arch == SCMP_ARCH_ARM) {
        w->ceiling = 0xf0000; /* ARM private syscalls */
    }
    w->socket_nr = seccomp_syscall_resolve_name_arch(scmp_arch, "socket");
    if (w->socket_nr < 0 && (scmp_arch == SCMP_ARCH_X86 || scmp_arch == SCMP_ARCH_S390))
        w->socket_nr = 359; /* libseccomp names the socketcall form; the direct one is 359 */
}

static void window_note(nr_window *w, const char *name)
{
    int nr = seccomp_syscall_resolve_name_arch(w->scmp_arch, name);
    if (nr < 0 || (uint32_t)nr < w->floor || (uint32_t)nr >= w->ceiling)
        return;
    if (!w->seen || (uint32_t)nr > w->max)
        w->max = (uint32_t)nr;
    w->seen = true;
}

/* Just enough of an assembler for the prologue: forward jumps to labels. */
enum { L_NEXT = -1, L_END, L_ENOSYS, L_EPERM, L_GROUP0 };
#define ASM_MAX 160

typedef struct {
    struct sock_filter insns[ASM_MAX];
    int jt[ASM_MAX], jf[ASM_MAX]; /* label, or L_NEXT */
    int label_at[L_GROUP0 + 64];
    size_t n;
    bool overflow;
} bpf_asm;

static void asm_emit(bpf_asm *a, uint16_t code, uint32_t k, int jt, int jf)
{
    if (a->n >= ASM_MAX) {
        a->overflow = true;
        return;
    }
    a->insns[a->n] = (struct sock_filter){.code = code, .k = k};
    a->jt[a->n] = jt;
    a->jf[a->n] = jf;
    a->n++;
}

static void asm_label(bpf_asm *a, int label)
{
    a->label_at[label] = (int)a->n;
}

static int asm_resolve(bpf_asm *a)
{
    for (size_t i = 0; i < a->n; i++) {
        int *targets[] = {&a->jt[i], &a->jf[i]};
        uint8_t *fields[] = {&a->insns[i].jt, &a->insns[i].jf};
        for (int t = 0; t < 2; t++) {
            if (*targets[t] == L_NEXT)
                continue;
            int off = a->label_at[*targets[t]] - (int)i - 1;
            if (off < 0 || off > 255)
                return -1;
            *fields[t] = (uint8_t)off;
        }
    }
    return 0;
}

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARG0_LOW offsetof(struct seccomp_data, args[0])
#else
#define ARG0_LOW (offsetof(struct seccomp_data, args[0]) + 4)
#endif

/* Assemble the prologue; a->n is 0 when there is nothing to do. */
static int build_prologue(const nr_window *w, size_t n, bool stub_enosys, bool socket_families,
                          bpf_asm *a)
{
    memset(a, 0, sizeof(*a));
    int group = 0;
    for (size_t i = 0; i < n; i++) {
        bool first = true;
        for (size_t j = 0; j < i; j++)
            if (w[j].audit_arch == w[i].audit_arch)
                first = false;
        if (!first)
            continue; /* done with the first window of its architecture */
        if (L_GROUP0 + group >= (int)TUG_ARRAY_SIZE(a->label_at))
            return -1;
        int next_group = L_GROUP0 + group++;
        size_t start = a->n;
        asm_emit(a, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), L_NEXT, L_NEXT);
        asm_emit(a, BPF_JMP | BPF_JEQ | BPF_K, w[i].audit_arch, L_NEXT, next_group);
        asm_emit(a, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), L_NEXT, L_NEXT);
        size_t body = a->n;
        for (size_t j = i; j < n; j++) {
            if (w[j].audit_arch != w[i].audit_arch)
                continue;
            if (socket_families && w[j].socket_nr >= 0) {
                /* socket: the family's low word decides; anything else goes on. */
                int not_socket = L_GROUP0 + group++;
                if (not_socket >= (int)TUG_ARRAY_SIZE(a->label_at))
                    return -1;
                asm_emit(a, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)w[j].socket_nr, L_NEXT,
                         not_socket);
                asm_emit(a, BPF_LD | BPF_W | BPF_ABS, ARG0_LOW, L_NEXT, L_NEXT);
                asm_emit(a, BPF_JMP | BPF_JEQ | BPF_K, AF_ALG, L_EPERM, L_NEXT);
                asm_emit(a, BPF_JMP | BPF_JEQ | BPF_K, AF_VSOCK, L_EPERM, L_END);
                asm_label(a, not_socket);
            }
            if (stub_enosys && w[j].seen) {
                asm_emit(a, BPF_JMP | BPF_JGT | BPF_K, w[j].max, L_NEXT, L_GROUP0 + group);
                asm_emit(a, BPF_JMP | BPF_JGE | BPF_K, w[j].ceiling, L_GROUP0 + group, L_ENOSYS);
                if (L_GROUP0 + group >= (int)TUG_ARRAY_SIZE(a->label_at))
                    return -1;
                asm_label(a, L_GROUP0 + group++);
            }
        }
        if (a->n == body)
            a->n = start; /* nothing to check for this architecture */
        asm_label(a, next_group);
    }
    if (a->n == 0)
        return 0;
    asm_emit(a, BPF_JMP | BPF_JA, 0, L_NEXT, L_NEXT);
    size_t ja = a->n - 1;
    asm_label(a, L_ENOSYS);
    asm_emit(a, BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS, L_NEXT, L_NEXT);
    asm_label(a, L_EPERM);
    asm_emit(a, BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM, L_NEXT, L_NEXT);
    asm_label(a, L_END);
    a->insns[ja].k = (uint32_t)(a->label_at[L_END] - (int)ja - 1); /* BPF_JA takes k */
    if (a->overflow || asm_resolve(a) < 0)
        return -1;
    return 0;
}

/* ---- building filters with libseccomp -------------------------------------------------------- */

typedef struct {
    scmp_filter_ctx ctx;
    uint32_t default_action;
    nr_window windows[16];
    size_t n_windows;
    bool socket_families; /* refuse AF_ALG and AF_VSOCK in the prologue */
} filter_builder;

static void builder_done(filter_builder *b)
{
    if (b->ctx)
        seccomp_release(b->ctx);
    b->ctx = NULL;
}
#define cleanup_builder __attribute__((cleanup(builder_done)))

static int builder_init(filter_builder *b, uint32_t default_action, tug_error **err)
{
    *b = (filter_builder){.default_action = default_action};
    b->ctx = seccomp_init(default_action);
    if (b->ctx == NULL)
        return tug_error_set(err, EINVAL, "create seccomp filter");
    seccomp_attr_set(b->ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    window_for(seccomp_arch_native(), &b->windows[b->n_windows++]);
    return 0;
}

static int builder_add_arch(filter_builder *b, uint32_t arch, tug_error **err)
{
    if (seccomp_arch_exist(b->ctx, arch) == 0)
        return 0;
    int r = seccomp_arch_add(b->ctx, arch);
    if (r < 0)
        return tug_error_set(err, -r, "add architecture to seccomp filter");
    if (b->n_windows < TUG_ARRAY_SIZE(b->windows))
        window_for(arch, &b->windows[b->n_windows++]);
    return 0;
}

/* Add one rule. A syscall libseccomp does not know on any of the filter's architectures is
 * skipped, as docker does. */
static int builder_add(filter_builder *b, const char *name, uint32_t action, unsigned int n_args,
                       const struct scmp_arg_cmp *args, tug_error **err)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0;
    for (size_t i = 0; i < b->n_windows; i++)
        window_note(&b->windows[i], name);
    if (action == b->default_action)
        return 0; /* libseccomp refuses a rule that repeats the default; it changes nothing */
    int r = seccomp_rule_add_array(b->ctx, action, nr, n_args, args);
    if (r < 0)
        return tug_error_set(err, -r, "seccomp rule for %s", name);
    return 0;
}

static int builder_add_list(filter_builder *b, const char *const *names, uint32_t action,
                            tug_error **err)
{
    for (; *names; names++)
        if (builder_add(b, *names, action, 0, NULL, err) < 0)
            return -1;
    return 0;
}

static bool action_denies(uint32_t action)
{
    uint32_t kind = action & SECCOMP_RET_ACTION_FULL;
    return kind == SCMP_ACT_KILL_PROCESS || kind == SCMP_ACT_KILL_THREAD || kind == SCMP_ACT_TRAP ||
           kind == SECCOMP_RET_ERRNO;
}

/* Compile to BPF: the prologue, then the libseccomp program. */
static int builder_compile(filter_builder *b, struct sock_filter **ret_insns, size_t *ret_len,
                           tug_error **err)
{
    cleanup_close int fd = memfd_create("tug-seccomp", MFD_CLOEXEC);
    if (fd < 0)
        return tug_error_set(err, errno, "compile seccomp filter: memfd");
    int r = seccomp_export_bpf(b->ctx, fd);
    if (r < 0)
        return tug_error_set(err, -r, "compile seccomp filter");
    off_t size = lseek(fd, 0, SEEK_END);
    if (size < 0)
        return tug_error_set(err, errno, "compile seccomp filter");
    if (size == 0 || size % (off_t)sizeof(struct sock_filter) != 0 ||
        (size_t)size > BPF_PROG_MAX_BYTES)
        return tug_error_set(err, E2BIG, "compile seccomp filter: %lld bytes of BPF",
                             (long long)size);
    size_t body = (size_t)size / sizeof(struct sock_filter);
    bpf_asm prologue;
    if (build_prologue(b->windows, b->n_windows, action_denies(b->default_action),
                       b->socket_families, &prologue) < 0)
        return tug_error_set(err, E2BIG, "compile seccomp filter: prologue");
    size_t head = prologue.n;
    if (head + body > BPF_MAXINSNS)
        return tug_error_set(err, E2BIG, "compile seccomp filter: %zu instructions", head + body);

    cleanup_free struct sock_filter *insns = calloc(head + body, sizeof(*insns));
    if (insns == NULL)
        return tug_error_set(err, ENOMEM, "compile seccomp filter");
    memcpy(insns, prologue.insns, head * sizeof(*insns));
    size_t want = body * sizeof(*insns), got = 0;
    while (got < want) {
        ssize_t n = pread(fd, (char *)(insns + head) + got, want - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return tug_error_set(err, n < 0 ? errno : EIO, "compile seccomp filter: read back");
        got += (size_t)n;
    }
    *ret_insns = steal_pointer(&insns);
    *ret_len = head + body;
    return 0;
}

/* ---- docker's default profile ---------------------------------------------------------------- */

/* Bump when the tables below change: it is part of the cache file name. */
#define DEFAULT_PROFILE_VERSION 1

/* Allowed for every container. (io_uring_* are left out, as docker does since 2023.) */
/* clang-format off */
static const char *const default_allowed[] = {
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget",
    "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
    "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
    "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
    "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32",
    "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork",
    "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync",
    "ftruncate", "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait",
    "futex_waitv", "futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64",
    "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
    "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid",
    "getpriority", "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32",
    "getrlimit", "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt",
    "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "getxattrat",
    "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel",
    "ioctl", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get",
    "ioprio_set", "io_setup", "io_submit", "ipc", "kill", "landlock_add_rule",
    "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32", "lgetxattr",
    "link", "linkat", "listen", "listmount", "listxattr", "listxattrat", "llistxattr", "_llseek",
    "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "map_shadow_stack",
    "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod",
    "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr",
    "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
    "mq_timedsend_time64", "mq_unlink", "mremap", "mseal", "msgctl", "msgget", "msgrcv", "msgsnd",
    "msync", "munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat",
    "_newselect", "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe",
    "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl",
    "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6",
    "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
    "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
    "remap_file_pages", "removexattr", "removexattrat", "rename", "renameat", "renameat2",
    "restart_syscall", "riscv_hwprobe", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
    "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
    "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select",
    "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile",
    "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid",
    "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid",
    "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
    "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
    "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr",
    "setxattrat", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd",
    "signalfd4", "sigprocmask", "sigreturn", "socket", "socketcall", "socketpair", "splice", "stat",
    "stat64", "statfs", "statfs64", "statmount", "statx", "symlink", "symlinkat", "sync",
    "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
    "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
    "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
    "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate", "truncate64",
    "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "uretprobe", "utime", "utimensat",
    "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
    "writev",
    /* Docker allows these from kernel 4.8, where ptrace no longer bypasses seccomp; tug needs a
     * much newer kernel anyway. */
    "ptrace", "process_vm_readv", "process_vm_writev",
    NULL,
};

/* Allowed only on the architecture tug was built for (docker tests its own GOARCH). */
static const char *const default_arch_allowed[] = {
#if defined(__x86_64__)
    "arch_prctl", "modify_ldt",
#elif defined(__i386__)
    "modify_ldt",
#elif defined(__aarch64__) || defined(__arm__)
    "arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush",
    "set_tls",
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    "sync_file_range2", "swapcontext",
#elif defined(__s390__)
    "s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr",
#elif defined(__riscv) && __riscv_xlen == 64
    "riscv_flush_icache",
#endif
    NULL,
};

#if defined(__x86_64__)
#define NATIVE_ARCH_NAME "amd64"
#elif defined(__i386__)
#define NATIVE_ARCH_NAME "x86"
#elif defined(__aarch64__)
#define NATIVE_ARCH_NAME "arm64"
#elif defined(__arm__)
#define NATIVE_ARCH_NAME "arm"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NATIVE_ARCH_NAME "ppc64le"
#elif defined(__s390x__)
#define NATIVE_ARCH_NAME "s390x"
#elif defined(__s390__)
#define NATIVE_ARCH_NAME "s390"
#elif defined(__riscv) && __riscv_xlen == 64
#define NATIVE_ARCH_NAME "riscv64"
#elif defined(__loongarch64)
#define NATIVE_ARCH_NAME "loongarch64"
#else
#define NATIVE_ARCH_NAME "other"
#endif

/* Companion architectures a native process can also enter the kernel with. */
static const uint32_t default_sub_arches[] = {
#if defined(__x86_64__)
    SCMP_ARCH_X86, SCMP_ARCH_X32,
#elif defined(__aarch64__)
    SCMP_ARCH_ARM,
#elif defined(__s390x__)
    SCMP_ARCH_S390,
#endif
    0,
};

/* Allowed when the container keeps the capability. */
static const struct {
    int cap;
    const char *const *names;
} default_cap_allowed[] = {
    {CAP_DAC_READ_SEARCH, (const char *const[]){"open_by_handle_at", NULL}},
    {CAP_SYS_ADMIN,
     (const char *const[]){"bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount",
                           "fsopen", "fspick", "lookup_dcookie", "lsm_get_self_attr",
                           "lsm_list_modules", "lsm_set_self_attr", "mount", "mount_setattr",
                           "move_mount", "open_tree", "perf_event_open", "quotactl",
                           "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog",
                           "umount", "umount2", "unshare", NULL}},
    {CAP_SYS_BOOT, (const char *const[]){"reboot", NULL}},
    {CAP_SYS_CHROOT, (const char *const[]){"chroot", NULL}},
    {CAP_SYS_MODULE, (const char *const[]){"delete_module", "init_module", "finit_module", NULL}},
    {CAP_SYS_PACCT, (const char *const[]){"acct", NULL}},
    {CAP_SYS_PTRACE,
     (const char *const[]){"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
                           "process_vm_writev", "ptrace", NULL}},
    {CAP_SYS_RAWIO, (const char *const[]){"iopl", "ioperm", NULL}},
    {CAP_SYS_TIME,
     (const char *const[]){"settimeofday", "stime", "clock_settime", "clock_settime64", NULL}},
    {CAP_SYS_TTY_CONFIG, (const char *const[]){"vhangup", NULL}},
    {CAP_SYS_NICE,
     (const char *const[]){"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node",
                           NULL}},
    {CAP_SYSLOG, (const char *const[]){"syslog", NULL}},
    {CAP_BPF, (const char *const[]){"bpf", NULL}},
    {CAP_PERFMON, (const char *const[]){"perf_event_open", NULL}},
};
/* clang-format on */

/* Namespace-creating clone flags, refused without CAP_SYS_ADMIN. */
#define CLONE_NS_FLAGS                                                                             \
    (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |  \
     CLONE_NEWNET)

/* personality(2) values docker lets through: PER_LINUX, PER_LINUX32, UNAME26 with either, and
 * the 0xffffffff query. */
static const uint32_t default_personalities[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

/* The capabilities that change the default profile: the part of allowed_caps in the cache key. */
static uint64_t default_profile_caps(void)
{
    uint64_t caps = 0;
    for (size_t i = 0; i < TUG_ARRAY_SIZE(default_cap_allowed); i++)
        caps |= BIT(default_cap_allowed[i].cap);
    return caps;
}

static int build_default(filter_builder *b, uint64_t allowed_caps, tug_error **err)
{
    if (builder_init(b, SCMP_ACT_ERRNO(EPERM), err) < 0)
        return -1;
    b->socket_families = true; /* socket(2) is allowed below, less AF_ALG and AF_VSOCK */
    for (const uint32_t *a = default_sub_arches; *a; a++)
        if (builder_add_arch(b, *a, err) < 0)
            return -1;

    if (builder_add_list(b, default_allowed, SCMP_ACT_ALLOW, err) < 0 ||
        builder_add_list(b, default_arch_allowed, SCMP_ACT_ALLOW, err) < 0)
        return -1;
    for (size_t i = 0; i < TUG_ARRAY_SIZE(default_personalities); i++) {
        struct scmp_arg_cmp cmp = SCMP_A0(SCMP_CMP_EQ, default_personalities[i]);
        if (builder_add(b, "personality", SCMP_ACT_ALLOW, 1, &cmp, err) < 0)
            return -1;
    }
    for (size_t i = 0; i < TUG_ARRAY_SIZE(default_cap_allowed); i++)
        if ((allowed_caps & BIT(default_cap_allowed[i].cap)) &&
            builder_add_list(b, default_cap_allowed[i].names, SCMP_ACT_ALLOW, err) < 0)
            return -1;

    if (!(allowed_caps & BIT(CAP_SYS_ADMIN))) {
#if defined(__s390__)
        struct scmp_arg_cmp cmp = SCMP_A1(SCMP_CMP_MASKED_EQ, CLONE_NS_FLAGS, 0);
#else
        struct scmp_arg_cmp cmp = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NS_FLAGS, 0);
#endif
        if (builder_add(b, "clone", SCMP_ACT_ALLOW, 1, &cmp, err) < 0)
            return -1;
        /* clone3 passes its flags in memory seccomp cannot read: ENOSYS makes the C library
         * fall back to clone, whose flags the rule above checks. */
        if (builder_add(b, "clone3", SCMP_ACT_ERRNO(ENOSYS), 0, NULL, err) < 0)
            return -1;
    }
    return 0;
}

/* Read a cached program. 1 and the program when usable, 0 when missing or not trustworthy. */
static int cache_read(const char *path, struct sock_filter **ret_insns, size_t *ret_len)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return 0;
    struct stat st;
    /* Whoever wrote it must be trusted by whoever loads it: root or ourselves, nobody else. */
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) ||
        (st.st_mode & (S_IWGRP | S_IWOTH)) || st.st_size == 0 ||
        st.st_size % (off_t)sizeof(struct sock_filter) != 0 ||
        (size_t)st.st_size > BPF_PROG_MAX_BYTES)
        return 0;
    size_t want = (size_t)st.st_size, got = 0;
    cleanup_free struct sock_filter *insns = malloc(want);
    if (insns == NULL)
        return 0;
    while (got < want) {
        ssize_t n = read(fd, (char *)insns + got, want - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        got += (size_t)n;
    }
    *ret_insns = steal_pointer(&insns);
    *ret_len = want / sizeof(struct sock_filter);
    return 1;
}

struct tug_seccomp_filter {
    struct sock_filter *insns;
    size_t len;
    unsigned int flags;   /* SECCOMP_FILTER_FLAG_* */
    bool from_cache;      /* read from the cache: compile afresh if the kernel refuses it */
    uint64_t default_key; /* with from_cache: the default profile's capability key */
};

void tug_seccomp_filter_free(tug_seccomp_filter *f)
{
    if (f == NULL)
        return;
    free(f->insns);
    free(f);
}

static int filter_new(struct sock_filter **insns, size_t len, unsigned int flags,
                      tug_seccomp_filter **ret, tug_error **err)
{
    tug_seccomp_filter *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return tug_error_set(err, ENOMEM, "seccomp filter");
    f->insns = steal_pointer(insns);
    f->len = len;
    f->flags = flags;
    *ret = f;
    return 0;
}

static int compile_default(uint64_t key, struct sock_filter **ret_insns, size_t *ret_len,
                           tug_error **err)
{
    cleanup_builder filter_builder b = {0};
    if (build_default(&b, key, err) < 0 || builder_compile(&b, ret_insns, ret_len, err) < 0)
        return tug_error_wrap(err, "default seccomp profile");
    return 0;
}

static int prepare_default(const char *cache_path, uint64_t allowed_caps,
                           tug_seccomp_filter **ret, tug_error **err)
{
    uint64_t key = allowed_caps & default_profile_caps();
    char path[PATH_MAX];
    cleanup_free struct sock_filter *insns = NULL;
    size_t len = 0;
    if (cache_path != NULL) {
        int n = snprintf(path, sizeof(path), "%s/default-v%d-%s-scmp%d.%d.%d-%016llx.bpf",
                         cache_path, DEFAULT_PROFILE_VERSION, NATIVE_ARCH_NAME, SCMP_VER_MAJOR,
                         SCMP_VER_MINOR, SCMP_VER_MICRO, (unsigned long long)key);
        if (n < 0 || (size_t)n >= sizeof(path))
            return tug_error_user(err, "seccomp cache directory %s: path too long", cache_path);
        if (cache_read(path, &insns, &len) == 1) {
            if (filter_new(&insns, len, 0, ret, err) < 0)
                return -1;
            (*ret)->from_cache = true;
            (*ret)->default_key = key;
            return 0;
        }
    }
    if (compile_default(key, &insns, &len, err) < 0)
        return -1;
    if (cache_path != NULL) {
        /* The cache only saves time: a read-only or missing state directory costs a compile per
         * start, never the start itself. Readable by all: a container init that already switched
         * to its user still finds the program. */
        cleanup_error tug_error *cache_err = NULL;
        if (tug_mkdir_p(cache_path, 0755, &cache_err) == 0)
            tug_write_file_atomic(path, insns, len * sizeof(*insns), 0644, &cache_err);
    }
    return filter_new(&insns, len, 0, ret, err);
}

int tug_seccomp_install(const tug_seccomp_filter *f, tug_error **err)
{
    if (f == NULL)
        return 0;
    int r = bpf_load(f->insns, f->len, f->flags, err);
    if (r != -EINVAL || !f->from_cache)
        return r;
    /* the kernel refused the cached file: compile afresh (nothing on disk is read for that) */
    tug_error_release(err);
    cleanup_free struct sock_filter *insns = NULL;
    size_t len = 0;
    if (compile_default(f->default_key, &insns, &len, err) < 0)
        return -1;
    return bpf_load(insns, len, 0, err);
}

int tug_seccomp_load_default(const char *cache_path, uint64_t allowed_caps, tug_error **err)
{
    tug_seccomp_filter *f = NULL;
    if (prepare_default(cache_path, allowed_caps, &f, err) < 0)
        return -1;
    int r = tug_seccomp_install(f, err);
    tug_seccomp_filter_free(f);
    return r;
}

/* ---- docker-format JSON profiles ------------------------------------------------------------- */

static const struct {
    const char *name;
    uint32_t action;
} profile_actions[] = {
    {"SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD},
    {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD},
    {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS},
    {"SCMP_ACT_TRAP", SCMP_ACT_TRAP},
    {"SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0)},
    {"SCMP_ACT_TRACE", SCMP_ACT_TRACE(0)},
    {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW},
    {"SCMP_ACT_LOG", SCMP_ACT_LOG},
};

static const struct {
    const char *name;
    enum scmp_compare op;
} profile_ops[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE},
    {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE},
    {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

static const struct {
    const char *name;
    unsigned int flag;
} profile_flags[] = {
    {"SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC},
    {"SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG},
    {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW},
};

typedef struct {
    const char *path;
    uint64_t caps; /* the capabilities includes/excludes are judged against */
    tug_error **err;
} profile_parse;

#define profile_error(pp, fmt, ...)                                                                \
    tug_error_user((pp)->err, "seccomp profile %s: " fmt, (pp)->path, ##__VA_ARGS__)

static int json_u64(profile_parse *pp, json_t *v, const char *where, uint64_t *ret)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return profile_error(pp, "%s: expected a non-negative integer", where);
    *ret = (uint64_t)json_integer_value(v);
    return 0;
}

/* action (+ errnoRet) to a libseccomp action. */
static int parse_action(profile_parse *pp, json_t *action, const char *where, json_t *errno_ret,
                        const char *errno_where, uint32_t *ret)
{
    if (!json_is_string(action))
        return profile_error(pp, "%s: expected a string", where);
    const char *name = json_string_value(action);
    if (strcmp(name, "SCMP_ACT_NOTIFY") == 0)
        return profile_error(pp, "%s: %s needs a seccomp agent, which tug does not run", where,
                             name);
    for (size_t i = 0; i < TUG_ARRAY_SIZE(profile_actions); i++) {
        if (strcmp(profile_actions[i].name, name) != 0)
            continue;
        uint32_t a = profile_actions[i].action;
        if (a == SCMP_ACT_ERRNO(0) || a == SCMP_ACT_TRACE(0)) {
            uint64_t data = EPERM;
            if (errno_ret && !json_is_null(errno_ret)) {
                if (json_u64(pp, errno_ret, errno_where, &data) < 0)
                    return -1;
                if (data > 4095)
                    return profile_error(pp, "%s: %llu is out of range", errno_where,
                                         (unsigned long long)data);
            }
            a |= (uint32_t)data;
        }
        *ret = a;
        return 0;
    }
    return profile_error(pp, "%s: unknown action %s", where, name);
}

static int kernel_at_least(int major, int minor)
{
    static int cached = -1; /* major * 1000 + minor */
    int have = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (have < 0) {
        struct utsname u;
        int ma = 0, mi = 0;
        if (uname(&u) == 0)
            sscanf(u.release, "%d.%d", &ma, &mi);
        have = ma * 1000 + mi;
        __atomic_store_n(&cached, have, __ATOMIC_RELAXED);
    }
    return have >= major * 1000 + minor;
}

/* Should a rule with this includes (every listed condition must hold) or excludes (none may
 * hold) object apply on this host with this capability set? */
static int filter_matches(profile_parse *pp, json_t *f, const char *where, bool includes, bool *ret)
{
    if (!json_is_object(f))
        return profile_error(pp, "%s: expected an object", where);
    bool skip = false;
    json_t *arches = json_object_get(f, "arches"), *caps = json_object_get(f, "caps");
    json_t *min_kernel = json_object_get(f, "minKernel");
    if (arches && !json_is_null(arches)) {
        if (!json_is_array(arches))
            return profile_error(pp, "%s.arches: expected an array of strings", where);
        bool found = false;
        for (size_t i = 0; i < json_array_size(arches); i++) {
            json_t *a = json_array_get(arches, i);
            if (!json_is_string(a))
                return profile_error(pp, "%s.arches[%zu]: expected a string", where, i);
            if (strcmp(json_string_value(a), NATIVE_ARCH_NAME) == 0)
                found = true;
        }
        if (json_array_size(arches) > 0 && (includes ? !found : found))
            skip = true;
    }
    if (caps && !json_is_null(caps)) {
        if (!json_is_array(caps))
            return profile_error(pp, "%s.caps: expected an array of strings", where);
        for (size_t i = 0; i < json_array_size(caps); i++) {
            json_t *c = json_array_get(caps, i);
            if (!json_is_string(c))
                return profile_error(pp, "%s.caps[%zu]: expected a string", where, i);
            int cap;
            /* A capability tug does not know is one the container cannot hold. */
            bool held = tug_caps_parse(json_string_value(c), &cap, NULL, NULL) == 0 && cap >= 0 &&
                        (pp->caps & BIT(cap));
            if (includes ? !held : held)
                skip = true;
        }
    }
    if (min_kernel && !json_is_null(min_kernel)) {
        int ma, mi;
        if (!json_is_string(min_kernel) ||
            sscanf(json_string_value(min_kernel), "%d.%d", &ma, &mi) != 2)
            return profile_error(pp, "%s.minKernel: expected a version like \"4.8\"", where);
        bool at_least = kernel_at_least(ma, mi);
        if (includes ? !at_least : at_least)
            skip = true;
    }
    *ret = !skip;
    return 0;
}

static int parse_args(profile_parse *pp, json_t *args, const char *where,
                      struct scmp_arg_cmp *ret_cmps, unsigned int *ret_n)
{
    *ret_n = 0;
    if (args == NULL || json_is_null(args))
        return 0;
    if (!json_is_array(args))
        return profile_error(pp, "%s: expected an array", where);
    if (json_array_size(args) > 6)
        return profile_error(pp, "%s: at most 6 comparisons", where);
    for (size_t i = 0; i < json_array_size(args); i++) {
        json_t *a = json_array_get(args, i);
        char at[128];
        snprintf(at, sizeof(at), "%s[%zu]", where, i);
        if (!json_is_object(a))
            return profile_error(pp, "%s: expected an object", at);
        char field[160];
        uint64_t index = 0, value = 0, value_two = 0;
        snprintf(field, sizeof(field), "%s.index", at);
        if (json_u64(pp, json_object_get(a, "index"), field, &index) < 0)
            return -1;
        if (index > 5)
            return profile_error(pp, "%s: %llu is not a syscall argument (0-5)", field,
                                 (unsigned long long)index);
        snprintf(field, sizeof(field), "%s.value", at);
        if (json_u64(pp, json_object_get(a, "value"), field, &value) < 0)
            return -1;
        json_t *two = json_object_get(a, "valueTwo");
        snprintf(field, sizeof(field), "%s.valueTwo", at);
        if (two && !json_is_null(two) && json_u64(pp, two, field, &value_two) < 0)
            return -1;
        json_t *op = json_object_get(a, "op");
        snprintf(field, sizeof(field), "%s.op", at);
        if (!json_is_string(op))
            return profile_error(pp, "%s: expected a string", field);
        size_t k = 0;
        while (k < TUG_ARRAY_SIZE(profile_ops) &&
               strcmp(profile_ops[k].name, json_string_value(op)) != 0)
            k++;
        if (k == TUG_ARRAY_SIZE(profile_ops))
            return profile_error(pp, "%s: unknown operator %s", field, json_string_value(op));
        ret_cmps[i] = (struct scmp_arg_cmp){.arg = (unsigned int)index,
                                            .op = profile_ops[k].op,
                                            .datum_a = value,
                                            .datum_b = value_two};
    }
    *ret_n = (unsigned int)json_array_size(args);
    return 0;
}

static int parse_rule(profile_parse *pp, filter_builder *b, json_t *rule, size_t idx)
{
    char where[64], field[96];
    snprintf(where, sizeof(where), "syscalls[%zu]", idx);
    if (!json_is_object(rule))
        return profile_error(pp, "%s: expected an object", where);

    json_t *names = json_object_get(rule, "names"), *name = json_object_get(rule, "name");
    if (name && !json_is_null(name)) {
        if (names && json_array_size(names) > 0)
            return profile_error(pp, "%s: both name and names are set; use one", where);
        if (!json_is_string(name))
            return profile_error(pp, "%s.name: expected a string", where);
    } else if (!json_is_array(names)) {
        return profile_error(pp, "%s.names: expected an array of strings", where);
    }

    uint32_t action;
    char errno_where[96];
    snprintf(field, sizeof(field), "%s.action", where);
    snprintf(errno_where, sizeof(errno_where), "%s.errnoRet", where);
    if (parse_action(pp, json_object_get(rule, "action"), field, json_object_get(rule, "errnoRet"),
                     errno_where, &action) < 0)
        return -1;

    struct scmp_arg_cmp cmps[6];
    unsigned int n_cmps;
    snprintf(field, sizeof(field), "%s.args", where);
    if (parse_args(pp, json_object_get(rule, "args"), field, cmps, &n_cmps) < 0)
        return -1;

    bool applies = true;
    json_t *f;
    if ((f = json_object_get(rule, "excludes")) && !json_is_null(f)) {
        snprintf(field, sizeof(field), "%s.excludes", where);
        if (filter_matches(pp, f, field, false, &applies) < 0)
            return -1;
    }
    if (applies && (f = json_object_get(rule, "includes")) && !json_is_null(f)) {
        snprintf(field, sizeof(field), "%s.includes", where);
        if (filter_matches(pp, f, field, true, &applies) < 0)
            return -1;
    }
    if (!applies)
        return 0;

    /* Several comparisons of the same argument cannot share one rule: like runc, give each its
     * own rule, so they combine as "any of". */
    bool split = false;
    for (unsigned int i = 0; i < n_cmps; i++)
        for (unsigned int j = i + 1; j < n_cmps; j++)
            if (cmps[i].arg == cmps[j].arg)
                split = true;

    size_t count = name && !json_is_null(name) ? 1 : json_array_size(names);
    for (size_t i = 0; i < count; i++) {
        json_t *n = name && !json_is_null(name) ? name : json_array_get(names, i);
        if (!json_is_string(n))
            return profile_error(pp, "%s.names[%zu]: expected a string", where, i);
        const char *sys = json_string_value(n);
        int r = 0;
        if (split) {
            for (unsigned int k = 0; k < n_cmps && r == 0; k++)
                r = builder_add(b, sys, action, 1, &cmps[k], pp->err);
        } else {
            r = builder_add(b, sys, action, n_cmps, cmps, pp->err);
        }
        if (r < 0)
            return tug_error_wrap(pp->err, "seccomp profile %s: %s", pp->path, where);
    }
    return 0;
}

/* "SCMP_ARCH_X86_64" to libseccomp's token for "x86_64"; 0 when unknown. */
static uint32_t resolve_arch(const char *s)
{
    char lower[32];
    const char *p = strncmp(s, "SCMP_ARCH_", 10) == 0 ? s + 10 : s;
    size_t i = 0;
    for (; p[i]; i++) {
        if (i + 1 >= sizeof(lower))
            return 0;
        lower[i] = (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] - 'A' + 'a' : p[i]);
    }
    lower[i] = '\0';
    return seccomp_arch_resolve_name(lower);
}

static int parse_arch(profile_parse *pp, filter_builder *b, json_t *v, const char *where)
{
    if (!json_is_string(v))
        return profile_error(pp, "%s: expected a string", where);
    const char *s = json_string_value(v);
    uint32_t arch = resolve_arch(s);
    if (arch == 0)
        return profile_error(pp, "%s: unknown architecture %s", where, s);
    if (builder_add_arch(b, arch, pp->err) < 0)
        return tug_error_wrap(pp->err, "seccomp profile %s: %s", pp->path, where);
    return 0;
}

static int parse_arches(profile_parse *pp, filter_builder *b, json_t *root)
{
    json_t *list = json_object_get(root, "architectures"), *map = json_object_get(root, "archMap");
    bool have_list = list && !json_is_null(list), have_map = map && !json_is_null(map);
    if (have_list && !json_is_array(list))
        return profile_error(pp, "architectures: expected an array of strings");
    if (have_map && !json_is_array(map))
        return profile_error(pp, "archMap: expected an array");
    if (have_list && have_map && json_array_size(list) > 0 && json_array_size(map) > 0)
        return profile_error(pp, "both architectures and archMap are set; use one");

    char where[64];
    for (size_t i = 0; have_list && i < json_array_size(list); i++) {
        snprintf(where, sizeof(where), "architectures[%zu]", i);
        if (parse_arch(pp, b, json_array_get(list, i), where) < 0)
            return -1;
    }
    if (!have_map)
        return 0;
    /* archMap: only the entry for this machine counts, with its companion architectures. */
    uint32_t native = seccomp_arch_native();
    for (size_t i = 0; i < json_array_size(map); i++) {
        json_t *v = json_array_get(map, i);
        snprintf(where, sizeof(where), "archMap[%zu]", i);
        json_t *arch = json_is_object(v) ? json_object_get(v, "architecture") : NULL;
        if (!json_is_string(arch))
            return profile_error(pp, "%s.architecture: expected a string", where);
        if (resolve_arch(json_string_value(arch)) != native)
            continue;
        json_t *subs = json_object_get(v, "subArchitectures");
        if (subs == NULL || json_is_null(subs))
            return 0;
        if (!json_is_array(subs))
            return profile_error(pp, "%s.subArchitectures: expected an array of strings", where);
        for (size_t j = 0; j < json_array_size(subs); j++) {
            json_t *sub = json_array_get(subs, j);
            char sub_where[128];
            snprintf(sub_where, sizeof(sub_where), "%s.subArchitectures[%zu]", where, j);
            if (parse_arch(pp, b, sub, sub_where) < 0)
                return -1;
        }
        return 0;
    }
    return 0;
}

static int parse_flags(profile_parse *pp, json_t *flags, unsigned int *ret)
{
    *ret = 0;
    if (flags == NULL || json_is_null(flags))
        return 0;
    if (!json_is_array(flags))
        return profile_error(pp, "flags: expected an array of strings");
    for (size_t i = 0; i < json_array_size(flags); i++) {
        json_t *v = json_array_get(flags, i);
        if (!json_is_string(v))
            return profile_error(pp, "flags[%zu]: expected a string", i);
        size_t k = 0;
        while (k < TUG_ARRAY_SIZE(profile_flags) &&
               strcmp(profile_flags[k].name, json_string_value(v)) != 0)
            k++;
        if (k == TUG_ARRAY_SIZE(profile_flags))
            return profile_error(pp, "flags[%zu]: unsupported flag %s", i, json_string_value(v));
        *ret |= profile_flags[k].flag;
    }
    return 0;
}

/* Compile a JSON profile judging includes/excludes.caps against caps, as docker judges them
 * against the container's bounding set. *ret is NULL when the profile asks for no filter. */
static int prepare_profile_file(const char *path, uint64_t caps, tug_seccomp_filter **ret,
                                tug_error **err)
{
    *ret = NULL;
    profile_parse pp = {.path = path, .caps = caps, .err = err};
    cleanup_free char *data = NULL;
    size_t len = 0;
    cleanup_error tug_error *read_err = NULL;
    if (tug_read_file(path, &data, &len, &read_err) < 0)
        return profile_error(&pp, "%s", strerror(read_err->errnum ? read_err->errnum : EIO));
    json_error_t jerr;
    json_auto_t *root = json_loadb(data, len, 0, &jerr);
    if (root == NULL)
        return profile_error(&pp, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
    if (!json_is_object(root))
        return profile_error(&pp, "expected a JSON object");

    json_t *def = json_object_get(root, "defaultAction");
    json_t *syscalls = json_object_get(root, "syscalls");
    bool no_syscalls = syscalls == NULL || json_is_null(syscalls) ||
                       (json_is_array(syscalls) && json_array_size(syscalls) == 0);
    /* Like docker: a profile with neither a default action nor rules means no filter at all. */
    if ((def == NULL || (json_is_string(def) && json_string_length(def) == 0)) && no_syscalls)
        return 0;
    if (def == NULL)
        return profile_error(&pp, "defaultAction: missing");
    if (syscalls && !json_is_null(syscalls) && !json_is_array(syscalls))
        return profile_error(&pp, "syscalls: expected an array");

    uint32_t def_action;
    if (parse_action(&pp, def, "defaultAction", json_object_get(root, "defaultErrnoRet"),
                     "defaultErrnoRet", &def_action) < 0)
        return -1;
    unsigned int flags;
    if (parse_flags(&pp, json_object_get(root, "flags"), &flags) < 0)
        return -1;

    cleanup_builder filter_builder b = {0};
    if (builder_init(&b, def_action, err) < 0)
        return tug_error_wrap(err, "seccomp profile %s", path);
    if (parse_arches(&pp, &b, root) < 0)
        return -1;
    for (size_t i = 0; !no_syscalls && i < json_array_size(syscalls); i++)
        if (parse_rule(&pp, &b, json_array_get(syscalls, i), i) < 0)
            return -1;

    cleanup_free struct sock_filter *insns = NULL;
    size_t n_insns = 0;
    if (builder_compile(&b, &insns, &n_insns, err) < 0)
        return tug_error_wrap(err, "seccomp profile %s", path);
    builder_done(&b);
    return filter_new(&insns, n_insns, flags, ret, err);
}

int tug_seccomp_load_file(const char *path, tug_error **err)
{
    /* The header gives no capability set: judge includes/excludes.caps against docker's default
     * set, which is what a container run without --cap-add/--cap-drop holds. */
    tug_seccomp_filter *f = NULL;
    if (prepare_profile_file(path, tug_caps_default(), &f, err) < 0)
        return -1;
    int r = tug_seccomp_install(f, err);
    tug_seccomp_filter_free(f);
    return r;
}

int tug_seccomp_prepare(const char *profile, const char *cache_path, uint64_t caps,
                        tug_seccomp_filter **ret_filter, tug_error **err)
{
    *ret_filter = NULL;
    if (strcmp(profile, "unconfined") == 0)
        return 0;
    if (strcmp(profile, "default") == 0)
        return prepare_default(cache_path, caps, ret_filter, err);
    return prepare_profile_file(profile, caps, ret_filter, err);
}
