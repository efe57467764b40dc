/* Build steps on a stage's filesystem. A RUN is a container of tug's own runtime (the same spec,
 * namespaces, cgroup, capabilities, seccomp and devices as `tug run`) whose overlay upper dir is
 * the step's layer directory, so its changes are the layer with no copy. Its scratch lives in
 * the layer's tmp directory (.tmp-PID-*), which the store sweeps once the builder is dead. */
#include "step.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../container/stubs.h"
#include "../net/netsetup.h"
#include "../store/db.h"
#include "../runtime/cgroup.h"
#include "../runtime/container.h"
#include "../runtime/linux.h"
#include "../runtime/linux_child.h"
#include "../runtime/proc.h"
#include "../runtime/spec.h"
#include "../util/cleanup.h"
#include "../util/fs.h"
#include "shell.h"

static char *path_in(const char *dir, const char *name)
{
    char *p = NULL;
    return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

/* tmp/step: the rootfs mount point and the container's /etc files; tmp/work beside diff. */
static int make_scratch(const tug_step_rootfs *fs, tug_error **err)
{
    static const char *const dirs[] = {"step", "step/rootfs", "step/empty", "work"};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(dirs); i++) {
        cleanup_free char *p = path_in(fs->tmp, dirs[i]);
        if (p == NULL || (mkdir(p, 0755) < 0 && errno != EEXIST))
            return tug_error_set(err, p ? errno : ENOMEM, "build step scratch %s", dirs[i]);
    }
    return 0;
}

/* "top:...:bottom" as the overlay takes it; an empty dir for FROM scratch. */
static char *lower_string(const tug_step_rootfs *fs)
{
    if (fs->n_lower == 0)
        return path_in(fs->tmp, "step/empty");
    tug_strbuf b = {0};
    for (size_t i = fs->n_lower; i-- > 0;) {
        if (b.len)
            tug_strbuf_addc(&b, ':');
        tug_strbuf_adds(&b, fs->lowerdirs[i]);
    }
    return tug_strbuf_steal(&b);
}

int tug_step_finish(const tug_step_rootfs *fs, tug_error **err)
{
    static const char *const extra[] = {"work", "l", "step"};
    for (size_t i = 0; i < TUG_ARRAY_SIZE(extra); i++) {
        cleanup_free char *p = path_in(fs->tmp, extra[i]);
        if (p == NULL)
            return tug_error_set(err, ENOMEM, "build step");
        if (tug_rm_rf(p, err) < 0)
            return -1;
    }
    return 0;
}

/* ---- the rootfs in a private mount namespace ---- */

int tug_step_in_rootfs(const tug_step_rootfs *fs, tug_step_fs_fn fn, void *userdata,
                       tug_error **err)
{
    if (make_scratch(fs, err) < 0)
        return -1;
    cleanup_free char *lower = lower_string(fs);
    cleanup_free char *work = path_in(fs->tmp, "work");
    cleanup_free char *target = path_in(fs->tmp, "step/rootfs");
    if (lower == NULL || work == NULL || target == NULL)
        return tug_error_set(err, ENOMEM, "build step");
    int fail[2];
    if (pipe2(fail, O_CLOEXEC) < 0)
        return tug_error_set(err, errno, "pipe");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fail[0]);
        close(fail[1]);
        return tug_error_set(err, e, "fork");
    }
    if (pid == 0) {
        close(fail[0]);
        tug_child_fail_fd = fail[1];
        /* the mount is this child's alone and goes with it */
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
            tug_child_die(125, errno, "a mount namespace for the build step");
        tug_child_mount_overlay(lower, fs->upperdir, work, target);
        int rootfd = open(target, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
            tug_child_die(125, errno, "open the step's rootfs");
        tug_error *e = NULL;
        if (fn(rootfd, userdata, &e) < 0)
            tug_child_die(e && e->kind == TUG_ERR_USER ? 1 : 125, 0, "%s",
                          e && e->msg ? e->msg : "build step failed");
        _exit(0);
    }
    close(fail[1]);
    child_fail f;
    ssize_t n;
    do
        n = read(fail[0], &f, sizeof(f));
    while (n < 0 && errno == EINTR);
    close(fail[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (n == (ssize_t)sizeof(f)) {
        f.msg[sizeof(f.msg) - 1] = '\0';
        if (f.code == 1)
            return tug_error_user(err, "%s", f.msg);
        return tug_error_set(err, 0, "%s", f.msg);
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return tug_error_set(err, 0, "build step: its process ended with status %d", st);
    return 0;
}

/* ---- mount stubs ---- */

/* The mount points the runtime made where the image had nothing leave the step's layer. */
static void remove_stubs(const tug_step_rootfs *fs, json_t *spec)
{
    json_t *mounts = json_object_get(spec, "mounts");
    size_t n = json_array_size(mounts);
    cleanup_free const char **dests = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; dests && i < n; i++)
        dests[i] = json_string_value(json_object_get(json_array_get(mounts, i), "destination"));
    cleanup_strv char **stubs = NULL;
    tug_error *ignored = NULL;
    if (dests == NULL ||
        tug_mount_stubs(fs->upperdir, fs->lowerdirs, fs->n_lower, dests, n, &stubs, &ignored) < 0) {
        tug_error_free(ignored);
        return;
    }
    tug_mount_stubs_remove(fs->upperdir, stubs);
}

/* ---- RUN ---- */

static json_t *strv_json(char **v)
{
    json_t *a = json_array();
    for (; v && *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

/* docker's create request for the step's container. */
static json_t *step_request(const tug_step_cmd *cmd, const char *hostname)
{
    json_t *cfg = json_object();
    json_object_set_new(cfg, "Hostname", json_string(hostname));
    json_object_set_new(cfg, "Cmd", strv_json(cmd->argv));
    json_object_set_new(cfg, "Entrypoint", json_null());
    json_object_set_new(cfg, "Env", strv_json(cmd->env));
    json_object_set_new(cfg, "User", json_string(cmd->user ? cmd->user : ""));
    json_object_set_new(cfg, "WorkingDir", json_string(cmd->cwd ? cmd->cwd : "/"));
    json_t *hc = json_object();
    json_object_set_new(hc, "NetworkMode", json_string(cmd->network ? cmd->network : "default"));
    if (cmd->extra_hosts)
        json_object_set(hc, "ExtraHosts", cmd->extra_hosts);
    json_t *req = json_object();
    /* as `tug run`'s resolved -v and --mount: remove_stubs takes their mount points out */
    if (cmd->mounts)
        json_object_set(req, "TugMounts", cmd->mounts);
    json_object_set_new(req, "Config", cfg);
    json_object_set_new(req, "HostConfig", hc);
    return req;
}

static int plumb(pid_t pid, void *userdata, tug_error **err)
{
    return tug_net_plumb(userdata, pid, err);
}

/* Pass the command's output on until both pipes close; the init's end ends the pid
 * namespace, and with it whatever it left running. The cancel fd becoming readable (or its
 * writer gone) kills the init: another stage failed. */
static void relay_output(const tug_step_cmd *cmd, pid_t init, int out, int er)
{
    int fds[3] = {out, er, cmd->cancel_fd};
    bool open_[3] = {true, true, cmd->cancel_fd > 0};
    char buf[16384];
    while (open_[0] || open_[1]) {
        struct pollfd p[3];
        for (int i = 0; i < 3; i++)
            p[i] = (struct pollfd){.fd = open_[i] ? fds[i] : -1, .events = POLLIN};
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (p[2].revents) {
            kill(init, SIGKILL);
            open_[2] = false;
        }
        for (int i = 0; i < 2; i++) {
            if (!p[i].revents)
                continue;
            ssize_t n = read(fds[i], buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                open_[i] = false;
                continue;
            }
            if (cmd->output)
                cmd->output(cmd->userdata, i + 1, buf, (size_t)n);
        }
    }
}

typedef struct step_run {
    char id[65];
    char *dir;
    json_t *request, *spec;
    tug_spawn_spec *sspec;
    tug_net_plan *net;
    bool registered; /* in build_steps */
} step_run;

static void step_run_clear(tug_store *s, step_run *r)
{
    if (r->net) {
        tug_net_release(s, r->id);
        tug_net_plan_free(r->net);
    }
    if (r->registered) {
        cleanup_stmt sqlite3_stmt *st =
            tug_db_prepare(s, "DELETE FROM build_steps WHERE id = ?", NULL);
        if (st) {
            BIND_TEXT(st, 1, r->id);
            sqlite3_step(st);
        }
    }
    tug_spawn_spec_free(r->sspec);
    json_decref(r->spec);
    json_decref(r->request);
    free(r->dir);
}

/* The spec of the step's container: tug_spec_build's, with the step's upper and work dirs. */
static int step_prepare(tug_store *s, const tug_step_rootfs *fs, const tug_step_cmd *cmd,
                        step_run *r, tug_error **err)
{
    tug_random_hex(r->id, 32);
    char hostname[13];
    snprintf(hostname, sizeof(hostname), "%.12s", r->id);
    if (make_scratch(fs, err) < 0)
        return -1;
    r->dir = path_in(fs->tmp, "step");
    r->request = step_request(cmd, hostname);
    if (r->dir == NULL || r->request == NULL)
        return tug_error_set(err, ENOMEM, "build step");
    json_t *hc = json_object_get(r->request, "HostConfig");
    if (tug_container_write_etc(r->dir, hostname, hc, err) < 0)
        return -1;
    cleanup_free char *empty = path_in(fs->tmp, "step/empty");
    const char *scratch_lower[] = {empty};
    const char *const *lowers = (const char *const *)fs->lowerdirs;
    size_t n_lower = fs->n_lower;
    if (n_lower == 0) {
        lowers = scratch_lower;
        n_lower = 1;
    }
    r->spec = tug_spec_build(r->id, r->request, lowers, n_lower, r->dir, err);
    if (r->spec == NULL)
        return -1;
    json_t *ann = json_object_get(r->spec, "annotations");
    cleanup_free char *work = path_in(fs->tmp, "work");
    json_object_set_new(ann, TUG_ANN_UPPERDIR, json_string(fs->upperdir));
    json_object_set_new(ann, TUG_ANN_WORKDIR, json_string(work));
    if (tug_spawn_spec_parse(r->spec, r->dir, &r->sspec, err) < 0)
        return -1;
    /* its address is the builder's while the builder lives (system check reads this) */
    tug_proc self;
    cleanup_stmt sqlite3_stmt *st =
        tug_db_prepare(s, "INSERT INTO build_steps(id, pid, pid_start) VALUES (?,?,?)", err);
    if (st == NULL || tug_proc_read(getpid(), &self) < 0)
        return st ? tug_error_set(err, errno, "build step") : -1;
    BIND_TEXT(st, 1, r->id);
    sqlite3_bind_int(st, 2, (int)getpid());
    sqlite3_bind_int64(st, 3, self.start);
    if (tug_db_step_done(s, st, err) < 0)
        return -1;
    r->registered = true;
    return tug_net_plan_make(s, r->id, hostname, r->request, r->dir, &r->net, err);
}

/* Spawn the prepared container, pass its output on, wait for it; its cgroup goes after. */
static int step_spawn(const step_run *r, const tug_step_cmd *cmd, int *ret_status,
                      tug_error **err)
{
    int out[2], er[2];
    if (pipe2(out, O_CLOEXEC) < 0)
        return tug_error_set(err, errno, "build step: pipe");
    if (pipe2(er, O_CLOEXEC) < 0) {
        int e = errno;
        close(out[0]);
        close(out[1]);
        return tug_error_set(err, e, "build step: pipe");
    }
    tug_spawn_io io = {.in = -1, .out = out[1], .err = er[1], .console = -1};
    tug_spawn_paths paths = {.seccomp_cache = "/run/tug/seccomp", .die_with_parent = true,
                             .before_start = r->net ? plumb : NULL, .userdata = r->net};
    tug_mkdir_p("/run/tug/seccomp", 0700, NULL);
    tug_spawned sp = {0};
    int rc = tug_spawn(r->sspec, &io, &paths, &sp, err);
    close(out[1]);
    close(er[1]);
    if (rc == 0) {
        relay_output(cmd, sp.pid, out[0], er[0]);
        int st = 0;
        while (waitpid(sp.pid, &st, 0) < 0 && errno == EINTR) {
        }
        *ret_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    close(out[0]);
    close(er[0]);
    if (sp.cg) {
        tug_error *ignored = NULL;
        tug_cgroup_destroy(sp.cg, &ignored);
        tug_error_free(ignored);
        tug_cgroup_free(sp.cg);
    }
    return rc;
}

int tug_step_run(tug_store *s, const tug_step_rootfs *fs, const tug_step_cmd *cmd,
                 int *ret_status, tug_error **err)
{
    step_run r = {0};
    int rc = step_prepare(s, fs, cmd, &r, err);
    if (rc == 0)
        rc = step_spawn(&r, cmd, ret_status, err);
    if (r.spec)
        remove_stubs(fs, r.spec);
    step_run_clear(s, &r);
    return rc;
}
