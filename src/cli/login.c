/* login and logout: read the username and password (flags, stdin or a prompt), then ask src/lib
 * to check and store them. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "registry/creds.h"
#include "registry/login.h"
#include "util/cleanup.h"

#define PASSWORD_MAX (64 << 10)

/* ---- reading the secret ---- */

static void free_secret(char **s)
{
    if (*s != NULL)
        explicit_bzero(*s, strlen(*s));
    free(*s);
}
#define cleanup_secret __attribute__((cleanup(free_secret)))

/* docker's --password-stdin: all of stdin, one trailing newline (CRLF too) dropped. */
static int read_stdin_password(char **ret, tug_error **err)
{
    size_t cap = 256, len = 0;
    cleanup_secret char *buf = calloc(1, cap);
    for (;;) {
        if (buf == NULL)
            return tug_error_set(err, ENOMEM, "read the password from stdin");
        if (len + 1 == cap) {
            if (cap > PASSWORD_MAX)
                return tug_error_user(err, "the password on stdin is longer than %d bytes",
                                      PASSWORD_MAX);
            char *nb = calloc(1, cap * 2);
            if (nb != NULL)
                memcpy(nb, buf, len);
            explicit_bzero(buf, len);
            free(buf);
            buf = nb;
            cap *= 2;
            continue;
        }
        ssize_t n = read(STDIN_FILENO, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return tug_error_set(err, errno, "read the password from stdin");
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > 0 && buf[len - 1] == '\n')
        buf[--len] = '\0';
    if (len > 0 && buf[len - 1] == '\r')
        buf[--len] = '\0';
    *ret = steal_pointer(&buf);
    return 0;
}

/* One line from stdin without its line end; NULL at end of input. */
static char *read_line(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

static struct termios saved_tty;

/* Ctrl-C at the password prompt must not leave the terminal without echo. */
static void restore_echo(int sig)
{
    tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Echo goes off before the prompt is printed, so nothing typed after it can show; TCSADRAIN
 * keeps what was typed ahead. */
static char *read_password_noecho(void)
{
    if (tcgetattr(STDIN_FILENO, &saved_tty) < 0) {
        printf("Password: ");
        fflush(stdout);
        return read_line();
    }
    struct termios quiet = saved_tty;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    quiet.c_lflag |= ICANON;
    struct sigaction sa = {.sa_handler = restore_echo}, old_int, old_term, old_hup;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    tcsetattr(STDIN_FILENO, TCSADRAIN, &quiet);
    printf("Password: ");
    fflush(stdout);
    char *line = read_line();
    tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_tty);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    printf("\n"); /* the newline the user typed was not echoed */
    return line;
}

/* docker's prompts: "Username (stored): " (Enter keeps the stored one) and "Password: ". */
static int prompt(const char *stored_user, char **user, char **password, tug_error **err)
{
    if (!isatty(STDIN_FILENO))
        return tug_error_user(err, "cannot prompt for a login: stdin is not a terminal (use "
                                   "--username with --password-stdin)");
    if (*user == NULL) {
        if (stored_user != NULL)
            printf("Username (%s): ", stored_user);
        else
            printf("Username: ");
        fflush(stdout);
        char *line = read_line();
        if (line == NULL)
            return tug_error_user(err, "login: no username given");
        size_t start = strspn(line, " \t"), end = strlen(line);
        while (end > start && (line[end - 1] == ' ' || line[end - 1] == '\t'))
            end--;
        line[end] = '\0';
        memmove(line, line + start, end - start + 1);
        if (*line == '\0' && stored_user != NULL) {
            free(line);
            line = strdup(stored_user);
        }
        *user = line;
        if (*user == NULL || **user == '\0')
            return tug_error_user(err, "login: a username is required");
    }
    if (*password == NULL) {
        *password = read_password_noecho();
        if (*password == NULL || **password == '\0')
            return tug_error_user(err, "login: a password is required");
    }
    return 0;
}

/* ---- login ---- */

static void print_stored(const tug_login_result *res)
{
    if (res->helper == NULL)
        fprintf(stderr,
                "WARNING! Your password is stored unencrypted in %s.\n"
                "Configure a credential helper (credsStore) to remove this warning.\n\n",
                res->config_path);
    printf("Login Succeeded\n");
}

/* docker's login without a username or password: the stored ones, if they still work. */
static bool login_stored(const tug_login_opts *base, const tug_creds *stored)
{
    printf("Authenticating with existing credentials...\n");
    fflush(stdout);
    tug_login_opts o = *base;
    o.username = stored->username;
    o.password = stored->secret;
    __attribute__((cleanup(tug_login_result_clear))) tug_login_result res = {0};
    cleanup_error tug_error *err = NULL;
    if (tug_login(&o, &res, &err) < 0) {
        fprintf(stderr, "Login did not succeed, error: %s\n", err->msg);
        return false;
    }
    print_stored(&res);
    return true;
}

static const char login_usage[] = "tug login [OPTIONS] [SERVER]";
static const char login_summary[] =
    "Log in to a registry.\nIf no server is specified, the default is Docker Hub.";

int cmd_login(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"username", required_argument, NULL, 'u'},
        {"password", required_argument, NULL, 'p'},
        {"password-stdin", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    const char *user_flag = NULL, *password_flag = NULL;
    bool password_stdin = false;
    int c;
    while ((c = cli_getopt(argc, argv, "u:p:", opts)) != -1) {
        switch (c) {
        case 'u':
            user_flag = optarg;
            break;
        case 'p':
            password_flag = optarg;
            break;
        case 'P':
            password_stdin = cli_opt_on();
            break;
        case 'H':
            cli_print_help(login_usage, login_summary,
                           "  -p, --password string   Password\n"
                           "      --password-stdin    Take the password from stdin\n"
                           "  -u, --username string   Username\n");
            return 0;
        default:
            return cli_flag_error(ctx);
        }
    }
    if (argc - optind > 1)
        return cli_usage_error(ctx, "\"login\" requires at most 1 argument.\n\nUsage:  %s\n\n%s",
                               login_usage, "Log in to a registry");
    tug_error *err = NULL;
    if (password_flag != NULL && password_stdin)
        return cli_fail((tug_error_user(&err, "--password and --password-stdin are mutually "
                                              "exclusive"),
                         err));
    if (password_stdin && (user_flag == NULL || *user_flag == '\0'))
        return cli_fail(
            (tug_error_user(&err, "--password-stdin needs the username in --username"), err));
    if (password_flag != NULL)
        fprintf(stderr,
                "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");

    tug_registry_opts ropts;
    cli_registry_opts(ctx, &ropts);
    tug_login_opts o = {.server = optind < argc ? argv[optind] : NULL, .registry = &ropts};
    cleanup_free char *user = user_flag ? strdup(user_flag) : NULL;
    cleanup_secret char *password = password_flag ? strdup(password_flag) : NULL;
    if (password_stdin && read_stdin_password(&password, &err) < 0)
        return cli_fail(err);

    if (user == NULL || password == NULL) {
        /* a stored login: tried as it is when nothing was given, else its name is the default */
        cleanup_creds tug_creds stored = {0};
        cleanup_error tug_error *ignored = NULL;
        tug_creds_get(ropts.auth_config_path, o.server, &stored, &ignored);
        if (user == NULL && password == NULL && stored.username != NULL &&
            login_stored(&o, &stored))
            return 0;
        if (prompt(user ? NULL : stored.username, &user, &password, &err) < 0)
            return cli_fail(err);
    }
    o.username = user;
    o.password = password;
    __attribute__((cleanup(tug_login_result_clear))) tug_login_result res = {0};
    if (tug_login(&o, &res, &err) < 0)
        return cli_fail(err);
    print_stored(&res);
    return 0;
}

/* ---- logout ---- */

int cmd_logout(cli_ctx *ctx, int argc, char **argv)
{
    static const char usage[] = "tug logout [SERVER]";
    int rc = cli_help_only(ctx, argc, argv, usage,
                           "Log out from a registry.\nIf no server is specified, the default is "
                           "Docker Hub.");
    if (rc)
        return rc < 0 ? 0 : rc;
    if (argc - optind > 1)
        return cli_usage_error(ctx, "\"logout\" requires at most 1 argument.\n\nUsage:  %s\n\n%s",
                               usage, "Log out from a registry");
    tug_registry_opts ropts;
    cli_registry_opts(ctx, &ropts);
    tug_error *err = NULL;
    cleanup_free char *key = NULL;
    bool found = false;
    if (tug_logout(optind < argc ? argv[optind] : NULL, ropts.auth_config_path, &key, &found,
                   &err) < 0)
        return cli_fail(err);
    if (found)
        printf("Removing login credentials for %s\n", key);
    else
        printf("Not logged in to %s\n", key);
    return 0;
}
