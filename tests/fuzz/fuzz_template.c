/* --format and inspect -f templates (Go's text/template subset), rendered against a document
 * shaped like what ps, images and inspect give them. */
#include "fuzz.h"

#include "util/template.h"

static const char dot_json[] =
    "{\"ID\":\"3f4e\",\"Names\":[\"web\",\"db\"],\"Labels\":{\"a\":\"1\",\"b.c\":\"x y\"},"
    "\"State\":{\"Status\":\"running\",\"Pid\":42,\"Running\":true,\"ExitCode\":0,"
    "\"Health\":null},\"Ports\":[{\"PrivatePort\":80,\"Type\":\"tcp\"}],\"Size\":1.5e3,"
    "\"Empty\":\"\",\"List\":[],\"Map\":{}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static json_t *dot;
    if (dot == NULL && (dot = json_loads(dot_json, 0, NULL)) == NULL)
        abort();
    char *s = fuzz_str(data, size);
    tug_template *t = NULL;
    tug_error *err = NULL;
    int r = tug_template_parse(s, &t, &err);
    fuzz_check_error(r, err);
    /* nested ranges multiply the output: a user's own template, not worth the fuzzer's time */
    size_t ranges = 0;
    for (const char *p = s; (p = strstr(p, "range")) != NULL; p++)
        ranges++;
    if (r == 0 && ranges <= 3) {
        char *out = NULL;
        r = tug_template_render(t, dot, &out, &err);
        fuzz_check_error(r, err);
        fuzz_check(r < 0 || out != NULL, "rendered nothing");
        free(out);
    }
    tug_error_free(err);
    tug_template_free(t);
    free(s);
    return 0;
}
