#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* the file itself: the tests reach its openat2 switch (have_openat2) */
#include "../../src/lib/build/context.c"
#include "store/db.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strutil.h"

static char tmp[256];

/* What copying the directory src of the test's context takes, as listing() shows it. */
#define SRC_LISTING                                                                                \
    "src>\n"                                                                                       \
    "src/lib>lib\n"                                                                                \
    "src/lib/abs>lib/abs@\n"                                                                       \
    "src/lib/x.c>lib/x.c\n"                                                                        \
    "src/lib/y.h>lib/y.h\n"                                                                        \
    "src/main.c>main.c\n"

static void put(const char *rel, const char *data)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmp, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    assert_int_equal(tug_mkdir_p(path, 0755, NULL), 0);
    *slash = '/';
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(data, f);
    fclose(f);
}

static void link_at(const char *rel, const char *target)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmp, rel);
    assert_int_equal(symlink(target, path), 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof(tmp), "/tmp/tug-test-context-XXXXXX");
    assert_non_null(mkdtemp(tmp));
    put("ctx/Dockerfile", "FROM scratch\n");
    put("ctx/a.txt", "a");
    put("ctx/b.txt", "b");
    put("ctx/src/main.c", "int main;");
    put("ctx/src/lib/x.c", "x");
    put("ctx/src/lib/y.h", "y");
    put("ctx/docs/README.md", "readme");
    put("ctx/docs/other.md", "other");
    put("ctx/node_modules/m/index.js", "js");
    put("ctx/secret.key", "s");
    put("outside/passwd", "root:x:0:0");
    link_at("ctx/link-a", "a.txt");
    link_at("ctx/link-src", "src");
    link_at("ctx/src/lib/abs", "/a.txt"); /* absolute: the context root's a.txt */
    link_at("ctx/escape", "../../outside/passwd");
    link_at("ctx/up", "src/lib/../main.c");
    link_at("ctx/escape-dir", "/etc");
    put("ctx/.dockerignore", "# build context\nnode_modules\n*.key\ndocs\n!docs/README.md\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(tug_rm_rf(tmp, NULL), 0);
    return 0;
}

static tug_build_context *open_ctx(const char *dir, const char *dockerfile, tug_store *store)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmp, dir);
    tug_context_opts o = {.context = path, .dockerfile = dockerfile, .store = store};
    tug_build_context *c = NULL;
    tug_error *err = NULL;
    if (tug_context_open(&o, &c, &err) < 0)
        fail_msg("open %s: %s", path, err->msg);
    return c;
}

static tug_copy_sources *resolve_ok(tug_build_context *c, const tug_copy_opts *o, ...)
{
    const char *src[16];
    size_t n = 0;
    va_list ap;
    va_start(ap, o);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;)
        src[n++] = s;
    va_end(ap);
    tug_copy_sources *s = NULL;
    tug_error *err = NULL;
    if (tug_context_resolve(c, src, n, o, &s, &err) < 0)
        fail_msg("resolve %s: %s", src[0], err->msg);
    return s;
}

static void resolve_fails(tug_build_context *c, const char *src, const char *want)
{
    tug_copy_sources *s = NULL;
    tug_error *err = NULL;
    const char *v[] = {src};
    assert_int_not_equal(tug_context_resolve(c, v, 1, NULL, &s, &err), 0);
    assert_null(s);
    if (strcmp(err->msg, want) != 0)
        fail_msg("resolve %s: \"%s\", want \"%s\"", src, err->msg, want);
    assert_int_equal(err->kind, TUG_ERR_USER);
    tug_error_free(err);
}

/* The entries of all matches as "path>rel" lines. */
static char *listing(const tug_copy_sources *s)
{
    char *out = NULL;
    for (size_t i = 0; i < s->n_matches; i++)
        for (size_t k = 0; k < s->matches[i].n_entries; k++)
            tug_append_line(&out, "%s>%s%s", s->matches[i].entries[k].path,
                            s->matches[i].entries[k].rel,
                            S_ISLNK(s->matches[i].entries[k].st.st_mode) ? "@" : "");
    return out ? out : strdup("");
}

static void check_listing(const tug_copy_sources *s, const char *want)
{
    char *got = listing(s);
    if (strcmp(got, want) != 0)
        fail_msg("got:\n%s\nwant:\n%s", got, want);
    free(got);
}

static void test_open(void **state)
{
    (void)state;
    tug_build_context *c = open_ctx("ctx", NULL, NULL);
    size_t len;
    assert_string_equal(tug_context_dockerfile(c, &len), "FROM scratch\n");
    assert_int_equal(len, 13);
    assert_string_equal(tug_context_dockerfile_name(c), "Dockerfile");
    assert_string_equal(tug_context_ignore_name(c), ".dockerignore");
    assert_int_equal(tug_ignore_count(tug_context_ignore(c)), 4);
    tug_context_free(c);

    /* -f relative to the cwd, anywhere; its own .dockerignore next to it wins */
    put("elsewhere/app.Dockerfile", "FROM busybox\n");
    put("elsewhere/app.Dockerfile.dockerignore", "a.txt\n");
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(tmp), 0);
    c = open_ctx("ctx", "elsewhere/app.Dockerfile", NULL);
    assert_int_equal(chdir(cwd), 0);
    assert_string_equal(tug_context_dockerfile(c, NULL), "FROM busybox\n");
    assert_string_equal(tug_context_ignore_name(c), "app.Dockerfile.dockerignore");
    resolve_fails(c, "a.txt",
                  "failed to compute cache key: failed to calculate checksum of ref context: "
                  "\"/a.txt\": not found");
    tug_copy_sources *s = resolve_ok(c, NULL, "secret.key", NULL); /* the other file is unused */
    tug_copy_sources_free(s);
    tug_context_free(c);

    /* docker also takes a lowercase dockerfile */
    put("lower/dockerfile", "FROM lower\n");
    c = open_ctx("lower", NULL, NULL);
    assert_string_equal(tug_context_dockerfile(c, NULL), "FROM lower\n");
    assert_null(tug_context_ignore(c));
    tug_context_free(c);

    /* a .dockerignore that is a symlink is followed, as docker's client reads it */
    put("shared.ignore", "b.txt\n");
    put("symign/Dockerfile", "FROM x\n");
    put("symign/b.txt", "b");
    link_at("symign/.dockerignore", "../shared.ignore");
    c = open_ctx("symign", NULL, NULL);
    assert_string_equal(tug_ignore_pattern(tug_context_ignore(c), 0), "b.txt");
    tug_context_free(c);

    /* errors a user can act on */
    char path[512];
    tug_build_context *none = NULL;
    tug_error *err = NULL;
    snprintf(path, sizeof(path), "%s/nope", tmp);
    tug_context_opts o = {.context = path};
    assert_int_not_equal(tug_context_open(&o, &none, &err), 0);
    assert_non_null(strstr(err->msg, "unable to prepare context: path"));
    tug_error_free(err);
    err = NULL;
    snprintf(path, sizeof(path), "%s/outside", tmp);
    assert_int_not_equal(tug_context_open(&o, &none, &err), 0);
    assert_string_equal(err->msg,
                        "failed to read dockerfile: open Dockerfile: No such file or directory");
    assert_int_equal(err->kind, TUG_ERR_USER);
    tug_error_free(err);
    err = NULL;
    o.context = "-";
    o.dockerfile = "-";
    assert_int_not_equal(tug_context_open(&o, &none, &err), 0);
    assert_non_null(strstr(err->msg, "can't use stdin for both"));
    tug_error_free(err);
    put("badignore/Dockerfile", "FROM x\n");
    put("badignore/.dockerignore", "ok\n[abc\n");
    snprintf(path, sizeof(path), "%s/badignore", tmp);
    o = (tug_context_opts){.context = path};
    err = NULL;
    assert_int_not_equal(tug_context_open(&o, &none, &err), 0);
    assert_string_equal(err->msg, ".dockerignore line 2: syntax error in pattern \"[abc\"");
    tug_error_free(err);
}

static void test_resolve(void **state)
{
    (void)state;
    tug_build_context *c = open_ctx("ctx", NULL, NULL);
    /* a file, a directory (sorted, parents first), docker's cleaning of the path */
    tug_copy_sources *s = resolve_ok(c, NULL, "./a.txt", "/src/", "../../b.txt", NULL);
    check_listing(s, "a.txt>\n" SRC_LISTING "b.txt>\n");
    assert_int_equal(s->n_matches, 3);
    assert_false(s->matches[0].is_dir);
    assert_string_equal(s->matches[0].name, "a.txt");
    assert_true(s->matches[1].is_dir);
    tug_copy_sources_free(s);

    /* ignored: not found, the way docker says it, with the user's spelling when it differs */
    resolve_fails(c, "secret.key",
                  "failed to compute cache key: failed to calculate checksum of ref context: "
                  "\"/secret.key\": not found");
    resolve_fails(c, "./node_modules/m/../m/index.js",
                  "failed to compute cache key: failed to calculate checksum of ref context: "
                  "\"/node_modules/m/index.js\": not found (source "
                  "\"./node_modules/m/../m/index.js\")");
    resolve_fails(c, "node_modules",
                  "failed to compute cache key: failed to calculate checksum "
                  "of ref context: \"/node_modules\": not found");
    resolve_fails(c, "missing.txt",
                  "failed to compute cache key: failed to calculate checksum "
                  "of ref context: \"/missing.txt\": not found");
    /* an excluded directory with an exception under it holds only what the exception lets in */
    s = resolve_ok(c, NULL, "docs", NULL);
    check_listing(s, "docs>\ndocs/README.md>README.md\n");
    tug_copy_sources_free(s);
    resolve_fails(c, "docs/other.md",
                  "failed to compute cache key: failed to calculate checksum "
                  "of ref context: \"/docs/other.md\": not found");
    /* the whole context: what .dockerignore leaves, the .dockerignore itself included */
    s = resolve_ok(c, NULL, ".", NULL);
    char *all = listing(s);
    assert_non_null(strstr(all, ".dockerignore>.dockerignore\n"));
    assert_non_null(strstr(all, "Dockerfile>Dockerfile\n"));
    assert_null(strstr(all, "node_modules"));
    assert_null(strstr(all, "secret.key"));
    assert_null(strstr(all, "other.md"));
    assert_non_null(strstr(all, "escape>escape@\n")); /* links inside are copied as links */
    free(all);
    tug_copy_sources_free(s);
    tug_context_free(c);
}

static void test_symlinks(void **state)
{
    (void)state;
    tug_build_context *c = open_ctx("ctx", NULL, NULL);
    /* a symlink named as the source is followed; its name is kept */
    tug_copy_sources *s = resolve_ok(c, NULL, "link-a", "link-src", "src/lib/abs", NULL);
    check_listing(s, "a.txt>\n" SRC_LISTING "a.txt>\n");
    assert_string_equal(s->matches[0].name, "link-a");
    assert_string_equal(s->matches[2].name, "abs");
    tug_copy_sources_free(s);
    /* ".." in a target is taken from where the link is, and stops at the root */
    s = resolve_ok(c, NULL, "up", NULL);
    check_listing(s, "src/main.c>\n");
    tug_copy_sources_free(s);
    /* on the way to a source too */
    s = resolve_ok(c, NULL, "link-src/lib/x.c", NULL);
    check_listing(s, "src/lib/x.c>\n");
    tug_copy_sources_free(s);
    /* never out of the context: ".." and "/" stop at its root */
    resolve_fails(c, "escape",
                  "failed to compute cache key: failed to calculate checksum of ref "
                  "context: \"/escape\": not found");
    resolve_fails(c, "escape-dir/passwd",
                  "failed to compute cache key: failed to calculate "
                  "checksum of ref context: \"/escape-dir/passwd\": not "
                  "found");
    tug_context_free(c);
}

static void test_wildcards(void **state)
{
    (void)state;
    tug_build_context *c = open_ctx("ctx", NULL, NULL);
    tug_copy_sources *s = resolve_ok(c, NULL, "*.txt", "src/*/*.c", "nothing*", NULL);
    check_listing(s, "a.txt>\nb.txt>\nsrc/lib/x.c>\n");
    assert_true(s->wildcard[2]);
    tug_copy_sources_free(s);
    /* an ignored file is not matched; a matched symlink is followed */
    s = resolve_ok(c, NULL, "*.key", "link-?", NULL);
    check_listing(s, "a.txt>\n");
    assert_string_equal(s->matches[0].name, "link-a");
    tug_copy_sources_free(s);
    /* --exclude: below each match, never the match itself; "*.h" is for the match's own
     * entries only, "**" reaches below */
    const char *ex[] = {"*.c", "**/*.h", "*.txt"};
    tug_copy_opts o = {.excludes = ex, .n_excludes = 3};
    s = resolve_ok(c, &o, "src", "a.*", NULL);
    check_listing(s, "src>\nsrc/lib>lib\nsrc/lib/abs>lib/abs@\nsrc/lib/x.c>lib/x.c\na.txt>\n");
    tug_copy_sources_free(s);
    /* --parents: the path is kept, from the root or from a "/./" pivot */
    tug_copy_opts par = {.parents = true};
    s = resolve_ok(c, &par, "src/lib/x.c", "src/./lib/y.h", NULL);
    check_listing(s, ">\nsrc>src\nsrc/lib>src/lib\nsrc/lib/x.c>src/lib/x.c\n"
                     "src>\nsrc/lib>lib\nsrc/lib/y.h>lib/y.h\n");
    tug_copy_sources_free(s);
    s = resolve_ok(c, &par, "**/*.c", NULL);
    check_listing(s, ">\nsrc>src\nsrc/lib>src/lib\nsrc/lib/x.c>src/lib/x.c\n"
                     "src/main.c>src/main.c\n");
    tug_copy_sources_free(s);
    tug_copy_sources *none = NULL;
    tug_error *err = NULL;
    const char *missing[] = {"src/nope.c"};
    assert_int_not_equal(tug_context_resolve(c, missing, 1, &par, &none, &err), 0);
    assert_string_equal(err->msg, "failed to compute cache key: failed to calculate checksum of "
                                  "ref context: \"/src/nope.c\": not found");
    tug_error_free(err);
    tug_context_free(c);
}

static void checksum_of(tug_build_context *c, const char *src, char out[TUG_DIGEST_LEN + 1])
{
    tug_copy_sources *s = resolve_ok(c, NULL, src, NULL);
    tug_error *err = NULL;
    if (tug_context_checksum(c, s, true, out, &err) < 0)
        fail_msg("checksum: %s", err->msg);
    tug_copy_sources_free(s);
}

static void test_checksum(void **state)
{
    (void)state;
    put("sum/Dockerfile", "FROM x\n");
    put("sum/d/f", "content");
    put("sum/d/g", "more");
    link_at("sum/d/l", "f");
    tug_build_context *c = open_ctx("sum", NULL, NULL);
    char a[TUG_DIGEST_LEN + 1], b[TUG_DIGEST_LEN + 1];
    checksum_of(c, "d", a);
    assert_true(tug_digest_valid(a));
    char path[512];
    snprintf(path, sizeof(path), "%s/sum/d/f", tmp);
    /* touch: the same */
    struct timespec ts[2] = {{1000, 0}, {1000, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
    checksum_of(c, "d", b);
    assert_string_equal(a, b);
    /* a mode, an owner, the contents, a link's target: each changes it */
    assert_int_equal(chmod(path, 04755), 0);
    checksum_of(c, "d", b);
    assert_string_not_equal(a, b);
    assert_int_equal(chmod(path, 0644), 0);
    checksum_of(c, "d", b);
    assert_string_equal(a, b);
    assert_int_equal(lchown(path, 1000, 1000), 0);
    checksum_of(c, "d", b);
    assert_string_not_equal(a, b);
    assert_int_equal(lchown(path, 0, 0), 0);
    put("sum/d/f", "changed");
    checksum_of(c, "d", b);
    assert_string_not_equal(a, b);
    put("sum/d/f", "content");
    checksum_of(c, "d", b);
    assert_string_equal(a, b);
    snprintf(path, sizeof(path), "%s/sum/d/l", tmp);
    assert_int_equal(unlink(path), 0);
    link_at("sum/d/l", "g");
    checksum_of(c, "d", b);
    assert_string_not_equal(a, b);
    /* with xattrs, an extended attribute counts too */
    snprintf(path, sizeof(path), "%s/sum/d/g", tmp);
    checksum_of(c, "d", a);
    assert_int_equal(setxattr(path, "user.tug", "1", 1, 0), 0);
    checksum_of(c, "d", b);
    assert_string_not_equal(a, b);
    /* a file copied under another name is another copy */
    char f1[TUG_DIGEST_LEN + 1], f2[TUG_DIGEST_LEN + 1];
    put("sum/same1", "x");
    put("sum/same2", "x");
    checksum_of(c, "same1", f1);
    checksum_of(c, "same2", f2);
    assert_string_not_equal(f1, f2);
    tug_context_free(c);
}

static void test_hash_cache(void **state)
{
    (void)state;
    char root[512];
    snprintf(root, sizeof(root), "%s/store", tmp);
    tug_store *st = NULL;
    assert_int_equal(tug_store_open(root, &st, NULL), 0);
    put("cache/Dockerfile", "FROM x\n");
    put("cache/f", "cached contents");
    sleep(2); /* hashes of files changed within the last second are not kept */
    tug_build_context *c = open_ctx("cache", NULL, st);
    char a[TUG_DIGEST_LEN + 1], b[TUG_DIGEST_LEN + 1];
    checksum_of(c, "f", a);
    /* the second checksum takes the whole source's sum from the cache: prove it with a false
     * one; without that, each file's hash */
#define ZEROS "sha256:0000000000000000000000000000000000000000000000000000000000000000"
    assert_int_equal(tug_store_exec(st, "UPDATE build_match_sums SET digest = '" ZEROS "'", NULL),
                     0);
    const char *src[] = {"f"};
    tug_copy_sources *s = NULL;
    assert_int_equal(tug_context_resolve(c, src, 1, NULL, &s, NULL), 0);
    assert_int_equal(tug_context_checksum(c, s, true, b, NULL), 0);
    assert_string_equal(s->matches[0].digest, ZEROS);
    assert_string_equal(s->matches[0].entries[0].digest, ""); /* nothing was read */
    tug_copy_sources_free(s);
    assert_int_equal(tug_store_exec(st,
                                    "DELETE FROM build_match_sums;"
                                    "UPDATE build_file_hashes SET digest = '" ZEROS "'",
                                    NULL),
                     0);
    assert_int_equal(tug_context_resolve(c, src, 1, NULL, &s, NULL), 0);
    assert_int_equal(tug_context_checksum(c, s, true, b, NULL), 0);
    assert_string_equal(s->matches[0].entries[0].digest, ZEROS);
    assert_string_not_equal(a, b);
    tug_copy_sources_free(s);
    /* touch changes the key, not the checksum: the file is read again */
    char path[512];
    snprintf(path, sizeof(path), "%s/cache/f", tmp);
    struct timespec ts[2] = {{1000, 0}, {1000, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
    checksum_of(c, "f", b);
    assert_string_equal(a, b);
    tug_context_free(c);
    tug_store_close(st);
}

static void test_stdin(void **state)
{
    (void)state;
    char cmd[1024], root[512], tarpath[512];
    snprintf(root, sizeof(root), "%s/tmpstore", tmp);
    assert_int_equal(tug_mkdir_p(root, 0700, NULL), 0);
    put("tarsrc/Dockerfile", "FROM tar\n");
    put("tarsrc/.dockerignore", "skip\n");
    put("tarsrc/keep", "k");
    put("tarsrc/skip", "s");
    snprintf(tarpath, sizeof(tarpath), "%s/ctx.tar", tmp);
    snprintf(cmd, sizeof(cmd), "tar -C %s/tarsrc -cf %s .", tmp, tarpath);
    assert_int_equal(system(cmd), 0);
    int fd = open(tarpath, O_RDONLY | O_CLOEXEC);
    tug_context_opts o = {.context = "-", .tmp_dir = root, .stdin_fd = fd};
    tug_build_context *c = NULL;
    tug_error *err = NULL;
    if (tug_context_open(&o, &c, &err) < 0)
        fail_msg("%s", err->msg);
    close(fd);
    assert_string_equal(tug_context_dockerfile(c, NULL), "FROM tar\n");
    char *dir = strdup(tug_context_dir(c));
    tug_copy_sources *s = resolve_ok(c, NULL, "keep", NULL);
    tug_copy_sources_free(s);
    resolve_fails(c, "skip",
                  "failed to compute cache key: failed to calculate checksum of ref "
                  "context: \"/skip\": not found");
    tug_context_free(c);
    assert_int_equal(access(dir, F_OK), -1); /* the unpacked copy is gone */
    free(dir);

    /* a lone Dockerfile: no context files */
    put("lone", "FROM lone\n");
    snprintf(tarpath, sizeof(tarpath), "%s/lone", tmp);
    fd = open(tarpath, O_RDONLY | O_CLOEXEC);
    o.stdin_fd = fd;
    assert_int_equal(tug_context_open(&o, &c, NULL), 0);
    close(fd);
    assert_string_equal(tug_context_dockerfile(c, NULL), "FROM lone\n");
    assert_string_equal(tug_context_dockerfile_name(c), "-");
    assert_null(tug_context_dir(c));
    resolve_fails(c, "anything",
                  "failed to compute cache key: failed to calculate checksum of "
                  "ref context: \"/anything\": not found");
    tug_context_free(c);
}

/* Without openat2 (an old kernel, or a seccomp profile that refuses it): the same answers
 * through the component-by-component fallback. */
static void test_without_openat2(void **state)
{
    have_openat2 = 0;
    test_resolve(state);
    test_symlinks(state);
    test_wildcards(state);
    have_openat2 = -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open),     cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_symlinks), cmocka_unit_test(test_wildcards),
        cmocka_unit_test(test_checksum), cmocka_unit_test(test_hash_cache),
        cmocka_unit_test(test_stdin),    cmocka_unit_test(test_without_openat2),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
