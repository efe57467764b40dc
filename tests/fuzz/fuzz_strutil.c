/* The small parsers of values a user or an image gives: sizes ("1.5g"), RFC 3339 times (image
 * configs, --since), path.Match globs (--filter reference=), capabilities (--cap-add, a spec).
 * The first byte picks the parser. */
#include "fuzz.h"

#include <stdbool.h>

#include "runtime/security.h"
#include "util/strutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *s = fuzz_str(data + 1, size - 1);
    switch (data[0] % 5) {
    case 0: {
        long long v = -1;
        if (tug_parse_size(s, &v) == 0)
            fuzz_check(v >= 0, "size \"%s\" is %lld", s, v);
        break;
    }
    case 1: {
        long long sec = 0;
        long nsec = 0;
        if (tug_parse_rfc3339(s, &sec, &nsec) == 0) {
            fuzz_check(nsec >= 0 && nsec < 1000000000L, "\"%s\": nsec %ld", s, nsec);
            /* what tug writes reads back as the same time */
            char *t = tug_format_rfc3339(sec, nsec);
            long long sec2 = 0;
            long nsec2 = 0;
            if (t != NULL && tug_parse_rfc3339(t, &sec2, &nsec2) == 0)
                fuzz_check(sec == sec2 && nsec == nsec2, "\"%s\" -> \"%s\" -> %lld.%09ld", s, t,
                           sec2, nsec2);
            free(t);
        }
        break;
    }
    case 2: {
        char *nl = strchr(s, '\n');
        const char *subject = "";
        if (nl) {
            *nl = '\0';
            subject = nl + 1;
        }
        (void)tug_glob_match(s, subject);
        break;
    }
    case 3: {
        size_t width = size > 1 ? data[1] % 40 : 0;
        free(tug_ellipsis(s, width));
        break;
    }
    case 4: {
        int cap = -1;
        bool all = false;
        tug_error *err = NULL;
        int r = tug_caps_parse(s, &cap, &all, &err);
        fuzz_check_error(r, err);
        tug_error_free(err);
        break;
    }
    }
    free(s);
    return 0;
}
