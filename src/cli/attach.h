/* The client side of an attach channel: the terminal or stdio of tug run / start -a. */
#pragma once
#include <stdbool.h>

/* Relay stdin (when forward_stdin) to the monitor and its stdout/stderr frames to ours until the
 * exit frame; streams says which: ATTACH_STDOUT, ATTACH_STDERR (run -a). With tty, the local
 * terminal is put in raw mode and its size follows. Signals that would end tug are forwarded
 * to the container's init through proxy_pidfd (a pidfd from tug_container_pidfd) when it is
 * >= 0 (no tty, no --sig-proxy=false); otherwise they end tug as usual. With finish_self the
 * caller records the exit (tug_container_finish) instead of the monitor. Returns the
 * container's exit code, or -1 when the channel broke without one. */
#define ATTACH_STDOUT 2u
#define ATTACH_STDERR 4u
int attach_relay(int sock, bool forward_stdin, unsigned streams, bool tty, int proxy_pidfd,
                 bool finish_self);
