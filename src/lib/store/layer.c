/* Layers into the store: one commit path for pull, import, load, build and commit. */
#include "layer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../util/cleanup.h"
#include "../util/fs.h"

void tug_store_drop_tmp(const char *tmp)
{
    tug_error *ignored = NULL;
    tug_rm_rf(tmp, &ignored);
    tug_error_free(ignored);
}

/* Everything in tmp but diff/ and an EROFS layer's image: a layer directory holds its files
 * (or their image and its mount point) and nothing else. */
static int drop_extras(const char *tmp, tug_error **err)
{
    cleanup_dir DIR *d = opendir(tmp);
    if (d == NULL)
        return tug_error_set(err, errno, "open %s", tmp);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strcmp(n, "diff") == 0 ||
            strcmp(n, "layer.erofs") == 0 || strcmp(n, "layer.erofs.sum") == 0)
            continue;
        if (tug_rm_rf_at(dirfd(d), n, err) < 0)
            return tug_error_wrap(err, "clean %s", tmp);
    }
    return 0;
}

/* A build step's layer is its upper dir; in an EROFS store it becomes an image made from the
 * blob that was just made of it (stored by now). */
static int image_build_layer(tug_store *s, const tug_layer_add *l, tug_error **err)
{
    if (l->blob_digest == NULL)
        return 0;
    int f = tug_store_layer_format(s, err);
    if (f != TUG_LAYERS_EROFS)
        return f < 0 ? -1 : 0;
    cleanup_free char *img = NULL;
    if (asprintf(&img, "%s/layer.erofs", l->tmp) < 0)
        return tug_error_set(err, ENOMEM, "layer");
    if (access(img, F_OK) == 0)
        return 0;
    cleanup_free char *blob = tug_store_blob_path(s, l->blob_digest);
    if (blob == NULL)
        return tug_error_set(err, ENOMEM, "layer");
    return tug_store_image_dir_layer(s, l->tmp, blob, err);
}

int tug_store_add_layer(tug_store *s, const tug_layer_add *l, char ret_chain[TUG_DIGEST_LEN + 1],
                        tug_error **err)
{
    char chain[TUG_DIGEST_LEN + 1];
    tug_chain_id(l->parent_chain, l->diff_id, chain);
    /* the blob first: a layer row never waits for the blob that push and save will send; the
     * same blob stored already stays as it is */
    int r = 0;
    if (l->blob_file && tug_store_has_blob(s, l->blob_digest))
        unlink(l->blob_file);
    else if (l->blob_file)
        r = tug_store_commit_blob_file(s, l->blob_file, l->blob_digest, err);
    /* A layer the store has (a rebuild that made the same bytes, a pull that raced ours) is
     * complete: this copy goes, and its removal, slow for a big tree, holds no lock. The
     * caller's shared lock keeps collection from taking the stored one meanwhile. */
    bool have = r == 0 && tug_store_has_layer(s, chain);
    if (r == 0 && !have)
        r = image_build_layer(s, l, err);
    if (r == 0 && !have && (r = drop_extras(l->tmp, err)) == 0)
        r = tug_store_commit_layer(s, l->tmp, chain, l->diff_id, l->size, err);
    if (r < 0 || have) {
        if (l->blob_file)
            unlink(l->blob_file); /* gone already when it went into the store */
        tug_store_drop_tmp(l->tmp);
        if (r < 0)
            return -1;
    }
    if (ret_chain)
        memcpy(ret_chain, chain, sizeof(chain));
    return 0;
}

int tug_store_unpack_layer(tug_store *s, int blob_fd, char **ret_tmp, tug_unpack_result *ret,
                           tug_error **err)
{
    cleanup_free char *tmp = NULL, *dir = NULL;
    if (tug_store_layer_tmp(s, &tmp, &dir, err) < 0)
        return -1;
    tug_unpack_result res;
    int f = tug_store_layer_format(s, err);
    if (f < 0 || (f == TUG_LAYERS_EROFS ? tug_store_image_layer(s, blob_fd, tmp, &res, err)
                                         : tug_layer_unpack(blob_fd, dir, &res, err)) < 0) {
        tug_store_drop_tmp(tmp);
        return -1;
    }
    *ret_tmp = steal_pointer(&tmp);
    *ret = res;
    return 0;
}
