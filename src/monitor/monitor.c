/* tug-monitor: the parent of a container's PID 1 while it runs. It writes the logs (docker's
 * json-file format), serves an attached client, and when the container exits records the exit
 * status and OOM kill, removes its cgroup, and hands over to `tug container-finish` for the
 * rest (database, --rm, restart policy). Built static and small: one per running container.
 * With --health it also schedules the container's health checks: each probe is a
 * `tug container-health ID` it starts and waits for (container/health.c runs it in the container).
 *
 * Called as tug-init it is instead the container's init (--init): it reaps zombies and
 * forwards signals to the command it runs. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/attach.h"
#include "runtime/cgroup.h"

typedef struct stream {
    int fd;
    const char *name; /* "stdout" / "stderr" */
    char buf[16384];  /* a partial line waiting for its newline */
    size_t len;
} stream;

static struct {
    const char *id, *root, *tug, *log_path, *exit_path, *cgroup;
    pid_t pid;
    int attach, in, pty;
    long long max_size;
    int max_file;
    int log_fd;
    long long log_size;
} m = {.attach = -1, .in = -1, .pty = -1, .max_file = 1, .log_fd = -1};

static stream out = {.fd = -1, .name = "stdout"}, err = {.fd = -1, .name = "stderr"};

/* The health check schedule (docker's semantics): times in ns on CLOCK_MONOTONIC. */
#define HEALTH_STARTING 10 /* `tug container-health` exits 10 starting, 11 healthy, 12 unhealthy */
#define HEALTH_GRACE_NS (10LL * 1000000000LL) /* past the probe's own timeout: kill it */
static struct {
    bool on;
    long long interval, timeout, start_period, start_interval;
    long long started; /* when the container started */
    long long next;    /* when the next probe starts */
    long long deadline; /* of the probe running */
    pid_t probe;       /* 0: none running */
    int status;        /* the last probe's exit status */
} h = {.status = HEALTH_STARTING};

/* ---------------- json-file logs ---------------- */

static size_t utf8_len(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || n > left)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

static void rotate(void)
{
    if (m.max_file <= 1) {
        if (ftruncate(m.log_fd, 0) == 0)
            m.log_size = 0;
        return;
    }
    char from[4096], to[4096];
    for (int i = m.max_file - 1; i >= 1; i--) {
        snprintf(to, sizeof(to), "%s.%d", m.log_path, i);
        if (i == 1)
            snprintf(from, sizeof(from), "%s", m.log_path);
        else
            snprintf(from, sizeof(from), "%s.%d", m.log_path, i - 1);
        rename(from, to);
    }
    close(m.log_fd);
    m.log_fd = open(m.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    m.log_size = 0;
}

static void log_line(const char *name, const char *data, size_t len)
{
    if (m.log_fd < 0)
        return;
    static char rec[16384 * 6 + 256];
    size_t o = 0;
    o += (size_t)snprintf(rec, sizeof(rec), "{\"log\":\"");
    const unsigned char *p = (const unsigned char *)data;
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            rec[o++] = '\\';
            rec[o++] = (char)c;
            i++;
        } else if (c == '\n') {
            rec[o++] = '\\';
            rec[o++] = 'n';
            i++;
        } else if (c == '\r') {
            rec[o++] = '\\';
            rec[o++] = 'r';
            i++;
        } else if (c == '\t') {
            rec[o++] = '\\';
            rec[o++] = 't';
            i++;
        } else if (c < 0x20) {
            o += (size_t)snprintf(rec + o, 7, "\\u%04x", c);
            i++;
        } else {
            size_t n = utf8_len(p + i, len - i);
            if (n == 0) {
                memcpy(rec + o, "\xef\xbf\xbd", 3); /* invalid bytes become U+FFFD */
                o += 3;
                i++;
            } else {
                memcpy(rec + o, p + i, n);
                o += n;
                i += n;
            }
        }
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    o += (size_t)snprintf(rec + o, sizeof(rec) - o,
                          "\",\"stream\":\"%s\",\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ\"}\n",
                          name, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                          tm.tm_min, tm.tm_sec, ts.tv_nsec);
    if (m.max_size > 0 && m.log_size + (long long)o > m.max_size && m.log_size > 0)
        rotate();
    if (write(m.log_fd, rec, o) == (ssize_t)o)
        m.log_size += (long long)o;
}

static void send_attach(int type, const void *data, size_t len)
{
    if (m.attach < 0)
        return;
    if (tug_frame_write(m.attach, type, data, len) < 0) {
        /* The client went away; the container carries on. */
        close(m.attach);
        m.attach = -1;
    }
}

/* Read what is there; log whole lines, forward bytes. Returns false at EOF. */
static bool pump(stream *s)
{
    char buf[16384];
    ssize_t n = read(s->fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0) {
        if (s->len) {
            log_line(s->name, s->buf, s->len);
            s->len = 0;
        }
        return false;
    }
    send_attach(s == &err ? TUG_FRAME_STDERR : TUG_FRAME_STDOUT, buf, (size_t)n);
    for (ssize_t i = 0; i < n; i++) {
        s->buf[s->len++] = buf[i];
        if (buf[i] == '\n' || s->len == sizeof(s->buf)) {
            log_line(s->name, s->buf, s->len);
            s->len = 0;
        }
    }
    return true;
}

static void from_client(void)
{
    static char buf[TUG_FRAME_MAX];
    size_t len = 0;
    int t = tug_frame_read(m.attach, buf, &len);
    int target = m.pty >= 0 ? m.pty : m.in;
    if (t < 0) {
        close(m.attach);
        m.attach = -1;
        return;
    }
    if (t == TUG_FRAME_STDIN && target >= 0) {
        for (size_t off = 0; off < len;) {
            ssize_t w = write(target, buf + off, len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                break;
            off += (size_t)w;
        }
    } else if (t == TUG_FRAME_STDIN_EOF) {
        if (m.pty >= 0) {
            char eot = 4;
            if (write(m.pty, &eot, 1) < 0) {
                /* the terminal is gone */
            }
        } else if (m.in >= 0) {
            close(m.in);
            m.in = -1;
        }
    } else if (t == TUG_FRAME_RESIZE && len == 4 && m.pty >= 0) {
        unsigned char *p = (unsigned char *)buf;
        struct winsize ws = {.ws_row = (unsigned short)(p[0] << 8 | p[1]),
                             .ws_col = (unsigned short)(p[2] << 8 | p[3])};
        ioctl(m.pty, TIOCSWINSZ, &ws);
    }
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void record_exit(int status)
{
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    bool oom = false;
    if (m.cgroup) {
        tug_cgroup *cg = NULL;
        tug_error *e = NULL;
        if (tug_cgroup_open(m.cgroup, &cg, &e) == 0) {
            oom = tug_cgroup_oom_killed(cg);
            tug_cgroup_destroy(cg, &e);
            tug_cgroup_free(cg);
        }
        tug_error_free(e);
    }
    /* Into the file tug made for this run, not a new one renamed over it: `tug wait` and
     * `tug stop` hold it open to read the status after --rm has removed the run directory. */
    char line[128];
    int n = snprintf(line, sizeof(line), "%d %d %lld\n", code, oom ? 1 : 0, now_ns());
    int fd = open(m.exit_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
        if (write(fd, line, (size_t)n) != n) {
            /* read back as an unknown status */
        }
        close(fd);
    }
}

/* ---------------- health checks ---------------- */

static long long mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* "interval,timeout,start-period,start-interval" in ns, 0 for docker's default. */
static bool health_parse(const char *s)
{
    long long v[4];
    if (sscanf(s, "%lld,%lld,%lld,%lld", &v[0], &v[1], &v[2], &v[3]) != 4)
        return false;
    h.interval = v[0] > 0 ? v[0] : 30000000000LL;
    h.timeout = v[1] > 0 ? v[1] : 30000000000LL;
    h.start_period = v[2] > 0 ? v[2] : 0;
    h.start_interval = v[3] > 0 ? v[3] : 5000000000LL;
    h.on = true;
    return true;
}

/* docker's: the start interval while starting inside the start period, else the interval. */
static long long health_delay(void)
{
    if (mono_ns() - h.started < h.start_period && h.status == HEALTH_STARTING)
        return h.start_interval;
    return h.interval;
}

/* One probe: tug with nothing of the monitor's but /dev/null for its stdio. */
static void health_start_probe(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int sigs[] = {SIGPIPE, SIGINT, SIGHUP, SIGTERM};
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
            signal(sigs[i], SIG_DFL);
        int null = open("/dev/null", O_RDWR);
        for (int fd = 0; fd < 3 && null >= 0; fd++)
            dup2(null, fd);
        if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
            for (int fd = 3; fd < 4096; fd++)
                close(fd);
        char *args[] = {(char *)m.tug, "--root", (char *)m.root, "container-health",
                        (char *)m.id, NULL};
        execv(m.tug, args);
        _exit(127);
    }
    long long now = mono_ns();
    if (pid < 0) {
        h.next = now + health_delay();
        return;
    }
    h.probe = pid;
    h.deadline = now + h.timeout + HEALTH_GRACE_NS;
}

static void health_probe_ended(int status)
{
    h.probe = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) >= HEALTH_STARTING &&
        WEXITSTATUS(status) <= HEALTH_STARTING + 2)
        h.status = WEXITSTATUS(status);
    /* the next one counts from the end of this one, as in docker */
    h.next = mono_ns() + health_delay();
}

/* Start a probe that is due, kill one past its grace; the poll timeout (ms) until the next. */
static int health_tick(void)
{
    long long now = mono_ns();
    if (h.probe == 0 && now >= h.next)
        health_start_probe();
    else if (h.probe > 0 && now >= h.deadline) {
        kill(h.probe, SIGKILL);
        h.deadline = now + HEALTH_GRACE_NS;
    }
    long long at = h.probe ? h.deadline : h.next;
    long long left = (at - mono_ns()) / 1000000 + 1;
    return left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

static int monitor_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"id", required_argument, NULL, 'i'},       {"pid", required_argument, NULL, 'p'},
        {"root", required_argument, NULL, 'r'},     {"tug", required_argument, NULL, 't'},
        {"log", required_argument, NULL, 'l'},      {"exit-file", required_argument, NULL, 'x'},
        {"cgroup", required_argument, NULL, 'c'},   {"stdout", required_argument, NULL, 'o'},
        {"stderr", required_argument, NULL, 'e'},   {"stdin", required_argument, NULL, 'n'},
        {"pty", required_argument, NULL, 'y'},      {"attach", required_argument, NULL, 'a'},
        {"log-max-size", required_argument, NULL, 's'},
        {"log-max-file", required_argument, NULL, 'f'},
        {"health", required_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'i': m.id = optarg; break;
        case 'p': m.pid = (pid_t)atoi(optarg); break;
        case 'r': m.root = optarg; break;
        case 't': m.tug = optarg; break;
        case 'l': m.log_path = optarg; break;
        case 'x': m.exit_path = optarg; break;
        case 'c': m.cgroup = optarg; break;
        case 'o': out.fd = atoi(optarg); break;
        case 'e': err.fd = atoi(optarg); break;
        case 'n': m.in = atoi(optarg); break;
        case 'y': m.pty = atoi(optarg); break;
        case 'a': m.attach = atoi(optarg); break;
        case 's': m.max_size = atoll(optarg); break;
        case 'f': m.max_file = atoi(optarg); break;
        case 'H': health_parse(optarg); break;
        default: return 2;
        }
    }
    if (m.id == NULL || m.pid <= 0 || m.exit_path == NULL) {
        fprintf(stderr, "tug-monitor: started by tug, not by hand\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (m.log_path) {
        m.log_fd = open(m.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        struct stat st;
        if (m.log_fd >= 0 && fstat(m.log_fd, &st) == 0)
            m.log_size = st.st_size;
    }
    if (m.pty >= 0)
        out.fd = m.pty;
    if (h.on && (m.tug == NULL || m.root == NULL))
        h.on = false;
    if (h.on) {
        h.started = mono_ns();
        h.next = h.started + health_delay();
    }
    int status = 0;
    bool exited = false;
    long long exit_at = 0;
    /* The container may have ended before the signalfd existed: its SIGCHLD is gone. */
    if (waitpid(m.pid, &status, WNOHANG) == m.pid) {
        exited = true;
        exit_at = now_ns();
    }
    for (;;) {
        struct pollfd p[4];
        int np = 0, io = -1, ie = -1, ia = -1;
        if (out.fd >= 0) {
            io = np;
            p[np++] = (struct pollfd){.fd = out.fd, .events = POLLIN};
        }
        if (err.fd >= 0) {
            ie = np;
            p[np++] = (struct pollfd){.fd = err.fd, .events = POLLIN};
        }
        if (m.attach >= 0 && !exited) {
            ia = np;
            p[np++] = (struct pollfd){.fd = m.attach, .events = POLLIN};
        }
        int is = np;
        p[np++] = (struct pollfd){.fd = sfd, .events = POLLIN};
        if (exited && out.fd < 0 && err.fd < 0)
            break;
        /* After the exit, wait a little for output still in flight, not for ever: a process
         * that escaped may hold the pipe. */
        int timeout = -1;
        if (exited) {
            long long left = 500 - (now_ns() - exit_at) / 1000000;
            if (left <= 0)
                break;
            timeout = (int)left;
        } else if (h.on) {
            timeout = health_tick();
        }
        if (poll(p, (nfds_t)np, timeout) < 0 && errno != EINTR)
            break;
        if (io >= 0 && (p[io].revents & (POLLIN | POLLHUP | POLLERR)) && !pump(&out)) {
            if (out.fd != m.pty)
                close(out.fd);
            out.fd = -1;
        }
        if (ie >= 0 && (p[ie].revents & (POLLIN | POLLHUP | POLLERR)) && !pump(&err)) {
            close(err.fd);
            err.fd = -1;
        }
        if (ia >= 0 && (p[ia].revents & (POLLIN | POLLHUP | POLLERR)))
            from_client();
        if (p[is].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
            }
            int st;
            pid_t r;
            while ((r = waitpid(-1, &st, WNOHANG)) > 0)
                if (r == m.pid) {
                    status = st;
                    exited = true;
                    exit_at = now_ns();
                } else if (h.probe > 0 && r == h.probe) {
                    health_probe_ended(st);
                }
        }
    }
    /* a probe still at work has nothing left to check */
    if (h.probe > 0)
        kill(h.probe, SIGKILL);
    if (out.len)
        log_line(out.name, out.buf, out.len);
    if (err.len)
        log_line(err.name, err.buf, err.len);
    record_exit(status);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    unsigned char b[4] = {(unsigned char)(code >> 24), (unsigned char)(code >> 16),
                          (unsigned char)(code >> 8), (unsigned char)code};
    if (m.attach >= 0) {
        /* An attached client (tug run) is waiting: it records the exit itself, which saves
         * starting tug again here. Without its answer, hand over as usual. */
        send_attach(TUG_FRAME_EXIT, b, 4);
        struct pollfd pa = {.fd = m.attach, .events = POLLIN};
        static char buf[TUG_FRAME_MAX];
        size_t len = 0;
        if (m.attach >= 0 && poll(&pa, 1, 5000) == 1 &&
            tug_frame_read(m.attach, buf, &len) == TUG_FRAME_FINISH)
            return 0;
        if (m.attach >= 0)
            close(m.attach);
        m.attach = -1;
    }
    if (m.tug && m.root) {
        char afd[16];
        snprintf(afd, sizeof(afd), "%d", m.attach);
        char *args[] = {(char *)m.tug, "--root", (char *)m.root, "container-finish", (char *)m.id,
                        "--attach-fd", afd, NULL};
        execv(m.tug, args);
    }
    return 0;
}

/* ---------------- tug-init ---------------- */

static int init_main(int argc, char **argv)
{
    /* exec'd through a file descriptor, the process would carry the file's name */
    prctl(PR_SET_NAME, "tug-init", 0, 0, 0);
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "--") == 0)
        first = 2;
    if (first >= argc) {
        fprintf(stderr, "tug-init: no command\n");
        return 2;
    }
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid_t child = fork();
    if (child < 0) {
        perror("tug-init: fork");
        return 125;
    }
    if (child == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        setpgid(0, 0);
        /* the command keeps the terminal as its own */
        if (isatty(STDIN_FILENO))
            tcsetpgrp(STDIN_FILENO, getpid());
        execvp(argv[first], argv + first);
        fprintf(stderr, "tug-init: exec %s: %s\n", argv[first], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    setpgid(child, child);
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&all, &si);
        if (sig < 0)
            continue;
        if (sig == SIGCHLD) {
            int st;
            pid_t r;
            while ((r = waitpid(-1, &st, WNOHANG)) > 0)
                if (r == child)
                    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            continue;
        }
        if (sig == SIGTTIN || sig == SIGTTOU)
            continue;
        kill(-child, sig);
    }
}

int main(int argc, char **argv)
{
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    if (strcmp(base, "tug-init") == 0)
        return init_main(argc, argv);
    return monitor_main(argc, argv);
}
