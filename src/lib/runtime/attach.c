#include "attach.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../util/fs.h"

int tug_frame_write(int fd, int type, const void *data, size_t len)
{
    unsigned char h[8] = {(unsigned char)type, 0, 0, 0, (unsigned char)(len >> 24),
                          (unsigned char)(len >> 16), (unsigned char)(len >> 8),
                          (unsigned char)len};
    struct iovec iov[2] = {{.iov_base = h, .iov_len = 8},
                           {.iov_base = (void *)data, .iov_len = len}};
    size_t total = 8 + len;
    int cnt = len ? 2 : 1;
    while (total > 0) {
        ssize_t n = writev(fd, iov, cnt);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        total -= (size_t)n;
        /* advance the iovecs past what was written */
        for (int i = 0; i < cnt && n > 0; i++) {
            size_t take = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;
            iov[i].iov_base = (char *)iov[i].iov_base + take;
            iov[i].iov_len -= take;
            n -= (ssize_t)take;
        }
    }
    return 0;
}

int tug_frame_read(int fd, void *buf, size_t *ret_len)
{
    unsigned char h[8];
    if (tug_read_all(fd, h, 8) < 0)
        return -1;
    size_t len = ((size_t)h[4] << 24) | ((size_t)h[5] << 16) | ((size_t)h[6] << 8) | h[7];
    if (len > TUG_FRAME_MAX)
        return -1;
    if (len && tug_read_all(fd, buf, len) < 0)
        return -1;
    *ret_len = len;
    return h[0];
}

int tug_recv_fd(int sock)
{
    char dummy;
    struct iovec iov = {.iov_base = &dummy, .iov_len = 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                         .msg_controllen = sizeof(u.buf)};
    if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) <= 0)
        return -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (c == NULL || c->cmsg_type != SCM_RIGHTS)
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof(int));
    return fd;
}

#define ATTACH_SOCKET "attach.sock"

/* The socket's address through an open directory: run directories are deep, and a socket's
 * path may not be longer than 107 bytes. */
static int socket_addr(const char *dir, int *ret_dfd, struct sockaddr_un *ret)
{
    int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    memset(ret, 0, sizeof(*ret));
    ret->sun_family = AF_UNIX;
    snprintf(ret->sun_path, sizeof(ret->sun_path), "/proc/self/fd/%d/" ATTACH_SOCKET, dfd);
    *ret_dfd = dfd;
    return 0;
}

int tug_attach_listen(const char *dir)
{
    struct sockaddr_un sa;
    int dfd = -1;
    if (socket_addr(dir, &dfd, &sa) < 0)
        return -1;
    unlinkat(dfd, ATTACH_SOCKET, 0);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0 && (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0)) {
        close(fd);
        fd = -1;
    }
    close(dfd);
    return fd;
}

void tug_attach_unlisten(const char *dir)
{
    int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        unlinkat(dfd, ATTACH_SOCKET, 0);
        close(dfd);
    }
}

int tug_attach_connect(const char *dir, tug_error **err)
{
    struct sockaddr_un sa;
    int dfd = -1;
    if (socket_addr(dir, &dfd, &sa) < 0)
        return tug_error_set(err, errno, "attach: open %s", dir);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        close(dfd);
        return tug_error_set(err, e, "attach: connect to the container's monitor");
    }
    close(dfd);
    if (fd < 0)
        return tug_error_set(err, errno, "attach: socket");
    return fd;
}
