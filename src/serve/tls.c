/* tug serve's TLS: a connection's process does the handshake (a client certificate signed by
 * the given CA is required), forks the process that answers the requests on one end of a
 * socket pair, and carries the bytes between the pair and TLS until either side ends. The
 * HTTP code thus never sees TLS: the same reads, writes and hijacked streams as on a unix
 * socket. */
#include "tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/lazylib.h"

#define SSL_FNS(X)                                                                                 \
    X(TLS_server_method)                                                                           \
    X(SSL_CTX_new)                                                                                 \
    X(SSL_CTX_free)                                                                                \
    X(SSL_CTX_ctrl)                                                                                \
    X(SSL_CTX_use_certificate_chain_file)                                                          \
    X(SSL_CTX_use_PrivateKey_file)                                                                 \
    X(SSL_CTX_check_private_key)                                                                   \
    X(SSL_CTX_load_verify_locations)                                                               \
    X(SSL_CTX_set_verify)                                                                          \
    X(SSL_load_client_CA_file)                                                                     \
    X(SSL_CTX_set_client_CA_list)                                                                  \
    X(SSL_new)                                                                                     \
    X(SSL_free)                                                                                    \
    X(SSL_set_fd)                                                                                  \
    X(SSL_accept)                                                                                  \
    X(SSL_read)                                                                                    \
    X(SSL_write)                                                                                   \
    X(SSL_pending)                                                                                 \
    X(SSL_shutdown)                                                                                \
    X(SSL_get_error)                                                                               \
    X(ERR_get_error)                                                                               \
    X(ERR_error_string_n)

SSL_FNS(TUG_LAZY_POINTER)
static const tug_lazysym ssl_syms[] = {SSL_FNS(TUG_LAZY_ENTRY){NULL, NULL}};
static const char *const ssl_sonames[] = {"libssl.so.3", NULL};
static tug_lazylib libssl = {.sonames = ssl_sonames, .syms = ssl_syms};

struct tug_tls {
    SSL_CTX *ctx;
};

/* "what: the library's reason" for the last OpenSSL error. */
static int ssl_fail(tug_error **err, const char *what, const char *path)
{
    char reason[256] = "unknown reason";
    unsigned long e = p_ERR_get_error();
    if (e)
        p_ERR_error_string_n(e, reason, sizeof(reason));
    while (p_ERR_get_error())
        ;
    return tug_error_user(err, "%s %s: %s", what, path, reason);
}

int tug_tls_new(const char *ca, const char *cert, const char *key, tug_tls **ret,
                tug_error **err)
{
    if (tug_lazylib_load(&libssl, err) < 0)
        return -1;
    tug_tls *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return tug_error_set(err, ENOMEM, "TLS");
    t->ctx = p_SSL_CTX_new(p_TLS_server_method());
    int r = t->ctx ? 0 : ssl_fail(err, "TLS", "context");
    if (r == 0 && p_SSL_CTX_ctrl(t->ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, NULL) != 1)
        r = ssl_fail(err, "TLS", "version");
    if (r == 0 && p_SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1)
        r = ssl_fail(err, "--tlscert", cert);
    if (r == 0 && p_SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1)
        r = ssl_fail(err, "--tlskey", key);
    if (r == 0 && p_SSL_CTX_check_private_key(t->ctx) != 1)
        r = ssl_fail(err, "--tlskey", key);
    if (r == 0 && p_SSL_CTX_load_verify_locations(t->ctx, ca, NULL) != 1)
        r = ssl_fail(err, "--tlscacert", ca);
    if (r == 0) {
        STACK_OF(X509_NAME) *names = p_SSL_load_client_CA_file(ca);
        if (names == NULL)
            r = ssl_fail(err, "--tlscacert", ca);
        else
            p_SSL_CTX_set_client_CA_list(t->ctx, names);
    }
    if (r < 0) {
        tug_tls_free(t);
        return -1;
    }
    p_SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    *ret = t;
    return 0;
}

void tug_tls_free(tug_tls *t)
{
    if (t == NULL)
        return;
    if (t->ctx)
        p_SSL_CTX_free(t->ctx);
    free(t);
}

/* Carry bytes both ways until either side ends. */
static void pump(SSL *ssl, int net, int plain)
{
    char buf[16384];
    bool net_open = true;
    for (;;) {
        struct pollfd p[2] = {{.fd = net_open ? net : -1, .events = POLLIN},
                              {.fd = plain, .events = POLLIN}};
        if (!(net_open && p_SSL_pending(ssl) > 0) && poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (net_open && (p_SSL_pending(ssl) > 0 || (p[0].revents & (POLLIN | POLLHUP | POLLERR)))) {
            int n = p_SSL_read(ssl, buf, sizeof(buf));
            if (n > 0) {
                if (tug_write_all(plain, buf, (size_t)n) < 0)
                    return;
            } else {
                int e = p_SSL_get_error(ssl, n);
                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                    /* the client is done sending: the answerer sees the end of its input */
                    net_open = false;
                    shutdown(plain, SHUT_WR);
                }
            }
            continue;
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(plain, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return;
            if (p_SSL_write(ssl, buf, (int)n) <= 0)
                return;
        }
    }
}

void tug_tls_serve(tug_tls *t, int fd, void (*serve)(int plain_fd, void *ud), void *ud)
{
    SSL *ssl = p_SSL_new(t->ctx);
    if (ssl == NULL || p_SSL_set_fd(ssl, fd) != 1) {
        if (ssl)
            p_SSL_free(ssl);
        return;
    }
    /* a client that starts no handshake does not hold the process for ever */
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (p_SSL_accept(ssl) != 1) {
        while (p_ERR_get_error())
            ;
        p_SSL_free(ssl);
        return;
    }
    tv.tv_sec = 0;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
        p_SSL_free(ssl);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(sp[0]);
        close(fd);
        serve(sp[1], ud);
        close(sp[1]);
        _exit(0);
    }
    close(sp[1]);
    if (pid > 0)
        pump(ssl, fd, sp[0]);
    p_SSL_shutdown(ssl);
    p_SSL_free(ssl);
    close(sp[0]);
    while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}
