/* `tug build`: a Dockerfile and its context into an image, one layer per filesystem step, with a
 * cache that redoes only what changed. The library does the work and reports what happens
 * through events; the front end draws them (BuildKit's plain lines, or its terminal view). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "../registry/registry.h"
#include "../store/store.h"
#include "../util/error.h"

/* What a build reports. A vertex is one numbered line group ("#5"): an internal step (load the
 * Dockerfile, the context, a base image's metadata), a stage's step ("[2/4] RUN ..."), or the
 * export. Every callback may be NULL. */
typedef struct tug_build_events {
    void (*start)(void *userdata, int vertex, const char *name);
    /* a progress line of the vertex: "transferring context: 2.05kB done" */
    void (*status)(void *userdata, int vertex, const char *text);
    /* output of a RUN, as it comes; stream 1 or 2 */
    void (*log)(void *userdata, int vertex, int stream, const char *buf, size_t len);
    void (*cached)(void *userdata, int vertex);
    void (*done)(void *userdata, int vertex);
    void (*error)(void *userdata, int vertex, const char *message);
    /* a vertex of a stage stopped because another stage failed */
    void (*canceled)(void *userdata, int vertex);
    /* The classic builder's view (docker build without BuildKit), beside the vertices: each
     * instruction of the Dockerfile as it begins, n of total, as written ("FROM busybox");
     * then its end: id is what it made ("sha256:..." of the base image or of the new top
     * layer; NULL when it made neither), cached when the cache gave it, exit_code the status
     * of a RUN that failed (0 when it did not: the step ended well). */
    void (*step)(void *userdata, int n, int total, const char *instruction);
    void (*step_end)(void *userdata, const char *id, bool cached, int exit_code);
    void *userdata;
} tug_build_events;

typedef struct tug_build_opts {
    const char *context;        /* a directory, or "-": a tar (or a lone Dockerfile) on stdin */
    int context_fd;             /* what "-" reads: 0 (stdin), or another fd (tug serve's body) */
    const char *dockerfile;     /* -f: NULL for CONTEXT/Dockerfile, "-" for stdin */
    const char *const *tags;    /* full names ("docker.io/library/x:latest"), NULL-terminated */
    const char *const *build_args; /* "K=V", or "K" to take K from the environment */
    const char *const *labels;  /* "K=V" */
    const char *target;         /* the stage to stop at; NULL: the last */
    const char *platform;       /* NULL or the host's own */
    const char *network;        /* RUN's network: "default", "none" or "host" */
    const char *const *add_hosts; /* "name:ip" */
    const char *const *cache_from; /* images whose layers may serve as cache */
    const char *const *secrets; /* --secret values (build_mounts.h), for RUN --mount=type=secret */
    bool no_cache;
    bool pull;                  /* always look for a newer base image */
    bool sequential;            /* stages one after the other in the Dockerfile's order, never
                                 * at the same time (the classic builder's step lines) */
    int cancel_fd;              /* > 0, with sequential: once readable or hung up, the build
                                 * stops before its next step and a RUN at work is killed
                                 * (tug serve: the client's connection, which hung up) */
    const tug_registry_opts *registry;
    tug_build_events events;
} tug_build_opts;

/* Build; *ret_image_id is the new image's ID ("sha256:...", the digest of its config), tagged
 * with opts->tags. A failing step leaves no container, mount, half layer or tag behind. */
int tug_build(tug_store *s, const tug_build_opts *opts, char **ret_image_id, tug_error **err);
