/* tug-dns's handling of a query a container sends (src/dns/resolver.c, compiled in whole with
 * its main renamed): the question parser, the local answer and the SERVFAIL reply, over a
 * fixed table of names. Every reply stays inside its buffer and within the UDP limit the
 * resolver promises (512 bytes, or TC set). */
#define main tug_dns_main
#include "../../src/dns/resolver.c"
#undef main

#include "fuzz.h"

static void names_once(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    R.net = "n1"; /* the resolver of network n1 */
    char dir[] = "/tmp/tug-fuzz-dns.XXXXXX";
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(R.names_path, sizeof(R.names_path), "%s/names", dir);
    FILE *f = fopen(R.names_path, "w");
    if (f == NULL)
        abort();
    fputs("n1 10.0.0.2,fd00:1::2 c1 web www c1short\n"
          "n1 10.0.0.3 c2 client c2short\n"
          "n2 10.1.0.2,fd00:2::2 c3 web other\n"
          "n1 10.0.0.4 c4 web\n"
          "@dns c2 192.0.2.1 192.0.2.2\n",
          f);
    fclose(f);
    if (!load_names())
        abort();
    unlink(R.names_path);
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    names_once();
    if (size > MAX_MSG)
        return 0;
    unsigned char out[512 + 16];
    memset(out + 512, 0xa5, 16);
    struct in_addr client;
    inet_pton(AF_INET, "10.0.0.3", &client);
    size_t n = answer_local(data, size, client, out, 512);
    fuzz_check(n <= 512, "a local answer of %zu bytes", n);
    n = servfail(data, size, out);
    fuzz_check(n <= 512, "a SERVFAIL of %zu bytes", n);
    for (int i = 0; i < 16; i++)
        fuzz_check(out[512 + i] == 0xa5, "a reply wrote past its buffer");
    char name[256];
    uint16_t type;
    size_t end;
    if (parse_question(data, size, name, sizeof(name), &type, &end) == 0)
        fuzz_check(end <= size && strlen(name) < sizeof(name), "question end %zu of %zu", end,
                   size);
    return 0;
}
