#include "lazylib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

struct opened {
    const char *const *key;
    void *handle;
};
static struct opened table[8];

void *tug_lazylib_open(const char *const *sonames, const char **ret_error)
{
    pthread_mutex_lock(&lock);
    void *h = NULL;
    size_t i;
    for (i = 0; i < 8 && table[i].key; i++)
        if (table[i].key == sonames) {
            h = table[i].handle;
            break;
        }
    if (h == NULL) {
        for (const char *const *s = sonames; *s && h == NULL; s++)
            h = dlopen(*s, RTLD_NOW | RTLD_LOCAL);
        if (h && i < 8) {
            table[i].key = sonames;
            table[i].handle = h;
        }
    }
    pthread_mutex_unlock(&lock);
    if (h == NULL && ret_error)
        *ret_error = dlerror();
    return h;
}

void *tug_lazylib_sym(const char *const *sonames, const char *symbol)
{
    const char *why = NULL;
    void *h = tug_lazylib_open(sonames, &why);
    void *fn = h ? dlsym(h, symbol) : NULL;
    if (fn == NULL) {
        fprintf(stderr, "Error: cannot load %s (%s): %s; reinstall it (make deps)\n", sonames[0],
                symbol, why ? why : dlerror());
        exit(125);
    }
    return fn;
}
