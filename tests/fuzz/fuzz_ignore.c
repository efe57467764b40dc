/* .dockerignore: the parser, docker's pattern matching and the COPY glob matcher. The input is
 * a .dockerignore, then a NUL, then paths (one a line) to check against it. */
#include "fuzz.h"

#include <stdbool.h>

#include "build/ignore.h"

/* The verdict of path reached by a walk, each directory passing its state down. */
static tug_ignore_verdict walk_verdict(const tug_ignore *ig, char *path, bool is_dir)
{
    size_t sz = tug_ignore_state_size(ig);
    unsigned char *a = calloc(1, sz + 1), *b = calloc(1, sz + 1);
    fuzz_check(a && b, "out of memory");
    unsigned char *parent = NULL, *mine = a;
    tug_ignore_verdict v = TUG_IGNORE_INCLUDED;
    for (char *slash = strchr(path, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        v = tug_ignore_check(ig, path, true, parent, mine);
        *slash = '/';
        if (v == TUG_IGNORE_PRUNED)
            break;
        parent = mine;
        mine = mine == a ? b : a;
    }
    if (v != TUG_IGNORE_PRUNED)
        v = tug_ignore_check(ig, path, is_dir, parent, NULL);
    free(a);
    free(b);
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t text_len = nul ? (size_t)(nul - data) : size;
    char *paths = nul ? fuzz_str(nul + 1, size - text_len - 1) : fuzz_str(data, 0);

    tug_ignore *ig = NULL;
    tug_error *err = NULL;
    int r = tug_ignore_parse((const char *)data, text_len, ".dockerignore", &ig, &err);
    fuzz_check_error(r, err);
    if (r < 0) {
        fuzz_check(err->kind == TUG_ERR_USER, "%s is not the user's error", err->msg);
        fuzz_check(ig == NULL, "a failed parse returned a matcher");
        tug_error_free(err);
        free(paths);
        return 0;
    }

    /* The cleaned patterns read again one by one (as --exclude values): docker trims and cleans
     * them again, which may change one whose cleaning left white space at an end, but never
     * fails silently. */
    size_t n = tug_ignore_count(ig);
    const char **pats = calloc(n + 1, sizeof(*pats));
    fuzz_check(pats != NULL, "out of memory");
    for (size_t i = 0; i < n; i++)
        pats[i] = tug_ignore_pattern(ig, i);
    tug_ignore *again = NULL;
    r = tug_ignore_new(pats, n, "again", &again, &err);
    fuzz_check_error(r, err);
    tug_error_free(err);
    err = NULL;

    for (char *line = paths, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (line[0] == '\0')
            continue;
        for (int is_dir = 0; is_dir < 2; is_dir++) {
            tug_ignore_verdict v = tug_ignore_check_path(ig, line, is_dir);
            fuzz_check(v <= TUG_IGNORE_PRUNED, "verdict %d", (int)v);
            fuzz_check(!is_dir || v == walk_verdict(ig, line, true),
                       "\"%s\": a walk and a lookup disagree", line);
            if (again)
                (void)tug_ignore_check_path(again, line, is_dir);
            fuzz_check(is_dir || v != TUG_IGNORE_PRUNED || strchr(line, '/'),
                       "\"%s\": a file of the root pruned", line);
        }
        /* each pattern as a COPY glob: a valid one stays valid whatever it is matched with */
        for (size_t i = 0; i < n; i++) {
            const char *p = pats[i][0] == '!' ? pats[i] + 1 : pats[i];
            int g = tug_glob_match_path(p, line);
            fuzz_check(g >= -1 && g <= 1, "glob answered %d", g);
            if (g == 1)
                fuzz_check(!tug_glob_has_wildcards(p) ? strcmp(p, line) == 0 || strchr(p, '\\')
                                                      : true,
                           "\"%s\" has no wildcard but matched \"%s\"", p, line);
        }
        char *c = tug_path_clean(line);
        fuzz_check(c != NULL && c[0] != '\0', "clean gave nothing");
        char *cc = tug_path_clean(c);
        fuzz_check(strcmp(c, cc) == 0, "clean is not idempotent: %s -> %s", c, cc);
        free(c);
        free(cc);
    }
    free(pats);
    tug_ignore_free(again);
    tug_ignore_free(ig);
    free(paths);
    return 0;
}
