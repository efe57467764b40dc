#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h> /* after the headers it needs */

#include "store/db.h"
#include "store/store.h"
#include "util/digest.h"
#include "util/fs.h"

typedef struct {
    char root[64];
    tug_store *s;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/tug-store-test-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    tug_error *err = NULL;
    assert_int_equal(tug_store_open(f->root, &f->s, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tug_store_close(f->s);
    tug_error *err = NULL;
    tug_rm_rf(f->root, &err);
    free(f);
    return 0;
}

/* A layer holding one file, recorded in the store; returns its chain ID in out. */
static void make_layer(tug_store *s, const char *parent, const char *content, char out[72])
{
    tug_error *err = NULL;
    char *tmp = NULL, *dir = NULL, diff[72], path[512];
    assert_int_equal(tug_store_layer_tmp(s, &tmp, &dir, &err), 0);
    snprintf(path, sizeof(path), "%s/file", dir);
    FILE *fp = fopen(path, "w");
    fputs(content, fp);
    fclose(fp);
    tug_sha256_buf(content, strlen(content), diff);
    tug_chain_id(parent, diff, out);
    assert_int_equal(tug_store_commit_layer(s, tmp, out, diff, (long long)strlen(content), &err), 0);
    free(tmp);
    free(dir);
}

static void add_image(tug_store *s, const char *config, char **chains, size_t n, const char *tag,
                      char id[72])
{
    tug_error *err = NULL;
    tug_image img = {0};
    tug_image_layer layers[4] = {0};
    tug_sha256_buf(config, strlen(config), id);
    img.id = id;
    img.config_raw = (char *)config;
    img.created = 1000;
    for (size_t i = 0; i < n; i++) {
        layers[i].chain_id = chains[i];
        layers[i].diff_id = chains[i];
        layers[i].size = 10;
    }
    img.layers = layers;
    img.n_layers = n;
    assert_int_equal(tug_store_begin(s, &err), 0);
    assert_int_equal(tug_store_add_image(s, &img, &err), 0);
    if (tag)
        assert_true(tug_store_set_tag(s, tag, id, &err) >= 0);
    assert_int_equal(tug_store_commit(s, &err), 0);
}

static void test_images_share_layers(void **state)
{
    fixture *f = *state;
    tug_store *s = f->s;
    tug_error *err = NULL;
    char base[72], top[72], id1[72], id2[72];
    make_layer(s, NULL, "base", base);
    make_layer(s, base, "top", top);
    char *c1[] = {base};
    char *c2[] = {base, top};
    add_image(s, "{\"a\":1}", c1, 1, "docker.io/library/one:latest", id1);
    add_image(s, "{\"a\":2}", c2, 2, "docker.io/library/two:latest", id2);

    tug_image *img = NULL;
    assert_int_equal(tug_store_find_image(s, "one", &img, &err), 0);
    assert_string_equal(img->id, id1);
    tug_image_free(img);
    char prefix[16];
    snprintf(prefix, sizeof(prefix), "%.10s", id2 + 7);
    assert_int_equal(tug_store_find_image(s, prefix, &img, &err), 0);
    assert_string_equal(img->id, id2);
    assert_int_equal(img->n_layers, 2);
    tug_image_free(img);
    assert_true(tug_store_find_image(s, "three", &img, &err) < 0);
    assert_string_equal(err->msg, "No such image: three:latest");
    assert_int_equal(err->kind, TUG_ERR_USER);
    tug_error_freep(&err);

    /* Removing "two" frees only its own top layer: the base is still used by "one". */
    assert_int_equal(tug_store_remove_image(s, id2, &err), 0);
    char **gone = NULL;
    assert_int_equal(tug_store_gc(s, &gone, &err), 0);
    assert_non_null(gone);
    assert_string_equal(gone[0], top);
    assert_null(gone[1]);
    for (char **g = gone; *g; g++)
        free(*g);
    free(gone);
    assert_true(tug_store_has_layer(s, base));
    assert_false(tug_store_has_layer(s, top));
    char *dir = tug_store_layer_dir(s, top);
    assert_int_equal(access(dir, F_OK), -1);
    free(dir);
    dir = tug_store_layer_dir(s, base);
    assert_int_equal(access(dir, F_OK), 0);
    free(dir);
}

static void test_tags_move(void **state)
{
    fixture *f = *state;
    tug_store *s = f->s;
    tug_error *err = NULL;
    char l[72], id1[72], id2[72];
    make_layer(s, NULL, "x", l);
    char *c[] = {l};
    add_image(s, "{\"v\":1}", c, 1, "docker.io/library/app:1", id1);
    add_image(s, "{\"v\":2}", c, 1, NULL, id2);
    assert_int_equal(tug_store_set_tag(s, "docker.io/library/app:1", id2, &err), 1);
    char *now = tug_store_tag_image(s, "docker.io/library/app:1");
    assert_string_equal(now, id2);
    free(now);
    assert_int_equal(tug_store_set_tag(s, "docker.io/library/app:1", id2, &err), 0);
}

/* Insert a container row named name; the result of tug_db_step_done. */
static int insert_named(tug_store *s, const char *id, const char *name, tug_error **err)
{
    sqlite3_stmt *st = tug_db_prepare(
        s, "INSERT INTO containers(id, name, image_id, created) VALUES (?, ?, 'i', 0)", err);
    assert_non_null(st);
    BIND_TEXT(st, 1, id);
    if (name)
        BIND_TEXT(st, 2, name);
    int r = tug_db_step_done(s, st, err);
    sqlite3_finalize(st);
    return r;
}

static void test_database_errors_keep_their_cause(void **state)
{
    fixture *f = *state;
    tug_store *s = f->s;
    tug_error *err = NULL;
    assert_int_equal(insert_named(s, "a", "web", &err), 0);
    /* a name in use is a conflict; a missing value is not */
    assert_int_equal(insert_named(s, "b", "web", &err), -EEXIST);
    assert_int_equal(err->errnum, EEXIST);
    tug_error_freep(&err);
    assert_int_equal(insert_named(s, "c", NULL, &err), -EINVAL);
    tug_error_freep(&err);
    /* a database that cannot be written says so (as a full disk says ENOSPC) */
    assert_int_equal(tug_store_exec(s, "PRAGMA query_only = 1", &err), 0);
    assert_int_equal(insert_named(s, "d", "db", &err), -EROFS);
    assert_non_null(strstr(err->msg, "readonly"));
    tug_error_freep(&err);
    assert_int_equal(tug_store_exec(s, "PRAGMA query_only = 0", &err), 0);
}

static void test_check_repairs_leftovers(void **state)
{
    fixture *f = *state;
    tug_store *s = f->s;
    tug_error *err = NULL;
    char l[72], id[72], path[512];
    make_layer(s, NULL, "kept", l);
    char *c[] = {l};
    add_image(s, "{\"k\":1}", c, 1, "docker.io/library/k:1", id);
    /* What a crash leaves: an unpack in progress, a layer dir with no record, a stray blob. */
    snprintf(path, sizeof(path), "%s/layers/.tmp-999999-abcdef/diff", f->root);
    assert_int_equal(tug_mkdir_p(path, 0755, &err), 0);
    snprintf(path, sizeof(path), "%s/layers/%064d/diff", f->root, 7);
    assert_int_equal(tug_mkdir_p(path, 0755, &err), 0);
    snprintf(path, sizeof(path), "%s/blobs/sha256/%064d", f->root, 5);
    assert_int_equal(tug_write_file_atomic(path, "x", 1, 0644, &err), 0);
    tug_check_report rep;
    assert_int_equal(tug_store_check(s, false, &rep, &err), 0);
    assert_int_equal(rep.temp_removed, 1);
    assert_int_equal(rep.orphan_layers, 1);
    assert_int_equal(rep.unused_blobs, 1);
    tug_check_report_clear(&rep);
    assert_int_equal(tug_store_check(s, true, &rep, &err), 0);
    tug_check_report_clear(&rep);
    assert_int_equal(tug_store_check(s, false, &rep, &err), 0);
    assert_int_equal(rep.temp_removed + rep.orphan_layers, 0);
    tug_check_report_clear(&rep);
    /* The image's own layer survived the repair. */
    assert_true(tug_store_has_layer(s, l));

    /* A recorded layer whose directory vanished takes its image with it. */
    char *dir = tug_store_layer_dir(s, l);
    snprintf(path, sizeof(path), "%s", dir);
    free(dir);
    *strrchr(path, '/') = '\0';
    assert_int_equal(tug_rm_rf(path, &err), 0);
    assert_int_equal(tug_store_check(s, true, &rep, &err), 0);
    assert_int_equal(rep.missing_layers, 1);
    assert_int_equal(rep.broken_images, 1);
    tug_check_report_clear(&rep);
    tug_image *img = NULL;
    assert_true(tug_store_find_image(s, "k:1", &img, &err) < 0);
    tug_error_freep(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_images_share_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags_move, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_repairs_leftovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_database_errors_keep_their_cause, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
