/* The build cache as the executor uses it: a step's lookup (this store's rows, then the records
 * of the --cache-from images), why a step missed, what a row remembers of the step's inputs,
 * and the record an image carries of its steps' keys (docs/build-cache.md). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../util/cleanup.h"
#include "../util/digest.h"
#include "../util/strutil.h"
#include "builder.h"
#include "cache.h"

/* ---- what a step read ---- */

/* A short sum of one entry as the content checksum sees it: it changes when the entry does. */
static void entry_sum(tug_sha256 *h, const tug_copy_entry *e, char out[17])
{
    char meta[96];
    int n = snprintf(meta, sizeof(meta), "%o %u %u ", (unsigned)e->st.st_mode,
                     (unsigned)e->st.st_uid, (unsigned)e->st.st_gid);
    tug_sha256_update(h, meta, (size_t)n);
    tug_sha256_update(h, e->digest, strlen(e->digest) + 1);
    if (e->link)
        tug_sha256_update(h, e->link, strlen(e->link));
    char d[TUG_DIGEST_LEN + 1];
    tug_sha256_final(h, d);
    memcpy(out, tug_digest_hex(d), 16);
    out[16] = '\0';
}

/* A match's entries, path -> sum; NULL when the checksum took the match whole from its cache
 * (its files were not read this time). */
static json_t *match_entries(tug_sha256 *h, const tug_copy_match *m)
{
    for (size_t i = 0; i < m->n_entries; i++)
        if (S_ISREG(m->entries[i].st.st_mode) && m->entries[i].digest[0] == '\0')
            return NULL;
    json_t *o = json_object();
    for (size_t i = 0; o && i < m->n_entries; i++) {
        char sum[17];
        entry_sum(h, &m->entries[i], sum);
        json_object_set_new(o, m->entries[i].rel, json_string(sum));
    }
    return o;
}

static json_t *find_match(json_t *files, const char *path)
{
    size_t i;
    json_t *m;
    json_array_foreach(files, i, m)
    {
        const char *p = json_string_value(json_object_get(m, "path"));
        if (p && strcmp(p, path) == 0)
            return m;
    }
    return NULL;
}

/* [{path, sum, entries}] per match; a match not read this time keeps the entries the previous
 * row had for the same sum. */
static json_t *files_json(const tug_copy_sources *srcs, json_t *prev_files)
{
    tug_error *ignored = NULL;
    cleanup_sha256 tug_sha256 *h = tug_sha256_new(&ignored);
    tug_error_free(ignored);
    json_t *a = json_array();
    for (size_t i = 0; h && a && i < srcs->n_matches; i++) {
        const tug_copy_match *m = &srcs->matches[i];
        json_t *entries = match_entries(h, m);
        json_t *pm = entries ? NULL : find_match(prev_files, m->path);
        const char *psum = json_string_value(json_object_get(pm, "sum"));
        if (psum && strcmp(psum, m->digest) == 0)
            entries = json_incref(json_object_get(pm, "entries"));
        json_array_append_new(
            a, json_pack("{s:s,s:s,s:o?}", "path", m->path, "sum", m->digest, "entries", entries));
    }
    return a;
}

/* {args, detail, files}: what the step's row remembers. */
static json_t *step_inputs(const tug_stage *st, const bld_cache_step *cs, json_t *prev)
{
    json_t *in = json_pack("{s:o,s:s}", "args", st->args ? json_deep_copy(st->args) : json_object(),
                           "detail", cs->detail ? cs->detail : "");
    if (in && cs->srcs)
        json_object_set_new(in, "files", files_json(cs->srcs, json_object_get(prev, "files")));
    return in;
}

/* ---- why a step missed ---- */

/* The instruction names $name or ${name...}. */
static bool mentions(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strchr(text, '$'); p; p = strchr(p + 1, '$')) {
        const char *q = p[1] == '{' ? p + 2 : p + 1;
        if (strncmp(q, name, n) == 0 && !(isalnum((unsigned char)q[n]) || q[n] == '_'))
            return true;
    }
    return false;
}

static const char *arg_shown(json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : "unset";
}

static char *args_reason(const char *kind, const char *text, json_t *old, json_t *now)
{
    const char *name;
    json_t *v;
    json_object_foreach(now, name, v)
    {
        json_t *was = json_object_get(old, name);
        if (json_equal(was ? was : json_null(), v) ||
            (strcmp(kind, "RUN") != 0 && !mentions(text, name)))
            continue;
        char *r = NULL;
        return asprintf(&r, "build arg %s changed (was %s, now %s)", name, arg_shown(was),
                        arg_shown(v)) < 0
                   ? NULL
                   : r;
    }
    return NULL;
}

static char *source_path(const char *path, const char *rel)
{
    char *p = NULL;
    if (asprintf(&p, "%s%s%s", path, *path && *rel ? "/" : "", rel) < 0)
        return NULL;
    if (*p == '\0') {
        free(p);
        p = strdup(".");
    }
    return p;
}

static char *source_reason(const char *kind, const char *path, const char *rel, const char *what)
{
    cleanup_free char *p = source_path(path, rel);
    char *r = NULL;
    return p && asprintf(&r, "%s source %s %s", kind, p, what) >= 0 ? r : NULL;
}

/* The first source added, removed or changed between two files lists. */
static char *files_reason(const char *kind, json_t *old, json_t *now)
{
    size_t i;
    json_t *m;
    json_array_foreach(now, i, m)
    {
        const char *path = json_string_value(json_object_get(m, "path"));
        json_t *om = find_match(old, path);
        if (om == NULL)
            return source_reason(kind, path, "", "added");
        if (json_equal(json_object_get(om, "sum"), json_object_get(m, "sum")))
            continue;
        json_t *oe = json_object_get(om, "entries"), *ne = json_object_get(m, "entries");
        const char *rel;
        json_t *v;
        json_object_foreach(ne, rel, v)
        {
            json_t *was = json_object_get(oe, rel);
            if (json_is_object(oe) && (was == NULL || !json_equal(was, v)))
                return source_reason(kind, path, rel, was ? "changed" : "added");
        }
        json_object_foreach(oe, rel, v)
        {
            if (json_is_object(ne) && json_object_get(ne, rel) == NULL)
                return source_reason(kind, path, rel, "removed");
        }
        return source_reason(kind, path, "", "changed");
    }
    json_array_foreach(old, i, m)
    {
        const char *path = json_string_value(json_object_get(m, "path"));
        if (find_match(now, path) == NULL)
            return source_reason(kind, path, "", "removed");
    }
    return NULL;
}

/* The first ENV entry that differs, by name. */
static char *env_reason(json_t *oe, json_t *ne)
{
    size_t i;
    json_t *e;
    json_array_foreach(ne, i, e)
    {
        const char *kv = json_string_value(e);
        if (kv && !json_equal(e, json_array_get(oe, i))) {
            const char *eq = strchr(kv, '=');
            char *r = NULL;
            return asprintf(&r, "ENV %.*s changed", eq ? (int)(eq - kv) : (int)strlen(kv), kv) < 0
                       ? NULL
                       : r;
        }
    }
    return strdup("ENV changed");
}

/* The key's detail (RUN: argv, env, user, cwd, network, hosts; COPY and ADD: sum, dest,
 * chown, chmod, inline, paths; WORKDIR: path and user): the first part that differs. */
static char *detail_reason(const char *kind, const char *old_detail, const char *detail)
{
    static const struct {
        const char *field, *reason;
    } parts[] = {{"argv", "SHELL changed"},
                 {"user", "USER changed"},
                 {"cwd", "WORKDIR changed"},
                 {"network", "RUN --network changed"},
                 {"hosts", "--add-host changed"},
                 {"sum", "--from source changed"},
                 {"dest", "destination changed"},
                 {"dir", "destination changed"},
                 {"chown", "--chown changed"},
                 {"chmod", "--chmod changed"},
                 {"inline", "heredoc changed"},
                 {"paths", "sources changed"}};
    if (strcmp(kind, "WORKDIR") == 0) {
        size_t n = strcspn(detail, "\n");
        return strdup(strncmp(old_detail, detail, n) != 0 || old_detail[n] != '\n'
                          ? "WORKDIR changed"
                          : "USER changed");
    }
    json_t *o = json_loads(old_detail, 0, NULL), *n = json_loads(detail, 0, NULL);
    char *r = NULL;
    json_t *oe = json_object_get(o, "env"), *ne = json_object_get(n, "env");
    if (!json_equal(oe, ne))
        r = env_reason(oe, ne);
    for (size_t i = 0; r == NULL && i < TUG_ARRAY_SIZE(parts); i++)
        if (!json_equal(json_object_get(o, parts[i].field), json_object_get(n, parts[i].field)) &&
            asprintf(&r, "%s%s%s", parts[i].reason[0] == '-' ? kind : "",
                     parts[i].reason[0] == '-' ? " " : "", parts[i].reason) < 0)
            r = NULL;
    json_decref(o);
    json_decref(n);
    return r;
}

/* Why the step missed, against the row it is the new version of. */
static char *miss_reason(builder *b, const bld_cache_step *cs, const tug_build_cache_inputs *prev,
                         json_t *old, json_t *now)
{
    char *r = NULL;
    if (strcmp(prev->parent, cs->parent ? cs->parent : "") != 0) {
        if (b->missed[0] && asprintf(&r, "earlier step %s changed", b->missed) >= 0)
            return r;
        return strdup("parent layer changed (the FROM image or an earlier step)");
    }
    if (strcmp(prev->text, cs->text) != 0) {
        size_t n = strlen(prev->text);
        return asprintf(&r, "instruction changed (was: %.*s%s)", n > 60 ? 57 : (int)n, prev->text,
                        n > 60 ? "..." : "") < 0
                   ? NULL
                   : r;
    }
    r = args_reason(cs->kind, cs->text, json_object_get(old, "args"), json_object_get(now, "args"));
    if (r == NULL && json_object_get(now, "files"))
        r = files_reason(cs->kind, json_object_get(old, "files"), json_object_get(now, "files"));
    const char *od = json_string_value(json_object_get(old, "detail"));
    if (r == NULL && od && strcmp(od, cs->detail) != 0)
        r = detail_reason(cs->kind, od, cs->detail);
    return r;
}

/* A miss: say why on the vertex when an earlier version of the step is known, and keep the
 * inputs for the step's row. */
static int explain_miss(builder *b, const tug_stage *st, int v, bld_cache_step *cs, tug_error **err)
{
    tug_build_cache_inputs step = {
        .parent = cs->parent ? cs->parent : "", .kind = cs->kind, .text = cs->text};
    tug_build_cache_inputs prev = {0};
    int got = tug_build_cache_previous(b->s, &step, &prev, err);
    if (got < 0)
        return -1;
    json_t *old = got ? json_loads(prev.inputs, 0, NULL) : NULL;
    cs->inputs = step_inputs(st, cs, old);
    if (got) {
        cleanup_free char *why = miss_reason(b, cs, &prev, old, cs->inputs);
        bld_ev_status(b, v, "cache miss: %s", why ? why : "inputs changed");
    }
    json_decref(old);
    tug_build_cache_inputs_clear(&prev);
    return 0;
}

/* ---- --cache-from ---- */

/* Every entry of an image's record names a layer of its rootfs, at that place. */
static bool record_matches(const tug_image *img, json_t *rec)
{
    json_t *ids = json_object_get(json_object_get(img->config, "rootfs"), "diff_ids");
    size_t i;
    json_t *e;
    json_array_foreach(rec, i, e)
    {
        const char *key = json_string_value(json_object_get(e, "key"));
        json_t *layer = json_object_get(e, "layer");
        if (key == NULL || strlen(key) != 64 || strspn(key, "0123456789abcdef") != 64 ||
            !json_is_integer(layer) || !json_is_integer(json_object_get(e, "created")) ||
            json_integer_value(json_object_get(e, "created")) < 0)
            return false;
        json_int_t l = json_integer_value(layer);
        if (l == -1)
            continue;
        const char *d = json_string_value(json_object_get(e, "diff_id"));
        if (l < 0 || (size_t)l >= json_array_size(ids) || (size_t)l >= img->n_layers || !d ||
            !json_equal(json_array_get(ids, (size_t)l), json_object_get(e, "diff_id")) ||
            strcmp(img->layers[l].diff_id, d) != 0)
            return false;
    }
    return true;
}

int bld_cache_from_open(builder *b, tug_error **err)
{
    size_t n = 0;
    for (const char *const *c = b->o->cache_from; c && *c; c++)
        n++;
    if (n == 0)
        return 0;
    b->from_imgs = calloc(n, sizeof(*b->from_imgs));
    b->from_keys = json_object();
    if (b->from_imgs == NULL || b->from_keys == NULL)
        return tug_error_set(err, ENOMEM, "build");
    for (const char *const *c = b->o->cache_from; *c; c++) {
        int v = bld_ev_start(b, "importing cache manifest from %s", *c);
        tug_image *img = NULL;
        tug_error *miss = NULL;
        if (tug_store_find_image(b->s, *c, &img, &miss) < 0) {
            tug_error_free(miss);
            bld_ev_status(b, v,
                          "WARNING: --cache-from %s: no such image in the store (pull it "
                          "first); no step comes from it",
                          *c);
            bld_ev_done(b, v);
            continue;
        }
        b->from_imgs[b->n_from++] = img;
        json_t *rec = json_object_get(img->config, BLD_CACHE_RECORD);
        if (!json_is_array(rec))
            bld_ev_status(b, v,
                          "WARNING: --cache-from %s: the image has no build cache record "
                          "(tug writes one in the images it builds); no step comes from it",
                          *c);
        else if (!record_matches(img, rec))
            bld_ev_status(b, v,
                          "WARNING: --cache-from %s: its build cache record does not "
                          "match its layers; not used",
                          *c);
        else {
            size_t i;
            json_t *e;
            json_array_foreach(rec, i, e)
            {
                const char *key = json_string_value(json_object_get(e, "key"));
                if (json_object_get(b->from_keys, key) == NULL)
                    json_object_set_new(b->from_keys, key,
                                        json_pack("{s:I,s:O,s:O}", "image",
                                                  (json_int_t)(b->n_from - 1), "layer",
                                                  json_object_get(e, "layer"), "created",
                                                  json_object_get(e, "created")));
            }
        }
        bld_ev_done(b, v);
    }
    return 0;
}

/* A step an image of --cache-from made: its layer, when it sits on the stage's top layer. */
static int cache_from_get(builder *b, const tug_stage *st, const bld_cache_step *cs,
                          tug_image_layer *ret, long long *ret_created, tug_error **err)
{
    json_t *e = json_object_get(b->from_keys, cs->hex);
    if (e == NULL)
        return 0;
    const tug_image *img = b->from_imgs[json_integer_value(json_object_get(e, "image"))];
    json_int_t l = json_integer_value(json_object_get(e, "layer"));
    long long created = json_integer_value(json_object_get(e, "created"));
    if (l < 0) {
        *ret = (tug_image_layer){0};
        *ret_created = created;
        return 1;
    }
    const tug_image_layer *il = &img->layers[l];
    char chain[72];
    tug_chain_id(tug_stage_top_chain(st), il->diff_id, chain);
    if (strcmp(chain, il->chain_id) != 0 || !tug_store_has_layer(b->s, il->chain_id))
        return 0;
    tug_image_layer c = {
        .chain_id = strdup(il->chain_id),
        .diff_id = strdup(il->diff_id),
        .blob_digest = il->blob_digest ? strdup(il->blob_digest) : NULL,
        .media_type = il->media_type ? strdup(il->media_type) : NULL,
        .blob_size = il->blob_size,
        .size = il->size,
    };
    if (!c.chain_id || !c.diff_id || (il->blob_digest && !c.blob_digest) ||
        (il->media_type && !c.media_type)) {
        tug_build_layer_clear(&c);
        return tug_error_set(err, ENOMEM, "build");
    }
    *ret = c;
    *ret_created = created;
    return 1;
}

/* ---- the lookup, the row, the record ---- */

int bld_cache_get(builder *b, const tug_stage *st, int v, bld_cache_step *cs, tug_image_layer *ret,
                  long long *ret_created, tug_error **err)
{
    tug_build_cache_key(cs->key, cs->hex);
    cs->parent = tug_stage_top_chain(st);
    int got = 0;
    if (b->o->no_cache) {
        if (v > 0)
            bld_ev_status(b, v, "cache miss: --no-cache");
    } else {
        got = tug_build_cache_get(b->s, cs->hex, ret, ret_created, err);
        if (got == 0) {
            got = cache_from_get(b, st, cs, ret, ret_created, err);
            cs->hit_from_image = got == 1;
        }
        if (got == 0 && v > 0 && explain_miss(b, st, v, cs, err) < 0)
            return -1;
    }
    if (got == 0 && v > 0)
        snprintf(b->missed, sizeof(b->missed), "%s", b->label);
    return got;
}

void bld_cache_put(builder *b, const tug_stage *st, bld_cache_step *cs, const tug_image_layer *l,
                   long long created)
{
    bool meta = strcmp(cs->kind, "META") == 0;
    if (!meta && cs->inputs == NULL)
        cs->inputs = step_inputs(st, cs, NULL);
    cleanup_free char *inputs = cs->inputs ? json_dumps(cs->inputs, JSON_COMPACT) : NULL;
    tug_build_cache_inputs in = {.parent = cs->parent ? cs->parent : "",
                                 .kind = cs->kind,
                                 .text = cs->text,
                                 .inputs = inputs};
    /* a cache that cannot be written costs the next build time, never this one */
    cleanup_error tug_error *ignored = NULL;
    tug_build_cache_put(b->s, cs->hex, l, created, cs->text, meta ? NULL : &in, &ignored);
}

int bld_cache_note(tug_stage *st, const char *hex, bool layer, long long created, tug_error **err)
{
    if (st->cache_record == NULL && (st->cache_record = json_array()) == NULL)
        return tug_error_set(err, ENOMEM, "build");
    json_int_t l = layer ? (json_int_t)st->n_layers - 1 : -1;
    json_t *e = json_pack("{s:s,s:I,s:s?,s:I}", "key", hex, "layer", l, "diff_id",
                          layer ? st->layers[l].diff_id : NULL, "created", (json_int_t)created);
    if (e == NULL || json_array_append_new(st->cache_record, e) < 0)
        return tug_error_set(err, ENOMEM, "build");
    return 0;
}

int bld_cached_step(builder *b, tug_stage *st, int v, bld_cache_step *cs, const char *created_by,
                    tug_error **err)
{
    tug_image_layer hit = {0};
    long long created = 0;
    int got = bld_cache_get(b, st, v, cs, &hit, &created, err);
    if (got <= 0)
        return got;
    /* taken from an image: this store's cache has it from now on */
    if (cs->hit_from_image)
        bld_cache_put(b, st, cs, &hit, created);
    bool layer = hit.chain_id != NULL;
    st->created = created;
    st->nsec = 0;
    int r = layer ? tug_stage_push_layer(st, &hit, err) : 0;
    tug_build_layer_clear(&hit);
    if (r == 0)
        r = bld_cache_note(st, cs->hex, layer, created, err);
    if (r == 0)
        r = tug_stage_add_history(st, created_by, !layer, err);
    if (r < 0)
        return -1;
    b->step_cached = true;
    bld_ev_cached(b, v);
    return 1;
}

void bld_cache_step_clear(bld_cache_step *cs)
{
    json_decref(cs->inputs);
    cs->inputs = NULL;
}
