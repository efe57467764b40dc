/* A container's devices: docker's default policy, --device and --device-cgroup-rule, and the OCI
 * spec's linux.devices and linux.resources.devices that carry them to the runtime. */
#include "devices.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "../util/cleanup.h"
#include "../util/strutil.h"
#include "../util/template.h"
#include "cgroup_devices.h"
#include "volume.h"

#define RWM TUG_DEV_RWM
#define MAX_WALK_DEPTH 16 /* directories below a --device directory */

/* runc's defaults, which docker relies on: deny all, then these. */
static const tug_device_rule docker_default[] = {
    {false, 'a', -1, -1, RWM},
    {true, 'c', -1, -1, TUG_DEV_MKNOD}, /* mknod of any node; opening it is another matter */
    {true, 'b', -1, -1, TUG_DEV_MKNOD},
    {true, 'c', 1, 3, RWM},    /* null */
    {true, 'c', 1, 5, RWM},    /* zero */
    {true, 'c', 1, 7, RWM},    /* full */
    {true, 'c', 1, 8, RWM},    /* random */
    {true, 'c', 1, 9, RWM},    /* urandom */
    {true, 'c', 5, 0, RWM},    /* tty */
    {true, 'c', 5, 1, RWM},    /* console */
    {true, 'c', 5, 2, RWM},    /* ptmx */
    {true, 'c', 136, -1, RWM}, /* pts */
    {true, 'c', 10, 200, RWM}, /* net/tun */
};
static const tug_device_rule allow_all = {true, 'a', -1, -1, RWM};

const tug_device_rule *tug_device_rules_default(size_t *ret_n)
{
    *ret_n = TUG_ARRAY_SIZE(docker_default);
    return docker_default;
}

/* The access bits of "rwm"-like text; 0 when empty or another letter is in it. Unique: each
 * letter at most once, as docker's --device wants it. */
static unsigned access_bits(const char *s, size_t len, bool unique)
{
    unsigned bits = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned b = s[i] == 'r'   ? TUG_DEV_READ
                     : s[i] == 'w' ? TUG_DEV_WRITE
                     : s[i] == 'm' ? TUG_DEV_MKNOD
                                   : 0;
        if (b == 0 || (unique && (bits & b)))
            return 0;
        bits |= b;
    }
    return bits;
}

/* "*" (-1) or a decimal number up to INT32_MAX (what a BPF immediate holds). */
static bool parse_number(const char *s, size_t len, long long *ret)
{
    if (len == 1 && s[0] == '*') {
        *ret = -1;
        return true;
    }
    if (len == 0 || len > 10)
        return false;
    long long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v > INT32_MAX)
        return false;
    *ret = v;
    return true;
}

int tug_device_rule_parse(const char *text, tug_device_rule *ret, tug_error **err)
{
    /* docker's ^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$ */
    const char *p = text;
    tug_device_rule r = {.allow = true};
    const char *colon = p ? strchr(p, ':') : NULL;
    const char *space = colon ? strchr(colon, ' ') : NULL;
    size_t acc_len = space ? strlen(space + 1) : 0;
    if (p == NULL || (p[0] != 'a' && p[0] != 'b' && p[0] != 'c') || p[1] != ' ' || space == NULL ||
        !parse_number(p + 2, (size_t)(colon - p - 2), &r.major) ||
        !parse_number(colon + 1, (size_t)(space - colon - 1), &r.minor) || acc_len > 3 ||
        (r.access = access_bits(space + 1, acc_len, false)) == 0)
        return tug_error_user(err,
                              "invalid device cgroup format '%s': use TYPE MAJOR:MINOR ACCESS "
                              "as in 'c 42:* rmw' (type a, b or c; * for any number)",
                              text ? text : "");
    r.type = p[0];
    *ret = r;
    return 0;
}

json_t *tug_device_mapping_parse(const char *spec, tug_error **err)
{
    /* docker's HOST[:CONTAINER][:PERMISSIONS], where a second part that reads as permissions
     * is taken for them */
    const char *c1 = strchr(spec, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (spec[0] == '\0' || spec[0] == ':' || (c2 && strchr(c2 + 1, ':'))) {
        tug_error_user(err, "bad format for path: %s", spec);
        return NULL;
    }
    cleanup_free char *host = c1 ? strndup(spec, (size_t)(c1 - spec)) : strdup(spec);
    cleanup_free char *ctr = NULL;
    const char *perms = "rwm";
    bool oom = host == NULL;
    if (c2) {
        oom |= (ctr = strndup(c1 + 1, (size_t)(c2 - c1 - 1))) == NULL;
        perms = c2 + 1;
        if (access_bits(perms, strlen(perms), true) == 0) {
            tug_error_user(err, "bad mode specified: %s", perms);
            return NULL;
        }
    } else if (c1 && access_bits(c1 + 1, strlen(c1 + 1), true) != 0) {
        perms = c1 + 1;
    } else if (c1) {
        oom |= (ctr = strdup(c1 + 1)) == NULL;
    }
    if (oom) {
        tug_error_set(err, ENOMEM, "--device %s", spec);
        return NULL;
    }
    const char *in_ctr = ctr ? ctr : host;
    cleanup_free char *clean = tug_path_clean_abs(in_ctr);
    if (clean == NULL) {
        tug_error_user(err, "%s is not an absolute path", in_ctr);
        return NULL;
    }
    cleanup_free char *clean_host = host[0] == '/' ? tug_path_clean_abs(host) : strdup(host);
    if (clean_host == NULL) {
        tug_error_set(err, ENOMEM, "--device %s", spec);
        return NULL;
    }
    json_t *m = json_object();
    json_object_set_new(m, "PathOnHost", json_string(clean_host));
    json_object_set_new(m, "PathInContainer", json_string(clean));
    json_object_set_new(m, "CgroupPermissions", json_string(perms));
    return m;
}

/* ---- from the request to the spec ----------------------------------------------------------- */

static json_t *rule_json(const tug_device_rule *r)
{
    char type[2] = {r->type, '\0'}, acc[4];
    tug_device_access_text(r->access, acc);
    json_t *j = json_object();
    json_object_set_new(j, "allow", json_boolean(r->allow));
    json_object_set_new(j, "type", json_string(type));
    if (r->major >= 0)
        json_object_set_new(j, "major", json_integer(r->major));
    if (r->minor >= 0)
        json_object_set_new(j, "minor", json_integer(r->minor));
    json_object_set_new(j, "access", json_string(acc));
    return j;
}

/* A host node as the container gets it: created at path, and allowed with the given access. */
static void add_node(json_t *nodes, json_t *rules, const char *path, const struct stat *st,
                     unsigned access)
{
    char type = S_ISBLK(st->st_mode) ? 'b' : 'c';
    if (nodes) {
        char t[2] = {type, '\0'};
        json_t *n = json_object();
        json_object_set_new(n, "path", json_string(path));
        json_object_set_new(n, "type", json_string(t));
        json_object_set_new(n, "major", json_integer(major(st->st_rdev)));
        json_object_set_new(n, "minor", json_integer(minor(st->st_rdev)));
        json_object_set_new(n, "fileMode", json_integer(st->st_mode & 07777));
        json_object_set_new(n, "uid", json_integer(st->st_uid));
        json_object_set_new(n, "gid", json_integer(st->st_gid));
        json_array_append_new(nodes, n);
    }
    if (rules) {
        tug_device_rule r = {true, type, major(st->st_rdev), minor(st->st_rdev), access};
        json_array_append_new(rules, rule_json(&r));
    }
}

/* Every node below a host directory (--device /dev/snd), symlinks not followed, as docker. */
static void add_tree(int dfd, const char *ctr_dir, json_t *nodes, json_t *rules, unsigned access,
                     int depth, size_t *found)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cleanup_dir DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (dir == NULL) {
        if (fd >= 0)
            close(fd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        cleanup_free char *path = NULL;
        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            asprintf(&path, "%s/%s", strcmp(ctr_dir, "/") ? ctr_dir : "", de->d_name) < 0)
            continue;
        if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
            add_node(nodes, rules, path, &st, access);
            (*found)++;
        } else if (S_ISDIR(st.st_mode) && depth < MAX_WALK_DEPTH) {
            cleanup_close int sub =
                openat(dirfd(dir), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                add_tree(sub, path, nodes, rules, access, depth + 1, found);
        }
    }
}

static int gather_error(tug_error **err, int e, const char *host)
{
    /* docker's words, with Go's lower-case error text */
    char why[128];
    snprintf(why, sizeof(why), "%s", e ? strerror(e) : "not a device node");
    why[0] = (char)tolower((unsigned char)why[0]);
    return tug_error_user(err,
                          "error gathering device information while adding custom device "
                          "\"%s\": %s",
                          host, why);
}

/* One HostConfig.Devices entry. privileged: the host's /dev is copied in anyway, so only a node
 * put at another path counts, and the policy allows everything already. */
static int add_mapping(json_t *m, bool privileged, json_t *nodes, json_t *rules, tug_error **err)
{
    const char *host = json_string_value(json_object_get(m, "PathOnHost"));
    const char *ctr = json_string_value(json_object_get(m, "PathInContainer"));
    const char *perms = json_string_value(json_object_get(m, "CgroupPermissions"));
    if (host == NULL || *host == '\0')
        return tug_error_user(err, "a device without PathOnHost");
    if (ctr == NULL || *ctr == '\0')
        ctr = host;
    if (perms == NULL || *perms == '\0')
        perms = "rwm";
    unsigned access = access_bits(perms, strlen(perms), true);
    if (access == 0)
        return tug_error_user(err, "bad mode specified: %s", perms);
    if (ctr[0] != '/')
        return tug_error_user(err, "%s is not an absolute path", ctr);
    if (privileged && strcmp(host, ctr) == 0)
        return 0;
    struct stat st;
    cleanup_free char *resolved = NULL;
    if (lstat(host, &st) == 0 && S_ISLNK(st.st_mode))
        resolved = realpath(host, NULL);
    const char *path = resolved ? resolved : host;
    if (lstat(path, &st) < 0)
        return gather_error(err, errno, host);
    json_t *rules_for = privileged ? NULL : rules;
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
        add_node(nodes, rules_for, ctr, &st, access);
        return 0;
    }
    size_t found = 0;
    cleanup_close int dfd =
        S_ISDIR(st.st_mode) ? open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
    if (dfd >= 0)
        add_tree(dfd, ctr, nodes, rules_for, access, 0, &found);
    return found > 0 ? 0 : gather_error(err, 0, host);
}

int tug_devices_spec(json_t *hc, json_t **ret_nodes, json_t **ret_rules, tug_error **err)
{
    bool privileged = json_is_true(json_object_get(hc, "Privileged"));
    json_t *nodes = json_array(), *rules = json_array();
    size_t n_rules = 0, i;
    const tug_device_rule *base = privileged ? &allow_all : tug_device_rules_default(&n_rules);
    if (privileged)
        n_rules = 1;
    for (i = 0; i < n_rules; i++)
        json_array_append_new(rules, rule_json(&base[i]));
    json_t *v;
    int r = 0;
    json_array_foreach(json_object_get(hc, "Devices"), i, v)
    {
        if ((r = add_mapping(v, privileged, nodes, rules, err)) < 0)
            break;
    }
    /* docker ignores the extra rules of a privileged container: everything is allowed */
    json_array_foreach(privileged ? NULL : json_object_get(hc, "DeviceCgroupRules"), i, v)
    {
        tug_device_rule rule;
        if (r < 0 || (r = tug_device_rule_parse(json_string_value(v), &rule, err)) < 0)
            break;
        json_array_append_new(rules, rule_json(&rule));
    }
    if (r < 0 || ret_nodes == NULL)
        json_decref(nodes);
    else
        *ret_nodes = nodes;
    if (r < 0 || ret_rules == NULL)
        json_decref(rules);
    else
        *ret_rules = rules;
    return r < 0 ? -1 : 0;
}

/* ---- from the spec to the runtime ----------------------------------------------------------- */

void tug_device_nodes_free(tug_device_node *nodes, size_t n)
{
    for (size_t i = 0; nodes && i < n; i++)
        free(nodes[i].path);
    free(nodes);
}

/* An OCI major or minor: absent (or -1) is any. */
static bool spec_number(json_t *v, long long *ret)
{
    if (v == NULL || json_is_null(v)) {
        *ret = -1;
        return true;
    }
    long long n = json_integer_value(v);
    if (!json_is_integer(v) || n < -1 || n > INT32_MAX)
        return false;
    *ret = n;
    return true;
}

static int spec_rule(json_t *j, tug_device_rule *ret, tug_error **err)
{
    const char *type = json_string_value(json_object_get(j, "type"));
    json_t *acc = json_object_get(j, "access");
    const char *a = acc ? json_string_value(acc) : "rwm";
    tug_device_rule r = {.allow = json_is_true(json_object_get(j, "allow")),
                         .type = type ? type[0] : 'a'};
    if ((type && (strlen(type) != 1 || strchr("abc", type[0]) == NULL)) ||
        !spec_number(json_object_get(j, "major"), &r.major) ||
        !spec_number(json_object_get(j, "minor"), &r.minor) || a == NULL ||
        (r.access = access_bits(a, strlen(a), false)) == 0)
        return tug_error_user(err, "not a device rule (type a, b or c; major and minor numbers "
                                   "or absent; access of r, w and m)");
    *ret = r;
    return 0;
}

static int spec_node(json_t *j, tug_device_node *ret, tug_error **err)
{
    const char *path = json_string_value(json_object_get(j, "path"));
    const char *type = json_string_value(json_object_get(j, "type"));
    json_t *fm = json_object_get(j, "fileMode");
    long long maj = json_integer_value(json_object_get(j, "major"));
    long long min = json_integer_value(json_object_get(j, "minor"));
    mode_t kind = type == NULL || strlen(type) != 1  ? 0
                  : type[0] == 'c' || type[0] == 'u' ? S_IFCHR
                  : type[0] == 'b'                   ? S_IFBLK
                  : type[0] == 'p'                   ? S_IFIFO
                                                     : 0;
    if (path == NULL || path[0] != '/' || kind == 0 || maj < 0 || min < 0 || maj > UINT32_MAX ||
        min > UINT32_MAX)
        return tug_error_user(err, "not a device node (an absolute path, type c, b, u or p, "
                                   "major and minor numbers)");
    ret->path = strdup(path);
    if (ret->path == NULL)
        return tug_error_set(err, ENOMEM, "device %s", path);
    /* without a fileMode only root may use it, whatever the cgroup allows */
    ret->mode = kind | (fm ? (mode_t)json_integer_value(fm) & 07777 : 0600);
    ret->rdev = kind == S_IFIFO ? 0 : makedev((unsigned)maj, (unsigned)min);
    ret->uid = (uid_t)json_integer_value(json_object_get(j, "uid"));
    ret->gid = (gid_t)json_integer_value(json_object_get(j, "gid"));
    return 0;
}

int tug_devices_from_spec(json_t *linux_, bool privileged, tug_device_rule **ret_rules,
                          size_t *ret_n_rules, tug_device_node **ret_nodes, size_t *ret_n_nodes,
                          tug_error **err)
{
    json_t *jr = json_object_get(json_object_get(linux_, "resources"), "devices");
    json_t *jn = json_object_get(linux_, "devices");
    size_t n_def = 0;
    const tug_device_rule *def = privileged ? &allow_all : tug_device_rules_default(&n_def);
    if (privileged)
        n_def = 1;
    size_t n_rules = json_is_array(jr) ? json_array_size(jr) : n_def;
    size_t n_nodes = json_array_size(jn);
    cleanup_free tug_device_rule *rules = calloc(n_rules + 1, sizeof(*rules));
    tug_device_node *nodes = calloc(n_nodes + 1, sizeof(*nodes));
    if (rules == NULL || nodes == NULL) {
        free(nodes);
        return tug_error_set(err, ENOMEM, "device rules");
    }
    size_t i;
    json_t *v;
    if (!json_is_array(jr))
        memcpy(rules, def, n_def * sizeof(*rules));
    json_array_foreach(jr, i, v)
    {
        if (spec_rule(v, &rules[i], err) < 0) {
            free(nodes);
            return tug_error_wrap(err, "linux.resources.devices[%zu]", i);
        }
    }
    json_array_foreach(jn, i, v)
    {
        if (spec_node(v, &nodes[i], err) < 0) {
            tug_device_nodes_free(nodes, i);
            return tug_error_wrap(err, "linux.devices[%zu]", i);
        }
    }
    *ret_rules = steal_pointer(&rules);
    *ret_n_rules = n_rules;
    *ret_nodes = nodes;
    *ret_n_nodes = n_nodes;
    return 0;
}

/* One record of Go's encoding/csv (what docker reads --gpus with): fields split at commas, a
 * field in double quotes may hold commas and "" for a quote. A new list of strings. */
static json_t *csv_fields(const char *s, tug_error **err)
{
    if (*s == '\0')
        return tug_error_user(err, "EOF"), NULL;
    json_t *out = json_array();
    for (const char *p = s;;) {
        tug_strbuf f = {0};
        if (*p == '"') {
            for (p++; *p && !(*p == '"' && p[1] != '"'); p++) {
                p += *p == '"'; /* "" is a quote */
                tug_strbuf_addc(&f, *p);
            }
            bool closed = *p == '"';
            p += closed;
            if (!closed || (*p != ',' && *p != '\0')) {
                tug_strbuf_free(&f);
                json_decref(out);
                return tug_error_user(err,
                                      "parse error on line 1, column %zu: extraneous or missing "
                                      "\" in quoted-field",
                                      (size_t)(p - s) + 1),
                       NULL;
            }
        } else {
            size_t n = strcspn(p, ",\n");
            const char *q = memchr(p, '"', n);
            if (q) {
                json_decref(out);
                return tug_error_user(err,
                                      "parse error on line 1, column %zu: bare \" in "
                                      "non-quoted-field",
                                      (size_t)(q - s) + 1),
                       NULL;
            }
            tug_strbuf_add(&f, p, n);
            p += n;
        }
        char *field = tug_strbuf_steal(&f);
        json_array_append_new(out, json_string(field ? field : ""));
        free(field);
        if (*p != ',')
            return out;
        p++;
    }
}

/* docker's count: "all" (-1) or a decimal integer. */
static int gpu_count(const char *v, json_int_t *ret, tug_error **err)
{
    if (strcmp(v, "all") == 0) {
        *ret = -1;
        return 0;
    }
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    bool ok = *v && *end == '\0' && !isspace((unsigned char)*v);
    if (!ok || errno == ERANGE)
        return tug_error_user(err,
                              "invalid count (%s): value must be either \"all\" or an integer: %s",
                              v, ok ? "value out of range" : "invalid syntax");
    *ret = n;
    return 0;
}

static json_t *strings_of(const char *csv_value)
{
    json_t *a = json_array();
    const char *p = csv_value;
    for (;;) {
        size_t n = strcspn(p, ",");
        json_array_append_new(a, json_stringn(p, n));
        if (p[n] == '\0')
            return a;
        p += n + 1;
    }
}

json_t *tug_gpu_request_parse(const char *value, tug_error **err)
{
    json_auto_t *fields = csv_fields(value, err);
    if (fields == NULL)
        return NULL;
    json_auto_t *req = json_pack("{s:s, s:I, s:n, s:n, s:{}}", "Driver", "", "Count",
                                 (json_int_t)0, "DeviceIDs", "Capabilities", "Options");
    json_auto_t *seen = json_object();
    size_t i;
    json_t *fj;
    json_array_foreach(fields, i, fj)
    {
        const char *field = json_string_value(fj), *eq = strchr(field, '=');
        cleanup_free char *key = eq ? strndup(field, (size_t)(eq - field)) : strdup(field);
        if (key == NULL)
            return tug_error_set(err, ENOMEM, "--gpus"), NULL;
        if (json_object_get(seen, key))
            return tug_error_user(err, "gpu request key '%s' can be specified only once", key),
                   NULL;
        json_object_set_new(seen, key, json_true());
        json_int_t count = 0;
        if (eq == NULL || strcmp(key, "count") == 0) {
            json_object_set_new(seen, "count", json_true());
            if (gpu_count(eq ? eq + 1 : key, &count, err) < 0)
                return NULL;
            json_object_set_new(req, "Count", json_integer(count));
        } else if (strcmp(key, "driver") == 0) {
            json_object_set_new(req, "Driver", json_string(eq + 1));
        } else if (strcmp(key, "device") == 0) {
            json_object_set_new(req, "DeviceIDs", strings_of(eq + 1));
        } else if (strcmp(key, "capabilities") == 0) {
            json_t *caps = strings_of(eq + 1);
            json_array_append_new(caps, json_string("gpu"));
            json_object_set_new(req, "Capabilities", json_pack("[o]", caps));
        } else if (strcmp(key, "options") == 0) {
            tug_error *e = NULL;
            json_auto_t *opts = csv_fields(eq + 1, &e);
            if (opts == NULL) {
                tug_error_user(err, "failed to read gpu options: %s", e && e->msg ? e->msg : "");
                tug_error_free(e);
                return NULL;
            }
            json_t *m = json_object(), *o;
            size_t k;
            json_array_foreach(opts, k, o)
            {
                const char *kv = json_string_value(o), *oeq = strchr(kv, '=');
                cleanup_free char *ok = oeq ? strndup(kv, (size_t)(oeq - kv)) : strdup(kv);
                if (ok)
                    json_object_set_new(m, ok, json_string(oeq ? oeq + 1 : ""));
            }
            json_object_set_new(req, "Options", m);
        } else {
            return tug_error_user(err, "unexpected key '%s' in '%s'", key, field), NULL;
        }
    }
    if (json_object_get(seen, "count") == NULL && json_is_null(json_object_get(req, "DeviceIDs")))
        json_object_set_new(req, "Count", json_integer(1));
    if (json_is_null(json_object_get(req, "Capabilities")))
        json_object_set_new(req, "Capabilities", json_pack("[[s]]", "gpu"));
    return json_incref(req);
}

int tug_device_requests_check(json_t *host_config, tug_error **err)
{
    json_t *reqs = json_object_get(host_config, "DeviceRequests");
    if (json_array_size(reqs) == 0)
        return 0;
    json_t *first = json_array_get(reqs, 0);
    const char *driver = json_string_value(json_object_get(first, "Driver"));
    cleanup_free char *caps = tug_template_format_value(json_object_get(first, "Capabilities"));
    return tug_error_user(err, "could not select device driver \"%s\" with capabilities: %s",
                          driver ? driver : "", caps ? caps : "[]");
}
