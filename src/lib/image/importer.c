/* Import: a rootfs tarball becomes a one-layer image, as `docker import` makes it. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../store/events.h"
#include "../store/imgconfig.h"
#include "../store/layer.h"
#include "../util/cleanup.h"
#include "../util/digest.h"
#include "../util/fs.h"
#include "../util/strutil.h"
#include "archive.h"
#include "image.h"
#include "manifest.h"

/* "a b" -> ["/bin/sh","-c","a b"]; '["a","b"]' -> ["a","b"]. */
static json_t *parse_command(const char *args, tug_error **err)
{
    while (isspace((unsigned char)*args))
        args++;
    if (*args == '[') {
        json_error_t jerr;
        json_t *v = json_loads(args, 0, &jerr);
        if (json_is_array(v)) {
            size_t i;
            json_t *e;
            bool ok = true;
            json_array_foreach(v, i, e) ok &= json_is_string(e);
            if (ok)
                return v;
        }
        json_decref(v);
        /* Not a JSON list of strings: docker treats it as shell form. */
    }
    json_t *v = json_array();
    json_array_append_new(v, json_string("/bin/sh"));
    json_array_append_new(v, json_string("-c"));
    json_array_append_new(v, json_string(args));
    (void)err;
    return v;
}

/* Split "k=v k2="v 2"" or "k v" into pairs. */
static int parse_pairs(const char *args, bool allow_space_form, json_t *out, tug_error **err)
{
    const char *p = args;
    while (isspace((unsigned char)*p))
        p++;
    if (allow_space_form && strchr(p, '=') == NULL) {
        const char *sp = p;
        while (*sp && !isspace((unsigned char)*sp))
            sp++;
        if (*sp == '\0')
            return tug_error_user(err, "ENV needs a value: \"%s\"", args);
        cleanup_free char *k = strndup(p, (size_t)(sp - p));
        while (isspace((unsigned char)*sp))
            sp++;
        json_object_set_new(out, k, json_string(sp));
        return 0;
    }
    while (*p) {
        char key[4096], val[4096];
        size_t kl = 0, vl = 0;
        while (*p && *p != '=' && !isspace((unsigned char)*p) && kl < sizeof(key) - 1) {
            if (*p == '"') {
                p++;
                while (*p && *p != '"' && kl < sizeof(key) - 1)
                    key[kl++] = *p++;
                if (*p == '"')
                    p++;
                continue;
            }
            key[kl++] = *p++;
        }
        key[kl] = '\0';
        if (*p != '=' || kl == 0)
            return tug_error_user(err, "expected KEY=VALUE in \"%s\"", args);
        p++;
        char quote = 0;
        while (*p && (quote || !isspace((unsigned char)*p)) && vl < sizeof(val) - 1) {
            if (!quote && (*p == '"' || *p == '\'')) {
                quote = *p++;
                continue;
            }
            if (quote && *p == quote) {
                quote = 0;
                p++;
                continue;
            }
            if (*p == '\\' && p[1] && quote != '\'')
                p++;
            val[vl++] = *p++;
        }
        val[vl] = '\0';
        json_object_set_new(out, key, json_string(val));
        while (isspace((unsigned char)*p))
            p++;
    }
    return 0;
}

int tug_config_apply_change(json_t *config, const char *change, tug_error **err)
{
    const char *p = change;
    while (isspace((unsigned char)*p))
        p++;
    const char *sp = p;
    while (*sp && !isspace((unsigned char)*sp))
        sp++;
    cleanup_free char *word = strndup(p, (size_t)(sp - p));
    for (char *c = word; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    while (isspace((unsigned char)*sp))
        sp++;
    const char *args = sp;
    if (*args == '\0')
        return tug_error_user(err, "change \"%s\": %s needs an argument", change, word);
    if (strcmp(word, "CMD") == 0 || strcmp(word, "ENTRYPOINT") == 0) {
        json_t *v = parse_command(args, err);
        if (v == NULL)
            return -1;
        json_object_set_new(config, word[0] == 'C' ? "Cmd" : "Entrypoint", v);
        return 0;
    }
    if (strcmp(word, "ENV") == 0) {
        json_t *pairs = json_object();
        if (parse_pairs(args, true, pairs, err) < 0) {
            json_decref(pairs);
            return tug_error_wrap(err, "change \"%s\"", change);
        }
        json_t *env = json_object_get(config, "Env");
        if (!json_is_array(env)) {
            env = json_array();
            json_object_set_new(config, "Env", env);
        }
        const char *k;
        json_t *v;
        json_object_foreach(pairs, k, v)
        {
            cleanup_free char *kv = NULL;
            if (asprintf(&kv, "%s=%s", k, json_string_value(v)) < 0)
                break;
            size_t kl = strlen(k), i;
            json_t *e;
            bool replaced = false;
            json_array_foreach(env, i, e)
            {
                const char *s = json_string_value(e);
                if (s && strncmp(s, k, kl) == 0 && s[kl] == '=') {
                    json_array_set_new(env, i, json_string(kv));
                    replaced = true;
                    break;
                }
            }
            if (!replaced)
                json_array_append_new(env, json_string(kv));
        }
        json_decref(pairs);
        return 0;
    }
    if (strcmp(word, "LABEL") == 0) {
        json_t *labels = json_object_get(config, "Labels");
        if (!json_is_object(labels)) {
            labels = json_object();
            json_object_set_new(config, "Labels", labels);
        }
        if (parse_pairs(args, false, labels, err) < 0)
            return tug_error_wrap(err, "change \"%s\"", change);
        return 0;
    }
    if (strcmp(word, "EXPOSE") == 0 || strcmp(word, "VOLUME") == 0) {
        bool expose = word[0] == 'E';
        const char *key = expose ? "ExposedPorts" : "Volumes";
        json_t *set = json_object_get(config, key);
        if (!json_is_object(set)) {
            set = json_object();
            json_object_set_new(config, key, set);
        }
        json_t *list = NULL;
        if (!expose && *args == '[')
            list = json_loads(args, 0, NULL);
        if (!json_is_array(list)) {
            json_decref(list);
            list = json_array();
            cleanup_free char *copy = strdup(args);
            for (char *save = NULL, *t = strtok_r(copy, " \t", &save); t;
                 t = strtok_r(NULL, " \t", &save))
                json_array_append_new(list, json_string(t));
        }
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e)
        {
            const char *s = json_string_value(e);
            if (s == NULL)
                continue;
            cleanup_free char *k = NULL;
            if (expose) {
                char *end = NULL;
                long port = strtol(s, &end, 10);
                if (port <= 0 || port > 65535 || (*end && *end != '/')) {
                    /* the message names the word before the list holding it goes */
                    tug_error_user(err, "change \"%s\": invalid port \"%s\"", change, s);
                    json_decref(list);
                    return -1;
                }
                if (asprintf(&k, "%s%s", s, strchr(s, '/') ? "" : "/tcp") < 0)
                    break;
            } else {
                if (s[0] != '/') {
                    tug_error_user(err, "change \"%s\": volume path \"%s\" must be absolute",
                                   change, s);
                    json_decref(list);
                    return -1;
                }
                k = strdup(s);
            }
            json_object_set_new(set, k, json_object());
        }
        json_decref(list);
        return 0;
    }
    static const struct {
        const char *word, *key;
    } simple[] = {{"USER", "User"}, {"WORKDIR", "WorkingDir"}, {"STOPSIGNAL", "StopSignal"}};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(simple); i++)
        if (strcmp(word, simple[i].word) == 0) {
            json_object_set_new(config, simple[i].key, json_string(args));
            return 0;
        }
    return tug_error_user(err,
                          "change \"%s\": %s is not allowed; use CMD, ENTRYPOINT, ENV, EXPOSE, "
                          "LABEL, STOPSIGNAL, USER, VOLUME or WORKDIR",
                          change, word);
}

static const char *media_type_for(int fd)
{
    unsigned char m[4] = {0};
    ssize_t n = pread(fd, m, sizeof(m), 0);
    if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b)
        return "application/vnd.docker.image.rootfs.diff.tar.gzip";
    if (n == 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
        return "application/vnd.oci.image.layer.v1.tar+zstd";
    return "application/vnd.docker.image.rootfs.diff.tar";
}

/* Copy the input into a file of the store while hashing it. */
static int spool(tug_store *s, int in, char **ret_path, char ret_digest[72], long long *ret_size,
                 tug_error **err)
{
    cleanup_free char *path = NULL;
    if (asprintf(&path, "%s/ingest/import-%d-XXXXXX", s->root, (int)getpid()) < 0)
        return tug_error_set(err, ENOMEM, "import");
    cleanup_close int out = mkostemp(path, O_CLOEXEC);
    if (out < 0)
        return tug_error_set(err, errno, "create %s", path);
    cleanup_sha256 tug_sha256 *h = tug_sha256_new(err);
    if (h == NULL) {
        unlink(path);
        return -1;
    }
    size_t cap = 1 << 20;
    cleanup_free char *buf = malloc(cap);
    long long total = 0;
    if (buf == NULL) {
        unlink(path);
        return tug_error_set(err, ENOMEM, "import");
    }
    for (;;) {
        ssize_t n = read(in, buf, cap);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            unlink(path);
            return tug_error_set(err, e, "read the tarball");
        }
        if (n == 0)
            break;
        tug_sha256_update(h, buf, (size_t)n);
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                int e = errno;
                unlink(path);
                return tug_error_set(err, e, "write %s", path);
            }
            off += w;
        }
        total += n;
    }
    if (total == 0) {
        unlink(path);
        return tug_error_user(err, "the tarball is empty");
    }
    tug_sha256_final(h, ret_digest);
    *ret_size = total;
    *ret_path = steal_pointer(&path);
    return 0;
}

json_t *tug_config_new(void)
{
    json_t *c = json_object();
    json_object_set_new(c, "Hostname", json_string(""));
    json_object_set_new(c, "Domainname", json_string(""));
    json_object_set_new(c, "User", json_string(""));
    json_object_set_new(c, "AttachStdin", json_false());
    json_object_set_new(c, "AttachStdout", json_false());
    json_object_set_new(c, "AttachStderr", json_false());
    json_object_set_new(c, "Tty", json_false());
    json_object_set_new(c, "OpenStdin", json_false());
    json_object_set_new(c, "StdinOnce", json_false());
    json_object_set_new(c, "Env", json_null());
    json_object_set_new(c, "Cmd", json_null());
    json_object_set_new(c, "Image", json_string(""));
    json_object_set_new(c, "Volumes", json_null());
    json_object_set_new(c, "WorkingDir", json_string(""));
    json_object_set_new(c, "Entrypoint", json_null());
    json_object_set_new(c, "OnBuild", json_null());
    json_object_set_new(c, "Labels", json_null());
    return c;
}

int tug_import(tug_store *s, int fd, const tug_import_opts *opts, char **ret_image_id,
               tug_error **err)
{
    tug_platform plat = {0};
    if (opts->platform) {
        if (tug_platform_parse(opts->platform, &plat, err) < 0)
            return -1;
    } else
        tug_platform_host(&plat);
    json_t *config = tug_config_new();
    for (const char **c = opts->changes; c && *c; c++)
        if (tug_config_apply_change(config, *c, err) < 0) {
            json_decref(config);
            tug_platform_clear(&plat);
            return -1;
        }
    /* before anything is written: what the changes made is checked as a pulled config is */
    if (tug_container_config_check(config, "--change", false, err) < 0) {
        json_decref(config);
        tug_platform_clear(&plat);
        return -1;
    }
    cleanup_close int lock = tug_store_lock_shared(s, err);
    cleanup_free char *spooled = NULL, *tmp = NULL, *raw = NULL;
    cleanup_free char *created = NULL, *comment = NULL;
    cleanup_close int bfd = -1;
    char blob_digest[72], chain[72];
    long long blob_size = 0;
    int r = -1, probe;
    tug_image img = {0};
    tug_image_layer layer = {0};
    tug_unpack_result res;
    tug_layer_add add;
    bool added;
    const char *mt;
    json_t *doc, *hist, *h, *rootfs, *ids;
    if (lock >= 0)
        tug_store_sweep_dead(s);
    if (lock < 0 || spool(s, fd, &spooled, blob_digest, &blob_size, err) < 0)
        goto out;
    bfd = open(spooled, O_RDONLY | O_CLOEXEC);
    if (bfd < 0) {
        tug_error_set(err, errno, "open %s", spooled);
        goto out;
    }
    /* a `docker save` tarball is no root file system: say what reads it */
    probe = tug_image_archive_probe(bfd, err);
    if (probe != 0) {
        if (probe > 0)
            tug_error_user(err, "this is an image archive; use tug load");
        goto out;
    }
    if (tug_store_unpack_layer(s, bfd, &tmp, &res, err) < 0) {
        tug_error_wrap(err, "import");
        goto out;
    }
    mt = media_type_for(bfd);
    /* the layer takes the spooled blob and the tmp directory, whatever happens */
    add = (tug_layer_add){.tmp = tmp,
                          .diff_id = res.diff_id,
                          .size = res.size,
                          .blob_file = spooled,
                          .blob_digest = blob_digest};
    added = tug_store_add_layer(s, &add, chain, err) == 0;
    free(spooled);
    free(tmp);
    spooled = tmp = NULL;
    if (!added)
        goto out;

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    created = tug_format_rfc3339(now.tv_sec, now.tv_nsec);
    if (opts->message && *opts->message)
        comment = strdup(opts->message);
    else if (asprintf(&comment, "Imported from %s", opts->source ? opts->source : "-") < 0)
        comment = NULL;
    doc = json_object();
    json_object_set_new(doc, "architecture", json_string(plat.arch));
    json_object_set_new(doc, "comment", json_string(comment ? comment : ""));
    json_object_set_new(doc, "config", config);
    config = NULL;
    json_object_set_new(doc, "created", json_string(created));
    hist = json_array();
    h = json_object();
    json_object_set_new(h, "created", json_string(created));
    json_object_set_new(h, "comment", json_string(comment ? comment : ""));
    json_array_append_new(hist, h);
    json_object_set_new(doc, "history", hist);
    json_object_set_new(doc, "os", json_string(plat.os));
    if (plat.variant && strcmp(plat.arch, "amd64") != 0)
        json_object_set_new(doc, "variant", json_string(plat.variant));
    rootfs = json_object();
    ids = json_array();
    json_object_set_new(rootfs, "type", json_string("layers"));
    json_array_append_new(ids, json_string(res.diff_id));
    json_object_set_new(rootfs, "diff_ids", ids);
    json_object_set_new(doc, "rootfs", rootfs);
    raw = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char id[72];
    tug_sha256_buf(raw, strlen(raw), id);
    if (tug_image_config_check(doc, id, err) < 0) {
        json_decref(doc);
        goto out;
    }
    if (tug_store_put_blob(s, id, raw, strlen(raw), err) < 0) {
        json_decref(doc);
        goto out;
    }
    layer.chain_id = chain;
    layer.diff_id = res.diff_id;
    layer.blob_digest = blob_digest;
    layer.media_type = (char *)mt;
    layer.blob_size = blob_size;
    layer.size = res.size;
    img.id = id;
    img.config = doc;
    img.config_raw = raw;
    img.created = now.tv_sec;
    img.size = res.size;
    img.layers = &layer;
    img.n_layers = 1;
    if (tug_store_begin(s, err) < 0) {
        json_decref(doc);
        goto out;
    }
    if (tug_store_add_image(s, &img, err) < 0 ||
        (opts->tag && tug_store_set_tag(s, opts->tag, id, err) < 0)) {
        tug_store_rollback(s);
        json_decref(doc);
        goto out;
    }
    json_decref(doc);
    if (tug_store_commit(s, err) < 0)
        goto out;
    *ret_image_id = strdup(id);
    tug_event_image(s, "import", id, id);
    r = 0;
out:
    if (spooled)
        unlink(spooled);
    if (tmp)
        tug_store_drop_tmp(tmp);
    json_decref(config);
    tug_platform_clear(&plat);
    return r;
}
