/* The build cache tables (schema v4 and v6 in store/db.c). */
#include "cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../store/db.h"
#include "../util/cleanup.h"
#include "../util/digest.h"
#include "build_mounts.h"

void tug_build_cache_key(const char *text, char out[65])
{
    char d[72];
    tug_sha256_buf(text, strlen(text), d);
    memcpy(out, tug_digest_hex(d), 64);
    out[64] = '\0';
}

void tug_build_layer_clear(tug_image_layer *l)
{
    free(l->chain_id);
    free(l->diff_id);
    free(l->blob_digest);
    free(l->media_type);
    memset(l, 0, sizeof(*l));
}

int tug_build_cache_get(tug_store *s, const char *key, tug_image_layer *ret,
                        long long *ret_created, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "SELECT chain_id, diff_id, blob_digest, media_type, blob_size, size, created FROM "
        "build_cache WHERE key = ?",
        err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, key);
    if (sqlite3_step(st) != SQLITE_ROW)
        return 0;
    tug_image_layer l = {
        .chain_id = tug_db_col_text(st, 0),
        .diff_id = tug_db_col_text(st, 1),
        .blob_digest = tug_db_col_text(st, 2),
        .media_type = tug_db_col_text(st, 3),
        .blob_size = sqlite3_column_int64(st, 4),
        .size = sqlite3_column_int64(st, 5),
    };
    long long created = sqlite3_column_int64(st, 6);
    sqlite3_finalize(st);
    st = NULL;
    if (l.chain_id && *l.chain_id == '\0') {
        /* a step that made no layer */
        tug_build_layer_clear(&l);
        *ret = (tug_image_layer){0};
        *ret_created = created;
        return 1;
    }
    /* the row is only written after its layer, and gc keeps the layer; a store changed by hand
     * may still lack it: then it is a miss */
    bool have = tug_store_has_layer(s, l.chain_id) &&
                (l.blob_digest == NULL || tug_store_has_blob(s, l.blob_digest));
    cleanup_stmt sqlite3_stmt *up = tug_db_prepare(
        s, have ? "UPDATE build_cache SET last_used = ?2 WHERE key = ?1"
                : "DELETE FROM build_cache WHERE key = ?1 AND ?2 = ?2",
        err);
    if (up == NULL) {
        tug_build_layer_clear(&l);
        return -1;
    }
    BIND_TEXT(up, 1, key);
    sqlite3_bind_int64(up, 2, (long long)time(NULL));
    if (tug_db_step_done(s, up, err) < 0) {
        tug_build_layer_clear(&l);
        return -1;
    }
    if (!have) {
        tug_build_layer_clear(&l);
        return 0;
    }
    *ret = l;
    *ret_created = created;
    return 1;
}

static int put_inputs(tug_store *s, const char *key, const tug_build_cache_inputs *in,
                      tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st =
        tug_db_prepare(s,
                       "INSERT OR REPLACE INTO build_cache_inputs(key, parent, kind, text, inputs) "
                       "VALUES (?,?,?,?,?)",
                       err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, key);
    BIND_TEXT(st, 2, in->parent ? in->parent : "");
    BIND_TEXT(st, 3, in->kind);
    BIND_TEXT(st, 4, in->text);
    BIND_TEXT(st, 5, in->inputs ? in->inputs : "{}");
    return tug_db_step_done(s, st, err);
}

int tug_build_cache_put(tug_store *s, const char *key, const tug_image_layer *layer,
                        long long created, const char *description,
                        const tug_build_cache_inputs *in, tug_error **err)
{
    static const tug_image_layer none = {0};
    const tug_image_layer *l = layer ? layer : &none;
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "INSERT OR REPLACE INTO build_cache(key, chain_id, diff_id, blob_digest, media_type, "
        "blob_size, size, description, created, last_used) VALUES (?,?,?,?,?,?,?,?,?,?)",
        err);
    if (st == NULL)
        return -1;
    long long now = (long long)time(NULL);
    BIND_TEXT(st, 1, key);
    BIND_TEXT(st, 2, l->chain_id ? l->chain_id : "");
    BIND_TEXT(st, 3, l->diff_id ? l->diff_id : "");
    BIND_TEXT(st, 4, l->blob_digest);
    BIND_TEXT(st, 5, l->media_type);
    sqlite3_bind_int64(st, 6, l->blob_size);
    sqlite3_bind_int64(st, 7, l->size);
    BIND_TEXT(st, 8, description);
    sqlite3_bind_int64(st, 9, created);
    sqlite3_bind_int64(st, 10, now);
    /* the row replaced took its inputs with it (ON DELETE CASCADE) */
    if (tug_db_step_done(s, st, err) < 0)
        return -1;
    return in ? put_inputs(s, key, in, err) : 0;
}

void tug_build_cache_inputs_clear(tug_build_cache_inputs *in)
{
    free((char *)in->parent);
    free((char *)in->kind);
    free((char *)in->text);
    free((char *)in->inputs);
    memset(in, 0, sizeof(*in));
}

int tug_build_cache_previous(tug_store *s, const tug_build_cache_inputs *step,
                             tug_build_cache_inputs *ret, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "SELECT i.parent, i.kind, i.text, i.inputs FROM build_cache_inputs i JOIN build_cache c "
        "ON c.key = i.key WHERE i.kind = ?2 AND (i.parent = ?1 OR i.text = ?3) ORDER BY "
        "(i.parent = ?1 AND i.text = ?3) DESC, i.parent = ?1 DESC, c.last_used DESC, "
        "c.rowid DESC LIMIT 1",
        err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, step->parent ? step->parent : "");
    BIND_TEXT(st, 2, step->kind);
    BIND_TEXT(st, 3, step->text);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return tug_error_set(err, EIO, "build cache: %s", sqlite3_errmsg(s->db));
    *ret = (tug_build_cache_inputs){
        .parent = tug_db_col_text(st, 0),
        .kind = tug_db_col_text(st, 1),
        .text = tug_db_col_text(st, 2),
        .inputs = tug_db_col_text(st, 3),
    };
    if (!ret->parent || !ret->kind || !ret->text || !ret->inputs) {
        tug_build_cache_inputs_clear(ret);
        return tug_error_set(err, ENOMEM, "build cache");
    }
    return 1;
}

/* Sum of the sizes of the layers only the cache keeps. */
static long long cache_only_bytes(tug_store *s)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "SELECT COALESCE(SUM(size), 0) FROM layers WHERE chain_id IN (SELECT chain_id FROM "
        "build_cache) AND chain_id NOT IN (SELECT chain_id FROM image_layers)",
        NULL);
    return st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
}

int tug_build_cache_prune(tug_store *s, long long until, long long *ret_rows,
                          long long *ret_bytes, tug_error **err)
{
    long long before = cache_only_bytes(s);
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s, until > 0 ? "DELETE FROM build_cache WHERE last_used < ?" : "DELETE FROM build_cache",
        err);
    if (st == NULL)
        return -1;
    if (until > 0)
        sqlite3_bind_int64(st, 1, until);
    if (tug_db_step_done(s, st, err) < 0)
        return -1;
    long long rows = sqlite3_changes(s->db);
    /* the context hash caches only save time: all of the cache goes with them */
    if (until <= 0 && (tug_store_exec(s, "DELETE FROM build_file_hashes; DELETE FROM build_match_sums",
                                      err) < 0))
        return -1;
    char **gone = NULL;
    if (tug_store_gc(s, &gone, err) < 0)
        return -1;
    for (char **g = gone; g && *g; g++)
        free(*g);
    free(gone);
    /* RUN --mount=type=cache directories are build cache too */
    long long mounts = 0, mount_bytes = 0;
    if (tug_build_cache_mounts_prune(s, until, &mounts, &mount_bytes, err) < 0)
        return -1;
    if (ret_rows)
        *ret_rows = rows + mounts;
    if (ret_bytes)
        *ret_bytes = before - cache_only_bytes(s) + mount_bytes;
    return 0;
}

int tug_build_cache_usage(tug_store *s, long long *ret_rows, long long *ret_size,
                          long long *ret_reclaimable, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "SELECT (SELECT COUNT(*) FROM build_cache), (SELECT COALESCE(SUM(size), 0) FROM layers "
        "WHERE chain_id IN (SELECT chain_id FROM build_cache))",
        err);
    if (st == NULL)
        return -1;
    if (sqlite3_step(st) != SQLITE_ROW)
        return tug_error_set(err, EIO, "build cache");
    long long mounts = 0, mount_bytes = 0;
    if (tug_build_cache_mounts_usage(s, &mounts, &mount_bytes, err) < 0)
        return -1;
    *ret_rows = sqlite3_column_int64(st, 0) + mounts;
    *ret_size = sqlite3_column_int64(st, 1) + mount_bytes;
    *ret_reclaimable = cache_only_bytes(s) + mount_bytes;
    return 0;
}

static int entry_order(const void *a, const void *b)
{
    const tug_build_cache_entry *x = a, *y = b;
    if (x->last_used != y->last_used)
        return x->last_used < y->last_used ? -1 : 1;
    return strcmp(x->id, y->id);
}

int tug_build_cache_list(tug_store *s, tug_build_cache_entry **ret, size_t *ret_n,
                         tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "SELECT c.key, COALESCE(l.size, 0), c.created, c.last_used, "
        "EXISTS (SELECT 1 FROM image_layers i WHERE i.chain_id = c.chain_id) "
        "FROM build_cache c LEFT JOIN layers l ON l.chain_id = c.chain_id",
        err);
    if (st == NULL)
        return -1;
    tug_build_cache_entry *list = NULL;
    size_t n = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        tug_build_cache_entry *grown = realloc(list, (n + 1) * sizeof(*list));
        if (grown == NULL) {
            free(list);
            return tug_error_set(err, ENOMEM, "build cache");
        }
        list = grown;
        tug_build_cache_entry *e = &list[n++];
        memset(e, 0, sizeof(*e));
        const char *key = (const char *)sqlite3_column_text(st, 0);
        snprintf(e->id, sizeof(e->id), "%s", key ? key : "");
        e->type = "regular";
        e->size = sqlite3_column_int64(st, 1);
        e->created = sqlite3_column_int64(st, 2);
        e->last_used = sqlite3_column_int64(st, 3);
        e->usage = e->last_used > e->created ? 2 : 1;
        e->shared = sqlite3_column_int(st, 4) != 0;
    }
    if (r != SQLITE_DONE) {
        free(list);
        return tug_error_set(err, EIO, "build cache: %s", sqlite3_errmsg(s->db));
    }
    if (tug_build_cache_mounts_list(s, &list, &n, err) < 0) {
        free(list);
        return -1;
    }
    if (n > 1)
        qsort(list, n, sizeof(*list), entry_order);
    *ret = list;
    *ret_n = n;
    return 0;
}
