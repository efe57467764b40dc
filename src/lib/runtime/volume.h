/* Volumes: data directories under $ROOT/volumes/<name>/_data that outlive containers, and the
 * mounts of a container (-v, --mount, --volumes-from, the image's VOLUME entries). */
#pragma once
#include <jansson.h>
#include <stdbool.h>

#include "../store/store.h"
#include "../util/error.h"
#include "../util/strutil.h"

/* The label docker 23+ puts on anonymous volumes; `volume prune` without --all removes only
 * volumes that carry it. */
#define TUG_VOLUME_ANON_LABEL "com.docker.volume.anonymous"

/* ---- mount requests: pure parsers ---- */

typedef enum { TUG_MNT_VOLUME, TUG_MNT_BIND, TUG_MNT_TMPFS } tug_mnt_type;

typedef struct tug_mount_req {
    tug_mnt_type type;
    char *source;        /* volume name or absolute host path; NULL: anonymous volume, tmpfs */
    char *target;        /* absolute, cleaned */
    bool readonly;
    bool nocopy;         /* volume: do not fill an empty volume with the image's content */
    bool create_source;  /* bind given with -v: a missing host path is created */
    char *propagation;   /* bind: "rprivate" (default), "rshared", ... */
    bool nonrecursive;   /* bind: the source's submounts are not brought along */
    long long tmpfs_size; /* bytes, 0: the kernel's default */
    unsigned tmpfs_mode; /* 0: the kernel's default */
    json_t *labels;      /* volume: labels for a volume this mount creates (or NULL) */
    json_t *options;     /* volume: driver options (volume-opt) for a volume it creates */
} tug_mount_req;

void tug_mount_req_clear(tug_mount_req *m);
/* -v/--volume: "/ctr/path", "NAME:/ctr/path[:MODE]", "/host/path:/ctr/path[:MODE]"; MODE is a
 * comma list of ro, rw, nocopy, z, Z and a propagation. */
int tug_mount_parse_volume_flag(const char *spec, tug_mount_req *ret, tug_error **err);
/* --mount: "type=volume|bind|tmpfs,source=..,target=..,readonly,volume-opt=k=v,..." */
int tug_mount_parse_mount_flag(const char *spec, tug_mount_req *ret, tug_error **err);
/* --volumes-from: "CONTAINER[:ro|rw]". *ret_ctr is a new string. */
int tug_mount_parse_volumes_from(const char *spec, char **ret_ctr, bool *ret_ro, tug_error **err);
/* docker's HostConfig.Mounts entry for a --mount request, and back. */
json_t *tug_mount_req_to_json(const tug_mount_req *m);
int tug_mount_req_from_json(json_t *j, tug_mount_req *ret, tug_error **err);
/* docker's local volume names: [a-zA-Z0-9][a-zA-Z0-9_.-]+ */
bool tug_volume_name_valid(const char *name);
/* Clean an absolute path lexically (//, ., ..) as Go's filepath.Clean; NULL when relative. */
char *tug_path_clean_abs(const char *path);

/* ---- the volume store ---- */

typedef struct tug_volume {
    char *name;
    long long created_ns;
    json_t *labels;  /* object */
    json_t *options; /* object */
    bool anonymous;
} tug_volume;

void tug_volume_free(tug_volume *v);
void tug_volume_freep(tug_volume **v);
void tug_volumes_free(tug_volume **v, size_t n);
#define cleanup_volume __attribute__((cleanup(tug_volume_freep)))

/* $ROOT/volumes/<name>/_data */
char *tug_volume_path(tug_store *s, const char *name);
/* Create a volume (NULL name: an anonymous one). An existing volume of that name is returned
 * as it is, as docker does. */
int tug_volume_create(tug_store *s, const char *name, json_t *labels, json_t *options,
                      tug_volume **ret_vol, tug_error **err);
/* User error "no such volume: X" when missing. */
int tug_volume_find(tug_store *s, const char *name, tug_volume **ret_vol, tug_error **err);
int tug_volume_list(tug_store *s, tug_volume ***ret, size_t *ret_n, tug_error **err);
/* IDs of the containers that use the volume; NULL-terminated, *ret_n of them. */
int tug_volume_users(tug_store *s, const char *name, char ***ret_ids, size_t *ret_n,
                     tug_error **err);
/* Remove a volume no container uses; the error names the container that does. */
int tug_volume_remove(tug_store *s, const char *name, tug_error **err);
/* Remove unused volumes: anonymous ones, every one with all; of those, the ones that pass f
 * (NULL: all of them). */
int tug_volume_prune(tug_store *s, bool all, const tug_prune_filter *f, char ***ret_names,
                     long long *ret_reclaimed, tug_error **err);
/* Bytes a volume holds. */
long long tug_volume_size(tug_store *s, const char *name);

/* At container create: resolve HostConfig.Binds, HostConfig.Mounts, HostConfig.VolumesFrom and
 * Config.Volumes into OCI mount entries (request["TugMounts"]) and docker's MountPoints
 * (request["TugMountPoints"]), creating volumes and recording ctr_id as their user. */
int tug_volume_setup_mounts(tug_store *s, const char *ctr_id, json_t *request, tug_error **err);
/* When a container goes: forget it as a volume user; with remove_anonymous also remove its
 * anonymous volumes no other container uses. */
int tug_volume_release(tug_store *s, const char *ctr_id, bool remove_anonymous, tug_error **err);

/* Fill an empty volume directory (dst) with the image's content at the mount point (src):
 * ownership, modes, times, symlinks, device nodes and extended attributes kept. Runs in the
 * container's init before the bind; symlinks are never followed. */
int tug_volume_copy_up(int src_dirfd, int dst_dirfd, tug_error **err);

/* system df: count, in use, bytes, bytes of unused ones. */
typedef struct tug_volume_df {
    long long total, active, size, reclaimable;
} tug_volume_df;
int tug_volume_disk_usage(tug_store *s, tug_volume_df *ret, tug_error **err);
/* system check: volume directories with no record (removed with repair), records whose
 * directory is gone. Returns the number of findings; *ret_details one line each. */
int tug_volume_check(tug_store *s, bool repair, char **ret_details, tug_error **err);
/* docker's volume ls filter "key=value": dangling (true, false, 1, 0), name (a part of the
 * name), label (key or key=value), driver. User error "invalid filter 'F'" for another. */
int tug_volume_filter_check(const char *filter, tug_error **err);
/* Does the volume, used by n_users containers, pass the checked filters? Values of name are
 * or-ed, every other filter must hold. */
bool tug_volume_filters_match(const tug_volume *v, size_t n_users, const char *const *filters,
                              size_t n_filters);
/* The volume as docker's `volume inspect` shows it. */
json_t *tug_volume_inspect_json(tug_store *s, const tug_volume *v);
