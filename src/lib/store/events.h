/* The store's event log, what `tug events` shows: one docker event JSON object per line in
 * $ROOT/events/events.log, appended with one write() by whichever process caused the event.
 * At TUG_EVENTS_MAX_BYTES the file becomes events.log.1 (the older one goes), so the log holds
 * at most twice that. docs/events.md has the format and how following works. */
#pragma once
#include <jansson.h>
#include <stdbool.h>

#include "../util/error.h"
#include "store.h"

#define TUG_EVENTS_MAX_BYTES (1024 * 1024)

/* Record one event of type ("container", "image", "network", "volume") on the object id, with
 * attributes as key, value string pairs ending in NULL (a NULL value drops its key). Never
 * fails the caller: an event that cannot be written is lost. */
void tug_event_emit(tug_store *s, const char *type, const char *action, const char *id, ...)
    __attribute__((sentinel));
/* The same with the attributes as a JSON object of strings (taken over; NULL for none). */
void tug_event_emitj(tug_store *s, const char *type, const char *action, const char *id,
                     json_t *attrs);

/* An image event: id (an image ID, or a reference for pull and push) named name, shown as
 * docker shows names ("busybox:latest", not "docker.io/library/busybox:latest"). */
void tug_event_image(tug_store *s, const char *action, const char *id, const char *name);

/* docker's events filters: container, event, image, label, network, type, volume. Values of
 * one key match if any does; different keys must all match. */
typedef struct tug_event_filter tug_event_filter;
/* Add "key=value" to *f (allocated on first use); a user error for an unknown key. */
int tug_event_filter_add(tug_event_filter **f, const char *arg, tug_error **err);
bool tug_event_filter_match(const tug_event_filter *f, json_t *ev);
void tug_event_filter_free(tug_event_filter *f);
void tug_event_filter_freep(tug_event_filter **f);
#define cleanup_event_filter __attribute__((cleanup(tug_event_filter_freep)))

/* An inotify fd that becomes readable when an event is written (any container's start, die,
 * destroy...): front ends that wait for a container's state wake on it instead of polling.
 * tug_events_watch_drain empties it before the next wait. -1 with err on failure. */
int tug_events_watch(tug_store *s, tug_error **err);
void tug_events_watch_drain(int fd);

/* Called per event in order; a non-zero return stops the reading. While following it is also
 * called with ev NULL each time the reader wakes (at least once a second), so that a caller
 * whose client has gone can stop. */
typedef int (*tug_event_fn)(json_t *ev, void *data);
/* The events from since_ns to until_ns (0: no bound) that pass f (NULL: all). With follow,
 * after the past ones it waits for new events (inotify on the log's directory, rotation
 * included) until until_ns passes, fn says stop, or for ever. */
int tug_events_read(tug_store *s, long long since_ns, long long until_ns, bool follow,
                    const tug_event_filter *f, tug_event_fn fn, void *data, tug_error **err);
