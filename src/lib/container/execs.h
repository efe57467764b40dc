/* Exec instances that outlive a request: the Engine API creates an exec in one request and
 * starts it (and inspects it) in others, possibly on other connections. Each is a JSON record
 * in the store's run directory (<run>/execs/<id>.json, replaced whole on each change), in the
 * shape of docker's GET /exec/{id}/json plus a private "Config" with what the start needs. */
#pragma once
#include <jansson.h>

#include "../store/store.h"
#include "../util/error.h"

struct tug_container;

/* A new record for an exec of c: config is docker's exec config (Cmd, Env, WorkingDir, User,
 * Tty, AttachStdin/Stdout/Stderr, Privileged, DetachKeys); Cmd must be a non-empty array of
 * strings (a user error otherwise). *ret is the record, its "ID" the new exec's. */
int tug_exec_record_create(tug_store *s, const struct tug_container *c, json_t *config,
                           json_t **ret, tug_error **err);
/* The record of exec id; a not-found error in docker's words when there is none. */
int tug_exec_record_load(tug_store *s, const char *id, json_t **ret, tug_error **err);
/* Write rec back (its "ID" names it). */
int tug_exec_record_save(tug_store *s, json_t *rec, tug_error **err);
/* The record as docker's GET /exec/{id}/json shows it (a new reference). */
json_t *tug_exec_record_public(json_t *rec);
