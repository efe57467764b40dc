/* Containers: records in the store, their OCI runtime spec, and their lifecycle. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "../store/store.h"
#include "../util/error.h"

/* The states docker reports. */
#define TUG_STATE_CREATED "created"
#define TUG_STATE_RUNNING "running"
#define TUG_STATE_PAUSED "paused"
#define TUG_STATE_RESTARTING "restarting"
#define TUG_STATE_EXITED "exited"
#define TUG_STATE_DEAD "dead"

typedef struct tug_container {
    char *id;         /* 64 hex */
    char *name;       /* without the leading "/" */
    char *image_id;   /* config digest */
    char *image_name; /* as the user wrote it */
    long long created_ns;
    json_t *config;   /* {"Config": {...}, "HostConfig": {...}}: docker's create request, merged
                         with the image's defaults */
    char *state;
    pid_t pid;        /* the container's init on the host, 0 when not running */
    pid_t monitor_pid;
    long long pid_start; /* start time (clock ticks) of pid, to tell a reused pid */
    int exit_code;
    bool oom_killed;
    long long started_ns, finished_ns;
    int restart_count;
    char *error;
    bool remove_volumes; /* not stored: tug_container_remove also removes anonymous volumes */
    bool removed;        /* not stored: removed since it was read (its --rm, when it ended) */
} tug_container;

void tug_container_free(tug_container *c);
/* Record a container event (store/events.h) with docker's attributes: image, name and the
 * container's labels, then extra key, value pairs ending in NULL. */
void tug_container_event(tug_store *s, const tug_container *c, const char *action, ...)
    __attribute__((sentinel));
/* docker's exec events, each with the exec's ID (execID): "exec_create: CMD ARGS" and
 * "exec_start: CMD ARGS" when args is given, else "exec_die" with the exit code (exitCode). */
void tug_exec_event(tug_store *s, const tug_container *c, const char *action, char **args,
                    const char *exec_id, int exit_code);
/* A volume event ("mount", "unmount") for each volume the container mounts. */
void tug_container_volume_events(tug_store *s, const tug_container *c, const char *action);
void tug_container_freep(tug_container **c);
#define cleanup_container __attribute__((cleanup(tug_container_freep)))

/* Paths of a container's files. */
char *tug_container_dir(tug_store *s, const char *id);
/* Runtime state (sockets, exit files) lives under tug_store_run_dir (store.h), on tmpfs.
 * Make the container's run directory, and mark the store's with the root it belongs to. */
int tug_run_dir_make(tug_store *s, const char *id, tug_error **err);

/* Create a container from an image. request is docker's create request shape: {"Config":{...},
 * "HostConfig":{...}}; name NULL for a random one. Writes the record, the container's
 * directory and its config.json. */
int tug_container_create(tug_store *s, const char *image, json_t *request, const char *name,
                         tug_container **ret_ctr, tug_error **err);
/* Find by full ID, unique ID prefix or name. User error "No such container: X". */
int tug_container_find(tug_store *s, const char *what, tug_container **ret_ctr, tug_error **err);
/* All containers, newest first; states are brought up to date first. */
int tug_container_list(tug_store *s, tug_container ***ret, size_t *ret_n, tug_error **err);
void tug_containers_free(tug_container **v, size_t n);
/* Bring a running record up to date with reality (monitor gone, process exited...). */
int tug_container_refresh(tug_store *s, tug_container *c, tug_error **err);
/* Persist state fields of c. */
int tug_container_save_state(tug_store *s, const tug_container *c, tug_error **err);
/* Persist c->config (docker's create request, as `update` changes it). */
int tug_container_save_config(tug_store *s, const tug_container *c, tug_error **err);
/* Record that c ended (its exit_code, oom_killed, finished_ns, error), unless the row has left
 * the state and run c was read in or says exited already (c was read after another process
 * recorded the end: the monitor's hand-over after a command took the monitor for killed):
 * then another process recorded it first. *ret_won tells; when true, c says exited. */
int tug_container_save_ended(tug_store *s, tug_container *c, bool *ret_won, tug_error **err);
int tug_container_rename(tug_store *s, tug_container *c, const char *name, tug_error **err);
/* Remove a stopped container's record and files, its run directory too. */
int tug_container_remove(tug_store *s, tug_container *c, tug_error **err);
/* Find (and with repair, remove) run directories of containers that are gone, and those of
 * other stores whose root is gone (reported, not counted). Appends one line per finding to
 * *details; returns the count. */
int tug_container_check(tug_store *s, bool repair, char **details, tug_error **err);

/* ---- lifecycle (lifecycle.c) ---- */

typedef struct tug_start_opts {
    int attach_fd;   /* the monitor's end of an attach socket, or -1 */
    bool open_stdin; /* the container reads stdin from the attach channel */
    unsigned short rows, cols; /* the caller's terminal size, for a container with -t */
} tug_start_opts;

/* Start a created or exited container: a monitor is forked, the init spawned, and this returns
 * once it runs. A failure to exec gives err->status 126 or 127, others 125. */
int tug_container_start(tug_store *s, tug_container *c, const tug_start_opts *o,
                        tug_error **err);
/* Signal a running container's init. */
int tug_container_signal(tug_store *s, tug_container *c, int sig, tug_error **err);
/* Stop: sig (0 = the container's stop signal), then SIGKILL after timeout seconds (< 0 = the
 * container's stop timeout, default 10). *ret_forced tells whether SIGKILL was needed. Returns
 * once the exit is recorded. A container that is not running is left as it is. */
int tug_container_stop(tug_store *s, tug_container *c, int sig, int timeout, bool *ret_forced,
                       tug_error **err);
/* Block until the container is not running; the record is reloaded into c. */
int tug_container_wait(tug_store *s, tug_container *c, tug_error **err);
/* What the monitor hands over to when the container exits: record the exit, then remove the
 * container (--rm) or restart it (restart policy), then tell an attached client. */
int tug_container_finish(tug_store *s, const char *id, int attach_fd, tug_error **err);
/* rm: remove the container, its files and its cgroup; a running (paused, restarting) one only
 * with force, which kills it first; otherwise a conflict error in docker's words. Anonymous
 * volumes go too when c->remove_volumes is set. */
int tug_container_rm(tug_store *s, tug_container *c, bool force, tug_error **err);
/* Freeze or thaw every process of a running container. */
int tug_container_pause(tug_store *s, tug_container *c, bool pause, tug_error **err);
/* Is the container's init alive (pid and start time match, and it has not ended)? */
bool tug_container_alive(const tug_container *c);
/* A pidfd of the container's init, checked against its recorded start time: signals sent
 * through it never reach a process that took a dead init's pid. A user error when the init is
 * gone. */
int tug_container_pidfd(const tug_container *c, tug_error **err);
/* Signal number from "SIGTERM", "TERM", "15"; -1 when unknown. */
int tug_signal_parse(const char *s);

/* docker's `inspect` document for a container. */
/* The container's cgroup name for tug_cgroup_open ("tug/<id>", or under its --cgroup-parent);
 * asprintf's result. */
int tug_container_cgroup_path(const tug_container *c, char **ret);
json_t *tug_container_inspect_json(tug_store *s, tug_container *c);
/* NetworkSettings.Networks of inspect (and of the API's container list): the container's
 * endpoints with the addresses it asked for; a container that does not run, on its network
 * with no address. */
json_t *tug_container_networks_json(tug_store *s, tug_container *c);

/* hostname, hosts and resolv.conf for a container in dir (bound over the image's /etc ones):
 * the host's resolvers less loopback ones, HostConfig's ExtraHosts and Dns. */
int tug_container_write_etc(const char *dir, const char *hostname, json_t *hc, tug_error **err);

/* ---- exec (exec.c) ---- */

typedef struct tug_exec_opts {
    char **args;
    char **env;       /* added to the container's environment, "K=V" */
    const char *cwd;  /* NULL: the container's working directory */
    const char *user; /* NULL: the container's user */
    bool privileged;
    bool interactive; /* stdin is a pipe from the caller; otherwise /dev/null */
    bool tty;
    int console;      /* with tty: a unix socket the pty master is sent over */
    unsigned short rows, cols; /* the terminal's size (0: unknown) */
    bool detach;
    bool die_with_helper; /* killing the returned pid kills the process too (timeouts) */
} tug_exec_opts;

/* A started exec. Without a tty its stdio are pipes (never the caller's own fds): the caller
 * writes `in` (with interactive) and reads `out` and `err` until pid has exited. */
typedef struct tug_exec_proc {
    pid_t pid; /* waitpid() it: its exit status is the process's; 0 when detached */
    int in, out, err; /* the caller's ends, O_CLOEXEC; -1 when unused */
    char exec_id[65]; /* docker's execID, for the caller's exec_die */
} tug_exec_proc;

/* Run a process inside a running container (its namespaces, cgroup, user, capabilities and
 * seccomp profile). Failing to exec gives err->status 126/127; a container that stops while the
 * process joins is an error, never a run on the host. Records exec_create and exec_start; the
 * caller records exec_die when it has waited the process, except with detach, where a waiter
 * that outlives the caller does (it is a child subreaper, so the process, left by its helper,
 * becomes its child). */
int tug_container_exec(tug_store *s, tug_container *c, const tug_exec_opts *o,
                       tug_exec_proc *ret, tug_error **err);
/* What docker's engine says when an exec's process could not start (err->status 125-127:
 * no such program or user, not executable...), malloc'd; NULL for other errors. */
char *tug_exec_failure_text(const tug_error *err);
/* The pid of the process an exec runs: the one child of its helper (tug_exec_proc's pid), 0
 * when it has none (yet, or any more). */
pid_t tug_exec_process_pid(pid_t helper);
