/* Garbage collection, crash repair and disk usage of the store. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/cleanup.h"
#include "../util/digest.h"
#include "../util/fs.h"
#include "../util/strutil.h"
#include "db.h"
#include "layer.h"
#include "store.h"

static int lock_file(tug_store *s, int op, tug_error **err)
{
    cleanup_free char *path = NULL;
    if (asprintf(&path, "%s/gc.lock", s->root) < 0)
        return tug_error_set(err, ENOMEM, "lock");
    cleanup_close int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return tug_error_set(err, errno, "open %s", path);
    if (flock(fd, op) < 0) {
        if (errno == EWOULDBLOCK)
            return -EWOULDBLOCK;
        return tug_error_set(err, errno, "lock %s", path);
    }
    return steal_fd(&fd);
}

int tug_store_lock_shared(tug_store *s, tug_error **err)
{
    return lock_file(s, LOCK_SH, err);
}

int tug_store_lock_exclusive(tug_store *s, bool wait, tug_error **err)
{
    return lock_file(s, LOCK_EX | (wait ? 0 : LOCK_NB), err);
}

static int strv_add(char ***v, size_t *n, const char *s)
{
    char **nv = realloc(*v, (*n + 2) * sizeof(*nv));
    if (nv == NULL)
        return -1;
    *v = nv;
    nv[(*n)++] = strdup(s);
    nv[*n] = NULL;
    return 0;
}

/* Paths collection took out of the store, to unlink (gc_detach: in a child, after). */
typedef struct trash {
    char **paths;
    size_t n;
} trash;

/* Unlink what collection set aside (layers/.del-PID-*), here or in a child of its own. The
 * child first renames each to .del-<its PID>-*: a removal whose PID runs is one in progress,
 * which the sweeps leave alone and check does not count; one whose PID is gone, a removal to
 * finish. */
static void empty_trash(tug_store *s, trash *t)
{
    if (t->n == 0)
        return;
    int ready[2] = {-1, -1};
    pid_t pid = s->gc_detach && pipe2(ready, O_CLOEXEC) == 0 ? fork() : -1;
    if (pid > 0) {
        /* back once every name is the child's: nothing sees a removal nobody runs */
        char c;
        close(ready[1]);
        while (read(ready[0], &c, 1) < 0 && errno == EINTR)
            ;
        close(ready[0]);
        return;
    }
    char mine[32];
    snprintf(mine, sizeof(mine), ".del-%d-", (int)getpid());
    char **paths = t->paths;
    cleanup_strv char **owned = calloc(t->n + 1, sizeof(char *));
    if (pid == 0) {
        setsid();
        for (size_t i = 0; owned && i < t->n; i++) {
            const char *path = t->paths[i], *base = strrchr(path, '/');
            const char *rest = base ? strchr(base + 6, '-') : NULL; /* after ".del-PID" */
            if (rest && asprintf(&owned[i], "%.*s/%s%s", (int)(base - path), path, mine,
                                 rest + 1) >= 0 &&
                rename(path, owned[i]) < 0) {
                free(owned[i]);
                owned[i] = strdup(path);
            }
        }
        if (owned)
            paths = owned;
        tug_close_fds_from(0, false); /* the pipe too: the command goes on */
    } else if (ready[0] >= 0) {
        close(ready[0]);
        close(ready[1]);
    }
    for (size_t i = 0; i < t->n; i++) {
        tug_error *ignored = NULL;
        if (paths[i])
            tug_rm_rf(paths[i], &ignored);
        tug_error_free(ignored);
    }
    if (pid == 0)
        _exit(0);
}

/* Drop one unreferenced layer: row and rename under the write lock, the slow delete after. */
static int drop_layer(tug_store *s, const char *chain_id, trash *t, bool *ret_dropped,
                      tug_error **err)
{
    *ret_dropped = false;
    cleanup_free char *dir = NULL, *trash = NULL;
    if (asprintf(&dir, "%s/layers/%s", s->root, tug_digest_hex(chain_id)) < 0 ||
        asprintf(&trash, "%s/layers/.del-%d-%s", s->root, (int)getpid(),
                 tug_digest_hex(chain_id)) < 0)
        return tug_error_set(err, ENOMEM, "gc");
    if (tug_store_begin(s, err) < 0)
        return -1;
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "DELETE FROM layers WHERE chain_id = ?1 AND NOT EXISTS "
        "(SELECT 1 FROM image_layers WHERE chain_id = ?1) AND NOT EXISTS "
        "(SELECT 1 FROM build_cache WHERE chain_id = ?1)",
        err);
    if (st == NULL || (BIND_TEXT(st, 1, chain_id), tug_db_step_done(s, st, err)) < 0) {
        tug_store_rollback(s);
        return -1;
    }
    bool gone = sqlite3_changes(s->db) > 0;
    if (gone)
        tug_store_layer_unmount(s, chain_id); /* an EROFS layer's mount, then its files */
    if (gone && rename(dir, trash) < 0 && errno != ENOENT) {
        tug_store_rollback(s);
        return tug_error_set(err, errno, "remove layer %s", chain_id);
    }
    if (tug_store_commit(s, err) < 0)
        return -1;
    if (gone) {
        strv_add(&t->paths, &t->n, trash);
        *ret_dropped = true;
    }
    return 0;
}

static bool blob_referenced(tug_store *s, const char *digest)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "SELECT 1 FROM image_layers WHERE blob_digest = ?1 UNION ALL "
        "SELECT 1 FROM build_cache WHERE blob_digest = ?1 UNION ALL "
        "SELECT 1 FROM images WHERE id = ?1 OR manifest_digest = ?1 UNION ALL "
        "SELECT 1 FROM digests WHERE name LIKE '%@' || ?1 LIMIT 1",
        NULL);
    if (st == NULL)
        return true;
    BIND_TEXT(st, 1, digest);
    return sqlite3_step(st) == SQLITE_ROW;
}

static int gc_blobs(tug_store *s, trash *t, int *ret_removed, tug_error **err)
{
    cleanup_free char *dir = NULL;
    if (asprintf(&dir, "%s/blobs/sha256", s->root) < 0)
        return tug_error_set(err, ENOMEM, "gc");
    cleanup_dir DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : tug_error_set(err, errno, "open %s", dir);
    struct dirent *de;
    int removed = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char digest[300];
        snprintf(digest, sizeof(digest), "sha256:%s", de->d_name);
        /* Leftover temp files of an atomic write are never referenced. */
        if (tug_digest_valid(digest) && blob_referenced(s, digest))
            continue;
        /* set aside under a name check and the next collection know, for the unlink after */
        cleanup_free char *aside = NULL;
        if (asprintf(&aside, "%s/layers/.del-%d-blob-%.64s", s->root, (int)getpid(),
                     de->d_name) < 0)
            return tug_error_set(err, ENOMEM, "gc");
        if (renameat(dirfd(d), de->d_name, AT_FDCWD, aside) == 0) {
            strv_add(&t->paths, &t->n, aside);
            removed++;
        } else if (unlinkat(dirfd(d), de->d_name, 0) == 0) {
            removed++;
        }
    }
    if (ret_removed)
        *ret_removed = removed;
    return 0;
}

int tug_store_gc(tug_store *s, char ***ret_layers, tug_error **err)
{
    char **removed = NULL;
    size_t n = 0;
    if (ret_layers)
        *ret_layers = NULL;
    cleanup_close int lock = tug_store_lock_exclusive(s, false, err);
    if (lock == -EWOULDBLOCK)
        return 0; /* a pull or import is writing; the next collection will catch up */
    if (lock < 0)
        return -1;
    /* what killed pulls and removals left goes first */
    tug_store_sweep_dead(s);
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "SELECT chain_id FROM layers WHERE chain_id NOT IN (SELECT chain_id FROM image_layers) "
        "AND chain_id NOT IN (SELECT chain_id FROM build_cache) ORDER BY created DESC",
        err);
    if (st == NULL)
        return -1;
    char **cands = NULL;
    size_t nc = 0;
    while (sqlite3_step(st) == SQLITE_ROW)
        strv_add(&cands, &nc, (const char *)sqlite3_column_text(st, 0));
    int r = 0;
    trash t = {0};
    for (size_t i = 0; i < nc && r == 0; i++) {
        bool dropped = false;
        r = drop_layer(s, cands[i], &t, &dropped, err);
        if (dropped)
            strv_add(&removed, &n, cands[i]);
    }
    cleanup_strv char **freeme = cands;
    if (r == 0)
        r = gc_blobs(s, &t, NULL, err);
    empty_trash(s, &t);
    cleanup_strv char **trashed = t.paths;
    if (ret_layers)
        *ret_layers = steal_pointer(&removed);
    cleanup_strv char **unused = removed;
    return r;
}

void tug_check_report_clear(tug_check_report *r)
{
    free(r->details);
    memset(r, 0, sizeof(*r));
}

static void note(tug_check_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(tug_check_report *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tug_append_linev(&r->details, fmt, ap);
    va_end(ap);
}

static bool row_exists(tug_store *s, const char *sql, const char *arg)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(s, sql, NULL);
    if (st == NULL)
        return true;
    BIND_TEXT(st, 1, arg);
    return sqlite3_step(st) == SQLITE_ROW;
}

static int check_layer_dirs(tug_store *s, bool repair, tug_check_report *rep, tug_error **err)
{
    cleanup_free char *dir = NULL;
    if (asprintf(&dir, "%s/layers", s->root) < 0)
        return tug_error_set(err, ENOMEM, "check");
    cleanup_dir DIR *d = opendir(dir);
    if (d == NULL)
        return tug_error_set(err, errno, "open %s", dir);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
            continue;
        bool temp = n[0] == '.';
        /* a removal still running (rmi's unlinking after it returned) is no problem */
        if (strncmp(n, ".del-", 5) == 0 && !tug_store_dead_writer(n, ".del-"))
            continue;
        char chain[300];
        snprintf(chain, sizeof(chain), "sha256:%s", n);
        if (!temp && tug_digest_valid(chain) &&
            row_exists(s, "SELECT 1 FROM layers WHERE chain_id = ?", chain))
            continue;
        if (temp) {
            rep->temp_removed++;
            note(rep, "interrupted %s: layers/%s", strncmp(n, ".del-", 5) == 0 ? "removal" : "unpack",
                 n);
        } else {
            rep->orphan_layers++;
            note(rep, "layer directory without a record: layers/%s", n);
        }
        if (repair && tug_rm_rf_at(dirfd(d), n, err) < 0)
            return -1;
    }
    return 0;
}

/* Mounts of EROFS layers that are gone (a removal killed between its row and its unmount):
 * unmounted. */
static int check_layer_mounts(tug_store *s, bool repair, tug_check_report *rep, tug_error **err)
{
    cleanup_free char *dir = tug_store_run_path(s, "layers");
    if (dir == NULL)
        return tug_error_set(err, ENOMEM, "check");
    cleanup_dir DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : tug_error_set(err, errno, "open %s", dir);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        char chain[300];
        snprintf(chain, sizeof(chain), "sha256:%s", n);
        if (n[0] == '.' || (tug_digest_valid(chain) && tug_store_layer_is_image(s, n) &&
                            row_exists(s, "SELECT 1 FROM layers WHERE chain_id = ?", chain)))
            continue;
        rep->temp_removed++;
        note(rep, "mount of a layer that is gone: %s/%s", dir, n);
        if (repair)
            tug_store_layer_unmount(s, chain);
    }
    return 0;
}

static int check_layer_rows(tug_store *s, bool repair, tug_check_report *rep, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(s, "SELECT chain_id FROM layers", err);
    if (st == NULL)
        return -1;
    char **missing = NULL;
    size_t nm = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *chain = (const char *)sqlite3_column_text(st, 0);
        if (tug_store_layer_is_image(s, tug_digest_hex(chain)))
            continue; /* an EROFS layer: its image is there (mounted or not) */
        cleanup_free char *ldir = tug_store_layer_dir(s, chain);
        struct stat sb;
        if (stat(ldir, &sb) == 0 && S_ISDIR(sb.st_mode))
            continue;
        strv_add(&missing, &nm, chain);
    }
    cleanup_strv char **freeme = missing;
    for (size_t i = 0; i < nm; i++) {
        rep->missing_layers++;
        note(rep, "layer %s is recorded but its directory is gone", missing[i]);
        if (!repair)
            continue;
        /* Images built on a lost layer cannot run: drop them so a pull fetches them again. */
        cleanup_stmt sqlite3_stmt *imgs = tug_db_prepare(
            s, "SELECT DISTINCT image_id FROM image_layers WHERE chain_id = ?", err);
        if (imgs == NULL)
            return -1;
        BIND_TEXT(imgs, 1, missing[i]);
        char **ids = NULL;
        size_t ni = 0;
        while (sqlite3_step(imgs) == SQLITE_ROW)
            strv_add(&ids, &ni, (const char *)sqlite3_column_text(imgs, 0));
        cleanup_strv char **freeids = ids;
        for (size_t j = 0; j < ni; j++) {
            rep->broken_images++;
            note(rep, "image %.19s lost layer %.19s: removed (pull it again)", ids[j], missing[i]);
            if (tug_store_remove_image(s, ids[j], err) < 0)
                return -1;
        }
        cleanup_stmt sqlite3_stmt *del =
            tug_db_prepare(s, "DELETE FROM layers WHERE chain_id = ?", err);
        if (del == NULL || (BIND_TEXT(del, 1, missing[i]), tug_db_step_done(s, del, err)) < 0)
            return -1;
    }
    return 0;
}

static int check_blobs(tug_store *s, bool repair, tug_check_report *rep, tug_error **err)
{
    cleanup_free char *dir = NULL;
    if (asprintf(&dir, "%s/blobs/sha256", s->root) < 0)
        return tug_error_set(err, ENOMEM, "check");
    cleanup_dir DIR *d = opendir(dir);
    if (d == NULL)
        return tug_error_set(err, errno, "open %s", dir);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char digest[300];
        snprintf(digest, sizeof(digest), "sha256:%s", de->d_name);
        if (tug_digest_valid(digest) && blob_referenced(s, digest))
            continue;
        if (tug_digest_valid(digest)) {
            /* A verified blob no image uses yet: what a failed pull fetched, kept so the next
             * pull does not fetch it again. Not damage; collection takes it. */
            struct stat st;
            rep->unused_blobs++;
            if (fstatat(dirfd(d), de->d_name, &st, 0) == 0)
                rep->unused_bytes += st.st_size;
            continue;
        }
        rep->temp_removed++;
        note(rep, "interrupted write: blobs/sha256/%s", de->d_name);
        if (repair && unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
            return tug_error_set(err, errno, "remove %s/%s", dir, de->d_name);
    }
    return 0;
}

static int check_ingest(tug_store *s, bool repair, tug_check_report *rep, tug_error **err)
{
    cleanup_free char *dir = NULL;
    if (asprintf(&dir, "%s/ingest", s->root) < 0)
        return tug_error_set(err, ENOMEM, "check");
    cleanup_dir DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : tug_error_set(err, errno, "open %s", dir);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        size_t l = strlen(de->d_name);
        if (l > 8 && strcmp(de->d_name + l - 8, ".partial") == 0) {
            /* Kept on purpose: the next pull of this blob resumes from it. */
            rep->partial_downloads++;
            rep->partial_bytes += st.st_size;
            continue;
        }
        if (strstr(de->d_name, ".lock"))
            continue;
        rep->temp_removed++;
        note(rep, "stray file: ingest/%s", de->d_name);
        if (repair)
            unlinkat(dirfd(d), de->d_name, 0);
    }
    return 0;
}

int tug_store_check(tug_store *s, bool repair, tug_check_report *ret, tug_error **err)
{
    memset(ret, 0, sizeof(*ret));
    cleanup_close int lock = tug_store_lock_exclusive(s, false, err);
    if (lock == -EWOULDBLOCK)
        return tug_error_user(err, "a pull or import is running on %s; run the check again when "
                                   "it has finished",
                              s->root);
    if (lock < 0)
        return -1;
    cleanup_stmt sqlite3_stmt *ic = tug_db_prepare(s, "PRAGMA quick_check", err);
    if (ic == NULL)
        return -1;
    if (sqlite3_step(ic) == SQLITE_ROW) {
        const char *res = (const char *)sqlite3_column_text(ic, 0);
        if (res && strcmp(res, "ok") != 0)
            return tug_error_set(err, 0, "database %s/tug.db is damaged: %s", s->root, res);
    }
    if (tug_store_begin(s, err) < 0)
        return -1;
    if (check_layer_dirs(s, repair, ret, err) < 0 || check_layer_rows(s, repair, ret, err) < 0 ||
        check_layer_mounts(s, repair, ret, err) < 0 ||
        check_blobs(s, repair, ret, err) < 0 || check_ingest(s, repair, ret, err) < 0) {
        tug_store_rollback(s);
        return -1;
    }
    if (tug_store_commit(s, err) < 0)
        return -1;
    cleanup_stmt sqlite3_stmt *ul = tug_db_prepare(
        s,
        "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM layers WHERE chain_id NOT IN "
        "(SELECT chain_id FROM image_layers) AND chain_id NOT IN (SELECT chain_id FROM "
        "build_cache)",
        err);
    if (ul == NULL)
        return -1;
    if (sqlite3_step(ul) == SQLITE_ROW) {
        ret->unused_layers = sqlite3_column_int(ul, 0);
        ret->unused_bytes += sqlite3_column_int64(ul, 1);
    }
    /* A container directory without its row: a create interrupted before it recorded it. */
    cleanup_free char *cdir = NULL;
    if (asprintf(&cdir, "%s/containers", s->root) >= 0) {
        cleanup_dir DIR *d = opendir(cdir);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (tug_store_dead_writer(de->d_name, ".rm-")) {
                /* set aside by a removal that failed or was killed (container.c) */
                ret->temp_removed++;
                note(ret, "interrupted removal: containers/%s", de->d_name);
                if (repair && tug_rm_rf_at(dirfd(d), de->d_name, err) < 0)
                    return -1;
                continue;
            }
            if (de->d_name[0] == '.')
                continue;
            if (row_exists(s, "SELECT 1 FROM containers WHERE id = ?", de->d_name))
                continue;
            ret->temp_removed++;
            note(ret, "container directory without a record: containers/%.12s", de->d_name);
            if (repair && tug_rm_rf_at(dirfd(d), de->d_name, err) < 0)
                return -1;
        }
    }
    cleanup_free char *tmp = NULL;
    if (asprintf(&tmp, "%s/tmp", s->root) >= 0) {
        cleanup_dir DIR *d = opendir(tmp);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            ret->temp_removed++;
            note(ret, "stray temporary file: tmp/%s", de->d_name);
            if (repair && tug_rm_rf_at(dirfd(d), de->d_name, err) < 0)
                return -1;
        }
    }
    return 0;
}

long long tug_store_container_size_rw(tug_store *s, const char *id)
{
    cleanup_free char *upper = NULL;
    long long rw = 0;
    tug_error *err = NULL;
    if (asprintf(&upper, "%s/containers/%s/upper", s->root, id) >= 0)
        tug_dir_size(upper, &rw, &err);
    tug_error_free(err);
    return rw;
}

int tug_store_df(tug_store *s, tug_df *ret, tug_error **err)
{
    memset(ret, 0, sizeof(*ret));
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "SELECT (SELECT COUNT(*) FROM images),"
        " (SELECT COUNT(DISTINCT image_id) FROM containers),"
        " (SELECT COALESCE(SUM(size), 0) FROM layers WHERE chain_id IN"
        "   (SELECT chain_id FROM image_layers)),"
        " (SELECT COALESCE(SUM(size), 0) FROM layers WHERE chain_id IN"
        "   (SELECT chain_id FROM image_layers) AND chain_id NOT IN"
        "   (SELECT il.chain_id FROM image_layers il JOIN containers c ON c.image_id = il.image_id))",
        err);
    if (st == NULL)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        ret->images = sqlite3_column_int64(st, 0);
        ret->images_active = sqlite3_column_int64(st, 1);
        ret->images_size = sqlite3_column_int64(st, 2);
        ret->images_reclaimable = sqlite3_column_int64(st, 3);
    }
    /* A container's size is what it wrote: its upper directory. */
    cleanup_stmt sqlite3_stmt *cs =
        tug_db_prepare(s, "SELECT id, state FROM containers", err);
    if (cs == NULL)
        return -1;
    while (sqlite3_step(cs) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(cs, 0);
        const char *state = (const char *)sqlite3_column_text(cs, 1);
        bool active = strcmp(state, "running") == 0 || strcmp(state, "paused") == 0 ||
                      strcmp(state, "restarting") == 0;
        long long size = tug_store_container_size_rw(s, id);
        ret->containers++;
        ret->containers_size += size;
        if (active)
            ret->containers_active++;
        else
            ret->containers_reclaimable += size;
    }
    return 0;
}
