/* Capabilities and seccomp, with docker's defaults. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "../util/error.h"

/* docker's default set: CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP
 * SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE. Bit n = capability n. */
uint64_t tug_caps_default(void);
/* Every capability the running kernel knows. */
uint64_t tug_caps_all(void);
/* "NET_ADMIN", "CAP_NET_ADMIN", "net_admin" or "ALL" (-> ret_all). User error naming the
 * capability when unknown. */
int tug_caps_parse(const char *name, int *ret_cap, bool *ret_all, tug_error **err);
/* Capability number to "CAP_NAME" (static string), NULL if unknown. */
const char *tug_caps_name(int cap);
/* In the container's init, before exec: drop every capability not in keep from the bounding
 * set, then set effective, permitted and inheritable to keep (and ambient to keep when the
 * process is not root, as docker does for non-root users with added caps: no — docker leaves
 * ambient empty; do the same). Must run after setuid/setgid handling: call with
 * PR_SET_KEEPCAPS semantics handled inside (see tug_caps_prepare_setuid). */
int tug_caps_apply(uint64_t keep, tug_error **err);
/* Call before setresuid() to a non-root uid so the permitted set survives the switch. */
int tug_caps_prepare_setuid(tug_error **err);

/* Load docker's default seccomp profile (deny with EPERM what docker denies) into the calling
 * thread. The compiled BPF is cached in cache_path (written atomically the first time, reused
 * afterwards) so a container start pays no compile. allowed_caps relaxes the profile as
 * docker does (e.g. CAP_SYS_ADMIN allows mount/unshare/setns..., CAP_SYS_PTRACE allows ptrace
 * family, CAP_SYS_MODULE allows module syscalls...). no_new_privs is the caller's business. */
int tug_seccomp_load_default(const char *cache_path, uint64_t allowed_caps, tug_error **err);
/* A compiled filter held in memory, so that a process entering a container loads it without
 * reading anything from the host once it is inside. */
typedef struct tug_seccomp_filter tug_seccomp_filter;
/* profile: "default" (docker's, cached under cache_path, widened by caps), "unconfined"
 * (*ret_filter = NULL) or a JSON profile file (includes/excludes judged against caps). */
int tug_seccomp_prepare(const char *profile, const char *cache_path, uint64_t caps,
                        tug_seccomp_filter **ret_filter, tug_error **err);
/* Load into the calling thread; NULL loads nothing. Touches no file, so it works after
 * pivot_root; it may compile (malloc) when the kernel refuses a cached program. */
int tug_seccomp_install(const tug_seccomp_filter *f, tug_error **err);
void tug_seccomp_filter_free(tug_seccomp_filter *f);
static inline void tug_seccomp_filter_freep(tug_seccomp_filter **f)
{
    tug_seccomp_filter_free(*f);
}
#define cleanup_seccomp_filter __attribute__((cleanup(tug_seccomp_filter_freep)))

/* Load a docker-format JSON profile (defaultAction, syscalls[].names/action/args/errnoRet,
 * architectures). User error naming the file and problem on bad input. */
int tug_seccomp_load_file(const char *path, tug_error **err);
