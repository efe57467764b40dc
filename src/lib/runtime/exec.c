/* exec: a process joins a running container's namespaces and cgroup, then runs with the
 * container's user, capabilities and seccomp profile. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../util/cleanup.h"
#include "../util/fs.h"
#include "cgroup.h"
#include "container.h"
#include "linux.h"
#include "linux_child.h"
#include "security.h"
#include "spec.h"

static char **merged_env(char **base, char **extra)
{
    size_t nb = 0, ne = 0;
    while (base && base[nb])
        nb++;
    while (extra && extra[ne])
        ne++;
    char **out = calloc(nb + ne + 2, sizeof(char *));
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

__attribute__((noreturn)) static void exec_child(const tug_spawn_spec *spec,
                                                 const tug_exec_opts *o, int nsfds[6],
                                                 const char *seccomp_path, const char *cgpath)
{
    /* the cgroup first (while the host's paths are visible), then the namespaces */
    if (cgpath) {
        tug_cgroup *cg = NULL;
        tug_error *err = NULL;
        if (tug_cgroup_open(cgpath, &cg, &err) == 0) {
            tug_cgroup_enter_self(cg, &err);
            tug_cgroup_free(cg);
        }
        tug_error_free(err);
    }
    static const int types[6] = {CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET, CLONE_NEWCGROUP,
                                 CLONE_NEWPID, CLONE_NEWNS};
    for (int i = 0; i < 6; i++)
        if (nsfds[i] >= 0 && setns(nsfds[i], types[i]) < 0)
            tug_child_die(125, errno, "join the container's namespaces");
    /* A new pid namespace applies to children: the process itself runs in a second fork. */
    pid_t pid = fork();
    if (pid < 0)
        tug_child_die(125, errno, "fork");
    if (pid > 0) {
        close(tug_child_fail_fd);
        if (o->detach)
            _exit(0);
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    }
    if (o->tty)
        tug_child_setup_terminal(o->console, o->rows, o->cols);
    else if (o->detach) {
        tug_spawn_io io = {.in = -1, .out = -1, .err = -1};
        tug_child_setup_stdio(&io);
    }
    uid_t uid = 0;
    gid_t gid = 0;
    gid_t groups[64];
    int ngroups = 0;
    char home[PATH_MAX] = "/";
    const char *user = o->user && *o->user ? o->user : spec->user ? spec->user : "0";
    tug_child_resolve_user(user, &uid, &gid, groups, &ngroups, home, sizeof(home));
    char **env = merged_env(spec->env, o->env);
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
    const char *seccomp = o->privileged ? "unconfined" : spec->seccomp;
    tug_child_become(caps, spec->no_new_privs, seccomp, seccomp_path, uid, gid, groups, ngroups);
    umask(022);
    execve(prog, o->args, env);
    int e = errno;
    if (e == ENOENT)
        tug_child_die(127, 0, "exec: \"%s\": no such file or directory", o->args[0]);
    tug_child_die(126, e == EACCES ? 0 : e, "exec: \"%s\": %s", o->args[0],
                  e == EACCES ? "permission denied" : "cannot execute");
}

int tug_container_exec(tug_store *s, tug_container *c, const tug_exec_opts *o, pid_t *ret_pid,
                       tug_error **err)
{
    if (tug_container_refresh(s, c, err) < 0)
        return -1;
    if (!tug_container_alive(c))
        return tug_error_user(err, "Container %s is not running", c->id);
    if (strcmp(c->state, TUG_STATE_PAUSED) == 0)
        return tug_error_user(err, "Container %s is paused, unpause the container before exec",
                              c->id);
    cleanup_free char *dir = tug_container_dir(s, c->id);
    cleanup_free char *cfgpath = NULL;
    if (asprintf(&cfgpath, "%s/config.json", dir) < 0)
        return tug_error_set(err, ENOMEM, "exec");
    json_error_t jerr;
    json_t *specj = json_load_file(cfgpath, 0, &jerr);
    if (specj == NULL)
        return tug_error_set(err, 0, "read %s: %s", cfgpath, jerr.text);
    tug_spawn_spec *spec = NULL;
    int r = tug_spawn_spec_parse(specj, dir, &spec, err);
    json_decref(specj);
    if (r < 0)
        return -1;
    static const char *const names[6] = {"ipc", "uts", "net", "cgroup", "pid", "mnt"};
    int nsfds[6];
    for (int i = 0; i < 6; i++) {
        char p[64];
        snprintf(p, sizeof(p), "/proc/%d/ns/%s", (int)c->pid, names[i]);
        nsfds[i] = open(p, O_RDONLY | O_CLOEXEC);
    }
    /* the seccomp cache or profile lives on the host: open it before joining */
    char seccomp_path[64] = "";
    int sfd = -1;
    if (strcmp(spec->seccomp, "unconfined") != 0 && !o->privileged) {
        bool builtin = strcmp(spec->seccomp, "default") == 0;
        tug_mkdir_p("/run/tug/seccomp", 0700, NULL);
        sfd = builtin ? open("/run/tug/seccomp", O_PATH | O_DIRECTORY | O_CLOEXEC)
                      : open(spec->seccomp, O_RDONLY | O_CLOEXEC);
        if (sfd >= 0)
            snprintf(seccomp_path, sizeof(seccomp_path), "/proc/self/fd/%d", sfd);
    }
    cleanup_free char *cgpath = NULL;
    if (asprintf(&cgpath, "tug/%s", c->id) < 0)
        cgpath = NULL;
    int fail[2];
    if (pipe2(fail, O_CLOEXEC) < 0) {
        tug_spawn_spec_free(spec);
        return tug_error_set(err, errno, "pipe");
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fail[0]);
        tug_child_fail_fd = fail[1];
        exec_child(spec, o, nsfds, seccomp_path, cgpath);
    }
    close(fail[1]);
    for (int i = 0; i < 6; i++)
        if (nsfds[i] >= 0)
            close(nsfds[i]);
    if (sfd >= 0)
        close(sfd);
    tug_spawn_spec_free(spec);
    if (pid < 0) {
        close(fail[0]);
        return tug_error_set(err, errno, "fork");
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
    if (o->detach) {
        waitpid(pid, NULL, 0);
        *ret_pid = 0;
        return 0;
    }
    *ret_pid = pid;
    return 0;
}
