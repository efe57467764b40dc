/* The attach channel between a container's monitor and a client (tug run, start -a, attach):
 * frames of an 8-byte header [type, 0, 0, 0, length (32-bit big endian)] and a payload. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/error.h"

enum {
    TUG_FRAME_STDIN = 0,
    TUG_FRAME_STDOUT = 1,
    TUG_FRAME_STDERR = 2,
    TUG_FRAME_EXIT = 3,      /* payload: exit code, 32-bit big endian */
    TUG_FRAME_RESIZE = 4,    /* payload: rows, cols, 16-bit big endian each */
    TUG_FRAME_STDIN_EOF = 5, /* no payload */
    TUG_FRAME_FINISH = 6,    /* client -> monitor after EXIT: the client records the exit */
};

#define TUG_FRAME_MAX 65536

/* Write one whole frame; -1 with errno on failure. */
int tug_frame_write(int fd, int type, const void *data, size_t len);
/* Read one whole frame into buf (TUG_FRAME_MAX bytes); returns the type, or -1 at EOF/error. */
int tug_frame_read(int fd, void *buf, size_t *ret_len);

/* Receive a file descriptor sent with SCM_RIGHTS (a terminal's master); -1 on failure. */
int tug_recv_fd(int sock);

/* The socket `tug attach` connects to, in a container's run directory, served by its monitor.
 * Listen: a non-blocking listening socket, -1 on failure. Unlisten removes it. */
int tug_attach_listen(const char *dir);
void tug_attach_unlisten(const char *dir);
/* Connect to the monitor serving dir; -1 with err when none does (it has ended). */
int tug_attach_connect(const char *dir, tug_error **err);
