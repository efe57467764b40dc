/* COPY and ADD: the sources (the context, heredocs, another stage or image), the destination
 * as docker reads it, the cache key over the sources' contents. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../image/image.h"
#include "../image/manifest.h"
#include "../container/rootfs.h"
#include "../image/reference.h"
#include "../runtime/volume.h"
#include "../store/diff.h"
#include "../store/imgconfig.h"
#include "../util/cleanup.h"
#include "../util/digest.h"
#include "../util/fs.h"
#include "../util/strutil.h"
#include "addurl.h"
#include "builder.h"
#include "cache.h"
#include "fsops.h"
#include "shell.h"
#include "step.h"

/* ---- COPY and ADD ---- */

/* ADD from a URL: downloaded by the builder for the cache key, or with --checksum only when the
 * step runs (the checksum is the key). */
typedef struct add_url {
    const char *url;
    char *name;          /* the file's name */
    tug_fs_inline *file; /* the download: its fd is -1 until it is downloaded */
    char digest[TUG_DIGEST_LEN + 1];
} add_url;

typedef struct copy_job {
    tug_fs_copy fc;
    /* COPY --from: the other rootfs's layers and the paths in it */
    char **from_lowers;
    size_t n_from;
    const char *const *from_paths;
    size_t n_from_paths;
    const char *scratch; /* where the other rootfs is mounted in the child */
    add_url *urls;
    size_t n_urls;
    const char *checksum; /* ADD --checksum */
    const tug_df_instruction *in;
    const char *ingest; /* where downloads are written */
} copy_job;

/* Download u into its file; with --checksum, the content must have that digest. */
static int fetch_url(const copy_job *j, add_url *u, tug_error **err)
{
    tug_download d;
    if (tug_download_url(u->url, j->ingest, &d, err) < 0)
        return tug_error_wrap(err, "%s:%d: ADD %s", j->in->file, j->in->line, u->url);
    u->file->fd = d.fd;
    u->file->mtime = d.mtime;
    snprintf(u->digest, sizeof(u->digest), "%s", d.digest);
    if (j->checksum && strcmp(j->checksum, d.digest) != 0)
        return tug_error_user(err, "%s:%d: ADD %s: checksum mismatch: --checksum is %s, the "
                                   "download is %s",
                              j->in->file, j->in->line, u->url, j->checksum, d.digest);
    return 0;
}

static int copy_in(int rootfd, void *ud, tug_error **err)
{
    copy_job *j = ud;
    for (size_t i = 0; i < j->n_urls; i++)
        if (j->urls[i].file->fd < 0 && fetch_url(j, &j->urls[i], err) < 0)
            return -1;
    if (j->from_paths == NULL)
        return tug_fs_copy_run(rootfd, &j->fc, err);
    int from = tug_mount_layers_readonly((const char *const *)j->from_lowers, j->n_from,
                                       j->scratch, err);
    if (from < 0)
        return -1;
    j->fc.from_root = from;
    int r = tug_fs_copy_from(rootfd, &j->fc, j->from_paths, j->n_from_paths, err);
    close(from);
    return r;
}

/* COPY --from=NAME: an earlier stage (by name or index), else an image. */
int bld_copy_source_stage(builder *b, const char *from, const tug_stage **ret_stage,
                             tug_image **ret_img, tug_error **err)
{
    *ret_stage = NULL;
    *ret_img = NULL;
    char *end;
    long idx = strtol(from, &end, 10);
    for (size_t i = 0; i < b->df->n_stages; i++) {
        tug_stage *s = &b->stages[i];
        if ((s->name && strcasecmp(s->name, from) == 0) ||
            (*end == '\0' && end != from && idx == (long)i)) {
            if (s == b->cur || !s->done)
                return tug_error_user(err, "COPY --from=%s: the stage is not built before this "
                                           "one (a stage can copy only from an earlier one)",
                                      from);
            *ret_stage = s;
            return 0;
        }
    }
    return bld_base_image(b, from, ret_img, err);
}

/* What a COPY or ADD step works with, read from its instruction. */
typedef struct copy_plan {
    tug_df_copy *cp;
    copy_job j;
    char *dest;
    const char **paths; /* local sources (or --from paths) */
    size_t n_paths;
    tug_fs_inline *inl; /* heredocs */
    size_t n_inl;
    bool wild;
    tug_copy_sources *srcs;
    tug_image *from_img;
    tug_stage from_tmp;
    char digest[TUG_DIGEST_LEN + 1];
    const char *sum; /* what the sources are, for the key */
} copy_plan;

static void copy_plan_clear(copy_plan *p)
{
    for (size_t i = 0; i < p->j.n_urls; i++) {
        if (p->j.urls[i].file->fd >= 0)
            close(p->j.urls[i].file->fd);
        free(p->j.urls[i].name);
    }
    free(p->j.urls);
    if (p->j.from_lowers) {
        for (size_t i = 0; p->j.from_lowers[i]; i++)
            free(p->j.from_lowers[i]);
        free(p->j.from_lowers);
    }
    tug_stage_clear(&p->from_tmp);
    tug_image_free(p->from_img);
    tug_copy_sources_free(p->srcs);
    free(p->inl);
    free(p->paths);
    free(p->dest);
    tug_df_free(p->cp);
}

/* ADD's flags that tug reads differently from COPY's, checked once. */
static int plan_add_flags(const tug_df_instruction *in, const tug_df_copy *cp, tug_error **err)
{
    if (cp->keep_git_dir >= 0)
        return tug_error_user(err, "%s:%d: ADD --keep-git-dir is for git sources, which tug "
                                   "does not support: clone the repository in a RUN step",
                              in->file, in->line);
    if (cp->checksum && tug_add_checksum_valid(cp->checksum) < 0)
        return tug_error_user(err, "%s:%d: invalid ADD --checksum %s: tug checks sha256:<64 hex "
                                   "digits>",
                              in->file, in->line, cp->checksum);
    if (cp->checksum && cp->n_sources > 1)
        return tug_error_user(err, "%s:%d: ADD --checksum checks one source: give each URL an "
                                   "ADD of its own",
                              in->file, in->line);
    return 0;
}

/* An ADD source that is a URL: a download to make (git: a clear refusal). */
static int plan_url(const tug_df_instruction *in, const tug_df_copy *cp, const char *src,
                    tug_add_kind kind, copy_plan *p, tug_error **err)
{
    if (kind == TUG_ADD_GIT)
        return tug_error_user(err, "%s:%d: ADD from a git repository (%s) is not supported by "
                                   "tug: clone it in a RUN step",
                              in->file, in->line, src);
    if (cp->unpack == 1)
        return tug_error_user(err, "%s:%d: ADD --unpack=true of a URL (%s) is not supported by "
                                   "tug: download it and unpack it in a RUN step",
                              in->file, in->line, src);
    char *name = tug_url_file_name(src);
    if (name == NULL)
        return tug_error_set(err, ENOMEM, "build");
    /* docker's mode for a download; --chmod and --chown apply after it */
    tug_fs_inline *f = &p->inl[p->n_inl++];
    *f = (tug_fs_inline){.name = name, .fd = -1, .mode = 0600};
    add_url *u = &p->j.urls[p->j.n_urls++];
    u->url = src;
    u->name = name;
    u->file = f;
    return 0;
}

/* Sources, heredocs and the destination of the instruction. */
static int plan_sources(const tug_stage *st, const tug_df_instruction *in, copy_plan *p,
                        tug_error **err)
{
    tug_df_copy *cp = p->cp;
    p->paths = calloc(cp->n_sources + 1, sizeof(char *));
    p->inl = calloc(cp->n_sources + 1, sizeof(*p->inl));
    p->j.urls = calloc(cp->n_sources + 1, sizeof(*p->j.urls));
    if (p->paths == NULL || p->inl == NULL || p->j.urls == NULL)
        return tug_error_set(err, ENOMEM, "build");
    if (cp->add && plan_add_flags(in, cp, err) < 0)
        return -1;
    for (size_t i = 0; i < cp->n_sources; i++) {
        const tug_df_source *s = &cp->sources[i];
        if (s->data) {
            p->inl[p->n_inl++] = (tug_fs_inline){.name = s->path, .data = s->data, .fd = -1,
                                                 .mode = 0644};
            continue;
        }
        tug_add_kind kind = cp->add ? tug_add_source_kind(s->path) : TUG_ADD_LOCAL;
        if (kind != TUG_ADD_LOCAL) {
            if (plan_url(in, cp, s->path, kind, p, err) < 0)
                return -1;
            continue;
        }
        if (cp->checksum)
            return tug_error_user(err, "%s:%d: ADD --checksum applies to http(s) sources only, "
                                       "not to %s",
                                  in->file, in->line, s->path);
        p->wild |= tug_glob_has_wildcards(s->path);
        p->paths[p->n_paths++] = s->path;
    }
    /* the destination: relative to WORKDIR; a trailing / or several sources make it a dir */
    size_t dl = strlen(cp->dest);
    bool slash = dl > 0 && cp->dest[dl - 1] == '/';
    if (cp->n_sources > 1 && !slash)
        return tug_error_user(err, "%s:%d: When using %s with more than one source file, the "
                                   "destination must be a directory and end with a /",
                              in->file, in->line, cp->add ? "ADD" : "COPY");
    p->dest = cp->dest[0] == '/' ? tug_path_clean_abs(cp->dest) : bld_join_workdir(st, cp->dest);
    if (p->dest == NULL)
        return tug_error_set(err, ENOMEM, "build");
    p->j.fc.dest = p->dest;
    p->j.fc.dest_is_dir = slash || cp->n_sources > 1 || p->wild || strcmp(cp->dest, ".") == 0;
    p->j.fc.chown = cp->chown;
    p->j.fc.chmod = -1;
    p->j.fc.from_root = -1;
    if (cp->chmod) {
        char *end;
        long m = strtol(cp->chmod, &end, 8);
        if (*cp->chmod == '\0' || *end != '\0' || m < 0 || m > 07777)
            return tug_error_user(err, "%s:%d: invalid chmod parameter %s: use octal bits (0755)",
                                  in->file, in->line, cp->chmod);
        p->j.fc.chmod = m;
    }
    p->j.fc.inlines = p->inl;
    p->j.fc.n_inlines = p->n_inl;
    /* a local file that is a tar is unpacked, unless --unpack=false */
    p->j.fc.unpack = cp->add && cp->unpack != 0;
    return 0;
}

/* URLs without --checksum are downloaded now: their content is in the cache key. With it, the
 * checksum is the key and the download waits for a miss. */
static int plan_downloads(copy_plan *p, const tug_df_instruction *in, tug_error **err)
{
    p->j.checksum = p->cp->checksum;
    p->j.in = in;
    for (size_t i = 0; i < p->j.n_urls; i++) {
        add_url *u = &p->j.urls[i];
        if (p->cp->checksum) {
            snprintf(u->digest, sizeof(u->digest), "%s", p->cp->checksum);
            continue;
        }
        if (fetch_url(&p->j, u, err) < 0)
            return -1;
    }
    return 0;
}

/* COPY --from: the paths are read in the other stage's (or image's) layers. */
static int plan_from(builder *b, copy_plan *p, tug_error **err)
{
    const tug_stage *from_st = NULL;
    if (bld_copy_source_stage(b, p->cp->from, &from_st, &p->from_img, err) < 0)
        return -1;
    if (p->from_img) {
        if (tug_stage_from_image(&p->from_tmp, p->from_img, err) < 0)
            return -1;
        from_st = &p->from_tmp;
    }
    const char *top = tug_stage_top_chain(from_st);
    p->sum = top ? top : "scratch";
    p->j.from_lowers = bld_lower_dirs(b, from_st, err);
    p->j.n_from = from_st->n_layers;
    p->j.from_paths = p->paths;
    p->j.n_from_paths = p->n_paths;
    return p->j.from_lowers ? 0 : -1;
}

/* The context's sources, resolved and checksummed. */
static int plan_context(builder *b, const tug_df_instruction *in, copy_plan *p, tug_error **err)
{
    tug_copy_opts co = {.excludes = p->cp->excludes, .n_excludes = p->cp->n_excludes,
                        .parents = p->cp->parents};
    if (tug_context_resolve(b->ctx, p->paths, p->n_paths, &co, &p->srcs, err) < 0 ||
        tug_context_checksum(b->ctx, p->srcs, false, p->digest, err) < 0)
        return -1;
    p->sum = p->digest;
    p->j.fc.ctx = b->ctx;
    p->j.fc.sources = p->srcs;
    return 0;
}

static char *copy_detail(const copy_plan *p)
{
    const tug_df_copy *cp = p->cp;
    json_t *d = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "op", cp->add ? "add" : "copy", "sum",
                          p->sum ? p->sum : "", "dest", p->dest, "chown",
                          cp->chown ? cp->chown : "", "chmod", cp->chmod ? cp->chmod : "", "dir",
                          p->j.fc.dest_is_dir);
    if (d == NULL)
        return NULL;
    json_t *hd = json_array();
    for (size_t i = 0; i < p->n_inl; i++)
        json_array_append_new(hd, json_pack("[ss]", p->inl[i].name, p->inl[i].data));
    json_object_set_new(d, "inline", hd);
    json_t *fp = json_array();
    for (size_t i = 0; cp->from && i < p->n_paths; i++)
        json_array_append_new(fp, json_string(p->paths[i]));
    json_object_set_new(d, "paths", fp);
    /* ADD unpacks a tar: its rows are not those of the builds that copied it whole */
    if (cp->add)
        json_object_set_new(d, "unpack", json_boolean(p->j.fc.unpack));
    if (p->j.n_urls > 0) {
        /* a download's name and content (or --checksum), not its URL or time, as docker */
        json_t *u = json_array();
        for (size_t i = 0; i < p->j.n_urls; i++)
            json_array_append_new(u, json_pack("[ss]", p->j.urls[i].name, p->j.urls[i].digest));
        json_object_set_new(d, "urls", u);
    }
    char *t = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(d);
    return t;
}

int bld_do_copy(builder *b, tug_stage *st, const tug_df_instruction *in, tug_error **err)
{
    copy_plan p = {.sum = ""};
    int r = tug_df_read_copy(in, bld_stage_lookup, st, &p.cp, err);
    if (r == 0)
        r = plan_sources(st, in, &p, err);
    if (r == 0 && p.cp->from)
        r = plan_from(b, &p, err);
    else if (r == 0 && p.n_paths > 0)
        r = plan_context(b, in, &p, err);
    cleanup_free char *ingest = NULL;
    if (r == 0 && p.j.n_urls > 0) {
        if (asprintf(&ingest, "%s/ingest", b->s->root) < 0)
            r = tug_error_set(err, ENOMEM, "build");
        p.j.ingest = ingest;
        if (r == 0)
            r = plan_downloads(&p, in, err);
    }
    cleanup_free char *detail = r == 0 ? copy_detail(&p) : NULL;
    cleanup_free char *key = detail ? bld_key_text(st, p.cp->add ? "ADD" : "COPY", detail) : NULL;
    cleanup_free char *created_by = NULL;
    cleanup_free char *scratch = NULL;
    if (r == 0 && (key == NULL || asprintf(&created_by, "%s # buildkit", in->original) < 0 ||
                   asprintf(&scratch, "%s/tmp/from-%d", b->s->root, (int)getpid()) < 0))
        r = tug_error_set(err, ENOMEM, "build");
    if (r == 0) {
        char label[96];
        bld_step_label(b, label, sizeof(label));
        int v = bld_ev_start(b, "%s %s", label, in->original);
        p.j.scratch = scratch;
        bld_cache_step cs = {.kind = p.cp->add ? "ADD" : "COPY", .text = in->original,
                             .key = key, .detail = detail, .srcs = p.srcs};
        r = bld_fs_step(b, st, v, &cs, created_by, copy_in, &p.j, err);
        bld_cache_step_clear(&cs);
        /* COPY --from mounted the other rootfs there, in the step's own mount namespace: the
         * mounts went with it, the directories stay unless removed */
        if (p.j.from_paths != NULL) {
            tug_error *ignored = NULL;
            tug_rm_rf(scratch, &ignored);
            tug_error_free(ignored);
        }
    }
    copy_plan_clear(&p);
    return r;
}

