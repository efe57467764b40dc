/* top: docker runs ps on the host and keeps the rows of the container's processes; so does
 * tug, for `tug top` and the Engine API's /containers/{id}/top. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../runtime/cgroup.h"
#include "../util/cleanup.h"
#include "top.h"

/* The value of column col of a ps line, as a pid; -1 when it has none. */
static long column_pid(const char *line, int col)
{
    cleanup_free char *copy = strdup(line);
    int i = 0;
    for (char *save = NULL, *t = copy ? strtok_r(copy, " \t", &save) : NULL; t;
         t = strtok_r(NULL, " \t", &save), i++)
        if (i == col)
            return strtol(t, NULL, 10);
    return -1;
}

/* The index of the PID column of ps's header; -1 when there is none. */
static int pid_column(const char *header)
{
    cleanup_free char *copy = strdup(header);
    int i = 0;
    for (char *save = NULL, *t = copy ? strtok_r(copy, " \t", &save) : NULL; t;
         t = strtok_r(NULL, " \t", &save), i++)
        if (strcmp(t, "PID") == 0)
            return i;
    return -1;
}

static int cgroup_pids(tug_container *c, pid_t **ret, size_t *ret_n, tug_error **err)
{
    cleanup_free char *cgpath = NULL;
    tug_cgroup *cg = NULL;
    if (tug_container_cgroup_path(c, &cgpath) < 0)
        return tug_error_set(err, ENOMEM, "top");
    int r = tug_cgroup_open(cgpath, &cg, err) < 0 ? -1 : tug_cgroup_pids(cg, ret, ret_n, err);
    tug_cgroup_free(cg);
    return r;
}

static bool has_pid(const pid_t *pids, size_t n, long pid)
{
    for (size_t i = 0; i < n; i++)
        if (pids[i] == pid)
            return true;
    return false;
}

/* Read ps's output: the header, then the lines of pids. */
static int keep_lines(FILE *f, const pid_t *pids, size_t np, char ***ret, size_t *ret_n,
                      tug_error **err)
{
    cleanup_free char *line = NULL;
    size_t cap = 0, n = 0;
    int col = -1;
    char **v = calloc(1, sizeof(char *));
    ssize_t len;
    bool oom = v == NULL;
    while (!oom && (len = getline(&line, &cap, f)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        if (n == 0)
            col = pid_column(line);
        else if (col < 0 || !has_pid(pids, np, column_pid(line, col)))
            continue;
        char **nv = realloc(v, (n + 2) * sizeof(char *));
        oom = nv == NULL || (nv[n] = strdup(line)) == NULL;
        v = nv ? nv : v;
        if (!oom)
            v[++n] = NULL;
    }
    cleanup_strv char **lines = v;
    if (oom || ferror(f))
        return tug_error_set(err, ENOMEM, "top: read ps's output");
    if (col < 0)
        return tug_error_set(err, 0, "Couldn't find PID field in ps output");
    *ret = steal_pointer(&lines);
    *ret_n = n;
    return 0;
}

int tug_container_top(tug_container *c, char *const *args, size_t n, char ***ret_lines,
                      size_t *ret_n, tug_error **err)
{
    if (!tug_container_alive(c))
        return tug_error_conflict(err, "Container %s is not running", c->id);
    cleanup_free pid_t *pids = NULL;
    size_t np = 0;
    if (cgroup_pids(c, &pids, &np, err) < 0)
        return -1;
    cleanup_free char **av = calloc(n + 3, sizeof(char *));
    if (av == NULL)
        return tug_error_set(err, ENOMEM, "top");
    av[0] = "ps";
    for (size_t i = 0; i < n; i++)
        av[i + 1] = args[i];
    if (n == 0)
        av[1] = "-ef";
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return tug_error_set(err, errno, "top: pipe");
    pid_t child = fork();
    if (child == 0) {
        dup2(fds[1], STDOUT_FILENO);
        execvp("ps", av);
        _exit(127);
    }
    close(fds[1]);
    if (child < 0) {
        close(fds[0]);
        return tug_error_set(err, errno, "top: fork");
    }
    FILE *f = fdopen(fds[0], "r");
    int r = f ? keep_lines(f, pids, np, ret_lines, ret_n, err)
              : tug_error_set(err, errno, "top: read ps's output");
    if (f)
        fclose(f);
    else
        close(fds[0]);
    int st = 0;
    while (waitpid(child, &st, 0) < 0 && errno == EINTR) {
    }
    return r;
}
