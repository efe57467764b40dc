/* Layers into the store: one commit path for pull, import, load, build and commit. */
#include "layer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

/* Everything in tmp but diff/: a layer directory holds its diff and nothing else. */
static int drop_extras(const char *tmp, tug_error **err)
{
    cleanup_dir DIR *d = opendir(tmp);
    if (d == NULL)
        return tug_error_set(err, errno, "open %s", tmp);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strcmp(n, "diff") == 0)
            continue;
        if (tug_rm_rf_at(dirfd(d), n, err) < 0)
            return tug_error_wrap(err, "clean %s", tmp);
    }
    return 0;
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
    if (tug_layer_unpack(blob_fd, dir, &res, err) < 0) {
        tug_store_drop_tmp(tmp);
        return -1;
    }
    *ret_tmp = steal_pointer(&tmp);
    *ret = res;
    return 0;
}
