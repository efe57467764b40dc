#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/digest.h"
#include "util/strutil.h"

typedef struct {
    char id[13];
    char digest[80];
} row;

struct pull_view {
    bool tty, quiet;
    char *header;
    row *rows;
    size_t n;
};

pull_view *pull_view_new(bool quiet, const char *header)
{
    pull_view *v = calloc(1, sizeof(*v));
    if (v == NULL)
        return NULL;
    v->quiet = quiet;
    v->header = header ? strdup(header) : NULL;
    v->tty = isatty(STDOUT_FILENO) && getenv("TUG_PLAIN_PROGRESS") == NULL;
    return v;
}

void pull_view_free(pull_view *v)
{
    if (v == NULL)
        return;
    free(v->rows);
    free(v->header);
    free(v);
}

void pull_view_layers(void *ud, const char *const *digests, size_t n)
{
    pull_view *v = ud;
    if (v->header && !v->quiet)
        printf("%s\n", v->header);
    v->rows = calloc(n ? n : 1, sizeof(*v->rows));
    if (v->rows == NULL)
        return;
    v->n = n;
    for (size_t i = 0; i < n; i++) {
        snprintf(v->rows[i].id, sizeof(v->rows[i].id), "%.12s", tug_digest_hex(digests[i]));
        snprintf(v->rows[i].digest, sizeof(v->rows[i].digest), "%s", digests[i]);
        if (v->tty && !v->quiet)
            printf("%s: Waiting\n", v->rows[i].id);
    }
    fflush(stdout);
}

static void bar(char *out, size_t size, long long done, long long total)
{
    const int width = 50;
    int filled = total > 0 ? (int)((double)done / (double)total * width) : 0;
    if (filled > width)
        filled = width;
    char box[64];
    int i = 0;
    for (; i < filled - 1; i++)
        box[i] = '=';
    if (filled > 0)
        box[i++] = '>';
    for (; i < width; i++)
        box[i] = ' ';
    box[i] = '\0';
    cleanup_free char *d = tug_human_size((double)done, 4);
    cleanup_free char *t = tug_human_size((double)total, 4);
    if (total > 0)
        snprintf(out, size, "[%s] %8s/%s", box, d ? d : "", t ? t : "");
    else
        snprintf(out, size, "%8s", d ? d : "");
}

void pull_view_progress(void *ud, const char *digest, const char *status, long long done,
                        long long total)
{
    pull_view *v = ud;
    if (v->quiet)
        return;
    size_t idx = v->n;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->rows[i].digest, digest) == 0) {
            idx = i;
            break;
        }
    if (idx == v->n)
        return;
    bool has_progress = strcmp(status, "Downloading") == 0 || strcmp(status, "Extracting") == 0 ||
                        strcmp(status, "Pushing") == 0;
    if (!v->tty) {
        /* docker prints no byte counts when its output is not a terminal */
        if (!has_progress)
            printf("%s: %s\n", v->rows[idx].id, status);
        fflush(stdout);
        return;
    }
    char progress[160] = "";
    if (has_progress && total > 0)
        bar(progress, sizeof(progress), done, total);
    size_t up = v->n - idx;
    printf("\033[%zuA\r\033[2K%s: %s %s\033[%zuB\r", up, v->rows[idx].id, status, progress, up);
    fflush(stdout);
}
