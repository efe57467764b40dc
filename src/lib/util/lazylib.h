/* Libraries only some commands need (libcurl for registries, libarchive for layers, libcrypto
 * for streamed digests) are opened on first use instead of at exec: loading them and their
 * dependencies costs ~10 ms at every start, which `tug ps` or `tug run` should not pay.
 *
 * Each library is one table: its sonames and the functions tug calls, each with the pointer the
 * loader fills. The first load resolves the whole table or fails as a whole, and the answer is
 * kept: the library's entry points (tug_registry_open, tug_layer_unpack, tug_sha256_new) load it
 * and pass a failure up as an error; nothing prints or exits. */
#pragma once
#include <stdatomic.h>
#include <stdbool.h>

#include "error.h"

typedef struct tug_lazysym {
    const char *name;
    void **slot; /* where the resolved address goes */
} tug_lazysym;

typedef struct tug_lazylib {
    const char *const *sonames; /* tried in order; a test may point it at a missing one */
    const tug_lazysym *syms;    /* ends with {NULL, NULL} */
    /* the loader's */
    _Atomic int state; /* 0 not tried, 1 loaded, -1 failed */
    char *why;         /* the failure, kept for every later caller */
} tug_lazylib;

/* Open lib and resolve all its functions, once per process. On failure (a missing library or
 * function: a broken installation) every call returns -1 with the same error. */
int tug_lazylib_load(tug_lazylib *lib, tug_error **err);
/* True when lib is loaded (loading it now if it was never tried). */
bool tug_lazylib_ready(tug_lazylib *lib);

/* The libraries tug's own code calls through forwarders (curl_lazy.c, archive_lazy.c,
 * crypto_lazy.c). A forwarder reached while its library cannot be loaded returns the
 * function's failure value (NULL, an error code) instead of calling anything. */
extern tug_lazylib tug_libcurl, tug_libarchive, tug_libcrypto;

/* For a forwarder file whose FNS(X) lists the library's functions: FNS(TUG_LAZY_POINTER)
 * declares a pointer p_NAME per function, {FNS(TUG_LAZY_ENTRY) {NULL, NULL}} is the table
 * that fills them, and TUG_LAZY_CALL_OR(lib, fail, NAME, args...) calls one or gives fail. */
#define TUG_LAZY_POINTER(name) static __typeof__(&name) p_##name;
#define TUG_LAZY_ENTRY(name) {#name, (void **)&p_##name},
#define TUG_LAZY_CALL_OR(lib, fail, name, ...)                                                     \
    (tug_lazylib_ready(lib) ? p_##name(__VA_ARGS__) : (fail))
