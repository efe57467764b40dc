/* What docker shows of an image: inspect's document and the history rows. */
#include <stdlib.h>
#include <string.h>

#include "../util/cleanup.h"
#include "../util/strutil.h"
#include "image.h"
#include "reference.h"

/* docker's container config shape, with the image config's values in their places. */
static json_t *docker_config(json_t *c)
{
    json_t *o = json_object();
    if (!json_is_object(c))
        c = NULL;
#define COPY_OR(key, dflt)                                                                         \
    do {                                                                                           \
        json_t *v = c ? json_object_get(c, key) : NULL;                                            \
        json_object_set_new(o, key, v ? json_incref(v) : (dflt));                                  \
    } while (0)
#define COPY_IF(key)                                                                               \
    do {                                                                                           \
        json_t *v = c ? json_object_get(c, key) : NULL;                                            \
        if (v)                                                                                     \
            json_object_set(o, key, v);                                                            \
    } while (0)
    COPY_OR("Hostname", json_string(""));
    COPY_OR("Domainname", json_string(""));
    COPY_OR("User", json_string(""));
    COPY_OR("AttachStdin", json_false());
    COPY_OR("AttachStdout", json_false());
    COPY_OR("AttachStderr", json_false());
    COPY_IF("ExposedPorts");
    COPY_OR("Tty", json_false());
    COPY_OR("OpenStdin", json_false());
    COPY_OR("StdinOnce", json_false());
    COPY_OR("Env", json_null());
    COPY_OR("Cmd", json_null());
    COPY_IF("Healthcheck");
    COPY_IF("ArgsEscaped");
    COPY_OR("Image", json_string(""));
    COPY_OR("Volumes", json_null());
    COPY_OR("WorkingDir", json_string(""));
    COPY_OR("Entrypoint", json_null());
    COPY_OR("OnBuild", json_null());
    COPY_OR("Labels", json_null());
    COPY_IF("StopSignal");
    COPY_IF("StopTimeout");
    COPY_IF("Shell");
#undef COPY_OR
#undef COPY_IF
    return o;
}

static json_t *familiar_list(char **v, size_t n, char sep)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        const char *cut = sep == '@' ? strchr(v[i], '@') : strrchr(v[i], ':');
        if (cut == NULL)
            continue;
        cleanup_free char *name = strndup(v[i], (size_t)(cut - v[i]));
        cleanup_free char *fam = tug_familiar_name(name);
        cleanup_free char *s = NULL;
        if (asprintf(&s, "%s%s", fam, cut) >= 0)
            json_array_append_new(a, json_string(s));
    }
    return a;
}

json_t *tug_image_inspect_json(tug_store *s, const tug_image *img)
{
    json_t *cfg = img->config;
    json_t *o = json_object();
    json_object_set_new(o, "Id", json_string(img->id));
    json_object_set_new(o, "RepoTags", familiar_list(img->tags, img->n_tags, ':'));
    json_object_set_new(o, "RepoDigests", familiar_list(img->digests, img->n_digests, '@'));
    json_object_set_new(o, "Parent", json_string(""));
    const char *comment = json_string_value(json_object_get(cfg, "comment"));
    json_t *hist = json_object_get(cfg, "history");
    if (comment == NULL || *comment == '\0') /* docker's: commit keeps it in history alone */
        comment = json_string_value(
            json_object_get(json_array_get(hist, json_array_size(hist) - 1), "comment"));
    json_object_set_new(o, "Comment", json_string(comment ? comment : ""));
    long long sec = 0;
    long nsec = 0;
    const char *created = json_string_value(json_object_get(cfg, "created"));
    if (created == NULL || tug_parse_rfc3339(created, &sec, &nsec) < 0)
        sec = 0, nsec = 0;
    cleanup_free char *cstr = tug_format_rfc3339(sec, nsec);
    json_object_set_new(o, "Created", json_string(cstr));
    const char *container = json_string_value(json_object_get(cfg, "container"));
    json_object_set_new(o, "Container", json_string(container ? container : ""));
    json_object_set_new(o, "ContainerConfig",
                        docker_config(json_object_get(cfg, "container_config")));
    const char *dv = json_string_value(json_object_get(cfg, "docker_version"));
    json_object_set_new(o, "DockerVersion", json_string(dv ? dv : ""));
    const char *author = json_string_value(json_object_get(cfg, "author"));
    json_object_set_new(o, "Author", json_string(author ? author : ""));
    json_object_set_new(o, "Config", docker_config(json_object_get(cfg, "config")));
    const char *arch = json_string_value(json_object_get(cfg, "architecture"));
    json_object_set_new(o, "Architecture", json_string(arch ? arch : ""));
    const char *variant = json_string_value(json_object_get(cfg, "variant"));
    if (variant && *variant)
        json_object_set_new(o, "Variant", json_string(variant));
    const char *os = json_string_value(json_object_get(cfg, "os"));
    json_object_set_new(o, "Os", json_string(os ? os : ""));
    json_object_set_new(o, "Size", json_integer(img->size));
    json_object_set_new(o, "VirtualSize", json_integer(img->size));
    json_t *gd = json_object(), *data = json_object();
    if (img->n_layers > 0) {
        cleanup_free char *upper = tug_store_layer_dir(s, img->layers[img->n_layers - 1].chain_id);
        tug_strbuf lb = {0};
        for (size_t i = img->n_layers - 1; i-- > 0;) {
            cleanup_free char *d = tug_store_layer_dir(s, img->layers[i].chain_id);
            if (lb.len)
                tug_strbuf_addc(&lb, ':');
            tug_strbuf_adds(&lb, d ? d : "");
        }
        cleanup_free char *lower = tug_strbuf_steal(&lb);
        if (lower && *lower)
            json_object_set_new(data, "LowerDir", json_string(lower));
        json_object_set_new(data, "UpperDir", json_string(upper));
    }
    json_object_set_new(gd, "Data", data);
    json_object_set_new(gd, "Name", json_string("overlay"));
    json_object_set_new(o, "GraphDriver", gd);
    json_t *rootfs = json_object(), *layers = json_array();
    json_object_set_new(rootfs, "Type", json_string("layers"));
    for (size_t i = 0; i < img->n_layers; i++)
        json_array_append_new(layers, json_string(img->layers[i].diff_id));
    json_object_set_new(rootfs, "Layers", layers);
    json_object_set_new(o, "RootFS", rootfs);
    json_t *meta = json_object();
    json_object_set_new(meta, "LastTagTime", json_string("0001-01-01T00:00:00Z"));
    json_object_set_new(o, "Metadata", meta);
    return o;
}

int tug_image_history(const tug_image *img, tug_history_row **ret_rows, size_t *ret_n,
                      tug_error **err)
{
    json_t *hist = json_object_get(img->config, "history");
    size_t n = json_is_array(hist) ? json_array_size(hist) : 0;
    tug_history_row *rows = calloc(n ? n : 1, sizeof(*rows));
    if (rows == NULL)
        return tug_error_set(err, 12, "history");
    size_t layer = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *h = json_array_get(hist, i);
        tug_history_row *r = &rows[n - 1 - i]; /* newest first */
        r->created_by = json_string_value(json_object_get(h, "created_by"));
        r->comment = json_string_value(json_object_get(h, "comment"));
        r->empty_layer = json_is_true(json_object_get(h, "empty_layer"));
        long long sec = 0;
        tug_parse_rfc3339(json_string_value(json_object_get(h, "created")), &sec, NULL);
        r->created = sec;
        if (!r->empty_layer) {
            if (layer >= img->n_layers) {
                free(rows);
                return tug_error_user(err, "image %.19s: its history names more layers than it "
                                           "has",
                                      img->id);
            }
            r->size = img->layers[layer++].size;
        }
    }
    if (n > 0)
        rows[0].top = true;
    *ret_rows = rows;
    *ret_n = n;
    return 0;
}
