/* A container as lists show it (docker's ps and GET /containers/json): its command, status
 * line, ports and networks, its inspect document, and ps's filters. */
#pragma once
#include <jansson.h>
#include <stdbool.h>

#include "../runtime/container.h"
#include "../store/store.h"
#include "../util/error.h"

/* Entrypoint and Cmd joined by spaces, the arguments that hold a space in single quotes, as
 * docker's summary has its Command: sh -c 'echo hi'. */
char *tug_container_command(const tug_container *c);
/* docker's status line: "Up 2 minutes (healthy)", "Exited (0) 3 seconds ago", "Created"... */
char *tug_container_status_text(tug_store *s, tug_container *c);
/* The container's ports as docker's summary lists them: published ones (while it runs), then
 * exposed ones, each {IP, PrivatePort, PublicPort, Type}. */
json_t *tug_container_ports_summary(tug_store *s, tug_container *c);
/* The networks a container is on, as a set (object keys): its mode's network and the ones it
 * was connected to. */
json_t *tug_container_network_names(tug_store *s, tug_container *c);
/* Find a container by ID, prefix or name and give its inspect document, with its health and,
 * when size is set, SizeRw and SizeRootFs. */
json_t *tug_container_inspect_doc(tug_store *s, const char *name, bool size, tug_error **err);
/* docker's ContainerSummary (GET /containers/json): Id, Names, Image, Command, Created, Ports,
 * Labels, State, Status, HostConfig, NetworkSettings, Mounts and, with size, SizeRw and
 * SizeRootFs. */
json_t *tug_container_summary_json(tug_store *s, tug_container *c, bool size);

/* ps's filters (docker's keys: status, exited, health, name, id, label, ancestor, before,
 * since, publish, expose, network, volume): a set of key=value pairs, keys ANDed, values of a
 * key ORed (label: ANDed). */
typedef struct tug_ps_filter {
    const struct tug_ps_filter_def *def;
    char *value;
} tug_ps_filter;

typedef struct tug_ps_filters {
    tug_ps_filter *v;
    size_t n;
} tug_ps_filters;

/* Add key=value; user errors as docker's daemon words them ("Invalid filter 'x'"). */
int tug_ps_filters_add(tug_ps_filters *f, const char *key, const char *value, tug_error **err);
/* Look up what the values name (before=, since=, network=) once the store is open. */
int tug_ps_filters_resolve(tug_store *s, tug_ps_filters *f, tug_error **err);
/* Does a filter look at stopped containers too (status=, exited=)? */
bool tug_ps_filters_show_all(const tug_ps_filters *f);
/* ports: tug_container_ports_summary's answer for c. */
bool tug_ps_filters_match(const tug_ps_filters *f, tug_store *s, tug_container *c, json_t *ports);
void tug_ps_filters_clear(tug_ps_filters *f);
/* The containers ps lists, newest first: the running ones (every one with all, with last > 0
 * or a filter on stopped ones) that pass f, at most last of them (last <= 0: no bound). Each
 * comes with its ports (tug_container_ports_summary) in *ret_ports[i]; tug_ps_selection_free
 * frees both. */
int tug_ps_select(tug_store *s, const tug_ps_filters *f, bool all, int last,
                  tug_container ***ret_ctrs, json_t ***ret_ports, size_t *ret_n, tug_error **err);
void tug_ps_selection_free(tug_container **ctrs, json_t **ports, size_t n);
