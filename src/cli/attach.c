#include "attach.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "commands.h"
#include "registry/creds.h"
#include "runtime/attach_client.h"
#include "runtime/attach.h"
#include "util/cleanup.h"
#include "runtime/proc.h"

static void send_size(int sock)
{
    struct winsize ws;
    if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0 &&
        ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0)
        return;
    unsigned char b[4] = {(unsigned char)(ws.ws_row >> 8), (unsigned char)ws.ws_row,
                          (unsigned char)(ws.ws_col >> 8), (unsigned char)ws.ws_col};
    tug_frame_write(sock, TUG_FRAME_RESIZE, b, 4);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void default_keys(tug_detach_matcher *ret)
{
    memset(ret, 0, sizeof(*ret));
    ret->keys[0] = 16; /* ctrl-p */
    ret->keys[1] = 17; /* ctrl-q */
    ret->len = 2;
}

int attach_detach_keys(cli_ctx *ctx, const char *flag, tug_detach_matcher *ret)
{
    json_auto_t *conf = NULL;
    const char *spec = flag;
    if (spec == NULL) {
        cleanup_free char *given = NULL, *path = NULL;
        tug_error *err = NULL;
        if (ctx->config_dir && asprintf(&given, "%s/config.json", ctx->config_dir) < 0)
            given = NULL;
        if (tug_creds_config_path(given, &path, &err) == 0 && path != NULL)
            conf = json_load_file(path, 0, NULL);
        tug_error_free(err);
        spec = json_string_value(json_object_get(conf, "detachKeys"));
    }
    if (spec == NULL || *spec == '\0') {
        default_keys(ret);
        return 0;
    }
    memset(ret, 0, sizeof(*ret));
    if (tug_detach_keys_parse(spec, ret->keys, sizeof(ret->keys), &ret->len) < 0) {
        fprintf(stderr, "Error: Invalid detach keys (%s) provided: use ctrl-a..ctrl-z, ctrl-@, "
                        "ctrl-[, ctrl-\\, ctrl-], ctrl-^, ctrl-_ or single characters, comma "
                        "separated\n",
                spec);
        return EXIT_ENGINE;
    }
    return 0;
}

/* Typed input for the container: detach keys filtered out with a terminal. Returns false when
 * they completed. */
static bool send_stdin(int sock, tug_detach_matcher *keys, const char *buf, size_t n)
{
    static char out[TUG_FRAME_MAX + sizeof(keys->keys)];
    size_t len = n;
    bool detach = false;
    if (keys != NULL)
        detach = tug_detach_filter(keys, buf, n, out, &len);
    else
        memcpy(out, buf, n);
    if (len > 0)
        tug_frame_write(sock, TUG_FRAME_STDIN, out, len);
    return !detach;
}

int attach_relay(int sock, const attach_opts *o)
{
    struct termios saved;
    bool raw = false;
    if (o->tty && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0) {
        struct termios t = saved;
        cfmakeraw(&t); /* output too: the container's pty already wrote \r\n, as docker relays it */
        if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
            raw = true;
    }
    if (o->tty)
        send_size(sock);
    tug_detach_matcher keys = {0};
    if (o->tty && o->keys != NULL)
        keys = *o->keys;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGWINCH);
    if (o->proxy_pidfd >= 0) {
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGHUP);
        sigaddset(&set, SIGQUIT);
    }
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    static char buf[TUG_FRAME_MAX];
    int code = -1;
    bool in_open = o->forward_stdin;
    for (;;) {
        struct pollfd p[3] = {{.fd = sock, .events = POLLIN},
                              {.fd = sfd, .events = POLLIN},
                              {.fd = in_open ? STDIN_FILENO : -1, .events = POLLIN}};
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGWINCH)
                    send_size(sock);
                else if (o->proxy_pidfd >= 0)
                    tug_pidfd_signal(o->proxy_pidfd, (int)si.ssi_signo);
            }
        }
        if (p[2].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
            if (n > 0) {
                if (!send_stdin(sock, keys.len ? &keys : NULL, buf, (size_t)n)) {
                    code = ATTACH_DETACHED;
                    break;
                }
            } else if (n == 0 || errno != EINTR) {
                if (o->eof_closes)
                    tug_frame_write(sock, TUG_FRAME_STDIN_EOF, NULL, 0);
                in_open = false;
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            size_t len = 0;
            int t = tug_frame_read(sock, buf, &len);
            if (t < 0)
                break;
            if (t == TUG_FRAME_STDOUT && (o->streams & ATTACH_STDOUT))
                write_all(STDOUT_FILENO, buf, len);
            else if (t == TUG_FRAME_STDERR && (o->streams & ATTACH_STDERR))
                write_all(STDERR_FILENO, buf, len);
            else if (t == TUG_FRAME_EXIT && len == 4) {
                unsigned char *b = (unsigned char *)buf;
                code = (int)((unsigned)b[0] << 24 | (unsigned)b[1] << 16 | (unsigned)b[2] << 8 |
                             b[3]);
                if (o->finish_self)
                    tug_frame_write(sock, TUG_FRAME_FINISH, NULL, 0);
                break;
            }
        }
    }
    if (raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    if (sfd >= 0)
        close(sfd);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    return code;
}

/* ---- tug attach ---- */

#define ATTACH_USAGE "tug attach [OPTIONS] CONTAINER"
#define ATTACH_SUMMARY "Attach local standard input, output, and error streams to a running container"

/* Once the exit is known, the record too: a command run right after attach sees it ended. A
 * restart policy would start it again, so then there is nothing to wait for. */
static void settle(tug_store *s, tug_container *c)
{
    json_t *rp = json_object_get(json_object_get(c->config, "HostConfig"), "RestartPolicy");
    const char *name = json_string_value(json_object_get(rp, "Name"));
    if (name != NULL && *name != '\0' && strcmp(name, "no") != 0)
        return;
    tug_error *err = NULL;
    tug_container_wait(s, c, &err);
    tug_error_free(err);
}

int attach_running(tug_store *s, tug_container *ct, bool want_stdin, bool sig_proxy,
                   const tug_detach_matcher *keys)
{
    tug_error *err = NULL;
    json_t *cfg = json_object_get(ct->config, "Config");
    bool tty = json_is_true(json_object_get(cfg, "Tty"));
    bool open_stdin = json_is_true(json_object_get(cfg, "OpenStdin"));
    int sock = tug_container_attach(s, ct, &err);
    if (sock < 0)
        return cli_fail(err);
    if (tty && want_stdin && open_stdin && !isatty(STDIN_FILENO)) {
        close(sock);
        return cli_not_a_tty();
    }
    int pidfd = sig_proxy && !tty ? tug_container_pidfd(ct, NULL) : -1;
    attach_opts ao = {.forward_stdin = want_stdin && open_stdin,
                      .streams = ATTACH_STDOUT | ATTACH_STDERR,
                      .tty = tty,
                      .proxy_pidfd = pidfd,
                      .keys = keys};
    int code = attach_relay(sock, &ao);
    if (pidfd >= 0)
        close(pidfd);
    close(sock);
    if (code == ATTACH_DETACHED)
        return ATTACH_DETACHED;
    if (code >= 0) {
        settle(s, ct);
        return code;
    }
    /* The channel ended without an exit code. With the container alive the monitor turned us
     * away (it serves MAX_CLIENTS at once) or was killed; otherwise the store has the exit. */
    if (tug_container_alive(ct)) {
        fprintf(stderr, "Error: attach to %.12s: its monitor closed the channel: it serves 16 "
                        "clients at once (detach one and try again), or it is gone (restart the "
                        "container)\n",
                ct->id);
        return EXIT_ENGINE;
    }
    if (tug_container_wait(s, ct, &err) < 0)
        return cli_fail(err);
    return ct->exit_code;
}

int cmd_attach(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"detach-keys", required_argument, NULL, 'K'},
        {"no-stdin", no_argument, NULL, 'N'},
        {"sig-proxy", no_argument, NULL, 'S'},
        HELP_OPT,
        {NULL, 0, NULL, 0},
    };
    const char *detach_keys = NULL;
    bool no_stdin = false, sig_proxy = true;
    int c;
    while ((c = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (c) {
        case 'K':
            detach_keys = optarg;
            break;
        case 'N':
            no_stdin = cli_opt_on();
            break;
        case 'S':
            sig_proxy = cli_opt_on();
            break;
        case 'H':
            cli_print_help(ATTACH_USAGE, ATTACH_SUMMARY,
                           "      --detach-keys string   Override the key sequence for detaching "
                           "a container\n"
                           "      --no-stdin             Do not attach STDIN\n"
                           "      --sig-proxy            Proxy all received signals to the "
                           "process (default true)\n");
            return 0;
        default:
            return cli_flag_error(ctx);
        }
    }
    if (argc - optind != 1)
        return cli_usage_error(ctx, "\"attach\" requires exactly 1 argument.\n\nUsage:  "
                                    ATTACH_USAGE "\n\n" ATTACH_SUMMARY);
    tug_detach_matcher keys;
    int rc = attach_detach_keys(ctx, detach_keys, &keys);
    if (rc)
        return rc;
    tug_store *s;
    if ((rc = cli_store(ctx, &s)) != 0)
        return rc;
    tug_error *err = NULL;
    cleanup_container tug_container *ct = NULL;
    if (tug_container_find(s, argv[optind], &ct, &err) < 0)
        return cli_fail(err);
    rc = attach_running(s, ct, !no_stdin, sig_proxy, &keys);
    if (rc == ATTACH_DETACHED) {
        /* docker's attach says so and ends with 1; run -it and start -ai leave quietly */
        fprintf(stderr, "read escape sequence\n");
        return 1;
    }
    return rc;
}
