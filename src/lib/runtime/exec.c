/* exec: a process joins a running container's namespaces and cgroup, then runs with the
 * container's user, capabilities and seccomp profile.
 *
 * What enters a container is a copy of the caller, which holds the host's files and memory, so
 * the order is the whole point (runc's and crun's exec keep the same one):
 *   caller   opens a pidfd of the container's init and checks it is that init; compiles the
 *            seccomp filter and opens the cgroup while the host is in view; makes the pipes;
 *   helper   (forked) turns non-dumpable, joins the cgroup, puts the pipes on 0-2, closes every
 *            other fd but the few it passes on, and only then joins the namespaces, all at once
 *            through the pidfd: no namespace is ever skipped, a dead init is an error;
 *   process  (forked by the helper, so inside the pid namespace) is born non-dumpable with no
 *            host fd: root in the container cannot open /proc/N/{fd,exe,root} of it; it finds
 *            its user and program in the container, drops to the container's privileges, exec.
 * The helper waits for the process and exits with its status, which the caller collects. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../util/cleanup.h"
#include "../util/fs.h"
#include "../util/strutil.h"
#include "cgroup.h"
#include "container.h"
#include "linux.h"
#include "linux_child.h"
#include "proc.h"
#include "security.h"
#include "spec.h"

/* Every namespace a container can have but the user namespace, which tug does not use. */
#define EXEC_NAMESPACES                                                                            \
    (CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWPID | CLONE_NEWNS)

static char **merged_env(char **base, char **extra)
{
    size_t nb = 0, ne = 0;
    while (base && base[nb])
        nb++;
    while (extra && extra[ne])
        ne++;
    char **out = calloc(nb + ne + 3, sizeof(char *));
    if (out == NULL)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < nb; i++) {
        size_t kl = strcspn(base[i], "=");
        bool overridden = false;
        for (size_t j = 0; j < ne; j++)
            if (strncmp(extra[j], base[i], kl) == 0 && extra[j][kl] == '=')
                overridden = true;
        if (!overridden)
            out[n++] = base[i];
    }
    for (size_t j = 0; j < ne; j++)
        out[n++] = extra[j];
    return out;
}

/* What the caller hands the helper. */
typedef struct exec_plan {
    const tug_spawn_spec *spec;
    const tug_exec_opts *o;
    const tug_seccomp_filter *filter;
    tug_cgroup *cg;
    int pidfd;
    int stdio[3]; /* the process's ends of its pipes; -1: /dev/null (or the pty) */
} exec_plan;

/* The process, inside every namespace of the container: stdio, user, privileges, exec. */
__attribute__((noreturn)) static void exec_process(const exec_plan *p)
{
    const tug_spawn_spec *spec = p->spec;
    const tug_exec_opts *o = p->o;
    if (o->tty) {
        tug_child_setup_terminal(o->console, o->rows, o->cols);
    } else if (p->stdio[0] < 0 || p->stdio[1] < 0) {
        /* the container's own /dev/null, opened now that its files are in view */
        tug_spawn_io io = {.in = p->stdio[0] < 0 ? -1 : 0, .out = p->stdio[1] < 0 ? -1 : 1,
                           .err = p->stdio[2] < 0 ? -1 : 2};
        tug_child_setup_stdio(&io);
    }
    uid_t uid = 0;
    gid_t gid = 0;
    gid_t groups[64];
    int ngroups = 0;
    char home[PATH_MAX] = "/";
    const char *user = o->user && *o->user ? o->user : spec->user ? spec->user : "0";
    tug_child_resolve_user(user, &uid, &gid, groups, &ngroups, home, sizeof(home));
    if (spec->groups)
        tug_child_add_groups(spec->groups, groups, &ngroups);
    char **env = merged_env(spec->env, o->env);
    if (env == NULL)
        tug_child_die(125, ENOMEM, "exec");
    if (o->tty && tug_child_env_get(env, "TERM") == NULL) {
        size_t n = 0; /* merged_env leaves room for TERM and HOME */
        while (env[n])
            n++;
        env[n] = strdup("TERM=xterm");
    }
    if (tug_child_env_get(env, "HOME") == NULL) {
        size_t n = 0;
        while (env[n])
            n++;
        if (asprintf(&env[n], "HOME=%s", home) < 0)
            env[n] = NULL;
    }
    const char *cwd = o->cwd && *o->cwd ? o->cwd : spec->cwd;
    if (chdir(cwd) < 0)
        tug_child_die(126, errno, "chdir to %s", cwd);
    char prog[PATH_MAX];
    tug_child_find_program(o->args[0], env, prog, sizeof(prog));
    uint64_t caps = o->privileged ? tug_caps_all() : spec->caps;
    tug_child_become(caps, spec->no_new_privs, o->privileged ? NULL : p->filter, uid, gid, groups,
                     ngroups);
    umask(022);
    /* after become: a change of credentials clears it */
    if (o->die_with_helper)
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    execve(prog, o->args, env);
    int e = errno;
    if (e == ENOENT)
        tug_child_die(127, 0, "exec: \"%s\": no such file or directory", o->args[0]);
    tug_child_die(126, e == EACCES ? 0 : e, "exec: \"%s\": %s", o->args[0],
                  e == EACCES ? "permission denied" : "cannot execute");
}

/* Put the process's stdio on 0-2 while only host objects the caller made are there: pipes, or
 * the console socket until the pty replaces it. Closed ones are opened inside later. */
static void helper_stdio(const exec_plan *p)
{
    for (int i = 0; i < 3; i++) {
        int fd = p->o->tty ? p->o->console : p->stdio[i];
        if (fd < 0) {
            close(i);
            continue;
        }
        if (dup2(fd, i) < 0)
            tug_child_die(125, errno, "set up stdio");
    }
}

/* The helper: joins, forks the process into the pid namespace, waits for it. */
__attribute__((noreturn)) static void exec_helper(exec_plan *p)
{
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        tug_child_die(125, errno, "exec: make the helper non-dumpable");
    tug_error *err = NULL;
    if (tug_cgroup_enter_self(p->cg, &err) < 0)
        tug_child_die(125, 0, "exec: %s", err->msg);
    tug_cgroup_free(p->cg);
    p->cg = NULL;
    helper_stdio(p);
    /* with a terminal of its own the process may outlive tug (the detach keys): the helper
     * that reaps it must not go with the hangup of tug's terminal */
    if (p->o->tty)
        setsid();
    int keep[] = {tug_child_fail_fd, p->pidfd, p->o->tty ? p->o->console : -1};
    if (tug_close_fds_except(keep, TUG_ARRAY_SIZE(keep)) < 0)
        tug_child_die(125, errno, "exec: close the caller's file descriptors");
    if (setns(p->pidfd, EXEC_NAMESPACES) < 0)
        tug_child_die(125, errno == ESRCH ? 0 : errno, "exec: join the container's namespaces%s",
                      errno == ESRCH ? ": the container stopped" : "");
    close(p->pidfd);
    /* a new pid namespace applies to children: the process runs in a second fork */
    pid_t pid = fork();
    if (pid < 0)
        tug_child_die(125, errno, "exec: fork");
    if (pid == 0)
        exec_process(p);
    close(tug_child_fail_fd);
    for (int i = 0; i < 3; i++)
        close(i);
    if (p->o->detach)
        _exit(0);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

/* A pidfd of the container's init, checked to be that init and still running. */
static int init_pidfd(const tug_container *c, tug_error **err)
{
    int fd = tug_container_pidfd(c, err);
    if (fd >= 0 && !tug_container_alive(c)) {
        close(fd);
        return tug_error_user(err, "Container %s is not running", c->id);
    }
    return fd;
}

static void close_pair(int fds[2])
{
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    fds[0] = fds[1] = -1;
}

/* Pipes for the process's stdio: [i][0] is the read end. stdin only with -i. */
static int make_pipes(const tug_exec_opts *o, int pipes[3][2], tug_error **err)
{
    for (int i = 0; i < 3; i++)
        pipes[i][0] = pipes[i][1] = -1;
    if (o->tty || o->detach)
        return 0;
    for (int i = 0; i < 3; i++) {
        if (i == 0 && !o->interactive)
            continue;
        if (pipe2(pipes[i], O_CLOEXEC) < 0) {
            int e = errno;
            for (int j = 0; j < i; j++)
                close_pair(pipes[j]);
            return tug_error_set(err, e, "exec: pipe");
        }
    }
    return 0;
}

static int load_spec(tug_store *s, tug_container *c, tug_spawn_spec **ret_spec, tug_error **err)
{
    cleanup_free char *dir = tug_container_dir(s, c->id);
    cleanup_free char *cfgpath = NULL;
    if (asprintf(&cfgpath, "%s/config.json", dir) < 0)
        return tug_error_set(err, ENOMEM, "exec");
    json_error_t jerr;
    json_t *specj = json_load_file(cfgpath, 0, &jerr);
    if (specj == NULL)
        return tug_error_set(err, 0, "read %s: %s", cfgpath, jerr.text);
    int r = tug_spawn_spec_parse(specj, dir, ret_spec, err);
    json_decref(specj);
    return r;
}

/* Start the helper and wait until the process has exec'd (or failed to). */
static int launch(exec_plan *p, int pipes[3][2], pid_t *ret_pid, tug_error **err)
{
    int fail[2];
    if (pipe2(fail, O_CLOEXEC) < 0)
        return tug_error_set(err, errno, "exec: pipe");
    for (int i = 0; i < 3; i++)
        p->stdio[i] = i == 0 ? pipes[0][0] : pipes[i][1];
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fail[0]);
        tug_child_fail_fd = fail[1];
        exec_helper(p);
    }
    close(fail[1]);
    if (pid < 0) {
        close(fail[0]);
        return tug_error_set(err, errno, "exec: fork");
    }
    child_fail f;
    ssize_t n;
    do
        n = read(fail[0], &f, sizeof(f));
    while (n < 0 && errno == EINTR);
    close(fail[0]);
    if (n == (ssize_t)sizeof(f)) {
        f.msg[sizeof(f.msg) - 1] = '\0';
        waitpid(pid, NULL, 0);
        tug_error_user(err, "%s", f.msg);
        (*err)->status = f.code;
        return -1;
    }
    *ret_pid = pid;
    return 0;
}

void tug_exec_event(tug_store *s, const tug_container *c, const char *action, char **args,
                    const char *exec_id, int exit_code)
{
    if (args == NULL) {
        char code[16];
        snprintf(code, sizeof(code), "%d", exit_code);
        tug_container_event(s, c, action, "execID", exec_id, "exitCode", code, NULL);
        return;
    }
    /* docker's words: "ACTION: " + the program + " " + its arguments joined ("true " alone) */
    tug_strbuf b = {0};
    tug_strbuf_adds(&b, action);
    tug_strbuf_adds(&b, ": ");
    tug_strbuf_adds(&b, args[0] ? args[0] : "");
    tug_strbuf_addc(&b, ' ');
    for (char **a = args[0] ? args + 1 : args; *a; a++) {
        if (a > args + 1)
            tug_strbuf_addc(&b, ' ');
        tug_strbuf_adds(&b, *a);
    }
    cleanup_free char *full = tug_strbuf_steal(&b);
    tug_strbuf_free(&b);
    if (full)
        tug_container_event(s, c, full, "execID", exec_id, NULL);
}

char *tug_exec_failure_text(const tug_error *err)
{
    if (err == NULL || err->status < 125 || err->status > 127)
        return NULL;
    char *t = NULL;
    /* docker's engine says these bare */
    if (strncmp(err->msg, "unable to find user ", 20) == 0 ||
        strncmp(err->msg, "unable to find group ", 21) == 0)
        t = strdup(err->msg);
    else if (asprintf(&t,
                      "OCI runtime exec failed: exec failed: unable to start container "
                      "process: %s: unknown",
                      err->msg) < 0)
        t = NULL;
    return t;
}

pid_t tug_exec_process_pid(pid_t helper)
{
    char path[64], buf[64];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)helper, (int)helper);
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return (pid_t)strtol(buf, NULL, 10);
}

/* exec -d: the process is left by its helper and nobody waits it, so the waiter, a child
 * subreaper that outlives the command (double-forked, its own session, stdio on /dev/null),
 * launches it, reports the launch over a pipe, becomes its parent when the helper leaves, and
 * records exec_die when it ends. Orphans of the process that come to it meanwhile are reaped. */
static int launch_detached(tug_store *s, const tug_container *c, exec_plan *p, int pipes[3][2],
                           const char *exec_id, tug_error **err)
{
    int res;
    int r = tug_fork_detached(&res);
    if (r < 0)
        return tug_error_set(err, errno, "exec: fork");
    if (r == 0) {
        child_fail out = {0};
        pid_t helper = 0;
        tug_error *e = NULL;
        if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
            tug_error_set(&e, errno, "exec: become a child subreaper");
        if (e == NULL && launch(p, pipes, &helper, &e) == 0) {
            while (waitpid(helper, NULL, 0) < 0 && errno == EINTR) {
            }
        }
        if (e) {
            out.code = e->status ? e->status : 125;
            snprintf(out.msg, sizeof(out.msg), "%s", e->msg ? e->msg : "exec");
        }
        pid_t target = e ? 0 : tug_exec_process_pid(getpid());
        if (write(res, &out, sizeof(out)) != (ssize_t)sizeof(out) || e || target <= 0)
            _exit(0);
        /* nothing of the command's stays open while the process runs (a caller waiting for
         * the end of its output would wait for the process) */
        int keep[] = {0, 1, 2};
        tug_close_fds_except(keep, TUG_ARRAY_SIZE(keep));
        int st = 0;
        pid_t got;
        while ((got = waitpid(-1, &st, 0)) != target)
            if (got < 0 && errno != EINTR)
                _exit(0);
        tug_exec_event(s, c, "exec_die", NULL, exec_id,
                       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        _exit(0);
    }
    child_fail f;
    ssize_t n;
    do
        n = read(res, &f, sizeof(f));
    while (n < 0 && errno == EINTR);
    close(res);
    if (n != (ssize_t)sizeof(f))
        return tug_error_set(err, EIO, "exec: the waiter of the detached process failed");
    if (f.code == 0)
        return 0;
    f.msg[sizeof(f.msg) - 1] = '\0';
    tug_error_user(err, "%s", f.msg);
    (*err)->status = f.code;
    return -1;
}

int tug_container_exec(tug_store *s, tug_container *c, const tug_exec_opts *o,
                       tug_exec_proc *ret, tug_error **err)
{
    if (tug_container_refresh(s, c, err) < 0)
        return -1;
    if (!tug_container_alive(c))
        return tug_error_user(err, "Container %s is not running", c->id);
    if (strcmp(c->state, TUG_STATE_PAUSED) == 0)
        return tug_error_user(err, "Container %s is paused, unpause the container before exec",
                              c->id);
    tug_spawn_spec *spec = NULL;
    if (load_spec(s, c, &spec, err) < 0)
        return -1;
    exec_plan p = {.spec = spec, .o = o, .pidfd = -1};
    int pipes[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
    cleanup_seccomp_filter tug_seccomp_filter *filter = NULL;
    cleanup_free char *cgpath = NULL;
    pid_t pid = 0;
    int r = -1;
    /* everything the process needs from the host is read now, before anything joins */
    if (!o->privileged) {
        tug_mkdir_p("/run/tug/seccomp", 0700, NULL);
        if (tug_seccomp_prepare(spec->seccomp, "/run/tug/seccomp", spec->caps, &filter, err) < 0)
            goto out;
        p.filter = filter;
    }
    if (tug_container_cgroup_path(c, &cgpath) < 0) {
        tug_error_set(err, ENOMEM, "exec");
        goto out;
    }
    if (tug_cgroup_open(cgpath, &p.cg, err) < 0) {
        tug_error_wrap(err, "exec in %s", c->id);
        goto out;
    }
    if ((p.pidfd = init_pidfd(c, err)) < 0 || make_pipes(o, pipes, err) < 0)
        goto out;
    char exec_id[65];
    tug_random_hex(exec_id, 32);
    /* docker records both before the process runs */
    tug_exec_event(s, c, "exec_create", o->args, exec_id, 0);
    tug_exec_event(s, c, "exec_start", o->args, exec_id, 0);
    if (o->detach ? launch_detached(s, c, &p, pipes, exec_id, err) < 0
                  : launch(&p, pipes, &pid, err) < 0)
        goto out;
    *ret = (tug_exec_proc){.pid = pid, .in = pipes[0][1], .out = pipes[1][0], .err = pipes[2][0]};
    memcpy(ret->exec_id, exec_id, sizeof(exec_id));
    pipes[0][1] = pipes[1][0] = pipes[2][0] = -1;
    r = 0;
out:
    for (int i = 0; i < 3; i++)
        close_pair(pipes[i]);
    if (p.pidfd >= 0)
        close(p.pidfd);
    tug_cgroup_free(p.cg);
    tug_spawn_spec_free(spec);
    return r;
}
