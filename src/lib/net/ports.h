/* Port publishing specs as docker parses them: -p [ip:][hostPort:]containerPort[/proto],
 * with ranges (8080-8082:80-82). */
#pragma once
#include <stddef.h>

#include "../util/error.h"

typedef struct tug_port_spec {
    char proto[8];     /* "tcp" or "udp" */
    char host_ip[64];  /* "" for every address */
    int host_port;     /* 0: a free one is chosen */
    int ctr_port;
} tug_port_spec;

/* Parse one -p value into *ret (appended; a range gives several). User errors name the value. */
int tug_port_parse(const char *spec, tug_port_spec **ret, size_t *ret_n, tug_error **err);
/* "80/tcp" style key docker uses in ExposedPorts / NetworkSettings.Ports. */
void tug_port_key(const tug_port_spec *p, char *buf, size_t size);
