/* setxattr PATH NAME HEX: set an xattr (its value in hex) without following a symlink. Built
 * static by tests/system/410-layer-diff.bats into the busybox image its docker builds run on,
 * which has no tool of its own for it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

int main(int argc, char **argv)
{
    if (argc != 4 || strlen(argv[3]) % 2 != 0) {
        fprintf(stderr, "usage: setxattr PATH NAME HEX\n");
        return 2;
    }
    size_t n = strlen(argv[3]) / 2;
    unsigned char *v = malloc(n + 1);
    for (size_t i = 0; v && i < n; i++)
        if (sscanf(argv[3] + 2 * i, "%2hhx", &v[i]) != 1)
            return 2;
    if (v == NULL || lsetxattr(argv[1], argv[2], v, n, 0) < 0) {
        perror("setxattr");
        return 1;
    }
    free(v);
    return 0;
}
