/* Image references ("nginx", "host:5000/a/b:tag@sha256:...") and platforms ("linux/arm/v7"),
 * as a user or a compose file gives them. */
#include "fuzz.h"

#include "image/manifest.h"
#include "image/reference.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);
    tug_reference *ref = NULL;
    tug_error *err = NULL;
    int r = tug_reference_parse(s, &ref, &err);
    fuzz_check_error(r, err);
    if (r < 0) {
        fuzz_check(strncmp(err->msg, "invalid reference format", 24) == 0, "error \"%s\"",
                   err->msg);
        tug_error_free(err);
        err = NULL;
    } else {
        /* what tug prints for a reference reads back as the same reference */
        char *str = tug_reference_string(ref), *name = tug_reference_name(ref);
        fuzz_check(str != NULL && name != NULL, "no string for \"%s\"", s);
        tug_reference *again = NULL;
        r = tug_reference_parse(str, &again, &err);
        fuzz_check(r == 0, "\"%s\" gave \"%s\", which does not parse: %s", s, str, err->msg);
        char *str2 = tug_reference_string(again);
        fuzz_check(strcmp(str, str2) == 0, "\"%s\" gave \"%s\", then \"%s\"", s, str, str2);
        free(tug_familiar_name(name));
        (void)tug_registry_host(ref->domain);
        (void)tug_domain_is_loopback(ref->domain);
        free(str2);
        tug_reference_free(again);
        free(str);
        free(name);
        tug_reference_free(ref);
    }

    tug_platform p = {0};
    r = tug_platform_parse(s, &p, &err);
    fuzz_check_error(r, err);
    if (r == 0) {
        fuzz_check(p.os != NULL && p.arch != NULL, "platform \"%s\" has no os or arch", s);
        free(tug_platform_string(p.os, p.arch, p.variant));
        tug_platform_clear(&p);
    }
    tug_error_free(err);
    free(s);
    return 0;
}
