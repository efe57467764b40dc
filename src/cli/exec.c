/* exec: run a command in a running container. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "attach.h"
#include "cli.h"
#include "commands.h"
#include "runtime/attach.h"
#include "runtime/container.h"
#include "util/cleanup.h"

static void copy_size(int master)
{
    struct winsize ws;
    if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
        ioctl(master, TIOCSWINSZ, &ws);
}

/* The user left with the detach keys and the command runs on. Someone must hold its
 * terminal's master, or the command is hung up: a child of ours drains it until the command
 * and whatever it left holding the terminal have ended. */
static void keep_terminal(int master)
{
    /* before the fork: tug may end, and hang up its terminal's session, before the child runs */
    signal(SIGHUP, SIG_IGN);
    if (fork() != 0)
        return;
    setsid();
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int i = 0; null >= 0 && i < 3; i++)
        dup2(null, i);
    int fl = fcntl(master, F_GETFL);
    if (fl >= 0)
        fcntl(master, F_SETFL, fl & ~O_NONBLOCK);
    char buf[4096];
    for (;;) {
        ssize_t n = read(master, buf, sizeof(buf));
        if (n <= 0 && !(n < 0 && errno == EINTR))
            _exit(0);
    }
}

/* Relay the local terminal and the exec'd process's pty until the process ends; true when the
 * user typed the detach keys instead. */
static bool relay_pty(int master, bool forward_stdin, pid_t child, tug_detach_matcher *keys)
{
    bool detached = false;
    struct termios saved;
    bool raw = false;
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0) {
        struct termios t = saved;
        cfmakeraw(&t); /* output too: the container's pty already wrote \r\n, as docker relays it */
        raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
    }
    copy_size(master);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGWINCH);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    char buf[16384];
    bool in_open = forward_stdin;
    for (;;) {
        struct pollfd p[3] = {{.fd = master, .events = POLLIN},
                              {.fd = in_open ? STDIN_FILENO : -1, .events = POLLIN},
                              {.fd = sfd, .events = POLLIN}};
        if (poll(p, 3, -1) < 0 && errno != EINTR)
            break;
        if (p[2].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) > 0)
                copy_size(master);
        }
        if (p[1].revents & (POLLIN | POLLHUP)) {
            ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
            if (n > 0) {
                char typed[sizeof(buf) + sizeof(keys->keys)];
                size_t len = 0;
                detached = tug_detach_filter(keys, buf, (size_t)n, typed, &len);
                if (len > 0 && write(master, typed, len) < 0)
                    break;
                if (detached)
                    break;
            } else {
                char eot = 4;
                if (write(master, &eot, 1) < 0) {
                    /* the process is gone */
                }
                in_open = false;
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(master, buf, sizeof(buf));
            if (n <= 0)
                break;
            if (write(STDOUT_FILENO, buf, (size_t)n) < 0)
                break;
        }
        if (waitpid(child, NULL, WNOHANG | __WNOTHREAD) < 0 && errno == ECHILD)
            break;
    }
    if (raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    if (sfd >= 0)
        close(sfd);
    return detached;
}

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* Copy what can be read from fd to out; false at end of file or on an error. */
static bool pump(int fd, int out)
{
    char buf[16384];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(out, buf + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return true; /* our own output is gone: keep draining so the process is not stuck */
        off += w;
    }
    return true;
}

/* Relay the caller's stdio and the process's pipes until the process has exited and what it
 * wrote before is out. A background child holding the pipes open does not hold exec up. */
static void relay_pipes(tug_exec_proc *p)
{
    int pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
    signal(SIGPIPE, SIG_IGN);
    if (p->in >= 0)
        fcntl(p->in, F_SETFL, fcntl(p->in, F_GETFL) | O_NONBLOCK);
    char inbuf[16384];
    size_t in_len = 0, in_off = 0;
    bool in_open = p->in >= 0, out_open = true, err_open = true, exited = pidfd < 0;
    while ((out_open || err_open) && !exited) {
        struct pollfd f[5] = {
            {.fd = in_open && in_len == 0 ? STDIN_FILENO : -1, .events = POLLIN},
            {.fd = in_len > 0 ? p->in : -1, .events = POLLOUT},
            {.fd = out_open ? p->out : -1, .events = POLLIN},
            {.fd = err_open ? p->err : -1, .events = POLLIN},
            {.fd = pidfd, .events = POLLIN},
        };
        if (poll(f, 5, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (f[0].revents) {
            ssize_t n = read(STDIN_FILENO, inbuf, sizeof(inbuf));
            if (n > 0) {
                in_len = (size_t)n;
                in_off = 0;
            } else if (n == 0 || errno != EINTR) {
                in_open = false; /* end of our input: the process reads end of file */
                close(p->in);
                p->in = -1;
            }
        }
        if (f[1].revents & POLLOUT) {
            ssize_t w = write(p->in, inbuf + in_off, in_len - in_off);
            if (w > 0) {
                in_off += (size_t)w;
                if (in_off == in_len)
                    in_len = 0;
            }
        }
        if (f[1].revents & (POLLERR | POLLHUP)) {
            in_open = false; /* the process closed its stdin */
            in_len = 0;
            close(p->in);
            p->in = -1;
        }
        if (f[2].revents)
            out_open = pump(p->out, STDOUT_FILENO);
        if (f[3].revents)
            err_open = pump(p->err, STDERR_FILENO);
        if (f[4].revents)
            exited = true;
    }
    /* it has exited: what it wrote is in the pipes already */
    int fds[2][2] = {{p->out, STDOUT_FILENO}, {p->err, STDERR_FILENO}};
    for (int i = 0; i < 2; i++) {
        fcntl(fds[i][0], F_SETFL, fcntl(fds[i][0], F_GETFL) | O_NONBLOCK);
        for (;;) {
            char buf[16384];
            ssize_t n = read(fds[i][0], buf, sizeof(buf));
            if (n <= 0)
                break;
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(fds[i][1], buf + off, (size_t)(n - off));
                if (w <= 0)
                    break;
                off += w;
            }
        }
    }
    if (pidfd >= 0)
        close(pidfd);
}

int cli_not_a_tty(void)
{
    fprintf(stderr, "the input device is not a TTY\n");
    return EXIT_USER;
}

int cmd_exec(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"detach", no_argument, NULL, 'd'},      {"interactive", no_argument, NULL, 'i'},
        {"tty", no_argument, NULL, 't'},         {"env", required_argument, NULL, 'e'},
        {"workdir", required_argument, NULL, 'w'}, {"user", required_argument, NULL, 'u'},
        {"privileged", no_argument, NULL, 'P'},  {"help", no_argument, NULL, 'H'},
        {"detach-keys", required_argument, NULL, 'K'},
        {NULL, 0, NULL, 0},
    };
    const char *detach_keys = NULL;
    tug_exec_opts o = {.console = -1};
    bool interactive = false;
    char **env = calloc((size_t)argc + 1, sizeof(char *));
    size_t nenv = 0;
    int c;
    while ((c = cli_getopt(argc, argv, "+dite:w:u:", opts)) != -1) {
        switch (c) {
        case 'd':
            o.detach = cli_opt_on();
            break;
        case 'i':
            interactive = cli_opt_on();
            break;
        case 't':
            o.tty = cli_opt_on();
            break;
        case 'e':
            if (strchr(optarg, '=') == NULL) {
                const char *v = getenv(optarg);
                char *kv = NULL;
                if (v && asprintf(&kv, "%s=%s", optarg, v) >= 0)
                    env[nenv++] = kv;
            } else
                env[nenv++] = strdup(optarg);
            break;
        case 'w':
            o.cwd = optarg;
            break;
        case 'u':
            o.user = optarg;
            break;
        case 'P':
            o.privileged = cli_opt_on();
            break;
        case 'K':
            detach_keys = optarg;
            break;
        case 'H':
            free(env);
            cli_print_help("tug exec [OPTIONS] CONTAINER COMMAND [ARG...]",
                           "Execute a command in a running container",
                           "  -d, --detach           Detached mode: run command in the "
                           "background\n"
                           "      --detach-keys string   Override the key sequence for "
                           "detaching a container\n"
                           "  -e, --env list         Set environment variables\n"
                           "  -i, --interactive      Keep STDIN open even if not attached\n"
                           "      --privileged       Give extended privileges to the command\n"
                           "  -t, --tty              Allocate a pseudo-TTY\n"
                           "  -u, --user string      Username or UID (format: "
                           "<name|uid>[:<group|gid>])\n"
                           "  -w, --workdir string   Working directory inside the container\n");
            return 0;
        default:
            free(env);
            return cli_flag_error(ctx);
        }
    }
    if (argc - optind < 2) {
        free(env);
        fprintf(stderr, "\"exec\" requires at least 2 arguments.\nSee 'tug exec --help'.\n\n"
                        "Usage:  tug exec [OPTIONS] CONTAINER COMMAND [ARG...]\n");
        return EXIT_USER;
    }
    tug_detach_matcher keys = {0};
    int krc = o.tty ? attach_detach_keys(ctx, detach_keys, &keys) : 0;
    if (krc) {
        free(env);
        return krc;
    }
    o.env = env;
    o.args = argv + optind + 1;
    /* before the first goto out: ct's cleanup runs on every way out */
    tug_store *s;
    tug_error *err = NULL;
    cleanup_container tug_container *ct = NULL;
    int sv[2] = {-1, -1}, st = 0;
    pid_t pid = 0;
    tug_exec_proc proc = {.in = -1, .out = -1, .err = -1};
    int rc = cli_store(ctx, &s);
    if (rc)
        goto out;
    if (tug_container_find(s, argv[optind], &ct, &err) < 0) {
        rc = cli_fail(err);
        goto out;
    }
    /* after the lookup, so that "no such container" comes first, as with docker */
    if (!o.detach && interactive && o.tty && !isatty(STDIN_FILENO)) {
        rc = cli_not_a_tty();
        goto out;
    }
    if (o.tty && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0)
        o.console = sv[1];
    struct winsize ws;
    if (o.tty && (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 ||
                  ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)) {
        o.rows = ws.ws_row;
        o.cols = ws.ws_col;
    }
    o.interactive = interactive;
    if (tug_container_exec(s, ct, &o, &proc, &err) < 0) {
        if (sv[0] >= 0) {
            close(sv[0]);
            close(sv[1]);
        }
        cleanup_free char *why = tug_exec_failure_text(err);
        if (why) {
            /* the process could not start (no such program or user, not executable...): as
             * docker, the runtime's words on stdout and 126 */
            printf("%s\r\n", why);
            tug_error_free(err);
            rc = 126;
            goto out;
        }
        rc = cli_fail(err);
        goto out;
    }
    if (o.detach) {
        rc = 0;
        goto out;
    }
    pid = proc.pid;
    if (o.tty) {
        close(sv[1]);
        int master = tug_recv_fd(sv[0]);
        close(sv[0]);
        if (master >= 0 && relay_pty(master, interactive, pid, &keys)) {
            keep_terminal(master);
            fprintf(stderr, "read escape sequence\n"); /* and 1, as docker's exec -it */
            rc = 1;
            goto out;
        }
        if (master >= 0)
            close(master);
    } else {
        relay_pipes(&proc);
    }
    if (proc.in >= 0)
        close(proc.in);
    close(proc.out);
    close(proc.err);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    tug_exec_event(s, ct, "exec_die", NULL, proc.exec_id, rc);
out:
    for (size_t i = 0; i < nenv; i++)
        free(env[i]);
    free(env);
    return rc;
}
