/* The port proxy: IPv6 host ports relayed to the container's IPv4 address, since NAT cannot
 * turn one family into the other. */
#pragma once
#include <stddef.h>
#include <sys/types.h>

/* Fork the proxy for listening sockets fds[i], each relayed to ctr_ip:ctr_ports[i]. It lives
 * as long as process `watch` (the container) and its parent; it closes every other descriptor
 * it inherited. The caller keeps its copies of fds. Returns the proxy's pid, or -1. */
pid_t tug_proxy_spawn(const int *fds, const int *ctr_ports, size_t n, const char *ctr_ip,
                      pid_t watch);
