/* Converting a directory store's layers to EROFS images (`tug system migrate`,
 * docs/store.md "Layer formats"). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/cleanup.h"
#include "../util/fs.h"
#include "db.h"
#include "diff.h"
#include "layer.h"

/* A blob of the layer: the one pulled or made with it when the store has it, else its files
 * tarred again (ingest/put-*, *ret_file set to remove after). */
static int layer_source(tug_store *s, const char *chain, const char *dir, char **ret_path,
                        char **ret_file, tug_error **err)
{
    *ret_file = NULL;
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s, "SELECT blob_digest FROM image_layers WHERE chain_id = ? AND blob_digest IS NOT NULL",
        err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, chain);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 0);
        if (d && tug_store_has_blob(s, d))
            return (*ret_path = tug_store_blob_path(s, d)) ? 0 : tug_error_set(err, ENOMEM, "blob");
    }
    tug_new_layer nl;
    if (tug_layer_blob(s, dir, NULL, ret_file, &nl, err) < 0)
        return -1;
    return (*ret_path = strdup(*ret_file)) ? 0 : tug_error_set(err, ENOMEM, "blob");
}

/* One directory layer as an image: written beside it, checked to hold the same diff ID, then
 * swapped in under the write lock (the old directory set aside as .del-* and removed after). */
static int convert_layer(tug_store *s, const char *chain, const char *diff_id, tug_error **err)
{
    const char *hex = tug_digest_hex(chain);
    cleanup_free char *dir = NULL, *path = NULL, *file = NULL, *tmp = NULL, *tmpdiff = NULL;
    cleanup_free char *dst = NULL, *trash = NULL;
    if (asprintf(&dir, "%s/layers/%s/diff", s->root, hex) < 0 ||
        asprintf(&dst, "%s/layers/%s", s->root, hex) < 0 ||
        asprintf(&trash, "%s/layers/.del-%d-%s", s->root, (int)getpid(), hex) < 0)
        return tug_error_set(err, ENOMEM, "convert");
    if (layer_source(s, chain, dir, &path, &file, err) < 0)
        return -1;
    int r = tug_store_layer_tmp(s, &tmp, &tmpdiff, err);
    cleanup_close int bfd = r < 0 ? -1 : open(path, O_RDONLY | O_CLOEXEC);
    if (r == 0 && bfd < 0)
        r = tug_error_set(err, errno, "open %s", path);
    tug_unpack_result res;
    if (r == 0)
        r = tug_store_image_layer(s, bfd, tmp, &res, err);
    if (file)
        unlink(file);
    /* the blob it came from must give the same layer; files tarred again need not give the
     * same bytes (another tar writer's headers), and are the layer's content as they are */
    if (r == 0 && file == NULL && strcmp(res.diff_id, diff_id) != 0)
        r = tug_error_set(err, 0, "layer %.19s reads as %.19s now; it stays a directory",
                          diff_id, res.diff_id);
    if (r == 0 && (r = tug_store_begin(s, err)) == 0) {
        if (rename(dst, trash) < 0 || rename(tmp, dst) < 0) {
            r = tug_error_set(err, errno, "swap layer %.19s", chain);
            rename(trash, dst); /* the directory back where it was */
            tug_store_rollback(s);
        } else {
            r = tug_store_commit(s, err);
        }
    }
    if (r < 0) {
        if (tmp)
            tug_store_drop_tmp(tmp);
        return -1;
    }
    tug_store_drop_tmp(trash);
    return 0;
}

int tug_store_convert_layers(tug_store *s, tug_convert_fn progress, void *ud, tug_error **err)
{
    if (!tug_kernel_has_erofs())
        return tug_error_user(err, "this kernel has no EROFS: the store stays a directory store");
    cleanup_stmt sqlite3_stmt *run = tug_db_prepare(
        s, "SELECT COUNT(*) FROM containers WHERE state IN ('running', 'paused', 'restarting')",
        err);
    if (run == NULL)
        return -1;
    if (sqlite3_step(run) == SQLITE_ROW && sqlite3_column_int(run, 0) > 0)
        return tug_error_user(err,
                              "%d containers are running on this store's layers; stop them "
                              "first (tug stop $(tug ps -q))",
                              sqlite3_column_int(run, 0));
    /* no pull, build or collection meanwhile */
    cleanup_close int lock = tug_store_lock_exclusive(s, true, err);
    if (lock < 0)
        return -1;
    cleanup_stmt sqlite3_stmt *st =
        tug_db_prepare(s, "SELECT chain_id, diff_id, size FROM layers ORDER BY created", err);
    if (st == NULL)
        return -1;
    char **chains = NULL, **diffs = NULL;
    long long *sizes = NULL;
    size_t n = 0;
    bool oom = false;
    while (!oom && sqlite3_step(st) == SQLITE_ROW) {
        const char *c = (const char *)sqlite3_column_text(st, 0);
        if (tug_store_layer_is_image(s, tug_digest_hex(c)))
            continue;
        char **c2 = reallocarray(chains, n + 2, sizeof(char *));
        chains = c2 ? c2 : chains;
        char **d2 = c2 ? reallocarray(diffs, n + 2, sizeof(char *)) : NULL;
        diffs = d2 ? d2 : diffs;
        long long *s2 = d2 ? reallocarray(sizes, n + 1, sizeof(long long)) : NULL;
        sizes = s2 ? s2 : sizes;
        if (s2 == NULL) {
            oom = true;
            break;
        }
        chains[n] = strdup(c);
        diffs[n] = strdup((const char *)sqlite3_column_text(st, 1));
        sizes[n] = sqlite3_column_int64(st, 2);
        oom = chains[n] == NULL || diffs[n] == NULL;
        n++;
        chains[n] = diffs[n] = NULL;
    }
    cleanup_strv char **c_free = chains, **d_free = diffs;
    cleanup_free long long *s_free = sizes;
    if (oom)
        return tug_error_set(err, ENOMEM, "list the layers");
    int done = 0;
    for (size_t i = 0; i < n; i++) {
        if (convert_layer(s, chains[i], diffs[i], err) < 0)
            return tug_error_wrap(err, "convert layer %.19s (%d of %zu converted; run it again to "
                                       "go on)",
                                  chains[i], done, n);
        done++;
        if (progress)
            progress(chains[i], sizes[i], ud);
    }
    /* new layers are images from now on */
    if (tug_store_set_layer_format(s, TUG_LAYERS_EROFS, err) < 0)
        return -1;
    return done;
}
