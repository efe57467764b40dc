/* export: a container's whole filesystem as a tar, written as docker writes a tree
 * (tug_layer_tar; the merged view has no whiteouts left to translate) by a child with a view
 * of it that holds nothing mounted in the container (no volume, no /proc): a stopped
 * container's layers and upper dir mounted read-only in the child's own mount namespace; a
 * running one's root mount cloned alone, in its mount namespace, as overlayfs wants an upper
 * dir in use in no other mount. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
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

/* In the child: the running container's root mount without what is mounted on it, cloned in
 * the container's mount namespace (open_tree wants it there), after which the child goes back
 * to the host's: nothing of the container's files may be read as the host's own (owner names go
 * through the C library's name services, which load whatever /etc/nsswitch.conf names). */
static int live_root(const tug_ctr_fs *f, int pidfd, tug_error **err)
{
    char proc_root[64];
    snprintf(proc_root, sizeof(proc_root), "/proc/%d/root", (int)f->c->pid);
    cleanup_close int host_ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (host_ns < 0)
        return tug_error_set(err, errno, "open the host's mount namespace");
    cleanup_close int where = open(proc_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    /* the pid is still the container's init: the pidfd was checked against its start */
    if (where < 0 || pidfd_send_signal(pidfd, 0, NULL, 0) < 0)
        return tug_error_set(err, errno, "open the root of container %s", f->c->name);
    if (setns(pidfd, CLONE_NEWNS) < 0)
        return tug_error_set(err, errno, "enter the mount namespace of container %s", f->c->name);
    int root = open_tree(where, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    int e = errno;
    if (setns(host_ns, CLONE_NEWNS) < 0)
        tug_child_die(125, errno, "return to the host's mount namespace");
    if (root < 0)
        return tug_error_set(err, e, "clone the root mount of container %s", f->c->name);
    return root;
}

/* In the child: the layers mounted read-only in a mount namespace of its own. */
static int layers_root(const tug_ctr_fs *f, const char *scratch, tug_error **err)
{
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        return tug_error_set(err, errno, "a mount namespace for the export");
    cleanup_free const char **layers = calloc(f->n_lower + 2, sizeof(char *));
    if (layers == NULL)
        return tug_error_set(err, ENOMEM, "export");
    for (size_t i = 0; i < f->n_lower; i++)
        layers[i] = f->lowers[i];
    layers[f->n_lower] = f->upper;
    return tug_mount_layers_readonly(layers, f->n_lower + 1, scratch, err);
}

/* In the child: the tree, then tarred to out. Never returns. */
static void export_child(const tug_ctr_fs *f, int pidfd, const char *scratch, int out)
{
    tug_error *e = NULL;
    int root = pidfd >= 0 ? live_root(f, pidfd, &e) : layers_root(f, scratch, &e);
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
    /* a running container is read through its root mount, found by its init's pidfd */
    cleanup_close int pidfd = -1;
    tug_error *gone = NULL;
    if (tug_container_alive(f.c) && (pidfd = tug_container_pidfd(f.c, &gone)) < 0)
        tug_error_free(gone);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fail[0]);
        tug_child_fail_fd = fail[1];
        export_child(&f, pidfd, scratch, out);
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
