/* erofs-write: a layer blob as an EROFS image, for tests/system/700-erofs.bats and bench/erofs.sh.
 *   erofs-write BLOB IMAGE            write IMAGE (created, must not exist) and fsync it
 *   erofs-write --unpack BLOB DIR     tug_layer_unpack into DIR (existing, empty), as the store
 *                                     does today (it ends with a syncfs)
 * Both print "DIFF_ID SIZE MILLISECONDS"; a failure prints the error and removes IMAGE. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/erofs.h"
#include "store/unpack.h"
#include "util/cleanup.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int to_image(int blob, const char *path, tug_unpack_result *res, tug_error **err)
{
    cleanup_close int out = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0)
        return tug_error_set(err, errno, "create %s", path);
    if (tug_layer_to_erofs(blob, out, res, err) < 0 || fsync(out) < 0) {
        if (*err == NULL)
            tug_error_set(err, errno, "fsync %s", path);
        unlink(path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    bool unpack = argc == 4 && strcmp(argv[1], "--unpack") == 0;
    if (argc != 3 && !unpack) {
        fprintf(stderr, "usage: erofs-write BLOB IMAGE | erofs-write --unpack BLOB DIR\n");
        return 2;
    }
    const char *blob_path = argv[argc - 2], *out = argv[argc - 1];
    cleanup_close int blob = open(blob_path, O_RDONLY | O_CLOEXEC);
    if (blob < 0) {
        fprintf(stderr, "erofs-write: open %s: %s\n", blob_path, strerror(errno));
        return 1;
    }
    tug_unpack_result res = {0};
    cleanup_error tug_error *err = NULL;
    double t0 = now_ms();
    int r = unpack ? tug_layer_unpack(blob, out, &res, &err) : to_image(blob, out, &res, &err);
    if (r < 0) {
        fprintf(stderr, "erofs-write: %s\n", err ? err->msg : "failed");
        return 1;
    }
    printf("%s %lld %.0f\n", res.diff_id, res.size, now_ms() - t0);
    return 0;
}
