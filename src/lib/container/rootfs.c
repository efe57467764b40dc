/* Layers mounted read-only as one tree. The overlay names its layers by short links in the
 * scratch dir, so that any number of them fits the one page mount(2) takes. */
#include "rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include "../util/cleanup.h"
#include "../util/fs.h"
#include "../util/strutil.h"

static char *path_in(const char *dir, const char *name)
{
    char *p = NULL;
    return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

int tug_mount_layers_readonly(const char *const *lowers, size_t n, const char *scratch,
                              tug_error **err)
{
    cleanup_free char *links = path_in(scratch, "l");
    cleanup_free char *root = path_in(scratch, "root");
    if (links == NULL || root == NULL)
        return tug_error_set(err, ENOMEM, "build step");
    if (tug_mkdir_p(links, 0700, err) < 0 || tug_mkdir_p(root, 0755, err) < 0)
        return -1;
    if (n == 1 && mount(lowers[0], root, NULL, MS_BIND | MS_REC, NULL) < 0)
        return tug_error_set(err, errno, "mount the layers read-only");
    if (n >= 2) {
        /* short relative names from the links dir: any number of layers fits one page */
        tug_strbuf opts = {0};
        tug_strbuf_adds(&opts, "lowerdir=");
        for (size_t i = n; i-- > 0;) {
            char name[PATH_MAX];
            snprintf(name, sizeof(name), "%s/%zu", links, i);
            unlink(name);
            if (symlink(lowers[i], name) < 0) {
                tug_strbuf_free(&opts);
                return tug_error_set(err, errno, "link layer %zu", i);
            }
            char part[40];
            snprintf(part, sizeof(part), "%s%zu", i + 1 < n ? ":" : "", i);
            tug_strbuf_adds(&opts, part);
        }
        cleanup_free char *o = tug_strbuf_steal(&opts);
        cleanup_close int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        int r =
            o == NULL || chdir(links) < 0 ? -1 : mount("overlay", root, "overlay", MS_RDONLY, o);
        int e = errno;
        if (cwd >= 0 && fchdir(cwd) < 0) {
            /* the child goes on from the links dir: harmless */
        }
        if (r < 0)
            return tug_error_set(err, o ? e : ENOMEM, "mount the layers read-only");
    }
    int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return tug_error_set(err, errno, "open %s", root);
    return fd;
}
