/* TLS with client certificates for tug serve on TCP (docker's --tlsverify): libssl, opened
 * on first use as tug's other libraries are (util/lazylib.h). */
#pragma once
#include "util/error.h"

typedef struct tug_tls tug_tls;

/* The server's side, made at start-up so that a bad file is said then: its certificate chain
 * and key, and the CA whose certificates clients must present (mutual TLS: a client without
 * one is refused in the handshake). */
int tug_tls_new(const char *ca, const char *cert, const char *key, tug_tls **ret,
                tug_error **err);
void tug_tls_free(tug_tls *t);

/* In a connection's process: the handshake on fd; then serve(plain_fd, ud) answers the
 * connection in a process of its own, on a socket pair's end, while this process carries the
 * bytes between the pair and TLS until either side ends. Returns when all is over (or the
 * handshake failed); the caller then exits. */
void tug_tls_serve(tug_tls *t, int fd, void (*serve)(int plain_fd, void *ud), void *ud);
