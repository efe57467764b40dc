/* Layers as EROFS images (docs/store.md, "Layer formats"): one file per layer, written in one
 * pass from its tar stream and mounted read-only at the place the layer's directory has in a
 * directory store, layers/<hex>/diff. The mount is made when something first needs the layer's
 * files (a container start, a build step, cp of a stopped container) and kept until the layer
 * is removed, so every container of every image that has the layer shares one mount and one
 * page cache. */
#include "layer.h"

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "../util/cleanup.h"
#include "../util/fs.h"
#include "../util/strutil.h"
#include "erofs.h"

#ifndef EROFS_SUPER_MAGIC_V1
#define EROFS_SUPER_MAGIC_V1 0xE0F5E1E2
#endif

#define FORMAT_FILE "layer-format"
#define LAYER_IMAGE "layer.erofs"
#define LAYER_SUM "layer.erofs.sum"

static const char *const format_names[] = {
    [TUG_LAYERS_DIRECTORY] = "directory",
    [TUG_LAYERS_EROFS] = "erofs",
};

const char *tug_layer_format_name(tug_layer_format f)
{
    return format_names[f];
}

static int format_parse(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof(format_names) / sizeof(*format_names); i++)
        if (strlen(format_names[i]) == n && strncmp(s, format_names[i], n) == 0)
            return (int)i;
    if (n == 3 && strncmp(s, "dir", 3) == 0)
        return TUG_LAYERS_DIRECTORY;
    return -1;
}

bool tug_kernel_has_erofs(void)
{
    cleanup_free char *fs = NULL;
    size_t n = 0;
    if (tug_read_file("/proc/filesystems", &fs, &n, NULL) == 0 && strstr(fs, "\terofs\n"))
        return true;
    struct stat st;
    return stat("/sys/module/erofs", &st) == 0;
}

/* Whether the store holds a layer already: one made before EROFS stays a directory store. */
static bool has_layers(const char *root)
{
    cleanup_free char *dir = NULL;
    if (asprintf(&dir, "%s/layers", root) < 0)
        return false;
    cleanup_dir DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            return true;
    return false;
}

/* The format a new store takes: TUG_LAYER_FORMAT when set, else EROFS where the kernel has
 * it. A store with layers and no record is an older directory store. */
static int choose_format(tug_store *s, tug_error **err)
{
    if (has_layers(s->root))
        return TUG_LAYERS_DIRECTORY;
    const char *env = getenv("TUG_LAYER_FORMAT");
    if (env && *env) {
        int f = format_parse(env, strlen(env));
        if (f < 0)
            return tug_error_user(err,
                                  "TUG_LAYER_FORMAT=%s: unknown layer format (use erofs or "
                                  "directory)",
                                  env);
        if (f == TUG_LAYERS_EROFS && !tug_kernel_has_erofs())
            return tug_error_user(err,
                                  "TUG_LAYER_FORMAT=erofs: this kernel has no EROFS (load the "
                                  "erofs module, or use directory)");
        return f;
    }
    return tug_kernel_has_erofs() ? TUG_LAYERS_EROFS : TUG_LAYERS_DIRECTORY;
}

int tug_store_set_layer_format(tug_store *s, tug_layer_format f, tug_error **err)
{
    cleanup_free char *path = NULL;
    char line[32];
    int len = snprintf(line, sizeof(line), "%s\n", format_names[f]);
    if (asprintf(&path, "%s/" FORMAT_FILE, s->root) < 0)
        return tug_error_set(err, ENOMEM, "layer format");
    if (tug_write_file_atomic(path, line, (size_t)len, 0644, err) < 0)
        return -1;
    s->layer_format = (int)f + 1;
    return 0;
}

int tug_store_layer_format(tug_store *s, tug_error **err)
{
    if (s->layer_format > 0)
        return s->layer_format - 1;
    cleanup_free char *path = NULL, *data = NULL;
    if (asprintf(&path, "%s/" FORMAT_FILE, s->root) < 0)
        return tug_error_set(err, ENOMEM, "layer format");
    size_t n = 0;
    tug_error *e = NULL;
    int f;
    if (tug_read_file(path, &data, &n, &e) == 0) {
        while (n > 0 && data[n - 1] == '\n')
            n--;
        if ((f = format_parse(data, n)) < 0)
            return tug_error_set(err, 0,
                                 "%s names no layer format tug knows (%.*s); a newer tug wrote "
                                 "this store",
                                 path, (int)(n > 32 ? 32 : n), data);
    } else if (e->errnum == ENOENT) {
        tug_error_free(e);
        if ((f = choose_format(s, err)) < 0)
            return -1;
        /* two first commands at once choose the same; either write will do */
        if (tug_store_set_layer_format(s, f, err) < 0)
            return -1;
    } else {
        if (err)
            *err = e;
        else
            tug_error_free(e);
        return -1;
    }
    s->layer_format = f + 1;
    return f;
}

/* ---- writing ---- */

/* This boot's ID: an image written in this boot was synced before it was renamed into place
 * and nothing has crashed under it since; one from before a reboot is read whole and checked. */
static void boot_id(char out[40])
{
    cleanup_free char *id = NULL;
    size_t n = 0;
    out[0] = '\0';
    if (tug_read_file("/proc/sys/kernel/random/boot_id", &id, &n, NULL) == 0 && n >= 36) {
        memcpy(out, id, 36);
        out[36] = '\0';
    }
}

/* The sha256 and size of what fd holds, read through the page cache. */
static int hash_file(int fd, char digest[TUG_DIGEST_LEN + 1], long long *ret_size,
                     tug_error **err)
{
    cleanup_sha256 tug_sha256 *h = tug_sha256_new(err);
    if (h == NULL)
        return -1;
    static __thread char buf[1 << 17];
    long long size = 0;
    for (;;) {
        ssize_t r = pread(fd, buf, sizeof(buf), (off_t)size);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return tug_error_set(err, errno, "read the layer image");
        if (r == 0)
            break;
        tug_sha256_update(h, buf, (size_t)r);
        size += r;
    }
    tug_sha256_final(h, digest);
    *ret_size = size;
    return 0;
}

static int write_sum(int img_fd, const char *sum_path, tug_error **err)
{
    char digest[TUG_DIGEST_LEN + 1], line[TUG_DIGEST_LEN + 80], boot[40];
    long long size;
    if (hash_file(img_fd, digest, &size, err) < 0)
        return -1;
    boot_id(boot);
    int len = snprintf(line, sizeof(line), "%s %lld %s\n", digest, size, boot[0] ? boot : "-");
    return tug_write_file_atomic_nosync(sum_path, line, (size_t)len, 0600, err);
}

typedef struct syncer {
    int fd, errnum;
} syncer;

static void *sync_main(void *data)
{
    syncer *y = data;
    y->errnum = fsync(y->fd) < 0 ? errno : 0;
    return NULL;
}

/* The image of the layer in blob_fd into dir/layer.erofs, its digest and size beside it, both
 * on disk before the caller renames dir into place. */
static int write_image(const char *dir, int blob_fd, tug_unpack_result *ret, tug_error **err)
{
    cleanup_free char *img = NULL, *sum = NULL;
    if (asprintf(&img, "%s/" LAYER_IMAGE, dir) < 0 || asprintf(&sum, "%s/" LAYER_SUM, dir) < 0)
        return tug_error_set(err, ENOMEM, "layer image");
    cleanup_close int fd = open(img, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return tug_error_set(err, errno, "create %s", img);
    if (tug_layer_to_erofs(blob_fd, fd, ret, err) < 0)
        return -1;
    /* the image's sync and its digest at once: one writes the pages out while the other reads
     * them from the page cache (each alone ~0.25 s for a 200 MB layer here) */
    syncer y = {.fd = fd};
    pthread_t t;
    bool threaded = pthread_create(&t, NULL, sync_main, &y) == 0;
    if (!threaded)
        sync_main(&y);
    int r = write_sum(fd, sum, err);
    if (threaded)
        pthread_join(t, NULL);
    if (r < 0)
        return -1;
    if (y.errnum)
        return tug_error_set(err, y.errnum, "sync %s", img);
    /* the mount reads it with direct I/O: the pages just written are of no more use */
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0)
        return tug_error_set(err, errno, "sync %s", dir);
    return 0;
}

int tug_store_image_layer(tug_store *s, int blob_fd, const char *tmp, tug_unpack_result *ret,
                          tug_error **err)
{
    (void)s;
    cleanup_free char *diff = NULL;
    if (asprintf(&diff, "%s/diff", tmp) < 0)
        return tug_error_set(err, ENOMEM, "layer image");
    /* the image is the layer: no directory of files beside it */
    if (rmdir(diff) < 0 && errno != ENOENT)
        return tug_error_set(err, errno, "remove %s", diff);
    return write_image(tmp, blob_fd, ret, err);
}

int tug_store_image_dir_layer(tug_store *s, const char *tmp, const char *blob_path,
                              tug_error **err)
{
    cleanup_free char *diff = NULL;
    if (asprintf(&diff, "%s/diff", tmp) < 0)
        return tug_error_set(err, ENOMEM, "layer image");
    cleanup_close int bfd = open(blob_path, O_RDONLY | O_CLOEXEC);
    if (bfd < 0)
        return tug_error_set(err, errno, "open %s", blob_path);
    tug_unpack_result res;
    if (write_image(tmp, bfd, &res, err) < 0)
        return -1;
    /* the step's files are in the image now */
    return tug_rm_rf(diff, err);
}

/* ---- mounting ---- */

static bool is_erofs_mount(const char *dir)
{
    struct statfs sf;
    return statfs(dir, &sf) == 0 && (unsigned long)sf.f_type == EROFS_SUPER_MAGIC_V1;
}

/* tug mounts only what it wrote: the image is the size and digest recorded when it was. */
static int verify_image(int fd, const char *img, const char *sum, tug_error **err)
{
    cleanup_free char *want = NULL;
    size_t n = 0;
    if (tug_read_file(sum, &want, &n, err) < 0)
        return tug_error_wrap(err, "layer image %s has no record of its digest", img);
    char digest[TUG_DIGEST_LEN + 1], written[40] = "", boot[40];
    long long size = -1;
    if (sscanf(want, "%71s %lld %39s", digest, &size, written) < 2 || !tug_digest_valid(digest))
        return tug_error_set(err, 0, "%s is not a digest and size", sum);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return tug_error_set(err, errno, "stat %s", img);
    if (st.st_size != size)
        return tug_error_set(err, 0,
                             "layer image %s is %lld bytes, not the %lld written; remove the "
                             "image and pull it again",
                             img, (long long)st.st_size, size);
    boot_id(boot);
    if (boot[0] && strcmp(boot, written) == 0)
        return 0; /* written in this boot, synced before it was renamed into place */
    char got[TUG_DIGEST_LEN + 1];
    long long got_size;
    if (hash_file(fd, got, &got_size, err) < 0)
        return tug_error_wrap(err, "%s", img);
    /* what was read to check it has no place in the page cache: the mount caches what
     * containers read (with direct I/O beneath) */
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    if (strcmp(got, digest) != 0)
        return tug_error_set(err, 0,
                             "layer image %s has changed since tug wrote it (%.19s, not %.19s); "
                             "remove the image and pull it again",
                             img, got, digest);
    return 0;
}

#define MOUNT_FLAGS (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOATIME)

/* Kernels before 6.12 mount EROFS from a block device only: a read-only loop device over the
 * image, detached by the kernel when the mount goes (autoclear). */
static int mount_loop(int img_fd, const char *target, tug_error **err)
{
    cleanup_close int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0)
        return tug_error_set(err, errno, "open /dev/loop-control for a layer image");
    for (int tries = 0; tries < 16; tries++) {
        int n = ioctl(ctl, LOOP_CTL_GET_FREE);
        if (n < 0)
            return tug_error_set(err, errno, "find a free loop device");
        char dev[32];
        snprintf(dev, sizeof(dev), "/dev/loop%d", n);
        cleanup_close int lfd = open(dev, O_RDWR | O_CLOEXEC);
        if (lfd < 0)
            return tug_error_set(err, errno, "open %s", dev);
        /* direct I/O: the image's pages are cached once, by EROFS, not by the loop device's
         * backing file as well; where the file system under the store cannot, cached */
        struct loop_config cfg = {.fd = (unsigned)img_fd, .block_size = 4096};
        cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO;
        int r = ioctl(lfd, LOOP_CONFIGURE, &cfg);
        if (r < 0 && errno == EINVAL) {
            cfg.info.lo_flags &= ~(unsigned)LO_FLAGS_DIRECT_IO;
            r = ioctl(lfd, LOOP_CONFIGURE, &cfg);
        }
        if (r < 0) {
            if (errno == EBUSY)
                continue; /* another taker got it first */
            return tug_error_set(err, errno, "set up %s", dev);
        }
        if (mount(dev, target, "erofs", MOUNT_FLAGS, NULL) < 0)
            return tug_error_set(err, errno, "mount %s on %s", dev, target);
        return 0;
    }
    return tug_error_set(err, EBUSY, "find a free loop device");
}

static int mount_image(int img_fd, const char *img, const char *target, tug_error **err)
{
    const char *loop = getenv("TUG_EROFS_LOOP");
    if (!(loop && strcmp(loop, "1") == 0)) {
        /* directio (6.13): EROFS reads the image with direct I/O, so a file's pages are cached
         * once (the mount's), not twice (the image file's as well); 6.12 knows no such option */
        if (mount(img, target, "erofs", MOUNT_FLAGS, "directio") == 0 ||
            (errno == EINVAL && mount(img, target, "erofs", MOUNT_FLAGS, NULL) == 0))
            return 0;
        if (errno != ENOTBLK)
            return tug_error_set(err, errno, "mount %s on %s", img, target);
    }
    return mount_loop(img_fd, target, err);
}

char *tug_store_layer_dir(tug_store *s, const char *chain_id)
{
    char *p = NULL;
    const char *hex = tug_digest_hex(chain_id);
    /* an EROFS layer's files are where its image is mounted (layerfs.c) */
    if (tug_store_layer_is_image(s, hex))
        return tug_store_run_path(s, "layers/%s", hex);
    if (asprintf(&p, "%s/layers/%s/diff", s->root, hex) < 0)
        return NULL;
    return p;
}

bool tug_store_layer_is_image(tug_store *s, const char *hex)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/layers/%s/" LAYER_IMAGE, s->root, hex);
    return n > 0 && (size_t)n < sizeof(path) && access(path, F_OK) == 0;
}

/* The chain ID's hex of a mount point <run>/layers/<hex>; NULL for any other directory. */
static const char *mount_point_hex(tug_store *s, const char *dir)
{
    cleanup_free char *run = tug_store_run_dir(s);
    size_t n = run ? strlen(run) : 0;
    if (run == NULL || strncmp(dir, run, n) != 0 || strncmp(dir + n, "/layers/", 8) != 0)
        return NULL;
    const char *hex = dir + n + 8;
    return strlen(hex) == 64 && strspn(hex, "0123456789abcdef") == 64 ? hex : NULL;
}

int tug_store_layer_dir_ready(tug_store *s, const char *dir, tug_error **err)
{
    const char *hex = mount_point_hex(s, dir);
    if (hex == NULL)
        return 0; /* a directory layer: its files are there */
    if (is_erofs_mount(dir))
        return 0;
    cleanup_free char *img = NULL, *sum = NULL;
    if (asprintf(&img, "%s/layers/%s/" LAYER_IMAGE, s->root, hex) < 0 ||
        asprintf(&sum, "%s/layers/%s/" LAYER_SUM, s->root, hex) < 0)
        return tug_error_set(err, ENOMEM, "layer %s", dir);
    cleanup_close int fd = open(img, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tug_error_set(err, errno, "open layer image %s", img);
    /* one mounter at a time; whoever waited finds it mounted */
    if (flock(fd, LOCK_EX) < 0)
        return tug_error_set(err, errno, "lock %s", img);
    if (is_erofs_mount(dir))
        return 0;
    cleanup_free char *sub = NULL;
    if (asprintf(&sub, "/layers/%s", hex) < 0)
        return tug_error_set(err, ENOMEM, "layer %s", dir);
    if (tug_store_run_dir_make(s, sub, err) < 0 || verify_image(fd, img, sum, err) < 0 ||
        mount_image(fd, img, dir, err) < 0)
        return -1;
    return 0;
}

int tug_store_layers_ready(tug_store *s, char *const *dirs, size_t n, tug_error **err)
{
    for (size_t i = 0; i < n; i++)
        if (dirs[i] && tug_store_layer_dir_ready(s, dirs[i], err) < 0)
            return -1;
    return 0;
}

/* The chain ID's hex of a layer directory of either kind: <root>/layers/<hex>/diff or
 * <run>/layers/<hex>; NULL for anything else. */
static const char *layer_hex(tug_store *s, const char *dir, char buf[65])
{
    const char *hex = mount_point_hex(s, dir);
    size_t n = strlen(s->root);
    if (hex == NULL && strncmp(dir, s->root, n) == 0 && strncmp(dir + n, "/layers/", 8) == 0 &&
        strlen(dir + n + 8) == 64 + 5 && strcmp(dir + n + 8 + 64, "/diff") == 0)
        hex = dir + n + 8;
    if (hex == NULL || strspn(hex, "0123456789abcdef") < 64)
        return NULL;
    memcpy(buf, hex, 64);
    buf[64] = '\0';
    return buf;
}

int tug_store_lowerdirs_ready(tug_store *s, const char *lowerdirs, char **ret, tug_error **err)
{
    cleanup_free char *copy = strdup(lowerdirs ? lowerdirs : "");
    if (copy == NULL)
        return tug_error_set(err, ENOMEM, "layers");
    tug_strbuf out = {0};
    char *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        /* where the layer is now: a store converted since the container was made has moved
         * it */
        char hex[65], chain[80];
        cleanup_free char *now = NULL;
        if (layer_hex(s, d, hex)) {
            snprintf(chain, sizeof(chain), "sha256:%s", hex);
            now = tug_store_layer_dir(s, chain);
        }
        const char *dir = now ? now : d;
        if (tug_store_layer_dir_ready(s, dir, err) < 0) {
            tug_strbuf_free(&out);
            return -1;
        }
        if (out.len)
            tug_strbuf_addc(&out, ':');
        tug_strbuf_adds(&out, dir);
    }
    if ((*ret = tug_strbuf_steal(&out)) == NULL)
        return tug_error_set(err, ENOMEM, "layers");
    return 0;
}

/* Detached: a container still running on the layer keeps it until it ends. */
static void unmount_at(int dfd, const char *name)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dfd, name);
    if (n < 0 || (size_t)n >= sizeof(path))
        return;
    while (is_erofs_mount(path) && umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
        ;
    unlinkat(dfd, name, AT_REMOVEDIR);
}

void tug_store_layer_unmount(tug_store *s, const char *chain_id)
{
    cleanup_free char *dir = tug_store_run_path(s, "layers");
    if (dir == NULL)
        return;
    cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0)
        unmount_at(dfd, tug_digest_hex(chain_id));
}

int tug_layer_mounts_sweep(const char *run, tug_store *s,
                           bool (*keep)(tug_store *, const char *hex), char **gone)
{
    cleanup_free char *dir = NULL;
    if (asprintf(&dir, "%s/layers", run) < 0)
        return -ENOMEM;
    cleanup_dir DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : -errno;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || (keep && keep(s, de->d_name)))
            continue;
        if (gone)
            tug_append_line(gone, "%s", de->d_name);
        unmount_at(dirfd(d), de->d_name);
        n++;
    }
    if (keep == NULL)
        rmdir(dir);
    return n;
}
