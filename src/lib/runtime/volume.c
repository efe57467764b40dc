/* Volumes and the mounts of a container. Parsers first (pure), then the store, then the
 * resolution of a create request's mounts, then copy-up. */
#include "volume.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "../store/db.h"
#include "../store/events.h"
#include "../util/cleanup.h"
#include "../util/fs.h"
#include "../util/strutil.h"
#include "container.h"

/* ---------------- parsers ---------------- */

void tug_mount_req_clear(tug_mount_req *m)
{
    if (m == NULL)
        return;
    free(m->source);
    free(m->target);
    free(m->propagation);
    json_decref(m->labels);
    json_decref(m->options);
    memset(m, 0, sizeof(*m));
}

bool tug_volume_name_valid(const char *name)
{
    static const char first[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    if (name == NULL || strlen(name) < 2 || strlen(name) > 255 || strchr(first, name[0]) == NULL)
        return false;
    for (const char *p = name + 1; *p; p++)
        if (strchr(first, *p) == NULL && *p != '_' && *p != '.' && *p != '-')
            return false;
    return true;
}

char *tug_path_clean_abs(const char *path)
{
    if (path == NULL || path[0] != '/')
        return NULL;
    size_t n = strlen(path);
    char *out = malloc(n + 2);
    if (out == NULL)
        return NULL;
    size_t len = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        const char *e = strchr(p, '/');
        size_t sl = e ? (size_t)(e - p) : strlen(p);
        if (sl == 0)
            break;
        if (sl == 1 && p[0] == '.') {
            /* nothing */
        } else if (sl == 2 && p[0] == '.' && p[1] == '.') {
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 0)
                len--; /* the slash */
        } else {
            out[len++] = '/';
            memcpy(out + len, p, sl);
            len += sl;
        }
        p += sl;
    }
    if (len == 0)
        out[len++] = '/';
    out[len] = '\0';
    return out;
}

static bool is_propagation(const char *s)
{
    static const char *const v[] = {"private", "rprivate", "shared", "rshared", "slave", "rslave"};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(v); i++)
        if (strcmp(s, v[i]) == 0)
            return true;
    return false;
}

/* A -v mode: comma list of ro|rw, nocopy, z|Z, one propagation. */
static bool mode_valid(const char *mode)
{
    cleanup_free char *m = strdup(mode);
    if (m == NULL || *m == '\0')
        return false;
    int rw = 0, label = 0, prop = 0, copy = 0;
    for (char *save = NULL, *t = strtok_r(m, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "ro") == 0 || strcmp(t, "rw") == 0)
            rw++;
        else if (strcmp(t, "z") == 0 || strcmp(t, "Z") == 0)
            label++;
        else if (strcmp(t, "nocopy") == 0)
            copy++;
        else if (is_propagation(t))
            prop++;
        else
            return false;
    }
    return rw <= 1 && label <= 1 && prop <= 1 && copy <= 1;
}

static void apply_mode(tug_mount_req *m, const char *mode)
{
    cleanup_free char *s = strdup(mode);
    for (char *save = NULL, *t = s ? strtok_r(s, ",", &save) : NULL; t;
         t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "ro") == 0)
            m->readonly = true;
        else if (strcmp(t, "nocopy") == 0)
            m->nocopy = true;
        else if (is_propagation(t)) {
            free(m->propagation);
            m->propagation = strdup(t);
        }
    }
}

static int set_target(tug_mount_req *m, const char *spec, const char *target, tug_error **err)
{
    if (*target == '\0')
        return tug_error_user(err, "invalid volume specification: '%s': the path inside the "
                                   "container is empty",
                              spec);
    if (target[0] != '/')
        return tug_error_user(err, "invalid volume specification: '%s': invalid mount path: "
                                   "'%s' mount path must be absolute",
                              spec, target);
    m->target = tug_path_clean_abs(target);
    if (m->target == NULL)
        return tug_error_set(err, ENOMEM, "parse %s", spec);
    if (strcmp(m->target, "/") == 0)
        return tug_error_user(err, "invalid volume specification: '%s': invalid specification: "
                                   "destination can't be '/'",
                              spec);
    return 0;
}

static int bad_volume_name(const char *name, tug_error **err)
{
    return tug_error_user(err,
                          "\"%s\" includes invalid characters for a local volume name, only "
                          "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a "
                          "host directory, use absolute path",
                          name);
}

/* A spec's paths end up in JSON (the container's config), which holds only UTF-8: one that
 * is not would be dropped silently there. */
static int check_utf8(const char *spec, const char *flag, tug_error **err)
{
    json_t *probe = json_string(spec);
    if (probe) {
        json_decref(probe);
        return 0;
    }
    return tug_error_user(err, "invalid %s specification: a path that is not valid UTF-8; give "
                               "the path in UTF-8",
                          flag);
}

int tug_mount_parse_volume_flag(const char *spec, tug_mount_req *ret, tug_error **err)
{
    if (check_utf8(spec, "volume", err) < 0)
        return -1;
    tug_mount_req m = {0};
    cleanup_free char *s = strdup(spec);
    if (s == NULL)
        return tug_error_set(err, ENOMEM, "parse %s", spec);
    char *parts[4] = {0};
    size_t n = 0;
    for (char *p = s; n < 4;) {
        parts[n++] = p;
        char *c = strchr(p, ':');
        if (c == NULL)
            break;
        *c = '\0';
        p = c + 1;
        if (n == 3) {
            n = 4; /* too many */
            break;
        }
    }
    if (*spec == '\0' || n > 3)
        return tug_error_user(err, "invalid volume specification: '%s'", spec);
    const char *src = NULL, *dst = NULL, *mode = NULL;
    if (n == 1)
        dst = parts[0];
    else if (n == 2 && parts[0][0] == '/' && mode_valid(parts[1])) {
        dst = parts[0];
        mode = parts[1];
    } else if (n == 2) {
        src = parts[0];
        dst = parts[1];
    } else {
        src = parts[0];
        dst = parts[1];
        mode = parts[2];
    }
    if (mode && !mode_valid(mode))
        return tug_error_user(err, "invalid volume specification: '%s': invalid mode: %s", spec,
                              mode);
    int r = set_target(&m, spec, dst, err);
    if (r < 0)
        goto fail;
    if (src == NULL) {
        m.type = TUG_MNT_VOLUME;
    } else if (*src == '\0') {
        r = tug_error_user(err, "invalid volume specification: '%s': the source is empty", spec);
        goto fail;
    } else if (src[0] == '/') {
        m.type = TUG_MNT_BIND;
        m.create_source = true;
        m.source = tug_path_clean_abs(src);
    } else if (!tug_volume_name_valid(src)) {
        r = bad_volume_name(src, err);
        goto fail;
    } else {
        m.type = TUG_MNT_VOLUME;
        m.source = strdup(src);
    }
    if (mode)
        apply_mode(&m, mode);
    if (m.type == TUG_MNT_BIND && m.nocopy) {
        r = tug_error_user(err, "invalid volume specification: '%s': nocopy is for volumes, "
                                "not for host paths",
                           spec);
        goto fail;
    }
    if (m.type == TUG_MNT_VOLUME && m.propagation) {
        r = tug_error_user(err, "invalid volume specification: '%s': propagation is for host "
                                "paths, not for volumes",
                           spec);
        goto fail;
    }
    *ret = m;
    return 0;
fail:
    tug_mount_req_clear(&m);
    return r;
}

static int parse_bool(const char *key, const char *v, bool *ret, tug_error **err)
{
    if (v == NULL || strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0)
        *ret = true;
    else if (strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0)
        *ret = false;
    else
        return tug_error_user(err, "invalid value for %s: %s (use true or false)", key, v);
    return 0;
}

static int add_kv(json_t **obj, const char *key, const char *kv, tug_error **err)
{
    const char *eq = strchr(kv, '=');
    if (eq == NULL || eq == kv)
        return tug_error_user(err, "invalid value for %s: '%s' (use key=value)", key, kv);
    if (*obj == NULL)
        *obj = json_object();
    cleanup_free char *k = strndup(kv, (size_t)(eq - kv));
    json_object_set_new(*obj, k, json_string(eq + 1));
    return 0;
}

int tug_mount_parse_mount_flag(const char *spec, tug_mount_req *ret, tug_error **err)
{
    if (check_utf8(spec, "mount", err) < 0)
        return -1;
    tug_mount_req m = {.type = TUG_MNT_VOLUME};
    cleanup_free char *s = strdup(spec);
    if (s == NULL)
        return tug_error_set(err, ENOMEM, "parse %s", spec);
    bool bind_opt = false, vol_opt = false, tmpfs_opt = false;
    int r = 0;
    const char *t;
    char *clean;
    for (char *save = NULL, *f = strtok_r(s, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(f, '=');
        const char *v = NULL;
        if (eq) {
            *eq = '\0';
            v = eq + 1;
        }
        bool need_value = strcmp(f, "readonly") != 0 && strcmp(f, "ro") != 0 &&
                          strcmp(f, "volume-nocopy") != 0 && strcmp(f, "bind-nonrecursive") != 0;
        if (need_value && v == NULL) {
            r = tug_error_user(err, "invalid field '%s' in --mount %s: must be a key=value pair",
                               f, spec);
            goto fail;
        }
        if (strcmp(f, "type") == 0) {
            if (strcmp(v, "volume") == 0)
                m.type = TUG_MNT_VOLUME;
            else if (strcmp(v, "bind") == 0)
                m.type = TUG_MNT_BIND;
            else if (strcmp(v, "tmpfs") == 0)
                m.type = TUG_MNT_TMPFS;
            else {
                r = tug_error_user(err, "invalid mount type '%s': use volume, bind or tmpfs", v);
                goto fail;
            }
        } else if (strcmp(f, "source") == 0 || strcmp(f, "src") == 0) {
            free(m.source);
            m.source = strdup(v);
        } else if (strcmp(f, "target") == 0 || strcmp(f, "destination") == 0 ||
                   strcmp(f, "dst") == 0) {
            free(m.target);
            m.target = strdup(v);
        } else if (strcmp(f, "readonly") == 0 || strcmp(f, "ro") == 0) {
            if ((r = parse_bool(f, v, &m.readonly, err)) < 0)
                goto fail;
        } else if (strcmp(f, "volume-nocopy") == 0) {
            vol_opt = true;
            if ((r = parse_bool(f, v, &m.nocopy, err)) < 0)
                goto fail;
        } else if (strcmp(f, "volume-opt") == 0) {
            vol_opt = true;
            if ((r = add_kv(&m.options, f, v, err)) < 0)
                goto fail;
        } else if (strcmp(f, "volume-label") == 0) {
            vol_opt = true;
            if ((r = add_kv(&m.labels, f, v, err)) < 0)
                goto fail;
        } else if (strcmp(f, "volume-driver") == 0) {
            vol_opt = true;
            if (strcmp(v, "local") != 0) {
                r = tug_error_user(err, "volume driver \"%s\" is not supported: tug has the "
                                        "local driver",
                                   v);
                goto fail;
            }
        } else if (strcmp(f, "bind-propagation") == 0) {
            bind_opt = true;
            if (!is_propagation(v)) {
                r = tug_error_user(err, "invalid bind-propagation '%s'", v);
                goto fail;
            }
            free(m.propagation);
            m.propagation = strdup(v);
        } else if (strcmp(f, "bind-nonrecursive") == 0) {
            bind_opt = true;
            if (v && strcmp(v, "true") != 0 && strcmp(v, "1") != 0 && strcmp(v, "false") != 0 &&
                strcmp(v, "0") != 0) {
                r = tug_error_user(err, "invalid value for bind-nonrecursive: %s (true or false)",
                                   v);
                goto fail;
            }
            m.nonrecursive = v == NULL || strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
        } else if (strcmp(f, "tmpfs-size") == 0) {
            tmpfs_opt = true;
            if (tug_parse_size(v, &m.tmpfs_size) < 0 || m.tmpfs_size <= 0) {
                r = tug_error_user(err, "invalid tmpfs-size '%s'", v);
                goto fail;
            }
        } else if (strcmp(f, "tmpfs-mode") == 0) {
            tmpfs_opt = true;
            char *end;
            unsigned long mode = strtoul(v, &end, 8);
            if (end == v || *end || mode > 07777) {
                r = tug_error_user(err, "invalid tmpfs-mode '%s' (use octal, like 1777)", v);
                goto fail;
            }
            m.tmpfs_mode = (unsigned)mode;
        } else if (strcmp(f, "consistency") == 0) {
            /* macOS only; docker accepts and ignores it on Linux */
        } else {
            r = tug_error_user(err, "unexpected key '%s' in '%s%s%s'", f, f, v ? "=" : "",
                               v ? v : "");
            goto fail;
        }
    }
    static const char *const tname[] = {"volume", "bind", "tmpfs"};
    t = tname[m.type];
    if (m.target == NULL || *m.target == '\0') {
        r = tug_error_user(err, "invalid mount config for type \"%s\": field Target must not be "
                                "empty",
                           t);
        goto fail;
    }
    if (m.target[0] != '/') {
        r = tug_error_user(err, "invalid mount config for type \"%s\": invalid mount path: '%s' "
                                "mount path must be absolute",
                           t, m.target);
        goto fail;
    }
    clean = tug_path_clean_abs(m.target);
    free(m.target);
    m.target = clean;
    if (m.target == NULL || strcmp(m.target, "/") == 0) {
        r = tug_error_user(err, "invalid mount config for type \"%s\": destination can't be "
                                "'/'",
                           t);
        goto fail;
    }
    if ((vol_opt && m.type != TUG_MNT_VOLUME) || (bind_opt && m.type != TUG_MNT_BIND) ||
        (tmpfs_opt && m.type != TUG_MNT_TMPFS)) {
        r = tug_error_user(err, "invalid mount config for type \"%s\": %s options do not apply",
                           t, vol_opt ? "volume" : bind_opt ? "bind" : "tmpfs");
        goto fail;
    }
    switch (m.type) {
    case TUG_MNT_BIND:
        if (m.source == NULL || *m.source == '\0') {
            r = tug_error_user(err, "invalid mount config for type \"bind\": field Source must "
                                    "not be empty");
            goto fail;
        }
        if (m.source[0] != '/') {
            r = tug_error_user(err, "invalid mount config for type \"bind\": invalid mount path: "
                                    "'%s' mount path must be absolute",
                               m.source);
            goto fail;
        }
        clean = tug_path_clean_abs(m.source);
        free(m.source);
        m.source = clean;
        break;
    case TUG_MNT_VOLUME:
        if (m.source && *m.source == '\0') {
            free(m.source);
            m.source = NULL;
        }
        if (m.source && !tug_volume_name_valid(m.source)) {
            r = bad_volume_name(m.source, err);
            goto fail;
        }
        break;
    case TUG_MNT_TMPFS:
        if (m.source && *m.source) {
            r = tug_error_user(err, "invalid mount config for type \"tmpfs\": field Source must "
                                    "not be specified");
            goto fail;
        }
        break;
    }
    *ret = m;
    return 0;
fail:
    tug_mount_req_clear(&m);
    return r;
}

int tug_mount_parse_volumes_from(const char *spec, char **ret_ctr, bool *ret_ro, tug_error **err)
{
    const char *colon = strrchr(spec, ':');
    bool ro = false;
    if (colon) {
        if (strcmp(colon + 1, "ro") == 0)
            ro = true;
        else if (strcmp(colon + 1, "rw") != 0)
            return tug_error_user(err, "invalid mode for --volumes-from %s: %s (use ro or rw)",
                                  spec, colon + 1);
    }
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    if (n == 0)
        return tug_error_user(err, "--volumes-from needs a container name or ID");
    char *c = strndup(spec, n);
    if (c == NULL)
        return tug_error_set(err, ENOMEM, "parse %s", spec);
    *ret_ctr = c;
    *ret_ro = ro;
    return 0;
}

json_t *tug_mount_req_to_json(const tug_mount_req *m)
{
    static const char *const tname[] = {"volume", "bind", "tmpfs"};
    json_t *o = json_object();
    json_object_set_new(o, "Type", json_string(tname[m->type]));
    json_object_set_new(o, "Source", json_string(m->source ? m->source : ""));
    json_object_set_new(o, "Target", json_string(m->target));
    if (m->readonly)
        json_object_set_new(o, "ReadOnly", json_true());
    if (m->type == TUG_MNT_VOLUME && (m->nocopy || m->labels || m->options)) {
        json_t *vo = json_object();
        if (m->nocopy)
            json_object_set_new(vo, "NoCopy", json_true());
        if (m->labels)
            json_object_set(vo, "Labels", m->labels);
        if (m->options) {
            json_t *dc = json_object();
            json_object_set_new(dc, "Name", json_string("local"));
            json_object_set(dc, "Options", m->options);
            json_object_set_new(vo, "DriverConfig", dc);
        }
        json_object_set_new(o, "VolumeOptions", vo);
    }
    if (m->type == TUG_MNT_BIND && (m->propagation || m->nonrecursive)) {
        json_t *bo = json_object();
        if (m->propagation)
            json_object_set_new(bo, "Propagation", json_string(m->propagation));
        if (m->nonrecursive)
            json_object_set_new(bo, "NonRecursive", json_true());
        json_object_set_new(o, "BindOptions", bo);
    }
    if (m->type == TUG_MNT_TMPFS && (m->tmpfs_size || m->tmpfs_mode)) {
        json_t *to = json_object();
        if (m->tmpfs_size)
            json_object_set_new(to, "SizeBytes", json_integer(m->tmpfs_size));
        if (m->tmpfs_mode)
            json_object_set_new(to, "Mode", json_integer(m->tmpfs_mode));
        json_object_set_new(o, "TmpfsOptions", to);
    }
    return o;
}

int tug_mount_req_from_json(json_t *j, tug_mount_req *ret, tug_error **err)
{
    tug_mount_req m = {0};
    const char *type = json_string_value(json_object_get(j, "Type"));
    const char *src = json_string_value(json_object_get(j, "Source"));
    const char *dst = json_string_value(json_object_get(j, "Target"));
    if (type == NULL || strcmp(type, "volume") == 0)
        m.type = TUG_MNT_VOLUME;
    else if (strcmp(type, "bind") == 0)
        m.type = TUG_MNT_BIND;
    else if (strcmp(type, "tmpfs") == 0)
        m.type = TUG_MNT_TMPFS;
    else
        return tug_error_user(err, "mount type \"%s\" is not supported", type);
    m.target = dst ? tug_path_clean_abs(dst) : NULL;
    if (m.target == NULL || strcmp(m.target, "/") == 0) {
        tug_mount_req_clear(&m);
        return tug_error_user(err, "invalid mount config: the target must be an absolute path "
                                   "other than /");
    }
    if (src && *src)
        m.source = strdup(src);
    if (m.type == TUG_MNT_BIND && (m.source == NULL || m.source[0] != '/')) {
        tug_mount_req_clear(&m);
        return tug_error_user(err, "invalid mount config for type \"bind\": the source must be "
                                   "an absolute path");
    }
    if (m.type == TUG_MNT_VOLUME && m.source && !tug_volume_name_valid(m.source)) {
        tug_mount_req_clear(&m);
        return bad_volume_name(src, err);
    }
    m.readonly = json_is_true(json_object_get(j, "ReadOnly"));
    json_t *vo = json_object_get(j, "VolumeOptions");
    m.nocopy = json_is_true(json_object_get(vo, "NoCopy"));
    json_t *l = json_object_get(vo, "Labels");
    m.labels = json_is_object(l) ? json_deep_copy(l) : NULL;
    json_t *o = json_object_get(json_object_get(vo, "DriverConfig"), "Options");
    m.options = json_is_object(o) ? json_deep_copy(o) : NULL;
    json_t *bo = json_object_get(j, "BindOptions");
    const char *prop = json_string_value(json_object_get(bo, "Propagation"));
    m.propagation = prop && is_propagation(prop) ? strdup(prop) : NULL;
    m.nonrecursive = json_is_true(json_object_get(bo, "NonRecursive"));
    json_t *to = json_object_get(j, "TmpfsOptions");
    m.tmpfs_size = json_integer_value(json_object_get(to, "SizeBytes"));
    m.tmpfs_mode = (unsigned)json_integer_value(json_object_get(to, "Mode"));
    *ret = m;
    return 0;
}

/* ---------------- the volume store ---------------- */

void tug_volume_free(tug_volume *v)
{
    if (v == NULL)
        return;
    free(v->name);
    json_decref(v->labels);
    json_decref(v->options);
    free(v);
}

void tug_volume_freep(tug_volume **v)
{
    tug_volume_free(*v);
}

void tug_volumes_free(tug_volume **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        tug_volume_free(v[i]);
    free(v);
}

static char *volume_dir(tug_store *s, const char *name)
{
    char *p = NULL;
    if (asprintf(&p, "%s/volumes/%s", s->root, name) < 0)
        return NULL;
    return p;
}

char *tug_volume_path(tug_store *s, const char *name)
{
    char *p = NULL;
    if (asprintf(&p, "%s/volumes/%s/_data", s->root, name) < 0)
        return NULL;
    return p;
}

static json_t *json_col(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    json_t *j = t ? json_loads(t, 0, NULL) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        j = json_object();
    }
    return j;
}

#define VOLUME_COLS "name, created, labels, options, anonymous"

static tug_volume *volume_from_row(sqlite3_stmt *st)
{
    tug_volume *v = calloc(1, sizeof(*v));
    if (v == NULL)
        return NULL;
    v->name = strdup((const char *)sqlite3_column_text(st, 0));
    v->created_ns = sqlite3_column_int64(st, 1);
    v->labels = json_col(st, 2);
    v->options = json_col(st, 3);
    v->anonymous = sqlite3_column_int(st, 4) != 0;
    return v;
}

static int check_options(json_t *options, tug_error **err)
{
    const char *k;
    json_t *v;
    json_object_foreach(options, k, v)
    {
        if (strcmp(k, "type") != 0 && strcmp(k, "device") != 0 && strcmp(k, "o") != 0)
            return tug_error_user(err, "invalid option key: \"%s\" (the local driver takes type, "
                                       "device and o)",
                                  k);
    }
    if (json_object_size(options) > 0 && (json_object_get(options, "type") == NULL ||
                                          json_object_get(options, "device") == NULL))
        return tug_error_user(err, "the local driver needs both type and device options "
                                   "(e.g. type=tmpfs,device=tmpfs)");
    return 0;
}

/* Directory, then row: a row never points at a missing directory. Call inside a write
 * transaction so that a concurrent `volume rm` cannot take the directory in between. */
static int volume_ensure(tug_store *s, const char *name, bool anonymous, json_t *labels,
                         json_t *options, tug_error **err)
{
    cleanup_free char *dir = volume_dir(s, name);
    cleanup_free char *data = tug_volume_path(s, name);
    cleanup_free char *top = NULL;
    if (dir == NULL || data == NULL || asprintf(&top, "%s/volumes", s->root) < 0)
        return tug_error_set(err, ENOMEM, "create volume %s", name);
    if (mkdir(top, 0701) < 0 && errno != EEXIST)
        return tug_error_set(err, errno, "create volume %s: mkdir %s", name, top);
    if (mkdir(dir, 0701) < 0 && errno != EEXIST)
        return tug_error_set(err, errno, "create volume %s: mkdir %s", name, dir);
    if (mkdir(data, 0755) < 0 && errno != EEXIST)
        return tug_error_set(err, errno, "create volume %s: mkdir %s", name, data);
    json_t *l = labels ? json_deep_copy(labels) : json_object();
    if (anonymous)
        json_object_set_new(l, TUG_VOLUME_ANON_LABEL, json_string(""));
    cleanup_free char *lj = json_dumps(l, JSON_COMPACT | JSON_SORT_KEYS);
    cleanup_free char *oj = options ? json_dumps(options, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(l);
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s, "INSERT OR IGNORE INTO volumes(name, created, labels, options, anonymous) "
           "VALUES (?,?,?,?,?)",
        err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, name);
    sqlite3_bind_int64(st, 2, tug_now_ns());
    BIND_TEXT(st, 3, lj);
    BIND_TEXT(st, 4, oj);
    sqlite3_bind_int(st, 5, anonymous);
    if (tug_db_step_done(s, st, err) < 0)
        return -1;
    if (sqlite3_changes(s->db) > 0)
        tug_event_emit(s, "volume", "create", name, "driver", "local", NULL);
    return 0;
}

int tug_volume_create(tug_store *s, const char *name, json_t *labels, json_t *options,
                      tug_volume **ret_vol, tug_error **err)
{
    char anon[65];
    if (name == NULL) {
        tug_random_hex(anon, 32);
        name = anon;
    } else if (!tug_volume_name_valid(name)) {
        return bad_volume_name(name, err);
    }
    if (options && check_options(options, err) < 0)
        return -1;
    if (tug_store_begin(s, err) < 0)
        return -1;
    if (volume_ensure(s, name, name == anon, labels, options, err) < 0) {
        tug_store_rollback(s);
        return tug_error_wrap(err, "create volume %s", name);
    }
    if (tug_store_commit(s, err) < 0)
        return -1;
    return ret_vol ? tug_volume_find(s, name, ret_vol, err) : 0;
}

int tug_volume_find(tug_store *s, const char *name, tug_volume **ret_vol, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st =
        tug_db_prepare(s, "SELECT " VOLUME_COLS " FROM volumes WHERE name = ?", err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, name);
    if (sqlite3_step(st) != SQLITE_ROW)
        return tug_error_not_found(err, "get %s: no such volume", name);
    *ret_vol = volume_from_row(st);
    return *ret_vol ? 0 : tug_error_set(err, ENOMEM, "volume");
}

int tug_volume_list(tug_store *s, tug_volume ***ret, size_t *ret_n, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st =
        tug_db_prepare(s, "SELECT " VOLUME_COLS " FROM volumes ORDER BY name", err);
    if (st == NULL)
        return -1;
    tug_volume **v = NULL;
    size_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        tug_volume **nv = realloc(v, (n + 1) * sizeof(*nv));
        tug_volume *one = volume_from_row(st);
        if (nv == NULL || one == NULL) {
            tug_volume_free(one);
            tug_volumes_free(nv ? nv : v, n);
            return tug_error_set(err, ENOMEM, "list volumes");
        }
        v = nv;
        v[n++] = one;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

int tug_volume_users(tug_store *s, const char *name, char ***ret_ids, size_t *ret_n,
                     tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s, "SELECT container_id FROM volume_users WHERE volume_name = ? ORDER BY container_id",
        err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, name);
    char **ids = calloc(1, sizeof(char *));
    size_t n = 0;
    while (ids && sqlite3_step(st) == SQLITE_ROW) {
        char **ni = realloc(ids, (n + 2) * sizeof(char *));
        if (ni == NULL)
            break;
        ids = ni;
        ids[n++] = strdup((const char *)sqlite3_column_text(st, 0));
        ids[n] = NULL;
    }
    if (ids == NULL)
        return tug_error_set(err, ENOMEM, "volume users");
    *ret_ids = ids;
    if (ret_n)
        *ret_n = n;
    return 0;
}

/* Inside a write transaction: the row goes and the directory is renamed aside; the caller
 * removes the renamed directory after commit. */
static int volume_drop(tug_store *s, const char *name, char **ret_trash, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "SELECT v.container_id, c.name FROM volume_users v LEFT JOIN containers c "
        "ON c.id = v.container_id WHERE v.volume_name = ? LIMIT 1",
        err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, name);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        const char *cname = (const char *)sqlite3_column_text(st, 1);
        return tug_error_conflict(err, "remove %s: volume is in use - [%s] (container %s)", name, id,
                              cname ? cname : "?");
    }
    cleanup_stmt sqlite3_stmt *del = tug_db_prepare(s, "DELETE FROM volumes WHERE name = ?", err);
    if (del == NULL)
        return -1;
    BIND_TEXT(del, 1, name);
    if (tug_db_step_done(s, del, err) < 0)
        return -1;
    if (sqlite3_changes(s->db) == 0)
        return tug_error_not_found(err, "get %s: no such volume", name);
    tug_event_emit(s, "volume", "destroy", name, "driver", "local", NULL);
    cleanup_free char *dir = volume_dir(s, name);
    char *trash = NULL;
    if (dir == NULL || asprintf(&trash, "%s/volumes/.rm-%d-%s", s->root, getpid(), name) < 0)
        return tug_error_set(err, ENOMEM, "remove %s", name);
    if (rename(dir, trash) < 0 && errno != ENOENT) {
        int e = errno;
        free(trash);
        return tug_error_set(err, e, "remove %s: rename %s", name, dir);
    }
    *ret_trash = trash;
    return 0;
}

int tug_volume_remove(tug_store *s, const char *name, tug_error **err)
{
    /* what removals killed before they finished set aside goes first */
    tug_store_sweep_dir(s, "volumes", ".rm-");
    if (tug_store_begin(s, err) < 0)
        return -1;
    cleanup_free char *trash = NULL;
    if (volume_drop(s, name, &trash, err) < 0) {
        tug_store_rollback(s);
        return -1;
    }
    if (tug_store_commit(s, err) < 0)
        return -1;
    /* what a crash leaves here, `system check` removes */
    return tug_rm_rf(trash, err);
}

long long tug_volume_size(tug_store *s, const char *name)
{
    cleanup_free char *data = tug_volume_path(s, name);
    long long size = 0;
    tug_error *ignored = NULL;
    if (data)
        tug_dir_size(data, &size, &ignored);
    tug_error_free(ignored);
    return size;
}

static int strv_push(char ***v, size_t *n, const char *s)
{
    char **nv = realloc(*v, (*n + 2) * sizeof(char *));
    if (nv == NULL)
        return -1;
    *v = nv;
    nv[*n] = strdup(s);
    nv[++*n] = NULL;
    return 0;
}

int tug_volume_prune(tug_store *s, bool all, const tug_prune_filter *f, char ***ret_names,
                     long long *ret_reclaimed, tug_error **err)
{
    char **names = calloc(1, sizeof(char *));
    size_t n = 0;
    long long reclaimed = 0;
    {
        cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
            s,
            "SELECT name FROM volumes WHERE (?1 OR anonymous) AND name NOT IN "
            "(SELECT volume_name FROM volume_users) ORDER BY name",
            err);
        if (st == NULL) {
            free(names);
            return -1;
        }
        sqlite3_bind_int(st, 1, all);
        while (sqlite3_step(st) == SQLITE_ROW)
            strv_push(&names, &n, (const char *)sqlite3_column_text(st, 0));
    }
    char **done = calloc(1, sizeof(char *));
    size_t nd = 0;
    for (size_t i = 0; i < n; i++) {
        tug_error *e = NULL;
        cleanup_volume tug_volume *v = NULL;
        if (f && (tug_volume_find(s, names[i], &v, &e) < 0 ||
                  !tug_prune_match(f, v->labels, v->created_ns / 1000000000LL))) {
            tug_error_free(e);
            continue;
        }
        long long size = tug_volume_size(s, names[i]);
        /* a container may have taken it meanwhile: then it stays */
        if (tug_volume_remove(s, names[i], &e) < 0) {
            tug_error_free(e);
            continue;
        }
        reclaimed += size;
        strv_push(&done, &nd, names[i]);
    }
    cleanup_strv char **guard = names;
    *ret_names = done;
    if (ret_reclaimed)
        *ret_reclaimed = reclaimed;
    return 0;
}

int tug_volume_release(tug_store *s, const char *ctr_id, bool remove_anonymous, tug_error **err)
{
    cleanup_strv char **anon = calloc(1, sizeof(char *));
    size_t n = 0;
    if (remove_anonymous) {
        cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
            s,
            "SELECT u.volume_name FROM volume_users u JOIN volumes v ON v.name = u.volume_name "
            "WHERE u.container_id = ? AND v.anonymous",
            err);
        if (st == NULL)
            return -1;
        BIND_TEXT(st, 1, ctr_id);
        while (sqlite3_step(st) == SQLITE_ROW)
            strv_push(&anon, &n, (const char *)sqlite3_column_text(st, 0));
    }
    cleanup_stmt sqlite3_stmt *del =
        tug_db_prepare(s, "DELETE FROM volume_users WHERE container_id = ?", err);
    if (del == NULL)
        return -1;
    BIND_TEXT(del, 1, ctr_id);
    if (tug_db_step_done(s, del, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        tug_error *e = NULL;
        /* still used by another container (--volumes-from): kept */
        tug_volume_remove(s, anon[i], &e);
        tug_error_free(e);
    }
    return 0;
}

/* ---------------- a container's mounts ---------------- */

typedef struct pending {
    tug_mount_req r;
    bool copyup;
} pending;

typedef struct pending_list {
    pending *v;
    size_t n;
} pending_list;

static void pending_clear(pending_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        tug_mount_req_clear(&l->v[i].r);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static bool pending_has(const pending_list *l, const char *target)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].r.target, target) == 0)
            return true;
    return false;
}

/* Takes r (cleared on return). strict: a second mount on the same target is an error;
 * otherwise the later one is dropped (an explicit mount beats --volumes-from and VOLUME). */
static int pending_add(pending_list *l, tug_mount_req *r, bool copyup, bool strict,
                       tug_error **err)
{
    if (pending_has(l, r->target)) {
        int rc = strict ? tug_error_user(err, "Duplicate mount point: %s", r->target) : 0;
        tug_mount_req_clear(r);
        return rc;
    }
    pending *nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
    if (nv == NULL) {
        tug_mount_req_clear(r);
        return tug_error_set(err, ENOMEM, "mounts");
    }
    l->v = nv;
    l->v[l->n].r = *r;
    l->v[l->n].copyup = copyup;
    l->n++;
    memset(r, 0, sizeof(*r));
    return 0;
}

static int collect_volumes_from(tug_store *s, const char *spec, pending_list *l, tug_error **err)
{
    cleanup_free char *name = NULL;
    bool ro = false;
    if (tug_mount_parse_volumes_from(spec, &name, &ro, err) < 0)
        return -1;
    cleanup_container tug_container *c = NULL;
    if (tug_container_find(s, name, &c, err) < 0)
        return tug_error_wrap(err, "--volumes-from %s", spec);
    size_t i;
    json_t *mp;
    json_array_foreach(json_object_get(c->config, "TugMountPoints"), i, mp)
    {
        const char *type = json_string_value(json_object_get(mp, "Type"));
        const char *dst = json_string_value(json_object_get(mp, "Destination"));
        tug_mount_req r = {0};
        if (type == NULL || dst == NULL)
            continue;
        if (strcmp(type, "volume") == 0) {
            r.type = TUG_MNT_VOLUME;
            r.source = strdup(json_string_value(json_object_get(mp, "Name")));
        } else if (strcmp(type, "bind") == 0) {
            r.type = TUG_MNT_BIND;
            r.source = strdup(json_string_value(json_object_get(mp, "Source")));
            const char *p = json_string_value(json_object_get(mp, "Propagation"));
            r.propagation = p && *p ? strdup(p) : NULL;
        } else {
            continue; /* tmpfs is the container's own */
        }
        r.target = strdup(dst);
        r.readonly = ro || !json_is_true(json_object_get(mp, "RW"));
        if (r.source == NULL || r.target == NULL) {
            tug_mount_req_clear(&r);
            return tug_error_set(err, ENOMEM, "--volumes-from");
        }
        if (pending_add(l, &r, false, false, err) < 0)
            return -1;
    }
    return 0;
}

static json_t *strs_json(const char *const *v)
{
    json_t *a = json_array();
    for (; *v; v++)
        if (**v)
            json_array_append_new(a, json_string(*v));
    return a;
}

static json_t *oci_mount(const char *dst, const char *type, const char *src, json_t *options)
{
    json_t *m = json_object();
    json_object_set_new(m, "destination", json_string(dst));
    json_object_set_new(m, "type", json_string(type));
    json_object_set_new(m, "source", json_string(src));
    json_object_set_new(m, "options", options);
    return m;
}

static json_t *mount_point(const char *type, const char *name, const char *src, const char *dst,
                           bool ro, const char *prop)
{
    json_t *m = json_object();
    json_object_set_new(m, "Type", json_string(type));
    if (name)
        json_object_set_new(m, "Name", json_string(name));
    json_object_set_new(m, "Source", json_string(src));
    json_object_set_new(m, "Destination", json_string(dst));
    if (name)
        json_object_set_new(m, "Driver", json_string("local"));
    json_object_set_new(m, "Mode", json_string(ro ? "ro" : ""));
    json_object_set_new(m, "RW", json_boolean(!ro));
    json_object_set_new(m, "Propagation", json_string(prop));
    return m;
}

/* A volume with driver options (type, device, o) is mounted as the local driver does, from its
 * device; a plain one is a bind of its _data directory. */
static json_t *volume_oci(tug_store *s, const char *name, const pending *p, tug_error **err)
{
    cleanup_volume tug_volume *vol = NULL;
    if (tug_volume_find(s, name, &vol, err) < 0)
        return NULL;
    const char *ro = p->r.readonly ? "ro" : "";
    const char *type = json_string_value(json_object_get(vol->options, "type"));
    const char *dev = json_string_value(json_object_get(vol->options, "device"));
    if (type && dev) {
        const char *o = json_string_value(json_object_get(vol->options, "o"));
        json_t *opts = json_array();
        bool bind = false;
        cleanup_free char *copy = strdup(o ? o : "");
        for (char *save = NULL, *t = copy ? strtok_r(copy, ",", &save) : NULL; t;
             t = strtok_r(NULL, ",", &save)) {
            if (strcmp(t, "bind") == 0 || strcmp(t, "rbind") == 0)
                bind = true;
            json_array_append_new(opts, json_string(t));
        }
        if (*ro)
            json_array_append_new(opts, json_string(ro));
        if (bind && dev[0] != '/') {
            json_decref(opts);
            tug_error_user(err, "volume %s: a bind device must be an absolute path", name);
            return NULL;
        }
        return oci_mount(p->r.target, bind ? "bind" : type, dev, opts);
    }
    cleanup_free char *data = tug_volume_path(s, name);
    const char *copy = p->copyup && !p->r.nocopy ? "tug-copyup" : "";
    return oci_mount(p->r.target, "bind", data,
                     strs_json((const char *const[]){"rbind", "rprivate", ro, copy, NULL}));
}

static int depth(const char *path)
{
    int d = 0;
    for (; *path; path++)
        d += *path == '/';
    return d;
}

/* Parents before children, as docker sorts mounts; the order is otherwise kept. */
static void sort_by_depth(json_t *oci)
{
    size_t n = json_array_size(oci);
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0; j--) {
            json_t *a = json_array_get(oci, j - 1), *b = json_array_get(oci, j);
            if (depth(json_string_value(json_object_get(a, "destination"))) <=
                depth(json_string_value(json_object_get(b, "destination"))))
                break;
            json_incref(a);
            json_array_set(oci, j - 1, b);
            json_array_set_new(oci, j, a);
        }
    }
}

static int materialize(tug_store *s, const char *ctr_id, pending_list *l, json_t *oci,
                       json_t *points, char ***created, size_t *n_created, tug_error **err)
{
    for (size_t i = 0; i < l->n; i++) {
        pending *p = &l->v[i];
        tug_mount_req *r = &p->r;
        const char *ro = r->readonly ? "ro" : "";
        if (r->type == TUG_MNT_VOLUME) {
            char anon[65];
            const char *name = r->source;
            if (name == NULL) {
                tug_random_hex(anon, 32);
                name = anon;
            }
            if (r->options && check_options(r->options, err) < 0)
                return -1;
            if (volume_ensure(s, name, r->source == NULL, r->labels, r->options, err) < 0)
                return -1;
            if (sqlite3_changes(s->db) > 0)
                strv_push(created, n_created, name);
            cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
                s, "INSERT OR IGNORE INTO volume_users(container_id, volume_name) VALUES (?,?)",
                err);
            if (st == NULL)
                return -1;
            BIND_TEXT(st, 1, ctr_id);
            BIND_TEXT(st, 2, name);
            if (tug_db_step_done(s, st, err) < 0)
                return -1;
            json_t *m = volume_oci(s, name, p, err);
            if (m == NULL)
                return -1;
            json_array_append_new(oci, m);
            cleanup_free char *data = tug_volume_path(s, name);
            json_array_append_new(points,
                                  mount_point("volume", name, data, r->target, r->readonly, ""));
        } else if (r->type == TUG_MNT_BIND) {
            struct stat st;
            if (stat(r->source, &st) < 0) {
                if (errno != ENOENT)
                    return tug_error_set(err, errno, "bind source %s", r->source);
                if (!r->create_source)
                    return tug_error_user(err, "invalid mount config for type \"bind\": bind "
                                               "source path does not exist: %s",
                                          r->source);
                if (tug_mkdir_p(r->source, 0755, err) < 0)
                    return tug_error_wrap(err, "create the host path of -v %s", r->source);
            }
            const char *prop = r->propagation ? r->propagation : "rprivate";
            json_array_append_new(
                oci, oci_mount(r->target, "bind", r->source,
                               strs_json((const char *const[]){r->nonrecursive ? "bind" : "rbind",
                                                               prop, ro, NULL})));
            json_array_append_new(points, mount_point("bind", NULL, r->source, r->target,
                                                      r->readonly, prop));
        } else {
            char size[48] = "", mode[32] = "";
            if (r->tmpfs_size)
                snprintf(size, sizeof(size), "size=%lld", r->tmpfs_size);
            if (r->tmpfs_mode)
                snprintf(mode, sizeof(mode), "mode=%o", r->tmpfs_mode);
            json_array_append_new(
                oci, oci_mount(r->target, "tmpfs", "tmpfs",
                               strs_json((const char *const[]){"nosuid", "nodev", "noexec", size,
                                                               mode, ro, NULL})));
            json_array_append_new(points,
                                  mount_point("tmpfs", NULL, "", r->target, r->readonly, ""));
        }
    }
    return 0;
}

int tug_volume_setup_mounts(tug_store *s, const char *ctr_id, json_t *request, tug_error **err)
{
    json_t *hc = json_object_get(request, "HostConfig");
    json_t *cfg = json_object_get(request, "Config");
    pending_list l = {0};
    size_t i;
    json_t *v;
    int rc = -1;
    cleanup_strv char **created = NULL;
    json_t *oci, *points;
    size_t n_created = 0;
    json_array_foreach(json_object_get(hc, "Binds"), i, v)
    {
        tug_mount_req r;
        if (tug_mount_parse_volume_flag(json_string_value(v) ? json_string_value(v) : "", &r,
                                        err) < 0 ||
            pending_add(&l, &r, true, true, err) < 0)
            goto out;
    }
    json_array_foreach(json_object_get(hc, "Mounts"), i, v)
    {
        tug_mount_req r;
        if (tug_mount_req_from_json(v, &r, err) < 0 || pending_add(&l, &r, true, true, err) < 0)
            goto out;
    }
    json_array_foreach(json_object_get(hc, "VolumesFrom"), i, v)
    {
        if (collect_volumes_from(s, json_string_value(v) ? json_string_value(v) : "", &l, err) < 0)
            goto out;
    }
    const char *path;
    json_object_foreach(json_object_get(cfg, "Volumes"), path, v)
    {
        tug_mount_req r = {.type = TUG_MNT_VOLUME, .target = tug_path_clean_abs(path)};
        if (r.target == NULL || strcmp(r.target, "/") == 0) {
            tug_mount_req_clear(&r);
            tug_error_user(err, "invalid volume %s in the image or -v: it must be an absolute "
                                "path other than /",
                           path);
            goto out;
        }
        /* --tmpfs on the same path wins, as in docker */
        if (json_object_get(json_object_get(hc, "Tmpfs"), r.target)) {
            tug_mount_req_clear(&r);
            continue;
        }
        if (pending_add(&l, &r, true, false, err) < 0)
            goto out;
    }
    oci = json_array();
    points = json_array();
    created = calloc(1, sizeof(char *));
    if (l.n > 0) {
        if (tug_store_begin(s, err) < 0) {
            json_decref(oci);
            json_decref(points);
            goto out;
        }
        if (materialize(s, ctr_id, &l, oci, points, &created, &n_created, err) < 0 ||
            tug_store_commit(s, err) < 0) {
            tug_store_rollback(s);
            for (size_t k = 0; k < n_created; k++) {
                cleanup_free char *dir = volume_dir(s, created[k]);
                tug_error *ignored = NULL;
                if (dir)
                    tug_rm_rf(dir, &ignored);
                tug_error_free(ignored);
            }
            json_decref(oci);
            json_decref(points);
            goto out;
        }
    }
    sort_by_depth(oci);
    json_object_set_new(request, "TugMounts", oci);
    json_object_set_new(request, "TugMountPoints", points);
    rc = 0;
out:
    pending_clear(&l);
    return rc;
}

/* ---------------- copy-up ---------------- */

static void copy_xattrs(int sfd, int dfd)
{
    char names[4096];
    ssize_t n = flistxattr(sfd, names, sizeof(names));
    for (ssize_t off = 0; n > 0 && off < n; off += (ssize_t)strlen(names + off) + 1) {
        char val[4096];
        ssize_t vl = fgetxattr(sfd, names + off, val, sizeof(val));
        if (vl >= 0)
            fsetxattr(dfd, names + off, val, (size_t)vl, 0); /* best effort: security.* may be
                                                               refused, and that is fine */
    }
}

static void set_meta(int dfd, const struct stat *st)
{
    /* owner first: chown clears set-id bits that chmod then restores */
    if (fchown(dfd, st->st_uid, st->st_gid) < 0) {
        /* a file system that refuses owners still gets the modes */
    }
    fchmod(dfd, st->st_mode & 07777);
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    futimens(dfd, ts);
}

static int copy_file(tug_walk *w, int sdir, int ddir, const char *name, const struct stat *st,
                     tug_error **err)
{
    cleanup_close int in = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0)
        return tug_walk_fail(w, name, errno, "open", err);
    cleanup_close int out =
        openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0)
        return tug_walk_fail(w, name, errno, "create", err);
    char buf[65536];
    for (;;) {
        ssize_t r = read(in, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return tug_walk_fail(w, name, errno, "read", err);
        if (r == 0)
            break;
        for (ssize_t off = 0; off < r;) {
            ssize_t n = write(out, buf + off, (size_t)(r - off));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return tug_walk_fail(w, name, errno, "write", err);
            off += n;
        }
    }
    copy_xattrs(in, out);
    set_meta(out, st);
    return 0;
}

/* The walk (util/fs.c) goes through the image's side; the volume's side follows it with one
 * descriptor of its own, down by name and up by "..", checked against the way down. */
struct copy_state {
    int dst; /* the volume's directory matching the walk's current one */
    struct stat *up;
    size_t n, cap;
};

static int copy_one(tug_walk *w, int sdir, int ddir, const char *name, tug_error **err)
{
    struct stat st;
    if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : tug_walk_fail(w, name, errno, "stat", err);
    if (S_ISREG(st.st_mode))
        return copy_file(w, sdir, ddir, name, &st, err);
    if (S_ISLNK(st.st_mode)) {
        char target[4096];
        ssize_t n = readlinkat(sdir, name, target, sizeof(target) - 1);
        if (n < 0)
            return tug_walk_fail(w, name, errno, "readlink", err);
        target[n] = '\0';
        if (symlinkat(target, ddir, name) < 0)
            return tug_walk_fail(w, name, errno, "symlink", err);
        fchownat(ddir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
        struct timespec ts[2] = {st.st_atim, st.st_mtim};
        utimensat(ddir, name, ts, AT_SYMLINK_NOFOLLOW);
    } else if (!S_ISDIR(st.st_mode)) {
        /* devices, fifos, sockets: the node itself */
        if (mknodat(ddir, name, st.st_mode, st.st_rdev) < 0)
            return 0;
        fchownat(ddir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
        fchmodat(ddir, name, st.st_mode & 07777, 0);
    }
    return 0;
}

static int copy_entry(tug_walk *w, const tug_walk_entry *e, void *data, tug_error **err)
{
    struct copy_state *c = data;
    switch (e->event) {
    case TUG_WALK_FILE:
        return copy_one(w, e->dirfd, c->dst, e->name, err);
    case TUG_WALK_ENTER: {
        if (e->other_fs)
            return 1; /* what is mounted in the image's tree is not the image's */
        if (mkdirat(c->dst, e->name, 0700) < 0 && errno != EEXIST)
            return tug_walk_fail(w, e->name, errno, "mkdir", err);
        int d = openat(c->dst, e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (d < 0)
            return tug_walk_fail(w, e->name, errno, "open", err);
        if (c->n == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 16;
            struct stat *v = realloc(c->up, cap * sizeof(*v));
            if (v == NULL) {
                close(d);
                return tug_walk_fail(w, e->name, ENOMEM, "copy", err);
            }
            c->up = v;
            c->cap = cap;
        }
        if (fstat(c->dst, &c->up[c->n]) < 0) {
            close(d);
            return tug_walk_fail(w, e->name, errno, "stat", err);
        }
        c->n++;
        close(c->dst);
        c->dst = d;
        return 0;
    }
    case TUG_WALK_LEAVE: {
        copy_xattrs(e->fd, c->dst);
        set_meta(c->dst, e->st);
        int parent = openat(c->dst, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct stat pst;
        if (parent < 0 || fstat(parent, &pst) < 0) {
            int er = errno;
            if (parent >= 0)
                close(parent);
            return tug_walk_fail(w, e->name, er, "open the parent of", err);
        }
        const struct stat *want = &c->up[--c->n];
        if (pst.st_dev != want->st_dev || pst.st_ino != want->st_ino) {
            close(parent);
            cleanup_free char *shown = tug_walk_path(w, e->name);
            return tug_error_set(err, 0, "the volume changed while %s was copied into it",
                                 shown ? shown : e->name);
        }
        close(c->dst);
        c->dst = parent;
        return 0;
    }
    }
    return 0;
}

int tug_volume_copy_up(int src_dirfd, int dst_dirfd, tug_error **err)
{
    /* only an empty volume is filled: whatever a container wrote there is the volume's */
    int dup_fd = fcntl(dst_dirfd, F_DUPFD_CLOEXEC, 3);
    if (dup_fd < 0)
        return tug_error_set(err, errno, "dup");
    cleanup_dir DIR *d = fdopendir(dup_fd);
    if (d == NULL) {
        close(dup_fd);
        return tug_error_set(err, errno, "read the volume");
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            return 0;
    struct copy_state c = {.dst = fcntl(dst_dirfd, F_DUPFD_CLOEXEC, 3)};
    if (c.dst < 0)
        return tug_error_set(err, errno, "dup");
    int r = tug_walk_tree(src_dirfd, ".", copy_entry, &c, err);
    close(c.dst);
    free(c.up);
    if (r < 0)
        return -1;
    struct stat st;
    if (fstat(src_dirfd, &st) == 0)
        set_meta(dst_dirfd, &st);
    return 0;
}

/* ---------------- df, check ---------------- */

int tug_volume_disk_usage(tug_store *s, tug_volume_df *ret, tug_error **err)
{
    memset(ret, 0, sizeof(*ret));
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s, "SELECT name, name IN (SELECT volume_name FROM volume_users) FROM volumes", err);
    if (st == NULL)
        return -1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        long long size = tug_volume_size(s, (const char *)sqlite3_column_text(st, 0));
        ret->total++;
        ret->size += size;
        if (sqlite3_column_int(st, 1))
            ret->active++;
        else
            ret->reclaimable += size;
    }
    return 0;
}

static bool volume_has_row(tug_store *s, const char *name)
{
    cleanup_stmt sqlite3_stmt *st =
        tug_db_prepare(s, "SELECT 1 FROM volumes WHERE name = ?", NULL);
    if (st == NULL)
        return true; /* when in doubt, keep */
    BIND_TEXT(st, 1, name);
    return sqlite3_step(st) == SQLITE_ROW;
}

int tug_volume_check(tug_store *s, bool repair, char **ret_details, tug_error **err)
{
    char *details = NULL;
    int found = 0;
    cleanup_free char *top = NULL;
    if (asprintf(&top, "%s/volumes", s->root) < 0)
        return tug_error_set(err, ENOMEM, "check volumes");
    /* the write lock keeps a volume being created from looking like an orphan */
    if (repair && tug_store_begin(s, err) < 0)
        return -1;
    cleanup_dir DIR *d = opendir(top);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        bool trash = strncmp(de->d_name, ".rm-", 4) == 0;
        if (!trash && volume_has_row(s, de->d_name))
            continue;
        found++;
        tug_append_line(&details, "%s volume directory %s/%s%s",
                        trash ? "interrupted removal:" : "orphan:", top, de->d_name,
                        repair ? " (removed)" : "");
        if (repair) {
            tug_error *ignored = NULL;
            tug_rm_rf_at(dirfd(d), de->d_name, &ignored);
            tug_error_free(ignored);
        }
    }
    if (repair && tug_store_commit(s, err) < 0) {
        free(details);
        return -1;
    }
    /* records whose directory is gone: recreate it empty, the data is lost either way */
    tug_volume **v = NULL;
    size_t n = 0;
    if (tug_volume_list(s, &v, &n, err) < 0) {
        free(details);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        cleanup_free char *data = tug_volume_path(s, v[i]->name);
        struct stat st;
        if (data == NULL || stat(data, &st) == 0)
            continue;
        found++;
        tug_append_line(&details, "volume %s has lost its directory %s%s", v[i]->name, data,
                        repair ? " (recreated empty)" : "");
        if (repair) {
            tug_error *ignored = NULL;
            tug_mkdir_p(data, 0755, &ignored);
            tug_error_free(ignored);
        }
    }
    tug_volumes_free(v, n);
    *ret_details = details;
    return found;
}

json_t *tug_volume_inspect_json(tug_store *s, const tug_volume *v)
{
    json_t *o = json_object();
    char *t = tug_format_rfc3339(v->created_ns / 1000000000LL, 0);
    /* docker prints whole seconds */
    if (t) {
        char *dot = strchr(t, '.');
        if (dot) {
            dot[0] = 'Z';
            dot[1] = '\0';
        }
    }
    json_object_set_new(o, "CreatedAt", json_string(t ? t : ""));
    free(t);
    json_object_set_new(o, "Driver", json_string("local"));
    json_object_set(o, "Labels", json_object_size(v->labels) ? v->labels : json_null());
    cleanup_free char *mp = tug_volume_path(s, v->name);
    json_object_set_new(o, "Mountpoint", json_string(mp ? mp : ""));
    json_object_set_new(o, "Name", json_string(v->name));
    json_object_set(o, "Options", json_object_size(v->options) ? v->options : json_null());
    json_object_set_new(o, "Scope", json_string("local"));
    return o;
}

int tug_volume_filter_check(const char *f, tug_error **err)
{
    if (strncmp(f, "dangling=", 9) != 0 && strncmp(f, "name=", 5) != 0 &&
        strncmp(f, "label=", 6) != 0 && strncmp(f, "driver=", 7) != 0)
        return tug_error_user(err, "invalid filter '%s'", f);
    if (strncmp(f, "dangling=", 9) == 0 && strcmp(f + 9, "true") != 0 &&
        strcmp(f + 9, "false") != 0 && strcmp(f + 9, "1") != 0 && strcmp(f + 9, "0") != 0)
        return tug_error_user(err, "invalid filter 'dangling=%s'", f + 9);
    return 0;
}

bool tug_volume_filters_match(const tug_volume *v, size_t n_users, const char *const *filters,
                              size_t n_filters)
{
    bool keep = true, name_seen = false, name_ok = false;
    for (size_t k = 0; k < n_filters; k++) {
        const char *f = filters[k];
        if (strncmp(f, "dangling=", 9) == 0) {
            bool want = strcmp(f + 9, "true") == 0 || strcmp(f + 9, "1") == 0;
            keep &= want == (n_users == 0);
        } else if (strncmp(f, "name=", 5) == 0) {
            name_seen = true;
            name_ok |= strstr(v->name, f + 5) != NULL;
        } else if (strncmp(f, "label=", 6) == 0) {
            keep &= tug_label_match(v->labels, f + 6);
        } else if (strncmp(f, "driver=", 7) == 0) {
            keep &= strcmp(f + 7, "local") == 0;
        }
    }
    return keep && (!name_seen || name_ok);
}
