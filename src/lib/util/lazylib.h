/* Libraries only some commands need (libcurl for registries, libarchive for layers, libcrypto
 * for streamed digests) are opened on first use instead of at exec: loading them and their
 * dependencies costs ~10 ms at every start, which `tug ps` or `tug run` should not pay. */
#pragma once
#include <stdbool.h>

/* dlopen the first of the sonames that loads (cached); NULL and a message when none does. */
void *tug_lazylib_open(const char *const *sonames, const char **ret_error);
/* Resolve a symbol of a lazily opened library; aborts with a clear message when the library or
 * the symbol is missing (tug was built against it, so this means a broken installation). */
void *tug_lazylib_sym(const char *const *sonames, const char *symbol);
