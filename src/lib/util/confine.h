/* Confinement for tug's helper processes that handle what others send (the resolver tug-dns,
 * the port proxy tug-proxy): once their sockets are open they give up the host's files, every
 * capability and every system call their loop does not make. libc only: the static tug-dns
 * links this too. */
#pragma once
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/syscall.h>

/* clang-format off */
#if defined(__x86_64__)
#define TUG_CONFINE_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TUG_CONFINE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define TUG_ARG_LO(i) (offsetof(struct seccomp_data, args[i]) + 4)
#else
#define TUG_ARG_LO(i) offsetof(struct seccomp_data, args[i])
#endif

/* Rules of an allowlist for tug_seccomp_allow_only; each either returns or leaves the
 * system call's number loaded for the next. */
#define TUG_ALLOW(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
                      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
/* nr allowed when its argument i has none of the bits in mask */
#define TUG_ALLOW_WITHOUT(nr, i, mask) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 4), \
                      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, TUG_ARG_LO(i)), \
                      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, (mask), 1, 0), \
                      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), \
                      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)
/* nr allowed when its argument i is one of two values */
#define TUG_ALLOW_IF2(nr, i, v1, v2) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 5), \
                      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, TUG_ARG_LO(i)), \
                      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (v1), 2, 0), \
                      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (v2), 1, 0), \
                      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM), \
                      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
/* clang-format on */

/* DIR becomes the root and the working directory (paths that follow are relative to it). */
int tug_confine_root(const char *dir);

/* A new directory under PARENT becomes the root, removed at once: a root with nothing in it
 * that nothing can be made in, and no leftover when the process ends. */
int tug_confine_root_empty(const char *parent);

/* Every capability goes: the bounding and ambient sets, then effective, permitted and
 * inheritable; no_new_privs is set. With to_nobody, the groups, gid and uid become nobody's
 * first (65534). The parent-death signal is cleared by the change of uid: set it again. */
int tug_confine_drop_privileges(bool to_nobody);

/* Load a seccomp filter that allows the system calls `allow` lets through (TUG_ALLOW...
 * rules), fails every other with EPERM, and kills the process on a foreign architecture's
 * calls. An architecture tug has no numbers for is left unfiltered (0 returned). */
int tug_seccomp_allow_only(const struct sock_filter *allow, size_t n);
