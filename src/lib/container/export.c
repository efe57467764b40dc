/* export: a container's whole filesystem as a tar. Its layers and upper dir are mounted
 * read-only in a child's own mount namespace (nothing of the container's mounts: no volume, no
 * /proc) and written as docker writes a tree (tug_layer_tar; the merged view has no whiteouts
 * left to translate). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../runtime/linux_child.h"
#include "../store/diff.h"
#include "../util/cleanup.h"
#include "../util/fs.h"
#include "commit.h"
#include "rootfs.h"

static int to_fd(void *data, const uint8_t *buf, size_t len, tug_error **err)
{
    if (tug_write_all(*(int *)data, buf, len) < 0)
        return tug_error_set(err, errno, "write the tar");
    return 0;
}

/* In the child: the tree mounted, then tarred to out. Never returns. */
static void export_child(const tug_ctr_fs *f, const char *scratch, int out)
{
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        tug_child_die(125, errno, "a mount namespace for the export");
    const char **layers = calloc(f->n_lower + 2, sizeof(char *));
    if (layers == NULL)
        tug_child_die(125, ENOMEM, "export");
    for (size_t i = 0; i < f->n_lower; i++)
        layers[i] = f->lowers[i];
    layers[f->n_lower] = f->upper;
    tug_error *e = NULL;
    int root = tug_mount_layers_readonly(layers, f->n_lower + 1, scratch, &e);
    int dir = root < 0 ? -1 : openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root >= 0 && dir < 0)
        tug_error_set(&e, errno, "open the container's filesystem");
    if (dir < 0 || tug_layer_tar(dir, "/", 0, to_fd, &out, NULL, &e) < 0)
        tug_child_die(125, 0, "%s", e && e->msg ? e->msg : "export failed");
    _exit(0);
}

int tug_container_export(tug_store *s, const char *what, int out, tug_error **err)
{
    __attribute__((cleanup(tug_ctr_fs_clear))) tug_ctr_fs f = {0};
    if (tug_ctr_fs_open(s, what, &f, err) < 0)
        return -1;
    tug_store_sweep_dir(s, "tmp", "export-");
    cleanup_free char *scratch = NULL;
    if (asprintf(&scratch, "%s/tmp/export-%d-XXXXXX", s->root, (int)getpid()) < 0)
        return tug_error_set(err, ENOMEM, "export");
    cleanup_free char *tmpdir = strndup(scratch, (size_t)(strrchr(scratch, '/') - scratch));
    if (tmpdir == NULL)
        return tug_error_set(err, ENOMEM, "export");
    if (tug_mkdir_p(tmpdir, 0700, err) < 0)
        return -1;
    if (mkdtemp(scratch) == NULL)
        return tug_error_set(err, errno, "create %s", scratch);
    int fail[2];
    if (pipe2(fail, O_CLOEXEC) < 0) {
        int e = errno;
        tug_rm_rf(scratch, NULL);
        return tug_error_set(err, e, "pipe");
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fail[0]);
        tug_child_fail_fd = fail[1];
        export_child(&f, scratch, out);
    }
    int e = errno;
    close(fail[1]);
    child_fail cf;
    ssize_t n = 0;
    if (pid > 0)
        do
            n = read(fail[0], &cf, sizeof(cf));
        while (n < 0 && errno == EINTR);
    close(fail[0]);
    int st = 0;
    while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    tug_error *ignored = NULL;
    tug_rm_rf(scratch, &ignored);
    tug_error_free(ignored);
    if (pid < 0)
        return tug_error_set(err, e, "fork");
    if (n == (ssize_t)sizeof(cf)) {
        cf.msg[sizeof(cf.msg) - 1] = '\0';
        return tug_error_set(err, 0, "export %s: %s", what, cf.msg);
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return tug_error_set(err, 0, "export %s: its process ended with status %d", what, st);
    return 0;
}
