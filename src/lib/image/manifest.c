#include "manifest.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "../registry/registry.h"
#include "../util/cleanup.h"
#include "../util/digest.h"

static char *dup_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? strdup(s) : NULL;
}

static void descriptor_clear(tug_descriptor *d)
{
    free(d->media_type);
    free(d->digest);
    free(d->os);
    free(d->arch);
    free(d->variant);
    memset(d, 0, sizeof(*d));
}

static int parse_descriptor(json_t *o, tug_descriptor *d, const char *what, tug_error **err)
{
    if (!json_is_object(o))
        return tug_error_user(err, "malformed manifest: %s is not an object", what);
    const char *digest = json_string_value(json_object_get(o, "digest"));
    if (!tug_digest_valid(digest))
        return tug_error_user(err, "malformed manifest: %s has no valid sha256 digest", what);
    json_t *size = json_object_get(o, "size");
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return tug_error_user(err, "malformed manifest: %s has no valid size", what);
    d->digest = strdup(digest);
    d->size = json_integer_value(size);
    d->media_type = dup_str(o, "mediaType");
    json_t *plat = json_object_get(o, "platform");
    if (json_is_object(plat)) {
        d->os = dup_str(plat, "os");
        d->arch = dup_str(plat, "architecture");
        d->variant = dup_str(plat, "variant");
    }
    return 0;
}

void tug_manifest_free(tug_manifest *m)
{
    if (m == NULL)
        return;
    free(m->media_type);
    descriptor_clear(&m->config);
    for (size_t i = 0; i < m->n_layers; i++)
        descriptor_clear(&m->layers[i]);
    free(m->layers);
    for (size_t i = 0; i < m->n_manifests; i++)
        descriptor_clear(&m->manifests[i]);
    free(m->manifests);
    free(m);
}

void tug_manifest_freep(tug_manifest **m)
{
    tug_manifest_free(*m);
}

static int parse_list(json_t *arr, tug_descriptor **ret, size_t *ret_n, const char *what,
                      tug_error **err)
{
    if (!json_is_array(arr))
        return tug_error_user(err, "malformed manifest: no %s list", what);
    size_t n = json_array_size(arr);
    tug_descriptor *v = calloc(n ? n : 1, sizeof(*v));
    if (v == NULL)
        return tug_error_set(err, 12, "manifest");
    *ret = v;
    *ret_n = n;
    for (size_t i = 0; i < n; i++)
        if (parse_descriptor(json_array_get(arr, i), &v[i], what, err) < 0)
            return -1;
    return 0;
}

int tug_manifest_parse(const char *body, size_t len, const char *content_type,
                       tug_manifest **ret_manifest, tug_error **err)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return tug_error_user(err, "malformed manifest: %s (line %d, column %d)", jerr.text,
                              jerr.line, jerr.column);
    tug_manifest *m = calloc(1, sizeof(*m));
    int r = -1;
    json_t *ver, *manifests;
    const char *mt;
    if (m == NULL) {
        json_decref(root);
        return tug_error_set(err, 12, "manifest");
    }
    if (!json_is_object(root)) {
        tug_error_user(err, "malformed manifest: not a JSON object");
        goto out;
    }
    ver = json_object_get(root, "schemaVersion");
    if (json_is_integer(ver) && json_integer_value(ver) == 1) {
        tug_error_user(err, "manifest schema version 1 is not supported; push the image again "
                            "with a current client");
        goto out;
    }
    mt = json_string_value(json_object_get(root, "mediaType"));
    if (mt == NULL && content_type && strstr(content_type, "json") &&
        strcmp(content_type, "application/json") != 0)
        mt = content_type;
    manifests = json_object_get(root, "manifests");
    if (mt == NULL)
        mt = manifests ? TUG_MT_OCI_INDEX : TUG_MT_OCI_MANIFEST;
    m->media_type = strdup(mt);
    if (strcmp(mt, TUG_MT_OCI_INDEX) == 0 || strcmp(mt, TUG_MT_DOCKER_LIST) == 0) {
        m->is_index = true;
        if (parse_list(manifests, &m->manifests, &m->n_manifests, "manifests", err) < 0)
            goto out;
    } else if (strcmp(mt, TUG_MT_OCI_MANIFEST) == 0 || strcmp(mt, TUG_MT_DOCKER_MANIFEST) == 0) {
        if (parse_descriptor(json_object_get(root, "config"), &m->config, "config", err) < 0)
            goto out;
        if (parse_list(json_object_get(root, "layers"), &m->layers, &m->n_layers, "layers",
                       err) < 0)
            goto out;
    } else {
        tug_error_user(err, "unsupported manifest media type %s", mt);
        goto out;
    }
    *ret_manifest = steal_pointer(&m);
    r = 0;
out:
    tug_manifest_free(m);
    json_decref(root);
    return r;
}

void tug_platform_host(tug_platform *ret)
{
    struct utsname u;
    const char *arch = "amd64", *variant = NULL;
    if (uname(&u) == 0) {
        if (strcmp(u.machine, "aarch64") == 0) {
            arch = "arm64";
            variant = "v8";
        } else if (strncmp(u.machine, "armv7", 5) == 0) {
            arch = "arm";
            variant = "v7";
        } else if (strcmp(u.machine, "i686") == 0 || strcmp(u.machine, "i386") == 0)
            arch = "386";
        else if (strcmp(u.machine, "ppc64le") == 0 || strcmp(u.machine, "s390x") == 0 ||
                 strcmp(u.machine, "riscv64") == 0)
            arch = u.machine;
    }
    ret->os = strdup("linux");
    ret->arch = strdup(arch);
    ret->variant = variant ? strdup(variant) : NULL;
}

static const char *normalize_arch(const char *a)
{
    if (strcmp(a, "x86_64") == 0 || strcmp(a, "x86-64") == 0)
        return "amd64";
    if (strcmp(a, "aarch64") == 0)
        return "arm64";
    return a;
}

int tug_platform_parse(const char *s, tug_platform *ret, tug_error **err)
{
    cleanup_strv char **parts = calloc(4, sizeof(char *));
    cleanup_free char *copy = strdup(s);
    size_t n = 0;
    if (parts == NULL || copy == NULL)
        return tug_error_set(err, 12, "platform");
    for (char *save = NULL, *tok = strtok_r(copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (n == 3)
            return tug_error_user(err, "invalid platform \"%s\": use os/arch[/variant]", s);
        parts[n++] = strdup(tok);
    }
    if (n == 0 || s[strlen(s) - 1] == '/')
        return tug_error_user(err, "invalid platform \"%s\": use os/arch[/variant]", s);
    memset(ret, 0, sizeof(*ret));
    if (n == 1) {
        ret->os = strdup("linux");
        ret->arch = strdup(normalize_arch(parts[0]));
    } else {
        ret->os = strdup(parts[0]);
        ret->arch = strdup(normalize_arch(parts[1]));
        ret->variant = n == 3 ? strdup(parts[2]) : NULL;
    }
    if (strcmp(ret->arch, "arm64") == 0 && ret->variant == NULL)
        ret->variant = strdup("v8");
    return 0;
}

void tug_platform_clear(tug_platform *p)
{
    free(p->os);
    free(p->arch);
    free(p->variant);
    memset(p, 0, sizeof(*p));
}

char *tug_platform_string(const char *os, const char *arch, const char *variant)
{
    char *out = NULL;
    if (asprintf(&out, "%s/%s%s%s", os ? os : "unknown", arch ? arch : "unknown",
                 variant && *variant ? "/" : "", variant && *variant ? variant : "") < 0)
        return NULL;
    return out;
}

static const char *norm_variant(const char *arch, const char *variant)
{
    if (variant && *variant)
        return variant;
    if (arch && strcmp(arch, "arm64") == 0)
        return "v8";
    return "";
}

int tug_index_select(const tug_manifest *index, const tug_platform *p,
                     const tug_descriptor **ret_desc, tug_error **err)
{
    const tug_descriptor *best = NULL;
    for (size_t i = 0; i < index->n_manifests; i++) {
        const tug_descriptor *d = &index->manifests[i];
        if (d->os == NULL || d->arch == NULL || strcmp(d->os, p->os) != 0 ||
            strcmp(normalize_arch(d->arch), p->arch) != 0)
            continue;
        const char *want = norm_variant(p->arch, p->variant);
        const char *have = norm_variant(d->arch, d->variant);
        if (*want && strcmp(want, have) != 0 && strcmp(p->arch, "amd64") != 0)
            continue;
        if (best == NULL || (strcmp(want, have) == 0))
            best = d;
        if (strcmp(want, have) == 0)
            break;
    }
    if (best) {
        *ret_desc = best;
        return 0;
    }
    char offers[1024] = "";
    size_t used = 0;
    for (size_t i = 0; i < index->n_manifests; i++) {
        const tug_descriptor *d = &index->manifests[i];
        if (d->os == NULL || strcmp(d->os, "unknown") == 0)
            continue;
        cleanup_free char *ps = tug_platform_string(d->os, d->arch, d->variant);
        int n = snprintf(offers + used, sizeof(offers) - used, "%s%s", used ? ", " : "", ps);
        if (n < 0 || (size_t)n >= sizeof(offers) - used)
            break;
        used += (size_t)n;
    }
    cleanup_free char *want = tug_platform_string(p->os, p->arch, p->variant);
    return tug_error_user(err,
                          "no matching manifest for %s in the manifest list entries; the image "
                          "offers: %s (choose one with --platform)",
                          want, used ? offers : "none");
}

int tug_layer_compression(const char *mt)
{
    if (mt == NULL)
        return TUG_COMPRESS_GZIP;
    if (strcmp(mt, "application/vnd.docker.image.rootfs.diff.tar.gzip") == 0 ||
        strcmp(mt, "application/vnd.oci.image.layer.v1.tar+gzip") == 0 ||
        strcmp(mt, "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip") == 0 ||
        strcmp(mt, "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip") == 0)
        return TUG_COMPRESS_GZIP;
    if (strcmp(mt, "application/vnd.oci.image.layer.v1.tar+zstd") == 0 ||
        strcmp(mt, "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd") == 0)
        return TUG_COMPRESS_ZSTD;
    if (strcmp(mt, "application/vnd.oci.image.layer.v1.tar") == 0 ||
        strcmp(mt, "application/vnd.docker.image.rootfs.diff.tar") == 0 ||
        strcmp(mt, "application/vnd.oci.image.layer.nondistributable.v1.tar") == 0)
        return TUG_COMPRESS_NONE;
    return -1;
}
