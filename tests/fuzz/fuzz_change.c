/* import --change instructions (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR,
 * STOPSIGNAL) applied to an image config. */
#include "fuzz.h"

#include <jansson.h>

#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);
    json_t *config = tug_config_new();
    tug_error *err = NULL;
    int r = tug_config_apply_change(config, s, &err);
    fuzz_check_error(r, err);
    /* whatever was applied, the config stays a JSON object that can be written out */
    fuzz_check(json_is_object(config), "config is no longer an object");
    char *out = json_dumps(config, 0);
    fuzz_check(out != NULL, "config cannot be written out after \"%s\"", s);
    free(out);
    json_decref(config);
    tug_error_free(err);
    free(s);
    return 0;
}
