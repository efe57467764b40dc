#include "lazylib.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* Resolve the whole table into a private array first: the slots are written only when every
 * function was found, so a library that fails leaves no half-filled table behind. */
static char *resolve(tug_lazylib *lib)
{
    char *why = NULL;
    void *h = NULL;
    const char *first_error = NULL;
    for (const char *const *s = lib->sonames; *s && h == NULL; s++) {
        h = dlopen(*s, RTLD_NOW | RTLD_LOCAL);
        if (h == NULL && first_error == NULL)
            first_error = dlerror();
    }
    if (h == NULL) {
        if (asprintf(&why, "cannot load %s: %s", lib->sonames[0],
                     first_error ? first_error : "not found") < 0)
            why = NULL;
        return why ? why : strdup("cannot load a library");
    }
    size_t n = 0;
    while (lib->syms[n].name)
        n++;
    void **found = calloc(n ? n : 1, sizeof(*found));
    if (found == NULL) {
        dlclose(h);
        return strdup("out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        found[i] = dlsym(h, lib->syms[i].name);
        if (found[i] == NULL) {
            if (asprintf(&why, "cannot load %s: it has no function %s", lib->sonames[0],
                         lib->syms[i].name) < 0)
                why = NULL;
            free(found);
            dlclose(h);
            return why ? why : strdup("cannot load a library");
        }
    }
    for (size_t i = 0; i < n; i++)
        *lib->syms[i].slot = found[i];
    free(found);
    return NULL; /* the handle stays open for the life of the process */
}

int tug_lazylib_load(tug_lazylib *lib, tug_error **err)
{
    int state = atomic_load_explicit(&lib->state, memory_order_acquire);
    if (state == 0) {
        pthread_mutex_lock(&lock);
        state = atomic_load_explicit(&lib->state, memory_order_relaxed);
        if (state == 0) {
            lib->why = resolve(lib);
            state = lib->why ? -1 : 1;
            atomic_store_explicit(&lib->state, state, memory_order_release);
        }
        pthread_mutex_unlock(&lock);
    }
    if (state > 0)
        return 0;
    return tug_error_set(err, 0, "%s; reinstall it (make deps)", lib->why);
}

bool tug_lazylib_ready(tug_lazylib *lib)
{
    return tug_lazylib_load(lib, NULL) == 0;
}
