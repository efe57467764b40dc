/* Where blobs came from and went to, and the blobs and manifests a push made for an image. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../util/cleanup.h"
#include "db.h"
#include "store.h"

int tug_store_note_blob_source(tug_store *s, const char *digest, const char *registry,
                               const char *repo, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s, "INSERT OR REPLACE INTO blob_sources(digest, registry, repo, seen) VALUES (?,?,?,?)",
        err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, digest);
    BIND_TEXT(st, 2, registry);
    BIND_TEXT(st, 3, repo);
    sqlite3_bind_int64(st, 4, (long long)time(NULL));
    if (tug_db_step_done(s, st, err) < 0)
        return tug_error_wrap(err, "note where blob %.19s is", digest);
    return 0;
}

int tug_store_blob_sources(tug_store *s, const char *digest, const char *registry,
                           char ***ret_repos, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s, "SELECT repo FROM blob_sources WHERE digest = ? AND registry = ? ORDER BY seen DESC",
        err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, digest);
    BIND_TEXT(st, 2, registry);
    cleanup_strv char **v = calloc(1, sizeof(*v));
    size_t n = 0;
    if (v == NULL)
        return tug_error_set(err, ENOMEM, "blob sources");
    while (sqlite3_step(st) == SQLITE_ROW) {
        char **nv = realloc(v, (n + 2) * sizeof(*nv));
        if (nv == NULL)
            return tug_error_set(err, ENOMEM, "blob sources");
        v = nv;
        v[n] = tug_db_col_text(st, 0);
        v[n + 1] = NULL;
        if (v[n++] == NULL)
            return tug_error_set(err, ENOMEM, "blob sources");
    }
    *ret_repos = steal_pointer(&v);
    return 0;
}

int tug_store_set_layer_blob(tug_store *s, const char *image_id, size_t idx, const char *digest,
                             const char *media_type, long long size, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "UPDATE image_layers SET blob_digest = ?, media_type = ?, blob_size = ? WHERE "
        "image_id = ? AND idx = ?",
        err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, digest);
    BIND_TEXT(st, 2, media_type);
    sqlite3_bind_int64(st, 3, size);
    BIND_TEXT(st, 4, image_id);
    sqlite3_bind_int(st, 5, (int)idx);
    if (tug_db_step_done(s, st, err) < 0)
        return tug_error_wrap(err, "record the blob of layer %zu of image %s", idx, image_id);
    return 0;
}

int tug_store_set_image_manifest(tug_store *s, const char *image_id, const char *digest,
                                 const char *media_type, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "UPDATE images SET manifest_digest = ?, manifest_media_type = ? WHERE id = ? AND "
        "manifest_digest IS NULL",
        err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, digest);
    BIND_TEXT(st, 2, media_type);
    BIND_TEXT(st, 3, image_id);
    if (tug_db_step_done(s, st, err) < 0)
        return tug_error_wrap(err, "record the manifest of image %s", image_id);
    return 0;
}
