/* Container records: create, find, list, rename, remove. The lifecycle is in lifecycle.c. */
#include "container.h"
#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../net/dns.h"
#include "../net/netsetup.h"
#include "../net/network.h"
#include "../store/db.h"
#include "../store/events.h"
#include "../store/imgconfig.h"
#include "../store/layer.h"
#include "../util/cleanup.h"
#include "../util/digest.h"
#include "../util/fs.h"
#include "../util/strutil.h"
#include "devices.h"
#include "names.h"
#include "request.h"
#include "spec.h"
#include "volume.h"

void tug_container_free(tug_container *c)
{
    if (c == NULL)
        return;
    free(c->id);
    free(c->name);
    free(c->image_id);
    free(c->image_name);
    json_decref(c->config);
    free(c->state);
    free(c->error);
    free(c);
}

void tug_container_freep(tug_container **c)
{
    tug_container_free(*c);
}

void tug_containers_free(tug_container **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        tug_container_free(v[i]);
    free(v);
}

char *tug_container_dir(tug_store *s, const char *id)
{
    char *p = NULL;
    if (asprintf(&p, "%s/containers/%s", s->root, id) < 0)
        return NULL;
    return p;
}

#define RUN_BASE "/run/tug"
#define RUN_ROOT_FILE TUG_RUN_ROOT_FILE

int tug_run_dir_make(tug_store *s, const char *id, tug_error **err)
{
    cleanup_free char *sub = NULL;
    if (asprintf(&sub, "/%s", id) < 0)
        return tug_error_set(err, ENOMEM, "run directory");
    return tug_store_run_dir_make(s, sub, err);
}

static const char *col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

#define CONTAINER_COLS                                                                             \
    "id, name, image_id, image_name, created, state, config, pid, pid_start, monitor_pid, "        \
    "exit_code, oom_killed, started, finished, restart_count, error"

static tug_container *from_row(sqlite3_stmt *st)
{
    tug_container *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->id = strdup(col(st, 0));
    c->name = strdup(col(st, 1));
    c->image_id = strdup(col(st, 2));
    c->image_name = col(st, 3) ? strdup(col(st, 3)) : strdup("");
    c->created_ns = sqlite3_column_int64(st, 4);
    c->state = strdup(col(st, 5));
    c->config = col(st, 6) ? json_loads(col(st, 6), JSON_ALLOW_NUL, NULL) : NULL;
    if (!json_is_object(c->config)) {
        json_decref(c->config);
        c->config = json_object();
    }
    /* A record made before image configs were checked may hold what a hostile one had (Cmd
     * ["sh", 1]): what is not of its type is taken out, so that ps and inspect read only
     * well-typed values. */
    json_t *cfg = json_object_get(c->config, "Config");
    if (json_is_object(cfg)) {
        tug_error *ignored = NULL;
        tug_container_config_check(cfg, "container", true, &ignored);
        tug_error_free(ignored);
    }
    c->pid = (pid_t)sqlite3_column_int(st, 7);
    c->pid_start = sqlite3_column_int64(st, 8);
    c->monitor_pid = (pid_t)sqlite3_column_int(st, 9);
    c->exit_code = sqlite3_column_int(st, 10);
    c->oom_killed = sqlite3_column_int(st, 11) != 0;
    c->started_ns = sqlite3_column_int64(st, 12);
    c->finished_ns = sqlite3_column_int64(st, 13);
    c->restart_count = sqlite3_column_int(st, 14);
    c->error = col(st, 15) ? strdup(col(st, 15)) : NULL;
    return c;
}

int tug_container_write_etc(const char *dir, const char *hostname, json_t *hc, tug_error **err)
{
    cleanup_free char *p = NULL, *hosts = NULL;
    if (asprintf(&p, "%s/hostname", dir) < 0)
        return tug_error_set(err, ENOMEM, "create");
    cleanup_free char *h = NULL;
    if (asprintf(&h, "%s\n", hostname) < 0)
        return tug_error_set(err, ENOMEM, "create");
    if (tug_write_file_atomic_nosync(p, h, strlen(h), 0644, err) < 0)
        return -1;
    free(p);
    p = NULL;
    if (asprintf(&p, "%s/hosts", dir) < 0 ||
        asprintf(&hosts,
                 "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                 "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
                 "ff02::2\tip6-allrouters\n127.0.1.1\t%s\n",
                 hostname) < 0)
        return tug_error_set(err, ENOMEM, "create");
    /* --add-host host:ip; host-gateway is the network's gateway, known at start */
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(hc, "ExtraHosts"), i, v)
    {
        char hname[256], hip[64], *more = NULL;
        if (tug_dns_extra_host(json_string_value(v), NULL, hname, sizeof(hname), hip,
                               sizeof(hip)) &&
            asprintf(&more, "%s%s\t%s\n", hosts, hip, hname) >= 0) {
            free(hosts);
            hosts = more;
        }
    }
    if (tug_write_file_atomic_nosync(p, hosts, strlen(hosts), 0644, err) < 0)
        return -1;
    free(p);
    p = NULL;
    /* user networks point it at their resolver at start (net/dns.c) */
    cleanup_free char *out = tug_dns_resolv_conf(hc, NULL);
    if (out == NULL || asprintf(&p, "%s/resolv.conf", dir) < 0)
        return tug_error_set(err, ENOMEM, "create");
    return tug_write_file_atomic_nosync(p, out, strlen(out), 0644, err);
}

/* --pid/--ipc container:NAME: the container is looked up now, by the name the user gave, and
 * joined by its ID when this one starts (request's TugJoin, the spec's annotations). */
static int resolve_joins(tug_store *s, json_t *request, tug_error **err)
{
    static const char *const keys[][2] = {{"PidMode", "pid"}, {"IpcMode", "ipc"}};
    json_t *hc = json_object_get(request, "HostConfig");
    for (size_t i = 0; i < TUG_ARRAY_SIZE(keys); i++) {
        const char *mode = json_string_value(json_object_get(hc, keys[i][0]));
        if (mode == NULL || strncmp(mode, "container:", 10) != 0)
            continue;
        cleanup_container tug_container *other = NULL;
        if (tug_container_find(s, mode + 10, &other, err) < 0)
            return tug_error_wrap(err, "--%s %s", keys[i][1], mode);
        /* as docker: a container's IPC is another's to join when it said so */
        const char *donor = json_string_value(
            json_object_get(json_object_get(other->config, "HostConfig"), "IpcMode"));
        if (strcmp(keys[i][1], "ipc") == 0 && (donor == NULL || strcmp(donor, "shareable") != 0))
            return tug_error_user(err,
                                  "can't join IPC of container %s: non-shareable IPC (hint: use "
                                  "IpcMode:shareable for the donor container)",
                                  mode + 10);
        json_t *join = json_object_get(request, "TugJoin");
        if (!json_is_object(join))
            json_object_set_new(request, "TugJoin", join = json_object());
        json_object_set_new(join, keys[i][1], json_string(other->id));
    }
    return 0;
}

int tug_container_create(tug_store *s, const char *image, json_t *request, const char *name,
                         tug_container **ret_ctr, tug_error **err)
{
    if (tug_request_validate(request, false, NULL, NULL, err) < 0)
        return -1;
    cleanup_image tug_image *img = NULL;
    if (tug_store_find_image(s, image, &img, err) < 0)
        return -1;
    if (img->config_error)
        return tug_error_user(err,
                              "%s (stored before tug checked image configs); remove the image "
                              "with tug rmi %s",
                              img->config_error, image);
    if (tug_request_merge_image(request, img->config, err) < 0)
        return -1;
    /* a missing --device fails before anything is made (the spec looks it up again) */
    if (tug_devices_spec(json_object_get(request, "HostConfig"), NULL, NULL, err) < 0)
        return -1;
    json_t *cfg = json_object_get(request, "Config");
    json_object_set_new(cfg, "Image", json_string(image));
    const char *netmode =
        json_string_value(json_object_get(json_object_get(request, "HostConfig"), "NetworkMode"));
    if (netmode && strcmp(netmode, "default") != 0 && strcmp(netmode, "bridge") != 0 &&
        strcmp(netmode, "none") != 0 && strcmp(netmode, "host") != 0) {
        tug_network *net = NULL;
        if (tug_network_find(s, netmode, &net, err) < 0)
            return -1;
        tug_network_free(net);
    }
    if (tug_dns_links_check(s, json_object_get(request, "HostConfig"), err) < 0)
        return -1;
    if (resolve_joins(s, request, err) < 0)
        return -1;
    const char *utsmode =
        json_string_value(json_object_get(json_object_get(request, "HostConfig"), "UTSMode"));
    bool host_uts = utsmode && strcmp(utsmode, "host") == 0;
    const char *given_hn = json_string_value(json_object_get(cfg, "Hostname"));
    if (((netmode && strcmp(netmode, "host") == 0) || host_uts) &&
        (given_hn == NULL || *given_hn == '\0')) {
        /* on the host's network a container has the host's name, as in docker */
        char host[256] = "";
        if (gethostname(host, sizeof(host) - 1) == 0)
            json_object_set_new(cfg, "Hostname", json_string(host));
    }
    char id[65];
    tug_random_hex(id, 32);
    const char *hn = json_string_value(json_object_get(cfg, "Hostname"));
    if (hn == NULL || *hn == '\0') {
        char shortid[13];
        snprintf(shortid, sizeof(shortid), "%.12s", id);
        json_object_set_new(cfg, "Hostname", json_string(shortid));
    }
    hn = json_string_value(json_object_get(cfg, "Hostname"));
    if (name && !tug_name_valid(name))
        return tug_error_user(err,
                              "Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are "
                              "allowed",
                              name);
    /* `system check` must not take the directory for a leftover before the row exists */
    cleanup_close int lock = tug_store_lock_shared(s, err);
    if (lock < 0)
        return -1;
    cleanup_free char *dir = tug_container_dir(s, id);
    cleanup_free char *sub = NULL, *specjson = NULL, *reqjson = NULL;
    static const char *const subdirs[] = {"upper", "work", "rootfs"};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(subdirs); i++) {
        free(sub);
        if (asprintf(&sub, "%s/%s", dir, subdirs[i]) < 0)
            return tug_error_set(err, ENOMEM, "create");
        if (tug_mkdir_p(sub, 0755, err) < 0)
            goto fail;
    }
    if (tug_container_write_etc(dir, hn, json_object_get(request, "HostConfig"), err) < 0)
        goto fail;
    if (tug_volume_setup_mounts(s, id, request, err) < 0)
        goto fail;
    const char **lower;
    lower = calloc(img->n_layers + 1, sizeof(char *));
    for (size_t i = 0; lower && i < img->n_layers; i++)
        lower[i] = tug_store_layer_dir(s, img->layers[i].chain_id);
    json_t *spec;
    spec = tug_spec_build(id, request, lower, img->n_layers, dir, err);
    for (size_t i = 0; lower && i < img->n_layers; i++)
        free((char *)lower[i]);
    free(lower);
    if (spec == NULL)
        goto fail;
    specjson = json_dumps(spec, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(spec);
    free(sub);
    if (asprintf(&sub, "%s/config.json", dir) < 0 ||
        tug_write_file_atomic_nosync(sub, specjson, strlen(specjson), 0600, err) < 0)
        goto fail;

    reqjson = json_dumps(request, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char rname[160];
    for (int attempt = 0; attempt < 20; attempt++) {
        if (name)
            snprintf(rname, sizeof(rname), "%s", name);
        else
            tug_random_name(rname, sizeof(rname), attempt);
        cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
            s,
            "INSERT INTO containers(id, name, image_id, image_name, created, state, config) "
            "VALUES (?,?,?,?,?,?,?)",
            err);
        if (st == NULL)
            goto fail;
        BIND_TEXT(st, 1, id);
        BIND_TEXT(st, 2, rname);
        BIND_TEXT(st, 3, img->id);
        BIND_TEXT(st, 4, image);
        sqlite3_bind_int64(st, 5, tug_now_ns());
        BIND_TEXT(st, 6, TUG_STATE_CREATED);
        BIND_TEXT(st, 7, reqjson);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc == SQLITE_CONSTRAINT && name) {
            cleanup_stmt sqlite3_stmt *q =
                tug_db_prepare(s, "SELECT id FROM containers WHERE name = ?", NULL);
            const char *holder = NULL;
            if (q) {
                BIND_TEXT(q, 1, name);
                if (sqlite3_step(q) == SQLITE_ROW)
                    holder = col(q, 0);
            }
            tug_error_conflict(err,
                           "Conflict. The container name \"/%s\" is already in use by container "
                           "\"%s\". You have to remove (or rename) that container to be able to "
                           "reuse that name.",
                           name, holder ? holder : "?");
            goto fail;
        }
        if (rc != SQLITE_CONSTRAINT) {
            tug_error_set(err, 0, "record container: %s", sqlite3_errmsg(s->db));
            goto fail;
        }
    }
    if (tug_container_find(s, id, ret_ctr, err) < 0)
        return -1;
    tug_container_event(s, *ret_ctr, "create", NULL);
    return 0;
fail: {
    tug_error *ignored = NULL;
    tug_volume_release(s, id, true, &ignored);
    tug_error_free(ignored);
    ignored = NULL;
    tug_rm_rf(dir, &ignored);
    tug_error_free(ignored);
    return -1;
}
}

void tug_container_event(tug_store *s, const tug_container *c, const char *action, ...)
{
    json_t *attrs = json_object();
    json_t *labels = json_object_get(json_object_get(c->config, "Config"), "Labels");
    const char *k;
    json_t *v;
    if (attrs == NULL)
        return;
    json_object_foreach(labels, k, v)
    {
        if (json_is_string(v))
            json_object_set(attrs, k, v);
    }
    json_object_set_new(attrs, "image", json_string(c->image_name ? c->image_name : ""));
    json_object_set_new(attrs, "name", json_string(c->name ? c->name : ""));
    va_list ap;
    va_start(ap, action);
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *val = va_arg(ap, const char *);
        if (val)
            json_object_set_new(attrs, k, json_string(val));
    }
    va_end(ap);
    tug_event_emitj(s, "container", action, c->id, attrs);
}

void tug_container_volume_events(tug_store *s, const tug_container *c, const char *action)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(c->config, "TugMountPoints"), i, m)
    {
        const char *type = json_string_value(json_object_get(m, "Type"));
        if (type == NULL || strcmp(type, "volume") != 0)
            continue;
        tug_event_emit(
            s, "volume", action, json_string_value(json_object_get(m, "Name")), "container", c->id,
            "destination", json_string_value(json_object_get(m, "Destination")), "driver", "local",
            "propagation", json_string_value(json_object_get(m, "Propagation")), "read/write",
            json_is_false(json_object_get(m, "RW")) ? "false" : "true", NULL);
    }
}

int tug_container_find(tug_store *s, const char *what, tug_container **ret_ctr, tug_error **err)
{
    const char *name = what[0] == '/' ? what + 1 : what;
    cleanup_stmt sqlite3_stmt *st =
        tug_db_prepare(s, "SELECT " CONTAINER_COLS " FROM containers WHERE id = ?1 OR name = ?1",
                       err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, name);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        st = NULL;
        size_t n = strlen(what);
        if (n > 0 && n < 64 && strspn(what, "0123456789abcdef") == n) {
            cleanup_free char *pat = NULL;
            if (asprintf(&pat, "%s*", what) < 0)
                return tug_error_set(err, ENOMEM, "find");
            st = tug_db_prepare(s, "SELECT " CONTAINER_COLS " FROM containers WHERE id GLOB ? "
                                   "LIMIT 2",
                                err);
            if (st == NULL)
                return -1;
            BIND_TEXT(st, 1, pat);
            if (sqlite3_step(st) == SQLITE_ROW) {
                tug_container *c = from_row(st);
                if (sqlite3_step(st) == SQLITE_ROW) {
                    tug_container_free(c);
                    return tug_error_user(err, "multiple IDs found with provided prefix: %s",
                                          what);
                }
                *ret_ctr = c;
                return 0;
            }
        }
        return tug_error_not_found(err, "No such container: %s", what);
    }
    *ret_ctr = from_row(st);
    return *ret_ctr ? 0 : tug_error_set(err, ENOMEM, "find");
}

int tug_container_list(tug_store *s, tug_container ***ret, size_t *ret_n, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s, "SELECT " CONTAINER_COLS " FROM containers ORDER BY created DESC", err);
    if (st == NULL)
        return -1;
    tug_container **v = NULL;
    size_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        tug_container **nv = realloc(v, (n + 1) * sizeof(*nv));
        if (nv == NULL) {
            tug_containers_free(v, n);
            return tug_error_set(err, ENOMEM, "list");
        }
        v = nv;
        v[n++] = from_row(st);
    }
    sqlite3_finalize(st);
    st = NULL;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        tug_error *ignored = NULL;
        tug_container_refresh(s, v[i], &ignored);
        tug_error_free(ignored);
        if (v[i]->removed)
            tug_container_free(v[i]); /* found ended: its --rm took it */
        else
            v[kept++] = v[i];
    }
    *ret = v;
    *ret_n = kept;
    return 0;
}

int tug_container_save_state(tug_store *s, const tug_container *c, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "UPDATE containers SET state = ?, pid = ?, pid_start = ?, monitor_pid = ?, exit_code = ?, "
        "oom_killed = ?, started = ?, finished = ?, restart_count = ?, error = ? WHERE id = ?",
        err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, c->state);
    sqlite3_bind_int(st, 2, c->pid);
    sqlite3_bind_int64(st, 3, c->pid_start);
    sqlite3_bind_int(st, 4, c->monitor_pid);
    sqlite3_bind_int(st, 5, c->exit_code);
    sqlite3_bind_int(st, 6, c->oom_killed);
    sqlite3_bind_int64(st, 7, c->started_ns);
    sqlite3_bind_int64(st, 8, c->finished_ns);
    sqlite3_bind_int(st, 9, c->restart_count);
    BIND_TEXT(st, 10, c->error);
    BIND_TEXT(st, 11, c->id);
    return tug_db_step_done(s, st, err);
}

int tug_container_save_config(tug_store *s, const tug_container *c, tug_error **err)
{
    cleanup_free char *cfg = json_dumps(c->config, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (cfg == NULL)
        return tug_error_set(err, ENOMEM, "record the configuration of %s", c->name);
    cleanup_stmt sqlite3_stmt *st =
        tug_db_prepare(s, "UPDATE containers SET config = ? WHERE id = ?", err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, cfg);
    BIND_TEXT(st, 2, c->id);
    return tug_db_step_done(s, st, err);
}

int tug_container_save_ended(tug_store *s, tug_container *c, bool *ret_won, tug_error **err)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "UPDATE containers SET state = ?, pid = 0, monitor_pid = 0, exit_code = ?, "
        "oom_killed = ?, finished = ?, error = ? WHERE id = ? AND state = ? AND pid = ? AND "
        "started = ? AND state <> 'exited'",
        err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, TUG_STATE_EXITED);
    sqlite3_bind_int(st, 2, c->exit_code);
    sqlite3_bind_int(st, 3, c->oom_killed);
    sqlite3_bind_int64(st, 4, c->finished_ns);
    BIND_TEXT(st, 5, c->error);
    BIND_TEXT(st, 6, c->id);
    BIND_TEXT(st, 7, c->state);
    sqlite3_bind_int(st, 8, c->pid);
    sqlite3_bind_int64(st, 9, c->started_ns);
    if (tug_db_step_done(s, st, err) < 0)
        return -1;
    *ret_won = sqlite3_changes(s->db) > 0;
    if (*ret_won) {
        char *exited = strdup(TUG_STATE_EXITED);
        if (exited == NULL)
            return tug_error_set(err, ENOMEM, "record the exit of %s", c->name);
        free(c->state);
        c->state = exited;
        c->pid = 0;
        c->monitor_pid = 0;
    }
    return 0;
}

int tug_container_rename(tug_store *s, tug_container *c, const char *name, tug_error **err)
{
    if (!tug_name_valid(name))
        return tug_error_user(err,
                              "Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are "
                              "allowed",
                              name);
    if (strcmp(name, c->name) == 0)
        return tug_error_user(err, "Renaming a container with the same name as its current name");
    cleanup_stmt sqlite3_stmt *st =
        tug_db_prepare(s, "UPDATE containers SET name = ? WHERE id = ?", err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, name);
    BIND_TEXT(st, 2, c->id);
    int r = tug_db_step_done(s, st, err);
    if (r == -EEXIST) {
        tug_error_release(err);
        return tug_error_conflict(err,
                              "Error when allocating new name: Conflict. The container name "
                              "\"/%s\" is already in use. You have to remove (or rename) that "
                              "container to be able to reuse that name.",
                              name);
    }
    if (r < 0)
        return tug_error_wrap(err, "rename container %s to %s", c->name, name);
    cleanup_free char *old = c->name;
    c->name = strdup(name);
    tug_container_event(s, c, "rename", "oldName", old, NULL);
    return 0;
}

/* Remove the directory name under at_fd: its files and, depth levels down, its directories.
 * Run directories are that small: a container's holds its exit file and stop mark, a store's
 * its containers' and its own mark. A missing one is fine. */
static void remove_run_tree(int at_fd, const char *name, int depth)
{
    cleanup_close int fd = openat(at_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    cleanup_dir DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (d == NULL)
        return;
    fd = -1; /* the DIR owns it now */
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno == EISDIR && depth > 0)
            remove_run_tree(dirfd(d), de->d_name, depth - 1);
    }
    unlinkat(at_fd, name, AT_REMOVEDIR);
}

int tug_container_remove(tug_store *s, tug_container *c, tug_error **err)
{
    cleanup_free char *dir = tug_container_dir(s, c->id);
    cleanup_free char *run = tug_store_run_dir(s);
    cleanup_free char *trash = NULL;
    if (dir == NULL ||
        asprintf(&trash, "%s/containers/.rm-%d-%s", s->root, (int)getpid(), c->id) < 0)
        return tug_error_set(err, ENOMEM, "remove %s", c->id);
    /* what removals killed before they finished set aside goes first */
    tug_store_sweep_dir(s, "containers", ".rm-");
    tug_net_release(s, c->id);
    /* The row goes first: a crash after it leaves only a directory `system check` removes. */
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(s, "DELETE FROM containers WHERE id = ?", err);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, c->id);
    if (tug_db_step_done(s, st, err) < 0)
        return -1;
    c->removed = true;
    tug_container_event(s, c, "destroy", NULL);
    /* Then the directory is set aside under a name that says whose removal it is: one that
     * fails or is killed halfway leaves .rm-PID-ID, which the next removal (or `system check`)
     * takes once that PID is gone, never a directory that looks like a container's. */
    if (rename(dir, trash) < 0 && errno != ENOENT)
        return tug_error_set(err, errno, "remove %s: rename %s", c->id, dir);
    /* named volumes stay; anonymous ones go with rm -v and --rm */
    json_t *hc = json_object_get(c->config, "HostConfig");
    tug_error *verr = NULL;
    tug_volume_release(s, c->id, c->remove_volumes || json_is_true(json_object_get(hc, "AutoRemove")),
                       &verr);
    tug_error_free(verr);
    /* `wait` and `stop` of a --rm container hold its exit file open: they read it still */
    cleanup_close int run_fd = run ? open(run, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (run_fd >= 0)
        remove_run_tree(run_fd, c->id, 0);
    /* The kernel may still be tearing the container's overlay down (the last reference to a
     * mount namespace is dropped from a work queue) when the row is gone: an entry that
     * appears under the directory while it is emptied is emptied on a second pass. */
    for (int pass = 0;; pass++) {
        tug_error *e = NULL;
        if (tug_rm_rf(trash, &e) == 0)
            return 0;
        if (pass == 20 || e->errnum != ENOTEMPTY) {
            if (err)
                *err = e;
            else
                tug_error_free(e);
            return -1;
        }
        tug_error_free(e);
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
}

static bool is_id(const char *s)
{
    return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* A store's run directory once its store is gone: its containers' directories and its mark.
 * Renamed first, so that a store made again at that path meanwhile starts afresh. */
static void remove_store_run_dir(int base_fd, const char *name)
{
    char aside[64];
    snprintf(aside, sizeof(aside), ".gone-%d-%.16s", (int)getpid(), name);
    if (renameat(base_fd, name, base_fd, aside) == 0)
        remove_run_tree(base_fd, aside, 1);
}

/* The root a store's run directory names (tug_run_dir_make), when that root is gone
 * altogether; NULL otherwise (a live store, or a directory without the mark). */
static char *gone_root(int base_fd, const char *name)
{
    char path[64], root[PATH_MAX];
    snprintf(path, sizeof(path), "%s/" RUN_ROOT_FILE, name);
    cleanup_close int fd = openat(base_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, root, sizeof(root) - 1);
    if (n <= 0)
        return NULL;
    root[n] = '\0';
    struct stat st;
    if (root[0] != '/' || lstat(root, &st) == 0 || errno != ENOENT)
        return NULL;
    return strdup(root);
}

/* Run directories of other stores that are gone: said and removed, but not this store's
 * problem (as their bridges). */
static void check_gone_stores(const char *self, bool repair, char **details)
{
    cleanup_dir DIR *d = opendir(RUN_BASE);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (strlen(n) != 16 || strspn(n, "0123456789abcdef") != 16 ||
            strcmp(n, self + strlen(RUN_BASE) + 1) == 0)
            continue;
        cleanup_free char *root = gone_root(dirfd(d), n);
        if (root == NULL)
            continue;
        tug_append_line(details,
                        "run directory of a store that is gone: " RUN_BASE "/%s (store %s)%s", n,
                        root, repair ? "" : " (system check without --dry-run removes it)");
        if (repair) {
            /* the layers it had mounted go first: their images went with the store */
            char path[sizeof(RUN_BASE) + 32];
            snprintf(path, sizeof(path), RUN_BASE "/%s", n);
            tug_layer_mounts_sweep(path, NULL, NULL, NULL);
            remove_store_run_dir(dirfd(d), n);
        }
    }
}

/* How old an empty group must be to be a leftover: one of this store's containers or of a build
 * step whose builder is dead, at once (neither has anything in it when it runs); a running build
 * step's, never; a name this store does not know (another store's container about to start),
 * after a minute. */
static long long group_age(const char *name, void *ud)
{
    tug_store *s = ud;
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s,
        "SELECT 0, 0, 0 FROM containers WHERE id = ?1 UNION ALL SELECT 1, pid, pid_start FROM "
        "build_steps WHERE id = ?1",
        NULL);
    if (st == NULL)
        return -1;
    BIND_TEXT(st, 1, name);
    if (sqlite3_step(st) != SQLITE_ROW)
        return 60;
    if (sqlite3_column_int(st, 0) == 0)
        return 0;
    tug_proc p;
    bool alive = tug_proc_read((pid_t)sqlite3_column_int(st, 1), &p) == 0 &&
                 p.start == sqlite3_column_int64(st, 2) && !tug_proc_ended(&p);
    return alive ? -1 : 0;
}

/* Whether name is one of this store's containers or build steps. */
static bool own_group(tug_store *s, const char *name)
{
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(
        s, "SELECT 1 FROM containers WHERE id = ?1 UNION ALL SELECT 1 FROM build_steps WHERE id = ?1",
        NULL);
    if (st == NULL)
        return true;
    BIND_TEXT(st, 1, name);
    return sqlite3_step(st) == SQLITE_ROW;
}

/* Empty cgroups a container or build step left (a killed monitor or builder). The parent group
 * is every store's: another store's leftovers are said and removed too, but are not this
 * store's problems (as the run directories of gone stores). */
static int check_cgroups(tug_store *s, bool repair, char **details, tug_error **err)
{
    cleanup_strv char **names = NULL;
    int n = tug_cgroup_sweep("tug", group_age, s, repair, &names, err);
    int own = 0;
    for (int i = 0; i < n; i++) {
        bool mine = own_group(s, names[i]);
        own += mine;
        tug_append_line(details, "cgroup of a%s container or build step that is gone: tug/%.12s%s",
                        mine ? "" : "nother store's", names[i],
                        repair ? "" : " (system check without --dry-run removes it)");
    }
    return n < 0 ? n : own;
}

int tug_container_check(tug_store *s, bool repair, char **details, tug_error **err)
{
    int groups = check_cgroups(s, repair, details, err);
    if (groups < 0)
        return -1;
    cleanup_free char *run = tug_store_run_dir(s);
    if (run == NULL)
        return tug_error_set(err, ENOMEM, "check");
    check_gone_stores(run, repair, details);
    cleanup_dir DIR *d = opendir(run);
    if (d == NULL)
        return errno == ENOENT ? groups : tug_error_set(err, errno, "open %s", run);
    cleanup_stmt sqlite3_stmt *st = tug_db_prepare(s, "SELECT 1 FROM containers WHERE id = ?", err);
    if (st == NULL)
        return -1;
    int found = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!is_id(de->d_name))
            continue;
        sqlite3_reset(st);
        BIND_TEXT(st, 1, de->d_name);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            continue;
        if (rc != SQLITE_DONE)
            return tug_error_set(err, 0, "check %s: %s", run, sqlite3_errmsg(s->db));
        /* the row goes before the run directory: one being removed now is found too */
        found++;
        tug_append_line(details, "run directory of a container that is gone: %s/%.12s", run,
                        de->d_name);
        if (repair)
            remove_run_tree(dirfd(d), de->d_name, 0);
    }
    return found + groups;
}

static json_t *time_json(long long ns)
{
    if (ns <= 0)
        return json_string("0001-01-01T00:00:00Z");
    char *t = tug_format_rfc3339(ns / 1000000000LL, (long)(ns % 1000000000LL));
    json_t *j = json_string(t ? t : "");
    free(t);
    return j;
}

int tug_container_cgroup_path(const tug_container *c, char **ret)
{
    return tug_spec_cgroup_path(json_object_get(c->config, "HostConfig"), c->id, ret);
}

json_t *tug_container_networks_json(tug_store *s, tug_container *c)
{
    json_t *nets = tug_net_endpoints_json(s, c->id);
    if (nets == NULL)
        nets = json_object();
    /* the addresses asked for (--ip, --ip6), as docker shows them */
    json_t *epcs =
        json_object_get(json_object_get(c->config, "NetworkingConfig"), "EndpointsConfig");
    const char *nk;
    json_t *ne;
    json_object_foreach(nets, nk, ne) {
        json_t *ipam = json_object_get(json_object_get(epcs, nk), "IPAMConfig");
        if (json_is_object(ipam) && json_object_size(ipam) > 0)
            json_object_set(ne, "IPAMConfig", ipam);
    }
    /* a container that is not running is on its network with no address, as in docker; a
     * running one disconnected from every network is on none */
    bool running = strcmp(c->state, TUG_STATE_RUNNING) == 0 ||
                   strcmp(c->state, TUG_STATE_PAUSED) == 0;
    if (json_object_size(nets) == 0 && !running) {
        const char *mode = json_string_value(
            json_object_get(json_object_get(c->config, "HostConfig"), "NetworkMode"));
        json_t *e = json_object();
        json_object_set_new(e, "IPAddress", json_string(""));
        json_object_set_new(nets, mode && strcmp(mode, "default") != 0 ? mode : "bridge", e);
    }
    return nets;
}

json_t *tug_container_inspect_json(tug_store *s, tug_container *c)
{
    json_t *o = json_object();
    json_t *cfg = json_object_get(c->config, "Config");
    json_t *hc = json_object_get(c->config, "HostConfig");
    json_object_set_new(o, "Id", json_string(c->id));
    json_object_set_new(o, "Created", time_json(c->created_ns));
    json_t *args = json_array();
    const char *path = "";
    bool first = true;
    const char *keys[] = {"Entrypoint", "Cmd"};
    for (int k = 0; k < 2; k++) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(cfg, keys[k]), i, v)
        {
            if (first) {
                path = json_string_value(v);
                first = false;
            } else
                json_array_append(args, v);
        }
    }
    json_object_set_new(o, "Path", json_string(path ? path : ""));
    json_object_set_new(o, "Args", args);
    json_t *st = json_object();
    bool running = strcmp(c->state, TUG_STATE_RUNNING) == 0 ||
                   strcmp(c->state, TUG_STATE_PAUSED) == 0;
    json_object_set_new(st, "Status", json_string(c->state));
    json_object_set_new(st, "Running", json_boolean(running));
    json_object_set_new(st, "Paused", json_boolean(strcmp(c->state, TUG_STATE_PAUSED) == 0));
    json_object_set_new(st, "Restarting",
                        json_boolean(strcmp(c->state, TUG_STATE_RESTARTING) == 0));
    json_object_set_new(st, "OOMKilled", json_boolean(c->oom_killed));
    json_object_set_new(st, "Dead", json_boolean(strcmp(c->state, TUG_STATE_DEAD) == 0));
    json_object_set_new(st, "Pid", json_integer(running ? c->pid : 0));
    json_object_set_new(st, "ExitCode", json_integer(c->exit_code));
    json_object_set_new(st, "Error", json_string(c->error ? c->error : ""));
    json_object_set_new(st, "StartedAt", time_json(c->started_ns));
    json_object_set_new(st, "FinishedAt", time_json(c->finished_ns));
    json_object_set_new(o, "State", st);
    json_object_set_new(o, "Image", json_string(c->image_id));
    cleanup_free char *dir = tug_container_dir(s, c->id);
    cleanup_free char *p1 = NULL, *p2 = NULL, *p3 = NULL, *p4 = NULL, *up = NULL, *wk = NULL,
                      *mg = NULL;
    if (asprintf(&p1, "%s/resolv.conf", dir) < 0 || asprintf(&p2, "%s/hostname", dir) < 0 ||
        asprintf(&p3, "%s/hosts", dir) < 0 || asprintf(&p4, "%s/%s-json.log", dir, c->id) < 0 ||
        asprintf(&up, "%s/upper", dir) < 0 || asprintf(&wk, "%s/work", dir) < 0 ||
        asprintf(&mg, "%s/rootfs", dir) < 0)
        return o;
    json_object_set_new(o, "ResolvConfPath", json_string(p1));
    json_object_set_new(o, "HostnamePath", json_string(p2));
    json_object_set_new(o, "HostsPath", json_string(p3));
    json_object_set_new(o, "LogPath", json_string(p4));
    cleanup_free char *name = NULL;
    if (asprintf(&name, "/%s", c->name) >= 0)
        json_object_set_new(o, "Name", json_string(name));
    json_object_set_new(o, "RestartCount", json_integer(c->restart_count));
    json_object_set_new(o, "Driver", json_string("overlay"));
    json_object_set_new(o, "Platform", json_string("linux"));
    json_object_set_new(o, "MountLabel", json_string(""));
    json_object_set_new(o, "ProcessLabel", json_string(""));
    json_object_set_new(o, "AppArmorProfile", json_string(""));
    json_object_set_new(o, "ExecIDs", json_null());
    json_t *hco = hc ? json_deep_copy(hc) : json_object();
    if (hco) {
        tug_spec_host_config_defaults(hco);
        if (json_object_get(hco, "Links")) /* links as docker shows them */
            json_object_set_new(hco, "Links",
                                tug_dns_links_json(json_object_get(hc, "Links"), c->name));
    }
    json_object_set_new(o, "HostConfig", hco ? hco : json_object());
    json_t *gd = json_object(), *data = json_object();
    json_object_set_new(data, "MergedDir", json_string(mg));
    json_object_set_new(data, "UpperDir", json_string(up));
    json_object_set_new(data, "WorkDir", json_string(wk));
    json_object_set_new(gd, "Data", data);
    json_object_set_new(gd, "Name", json_string("overlay"));
    json_object_set_new(o, "GraphDriver", gd);
    json_t *mps = json_object_get(c->config, "TugMountPoints");
    json_object_set_new(o, "Mounts", mps ? json_incref(mps) : json_array());
    json_object_set(o, "Config", cfg ? cfg : json_object());
    json_t *ns = json_object();
    json_t *nets = tug_container_networks_json(s, c);
    json_t *bridge = json_object_get(nets, "bridge");
    json_object_set_new(ns, "Bridge", json_string(""));
    json_object_set_new(ns, "SandboxID", json_string(""));
    json_object_set_new(ns, "Ports", tug_net_ports_json(s, c->id));
    json_t *v;
    json_object_set_new(ns, "Gateway",
                        (v = json_object_get(bridge, "Gateway")) ? json_incref(v) : json_string(""));
    json_object_set_new(ns, "IPAddress", (v = json_object_get(bridge, "IPAddress"))
                                             ? json_incref(v)
                                             : json_string(""));
    json_object_set_new(ns, "IPPrefixLen", (v = json_object_get(bridge, "IPPrefixLen"))
                                               ? json_incref(v)
                                               : json_integer(0));
    json_object_set_new(ns, "MacAddress", (v = json_object_get(bridge, "MacAddress"))
                                              ? json_incref(v)
                                              : json_string(""));
    /* the rest of docker's keys, with what they hold for a container on the default bridge */
    json_t *eid = json_object_get(bridge, "EndpointID");
    json_auto_t *rest = json_pack(
        "{s:b, s:s, s:i, s:s, s:n, s:n, s:o, s:s, s:i, s:s, s:s}", "HairpinMode", 0,
        "LinkLocalIPv6Address", "", "LinkLocalIPv6PrefixLen", 0, "SandboxKey", "",
        "SecondaryIPAddresses", "SecondaryIPv6Addresses", "EndpointID",
        json_is_string(eid) ? json_incref(eid) : json_string(""), "GlobalIPv6Address", "",
        "GlobalIPv6PrefixLen", 0, "IPv6Gateway", "", "Bridge", "");
    if (rest)
        json_object_update_missing(ns, rest);
    json_object_set_new(ns, "Networks", nets);
    json_object_set_new(o, "NetworkSettings", ns);
    return o;
}
