/* RUN --mount: BuildKit's cache, bind, tmpfs and secret mounts as mounts of the step's container.
 * Nothing of them goes into the layer: each is mounted over the step's rootfs, and the mount
 * points the runtime makes are taken out of the changes after (step.c). Sources the builder
 * opened safely (the context under its root, a stage's layer dirs, a cache dir) are handed to the
 * runtime as /proc/<builder>/fd/N, so no path is looked up again on the way; secrets are files
 * on the run directory's tmpfs for the step's time, never in the store. */
#include "build_mounts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "../runtime/container.h"
#include "../runtime/volume.h"
#include "../util/cleanup.h"
#include "../util/digest.h"
#include "../util/fs.h"
#include "../util/strutil.h"
#include "builder.h"
#include "fsops.h"
#include "../store/layer.h"

#define SECRET_MAX (500 * 1024) /* BuildKit's limit */
#define CACHE_MOUNTS "build-cache-mounts"
#define CACHE_INSTANCES 64 /* sharing=private: at most this many copies of one id */

/* ---- --secret ---- */

void tug_build_secret_clear(tug_build_secret *s)
{
    free(s->id);
    free(s->src);
    memset(s, 0, sizeof(*s));
}

int tug_build_secret_parse(const char *spec, tug_build_secret *ret, tug_error **err)
{
    cleanup_free char *copy = strdup(spec);
    if (copy == NULL)
        return tug_error_set(err, ENOMEM, "--secret");
    const char *type = NULL, *id = NULL, *src = NULL, *env = NULL;
    for (char *save = NULL, *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(f, '=');
        if (eq == NULL)
            return tug_error_user(err,
                                  "invalid --secret %s: \"%s\" is not key=value (give "
                                  "id=NAME,src=PATH or id=NAME,env=VAR)",
                                  spec, f);
        *eq = '\0';
        const char *v = eq + 1;
        if (strcasecmp(f, "type") == 0)
            type = v;
        else if (strcasecmp(f, "id") == 0)
            id = v;
        else if (strcasecmp(f, "src") == 0 || strcasecmp(f, "source") == 0)
            src = v;
        else if (strcasecmp(f, "env") == 0)
            env = v;
        else
            return tug_error_user(err,
                                  "invalid --secret %s: unexpected key '%s' (it takes "
                                  "type, id, src and env)",
                                  spec, f);
    }
    if (type && strcmp(type, "file") != 0 && strcmp(type, "env") != 0)
        return tug_error_user(err, "invalid --secret %s: unsupported type \"%s\" (file or env)",
                              spec, type);
    if (id == NULL || *id == '\0')
        return tug_error_user(err, "invalid --secret %s: the secret needs an id (id=NAME)", spec);
    if (src && env)
        return tug_error_user(err, "invalid --secret %s: give src or env, not both", spec);
    tug_build_secret s = {.kind = TUG_SECRET_AUTO};
    if (env || (type && strcmp(type, "env") == 0)) {
        s.kind = TUG_SECRET_ENV;
        src = env ? env : src ? src : id;
    } else if (src || type) {
        s.kind = TUG_SECRET_FILE;
        src = src ? src : id;
    }
    if ((src && *src == '\0'))
        return tug_error_user(err, "invalid --secret %s: an empty %s", spec,
                              s.kind == TUG_SECRET_ENV ? "env" : "src");
    s.id = strdup(id);
    s.src = src ? strdup(src) : NULL;
    if (s.id == NULL || (src && s.src == NULL)) {
        tug_build_secret_clear(&s);
        return tug_error_set(err, ENOMEM, "--secret");
    }
    *ret = s;
    return 0;
}

int tug_build_secret_read(const tug_build_secret *s, char **ret_data, size_t *ret_len,
                          tug_error **err)
{
    const char *var = s->kind == TUG_SECRET_ENV    ? s->src
                      : s->kind == TUG_SECRET_AUTO ? s->id
                                                   : NULL;
    const char *val = var ? getenv(var) : NULL;
    if (val || s->kind == TUG_SECRET_ENV) {
        if (val == NULL)
            return 0;
        size_t n = strlen(val);
        if (n > SECRET_MAX)
            return tug_error_user(err, "secret %s: over 500 KB", s->id);
        char *d = strdup(val);
        if (d == NULL)
            return tug_error_set(err, ENOMEM, "secret %s", s->id);
        *ret_data = d;
        *ret_len = n;
        return 1;
    }
    const char *path = s->src ? s->src : s->id;
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT ? 0 : tug_error_set(err, errno, "secret %s: open %s", s->id, path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return tug_error_set(err, errno, "secret %s: %s", s->id, path);
    if (!S_ISREG(st.st_mode))
        return tug_error_user(err, "secret %s: %s is not a regular file", s->id, path);
    if (st.st_size > SECRET_MAX)
        return tug_error_user(err, "secret %s: %s is over 500 KB", s->id, path);
    char *d = malloc((size_t)st.st_size + 1);
    if (d == NULL)
        return tug_error_set(err, ENOMEM, "secret %s", s->id);
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, d + len, (size_t)st.st_size + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (n > 0 && len + (size_t)n > (size_t)st.st_size)) {
            int e = n < 0 ? errno : EFBIG;
            free(d);
            return tug_error_set(err, e, "secret %s: read %s", s->id, path);
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    d[len] = '\0';
    *ret_data = d;
    *ret_len = len;
    return 1;
}

/* ---- cache mounts in the store ---- */

static char *cache_root(tug_store *s)
{
    char *p = NULL;
    return asprintf(&p, "%s/" CACHE_MOUNTS, s->root) < 0 ? NULL : p;
}

/* $ROOT/build-cache-mounts/<sha256 of id>, ".N" after it for the Nth private copy. */
static char *cache_instance(tug_store *s, const char *id, int n)
{
    char d[72], *p = NULL;
    tug_sha256_buf(id, strlen(id), d);
    int r = n == 0 ? asprintf(&p, "%s/" CACHE_MOUNTS "/%s", s->root, tug_digest_hex(d))
                   : asprintf(&p, "%s/" CACHE_MOUNTS "/%s.%d", s->root, tug_digest_hex(d), n);
    return r < 0 ? NULL : p;
}

/* A new instance is made whole under a temp name and renamed into place: its lock file, its
 * data dir with the mount's mode and owner, and its id for whoever looks. */
static int cache_make(const char *path, const char *id, const tug_df_mount *m, tug_error **err)
{
    struct stat st;
    if (stat(path, &st) == 0)
        return 0;
    char rnd[17];
    tug_random_hex(rnd, 8);
    cleanup_free char *root = strdup(path);
    char *slash = root ? strrchr(root, '/') : NULL;
    if (slash == NULL)
        return tug_error_set(err, ENOMEM, "cache mount");
    *slash = '\0';
    cleanup_free char *tmp = NULL;
    if (tug_mkdir_p(root, 0700, err) < 0)
        return -1;
    if (asprintf(&tmp, "%s/.tmp-%d-%s", root, (int)getpid(), rnd) < 0)
        return tug_error_set(err, ENOMEM, "cache mount");
    if (mkdir(tmp, 0700) < 0)
        return tug_error_set(err, errno, "cache mount %s: mkdir", id);
    cleanup_close int dir = open(tmp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int lock = dir < 0 ? -1 : openat(dir, "lock", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    int r = lock < 0 ? -1 : 0;
    if (lock >= 0)
        close(lock);
    mode_t mode = m->mode >= 0 ? (mode_t)m->mode : 0755;
    if (r == 0)
        r = mkdirat(dir, "data", 0700);
    if (r == 0)
        r = fchownat(dir, "data", m->uid >= 0 ? (uid_t)m->uid : 0, m->gid >= 0 ? (gid_t)m->gid : 0,
                     AT_SYMLINK_NOFOLLOW);
    if (r == 0)
        r = fchmodat(dir, "data", mode & 07777, 0);
    int e = errno;
    if (r == 0) {
        cleanup_close int f = openat(dir, "id", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        if (f >= 0)
            (void)!tug_write_all(f, id, strlen(id));
        if (rename(tmp, path) == 0)
            return 0;
        e = errno;
    }
    tug_error *ignored = NULL;
    tug_rm_rf(tmp, &ignored);
    tug_error_free(ignored);
    /* another build made it meanwhile */
    if (r == 0 && (e == EEXIST || e == ENOTEMPTY))
        return 0;
    return tug_error_set(err, e, "cache mount %s", id);
}

/* Lock an instance (flock op): its lock fd, -2 when busy (LOCK_NB), -3 when it went (a prune
 * renamed it aside before removing it: make it again). */
static int cache_lock(const char *path, int op, tug_error **err)
{
    cleanup_free char *lockp = NULL;
    if (asprintf(&lockp, "%s/lock", path) < 0)
        return tug_error_set(err, ENOMEM, "cache mount");
    cleanup_close int fd = open(lockp, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -3 : tug_error_set(err, errno, "open %s", lockp);
    int r;
    while ((r = flock(fd, op)) < 0 && errno == EINTR) {
    }
    if (r < 0)
        return errno == EWOULDBLOCK ? -2 : tug_error_set(err, errno, "lock %s", lockp);
    struct stat a, b;
    if (fstat(fd, &a) < 0 || stat(lockp, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev)
        return -3;
    futimens(fd, NULL); /* last used, for prune --filter until= */
    return steal_fd(&fd);
}

int tug_build_cache_mounts_prune(tug_store *s, long long until, long long *ret_count,
                                 long long *ret_bytes, tug_error **err)
{
    long long count = 0, bytes = 0;
    cleanup_free char *root = cache_root(s);
    if (root == NULL)
        return tug_error_set(err, ENOMEM, "prune cache mounts");
    cleanup_dir DIR *d = opendir(root);
    if (d == NULL && errno != ENOENT)
        return tug_error_set(err, errno, "open %s", root);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (tug_store_dead_writer(n, ".tmp-") || tug_store_dead_writer(n, ".rm-")) {
            tug_error *ignored = NULL;
            tug_rm_rf_at(dirfd(d), n, &ignored);
            tug_error_free(ignored);
            continue;
        }
        if (n[0] == '.')
            continue;
        cleanup_free char *path = NULL, *data = NULL, *aside = NULL;
        if (asprintf(&path, "%s/%s", root, n) < 0 || asprintf(&data, "%s/data", path) < 0 ||
            asprintf(&aside, "%s/.rm-%d-%s", root, (int)getpid(), n) < 0)
            return tug_error_set(err, ENOMEM, "prune cache mounts");
        /* one a build holds now stays */
        cleanup_close int lock = cache_lock(path, LOCK_EX | LOCK_NB, err);
        if (lock == -1)
            return -1;
        if (lock < 0)
            continue;
        struct stat st;
        if (until > 0 && fstat(lock, &st) == 0 && st.st_mtime >= until)
            continue;
        long long size = 0;
        tug_error *ignored = NULL;
        tug_dir_size(data, &size, &ignored);
        tug_error_free(ignored);
        ignored = NULL;
        if (rename(path, aside) < 0)
            return tug_error_set(err, errno, "prune cache mount %s", n);
        if (tug_rm_rf(aside, err) < 0)
            return -1;
        count++;
        bytes += size;
    }
    if (ret_count)
        *ret_count = count;
    if (ret_bytes)
        *ret_bytes = bytes;
    return 0;
}

int tug_build_cache_mounts_usage(tug_store *s, long long *ret_count, long long *ret_bytes,
                                 tug_error **err)
{
    tug_build_cache_entry *list = NULL;
    size_t n = 0;
    if (tug_build_cache_mounts_list(s, &list, &n, err) < 0) {
        free(list);
        return -1;
    }
    long long bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += list[i].size;
    free(list);
    *ret_count = (long long)n;
    *ret_bytes = bytes;
    return 0;
}

int tug_build_cache_mounts_list(tug_store *s, tug_build_cache_entry **list, size_t *n,
                                tug_error **err)
{
    cleanup_free char *root = cache_root(s);
    if (root == NULL)
        return tug_error_set(err, ENOMEM, "cache mounts");
    cleanup_dir DIR *d = opendir(root);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof((*list)->id))
            continue;
        cleanup_free char *path = NULL, *data = NULL, *lockp = NULL;
        if (asprintf(&path, "%s/%s", root, de->d_name) < 0 ||
            asprintf(&data, "%s/data", path) < 0 || asprintf(&lockp, "%s/lock", path) < 0)
            return tug_error_set(err, ENOMEM, "cache mounts");
        struct statx made;
        struct stat used;
        if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BTIME | STATX_MTIME, &made) < 0)
            continue; /* pruned meanwhile */
        tug_build_cache_entry *grown = realloc(*list, (*n + 1) * sizeof(**list));
        if (grown == NULL)
            return tug_error_set(err, ENOMEM, "cache mounts");
        *list = grown;
        tug_build_cache_entry *e = &grown[*n];
        memset(e, 0, sizeof(*e));
        snprintf(e->id, sizeof(e->id), "%s", de->d_name);
        e->type = "exec.cachemount";
        tug_error *ignored = NULL;
        tug_dir_size(data, &e->size, &ignored);
        tug_error_free(ignored);
        e->created = made.stx_mask & STATX_BTIME ? made.stx_btime.tv_sec : made.stx_mtime.tv_sec;
        /* a step touches the lock file each time it takes the directory (cache_lock) */
        e->last_used = stat(lockp, &used) == 0 ? used.st_mtime : e->created;
        e->usage = e->last_used > e->created ? 2 : 1;
        cleanup_close int fd = open(lockp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        e->in_use = fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
        (*n)++;
    }
    return 0;
}

/* ---- the executor's part ---- */

struct bld_mount_item {
    const tug_df_mount *m;
    char *target;           /* absolute in the rootfs; NULL for a secret given as env only */
    tug_copy_sources *srcs; /* bind from the context */
    char **lowers;          /* bind from a stage or image: its layer dirs, bottom first */
    size_t n_lowers;
    char *source;  /* bind: cleaned, without the leading "/"; "" for the root */
    bool from_ref; /* bind from a stage or an image (else the context) */
};

static const char *const type_names[] = {"bind", "cache", "tmpfs", "secret", "ssh"};

char **bld_mounts_froms(const tug_df_instruction *in)
{
    char **v = NULL;
    size_t n = 0;
    for (size_t i = 0; i < in->n_flags; i++) {
        if (strcmp(in->flags[i].name, "mount") != 0 || in->flags[i].value == NULL)
            continue;
        cleanup_free char *copy = strdup(in->flags[i].value);
        for (char *save = NULL, *f = copy ? strtok_r(copy, ",", &save) : NULL; f;
             f = strtok_r(NULL, ",", &save)) {
            while (*f == '"' || *f == ' ')
                f++;
            if (strncasecmp(f, "from=", 5) != 0)
                continue;
            char *val = f + 5;
            size_t len = strlen(val);
            while (len > 0 && val[len - 1] == '"')
                val[--len] = '\0';
            char **nv = realloc(v, (n + 2) * sizeof(char *));
            if (nv == NULL)
                break;
            v = nv;
            v[n] = strdup(val);
            if (v[n])
                n++;
            v[n] = NULL;
        }
    }
    return v;
}

void bld_mounts_release(bld_mounts *ms)
{
    bool left = false;
    for (size_t i = ms->n_staged; i-- > 0;) {
        if (umount2(ms->staged[i], MNT_DETACH) < 0 && errno != EINVAL)
            left = true;
        free(ms->staged[i]);
    }
    free(ms->staged);
    ms->staged = NULL;
    ms->n_staged = 0;
    for (size_t i = 0; i < ms->n_fds; i++)
        close(ms->fds[i]);
    free(ms->fds);
    ms->fds = NULL;
    ms->n_fds = 0;
    /* never a removal through a mount that stayed: the next build's sweep takes it then */
    if (ms->stage_dir && !left) {
        tug_error *ignored = NULL;
        tug_rm_rf(ms->stage_dir, &ignored);
        tug_error_free(ignored);
    }
    free(ms->stage_dir);
    ms->stage_dir = NULL;
    if (ms->secret_dir) {
        tug_error *ignored = NULL;
        tug_rm_rf(ms->secret_dir, &ignored);
        tug_error_free(ignored);
        free(ms->secret_dir);
        ms->secret_dir = NULL;
    }
}

void bld_mounts_clear(bld_mounts *ms)
{
    bld_mounts_release(ms);
    json_decref(ms->key);
    json_decref(ms->oci);
    for (char **e = ms->env; e && *e; e++) {
        explicit_bzero(*e, strlen(*e));
        free(*e);
    }
    free(ms->env);
    for (size_t i = 0; i < ms->n_items; i++) {
        bld_mount_item *it = &ms->items[i];
        free(it->target);
        free(it->source);
        tug_copy_sources_free(it->srcs);
        for (size_t k = 0; it->lowers && it->lowers[k]; k++)
            free(it->lowers[k]);
        free(it->lowers);
    }
    free(ms->items);
    memset(ms, 0, sizeof(*ms));
}

/* A bind's source, for the key: the context's content checksum, or the stage or image and the
 * path in it. */
static int plan_bind(builder *b, const tug_df_instruction *in, bld_mount_item *it, json_t *k,
                     tug_error **err)
{
    const tug_df_mount *m = it->m;
    cleanup_free char *abs = NULL;
    if (asprintf(&abs, "/%s", m->source ? m->source : "") < 0)
        return tug_error_set(err, ENOMEM, "RUN --mount");
    cleanup_free char *clean = tug_path_clean_abs(abs);
    it->source = clean ? strdup(clean + 1) : NULL;
    if (it->source == NULL)
        return tug_error_set(err, ENOMEM, "RUN --mount");
    json_object_set_new(k, "source", json_string(it->source));
    if (m->from == NULL) {
        if (tug_context_dir(b->ctx) == NULL) {
            if (*it->source)
                return tug_error_user(err,
                                      "%s:%d: RUN --mount source=%s: the build has no context (a "
                                      "Dockerfile from standard input)",
                                      in->file, in->line, m->source);
            json_object_set_new(k, "context", json_string("none"));
            return 0;
        }
        const char *one[] = {m->source ? m->source : "."};
        if (tug_context_resolve(b->ctx, one, 1, NULL, &it->srcs, err) < 0)
            return -1;
        if (it->srcs->n_matches != 1)
            return tug_error_user(
                err,
                "%s:%d: RUN --mount source=%s names %zu paths: a bind mount takes "
                "one",
                in->file, in->line, one[0], it->srcs->n_matches);
        char digest[TUG_DIGEST_LEN + 1];
        if (tug_context_checksum(b->ctx, it->srcs, false, digest, err) < 0)
            return -1;
        json_object_set_new(k, "context", json_string(digest));
        return 0;
    }
    const tug_stage *from = NULL;
    cleanup_image tug_image *img = NULL;
    if (bld_copy_source_stage(b, m->from, &from, &img, err) < 0)
        return tug_error_wrap(err, "%s:%d: RUN --mount from=%s", in->file, in->line, m->from);
    it->from_ref = true;
    if (from) {
        if ((it->lowers = bld_lower_dirs(b, from, err)) == NULL)
            return -1;
        it->n_lowers = from->n_layers;
        const char *top = tug_stage_top_chain(from);
        json_object_set_new(k, "from", json_string(top ? top : "scratch"));
    } else {
        it->lowers = calloc(img->n_layers + 1, sizeof(char *));
        for (size_t i = 0; it->lowers && i < img->n_layers; i++)
            it->lowers[it->n_lowers++] = tug_store_layer_dir(b->s, img->layers[i].chain_id);
        json_object_set_new(k, "from", json_string(img->id));
    }
    if (it->lowers == NULL)
        return tug_error_set(err, ENOMEM, "RUN --mount");
    return tug_store_layers_ready(b->s, it->lowers, it->n_lowers, err);
}

int bld_mounts_plan(builder *b, tug_stage *st, const tug_df_instruction *in, const tug_df_run *run,
                    bld_mounts *ret, tug_error **err)
{
    bld_mounts ms = {.key = json_array(),
                     .items = calloc(run->n_mounts + 1, sizeof(bld_mount_item))};
    if (ms.key == NULL || ms.items == NULL) {
        bld_mounts_clear(&ms);
        return tug_error_set(err, ENOMEM, "RUN --mount");
    }
    int r = 0;
    for (size_t i = 0; r == 0 && i < run->n_mounts; i++) {
        const tug_df_mount *m = &run->mounts[i];
        bld_mount_item *it = &ms.items[ms.n_items++];
        it->m = m;
        if (m->type == TUG_DF_MOUNT_SSH) {
            r = tug_error_user(err,
                               "%s:%d: RUN --mount=type=ssh is not supported by tug (no SSH agent "
                               "forwarding): use a secret mount or fetch in the context",
                               in->file, in->line);
            break;
        }
        if (m->type != TUG_DF_MOUNT_SECRET || m->target) {
            it->target = bld_join_workdir(st, m->target ? m->target : ".");
            if (it->target == NULL) {
                r = tug_error_set(err, ENOMEM, "RUN --mount");
                break;
            }
            if (strcmp(it->target, "/") == 0) {
                r = tug_error_user(err,
                                   "%s:%d: RUN --mount target \"/\": a mount cannot hide the root "
                                   "(give target=PATH)",
                                   in->file, in->line);
                break;
            }
        }
        json_t *k =
            json_pack("{s:s,s:o,s:b}", "type", type_names[m->type], "target",
                      it->target ? json_string(it->target) : json_null(), "readonly", m->readonly);
        json_array_append_new(ms.key, k);
        if (m->type == TUG_DF_MOUNT_CACHE) {
            if (m->from) {
                r = tug_error_user(err,
                                   "%s:%d: RUN --mount=type=cache,from=%s: seeding a cache mount "
                                   "from a stage is not supported by tug",
                                   in->file, in->line, m->from);
                break;
            }
            json_object_set_new(k, "id", json_string(m->id ? m->id : it->target));
            json_object_set_new(k, "sharing", json_integer(m->sharing));
        }
        if (m->type == TUG_DF_MOUNT_SECRET) {
            json_object_set_new(k, "id", json_string(m->id));
            json_object_set_new(k, "env", m->env ? json_string(m->env) : json_null());
            json_object_set_new(k, "required", json_boolean(m->required));
        }
        if (m->type == TUG_DF_MOUNT_TMPFS)
            json_object_set_new(k, "size", json_integer(m->size));
        if (m->type == TUG_DF_MOUNT_CACHE || m->type == TUG_DF_MOUNT_SECRET) {
            json_object_set_new(k, "mode", json_integer(m->mode));
            json_object_set_new(k, "uid", json_integer(m->uid));
            json_object_set_new(k, "gid", json_integer(m->gid));
        }
        if (m->type == TUG_DF_MOUNT_BIND)
            r = plan_bind(b, in, it, k, err);
    }
    if (r < 0) {
        bld_mounts_clear(&ms);
        return -1;
    }
    *ret = ms;
    return 0;
}

/* ---- setting them up for the step's container ---- */

/* The container's mount namespace is a copy of the builder's, made when it starts, and a mount
 * can only be bound from the caller's own namespace: so what the builder opens (a context dir
 * under its root, a layer) is bound first at a staging point of a private namespace the
 * builder takes for the rest of the build (slave of the host's: nothing goes back), and the
 * container binds that. Whatever is bound must be opened after the unshare: an fd opened
 * before names a mount of the host's namespace. The staging points are under
 * $ROOT/tmp/bmnt-PID-*; the mounts go with the builder's namespace even when it is killed, the
 * empty points with the next build's sweep (or system check). */
static int private_ns(builder *b, const tug_df_instruction *in, tug_error **err)
{
    if (b->private_ns == 0) {
        b->private_ns = 1;
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
            b->private_ns = -errno;
    }
    if (b->private_ns > 0)
        return 0;
    return tug_error_user(err,
                          "%s:%d: RUN --mount: a bind mount needs a mount namespace of the "
                          "builder's own, and unshare failed: %s",
                          in->file, in->line, strerror(-b->private_ns));
}

/* A context path (resolved: no symlink in it) opened in this namespace: from the context
 * dir's path, checked to be the context's root still, then beneath it following nothing. */
static int context_open(builder *b, const char *path, tug_error **err)
{
    cleanup_close int old = tug_context_open_path(b->ctx, ".", true, err);
    if (old < 0)
        return -1;
    cleanup_close int root = open(tug_context_dir(b->ctx), O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct stat a, c;
    if (root < 0 || fstat(root, &a) < 0 || fstat(old, &c) < 0)
        return tug_error_set(err, errno, "open the build context %s", tug_context_dir(b->ctx));
    if (a.st_dev != c.st_dev || a.st_ino != c.st_ino)
        return tug_error_user(err, "the build context %s was moved while the build ran",
                              tug_context_dir(b->ctx));
    struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                           .resolve =
                               RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
    int fd = (int)syscall(SYS_openat2, root, *path ? path : ".", &how, sizeof(how));
    if (fd < 0)
        return tug_error_set(err, errno, "open %s in the build context", *path ? path : ".");
    return fd;
}

static int keep_fd(bld_mounts *ms, int fd, tug_error **err)
{
    if (fd < 0)
        return -1;
    int *nv = realloc(ms->fds, (ms->n_fds + 1) * sizeof(int));
    if (nv == NULL) {
        close(fd);
        return tug_error_set(err, ENOMEM, "RUN --mount");
    }
    ms->fds = nv;
    ms->fds[ms->n_fds++] = fd;
    return 0;
}

static void add_mount(bld_mounts *ms, const char *target, const char *type, const char *source,
                      const char *const *opts)
{
    json_t *o = json_array();
    for (; *opts; opts++)
        json_array_append_new(o, json_string(*opts));
    json_array_append_new(ms->oci, json_pack("{s:s,s:s,s:s,s:o}", "destination", target, "type",
                                             type, "source", source, "options", o));
}

static void add_bind(bld_mounts *ms, const char *target, const char *source, bool ro)
{
    add_mount(ms, target, "bind", source,
              (const char *const[]){"bind", "rprivate", ro ? "ro" : "rw", NULL});
}

/* $ROOT/tmp/bmnt-PID-X/<idx><suffix>: made once per step, what killed builds left swept. */
static char *stage_path(builder *b, bld_mounts *ms, size_t idx, const char *suffix, tug_error **err)
{
    if (ms->stage_dir == NULL) {
        tug_store_sweep_dir(b->s, "tmp", "bmnt-");
        char rnd[17];
        tug_random_hex(rnd, 8);
        cleanup_free char *dir = NULL;
        if (asprintf(&dir, "%s/tmp/bmnt-%d-%s", b->s->root, (int)getpid(), rnd) < 0) {
            tug_error_set(err, ENOMEM, "RUN --mount");
            return NULL;
        }
        if (tug_mkdir_p(dir, 0700, err) < 0)
            return NULL;
        ms->stage_dir = steal_pointer(&dir);
    }
    char *p = NULL;
    if (asprintf(&p, "%s/%zu%s", ms->stage_dir, idx, suffix) < 0) {
        tug_error_set(err, ENOMEM, "RUN --mount");
        return NULL;
    }
    return p;
}

/* Room for one more staging point, made before it is mounted: a mount that could not be
 * remembered would not be unmounted before its staging dir is removed. */
static int staged_room(bld_mounts *ms, tug_error **err)
{
    char **nv = realloc(ms->staged, (ms->n_staged + 1) * sizeof(char *));
    if (nv == NULL)
        return tug_error_set(err, ENOMEM, "RUN --mount");
    ms->staged = nv;
    return 0;
}

static const char *staged(bld_mounts *ms, char *path)
{
    ms->staged[ms->n_staged++] = path;
    return path;
}

/* Bind what fd names (a directory or a file) at a staging point: its path, for the container. */
static const char *stage_bind(builder *b, const tug_df_instruction *in, bld_mounts *ms, size_t idx,
                              int fd, tug_error **err)
{
    cleanup_close int src = fd;
    struct stat st;
    if (src < 0 || private_ns(b, in, err) < 0)
        return NULL;
    if (fstat(src, &st) < 0) {
        tug_error_set(err, errno, "RUN --mount");
        return NULL;
    }
    cleanup_free char *p = stage_path(b, ms, idx, "", err);
    if (p == NULL)
        return NULL;
    if (staged_room(ms, err) < 0)
        return NULL;
    int r = S_ISDIR(st.st_mode) ? mkdir(p, 0700) : mknod(p, S_IFREG | 0600, 0);
    char from[64];
    snprintf(from, sizeof(from), "/proc/self/fd/%d", src);
    if (r < 0 || mount(from, p, NULL, MS_BIND, NULL) < 0) {
        tug_error_set(err, errno, "RUN --mount %s: bind its source", in->original);
        return NULL;
    }
    return staged(ms, steal_pointer(&p));
}

/* An overlay of lowers (fds, top first) at a staging point; a writable one has its upper and
 * work dirs beside it, which go with the step. */
static const char *stage_overlay(builder *b, const tug_df_instruction *in, bld_mounts *ms,
                                 size_t idx, const int *lowers, size_t n, bool rw, tug_error **err)
{
    if (private_ns(b, in, err) < 0)
        return NULL;
    cleanup_free char *p = stage_path(b, ms, idx, "", err);
    cleanup_free char *up = stage_path(b, ms, idx, ".u", err);
    cleanup_free char *wk = stage_path(b, ms, idx, ".w", err);
    if (p == NULL || up == NULL || wk == NULL)
        return NULL;
    tug_strbuf o = {0};
    tug_strbuf_adds(&o, "lowerdir=");
    for (size_t i = 0; i < n; i++) {
        char l[64];
        snprintf(l, sizeof(l), "%s/proc/self/fd/%d", i ? ":" : "", lowers[i]);
        tug_strbuf_adds(&o, l);
    }
    if (rw) {
        tug_strbuf_adds(&o, ",upperdir=");
        tug_strbuf_adds(&o, up);
        tug_strbuf_adds(&o, ",workdir=");
        tug_strbuf_adds(&o, wk);
    }
    cleanup_free char *opts = tug_strbuf_steal(&o);
    if (opts == NULL) {
        tug_error_set(err, ENOMEM, "RUN --mount");
        return NULL;
    }
    if (staged_room(ms, err) < 0)
        return NULL;
    if (mkdir(p, 0700) < 0 || (rw && (mkdir(up, 0755) < 0 || mkdir(wk, 0700) < 0)) ||
        mount("overlay", p, "overlay", rw ? 0 : MS_RDONLY, opts) < 0) {
        tug_error_set(err, errno, "RUN --mount %s: mount its overlay", in->original);
        return NULL;
    }
    return staged(ms, steal_pointer(&p));
}

/* A directory of the staging dir that is no mount: an empty one, a copy. */
static char *stage_plain_dir(builder *b, bld_mounts *ms, size_t idx, const char *suffix,
                             tug_error **err)
{
    char *p = stage_path(b, ms, idx, suffix, err);
    if (p && mkdir(p, 0755) < 0) {
        tug_error_set(err, errno, "RUN --mount: mkdir %s", p);
        free(p);
        return NULL;
    }
    return p;
}

/* A regular file (fd, maybe O_PATH) copied into the staging dir: a writable bind of one file,
 * whose writes go with the step. */
static char *stage_copy_file(builder *b, bld_mounts *ms, size_t idx, int fd, tug_error **err)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
    cleanup_close int in = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (in < 0 || fstat(in, &st) < 0) {
        tug_error_set(err, errno, "RUN --mount: read the source");
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        tug_error_user(err, "RUN --mount: a writable bind of a file takes a regular file");
        return NULL;
    }
    cleanup_free char *path = stage_path(b, ms, idx, ".f", err);
    if (path == NULL)
        return NULL;
    cleanup_close int out =
        open(path, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, st.st_mode & 07777);
    if (out < 0) {
        tug_error_set(err, errno, "RUN --mount: copy the source");
        return NULL;
    }
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || tug_write_all(out, buf, (size_t)n) < 0) {
            tug_error_set(err, errno, "RUN --mount: copy the source");
            return NULL;
        }
    }
    return steal_pointer(&path);
}

/* Mount at the target: what stage_* made (NULL: failed, err set). */
static int add_staged(bld_mounts *ms, const char *target, const char *source, bool ro)
{
    if (source == NULL)
        return -1;
    add_bind(ms, target, source, ro);
    return 0;
}

static int add_owned(bld_mounts *ms, const char *target, char *source, bool ro)
{
    cleanup_free char *s = source;
    return add_staged(ms, target, s, ro);
}

static int setup_context_bind(builder *b, const tug_df_instruction *in, bld_mounts *ms,
                              bld_mount_item *it, size_t idx, tug_error **err)
{
    bool ro = it->m->readonly;
    if (it->srcs == NULL) /* no context: an empty directory */
        return add_owned(ms, it->target, stage_plain_dir(b, ms, idx, ".e", err), ro);
    const tug_copy_match *match = &it->srcs->matches[0];
    if (!match->is_dir) {
        if (private_ns(b, in, err) < 0)
            return -1;
        cleanup_close int fd = context_open(b, match->path, err);
        struct stat st;
        if (fd < 0)
            return -1;
        if (fstat(fd, &st) < 0 || st.st_ino != match->entries[0].st.st_ino ||
            st.st_dev != match->entries[0].st.st_dev)
            return tug_error_user(err, "%s changed in the build context while the build read it",
                                  match->path);
        if (ro)
            return add_staged(ms, it->target, stage_bind(b, in, ms, idx, steal_fd(&fd), err), true);
        return add_owned(ms, it->target, stage_copy_file(b, ms, idx, fd, err), false);
    }
    if (tug_context_ignore(b->ctx) == NULL) {
        int fd = private_ns(b, in, err) < 0 ? -1 : context_open(b, match->path, err);
        if (fd < 0)
            return -1;
        if (ro)
            return add_staged(ms, it->target, stage_bind(b, in, ms, idx, fd, err), true);
        if (keep_fd(ms, fd, err) < 0)
            return -1;
        return add_staged(ms, it->target, stage_overlay(b, in, ms, idx, &fd, 1, true, err), false);
    }
    /* .dockerignore hides part of it, as docker's context transfer leaves that out: a copy of
     * what is seen */
    cleanup_free char *copy = stage_plain_dir(b, ms, idx, ".c", err);
    if (copy == NULL)
        return -1;
    cleanup_close int dir = open(copy, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0)
        return tug_error_set(err, errno, "open %s", copy);
    tug_fs_copy c = {.ctx = b->ctx,
                     .sources = it->srcs,
                     .from_root = -1,
                     .dest = "/",
                     .dest_is_dir = true,
                     .chmod = -1};
    if (tug_fs_copy_run(dir, &c, err) < 0)
        return -1;
    add_bind(ms, it->target, copy, ro);
    return 0;
}

static bool is_opaque(int fd)
{
    char p[64], v[2];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
    return getxattr(p, "trusted.overlay.opaque", v, sizeof(v)) == 1 && v[0] == 'y';
}

/* What a layer holds at source: *ret_fd (O_PATH) when something is there; *ret_hides when
 * nothing in the layers below shows (a whiteout, an opaque dir, a non-directory on the way). */
static int layer_part(const char *layer, const char *source, const tug_df_instruction *in,
                      const tug_df_mount *m, int *ret_fd, bool *ret_dir, bool *ret_hides,
                      tug_error **err)
{
    *ret_fd = -1;
    *ret_hides = false;
    int cur = open(layer, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0)
        return tug_error_set(err, errno, "open layer %s", layer);
    cleanup_free char *copy = strdup(source);
    char *save = NULL, *c = copy ? strtok_r(copy, "/", &save) : NULL;
    while (c) {
        char *next = strtok_r(NULL, "/", &save);
        struct stat st;
        if (fstatat(cur, c, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            close(cur);
            return errno == ENOENT ? 0 : tug_error_set(err, errno, "layer %s", layer);
        }
        if (S_ISLNK(st.st_mode)) {
            close(cur);
            return tug_error_user(err,
                                  "%s:%d: RUN --mount from=%s,source=%s: a symlink on the way to "
                                  "the source is not supported by tug",
                                  in->file, in->line, m->from, m->source);
        }
        bool whiteout = S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
        if (whiteout || (!S_ISDIR(st.st_mode) && next)) {
            close(cur);
            *ret_hides = true;
            return 0;
        }
        int fd = openat(
            cur, c, (S_ISDIR(st.st_mode) ? O_PATH | O_DIRECTORY : O_PATH) | O_NOFOLLOW | O_CLOEXEC);
        close(cur);
        if (fd < 0)
            return tug_error_set(err, errno, "layer %s", layer);
        cur = fd;
        if (!S_ISDIR(st.st_mode) || is_opaque(cur))
            *ret_hides = true;
        c = next;
    }
    struct stat st;
    if (fstat(cur, &st) < 0) {
        close(cur);
        return tug_error_set(err, errno, "layer %s", layer);
    }
    *ret_dir = S_ISDIR(st.st_mode);
    if (!*ret_dir)
        *ret_hides = true;
    *ret_fd = cur;
    return 0;
}

/* A stage's or image's path as its layers merge it: an overlay of what each layer has there
 * (a bind for one), a file on its own. */
static int setup_ref_bind(builder *b, const tug_df_instruction *in, bld_mounts *ms,
                          bld_mount_item *it, size_t idx, tug_error **err)
{
    bool ro = it->m->readonly;
    cleanup_free int *parts = calloc(it->n_lowers + 1, sizeof(int));
    size_t n = 0;
    bool file = false;
    if (parts == NULL)
        return tug_error_set(err, ENOMEM, "RUN --mount");
    if (private_ns(b, in, err) < 0)
        return -1;
    for (size_t i = it->n_lowers; i-- > 0;) {
        int fd;
        bool dir = true, hides = false;
        if (layer_part(it->lowers[i], it->source, in, it->m, &fd, &dir, &hides, err) < 0)
            return -1;
        if (fd >= 0 && !dir && n > 0) {
            close(fd); /* a directory above covers a file below */
            break;
        }
        if (fd >= 0) {
            if (keep_fd(ms, fd, err) < 0)
                return -1;
            parts[n++] = fd;
            file = !dir;
        }
        if (hides)
            break;
    }
    if (n == 0 && *it->source)
        return tug_error_user(err, "%s:%d: RUN --mount from=%s: /%s: not found", in->file, in->line,
                              it->m->from, it->source);
    if (n == 0)
        return add_owned(ms, it->target, stage_plain_dir(b, ms, idx, ".e", err), ro);
    if (file && !ro)
        return add_owned(ms, it->target, stage_copy_file(b, ms, idx, parts[0], err), false);
    if (file || (n == 1 && ro))
        return add_staged(ms, it->target, stage_bind(b, in, ms, idx, dup(parts[0]), err), ro);
    return add_staged(ms, it->target, stage_overlay(b, in, ms, idx, parts, n, !ro, err), ro);
}

static int setup_cache(builder *b, bld_mounts *ms, bld_mount_item *it, tug_error **err)
{
    const tug_df_mount *m = it->m;
    const char *id = m->id ? m->id : it->target;
    int op = m->sharing == TUG_DF_SHARING_SHARED   ? LOCK_SH
             : m->sharing == TUG_DF_SHARING_LOCKED ? LOCK_EX
                                                   : LOCK_EX | LOCK_NB;
    for (int n = 0, tries = 0; n < CACHE_INSTANCES && tries < 16; tries++) {
        cleanup_free char *path = cache_instance(b->s, id, n);
        if (path == NULL)
            return tug_error_set(err, ENOMEM, "cache mount");
        if (cache_make(path, id, m, err) < 0)
            return -1;
        int lock = cache_lock(path, op, err);
        if (lock == -1)
            return -1;
        if (lock == -2) { /* private and in use: the next copy */
            n++;
            tries = 0;
            continue;
        }
        if (lock == -3)
            continue;
        if (keep_fd(ms, lock, err) < 0)
            return -1;
        /* the store's own directory: its path is bound as it is */
        cleanup_free char *data = NULL;
        if (asprintf(&data, "%s/data", path) < 0)
            return tug_error_set(err, ENOMEM, "cache mount");
        add_bind(ms, it->target, data, m->readonly);
        return 0;
    }
    return tug_error_set(err, EBUSY, "cache mount %s: no copy of it is free", id);
}

/* The last --secret with this id, read: 1, or 0 when not given or its source is not there. */
static int find_secret(builder *b, const char *id, char **ret_data, size_t *ret_len,
                       tug_error **err)
{
    const char *const *v = b->o->secrets;
    size_t n = 0;
    while (v && v[n])
        n++;
    for (size_t i = n; i-- > 0;) {
        tug_build_secret s;
        if (tug_build_secret_parse(v[i], &s, err) < 0)
            return -1;
        bool mine = strcmp(s.id, id) == 0;
        int r = mine ? tug_build_secret_read(&s, ret_data, ret_len, err) : 0;
        tug_build_secret_clear(&s);
        if (mine)
            return r;
    }
    return 0;
}

/* Secrets' files: a private directory of the run directory (tmpfs) for this step, with what
 * killed builds left there swept first. */
static int secret_dir(builder *b, bld_mounts *ms, tug_error **err)
{
    if (ms->secret_dir)
        return 0;
    cleanup_free char *run = tug_store_run_dir(b->s);
    if (run == NULL)
        return tug_error_set(err, ENOMEM, "secret");
    if (tug_mkdir_p(run, 0700, err) < 0)
        return -1;
    cleanup_dir DIR *d = opendir(run);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (tug_store_dead_writer(de->d_name, "bsec-")) {
            tug_error *ignored = NULL;
            tug_rm_rf_at(dirfd(d), de->d_name, &ignored);
            tug_error_free(ignored);
        }
    }
    char rnd[17];
    tug_random_hex(rnd, 8);
    if (asprintf(&ms->secret_dir, "%s/bsec-%d-%s", run, (int)getpid(), rnd) < 0) {
        ms->secret_dir = NULL;
        return tug_error_set(err, ENOMEM, "secret");
    }
    if (mkdir(ms->secret_dir, 0700) < 0) {
        int e = errno;
        free(ms->secret_dir);
        ms->secret_dir = NULL;
        return tug_error_set(err, e, "secret: mkdir");
    }
    return 0;
}

static int setup_secret(builder *b, const tug_df_instruction *in, bld_mounts *ms,
                        bld_mount_item *it, size_t idx, tug_error **err)
{
    const tug_df_mount *m = it->m;
    char *data = NULL;
    size_t len = 0;
    int got = find_secret(b, m->id, &data, &len, err);
    if (got < 0)
        return -1;
    if (got == 0) {
        if (!m->required)
            return 0; /* as BuildKit: the step runs without it */
        return tug_error_user(err,
                              "%s:%d: secret %s is required but was not given: pass it with "
                              "--secret id=%s,src=PATH (or env=VAR)",
                              in->file, in->line, m->id, m->id);
    }
    int r = 0;
    if (m->env) {
        size_t n = 0;
        while (ms->env && ms->env[n])
            n++;
        char **nv = realloc(ms->env, (n + 2) * sizeof(char *));
        if (nv == NULL)
            r = tug_error_set(err, ENOMEM, "secret");
        else {
            ms->env = nv;
            if (asprintf(&ms->env[n], "%s=%s", m->env, data) < 0)
                ms->env[n] = NULL, r = tug_error_set(err, ENOMEM, "secret");
            ms->env[n + (r == 0)] = NULL;
        }
    }
    if (r == 0 && it->target && (r = secret_dir(b, ms, err)) == 0) {
        cleanup_free char *path = NULL;
        if (asprintf(&path, "%s/%zu", ms->secret_dir, idx) < 0)
            r = tug_error_set(err, ENOMEM, "secret");
        cleanup_close int fd =
            r < 0 ? -1 : open(path, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (r == 0 &&
            (fd < 0 || tug_write_all(fd, data, len) < 0 ||
             fchown(fd, m->uid >= 0 ? (uid_t)m->uid : 0, m->gid >= 0 ? (gid_t)m->gid : 0) < 0 ||
             fchmod(fd, m->mode >= 0 ? (mode_t)m->mode & 07777 : 0400) < 0))
            r = tug_error_set(err, errno, "secret %s", m->id);
        if (r == 0)
            add_mount(ms, it->target, "bind", path,
                      (const char *const[]){"bind", "rprivate", "ro", "nosuid", "nodev", NULL});
    }
    explicit_bzero(data, len);
    free(data);
    return r;
}

int bld_mounts_setup(builder *b, const tug_df_instruction *in, bld_mounts *ms, tug_error **err)
{
    ms->oci = json_array();
    if (ms->oci == NULL)
        return tug_error_set(err, ENOMEM, "RUN --mount");
    for (size_t i = 0; i < ms->n_items; i++) {
        bld_mount_item *it = &ms->items[i];
        const tug_df_mount *m = it->m;
        int r = 0;
        if (m->type == TUG_DF_MOUNT_TMPFS) {
            char size[48] = "";
            if (m->size > 0)
                snprintf(size, sizeof(size), "size=%lld", m->size);
            add_mount(ms, it->target, "tmpfs", "tmpfs",
                      (const char *const[]){"nosuid", "nodev", m->readonly ? "ro" : "rw",
                                            *size ? size : NULL, NULL});
        } else if (m->type == TUG_DF_MOUNT_CACHE) {
            r = setup_cache(b, ms, it, err);
        } else if (m->type == TUG_DF_MOUNT_SECRET) {
            r = setup_secret(b, in, ms, it, i, err);
        } else if (it->from_ref) {
            r = setup_ref_bind(b, in, ms, it, i, err);
        } else {
            r = setup_context_bind(b, in, ms, it, i, err);
        }
        if (r < 0)
            return -1;
    }
    return 0;
}
