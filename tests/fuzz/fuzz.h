/* Shared by the libFuzzer targets (tests/fuzz/fuzz_*.c): each feeds one parser of untrusted
 * input and aborts when a property the parser promises does not hold, so that libFuzzer
 * reports it as it reports a sanitizer's finding. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a C string (a NUL in it ends the string, as it would on a command line). */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* A promise broken: say which, and let libFuzzer save the input. */
#define fuzz_check(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz check failed: %s: ", #cond);                                     \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A failure must say why: a message, and nothing when it succeeded. */
static inline void fuzz_check_error(int r, tug_error *err)
{
    if (r < 0) {
        fuzz_check(err != NULL && err->msg != NULL && err->msg[0] != '\0', "failed (%d) silently",
                   r);
    } else {
        fuzz_check(err == NULL, "succeeded with an error set: %s", err->msg);
    }
}
