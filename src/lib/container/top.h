/* top: the processes of a running container, as ps prints them on the host (docker's way). */
#pragma once
#include <stddef.h>

#include "../runtime/container.h"
#include "../util/error.h"

/* Run ps with args (n == 0: "-ef") and keep its header and the lines of c's processes, found
 * by ps's PID column: *ret_lines is NULL-terminated (*ret_n lines, the header first, each
 * without its newline). A container that does not run is a conflict. */
int tug_container_top(tug_container *c, char *const *args, size_t n, char ***ret_lines,
                      size_t *ret_n, tug_error **err);
