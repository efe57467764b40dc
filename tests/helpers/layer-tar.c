/* layer-tar: tug's layers from a directory, for the CLI tests that hold them against docker's
 * (tests/system/410-layer-diff.bats) and for bench/layer.sh.
 *   layer-tar DIR                   DIR (overlayfs's format) as a layer tar, to stdout
 *   layer-tar --blob ROOT DIR [L]   tar + sha256 + gzip (isa-l level L) into a blob of the
 *                                   store at ROOT, which is then removed; DIR stays
 *   layer-tar --commit ROOT TMP [L] the same, and TMP (a directory in ROOT/layers holding
 *                                   diff/) stored as a layer
 * The last two print "DIFF_ID BLOB_DIGEST TAR_BYTES BLOB_BYTES MILLISECONDS". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/diff.h"
#include "util/cleanup.h"
#include "util/fs.h"

static int to_stdout(void *data, const uint8_t *buf, size_t len, tug_error **err)
{
    (void)data;
    return tug_write_all(STDOUT_FILENO, buf, len) < 0 ? tug_error_set(err, errno, "write the tar")
                                                      : 0;
}

static int fail(tug_error *err)
{
    fprintf(stderr, "layer-tar: %s\n", err ? err->msg : "failed");
    tug_error_free(err);
    return 1;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    tug_error *err = NULL;
    if (argc == 2 && argv[1][0] != '-') {
        cleanup_close int fd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            perror(argv[1]);
            return 1;
        }
        return tug_layer_tar(fd, argv[1], 0, to_stdout, NULL, NULL, &err) < 0 ? fail(err) : 0;
    }
    bool blob = argc >= 4 && strcmp(argv[1], "--blob") == 0;
    bool commit = argc >= 4 && strcmp(argv[1], "--commit") == 0;
    if (!(blob || commit) || argc > 5) {
        fprintf(stderr, "usage: layer-tar DIR >LAYER.tar | --blob ROOT DIR [LEVEL] | "
                        "--commit ROOT TMP [LEVEL]\n");
        return 2;
    }
    cleanup_store tug_store *s = NULL;
    if (tug_store_open(argv[2], &s, &err) < 0)
        return fail(err);
    tug_layer_opts opts = {.gzip_level = argc == 5 ? atoi(argv[4]) : -1};
    tug_new_layer l;
    cleanup_free char *file = NULL;
    double t0 = now_ms();
    int r = blob ? tug_layer_blob(s, argv[3], &opts, &file, &l, &err)
                 : tug_layer_from_dir(s, argv[3], &opts, &l, &err);
    double t1 = now_ms();
    if (r < 0)
        return fail(err);
    if (file)
        unlink(file);
    printf("%s %s %lld %lld %.1f\n", l.diff_id, l.blob_digest, l.tar_size, l.blob_size, t1 - t0);
    return 0;
}
