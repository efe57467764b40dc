#include "login.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../util/cleanup.h"
#include "creds.h"

void tug_login_result_clear(tug_login_result *r)
{
    free(r->key);
    free(r->helper);
    free(r->config_path);
    r->key = r->helper = r->config_path = NULL;
}

/* The domain a key is reached at: Docker Hub's key names no host. */
static const char *key_domain(const char *key)
{
    return strcmp(key, TUG_CREDS_HUB_KEY) == 0 ? "docker.io" : key;
}

static int check(const tug_login_opts *o, const char *domain, tug_error **err)
{
    tug_creds c = {.username = (char *)o->username, .secret = (char *)o->password};
    cleanup_free char *basic = tug_creds_basic(&c);
    if (basic == NULL)
        return tug_error_set(err, ENOMEM, "login to %s", domain);
    int r = tug_registry_check_login(domain, basic, o->registry, err);
    explicit_bzero(basic, strlen(basic));
    if (r == 0)
        return 0;
    if (err == NULL || *err == NULL)
        return -1;
    if ((*err)->status != 401 && (*err)->status != 403) {
        /* an unreachable or failing registry is for the user to see to, as in pull */
        if ((*err)->errnum != ENOMEM)
            (*err)->kind = TUG_ERR_USER;
        return tug_error_wrap(err, "login to %s", domain);
    }
    /* the registry said no: say so, and what to check */
    int status = (*err)->status;
    cleanup_free char *why = steal_pointer(&(*err)->msg);
    tug_error_user(err, "login to %s refused: %s (check the username and password)", domain,
                   why ? why : "unauthorized");
    (*err)->status = status;
    return -1;
}

int tug_login(const tug_login_opts *o, tug_login_result *ret, tug_error **err)
{
    __attribute__((cleanup(tug_login_result_clear))) tug_login_result res = {0};
    res.key = tug_creds_key(o->server);
    if (res.key == NULL)
        return tug_error_set(err, ENOMEM, "login");
    const char *domain = key_domain(res.key);
    if (o->username == NULL || *o->username == '\0')
        return tug_error_user(err, "login to %s: a username is required", domain);
    if (o->password == NULL || *o->password == '\0')
        return tug_error_user(err, "login to %s: a password is required", domain);
    if (strchr(o->username, ':') != NULL)
        return tug_error_user(err, "login to %s: a username cannot hold ':'", domain);
    if (check(o, domain, err) < 0)
        return -1;

    const char *path = o->registry ? o->registry->auth_config_path : NULL;
    if (tug_creds_config_path(path, &res.config_path, err) < 0)
        return -1;
    tug_creds c = {.username = (char *)o->username, .secret = (char *)o->password};
    if (tug_creds_store(path, res.key, &c, &res.helper, err) < 0)
        return tug_error_wrap(err, "login to %s", domain);
    *ret = res;
    memset(&res, 0, sizeof(res));
    return 0;
}

int tug_logout(const char *server, const char *config_path, char **ret_key, bool *ret_found,
               tug_error **err)
{
    cleanup_free char *key = tug_creds_key(server);
    if (key == NULL)
        return tug_error_set(err, ENOMEM, "logout");
    bool found = false;
    if (tug_creds_erase(config_path, server, &found, err) < 0)
        return tug_error_wrap(err, "logout from %s", key_domain(key));
    *ret_key = steal_pointer(&key);
    *ret_found = found;
    return 0;
}
