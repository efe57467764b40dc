/* A container's layers and the mount stubs in its upper dir, for diff, commit and export. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/cleanup.h"
#include "../util/fs.h"
#include "commit.h"
#include "stubs.h"
#include "../store/layer.h"

void tug_ctr_fs_clear(tug_ctr_fs *f)
{
    tug_container_free(f->c);
    tug_image_free(f->img);
    cleanup_strvp(&f->lowers);
    cleanup_strvp(&f->stubs);
    free(f->upper);
    *f = (tug_ctr_fs){0};
}

static bool user_mount(json_t *points, const char *dest)
{
    size_t i;
    json_t *mp;
    json_array_foreach(points, i, mp)
    {
        const char *d = json_string_value(json_object_get(mp, "Destination"));
        if (d && strcmp(d, dest) == 0)
            return true;
    }
    return false;
}

/* The runtime's own mount points of the container's spec (proc, dev, sys, /etc/hosts...):
 * those of -v and --mount are the user's, and docker keeps them in the rw layer. */
static int runtime_mount_points(tug_store *s, const tug_container *c, const char ***ret,
                                size_t *ret_n, tug_error **err)
{
    cleanup_free char *dir = tug_container_dir(s, c->id);
    cleanup_free char *path = NULL, *raw = NULL;
    size_t len = 0;
    if (dir == NULL || asprintf(&path, "%s/config.json", dir) < 0)
        return tug_error_set(err, ENOMEM, "container %s", c->id);
    if (tug_read_file(path, &raw, &len, err) < 0)
        return -1;
    json_t *spec = json_loadb(raw, len, 0, NULL);
    json_t *mounts = json_object_get(spec, "mounts");
    json_t *points = json_object_get(c->config, "TugMountPoints");
    size_t n = 0, i;
    json_t *m;
    const char **v = calloc(json_array_size(mounts) + 1, sizeof(char *));
    if (v == NULL) {
        json_decref(spec);
        return tug_error_set(err, ENOMEM, "container %s", c->id);
    }
    json_array_foreach(mounts, i, m)
    {
        const char *d = json_string_value(json_object_get(m, "destination"));
        if (d && !user_mount(points, d) && (v[n] = strdup(d)) != NULL)
            n++;
    }
    json_decref(spec);
    *ret = v;
    *ret_n = n;
    return 0;
}

int tug_ctr_fs_open(tug_store *s, const char *what, tug_ctr_fs *ret, tug_error **err)
{
    tug_ctr_fs f = {0};
    if (tug_container_find(s, what, &f.c, err) < 0)
        return -1;
    cleanup_free char *dir = tug_container_dir(s, f.c->id);
    if (tug_store_load_image(s, f.c->image_id, &f.img, err) < 0) {
        tug_ctr_fs_clear(&f);
        return tug_error_wrap(err, "the image of container %s", what);
    }
    f.n_lower = f.img->n_layers;
    f.lowers = calloc(f.n_lower + 1, sizeof(char *));
    for (size_t i = 0; f.lowers && i < f.n_lower; i++)
        if ((f.lowers[i] = tug_store_layer_dir(s, f.img->layers[i].chain_id)) == NULL)
            break;
    if (f.lowers == NULL || (f.n_lower && f.lowers[f.n_lower - 1] == NULL) || dir == NULL ||
        asprintf(&f.upper, "%s/upper", dir) < 0) {
        f.upper = NULL;
        tug_ctr_fs_clear(&f);
        return tug_error_set(err, ENOMEM, "container %s", what);
    }
    cleanup_free const char **dests = NULL;
    size_t n = 0;
    int r = tug_store_layers_ready(s, f.lowers, f.n_lower, err);
    if (r == 0)
        r = runtime_mount_points(s, f.c, &dests, &n, err);
    if (r == 0)
        r = tug_mount_stubs(f.upper, f.lowers, f.n_lower, dests, n, &f.stubs, err);
    for (size_t i = 0; dests && i < n; i++)
        free((char *)dests[i]);
    if (r < 0) {
        tug_ctr_fs_clear(&f);
        return tug_error_wrap(err, "container %s", what);
    }
    *ret = f;
    return 0;
}
