/* Blobs, layers and images in the store. Files are complete before a row points at them. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../image/reference.h"
#include "../util/cleanup.h"
#include "../util/digest.h"
#include "../util/fs.h"
#include "../util/strutil.h"
#include "db.h"
#include "layer.h"
#include "events.h"
#include "imgconfig.h"
#include "store.h"

char *tug_store_blob_path(tug_store *s, const char *digest)
{
    char *p = NULL;
    if (asprintf(&p, "%s/blobs/sha256/%s", s->root, tug_digest_hex(digest)) < 0)
        return NULL;
    return p;
}

bool tug_store_has_blob(tug_store *s, const char *digest)
{
    cleanup_free char *p = tug_store_blob_path(s, digest);
    return p && access(p, F_OK) == 0;
}

char *tug_store_ingest_path(tug_store *s, const char *digest)
{
    char *p = NULL;
    if (asprintf(&p, "%s/ingest/%s.partial", s->root, tug_digest_hex(digest)) < 0)
        return NULL;
    return p;
}

int tug_store_commit_blob_file(tug_store *s, const char *path, const char *digest,
                               tug_error **err)
{
    cleanup_free char *dst = tug_store_blob_path(s, digest);
    if (dst == NULL)
        return tug_error_set(err, ENOMEM, "store blob");
    if (rename(path, dst) < 0)
        return tug_error_set(err, errno, "store blob %s", digest);
    return 0;
}

int tug_store_put_blob(tug_store *s, const char *digest, const void *data, size_t len,
                       tug_error **err)
{
    if (tug_store_has_blob(s, digest))
        return 0;
    cleanup_free char *dst = tug_store_blob_path(s, digest);
    cleanup_free char *tmpl = NULL;
    /* written next to the downloads, named with the writer's pid: one that kill -9 cuts short
     * is swept by the next pull (tug_store_sweep_dead), as an unpack or import is */
    if (dst == NULL || asprintf(&tmpl, "%s/ingest/put-%d-XXXXXX", s->root, (int)getpid()) < 0)
        return tug_error_set(err, ENOMEM, "store blob");
    return tug_write_file_atomic_via(tmpl, dst, data, len, 0644, err);
}

void tug_chain_id(const char *parent_chain, const char *diff_id, char out[72])
{
    if (parent_chain == NULL || *parent_chain == '\0') {
        snprintf(out, 72, "%s", diff_id);
        return;
    }
    char buf[160];
    int n = snprintf(buf, sizeof(buf), "%s %s", parent_chain, diff_id);
    tug_sha256_buf(buf, (size_t)n, out);
}

long long tug_store_layer_size(tug_store *s, const char *chain_id)
{
    cleanup_stmt sqlite3_stmt *st =
        tug_db_prepare(s, "SELECT size FROM layers WHERE chain_id = ?", NULL);
    if (st == NULL)
        return 0;
    BIND_TEXT(st, 1, chain_id);
    return sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
}

bool tug_store_has_layer(tug_store *s, const char *chain_id)
{
    cleanup_stmt sqlite3_stmt *st =
        tug_db_prepare(s, "SELECT 1 FROM layers WHERE chain_id = ?", NULL);
    if (st == NULL)
        return false;
    BIND_TEXT(st, 1, chain_id);
    return sqlite3_step(st) == SQLITE_ROW;
}

char *tug_store_run_dir(tug_store *s)
{
    /* /run is tmpfs: runtime state is gone after a reboot, as it should be. Two roots get two
     * directories. */
    char digest[72], *p = NULL;
    tug_sha256_buf(s->root, strlen(s->root), digest);
    if (asprintf(&p, "/run/tug/%.16s", tug_digest_hex(digest)) < 0)
        return NULL;
    return p;
}

char *tug_store_run_path(tug_store *s, const char *fmt, ...)
{
    cleanup_free char *run = tug_store_run_dir(s), *rest = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = run ? vasprintf(&rest, fmt, ap) : -1;
    va_end(ap);
    char *p = NULL;
    if (n < 0 || asprintf(&p, "%s/%s", run, rest) < 0)
        return NULL;
    return p;
}

int tug_store_run_dir_make(tug_store *s, const char *sub, tug_error **err)
{
    cleanup_free char *run = tug_store_run_dir(s);
    cleanup_free char *dir = NULL, *mark = NULL;
    if (run == NULL || asprintf(&dir, "%s%s", run, sub) < 0 ||
        asprintf(&mark, "%s/" TUG_RUN_ROOT_FILE, run) < 0)
        return tug_error_set(err, ENOMEM, "run directory");
    if (tug_mkdir_p(dir, 0700, err) < 0)
        return -1;
    /* which store it is, for `system check` of any store once this one is gone: the name,
     * a hash of the root, cannot tell */
    cleanup_close int fd = open(mark, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? 0 : tug_error_set(err, errno, "create %s", mark);
    size_t n = strlen(s->root);
    if (write(fd, s->root, n) != (ssize_t)n) {
        unlink(mark);
        return tug_error_set(err, errno ? errno : EIO, "write %s", mark);
    }
    return 0;
}


int tug_store_layer_tmp(tug_store *s, char **ret_tmp, char **ret_dir, tug_error **err)
{
    /* The pid in the name lets `system check` tell a live unpack from a crashed one. */
    cleanup_free char *tmp = NULL;
    cleanup_free char *dir = NULL;
    if (asprintf(&tmp, "%s/layers/.tmp-%d-XXXXXX", s->root, (int)getpid()) < 0)
        return tug_error_set(err, ENOMEM, "layer");
    if (mkdtemp(tmp) == NULL)
        return tug_error_set(err, errno, "create %s", tmp);
    if (asprintf(&dir, "%s/diff", tmp) < 0)
        return tug_error_set(err, ENOMEM, "layer");
    if (mkdir(dir, 0755) < 0)
        return tug_error_set(err, errno, "create %s", dir);
    *ret_tmp = steal_pointer(&tmp);
    *ret_dir = steal_pointer(&dir);
    return 0;
}

bool tug_store_dead_writer(const char *name, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (strncmp(name, prefix, pl) != 0)
        return false;
    char *end;
    long pid = strtol(name + pl, &end, 10);
    if (end == name + pl || *end != '-' || pid <= 0)
        return false;
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

void tug_store_sweep_dir(tug_store *s, const char *sub, const char *prefix)
{
    cleanup_free char *path = NULL;
    if (asprintf(&path, "%s/%s", s->root, sub) < 0)
        return;
    cleanup_dir DIR *d = opendir(path);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (!tug_store_dead_writer(de->d_name, prefix))
            continue;
        tug_error *ignored = NULL;
        tug_rm_rf_at(dirfd(d), de->d_name, &ignored);
        tug_error_free(ignored);
    }
}

void tug_store_sweep_dead(tug_store *s)
{
    tug_store_sweep_dir(s, "layers", ".tmp-");
    tug_store_sweep_dir(s, "layers", ".del-");
    tug_store_sweep_dir(s, "ingest", "import-");
    tug_store_sweep_dir(s, "ingest", "put-");
    tug_store_sweep_dir(s, "ingest", "load-");
}

int tug_store_commit_layer(tug_store *s, const char *tmp, const char *chain_id,
                           const char *diff_id, long long size, tug_error **err)
{
    cleanup_free char *dst = NULL;
    if (asprintf(&dst, "%s/layers/%s", s->root, tug_digest_hex(chain_id)) < 0)
        return tug_error_set(err, ENOMEM, "layer");
    /* The rename and the row happen under the database's write lock, the same lock garbage
     * collection holds while it takes a layer away, so the two never interleave. */
    if (tug_store_begin(s, err) < 0)
        return -1;
    if (rename(tmp, dst) < 0) {
        if (errno != EEXIST && errno != ENOTEMPTY) {
            int e = errno;
            tug_store_rollback(s);
            return tug_error_set(err, e, "store layer %s", chain_id);
        }
        /* Another pull got there first; its directory is complete (only whole unpacks are
         * renamed into place), so ours is surplus. */
        tug_error *ignored = NULL;
        tug_rm_rf(tmp, &ignored);
        tug_error_free(ignored);
    }
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s, "INSERT OR IGNORE INTO layers(chain_id, diff_id, size, created) VALUES (?,?,?,?)",
        err);
    if (st == NULL) {
        tug_store_rollback(s);
        return -1;
    }
    BIND_TEXT(st, 1, chain_id);
    BIND_TEXT(st, 2, diff_id);
    sqlite3_bind_int64(st, 3, size);
    sqlite3_bind_int64(st, 4, (long long)time(NULL));
    if (tug_db_step_done(s, st, err) < 0) {
        tug_store_rollback(s);
        return -1;
    }
    return tug_store_commit(s, err);
}

/* ---- images ---- */

void tug_image_free(tug_image *img)
{
    if (img == NULL)
        return;
    free(img->id);
    json_decref(img->config);
    free(img->config_raw);
    free(img->config_error);
    free(img->manifest_digest);
    free(img->manifest_media_type);
    for (size_t i = 0; i < img->n_tags; i++)
        free(img->tags[i]);
    free(img->tags);
    for (size_t i = 0; i < img->n_digests; i++)
        free(img->digests[i]);
    free(img->digests);
    for (size_t i = 0; i < img->n_layers; i++) {
        free(img->layers[i].chain_id);
        free(img->layers[i].diff_id);
        free(img->layers[i].blob_digest);
        free(img->layers[i].media_type);
    }
    free(img->layers);
    free(img);
}

void tug_image_freep(tug_image **img)
{
    tug_image_free(*img);
}

void tug_images_free(tug_image **imgs, size_t n)
{
    if (imgs == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        tug_image_free(imgs[i]);
    free(imgs);
}

int tug_store_add_image(tug_store *s, tug_image *img, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "INSERT OR IGNORE INTO images(id, config, manifest_digest, manifest_media_type, created,"
        " added, size) VALUES (?,?,?,?,?,?,?)",
        err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, img->id);
    sqlite3_bind_blob(st, 2, img->config_raw, (int)strlen(img->config_raw), SQLITE_TRANSIENT);
    BIND_TEXT(st, 3, img->manifest_digest);
    BIND_TEXT(st, 4, img->manifest_media_type);
    sqlite3_bind_int64(st, 5, img->created);
    sqlite3_bind_int64(st, 6, img->added ? img->added : (long long)time(NULL));
    sqlite3_bind_int64(st, 7, img->size);
    if (tug_db_step_done(s, st, err) < 0)
        return tug_error_wrap(err, "record image %s", img->id);
    if (sqlite3_changes(s->db) == 0) {
        /* Already stored; refresh the manifest it came from when it was unknown. */
        cleanup_stmt sqlite3_stmt *up = tug_db_prepare(
            s, "UPDATE images SET manifest_digest = ?, manifest_media_type = ? WHERE id = ? AND "
               "manifest_digest IS NULL",
            err);
        if (up == NULL)
            return -1;
        BIND_TEXT(up, 1, img->manifest_digest);
        BIND_TEXT(up, 2, img->manifest_media_type);
        BIND_TEXT(up, 3, img->id);
        return tug_db_step_done(s, up, err);
    }
    for (size_t i = 0; i < img->n_layers; i++) {
        tug_image_layer *l = &img->layers[i];
        cleanup_stmt sqlite3_stmt *li = tug_db_prepare(
            s,
            "INSERT INTO image_layers(image_id, idx, chain_id, diff_id, blob_digest, media_type,"
            " blob_size) VALUES (?,?,?,?,?,?,?)",
            err);
        if (li == NULL)
            return -1;
        BIND_TEXT(li, 1, img->id);
        sqlite3_bind_int(li, 2, (int)i);
        BIND_TEXT(li, 3, l->chain_id);
        BIND_TEXT(li, 4, l->diff_id);
        BIND_TEXT(li, 5, l->blob_digest);
        BIND_TEXT(li, 6, l->media_type);
        sqlite3_bind_int64(li, 7, l->blob_size);
        if (tug_db_step_done(s, li, err) < 0)
            return tug_error_wrap(err, "record layer %s of image %s (was it removed meanwhile? "
                                       "pull again)",
                                  l->chain_id, img->id);
    }
    return 0;
}

static int load_strings(tug_store *s, const char *sql, const char *id, char ***ret, size_t *ret_n,
                        tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(s, sql, err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, id);
    size_t n = 0;
    char **v = NULL;
    while (sqlite3_step(st) == SQLITE_ROW) {
        char **nv = realloc(v, (n + 2) * sizeof(*nv));
        if (nv == NULL)
            break;
        v = nv;
        v[n++] = tug_db_col_text(st, 0);
        v[n] = NULL;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

/* An image from a row of "SELECT id, config, manifest_digest, manifest_media_type, created,
 * added, size": its config parsed and checked (a row written before tug checked configs may
 * hold anything; what fails is taken out and noted in config_error). */
static tug_image *image_from_row(sqlite3_stmt *st)
{
    tug_image *img = calloc(1, sizeof(*img));
    if (img == NULL)
        return NULL;
    img->id = tug_db_col_text(st, 0);
    const void *cfg = sqlite3_column_blob(st, 1);
    int cfglen = sqlite3_column_bytes(st, 1);
    img->config_raw = strndup(cfg ? cfg : "", (size_t)cfglen);
    json_error_t jerr;
    img->config = json_loadb(img->config_raw, strlen(img->config_raw), JSON_ALLOW_NUL, &jerr);
    tug_error *bad = NULL;
    if (!json_is_object(img->config)) {
        json_decref(img->config);
        img->config = json_object();
        tug_error_user(&bad, "image config %.19s is not a JSON object", img->id ? img->id : "");
    } else
        tug_image_config_repair(img->config, img->id, &bad);
    if (bad) {
        img->config_error = steal_pointer(&bad->msg);
        tug_error_free(bad);
    }
    img->manifest_digest = tug_db_col_text(st, 2);
    img->manifest_media_type = tug_db_col_text(st, 3);
    img->created = sqlite3_column_int64(st, 4);
    img->added = sqlite3_column_int64(st, 5);
    img->size = sqlite3_column_int64(st, 6);
    if (img->id == NULL || img->config_raw == NULL || img->config == NULL) {
        tug_image_free(img);
        return NULL;
    }
    return img;
}

int tug_store_load_image(tug_store *s, const char *id, tug_image **ret_img, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "SELECT id, config, manifest_digest, manifest_media_type, created, added, size FROM "
        "images WHERE id = ?",
        err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW)
        return tug_error_not_found(err, "No such image: %s", id);
    cleanup_image tug_image *img = image_from_row(st);
    if (img == NULL)
        return tug_error_set(err, ENOMEM, "image");
    if (load_strings(s, "SELECT name FROM tags WHERE image_id = ? ORDER BY created, name", id,
                     &img->tags, &img->n_tags, err) < 0 ||
        load_strings(s, "SELECT name FROM digests WHERE image_id = ? ORDER BY name", id,
                     &img->digests, &img->n_digests, err) < 0)
        return -1;
    cleanup_stmt sqlite3_stmt *ls = tug_db_prepare(
        s,
        "SELECT il.chain_id, il.diff_id, il.blob_digest, il.media_type, il.blob_size, "
        "COALESCE(l.size, 0) FROM image_layers il LEFT JOIN layers l ON l.chain_id = il.chain_id "
        "WHERE il.image_id = ? ORDER BY il.idx",
        err);
    if (ls == NULL)
        return -1;
    BIND_TEXT(ls, 1, id);
    while (sqlite3_step(ls) == SQLITE_ROW) {
        tug_image_layer *nl = realloc(img->layers, (img->n_layers + 1) * sizeof(*nl));
        if (nl == NULL)
            return tug_error_set(err, ENOMEM, "image");
        img->layers = nl;
        tug_image_layer *l = &img->layers[img->n_layers++];
        l->chain_id = tug_db_col_text(ls, 0);
        l->diff_id = tug_db_col_text(ls, 1);
        l->blob_digest = tug_db_col_text(ls, 2);
        l->media_type = tug_db_col_text(ls, 3);
        l->blob_size = sqlite3_column_int64(ls, 4);
        l->size = sqlite3_column_int64(ls, 5);
    }
    *ret_img = steal_pointer(&img);
    return 0;
}

char *tug_store_tag_image(tug_store *s, const char *tag)
{
    cleanup_stmt sqlite3_stmt *st =
        tug_db_prepare(s, "SELECT image_id FROM tags WHERE name = ?", NULL);
    if (st == NULL)
        return NULL;
    BIND_TEXT(st, 1, tag);
    if (sqlite3_step(st) != SQLITE_ROW)
        return NULL;
    return tug_db_col_text(st, 0);
}

static char *digest_ref_image(tug_store *s, const char *ref)
{
    cleanup_stmt sqlite3_stmt *st =
        tug_db_prepare(s, "SELECT image_id FROM digests WHERE name = ?", NULL);
    if (st == NULL)
        return NULL;
    BIND_TEXT(st, 1, ref);
    if (sqlite3_step(st) != SQLITE_ROW)
        return NULL;
    return tug_db_col_text(st, 0);
}

/* Resolve an ID or ID prefix; 0 found, -1 none, -2 ambiguous. */
static int resolve_id(tug_store *s, const char *what, char **ret_id)
{
    const char *hex = tug_str_has_prefix(what, "sha256:") ? what + 7 : what;
    size_t n = strlen(hex);
    if (n == 0 || n > 64 || strspn(hex, "0123456789abcdef") != n)
        return -1;
    cleanup_free char *pattern = NULL;
    if (asprintf(&pattern, "sha256:%s*", hex) < 0)
        return -1;
    cleanup_stmt sqlite3_stmt *st =
        tug_db_prepare(s, "SELECT id FROM images WHERE id GLOB ? LIMIT 2", NULL);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, pattern);
    if (sqlite3_step(st) != SQLITE_ROW)
        return -1;
    cleanup_free char *id = tug_db_col_text(st, 0);
    if (sqlite3_step(st) == SQLITE_ROW)
        return -2;
    *ret_id = steal_pointer(&id);
    return 0;
}

int tug_store_find_image(tug_store *s, const char *what, tug_image **ret_img, tug_error **err)
{
    cleanup_free char *id = NULL;
    /* A full reference beats an ID prefix, as in docker, except for a full 64-hex ID. */
    tug_error *perr = NULL;
    cleanup_reference tug_reference *ref = NULL;
    size_t wl = strlen(what);
    bool looks_full_id = (wl == 64 && strspn(what, "0123456789abcdef") == 64) ||
                         tug_str_has_prefix(what, "sha256:");
    if (!looks_full_id && tug_reference_parse(what, &ref, &perr) == 0) {
        cleanup_free char *full = tug_reference_string(ref);
        if (ref->digest && ref->tag == NULL)
            id = digest_ref_image(s, full);
        else if (ref->digest) {
            /* name:tag@digest: the digest decides. */
            cleanup_free char *name = tug_reference_name(ref);
            cleanup_free char *dref = NULL;
            if (asprintf(&dref, "%s@%s", name, ref->digest) >= 0)
                id = digest_ref_image(s, dref);
        } else
            id = tug_store_tag_image(s, full);
    }
    tug_error_free(perr);
    if (id == NULL) {
        int r = resolve_id(s, what, &id);
        if (r == -2)
            return tug_error_user(err, "image ID prefix %s is ambiguous: give more characters",
                                  what);
    }
    if (id == NULL) {
        if (ref && ref->tag && ref->digest == NULL && !looks_full_id) {
            cleanup_free char *name = tug_reference_name(ref);
            cleanup_free char *fam = tug_familiar_name(name);
            return tug_error_not_found(err, "No such image: %s:%s", fam, ref->tag);
        }
        return tug_error_not_found(err, "No such image: %s", what);
    }
    return tug_store_load_image(s, id, ret_img, err);
}

static tug_image *find_loaded(tug_image **v, size_t n, const char *id)
{
    /* Rows come in the images' order most of the time: a linear probe from the last hit. */
    static size_t last;
    for (size_t k = 0; k < n; k++) {
        size_t i = (last + k) % n;
        if (strcmp(v[i]->id, id) == 0) {
            last = i;
            return v[i];
        }
    }
    return NULL;
}

static int push_string(char ***v, size_t *n, const char *s)
{
    char **nv = realloc(*v, (*n + 2) * sizeof(*nv));
    if (nv == NULL)
        return -1;
    *v = nv;
    nv[(*n)++] = strdup(s);
    nv[*n] = NULL;
    return 0;
}

/* Every image with its tags and digests in three queries (listing is on the hot path). */
int tug_store_list_images(tug_store *s, tug_image ***ret_imgs, size_t *ret_n, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "SELECT id, config, manifest_digest, manifest_media_type, created, added, size FROM "
        "images ORDER BY created DESC, added DESC",
        err);
    if (st == NULL)
        return -1;
    tug_image **v = NULL;
    size_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        tug_image **nv = realloc(v, (n + 1) * sizeof(*nv));
        tug_image *img = nv ? image_from_row(st) : NULL;
        if (nv == NULL || img == NULL) {
            tug_images_free(nv ? nv : v, n);
            return tug_error_set(err, ENOMEM, "images");
        }
        v = nv;
        v[n++] = img;
    }
    static const char *const refs[] = {
        "SELECT image_id, name FROM tags ORDER BY created, name",
        "SELECT image_id, name FROM digests ORDER BY name",
    };
    for (size_t q = 0; q < 2 && n > 0; q++) {
        cleanup_stmt sqlite3_stmt *rs = tug_db_prepare(s, refs[q], err);
        if (rs == NULL) {
            tug_images_free(v, n);
            return -1;
        }
        while (sqlite3_step(rs) == SQLITE_ROW) {
            tug_image *img = find_loaded(v, n, (const char *)sqlite3_column_text(rs, 0));
            if (img == NULL)
                continue;
            const char *name = (const char *)sqlite3_column_text(rs, 1);
            if (q == 0)
                push_string(&img->tags, &img->n_tags, name);
            else
                push_string(&img->digests, &img->n_digests, name);
        }
    }
    *ret_imgs = v;
    *ret_n = n;
    return 0;
}

int tug_store_set_tag(tug_store *s, const char *tag, const char *image_id, tug_error **err)
{
    cleanup_free char *old = tug_store_tag_image(s, tag);
    if (old && strcmp(old, image_id) == 0)
        return 0;
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s, "INSERT OR REPLACE INTO tags(name, image_id, created) VALUES (?,?,?)", err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, tag);
    BIND_TEXT(st, 2, image_id);
    sqlite3_bind_int64(st, 3, (long long)time(NULL));
    if (tug_db_step_done(s, st, err) < 0)
        return tug_error_wrap(err, "tag %s", tag);
    tug_event_image(s, "tag", image_id, tag);
    return old ? 1 : 0;
}

int tug_store_add_digest_ref(tug_store *s, const char *ref, const char *image_id, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st =
        tug_db_prepare(s, "INSERT OR IGNORE INTO digests(name, image_id) VALUES (?,?)", err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, ref);
    BIND_TEXT(st, 2, image_id);
    return tug_db_step_done(s, st, err);
}

int tug_store_remove_digest_ref(tug_store *s, const char *ref, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(s, "DELETE FROM digests WHERE name = ?", err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, ref);
    return tug_db_step_done(s, st, err);
}

int tug_store_remove_tag(tug_store *s, const char *tag, tug_error **err)
{
    cleanup_free char *id = tug_store_tag_image(s, tag);
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(s, "DELETE FROM tags WHERE name = ?", err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, tag);
    if (tug_db_step_done(s, st, err) < 0)
        return -1;
    tug_event_image(s, "untag", id, id);
    return 0;
}

int tug_store_remove_image(tug_store *s, const char *id, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(s, "DELETE FROM images WHERE id = ?", err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, id);
    if (tug_db_step_done(s, st, err) < 0)
        return -1;
    tug_event_image(s, "delete", id, id);
    return 0;
}

int tug_store_image_users(tug_store *s, const char *id, char ***ret_names, tug_error **err)
{
    size_t n = 0;
    return load_strings(s, "SELECT name FROM containers WHERE image_id = ? ORDER BY created", id,
                        ret_names, &n, err);
}
