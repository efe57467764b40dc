/* Starting, stopping, waiting for and finishing containers. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../net/netsetup.h"
#include "../net/proxy.h"
#include "../util/cleanup.h"
#include "../util/fs.h"
#include "../util/strutil.h"
#include "attach.h"
#include "container.h"
#include "devices.h"
#include "linux.h"
#include "spec.h"
#include "proc.h"
#include "../store/layer.h"

static long long proc_start_time(pid_t pid)
{
    tug_proc p;
    return tug_proc_read(pid, &p) < 0 ? -1 : p.start;
}

/* The init the record names: the process that started at pid_start, maybe ended. */
static bool init_proc(const tug_container *c, tug_proc *ret)
{
    return c->pid > 0 && tug_proc_read(c->pid, ret) == 0 && ret->start == c->pid_start;
}

bool tug_container_alive(const tug_container *c)
{
    tug_proc p;
    return init_proc(c, &p) && !tug_proc_ended(&p);
}

int tug_container_pidfd(const tug_container *c, tug_error **err)
{
    int fd = tug_pidfd_open_checked(c->pid, c->pid_start);
    if (fd < 0)
        return errno == ESRCH ? tug_error_user(err, "Container %s is not running", c->id)
                              : tug_error_set(err, errno, "open a pidfd for container %s", c->id);
    return fd;
}

/* An argument of pid's command line is exactly word. */
static bool cmdline_has(pid_t pid, const char *word)
{
    char path[64], buf[8192];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    ssize_t n = -1;
    /* A process in the middle of an exec (the monitor becoming container-finish) has an empty
     * command line for a moment: read again for up to 50 ms before taking it for another
     * process (zombies are ruled out before). */
    for (int i = 0; i < 50; i++) {
        cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
        n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
        if (n != 0)
            break;
        poll(NULL, 0, 1);
    }
    if (n <= 0)
        return false;
    buf[n] = '\0';
    for (char *a = buf; a < buf + n; a += strlen(a) + 1)
        if (strcmp(a, word) == 0)
            return true;
    return false;
}

/* Is the container's monitor (or the container-finish it became) still at work? A killed one
 * is a zombie where nothing reaps orphans (this VM's pid 1 does not), and the pid of one long
 * gone may be another process's: it counts when it is the init's parent, when it is the
 * process backing off before a restart (its start time recorded in pid_start, pid 0), or
 * names the container on its command line (tug-monitor --id ID, tug container-finish ID). */
static bool monitor_alive(const tug_container *c)
{
    tug_proc m, init;
    if (c->monitor_pid <= 0 || tug_proc_read(c->monitor_pid, &m) < 0 || tug_proc_ended(&m))
        return false;
    if (c->pid == 0 ? m.start == c->pid_start
                    : init_proc(c, &init) && init.ppid == c->monitor_pid)
        return true;
    return cmdline_has(c->monitor_pid, c->id);
}

/* A pidfd on the monitor while monitor_alive holds, checked after the open; -1 otherwise. */
static int monitor_pidfd(const tug_container *c)
{
    int fd = tug_pidfd_open(c->monitor_pid);
    if (fd >= 0 && !monitor_alive(c)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Wait (up to timeout_ms, < 0: for ever) until neither the monitor nor, when the monitor was
 * killed, the init is at work. */
static void wait_ended(const tug_container *c, int timeout_ms)
{
    cleanup_close int fd = monitor_pidfd(c);
    if (fd < 0)
        fd = tug_pidfd_open_checked(c->pid, c->pid_start);
    if (fd >= 0)
        tug_pidfd_wait(fd, timeout_ms);
}

static char *ctr_run_path(tug_store *s, const char *id, const char *name)
{
    return tug_store_run_path(s, "%s%s%s", id, name ? "/" : "", name ? name : "");
}

/* The exit file of the container's current run, open: start makes it empty and the monitor
 * writes into it, so a `wait` or `stop` holding it reads the status even after --rm took the
 * run directory away. -1 when there is none. */
static int open_exit_file(tug_store *s, const char *id)
{
    cleanup_free char *path = ctr_run_path(s, id, "exit");
    return path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
}

/* Read the exit the monitor wrote: "code oom finished_ns". */
static bool read_exit_fd(int fd, tug_container *c)
{
    char buf[128];
    ssize_t n = fd >= 0 ? pread(fd, buf, sizeof(buf) - 1, 0) : -1;
    if (n <= 0)
        return false;
    buf[n] = '\0';
    int code = 0, oom = 0;
    long long fin = 0;
    if (sscanf(buf, "%d %d %lld", &code, &oom, &fin) != 3)
        return false;
    c->exit_code = code;
    c->oom_killed = oom != 0;
    c->finished_ns = fin;
    return true;
}

static bool read_exit_file(tug_store *s, tug_container *c)
{
    cleanup_close int fd = open_exit_file(s, c->id);
    return read_exit_fd(fd, c);
}

/* No monitor recorded the exit: it was killed first. The init, an orphan now, tells its own
 * status while it is a zombie (until whatever adopted it reaps it); otherwise it is unknown. */
static void exit_unrecorded(tug_container *c)
{
    tug_proc p;
    bool zombie = init_proc(c, &p) && tug_proc_ended(&p) && p.wait_status >= 0;
    c->exit_code = !zombie                    ? 255
                   : WIFEXITED(p.wait_status) ? WEXITSTATUS(p.wait_status)
                                              : 128 + WTERMSIG(p.wait_status);
    c->finished_ns = tug_now_ns();
    free(c->error);
    c->error = strdup(zombie ? "the container's monitor was killed; its exit status was read "
                               "from its ended process"
                             : "the container's monitor was killed; its exit status is unknown");
}

static void set_state(tug_container *c, const char *state)
{
    free(c->state);
    c->state = strdup(state);
}

static bool active(const tug_container *c)
{
    return strcmp(c->state, TUG_STATE_RUNNING) == 0 || strcmp(c->state, TUG_STATE_PAUSED) == 0 ||
           strcmp(c->state, TUG_STATE_RESTARTING) == 0;
}

static int container_ended(tug_store *s, tug_container *c, int attach_fd, bool late,
                           tug_error **err);
static int reload(tug_store *s, tug_container *c, int exit_fd, tug_error **err);

int tug_container_refresh(tug_store *s, tug_container *c, tug_error **err)
{
    if (!active(c) || monitor_alive(c) || tug_container_alive(c))
        return 0;
    /* Neither the monitor nor the init is at work, and the record says it runs: the monitor
     * was killed before it handed the exit over. What it would have done is done here. */
    if (!read_exit_file(s, c))
        exit_unrecorded(c);
    return container_ended(s, c, -1, true, err);
}

typedef struct start_msg {
    int ok;
    int code;
    pid_t pid, monitor;
    long long pid_start;
    char text[1024];
} start_msg;

static char *self_exe(void)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0)
        return strdup("/usr/local/bin/tug");
    buf[n] = '\0';
    return strdup(buf);
}

static void keep_fd(int fd)
{
    if (fd >= 0)
        fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) & ~FD_CLOEXEC);
}

static long long json_int(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* The monitor process between fork and exec: spawn the init, report, become tug-monitor. */
static int plumb(pid_t pid, void *userdata, tug_error **err)
{
    return tug_net_plumb(userdata, pid, err);
}

static void mark_running(tug_container *c, const start_msg *msg)
{
    set_state(c, TUG_STATE_RUNNING);
    c->pid = msg->pid;
    c->pid_start = msg->pid_start;
    c->monitor_pid = msg->monitor;
    c->started_ns = tug_now_ns();
    c->finished_ns = 0;
    c->exit_code = 0;
    c->oom_killed = false;
    free(c->error);
    c->error = NULL;
}

/* The command that started the container died before it recorded the start (kill -9, a
 * closed terminal): the container runs on, so the record says so, or `ps` would call it
 * Created and `system check` would take its address and link for leftovers. A connection of
 * its own: the one inherited across fork is never used again. */
static void record_running(const char *root, const char *id, const start_msg *msg)
{
    tug_store *s = NULL;
    tug_error *err = NULL;
    if (tug_store_open(root, &s, &err) == 0) {
        cleanup_container tug_container *c = NULL;
        if (tug_container_find(s, id, &c, &err) == 0 && c->pid != msg->pid) {
            mark_running(c, msg);
            tug_container_save_state(s, c, &err);
        }
        tug_store_close(s);
    }
    tug_error_free(err);
}

/* The container's stdio could not be prepared (errno says why): tell the client and end. */
__attribute__((noreturn)) static void fail_stdio(int sync_fd, start_msg *msg)
{
    msg->code = 125;
    snprintf(msg->text, sizeof(msg->text), "prepare the container's stdio: %s", strerror(errno));
    if (write(sync_fd, msg, sizeof(*msg)) < 0) {
        /* the client is gone */
    }
    _exit(1);
}

/* The monitor's health schedule, "interval,timeout,start-period,start-interval" in ns (0:
 * docker's default), when the container has a check to run (its Test is CMD or CMD-SHELL;
 * the probe itself is container/health.c's); false when it has none. */
static bool health_schedule(json_t *cfg, char *buf, size_t size)
{
    json_t *hc = json_object_get(cfg, "Healthcheck");
    json_t *test = json_object_get(hc, "Test");
    const char *kind = json_string_value(json_array_get(test, 0));
    if (json_array_size(test) < 2 || kind == NULL ||
        (strcmp(kind, "CMD") != 0 && strcmp(kind, "CMD-SHELL") != 0))
        return false;
    snprintf(buf, size, "%lld,%lld,%lld,%lld",
             (long long)json_integer_value(json_object_get(hc, "Interval")),
             (long long)json_integer_value(json_object_get(hc, "Timeout")),
             (long long)json_integer_value(json_object_get(hc, "StartPeriod")),
             (long long)json_integer_value(json_object_get(hc, "StartInterval")));
    return true;
}

__attribute__((noreturn)) static void monitor_child(tug_store *s, tug_container *c,
                                                    const tug_spawn_spec *spec,
                                                    const tug_start_opts *o,
                                                    const tug_net_plan *net, int sync_fd,
                                                    int ack_fd)
{
    start_msg msg = {0};
    tug_spawn_io io = {.in = -1, .out = -1, .err = -1, .console = -1, .rows = o->rows,
                       .cols = o->cols};
    /* The monitor outlives the command that started it: it must not hold its terminal or the
     * pipe a shell reads the command's output from. */
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
        for (int i = 0; i < 3; i++)
            if (i != sync_fd && i != ack_fd && i != o->attach_fd)
                dup2(devnull, i);
        if (devnull > 2)
            close(devnull);
    }
    int out[2] = {-1, -1}, er[2] = {-1, -1}, in[2] = {-1, -1}, con[2] = {-1, -1};
    if (spec->terminal) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, con) < 0)
            fail_stdio(sync_fd, &msg);
        io.console = con[1];
    } else {
        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(er, O_CLOEXEC) < 0)
            fail_stdio(sync_fd, &msg);
        io.out = out[1];
        io.err = er[1];
        if (o->open_stdin) {
            if (pipe2(in, O_CLOEXEC) < 0)
                fail_stdio(sync_fd, &msg);
            io.in = in[0];
        }
    }
    cleanup_free char *dir = tug_self_dir();
    cleanup_free char *seccomp_cache = NULL, *init = NULL, *monitor = NULL;
    if (asprintf(&seccomp_cache, "/run/tug/seccomp") < 0 ||
        asprintf(&init, "%s/tug-monitor", dir) < 0 || asprintf(&monitor, "%s/tug-monitor", dir) < 0)
        fail_stdio(sync_fd, &msg);
    tug_mkdir_p(seccomp_cache, 0700, NULL);
    tug_spawn_paths paths = {.seccomp_cache = seccomp_cache, .init_binary = init,
                             .before_start = net ? plumb : NULL, .userdata = (void *)net};
    tug_spawned sp = {0};
    tug_error *err = NULL;
    if (tug_spawn(spec, &io, &paths, &sp, &err) < 0) {
        msg.code = err->status ? err->status : 125;
        snprintf(msg.text, sizeof(msg.text), "%s", err->msg);
        if (write(sync_fd, &msg, sizeof(msg)) < 0) {
            /* the client is gone */
        }
        _exit(1);
    }
    int pty = -1;
    if (spec->terminal) {
        close(con[1]);
        pty = tug_recv_fd(con[0]);
        close(con[0]);
    } else {
        close(out[1]);
        close(er[1]);
        if (in[0] >= 0)
            close(in[0]);
    }
    msg.ok = 1;
    msg.pid = sp.pid;
    msg.monitor = getpid();
    msg.pid_start = proc_start_time(sp.pid);
    /* IPv6 host ports: the proxy, a child of the monitor, relays them while the container runs */
    if (net && net->n_proxy)
        tug_proxy_spawn(net->proxy_fds, net->proxy_ctr_ports, net->n_proxy, net->ip, sp.pid);
    if (write(sync_fd, &msg, sizeof(msg)) < 0) {
        /* carry on: the record will be brought up to date by the next command */
    }
    close(sync_fd);
    char ack;
    ssize_t got;
    do
        got = read(ack_fd, &ack, 1);
    while (got < 0 && errno == EINTR);
    close(ack_fd);
    if (got != 1)
        record_running(s->root, c->id, &msg);

    cleanup_free char *log = NULL, *exitf = NULL, *pid = NULL, *fo = NULL, *fe = NULL,
                      *fi = NULL, *fp = NULL, *fa = NULL, *maxs = NULL, *maxf = NULL;
    cleanup_free char *ctr_dir = tug_container_dir(s, c->id);
    json_t *logcfg = json_object_get(json_object_get(json_object_get(c->config, "HostConfig"),
                                                     "LogConfig"),
                                     "Config");
    const char *ms = json_string_value(json_object_get(logcfg, "max-size"));
    const char *mf = json_string_value(json_object_get(logcfg, "max-file"));
    exitf = ctr_run_path(s, c->id, "exit");
    if (asprintf(&log, "%s/%s-json.log", ctr_dir, c->id) < 0 ||
        asprintf(&pid, "%d", (int)sp.pid) < 0 || asprintf(&fo, "%d", out[0]) < 0 ||
        asprintf(&fe, "%d", er[0]) < 0 || asprintf(&fi, "%d", in[1]) < 0 ||
        asprintf(&fp, "%d", pty) < 0 || asprintf(&fa, "%d", o->attach_fd) < 0 ||
        asprintf(&maxs, "%s", ms ? ms : "0") < 0 || asprintf(&maxf, "%s", mf ? mf : "1") < 0)
        _exit(125);
    cleanup_free char *tug = self_exe();
    char *argv[40];
    int a = 0;
    argv[a++] = "tug-monitor";
    argv[a++] = "--id";
    argv[a++] = c->id;
    argv[a++] = "--pid";
    argv[a++] = pid;
    argv[a++] = "--root";
    argv[a++] = s->root;
    argv[a++] = "--tug";
    argv[a++] = tug;
    const char *driver = json_string_value(json_object_get(
        json_object_get(json_object_get(c->config, "HostConfig"), "LogConfig"), "Type"));
    if (driver == NULL || strcmp(driver, "none") != 0) {
        argv[a++] = "--log";
        argv[a++] = log;
    }
    argv[a++] = "--exit-file";
    argv[a++] = exitf;
    argv[a++] = "--log-max-size";
    argv[a++] = maxs;
    argv[a++] = "--log-max-file";
    argv[a++] = maxf;
    if (spec->cgroup_path) {
        argv[a++] = "--cgroup";
        argv[a++] = spec->cgroup_path;
    }
    if (pty >= 0) {
        keep_fd(pty);
        argv[a++] = "--pty";
        argv[a++] = fp;
    } else {
        keep_fd(out[0]);
        keep_fd(er[0]);
        argv[a++] = "--stdout";
        argv[a++] = fo;
        argv[a++] = "--stderr";
        argv[a++] = fe;
        if (in[1] >= 0) {
            keep_fd(in[1]);
            argv[a++] = "--stdin";
            argv[a++] = fi;
        }
    }
    /* the monitor holds the published host ports for as long as the container runs */
    for (size_t i = 0; net && i < net->n_reserved; i++)
        keep_fd(net->reserved[i]);
    if (o->attach_fd >= 0) {
        keep_fd(o->attach_fd);
        argv[a++] = "--attach";
        argv[a++] = fa;
    }
    char health[128];
    if (health_schedule(json_object_get(c->config, "Config"), health, sizeof(health))) {
        argv[a++] = "--health";
        argv[a++] = health;
    }
    argv[a] = NULL;
    /* the monitor gets what is listed above and nothing else this process inherited */
    size_t n_keep = 5 + (net ? net->n_reserved : 0);
    int *keep = calloc(n_keep, sizeof(int));
    if (keep == NULL)
        _exit(125);
    int k = 0;
    keep[k++] = pty;
    keep[k++] = out[0];
    keep[k++] = er[0];
    keep[k++] = in[1];
    keep[k++] = o->attach_fd;
    for (size_t i = 0; net && i < net->n_reserved; i++)
        keep[k++] = net->reserved[i];
    if (tug_close_fds_except(keep, n_keep) < 0)
        _exit(125);
    execv(monitor, argv);
    /* No monitor: the container runs unwatched; the next command notices. */
    _exit(125);
}

/* --pid/--ipc container:NAME: that container's namespaces, while it runs. */
static int join_containers(tug_store *s, tug_spawn_spec *spec, json_t *ann, tug_error **err)
{
    static const char *const joins[][3] = {{TUG_ANN_JOIN_PID, "pid", "PID"},
                                           {TUG_ANN_JOIN_IPC, "ipc", "IPC"}};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(joins); i++) {
        const char *id = json_string_value(json_object_get(ann, joins[i][0]));
        if (id == NULL)
            continue;
        cleanup_container tug_container *other = NULL;
        if (tug_container_find(s, id, &other, err) < 0)
            return -1;
        if (strcmp(other->state, TUG_STATE_RUNNING) != 0 || !tug_container_alive(other))
            return tug_error_user(err, "cannot join %s of a non running container: %s",
                                  joins[i][2], other->id);
        if (tug_spawn_spec_join(spec, joins[i][1], other->pid, err) < 0)
            return -1;
    }
    return 0;
}

int tug_container_start(tug_store *s, tug_container *c, const tug_start_opts *o,
                        tug_error **err)
{
    if (tug_container_refresh(s, c, err) < 0)
        return -1;
    if (c->removed)
        return tug_error_user(err, "No such container: %s (it ended and --rm removed it)", c->name);
    /* The record says it runs but its init has ended: its monitor is still recording the end
     * (a restart right after a stop, on a loaded machine). Wait for that, then start anew. */
    for (int i = 0; i < 200 && !tug_container_alive(c) &&
                    (strcmp(c->state, TUG_STATE_RUNNING) == 0 ||
                     strcmp(c->state, TUG_STATE_PAUSED) == 0);
         i++) {
        wait_ended(c, 50);
        if (reload(s, c, -1, err) < 0)
            return -1;
    }
    if (strcmp(c->state, TUG_STATE_RUNNING) == 0 || strcmp(c->state, TUG_STATE_PAUSED) == 0)
        return 0;
    if (tug_device_requests_check(json_object_get(c->config, "HostConfig"), err) < 0)
        return -1;
    cleanup_free char *dir = tug_container_dir(s, c->id);
    cleanup_free char *cfgpath = NULL;
    if (asprintf(&cfgpath, "%s/config.json", dir) < 0)
        return tug_error_set(err, ENOMEM, "start");
    json_error_t jerr;
    json_t *specj = json_load_file(cfgpath, 0, &jerr);
    if (specj == NULL)
        return tug_error_set(err, 0, "read %s: %s", cfgpath, jerr.text);
    tug_spawn_spec *spec = NULL;
    int r = tug_spawn_spec_parse(specj, dir, &spec, err);
    if (r == 0)
        r = join_containers(s, spec, json_object_get(specj, "annotations"), err);
    /* an EROFS layer is mounted once, by the first container that needs it (after a reboot
     * too) */
    char *lowers = NULL;
    if (r == 0 && spec->lowerdirs && (r = tug_store_lowerdirs_ready(s, spec->lowerdirs, &lowers, err)) == 0) {
        free(spec->lowerdirs);
        spec->lowerdirs = lowers;
    }
    json_decref(specj);
    if (r < 0) {
        tug_spawn_spec_free(spec);
        return -1;
    }
    cleanup_free char *exitf = ctr_run_path(s, c->id, "exit");
    cleanup_free char *stopped = ctr_run_path(s, c->id, "stopped");
    if (exitf == NULL || stopped == NULL || tug_run_dir_make(s, c->id, err) < 0) {
        tug_spawn_spec_free(spec);
        return exitf && stopped ? -1 : tug_error_set(err, ENOMEM, "start");
    }
    unlink(exitf);
    unlink(stopped);
    /* a new file for this run: a waiter holding the last one reads the last run's status */
    int xfd = open(exitf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (xfd < 0) {
        tug_spawn_spec_free(spec);
        return tug_error_set(err, errno, "create %s", exitf);
    }
    close(xfd);
    tug_net_plan *net = NULL;
    if (tug_net_plan_make(s, c->id, json_string_value(json_object_get(
                                       json_object_get(c->config, "Config"), "Hostname")),
                          c->config, dir, &net, err) < 0) {
        tug_spawn_spec_free(spec);
        return -1;
    }
    int sync[2], ack[2];
    if (pipe2(sync, O_CLOEXEC) < 0 || pipe2(ack, O_CLOEXEC) < 0) {
        tug_spawn_spec_free(spec);
        return tug_error_set(err, errno, "pipe");
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        tug_spawn_spec_free(spec);
        return tug_error_set(err, errno, "fork");
    }
    if (pid == 0) {
        close(sync[0]);
        close(ack[1]);
        setsid();
        pid_t m = fork();
        if (m != 0)
            _exit(m < 0 ? 1 : 0);
        monitor_child(s, c, spec, o, net, sync[1], ack[0]);
    }
    close(sync[1]);
    close(ack[0]);
    waitpid(pid, NULL, 0);
    tug_spawn_spec_free(spec);
    tug_net_plan_free(net);
    start_msg msg;
    ssize_t n;
    do
        n = read(sync[0], &msg, sizeof(msg));
    while (n < 0 && errno == EINTR);
    close(sync[0]);
    if (n != (ssize_t)sizeof(msg)) {
        close(ack[1]);
        tug_net_release(s, c->id);
        return tug_error_set(err, 0, "start %s: the monitor died before the container started",
                             c->name);
    }
    if (!msg.ok) {
        close(ack[1]);
        tug_net_release(s, c->id);
        msg.text[sizeof(msg.text) - 1] = '\0';
        free(c->error);
        c->error = strdup(msg.text);
        c->exit_code = msg.code;
        set_state(c, c->started_ns ? TUG_STATE_EXITED : TUG_STATE_CREATED);
        tug_container_save_state(s, c, NULL);
        tug_error_user(err, "%s", msg.text);
        (*err)->status = msg.code;
        return -1;
    }
    mark_running(c, &msg);
    r = tug_container_save_state(s, c, err);
    /* before the ack lets the command run: its die never comes before its start */
    if (r == 0 && o->attach_fd >= 0)
        tug_container_event(s, c, "attach", NULL);
    if (r == 0)
        tug_container_volume_events(s, c, "mount");
    if (r == 0)
        tug_container_event(s, c, "start", NULL);
    if (write(ack[1], "k", 1) < 0) {
        /* the monitor went on without us */
    }
    close(ack[1]);
    return r;
}

int tug_signal_parse(const char *s)
{
    static const struct {
        const char *n;
        int v;
    } t[] = {
        {"HUP", SIGHUP},   {"INT", SIGINT},     {"QUIT", SIGQUIT}, {"ILL", SIGILL},
        {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},   {"BUS", SIGBUS},   {"FPE", SIGFPE},
        {"KILL", SIGKILL}, {"USR1", SIGUSR1},   {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
        {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},   {"TERM", SIGTERM}, {"CHLD", SIGCHLD},
        {"CONT", SIGCONT}, {"STOP", SIGSTOP},   {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},
        {"TTOU", SIGTTOU}, {"URG", SIGURG},     {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
        {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
        {"PWR", SIGPWR},   {"SYS", SIGSYS},
    };
    if (s == NULL || *s == '\0')
        return -1;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end == '\0')
        return v > 0 && v < 65 ? (int)v : -1;
    const char *n = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
    for (size_t i = 0; i < TUG_ARRAY_SIZE(t); i++)
        if (strcasecmp(n, t[i].n) == 0)
            return t[i].v;
    return -1;
}

static int not_running(tug_container *c, tug_error **err)
{
    return tug_error_conflict(err, "Container %s is not running", c->id);
}

/* The user ends it: a restart policy does not bring it back. */
static void mark_stopped(tug_store *s, const tug_container *c)
{
    cleanup_free char *stopped = ctr_run_path(s, c->id, "stopped");
    if (stopped)
        tug_write_file_atomic_nosync(stopped, "1", 1, 0600, NULL);
}

/* docker's "kill", with the signal's number. */
static void kill_event(tug_store *s, const tug_container *c, int sig)
{
    char num[16];
    snprintf(num, sizeof(num), "%d", sig);
    tug_container_event(s, c, "kill", "signal", num, NULL);
}

int tug_container_signal(tug_store *s, tug_container *c, int sig, tug_error **err)
{
    if (tug_container_refresh(s, c, err) < 0)
        return -1;
    /* through a pidfd of the recorded init: never a pid the kernel has given to another */
    cleanup_close int pidfd = tug_pidfd_open_checked(c->pid, c->pid_start);
    if (pidfd < 0 || !tug_container_alive(c))
        return not_running(c, err);
    if (sig == SIGKILL || sig == SIGTERM || sig == SIGINT)
        mark_stopped(s, c);
    int r = tug_pidfd_signal(pidfd, sig);
    if (r == -ESRCH)
        return not_running(c, err);
    if (r < 0)
        return tug_error_set(err, -r, "signal %s", c->name);
    kill_event(s, c, sig);
    if (sig == SIGKILL && strcmp(c->state, TUG_STATE_PAUSED) == 0) {
        /* a frozen process cannot die: thaw it so the kill lands, as docker does */
        tug_error *e = NULL;
        tug_container_pause(s, c, false, &e);
        tug_error_free(e);
    }
    return 0;
}

/* c as the store has it now. When --rm removed it meanwhile, what is left of it is its exit
 * status, read from exit_fd (open_exit_file, opened while it ran). */
static int reload(tug_store *s, tug_container *c, int exit_fd, tug_error **err)
{
    tug_container *fresh = NULL;
    tug_error *e = NULL;
    if (c->removed)
        return 0;
    if (tug_container_find(s, c->id, &fresh, &e) < 0) {
        tug_error_free(e);
        if (read_exit_fd(exit_fd, c)) {
            set_state(c, TUG_STATE_EXITED);
            c->pid = 0;
            c->monitor_pid = 0;
            c->removed = true;
            return 0;
        }
        return tug_error_user(err, "No such container: %s", c->id);
    }
    /* swap contents so callers keep their pointer */
    tug_container tmp = *c;
    *c = *fresh;
    *fresh = tmp;
    tug_container_free(fresh);
    return tug_container_refresh(s, c, err);
}

int tug_container_wait(tug_store *s, tug_container *c, tug_error **err)
{
    for (int round = 0; round < 1000; round++) {
        if (tug_container_refresh(s, c, err) < 0)
            return -1;
        if (!active(c))
            return 0;
        cleanup_close int exit_fd = open_exit_file(s, c->id);
        wait_ended(c, -1);
        if (reload(s, c, exit_fd, err) < 0)
            return -1;
    }
    return 0;
}

int tug_container_stop(tug_store *s, tug_container *c, int sig, int timeout, bool *ret_forced,
                       tug_error **err)
{
    *ret_forced = false;
    /* before the record is brought up to date: one found ended now is not restarted either */
    if (active(c))
        mark_stopped(s, c);
    if (tug_container_refresh(s, c, err) < 0)
        return -1;
    cleanup_close int exit_fd = open_exit_file(s, c->id);
    cleanup_close int pidfd = tug_pidfd_open_checked(c->pid, c->pid_start);
    if (pidfd < 0 || !tug_container_alive(c)) {
        /* a restart policy's back-off: the monitor sees the mark and gives up */
        if (strcmp(c->state, TUG_STATE_RESTARTING) == 0)
            wait_ended(c, 10000);
        return reload(s, c, exit_fd, err);
    }
    json_t *cfg = json_object_get(c->config, "Config");
    if (sig <= 0) {
        sig = tug_signal_parse(json_string_value(json_object_get(cfg, "StopSignal")));
        if (sig <= 0)
            sig = SIGTERM;
    }
    if (timeout < 0) {
        json_t *t = json_object_get(cfg, "StopTimeout");
        timeout = json_is_integer(t) ? (int)json_integer_value(t) : 10;
    }
    if (strcmp(c->state, TUG_STATE_PAUSED) == 0)
        tug_container_pause(s, c, false, NULL);
    /* each kill event goes before its signal: the monitor writes the die the signal causes,
     * and on a loaded machine it could otherwise come first */
    kill_event(s, c, sig);
    tug_pidfd_signal(pidfd, sig);
    if (!tug_pidfd_wait(pidfd, timeout * 1000)) {
        *ret_forced = true;
        kill_event(s, c, SIGKILL);
        tug_pidfd_signal(pidfd, SIGKILL);
        tug_pidfd_wait(pidfd, 10000);
    }
    wait_ended(c, 10000);
    int r = reload(s, c, exit_fd, err);
    if (r == 0)
        tug_container_event(s, c, "stop", NULL);
    return r;
}

int tug_container_pause(tug_store *s, tug_container *c, bool pause, tug_error **err)
{
    if (tug_container_refresh(s, c, err) < 0)
        return -1;
    if (!tug_container_alive(c))
        return not_running(c, err);
    bool paused = strcmp(c->state, TUG_STATE_PAUSED) == 0;
    if (pause && paused)
        return tug_error_conflict(err, "Container %s is already paused", c->id);
    if (!pause && !paused)
        return tug_error_conflict(err, "Container %s is not paused", c->id);
    cleanup_free char *cgpath = NULL;
    if (tug_container_cgroup_path(c, &cgpath) < 0)
        return tug_error_set(err, ENOMEM, "pause");
    tug_cgroup *cg = NULL;
    if (tug_cgroup_open(cgpath, &cg, err) < 0)
        return -1;
    int r = tug_cgroup_freeze(cg, pause, err);
    tug_cgroup_free(cg);
    if (r < 0)
        return -1;
    set_state(c, pause ? TUG_STATE_PAUSED : TUG_STATE_RUNNING);
    if (tug_container_save_state(s, c, err) < 0)
        return -1;
    tug_container_event(s, c, pause ? "pause" : "unpause", NULL);
    return 0;
}

static void send_exit(int fd, int code)
{
    if (fd < 0)
        return;
    unsigned char b[4] = {(unsigned char)(code >> 24), (unsigned char)(code >> 16),
                          (unsigned char)(code >> 8), (unsigned char)code};
    tug_frame_write(fd, TUG_FRAME_EXIT, b, 4);
}

/* What a monitor does after the exit and a killed one did not: its cgroup goes. */
static void remove_cgroup(const tug_container *c)
{
    cleanup_free char *cgpath = NULL;
    tug_cgroup *cg = NULL;
    tug_error *e = NULL;
    if (tug_container_cgroup_path(c, &cgpath) >= 0 && tug_cgroup_open(cgpath, &cg, &e) == 0) {
        tug_cgroup_destroy(cg, &e);
        tug_cgroup_free(cg);
    }
    tug_error_free(e);
}

static bool restart_wanted(tug_store *s, const tug_container *c)
{
    json_t *rp = json_object_get(json_object_get(c->config, "HostConfig"), "RestartPolicy");
    const char *policy = json_string_value(json_object_get(rp, "Name"));
    int max = (int)json_int(rp, "MaximumRetryCount");
    cleanup_free char *stopped = ctr_run_path(s, c->id, "stopped");
    if (policy == NULL || (stopped && access(stopped, F_OK) == 0))
        return false;
    if (strcmp(policy, "always") == 0 || strcmp(policy, "unless-stopped") == 0)
        return true;
    return strcmp(policy, "on-failure") == 0 && c->exit_code != 0 &&
           (max <= 0 || c->restart_count < max);
}

/* docker's "die", with the exit code and how long the run took (seconds). */
static void die_event(tug_store *s, const tug_container *c)
{
    char code[16], took[24];
    long long secs = c->started_ns && c->finished_ns > c->started_ns
                         ? (c->finished_ns - c->started_ns) / 1000000000LL
                         : 0;
    snprintf(code, sizeof(code), "%d", c->exit_code);
    snprintf(took, sizeof(took), "%lld", secs);
    tug_container_event(s, c, "die", "exitCode", code, "execDuration", took, NULL);
    tug_container_volume_events(s, c, "unmount");
}

/* The container ended with the status in c: record it, then remove it (--rm) or restart it
 * (its restart policy), then tell an attached client. The monitor's container-finish, an
 * attached `tug run` and a command that found the monitor killed (late) may all get here for
 * one exit: only the one that moves the row from the state it read to exited goes on. A late
 * restart is at once; the monitor backs off first, as docker does. */
static int container_ended(tug_store *s, tug_container *c, int attach_fd, bool late,
                           tug_error **err)
{
    bool won = false;
    if (tug_container_save_ended(s, c, &won, err) < 0) {
        send_exit(attach_fd, c->exit_code);
        return -1;
    }
    if (!won) {
        send_exit(attach_fd, c->exit_code);
        return reload(s, c, -1, err);
    }
    die_event(s, c);
    if (late)
        remove_cgroup(c);
    tug_net_release(s, c->id);
    if (json_is_true(json_object_get(json_object_get(c->config, "HostConfig"), "AutoRemove"))) {
        int r = tug_container_remove(s, c, err);
        send_exit(attach_fd, c->exit_code);
        return r;
    }
    if (!restart_wanted(s, c)) {
        send_exit(attach_fd, c->exit_code);
        return 0;
    }
    c->restart_count++;
    cleanup_free char *stopped = ctr_run_path(s, c->id, "stopped");
    if (!late) {
        /* Back off like docker: 100 ms, doubling, at most a minute. */
        long delay_ms = 100L << (c->restart_count < 11 ? c->restart_count - 1 : 10);
        if (delay_ms > 60000)
            delay_ms = 60000;
        set_state(c, TUG_STATE_RESTARTING);
        c->monitor_pid = getpid();
        c->pid_start = proc_start_time(c->monitor_pid); /* see monitor_alive */
        tug_container_save_state(s, c, NULL);
        struct timespec ts = {.tv_sec = delay_ms / 1000, .tv_nsec = (delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        if (access(stopped, F_OK) == 0) {
            set_state(c, TUG_STATE_EXITED);
            c->monitor_pid = 0;
            send_exit(attach_fd, c->exit_code);
            return tug_container_save_state(s, c, err);
        }
    }
    tug_start_opts o = {.attach_fd = attach_fd, .open_stdin = false};
    tug_error *e = NULL;
    int r = tug_container_start(s, c, &o, &e);
    if (r < 0)
        send_exit(attach_fd, c->exit_code);
    if (r < 0 && late) {
        /* recorded with the container (its Error); the command that noticed goes on */
        tug_error_free(e);
        return 0;
    }
    if (r < 0 && err)
        *err = e;
    else
        tug_error_free(e);
    return r;
}

int tug_container_finish(tug_store *s, const char *id, int attach_fd, tug_error **err)
{
    cleanup_container tug_container *c = NULL;
    if (tug_container_find(s, id, &c, err) < 0) {
        send_exit(attach_fd, 125);
        return -1;
    }
    if (!read_exit_file(s, c)) {
        c->exit_code = 255;
        c->finished_ns = tug_now_ns();
    }
    return container_ended(s, c, attach_fd, false, err);
}

int tug_container_rm(tug_store *s, tug_container *c, bool force, tug_error **err)
{
    if (tug_container_refresh(s, c, err) < 0)
        return -1;
    if (active(c) && !force)
        return tug_error_conflict(err,
                                  "You cannot remove a %s container %s. Stop the container "
                                  "before attempting removal or force remove",
                                  c->state, c->id);
    if (active(c)) {
        bool forced;
        if (tug_container_stop(s, c, SIGKILL, 0, &forced, err) < 0)
            return -1;
    }
    /* Whatever a killed monitor left: the cgroup goes with the container. */
    remove_cgroup(c);
    return tug_container_remove(s, c, err);
}
