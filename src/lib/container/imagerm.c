/* Image removal with docker's rules and words (moved here from tug rmi, so tug serve's
 * DELETE /images/{name} removes the same way). */
#include "imagerm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../image/reference.h"
#include "../runtime/container.h"
#include "../util/cleanup.h"
#include "../util/digest.h"

/* Tell fn what went: a reference as docker prints it (familiar), or an ID. */
static void said(tug_image_removed_fn fn, void *ud, bool deleted, const char *what, bool ref)
{
    if (fn == NULL)
        return;
    cleanup_free char *fam = ref ? tug_familiar_ref(what) : NULL;
    fn(ud, deleted, fam ? fam : what);
}

int tug_image_delete(tug_store *s, const tug_image *img, bool *ret_deleted,
                     tug_image_removed_fn fn, void *userdata, tug_error **err)
{
    cleanup_strv char **users = NULL;
    *ret_deleted = false;
    if (tug_store_image_users(s, img->id, &users, err) < 0)
        return -1;
    if (tug_store_begin(s, err) < 0)
        return -1;
    for (size_t i = 0; i < img->n_tags; i++) {
        if (tug_store_remove_tag(s, img->tags[i], err) < 0)
            goto fail;
        said(fn, userdata, false, img->tags[i], true);
    }
    if (users && users[0]) {
        /* with force the references go and the image stays for its containers, as in docker */
        return tug_store_commit(s, err);
    }
    for (size_t i = 0; i < img->n_digests; i++)
        said(fn, userdata, false, img->digests[i], true);
    if (tug_store_remove_image(s, img->id, err) < 0)
        goto fail;
    if (tug_store_commit(s, err) < 0)
        return -1;
    said(fn, userdata, true, img->id, false);
    *ret_deleted = true;
    return 0;
fail:
    tug_store_rollback(s);
    return -1;
}

static bool same_repository(const tug_image *img)
{
    for (size_t i = 1; i < img->n_tags; i++) {
        const char *a = img->tags[0], *b = img->tags[i];
        size_t la = (size_t)(strrchr(a, ':') - a), lb = (size_t)(strrchr(b, ':') - b);
        if (la != lb || strncmp(a, b, la) != 0)
            return false;
    }
    return true;
}

/* The short ID of a running container among users (container names), or false. */
static bool running_user(tug_store *s, char **users, char ret_short[13])
{
    for (size_t i = 0; users && users[i]; i++) {
        cleanup_container tug_container *c = NULL;
        tug_error *e = NULL;
        if (tug_container_find(s, users[i], &c, &e) < 0 || tug_container_refresh(s, c, &e) < 0) {
            tug_error_free(e);
            continue;
        }
        if (tug_container_alive(c)) {
            snprintf(ret_short, 13, "%.12s", c->id);
            return true;
        }
    }
    return false;
}

/* Does name ("repo:tag" or "repo@digest") belong to repository repo[0..n)? */
static bool in_repo(const char *name, const char *repo, size_t n, char sep)
{
    return strncmp(name, repo, n) == 0 && name[n] == sep;
}

/* Take one tag of img away; when it was the last of its repository, the image's digest
 * references in that repository go too, as docker's do. */
static int untag(tug_store *s, const tug_image *img, const char *tag, tug_image_removed_fn fn,
                 void *ud, tug_error **err)
{
    size_t n = (size_t)(strrchr(tag, ':') - tag);
    bool last = true;
    for (size_t i = 0; i < img->n_tags; i++)
        if (img->tags[i] != tag && in_repo(img->tags[i], tag, n, ':'))
            last = false;
    if (tug_store_begin(s, err) < 0)
        return -1;
    if (tug_store_remove_tag(s, tag, err) < 0)
        goto fail;
    for (size_t i = 0; last && i < img->n_digests; i++)
        if (in_repo(img->digests[i], tag, n, '@') &&
            tug_store_remove_digest_ref(s, img->digests[i], err) < 0)
            goto fail;
    if (tug_store_commit(s, err) < 0)
        return -1;
    said(fn, ud, false, tag, true);
    for (size_t i = 0; last && i < img->n_digests; i++)
        if (in_repo(img->digests[i], tag, n, '@'))
            said(fn, ud, false, img->digests[i], true);
    return 0;
fail:
    tug_store_rollback(s);
    return -1;
}

int tug_image_remove(tug_store *s, const char *arg, bool force, tug_image_removed_fn fn,
                     void *userdata, tug_error **err)
{
    cleanup_image tug_image *img = NULL;
    if (tug_store_find_image(s, arg, &img, err) < 0)
        return (*err)->kind == TUG_ERR_USER ? -2 : -1;
    char shortid[13];
    snprintf(shortid, sizeof(shortid), "%.12s", tug_digest_hex(img->id));
    /* Was the image named by one of its tags? Then that tag is what goes. */
    const char *by_tag = NULL;
    cleanup_reference tug_reference *ref = NULL;
    tug_error *perr = NULL;
    cleanup_free char *full = NULL;
    if (tug_reference_parse(arg, &ref, &perr) == 0 && ref->digest == NULL) {
        full = tug_reference_string(ref);
        for (size_t i = 0; full && i < img->n_tags; i++)
            if (strcmp(img->tags[i], full) == 0)
                by_tag = img->tags[i];
    }
    tug_error_free(perr);
    cleanup_strv char **users = NULL;
    if (tug_store_image_users(s, img->id, &users, err) < 0)
        return -1;
    bool in_use = users && users[0];
    if (by_tag && img->n_tags > 1)
        return untag(s, img, by_tag, fn, userdata, err);
    char running[13];
    if (in_use && force && running_user(s, users, running)) {
        /* force does not take an image from under a running container: by its ID that is a
         * conflict; by its last tag, the tag goes and the image stays, as docker does */
        if (!by_tag)
            return tug_error_conflict(err,
                                      "conflict: unable to delete %s (cannot be forced) - image "
                                      "is being used by running container %s",
                                      shortid, running);
        return untag(s, img, by_tag, fn, userdata, err);
    }
    if (in_use && !force) {
        if (by_tag)
            return tug_error_conflict(err,
                                      "conflict: unable to remove repository reference \"%s\" "
                                      "(must force) - container %s is using its referenced image "
                                      "%s; remove the container first or use -f",
                                      arg, users[0], shortid);
        return tug_error_conflict(err,
                                  "conflict: unable to delete %s (must be forced) - image is "
                                  "being used by container %s; remove the container first or "
                                  "use -f",
                                  shortid, users[0]);
    }
    if (!by_tag && !force && img->n_tags > 1 && !same_repository(img))
        return tug_error_conflict(err,
                                  "conflict: unable to delete %s (must be forced) - image is "
                                  "referenced in multiple repositories; remove it by name or use "
                                  "-f",
                                  shortid);
    bool deleted = false;
    if (tug_image_delete(s, img, &deleted, fn, userdata, err) < 0)
        return -1;
    if (deleted) {
        cleanup_strv char **layers = NULL;
        s->gc_detach = true; /* the space is given back after the call returns */
        if (tug_store_gc(s, &layers, err) < 0)
            return -1;
        for (char **l = layers; fn && l && *l; l++)
            fn(userdata, true, *l);
    }
    return 0;
}

int tug_image_prune(tug_store *s, bool all, tug_image_prune_match_fn match, void *match_data,
                    tug_image_removed_fn fn, void *userdata, long long *ret_reclaimed,
                    tug_error **err)
{
    *ret_reclaimed = 0;
    tug_df before, after;
    tug_image **imgs = NULL;
    size_t n = 0;
    if (tug_store_df(s, &before, err) < 0 || tug_store_list_images(s, &imgs, &n, err) < 0)
        return -1;
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        tug_image *img = imgs[i];
        if ((!all && img->n_tags > 0) || (match && !match(match_data, img)))
            continue;
        cleanup_strv char **users = NULL;
        tug_error *e = NULL;
        if (tug_store_image_users(s, img->id, &users, &e) < 0 || (users && users[0])) {
            tug_error_free(e);
            continue;
        }
        bool deleted = false;
        r = tug_image_delete(s, img, &deleted, fn, userdata, err);
    }
    tug_images_free(imgs, n);
    cleanup_strv char **layers = NULL;
    s->gc_detach = true; /* the space is given back after the call returns */
    if (r == 0 && tug_store_gc(s, &layers, err) < 0)
        r = -1;
    for (char **l = layers; fn && l && *l; l++)
        fn(userdata, true, *l);
    tug_error *e = NULL;
    if (tug_store_df(s, &after, r == 0 ? err : &e) < 0) {
        tug_error_free(e);
        return -1;
    }
    *ret_reclaimed = before.images_size > after.images_size ? before.images_size - after.images_size
                                                            : 0;
    return r;
}
