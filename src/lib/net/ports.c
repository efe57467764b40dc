#include "ports.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/cleanup.h"

/* "80" or "8080-8082"; 0 for an empty string when allowed. */
static int parse_range(const char *s, int *lo, int *hi)
{
    if (*s == '\0')
        return -1;
    char *end;
    long a = strtol(s, &end, 10), b;
    if (end == s || a < 1 || a > 65535)
        return -1;
    if (*end == '-') {
        const char *t = end + 1;
        b = strtol(t, &end, 10);
        if (end == t || b < a || b > 65535)
            return -1;
    } else
        b = a;
    if (*end)
        return -1;
    *lo = (int)a;
    *hi = (int)b;
    return 0;
}

int tug_port_parse(const char *spec, tug_port_spec **ret, size_t *ret_n, tug_error **err)
{
    cleanup_free char *copy = strdup(spec);
    if (copy == NULL)
        return tug_error_set(err, 12, "port");
    char proto[8] = "tcp";
    char *slash = strrchr(copy, '/');
    if (slash) {
        *slash = '\0';
        if (strcmp(slash + 1, "tcp") != 0 && strcmp(slash + 1, "udp") != 0)
            return tug_error_user(err, "invalid proto \"%s\" in port spec \"%s\": use tcp or udp",
                                  slash + 1, spec);
        snprintf(proto, sizeof(proto), "%s", slash + 1);
    }
    /* ip:host:ctr, host:ctr, ctr; an IPv6 address comes in brackets */
    char *ip = NULL, *host = NULL, *ctr = NULL;
    char *p = copy;
    if (*p == '[') {
        char *close = strchr(p, ']');
        if (close == NULL || close[1] != ':')
            return tug_error_user(err, "invalid port spec \"%s\"", spec);
        *close = '\0';
        ip = p + 1;
        p = close + 2;
    }
    char *c1 = strchr(p, ':');
    if (c1 == NULL) {
        ctr = p;
    } else {
        char *c2 = strchr(c1 + 1, ':');
        *c1 = '\0';
        if (c2) {
            if (ip)
                return tug_error_user(err, "invalid port spec \"%s\"", spec);
            *c2 = '\0';
            ip = p;
            host = c1 + 1;
            ctr = c2 + 1;
        } else if (ip) {
            host = p;
            ctr = c1 + 1;
        } else {
            host = p;
            ctr = c1 + 1;
        }
    }
    if (ip && *ip) {
        unsigned char buf[16];
        if (inet_pton(AF_INET, ip, buf) != 1 && inet_pton(AF_INET6, ip, buf) != 1)
            return tug_error_user(err, "invalid IP address \"%s\" in port spec \"%s\"", ip, spec);
    }
    int clo, chi, hlo = 0, hhi = 0;
    if (parse_range(ctr, &clo, &chi) < 0)
        return tug_error_user(err, "invalid containerPort \"%s\" in port spec \"%s\": use a port "
                                   "1-65535 or a range like 80-82",
                              ctr, spec);
    /* host port 0, as an empty one, asks for a free port (docker takes it so) */
    if (host && *host && strcmp(host, "0") != 0 && parse_range(host, &hlo, &hhi) < 0)
        return tug_error_user(err, "invalid hostPort \"%s\" in port spec \"%s\"", host, spec);
    int count = chi - clo + 1;
    if (hlo && hhi - hlo + 1 != count && !(hhi > hlo && count == 1))
        return tug_error_user(err, "invalid port spec \"%s\": the host and container port ranges "
                                   "must be the same length",
                              spec);
    size_t n = *ret_n;
    tug_port_spec *v = realloc(*ret, (n + (size_t)count) * sizeof(*v));
    if (v == NULL)
        return tug_error_set(err, 12, "port");
    for (int i = 0; i < count; i++) {
        tug_port_spec *t = &v[n + (size_t)i];
        memset(t, 0, sizeof(*t));
        snprintf(t->proto, sizeof(t->proto), "%s", proto);
        snprintf(t->host_ip, sizeof(t->host_ip), "%s", ip ? ip : "");
        t->ctr_port = clo + i;
        t->host_port = hlo ? hlo + i : 0;
    }
    *ret = v;
    *ret_n = n + (size_t)count;
    return 0;
}

void tug_port_key(const tug_port_spec *p, char *buf, size_t size)
{
    snprintf(buf, size, "%d/%s", p->ctr_port, p->proto);
}
