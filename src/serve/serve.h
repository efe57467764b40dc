/* tug serve: the Docker Engine API on a unix socket, over the same store as the CLI. */
#pragma once
#include <stdbool.h>

#include "http.h"
#include "registry/registry.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strutil.h"

/* The API version tug answers with (Api-Version, /version), and the range of /vX.Y prefixes
 * it takes. */
#define TUG_API_VERSION "1.41"
#define TUG_API_MIN_MINOR 24
#define TUG_API_MAX_MINOR 45

typedef struct tug_serve_opts {
    const char *root;      /* the store */
    const char *host;      /* "unix:///run/tug/tug.sock" */
    int idle_seconds;      /* exit after this long with no connection; 0: never */
    bool quiet;            /* no "listening on" line */
    /* --tlsverify: TLS on tcp://, a client certificate signed by tls_ca required (then any
     * address may be served); NULL: plain, on loopback only */
    const char *tls_ca, *tls_cert, *tls_key;
    const tug_registry_opts *registry; /* pulls and pushes: the CLI's insecure registries and
                                          stored logins; NULL: the defaults */
} tug_serve_opts;

/* Listen on opts->host and answer until SIGTERM/SIGINT or the idle time runs out. Returns 0,
 * or -1 with err when the socket cannot be served. */
int tug_serve(const tug_serve_opts *opts, tug_error **err);

/* One connection's state for the endpoints: the store, opened on first use. */
typedef struct tug_api_ctx {
    const char *root;
    const tug_registry_opts *registry; /* tug_serve_opts' */
    tug_store *store;
    /* the request's body as it comes, for a route that streams it (tug_api_streams_body):
     * read it with tug_http_body_read; NULL for the others, whose body is read before */
    tug_http_body *body;
} tug_api_ctx;

/* Answer one parsed request (its body, if any, in body[0..body_len)). Returns 0, or -1 when
 * the peer has gone. */
int tug_api_handle(tug_api_ctx *x, tug_http_req *req, const char *body, size_t body_len,
                   tug_http_out *o);
/* Does the request go to a route that reads its body as it comes (any size, chunked)? */
bool tug_api_streams_body(const tug_http_req *req);

/* Shared by the endpoints (api.c): a library error answered with its status (err is freed);
 * the store, opened on first use (-1 after answering 500); a boolean query parameter as
 * docker reads one. */
int tug_api_send_err(tug_http_out *o, tug_error *err);
int tug_api_store(tug_api_ctx *x, tug_http_out *o, tug_store **ret);
bool tug_api_query_bool(const tug_http_req *req, const char *key);

/* The container lifecycle endpoints (containers.c); arg is the {id} of the path. */
typedef struct tug_api_call {
    tug_api_ctx *x;
    tug_http_req *req;
    const char *arg;
    const char *body;
    size_t body_len;
    tug_http_out *o;
} tug_api_call;
/* The request's body as a JSON object; an empty body is {} (if_empty NULL) or a 400 saying
 * if_empty; NULL after answering 400 for a body that is not a JSON object. */
json_t *tug_api_body_object(const tug_api_call *a, const char *if_empty);
int tug_api_container_create(const tug_api_call *c);
int tug_api_container_start(const tug_api_call *c);
int tug_api_container_stop(const tug_api_call *c);
int tug_api_container_restart(const tug_api_call *c);
int tug_api_container_kill(const tug_api_call *c);
int tug_api_container_pause(const tug_api_call *c);
int tug_api_container_unpause(const tug_api_call *c);
int tug_api_container_wait(const tug_api_call *c);
int tug_api_container_delete(const tug_api_call *c);
int tug_api_container_rename(const tug_api_call *c);
int tug_api_container_logs(const tug_api_call *c);
int tug_api_container_attach(const tug_api_call *c);

/* exec and the interactive streams (exec.c): exec create, start, inspect, resize; container
 * resize; attach's relay of the connection to a container's monitor (stdin too). */
int tug_api_exec_create(const tug_api_call *c);
int tug_api_exec_start(const tug_api_call *c);
int tug_api_exec_inspect(const tug_api_call *c);
int tug_api_exec_resize(const tug_api_call *c);
int tug_api_container_resize(const tug_api_call *c);
typedef struct tug_api_attach_opts {
    bool in, out, err;       /* the streams attached */
    const char *detach_keys; /* NULL: docker's ctrl-p,ctrl-q */
    bool running;            /* channel is the running container's monitor channel; else the
                              * relay waits for the container's start */
    int channel;
    int listener; /* else: where the start hands the channel over (see below) */
} tug_api_attach_opts;
/* The monitor's channel of a running container (tug_container_attach), -1 after answering
 * (409 for one that does not run). */
struct tug_container;
int tug_api_attach_channel(const tug_api_call *a, tug_store *s, struct tug_container *c);
/* Relay the hijacked connection and the container until it ends or the client detaches or
 * hangs up; -1 when the client went before the container started. */
int tug_api_attach_relay(const tug_api_call *a, tug_store *s, struct tug_container *c,
                         const tug_api_attach_opts *ao);
/* An attach to c that does not run waits for its start on a socket it listens on before it
 * answers (the client starts the container once it has the answer); the start connects to it
 * and hands the monitor its end (tug_start_opts's attach_fd), or -1 when none waits. */
int tug_api_attach_listen(tug_store *s, const struct tug_container *c);
void tug_api_attach_unlisten(tug_store *s, const struct tug_container *c, int listener);
int tug_api_attach_waiting(tug_store *s, const struct tug_container *c);
/* Builds (build.c): POST /build reads its context tar as it comes (x->body). */
int tug_api_build(const tug_api_call *c);
int tug_api_build_prune(const tug_api_call *c);
/* The image endpoints (images.c): pull, tag, remove, push, save, load, prune, search. */
int tug_api_image_create(const tug_api_call *c);
int tug_api_image_load(const tug_api_call *c);
int tug_api_images_prune(const tug_api_call *c);
int tug_api_images_search(const tug_api_call *c);
int tug_api_images_get(const tug_api_call *c);
int tug_api_image_get(const tug_api_call *c);
int tug_api_image_tag(const tug_api_call *c);
int tug_api_image_push(const tug_api_call *c);
int tug_api_image_delete(const tug_api_call *c);
/* POST /commit (images.c): tug_container_commit, what `tug commit` does. */
int tug_api_commit(const tug_api_call *c);
/* Networks, volumes, auth, container prune (objects.c) and events (events.c). ?filters= as
 * docker sends it ({"key":["v"]} or {"key":{"v":true}}): add is called per pair. A ?since= /
 * ?until= time: 0 when absent, -1 after answering 400. */
typedef int (*tug_api_filter_fn)(void *data, const char *key, const char *value, tug_error **err);
int tug_api_each_filter(const tug_http_req *req, tug_api_filter_fn add, void *data,
                        tug_error **err);
int tug_api_time_param(const tug_http_req *req, tug_http_out *o, const char *key,
                       long long *ret_ns);
/* A prune's ?filters=: label, label! and until (unix seconds) into f; with TUG_PRUNE_ALL,
 * all (volumes; 1, 0, or -1 when not given) instead of until; with TUG_PRUNE_DANGLING,
 * dangling too (images; -1 when not given); with TUG_PRUNE_UNTIL_ONLY no labels (the build
 * cache). Another key is a 400. f's strings live in keep (json_decref it). -1 after
 * answering 400. */
enum { TUG_PRUNE_ALL = 1, TUG_PRUNE_DANGLING = 2, TUG_PRUNE_UNTIL_ONLY = 4 };
typedef struct tug_api_prune {
    tug_prune_filter f;
    json_t *keep;
    int all, dangling;
    unsigned takes;
} tug_api_prune;
int tug_api_prune_filters(const tug_api_call *a, tug_api_prune *q, unsigned takes);
int tug_api_network_create(const tug_api_call *c);
int tug_api_network_delete(const tug_api_call *c);
int tug_api_network_connect(const tug_api_call *c);
int tug_api_network_disconnect(const tug_api_call *c);
int tug_api_network_prune(const tug_api_call *c);
int tug_api_volume_create(const tug_api_call *c);
int tug_api_volume_delete(const tug_api_call *c);
int tug_api_volume_prune(const tug_api_call *c);
int tug_api_container_prune(const tug_api_call *c);
int tug_api_auth(const tug_api_call *c);
int tug_api_events(const tug_api_call *c);
/* The containers' files, processes and resources (containers_io.c): top, stats, changes,
 * export, archive (HEAD, GET, PUT) and update. tug_api_container_find (containers.c): the
 * container the path names, refreshed, or -1 after answering (404...). */
int tug_api_container_find(const tug_api_call *a, tug_store **ret_s,
                           struct tug_container **ret);
int tug_api_container_top(const tug_api_call *c);
int tug_api_container_stats(const tug_api_call *c);
int tug_api_container_changes(const tug_api_call *c);
int tug_api_container_export(const tug_api_call *c);
int tug_api_container_archive_head(const tug_api_call *c);
int tug_api_container_archive_get(const tug_api_call *c);
int tug_api_container_archive_put(const tug_api_call *c);
int tug_api_container_update(const tug_api_call *c);
