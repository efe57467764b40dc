/* Engine-wide facts: `info`'s document and the disk a container uses. */
#pragma once
#include <jansson.h>

#include "../runtime/container.h"
#include "../store/store.h"
#include "../util/error.h"

/* What a container takes on disk: what it wrote (its upper directory, docker's SizeRw) and
 * that plus its image's layers (SizeRootFs). */
int tug_container_disk_size(tug_store *s, const tug_container *c, long long *ret_rw,
                            long long *ret_rootfs, tug_error **err);
/* An image with what system df tells of it: the bytes of its layers other images have too
 * (docker's SharedSize) and how many of the given containers use it. */
typedef struct tug_image_usage {
    tug_image *img; /* with its layers */
    long long shared;
    long long containers;
} tug_image_usage;
/* Every image (newest first) with its usage; *ret_layers: the bytes of all distinct layers
 * (docker's LayersSize). */
int tug_image_usage_list(tug_store *s, tug_container *const *ctrs, size_t n_ctrs,
                         tug_image_usage **ret, size_t *ret_n, long long *ret_layers,
                         tug_error **err);
void tug_image_usage_free(tug_image_usage *u, size_t n);
/* docker's `info` document for this store and host, with docker's field names (Containers,
 * ContainersRunning, Images, Driver, KernelVersion, NCPU, MemTotal, DockerRootDir, ...).
 * insecure: the registries reached over plain HTTP (NULL-terminated, may be NULL). */
int tug_engine_info(tug_store *s, const char *const *insecure, json_t **ret_info,
                    tug_error **err);
/* The Server half of docker's `version` document: Version, Os, Arch, KernelVersion and the
 * Engine component. */
json_t *tug_engine_version(void);
/* Go's name for this machine's architecture (amd64, arm64, ...), as docker's OS/Arch. */
const char *tug_go_arch(void);
