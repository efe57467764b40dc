/* Manifests and indexes (docker schema2 and OCI) as a registry or an archive sends them, read
 * with and without a Content-Type, then used as pull uses them. */
#include "fuzz.h"

#include "image/manifest.h"
#include "registry/registry.h"

static void use(const tug_manifest *m)
{
    if (m->is_index) {
        static const char *const platforms[] = {"linux/amd64", "linux/arm/v7", "arm64"};
        for (size_t i = 0; i < sizeof(platforms) / sizeof(platforms[0]); i++) {
            tug_platform p = {0};
            tug_error *err = NULL;
            if (tug_platform_parse(platforms[i], &p, &err) < 0)
                abort();
            const tug_descriptor *d = NULL;
            int r = tug_index_select(m, &p, &d, &err);
            fuzz_check_error(r, err);
            fuzz_check(r < 0 || (d != NULL && d->digest != NULL), "selected nothing");
            tug_error_free(err);
            tug_platform_clear(&p);
        }
    } else {
        fuzz_check(m->config.digest != NULL, "a manifest without a config digest");
        for (size_t i = 0; i < m->n_layers; i++)
            if (m->layers[i].media_type)
                (void)tug_layer_compression(m->layers[i].media_type);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const types[] = {NULL, TUG_MT_DOCKER_MANIFEST, TUG_MT_OCI_INDEX};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        tug_manifest *m = NULL;
        tug_error *err = NULL;
        int r = tug_manifest_parse((const char *)data, size, types[i], &m, &err);
        fuzz_check_error(r, err);
        if (r == 0) {
            use(m);
            tug_manifest_free(m);
        }
        tug_error_free(err);
    }
    return 0;
}
