/* Manifests, indexes and platforms: docker schema2 and OCI, read the same way. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "../util/error.h"

typedef struct tug_descriptor {
    char *media_type;
    char *digest;
    long long size;
    /* platform, for index entries */
    char *os, *arch, *variant;
} tug_descriptor;

typedef struct tug_manifest {
    bool is_index;
    char *media_type;
    tug_descriptor config;       /* image manifests */
    tug_descriptor *layers;      /* image manifests */
    size_t n_layers;
    tug_descriptor *manifests;   /* indexes */
    size_t n_manifests;
} tug_manifest;

typedef struct tug_platform {
    char *os, *arch, *variant;
} tug_platform;

typedef enum {
    TUG_COMPRESS_NONE = 0,
    TUG_COMPRESS_GZIP,
    TUG_COMPRESS_ZSTD,
} tug_compression;

/* Parse a manifest or index body. content_type may be NULL (then mediaType or the shape of the
 * document decides). */
int tug_manifest_parse(const char *body, size_t len, const char *content_type,
                       tug_manifest **ret_manifest, tug_error **err);
void tug_manifest_free(tug_manifest *m);
void tug_manifest_freep(tug_manifest **m);
#define cleanup_manifest __attribute__((cleanup(tug_manifest_freep)))

/* The platform of this machine (linux/amd64, linux/arm64/v8, ...). */
void tug_platform_host(tug_platform *ret);
/* "os/arch[/variant]" or "arch"; user error if malformed. */
int tug_platform_parse(const char *s, tug_platform *ret, tug_error **err);
void tug_platform_clear(tug_platform *p);
char *tug_platform_string(const char *os, const char *arch, const char *variant);
/* Pick the entry of an index for platform p. When none matches, a user error lists what the
 * image offers. */
int tug_index_select(const tug_manifest *index, const tug_platform *p,
                     const tug_descriptor **ret_desc, tug_error **err);
/* The compression of a layer media type; -1 for a type tug cannot unpack. */
int tug_layer_compression(const char *media_type);
