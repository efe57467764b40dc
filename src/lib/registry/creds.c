#include "creds.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../util/cleanup.h"
#include "../util/fs.h"

#define HUB_DOMAIN "docker.io"
#define HELPER_PREFIX "docker-credential-"
#define HELPER_OUTPUT_MAX (1 << 20)
/* what docker-credential-helpers print (exit 1) when they hold nothing for a server */
#define HELPER_NOT_FOUND "credentials not found in native keychain"

extern char **environ;

void tug_creds_clear(tug_creds *c)
{
    free(c->username);
    if (c->secret != NULL)
        explicit_bzero(c->secret, strlen(c->secret));
    free(c->secret);
    c->username = c->secret = NULL;
}

static int creds_set(tug_creds *c, const char *user, size_t user_len, const char *secret)
{
    c->username = strndup(user, user_len);
    c->secret = strdup(secret);
    if (c->username == NULL || c->secret == NULL) {
        tug_creds_clear(c);
        return -ENOMEM;
    }
    return 0;
}

/* ---- base64 ---- */

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64, padding optional; NULL on malformed input. */
static char *b64_decode(const char *in, size_t *ret_len)
{
    size_t n = strlen(in);
    while (n > 0 && (in[n - 1] == '=' || in[n - 1] == '\n' || in[n - 1] == ' '))
        n--;
    char *out = malloc(n / 4 * 3 + 3 + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(in[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    *ret_len = o;
    return out;
}

static const char b64_digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding (what a Basic authorization header carries). */
static char *b64_encode(const char *in, size_t len)
{
    if (len > (size_t)(1 << 20))
        return NULL;
    char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
    if (out == NULL)
        return NULL;
    const unsigned char *p = (const unsigned char *)in;
    for (size_t i = 0; i < len; i += 3) {
        size_t left = len - i;
        unsigned v = (unsigned)p[i] << 16 | (left > 1 ? (unsigned)p[i + 1] << 8 : 0) |
                     (left > 2 ? p[i + 2] : 0);
        *o++ = b64_digits[v >> 18 & 63];
        *o++ = b64_digits[v >> 12 & 63];
        *o++ = left > 1 ? b64_digits[v >> 6 & 63] : '=';
        *o++ = left > 2 ? b64_digits[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

char *tug_creds_basic(const tug_creds *c)
{
    cleanup_free char *plain = NULL;
    if (asprintf(&plain, "%s:%s", c->username, c->secret ? c->secret : "") < 0)
        return NULL;
    char *out = b64_encode(plain, strlen(plain));
    explicit_bzero(plain, strlen(plain));
    return out;
}

int tug_creds_registry_auth(const char *header, char **ret_basic, tug_error **err)
{
    *ret_basic = NULL;
    if (header == NULL || *header == '\0')
        return 0;
    cleanup_free char *std = strdup(header); /* base64url: '-' and '_' for '+' and '/' */
    if (std == NULL)
        return tug_error_set(err, ENOMEM, "X-Registry-Auth");
    for (char *p = std; *p; p++)
        *p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
    size_t len = 0;
    cleanup_free char *text = b64_decode(std, &len);
    json_auto_t *doc = text ? json_loadb(text, len, 0, NULL) : NULL;
    if (!json_is_object(doc))
        return tug_error_user(err, "invalid X-Registry-Auth header: not base64url JSON of "
                                   "{\"username\", \"password\", \"serveraddress\"}");
    const char *user = json_string_value(json_object_get(doc, "username"));
    const char *pass = json_string_value(json_object_get(doc, "password"));
    const char *auth = json_string_value(json_object_get(doc, "auth"));
    if (user && *user) {
        tug_creds c = {.username = (char *)user, .secret = (char *)pass};
        if ((*ret_basic = tug_creds_basic(&c)) == NULL)
            return tug_error_set(err, ENOMEM, "X-Registry-Auth");
    } else if (auth && *auth && (*ret_basic = strdup(auth)) == NULL)
        return tug_error_set(err, ENOMEM, "X-Registry-Auth");
    return 0;
}

/* ---- server names ---- */

static bool is_hub_host(const char *host, size_t n)
{
    static const char *const names[] = {HUB_DOMAIN, "index.docker.io", "registry-1.docker.io"};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(names); i++)
        if (strlen(names[i]) == n && strncasecmp(host, names[i], n) == 0)
            return true;
    return false;
}

/* "https://index.docker.io/v1/" -> "docker.io", "http://host:5000/" -> "host:5000" */
static char *normalize_host(const char *key)
{
    if (strncasecmp(key, "https://", 8) == 0)
        key += 8;
    else if (strncasecmp(key, "http://", 7) == 0)
        key += 7;
    size_t n = strcspn(key, "/");
    return is_hub_host(key, n) ? strdup(HUB_DOMAIN) : strndup(key, n);
}

char *tug_creds_key(const char *server)
{
    if (server == NULL || *server == '\0')
        return strdup(TUG_CREDS_HUB_KEY);
    char *host = normalize_host(server);
    if (host != NULL && strcmp(host, HUB_DOMAIN) == 0) {
        free(host);
        return strdup(TUG_CREDS_HUB_KEY);
    }
    return host;
}

static bool same_registry(const char *a, const char *b)
{
    cleanup_free char *ha = normalize_host(a);
    cleanup_free char *hb = normalize_host(b);
    return ha != NULL && hb != NULL && strcasecmp(ha, hb) == 0;
}

/* The member of obj named exactly `key`, else the first whose name is the same registry. */
static json_t *registry_member(json_t *obj, const char *key, const char **ret_name)
{
    if (!json_is_object(obj))
        return NULL;
    json_t *v = json_object_get(obj, key);
    if (v != NULL) {
        if (ret_name)
            *ret_name = key;
        return v;
    }
    const char *name;
    json_object_foreach(obj, name, v)
    {
        if (same_registry(name, key)) {
            if (ret_name)
                *ret_name = name;
            return v;
        }
    }
    return NULL;
}

/* ---- "auths" ---- */

static int entry_credentials(json_t *entry, const char *key, tug_creds *ret, tug_error **err)
{
    if (!json_is_object(entry))
        return 0;
    const char *auth = json_string_value(json_object_get(entry, "auth"));
    if (auth != NULL && *auth != '\0') {
        size_t len = 0;
        cleanup_free char *plain = b64_decode(auth, &len);
        const char *colon = plain ? memchr(plain, ':', len) : NULL;
        if (colon == NULL)
            return tug_error_user(err, "invalid \"auth\" for %s: not base64 of user:password", key);
        int r = creds_set(ret, plain, (size_t)(colon - plain), colon + 1);
        explicit_bzero(plain, len);
        return r < 0 ? tug_error_set(err, -r, "credentials for %s", key) : 0;
    }
    const char *user = json_string_value(json_object_get(entry, "username"));
    const char *pass = json_string_value(json_object_get(entry, "password"));
    if (user == NULL || *user == '\0')
        return 0;
    if (creds_set(ret, user, strlen(user), pass ? pass : "") < 0)
        return tug_error_set(err, ENOMEM, "credentials for %s", key);
    return 0;
}

static int auths_credentials(json_t *root, const char *domain, tug_creds *ret, tug_error **err)
{
    const char *name = domain;
    json_t *entry = registry_member(json_object_get(root, "auths"), domain, &name);
    return entry ? entry_credentials(entry, name, ret, err) : 0;
}

static int parse_config(const char *json, size_t len, json_t **ret_root, tug_error **err)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (root == NULL)
        return tug_error_user(err, "parse: line %d column %d: %s", jerr.line, jerr.column,
                              jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return tug_error_user(err, "parse: not a JSON object");
    }
    *ret_root = root;
    return 0;
}

int tug_creds_find(const char *json, size_t len, const char *domain, tug_creds *ret,
                   tug_error **err)
{
    json_auto_t *root = NULL;
    if (parse_config(json, len, &root, err) < 0)
        return -1;
    return auths_credentials(root, domain, ret, err);
}

/* ---- the file ---- */

int tug_creds_config_path(const char *path, char **ret_path, tug_error **err)
{
    const char *dir = getenv("DOCKER_CONFIG");
    const char *home = getenv("HOME");
    int r;
    if (path != NULL)
        r = asprintf(ret_path, "%s", path);
    else if (dir != NULL && *dir != '\0')
        r = asprintf(ret_path, "%s/config.json", dir);
    else if (home != NULL && *home != '\0')
        r = asprintf(ret_path, "%s/.docker/config.json", home);
    else {
        *ret_path = NULL;
        return 0;
    }
    if (r < 0) {
        *ret_path = NULL;
        return tug_error_set(err, ENOMEM, "credentials");
    }
    return 0;
}

typedef struct config {
    char *path; /* NULL: no place for a config (no HOME) */
    json_t *root;
    char *key;          /* the registry's key, when opened for one */
    const char *helper; /* its credential helper's name, or NULL */
} config;

static void config_clear(config *c)
{
    free(c->path);
    json_decref(c->root);
    free(c->key);
}
#define cleanup_config __attribute__((cleanup(config_clear)))

/* The config file as a JSON object: an empty one when the file is not there. */
static int config_load(const char *path, config *ret, tug_error **err)
{
    if (tug_creds_config_path(path, &ret->path, err) < 0)
        return -1;
    cleanup_free char *data = NULL;
    size_t len = 0;
    int r = ret->path ? tug_read_file(ret->path, &data, &len, err) : -ENOENT;
    if (r == -ENOENT || r == -ENOTDIR) {
        if (err != NULL)
            tug_error_release(err);
        ret->root = json_object();
        return ret->root ? 0 : tug_error_set(err, ENOMEM, "credentials");
    }
    if (r < 0)
        return tug_error_wrap(err, "read credentials");
    if (parse_config(data, len, &ret->root, err) < 0)
        return tug_error_wrap(err, "read credentials from %s", ret->path);
    return 0;
}

/* Write the config back: to the file a symlink points at (docker does the same), through a temp
 * file and rename, 0600 as it holds secrets. */
static int config_save(const config *c, tug_error **err)
{
    if (c->path == NULL)
        return tug_error_user(err, "nowhere to keep credentials: set HOME or DOCKER_CONFIG");
    char target[PATH_MAX];
    const char *path = realpath(c->path, target) ? target : c->path;
    const char *slash = strrchr(path, '/');
    cleanup_free char *dir = strndup(path, slash ? (size_t)(slash - path) : 0);
    if (dir == NULL)
        return tug_error_set(err, ENOMEM, "write %s", path);
    if (*dir != '\0' && tug_mkdir_p(dir, 0700, err) < 0)
        return tug_error_wrap(err, "write credentials");
    cleanup_free char *text = json_dumps(c->root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text == NULL)
        return tug_error_set(err, ENOMEM, "write %s", path);
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps leaves room for its NUL */
    int r = tug_write_file_atomic(path, text, len + 1, 0600, err);
    explicit_bzero(text, len);
    if (r < 0)
        return tug_error_wrap(err, "write credentials");
    return 0;
}

/* ---- docker-credential-* helpers ---- */

/* The helper configured for `key`: credHelpers' entry for the registry, else credsStore. */
static int config_helper(const config *c, const char *key, const char **ret_name, tug_error **err)
{
    const char *where = "credHelpers";
    json_t *v = registry_member(json_object_get(c->root, "credHelpers"), key, NULL);
    if (v == NULL) {
        where = "credsStore";
        v = json_object_get(c->root, "credsStore");
    }
    const char *name = json_string_value(v);
    *ret_name = NULL;
    if (name == NULL || *name == '\0')
        return 0;
    /* the name becomes part of a program name looked up in PATH */
    if (strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
            strlen(name) ||
        name[0] == '.')
        return tug_error_user(err, "%s: invalid %s \"%s\": not a credential helper's name", c->path,
                              where, name);
    *ret_name = name;
    return 0;
}

/* The config file, the server's key and its helper. */
static int config_open(const char *path, const char *server, config *ret, tug_error **err)
{
    if (config_load(path, ret, err) < 0)
        return -1;
    ret->key = tug_creds_key(server);
    if (ret->key == NULL)
        return tug_error_set(err, ENOMEM, "credentials for %s", server ? server : "Docker Hub");
    return config_helper(ret, ret->key, &ret->helper, err);
}

static char *read_all(int fd, size_t max, bool *ret_too_big)
{
    size_t cap = 256, len = 0;
    char *buf = malloc(cap);
    *ret_too_big = false;
    while (buf != NULL) {
        if (len + 1 == cap) {
            if (cap > max) {
                *ret_too_big = true;
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL)
                break;
            buf = nb;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            buf[len] = '\0';
            return buf;
        }
        len += (size_t)n;
    }
    free(buf);
    return NULL;
}

/* Run docker-credential-NAME VERB with input on its stdin (its stderr discarded, as docker
 * does). *ret_status is its exit status, *ret_out its stdout (where helpers put errors too). */
static int helper_run(const char *name, const char *verb, const char *input, int *ret_status,
                      char **ret_out, tug_error **err)
{
    cleanup_free char *prog = NULL;
    if (asprintf(&prog, HELPER_PREFIX "%s", name) < 0)
        return tug_error_set(err, ENOMEM, "credential helper %s", name);
    cleanup_close int in = memfd_create("tug-creds", MFD_CLOEXEC);
    size_t len = strlen(input);
    if (in < 0 || tug_write_all(in, input, len) < 0 || lseek(in, 0, SEEK_SET) != 0)
        return tug_error_set(err, errno, "%s %s", prog, verb);
    cleanup_close int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    int pipefd[2];
    if (null < 0 || pipe2(pipefd, O_CLOEXEC) < 0)
        return tug_error_set(err, errno, "%s %s", prog, verb);
    cleanup_close int out_r = pipefd[0], out_w = pipefd[1];

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in, 0);
    posix_spawn_file_actions_adddup2(&fa, out_w, 1);
    posix_spawn_file_actions_adddup2(&fa, null, 2);
    /* tug ignores SIGPIPE; the helper starts with the defaults */
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, pipe;
    sigemptyset(&none);
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &pipe);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char *argv[] = {prog, (char *)verb, NULL};
    pid_t pid;
    int r = posix_spawnp(&pid, prog, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (r == ENOENT)
        return tug_error_user(err,
                              "credential helper %s is not in PATH (install it, or remove it "
                              "from the config file)",
                              prog);
    if (r != 0)
        return tug_error_set(err, r, "run %s", prog);
    close(steal_fd(&out_w));
    bool too_big = false;
    cleanup_free char *out = read_all(out_r, HELPER_OUTPUT_MAX, &too_big);
    close(steal_fd(&out_r)); /* a helper still writing gets EPIPE rather than blocking us */
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return tug_error_set(err, errno, "wait for %s", prog);
    if (out == NULL)
        return too_big ? tug_error_set(err, 0, "%s %s: answer larger than %d bytes", prog, verb,
                                       HELPER_OUTPUT_MAX)
                       : tug_error_set(err, ENOMEM, "%s %s", prog, verb);
    *ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    *ret_out = steal_pointer(&out);
    return 0;
}

/* "docker-credential-x get: <the first line of its answer>" */
static int helper_error(const char *name, const char *verb, int status, const char *out,
                        tug_error **err)
{
    out += strspn(out, " \t\r\n");
    int n = (int)strcspn(out, "\r\n");
    if (n == 0)
        return tug_error_set(err, 0, HELPER_PREFIX "%s %s: exit status %d", name, verb, status);
    return tug_error_set(err, 0, HELPER_PREFIX "%s %s: %.*s", name, verb, n, out);
}

static bool helper_not_found(const char *out)
{
    out += strspn(out, " \t\r\n");
    size_t n = strlen(HELPER_NOT_FOUND);
    return strncmp(out, HELPER_NOT_FOUND, n) == 0 && out[n + strspn(out + n, " \t\r\n")] == '\0';
}

static int helper_get(const char *name, const char *key, tug_creds *ret, tug_error **err)
{
    int status = 0;
    cleanup_free char *out = NULL;
    if (helper_run(name, "get", key, &status, &out, err) < 0)
        return -1;
    if (status != 0)
        return helper_not_found(out) ? 0 : helper_error(name, "get", status, out, err);
    json_auto_t *doc = json_loads(out, 0, NULL);
    explicit_bzero(out, strlen(out));
    const char *user = json_string_value(json_object_get(doc, "Username"));
    const char *secret = json_string_value(json_object_get(doc, "Secret"));
    if (user == NULL || secret == NULL)
        return tug_error_set(
            err, 0, HELPER_PREFIX "%s get %s: not an answer with Username and Secret", name, key);
    /* an identity token (docker's "<token>" user) is not a password tug can send */
    if (*user == '\0' || strcmp(user, "<token>") == 0)
        return 0;
    if (creds_set(ret, user, strlen(user), secret) < 0)
        return tug_error_set(err, ENOMEM, "credentials for %s", key);
    return 0;
}

static int helper_store(const char *name, const char *key, const tug_creds *c, tug_error **err)
{
    json_auto_t *doc = json_pack("{s:s, s:s, s:s}", "ServerURL", key, "Username", c->username,
                                 "Secret", c->secret ? c->secret : "");
    cleanup_free char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (text == NULL)
        return tug_error_set(err, ENOMEM, "store credentials for %s", key);
    int status = 0;
    cleanup_free char *out = NULL;
    int r = helper_run(name, "store", text, &status, &out, err);
    explicit_bzero(text, strlen(text));
    if (r < 0)
        return -1;
    return status == 0 ? 0 : helper_error(name, "store", status, out, err);
}

static int helper_erase(const char *name, const char *key, tug_error **err)
{
    int status = 0;
    cleanup_free char *out = NULL;
    if (helper_run(name, "erase", key, &status, &out, err) < 0)
        return -1;
    return status == 0 || helper_not_found(out) ? 0 : helper_error(name, "erase", status, out, err);
}

/* ---- get, store, erase ---- */

int tug_creds_get(const char *config_path, const char *server, tug_creds *ret, tug_error **err)
{
    cleanup_config config c = {0};
    if (config_open(config_path, server, &c, err) < 0)
        return -1;
    const char *key = c.key, *helper = c.helper;
    cleanup_creds tug_creds found = {0};
    if (helper != NULL) {
        if (helper_get(helper, key, &found, err) < 0)
            return tug_error_wrap(err, "credentials for %s", key);
        /* a login written as http://host keeps that spelling in the helper too */
        const char *name = key;
        if (found.username == NULL &&
            registry_member(json_object_get(c.root, "auths"), key, &name) != NULL &&
            strcmp(name, key) != 0 && helper_get(helper, name, &found, err) < 0)
            return tug_error_wrap(err, "credentials for %s", key);
    }
    /* what the file itself holds, for logins made before the helper was configured */
    if (found.username == NULL && auths_credentials(c.root, key, &found, err) < 0)
        return tug_error_wrap(err, "read credentials from %s", c.path);
    *ret = found;
    memset(&found, 0, sizeof(found));
    return 0;
}

static json_t *auths_object(config *c, tug_error **err)
{
    json_t *auths = json_object_get(c->root, "auths");
    if (auths == NULL || json_is_null(auths)) {
        auths = json_object();
        if (auths == NULL || json_object_set_new(c->root, "auths", auths) < 0) {
            tug_error_set(err, ENOMEM, "credentials");
            return NULL;
        }
    }
    if (!json_is_object(auths)) {
        tug_error_user(err, "%s: \"auths\" is not a JSON object", c->path);
        return NULL;
    }
    return auths;
}

int tug_creds_store(const char *config_path, const char *server, const tug_creds *creds,
                    char **ret_helper, tug_error **err)
{
    cleanup_config config c = {0};
    json_t *auths = NULL;
    if (config_open(config_path, server, &c, err) < 0 || (auths = auths_object(&c, err)) == NULL)
        return -1;
    const char *key = c.key, *helper = c.helper;
    cleanup_free char *helper_name = helper ? strdup(helper) : NULL;
    if (helper != NULL && helper_name == NULL)
        return tug_error_set(err, ENOMEM, "store credentials for %s", key);

    json_t *entry = json_object();
    if (entry == NULL)
        return tug_error_set(err, ENOMEM, "store credentials for %s", key);
    if (json_object_set_new(auths, key, entry) < 0)
        return tug_error_set(err, ENOMEM, "store credentials for %s", key);
    if (helper != NULL) {
        if (helper_store(helper, key, creds, err) < 0)
            return tug_error_wrap(err, "store credentials for %s", key);
    } else {
        char *basic = tug_creds_basic(creds);
        if (basic == NULL || json_object_set_new(entry, "auth", json_string(basic)) < 0) {
            free(basic);
            return tug_error_set(err, ENOMEM, "store credentials for %s", key);
        }
        explicit_bzero(basic, strlen(basic));
        free(basic);
    }
    if (config_save(&c, err) < 0)
        return -1;
    if (ret_helper != NULL)
        *ret_helper = steal_pointer(&helper_name);
    return 0;
}

/* The spellings docker's logout tries for a server: as given, its key, http:// and https://. */
static int erase_names(const char *server, const char *key, char *names[4])
{
    memset(names, 0, 4 * sizeof(*names));
    names[0] = strdup(key);
    if (names[0] == NULL)
        return -ENOMEM;
    if (strcmp(key, TUG_CREDS_HUB_KEY) == 0)
        return 0;
    if ((server != NULL && strcmp(server, key) != 0 && (names[1] = strdup(server)) == NULL) ||
        asprintf(&names[2], "http://%s", key) < 0 || asprintf(&names[3], "https://%s", key) < 0)
        return -ENOMEM;
    return 0;
}

static void names_free(char *(*names)[4])
{
    for (int i = 0; i < 4; i++)
        free((*names)[i]);
}

int tug_creds_erase(const char *config_path, const char *server, bool *ret_found, tug_error **err)
{
    cleanup_config config c = {0};
    if (config_open(config_path, server, &c, err) < 0)
        return -1;
    const char *key = c.key, *helper = c.helper;
    __attribute__((cleanup(names_free))) char *names[4] = {NULL};
    if (erase_names(server, key, names) < 0)
        return tug_error_set(err, ENOMEM, "erase credentials for %s", key);

    bool found = false, changed = false;
    json_t *auths = json_object_get(c.root, "auths");
    for (int i = 0; i < 4; i++) {
        if (names[i] == NULL)
            continue;
        if (helper != NULL) {
            cleanup_creds tug_creds held = {0};
            if (helper_get(helper, names[i], &held, err) < 0 ||
                (held.username != NULL && helper_erase(helper, names[i], err) < 0))
                return tug_error_wrap(err, "erase credentials for %s", key);
            found = found || held.username != NULL;
        }
        if (json_is_object(auths) && json_object_get(auths, names[i]) != NULL) {
            json_object_del(auths, names[i]);
            found = changed = true;
        }
    }
    if (changed && config_save(&c, err) < 0)
        return -1;
    *ret_found = found;
    return 0;
}
