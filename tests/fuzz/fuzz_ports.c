/* -p/--publish specs: [ip:][hostPort:]containerPort[/proto], with ranges. */
#include "fuzz.h"

#include "net/ports.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);
    tug_port_spec *v = NULL;
    size_t n = 0;
    tug_error *err = NULL;
    int r = tug_port_parse(s, &v, &n, &err);
    fuzz_check_error(r, err);
    if (r == 0) {
        fuzz_check(n > 0, "\"%s\" gave no port", s);
        for (size_t i = 0; i < n; i++) {
            fuzz_check(strcmp(v[i].proto, "tcp") == 0 || strcmp(v[i].proto, "udp") == 0,
                       "\"%s\": protocol %s", s, v[i].proto);
            fuzz_check(v[i].ctr_port >= 1 && v[i].ctr_port <= 65535, "\"%s\": container port %d", s,
                       v[i].ctr_port);
            fuzz_check(v[i].host_port >= 0 && v[i].host_port <= 65535, "\"%s\": host port %d", s,
                       v[i].host_port);
            fuzz_check(memchr(v[i].host_ip, '\0', sizeof(v[i].host_ip)) != NULL,
                       "\"%s\": host address not terminated", s);
            char key[32];
            tug_port_key(&v[i], key, sizeof(key));
        }
    } else {
        fuzz_check(err->kind == TUG_ERR_USER, "\"%s\": %s is not the user's error", s, err->msg);
    }
    free(v);
    tug_error_free(err);
    free(s);
    return 0;
}
