/* Volumes and the mounts of a container. Parsers first (pure), then the store, then the
 * resolution of a create request's mounts, then copy-up. */
#include "volume.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "../store/db.h"
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

int tug_mount_parse_volume_flag(const char *spec, tug_mount_req *ret, tug_error **err)
{
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
    tug_mount_req m = {.type = TUG_MNT_VOLUME};
    cleanup_free char *s = strdup(spec);
    if (s == NULL)
        return tug_error_set(err, ENOMEM, "parse %s", spec);
    bool bind_opt = false, vol_opt = false, tmpfs_opt = false;
    int r = 0;
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
    const char *t = tname[m.type];
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
    char *clean = tug_path_clean_abs(m.target);
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
    if (m->type == TUG_MNT_BIND && m->propagation) {
        json_t *bo = json_object();
        json_object_set_new(bo, "Propagation", json_string(m->propagation));
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
    const char *prop =
        json_string_value(json_object_get(json_object_get(j, "BindOptions"), "Propagation"));
    m.propagation = prop && is_propagation(prop) ? strdup(prop) : NULL;
    json_t *to = json_object_get(j, "TmpfsOptions");
    m.tmpfs_size = json_integer_value(json_object_get(to, "SizeBytes"));
    m.tmpfs_mode = (unsigned)json_integer_value(json_object_get(to, "Mode"));
    *ret = m;
    return 0;
}
