/* Image configs checked against tables of the fields docker defines (image spec v1.2, OCI image
 * config): one walk over the document, naming the first field that fails by its path. */
#include "imgconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/cleanup.h"
#include "../util/digest.h"
#include "../util/strutil.h"

enum kind {
    K_STRING,  /* a string */
    K_BOOL,    /* true or false */
    K_INT,     /* an integer */
    K_STRINGS, /* a list of strings */
    K_STRSLICE, /* a list of strings, or one string that stands for a list of it (docker's
                   StrSlice: Cmd, Entrypoint, Shell, Healthcheck.Test); read as the list */
    K_STRMAP,  /* an object whose values are strings (Labels) */
    K_SET,     /* an object whose values are objects, {} in practice (ExposedPorts, Volumes) */
    K_OBJECT,  /* an object with the members `fields` describes */
    K_OBJECTS, /* a list of such objects (history) */
};

static const char *const kind_names[] = {
    [K_STRING] = "a string",
    [K_BOOL] = "a boolean",
    [K_INT] = "an integer",
    [K_STRINGS] = "a list of strings",
    [K_STRSLICE] = "a string or a list of strings",
    [K_STRMAP] = "an object of strings",
    [K_SET] = "an object",
    [K_OBJECT] = "an object",
    [K_OBJECTS] = "a list of objects",
};

struct field {
    const char *key;
    enum kind kind;
    const struct field *fields; /* K_OBJECT, K_OBJECTS */
    /* each string (K_STRING, K_STRINGS) or each key (K_SET, K_STRMAP) must pass valid */
    bool (*valid)(const char *s);
    const char *valid_what; /* "a digest": for "... is not a digest" */
    bool bare;              /* K_OBJECT: members named without this key ("Cmd[1]") */
};

static bool valid_digest(const char *s)
{
    return tug_digest_valid(s);
}

static bool valid_time(const char *s)
{
    long long sec;
    long nsec;
    return tug_parse_rfc3339(s, &sec, &nsec) == 0;
}

static bool valid_abs_path(const char *s)
{
    return s[0] == '/';
}

/* 80, 80/tcp, 8000-8010/udp */
static bool valid_port(const char *s)
{
    char *end;
    long lo = strtol(s, &end, 10), hi = lo;
    if (end == s || s[0] < '0' || s[0] > '9' || lo < 1 || lo > 65535)
        return false;
    if (*end == '-') {
        const char *h = end + 1;
        hi = strtol(h, &end, 10);
        if (end == h || h[0] < '0' || h[0] > '9' || hi < lo || hi > 65535)
            return false;
    }
    return *end == '\0' || strcmp(end, "/tcp") == 0 || strcmp(end, "/udp") == 0 ||
           strcmp(end, "/sctp") == 0;
}

static const struct field health_fields[] = {
    {"Test", K_STRSLICE},      {"Interval", K_INT}, {"Timeout", K_INT}, {"StartPeriod", K_INT},
    {"StartInterval", K_INT}, {"Retries", K_INT},  {NULL, 0},
};

static const struct field container_fields[] = {
    {"Hostname", K_STRING},
    {"Domainname", K_STRING},
    {"User", K_STRING},
    {"AttachStdin", K_BOOL},
    {"AttachStdout", K_BOOL},
    {"AttachStderr", K_BOOL},
    {"ExposedPorts", K_SET, NULL, valid_port, "a port (80, 80/tcp, 8000-8010/udp)"},
    {"Tty", K_BOOL},
    {"OpenStdin", K_BOOL},
    {"StdinOnce", K_BOOL},
    {"Env", K_STRINGS},
    {"Cmd", K_STRSLICE},
    {"Healthcheck", K_OBJECT, health_fields},
    {"ArgsEscaped", K_BOOL},
    {"Image", K_STRING},
    {"Volumes", K_SET, NULL, valid_abs_path, "an absolute path"},
    {"WorkingDir", K_STRING},
    {"Entrypoint", K_STRSLICE},
    {"NetworkDisabled", K_BOOL},
    {"MacAddress", K_STRING},
    {"OnBuild", K_STRINGS},
    {"Labels", K_STRMAP},
    {"StopSignal", K_STRING},
    {"StopTimeout", K_INT},
    {"Shell", K_STRSLICE},
    {NULL, 0},
};

static const struct field rootfs_fields[] = {
    {"type", K_STRING},
    {"diff_ids", K_STRINGS, NULL, valid_digest, "a sha256 digest"},
    {NULL, 0},
};

static const struct field history_fields[] = {
    {"created", K_STRING, NULL, valid_time, "a time (RFC 3339)"},
    {"author", K_STRING},
    {"created_by", K_STRING},
    {"comment", K_STRING},
    {"empty_layer", K_BOOL},
    {NULL, 0},
};

static const struct field image_fields[] = {
    {"id", K_STRING},
    {"parent", K_STRING},
    {"comment", K_STRING},
    {"created", K_STRING, NULL, valid_time, "a time (RFC 3339)"},
    {"container", K_STRING},
    {"container_config", K_OBJECT, container_fields},
    {"docker_version", K_STRING},
    {"author", K_STRING},
    {"config", K_OBJECT, container_fields, .bare = true},
    {"architecture", K_STRING},
    {"variant", K_STRING},
    {"os", K_STRING},
    {"os.version", K_STRING},
    {"os.features", K_STRINGS},
    {"rootfs", K_OBJECT, rootfs_fields},
    {"history", K_OBJECTS, history_fields},
    {NULL, 0},
};

struct check {
    const char *what; /* starts every message */
    bool repair;
    int problems;
    tug_error **err;
};

static void problem(struct check *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(struct check *c, const char *path, const char *fmt, ...)
{
    if (c->problems++ > 0)
        return; /* the first one is the message */
    cleanup_free char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    tug_error_user(c->err, "%s: %s%s%s", c->what, path, *path ? " " : "",
                   n >= 0 ? text : "is not valid");
}

/* A key as a message shows it: quoted, control characters replaced, long ones cut. */
static void show_key(char *out, size_t size, const char *key)
{
    size_t o = 0;
    out[o++] = '"';
    for (const char *k = key; *k && o + 5 < size; k++)
        out[o++] = (unsigned char)*k < 0x20 || *k == 0x7f || *k == '"' ? '?' : *k;
    if (strlen(key) + 5 >= size) {
        out[o - 1] = '.';
        out[o - 2] = '.';
        out[o - 3] = '.';
    }
    out[o++] = '"';
    out[o] = '\0';
}

static bool string_ok(struct check *c, json_t *v, const struct field *f, const char *path)
{
    if (!json_is_string(v)) {
        problem(c, path, "is not a string");
        return false;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        problem(c, path, "holds a NUL character");
        return false;
    }
    if (f->valid && !f->valid(json_string_value(v))) {
        problem(c, path, "is not %s", f->valid_what);
        return false;
    }
    return true;
}

static bool count_ok(struct check *c, size_t n, const char *path)
{
    if (n <= TUG_CONFIG_MAX_ENTRIES)
        return true;
    problem(c, path, "has %zu entries, more than the %d tug reads", n, TUG_CONFIG_MAX_ENTRIES);
    return false;
}

static void check_object(struct check *c, json_t *obj, const struct field *fields,
                         const char *prefix);

/* false when v itself is bad (the caller removes it); problems found inside an object are
 * counted in c and, with repair, removed there. */
static bool value_ok(struct check *c, json_t *v, const struct field *f, const char *path)
{
    char sub[1200];
    if (json_is_null(v))
        return true; /* docker writes null for what is empty */
    switch (f->kind) {
    case K_STRING:
        return string_ok(c, v, f, path);
    case K_BOOL:
        if (json_is_boolean(v))
            return true;
        break;
    case K_INT:
        if (json_is_integer(v))
            return true;
        break;
    case K_STRSLICE:
        if (json_is_string(v))
            return string_ok(c, v, f, path);
        __attribute__((fallthrough)); /* a list */
    case K_STRINGS:
    case K_OBJECTS: {
        if (!json_is_array(v))
            break;
        if (!count_ok(c, json_array_size(v), path))
            return false;
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            if (f->kind != K_OBJECTS) {
                if (!string_ok(c, e, f, sub))
                    return false;
                continue;
            }
            if (!json_is_object(e)) {
                problem(c, sub, "is not an object");
                return false;
            }
            check_object(c, e, f->fields, sub);
            if (c->problems && !c->repair)
                return true;
        }
        return true;
    }
    case K_STRMAP:
    case K_SET: {
        if (!json_is_object(v))
            break;
        if (!count_ok(c, json_object_size(v), path))
            return false;
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e)
        {
            char key[96];
            show_key(key, sizeof(key), k);
            snprintf(sub, sizeof(sub), "%s[%s]", path, key);
            if (f->valid && !f->valid(k)) {
                problem(c, sub, "is not %s", f->valid_what);
                return false;
            }
            if (f->kind == K_STRMAP ? !string_ok(c, e, &(struct field){0}, sub)
                                    : !json_is_object(e)) {
                if (f->kind == K_SET)
                    problem(c, sub, "is not an object");
                return false;
            }
        }
        return true;
    }
    case K_OBJECT:
        if (!json_is_object(v))
            break;
        check_object(c, v, f->fields, f->bare ? "" : path);
        return true;
    }
    problem(c, path, "is not %s", kind_names[f->kind]);
    return false;
}

static void check_object(struct check *c, json_t *obj, const struct field *fields,
                         const char *prefix)
{
    for (const struct field *f = fields; f->key; f++) {
        json_t *v = json_object_get(obj, f->key);
        if (v == NULL)
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", f->key);
        if (!value_ok(c, v, f, path)) {
            if (c->repair)
                json_object_del(obj, f->key);
        } else if (f->kind == K_STRSLICE && json_is_string(v)) {
            /* readers see the list docker reads it as */
            json_t *list = json_array();
            json_array_append(list, v);
            json_object_set_new(obj, f->key, list);
        }
        if (c->problems && !c->repair)
            return;
    }
}

static int run_check(json_t *doc, const char *what, const struct field *fields, bool repair,
                     tug_error **err)
{
    struct check c = {.what = what, .repair = repair, .err = err};
    if (!json_is_object(doc)) {
        problem(&c, "", "is not a JSON object");
        return -1;
    }
    check_object(&c, doc, fields, "");
    return c.problems ? -1 : 0;
}

static char *image_what(const char *id)
{
    char *what = NULL;
    if (asprintf(&what, "image config %.19s", id ? id : "") < 0)
        return NULL;
    return what;
}

int tug_image_config_check(json_t *doc, const char *id, tug_error **err)
{
    cleanup_free char *what = image_what(id);
    return run_check(doc, what ? what : "image config", image_fields, false, err);
}

int tug_image_config_repair(json_t *doc, const char *id, tug_error **err)
{
    cleanup_free char *what = image_what(id);
    return run_check(doc, what ? what : "image config", image_fields, true, err);
}

int tug_container_config_check(json_t *cfg, const char *what, bool repair, tug_error **err)
{
    return run_check(cfg, what, container_fields, repair, err);
}
