/* The records of exec instances between their create and their end (execs.h). */
#include "execs.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../runtime/container.h"
#include "../util/cleanup.h"
#include "../util/fs.h"
#include "../util/strutil.h"

static bool valid_id(const char *id)
{
    return strlen(id) == 64 && strspn(id, "0123456789abcdef") == 64;
}

static char *record_path(tug_store *s, const char *id)
{
    return tug_store_run_path(s, "execs/%s.json", id);
}

static bool strings(json_t *a, bool non_empty)
{
    if (a == NULL || json_is_null(a))
        return !non_empty;
    if (!json_is_array(a) || (non_empty && json_array_size(a) == 0))
        return false;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v))
            return false;
    }
    return true;
}

/* Records that nobody will ask for any more go as new ones come: an ended exec's after ten
 * minutes (docker's client asks for the exit code at once), one never started after an hour,
 * one marked running whose process is gone after ten minutes. */
static void prune(tug_store *s)
{
    cleanup_free char *dir = tug_store_run_path(s, "execs");
    if (dir == NULL)
        return;
    cleanup_dir DIR *d = opendir(dir);
    struct dirent *e;
    time_t now = time(NULL);
    while (d && (e = readdir(d)) != NULL) {
        struct stat st;
        if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, 0) < 0)
            continue;
        if (now - st.st_mtime < 600)
            continue;
        cleanup_free char *path = NULL;
        if (asprintf(&path, "%s/%s", dir, e->d_name) < 0)
            continue;
        json_auto_t *rec = json_load_file(path, 0, NULL);
        bool ended = !json_is_null(json_object_get(rec, "ExitCode"));
        bool started = json_is_true(json_object_get(rec, "Running"));
        /* one whose server was killed while it ran is never marked ended: its process is gone */
        json_int_t pid = json_integer_value(json_object_get(rec, "Pid"));
        bool orphan = started && pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
        if (ended || orphan || (!started && now - st.st_mtime > 3600))
            unlinkat(dirfd(d), e->d_name, 0);
    }
}

int tug_exec_record_create(tug_store *s, const tug_container *c, json_t *config, json_t **ret,
                           tug_error **err)
{
    json_t *cmd = json_object_get(config, "Cmd");
    if (!strings(cmd, true))
        return tug_error_user(err, "No exec command specified");
    if (!strings(json_object_get(config, "Env"), false))
        return tug_error_user(err, "invalid exec config: Env must be a list of \"KEY=VALUE\"");
    char id[65];
    tug_random_hex(id, 32);
    const char *user = json_string_value(json_object_get(config, "User"));
    json_t *pc =
        json_pack("{s:b, s:O, s:o, s:b}", "tty", json_is_true(json_object_get(config, "Tty")),
                  "entrypoint", json_array_get(cmd, 0), "arguments", json_array(), "privileged",
                  json_is_true(json_object_get(config, "Privileged")));
    for (size_t i = 1; i < json_array_size(cmd); i++)
        json_array_append(json_object_get(pc, "arguments"), json_array_get(cmd, i));
    if (user && *user)
        json_object_set_new(pc, "user", json_string(user));
    const char *keys = json_string_value(json_object_get(config, "DetachKeys"));
    json_t *priv = json_object();
    const char *copy[] = {"Cmd",         "Env",          "WorkingDir",   "User",      "Tty",
                          "AttachStdin", "AttachStdout", "AttachStderr", "Privileged"};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(copy); i++) {
        json_t *v = json_object_get(config, copy[i]);
        if (v && !json_is_null(v))
            json_object_set(priv, copy[i], v);
    }
    json_t *rec =
        json_pack("{s:s, s:b, s:n, s:o, s:b, s:b, s:b, s:b, s:s, s:s, s:i, s:o}", "ID", id,
                  "Running", 0, "ExitCode", "ProcessConfig", pc, "OpenStdin",
                  json_is_true(json_object_get(config, "AttachStdin")), "OpenStderr",
                  json_is_true(json_object_get(config, "AttachStderr")), "OpenStdout",
                  json_is_true(json_object_get(config, "AttachStdout")), "CanRemove", 0,
                  "ContainerID", c->id, "DetachKeys", keys ? keys : "", "Pid", 0, "Config", priv);
    if (rec == NULL)
        return tug_error_set(err, ENOMEM, "exec");
    prune(s);
    if (tug_store_run_dir_make(s, "/execs", err) < 0 || tug_exec_record_save(s, rec, err) < 0) {
        json_decref(rec);
        return -1;
    }
    *ret = rec;
    return 0;
}

int tug_exec_record_load(tug_store *s, const char *id, json_t **ret, tug_error **err)
{
    cleanup_free char *path = valid_id(id) ? record_path(s, id) : NULL;
    json_t *rec = path ? json_load_file(path, 0, NULL) : NULL;
    if (!json_is_object(rec)) {
        json_decref(rec);
        return tug_error_not_found(err, "No such exec instance: %s", id);
    }
    *ret = rec;
    return 0;
}

int tug_exec_record_save(tug_store *s, json_t *rec, tug_error **err)
{
    const char *id = json_string_value(json_object_get(rec, "ID"));
    cleanup_free char *path = id ? record_path(s, id) : NULL;
    cleanup_free char *text = json_dumps(rec, JSON_COMPACT);
    if (path == NULL || text == NULL)
        return tug_error_set(err, ENOMEM, "exec record");
    return tug_write_file_atomic_nosync(path, text, strlen(text), 0600, err);
}

json_t *tug_exec_record_public(json_t *rec)
{
    json_t *pub = json_copy(rec);
    json_object_del(pub, "Config");
    return pub;
}
