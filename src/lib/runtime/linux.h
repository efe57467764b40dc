/* Starting a container's init on Linux from its OCI spec: namespaces, rootfs, mounts,
 * pivot_root, cgroups, capabilities, seccomp, exec. No runc, no crun. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "../util/error.h"
#include "cgroup.h"
#include "devices.h"

typedef struct tug_mount {
    char *dest, *type, *src, *data;
    unsigned long flags;  /* MS_* applied at mount */
    unsigned long pflags; /* propagation MS_PRIVATE/MS_SLAVE/..., 0 for none */
    bool bind, ro;
    bool copyup; /* an empty volume first gets the image's content at dest */
} tug_mount;

typedef struct tug_rlimit {
    int resource;
    rlim_t soft, hard;
} tug_rlimit;

typedef struct tug_spawn_spec {
    char **args, **env, *cwd;
    bool terminal;
    uid_t uid;
    gid_t gid;
    char *user;   /* "name[:group]" to resolve in the container's /etc/passwd, or NULL */
    uint64_t caps;
    bool no_new_privs;
    tug_rlimit *rlimits;
    size_t n_rlimits;
    char *hostname;
    char *rootfs; /* absolute; the overlay is mounted here when lowerdirs is set */
    bool readonly_root;
    char *lowerdirs, *upperdir, *workdir;
    tug_mount *mounts;
    size_t n_mounts;
    int ns_flags;      /* CLONE_NEW* to create */
    char *netns_path;  /* join this network namespace instead of creating one */
    char *pidns_path, *ipcns_path, *utsns_path; /* join these instead (--pid container:X ...) */
    char *shm_from;    /* a mount namespace whose /dev/shm goes on this one's (--ipc container:) */
    char *domainname;  /* set in a UTS namespace of the container's own */
    char *groups;      /* --group-add: names or ids, comma-separated, from /etc/group */
    int oom_score_adj; /* written for the init when oom_score_adj_set */
    bool oom_score_adj_set;
    char *cgroup_path; /* relative, e.g. "tug/<id>" */
    tug_cgroup_limits limits;
    char **masked, **readonly;
    char **sysctl;     /* "key", "value", ... pairs; key with dots */
    char *seccomp;     /* "default", "unconfined" or a profile file */
    bool init;
    bool privileged; /* the host's devices appear in /dev */
    tug_blkio_throttle *throttle; /* what limits.throttle points at */
    tug_device_rule *device_rules; /* the policy limits.devices points at */
    size_t n_device_rules;
    tug_device_node *devices; /* nodes to create (--device) */
    size_t n_devices;
} tug_spawn_spec;

/* Parse an OCI runtime spec; bundle is the directory relative paths are taken from. */
int tug_spawn_spec_parse(json_t *spec, const char *bundle, tug_spawn_spec **ret_spec,
                         tug_error **err);
void tug_spawn_spec_free(tug_spawn_spec *s);
/* Join the namespace type ("pid" or "ipc") of the running process pid; with "ipc", its
 * /dev/shm too. */
int tug_spawn_spec_join(tug_spawn_spec *s, const char *type, pid_t pid, tug_error **err);

typedef struct tug_spawn_io {
    int in, out, err; /* the container's stdio; -1 for /dev/null. Ignored with a terminal. */
    int console;      /* with a terminal: a unix socket the pty master is sent over */
    unsigned short rows, cols; /* the terminal's size from the start (0: unknown) */
} tug_spawn_io;

typedef struct tug_spawn_paths {
    const char *seccomp_cache; /* directory for compiled seccomp filters */
    const char *init_binary;   /* tug's init, for --init */
    /* The init is killed when the process that spawned it dies (a build step: nothing outlives
     * a killed build). A container's init outlives its monitor instead. */
    bool die_with_parent;
    /* Called after clone, before the init goes on (e.g. to plumb its network namespace). */
    int (*before_start)(pid_t pid, void *userdata, tug_error **err);
    void *userdata;
} tug_spawn_paths;

typedef struct tug_spawned {
    pid_t pid;
    tug_cgroup *cg;
} tug_spawned;

/* Exit codes a failed start maps to, as docker reports them. */
#define TUG_EXIT_CANNOT_EXEC 126
#define TUG_EXIT_NOT_FOUND 127

/* Start the init. On failure err->status holds 125, 126 or 127 and the message says why. */
int tug_spawn(const tug_spawn_spec *spec, const tug_spawn_io *io, const tug_spawn_paths *paths,
              tug_spawned *ret, tug_error **err);
