/* Steps shared by a container's init and `exec`, run in a child between fork and exec. On
 * failure they report to tug_child_fail_fd and _exit with the docker exit code. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "linux.h"
#include "security.h"

typedef struct child_fail {
    int code;
    char msg[1024];
} child_fail;

extern int tug_child_fail_fd;

__attribute__((noreturn, format(printf, 3, 4))) void tug_child_die(int code, int e,
                                                                   const char *fmt, ...);
void tug_child_resolve_user(const char *spec, uid_t *uid, gid_t *gid, gid_t *groups,
                            int *ngroups, char *home, size_t home_size);
/* Add the groups of --group-add (names looked up in the container's /etc/group, or ids). */
void tug_child_add_groups(const char *list, gid_t *groups, int *ngroups);
const char *tug_child_env_get(char **env, const char *key);
void tug_child_find_program(const char *prog, char **env, char *out, size_t size);
void tug_child_setup_terminal(int console, unsigned short rows, unsigned short cols);
void tug_child_setup_stdio(const tug_spawn_io *io);
/* seccomp, groups, gid, uid, capabilities, no_new_privs, in the order that works; then every fd
 * above 2 is marked close-on-exec. filter NULL: unconfined. */
void tug_child_become(uint64_t caps, bool no_new_privs, const tug_seccomp_filter *filter,
                      uid_t uid, gid_t gid, const gid_t *groups, int ngroups);
/* Mount an overlay of lowerdirs (colon-separated, top first) with upperdir and workdir (same
 * filesystem, workdir beside upperdir) on target. The layers go by short links in
 * dirname(upperdir)/l, so any number up to the kernel's 500 fits mount(2)'s one page. */
void tug_child_mount_overlay(const char *lowerdirs, const char *upperdir, const char *workdir,
                             const char *target);
