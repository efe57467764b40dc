/* -v/--volume, --mount and --volumes-from specs. The first byte picks the flag. */
#include "fuzz.h"

#include <jansson.h>
#include <stdbool.h>

#include "runtime/container.h"
#include "runtime/volume.h"

static void check_req(const char *s, const tug_mount_req *m)
{
    fuzz_check(m->target != NULL && m->target[0] == '/', "\"%s\": target %s", s, m->target);
    char *clean = tug_path_clean_abs(m->target);
    fuzz_check(clean && strcmp(clean, m->target) == 0, "\"%s\": target %s is not clean", s,
               m->target);
    free(clean);
    if (m->type == TUG_MNT_BIND)
        fuzz_check(m->source && m->source[0] == '/', "\"%s\": bind source %s", s, m->source);
    if (m->type == TUG_MNT_VOLUME && m->source)
        fuzz_check(tug_volume_name_valid(m->source), "\"%s\": volume name %s", s, m->source);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *s = fuzz_str(data + 1, size - 1);
    tug_mount_req m = {0};
    tug_error *err = NULL;
    int r;
    switch (data[0] % 3) {
    case 0:
        r = tug_mount_parse_volume_flag(s, &m, &err);
        fuzz_check_error(r, err);
        if (r == 0)
            check_req(s, &m);
        break;
    case 1:
        r = tug_mount_parse_mount_flag(s, &m, &err);
        fuzz_check_error(r, err);
        if (r == 0) {
            check_req(s, &m);
            /* a --mount is stored as docker's HostConfig.Mounts entry and read back from it */
            json_t *j = tug_mount_req_to_json(&m);
            tug_mount_req back = {0};
            r = tug_mount_req_from_json(j, &back, &err);
            char *dump = json_dumps(j, JSON_SORT_KEYS);
            fuzz_check(r == 0, "\"%s\" stored as %s does not read back: %s", s, dump, err->msg);
            json_t *j2 = tug_mount_req_to_json(&back);
            char *dump2 = json_dumps(j2, JSON_SORT_KEYS);
            fuzz_check(json_equal(j, j2), "\"%s\": %s read back as %s", s, dump, dump2);
            free(dump);
            free(dump2);
            json_decref(j);
            json_decref(j2);
            tug_mount_req_clear(&back);
        }
        break;
    default: {
        char *ctr = NULL;
        bool ro = false;
        r = tug_mount_parse_volumes_from(s, &ctr, &ro, &err);
        fuzz_check_error(r, err);
        fuzz_check(r < 0 || (ctr != NULL && *ctr != '\0'), "\"%s\": no container", s);
        free(ctr);
        break;
    }
    }
    tug_mount_req_clear(&m);
    tug_error_free(err);
    free(s);
    return 0;
}
